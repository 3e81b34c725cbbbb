/// Wall clock in ms since the Unix epoch (0 if the clock is before 1970):
/// the one definition every crate that depends on the model uses.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A time as Otoroshi writes it in its headers
/// (`yyyy-MM-dd'T'HH:mm:ss.SSS+00:00`, UTC): `2026-12-07T06:30:00.123+00:00`.
pub fn otoroshi_timestamp(ms: u64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
    );
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_written_as_otoroshi_does() {
        assert_eq!(
            super::otoroshi_timestamp(1_796_625_000_123),
            "2026-12-07T06:30:00.123+00:00"
        );
        assert_eq!(
            super::otoroshi_timestamp(0),
            "1970-01-01T00:00:00.000+00:00"
        );
    }
}
