//! The admin API for admin users, at Otoroshi's paths: `GET/POST
//! /api/admins/simple`, `GET/PUT/DELETE /api/admins/simple/{username}`.
//! Passwords go in clear over the (authenticated) API and are stored as
//! bcrypt hashes; no answer ever carries a hash. Served behind the admin
//! key check like every admin endpoint, so the UI reaches it through its
//! bridge too.

use admin::error::AdminResult;
use admin::{AdminContext, AdminError, JsonBody};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use model::{FieldError, ValidationErrors};
use serde_json::{Value, json};
use store::{Condition, Op, StoreError};

use crate::users::{self, AdminUser, KIND};

const BASE: &str = "/api/admins/simple";
/// Shorter passwords are refused: they fall to guessing despite bcrypt.
pub const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 72;

/// The router, with its state; merge it behind the admin key check.
pub fn router(ctx: AdminContext) -> Router {
    Router::new()
        .route(BASE, get(list).post(create))
        .route(&format!("{BASE}/_template"), get(template))
        .route(
            &format!("{BASE}/{{username}}"),
            get(read).put(replace).delete(remove),
        )
        .with_state(ctx)
}

/// A user as the API shows it: everything but the hash.
fn public(user: &AdminUser) -> Value {
    json!({
        "username": user.username, "label": user.label, "createdAt": user.created_at,
        "type": user.kind, "metadata": user.metadata, "readOnly": user.read_only,
    })
}

async fn all(ctx: &AdminContext) -> AdminResult<Vec<AdminUser>> {
    Ok(users::all(ctx.store.as_ref()).await?)
}

async fn load(ctx: &AdminContext, username: &str) -> AdminResult<AdminUser> {
    users::find(ctx.store.as_ref(), username)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("admin user '{username}'")))
}

async fn list(State(ctx): State<AdminContext>) -> AdminResult<Json<Value>> {
    Ok(Json(Value::Array(
        all(&ctx).await?.iter().map(public).collect(),
    )))
}

async fn template() -> Json<Value> {
    Json(json!({"username": "", "password": "", "label": "", "readOnly": false}))
}

async fn read(
    State(ctx): State<AdminContext>,
    Path(username): Path<String>,
) -> AdminResult<Json<Value>> {
    Ok(Json(public(&load(&ctx, &username).await?)))
}

/// What a create or replace body says, checked field by field.
struct Submitted {
    username: String,
    password: Option<String>,
    label: String,
    read_only: bool,
}

fn parse(body: &Value, password_required: bool) -> Result<Submitted, ValidationErrors> {
    let mut errors = Vec::new();
    let mut bad = |path: &str, message: &str| {
        errors.push(FieldError {
            path: path.to_string(),
            message: message.to_string(),
        })
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    let username = text("username").trim().to_string();
    if username.is_empty() || username.len() > 128 {
        bad("username", "must be 1 to 128 characters");
    } else if username
        .chars()
        .any(|c| c.is_control() || c == '/' || c.is_whitespace())
    {
        bad(
            "username",
            "may not hold spaces, slashes or control characters",
        );
    }
    let password = Some(text("password").to_string()).filter(|p| !p.is_empty());
    match &password {
        None if password_required => bad("password", "is required"),
        Some(p) if p.chars().count() < MIN_PASSWORD => {
            bad("password", "must be at least 8 characters")
        }
        // bcrypt reads only the first 72 bytes.
        Some(p) if p.len() > MAX_PASSWORD => bad("password", "must be at most 72 bytes"),
        _ => {}
    }
    if body.get("readOnly").is_some_and(|v| !v.is_boolean()) {
        bad("readOnly", "must be true or false");
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(Submitted {
        username,
        password,
        label: text("label").to_string(),
        read_only: body
            .get("readOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

async fn create(
    State(ctx): State<AdminContext>,
    JsonBody(body): JsonBody,
) -> AdminResult<(axum::http::StatusCode, Json<Value>)> {
    let submitted = parse(&body, true)?;
    let hash = users::hash(submitted.password.unwrap_or_default()).await?;
    let user = AdminUser::new(
        &submitted.username,
        hash,
        &submitted.label,
        submitted.read_only,
    );
    users::save(ctx.store.as_ref(), &user, Condition::MustNotExist)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists { .. } => {
                AdminError::Conflict(format!("admin user '{}' already exists", user.username))
            }
            other => other.into(),
        })?;
    tracing::info!(user = %user.username, "admin user created");
    Ok((axum::http::StatusCode::CREATED, Json(public(&user))))
}

/// Label, read-only flag and, when given, a new password (which ends the
/// user's sessions: they carry a fingerprint of the old hash).
async fn replace(
    State(ctx): State<AdminContext>,
    Path(username): Path<String>,
    JsonBody(mut body): JsonBody,
) -> AdminResult<Json<Value>> {
    let mut user = load(&ctx, &username).await?;
    if body.get("username").is_none_or(|v| v.as_str() == Some("")) {
        body["username"] = json!(username);
    }
    let submitted = parse(&body, false)?;
    if submitted.username != username {
        return Err(
            ValidationErrors::single("username", "cannot be changed; create another user").into(),
        );
    }
    let demoted = submitted.read_only && !user.read_only;
    if let Some(password) = submitted.password {
        user.password = users::hash(password).await?;
        tracing::info!(user = %username, "admin user password changed");
    }
    user.label = submitted.label;
    user.read_only = submitted.read_only;
    for _ in 0..GUARD_ATTEMPTS {
        let guard = if demoted {
            Some(keep_a_writer(&ctx, &username).await?)
        } else {
            None
        };
        match users::save_guarded(ctx.store.as_ref(), &user, Condition::MustExist, guard).await {
            Err(StoreError::Conflict { .. }) => continue,
            saved => {
                saved?;
                return Ok(Json(public(&user)));
            }
        }
    }
    Err(still_changing(&username))
}

async fn remove(
    State(ctx): State<AdminContext>,
    Path(username): Path<String>,
) -> AdminResult<Json<Value>> {
    for _ in 0..GUARD_ATTEMPTS {
        let user = load(&ctx, &username).await?;
        let mut ops = vec![Op::Delete {
            kind: KIND.to_string(),
            id: username.clone(),
            condition: Condition::MustExist,
        }];
        if !user.read_only {
            ops.push(keep_a_writer(&ctx, &username).await?);
        }
        match ctx.store.write(ops).await {
            Err(StoreError::Conflict { .. }) => continue,
            written => {
                written?;
                tracing::info!(user = %username, "admin user deleted");
                return Ok(Json(json!({"deleted": true})));
            }
        }
    }
    Err(still_changing(&username))
}

/// How many times a guarded write re-reads and retries after a conflict.
const GUARD_ATTEMPTS: usize = 5;

fn still_changing(username: &str) -> AdminError {
    AdminError::Conflict(format!(
        "admin user '{username}': the admin users kept changing while this write was checked; retry"
    ))
}

/// Refuses to leave the deployment without an admin user who may write;
/// otherwise the guard the write must carry (the other writer counted on,
/// checked inside the store's atomic write).
async fn keep_a_writer(ctx: &AdminContext, leaving: &str) -> AdminResult<Op> {
    users::other_writer(ctx.store.as_ref(), leaving)
        .await?
        .ok_or_else(|| {
            AdminError::Conflict(format!(
                "'{leaving}' is the last admin user who may write; create another first"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(body: Value, required: bool) -> Vec<String> {
        match parse(&body, required) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.into_iter().map(|f| f.path).collect(),
        }
    }

    #[test]
    fn bad_users_are_refused_by_field() {
        assert_eq!(
            paths(json!({"username": "", "password": "x"}), true),
            ["username", "password"]
        );
        assert_eq!(
            paths(json!({"username": "a b", "password": "longenough"}), true),
            ["username"]
        );
        assert_eq!(
            paths(json!({"username": "ops", "readOnly": "yes"}), false),
            ["readOnly"]
        );
        assert_eq!(paths(json!({"username": "ops"}), true), ["password"]);
        assert!(paths(json!({"username": "ops"}), false).is_empty());
        assert!(
            paths(
                json!({"username": "ops@example.com", "password": "longenough"}),
                true
            )
            .is_empty()
        );
    }
}
