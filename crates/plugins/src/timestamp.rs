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

/// [`otoroshi`] as a header value. Formatting costs more than the rest of
/// a header plugin, and a busy node serves many calls in one millisecond:
/// each thread keeps the last value it made.
pub fn otoroshi_header(ms: u64) -> http::HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(u64, http::HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((at, value)) if *at == ms => value.clone(),
            _ => {
                let value = http::HeaderValue::from_str(&otoroshi(ms))
                    .unwrap_or_else(|_| http::HeaderValue::from_static(""));
                *last = Some((ms, value.clone()));
                value
            }
        }
    })
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
        // The cached header value follows the time it is asked for.
        assert_eq!(otoroshi_header(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(otoroshi_header(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(otoroshi_header(1), "1970-01-01T00:00:00.001+00:00");
    }
}
