//! What every handler starts from, extracted once: [`Ctx`] (the store, the
//! caller's organization, the path parameters under their seed names and
//! the query string) and [`Body`] (a JSON body whose rejection is an
//! [`ApiError`]), plus the few response shapes handlers return.
//!
//! [`Ctx`] checks a `{partitionGlobalId}` or `{organizationId}` path
//! parameter against the caller's organization itself (404 otherwise), so
//! no handler can forget it. It must never take the organization from
//! anything but the access token.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use plugboard_store::{OrganizationId, Store, User, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{ApiError, Caller, IdentityState};

/// Result of a handler.
pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

/// The seed path of the matched route (`/identity/api/Group/{partitionGlobalId}`),
/// put in the request by the guard so [`Ctx`] can name the parameters axum
/// matched by position.
#[derive(Clone, Copy)]
pub(crate) struct RoutePath(pub(crate) &'static str);

/// Path parameters whose value must be the caller's organization.
const PARTITION_PARAMS: &[&str] = &["partitionGlobalId", "organizationId"];

/// The request as a handler sees it.
pub(crate) struct Ctx {
    /// The store; pass [`Ctx::org`] to every call.
    pub(crate) store: Store,
    /// The caller's organization (from the access token, never the request).
    pub(crate) org: OrganizationId,
    /// The caller.
    pub(crate) caller: Caller,
    /// The route's id parameter (any parameter that is not a partition),
    /// with an OData key's `Users(`…`)` wrapping and quotes removed; empty
    /// when the segment does not have the route's shape.
    id: Option<String>,
    query: Vec<(String, String)>,
}

impl FromRequestParts<IdentityState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &IdentityState,
    ) -> Result<Self, Self::Rejection> {
        // Both are put there by the guard; without them, fail closed.
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)?;
        let RoutePath(template) = *parts
            .extensions
            .get::<RoutePath>()
            .ok_or(ApiError::Unauthorized)?;
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("resource"))?;
        let values: Vec<(String, String)> = raw
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut id = None;
        for (i, segment) in template.split('/').filter(|s| s.contains('{')).enumerate() {
            let (name, value) = named_param(segment, &values, i);
            if PARTITION_PARAMS.contains(&name) {
                check_partition(&caller, &value)?;
            } else {
                id = Some(value);
            }
        }
        let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Ok(Self {
            store: state.store.clone(),
            org: caller.org,
            caller,
            id,
            query,
        })
    }
}

/// The `i`-th parameter segment of the seed path (`{groupId}`, or
/// `Users({key})`) → its name and the value axum matched as `p{i}`. Axum
/// matches the text before the brace itself (see `axum_path`); the text
/// after it (`)`) is removed here, with an OData key's quotes. A value
/// without that text becomes empty, which no id parses from.
fn named_param<'t>(segment: &'t str, values: &[(String, String)], i: usize) -> (&'t str, String) {
    let open = segment.find('{').unwrap_or(0);
    let close = segment.rfind('}').unwrap_or(segment.len());
    let (name, suffix) = (&segment[open + 1..close], &segment[close + 1..]);
    let key = format!("p{i}");
    let raw = values
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, v)| v.as_str());
    let value = if open == 0 && suffix.is_empty() {
        raw.to_owned()
    } else {
        raw.strip_suffix(suffix)
            .map_or_else(String::new, |v| v.trim_matches('\'').to_owned())
    };
    (name, value)
}

/// A partition id must be the caller's organization; anything else is 404.
fn check_partition(c: &Caller, id: &str) -> Result<(), ApiError> {
    match Uuid::parse_str(id) {
        Ok(u) if u == c.org.as_uuid() => Ok(()),
        _ => Err(ApiError::NotFound("partition")),
    }
}

impl Ctx {
    /// A `partitionGlobalId` from the body: must be the caller's organization.
    pub(crate) fn partition(&self, id: &str) -> Result<(), ApiError> {
        check_partition(&self.caller, id)
    }

    /// The route's id parameter as a UUID; an unparseable id is as unknown
    /// as a missing one (404 naming `what`).
    pub(crate) fn id(&self, what: &'static str) -> Result<Uuid, ApiError> {
        uuid(self.id.as_deref().unwrap_or_default(), what)
    }

    /// The route's id parameter as a user id.
    pub(crate) fn user_id(&self) -> Result<UserId, ApiError> {
        self.id("user").map(UserId)
    }

    /// The user with this id in the caller's organization, or 404.
    pub(crate) async fn user(&self, id: UserId) -> ApiResult<User> {
        found(self.store.get_user(self.org, id).await?, "user")
    }

    /// The decoded query string.
    pub(crate) fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The first value of query parameter `key`.
    pub(crate) fn query_first(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A JSON request body; a body that is not JSON or lacks a field is a 400
/// saying what serde found, in the API's error shape.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(t)| Self(t))
            .map_err(|e| ApiError::BadRequest(format!("invalid request body: {}", e.body_text())))
    }
}

/// An id from a body or path: an unparseable one is as unknown as a missing one.
pub(crate) fn uuid(id: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(what))
}

/// `Some` → the value, `None` → 404 naming `what`.
pub(crate) fn found<T>(row: Option<T>, what: &'static str) -> Result<T, ApiError> {
    row.ok_or(ApiError::NotFound(what))
}

/// A store write that reports whether the row was there: `false` → 404.
pub(crate) fn changed(done: bool, what: &'static str) -> Result<(), ApiError> {
    done.then_some(()).ok_or(ApiError::NotFound(what))
}

/// 200 with a JSON body.
pub(crate) fn ok(body: impl Serialize) -> ApiResult {
    Ok(Json(body).into_response())
}

/// 200 with no body (seed 004's actions answer just that).
pub(crate) fn done() -> ApiResult {
    Ok(StatusCode::OK.into_response())
}

/// 201 with a JSON body.
pub(crate) fn created(body: impl Serialize) -> ApiResult {
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// 204.
pub(crate) fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[&str]) -> Vec<(String, String)> {
        v.iter()
            .enumerate()
            .map(|(i, v)| (format!("p{i}"), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_get_their_seed_names_back() {
        let v = values(&["org", "g1"]);
        assert_eq!(
            named_param("{partitionGlobalId}", &v, 0),
            ("partitionGlobalId", "org".into())
        );
        assert_eq!(named_param("{groupId}", &v, 1), ("groupId", "g1".into()));
    }

    #[test]
    fn an_odata_key_loses_its_wrapping_and_quotes() {
        let id = "0190c2a4-0000-7000-8000-000000000001";
        // Axum matched `Users(` already; the value keeps the `)`.
        let v = values(&[&format!("'{id}')")]);
        assert_eq!(named_param("Users({key})", &v, 0), ("key", id.into()));
        let v = values(&[id]);
        assert_eq!(named_param("Users({key})", &v, 0), ("key", String::new()));
    }
}
