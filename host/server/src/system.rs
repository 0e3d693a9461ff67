//! Health, readiness and the OpenAPI security scheme. No authentication:
//! these answer load balancers and must reveal nothing about tenants.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.repo.ping().await.map_err(|e| e.to_string()) {
        Ok(()) => Ok(Json(Health { status: "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            Err(ApiError::unavailable(
                "database_unreachable",
                "the database does not answer; check that it is running and that the configured database URL is right",
            ))
        }
    }
}

/// Adds the two ways to authenticate to `/api/v1`: the `bearer` scheme
/// every route declares, and the console's `session` cookie.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`pb_…`)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::COOKIE_NAME.to_string(),
                format!(
                    "The console's session (`POST /api/v1/session`). Used only when no \
                     `Authorization` header is sent; a request that changes something must \
                     also come from the server's own origin or carry the `{}` header.",
                    crate::session::CSRF_HEADER
                ),
            ))),
        );
    }
}

/// Every operation that takes the `bearer` scheme also takes the `session`
/// cookie (the extractor accepts either); runs on the finished document.
pub struct SessionAlternative;

impl utoipa::Modify for SessionAlternative {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
        let session = SecurityRequirement::new("session", Vec::<String>::new());
        for op in operations(openapi) {
            let Some(security) = op.security.as_mut() else {
                continue;
            };
            if security.contains(&bearer) {
                security.push(session.clone());
            }
        }
    }
}

/// Every operation of the document.
fn operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// Declares the errors every operation can answer whatever its handler
/// does, so the document matches the server (schemathesis checks it):
/// 401 on every authenticated operation (missing or unknown token), 400 on
/// any with path, query or body input (an id that is not a UUID, malformed
/// JSON), and 413 and 415 on any with a body (the body limit, a body that
/// is not `application/json`). Runs on the finished document, after the
/// routes' own paths are merged in; declared responses are kept.
pub struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        {
            for op in operations(openapi) {
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let json_body = match &op.request_body {
                    Some(RefOr::T(body)) => Some(body.content.contains_key("application/json")),
                    Some(RefOr::Ref(_)) => Some(true),
                    None => None,
                };
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description));
                };
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "Missing or unknown API token");
                }
                if has_params || json_body.is_some() {
                    add(
                        "400",
                        "Malformed input: an id, a query parameter or the body",
                    );
                }
                if let Some(json) = json_body {
                    add("413", "The body is larger than the request body limit");
                    if json {
                        add(
                            "415",
                            "The body is not sent as `Content-Type: application/json`",
                        );
                    }
                }
            }
        }
    }
}
