//! Plugin values holding `${...}` expressions (Otoroshi's expression
//! language, a subset), parsed once when the plugin is built into literal
//! text and typed lookups, so that a request only looks values up and
//! concatenates. An expression komainu does not know is refused at write
//! time rather than sent as `bad-expr` the way Otoroshi does.
//!
//! The forms, with Otoroshi's text for what is absent:
//! - `req.ip`, `req.host` (without port), `req.path`, `req.method`, `req.uri`
//!   (path and query as sent);
//! - `req.headers.NAME`, `req.query.NAME`, `req.cookies.NAME`, each with an
//!   optional `:default` (else `no-header-NAME`, `no-query-NAME`,
//!   `no-cookie-NAME`);
//! - `apikey.clientId` (or `apikey.id`), `apikey.name`,
//!   `apikey.metadata.NAME[:default]` (`no-meta-NAME`; `bad-expr` when the
//!   call has no API key, as Otoroshi prints);
//! - `route.id`, `route.name`, `ctx.request_id`;
//! - `date` / `now` (ISO 8601 UTC with milliseconds), `date.epoch_ms`,
//!   `date.epoch_sec`;
//! - `env.NAME[:default]` for names starting with [`ENV_PREFIX`] only, read
//!   when the plugin is built (`no-env-var-NAME` when unset);
//! - `a || b || c :: default`: the first of the alternatives that is present
//!   (`no-chain-value` when none is and no default is given).
//!
//! `$` not followed by `{` is literal text; `${` without a closing `}` is
//! refused. There is no escape, as in Otoroshi.

use http::HeaderName;

/// The prefix of the environment variables `${env.NAME}` may read. Any
/// other variable could hold a secret of the node (datastore passwords,
/// admin credentials) and would be sent to whoever can write a route.
pub const ENV_PREFIX: &str = "KOMAINU_PUBLIC_";

/// What a template reads of the request; a response template's needs say
/// which request facts must be kept for the response step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs(u16);

impl Needs {
    pub const NONE: Needs = Needs(0);
    pub const METHOD: Needs = Needs(1);
    pub const PATH: Needs = Needs(1 << 1);
    pub const URI: Needs = Needs(1 << 2);
    pub const HOST: Needs = Needs(1 << 3);
    pub const IP: Needs = Needs(1 << 4);
    /// Headers, and cookies (read from the Cookie header).
    pub const HEADERS: Needs = Needs(1 << 5);
    pub const QUERY: Needs = Needs(1 << 6);
    pub const APIKEY: Needs = Needs(1 << 7);
    pub const ROUTE: Needs = Needs(1 << 8);
    pub const REQUEST_ID: Needs = Needs(1 << 9);
    /// The clock: nothing from the request, but not constant.
    pub const CLOCK: Needs = Needs(1 << 10);

    pub fn has(self, other: Needs) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Everything but the clock: what must be captured of a request.
    pub fn of_request(self) -> Needs {
        Needs(self.0 & !Needs::CLOCK.0)
    }
}

impl std::ops::BitOr for Needs {
    type Output = Needs;
    fn bitor(self, other: Needs) -> Needs {
        Needs(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for Needs {
    fn bitor_assign(&mut self, other: Needs) {
        self.0 |= other.0;
    }
}

/// What a set of templates reads of the request: the kinds of facts, and
/// which headers (the Cookie header for cookies) by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    pub needs: Needs,
    pub headers: Vec<HeaderName>,
}

impl Reads {
    pub fn add(&mut self, template: &Template) {
        self.needs |= template.needs;
        for part in template.parts.iter() {
            let Part::Expr(expr) = part else { continue };
            for single in expr.alternatives.iter() {
                let name = match &single.source {
                    Source::Header(name) => name,
                    Source::Cookie(_) => &http::header::COOKIE,
                    _ => continue,
                };
                if !self.headers.contains(name) {
                    self.headers.push(name.clone());
                }
            }
        }
    }

    /// Without the clock: what must be captured of a request.
    pub fn of_request(mut self) -> Reads {
        self.needs = self.needs.of_request();
        self
    }
}

/// One value looked up per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Ip,
    Host,
    Path,
    Method,
    Uri,
    Header(HeaderName),
    Query(Box<str>),
    Cookie(Box<str>),
    ClientId,
    KeyName,
    KeyMetadata(Box<str>),
    RouteId,
    RouteName,
    RequestId,
    Date,
    EpochMs,
    EpochSec,
    /// An environment variable (name, value), read when the plugin was built.
    Env(Box<str>, Option<Box<str>>),
}

impl Source {
    fn needs(&self) -> Needs {
        match self {
            Source::Ip => Needs::IP,
            Source::Host => Needs::HOST,
            Source::Path => Needs::PATH,
            Source::Method => Needs::METHOD,
            Source::Uri => Needs::URI,
            Source::Header(_) | Source::Cookie(_) => Needs::HEADERS,
            Source::Query(_) => Needs::QUERY,
            Source::ClientId | Source::KeyName | Source::KeyMetadata(_) => Needs::APIKEY,
            Source::RouteId | Source::RouteName => Needs::ROUTE,
            Source::RequestId => Needs::REQUEST_ID,
            Source::Date | Source::EpochMs | Source::EpochSec => Needs::CLOCK,
            Source::Env(..) => Needs::NONE,
        }
    }
}

/// One lookup with what to print when it finds nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Single {
    pub source: Source,
    /// `:default`; present, it makes the lookup never absent.
    pub default: Option<Box<str>>,
}

/// The inside of one `${...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expr {
    /// One, or the `||` alternatives in order.
    pub alternatives: Box<[Single]>,
    /// `:: default` of a chain; `None` for a single lookup.
    pub chain_default: Option<Box<str>>,
    pub chained: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(Box<str>),
    Expr(Expr),
}

/// A value with its expressions parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub(crate) parts: Box<[Part]>,
    needs: Needs,
}

impl Template {
    /// Parses `text`; `Err` says which expression is wrong and why.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut needs = Needs::NONE;
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let (literal, tail) = rest.split_at(start);
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.into()));
            }
            let inner = tail.get(2..).unwrap_or_default();
            let Some(end) = inner.find('}') else {
                return Err(format!(
                    "'{}' has no closing '}}'",
                    tail.chars().take(40).collect::<String>()
                ));
            };
            let (source, after) = inner.split_at(end);
            let expr = expression(source)?;
            for single in expr.alternatives.iter() {
                needs |= single.source.needs();
            }
            parts.push(Part::Expr(expr));
            rest = after.get(1..).unwrap_or_default();
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.into()));
        }
        Ok(Template {
            parts: parts.into_boxed_slice(),
            needs,
        })
    }

    /// What rendering reads; empty for a constant.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// The text when it does not depend on the request or the clock
    /// (literal text and environment variables only).
    pub fn constant(&self) -> Option<String> {
        if !self.needs.is_empty() {
            return None;
        }
        let mut out = String::new();
        crate::render::render(self, &crate::facts::Lookup::empty(), &mut out);
        Some(out)
    }

    /// The literal text before the first expression.
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(text)) => text,
            _ => "",
        }
    }

    /// Every literal part, to check it once.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Literal(text) => Some(&**text),
            Part::Expr(_) => None,
        })
    }
}

/// The inside of `${...}`: a single lookup or a `||` chain.
fn expression(source: &str) -> Result<Expr, String> {
    if !source.contains("||") {
        return Ok(Expr {
            alternatives: Box::new([single(source.trim())?]),
            chain_default: None,
            chained: false,
        });
    }
    let mut pieces: Vec<&str> = source.split("||").collect();
    let mut chain_default = None;
    if let Some(last) = pieces.last_mut()
        && let Some((alternative, default)) = last.split_once("::")
    {
        chain_default = Some(default.trim().into());
        *last = alternative;
    }
    let alternatives = pieces
        .into_iter()
        .map(|piece| single(piece.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Expr {
        alternatives: alternatives.into_boxed_slice(),
        chain_default,
        chained: true,
    })
}

/// One lookup, `name` or `name:default` for the forms taking a name.
fn single(text: &str) -> Result<Single, String> {
    let fixed = |source| {
        Ok(Single {
            source,
            default: None,
        })
    };
    match text {
        "req.ip" | "req.ip_address" => return fixed(Source::Ip),
        "req.host" => return fixed(Source::Host),
        "req.path" => return fixed(Source::Path),
        "req.method" => return fixed(Source::Method),
        "req.uri" => return fixed(Source::Uri),
        "apikey.clientId" | "apikey.id" => return fixed(Source::ClientId),
        "apikey.name" => return fixed(Source::KeyName),
        "route.id" => return fixed(Source::RouteId),
        "route.name" => return fixed(Source::RouteName),
        "ctx.request_id" => return fixed(Source::RequestId),
        "date" | "now" => return fixed(Source::Date),
        "date.epoch_ms" | "now.epoch_ms" => return fixed(Source::EpochMs),
        "date.epoch_sec" | "now.epoch_sec" => return fixed(Source::EpochSec),
        _ => {}
    }
    let unknown = || {
        if text.is_empty() {
            "'${}' is an empty expression".to_string()
        } else {
            format!(
                "'${{{text}}}' is not an expression komainu knows (req.ip, req.host, req.path, req.method, req.uri, req.headers.NAME, req.query.NAME, req.cookies.NAME, apikey.clientId, apikey.name, apikey.metadata.NAME, route.id, route.name, ctx.request_id, date, env.{ENV_PREFIX}NAME)"
            )
        }
    };
    let Some((kind, named)) = [
        "req.headers.",
        "req.query.",
        "req.cookies.",
        "apikey.metadata.",
        "env.",
        "config.",
    ]
    .iter()
    .find_map(|prefix| text.strip_prefix(prefix).map(|rest| (*prefix, rest))) else {
        return Err(unknown());
    };
    // The first ':' ends the name, so that a default may hold colons (a URL).
    let (name, default) = match named.split_once(':') {
        Some((name, default)) => (name, Some(default.into())),
        None => (named, None),
    };
    if name.is_empty() {
        return Err(unknown());
    }
    let source = match kind {
        "req.headers." => Source::Header(
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("'{name}' in '${{{text}}}' is not a valid header name"))?,
        ),
        "req.query." => Source::Query(name.into()),
        "req.cookies." => Source::Cookie(name.into()),
        "apikey.metadata." => Source::KeyMetadata(name.into()),
        "env." => Source::Env(name.into(), env(name)?),
        _ => {
            return Err(format!(
                "'${{{text}}}': ${{config.*}} is not available in komainu (the node configuration holds secrets); put the value in an environment variable named {ENV_PREFIX}* and use ${{env.{ENV_PREFIX}...}}"
            ));
        }
    };
    Ok(Single { source, default })
}

/// An allowed environment variable, read now: a plugin is built when its
/// route is published, so each node sends its own value.
fn env(name: &str) -> Result<Option<Box<str>>, String> {
    if !name.starts_with(ENV_PREFIX) || name.len() == ENV_PREFIX.len() {
        return Err(format!(
            "${{env.{name}}} is refused: only environment variables named {ENV_PREFIX}* may be read by expressions, so that no secret of the node can be sent"
        ));
    }
    Ok(std::env::var(name).ok().map(String::into_boxed_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(text: &str) -> Single {
        let template = Template::parse(text).unwrap();
        match &template.parts[..] {
            [Part::Expr(expr)] if expr.alternatives.len() == 1 => expr.alternatives[0].clone(),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn every_kind_parses_to_its_source() {
        let header = HeaderName::from_static("x-a");
        for (text, source) in [
            ("${req.ip}", Source::Ip),
            ("${req.ip_address}", Source::Ip),
            ("${req.host}", Source::Host),
            ("${req.path}", Source::Path),
            ("${req.method}", Source::Method),
            ("${req.uri}", Source::Uri),
            ("${req.headers.X-A}", Source::Header(header)),
            ("${req.query.page}", Source::Query("page".into())),
            ("${req.cookies.session}", Source::Cookie("session".into())),
            ("${apikey.clientId}", Source::ClientId),
            ("${apikey.id}", Source::ClientId),
            ("${apikey.name}", Source::KeyName),
            (
                "${apikey.metadata.tier}",
                Source::KeyMetadata("tier".into()),
            ),
            ("${route.id}", Source::RouteId),
            ("${route.name}", Source::RouteName),
            ("${ctx.request_id}", Source::RequestId),
            ("${date}", Source::Date),
            ("${now}", Source::Date),
            ("${date.epoch_ms}", Source::EpochMs),
            ("${date.epoch_sec}", Source::EpochSec),
            ("${ req.path }", Source::Path),
        ] {
            assert_eq!(only(text).source, source, "{text}");
            assert_eq!(only(text).default, None, "{text}");
        }
    }

    #[test]
    fn defaults_follow_the_first_colon() {
        let single = only("${req.headers.x-to:https://a.test:8443/}");
        assert_eq!(
            single.source,
            Source::Header(HeaderName::from_static("x-to"))
        );
        assert_eq!(single.default.as_deref(), Some("https://a.test:8443/"));
        assert_eq!(only("${req.query.q:}").default.as_deref(), Some(""));
        // Fixed names take no default, as in Otoroshi.
        assert!(Template::parse("${req.path:x}").is_err());
    }

    #[test]
    fn literal_text_and_dollars_are_kept() {
        let template = Template::parse("cost: $5 {x} $ {y} }").unwrap();
        assert_eq!(template.constant().as_deref(), Some("cost: $5 {x} $ {y} }"));
        assert_eq!(Template::parse("").unwrap().constant().as_deref(), Some(""));
        let template = Template::parse("a${req.path}b${req.method}").unwrap();
        assert_eq!(template.parts.len(), 4);
        assert_eq!(template.needs(), Needs::PATH | Needs::METHOD);
        assert_eq!(template.constant(), None);
        assert_eq!(template.literal_prefix(), "a");
        assert_eq!(template.literals().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn unknown_and_unterminated_expressions_are_refused() {
        for text in [
            "${nope}",
            "${}",
            "${ }",
            "x ${req.pathx} y",
            "${req.headers.}",
            "${req.headers.bad name}",
            "${apikey.secret}",
            "${req.path",
            "ok ${req.path} then ${",
            "${a${req.path}}",
            "${req.path || nope}",
        ] {
            assert!(Template::parse(text).is_err(), "{text}");
        }
        let why = Template::parse("a ${req.path").err().unwrap();
        assert!(why.contains("no closing"), "{why}");
        let why = Template::parse("${nope}").err().unwrap();
        assert!(why.contains("'${nope}'"), "{why}");
    }

    #[test]
    fn config_is_refused_and_env_only_with_the_public_prefix() {
        let why = Template::parse("${config.app.secret}").err().unwrap();
        assert!(why.contains("not available"), "{why}");
        for name in ["HOME", "PG_URI", "ADMIN_CLIENT_SECRET", "KOMAINU_PUBLIC_"] {
            let why = Template::parse(&format!("${{env.{name}}}")).err().unwrap();
            assert!(why.contains(ENV_PREFIX), "{why}");
        }
        // Read once, when built: a constant.
        let template = Template::parse("${env.KOMAINU_PUBLIC_TEST_UNSET_VAR}").unwrap();
        assert_eq!(
            template.constant().as_deref(),
            Some("no-env-var-KOMAINU_PUBLIC_TEST_UNSET_VAR")
        );
        let template = Template::parse("${env.KOMAINU_PUBLIC_TEST_UNSET_VAR:eu}").unwrap();
        assert_eq!(template.constant().as_deref(), Some("eu"));
        // PATH is set in every test environment but is not public.
        assert!(Template::parse("${env.PATH:x}").is_err());
    }

    #[test]
    fn chains_parse_alternatives_and_a_default() {
        let template = Template::parse("${req.headers.a || req.query.b :: none left}").unwrap();
        let [Part::Expr(expr)] = &template.parts[..] else {
            panic!("{template:?}");
        };
        assert!(expr.chained);
        assert_eq!(expr.alternatives.len(), 2);
        assert_eq!(expr.chain_default.as_deref(), Some("none left"));
        assert_eq!(template.needs(), Needs::HEADERS | Needs::QUERY);
        let template = Template::parse("${req.headers.a||req.headers.b}").unwrap();
        let [Part::Expr(expr)] = &template.parts[..] else {
            panic!("{template:?}");
        };
        assert_eq!(expr.chain_default, None);
    }
}
