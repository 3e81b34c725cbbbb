/// Wall clock in ms since the Unix epoch (0 if the clock is before 1970):
/// the one definition every crate that depends on the model uses.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
