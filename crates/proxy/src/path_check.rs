//! Refuses request paths with dot segments (`/a/../b`, `/a/./b`, and their
//! percent-encoded forms such as `%2e%2e`, or `..` between encoded slashes).
//! Routes are matched on the path as received, and an upstream that
//! normalises it would serve a path another route protects (say `/public/..
//! /admin` matched by a public route, served as `/admin`): such a request is
//! answered 400 before any route is looked up.

/// `Err` with the reason when `path` holds a dot segment.
pub fn check(path: &str) -> Result<(), &'static str> {
    // The common case costs one scan: no dot and no escape, nothing to see.
    if !path.bytes().any(|b| b == b'.' || b == b'%' || b == b'\\') {
        return Ok(());
    }
    let decoded = decode_separators_and_dots(path);
    let dot_segment = decoded
        .split(['/', '\\'])
        .any(|segment| segment == "." || segment == "..");
    if dot_segment {
        Err("the path holds a dot segment (. or ..), raw or percent-encoded")
    } else {
        Ok(())
    }
}

/// Decodes only what can form a dot segment: `%2e` (dot), `%2f` (slash) and
/// `%5c` (backslash), any case. Other escapes stay as they are.
fn decode_separators_and_dots(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let escape = [
                bytes[i + 1].to_ascii_lowercase(),
                bytes[i + 2].to_ascii_lowercase(),
            ];
            let decoded = match &escape {
                b"2e" => Some('.'),
                b"2f" => Some('/'),
                b"5c" => Some('\\'),
                _ => None,
            };
            if let Some(c) = decoded {
                out.push(c);
                i += 3;
                continue;
            }
        }
        // Safe: `path` is a str and we only ever split at ASCII bytes.
        let next = path[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(next);
        i += next.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn ordinary_paths_pass() {
        for path in [
            "/",
            "/users/42",
            "/files/report.v2.pdf",
            "/a/.well-known/x",
            "/a/...",
            "/a/..b",
            "/%20space",
            "/caf%C3%A9",
            "/é/ü",
            "/100%",
            "/x%2",
        ] {
            assert!(check(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn dot_segments_are_refused_raw_and_encoded() {
        for path in [
            "/a/../b",
            "/a/./b",
            "/..",
            "/a/..",
            "/a/%2e%2e/b",
            "/a/%2E%2e/b",
            "/a/.%2e/b",
            "/a%2f..%2fb",
            "/a%2F%2e%2E%2Fb",
            "/a\\..\\b",
            "/a%5c..%5cb",
        ] {
            assert!(check(path).is_err(), "{path}");
        }
    }
}
