//! Client-credentials tokens for external applications and the guard in
//! front of every API route. Tokens are opaque random strings; only their
//! SHA-256 is stored. Secrets and passwords are argon2 hashes; an unknown
//! client id still costs one argon2 verification (against a dummy hash), so
//! the two failures take the same code path.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Form, Json};
use base64::Engine as _;
use plugboard_store::{NewAuditEvent, OrganizationId, Store};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::CheckedApp;
use crate::request::RoutePath;
use crate::{ApiError, IdentityState};

/// Who is calling: the organization, application and scopes of the access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The organization every query of the request is scoped to.
    pub org: OrganizationId,
    /// The external application.
    pub app: Uuid,
    /// The scopes the token was granted (an application can give another
    /// only scopes it holds itself).
    pub scopes: Vec<String>,
}

/// Argon2 hash (PHC string) of a password or client secret.
pub fn hash_secret(secret: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether `secret` matches the argon2 `hash` (false for a malformed hash).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// [`verify_secret`] on tokio's blocking pool: an argon2 verification takes
/// tens of milliseconds of CPU, which must not stall the async workers.
///
/// # Errors
/// [`ApiError::Internal`] if the verification task could not finish.
pub(crate) async fn verify_secret_off_runtime(
    secret: String,
    hash: String,
) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .map_err(ApiError::Internal)
}

/// [`hash_secret`] on tokio's blocking pool, for the same reason as
/// [`verify_secret_off_runtime`]: argon2 hashing costs tens of
/// milliseconds of CPU.
///
/// # Errors
/// [`ApiError::Internal`] if the hashing task could not finish.
pub async fn hash_secret_off_runtime(secret: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .map_err(ApiError::Internal)
}

/// Verified against when the client id or user is unknown, so that case
/// costs the same as a wrong secret.
pub(crate) static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_secret("dummy"));

/// A new client secret: 32 random bytes, URL-safe base64.
pub(crate) fn new_client_secret() -> String {
    random_token(32)
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Registers an external application of `org`, its name and scopes
/// checked by [`crate::check_app`]; returns its client id and secret (the
/// secret is shown once: only its hash is kept). This is the operator's
/// way in; the caller decides who may use it.
///
/// # Errors
/// The store's, or [`ApiError::Internal`] if hashing the secret failed.
pub async fn register_external_app(
    store: &Store,
    org: OrganizationId,
    app: &CheckedApp,
) -> Result<(String, String), ApiError> {
    let (_, client_id, secret) = register(store, org, app).await?;
    Ok((client_id, secret))
}

/// Registers an application: its id, client id and secret.
pub(crate) async fn register(
    store: &Store,
    org: OrganizationId,
    app: &CheckedApp,
) -> Result<(Uuid, String, String), ApiError> {
    let client_id = Uuid::new_v4().to_string();
    let secret = new_client_secret();
    let hash = hash_secret_off_runtime(secret.clone()).await?;
    let id = store
        .create_external_app(org, app.name(), &client_id, &hash, app.scopes())
        .await?;
    Ok((id, client_id, secret))
}

/// `POST /identity/connect/token` form.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    grant_type: String,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
}

fn oauth_error(status: axum::http::StatusCode, error: &str, description: &str) -> Response {
    use axum::response::IntoResponse;
    (
        status,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Client-credentials grant (RFC 6749 §4.4): the granted scopes are the
/// requested ones (all of the app's when none are requested), an umbrella
/// scope (`PM.User`) meaning its `.Read` and `.Write`
/// ([`crate::expand_scopes`]); asking for a scope that does not exist or
/// that the app lacks is `invalid_scope`. A form that is not one (wrong
/// content type, a field missing) is `invalid_request`.
pub(crate) async fn token(
    State(state): State<IdentityState>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, ApiError> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!(
                    "send an `application/x-www-form-urlencoded` form with `grant_type`, \
                     `client_id` and `client_secret`: {}",
                    e.body_text()
                ),
            ));
        }
    };
    if form.grant_type != "client_credentials" {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        ));
    }
    let app = state.store.find_external_app(&form.client_id).await?;
    let hash = app
        .as_ref()
        .map_or(DUMMY_HASH.as_str(), |a| a.secret_hash.as_str());
    let ok = verify_secret_off_runtime(form.client_secret.clone(), hash.to_owned()).await?;
    let Some(app) = app.filter(|_| ok) else {
        return Ok(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client id or wrong secret",
        ));
    };
    let granted: Vec<String> = match form
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => app.scopes.clone(),
        Some(req) => {
            let req: Vec<&str> = req.split(' ').filter(|s| !s.is_empty()).collect();
            let req = match crate::expand_scopes(&req) {
                Ok(req) => req,
                Err(unknown) => {
                    return Ok(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        &format!("scope `{}` does not exist", unknown.join("`, `")),
                    ));
                }
            };
            if let Some(bad) = req.iter().find(|s| !app.scopes.contains(s)) {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    &format!("scope `{bad}` is not granted to this application"),
                ));
            }
            req
        }
    };
    let access = random_token(32);
    let expires_at = OffsetDateTime::now_utc() + state.token_ttl;
    state
        .store
        .store_access_token(app.org, app.id, &token_hash(&access), &granted, expires_at)
        .await?;
    Ok(Json(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.token_ttl.as_secs(),
        "scope": granted.join(" "),
    }))
    .into_response())
}

/// What the guard of one route needs.
#[derive(Clone)]
pub(crate) struct Guard {
    pub(crate) state: IdentityState,
    pub(crate) scope: String,
    /// The route and the path it was reached at, for [`crate::request::Ctx`].
    pub(crate) route: RoutePath,
}

/// Bearer token → [`Caller`], then the route's scope; writes are audited
/// in the caller's organization (a failed audit write is logged and the
/// handler's answer returned: the change is already made).
pub(crate) async fn authorize(
    State(guard): State<Guard>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let bearer = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or(ApiError::Unauthorized)?;
    let token = guard
        .state
        .store
        .find_access_token(&token_hash(bearer.trim()))
        .await?
        .filter(|t| t.expires_at > OffsetDateTime::now_utc())
        .ok_or(ApiError::Unauthorized)?;
    if !token.scopes.contains(&guard.scope) {
        return Err(ApiError::MissingScope(guard.scope));
    }
    let (org, app) = (token.org, token.app);
    let write = req.method() != axum::http::Method::GET;
    let action = format!("{} {}", req.method(), req.uri().path());
    req.extensions_mut().insert(Caller {
        org,
        app,
        scopes: token.scopes,
    });
    req.extensions_mut().insert(guard.route);
    let resp = next.run(req).await;
    if write {
        let outcome = if resp.status().is_success() {
            "success"
        } else {
            "failure"
        };
        // The change is made (an app registered, a secret rotated: its
        // one-time secret is in `resp`); a failed audit write must not turn
        // it into a 500 and lose that answer. Logged without the body.
        let recorded = guard
            .state
            .store
            .record_audit(
                org,
                NewAuditEvent {
                    tenant: None,
                    actor: format!("app:{app}"),
                    action: action.clone(),
                    target_kind: None,
                    target_id: None,
                    outcome: outcome.to_owned(),
                    details: serde_json::json!({ "status": resp.status().as_u16() }),
                },
            )
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, %org, %app, %action, status = resp.status().as_u16(),
                "could not record the audit event of an identity API write");
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dummy hash must cost what a real one costs: same algorithm,
    /// version and parameters.
    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_hashes() {
        let real = hash_secret("Secret#123");
        let (real, dummy) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(&DUMMY_HASH).unwrap(),
        );
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert!(!verify_secret("Secret#123", &DUMMY_HASH));
    }
}
