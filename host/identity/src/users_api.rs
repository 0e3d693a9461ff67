//! Handlers of the Users API (seed 004), OData style, with their body and
//! answer types: `/odata/Users` (users, robot accounts and groups of the
//! caller's organization, one list) and `/odata/Roles`, with the query
//! options of [`crate::odata`]; one entry by key; delete; change culture;
//! robot provisioning; `AssignRoles` (which replaces the role set); and
//! roles' create, update and delete.
//!
//! Keys and ids are what seed 004's clients use: the integer `Id` the
//! lists show (`Users(446)`, `"roleIds": [1, 3]`), or the UUID `Key`
//! (`Users(<uuid>)`, `Users('<uuid>')`). Every store call is scoped by the
//! caller's organization; a key of another organization is 404. Built-in
//! roles cannot be changed or deleted, built-in groups not deleted.

use plugboard_store::{DirectoryEntry, IdentityKind, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ApiError;
use crate::odata::QueryOptions;
use crate::request::{
    ApiResult, Body, Ctx, changed, created, done, found, no_content, ok, resolve_key,
};

/// What `/odata/Users` lists, and so what a `Users(<key>)` may name.
const DIRECTORY_KINDS: &[IdentityKind] = &[
    IdentityKind::User,
    IdentityKind::RobotAccount,
    IdentityKind::Group,
];

/// The navigation property of a user.
const ROLES: &str = "Roles";

/// An entry of `/odata/Users`: a user, robot account or group.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = ODataUser)]
pub(crate) struct ODataUser {
    /// The integer id, unique in the organization across users, robot
    /// accounts, groups and roles; never reused.
    id: i64,
    /// The UUID (the `id` of `/identity/api`).
    key: String,
    user_name: String,
    name: String,
    email_address: Option<String>,
    r#type: DirectoryType,
    /// A user's culture (`ja`, `fr-FR`).
    culture_name: Option<String>,
    /// The names of the roles assigned to it directly.
    roles_list: Vec<String>,
    /// The roles assigned to it directly (with `$expand=Roles` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<ODataRole>>,
}

/// What an entry of `/odata/Users` is.
#[derive(Serialize, ToSchema)]
#[schema(as = ODataUserType)]
pub(crate) enum DirectoryType {
    User,
    Robot,
    DirectoryGroup,
}

/// A role of `/odata/Roles`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = ODataRole)]
pub(crate) struct ODataRole {
    /// The integer id.
    id: i64,
    /// The UUID.
    key: String,
    name: String,
    display_name: String,
    /// Permission names (`Users.View`).
    permissions: Vec<String>,
    /// A built-in role (every organization has it; it cannot be changed).
    is_static: bool,
}

/// `GET /odata/Users` (for the OpenAPI document: the handler serializes
/// the filtered entries, of [`ODataUser`]'s shape).
#[derive(Serialize, ToSchema)]
#[schema(as = ODataUserList)]
#[allow(dead_code)]
pub(crate) struct UserList {
    #[serde(rename = "@odata.context")]
    context: String,
    /// With `$count=true`: the number before paging.
    #[serde(rename = "@odata.count")]
    count: Option<usize>,
    value: Vec<ODataUser>,
}

/// `GET /odata/Roles` (for the OpenAPI document, as [`UserList`]).
#[derive(Serialize, ToSchema)]
#[schema(as = ODataRoleList)]
#[allow(dead_code)]
pub(crate) struct RoleList {
    #[serde(rename = "@odata.context")]
    context: String,
    /// With `$count=true`: the number before paging.
    #[serde(rename = "@odata.count")]
    count: Option<usize>,
    value: Vec<ODataRole>,
}

/// A list answer: the query options applied to `items`.
fn collection(set: &str, opts: &QueryOptions, items: Vec<Value>) -> ApiResult {
    let (value, count) = opts.apply(items);
    let mut body = json!({ "@odata.context": format!("/odata/$metadata#{set}"), "value": value });
    if let Some(n) = count {
        body["@odata.count"] = json!(n);
    }
    ok(body)
}

/// One entity: its JSON with its `@odata.context`.
fn entity(set: &str, item: impl Serialize) -> ApiResult {
    let mut body = serde_json::to_value(item).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    body["@odata.context"] = json!(format!("/odata/$metadata#{set}/$entity"));
    ok(body)
}

fn options(ctx: &Ctx, expandable: &[&str]) -> Result<QueryOptions, ApiError> {
    QueryOptions::parse(ctx.query(), expandable).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Query options on one entity: `$expand` only.
fn entity_options(ctx: &Ctx, expandable: &[&str]) -> Result<QueryOptions, ApiError> {
    let opts = options(ctx, expandable)?;
    if opts.filter.is_some()
        || opts.top.is_some()
        || opts.skip.is_some()
        || !opts.order_by.is_empty()
        || opts.count
    {
        return Err(ApiError::BadRequest(
            "`$filter`, `$top`, `$skip`, `$orderby` and `$count` apply to lists, not to one entity"
                .into(),
        ));
    }
    Ok(opts)
}

/// The directory entries (`only` one, or all) as `/odata/Users` shows them.
async fn directory(
    ctx: &Ctx,
    only: Option<uuid::Uuid>,
    expand_roles: bool,
) -> ApiResult<Vec<ODataUser>> {
    let (store, org) = (&ctx.store, ctx.org);
    let entries = store.list_directory(org, only).await?;
    let roles = store.list_roles(org).await?;
    let assignments = store.role_assignments(org).await?;
    Ok(entries
        .into_iter()
        .map(|e: DirectoryEntry| {
            let mine: Vec<&Role> = assignments
                .iter()
                .filter(|(principal, _)| *principal == e.id)
                .filter_map(|(_, role)| roles.iter().find(|r| r.id == *role))
                .collect();
            ODataUser {
                id: e.number,
                key: e.id.to_string(),
                user_name: e.name,
                name: e.display_name,
                email_address: e.email,
                r#type: match e.kind {
                    IdentityKind::RobotAccount => DirectoryType::Robot,
                    IdentityKind::Group => DirectoryType::DirectoryGroup,
                    _ => DirectoryType::User,
                },
                culture_name: e.culture,
                roles_list: mine.iter().map(|r| r.name.clone()).collect(),
                roles: expand_roles.then(|| mine.iter().map(|r| role_out(r)).collect()),
            }
        })
        .collect())
}

pub(crate) async fn list_users(ctx: Ctx) -> ApiResult {
    let opts = options(&ctx, &[ROLES])?;
    let users = directory(&ctx, None, opts.expand.iter().any(|e| e == ROLES)).await?;
    let items = users
        .into_iter()
        .map(|u| serde_json::to_value(u).unwrap_or(Value::Null))
        .collect();
    collection("Users", &opts, items)
}

/// One entry of `/odata/Users`, by integer `Id` or `Key`.
pub(crate) async fn get_user(ctx: Ctx) -> ApiResult {
    let opts = entity_options(&ctx, &[ROLES])?;
    let (_, id) = ctx.key(DIRECTORY_KINDS, "user").await?;
    let mut users = directory(&ctx, Some(id), opts.expand.iter().any(|e| e == ROLES)).await?;
    entity("Users", found(users.pop(), "user")?)
}

pub(crate) async fn list_roles(ctx: Ctx) -> ApiResult {
    let opts = options(&ctx, &[])?;
    let items = ctx
        .store
        .list_roles(ctx.org)
        .await?
        .iter()
        .map(|r| serde_json::to_value(role_out(r)).unwrap_or(Value::Null))
        .collect();
    collection("Roles", &opts, items)
}

/// One role, by integer `Id` or `Key`.
pub(crate) async fn get_role(ctx: Ctx) -> ApiResult {
    entity_options(&ctx, &[])?;
    entity("Roles", role_out(&role(&ctx).await?))
}

/// `DELETE /odata/Users({key})`: the user (with memberships, roles,
/// login attempts), or the robot account or local group the key names
/// (they are entries of the same list); a built-in group is 409.
pub(crate) async fn delete_user(ctx: Ctx) -> ApiResult {
    let (kind, id) = ctx.key(DIRECTORY_KINDS, "user").await?;
    let (store, org) = (&ctx.store, ctx.org);
    let deleted = match kind {
        IdentityKind::RobotAccount => store.delete_robot_accounts(org, Some(id)).await? > 0,
        IdentityKind::Group => {
            let g = found(store.get_group(org, id).await?, "user")?;
            if g.builtin.is_some() {
                return Err(crate::api::built_in("group", &g.name));
            }
            store.delete_groups(org, Some(id)).await? > 0
        }
        _ => store.delete_user(org, id.into()).await?,
    };
    changed(deleted, "user")?;
    no_content()
}

/// `ChangeUserCulture` body.
#[derive(Deserialize, ToSchema)]
#[schema(as = ODataChangeUserCulture)]
pub(crate) struct CultureBody {
    /// A BCP 47 language tag: `ja`, `fr-FR`, `zh-Hans-CN`.
    culture: String,
}

pub(crate) async fn change_culture(ctx: Ctx, Body(b): Body<CultureBody>) -> ApiResult {
    let (_, id) = ctx.key(&[IdentityKind::User], "user").await?;
    ctx.user(id.into()).await?;
    let culture = culture_name(&b.culture)?;
    ctx.store
        .set_user_culture(ctx.org, id.into(), culture)
        .await?;
    done()
}

/// A culture name: a BCP 47 language tag (`ja`, `fr-FR`, `zh-Hans-CN`),
/// parsed by ICU4X's `icu_locale_core`, written with `-` as UiPath writes
/// it. Returned as given (trimmed).
fn culture_name(culture: &str) -> Result<&str, ApiError> {
    let c = culture.trim();
    let valid = !c.contains('_')
        && c.len() <= 35
        && icu_locale_core::LanguageIdentifier::try_from_str(c).is_ok();
    if valid {
        Ok(c)
    } else {
        Err(ApiError::BadRequest(format!(
            "`{culture}` is not a culture name: give a BCP 47 language tag such as `ja`, `fr-FR` or `zh-Hans-CN`"
        )))
    }
}

/// `PUT /odata/Users({key})` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = ODataRobotProvisionBody)]
pub(crate) struct ProvisionBody {
    robot_provision: RobotProvision,
}

/// The robot to provision.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = ODataRobotProvision)]
pub(crate) struct RobotProvision {
    /// The robot account's name (`uipath\\john.smith`).
    user_name: String,
    /// `Development`, `Unattended`, `NonProduction`, `Attended`, `Studio`, `StudioX`.
    robot_type: String,
    /// Accepted, not used (robots are not run here).
    #[allow(dead_code)]
    robot_id: Option<i64>,
    /// Accepted, not used.
    #[allow(dead_code)]
    execution_settings: Option<Value>,
}

/// Gives the user a robot account named after `RobotProvision.UserName`
/// (kept if it exists).
pub(crate) async fn provision_robot(ctx: Ctx, Body(b): Body<ProvisionBody>) -> ApiResult {
    let (_, id) = ctx.key(&[IdentityKind::User], "user").await?;
    let user = ctx.user(id.into()).await?;
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
    let name = b.robot_provision.user_name.trim();
    crate::api::check_name("RobotProvision.UserName", name)?;
    let exists = ctx
        .store
        .list_robot_accounts(ctx.org, None)
        .await?
        .into_iter()
        .any(|r| r.name == name);
    if !exists {
        ctx.store
            .create_robot_account(ctx.org, name, &user.display_name)
            .await?;
    }
    done()
}

/// `AssignRoles` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ODataAssignRoles)]
pub(crate) struct AssignRolesBody {
    /// The roles' integer `Id`s (or `Key`s).
    role_ids: Vec<IdOrKey>,
}

/// An integer `Id` or a `Key` (UUID string).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = ODataIdOrKey)]
pub(crate) enum IdOrKey {
    Id(i64),
    Key(String),
}

/// Replaces the principal's role set (seed 004's before/after table).
pub(crate) async fn assign_roles(ctx: Ctx, Body(b): Body<AssignRolesBody>) -> ApiResult {
    let (_, id) = ctx.key(DIRECTORY_KINDS, "user").await?;
    let (store, org) = (&ctx.store, ctx.org);
    let mut roles = Vec::with_capacity(b.role_ids.len());
    for r in &b.role_ids {
        let key = match r {
            IdOrKey::Id(n) => n.to_string(),
            IdOrKey::Key(k) => k.clone(),
        };
        roles.push(
            resolve_key(store, org, &key, &[IdentityKind::Role], "role")
                .await?
                .1,
        );
    }
    store.assign_roles(org, id, &roles).await?;
    done()
}

/// `POST /odata/Roles` and `PUT /odata/Roles({roleId})` body: the fields
/// `GET /odata/Roles` shows.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = ODataRoleBody)]
pub(crate) struct RoleBody {
    name: String,
    /// Letters, digits, `.`, `_`, `-` (`Users.View`).
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
    created(role_out(&role))
}

pub(crate) async fn update_role(ctx: Ctx, Body(b): Body<RoleBody>) -> ApiResult {
    let (name, permissions) = b.checked()?;
    let r = role(&ctx).await?;
    if r.builtin.is_some() {
        return Err(ApiError::Conflict(format!(
            "`{}` is a built-in role; it cannot be changed (create a role of your own)",
            r.name
        )));
    }
    changed(
        ctx.store
            .update_role(ctx.org, r.id, name, permissions)
            .await?,
        "role",
    )?;
    ok(role_out(&role(&ctx).await?))
}

/// Deletes the role and every assignment of it.
pub(crate) async fn delete_role(ctx: Ctx) -> ApiResult {
    let r = role(&ctx).await?;
    if r.builtin.is_some() {
        return Err(crate::api::built_in("role", &r.name));
    }
    changed(ctx.store.delete_role(ctx.org, r.id).await?, "role")?;
    no_content()
}

/// The role the route's key names, or 404.
async fn role(ctx: &Ctx) -> ApiResult<Role> {
    let (_, id) = ctx.key(&[IdentityKind::Role], "role").await?;
    let roles = ctx.store.list_roles(ctx.org).await?;
    found(roles.into_iter().find(|r| r.id == id), "role")
}

fn role_out(r: &Role) -> ODataRole {
    ODataRole {
        id: r.number,
        key: r.id.to_string(),
        name: r.name.clone(),
        display_name: r.name.clone(),
        permissions: r.permissions.clone(),
        is_static: r.builtin.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn culture_names_are_bcp_47_tags() {
        for good in [
            "ja",
            "fr-FR",
            "zh-Hans-CN",
            "en-US",
            "de-CH-1996",
            " pt-BR ",
        ] {
            assert!(culture_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-",
            "fr-",
            "123",
            "not a culture",
            "ja--JP",
            "abcdefghij",
            "fr-FR-",
            "fr_FR",
            "ja\u{0}",
            "é",
        ] {
            assert!(culture_name(bad).is_err(), "{bad:?}");
        }
    }
}
