//! Refusing a Redis too old for the scripts, at connect time, with a message
//! that says so (rather than "unknown command" on the first counter read).

use super::link::Link;
use crate::StoreError;

/// PEXPIRETIME, which the counter scripts read expiries with, came in 7.0.
const MIN_MAJOR: u32 = 7;

pub(super) async fn check(link: &Link) -> Result<(), StoreError> {
    let info: String = link.query_home(redis::cmd("INFO").arg("server")).await?;
    match major_version(&info) {
        Some((major, version)) if major < MIN_MAJOR => Err(link.endpoint().error(format!(
            "Redis {MIN_MAJOR}.0 or later is required, the server runs {version}"
        ))),
        // A server (or proxy) that does not say is given the benefit of the
        // doubt; the scripts will fail clearly enough if it lacks a command.
        _ => Ok(()),
    }
}

fn major_version(info: &str) -> Option<(u32, &str)> {
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))?
        .trim();
    let major = version.split('.').next()?.parse().ok()?;
    Some((major, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_major_version_from_info() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(major_version(info), Some((7, "7.0.15")));
        assert_eq!(major_version("redis_version:6.2.1\r\n"), Some((6, "6.2.1")));
        assert_eq!(major_version("# Server\r\n"), None);
    }
}
