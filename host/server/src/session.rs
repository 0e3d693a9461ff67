//! Console sign-in: local users sign in with organization, user name and
//! password and get a session cookie; the API accepts that cookie as well
//! as a bearer token (see [`crate::identity::Caller`]).
//!
//! The session id is 32 random bytes in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` when the public URL is https); the store keeps only its
//! SHA-256 with a fixed expiry. Passwords are argon2 hashes in the store
//! (`plugboard_identity::hash_secret_off_runtime`). The password check itself is
//! [`plugboard_identity::sign_in`]: a wrong password, an unknown user and an
//! unknown organization take the same code path there and get the same 401
//! here; failures are recorded as login attempts and throttled (429 with
//! `Retry-After`), unknown names too. This module never logs a password or a
//! session id, and never puts one in a response body.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::{Extension, Json};
use cookie::{Cookie, SameSite};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::identity::{Caller, RequestMeta, token_hash};
use crate::model::{Principal, TenantId, UserId};

// The sign-in and password rules live in the identity crate (one check
// for the console and the identity API).
use plugboard_identity::{MIN_PASSWORD_CHARS, THROTTLE_WINDOW, UnknownNameThrottle};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "plugboard_session";
/// How long a session lasts after sign-in (absolute, not sliding).
pub const SESSION_TTL: time::Duration = time::Duration::hours(12);
/// Header a cookie-authenticated client may send on unsafe requests
/// instead of a same-origin `Origin`; a cross-site form cannot set it.
pub const CSRF_HEADER: &str = "x-plugboard-csrf";
/// Organization signed in to when the request names none (first start creates it).
pub const DEFAULT_ORGANIZATION: &str = "default";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in, sign_out))
        .routes(routes!(set_password))
        .layer(Extension(Arc::new(UnknownNameThrottle::default())))
}

/// The body of `POST /api/v1/session`. Not `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// Organization name; `default` (the one first start creates) when omitted.
    pub organization: Option<String>,
    pub username: String,
    pub password: String,
}

/// Who signed in. The session id travels only in the `Set-Cookie` header.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignedIn {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub name: String,
    pub is_admin: bool,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Sign in with a local user's password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "folders",
    request_body = SignIn,
    responses(
        (status = 200, body = SignedIn, description = "Signed in; the session is in the `plugboard_session` cookie"),
        (status = 401, body = ErrorBody, description = "Wrong organization, user name or password"),
        (status = 403, body = ErrorBody, description = "Cross-site request, or the user works in no tenant"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts")))]
async fn sign_in(
    State(state): State<AppState>,
    Extension(unknown): Extension<Arc<UnknownNameThrottle>>,
    parts: Parts,
    body: Result<Json<SignIn>, JsonRejection>,
) -> ApiResult<Response> {
    same_origin(&parts)?;
    let Json(req) = body?;
    let org_name = req
        .organization
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .unwrap_or(DEFAULT_ORGANIZATION);
    let client = format!(
        "console sign-in from {}",
        RequestMeta::from_parts(&parts)
            .source
            .as_deref()
            .unwrap_or("unknown address")
    );
    let store = &state.store;
    let user = plugboard_identity::sign_in(
        store,
        &unknown,
        org_name,
        req.username.trim(),
        &req.password,
        &client,
    )
    .await
    .map_err(sign_in_error)?
    .ok_or_else(invalid_credentials)?;

    let now = OffsetDateTime::now_utc();
    let id = new_session_id();
    let expires_at = now + SESSION_TTL;
    match store
        .create_session(user.id, &token_hash(&id), expires_at)
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {
            return Err(ApiError::forbidden(
                "no_tenant",
                format!(
                    "user `{}` does not work in any tenant yet; ask an administrator to add them to one",
                    user.user_name
                ),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    if let Err(e) = store.delete_expired_sessions(now).await {
        tracing::warn!(error = %e, "could not forget expired sessions");
    }
    let (scope, _, is_admin) = store
        .tenant_user(user.id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("session user lost their tenant"))?;
    tracing::info!(user = %user.id, tenant = %scope.tenant.0, "console sign-in");
    let body = SignedIn {
        user_id: UserId(user.id.0),
        tenant_id: TenantId(scope.tenant.0),
        name: user.user_name,
        is_admin,
        expires_at,
    };
    let cookie = session_cookie(&state, id, SESSION_TTL);
    Ok((
        AppendHeaders([(http::header::SET_COOKIE, cookie)]),
        Json(body),
    )
        .into_response())
}

/// Sign out: ends the session of the cookie (if any) and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "folders",
    responses((status = 204, description = "Signed out; the cookie is cleared"),
        (status = 403, body = ErrorBody, description = "Cross-site request")))]
async fn sign_out(State(state): State<AppState>, parts: Parts) -> ApiResult<Response> {
    same_origin(&parts)?;
    if let Some(id) = cookie_session_id(&parts.headers) {
        state
            .store
            .delete_session(&token_hash(&id))
            .await
            .map_err(ApiError::internal)?;
    }
    let cookie = session_cookie(&state, String::new(), time::Duration::ZERO);
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(http::header::SET_COOKIE, cookie)]),
    )
        .into_response())
}

/// The body of `PUT /api/v1/users/{name}/password`. Not `Debug`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// At least 8 characters (`plugboard_identity::MIN_PASSWORD_CHARS`).
    pub password: String,
}

/// Set a user's console password (tenant administrators). Ends the user's
/// sessions.
#[utoipa::path(put, path = "/api/v1/users/{name}/password", tag = "folders",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "User name in the caller's tenant")),
    request_body = SetPassword,
    responses((status = 204, description = "Password set"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<SetPassword>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(req) = body?;
    if !caller.is_admin {
        return Err(ApiError::forbidden(
            "admin_required",
            "only a tenant administrator may set passwords",
        ));
    }
    let not_found = || {
        ApiError::not_found(
            "user_not_found",
            format!("no user `{name}` in your tenant; check the user name"),
        )
    };
    let org = plugboard_store::OrganizationId(caller.org_id.0);
    let user = state
        .store
        .find_user(org, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    let in_tenant = state
        .store
        .tenant_user(user.id)
        .await
        .map_err(ApiError::internal)?
        .is_some_and(|(scope, _, _)| scope.tenant.0 == caller.tenant_id.0);
    if !in_tenant {
        return Err(not_found());
    }
    if !plugboard_identity::password_long_enough(&req.password) {
        return Err(ApiError::bad_request(
            "weak_password",
            format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters; choose a longer one"
            ),
        ));
    }
    let hash = plugboard_identity::hash_secret_off_runtime(req.password)
        .await
        .map_err(identity_internal)?;
    state
        .store
        .set_user_password_hash(org, user.id, &hash)
        .await
        .map_err(ApiError::internal)?;
    state
        .store
        .delete_user_sessions(user.id)
        .await
        .map_err(ApiError::internal)?;
    crate::audit(&state, &caller, "user.set_password", &user.id.to_string()).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The principal of a request that carries a session cookie and no bearer
/// token. Unsafe methods must come from the same origin (see [`same_origin`]).
pub(crate) async fn principal_from_cookie(
    parts: &Parts,
    state: &AppState,
    id: &str,
) -> ApiResult<Principal> {
    if !matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        same_origin(parts)?;
    }
    let owner = state
        .store
        .session_owner(&token_hash(id), OffsetDateTime::now_utc())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::unauthorized("your console session has expired or was ended; sign in again")
        })?;
    Ok(crate::repo::store::principal_of(owner))
}

/// The session id in the request's cookie, if any.
pub(crate) fn cookie_session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

/// Refuses a request a browser sent from another site. A browser says where
/// a request comes from (`Sec-Fetch-Site`, `Origin`); a client that is not
/// a browser sends neither, and then must send [`CSRF_HEADER`], which a
/// cross-site page cannot set without a CORS preflight this server never
/// grants.
pub(crate) fn same_origin(parts: &Parts) -> ApiResult<()> {
    let h = &parts.headers;
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let allowed = if let Some(site) = header("sec-fetch-site") {
        matches!(site, "same-origin" | "none")
    } else if let Some(origin) = header("origin") {
        let host = header("host").unwrap_or_default();
        url::Url::parse(origin).is_ok_and(|o| {
            let port = o.port().map(|p| format!(":{p}")).unwrap_or_default();
            o.host_str()
                .is_some_and(|oh| format!("{oh}{port}").eq_ignore_ascii_case(host))
        })
    } else {
        h.contains_key(CSRF_HEADER)
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "cross_origin_refused",
            format!(
                "this request came from another site and was refused; use the console itself, or send the `{CSRF_HEADER}` header (API clients should use a bearer token)"
            ),
        ))
    }
}

fn session_cookie(state: &AppState, value: String, max_age: time::Duration) -> String {
    Cookie::build((COOKIE_NAME, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.public_url.scheme() == "https")
        .max_age(max_age)
        .build()
        .to_string()
}

/// A fresh session id: `pbs_` + 64 hex characters.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("pbs_{}", hex::encode(bytes))
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized(
        "the organization, user name or password is wrong; check them (an administrator can set a password with `plugboard users set-password`)",
    )
}

/// The identity check's refusal as this API's error: throttled is 429 with
/// `Retry-After`, a user of no tenant 403 `no_tenant`; anything else is
/// ours (logged with its cause).
fn sign_in_error(e: plugboard_identity::ApiError) -> ApiError {
    match e {
        plugboard_identity::ApiError::Throttled => too_many_attempts(),
        e @ plugboard_identity::ApiError::NoTenant(_) => {
            ApiError::forbidden("no_tenant", e.to_string())
        }
        other => identity_internal(other),
    }
}

/// An identity-crate failure as our 500, logged with its cause (the
/// identity error's own text is only "internal error").
pub(crate) fn identity_internal(e: plugboard_identity::ApiError) -> ApiError {
    match std::error::Error::source(&e) {
        Some(cause) => ApiError::internal(cause),
        None => ApiError::internal(e),
    }
}

fn too_many_attempts() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!(
            "too many failed sign-ins for this user; wait {} minutes and try again, or ask an administrator to set a new password",
            THROTTLE_WINDOW.whole_minutes()
        ),
    );
    e.retry_after = u32::try_from(THROTTLE_WINDOW.whole_seconds()).ok();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = http::Request::builder()
            .method(Method::POST)
            .uri("/api/v1/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn same_origin_requests_pass_and_cross_site_ones_are_refused() {
        let ok = [
            vec![("sec-fetch-site", "same-origin")],
            vec![
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
            ],
            vec![
                ("origin", "https://plugboard.example"),
                ("host", "plugboard.example"),
            ],
            vec![(CSRF_HEADER, "1")],
        ];
        for h in ok {
            assert!(same_origin(&parts(&h)).is_ok(), "{h:?}");
        }
        let refused = [
            vec![("sec-fetch-site", "cross-site"), (CSRF_HEADER, "1")],
            vec![("sec-fetch-site", "same-site")],
            vec![
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8080"),
            ],
            vec![
                ("origin", "http://127.0.0.1:9999"),
                ("host", "127.0.0.1:8080"),
            ],
            vec![("origin", "null"), ("host", "127.0.0.1:8080")],
            vec![],
        ];
        for h in refused {
            let e = same_origin(&parts(&h)).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::FORBIDDEN, "cross_origin_refused"),
                "{h:?}"
            );
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "theme=dark; plugboard_session=pbs_abc; other=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie_session_id(&h).as_deref(), Some("pbs_abc"));
        h.insert(http::header::COOKIE, "plugboard_session=".parse().unwrap());
        assert_eq!(cookie_session_id(&h), None);
    }
}
