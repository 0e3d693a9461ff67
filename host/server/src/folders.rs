//! Folders (personal workspace, shared folders and their members), the
//! caller's identity, organization settings and the audit log.
//!
//! A caller sees their own workspace and the shared folders they are a
//! member of (administrators see every shared folder of their tenant).
//! Managing shared folders and settings needs an administrator.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::connections::visible_folder;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::identity::Caller;
use crate::model::*;
use crate::repo::RepoError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_folders, create_folder))
        .routes(routes!(set_members))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(list_audit))
}

pub(crate) fn admin_only(caller: &Caller, what: &str) -> ApiResult<()> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "admin_required",
            format!("only a tenant administrator may {what}"),
        ))
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub name: String,
    pub is_admin: bool,
    /// Where connections go when no folder is named.
    pub personal_folder_id: FolderId,
}

/// Who the token belongs to, and their personal workspace.
#[utoipa::path(get, path = "/api/v1/me", tag = "folders",
    security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let folder = state
        .repo
        .personal_folder(caller.tenant_id, caller.user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Me {
        user_id: caller.user_id,
        tenant_id: caller.tenant_id,
        name: caller.user_name.clone(),
        is_admin: caller.is_admin,
        personal_folder_id: folder.id,
    }))
}

/// Your personal workspace and the shared folders you can access.
#[utoipa::path(get, path = "/api/v1/folders", tag = "folders",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Folder>), (status = 401, body = ErrorBody)))]
async fn list_folders(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Folder>>> {
    let mut folders: Vec<Folder> = state
        .repo
        .folders(caller.tenant_id)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|f| f.visible_to(&caller))
        .collect();
    folders.sort_by_key(|f| (f.kind != FolderKind::Personal, f.name.clone()));
    Ok(Json(folders))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFolder {
    pub name: String,
    /// Users who may use and edit the folder's connections.
    #[serde(default)]
    pub members: Vec<UserId>,
}

/// Refuse members that are not users of the caller's organization, before
/// anything is written (a folder half-created or half-updated otherwise).
async fn known_members(state: &AppState, caller: &Caller, members: &[UserId]) -> ApiResult<()> {
    let unknown = state
        .repo
        .unknown_users(caller.tenant_id, members)
        .await
        .map_err(ApiError::internal)?;
    if unknown.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = unknown.iter().map(|u| u.to_string()).collect();
    Err(ApiError::bad_request(
        "unknown_user",
        format!(
            "no user of your organization has the id(s) {}; check them (each user sees their own id at GET /api/v1/me); nothing was changed",
            ids.join(", ")
        ),
    )
    .with_details(serde_json::json!({ "unknown_users": ids })))
}

/// Create a shared folder (administrators).
#[utoipa::path(post, path = "/api/v1/folders", tag = "folders",
    security(("bearer" = [])),
    request_body = CreateFolder,
    responses((status = 201, body = Folder), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_folder(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateFolder>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Folder>)> {
    let Json(req) = body?;
    admin_only(&caller, "create shared folders")?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a folder name must have 1 to 200 characters",
        ));
    }
    known_members(&state, &caller, &req.members).await?;
    let folder = state
        .repo
        .create_shared_folder(caller.tenant_id, name, &req.members)
        .await
        .map_err(|e| match e {
            RepoError::Conflict(m) => ApiError::conflict("folder_exists", m),
            e => ApiError::internal(e),
        })?;
    crate::audit(&state, &caller, "folder.create", &folder.id.to_string()).await;
    Ok((StatusCode::CREATED, Json(folder)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Members {
    pub members: Vec<UserId>,
}

/// Replace the members of a shared folder (administrators).
#[utoipa::path(put, path = "/api/v1/folders/{id}/members", tag = "folders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Folder id")),
    request_body = Members,
    responses((status = 200, body = Folder), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Members>, JsonRejection>,
) -> ApiResult<Json<Folder>> {
    let id: FolderId = id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{id}` is not a valid folder id (a UUID)"),
        )
    })?;
    let Json(req) = body?;
    let folder = visible_folder(&state, &caller, id).await?;
    admin_only(&caller, "change folder members")?;
    if folder.kind != FolderKind::Shared {
        return Err(ApiError::bad_request(
            "not_a_shared_folder",
            "a personal workspace has no members; create a shared folder to share connections",
        ));
    }
    known_members(&state, &caller, &req.members).await?;
    let folder = state
        .repo
        .set_folder_members(caller.tenant_id, id, &req.members)
        .await
        .map_err(ApiError::internal)?;
    crate::audit(&state, &caller, "folder.members", &folder.id.to_string()).await;
    Ok(Json(folder))
}

/// Organization settings (governance).
#[utoipa::path(get, path = "/api/v1/settings", tag = "folders",
    security(("bearer" = [])),
    responses((status = 200, body = OrgSettings), (status = 401, body = ErrorBody)))]
async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<OrgSettings>> {
    Ok(Json(
        state
            .repo
            .org_settings(caller.org_id)
            .await
            .map_err(ApiError::internal)?,
    ))
}

/// Change organization settings (administrators): forbid regular users
/// from creating connections in shared folders; allow only some connectors.
#[utoipa::path(put, path = "/api/v1/settings", tag = "folders",
    security(("bearer" = [])),
    request_body = OrgSettings,
    responses((status = 200, body = OrgSettings), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<OrgSettings>, JsonRejection>,
) -> ApiResult<Json<OrgSettings>> {
    let Json(settings) = body?;
    admin_only(&caller, "change organization settings")?;
    if let Some(list) = &settings.allowed_connectors {
        // A typo would silently forbid a connector: every id must be one
        // this tenant can use (bundled, or uploaded here).
        let unknown: Vec<&str> = list
            .iter()
            .map(String::as_str)
            .filter(|id| state.registry.get(caller.tenant_id, id).is_none())
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::bad_request(
                "unknown_connector",
                format!(
                    "allowed_connectors names connectors that do not exist here: {}; `GET /api/v1/connectors` lists them",
                    unknown.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "unknown": unknown })));
        }
    }
    state
        .repo
        .set_org_settings(caller.org_id, settings.clone())
        .await
        .map_err(ApiError::internal)?;
    crate::audit(
        &state,
        &caller,
        "settings.update",
        &caller.org_id.to_string(),
    )
    .await;
    Ok(Json(settings))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Most recent events to return (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// The tenant's audit events, newest first (administrators).
#[utoipa::path(get, path = "/api/v1/audit", tag = "folders",
    security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = Vec<AuditEvent>), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    let Query(q) = query?;
    admin_only(&caller, "read the audit log")?;
    Ok(Json(
        state
            .repo
            .audit_events(caller.tenant_id, q.limit.unwrap_or(100).clamp(1, 1000))
            .await
            .map_err(ApiError::internal)?,
    ))
}
