//! UTC calendar arithmetic on day numbers (days since 1970-01-01): the quota
//! windows (`YYYYMMDD`, `YYYYMM`) and the dates the UI shows both need it,
//! and neither should carry a date library for three functions.

/// Milliseconds in a UTC day (no leap seconds: Unix time has none).
pub const DAY_MS: u64 = 86_400_000;

/// (year, month 1-12, day 1-31) of a day number counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`, proleptic Gregorian calendar).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The day number (from 1970-01-01) of a civil date; inverse of
/// [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29T00:00:00Z
    const LEAP_DAY: u64 = 1_709_164_800_000;

    #[test]
    fn civil_dates_round_trip_and_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2024, 2, 29) as u64 * DAY_MS, LEAP_DAY);
        assert_eq!(civil_from_days((LEAP_DAY / DAY_MS) as i64), (2024, 2, 29));
        for day in -800_000..800_000i64 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day, "{y}-{m}-{d}");
        }
        // Leap years: 2000 (divisible by 400) yes, 2100 (by 100) no, 2023 no.
        let length = |y, m| days_from_civil(y, m + 1, 1) - days_from_civil(y, m, 1);
        assert_eq!(length(2024, 2), 29);
        assert_eq!(length(2023, 2), 28);
        assert_eq!(length(2000, 2), 29);
        assert_eq!(length(2100, 2), 28);
        assert_eq!(length(1900, 2), 28);
    }
}
