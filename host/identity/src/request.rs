//! What every handler starts from, extracted once: [`Ctx`] (the store, the
//! caller's organization, the path parameters under their seed names and
//! the query string) and [`Body`] (a JSON body whose rejection is an
//! [`ApiError`]), plus the few response shapes handlers return.
//!
//! [`Ctx`] checks the path parameters that name a partition itself, so no
//! handler can forget it: `{partitionGlobalId}` and `{organizationId}`
//! must be the caller's organization or one of its tenants, and seed 004's
//! `{organizationName}` / `{tenantName}` the caller's organization and one
//! of its tenants; anything else is 404. It must never take the
//! organization from anything but the access token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plugboard_store::{IdentityKind, OrganizationId, Store, TenantId, User, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{ApiError, Caller, IdentityState, ORCHESTRATOR_BASE, Route};

/// Result of a handler.
pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

/// The matched route and whether it was reached under
/// [`ORCHESTRATOR_BASE`], put in the request by the guard so [`Ctx`] can
/// name the parameters axum matched by position.
#[derive(Clone, Copy)]
pub(crate) struct RoutePath {
    pub(crate) route: &'static Route,
    pub(crate) under_orchestrator_base: bool,
}

impl RoutePath {
    /// The path segments that hold a parameter, in order, as the seeds
    /// write them (`{partitionGlobalId}`, `Users({key})`).
    fn parameter_segments(&self) -> impl Iterator<Item = &'static str> {
        let base = if self.under_orchestrator_base {
            ORCHESTRATOR_BASE
        } else {
            ""
        };
        base.split('/')
            .chain(self.route.path.split('/'))
            .filter(|s| s.contains('{'))
    }
}

/// Path parameters whose value must be the caller's organization or one
/// of its tenants.
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
        let route = *parts
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
        let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        let mut ctx = Self {
            store: state.store.clone(),
            org: caller.org,
            caller,
            id: None,
            query,
        };
        for (i, segment) in route.parameter_segments().enumerate() {
            let (name, value) = named_param(segment, &values, i);
            match name {
                n if PARTITION_PARAMS.contains(&n) => ctx.partition(&value).await?,
                "organizationName" => ctx.organization_name(&value).await?,
                "tenantName" => ctx.tenant_name(&value).await?,
                _ => ctx.id = Some(value),
            }
        }
        Ok(ctx)
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

impl Ctx {
    /// A `partitionGlobalId` (path, query or body): the caller's
    /// organization, or one of its tenants (seed 003: "organisation ou
    /// locataire"); anything else is 404. Identity rows belong to the
    /// organization, so a tenant id names the same rows as its
    /// organization's id.
    pub(crate) async fn partition(&self, id: &str) -> Result<(), ApiError> {
        let Ok(id) = Uuid::parse_str(id) else {
            return Err(ApiError::NotFound("partition"));
        };
        if id == self.org.as_uuid() {
            return Ok(());
        }
        match self.store.tenant_scope(TenantId::from(id)).await? {
            Some(scope) if scope.org == self.org => Ok(()),
            _ => Err(ApiError::NotFound("partition")),
        }
    }

    /// Seed 004's `{organizationName}`: the caller's organization's name.
    async fn organization_name(&self, name: &str) -> Result<(), ApiError> {
        match self.store.get_organization(self.org).await? {
            Some(o) if o.name == name => Ok(()),
            _ => Err(ApiError::NotFound("organization")),
        }
    }

    /// Seed 004's `{tenantName}`: the name of a tenant of the caller's
    /// organization.
    async fn tenant_name(&self, name: &str) -> Result<(), ApiError> {
        let tenants = self.store.list_tenants(self.org).await?;
        if tenants.iter().any(|t| t.name == name) {
            Ok(())
        } else {
            Err(ApiError::NotFound("tenant"))
        }
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

    /// Seed 004's key (`Users(446)`, `Users('<uuid>')`): an integer `Id`
    /// or a `Key`, of one of `kinds`; anything else is 404 naming `what`.
    pub(crate) async fn key(
        &self,
        kinds: &[IdentityKind],
        what: &'static str,
    ) -> Result<(IdentityKind, Uuid), ApiError> {
        resolve_key(
            &self.store,
            self.org,
            self.id.as_deref().unwrap_or_default(),
            kinds,
            what,
        )
        .await
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

/// An integer `Id` or a `Key` (UUID) of `org` → what it names and its
/// UUID, if it is one of `kinds`; anything else (another organization's,
/// another kind, nothing) is 404 naming `what`.
pub(crate) async fn resolve_key(
    store: &Store,
    org: OrganizationId,
    key: &str,
    kinds: &[IdentityKind],
    what: &'static str,
) -> Result<(IdentityKind, Uuid), ApiError> {
    let found = match key.parse::<i64>() {
        Ok(number) => store.find_identity_number(org, number).await?,
        Err(_) => {
            let id = uuid(key, what)?;
            store
                .find_identity(org, id)
                .await?
                .map(|(kind, _)| (kind, id))
        }
    };
    found
        .filter(|(kind, _)| kinds.contains(kind))
        .ok_or(ApiError::NotFound(what))
}

/// A JSON request body; a body that is missing, not JSON, or lacks a
/// field is a 400 saying which, in the API's error shape.
pub(crate) struct Body<T>(pub(crate) T);

/// Whether the request says its body is JSON (`application/json`, or a
/// `+json` type).
fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// The body's bytes, `None` when there are none.
async fn body_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<Option<(bool, Bytes)>, ApiError> {
    let json = json_content_type(req.headers());
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadRequest(format!(
                "could not read the request body: {}",
                e.body_text()
            ))
        }
    })?;
    Ok((!bytes.is_empty()).then_some((json, bytes)))
}

fn parse_json<T: DeserializeOwned>(json: bool, bytes: &Bytes) -> Result<T, ApiError> {
    if !json {
        return Err(ApiError::BadRequest(
            "send the body as JSON, with `Content-Type: application/json`".into(),
        ));
    }
    Json::<T>::from_bytes(bytes)
        .map(|Json(t)| t)
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {}", e.body_text())))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match body_bytes(req, state).await? {
            Some((json, bytes)) => parse_json(json, &bytes).map(Self),
            None => Err(ApiError::BadRequest(
                "this request needs a JSON body (`Content-Type: application/json`)".into(),
            )),
        }
    }
}

/// `Option<Body<T>>`: `None` when the request has no body at all, so a
/// handler can say what the missing body should have been.
impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match body_bytes(req, state).await? {
            Some((json, bytes)) => parse_json(json, &bytes).map(|t| Some(Self(t))),
            None => Ok(None),
        }
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
        let v = values(&["446)"]);
        assert_eq!(named_param("Users({key})", &v, 0), ("key", "446".into()));
    }

    #[test]
    fn under_the_orchestrator_base_the_names_come_first() {
        let route = crate::ROUTES
            .iter()
            .find(|r| r.path == "/odata/Users({key})" && r.method == axum::http::Method::GET)
            .unwrap();
        let segments: Vec<&str> = RoutePath {
            route,
            under_orchestrator_base: true,
        }
        .parameter_segments()
        .collect();
        assert_eq!(
            segments,
            ["{organizationName}", "{tenantName}", "Users({key})"]
        );
    }

    #[test]
    fn only_json_content_types_are_json() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            json_content_type(&h)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!json_content_type(&HeaderMap::new()));
    }
}
