//! One canonical form of the request path, computed before any route is
//! looked up, and the only form forwarded upstream. A route protects a path
//! prefix; if the proxy matched one spelling and the backend resolved
//! another (`//admin`, `/%61dmin`, `/;x/admin`, `/public/../admin`), a
//! protected path would be served by a route that does not protect it.
//!
//! So the path is made unambiguous or refused:
//! - percent-encoded unreserved characters (letters, digits, `-._~`) are
//!   decoded, other escapes are kept as written (no double decoding);
//! - runs of slashes become one;
//! - refused (400): a path that is not absolute, backslashes, encoded dots,
//!   slashes, backslashes or NUL, `;` path parameters anywhere but in the
//!   last segment, and dot segments (`.`, `..`, also as `..;x`).
//!
//! Route prefixes are compared without regard to ASCII case (see the
//! router), which closes the same gap for case-insensitive backends.

use std::borrow::Cow;

/// The canonical form of `path`, or why it is refused. Borrows when the
/// path is already canonical (the common case costs one scan).
pub fn path(path: &str) -> Result<Cow<'_, str>, &'static str> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err("the request target must be an absolute path");
    }
    let mut previous_slash = false;
    let mut plain = true;
    for &b in bytes {
        let slash = b == b'/';
        if matches!(b, b'%' | b'\\' | b';' | b'.') || (slash && previous_slash) {
            plain = false;
            break;
        }
        previous_slash = slash;
    }
    if plain {
        return Ok(Cow::Borrowed(path));
    }
    let canonical = rewrite(bytes)?;
    check_segments(&canonical)?;
    if canonical == path {
        Ok(Cow::Borrowed(path))
    } else {
        Ok(Cow::Owned(canonical))
    }
}

fn rewrite(bytes: &[u8]) -> Result<String, &'static str> {
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut parameters_seen = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => return Err("the path holds a backslash"),
            b'/' => {
                if parameters_seen {
                    return Err("path parameters (;) are only accepted in the last segment");
                }
                if out.last() != Some(&b'/') {
                    out.push(b'/');
                }
            }
            b';' => {
                parameters_seen = true;
                out.push(b);
            }
            b'%' => {
                let escape = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                );
                if let (Some(high), Some(low)) = escape {
                    let decoded = high << 4 | low;
                    match decoded {
                        b'.' | b'/' | b'\\' | 0 => {
                            return Err(
                                "the path holds an encoded dot, slash, backslash or NUL (%2e, %2f, %5c, %00)",
                            );
                        }
                        _ if decoded.is_ascii_alphanumeric()
                            || matches!(decoded, b'-' | b'_' | b'~') =>
                        {
                            out.push(decoded)
                        }
                        _ => out.extend_from_slice(bytes.get(i..i + 3).unwrap_or_default()),
                    }
                    i += 3;
                    continue;
                }
                // A lone `%` is kept as written, as before.
                out.push(b);
            }
            _ => out.push(b),
        }
        i += 1;
    }
    // Only ASCII was inserted, at ASCII positions: still UTF-8.
    String::from_utf8(out).map_err(|_| "the path is not UTF-8")
}

/// Refuses dot segments, including those a backend would read through a
/// path parameter (`..;x`).
fn check_segments(path: &str) -> Result<(), &'static str> {
    let dot_segment = path.split('/').any(|segment| {
        let name = segment.split(';').next().unwrap_or(segment);
        name == "." || name == ".."
    });
    if dot_segment {
        Err("the path holds a dot segment (. or ..)")
    } else {
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in [
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
            "/a/b;v=1",
        ] {
            assert!(matches!(path(p), Ok(std::borrow::Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn ambiguous_spellings_become_one() {
        for (raw, canonical) in [
            ("//admin", "/admin"),
            ("/a//b///c/", "/a/b/c/"),
            ("/%61dmin", "/admin"),
            ("/%7Euser/%41%2d%5f", "/~user/A-_"),
            ("/%20%3B", "/%20%3B"),
            ("/%25", "/%25"),
        ] {
            assert_eq!(path(raw).unwrap(), canonical, "{raw}");
        }
    }

    #[test]
    fn what_cannot_be_made_unambiguous_is_refused() {
        for p in [
            "*",
            "",
            "admin",
            "/a/../b",
            "/a/./b",
            "/..",
            "/a/..",
            "/a/%2e%2e/b",
            "/a/%2E/b",
            "/a%2fb",
            "/a%2F",
            "/a\\b",
            "/a%5cb",
            "/a%00",
            "/;x/admin",
            "/a;b/c",
            "/..;/admin",
            "/a/..;x",
            "/a/.;x",
        ] {
            assert!(path(p).is_err(), "{p}");
        }
    }
}
