//! Handlers of the Users API (seed 004), OData style: `/odata/Users` (users,
//! robot accounts and groups of the caller's organization, one list) and
//! `/odata/Roles`, with the query options of [`crate::odata`], plus delete,
//! change culture, robot provisioning (`DELETE /odata/Users(…)` is
//! [`crate::api::delete_user`], the same rule) and `AssignRoles` (which replaces the
//! role set), and roles' create, update and delete. Keys are the ids of
//! `/identity/api` (UUIDs), written `Users(<id>)` or `Users('<id>')`; the
//! seed's integer ids (`Users(446)`, `"roleIds": [1, 3]`) are not ids
//! here. Every store call is scoped by the caller's organization; a key of
//! another organization is 404.

use plugboard_store::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::odata::QueryOptions;
use crate::request::{ApiResult, Body, Ctx, changed, created, done, found, no_content, ok, uuid};

fn collection(ctx: &Ctx, set: &str, items: Vec<Value>) -> ApiResult {
    let opts = QueryOptions::parse(ctx.query()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (value, count) = opts.apply(items);
    let mut body = json!({ "@odata.context": format!("/odata/$metadata#{set}"), "value": value });
    if let Some(n) = count {
        body["@odata.count"] = json!(n);
    }
    ok(body)
}

pub(crate) async fn list_users(ctx: Ctx) -> ApiResult {
    let (store, org) = (&ctx.store, ctx.org);
    let mut items = Vec::new();
    for u in store.list_users(org).await? {
        let culture = store.user_culture(org, u.id).await?;
        items.push(json!({
            "Id": u.id.to_string(), "UserName": u.user_name, "Name": u.display_name,
            "EmailAddress": u.email, "Type": "User", "CultureName": culture,
        }));
    }
    for r in store.list_robot_accounts(org, None).await? {
        items.push(json!({
            "Id": r.id.to_string(), "UserName": r.name, "Name": r.display_name,
            "EmailAddress": null, "Type": "Robot", "CultureName": null,
        }));
    }
    for g in store.list_groups(org).await? {
        items.push(json!({
            "Id": g.id.to_string(), "UserName": g.name, "Name": g.name,
            "EmailAddress": null, "Type": "DirectoryGroup", "CultureName": null,
        }));
    }
    collection(&ctx, "Users", items)
}

pub(crate) async fn list_roles(ctx: Ctx) -> ApiResult {
    let items = ctx
        .store
        .list_roles(ctx.org)
        .await?
        .iter()
        .map(role_json)
        .collect();
    collection(&ctx, "Roles", items)
}

#[derive(Deserialize)]
pub(crate) struct CultureBody {
    culture: String,
}

pub(crate) async fn change_culture(ctx: Ctx, Body(b): Body<CultureBody>) -> ApiResult {
    let id = ctx.user_id()?;
    ctx.user(id).await?;
    let ok_name = !b.culture.is_empty()
        && b.culture.len() <= 16
        && b.culture
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
    if !ok_name {
        return Err(ApiError::BadRequest(format!(
            "`{}` is not a culture name (ja, fr-FR...)",
            b.culture
        )));
    }
    ctx.store.set_user_culture(ctx.org, id, &b.culture).await?;
    done()
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
pub(crate) async fn provision_robot(ctx: Ctx, Body(b): Body<ProvisionBody>) -> ApiResult {
    let user = ctx.user(ctx.user_id()?).await?;
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
    let exists = ctx
        .store
        .list_robot_accounts(ctx.org, None)
        .await?
        .into_iter()
        .any(|r| r.name == name);
    if !exists {
        ctx.store
            .create_robot_account(ctx.org, &name, &user.display_name)
            .await?;
    }
    done()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignRolesBody {
    role_ids: Vec<Value>,
}

/// Replaces the principal's role set (seed 004's before/after table).
pub(crate) async fn assign_roles(ctx: Ctx, Body(b): Body<AssignRolesBody>) -> ApiResult {
    let id = ctx.id("user")?;
    let (store, org) = (&ctx.store, ctx.org);
    let known = store.get_user(org, id.into()).await?.is_some()
        || store.get_group(org, id).await?.is_some()
        || !store.list_robot_accounts(org, Some(id)).await?.is_empty();
    if !known {
        return Err(ApiError::NotFound("user"));
    }
    let roles = b
        .role_ids
        .iter()
        .map(|r| match r {
            Value::String(r) => uuid(r, "role"),
            other => Err(ApiError::BadRequest(format!(
                "`roleIds` holds role ids as strings (the `Id` of `/odata/Roles`), not {other}"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    store.assign_roles(org, id, &roles).await?;
    done()
}

/// `POST /odata/Roles` and `PUT /odata/Roles({roleId})` body: the fields
/// `GET /odata/Roles` shows.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleBody {
    name: String,
    #[serde(default)]
    permissions: Vec<String>,
}

impl RoleBody {
    /// The name and permissions, checked: permissions are stored
    /// space-separated, so a name is letters, digits, `.`, `_` and `-`.
    fn checked(&self) -> Result<(&str, &[String]), ApiError> {
        crate::api::check_name("Name", &self.name)?;
        let bad = self.permissions.iter().find(|p| {
            p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
        if let Some(bad) = bad {
            return Err(ApiError::BadRequest(format!(
                "permission `{bad}` is not a permission name (letters, digits, `.`, `_`, `-`: `Users.View`)"
            )));
        }
        Ok((self.name.trim(), &self.permissions))
    }
}

pub(crate) async fn create_role(ctx: Ctx, Body(b): Body<RoleBody>) -> ApiResult {
    let (name, permissions) = b.checked()?;
    let role = ctx.store.create_role(ctx.org, name, permissions).await?;
    created(role_json(&role))
}

pub(crate) async fn update_role(ctx: Ctx, Body(b): Body<RoleBody>) -> ApiResult {
    let id = ctx.id("role")?;
    let (name, permissions) = b.checked()?;
    changed(
        ctx.store
            .update_role(ctx.org, id, name, permissions)
            .await?,
        "role",
    )?;
    let roles = ctx.store.list_roles(ctx.org).await?;
    ok(role_json(found(roles.iter().find(|r| r.id == id), "role")?))
}

/// Deletes the role and every assignment of it.
pub(crate) async fn delete_role(ctx: Ctx) -> ApiResult {
    changed(
        ctx.store.delete_role(ctx.org, ctx.id("role")?).await?,
        "role",
    )?;
    no_content()
}

fn role_json(r: &Role) -> Value {
    json!({ "Id": r.id.to_string(), "Name": r.name, "DisplayName": r.name, "Permissions": r.permissions })
}
