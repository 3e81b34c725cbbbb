//! `stateDumpPath`: each new export (new ETag) written to a file, for backup
//! and debugging. Writes happen on a background task so that no worker waits
//! on an fsync; only the newest pending body is written, and a failure is
//! logged, never fatal.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use tokio::sync::mpsc;

pub(crate) struct Dumper {
    path: PathBuf,
    /// Started with the first dump, which runs inside the runtime (a request
    /// handler), so building a `Leader` does not need one.
    queue: OnceLock<mpsc::UnboundedSender<Bytes>>,
}

impl Dumper {
    pub(crate) fn new(path: PathBuf) -> Self {
        Dumper {
            path,
            queue: OnceLock::new(),
        }
    }

    /// Queues an uncompressed export body to be written.
    pub(crate) fn dump(&self, body: Bytes) {
        let queue = self.queue.get_or_init(|| spawn_writer(self.path.clone()));
        if queue.send(body).is_err() {
            tracing::warn!(path = %self.path.display(), "state dump writer is gone; dump skipped");
        }
    }
}

/// The writer ends when the `Dumper` (and so the leader) is dropped.
fn spawn_writer(path: PathBuf) -> mpsc::UnboundedSender<Bytes> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        while let Some(mut body) = rx.recv().await {
            // Bodies queue in build order: only the last one matters.
            while let Ok(newer) = rx.try_recv() {
                body = newer;
            }
            let target = path.clone();
            match tokio::task::spawn_blocking(move || write_atomically(&target, &body)).await {
                Ok(Ok(())) => tracing::debug!(path = %path.display(), "cluster state dumped"),
                Ok(Err(e)) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not dump the cluster state")
                }
                Err(e) => tracing::warn!(error = %e, "cluster state dump task failed"),
            }
        }
    });
    tx
}

/// Writes a temporary file next to `path`, syncs it and renames it over
/// `path`, so a reader sees the old file or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, body: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "dump path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let written = crate::private_file::create(&tmp).and_then(|mut file| {
        file.write_all(body)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // Sync the folder so the rename itself survives a crash; best effort, as
    // not every platform opens folders.
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.ndjson");
        write_atomically(&path, b"one\n").unwrap();
        write_atomically(&path, b"two\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("state.ndjson");
        assert!(write_atomically(&path, b"x").is_err());
    }
}
