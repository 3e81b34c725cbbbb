//! Content-type masks of the compressors' allowed and blocked lists:
//! `type/subtype`, either part may be `*`, and `*` alone is `*/*`. Compared
//! case-insensitively with the response's media type, parameters aside.

/// One parsed mask; `None` in a part is the wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    kind: Option<String>,
    subtype: Option<String>,
}

impl Mask {
    /// `None` for a mask that is not `type/subtype` (or `*`).
    pub fn parse(text: &str) -> Option<Mask> {
        let text = text.trim();
        if text == "*" {
            return Some(Mask {
                kind: None,
                subtype: None,
            });
        }
        let (kind, subtype) = text.split_once('/')?;
        let part = |p: &str| {
            let p = p.trim();
            let token = !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-*".contains(&b));
            match p {
                "*" => Some(None),
                _ if token && !p.contains('*') => Some(Some(p.to_ascii_lowercase())),
                _ => None,
            }
        };
        Some(Mask {
            kind: part(kind)?,
            subtype: part(subtype)?,
        })
    }

    /// Whether a Content-Type header value falls under this mask.
    pub fn matches(&self, content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let Some((kind, subtype)) = essence.split_once('/') else {
            return false;
        };
        let part = |mask: &Option<String>, value: &str| {
            mask.as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(value.trim()))
        };
        part(&self.kind, kind) && part(&self.subtype, subtype)
    }
}

/// Otoroshi's rule: with an allowed list, only a content type it matches
/// (none: no); without one, any content type not blocked (none: yes).
/// komainu also honours the blocked list next to an allowed list.
pub fn eligible(allowed: &[Mask], blocked: &[Mask], content_type: Option<&str>) -> bool {
    match content_type {
        Some(ct) => {
            (allowed.is_empty() || allowed.iter().any(|m| m.matches(ct)))
                && !blocked.iter().any(|m| m.matches(ct))
        }
        None => allowed.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn masks(list: &[&str]) -> Vec<Mask> {
        list.iter().filter_map(|m| Mask::parse(m)).collect()
    }

    #[test]
    fn masks_parse_or_are_refused() {
        assert!(Mask::parse("text/*").is_some());
        assert!(Mask::parse("*/*").is_some());
        assert!(Mask::parse("*").is_some());
        assert!(Mask::parse("application/vnd.api+json").is_some());
        for bad in ["text", "text/", "/json", "te xt/plain", "text/pl*in", ""] {
            assert_eq!(Mask::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn wildcards_and_parameters() {
        let text = Mask::parse("text/*").unwrap();
        assert!(text.matches("text/html; charset=utf-8"));
        assert!(text.matches("TEXT/Plain"));
        assert!(!text.matches("application/json"));
        assert!(!text.matches("text"));
        let json = masks(&["application/json"]);
        assert!(json[0].matches("application/json;charset=UTF-8"));
        assert!(!json[0].matches("application/jsonx"));
        assert!(masks(&["*"])[0].matches("image/png"));
    }

    #[test]
    fn allowed_and_blocked_lists() {
        let allowed = masks(&["text/*", "application/json"]);
        let blocked = masks(&["text/event-stream"]);
        assert!(eligible(&allowed, &blocked, Some("text/html")));
        assert!(eligible(&allowed, &blocked, Some("application/json")));
        assert!(!eligible(&allowed, &blocked, Some("text/event-stream")));
        assert!(!eligible(&allowed, &blocked, Some("image/png")));
        assert!(!eligible(&allowed, &blocked, None));
        assert!(eligible(&[], &blocked, None));
        assert!(eligible(&[], &blocked, Some("image/png")));
        assert!(!eligible(&[], &blocked, Some("text/event-stream")));
        assert!(eligible(&[], &[], Some("anything/at-all")));
    }
}
