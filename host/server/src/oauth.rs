//! OAuth connections in `plugboard serve`: starting the flows, the
//! browser's return to `/provisioning_/callback`, direct grants (client
//! credentials, password), reconnect with a new OAuth app, and revocation
//! on delete. The flows and tokens themselves are `plugboard-auth`'s
//! ([`AuthFlows`], [`TokenManager`]); this module wires them to
//! connections, the connector's `check-connection` and HTTP.
//!
//! Rules kept here:
//! - an authorization-code connection is stored Pending with its authorize
//!   URL returned; it becomes Connected only after the callback's tokens
//!   passed `check-connection` (the account comes from it);
//! - nothing is left behind when a flow cannot start (operator app not
//!   configured, bad endpoints): the pending row is removed again;
//! - the callback page says in plain words what happened; it never shows
//!   (and the trace layer never logs) the query, which holds the code;
//! - client secrets, codes and tokens never reach a response or a log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use plugboard_auth::{
    AppCredentials, AuthError, AuthFlows, BeginAuthorization, CallbackParams, ClientChoice,
    ClientRef, CompletedAuthorization, ConnectionRef, Credential, FlowSettings, ManagerSettings,
    OAuthHttp, OperatorApps, Revocation, SystemClock, TokenManager,
};
use plugboard_manifest::{AuthKind, AuthMethod, Manifest};
use plugboard_vault::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::config::Config;
use crate::connections::{
    ConnectionView, CreatedConnection, Warning, call_error, run_check, same_account_warnings, save,
    single_session_siblings,
};
use crate::connectors::ConnectorEntry;
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::model::*;
use crate::repo::ConnectionEdit;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(callback))
}

/// The auth side of the server over `store`: the operator's OAuth apps
/// from the configuration (`[connectors.<id>]` / `PLUGBOARD_CONNECTOR_<ID>_CLIENT_ID`
/// and `_CLIENT_SECRET`), redirect URI `<public_url>/provisioning_/callback`.
pub fn auth_services(
    config: &Config,
    store: &plugboard_store::Store,
    public_url: &Url,
) -> (AuthFlows, TokenManager) {
    let mut apps = OperatorApps::new();
    for (id, settings) in &config.connectors {
        if let (Some(client_id), Some(secret)) = (&settings.client_id, &settings.client_secret) {
            apps.insert(
                id,
                AppCredentials {
                    client_id: client_id.trim().to_string(),
                    client_secret: SecretString::new(secret.expose().to_string()),
                },
            );
        }
    }
    let apps = Arc::new(apps);
    let http = OAuthHttp::new(Duration::from_secs(30));
    let clock: Arc<dyn plugboard_auth::Clock> = Arc::new(SystemClock);
    let flows = AuthFlows::new(
        store.clone(),
        http.clone(),
        apps.clone(),
        clock.clone(),
        FlowSettings::new(public_url.clone()),
    );
    let tokens = TokenManager::new(store.clone(), http, apps, clock, ManagerSettings::default());
    (flows, tokens)
}

/// The store's name for a connection known only by ids (reads the
/// tenant's scope; with a loaded connection, use [`store_ref`]).
///
/// # Errors
/// The tenant is unknown or the store failed (the message says which).
pub async fn connection_ref(
    store: &plugboard_store::Store,
    tenant: TenantId,
    connection: ConnectionId,
) -> Result<ConnectionRef, String> {
    let scope = store
        .tenant_scope(plugboard_store::TenantId(tenant.0))
        .await
        .map_err(|e| format!("reading the tenant failed: {e}"))?
        .ok_or_else(|| "the tenant no longer exists".to_string())?;
    Ok(ConnectionRef {
        scope,
        connection: plugboard_store::ConnectionId(connection.0),
    })
}

/// The store's name for a loaded connection: no database read, the
/// connection carries its organization and tenant.
pub(crate) fn store_ref(conn: &Connection) -> ConnectionRef {
    ConnectionRef {
        scope: crate::model::store_scope(conn.org_id, conn.tenant_id),
        connection: plugboard_store::ConnectionId(conn.id.0),
    }
}

/// How an auth failure reads for the API caller.
fn auth_error(e: AuthError) -> ApiError {
    match e {
        e @ AuthError::AppNotConfigured { .. } => {
            ApiError::bad_request("oauth_app_not_configured", e.to_string())
        }
        e @ (AuthError::NoSuchMethod { .. }
        | AuthError::BadMethod { .. }
        | AuthError::Template(_)
        | AuthError::InvalidInput { .. }) => {
            ApiError::bad_request("invalid_oauth_request", e.to_string())
        }
        e @ (AuthError::Provider { .. }
        | AuthError::ReconnectRequired { .. }
        | AuthError::BadTokenResponse(_)) => {
            ApiError::bad_request("credential_rejected", format!("nothing was changed: {e}"))
        }
        e @ (AuthError::Transient { .. } | AuthError::Busy) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
            e.to_string(),
        ),
        e => ApiError::internal(e),
    }
}

/// The connector's auth method with `{field}`s filled from the
/// connection's config and, when the operator configured
/// `connectors.<id>.oauth_base_url`, its OAuth endpoints moved there.
fn effective_method(
    state: &AppState,
    manifest: &Manifest,
    kind: AuthKind,
    config: &[(String, String)],
) -> ApiResult<AuthMethod> {
    let method = manifest.auth_method(kind).ok_or_else(|| {
        ApiError::bad_request(
            "auth_kind_not_supported",
            format!("connector `{}` does not offer `{kind}`", manifest.id),
        )
    })?;
    let config = manifest.config_with_defaults(&config.iter().cloned().collect());
    let mut method = method
        .resolve(&config)
        .map_err(|e| ApiError::bad_request("invalid_config_field", e.to_string()))?;
    let base = state
        .config
        .connectors
        .get(&manifest.id)
        .and_then(|s| s.oauth_base_url.as_ref());
    if let (Some(base), Some(o)) = (base, method.oauth2.as_mut()) {
        o.authorize_url = o.authorize_url.as_deref().map(|u| rebase(u, base));
        o.token_url = rebase(&o.token_url, base);
        o.revoke_url = o.revoke_url.as_deref().map(|u| rebase(u, base));
    }
    Ok(method)
}

/// `url`'s path and query under `base` (scheme, host, port and path prefix).
fn rebase(url: &str, base: &Url) -> String {
    let Ok(parsed) = Url::parse(url) else {
        return url.to_string();
    };
    let mut out = base.clone();
    out.set_path(&format!(
        "{}{}",
        base.path().trim_end_matches('/'),
        parsed.path()
    ));
    out.set_query(parsed.query());
    out.to_string()
}

/// The user's own OAuth app from the request's `client_id` + `client_secret`.
fn own_client(credentials: &BTreeMap<String, String>) -> ApiResult<Option<ClientChoice>> {
    let id = credentials
        .get("client_id")
        .filter(|v| !v.trim().is_empty());
    let secret = credentials.get("client_secret").filter(|v| !v.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Some(ClientChoice::Own {
            client_id: id.trim().to_string(),
            client_secret: SecretString::new(secret.clone()),
        })),
        (None, None) => Ok(None),
        _ => Err(ApiError::bad_request(
            "incomplete_oauth_app",
            "give both `client_id` and `client_secret` of your OAuth app in `credentials`, or neither",
        )),
    }
}

/// Which OAuth client a new flow uses: the one in the request, else (for
/// the kinds that take one) the organization's default for the connector,
/// else the operator's app.
async fn client_choice(
    state: &AppState,
    caller: &Caller,
    connector: &str,
    kind: AuthKind,
    credentials: &BTreeMap<String, String>,
) -> ApiResult<ClientChoice> {
    if kind == AuthKind::Oauth2AuthorizationCode {
        return Ok(ClientChoice::Operator);
    }
    if let Some(own) = own_client(credentials)? {
        return Ok(own);
    }
    if let Some(default) = crate::oauth_apps::org_default(state, caller, connector).await? {
        return Ok(default);
    }
    if kind == AuthKind::Oauth2Byoa {
        return Err(ApiError::bad_request(
            "oauth_app_required",
            format!(
                "auth type `{kind}` uses your own OAuth app: give its `client_id` and `client_secret` in `credentials` (or ask an administrator to set an organization default for `{connector}` with PUT /api/v1/settings/oauth-apps/{connector})"
            ),
        ));
    }
    Ok(ClientChoice::Operator)
}

/// Whether a request's OAuth app differs from the one `current` was issued to.
fn client_changed(current: &Credential, choice: &ClientChoice) -> bool {
    let Some(o) = current.as_oauth2() else {
        return true;
    };
    match (&o.client, choice) {
        (
            ClientRef::Own {
                client_id,
                client_secret,
            },
            ClientChoice::Own {
                client_id: new_id,
                client_secret: new_secret,
            },
        ) => client_id != new_id || client_secret != new_secret,
        (ClientRef::Operator { .. }, ClientChoice::Operator) => false,
        _ => true,
    }
}

/// The client a current credential was issued to, to re-authorize with it.
fn client_of(current: &Credential) -> Option<ClientChoice> {
    match &current.as_oauth2()?.client {
        ClientRef::Own {
            client_id,
            client_secret,
        } => Some(ClientChoice::Own {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
        }),
        ClientRef::Operator { .. } => Some(ClientChoice::Operator),
    }
}

/// A credential from a grant that needs no browser (client credentials,
/// password). The password is used once and never stored.
async fn direct_grant(
    state: &AppState,
    conn: &Connection,
    method: &AuthMethod,
    client: ClientChoice,
    scopes: Option<Vec<String>>,
    credentials: &BTreeMap<String, String>,
) -> ApiResult<Credential> {
    let config = BTreeMap::new();
    let result = match conn.auth_kind {
        AuthKind::Oauth2ClientCredentials => {
            state
                .flows
                .client_credentials(&conn.connector_id, method, &config, client, scopes)
                .await
        }
        AuthKind::Oauth2Password => {
            let username = credentials.get("username").cloned().unwrap_or_default();
            let password =
                SecretString::new(credentials.get("password").cloned().unwrap_or_default());
            state
                .flows
                .password_grant(
                    &conn.connector_id,
                    method,
                    &config,
                    client,
                    scopes,
                    username.trim(),
                    &password,
                )
                .await
        }
        kind => {
            return Err(ApiError::bad_request(
                "invalid_oauth_request",
                format!("auth type `{kind}` signs in through the provider's page"),
            ));
        }
    };
    result.map_err(auth_error)
}

/// The access token of a fresh credential, as the runtime injects it.
fn candidate(credential: &Credential) -> Option<plugboard_runtime::Credential> {
    credential
        .as_oauth2()
        .map(|o| plugboard_runtime::Credential::bearer(o.access_token.expose()))
}

/// The connection's name after its account, once that is known, unless
/// the user named it.
fn default_name(manifest: &Manifest, conn: &Connection, named: bool) -> Option<String> {
    let account = conn.account.as_ref().filter(|_| !named)?;
    Some(format!("{} ({})", manifest.name, account.display_name))
}

/// Seed 002: before a second Zoom sign-in, say what happens to the first.
async fn zoom_session_notice(
    state: &AppState,
    caller: &Caller,
    conn: &Connection,
) -> ApiResult<Vec<Warning>> {
    let existing = single_session_siblings(state, conn).await?;
    let mut names = Vec::new();
    for other in existing.iter().filter(|c| c.account.is_some()) {
        if let Ok(Some(folder)) = state.repo.folder(caller.tenant_id, other.folder_id).await
            && folder.visible_to(caller)
        {
            names.push(format!("`{}` ({})", other.name, other.id));
        }
    }
    if names.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![Warning {
        code: "zoom_single_session".into(),
        message: format!(
            "Zoom keeps one OAuth session per app and user: if you sign in with the same Zoom account as {}, that older connection will stop working and be marked Disconnected.",
            names.join(", ")
        ),
    }])
}

/// Create an OAuth connection (`conn` is validated, Pending and not yet
/// stored). Authorization-code kinds store it and return the authorize
/// URL; direct grants fetch the token, check it and store it Connected.
pub(crate) async fn create(
    state: &AppState,
    caller: &Caller,
    entry: &ConnectorEntry,
    mut conn: Connection,
    named: bool,
    credentials: &BTreeMap<String, String>,
    scopes: Option<Vec<String>>,
) -> ApiResult<(StatusCode, CreatedConnection)> {
    let manifest = entry.manifest();
    let method = effective_method(state, manifest, conn.auth_kind, &conn.config)?;
    let client = client_choice(state, caller, &manifest.id, conn.auth_kind, credentials).await?;
    if conn.auth_kind.uses_authorize_redirect() {
        let conn = state
            .repo
            .insert_connection(&conn)
            .await
            .map_err(ApiError::internal)?;
        let url = match begin(state, &conn, &method, client, scopes, false).await {
            Ok(url) => url,
            Err(e) => {
                // Nothing is left behind when the flow cannot start.
                let _ = state.repo.delete_connection(conn.tenant_id, conn.id).await;
                return Err(e);
            }
        };
        let warnings = zoom_session_notice(state, caller, &conn).await?;
        crate::audit(state, caller, "connection.create", &conn.id.to_string()).await;
        return Ok((
            StatusCode::CREATED,
            CreatedConnection {
                connection: ConnectionView::from(&conn),
                authorize_url: Some(url.to_string()),
                warnings,
            },
        ));
    }
    let credential = direct_grant(state, &conn, &method, client, scopes, credentials).await?;
    if let Some(o) = credential.as_oauth2() {
        conn.granted_scopes = o.scopes.clone();
    }
    // Not inserted yet: a refused check leaves nothing behind.
    if let Err(e) = run_check(state, entry, &mut conn, candidate(&credential)).await {
        return Err(refused(call_error(&e), "the connection was not created"));
    }
    if let Some(name) = default_name(manifest, &conn, named) {
        conn.name = name;
    }
    let conn = state
        .repo
        .insert_connection(&conn)
        .await
        .map_err(ApiError::internal)?;
    let cref = store_ref(&conn);
    state
        .tokens
        .install(cref, &credential)
        .await
        .map_err(ApiError::internal)?;
    let conn = save(state, &conn).await?;
    let warnings = same_account_warnings(state, &conn).await?;
    crate::audit(state, caller, "connection.create", &conn.id.to_string()).await;
    Ok((
        StatusCode::CREATED,
        CreatedConnection {
            connection: ConnectionView::from(&conn),
            authorize_url: None,
            warnings,
        },
    ))
}

/// A check refused the credential: 400 saying nothing changed (5xx stay).
fn refused(mut err: ApiError, what: &str) -> ApiError {
    if !err.status.is_server_error() {
        err.status = StatusCode::BAD_REQUEST;
        err.code = "credential_rejected";
        err.message = format!("{what}: the connector's check failed — {}", err.message);
    }
    err
}

async fn begin(
    state: &AppState,
    conn: &Connection,
    method: &AuthMethod,
    client: ClientChoice,
    scopes: Option<Vec<String>>,
    reconnect: bool,
) -> ApiResult<Url> {
    let cref = store_ref(conn);
    let config = BTreeMap::new();
    state
        .flows
        .begin_authorization(BeginAuthorization {
            conn: cref,
            connector_id: &conn.connector_id,
            method,
            config: &config,
            client,
            scopes,
            issuer: None,
            created_by: Some(plugboard_store::UserId(conn.updated_by.0)),
            reconnect,
        })
        .await
        .map_err(auth_error)
}

/// Reconnect an OAuth connection, keeping its id: re-run the flow with the
/// same OAuth app, or with a new one from `credentials` (BYOA), in which
/// case the old tokens are revoked and discarded first.
pub(crate) async fn reconnect(
    state: &AppState,
    caller: &Caller,
    entry: &ConnectorEntry,
    mut conn: Connection,
    credentials: &BTreeMap<String, String>,
    scopes: Option<Vec<String>>,
) -> ApiResult<CreatedConnection> {
    let manifest = entry.manifest();
    let method = effective_method(state, manifest, conn.auth_kind, &conn.config)?;
    let cref = store_ref(&conn);
    let current = match state.tokens.credential(cref).await {
        Ok(c) => Some(c),
        Err(AuthError::NoCredential) => None,
        Err(e) => return Err(ApiError::internal(e)),
    };
    let requested = if conn.auth_kind == AuthKind::Oauth2AuthorizationCode {
        None
    } else {
        own_client(credentials)?
    };
    let client = match (requested, current.as_ref().and_then(client_of)) {
        (Some(new), _) => new,
        (None, Some(same)) => same,
        (None, None) => {
            client_choice(state, caller, &manifest.id, conn.auth_kind, credentials).await?
        }
    };
    let mut warnings = Vec::new();
    let changed = current.as_ref().is_some_and(|c| client_changed(c, &client));
    if changed {
        // A new OAuth app: the old app's tokens must not stay alive.
        let outcome = state
            .tokens
            .discard(
                cref,
                "The connection's OAuth app (client ID or secret) was changed: finish signing in to use it again.",
            )
            .await
            .map_err(ApiError::internal)?;
        warnings.extend(revocation_warning(outcome));
        conn.status = ConnectionStatus::Disconnected;
    }
    conn.updated_by = caller.user_id;
    conn.updated_at = OffsetDateTime::now_utc();
    if conn.auth_kind.uses_authorize_redirect() {
        let still_works = !changed && conn.status == ConnectionStatus::Connected;
        let url = begin(state, &conn, &method, client, scopes, still_works).await?;
        if !still_works {
            conn = state
                .repo
                .connection(conn.tenant_id, conn.id)
                .await
                .map_err(ApiError::internal)?
                .unwrap_or(conn);
        }
        crate::audit(state, caller, "connection.reconnect", &conn.id.to_string()).await;
        return Ok(CreatedConnection {
            connection: ConnectionView::from(&conn),
            authorize_url: Some(url.to_string()),
            warnings,
        });
    }
    let credential = direct_grant(state, &conn, &method, client, scopes, credentials).await?;
    let mut trial = conn.clone();
    if let Some(o) = credential.as_oauth2() {
        trial.granted_scopes = o.scopes.clone();
    }
    if let Err(e) = run_check(state, entry, &mut trial, candidate(&credential)).await {
        return Err(refused(call_error(&e), "nothing changed"));
    }
    same_account(&conn, &trial)?;
    state
        .tokens
        .install(cref, &credential)
        .await
        .map_err(ApiError::internal)?;
    trial.account = conn.account.clone().or(trial.account);
    let trial = save(state, &trial).await?;
    crate::audit(state, caller, "connection.reconnect", &trial.id.to_string()).await;
    Ok(CreatedConnection {
        connection: ConnectionView::from(&trial),
        authorize_url: None,
        warnings,
    })
}

/// A connection's account never changes (seed 001).
fn same_account(before: &Connection, after: &Connection) -> ApiResult<()> {
    if let (Some(b), Some(a)) = (&before.account, &after.account)
        && b.id != a.id
    {
        return Err(ApiError::bad_request(
            "account_mismatch",
            format!(
                "this sign-in belongs to account `{}`, but the connection is for `{}`; a connection's account cannot change — sign in as `{}` or create a new connection",
                a.display_name, b.display_name, b.display_name
            ),
        ));
    }
    Ok(())
}

fn revocation_warning(outcome: Revocation) -> Option<Warning> {
    match outcome {
        Revocation::Failed(why) => Some(Warning {
            code: "revocation_failed".into(),
            message: format!(
                "the old tokens could not be revoked at the provider ({why}); they are deleted here, and expire at the provider on their own — revoke the app's access in the provider's settings to end them now"
            ),
        }),
        Revocation::Revoked | Revocation::NotSupported => None,
    }
}

/// Deleting a connection: revoke its tokens at the provider (where the
/// connector declares a revocation endpoint) and delete them. A failed
/// revocation is a warning, never a failed delete.
pub(crate) async fn forget_credential(state: &AppState, conn: &Connection) -> Option<Warning> {
    if !conn.auth_kind.is_oauth2() {
        return None;
    }
    match state.tokens.delete_credential(store_ref(conn)).await {
        Ok(outcome) => revocation_warning(outcome),
        Err(e) => revocation_warning(Revocation::Failed(e.to_string())),
    }
}

// ---------------------------------------------------------------------------
// The callback

/// What the provider sends back (RFC 6749 §4.1.2, RFC 9207 `iss`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code (single use).
    pub code: Option<String>,
    /// The `state` Plugboard put in the authorize URL.
    pub state: Option<String>,
    /// An OAuth error code, e.g. `access_denied`.
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The issuer (RFC 9207).
    pub iss: Option<String>,
}

/// Where the provider sends the browser back after sign-in. Completes the
/// pending connection (tokens stored, account from `check-connection`)
/// and answers a page for the person. No API token: the browser arrives
/// here.
#[utoipa::path(get, path = "/provisioning_/callback", tag = "connections",
    params(CallbackQuery),
    responses(
        (status = 200, description = "Connected: a page saying so", content_type = "text/html", body = String),
        (status = 400, description = "Sign-in failed: a page saying why and what to do", content_type = "text/html", body = String)))]
async fn callback(
    State(state): State<AppState>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> (StatusCode, Html<String>) {
    let Ok(Query(q)) = query else {
        return page(
            StatusCode::BAD_REQUEST,
            "Connection failed",
            "This sign-in response is malformed. Start connecting again.",
            &[],
        );
    };
    let params = CallbackParams {
        code: q.code,
        state: q.state,
        error: q.error,
        error_description: q.error_description,
        iss: q.iss,
    };
    let done = match state.flows.complete_authorization(&params).await {
        Ok(done) => done,
        Err(failure) => {
            tracing::info!(connection = ?failure.conn.map(|c| c.connection.to_string()), "OAuth callback refused");
            let mut lines = vec![failure.error.to_string()];
            if let Some(p) = failure.error.provider_message() {
                lines.push(format!("The provider said: {p}"));
            }
            return page(
                StatusCode::BAD_REQUEST,
                "Connection failed",
                &lines[0],
                &lines[1..],
            );
        }
    };
    match finish(&state, done).await {
        Ok((conn, warnings)) => {
            let who = conn
                .account
                .as_ref()
                .map(|a| a.display_name.clone())
                .unwrap_or_default();
            let notes: Vec<String> = warnings.into_iter().map(|w| w.message).collect();
            page(
                StatusCode::OK,
                "Connected",
                &format!(
                    "Connection `{}` is connected as {who}. You can close this tab.",
                    conn.name
                ),
                &notes,
            )
        }
        Err(lines) => page(
            StatusCode::BAD_REQUEST,
            "Connection failed",
            &lines[0],
            &lines[1..],
        ),
    }
}

/// After a successful code exchange: check the tokens with the connector,
/// then store them and the account. Err: lines for the page.
async fn finish(
    state: &AppState,
    done: CompletedAuthorization,
) -> Result<(Connection, Vec<Warning>), Vec<String>> {
    let tenant = TenantId(done.conn.scope.tenant.0);
    let id = ConnectionId(done.conn.connection.0);
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(connection = %id, error = %e, "finishing OAuth callback failed");
        vec!["Plugboard could not save the connection. Start connecting again; if it persists, tell your administrator.".to_string()]
    };
    let conn = match state.repo.connection(tenant, id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(vec![
                "The connection was deleted while you were signing in. Create it again.".into(),
            ]);
        }
        Err(e) => return Err(internal(&e)),
    };
    let Some(entry) = state.registry.get(tenant, &conn.connector_id) else {
        return Err(vec![format!(
            "Connector `{}` is no longer installed; the connection cannot be completed.",
            conn.connector_id
        )]);
    };
    let mut trial = conn.clone();
    trial.granted_scopes = done.granted_scopes.clone();
    let checked = run_check(state, &entry, &mut trial, candidate(&done.credential)).await;
    let mismatch = same_account(&conn, &trial).err();
    if checked.is_err() || mismatch.is_some() {
        let mut lines = match &mismatch {
            Some(e) => vec![format!("{}.", e.message)],
            None => vec![format!(
                "Signing in worked, but the connector's check failed: {}",
                trial.status_message.clone().unwrap_or_default()
            )],
        };
        if let Some(p) = &trial.provider_error {
            lines.push(format!("The provider said: {p}"));
        }
        if !done.reconnect {
            trial.status = ConnectionStatus::Disconnected;
            trial.status_message = Some(lines[0].clone());
            trial.account = conn.account.clone();
            save(state, &trial)
                .await
                .map_err(|e| internal(&e.message))?;
        }
        return Err(lines);
    }
    state
        .tokens
        .install(done.conn, &done.credential)
        .await
        .map_err(|e| internal(&e))?;
    trial.account = conn.account.clone().or(trial.account);
    let named = conn.name != entry.manifest().name;
    trial = save(state, &trial)
        .await
        .map_err(|e| internal(&e.message))?;
    // Naming it after the account is an edit of its own: saving the
    // sign-in's findings leaves the name as it is.
    if let Some(name) = default_name(entry.manifest(), &trial, named) {
        let rename = ConnectionEdit {
            name: Some(name),
            ..ConnectionEdit::default()
        };
        trial = state
            .repo
            .edit_connection(tenant, id, &rename, trial.updated_by, None)
            .await
            .map_err(|e| internal(&e))?;
    }
    let warnings = same_account_warnings(state, &trial)
        .await
        .map_err(|e| internal(&e.message))?;
    let event = AuditEvent {
        at: OffsetDateTime::now_utc(),
        actor: trial.updated_by,
        tenant_id: tenant,
        action: if done.reconnect {
            "connection.reconnected".into()
        } else {
            "connection.authorized".into()
        },
        target: trial.id.to_string(),
        source: None,
        request_id: None,
    };
    if let Err(e) = state.repo.audit(event).await {
        tracing::warn!(error = %e, "could not record audit event");
    }
    Ok((trial, warnings))
}

/// A small page for the person in the browser; every text is escaped.
fn page(
    status: StatusCode,
    title: &str,
    message: &str,
    notes: &[String],
) -> (StatusCode, Html<String>) {
    use html_escape::encode_text as esc;
    let notes: String = notes.iter().map(|n| format!("<p>{}</p>", esc(n))).collect();
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} — Plugboard</title></head>\
             <body><h1>{title}</h1><p>{message}</p>{notes}</body></html>",
            title = esc(title),
            message = esc(message),
        )),
    )
}
