//! Handlers of the Platform Management API (seed 003). Each starts from
//! the [`Ctx`] of the request, which has already checked a path
//! `partitionGlobalId` against the caller's organization; a body's
//! `partitionGlobalId` is checked with [`Ctx::partition`], and every store
//! call passes `ctx.org`, so an id of another organization is 404. Rules
//! live below the handlers.

use axum::http::header;
use axum::response::IntoResponse;
use plugboard_store::{AuditFilter, Group, OrganizationId, RobotAccount, User};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ApiError;
use crate::auth::hash_secret_off_runtime;
use crate::request::{ApiResult, Body, Ctx, changed, created, found, no_content, ok, uuid};
use crate::sign_in::password_attempt;

// ----- audit -----

pub(crate) async fn audit_query(ctx: Ctx) -> ApiResult {
    let events = ctx
        .store
        .list_audit(ctx.org, &AuditFilter::default())
        .await?;
    let results: Vec<Value> = events.iter().map(audit_json).collect();
    ok(json!({ "totalCount": results.len(), "results": results }))
}

pub(crate) async fn audit_download(ctx: Ctx) -> ApiResult {
    let events = ctx
        .store
        .list_audit(ctx.org, &AuditFilter::default())
        .await?;
    let mut csv = String::from("id,createdOn,actor,action,outcome\n");
    for e in &events {
        let cell = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            e.id,
            e.created_at.unix_timestamp(),
            cell(&e.actor),
            cell(&e.action),
            cell(&e.outcome)
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"audit-{}.csv\"", ctx.org),
            ),
        ],
        csv,
    )
        .into_response())
}

fn audit_json(e: &plugboard_store::AuditEvent) -> Value {
    json!({
        "id": e.id.to_string(),
        "createdOn": e.created_at.unix_timestamp(),
        "actor": e.actor,
        "action": e.action,
        "outcome": e.outcome,
        "details": e.details,
    })
}

// ----- groups -----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupBody {
    partition_global_id: String,
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

pub(crate) async fn list_groups(ctx: Ctx) -> ApiResult {
    let groups = ctx.store.list_groups(ctx.org).await?;
    ok(groups.iter().map(group_json).collect::<Vec<_>>())
}

pub(crate) async fn get_group(ctx: Ctx) -> ApiResult {
    let g = ctx.store.get_group(ctx.org, ctx.id("group")?).await?;
    ok(group_json(&found(g, "group")?))
}

pub(crate) async fn create_group(ctx: Ctx, Body(b): Body<GroupBody>) -> ApiResult {
    ctx.partition(&b.partition_global_id)?;
    let members = members_of(&ctx, &b.members).await?;
    let g = ctx.store.create_group(ctx.org, &b.name, &members).await?;
    created(group_json(&g))
}

pub(crate) async fn update_group(ctx: Ctx, Body(b): Body<GroupBody>) -> ApiResult {
    ctx.partition(&b.partition_global_id)?;
    let id = ctx.id("group")?;
    let members = members_of(&ctx, &b.members).await?;
    changed(
        ctx.store
            .update_group(ctx.org, id, &b.name, &members)
            .await?,
        "group",
    )?;
    get_group(ctx).await
}

pub(crate) async fn delete_groups(ctx: Ctx) -> ApiResult {
    ctx.store.delete_groups(ctx.org, None).await?;
    no_content()
}

pub(crate) async fn delete_group(ctx: Ctx) -> ApiResult {
    let n = ctx
        .store
        .delete_groups(ctx.org, Some(ctx.id("group")?))
        .await?;
    changed(n > 0, "group")?;
    no_content()
}

fn group_json(g: &Group) -> Value {
    json!({
        "id": g.id.to_string(),
        "name": g.name,
        "displayName": g.name,
        "type": 0,
        "partitionGlobalId": g.org.to_string(),
        "members": g.members.iter().map(|m| json!({ "identifier": m.to_string() })).collect::<Vec<_>>(),
    })
}

// ----- message templates -----

#[derive(Deserialize)]
pub(crate) struct TemplateBody {
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewTemplateBody {
    partition_global_id: Option<String>,
    name: String,
    value: String,
}

pub(crate) async fn find_templates(ctx: Ctx) -> ApiResult {
    if let Some(p) = ctx.query_first("partitionGlobalId") {
        ctx.partition(p)?;
    }
    let name = ctx.query_first("name");
    let t = ctx
        .store
        .find_message_templates(ctx.org, None, name)
        .await?;
    ok(t.iter().map(template_json).collect::<Vec<_>>())
}

pub(crate) async fn get_template(ctx: Ctx) -> ApiResult {
    let id = ctx.id("message template")?;
    let t = ctx
        .store
        .find_message_templates(ctx.org, Some(id), None)
        .await?;
    ok(template_json(found(t.first(), "message template")?))
}

/// Beyond the seed (which only reads and updates templates): a template
/// needs a name unique in the organization (409 otherwise) and a value.
pub(crate) async fn create_template(ctx: Ctx, Body(b): Body<NewTemplateBody>) -> ApiResult {
    if let Some(p) = &b.partition_global_id {
        ctx.partition(p)?;
    }
    check_name("name", &b.name)?;
    let t = ctx
        .store
        .create_message_template(ctx.org, b.name.trim(), &b.value)
        .await?;
    created(template_json(&t))
}

pub(crate) async fn update_template(ctx: Ctx, Body(b): Body<TemplateBody>) -> ApiResult {
    let id = ctx.id("message template")?;
    changed(
        ctx.store
            .update_message_template(ctx.org, id, &b.value)
            .await?,
        "message template",
    )?;
    get_template(ctx).await
}

pub(crate) async fn delete_template(ctx: Ctx) -> ApiResult {
    let id = ctx.id("message template")?;
    changed(
        ctx.store.delete_message_template(ctx.org, id).await?,
        "message template",
    )?;
    no_content()
}

fn template_json(t: &plugboard_store::MessageTemplate) -> Value {
    json!({ "id": t.id.to_string(), "name": t.name, "value": t.value })
}

// ----- robot accounts -----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RobotBody {
    partition_global_id: String,
    #[serde(default)]
    name: String,
    display_name: Option<String>,
}

pub(crate) async fn list_robots(ctx: Ctx) -> ApiResult {
    let r = ctx.store.list_robot_accounts(ctx.org, None).await?;
    ok(r.iter().map(robot_json).collect::<Vec<_>>())
}

pub(crate) async fn get_robot(ctx: Ctx) -> ApiResult {
    let id = ctx.id("robot account")?;
    let r = ctx.store.list_robot_accounts(ctx.org, Some(id)).await?;
    ok(robot_json(found(r.first(), "robot account")?))
}

pub(crate) async fn create_robot(ctx: Ctx, Body(b): Body<RobotBody>) -> ApiResult {
    ctx.partition(&b.partition_global_id)?;
    if b.name.trim().is_empty() {
        return Err(ApiError::BadRequest("`name` is required".into()));
    }
    let display = b.display_name.as_deref().unwrap_or(&b.name);
    let r = ctx
        .store
        .create_robot_account(ctx.org, &b.name, display)
        .await?;
    created(robot_json(&r))
}

pub(crate) async fn update_robot(ctx: Ctx, Body(b): Body<RobotBody>) -> ApiResult {
    ctx.partition(&b.partition_global_id)?;
    let id = ctx.id("robot account")?;
    let display = b.display_name.as_deref().unwrap_or(&b.name);
    changed(
        ctx.store.update_robot_account(ctx.org, id, display).await?,
        "robot account",
    )?;
    get_robot(ctx).await
}

pub(crate) async fn delete_robot(ctx: Ctx) -> ApiResult {
    let id = ctx.id("robot account")?;
    let n = ctx.store.delete_robot_accounts(ctx.org, Some(id)).await?;
    changed(n > 0, "robot account")?;
    no_content()
}

pub(crate) async fn delete_robots(ctx: Ctx) -> ApiResult {
    ctx.store.delete_robot_accounts(ctx.org, None).await?;
    no_content()
}

fn robot_json(r: &RobotAccount) -> Value {
    json!({
        "id": r.id.to_string(),
        "name": r.name,
        "displayName": r.display_name,
        "partitionGlobalId": r.org.to_string(),
    })
}

// ----- settings -----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SettingsBody {
    partition_global_id: String,
    settings: Vec<SettingItem>,
}

#[derive(Deserialize)]
pub(crate) struct SettingItem {
    key: String,
    value: String,
}

/// `GET /identity/api/Setting?partitionGlobalId=…&key=a&key=b` (no key: all).
pub(crate) async fn get_settings(ctx: Ctx) -> ApiResult {
    ctx.partition(ctx.query_first("partitionGlobalId").unwrap_or_default())?;
    let keys: Vec<String> = ctx
        .query()
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .collect();
    let settings = ctx.store.get_settings(ctx.org, &keys).await?;
    ok(settings_json(ctx.org, &settings))
}

pub(crate) async fn put_settings(ctx: Ctx, Body(b): Body<SettingsBody>) -> ApiResult {
    ctx.partition(&b.partition_global_id)?;
    let pairs: Vec<(String, String)> = b.settings.into_iter().map(|i| (i.key, i.value)).collect();
    ctx.store.put_settings(ctx.org, &pairs).await?;
    let keys: Vec<String> = pairs.into_iter().map(|p| p.0).collect();
    let settings = ctx.store.get_settings(ctx.org, &keys).await?;
    ok(settings_json(ctx.org, &settings))
}

fn settings_json(org: OrganizationId, settings: &[(String, String)]) -> Value {
    settings
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v, "partitionGlobalId": org.to_string() }))
        .collect()
}

// ----- users -----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserBody {
    partition_global_id: String,
    user_name: String,
    name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateUserBody {
    name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkBody {
    users: Vec<UserBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordBody {
    old_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteUsersBody {
    user_ids: Vec<String>,
}

pub(crate) async fn get_user(ctx: Ctx) -> ApiResult {
    let u = ctx.user(ctx.user_id()?).await?;
    ok(user_json(&u))
}

/// Create is an idempotent overwrite (seed 003): a user of the same
/// `userName` in the organization is deleted first (with its memberships,
/// roles and login attempts) and the new one gets a new id.
pub(crate) async fn create_user(ctx: Ctx, Body(b): Body<UserBody>) -> ApiResult {
    ctx.partition(&b.partition_global_id)?;
    let u = create_one(&ctx, &b).await?;
    created(user_json(&u))
}

/// Every entry is checked (partition, user name, password) before any is
/// written.
pub(crate) async fn bulk_create_users(ctx: Ctx, Body(b): Body<BulkBody>) -> ApiResult {
    for u in &b.users {
        ctx.partition(&u.partition_global_id)?;
        check_new_user(u)?;
    }
    let mut out = Vec::with_capacity(b.users.len());
    for u in &b.users {
        out.push(user_json(&create_one(&ctx, u).await?));
    }
    created(out)
}

/// A wrong old password is recorded as a failed login attempt and refused
/// with 400; the right one as a successful attempt. After
/// [`crate::MAX_FAILED_ATTEMPTS`] failures in [`crate::THROTTLE_WINDOW`]
/// every attempt is refused with 429 (and recorded as failed) until the
/// window passes.
pub(crate) async fn change_password(ctx: Ctx, Body(b): Body<PasswordBody>) -> ApiResult {
    let id = ctx.user_id()?;
    ctx.user(id).await?;
    if !password_attempt(&ctx.store, ctx.org, id, &b.old_password, "changepassword").await? {
        return Err(ApiError::BadRequest("the old password is wrong".into()));
    }
    check_password(&b.new_password)?;
    let hash = hash_secret_off_runtime(b.new_password).await?;
    ctx.store.set_user_password_hash(ctx.org, id, &hash).await?;
    no_content()
}

pub(crate) async fn update_user(ctx: Ctx, Body(b): Body<UpdateUserBody>) -> ApiResult {
    let id = ctx.user_id()?;
    let u = ctx.user(id).await?;
    let display = display_name(
        b.display_name.as_deref(),
        b.name.as_deref(),
        b.surname.as_deref(),
    )
    .unwrap_or(u.display_name);
    let email = b.email.or(u.email);
    changed(
        ctx.store
            .update_user_profile(ctx.org, id, &display, email.as_deref())
            .await?,
        "user",
    )?;
    get_user(ctx).await
}

/// Deletes the listed users; all must exist in the organization, or none
/// is deleted (404).
pub(crate) async fn delete_users(ctx: Ctx, Body(b): Body<DeleteUsersBody>) -> ApiResult {
    let mut ids = Vec::with_capacity(b.user_ids.len());
    for id in &b.user_ids {
        ids.push(ctx.user(uuid(id, "user")?.into()).await?.id);
    }
    for id in ids {
        ctx.store.delete_user(ctx.org, id).await?;
    }
    no_content()
}

pub(crate) async fn delete_user(ctx: Ctx) -> ApiResult {
    changed(
        ctx.store.delete_user(ctx.org, ctx.user_id()?).await?,
        "user",
    )?;
    no_content()
}

pub(crate) async fn login_attempts(ctx: Ctx) -> ApiResult {
    let id = ctx.user_id()?;
    ctx.user(id).await?;
    let attempts = ctx.store.list_login_attempts(ctx.org, id).await?;
    let out: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "id": a.id.to_string(),
                "userId": a.user.to_string(),
                "creationTime": a.created_at.unix_timestamp(),
                "clientId": a.client,
                "result": if a.succeeded { "Success" } else { "Failure" },
            })
        })
        .collect();
    ok(json!({ "totalCount": out.len(), "results": out }))
}

async fn create_one(ctx: &Ctx, b: &UserBody) -> ApiResult<User> {
    check_new_user(b)?;
    if let Some(old) = ctx.store.find_user(ctx.org, &b.user_name).await? {
        ctx.store.delete_user(ctx.org, old.id).await?;
    }
    let display = display_name(
        b.display_name.as_deref(),
        b.name.as_deref(),
        b.surname.as_deref(),
    )
    .unwrap_or_else(|| b.user_name.clone());
    let u = ctx
        .store
        .create_user(ctx.org, &b.user_name, &display, b.email.as_deref())
        .await?;
    if let Some(p) = &b.password {
        let hash = hash_secret_off_runtime(p.clone()).await?;
        ctx.store
            .set_user_password_hash(ctx.org, u.id, &hash)
            .await?;
    }
    Ok(u)
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.to_string(),
        "userName": u.user_name,
        "displayName": u.display_name,
        "email": u.email,
        "partitionGlobalId": u.org.to_string(),
    })
}

// ----- rules -----

/// Group members must be users or robot accounts of the organization.
async fn members_of(ctx: &Ctx, ids: &[String]) -> ApiResult<Vec<Uuid>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = uuid(id, "member")?;
        let user = ctx.store.get_user(ctx.org, id.into()).await?.is_some();
        if !user
            && ctx
                .store
                .list_robot_accounts(ctx.org, Some(id))
                .await?
                .is_empty()
        {
            return Err(ApiError::NotFound("member"));
        }
        out.push(id);
    }
    Ok(out)
}

fn display_name(
    display: Option<&str>,
    name: Option<&str>,
    surname: Option<&str>,
) -> Option<String> {
    if let Some(d) = display.filter(|d| !d.trim().is_empty()) {
        return Some(d.to_owned());
    }
    let full = [name, surname]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!full.trim().is_empty()).then_some(full)
}

/// A name field (`userName`, a template's `name`): 1 to 256 characters.
pub(crate) fn check_name(field: &str, n: &str) -> Result<(), ApiError> {
    if n.trim().is_empty() || n.len() > 256 {
        return Err(ApiError::BadRequest(format!(
            "`{field}` must be 1 to 256 characters"
        )));
    }
    Ok(())
}

fn check_new_user(b: &UserBody) -> Result<(), ApiError> {
    check_name("userName", &b.user_name)?;
    b.password.as_deref().map_or(Ok(()), check_password)
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if !crate::password_long_enough(p) {
        return Err(ApiError::BadRequest(format!(
            "a password needs at least {} characters",
            crate::MIN_PASSWORD_CHARS
        )));
    }
    Ok(())
}
