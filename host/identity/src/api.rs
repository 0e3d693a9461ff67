//! Handlers of the Platform Management API (seed 003), with their body and
//! answer types (serde and `utoipa::ToSchema` both, so the OpenAPI
//! document is the code). Each handler starts from the [`Ctx`] of the
//! request, which has already checked a path `partitionGlobalId` against
//! the caller's organization (or one of its tenants); a body's
//! `partitionGlobalId` is checked with [`Ctx::partition`], and every store
//! call passes `ctx.org`, so an id of another organization is 404. Rules
//! live below the handlers: built-in groups (`Administrators`,
//! `Everyone`) and message templates cannot be deleted, a built-in group
//! cannot be renamed, and `Everyone`'s members are every user.

use axum::http::header;
use axum::response::IntoResponse;
use plugboard_store::{AuditFilter, EVERYONE, Group, RobotAccount, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ApiError;
use crate::auth::hash_secret_off_runtime;
use crate::request::{ApiResult, Body, Ctx, changed, created, found, no_content, ok, uuid};
use crate::sign_in::password_attempt;

// ----- audit -----

/// `GET AuditQuery/{organizationId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmAuditPage)]
pub(crate) struct AuditPage {
    total_count: usize,
    results: Vec<AuditEventOut>,
}

/// One audit event.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmAuditEvent)]
pub(crate) struct AuditEventOut {
    id: String,
    /// Unix seconds.
    created_on: i64,
    /// `app:<id>` for an external application.
    actor: String,
    /// Method and path.
    action: String,
    /// `success` or `failure`.
    outcome: String,
    details: Value,
}

pub(crate) async fn audit_query(ctx: Ctx) -> ApiResult {
    let events = ctx
        .store
        .list_audit(ctx.org, &AuditFilter::default())
        .await?;
    let results: Vec<AuditEventOut> = events
        .iter()
        .map(|e| AuditEventOut {
            id: e.id.to_string(),
            created_on: e.created_at.unix_timestamp(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            outcome: e.outcome.clone(),
            details: e.details.clone(),
        })
        .collect();
    ok(AuditPage {
        total_count: results.len(),
        results,
    })
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

// ----- groups -----

/// `POST Group`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmNewGroup)]
pub(crate) struct NewGroup {
    /// The organization's id, or one of its tenants'.
    partition_global_id: String,
    name: String,
    /// User or robot-account ids.
    #[serde(default)]
    members: Vec<String>,
}

/// `PUT Group/{groupId}`: what is left out is kept.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmGroupUpdate)]
pub(crate) struct GroupUpdate {
    /// The organization's id, or one of its tenants'.
    partition_global_id: String,
    /// The new name (a built-in group keeps its own).
    name: Option<String>,
    /// The new members (user or robot-account ids); absent: kept.
    members: Option<Vec<String>>,
}

/// A group.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmGroup)]
pub(crate) struct GroupOut {
    id: String,
    name: String,
    display_name: String,
    /// 0: local (the organization's), 1: built-in.
    r#type: u8,
    partition_global_id: String,
    members: Vec<MemberOut>,
}

/// A member of a group.
#[derive(Serialize, ToSchema)]
#[schema(as = PmGroupMember)]
pub(crate) struct MemberOut {
    /// A user or robot-account id.
    identifier: String,
}

pub(crate) async fn list_groups(ctx: Ctx) -> ApiResult {
    let groups = ctx.store.list_groups(ctx.org).await?;
    ok(groups.iter().map(group_out).collect::<Vec<_>>())
}

pub(crate) async fn get_group(ctx: Ctx) -> ApiResult {
    ok(group_out(&group(&ctx).await?))
}

pub(crate) async fn create_group(ctx: Ctx, Body(b): Body<NewGroup>) -> ApiResult {
    ctx.partition(&b.partition_global_id).await?;
    check_name("name", &b.name)?;
    let members = members_of(&ctx, &b.members).await?;
    let g = ctx
        .store
        .create_group(ctx.org, b.name.trim(), &members)
        .await?;
    created(group_out(&g))
}

/// Renames the group and, when `members` is given, replaces them; a
/// built-in group keeps its name, and `Everyone`'s members are every user.
pub(crate) async fn update_group(ctx: Ctx, Body(b): Body<GroupUpdate>) -> ApiResult {
    ctx.partition(&b.partition_global_id).await?;
    let g = group(&ctx).await?;
    let name = match b.name.as_deref().map(str::trim) {
        Some(n) if n != g.name => {
            check_name("name", n)?;
            if g.builtin.is_some() {
                return Err(ApiError::Conflict(format!(
                    "`{}` is a built-in group; it keeps its name",
                    g.name
                )));
            }
            n.to_owned()
        }
        _ => g.name.clone(),
    };
    let members = match &b.members {
        Some(_) if g.builtin.as_deref() == Some(EVERYONE) => {
            return Err(ApiError::Conflict(format!(
                "the members of the built-in group `{}` are every user; they cannot be set",
                g.name
            )));
        }
        Some(ids) => Some(members_of(&ctx, ids).await?),
        None => None,
    };
    changed(
        ctx.store
            .update_group(ctx.org, g.id, &name, members.as_deref())
            .await?,
        "group",
    )?;
    get_group(ctx).await
}

/// Deletes every local group; the built-in ones stay (seed 003:
/// "supprime tous les groupes locaux").
pub(crate) async fn delete_groups(ctx: Ctx) -> ApiResult {
    ctx.store.delete_groups(ctx.org, None).await?;
    no_content()
}

pub(crate) async fn delete_group(ctx: Ctx) -> ApiResult {
    let g = group(&ctx).await?;
    if g.builtin.is_some() {
        return Err(built_in("group", &g.name));
    }
    let n = ctx.store.delete_groups(ctx.org, Some(g.id)).await?;
    changed(n > 0, "group")?;
    no_content()
}

/// The group the route names, or 404.
async fn group(ctx: &Ctx) -> ApiResult<Group> {
    found(
        ctx.store.get_group(ctx.org, ctx.id("group")?).await?,
        "group",
    )
}

fn group_out(g: &Group) -> GroupOut {
    GroupOut {
        id: g.id.to_string(),
        name: g.name.clone(),
        display_name: g.name.clone(),
        r#type: u8::from(g.builtin.is_some()),
        partition_global_id: g.org.to_string(),
        members: g
            .members
            .iter()
            .map(|m| MemberOut {
                identifier: m.to_string(),
            })
            .collect(),
    }
}

// ----- message templates -----

/// `PUT MessageTemplate/{templateId}`.
#[derive(Deserialize, ToSchema)]
#[schema(as = PmTemplateUpdate)]
pub(crate) struct TemplateUpdate {
    value: String,
}

/// `POST MessageTemplate` (beyond the seed).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmNewTemplate)]
pub(crate) struct NewTemplate {
    /// The organization's id, or one of its tenants' (optional).
    partition_global_id: Option<String>,
    name: String,
    value: String,
}

/// A message template.
#[derive(Serialize, ToSchema)]
#[schema(as = PmMessageTemplate)]
pub(crate) struct TemplateOut {
    id: String,
    name: String,
    value: String,
}

pub(crate) async fn find_templates(ctx: Ctx) -> ApiResult {
    if let Some(p) = ctx.query_first("partitionGlobalId") {
        ctx.partition(p).await?;
    }
    let name = ctx.query_first("name");
    let t = ctx
        .store
        .find_message_templates(ctx.org, None, name)
        .await?;
    ok(t.iter().map(template_out).collect::<Vec<_>>())
}

pub(crate) async fn get_template(ctx: Ctx) -> ApiResult {
    ok(template_out(&template(&ctx).await?))
}

/// Beyond the seed (which only reads and updates templates): a template
/// needs a name unique in the organization (409 otherwise) and a value.
pub(crate) async fn create_template(ctx: Ctx, Body(b): Body<NewTemplate>) -> ApiResult {
    if let Some(p) = &b.partition_global_id {
        ctx.partition(p).await?;
    }
    check_name("name", &b.name)?;
    let t = ctx
        .store
        .create_message_template(ctx.org, b.name.trim(), &b.value)
        .await?;
    created(template_out(&t))
}

pub(crate) async fn update_template(ctx: Ctx, Body(b): Body<TemplateUpdate>) -> ApiResult {
    let id = ctx.id("message template")?;
    changed(
        ctx.store
            .update_message_template(ctx.org, id, &b.value)
            .await?,
        "message template",
    )?;
    get_template(ctx).await
}

/// A default template (made with the organization) can be edited, not
/// deleted.
pub(crate) async fn delete_template(ctx: Ctx) -> ApiResult {
    let t = template(&ctx).await?;
    if t.builtin.is_some() {
        return Err(built_in("message template", &t.name));
    }
    changed(
        ctx.store.delete_message_template(ctx.org, t.id).await?,
        "message template",
    )?;
    no_content()
}

/// The template the route names, or 404.
async fn template(ctx: &Ctx) -> ApiResult<plugboard_store::MessageTemplate> {
    let id = ctx.id("message template")?;
    let t = ctx
        .store
        .find_message_templates(ctx.org, Some(id), None)
        .await?;
    found(t.into_iter().next(), "message template")
}

fn template_out(t: &plugboard_store::MessageTemplate) -> TemplateOut {
    TemplateOut {
        id: t.id.to_string(),
        name: t.name.clone(),
        value: t.value.clone(),
    }
}

// ----- robot accounts -----

/// `POST RobotAccount`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmNewRobotAccount)]
pub(crate) struct NewRobot {
    /// The organization's id, or one of its tenants'.
    partition_global_id: String,
    name: String,
    /// Default: the name.
    display_name: Option<String>,
}

/// `PUT RobotAccount/{robotAccountId}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmRobotAccountUpdate)]
pub(crate) struct RobotUpdate {
    /// The organization's id, or one of its tenants'.
    partition_global_id: String,
    /// The new display name; absent: kept.
    display_name: Option<String>,
}

/// A robot account.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmRobotAccount)]
pub(crate) struct RobotOut {
    id: String,
    name: String,
    display_name: String,
    partition_global_id: String,
}

pub(crate) async fn list_robots(ctx: Ctx) -> ApiResult {
    let r = ctx.store.list_robot_accounts(ctx.org, None).await?;
    ok(r.iter().map(robot_out).collect::<Vec<_>>())
}

pub(crate) async fn get_robot(ctx: Ctx) -> ApiResult {
    ok(robot_out(&robot(&ctx).await?))
}

pub(crate) async fn create_robot(ctx: Ctx, Body(b): Body<NewRobot>) -> ApiResult {
    ctx.partition(&b.partition_global_id).await?;
    check_name("name", &b.name)?;
    let display = b.display_name.as_deref().unwrap_or(&b.name);
    let r = ctx
        .store
        .create_robot_account(ctx.org, b.name.trim(), display)
        .await?;
    created(robot_out(&r))
}

pub(crate) async fn update_robot(ctx: Ctx, Body(b): Body<RobotUpdate>) -> ApiResult {
    ctx.partition(&b.partition_global_id).await?;
    let r = robot(&ctx).await?;
    let display = b.display_name.unwrap_or(r.display_name);
    changed(
        ctx.store
            .update_robot_account(ctx.org, r.id, &display)
            .await?,
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

/// The robot account the route names, or 404.
async fn robot(ctx: &Ctx) -> ApiResult<RobotAccount> {
    let id = ctx.id("robot account")?;
    let r = ctx.store.list_robot_accounts(ctx.org, Some(id)).await?;
    found(r.into_iter().next(), "robot account")
}

fn robot_out(r: &RobotAccount) -> RobotOut {
    RobotOut {
        id: r.id.to_string(),
        name: r.name.clone(),
        display_name: r.display_name.clone(),
        partition_global_id: r.org.to_string(),
    }
}

// ----- settings -----

/// `PUT Setting`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmSettingsUpdate)]
pub(crate) struct SettingsUpdate {
    /// The organization's id, or one of its tenants'.
    partition_global_id: String,
    settings: Vec<SettingItem>,
}

/// A setting to write.
#[derive(Deserialize, ToSchema)]
#[schema(as = PmSettingItem)]
pub(crate) struct SettingItem {
    key: String,
    value: String,
}

/// A setting.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmSetting)]
pub(crate) struct SettingOut {
    key: String,
    value: String,
    partition_global_id: String,
}

/// `GET /identity/api/Setting?partitionGlobalId=…&key=a&key=b` (no key: all).
/// Settings are the organization's: a tenant id as partition reads them too.
pub(crate) async fn get_settings(ctx: Ctx) -> ApiResult {
    let partition = ctx.query_first("partitionGlobalId").unwrap_or_default();
    ctx.partition(partition).await?;
    let keys: Vec<String> = ctx
        .query()
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .collect();
    let settings = ctx.store.get_settings(ctx.org, &keys).await?;
    ok(settings_out(partition, settings))
}

pub(crate) async fn put_settings(ctx: Ctx, Body(b): Body<SettingsUpdate>) -> ApiResult {
    ctx.partition(&b.partition_global_id).await?;
    if let Some(i) = b.settings.iter().find(|i| i.key.trim().is_empty()) {
        return Err(ApiError::BadRequest(format!(
            "a setting needs a `key` (the one with value `{}` has none)",
            i.value
        )));
    }
    let pairs: Vec<(String, String)> = b.settings.into_iter().map(|i| (i.key, i.value)).collect();
    ctx.store.put_settings(ctx.org, &pairs).await?;
    let keys: Vec<String> = pairs.into_iter().map(|p| p.0).collect();
    let settings = ctx.store.get_settings(ctx.org, &keys).await?;
    ok(settings_out(&b.partition_global_id, settings))
}

/// Settings as the caller named their partition.
fn settings_out(partition: &str, settings: Vec<(String, String)>) -> Vec<SettingOut> {
    settings
        .into_iter()
        .map(|(key, value)| SettingOut {
            key,
            value,
            partition_global_id: partition.to_owned(),
        })
        .collect()
}

// ----- users -----

/// `POST User` (and each entry of `BulkCreate`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmNewUser)]
pub(crate) struct NewUser {
    /// The organization's id, or one of its tenants'.
    partition_global_id: String,
    /// 1 to 256 characters; a user of that name is overwritten.
    user_name: String,
    name: Option<String>,
    surname: Option<String>,
    /// Default: name and surname, else the user name.
    display_name: Option<String>,
    email: Option<String>,
    /// At least 8 characters; stored as an argon2 hash.
    password: Option<String>,
}

/// `PUT User/{userId}`: what is left out is kept.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmUserUpdate)]
pub(crate) struct UserUpdate {
    name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
}

/// `POST User/BulkCreate`.
#[derive(Deserialize, ToSchema)]
#[schema(as = PmBulkUsers)]
pub(crate) struct BulkUsers {
    users: Vec<NewUser>,
}

/// `POST User/{userId}/changepassword`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmPasswordChange)]
pub(crate) struct PasswordChange {
    old_password: String,
    /// At least 8 characters.
    new_password: String,
}

/// `DELETE User`: the users to delete.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmDeleteUsers)]
pub(crate) struct DeleteUsers {
    user_ids: Vec<String>,
}

/// A user.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmUser)]
pub(crate) struct UserOut {
    id: String,
    user_name: String,
    display_name: String,
    email: Option<String>,
    partition_global_id: String,
}

/// `GET User/{userId}/loginAttempts`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmLoginAttemptsPage)]
pub(crate) struct LoginAttemptsPage {
    total_count: usize,
    results: Vec<LoginAttemptOut>,
}

/// One sign-in attempt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmLoginAttempt)]
pub(crate) struct LoginAttemptOut {
    id: String,
    user_id: String,
    /// Unix seconds.
    creation_time: i64,
    /// Where it came from (not a secret).
    client_id: String,
    /// `Success` only when the user got in.
    result: LoginResult,
    /// Why a failure failed: `wrong_password`, `throttled`, `no_tenant`.
    reason: Option<String>,
}

/// A sign-in attempt's result.
#[derive(Serialize, ToSchema)]
#[schema(as = PmLoginResult)]
pub(crate) enum LoginResult {
    Success,
    Failure,
}

pub(crate) async fn get_user(ctx: Ctx) -> ApiResult {
    let u = ctx.user(ctx.user_id()?).await?;
    ok(user_out(&u))
}

/// Create is an idempotent overwrite (seed 003): a user of the same
/// `userName` in the organization is deleted first (with its memberships,
/// roles and login attempts) and the new one gets a new id.
pub(crate) async fn create_user(ctx: Ctx, Body(b): Body<NewUser>) -> ApiResult {
    ctx.partition(&b.partition_global_id).await?;
    let u = create_one(&ctx, &b).await?;
    created(user_out(&u))
}

/// Every entry is checked (partition, user name, password) before any is
/// written.
pub(crate) async fn bulk_create_users(ctx: Ctx, Body(b): Body<BulkUsers>) -> ApiResult {
    for u in &b.users {
        ctx.partition(&u.partition_global_id).await?;
        check_new_user(u)?;
    }
    let mut out = Vec::with_capacity(b.users.len());
    for u in &b.users {
        out.push(user_out(&create_one(&ctx, u).await?));
    }
    created(out)
}

/// A wrong old password is recorded as a failed login attempt and refused
/// with 400; the right one as a successful attempt. After
/// [`crate::MAX_FAILED_ATTEMPTS`] failures in [`crate::THROTTLE_WINDOW`]
/// every attempt is refused with 429 (and recorded as failed) until the
/// window passes.
pub(crate) async fn change_password(ctx: Ctx, Body(b): Body<PasswordChange>) -> ApiResult {
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

pub(crate) async fn update_user(ctx: Ctx, Body(b): Body<UserUpdate>) -> ApiResult {
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

/// Deletes the listed users; all must exist in the organization (or none
/// is deleted: 404), and none may still own connections (or none is
/// deleted: 409).
///
/// Seed 003 says this route "supprime tous les utilisateurs" (deletes all
/// users). Deleting every user of an organization at once — its
/// administrators included, so nobody could sign in to undo it — because
/// a body went missing is too dangerous to do on that reading: without a
/// body the answer is a 400 naming the body it needs, and deleting
/// everyone means listing everyone.
pub(crate) async fn delete_users(ctx: Ctx, body: Option<Body<DeleteUsers>>) -> ApiResult {
    let Some(Body(b)) = body else {
        return Err(ApiError::BadRequest(
            "`DELETE /identity/api/User` deletes the users listed in its JSON body, \
             `{\"userIds\": [\"<id>\", …]}`; nothing was deleted. To delete every user, \
             list them all (their ids are in `GET /odata/Users`)"
                .into(),
        ));
    };
    let mut ids = Vec::with_capacity(b.user_ids.len());
    for id in &b.user_ids {
        ids.push(ctx.user(uuid(id, "user")?.into()).await?.id);
    }
    ctx.store.delete_users(ctx.org, &ids).await?;
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
    let results: Vec<LoginAttemptOut> = attempts
        .into_iter()
        .map(|a| LoginAttemptOut {
            id: a.id.to_string(),
            user_id: a.user.to_string(),
            creation_time: a.created_at.unix_timestamp(),
            client_id: a.client,
            result: if a.succeeded {
                LoginResult::Success
            } else {
                LoginResult::Failure
            },
            reason: a.reason,
        })
        .collect();
    ok(LoginAttemptsPage {
        total_count: results.len(),
        results,
    })
}

async fn create_one(ctx: &Ctx, b: &NewUser) -> ApiResult<User> {
    check_new_user(b)?;
    let user_name = b.user_name.trim();
    if let Some(old) = ctx.store.find_user(ctx.org, user_name).await? {
        ctx.store.delete_user(ctx.org, old.id).await?;
    }
    let display = display_name(
        b.display_name.as_deref(),
        b.name.as_deref(),
        b.surname.as_deref(),
    )
    .unwrap_or_else(|| user_name.to_owned());
    let u = ctx
        .store
        .create_user(ctx.org, user_name, &display, b.email.as_deref())
        .await?;
    if let Some(p) = &b.password {
        let hash = hash_secret_off_runtime(p.clone()).await?;
        ctx.store
            .set_user_password_hash(ctx.org, u.id, &hash)
            .await?;
    }
    Ok(u)
}

fn user_out(u: &User) -> UserOut {
    UserOut {
        id: u.id.to_string(),
        user_name: u.user_name.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        partition_global_id: u.org.to_string(),
    }
}

// ----- rules -----

/// 409 for a delete of a built-in.
pub(crate) fn built_in(what: &str, name: &str) -> ApiError {
    ApiError::Conflict(format!(
        "`{name}` is a built-in {what} every organization has; it cannot be deleted"
    ))
}

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

/// A name field (`userName`, a group's or template's `name`): 1 to 256
/// characters, not blank.
pub(crate) fn check_name(field: &str, n: &str) -> Result<(), ApiError> {
    if n.trim().is_empty() || n.len() > 256 {
        return Err(ApiError::BadRequest(format!(
            "`{field}` must be 1 to 256 characters"
        )));
    }
    Ok(())
}

fn check_new_user(b: &NewUser) -> Result<(), ApiError> {
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
