//! What expressions read: a borrowed view of one request ([`Lookup`]),
//! made from the request step's context, or from the [`RequestFacts`] a
//! route with response expressions keeps for its response step.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, Method};

use crate::context::RequestCtx;
use crate::template::{Needs, Reads};

/// The API key a call was made with (found by ApikeyCalls).
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    pub client_id: &'a str,
    pub name: &'a str,
    pub metadata: &'a BTreeMap<String, String>,
}

/// One request as expressions see it.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub uri: &'a str,
    pub host: &'a str,
    pub client_ip: IpAddr,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub apikey: Option<KeyFacts<'a>>,
    pub route_id: &'a str,
    pub route_name: &'a str,
    pub request_id: &'a str,
}

static NO_HEADERS: LazyLock<HeaderMap> = LazyLock::new(HeaderMap::new);

impl Lookup<'static> {
    /// Nothing known: what constants are rendered against.
    pub fn empty() -> Lookup<'static> {
        Lookup {
            method: "",
            path: "",
            uri: "",
            host: "",
            client_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            headers: &NO_HEADERS,
            query: None,
            apikey: None,
            route_id: "",
            route_name: "",
            request_id: "",
        }
    }
}

impl RequestCtx<'_> {
    /// The request as expressions see it now (headers as changed by the
    /// plugins that ran before).
    pub fn lookup(&self) -> Lookup<'_> {
        Lookup {
            method: self.method.as_str(),
            path: self.path,
            uri: self.path_and_query,
            host: self.host,
            client_ip: self.client_ip,
            headers: self.headers,
            query: self.query,
            apikey: self.services.apikey(),
            route_id: self.services.route_id(),
            route_name: self.services.route_name(),
            request_id: self.services.request_id(),
        }
    }
}

/// The request facts a route's response expressions read, copied when the
/// request steps are done; only what the templates need is filled in.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    method: Option<Method>,
    path: String,
    uri: String,
    host: String,
    client_ip: Option<IpAddr>,
    headers: HeaderMap,
    query: Option<String>,
    apikey: Option<OwnedKey>,
    route_id: String,
    route_name: String,
    request_id: String,
}

#[derive(Debug, Clone, Default)]
struct OwnedKey {
    client_id: String,
    name: String,
    metadata: BTreeMap<String, String>,
}

impl RequestFacts {
    pub fn capture(request: &RequestCtx<'_>, reads: &Reads) -> RequestFacts {
        let needs = reads.needs;
        let text = |need: Needs, value: &str| {
            if needs.has(need) {
                value.to_string()
            } else {
                String::new()
            }
        };
        let services = request.services;
        RequestFacts {
            method: needs.has(Needs::METHOD).then(|| request.method.clone()),
            path: text(Needs::PATH, request.path),
            uri: text(Needs::URI, request.path_and_query),
            host: text(Needs::HOST, request.host),
            client_ip: Some(request.client_ip),
            headers: headers(request.headers, &reads.headers),
            query: request
                .query
                .filter(|_| needs.has(Needs::QUERY))
                .map(str::to_string),
            apikey: services
                .apikey()
                .filter(|_| needs.has(Needs::APIKEY))
                .map(|key| OwnedKey {
                    client_id: key.client_id.to_string(),
                    name: key.name.to_string(),
                    metadata: key.metadata.clone(),
                }),
            route_id: text(Needs::ROUTE, services.route_id()),
            route_name: text(Needs::ROUTE, services.route_name()),
            request_id: text(Needs::REQUEST_ID, services.request_id()),
        }
    }

    pub fn lookup(&self) -> Lookup<'_> {
        Lookup {
            method: self.method.as_ref().map_or("", Method::as_str),
            path: &self.path,
            uri: &self.uri,
            host: &self.host,
            client_ip: self.client_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            headers: &self.headers,
            query: self.query.as_deref(),
            apikey: self.apikey.as_ref().map(|key| KeyFacts {
                client_id: &key.client_id,
                name: &key.name,
                metadata: &key.metadata,
            }),
            route_id: &self.route_id,
            route_name: &self.route_name,
            request_id: &self.request_id,
        }
    }
}

/// Only the headers the response templates name.
fn headers(all: &HeaderMap, names: &[HeaderName]) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in names {
        for value in all.get_all(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}
