//! Which handler answers which path. Every path is registered concretely (one
//! per kind) rather than through a `{plural}` parameter, so that this table is
//! the complete list of served paths, checked against the OpenAPI document by
//! a test.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware;
use axum::routing::{MethodRouter, get, post};
use model::Kind;
use model::global_config::GLOBAL_ID;

use crate::body::JsonBody;
use crate::bulk::{self, BulkOp};
use crate::context::AdminContext;
use crate::error::AdminError;
use crate::{
    auth, entities, export, health, import, live, meta, metrics_json, ndjson, openapi, pki, quotas,
    resource, schema, yaml,
};

pub const HEALTH_PATH: &str = "/.well-known/otoroshi/monitoring/health";

type Params = Query<HashMap<String, String>>;
type Ctx = State<AdminContext>;

/// The admin router for the admin host. Everything but health needs an admin key.
pub fn router(ctx: AdminContext) -> Router {
    let protected = api_routes()
        .into_iter()
        .fold(Router::new(), |router, (path, handlers)| {
            router.route(&path, handlers)
        })
        .route_layer(middleware::from_fn_with_state(
            ctx.clone(),
            auth::require_admin,
        ));
    Router::new()
        .merge(protected)
        .route(
            HEALTH_PATH,
            get(|State(ctx): Ctx| async move { health::health(&ctx).await }),
        )
        .route(
            metrics_json::METRICS_PATH,
            get(
                |State(ctx): Ctx, Query(params): Params, method: Method, headers: HeaderMap| async move {
                    metrics_json::well_known(&ctx, &params, &headers, &method).await
                },
            ),
        )
        .fallback(|uri: Uri| async move { AdminError::NotFound(not_found_message(uri.path())) })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            AdminError::MethodNotAllowed {
                method: method.to_string(),
                path: uri.path().to_string(),
            }
        })
        .layer(middleware::from_fn(yaml::answer_in_yaml))
        .layer(middleware::from_fn(ndjson::answer_lists_in_ndjson))
        .with_state(ctx)
}

/// The admin router plus `extra` routes (the cluster endpoints of a leader)
/// behind the same admin-key check.
pub fn router_with(ctx: AdminContext, extra: Router) -> Router {
    let extra = extra
        .route_layer(middleware::from_fn_with_state(
            ctx.clone(),
            auth::require_admin,
        ))
        .layer(middleware::from_fn(yaml::answer_in_yaml))
        .layer(middleware::from_fn(ndjson::answer_lists_in_ndjson));
    router(ctx).merge(extra)
}

/// Every path this API serves, in OpenAPI's template syntax.
pub fn served_paths() -> Vec<String> {
    let mut paths: Vec<String> = api_routes().into_iter().map(|(path, _)| path).collect();
    paths.push(HEALTH_PATH.to_string());
    paths.push(metrics_json::METRICS_PATH.to_string());
    paths
}

fn not_found_message(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/apis/") {
        let mut parts = rest.split('/');
        if let (Some(group), Some(version), Some(plural)) =
            (parts.next(), parts.next(), parts.next())
            && kind_of_path(group, version, plural).is_none()
        {
            return format!(
                "unknown kind '{group}/{version}/{plural}'; GET /apis/entities lists the served kinds"
            );
        }
    }
    format!("no admin endpoint at {path}")
}

fn api_routes() -> Vec<(String, MethodRouter<AdminContext>)> {
    let mut table = vec![
        (
            "/api/version".to_string(),
            get(|State(ctx): Ctx| async move { meta::version(&ctx) }),
        ),
        (
            "/api/infos".to_string(),
            get(|State(ctx): Ctx| async move { meta::infos(&ctx) }),
        ),
        (
            "/api/openapi.json".to_string(),
            get(|State(ctx): Ctx| async move { openapi::document(ctx.info.mode) }),
        ),
        (
            "/apis/entities".to_string(),
            get(|| async { meta::entities() }),
        ),
        (
            "/metrics".to_string(),
            get(|State(ctx): Ctx| async move { meta::metrics(&ctx) }),
        ),
        (
            "/api/plugins".to_string(),
            get(|| async { axum::Json(plugins::registry::catalog()) }),
        ),
        (
            "/api/live".to_string(),
            get(|State(ctx): Ctx| async move { live::live(&ctx).await }),
        ),
        (
            "/api/otoroshi.json".to_string(),
            get(|State(ctx): Ctx| async move { export::export(&ctx).await }).post(
                |State(ctx): Ctx, JsonBody(body): JsonBody| async move {
                    import::import(&ctx, body).await
                },
            ),
        ),
        (
            "/api/globalconfig".to_string(),
            singleton(Kind::GlobalConfig),
        ),
        (
            "/api/pki/certs".to_string(),
            post(|State(ctx): Ctx, JsonBody(body): JsonBody| async move {
                pki::generate(&ctx, body, false).await
            }),
        ),
        (
            "/api/pki/cas".to_string(),
            post(|State(ctx): Ctx, JsonBody(body): JsonBody| async move {
                pki::generate(&ctx, body, true).await
            }),
        ),
    ];
    table.extend(node_routes());
    for kind in Kind::ALL {
        for base in bases(kind) {
            table.push((
                format!("{base}/_template"),
                get(move || async move { entities::new_template(kind) }),
            ));
            table.push((
                format!("{base}/_count"),
                get(move |State(ctx): Ctx, Query(params): Params| async move {
                    entities::count(&ctx, kind, &params).await
                }),
            ));
            if kind != Kind::GlobalConfig {
                table.push((format!("{base}/_bulk"), bulk_writes(kind)));
            }
            if base.starts_with("/apis/") {
                table.push((
                    format!("{base}/_schema"),
                    get(move || async move { schema::of(kind) }),
                ));
            }
            table.push((format!("{base}/{{id}}"), item(kind)));
            if kind == Kind::ApiKey {
                table.push((format!("{base}/{{id}}/quotas"), key_quotas()));
            }
            table.push((base, collection(kind)));
        }
    }
    table
}

/// Otoroshi's node API: this node's own infos, version, health and metrics.
fn node_routes() -> Vec<(String, MethodRouter<AdminContext>)> {
    vec![
        (
            "/apis/cluster/node/infos".to_string(),
            get(|State(ctx): Ctx| async move { meta::infos(&ctx) }),
        ),
        (
            "/apis/cluster/node/version".to_string(),
            get(|State(ctx): Ctx| async move { meta::version(&ctx) }),
        ),
        (
            "/apis/cluster/node/health".to_string(),
            get(|State(ctx): Ctx| async move { health::health(&ctx).await }),
        ),
        (
            "/apis/cluster/node/metrics".to_string(),
            get(
                |State(ctx): Ctx, Query(params): Params, headers: HeaderMap| async move {
                    metrics_json::node(&ctx, &params, &headers)
                },
            ),
        ),
    ]
}

/// The group Otoroshi accepts in place of a kind's own on generic paths.
pub const ANY_GROUP: &str = "any";

/// The collection paths of a kind: generic (under its group and under
/// `any`), and legacy where Otoroshi has one.
pub(crate) fn bases(kind: Kind) -> Vec<String> {
    let mut bases: Vec<String> = [kind.group(), ANY_GROUP]
        .into_iter()
        .map(|group| format!("/apis/{group}/{}/{}", kind.version(), kind.plural()))
        .collect();
    if kind != Kind::GlobalConfig {
        bases.push(format!("/api/{}", kind.legacy_segment()));
    }
    bases
}

/// The kind a generic path names, `any` standing for every group.
fn kind_of_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
    if group == ANY_GROUP {
        Kind::ALL
            .into_iter()
            .find(|k| k.version() == version && k.plural() == plural)
    } else {
        Kind::from_api_path(group, version, plural)
    }
}

fn collection(kind: Kind) -> MethodRouter<AdminContext> {
    get(move |State(ctx): Ctx, Query(params): Params| async move {
        entities::list(&ctx, kind, &params).await
    })
    .post(
        move |State(ctx): Ctx, JsonBody(body): JsonBody| async move {
            entities::create(&ctx, kind, resource::entity(kind, body)?).await
        },
    )
}

fn item(kind: Kind) -> MethodRouter<AdminContext> {
    get(move |State(ctx): Ctx, Path(id): Path<String>| async move {
        entities::get(&ctx, kind, &id).await
    })
    .put(
        move |State(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody| async move {
            entities::replace(&ctx, kind, &id, resource::entity(kind, body)?).await
        },
    )
    .patch(
        move |State(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody| async move {
            entities::patch(&ctx, kind, &id, body).await
        },
    )
    .post(
        move |State(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody| async move {
            entities::upsert(&ctx, kind, &id, resource::entity(kind, body)?).await
        },
    )
    .delete(move |State(ctx): Ctx, Path(id): Path<String>| async move {
        entities::delete(&ctx, kind, &id).await
    })
}

/// `_bulk` on a kind's collection (Otoroshi has none for the singleton).
fn bulk_writes(kind: Kind) -> MethodRouter<AdminContext> {
    let on = move |op: BulkOp| {
        move |State(ctx): Ctx, request: Request| async move { bulk::run(&ctx, kind, op, request).await }
    };
    post(on(BulkOp::Create))
        .put(on(BulkOp::Replace))
        .patch(on(BulkOp::Patch))
        .delete(on(BulkOp::Delete))
}

/// An API key's quotas: read, or reset the current windows.
fn key_quotas() -> MethodRouter<AdminContext> {
    get(|State(ctx): Ctx, Path(id): Path<String>| async move { quotas::get(&ctx, &id).await })
        .delete(
            |State(ctx): Ctx, Path(id): Path<String>| async move { quotas::reset(&ctx, &id).await },
        )
}

/// `/api/globalconfig`: the singleton, read and written without an id.
fn singleton(kind: Kind) -> MethodRouter<AdminContext> {
    get(move |State(ctx): Ctx| async move { entities::get(&ctx, kind, GLOBAL_ID).await })
        .put(
            move |State(ctx): Ctx, JsonBody(body): JsonBody| async move {
                entities::replace(&ctx, kind, GLOBAL_ID, resource::entity(kind, body)?).await
            },
        )
        .patch(
            move |State(ctx): Ctx, JsonBody(body): JsonBody| async move {
                entities::patch(&ctx, kind, GLOBAL_ID, body).await
            },
        )
}
