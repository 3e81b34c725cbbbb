//! A route's plugin chain on the request path: the request steps in order
//! (pre-route, access, request transformation; the first answer wins), and
//! the response steps on the way back, head then body. What plugins ask of
//! the node (API key checks, quotas, the HTTPS port) is [`NodeServices`].

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};
use model::State;
use model::apikey::ApiKey;
use model::route::Route;
use plugins::apikey_calls::ApikeyCallsConfig;
use plugins::{
    BodyCtx, CallInfo, Chain, Flow, Instance, KeyFacts, RequestCtx, ResponseCtx, Services,
};

use crate::apikey::{self, KeyError, Sources};
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::forwarding::{self, Origin};
use crate::quota::{QuotaTracker, Remaining};
use crate::service::now_ms;

/// Runs the request steps; `Some` is a plugin's answer to send instead of
/// calling the backend. A plugin whose decision needs work off the request
/// path (a bcrypt check) hands back a future, awaited here; a chain without
/// such plugins never suspends and allocates nothing.
pub async fn request_steps(chain: &Chain, request: &mut RequestCtx<'_>) -> Option<Response<Bytes>> {
    type StepFn = fn(&Instance, &mut RequestCtx<'_>) -> Flow;
    let steps: [(&[Instance], StepFn); 3] = [
        (&chain.pre_route, |i, r| i.plugin.pre_route(r)),
        (&chain.validate_access, |i, r| i.plugin.validate_access(r)),
        (&chain.transform_request, |i, r| {
            i.plugin.transform_request(r)
        }),
    ];
    for (instances, run) in steps {
        for instance in instances {
            if !instance.applies(request.path) {
                continue;
            }
            let mut flow = run(instance, request);
            loop {
                match flow {
                    Flow::Continue => break,
                    Flow::Answer(answer) => return Some(answer),
                    Flow::Await(pending) => flow = pending.await,
                }
            }
        }
    }
    None
}

/// Runs the response steps on a response head.
pub fn response_steps(chain: &Chain, response: &mut ResponseCtx<'_>) {
    for instance in chain.transform_response.iter() {
        if instance.applies(response.path) {
            instance.plugin.transform_response(response);
        }
    }
}

/// Runs the response body steps on an upstream response: each plugin, in
/// the route's order, may fix the head and wrap the body the previous one
/// gave. An upgrade or other 1xx answer has no body to touch.
pub fn response_body_steps(
    chain: &Chain,
    head: &mut http::response::Parts,
    method: &Method,
    path: &str,
    accept_encoding: Option<&HeaderValue>,
    body: ProxyBody,
) -> ProxyBody {
    if head.status.is_informational() {
        return body;
    }
    let mut response = BodyCtx {
        status: &mut head.status,
        headers: &mut head.headers,
        method,
        path,
        accept_encoding,
    };
    chain
        .transform_response_body
        .iter()
        .filter(|instance| instance.applies(path))
        .fold(body, |body, instance| {
            instance.plugin.transform_response_body(&mut response, body)
        })
}

/// What the node lends plugins for one request.
pub struct NodeServices<'a> {
    pub state: &'a State,
    pub route: &'a Route,
    pub quotas: &'a QuotaTracker,
    pub request_id: &'a str,
    /// When the request arrived (ms since the epoch).
    pub arrived_ms: u64,
    pub https_port: u16,
    pub origin: Origin<'a>,
    /// The key's quota left, once ApikeyCalls counted the call. A mutex,
    /// not a cell: the services are shared with plugins across an await.
    pub remaining: Mutex<Option<Remaining>>,
    /// The key ApikeyCalls accepted, for `${apikey.*}` expressions.
    pub key: OnceLock<Arc<ApiKey>>,
    /// `request_id` as a header value, once a plugin asked for it.
    pub request_id_value: OnceLock<HeaderValue>,
}

impl NodeServices<'_> {
    fn refuse(&self, error: ProxyError) -> Box<Response<Bytes>> {
        Box::new(error.answer(self.request_id))
    }
}

impl Services for NodeServices<'_> {
    fn check_apikey(
        &self,
        config: &ApikeyCallsConfig,
        request: &mut RequestCtx<'_>,
    ) -> Result<(), Box<Response<Bytes>>> {
        let extractors = &config.extractors;
        let sources = Sources {
            client_id: extractors.client_id.enabled,
            headers: extractors.custom_headers.enabled,
            bearer: extractors.jwt.enabled,
            basic: extractors.basic.enabled,
        };
        let now = now_ms();
        let checked = apikey::check_from(
            request.headers,
            request.query,
            self.state,
            self.route,
            now,
            sources,
        );
        let key = match checked {
            Ok(key) => key,
            // Otoroshi's `mandatory: false`: a call without any key passes.
            Err(KeyError::Missing) if !config.mandatory => return Ok(()),
            Err(error) => return Err(self.refuse(error.into())),
        };
        if config.update_quotas {
            let remaining = self
                .quotas
                .admit(&key, now)
                .map_err(|e| self.refuse(e.into()))?;
            *self
                .remaining
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(remaining);
        }
        if config.wipe_backend_request {
            apikey::strip_credentials(request.headers);
        }
        // A second ApikeyCalls on the route finds the same key.
        let _ = self.key.set(key);
        Ok(())
    }

    fn https_port(&self) -> u16 {
        self.https_port
    }

    fn add_forwarded(&self, headers: &mut HeaderMap) {
        forwarding::add(headers, &self.origin);
    }

    fn call(&self) -> &dyn CallInfo {
        self
    }

    fn apikey(&self) -> Option<KeyFacts<'_>> {
        self.key.get().map(|key| KeyFacts {
            client_id: &key.client_id,
            name: &key.client_name,
            metadata: &key.metadata,
        })
    }

    fn route_id(&self) -> &str {
        &self.route.id
    }

    fn route_name(&self) -> &str {
        &self.route.name
    }

    fn request_id(&self) -> &str {
        self.request_id
    }
}

impl CallInfo for NodeServices<'_> {
    fn request_id_value(&self) -> HeaderValue {
        // Sent upstream and back: made once.
        self.request_id_value
            .get_or_init(|| {
                HeaderValue::from_str(self.request_id)
                    .unwrap_or_else(|_| HeaderValue::from_static(""))
            })
            .clone()
    }

    fn request_timestamp(&self) -> HeaderValue {
        plugins::timestamp::otoroshi_header(self.arrived_ms)
    }

    fn proxied_host(&self) -> Option<HeaderValue> {
        self.origin.host.cloned()
    }

    fn remaining(&self) -> Option<(u64, u64)> {
        self.remaining
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|r| (r.daily, r.monthly))
    }
}
