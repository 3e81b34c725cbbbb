//! Rendering a parsed [`Template`] against one request, and header values
//! that are either fixed (a `HeaderValue` made once, cloned per request) or
//! rendered.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use http::header::COOKIE;
use percent_encoding::percent_decode_str;

use crate::facts::Lookup;
use crate::template::{Expr, Needs, Part, Single, Source, Template};

/// Appends the rendered template to `out`.
pub fn render(template: &Template, lookup: &Lookup<'_>, out: &mut String) {
    for part in template.parts.iter() {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Expr(expr) => expression(expr, lookup, out),
        }
    }
}

fn expression(expr: &Expr, lookup: &Lookup<'_>, out: &mut String) {
    if !expr.chained {
        if let Some(single) = expr.alternatives.first() {
            match resolve(single, lookup) {
                Some(value) => out.push_str(&value),
                None => absent(single, lookup, out),
            }
        }
        return;
    }
    match expr.alternatives.iter().find_map(|s| resolve(s, lookup)) {
        Some(value) => out.push_str(&value),
        None => out.push_str(expr.chain_default.as_deref().unwrap_or("no-chain-value")),
    }
}

/// The value, or its `:default`; `None` when absent.
fn resolve<'a>(single: &'a Single, lookup: &Lookup<'a>) -> Option<Cow<'a, str>> {
    let borrowed = |s: &'a str| Some(Cow::Borrowed(s));
    let found = match &single.source {
        Source::Ip => Some(Cow::Owned(lookup.client_ip.to_string())),
        Source::Host => borrowed(lookup.host),
        Source::Path => borrowed(lookup.path),
        Source::Method => borrowed(lookup.method),
        Source::Uri => borrowed(lookup.uri),
        Source::Header(name) => lookup
            .headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(Cow::Borrowed),
        Source::Query(name) => lookup.query.and_then(|q| query_param(q, name)),
        Source::Cookie(name) => cookie(lookup, name).map(Cow::Borrowed),
        Source::ClientId => lookup.apikey.map(|k| Cow::Borrowed(k.client_id)),
        Source::KeyName => lookup.apikey.map(|k| Cow::Borrowed(k.name)),
        Source::KeyMetadata(name) => lookup
            .apikey
            .and_then(|k| k.metadata.get(&**name))
            .map(|v| Cow::Borrowed(v.as_str())),
        Source::RouteId => borrowed(lookup.route_id),
        Source::RouteName => borrowed(lookup.route_name),
        Source::RequestId => borrowed(lookup.request_id),
        Source::Date => Some(Cow::Owned(crate::timestamp::iso(now_ms()))),
        Source::EpochMs => Some(Cow::Owned(now_ms().to_string())),
        Source::EpochSec => Some(Cow::Owned((now_ms() / 1000).to_string())),
        Source::Env(_, value) => value.as_deref().map(Cow::Borrowed),
    };
    found.or_else(|| single.default.as_deref().map(Cow::Borrowed))
}

/// Otoroshi's text for a lookup that found nothing.
fn absent(single: &Single, lookup: &Lookup<'_>, out: &mut String) {
    let _ = match &single.source {
        Source::Header(name) => write!(out, "no-header-{name}"),
        Source::Query(name) => write!(out, "no-query-{name}"),
        Source::Cookie(name) => write!(out, "no-cookie-{name}"),
        Source::KeyMetadata(name) if lookup.apikey.is_some() => write!(out, "no-meta-{name}"),
        Source::Env(name, _) => write!(out, "no-env-var-{name}"),
        _ => out.write_str("bad-expr"),
    };
}

/// The first value of `name` in a query string, decoded as a form.
fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key) == name).then(|| decode(value))
    })
}

fn decode(text: &str) -> Cow<'_, str> {
    if text.contains('+') {
        let spaced = text.replace('+', " ");
        Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
    } else {
        percent_decode_str(text).decode_utf8_lossy()
    }
}

/// The value of cookie `name` in the request's Cookie headers.
fn cookie<'a>(lookup: &Lookup<'a>, name: &str) -> Option<&'a str> {
    lookup
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then(|| {
                let value = value.trim();
                value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value)
            })
        })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A header value from config: made once when it holds no expression.
#[derive(Debug, Clone)]
pub enum HeaderText {
    Fixed(HeaderValue),
    Rendered(Template),
}

impl HeaderText {
    /// Parses `text`; `Err` is the message for the field.
    pub fn parse(text: &str) -> Result<HeaderText, String> {
        let template = Template::parse(text)?;
        let invalid = "not a valid header value (visible ASCII and spaces)";
        if let Some(constant) = template.constant() {
            return HeaderValue::from_str(&constant)
                .map(HeaderText::Fixed)
                .map_err(|_| invalid.to_string());
        }
        if template
            .literals()
            .any(|text| HeaderValue::from_str(text).is_err())
        {
            return Err(invalid.to_string());
        }
        Ok(HeaderText::Rendered(template))
    }

    /// Taken as written, `${` included (StaticResponse without `apply_el`).
    pub fn literal(text: &str) -> Result<HeaderText, String> {
        HeaderValue::from_str(text)
            .map(HeaderText::Fixed)
            .map_err(|_| "not a valid header value (visible ASCII and spaces)".to_string())
    }

    pub fn needs(&self) -> Needs {
        match self {
            HeaderText::Fixed(_) => Needs::NONE,
            HeaderText::Rendered(template) => template.needs(),
        }
    }

    pub fn template(&self) -> Option<&Template> {
        match self {
            HeaderText::Fixed(_) => None,
            HeaderText::Rendered(template) => Some(template),
        }
    }

    /// The value for this request, the lookup made only for a rendered
    /// one; `None` when what the request brought (a control character in a
    /// client's header, say) makes it invalid: the header is then not set.
    pub fn value<'a>(&self, lookup: impl FnOnce() -> Lookup<'a>) -> Option<HeaderValue> {
        match self {
            HeaderText::Fixed(value) => Some(value.clone()),
            HeaderText::Rendered(template) => {
                let mut out = String::new();
                render(template, &lookup(), &mut out);
                HeaderValue::from_maybe_shared(Bytes::from(out)).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr};

    use http::HeaderMap;

    use super::*;
    use crate::facts::KeyFacts;

    fn rendered(text: &str, lookup: &Lookup<'_>) -> String {
        let mut out = String::new();
        render(&Template::parse(text).unwrap(), lookup, &mut out);
        out
    }

    fn with<R>(apikey: bool, run: impl FnOnce(&Lookup<'_>) -> R) -> R {
        let mut headers = HeaderMap::new();
        headers.insert("x-user", HeaderValue::from_static("ann"));
        headers.insert("x-bin", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        headers.append(COOKIE, HeaderValue::from_static("a=1; session=\"s3\""));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        let metadata = BTreeMap::from([("tier".to_string(), "gold".to_string())]);
        let lookup = Lookup {
            method: "POST",
            path: "/api/items",
            uri: "/api/items?page=2&q=a+b%21",
            host: "shop.test",
            client_ip: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            headers: &headers,
            query: Some("page=2&q=a+b%21&page=3&flag"),
            apikey: apikey.then_some(KeyFacts {
                client_id: "cid",
                name: "Key one",
                metadata: &metadata,
            }),
            route_id: "r1",
            route_name: "Shop",
            request_id: "00ab",
        };
        run(&lookup)
    }

    #[test]
    fn every_kind_renders() {
        with(true, |l| {
            for (text, expected) in [
                ("${req.ip}", "10.1.2.3"),
                ("${req.host}", "shop.test"),
                ("${req.path}", "/api/items"),
                ("${req.method}", "POST"),
                ("${req.uri}", "/api/items?page=2&q=a+b%21"),
                ("${req.headers.X-User}", "ann"),
                ("${req.headers.x-bin}", "café"),
                ("${req.query.page}", "2"),
                ("${req.query.q}", "a b!"),
                ("${req.query.flag}", ""),
                ("${req.cookies.session}", "s3"),
                ("${req.cookies.b}", "2"),
                ("${apikey.clientId}", "cid"),
                ("${apikey.name}", "Key one"),
                ("${apikey.metadata.tier}", "gold"),
                ("${route.id}", "r1"),
                ("${route.name}", "Shop"),
                ("${ctx.request_id}", "00ab"),
                ("id=${route.id};ip=${req.ip}", "id=r1;ip=10.1.2.3"),
            ] {
                assert_eq!(rendered(text, l), expected, "{text}");
            }
        });
    }

    #[test]
    fn absent_values_print_otoroshis_text_or_the_default() {
        with(true, |l| {
            assert_eq!(rendered("${req.headers.x-no}", l), "no-header-x-no");
            assert_eq!(rendered("${req.headers.x-no:anon}", l), "anon");
            assert_eq!(rendered("${req.headers.x-user:anon}", l), "ann");
            assert_eq!(rendered("${req.query.nope}", l), "no-query-nope");
            assert_eq!(rendered("${req.cookies.nope}", l), "no-cookie-nope");
            assert_eq!(rendered("${apikey.metadata.nope}", l), "no-meta-nope");
            assert_eq!(rendered("${apikey.metadata.nope:x}", l), "x");
        });
        with(false, |l| {
            assert_eq!(rendered("${apikey.clientId}", l), "bad-expr");
            assert_eq!(rendered("${apikey.metadata.tier}", l), "bad-expr");
            assert_eq!(rendered("${apikey.metadata.tier:none}", l), "none");
        });
    }

    #[test]
    fn chains_take_the_first_present() {
        with(false, |l| {
            let chain = "${req.headers.x-no || req.query.page || req.path}";
            assert_eq!(rendered(chain, l), "2");
            assert_eq!(rendered("${apikey.name || req.headers.x-user}", l), "ann");
            assert_eq!(
                rendered("${req.headers.a || req.query.b :: fallback}", l),
                "fallback"
            );
            assert_eq!(
                rendered("${req.headers.a || req.query.b}", l),
                "no-chain-value"
            );
            assert_eq!(rendered("${req.headers.a:first || req.path}", l), "first");
        });
    }

    #[test]
    fn header_values_are_fixed_once_or_skipped_when_invalid() {
        assert!(matches!(
            HeaderText::parse("plain"),
            Ok(HeaderText::Fixed(_))
        ));
        assert!(matches!(
            HeaderText::parse("$5 ${env.KOMAINU_PUBLIC_TEST_UNSET_VAR:x}"),
            Ok(HeaderText::Fixed(v)) if v == "$5 x"
        ));
        assert!(HeaderText::parse("bad\u{1}${req.path}").is_err());
        assert!(HeaderText::parse("${nope}").is_err());
        assert!(matches!(
            HeaderText::literal("${req.path}"),
            Ok(HeaderText::Fixed(v)) if v == "${req.path}"
        ));
        let text = HeaderText::parse("q=${req.query.q}").unwrap();
        assert_eq!(text.needs(), Needs::QUERY);
        let headers = HeaderMap::new();
        let lookup = |query| Lookup {
            query: Some(query),
            headers: &headers,
            ..Lookup::empty()
        };
        assert_eq!(text.value(|| lookup("q=a%20b")).unwrap(), "q=a b");
        // A control character brought by the client: no header, no panic.
        assert_eq!(text.value(|| lookup("q=a%0Db")), None);
        assert_eq!(text.value(|| lookup("q=a%00b")), None);
    }
}
