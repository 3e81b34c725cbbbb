//! State exports and snapshots hold every API key secret: the files that
//! keep them are readable by this user only.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Creates (or truncates) `path` with mode 0600.
pub(crate) fn create(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
