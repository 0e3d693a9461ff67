//! Handlers of the Users API (seed 004), OData style: `/odata/Users` (users,
//! robot accounts and groups of the caller's organization, one list) and
//! `/odata/Roles`, with the query options of [`crate::odata`], plus delete,
//! change culture, robot provisioning and `AssignRoles` (which replaces the
//! role set). Keys are the ids of `/identity/api` (UUIDs), written
//! `Users(<id>)` or `Users('<id>')`. Every store call is scoped by the
//! caller's organization; a key of another organization is 404.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use plugboard_store::UserId;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::odata::QueryOptions;
use crate::{ApiError, Caller, IdentityState};

type ApiResult = Result<Response, ApiError>;

fn collection(set: &str, raw: Option<&str>, items: Vec<Value>) -> ApiResult {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let opts = QueryOptions::parse(&pairs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (value, count) = opts.apply(items);
    let mut body = json!({ "@odata.context": format!("/odata/$metadata#{set}"), "value": value });
    if let Some(n) = count {
        body["@odata.count"] = json!(n);
    }
    Ok(Json(body).into_response())
}

pub(crate) async fn list_users(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let mut items = Vec::new();
    for u in s.store.list_users(c.org).await? {
        let culture = s.store.user_culture(c.org, u.id).await?;
        items.push(json!({
            "Id": u.id.to_string(), "UserName": u.user_name, "Name": u.display_name,
            "EmailAddress": u.email, "Type": "User", "CultureName": culture,
        }));
    }
    for r in s.store.list_robot_accounts(c.org, None).await? {
        items.push(json!({
            "Id": r.id.to_string(), "UserName": r.name, "Name": r.display_name,
            "EmailAddress": null, "Type": "Robot", "CultureName": null,
        }));
    }
    for g in s.store.list_groups(c.org).await? {
        items.push(json!({
            "Id": g.id.to_string(), "UserName": g.name, "Name": g.name,
            "EmailAddress": null, "Type": "DirectoryGroup", "CultureName": null,
        }));
    }
    collection("Users", q.as_deref(), items)
}

pub(crate) async fn list_roles(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let items = s
        .store
        .list_roles(c.org)
        .await?
        .into_iter()
        .map(|r| json!({ "Id": r.id.to_string(), "Name": r.name, "DisplayName": r.name, "Permissions": r.permissions }))
        .collect();
    collection("Roles", q.as_deref(), items)
}

pub(crate) async fn delete_user(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(seg): Path<String>,
) -> ApiResult {
    if !s.store.delete_user(c.org, UserId(key(&seg)?)).await? {
        return Err(ApiError::NotFound("user"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub(crate) struct CultureBody {
    culture: String,
}

pub(crate) async fn change_culture(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(seg): Path<String>,
    Json(b): Json<CultureBody>,
) -> ApiResult {
    let id = UserId(key(&seg)?);
    s.store
        .get_user(c.org, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let ok = !b.culture.is_empty()
        && b.culture.len() <= 16
        && b.culture
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "`{}` is not a culture name (ja, fr-FR...)",
            b.culture
        )));
    }
    s.store.set_user_culture(c.org, id, &b.culture).await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProvisionBody {
    robot_provision: RobotProvision,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RobotProvision {
    user_name: String,
    robot_type: String,
}

/// `PUT /odata/Users({key})` with `RobotProvision`: gives the user a robot
/// account named after `RobotProvision.UserName` (kept if it exists).
pub(crate) async fn provision_robot(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(seg): Path<String>,
    Json(b): Json<ProvisionBody>,
) -> ApiResult {
    let id = UserId(key(&seg)?);
    let user = s
        .store
        .get_user(c.org, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    const TYPES: &[&str] = &[
        "Development",
        "Unattended",
        "NonProduction",
        "Attended",
        "Studio",
        "StudioX",
    ];
    if !TYPES.contains(&b.robot_provision.robot_type.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "`RobotType` must be one of {}",
            TYPES.join(", ")
        )));
    }
    let name = b.robot_provision.user_name;
    let exists = s
        .store
        .list_robot_accounts(c.org, None)
        .await?
        .into_iter()
        .any(|r| r.name == name);
    if !exists {
        s.store
            .create_robot_account(c.org, &name, &user.display_name)
            .await?;
    }
    Ok(StatusCode::OK.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignRolesBody {
    role_ids: Vec<String>,
}

/// Replaces the principal's role set (seed 004's before/after table).
pub(crate) async fn assign_roles(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(seg): Path<String>,
    Json(b): Json<AssignRolesBody>,
) -> ApiResult {
    let id = key(&seg)?;
    let known = s.store.get_user(c.org, UserId(id)).await?.is_some()
        || s.store.get_group(c.org, id).await?.is_some()
        || !s
            .store
            .list_robot_accounts(c.org, Some(id))
            .await?
            .is_empty();
    if !known {
        return Err(ApiError::NotFound("user"));
    }
    let roles = b
        .role_ids
        .iter()
        .map(|r| Uuid::parse_str(r).map_err(|_| ApiError::NotFound("role")))
        .collect::<Result<Vec<_>, _>>()?;
    s.store.assign_roles(c.org, id, &roles).await?;
    Ok(StatusCode::OK.into_response())
}

/// `Users(<uuid>)` or `Users('<uuid>')` → the id; anything else is 404.
fn key(segment: &str) -> Result<Uuid, ApiError> {
    segment
        .strip_prefix("Users(")
        .and_then(|s| s.strip_suffix(')'))
        .map(|s| s.trim_matches('\''))
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(ApiError::NotFound("user"))
}
