//! Which Redis URLs this build can use, and how to name the server in errors
//! without leaking the credentials that the URL carries.

use super::BACKEND;
use crate::{DatastoreConnection, StoreError};

/// A Redis URL checked for a scheme this backend speaks, with what errors
/// may show of it.
pub(super) struct Endpoint {
    /// The URL as configured, password included: only for the client.
    pub(super) url: String,
    /// `host:port` (plus `/db` when not 0): safe to print.
    pub(super) address: String,
    /// `rediss://`: TLS, the server's certificate verified.
    pub(super) tls: bool,
    /// Scrubbed from every error message, in case a library echoes it.
    password: Option<String>,
}

impl Endpoint {
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        match scheme {
            "redis" | "rediss" => {}
            "redis+sentinel" | "redis-sentinel" | "sentinel" => {
                return Err(unavailable(
                    "Sentinel URLs are not read: set app.redis.sentinels.master and \
                     app.redis.sentinels.members, and a redis:// URL for the credentials"
                        .to_owned(),
                ));
            }
            "redis+cluster" | "redis-cluster" | "cluster" => {
                return Err(unavailable(
                    "Cluster URLs are not read: set app.redis.cluster.members, and a \
                     redis:// URL for the credentials"
                        .to_owned(),
                ));
            }
            _ => {
                return Err(unavailable(
                    "the datastore URL must start with redis://host:port \
                     (rediss://host:port for TLS)"
                        .to_owned(),
                ));
            }
        }
        let invalid =
            || unavailable("the datastore URL is not a valid redis://host:port URL".to_owned());
        // `#insecure` would turn certificate checks off; komainu has no
        // such mode (this build lacks it, and the error would be obscure).
        if scheme == "rediss" && url.contains('#') {
            return Err(unavailable(
                "rediss:// URLs take no #fragment: certificates are always verified; \
                 trust a private CA with app.redis.tls.caFile"
                    .to_owned(),
            ));
        }
        let parsed = redis::parse_redis_url(url).ok_or_else(invalid)?;
        let host = parsed
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(invalid)?;
        let port = parsed.port().unwrap_or(6379);
        let db = parsed.path().trim_matches('/');
        let address = match db {
            "" | "0" => format!("{host}:{port}"),
            db => format!("{host}:{port}/{db}"),
        };
        Ok(Self {
            url: url.to_owned(),
            address,
            tls: scheme == "rediss",
            password: parsed
                .password()
                .filter(|password| !password.is_empty())
                .map(str::to_owned),
        })
    }

    /// What `Store::connection` starts from once connected: the address
    /// (never the password) and whether it is `rediss://`.
    pub(super) fn connection(&self) -> DatastoreConnection {
        DatastoreConnection::opened_now(BACKEND, self.address.clone(), self.tls)
    }

    /// The same URL, named otherwise in errors (Sentinel: the master's
    /// name and the sentinels, since the URL's host is not the server).
    pub(super) fn named(self, address: String) -> Self {
        Self { address, ..self }
    }

    /// An `Unavailable` naming the server, with any trace of the password
    /// removed from `detail`.
    pub(super) fn error(&self, detail: impl std::fmt::Display) -> StoreError {
        let mut message = format!("Redis at {}: {detail}", self.address);
        if let Some(password) = &self.password {
            message = message.replace(password.as_str(), "***");
        }
        unavailable(message)
    }
}

pub(super) fn unavailable(message: String) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<Endpoint, StoreError>) -> String {
        match result {
            Err(StoreError::Unavailable { message, .. }) => message,
            Err(other) => format!("unexpected {other:?}"),
            Ok(endpoint) => format!("accepted {}", endpoint.address),
        }
    }

    #[test]
    fn address_shows_host_port_and_db_but_never_the_password() {
        let endpoint = Endpoint::parse("redis://user:s3cret@example.test:6380/2").unwrap();
        assert_eq!(endpoint.address, "example.test:6380/2");
        let error = endpoint.error("auth failed for s3cret").to_string();
        assert!(!error.contains("s3cret"), "{error}");
        assert!(error.contains("example.test:6380/2"), "{error}");
    }

    #[test]
    fn unsupported_schemes_say_what_is_missing() {
        assert!(message(Endpoint::parse("rediss://h:1#insecure")).contains("verified"));
        assert!(Endpoint::parse("rediss://h:1").is_ok_and(|endpoint| endpoint.tls));
        assert!(Endpoint::parse("redis://h:1").is_ok_and(|endpoint| !endpoint.tls));
        assert!(message(Endpoint::parse("redis+sentinel://h:1")).contains("Sentinel"));
        assert!(message(Endpoint::parse("redis+cluster://h:1")).contains("Cluster"));
        assert!(message(Endpoint::parse("postgresql://h/db")).contains("redis://"));
        assert!(message(Endpoint::parse("redis://")).contains("valid"));
    }
}
