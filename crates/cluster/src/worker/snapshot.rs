//! The snapshot file (`cluster.worker.dbpath`): the last applied export, so
//! that a worker restarted while every leader is down serves at once.
//!
//! Format (version 1): a first line
//! `{"komainu_snapshot":1,"saved_at":<ms>,"from_age_ms":<ms>,"etag":"..","revision":N,"digest":"<sha-256 hex of the rest>"}`
//! then the uncompressed export body, byte for byte. `saved_at` is the
//! worker's clock when it wrote the file and `from_age_ms` the export's age
//! at that moment (leader clock), so the age at load, `now − saved_at +
//! from_age_ms`, reads the worker's clock twice and no other. `digest` catches
//! a file damaged on disk; the write (temporary file in the same folder,
//! fsync, rename, fsync of the folder) means a crash leaves the old file or
//! the new one, never half of one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::wire;

pub(crate) const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub komainu_snapshot: u32,
    pub saved_at: u64,
    pub from_age_ms: u64,
    pub etag: String,
    pub revision: u64,
    #[serde(default)]
    pub digest: String,
}

impl Header {
    /// The data's age at `now_ms` (worker clock).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms
            .saturating_sub(self.saved_at)
            .saturating_add(self.from_age_ms)
    }
}

/// Writes the snapshot atomically.
pub(crate) fn write(path: &Path, header: &Header, body: &[u8]) -> std::io::Result<()> {
    let mut header = header.clone();
    header.komainu_snapshot = VERSION;
    header.digest = wire::sha256_hex(body);
    let mut first = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    first.push(b'\n');

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".to_string());
    fs::create_dir_all(&dir)?;
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = crate::private_file::create(&temp)?;
        file.write_all(&first)?;
        file.write_all(body)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    // The rename is durable once the folder is; not every platform lets a
    // folder be opened and synced, hence best effort.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and checks a snapshot: its header and its export body.
pub(crate) fn read(path: &Path) -> Result<(Header, Vec<u8>), String> {
    let mut bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
        return Err("no header line".to_string());
    };
    let header: Header =
        serde_json::from_slice(&bytes[..end]).map_err(|e| format!("bad header line: {e}"))?;
    if header.komainu_snapshot != VERSION {
        return Err(format!(
            "snapshot format {} (this version reads {VERSION})",
            header.komainu_snapshot
        ));
    }
    let body = bytes.split_off(end + 1);
    if !header.digest.eq_ignore_ascii_case(&wire::sha256_hex(&body)) {
        return Err("body does not match its digest (damaged file)".to_string());
    }
    Ok((header, body))
}

/// Rewrites the header only (keeping the body): a 304 confirms the state is
/// still the leader's, so the file is as fresh as if just written.
/// Only if the file holds `etag` (a failed write may have left an older
/// state there, which must not pass for fresh).
pub(crate) fn refresh(path: &Path, etag: &str, saved_at: u64) -> Result<(), String> {
    let (mut header, body) = read(path)?;
    if header.etag != etag {
        return Err(format!(
            "{} holds another state than the one running; not refreshed",
            path.display()
        ));
    }
    header.saved_at = saved_at;
    header.from_age_ms = 0;
    write(path, &header, &body).map_err(|e| e.to_string())
}
