//! What the process costs the machine, read from `/proc` where there is one
//! (two small reads); elsewhere `None`. The one copy of these readers: the
//! live figures, the worker's `globstats` and the leader's own member record
//! all go through [`crate::LiveStats`].

/// Clock ticks per second of `/proc/self/stat` times: 100 on every Linux
/// platform komainu ships for (reading `sysconf` would need libc).
pub const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

/// utime + stime of this process, in clock ticks.
pub fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The machine's 1-minute load average.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// Resident memory in bytes.
pub fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages * PAGE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_figures_are_read() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        assert!(cpu_ticks().is_some());
        assert!(resident_bytes().is_some_and(|b| b > 1024 * 1024));
        assert!(load_average().is_some_and(|l| l >= 0.0));
    }
}
