//! The machine's shared Redis and PostgreSQL for tests: a fresh
//! `app.storageRoot` per test, removed when dropped; `None` (the test
//! skips, loudly) when the server is missing, unless CI requires it.

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Redis,
    Postgres,
}

/// The `-D` arguments that put a node on `url` under `root`.
pub fn datastore_args(backend: Backend, url: &str, root: &str) -> Vec<String> {
    let (storage, url_key) = match backend {
        Backend::Redis => ("redis", "app.redis.url"),
        Backend::Postgres => ("postgresql", "app.pg.uri"),
    };
    vec![
        format!("-Dapp.storage={storage}"),
        format!("-D{url_key}={url}"),
        format!("-Dapp.storageRoot={root}"),
    ]
}

/// A fresh root on the machine's shared server, removed when dropped.
pub struct SharedRoot {
    pub backend: Backend,
    pub url: String,
    pub root: String,
}

impl SharedRoot {
    pub fn new(backend: Backend) -> Option<SharedRoot> {
        let url = match backend {
            Backend::Redis => testkit::redis::shared_url()?,
            Backend::Postgres => testkit::postgres::shared_uri()?,
        };
        Some(SharedRoot {
            backend,
            url,
            root: testkit::unique_name("komainu_it"),
        })
    }

    pub fn args(&self) -> Vec<String> {
        datastore_args(self.backend, &self.url, &self.root)
    }
}

impl Drop for SharedRoot {
    fn drop(&mut self) {
        match self.backend {
            Backend::Redis => {
                let _ = testkit::redis::delete_keys(&self.url, &format!("{{{}}}:*", self.root));
            }
            Backend::Postgres => {
                let _ = testkit::postgres::drop_schema(&self.url, &self.root);
            }
        }
    }
}
