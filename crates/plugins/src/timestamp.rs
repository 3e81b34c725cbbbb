//! Times as plugins write them: Otoroshi's header timestamps and the ISO
//! form of `${date}`, both in UTC with milliseconds.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// `2026-12-07T06:30:00.123+00:00`, as Otoroshi writes
/// `Otoroshi-Request-Timestamp` (`yyyy-MM-dd'T'HH:mm:ss.SSSZZ`, here in UTC).
pub fn otoroshi(ms: u64) -> String {
    const FORMAT: &[BorrowedFormatItem<'static>] = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
    );
    format(ms, FORMAT)
}

/// `2024-05-01T12:34:56.789Z`: ISO 8601 in UTC with milliseconds, the
/// shape Otoroshi's `${date}` prints (in its zone; komainu uses UTC).
pub fn iso(ms: u64) -> String {
    const FORMAT: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    format(ms, FORMAT)
}

fn format(ms: u64, format: &[BorrowedFormatItem<'static>]) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        assert_eq!(otoroshi(1_796_625_000_123), "2026-12-07T06:30:00.123+00:00");
        assert_eq!(otoroshi(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(iso(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    }
}
