//! Handlers of the Platform Management API (seed 003). Each takes the
//! [`Caller`] the guard resolved and passes `caller.org` to every store
//! call; a `partitionGlobalId` (path or body) other than the caller's
//! organization is answered 404, as is any id the store does not find in
//! that organization. Parameters are extracted by position (see
//! `axum_path`). Rules live below the handlers.

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use plugboard_store::{AuditFilter, Group, OrganizationId, RobotAccount, User, UserId};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{DUMMY_HASH, hash_secret, verify_secret};
use crate::{ApiError, Caller, IdentityState};

type ApiResult<T = Response> = Result<T, ApiError>;

// ----- audit -----

pub(crate) async fn audit_query(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(org): Path<String>,
) -> ApiResult {
    partition(&c, &org)?;
    let events = s.store.list_audit(c.org, &AuditFilter::default()).await?;
    let results: Vec<Value> = events.iter().map(audit_json).collect();
    Ok(Json(json!({ "totalCount": results.len(), "results": results })).into_response())
}

pub(crate) async fn audit_download(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(org): Path<String>,
) -> ApiResult {
    partition(&c, &org)?;
    let events = s.store.list_audit(c.org, &AuditFilter::default()).await?;
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
                format!("attachment; filename=\"audit-{}.csv\"", c.org),
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

pub(crate) async fn list_groups(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(p): Path<String>,
) -> ApiResult {
    partition(&c, &p)?;
    let groups: Vec<Value> = s
        .store
        .list_groups(c.org)
        .await?
        .iter()
        .map(group_json)
        .collect();
    Ok(Json(groups).into_response())
}

pub(crate) async fn get_group(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path((p, id)): Path<(String, String)>,
) -> ApiResult {
    partition(&c, &p)?;
    let g = s.store.get_group(c.org, uuid(&id, "group")?).await?;
    Ok(Json(group_json(&g.ok_or(ApiError::NotFound("group"))?)).into_response())
}

pub(crate) async fn create_group(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Json(b): Json<GroupBody>,
) -> ApiResult {
    partition(&c, &b.partition_global_id)?;
    let members = members_of(&s, c.org, &b.members).await?;
    let g = s.store.create_group(c.org, &b.name, &members).await?;
    Ok((StatusCode::CREATED, Json(group_json(&g))).into_response())
}

pub(crate) async fn update_group(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Json(b): Json<GroupBody>,
) -> ApiResult {
    partition(&c, &b.partition_global_id)?;
    let id = uuid(&id, "group")?;
    let members = members_of(&s, c.org, &b.members).await?;
    if !s.store.update_group(c.org, id, &b.name, &members).await? {
        return Err(ApiError::NotFound("group"));
    }
    let g = s
        .store
        .get_group(c.org, id)
        .await?
        .ok_or(ApiError::NotFound("group"))?;
    Ok(Json(group_json(&g)).into_response())
}

pub(crate) async fn delete_groups(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(p): Path<String>,
) -> ApiResult {
    partition(&c, &p)?;
    s.store.delete_groups(c.org, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn delete_group(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path((p, id)): Path<(String, String)>,
) -> ApiResult {
    partition(&c, &p)?;
    if s.store
        .delete_groups(c.org, Some(uuid(&id, "group")?))
        .await?
        == 0
    {
        return Err(ApiError::NotFound("group"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
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

pub(crate) async fn find_templates(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = query_pairs(q.as_deref());
    if let Some(p) = first(&q, "partitionGlobalId") {
        partition(&c, p)?;
    }
    let name = first(&q, "name");
    let t = s.store.find_message_templates(c.org, None, name).await?;
    Ok(Json(t.iter().map(template_json).collect::<Vec<_>>()).into_response())
}

pub(crate) async fn get_template(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = uuid(&id, "message template")?;
    let t = s
        .store
        .find_message_templates(c.org, Some(id), None)
        .await?;
    let t = t.first().ok_or(ApiError::NotFound("message template"))?;
    Ok(Json(template_json(t)).into_response())
}

pub(crate) async fn update_template(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Json(b): Json<TemplateBody>,
) -> ApiResult {
    let id = uuid(&id, "message template")?;
    if !s.store.update_message_template(c.org, id, &b.value).await? {
        return Err(ApiError::NotFound("message template"));
    }
    get_template(State(s), Extension(c), Path(id.to_string())).await
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

pub(crate) async fn list_robots(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(p): Path<String>,
) -> ApiResult {
    partition(&c, &p)?;
    let r = s.store.list_robot_accounts(c.org, None).await?;
    Ok(Json(r.iter().map(robot_json).collect::<Vec<_>>()).into_response())
}

pub(crate) async fn get_robot(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path((p, id)): Path<(String, String)>,
) -> ApiResult {
    partition(&c, &p)?;
    let r = s
        .store
        .list_robot_accounts(c.org, Some(uuid(&id, "robot account")?))
        .await?;
    Ok(Json(robot_json(
        r.first().ok_or(ApiError::NotFound("robot account"))?,
    ))
    .into_response())
}

pub(crate) async fn create_robot(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Json(b): Json<RobotBody>,
) -> ApiResult {
    partition(&c, &b.partition_global_id)?;
    if b.name.trim().is_empty() {
        return Err(ApiError::BadRequest("`name` is required".into()));
    }
    let display = b.display_name.as_deref().unwrap_or(&b.name);
    let r = s
        .store
        .create_robot_account(c.org, &b.name, display)
        .await?;
    Ok((StatusCode::CREATED, Json(robot_json(&r))).into_response())
}

pub(crate) async fn update_robot(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Json(b): Json<RobotBody>,
) -> ApiResult {
    partition(&c, &b.partition_global_id)?;
    let id = uuid(&id, "robot account")?;
    let display = b.display_name.as_deref().unwrap_or(&b.name);
    if !s.store.update_robot_account(c.org, id, display).await? {
        return Err(ApiError::NotFound("robot account"));
    }
    let r = s.store.list_robot_accounts(c.org, Some(id)).await?;
    Ok(Json(robot_json(
        r.first().ok_or(ApiError::NotFound("robot account"))?,
    ))
    .into_response())
}

pub(crate) async fn delete_robot(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path((p, id)): Path<(String, String)>,
) -> ApiResult {
    partition(&c, &p)?;
    let id = uuid(&id, "robot account")?;
    if s.store.delete_robot_accounts(c.org, Some(id)).await? == 0 {
        return Err(ApiError::NotFound("robot account"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn delete_robots(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(p): Path<String>,
) -> ApiResult {
    partition(&c, &p)?;
    s.store.delete_robot_accounts(c.org, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
pub(crate) async fn get_settings(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = query_pairs(q.as_deref());
    partition(&c, first(&q, "partitionGlobalId").unwrap_or_default())?;
    let keys: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .collect();
    let settings = s.store.get_settings(c.org, &keys).await?;
    Ok(Json(settings_json(c.org, &settings)).into_response())
}

pub(crate) async fn put_settings(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Json(b): Json<SettingsBody>,
) -> ApiResult {
    partition(&c, &b.partition_global_id)?;
    let pairs: Vec<(String, String)> = b.settings.into_iter().map(|i| (i.key, i.value)).collect();
    s.store.put_settings(c.org, &pairs).await?;
    let keys: Vec<String> = pairs.into_iter().map(|p| p.0).collect();
    let settings = s.store.get_settings(c.org, &keys).await?;
    Ok(Json(settings_json(c.org, &settings)).into_response())
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

pub(crate) async fn get_user(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = user_id(&id)?;
    let u = s
        .store
        .get_user(c.org, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(Json(user_json(&u)).into_response())
}

/// Create is an idempotent overwrite (seed 003): a user of the same
/// `userName` in the organization is deleted first (with its memberships,
/// roles and login attempts) and the new one gets a new id.
pub(crate) async fn create_user(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Json(b): Json<UserBody>,
) -> ApiResult {
    partition(&c, &b.partition_global_id)?;
    let u = create_one(&s, c.org, &b).await?;
    Ok((StatusCode::CREATED, Json(user_json(&u))).into_response())
}

/// Every entry is checked (partition, user name) before any is written.
pub(crate) async fn bulk_create_users(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Json(b): Json<BulkBody>,
) -> ApiResult {
    for u in &b.users {
        partition(&c, &u.partition_global_id)?;
        check_user_name(&u.user_name)?;
    }
    let mut out = Vec::with_capacity(b.users.len());
    for u in &b.users {
        out.push(user_json(&create_one(&s, c.org, u).await?));
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Failed attempts a user may make in [`THROTTLE_WINDOW`] before
/// `changepassword` answers 429 without checking the password.
pub(crate) const MAX_FAILED_ATTEMPTS: i64 = 5;
/// The throttling window.
pub(crate) const THROTTLE_WINDOW: time::Duration = time::Duration::minutes(15);

/// A wrong old password is recorded as a failed login attempt and refused
/// with 400; the right one as a successful attempt. After
/// [`MAX_FAILED_ATTEMPTS`] failures in [`THROTTLE_WINDOW`] every attempt is
/// refused with 429 (and recorded as failed) until the window passes.
pub(crate) async fn change_password(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Json(b): Json<PasswordBody>,
) -> ApiResult {
    let id = user_id(&id)?;
    s.store
        .get_user(c.org, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let since = time::OffsetDateTime::now_utc() - THROTTLE_WINDOW;
    if s.store
        .failed_login_attempts_since(c.org, id, since)
        .await?
        >= MAX_FAILED_ATTEMPTS
    {
        s.store
            .record_login_attempt(c.org, id, false, "changepassword (throttled)")
            .await?;
        return Err(ApiError::Throttled);
    }
    let stored = s.store.user_password_hash(c.org, id).await?;
    let ok = verify_secret(&b.old_password, stored.as_deref().unwrap_or(&DUMMY_HASH))
        && stored.is_some();
    s.store
        .record_login_attempt(c.org, id, ok, "changepassword")
        .await?;
    if !ok {
        return Err(ApiError::BadRequest("the old password is wrong".into()));
    }
    check_password(&b.new_password)?;
    s.store
        .set_user_password_hash(c.org, id, &hash_secret(&b.new_password))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn update_user(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Json(b): Json<UpdateUserBody>,
) -> ApiResult {
    let id = user_id(&id)?;
    let u = s
        .store
        .get_user(c.org, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let display = display_name(
        b.display_name.as_deref(),
        b.name.as_deref(),
        b.surname.as_deref(),
    )
    .unwrap_or(u.display_name);
    let email = b.email.or(u.email);
    if !s
        .store
        .update_user_profile(c.org, id, &display, email.as_deref())
        .await?
    {
        return Err(ApiError::NotFound("user"));
    }
    get_user(State(s), Extension(c), Path(id.to_string())).await
}

/// Deletes the listed users; all must exist in the organization, or none
/// is deleted (404).
pub(crate) async fn delete_users(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Json(b): Json<DeleteUsersBody>,
) -> ApiResult {
    let mut ids = Vec::with_capacity(b.user_ids.len());
    for id in &b.user_ids {
        let id = user_id(id)?;
        s.store
            .get_user(c.org, id)
            .await?
            .ok_or(ApiError::NotFound("user"))?;
        ids.push(id);
    }
    for id in ids {
        s.store.delete_user(c.org, id).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn delete_user(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    if !s.store.delete_user(c.org, user_id(&id)?).await? {
        return Err(ApiError::NotFound("user"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn login_attempts(
    State(s): State<IdentityState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = user_id(&id)?;
    s.store
        .get_user(c.org, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let attempts = s.store.list_login_attempts(c.org, id).await?;
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
    Ok(Json(json!({ "totalCount": out.len(), "results": out })).into_response())
}

async fn create_one(s: &IdentityState, org: OrganizationId, b: &UserBody) -> ApiResult<User> {
    check_user_name(&b.user_name)?;
    if let Some(p) = &b.password {
        check_password(p)?;
    }
    if let Some(old) = s.store.find_user(org, &b.user_name).await? {
        s.store.delete_user(org, old.id).await?;
    }
    let display = display_name(
        b.display_name.as_deref(),
        b.name.as_deref(),
        b.surname.as_deref(),
    )
    .unwrap_or_else(|| b.user_name.clone());
    let u = s
        .store
        .create_user(org, &b.user_name, &display, b.email.as_deref())
        .await?;
    if let Some(p) = &b.password {
        s.store
            .set_user_password_hash(org, u.id, &hash_secret(p))
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

/// A partition id must be the caller's organization; anything else is 404.
fn partition(c: &Caller, id: &str) -> Result<(), ApiError> {
    match Uuid::parse_str(id) {
        Ok(u) if u == c.org.as_uuid() => Ok(()),
        _ => Err(ApiError::NotFound("partition")),
    }
}

/// An unparseable id is as unknown as a missing one.
fn uuid(id: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(what))
}

fn user_id(id: &str) -> Result<UserId, ApiError> {
    uuid(id, "user").map(UserId)
}

/// Group members must be users or robot accounts of the organization.
async fn members_of(
    s: &IdentityState,
    org: OrganizationId,
    ids: &[String],
) -> ApiResult<Vec<Uuid>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = uuid(id, "member")?;
        let user = s.store.get_user(org, UserId(id)).await?.is_some();
        if !user && s.store.list_robot_accounts(org, Some(id)).await?.is_empty() {
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

fn check_user_name(n: &str) -> Result<(), ApiError> {
    if n.trim().is_empty() || n.len() > 256 {
        return Err(ApiError::BadRequest(
            "`userName` must be 1 to 256 characters".into(),
        ));
    }
    Ok(())
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if p.chars().count() < 8 {
        return Err(ApiError::BadRequest(
            "a password needs at least 8 characters".into(),
        ));
    }
    Ok(())
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn first<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
