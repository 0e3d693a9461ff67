//! An organization's default OAuth app per connector (seed 000
//! governance): when a user connects with "your own OAuth app" (BYOA,
//! client credentials, password grant) and gives none, this one is used.
//! Administrators set it; everyone may see which connectors have one and
//! its client id. The client secret is sealed in the vault by the store
//! and never returned — responses only say it is set.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_auth::ClientChoice;
use plugboard_manifest::AuthKind;
use plugboard_vault::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::connectors::connector_not_found;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::folders::admin_only;
use crate::identity::Caller;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_defaults))
        .routes(routes!(put_default, delete_default))
}

/// A connector's default OAuth app, as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthAppView {
    pub connector: String,
    pub client_id: String,
    /// Always true: the secret is stored (encrypted) but never returned.
    pub client_secret_set: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOAuthApp {
    pub client_id: String,
    /// Stored encrypted; never returned.
    pub client_secret: String,
}

/// The organization's default app for `connector`, if an administrator set one.
pub(crate) async fn org_default(
    state: &AppState,
    caller: &Caller,
    connector: &str,
) -> ApiResult<Option<ClientChoice>> {
    let scope = caller.store_scope();
    Ok(state
        .store
        .oauth_app_default(&scope, connector)
        .await
        .map_err(ApiError::internal)?
        .map(|d| ClientChoice::Own {
            client_id: d.client_id,
            client_secret: d.client_secret,
        }))
}

/// Connectors with an organization default OAuth app (client ids only).
#[utoipa::path(get, path = "/api/v1/settings/oauth-apps", tag = "folders",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<OAuthAppView>), (status = 401, body = ErrorBody)))]
async fn list_defaults(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<OAuthAppView>>> {
    let scope = caller.store_scope();
    let rows = state
        .store
        .list_oauth_app_defaults(&scope)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        rows.into_iter()
            .map(|(connector, client_id)| OAuthAppView {
                connector,
                client_id,
                client_secret_set: true,
            })
            .collect(),
    ))
}

/// Set the organization's default OAuth app for a connector
/// (administrators). Used by connections that bring their own app and
/// give none. The secret is stored encrypted and never returned.
#[utoipa::path(put, path = "/api/v1/settings/oauth-apps/{connector}", tag = "folders",
    security(("bearer" = [])),
    params(("connector" = String, Path, description = "Connector id, e.g. `zoom`")),
    request_body = SetOAuthApp,
    responses((status = 200, body = OAuthAppView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_default(
    State(state): State<AppState>,
    caller: Caller,
    Path(connector): Path<String>,
    body: Result<Json<SetOAuthApp>, JsonRejection>,
) -> ApiResult<Json<OAuthAppView>> {
    let Json(req) = body?;
    admin_only(&caller, "set the organization's OAuth apps")?;
    let entry = state
        .registry
        .get(caller.tenant_id, &connector)
        .ok_or_else(|| connector_not_found(&connector))?;
    let takes_own_app = entry.manifest().auth_methods.iter().any(|m| {
        matches!(
            m.kind,
            AuthKind::Oauth2Byoa | AuthKind::Oauth2ClientCredentials | AuthKind::Oauth2Password
        )
    });
    if !takes_own_app {
        return Err(ApiError::bad_request(
            "no_own_oauth_app",
            format!("connector `{connector}` offers no auth type that uses your own OAuth app"),
        ));
    }
    let client_id = req.client_id.trim();
    if client_id.is_empty() || req.client_secret.is_empty() {
        return Err(ApiError::bad_request(
            "incomplete_oauth_app",
            "give both `client_id` and `client_secret` of the OAuth app",
        ));
    }
    let scope = caller.store_scope();
    state
        .store
        .put_oauth_app_default(
            &scope,
            &connector,
            client_id,
            &SecretString::new(req.client_secret),
        )
        .await
        .map_err(ApiError::internal)?;
    crate::audit(&state, &caller, "settings.oauth_app_set", &connector).await;
    Ok(Json(OAuthAppView {
        connector,
        client_id: client_id.to_string(),
        client_secret_set: true,
    }))
}

/// Remove the organization's default OAuth app for a connector
/// (administrators). Existing connections keep working with their app.
#[utoipa::path(delete, path = "/api/v1/settings/oauth-apps/{connector}", tag = "folders",
    security(("bearer" = [])),
    params(("connector" = String, Path, description = "Connector id")),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn delete_default(
    State(state): State<AppState>,
    caller: Caller,
    Path(connector): Path<String>,
) -> ApiResult<StatusCode> {
    admin_only(&caller, "change the organization's OAuth apps")?;
    let scope = caller.store_scope();
    let removed = state
        .store
        .delete_oauth_app_default(&scope, &connector)
        .await
        .map_err(ApiError::internal)?;
    if !removed {
        return Err(ApiError::not_found(
            "oauth_app_not_found",
            format!(
                "there is no default OAuth app for `{connector}`; GET /api/v1/settings/oauth-apps lists them"
            ),
        ));
    }
    crate::audit(&state, &caller, "settings.oauth_app_delete", &connector).await;
    Ok(StatusCode::NO_CONTENT)
}
