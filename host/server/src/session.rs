//! Console sign-in: local users sign in with organization, user name and
//! password and get a session cookie; the API accepts that cookie as well
//! as a bearer token (see [`crate::identity::Caller`]).
//!
//! The session id is 32 random bytes in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` when the public URL is https); the store keeps only its
//! SHA-256 with a fixed expiry. Passwords are argon2 hashes in the store
//! (`plugboard_identity::{hash_secret, verify_secret}`). A wrong password,
//! an unknown user and an unknown organization take the same code path (a
//! dummy hash is verified) and get the same 401; failures are recorded as
//! login attempts and throttled. This module never logs a password or a
//! session id, and never puts one in a response body.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

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

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "plugboard_session";
/// How long a session lasts after sign-in (absolute, not sliding).
pub const SESSION_TTL: time::Duration = time::Duration::hours(12);
/// Header a cookie-authenticated client may send on unsafe requests
/// instead of a same-origin `Origin`; a cross-site form cannot set it.
pub const CSRF_HEADER: &str = "x-plugboard-csrf";
/// Organization signed in to when the request names none (first start creates it).
pub const DEFAULT_ORGANIZATION: &str = "default";
/// Failed sign-ins a user name may have in [`THROTTLE_WINDOW`] before
/// sign-in answers 429 without checking the password.
pub const MAX_FAILED_ATTEMPTS: i64 = 5;
/// The throttling window.
pub const THROTTLE_WINDOW: time::Duration = time::Duration::minutes(15);
/// Shortest password `set-password` accepts (the identity API's rule too).
const MIN_PASSWORD_CHARS: usize = 8;

/// Verified when the user is unknown, so that case costs a wrong password's time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| plugboard_identity::hash_secret("not a password of anyone"));

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
    let username = req.username.trim();
    let store = &state.store;
    let org = store
        .find_organization(org_name)
        .await
        .map_err(ApiError::internal)?;
    let user = match &org {
        Some(o) => store
            .find_user(o.id, username)
            .await
            .map_err(ApiError::internal)?,
        None => None,
    };
    let hash = match &user {
        Some(u) => store
            .user_password_hash(u.org, u.id)
            .await
            .map_err(ApiError::internal)?,
        None => None,
    };
    let client = format!(
        "console sign-in from {}",
        RequestMeta::from_parts(&parts)
            .source
            .as_deref()
            .unwrap_or("unknown address")
    );
    let now = OffsetDateTime::now_utc();
    let throttled = match &user {
        Some(u) => {
            store
                .failed_login_attempts_since(u.org, u.id, now - THROTTLE_WINDOW)
                .await
                .map_err(ApiError::internal)?
                >= MAX_FAILED_ATTEMPTS
        }
        None => unknown.is_throttled(org_name, username, now),
    };
    if throttled {
        record_failure(&state, user.as_ref(), &unknown, org_name, username, &client).await?;
        return Err(too_many_attempts());
    }

    let password = req.password;
    let stored = hash;
    let matches = tokio::task::spawn_blocking(move || {
        let ok =
            plugboard_identity::verify_secret(&password, stored.as_deref().unwrap_or(&DUMMY_HASH));
        ok && stored.is_some()
    })
    .await
    .map_err(ApiError::internal)?;
    let user = match user {
        Some(u) if matches => u,
        other => {
            record_failure(
                &state,
                other.as_ref(),
                &unknown,
                org_name,
                username,
                &client,
            )
            .await?;
            return Err(invalid_credentials());
        }
    };
    store
        .record_login_attempt(user.org, user.id, true, &client)
        .await
        .map_err(ApiError::internal)?;

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
    /// At least 8 characters.
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
    if req.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            "weak_password",
            format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters; choose a longer one"
            ),
        ));
    }
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || plugboard_identity::hash_secret(&password))
        .await
        .map_err(ApiError::internal)?;
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

/// A failed attempt is recorded in the store for a known user, and in
/// memory for a name that matches no user (the store keeps attempts per
/// user), so both are throttled alike.
async fn record_failure(
    state: &AppState,
    user: Option<&plugboard_store::User>,
    unknown: &UnknownNameThrottle,
    org_name: &str,
    username: &str,
    client: &str,
) -> ApiResult<()> {
    match user {
        Some(u) => state
            .store
            .record_login_attempt(u.org, u.id, false, client)
            .await
            .map_err(ApiError::internal),
        None => {
            unknown.record(org_name, username, OffsetDateTime::now_utc());
            Ok(())
        }
    }
}

/// Failed sign-ins of names that match no user, per process. Bounded: at
/// most [`UnknownNameThrottle::MAX_NAMES`] names are tracked, and names
/// whose failures all left the window are dropped first.
#[derive(Default)]
pub struct UnknownNameThrottle {
    failures: Mutex<HashMap<(String, String), Vec<OffsetDateTime>>>,
}

impl UnknownNameThrottle {
    const MAX_NAMES: usize = 10_000;

    fn is_throttled(&self, org: &str, user: &str, now: OffsetDateTime) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(org.to_string(), user.to_string()))
            .is_some_and(|times| {
                times
                    .iter()
                    .filter(|t| **t >= now - THROTTLE_WINDOW)
                    .count() as i64
                    >= MAX_FAILED_ATTEMPTS
            })
    }

    fn record(&self, org: &str, user: &str, now: OffsetDateTime) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX_NAMES {
            map.retain(|_, times| times.iter().any(|t| *t >= now - THROTTLE_WINDOW));
            if map.len() >= Self::MAX_NAMES {
                map.clear();
            }
        }
        let times = map.entry((org.to_string(), user.to_string())).or_default();
        times.retain(|t| *t >= now - THROTTLE_WINDOW);
        times.push(now);
    }
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

    #[test]
    fn unknown_names_are_throttled_after_the_same_number_of_failures() {
        let t = UnknownNameThrottle::default();
        let now = OffsetDateTime::now_utc();
        for _ in 0..MAX_FAILED_ATTEMPTS {
            assert!(!t.is_throttled("default", "ghost", now));
            t.record("default", "ghost", now);
        }
        assert!(t.is_throttled("default", "ghost", now));
        assert!(!t.is_throttled("default", "other", now));
        assert!(!t.is_throttled(
            "default",
            "ghost",
            now + THROTTLE_WINDOW + time::Duration::SECOND
        ));
    }
}
