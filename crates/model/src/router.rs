//! The compiled route table: which route serves a request, found without
//! scanning the routes.
//!
//! # Semantics (Otoroshi's, with the choices komainu makes where it is vague)
//!
//! **Domains.** Each entry of `frontend.domains` is `host[/path-prefix]`,
//! split at the first `/`. The host may start with `*.` (a wildcard). Hosts
//! are compared case-insensitively, without port (`host:port`,
//! `[v6]:port`), without IPv6 brackets (`[::1]` and `::1` are the same host)
//! and without a trailing dot (`example.com.` is `example.com`); the same
//! normalisation is applied to the domains of routes and to the request's
//! host, so a port written in a domain is ignored too. Trailing slashes of a
//! path prefix are dropped, as Otoroshi does (`api.oto.tools/users/` is the
//! prefix `/users`, `api.oto.tools/` is the prefix `""`); a domain without a
//! path has the prefix `""`, which matches every path.
//!
//! **Hosts.** An exact host wins over any wildcard. `*.oto.tools` matches
//! `a.oto.tools` and `a.b.oto.tools`, never `oto.tools`; among wildcards the
//! longest suffix wins (`*.b.oto.tools` before `*.oto.tools`). Wildcards are
//! found by dropping the request host's labels one at a time, so the cost is
//! the number of labels, not the number of wildcard routes.
//!
//! **Fallback.** Candidate hosts are tried in that order (exact, then
//! wildcards from the longest suffix to the shortest); when no route of a
//! host accepts the request (path, exact flag, matchers), the next candidate
//! host is tried. So with `api.oto.tools/users` and `*.oto.tools`, a request
//! for `api.oto.tools/other` goes to the wildcard route. Likewise, within a
//! host, when no route at the longest matching prefix accepts the request,
//! shorter prefixes are tried.
//!
//! **Paths.** Within a host the longest prefix wins. A prefix matches by
//! plain `starts_with`, as in Otoroshi and nginx: `/users` matches `/users`,
//! `/users/1` and also `/usersx`. Prefixes are compared without regard to
//! ASCII case (`/admin` also matches `/ADMIN/x`): a case-insensitive backend
//! would serve `/ADMIN` as `/admin`, so a prefix that protects one spelling
//! must protect them all; the path is forwarded as received. With
//! `frontend.exact`, the path must equal the prefix, one trailing slash
//! tolerated (`/users` and `/users/` both match the exact prefix `/users`; the
//! exact prefix `""` matches `/` and the empty path).
//!
//! **Matchers.** `frontend.methods`, when not empty, must list the request
//! method (compared as written: methods are case-sensitive and stored upper
//! case). Each `frontend.headers` entry must be present with exactly that
//! value (names case-insensitive, values case-sensitive). Each
//! `frontend.query` entry must appear in the query string with exactly that
//! value (any of the repeated values counts, as in Otoroshi); keys and values
//! are percent-decoded (`+` is a space) before comparing, malformed escapes are
//! kept as written. Otoroshi's `Regex(..)` / `Wildcard(..)` value forms are
//! not interpreted: they are compared literally.
//!
//! **Order at one host and prefix.** Several routes may share a host and a
//! prefix; the first that accepts the request wins, trying `exact` routes
//! first, then routes with more matchers (methods count as one, each header
//! and each query parameter as one), then by route id, so the choice never
//! depends on load order.
//!
//! **Cost.** `find` does one hash lookup for the exact host and one per
//! label for wildcards. Per candidate host, the prefixes are stored in one of
//! three layouts, picked at build time: a single prefix (one comparison); up
//! to 8 prefixes in a short list, longest first (at most 8 comparisons); more
//! than that, a hash map probed once per distinct prefix length present on
//! the host that fits in the path, longest first (only at lengths that fall on
//! a character boundary). Only the routes registered at a matching prefix
//! have their matchers evaluated, and routes without matchers are accepted
//! without reading the route. No step looks at every route; `build` sorts the
//! (host, prefix, route) triples once, so it is O(n log n).

use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::route::Route;

/// Routes compiled for lookup by host and path. Build it once per state, off
/// the request path; it is immutable afterwards.
#[derive(Default)]
pub struct RouteTable {
    /// Enabled routes, with what matching needs precomputed.
    routes: Vec<Compiled>,
    /// Exact hosts, normalised (lower case, no port, no brackets).
    exact: HashMap<Box<str>, HostEntry>,
    /// Wildcard hosts by their suffix: `*.oto.tools` is stored as `oto.tools`.
    wildcards: HashMap<Box<str>, HostEntry>,
}

/// The result of [`RouteTable::find`].
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'a> {
    pub route: &'a Arc<Route>,
    /// The route's position in [`RouteTable::routes`]: what was compiled
    /// for it at publish time sits at the same index.
    pub index: usize,
    /// The matched domain's path prefix (`""` or `/users`), without trailing
    /// slash.
    pub prefix: &'a str,
}

struct Compiled {
    route: Arc<Route>,
    /// Header matchers with lower-case names.
    headers: Box<[(Box<str>, Box<str>)]>,
}

/// One route at one host and prefix, with the flags that let `find` skip
/// reading the route itself when it has no matchers.
#[derive(Clone, Copy)]
struct Candidate {
    /// Index into `RouteTable::routes`.
    index: u32,
    exact: bool,
    /// No method, header or query matcher.
    plain: bool,
    /// Number of matchers, for ordering only.
    matchers: u32,
}

/// The candidates at one host and prefix, in the order they are tried.
/// One candidate (the common case) is stored inline.
enum Slot {
    One(Candidate),
    Many(Box<[Candidate]>),
}

/// The routes of one host (exact or wildcard), by path prefix.
enum HostEntry {
    /// A single prefix on this host (the common case): no second lookup.
    Single { prefix: Box<str>, slot: Slot },
    /// Up to [`FEW`] prefixes, tried longest first; their text is kept in
    /// one string so that trying them touches two allocations.
    Few {
        /// The prefixes, concatenated.
        text: Box<str>,
        /// `(start, end)` of each prefix in `text`, with its candidates,
        /// longest prefix first.
        prefixes: Box<[(u32, u32, Slot)]>,
    },
    /// More prefixes: one hash probe per distinct prefix length that fits in
    /// the path, longest first.
    Multi {
        by_prefix: HashMap<Box<str>, Slot>,
        /// The distinct prefix lengths present, longest first.
        lengths: Box<[usize]>,
    },
}

/// Hosts with at most this many distinct prefixes are tried in a short list
/// rather than hashed: a bounded number of comparisons, fewer memory loads.
const FEW: usize = 8;

/// One (host, prefix, route) triple, while building.
struct Staged<'r> {
    wildcard: bool,
    host: Cow<'r, str>,
    /// Lower case: requests are matched on their lower-cased path.
    prefix: Cow<'r, str>,
    id: &'r str,
    candidate: Candidate,
}

impl Staged<'_> {
    /// Groups by host, then prefix; within a prefix, the order candidates
    /// are tried in: exact first, then more matchers, then route id.
    fn order(&self, other: &Self) -> Ordering {
        (self.wildcard, &self.host, &self.prefix)
            .cmp(&(other.wildcard, &other.host, &other.prefix))
            .then(other.candidate.exact.cmp(&self.candidate.exact))
            .then(other.candidate.matchers.cmp(&self.candidate.matchers))
            .then_with(|| self.id.cmp(other.id))
            .then(self.candidate.index.cmp(&other.candidate.index))
    }
}

impl RouteTable {
    /// Compiles enabled routes; disabled routes are left out.
    pub fn build(routes: &[Arc<Route>]) -> RouteTable {
        let mut compiled = Vec::with_capacity(routes.len());
        let mut staged = Vec::with_capacity(routes.len());
        for route in routes.iter().filter(|r| r.enabled) {
            let Ok(index) = u32::try_from(compiled.len()) else {
                break; // more than 4 billion routes: the rest cannot be indexed
            };
            let frontend = &route.frontend;
            let matchers = usize::from(!frontend.methods.is_empty())
                + frontend.headers.len()
                + frontend.query.len();
            let candidate = Candidate {
                index,
                exact: frontend.exact,
                plain: matchers == 0,
                matchers: u32::try_from(matchers).unwrap_or(u32::MAX),
            };
            compiled.push(Compiled {
                route: Arc::clone(route),
                headers: frontend
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase().into(), v.as_str().into()))
                    .collect(),
            });
            for domain in &frontend.domains {
                let (host, prefix) = match domain.find('/') {
                    Some(slash) => domain.split_at(slash),
                    None => (domain.as_str(), ""),
                };
                let prefix = prefix.trim_end_matches('/');
                let (wildcard, host) = match host.strip_prefix("*.") {
                    Some(suffix) => (true, suffix),
                    None => (false, host),
                };
                let host = normalize_host(host);
                if host.is_empty() {
                    continue;
                }
                staged.push(Staged {
                    wildcard,
                    host,
                    prefix: ascii_lower(prefix),
                    id: &route.id,
                    candidate,
                });
            }
        }
        // Sorting groups each host's entries together (exact hosts first),
        // so the final maps are filled in one pass, without per-host staging
        // maps.
        staged.sort_unstable_by(Staged::order);
        let split = staged.partition_point(|s| !s.wildcard);
        let (exact, wildcards) = staged.split_at(split);
        let exact = index_hosts(exact);
        let wildcards = index_hosts(wildcards);
        RouteTable {
            routes: compiled,
            exact,
            wildcards,
        }
    }

    /// Finds the route for a request. `host` may carry a port and any case;
    /// `path` is the URI path (no query); `query` the raw query string if
    /// any; `header(name)` returns a request header value (name given in
    /// lower case).
    pub fn find<'a, 'h>(
        &'a self,
        host: &str,
        path: &str,
        method: &str,
        query: Option<&str>,
        header: impl Fn(&str) -> Option<&'h str>,
    ) -> Option<RouteMatch<'a>> {
        let host = normalize_host(host);
        let path = ascii_lower(path);
        let request = Request {
            path: &path,
            method,
            query,
            header: &header,
        };
        if let Some(found) = self
            .exact
            .get(host.as_ref())
            .and_then(|entry| self.find_in(entry, &request))
        {
            return Some(found);
        }
        if self.wildcards.is_empty() {
            return None;
        }
        // Drop one label at a time: a.b.oto.tools -> b.oto.tools -> oto.tools -> tools.
        host.char_indices()
            .filter(|&(i, c)| c == '.' && i > 0)
            .filter_map(|(i, _)| self.wildcards.get(&host[i + 1..]))
            .find_map(|entry| self.find_in(entry, &request))
    }

    /// The routes of the table (the enabled ones), in index order.
    pub fn routes(&self) -> impl ExactSizeIterator<Item = &Arc<Route>> {
        self.routes.iter().map(|c| &c.route)
    }

    /// Number of routes in the table (the enabled ones).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    fn find_in<'a>(
        &'a self,
        entry: &'a HostEntry,
        request: &Request<'_, '_>,
    ) -> Option<RouteMatch<'a>> {
        let path = request.path;
        match entry {
            HostEntry::Single { prefix, slot } => {
                let rest = path.strip_prefix(prefix.as_ref())?;
                self.first_accepting(prefix, slot, rest, request)
            }
            HostEntry::Few { text, prefixes } => {
                prefixes.iter().find_map(|&(start, end, ref slot)| {
                    let prefix = text.get(start as usize..end as usize)?;
                    let rest = path.strip_prefix(prefix)?;
                    self.first_accepting(prefix, slot, rest, request)
                })
            }
            HostEntry::Multi { by_prefix, lengths } => lengths
                .iter()
                .filter(|&&len| path.is_char_boundary(len))
                .filter_map(|&len| by_prefix.get_key_value(&path[..len]))
                .find_map(|(prefix, slot)| {
                    let rest = &path[prefix.len()..];
                    self.first_accepting(prefix, slot, rest, request)
                }),
        }
    }

    /// The first candidate at one prefix that accepts the request; `rest` is
    /// what follows the prefix in the path.
    fn first_accepting<'a>(
        &'a self,
        prefix: &'a str,
        slot: &Slot,
        rest: &str,
        request: &Request<'_, '_>,
    ) -> Option<RouteMatch<'a>> {
        let candidates = match slot {
            Slot::One(one) => std::slice::from_ref(one),
            Slot::Many(many) => many,
        };
        candidates.iter().find_map(|candidate| {
            if candidate.exact && !(rest.is_empty() || rest == "/") {
                return None;
            }
            let compiled = self.routes.get(candidate.index as usize)?;
            (candidate.plain || compiled.accepts(request)).then_some(RouteMatch {
                route: &compiled.route,
                index: candidate.index as usize,
                prefix,
            })
        })
    }
}

impl fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTable")
            .field("routes", &self.routes.len())
            .field("exact_hosts", &self.exact.len())
            .field("wildcard_hosts", &self.wildcards.len())
            .finish()
    }
}

impl RouteMatch<'_> {
    /// The path to send upstream: strip `prefix` from `path` when
    /// `frontend.strip_path`, then put `backend.root` in front, joining with
    /// exactly one slash (`/` + `/1` = `/1`; `/api/` + `/1` = `/api/1`;
    /// `/api` + `` = `/api`; `/` + `` = `/`; `/api` + `/` = `/api/`). When
    /// nothing is left of the path the root is used as written. Always
    /// starts with `/`.
    pub fn upstream_path(&self, path: &str) -> String {
        self.upstream_path_cow(path).into_owned()
    }

    /// [`upstream_path`](Self::upstream_path), borrowing `path` when it goes
    /// upstream unchanged (no prefix stripped, root `/`): the common case
    /// costs no allocation.
    pub fn upstream_path_cow<'p>(&self, path: &'p str) -> Cow<'p, str> {
        let root = self.route.backend.root.as_str();
        let stripped = self.route.frontend.strip_path && !self.prefix.is_empty();
        if !stripped && path.starts_with('/') && (root.is_empty() || root == "/") {
            return Cow::Borrowed(path);
        }
        Cow::Owned(self.build_upstream_path(path))
    }

    fn build_upstream_path(&self, path: &str) -> String {
        let rest = if self.route.frontend.strip_path {
            // The prefix is lower case; the path is as the client wrote it.
            match (path.get(..self.prefix.len()), path.get(self.prefix.len()..)) {
                (Some(head), Some(rest)) if head.eq_ignore_ascii_case(self.prefix) => rest,
                _ => path,
            }
        } else {
            path
        };
        let root = self.route.backend.root.as_str();
        let mut out = String::with_capacity(root.len() + rest.len() + 2);
        if rest.is_empty() {
            if !root.starts_with('/') {
                out.push('/');
            }
            out.push_str(root);
            return out;
        }
        let base = root.trim_end_matches('/');
        if !base.is_empty() && !base.starts_with('/') {
            out.push('/');
        }
        out.push_str(base);
        out.push('/');
        out.push_str(rest.strip_prefix('/').unwrap_or(rest));
        out
    }
}

struct Request<'r, 'h> {
    path: &'r str,
    method: &'r str,
    query: Option<&'r str>,
    header: &'r dyn Fn(&str) -> Option<&'h str>,
}

impl Compiled {
    fn accepts(&self, request: &Request<'_, '_>) -> bool {
        let frontend = &self.route.frontend;
        if !frontend.methods.is_empty() && !frontend.methods.iter().any(|m| m == request.method) {
            return false;
        }
        if !self
            .headers
            .iter()
            .all(|(name, value)| (request.header)(name).is_some_and(|v| v == value.as_ref()))
        {
            return false;
        }
        frontend.query.iter().all(|(key, value)| {
            request
                .query
                .is_some_and(|query| query_has(query, key, value))
        })
    }
}

/// Whether the raw query string holds `key=value` (after percent-decoding).
fn query_has(query: &str, key: &str, value: &str) -> bool {
    query.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        percent_decode(k) == key && percent_decode(v) == value
    })
}

/// Decodes `%XX` escapes and `+` as in `application/x-www-form-urlencoded`;
/// a malformed escape is kept as written, invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(|&h| hex(h)),
                bytes.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The host part of a `Host` value: without port, IPv6 brackets or trailing
/// dot (case unchanged). Shared with the listener's admin-host dispatch so
/// that both read a host the same way.
pub fn strip_port(host: &str) -> &str {
    let host = host.trim();
    let bare = if let Some(inner) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        inner.split_once(']').map_or(inner, |(v6, _)| v6)
    } else {
        match host.split_once(':') {
            // one colon: host:port; more: a bare IPv6 literal
            Some((name, port)) if !port.contains(':') => name,
            _ => host,
        }
    };
    bare.strip_suffix('.').unwrap_or(bare)
}

/// ASCII lower case; allocates only when there is an upper-case letter.
fn ascii_lower(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// Lower case, without port, IPv6 brackets or trailing dot. Allocates only
/// when the host has upper-case letters.
fn normalize_host(host: &str) -> Cow<'_, str> {
    ascii_lower(strip_port(host))
}

/// Builds the host map from entries sorted by [`Staged::order`].
fn index_hosts(staged: &[Staged<'_>]) -> HashMap<Box<str>, HostEntry> {
    let mut hosts = HashMap::new();
    for host in staged.chunk_by(|a, b| a.host == b.host) {
        let Some(first) = host.first() else {
            continue;
        };
        let prefixes = host.chunk_by(|a, b| a.prefix == b.prefix).map(|group| {
            let mut candidates: Vec<Candidate> = group.iter().map(|s| s.candidate).collect();
            // a route listing the same domain twice is tried once
            candidates.dedup_by_key(|c| c.index);
            let slot = match candidates.as_slice() {
                [one] => Slot::One(*one),
                _ => Slot::Many(candidates.into_boxed_slice()),
            };
            (group.first().map_or("", |s| s.prefix.as_ref()), slot)
        });
        hosts.insert(
            Box::from(first.host.as_ref()),
            host_entry(prefixes.collect()),
        );
    }
    hosts
}

/// Picks the layout for one host's prefixes.
fn host_entry(mut prefixes: Vec<(&str, Slot)>) -> HostEntry {
    if prefixes.len() == 1
        && let Some((prefix, slot)) = prefixes.pop()
    {
        return HostEntry::Single {
            prefix: prefix.into(),
            slot,
        };
    }
    if prefixes.len() <= FEW {
        prefixes.sort_by_key(|p| Reverse(p.0.len()));
        let mut text = String::with_capacity(prefixes.iter().map(|p| p.0.len()).sum());
        let mut spans = Vec::with_capacity(prefixes.len());
        for (prefix, slot) in prefixes {
            let start = text.len();
            text.push_str(prefix);
            // prefixes come from domains, far shorter than 4 GiB
            if let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(text.len())) {
                spans.push((start, end, slot));
            }
        }
        return HostEntry::Few {
            text: text.into_boxed_str(),
            prefixes: spans.into_boxed_slice(),
        };
    }
    let mut lengths: Vec<usize> = prefixes.iter().map(|p| p.0.len()).collect();
    lengths.sort_unstable_by_key(|&len| Reverse(len));
    lengths.dedup();
    HostEntry::Multi {
        by_prefix: prefixes
            .into_iter()
            .map(|(prefix, slot)| (Box::from(prefix), slot))
            .collect(),
        lengths: lengths.into_boxed_slice(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalize() {
        assert_eq!(normalize_host("API.oto.tools:8080"), "api.oto.tools");
        assert_eq!(normalize_host("[::1]:8443"), "::1");
        assert_eq!(normalize_host("[::1]"), "::1");
        assert_eq!(normalize_host("::1"), "::1");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("[broken"), "broken");
        assert_eq!(normalize_host(""), "");
    }

    #[test]
    fn percent_decoding_tolerates_odd_input() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("é%C3%A9"), "éé");
    }
}
