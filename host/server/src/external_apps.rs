//! The operator's way in to the management APIs of seeds 003/004: an
//! organization administrator registers an external application (client
//! id + secret + scopes) with their ordinary API token. Everything after
//! that — listing, rotating, deleting apps, registering more — goes through
//! `/identity/api/ExternalApplication` with the app's own scoped tokens
//! (`host/identity`); without this route the first app of an organization
//! could only be made from Rust.
//!
//! The client secret is in the response once; only its argon2 hash is kept.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::folders::admin_only;
use crate::identity::Caller;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(register_app))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterApp {
    /// A name people recognise, e.g. `provisioning-script`.
    pub name: String,
    /// Scopes the app's tokens may carry, e.g. `PM.User.Read`: at least
    /// one; one given twice is kept once (`plugboard_identity::check_app`).
    pub scopes: Vec<String>,
}

/// A registered app, with its secret (shown in this response only).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RegisteredApp {
    pub name: String,
    pub client_id: String,
    /// Shown once; store it now. Only a hash is kept.
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// Where the app gets access tokens (client credentials grant).
    pub token_url: String,
}

/// Register an external application of your organization (administrators).
#[utoipa::path(post, path = "/api/v1/external-apps", tag = "folders",
    security(("bearer" = [])),
    request_body = RegisterApp,
    responses((status = 201, body = RegisteredApp),
        (status = 400, description = "No name (`invalid_name`), or no scope or one that does not exist (`invalid_scopes`)", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody)))]
async fn register_app(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RegisterApp>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RegisteredApp>)> {
    let Json(req) = body?;
    admin_only(&caller, "register external applications")?;
    let app = plugboard_identity::check_app(&req.name, &req.scopes).map_err(|e| {
        use plugboard_identity::AppRefusal;
        let code = match e {
            AppRefusal::Name => "invalid_name",
            AppRefusal::NoScope | AppRefusal::UnknownScopes(_) => "invalid_scopes",
        };
        ApiError::bad_request(code, e.to_string())
    })?;
    let (client_id, client_secret) = plugboard_identity::register_external_app(
        &state.store,
        plugboard_store::OrganizationId(caller.org_id.0),
        &app,
    )
    .await
    .map_err(crate::session::identity_internal)?;
    let name = app.name();
    crate::audit(
        &state,
        &caller,
        "external_app.register",
        &format!("{name} ({client_id})"),
    )
    .await;
    let token_url = state
        .public_url
        .join("identity/connect/token")
        .map_err(ApiError::internal)?
        .to_string();
    Ok((
        StatusCode::CREATED,
        Json(RegisteredApp {
            name: name.to_owned(),
            client_id,
            client_secret,
            scopes: app.scopes().to_vec(),
            token_url,
        }),
    ))
}
