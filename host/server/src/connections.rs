//! Connections: create, list, get, edit, set default, check, reconnect,
//! delete, references, and invoking operations through them (seeds 000,
//! 001, 002).
//!
//! Rules kept here:
//! - a connection lives in one folder; a caller sees it only through a
//!   folder they may see, and anything else is 404 (existence is not
//!   revealed across folders or tenants);
//! - exactly one default per connector per folder while the folder has any
//!   connection to that connector;
//! - connector, account and auth type are read-only after creation;
//! - nothing is written when a request is refused (credentials are checked
//!   with the connector before the connection is stored);
//! - credentials go into the repository's secret slots and are never
//!   returned or logged.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use plugboard_manifest::{AuthKind, FieldKind, Manifest, missing_scopes};
use plugboard_runtime::{CallContext, CallError, ConnectorError, Credential, RuntimeError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::config::Redacted;
use crate::connectors::{ConnectorEntry, connector_not_found};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::etag;
use crate::identity::Caller;
use crate::model::*;
use crate::repo::{ConnectionEdit, ConnectionFilter, ConnectionForUse, Recency, RepoError};
use crate::services;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(get_connection, edit_connection, delete_connection))
        .routes(routes!(set_default))
        .routes(routes!(check_connection))
        .routes(routes!(reconnect))
        .routes(routes!(list_references, add_reference))
        .routes(routes!(remove_reference))
        .routes(routes!(invoke))
        .routes(routes!(invoke_default))
}

// ---------------------------------------------------------------------------
// Types

/// A connection as the API returns it. Never carries a credential.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    pub id: ConnectionId,
    pub name: String,
    pub connector: String,
    pub auth_kind: String,
    pub folder_id: FolderId,
    pub account: Option<Account>,
    pub status: ConnectionStatus,
    /// Why the connection is broken (seed 001 "Message").
    pub message: Option<String>,
    /// The provider's error text (seed 001 "Provider error message").
    pub provider_error: Option<String>,
    pub polling_frequency_seconds: Option<u32>,
    pub is_default: bool,
    pub granted_scopes: Vec<String>,
    /// Non-secret config values.
    pub config: BTreeMap<String, String>,
    pub created_by: UserId,
    pub updated_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped by every change. Send it as `If-Match: "<version>"` (the
    /// `ETag` a GET returns) to edit only if nobody changed it since.
    pub version: i64,
}

impl From<&Connection> for ConnectionView {
    fn from(c: &Connection) -> Self {
        ConnectionView {
            id: c.id,
            name: c.name.clone(),
            connector: c.connector_id.clone(),
            auth_kind: c.auth_kind.to_string(),
            folder_id: c.folder_id,
            account: c.account.clone(),
            status: c.status,
            message: c.status_message.clone(),
            provider_error: c.provider_error.clone(),
            polling_frequency_seconds: c.polling_frequency_seconds,
            is_default: c.is_default,
            granted_scopes: c.granted_scopes.clone(),
            config: c.config.iter().cloned().collect(),
            created_by: c.created_by,
            updated_by: c.updated_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

/// A warning that does not stop the request (e.g. Zoom's one session per
/// app and user, seed 002).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// Connector id, e.g. `pat` or `zoom`.
    pub connector: String,
    /// Auth type; may be omitted when the connector offers only one.
    pub auth_kind: Option<String>,
    /// Folder to create it in; defaults to the caller's personal workspace
    /// (the folder the request is started from, when the client sends it).
    pub folder_id: Option<FolderId>,
    /// Display name; defaults to the connector name and account.
    pub name: Option<String>,
    /// Non-secret config fields the connector declares (base URL, ...).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Credential fields for the auth type: `token` (PAT); `client_id`,
    /// `client_secret` (BYOA, client credentials); `cert_pem`, `key_pem`
    /// (client certificate). Stored encrypted, never returned.
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
    /// Scopes to request (OAuth kinds); defaults to the connector's.
    pub scopes: Option<Vec<String>>,
    pub polling_frequency_seconds: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedConnection {
    pub connection: ConnectionView,
    /// For OAuth authorization-code kinds: send the person here; the
    /// connection completes on `/provisioning_/callback`.
    pub authorize_url: Option<String>,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this folder.
    pub folder_id: Option<FolderId>,
    /// Only this connector.
    pub connector: Option<String>,
    /// `pending`, `connected` or `disconnected`.
    pub status: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Items to skip.
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionPage {
    pub items: Vec<ConnectionView>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
}

/// Editable fields (seed 001): name and polling frequency. Connector,
/// account and auth type are read-only.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EditConnection {
    pub name: Option<String>,
    /// Seconds between polls of this connection's triggers; `null` resets
    /// to each trigger's default.
    pub polling_frequency_seconds: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    /// Whether the connector accepted the credential.
    pub ok: bool,
    /// What to tell the person (the status banner of seed 001).
    pub message: String,
    pub connection: ConnectionView,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconnectRequest {
    /// New credential fields (as for create). For OAuth kinds, omit and
    /// follow the returned authorize URL.
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
    /// Scopes to request (OAuth kinds).
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Delete even though something references the connection.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvokeResult {
    pub connection_id: ConnectionId,
    /// The connector's output, passed through as the connector wrote it
    /// (checked to be JSON, never re-encoded).
    #[schema(value_type = Object)]
    pub output: Box<RawValue>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeByConnector {
    pub connector: String,
    pub operation: String,
    /// The operation's input; absent means `null`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: Option<Box<RawValue>>,
    /// Folder whose default connection is used; defaults to the personal workspace.
    pub folder_id: Option<FolderId>,
    /// Use this connection instead of the folder's default.
    pub connection_id: Option<ConnectionId>,
}

// ---------------------------------------------------------------------------
// Lookups shared by the handlers

/// The folder `id` if the caller may see it; otherwise 404.
pub async fn visible_folder(state: &AppState, caller: &Caller, id: FolderId) -> ApiResult<Folder> {
    match state
        .repo
        .folder(caller.tenant_id, id)
        .await
        .map_err(ApiError::internal)?
    {
        Some(f) if f.visible_to(caller) => Ok(f),
        _ => Err(ApiError::not_found(
            "folder_not_found",
            format!("no folder `{id}` that you can access; `GET /api/v1/folders` lists yours"),
        )),
    }
}

async fn default_folder(state: &AppState, caller: &Caller) -> ApiResult<Folder> {
    state
        .repo
        .personal_folder(caller.tenant_id, caller.user_id)
        .await
        .map_err(ApiError::internal)
}

/// The `connector` connections in `folder`.
async fn folder_connections(
    state: &AppState,
    caller: &Caller,
    folder: FolderId,
    connector: &str,
) -> ApiResult<Vec<Connection>> {
    state
        .repo
        .connections(
            caller.tenant_id,
            &ConnectionFilter {
                folders: Some(vec![folder]),
                connector_id: Some(connector.to_owned()),
                status: None,
            },
        )
        .await
        .map_err(ApiError::internal)
}

pub fn connection_not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(
        "connection_not_found",
        format!("no connection `{id}` in your folders; `GET /api/v1/connections` lists them"),
    )
}

/// The connection `id` if the caller may see its folder; otherwise 404.
pub async fn visible_connection(
    state: &AppState,
    caller: &Caller,
    id: ConnectionId,
) -> ApiResult<Connection> {
    Ok(usable_connection(state, caller, id, None, Recency::Current)
        .await?
        .connection)
}

/// The connection `id` for a call through it, if the caller may use its
/// folder (otherwise 404), with its stored PAT (if any) read in the same
/// round trip; may be what was read a moment ago (see [`Recency::ForCall`]).
async fn callable_connection(
    state: &AppState,
    caller: &Caller,
    id: ConnectionId,
) -> ApiResult<ConnectionForUse> {
    usable_connection(
        state,
        caller,
        id,
        Some(services::FIELD_TOKEN),
        Recency::ForCall,
    )
    .await
}

/// The connection `id` with the secret slot `secret`, if the caller may
/// use its folder; otherwise 404.
async fn usable_connection(
    state: &AppState,
    caller: &Caller,
    id: ConnectionId,
    secret: Option<&str>,
    recency: Recency,
) -> ApiResult<ConnectionForUse> {
    match state
        .repo
        .connection_for_use(caller.tenant_id, id, caller.user_id, secret, recency)
        .await
        .map_err(ApiError::internal)?
    {
        Some(found) if found.folder.allows(caller) => Ok(found),
        _ => Err(connection_not_found(id)),
    }
}

/// The connection a request path names: 400 if `raw` is not an id, 404 if
/// the caller may not see it (see [`visible_connection`]).
async fn connection_at(state: &AppState, caller: &Caller, raw: &str) -> ApiResult<Connection> {
    visible_connection(state, caller, parse_id(raw, "connection")?).await
}

pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> ApiResult<T> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{raw}` is not a valid {what} id (a UUID)"),
        )
    })
}

pub(crate) fn entry_for(
    state: &AppState,
    caller: &Caller,
    connector: &str,
) -> ApiResult<ConnectorEntry> {
    state
        .registry
        .get(caller.tenant_id, connector)
        .ok_or_else(|| connector_not_found(connector))
}

fn validate_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a connection name must have 1 to 200 characters",
        ));
    }
    Ok(name.to_string())
}

fn validate_polling(seconds: Option<u32>) -> ApiResult<Option<u32>> {
    match seconds {
        Some(s) if !(60..=7 * 24 * 3600).contains(&s) => Err(ApiError::bad_request(
            "invalid_polling_frequency",
            "polling_frequency_seconds must be between 60 (one minute) and 604800 (one week)",
        )),
        other => Ok(other),
    }
}

/// The auth kind to use: the one named (if the connector offers it) or the
/// connector's only one (seed 001: no chooser then).
fn choose_auth_kind(manifest: &Manifest, requested: Option<&str>) -> ApiResult<AuthKind> {
    let offered: Vec<&str> = manifest
        .auth_methods
        .iter()
        .map(|m| m.kind.as_str())
        .collect();
    match requested {
        Some(raw) => {
            let kind: AuthKind = raw
                .parse()
                .map_err(|e: String| ApiError::bad_request("invalid_auth_kind", e))?;
            if manifest.auth_method(kind).is_none() {
                return Err(ApiError::bad_request(
                    "auth_kind_not_supported",
                    format!(
                        "connector `{}` does not offer `{kind}`; it offers: {}",
                        manifest.id,
                        offered.join(", ")
                    ),
                )
                .with_details(serde_json::json!({ "offered": offered })));
            }
            Ok(kind)
        }
        None => manifest.sole_auth_kind().ok_or_else(|| {
            ApiError::bad_request(
                "auth_kind_required",
                format!(
                    "connector `{}` offers several auth types; choose one in `auth_kind`: {}",
                    manifest.id,
                    offered.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "offered": offered }))
        }),
    }
}

/// Config values: known fields only, required ones present, URLs valid,
/// defaults filled in. Secret-kind fields are returned separately.
#[allow(clippy::type_complexity)]
fn validate_config(
    manifest: &Manifest,
    given: &BTreeMap<String, String>,
) -> ApiResult<(Vec<(String, String)>, Vec<(String, String)>)> {
    for key in given.keys() {
        if manifest.config_field(key).is_none() {
            let known: Vec<&str> = manifest
                .config_fields
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            return Err(ApiError::bad_request(
                "unknown_config_field",
                format!(
                    "connector `{}` has no config field `{key}`; its fields are: {}",
                    manifest.id,
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    let mut plain = Vec::new();
    let mut secret = Vec::new();
    for field in &manifest.config_fields {
        let value = given
            .get(&field.name)
            .cloned()
            .or_else(|| field.default_value.clone());
        let Some(value) = value else {
            if field.required {
                return Err(ApiError::bad_request(
                    "missing_config_field",
                    format!(
                        "connector `{}` needs config field `{}` ({}): {}",
                        manifest.id, field.name, field.label, field.description
                    ),
                ));
            }
            continue;
        };
        match field.kind {
            FieldKind::Url => {
                let ok = url::Url::parse(&value).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https") && u.host_str().is_some()
                });
                if !ok {
                    return Err(ApiError::bad_request(
                        "invalid_config_field",
                        format!(
                            "config field `{}` must be an absolute http(s) URL",
                            field.name
                        ),
                    ));
                }
                plain.push((field.name.clone(), value));
            }
            FieldKind::Text => plain.push((field.name.clone(), value)),
            FieldKind::Secret => secret.push((field.name.clone(), value)),
        }
    }
    Ok((plain, secret))
}

/// Which credential fields each auth kind takes (required, optional).
fn credential_fields(kind: AuthKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        AuthKind::PersonalAccessToken => (&["token"], &[]),
        AuthKind::ClientCertificate => (&["cert_pem", "key_pem"], &[]),
        AuthKind::Oauth2AuthorizationCode => (&[], &[]),
        // Without an app of their own, the organization's default (or,
        // for client credentials, the operator's) is used.
        AuthKind::Oauth2Byoa => (&[], &["client_id", "client_secret"]),
        AuthKind::Oauth2ClientCredentials => (&[], &["client_id", "client_secret"]),
        AuthKind::Oauth2Password => (&["username", "password"], &["client_id", "client_secret"]),
    }
}

pub(crate) fn validate_credentials(
    kind: AuthKind,
    given: &BTreeMap<String, String>,
) -> ApiResult<()> {
    let (required, optional) = credential_fields(kind);
    for key in given.keys() {
        if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
            let all: Vec<&str> = required.iter().chain(optional).copied().collect();
            return Err(ApiError::bad_request(
                "unknown_credential_field",
                format!(
                    "auth type `{kind}` takes no credential `{key}`; it takes: {}",
                    if all.is_empty() {
                        "(none: you will be sent to the provider)".into()
                    } else {
                        all.join(", ")
                    }
                ),
            ));
        }
    }
    for key in required {
        if given.get(*key).is_none_or(|v| v.trim().is_empty()) {
            return Err(ApiError::bad_request(
                "missing_credential_field",
                format!("auth type `{kind}` needs the credential field `{key}`"),
            ));
        }
    }
    Ok(())
}

/// The credential a check should use before anything is stored.
fn candidate_credential(kind: AuthKind, given: &BTreeMap<String, String>) -> Option<Credential> {
    match kind {
        AuthKind::PersonalAccessToken => given.get("token").map(|t| Credential::pat(t.trim())),
        AuthKind::ClientCertificate => Some(Credential::ClientCertificate {
            cert_pem: given.get("cert_pem")?.clone(),
            key_pem: secrecy::SecretString::from(given.get("key_pem")?.clone()),
        }),
        _ => None,
    }
}

pub fn call_context(state: &AppState, conn: &Connection) -> CallContext {
    let mut ctx = CallContext::new(
        conn.tenant_id.to_string(),
        conn.id.to_string(),
        conn.connector_id.clone(),
        conn.auth_kind,
    )
    .with_scopes(conn.granted_scopes.iter().cloned());
    ctx.account_id = conn.account.as_ref().map(|a| a.id.clone());
    ctx.config = conn.config.iter().cloned().collect();
    ctx.base_url_override = state
        .config
        .connectors
        .get(&conn.connector_id)
        .and_then(|s| s.base_url.as_ref())
        .map(|u| u.as_str().trim_end_matches('/').to_string());
    ctx
}

async fn org_settings(state: &AppState, caller: &Caller) -> ApiResult<OrgSettings> {
    state
        .repo
        .org_settings(caller.org_id)
        .await
        .map_err(ApiError::internal)
}

/// Governance: new connections and reconnections only to the connectors
/// the organization allows (existing connections keep working).
fn ensure_connector_allowed(settings: &OrgSettings, connector: &str) -> ApiResult<()> {
    if settings.allows_connector(connector) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "connector_not_allowed",
        format!(
            "your organization's policy does not allow connections to connector `{connector}`; an administrator can add it to `allowed_connectors` in the organization settings"
        ),
    ))
}

/// Run `check-connection` and record the outcome on `conn` (not saved).
pub(crate) async fn run_check(
    state: &AppState,
    entry: &ConnectorEntry,
    conn: &mut Connection,
    candidate: Option<Credential>,
) -> Result<Account, CallError> {
    let ctx = call_context(state, conn);
    let services = services::with_candidate(state, conn, candidate);
    let result = entry.loaded.check_connection(&ctx, services).await;
    conn.updated_at = OffsetDateTime::now_utc();
    match &result {
        Ok(account) => {
            conn.status = ConnectionStatus::Connected;
            conn.status_message = None;
            conn.provider_error = None;
            conn.account = Some(Account {
                id: account.id.clone(),
                display_name: account.display_name.clone(),
                email: account.email.clone(),
            });
        }
        Err(e) => {
            conn.status = ConnectionStatus::Disconnected;
            let (message, provider) = describe_failure(e);
            conn.status_message = Some(message);
            conn.provider_error = provider;
        }
    }
    result.map(|a| Account {
        id: a.id,
        display_name: a.display_name,
        email: a.email,
    })
}

/// (our message, the provider's message) for a failed call.
fn describe_failure(e: &CallError) -> (String, Option<String>) {
    match e {
        CallError::Connector { error, .. } => match error {
            ConnectorError::Unauthorized { message }
            | ConnectorError::ReconnectRequired { message } => (
                "The provider refused the credential. Reconnect the connection.".into(),
                Some(message.clone()),
            ),
            ConnectorError::Forbidden {
                message,
                missing_scopes,
            } => (
                if missing_scopes.is_empty() {
                    "The provider refused access. An administrator of the provider account may need to approve the app; then reconnect.".into()
                } else {
                    format!(
                        "The connection lacks the scopes {}. Reconnect and grant them.",
                        missing_scopes.join(", ")
                    )
                },
                Some(message.clone()),
            ),
            ConnectorError::RateLimited { message, .. } => (
                "The provider is rate limiting this account; check again later.".into(),
                Some(message.clone()),
            ),
            ConnectorError::Provider { message, .. } | ConnectorError::NotFound { message } => (
                "The provider answered with an error; check the provider error message.".into(),
                Some(message.clone()),
            ),
            ConnectorError::InvalidInput { message }
            | ConnectorError::UnknownOperation { message }
            | ConnectorError::Internal { message } => (
                format!("The connector failed to check the connection: {message}"),
                None,
            ),
        },
        CallError::Host(h) => (
            format!("The connector could not complete the check: {h}"),
            None,
        ),
    }
}

/// Turn a failed call into an HTTP error (400/401/403/404/429/502/504).
pub fn call_error(e: &CallError) -> ApiError {
    match e {
        CallError::Connector { error, connector } => match error {
            ConnectorError::InvalidInput { message } => ApiError::bad_request(
                "invalid_input",
                format!("connector {connector} refused the input: {message}"),
            ),
            ConnectorError::Unauthorized { message } => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "provider_unauthorized",
                format!("the provider refused the connection's credential ({message}); reconnect the connection"),
            ),
            ConnectorError::ReconnectRequired { message } => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "reconnect_required",
                format!("the connection must be reconnected: {message}"),
            ),
            ConnectorError::Forbidden { message, missing_scopes } => ApiError::forbidden(
                "provider_forbidden",
                if missing_scopes.is_empty() {
                    format!("the provider refused access: {message}")
                } else {
                    format!(
                        "the provider refused access for lack of scopes {}: {message}; reconnect and grant them",
                        missing_scopes.join(", ")
                    )
                },
            )
            .with_details(serde_json::json!({ "missing_scopes": missing_scopes })),
            ConnectorError::NotFound { message } => {
                ApiError::not_found("provider_not_found", format!("the provider found nothing: {message}"))
            }
            ConnectorError::RateLimited { message, retry_after_seconds } => {
                let mut err = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("the provider is rate limiting this account: {message}; retry later"),
                );
                err.retry_after = *retry_after_seconds;
                err
            }
            ConnectorError::Provider { status, code, message } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_error",
                format!("the provider answered with an error: {message}"),
            )
            .with_details(serde_json::json!({ "provider_status": status, "provider_code": code })),
            ConnectorError::UnknownOperation { message } => {
                ApiError::not_found("unknown_operation", format!("connector {connector}: {message}"))
            }
            ConnectorError::Internal { message } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "connector_failed",
                format!("connector {connector} failed: {message}"),
            ),
        },
        CallError::Host(RuntimeError::Busy { busy, .. }) => {
            // The caller's own share is full (429), or the whole host is (503):
            // either way nothing ran, and the connector is not to blame.
            let (status, code) = match busy.scope {
                plugboard_runtime::BusyScope::Host => {
                    (StatusCode::SERVICE_UNAVAILABLE, "server_busy")
                }
                plugboard_runtime::BusyScope::Connection | plugboard_runtime::BusyScope::Tenant => {
                    (StatusCode::TOO_MANY_REQUESTS, "too_many_calls")
                }
            };
            let mut err = ApiError::new(status, code, busy.to_string());
            err.retry_after = Some(busy.retry_after_seconds);
            err
        }
        CallError::Host(h) => {
            let status = if matches!(h, RuntimeError::Timeout { .. }) {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            ApiError::new(status, "connector_failed", h.to_string())
        }
    }
}

/// Save what a check, reconnect or sign-in found about `conn`; returns the
/// connection as saved (new version; edits made meanwhile kept), which is
/// what a response should show.
pub(crate) async fn save(state: &AppState, conn: &Connection) -> ApiResult<Connection> {
    state
        .repo
        .update_connection(conn)
        .await
        .map_err(ApiError::internal)
}

async fn store_credentials(
    state: &AppState,
    conn: &Connection,
    credentials: &BTreeMap<String, String>,
    secret_config: &[(String, String)],
) -> ApiResult<()> {
    use crate::config::Redacted;
    for (k, v) in credentials {
        let value = if k == "token" {
            v.trim().to_string()
        } else {
            v.clone()
        };
        state
            .repo
            .put_secret(conn.tenant_id, conn.id, k, Redacted::new(value))
            .await
            .map_err(ApiError::internal)?;
    }
    for (k, v) in secret_config {
        state
            .repo
            .put_secret(
                conn.tenant_id,
                conn.id,
                &format!("config:{k}"),
                Redacted::new(v.clone()),
            )
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(())
}

/// The tenant's other connections of `conn`'s connector when that
/// connector keeps one OAuth session per app and user (Zoom, seed 002);
/// empty for every other connector.
pub(crate) async fn single_session_siblings(
    state: &AppState,
    conn: &Connection,
) -> ApiResult<Vec<Connection>> {
    if conn.connector_id != "zoom" {
        return Ok(vec![]);
    }
    let all = state
        .repo
        .connections(
            conn.tenant_id,
            &ConnectionFilter {
                connector_id: Some(conn.connector_id.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(all.into_iter().filter(|c| c.id != conn.id).collect())
}

/// Zoom keeps one OAuth session per app and user (seed 002): other
/// connections of the same connector and account stop working.
pub(crate) async fn same_account_warnings(
    state: &AppState,
    conn: &Connection,
) -> ApiResult<Vec<Warning>> {
    let Some(account) = &conn.account else {
        return Ok(vec![]);
    };
    let mut warnings = Vec::new();
    for mut other in single_session_siblings(state, conn).await? {
        if other.account.as_ref().map(|a| &a.id) != Some(&account.id) {
            continue;
        }
        other.status = ConnectionStatus::Disconnected;
        other.status_message = Some(format!(
            "Zoom keeps one OAuth session per app and user: connection `{}` ({}) for the same Zoom account replaced this one. Reconnect here (which stops the other) or delete this connection.",
            conn.name, conn.id
        ));
        other.updated_at = OffsetDateTime::now_utc();
        let other = save(state, &other).await?;
        warnings.push(Warning {
            code: "zoom_single_session".into(),
            message: format!(
                "Zoom keeps one OAuth session per app and user, so connection `{}` ({}) for the same Zoom account has stopped working and is marked Disconnected.",
                other.name, other.id
            ),
        });
    }
    Ok(warnings)
}

// ---------------------------------------------------------------------------
// Handlers

/// List connections in the folders you can access (filter by folder,
/// connector, status; paginated).
#[utoipa::path(get, path = "/api/v1/connections", tag = "connections",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = ConnectionPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_connections(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ConnectionPage>> {
    let Query(q) = query?;
    let folders = match q.folder_id {
        Some(id) => vec![visible_folder(&state, &caller, id).await?.id],
        None => state
            .repo
            .folders(caller.tenant_id)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .filter(|f| f.visible_to(&caller))
            .map(|f| f.id)
            .collect(),
    };
    let status = q
        .status
        .as_deref()
        .map(str::parse::<ConnectionStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_status", e))?;
    let filter = ConnectionFilter {
        folders: Some(folders),
        connector_id: q.connector.clone(),
        status,
    };
    let all = state
        .repo
        .connections(caller.tenant_id, &filter)
        .await
        .map_err(ApiError::internal)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0);
    Ok(Json(ConnectionPage {
        total: all.len(),
        items: all
            .iter()
            .skip(offset)
            .take(limit)
            .map(ConnectionView::from)
            .collect(),
        limit,
        offset,
    }))
}

/// Create a connection. PAT and client-certificate connections are checked
/// with the connector at once (the account comes from that check) and
/// nothing is stored when the check fails. OAuth authorization-code kinds
/// return an `authorize_url`; the connection stays `pending` until the
/// provider calls `/provisioning_/callback`.
#[utoipa::path(post, path = "/api/v1/connections", tag = "connections",
    security(("bearer" = [])),
    request_body = CreateConnection,
    responses(
        (status = 201, body = CreatedConnection),
        (status = 400, description = "Bad input or the credential was refused", body = ErrorBody),
        (status = 403, description = "Governance forbids creating here", body = ErrorBody),
        (status = 404, description = "Unknown connector or folder", body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn create_connection(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateConnection>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedConnection>)> {
    let Json(req) = body?;
    let entry = entry_for(&state, &caller, &req.connector)?;
    let manifest = entry.manifest().clone();
    let kind = choose_auth_kind(&manifest, req.auth_kind.as_deref())?;
    let folder = match req.folder_id {
        Some(id) => visible_folder(&state, &caller, id).await?,
        None => default_folder(&state, &caller).await?,
    };
    let settings = org_settings(&state, &caller).await?;
    ensure_connector_allowed(&settings, &req.connector)?;
    if folder.kind == FolderKind::Shared && !caller.is_admin && settings.restrict_shared_connections
    {
        return Err(ApiError::forbidden(
            "shared_connections_restricted",
            "your organization lets only administrators create connections in shared folders; create it in your personal workspace or ask an administrator",
        ));
    }
    let (plain_config, secret_config) = validate_config(&manifest, &req.config)?;
    validate_credentials(kind, &req.credentials)?;
    let polling = validate_polling(req.polling_frequency_seconds)?;
    let name = req.name.as_deref().map(validate_name).transpose()?;
    let method = manifest
        .auth_method(kind)
        .expect("chosen from the manifest");
    if let Some(requested) = &req.scopes {
        let offered: Vec<&str> = method
            .scopes_offered
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        if let Some(bad) = requested
            .iter()
            .find(|s| !offered.contains(&s.as_str()) && !method.scopes_default.contains(s))
        {
            return Err(ApiError::bad_request(
                "unknown_scope",
                format!(
                    "`{bad}` is not a scope connector `{}` offers; it offers: {}",
                    manifest.id,
                    offered.join(", ")
                ),
            ));
        }
    }

    let existing = folder_connections(&state, &caller, folder.id, &manifest.id).await?;
    let now = OffsetDateTime::now_utc();
    let mut conn = Connection {
        id: ConnectionId::new(),
        org_id: caller.org_id,
        tenant_id: caller.tenant_id,
        folder_id: folder.id,
        connector_id: manifest.id.clone(),
        auth_kind: kind,
        name: name.clone().unwrap_or_else(|| manifest.name.clone()),
        account: None,
        status: ConnectionStatus::Pending,
        status_message: None,
        provider_error: None,
        polling_frequency_seconds: polling,
        is_default: existing.is_empty(),
        granted_scopes: vec![],
        config: plain_config,
        created_by: caller.user_id,
        updated_by: caller.user_id,
        created_at: now,
        updated_at: now,
        version: 0,
    };

    if kind.is_oauth2() {
        let (status, created) = crate::oauth::create(
            &state,
            &caller,
            &entry,
            conn,
            name.is_some(),
            &req.credentials,
            req.scopes.clone(),
        )
        .await?;
        return Ok((status, Json(created)));
    }

    // Check with the candidate credential before anything is stored.
    let candidate = candidate_credential(kind, &req.credentials);
    if let Err(e) = run_check(&state, &entry, &mut conn, candidate).await {
        // Secrets a connector may have set under this id during the check.
        let _ = state
            .repo
            .delete_connection(caller.tenant_id, conn.id)
            .await;
        let mut err = call_error(&e);
        if err.status.is_server_error() {
            return Err(err);
        }
        err.status = StatusCode::BAD_REQUEST;
        err.code = "credential_rejected";
        err.message = format!(
            "the connection was not created: the connector's check failed — {}",
            err.message
        );
        return Err(err);
    }
    if name.is_none()
        && let Some(account) = &conn.account
    {
        conn.name = format!("{} ({})", manifest.name, account.display_name);
    }
    let conn = state
        .repo
        .insert_connection(&conn)
        .await
        .map_err(ApiError::internal)?;
    store_credentials(&state, &conn, &req.credentials, &secret_config).await?;
    let warnings = same_account_warnings(&state, &conn).await?;
    crate::audit(&state, &caller, "connection.create", &conn.id.to_string()).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnection {
            connection: ConnectionView::from(&conn),
            authorize_url: None,
            warnings,
        }),
    ))
}

/// Get one connection. The `ETag` header is its version, for `If-Match`
/// on an edit.
#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses((status = 200, body = ConnectionView,
            headers(("etag" = String, description = "The connection's version, e.g. `\"3\"`; send it as `If-Match` when editing"))),
        (status = 404, body = ErrorBody)))]
async fn get_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    // One read: the ETag is the version of the very row shown, so an edit
    // with it can never overwrite a change the reader did not see.
    let c = connection_at(&state, &caller, &id).await?;
    Ok((etag::header(c.version), Json(ConnectionView::from(&c))))
}

/// Edit a connection: rename it or change its polling frequency. The
/// connector, account and auth type are read-only (400 if sent). With
/// `If-Match` (the `ETag` of a GET), the edit is refused with 412 when
/// someone changed the connection meanwhile, instead of overwriting them.
#[utoipa::path(patch, path = "/api/v1/connections/{id}", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id"),
        ("If-Match" = Option<String>, Header, description = "ETag from a GET of this connection, e.g. `\"3\"`: edit only that version")),
    request_body = EditConnection,
    responses((status = 200, body = ConnectionView,
            headers(("etag" = String, description = "The connection's new version"))),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 412, description = "The connection changed since the `If-Match` version; nothing was saved", body = ErrorBody)))]
async fn edit_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id(&id, "connection")?;
    let expected_version = etag::expected_version(&headers)?;
    let Json(fields) = body?;
    for key in fields.keys() {
        match key.as_str() {
            "name" | "polling_frequency_seconds" => {}
            "connector" | "account" | "auth_kind" => {
                return Err(ApiError::bad_request(
                    "read_only_field",
                    format!(
                        "`{key}` cannot be changed: a connection's connector, account and auth type are fixed; create a new connection instead"
                    ),
                ));
            }
            "id" | "folder_id" | "status" | "message" | "provider_error" | "is_default"
            | "granted_scopes" | "config" | "created_by" | "updated_by" | "created_at"
            | "updated_at" => {
                return Err(ApiError::bad_request(
                    "read_only_field",
                    format!(
                        "`{key}` cannot be edited here; only `name` and `polling_frequency_seconds` can (use /default, /check or /reconnect for the rest)"
                    ),
                ));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "unknown_field",
                    format!(
                        "unknown field `{key}`; editable fields are `name` and `polling_frequency_seconds`"
                    ),
                ));
            }
        }
    }
    let edit: EditConnection = serde_json::from_value(serde_json::Value::Object(fields.clone()))
        .map_err(|e| ApiError::bad_request("invalid_json", format!("{e}: fix the request body")))?;
    // Only the fields sent are written, so an edit never puts back what
    // someone else changed in the other field since this request read it.
    let changes = ConnectionEdit {
        name: edit.name.as_deref().map(validate_name).transpose()?,
        polling_frequency_seconds: if fields.contains_key("polling_frequency_seconds") {
            Some(validate_polling(edit.polling_frequency_seconds)?)
        } else {
            None
        },
    };
    let id = visible_connection(&state, &caller, id).await?.id;
    let c = match state
        .repo
        .edit_connection(
            caller.tenant_id,
            id,
            &changes,
            caller.user_id,
            expected_version,
        )
        .await
    {
        Ok(saved) => saved,
        Err(RepoError::Conflict(_)) => {
            let current = state
                .repo
                .connection_version(caller.tenant_id, id)
                .await
                .map_err(ApiError::internal)?;
            return Err(etag::precondition_failed(current));
        }
        Err(RepoError::NotFound) => return Err(connection_not_found(id)),
        Err(e) => return Err(ApiError::internal(e)),
    };
    crate::audit(&state, &caller, "connection.edit", &c.id.to_string()).await;
    Ok((etag::header(c.version), Json(ConnectionView::from(&c))))
}

/// Make this connection the default for its connector in its folder (the
/// one used when a caller names none). The previous default loses the flag.
#[utoipa::path(post, path = "/api/v1/connections/{id}/default", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
async fn set_default(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    let c = connection_at(&state, &caller, &id).await?;
    state
        .repo
        .set_default(caller.tenant_id, c.id)
        .await
        .map_err(ApiError::internal)?;
    crate::audit(&state, &caller, "connection.set_default", &c.id.to_string()).await;
    let c = visible_connection(&state, &caller, c.id).await?;
    Ok(Json(ConnectionView::from(&c)))
}

/// Check a connection with its connector; updates status, message and
/// provider error message.
#[utoipa::path(post, path = "/api/v1/connections/{id}/check", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses((status = 200, body = CheckResult), (status = 404, body = ErrorBody)))]
async fn check_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CheckResult>> {
    let mut c = connection_at(&state, &caller, &id).await?;
    let entry = entry_for(&state, &caller, &c.connector_id)?;
    let account_before = c.account.clone();
    let outcome = run_check(&state, &entry, &mut c, None).await;
    if account_before.is_some() {
        // The account is fixed once known (seed 001: read-only).
        c.account = account_before;
    }
    let c = save(&state, &c).await?;
    crate::audit(&state, &caller, "connection.check", &c.id.to_string()).await;
    let (ok, message) = match &outcome {
        Ok(a) => (true, format!("Connected as {}.", a.display_name)),
        Err(_) => (false, c.status_message.clone().unwrap_or_default()),
    };
    Ok(Json(CheckResult {
        ok,
        message,
        connection: ConnectionView::from(&c),
    }))
}

/// Reconnect: give new credentials (PAT, certificate) or re-run the OAuth
/// flow; the connection keeps its id and everything referencing it. A
/// refused credential changes nothing.
#[utoipa::path(post, path = "/api/v1/connections/{id}/reconnect", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id")),
    request_body = ReconnectRequest,
    responses((status = 200, body = CreatedConnection), (status = 400, body = ErrorBody),
        (status = 403, description = "Governance forbids this connector", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn reconnect(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<ReconnectRequest>, JsonRejection>,
) -> ApiResult<Json<CreatedConnection>> {
    let id = parse_id(&id, "connection")?;
    let Json(req) = body?;
    let c = visible_connection(&state, &caller, id).await?;
    let entry = entry_for(&state, &caller, &c.connector_id)?;
    ensure_connector_allowed(&org_settings(&state, &caller).await?, &c.connector_id)?;
    let kind = c.auth_kind;
    validate_credentials(kind, &req.credentials)?;
    if kind.is_oauth2() {
        let created =
            crate::oauth::reconnect(&state, &caller, &entry, c, &req.credentials, req.scopes)
                .await?;
        return Ok(Json(created));
    }
    let account_before = c.account.clone();
    let mut trial = c.clone();
    let candidate = candidate_credential(kind, &req.credentials);
    if let Err(e) = run_check(&state, &entry, &mut trial, candidate).await {
        let mut err = call_error(&e);
        if !err.status.is_server_error() {
            err.status = StatusCode::BAD_REQUEST;
            err.code = "credential_rejected";
            err.message = format!(
                "nothing changed: the connector's check failed — {}",
                err.message
            );
        }
        return Err(err);
    }
    if let (Some(before), Some(after)) = (&account_before, &trial.account)
        && before.id != after.id
    {
        return Err(ApiError::bad_request(
            "account_mismatch",
            format!(
                "this credential belongs to account `{}`, but the connection is for `{}`; a connection's account cannot change — create a new connection instead",
                after.display_name, before.display_name
            ),
        ));
    }
    store_credentials(&state, &trial, &req.credentials, &[]).await?;
    trial.updated_by = caller.user_id;
    let c = save(&state, &trial).await?;
    crate::audit(&state, &caller, "connection.reconnect", &c.id.to_string()).await;
    Ok(Json(CreatedConnection {
        connection: ConnectionView::from(&c),
        authorize_url: None,
        warnings: vec![],
    }))
}

/// What a delete could not do, when it did not go entirely smoothly.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub id: ConnectionId,
    /// E.g. the provider did not confirm the revocation of the tokens.
    pub warnings: Vec<Warning>,
}

/// Delete a connection. Refused (409, with the list) while triggers,
/// processes or apps reference it, unless `force=true`. OAuth tokens are
/// revoked at the provider where the connector declares a revocation
/// endpoint; when that fails the connection is still deleted and the
/// answer is 200 with a warning instead of 204.
#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id"), DeleteQuery),
    responses((status = 204, description = "Deleted"),
        (status = 200, description = "Deleted, with warnings (tokens not revoked at the provider)", body = Deleted),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Referenced; details list the references", body = ErrorBody)))]
async fn delete_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    let id = parse_id(&id, "connection")?;
    let Query(q) = query?;
    let c = visible_connection(&state, &caller, id).await?;
    let refs = references_of(&state, &caller, c.id).await?;
    if !refs.is_empty() && !q.force {
        let list: Vec<String> = refs
            .iter()
            .map(|r| format!("{} `{}` ({})", r.kind, r.name, r.id))
            .collect();
        return Err(ApiError::conflict(
            "connection_referenced",
            format!(
                "connection `{}` is still used by: {}; remove those references first, or delete with force=true",
                c.name,
                list.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "references": refs })));
    }
    crate::triggers::delete_connection_subscriptions(&state, &caller, c.id).await?;
    let warnings: Vec<Warning> = crate::oauth::forget_credential(&state, &c)
        .await
        .into_iter()
        .collect();
    state
        .repo
        .delete_connection(caller.tenant_id, c.id)
        .await
        .map_err(ApiError::internal)?;
    if c.is_default {
        // Keep exactly one default while the folder has connections to this connector.
        let rest = state
            .repo
            .connections(
                caller.tenant_id,
                &ConnectionFilter {
                    folders: Some(vec![c.folder_id]),
                    connector_id: Some(c.connector_id.clone()),
                    status: None,
                },
            )
            .await
            .map_err(ApiError::internal)?;
        if let Some(next) = rest.iter().min_by_key(|x| x.created_at) {
            state
                .repo
                .set_default(caller.tenant_id, next.id)
                .await
                .map_err(ApiError::internal)?;
        }
    }
    crate::audit(
        &state,
        &caller,
        if q.force {
            "connection.delete_forced"
        } else {
            "connection.delete"
        },
        &c.id.to_string(),
    )
    .await;
    if warnings.is_empty() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok(Json(Deleted { id: c.id, warnings }).into_response())
    }
}

/// Registered references (processes, apps) and trigger subscriptions.
async fn references_of(
    state: &AppState,
    caller: &Caller,
    id: ConnectionId,
) -> ApiResult<Vec<Reference>> {
    let mut refs = state
        .repo
        .references(caller.tenant_id, id)
        .await
        .map_err(ApiError::internal)?;
    refs.extend(crate::triggers::connection_references(state, caller, id).await?);
    Ok(refs)
}

/// What references a connection (triggers, processes, apps).
#[utoipa::path(get, path = "/api/v1/connections/{id}/references", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses((status = 200, body = Vec<Reference>), (status = 404, body = ErrorBody)))]
async fn list_references(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Reference>>> {
    let c = connection_at(&state, &caller, &id).await?;
    Ok(Json(references_of(&state, &caller, c.id).await?))
}

/// Register something that uses this connection (a process, an app); a
/// referenced connection cannot be deleted without force.
#[utoipa::path(post, path = "/api/v1/connections/{id}/references", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id")),
    request_body = Reference,
    responses((status = 201, body = Reference), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_reference(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<Reference>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Reference>)> {
    let id = parse_id(&id, "connection")?;
    let Json(r) = body?;
    if r.kind.trim().is_empty() || r.id.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_reference",
            "a reference needs a `kind` (trigger, process, app) and an `id`",
        ));
    }
    let c = visible_connection(&state, &caller, id).await?;
    state
        .repo
        .add_reference(caller.tenant_id, c.id, r.clone())
        .await
        .map_err(ApiError::internal)?;
    crate::audit(
        &state,
        &caller,
        "connection.reference_add",
        &c.id.to_string(),
    )
    .await;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Remove a reference.
#[utoipa::path(delete, path = "/api/v1/connections/{id}/references/{kind}/{ref_id}", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id"),
        ("kind" = String, Path, description = "Reference kind"),
        ("ref_id" = String, Path, description = "Reference id")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
async fn remove_reference(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, kind, ref_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let c = connection_at(&state, &caller, &id).await?;
    state
        .repo
        .remove_reference(caller.tenant_id, c.id, &kind, &ref_id)
        .await
        .map_err(ApiError::internal)?;
    crate::audit(
        &state,
        &caller,
        "connection.reference_remove",
        &c.id.to_string(),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Run `operation` through `c`. `stored_token` is the connection's token
/// slot when it was read with the connection (a PAT), saving the call a
/// round trip.
async fn run_invoke(
    state: &AppState,
    caller: &Caller,
    c: Connection,
    stored_token: Option<Redacted>,
    operation: &str,
    input_json: &str,
) -> ApiResult<Json<InvokeResult>> {
    let entry = entry_for(state, caller, &c.connector_id)?;
    let Some(op) = entry.manifest().operation(operation) else {
        let known: Vec<&str> = entry
            .manifest()
            .operations
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        return Err(ApiError::not_found(
            "unknown_operation",
            format!(
                "connector `{}` has no operation `{operation}`; it has: {}",
                c.connector_id,
                known.join(", ")
            ),
        ));
    };
    if c.status == ConnectionStatus::Pending {
        return Err(ApiError::conflict(
            "connection_pending",
            "the connection is not authorized yet; finish the provider's sign-in first",
        ));
    }
    if c.auth_kind.is_oauth2() {
        let missing = missing_scopes(&op.required_scopes, &c.granted_scopes);
        if !missing.is_empty() {
            return Err(ApiError::forbidden(
                "missing_scopes",
                format!(
                    "operation `{operation}` needs the scope(s) {} which this connection was not granted; reconnect and grant them",
                    missing.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "missing_scopes": missing })));
        }
    }
    let ctx = call_context(state, &c);
    let services = services::with_stored_token(state, &c, stored_token);
    match entry
        .loaded
        .invoke(&ctx, services.clone(), operation, input_json)
        .await
    {
        // The runtime checked the output is one JSON value, so the
        // response embeds it as it is.
        Ok(output) => Ok(Json(InvokeResult {
            connection_id: c.id,
            output,
        })),
        Err(e) => {
            if let Some(
                ConnectorError::Unauthorized { message }
                | ConnectorError::ReconnectRequired { message },
            ) = e.connector_error()
                && !already_disconnected(state, &c).await
            {
                services
                    .mark_disconnected(
                        "The provider refused the credential. Reconnect the connection.",
                        message,
                    )
                    .await;
            }
            Err(call_error(&e))
        }
    }
}

/// Whether the connection was marked Disconnected during the call (the
/// token manager after `invalid_grant`, a connector's reconnect request):
/// that status carries the better message and the provider's words.
async fn already_disconnected(state: &AppState, c: &Connection) -> bool {
    matches!(
        state.repo.connection(c.tenant_id, c.id).await,
        Ok(Some(now)) if now.status == ConnectionStatus::Disconnected
    )
}

/// Run an operation through a connection. The connection's granted scopes
/// are checked against the operation's required scopes first (403 naming
/// the missing ones); connector errors map to 400/401/403/404/429/502.
#[utoipa::path(post, path = "/api/v1/connections/{id}/invoke/{operation}", tag = "connections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connection id"),
        ("operation" = String, Path, description = "Operation name, e.g. `create_meeting`")),
    request_body(content = Object, description = "The operation's input (its JSON Schema is in the connector's manifest)"),
    responses((status = 200, body = InvokeResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, operation)): Path<(String, String)>,
    body: Result<Json<Box<RawValue>>, JsonRejection>,
) -> ApiResult<Json<InvokeResult>> {
    let id = parse_id(&id, "connection")?;
    // Passed to the connector as sent: parsing it into a `Value` only to
    // print it again showed in profiles.
    let Json(input) = body?;
    let found = callable_connection(&state, &caller, id).await?;
    run_invoke(
        &state,
        &caller,
        found.connection,
        found.secret,
        &operation,
        input.get(),
    )
    .await
}

/// Run an operation with a folder's default connection to a connector
/// (or the connection named in `connection_id`).
#[utoipa::path(post, path = "/api/v1/invoke", tag = "connections",
    security(("bearer" = [])),
    request_body = InvokeByConnector,
    responses((status = 200, body = InvokeResult), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn invoke_default(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<InvokeByConnector>, JsonRejection>,
) -> ApiResult<Json<InvokeResult>> {
    let Json(req) = body?;
    entry_for(&state, &caller, &req.connector)?;
    let id = match req.connection_id {
        Some(id) => id,
        None => default_connection_id(&state, &caller, &req).await?,
    };
    // Read like a call by id: the row, folder access and PAT together,
    // from memory when recently read.
    let found = callable_connection(&state, &caller, id).await?;
    let c = found.connection;
    if c.connector_id != req.connector {
        return Err(ApiError::bad_request(
            "connector_mismatch",
            format!(
                "connection `{id}` is a `{}` connection, not `{}`",
                c.connector_id, req.connector
            ),
        ));
    }
    let input = req.input.as_deref().map_or("null", RawValue::get);
    run_invoke(&state, &caller, c, found.secret, &req.operation, input).await
}

/// The default `req.connector` connection of the folder `req` names (the
/// caller's personal folder when it names none).
async fn default_connection_id(
    state: &AppState,
    caller: &Caller,
    req: &InvokeByConnector,
) -> ApiResult<ConnectionId> {
    let folder = match req.folder_id {
        Some(id) => visible_folder(state, caller, id).await?,
        None => default_folder(state, caller).await?,
    };
    folder_connections(state, caller, folder.id, &req.connector)
        .await?
        .into_iter()
        .find(|c| c.is_default)
        .map(|c| c.id)
        .ok_or_else(|| {
            ApiError::not_found(
                "no_default_connection",
                format!(
                    "folder `{}` has no `{}` connection; create one first",
                    folder.name, req.connector
                ),
            )
        })
}
