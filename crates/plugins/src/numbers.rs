//! Numbers as header values (latencies, counters) without an allocation
//! for the small ones a request usually carries: `HeaderValue::from(u64)`
//! allocates its text, and a proxied request writes three such numbers.

use http::HeaderValue;

/// Every number below 1000 in three digits, one after another.
static DIGITS: [u8; 3000] = {
    let mut table = [0u8; 3000];
    let mut n = 0;
    while n < 1000 {
        table[3 * n] = b'0' + (n / 100) as u8;
        table[3 * n + 1] = b'0' + (n / 10 % 10) as u8;
        table[3 * n + 2] = b'0' + (n % 10) as u8;
        n += 1;
    }
    table
};

/// `n` in decimal, borrowed from a static table below 1000.
pub fn header_value(n: u64) -> HeaderValue {
    let digits = match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        _ => return HeaderValue::from(n),
    };
    let end = 3 * n as usize + 3;
    match DIGITS
        .get(end - digits..end)
        .and_then(|text| std::str::from_utf8(text).ok())
    {
        Some(text) => HeaderValue::from_static(text),
        None => HeaderValue::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_from_writes_them() {
        for n in (0..1200).chain([9_999, 123_456, u64::MAX]) {
            assert_eq!(header_value(n), HeaderValue::from(n), "{n}");
        }
    }
}
