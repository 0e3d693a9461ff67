//! Getting a credential: OAuth 2.0 authorization code (with BYOA), client
//! credentials, password grant, and the plain kinds (PAT, client
//! certificate, see [`Credential`]).
//!
//! Authorization code, step by step:
//! 1. [`AuthFlows::begin_authorization`] resolves the endpoints (manifest +
//!    connection config), the client (operator app or BYOA), makes a
//!    one-time `state` and a PKCE S256 verifier (unless the manifest says
//!    `pkce = false`), records a pending authorization in the store (state
//!    hashed, verifier and BYOA secret sealed, expiring in minutes) bound
//!    to the pending connection, and returns the provider's authorize URL.
//! 2. The provider redirects to `<public base>/provisioning_/callback`.
//! 3. [`AuthFlows::complete_authorization`] consumes the state (once),
//!    checks the provider's error, the RFC 9207 `iss` when present, and
//!    exchanges the code once — never retried: a code is single-use, and a
//!    retry after a lost response would fail anyway or, worse, be replayed.
//!    Failures end a new pending connection as Disconnected with a message
//!    a person understands ([`CallbackError`]).
//!
//! The password grant exists only for connectors whose manifest declares
//! `oauth2_password` (seed 000 lists it). RFC 9700 (OAuth 2.0 Security BCP)
//! says it MUST NOT be used: the app sees the user's password, and MFA and
//! phishing-resistant sign-in are impossible. Plugboard never stores the
//! password; when the provider issues no refresh token, the connection
//! needs reconnecting once the access token expires.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, ResourceOwnerPassword,
    ResourceOwnerUsername, Scope as OAuthScope,
};
use plugboard_manifest::{AuthKind, AuthMethod, OAuth2Settings};
use plugboard_store::{
    ConnectionId, ConnectionStatus, NewPendingAuthorization, Scope, Store, StoreError, UserId,
};
use plugboard_vault::SecretString;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::credential::{ClientRef, Credential, Grant, OAuth2Credential, TokenEndpoints};
use crate::error::is_pre_approval;
use crate::oauth::{self, ClientSpec, TokenFailure};
use crate::{AuthError, CallbackError, Clock, OAuthHttp, OperatorApps};

/// The path of Plugboard's OAuth callback under the public base URL (seed 000).
pub const CALLBACK_PATH: &str = "/provisioning_/callback";

/// A connection, named the way the store scopes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionRef {
    pub scope: Scope,
    pub connection: ConnectionId,
}

/// Which OAuth client a flow uses.
#[derive(Debug, Clone)]
pub enum ClientChoice {
    /// The operator's app for the connector ([`OperatorApps`]).
    Operator,
    /// Bring your own OAuth app: the user's client id + secret, or the
    /// organization's default for this connector (the server picks).
    Own {
        client_id: String,
        client_secret: SecretString,
    },
}

/// How long an expired authorization is kept before it is deleted: until
/// then a late callback is told "expired" rather than "unknown state", and
/// no purge can race a callback that is consuming a state.
pub const EXPIRED_STATE_KEPT: Duration = Duration::from_secs(3600);

/// Settings of [`AuthFlows`].
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// Where Plugboard is reachable by browsers, e.g. `https://plugboard.example.com`.
    pub public_base_url: Url,
    /// How long a started authorization may take (default 10 minutes).
    pub state_ttl: Duration,
}

impl FlowSettings {
    pub fn new(public_base_url: Url) -> Self {
        FlowSettings {
            public_base_url,
            state_ttl: Duration::from_secs(600),
        }
    }
}

/// Starting an authorization-code flow.
#[derive(Debug, Clone)]
pub struct BeginAuthorization<'a> {
    /// The (pending) connection this authorization completes.
    pub conn: ConnectionRef,
    pub connector_id: &'a str,
    /// `oauth2_authorization_code` or `oauth2_byoa`.
    pub method: &'a AuthMethod,
    /// The connection's config (fills `{field}` placeholders in URLs).
    pub config: &'a BTreeMap<String, String>,
    pub client: ClientChoice,
    /// Scopes to ask for; `None` = the method's defaults.
    pub scopes: Option<Vec<String>>,
    /// The provider's issuer identifier, if known (RFC 9207). When `None`
    /// and the provider sends `iss`, it must have the authorize URL's origin.
    pub issuer: Option<String>,
    pub created_by: Option<UserId>,
    /// The connection already works and is being re-authorized: a failed
    /// callback then leaves its status alone.
    pub reconnect: bool,
}

/// The query of the redirect to the callback.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// A finished authorization: store it with [`crate::TokenManager::install`].
#[derive(Debug)]
pub struct CompletedAuthorization {
    pub conn: ConnectionRef,
    pub connector_id: String,
    pub kind: AuthKind,
    pub credential: Credential,
    pub granted_scopes: Vec<String>,
    pub reconnect: bool,
}

/// A callback that did not produce a credential. `conn` is known when the
/// state was; the pending connection has then been marked Disconnected
/// (unless it was a reconnect) with `error`'s message.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct CallbackFailure {
    pub conn: Option<ConnectionRef>,
    pub error: CallbackError,
}

/// Non-secret context of a pending authorization (the store's `extra`).
#[derive(Debug, Serialize, Deserialize)]
struct PendingContext {
    connector_id: String,
    kind: AuthKind,
    endpoints: TokenEndpoints,
    authorize_origin: String,
    issuer: Option<String>,
    requested_scopes: Vec<String>,
    client_id: String,
    operator_client: bool,
    pkce: bool,
    reconnect: bool,
}

/// The sealed part of a pending authorization. The store seals one secret
/// per pending authorization (named for the PKCE verifier); BYOA also needs
/// the client secret until the code is exchanged, so both travel in it as
/// JSON. See the report: the store should offer a sealed context instead.
#[derive(Serialize, Deserialize, Default)]
struct SealedContext {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pkce_verifier: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    client_secret: String,
}

impl Drop for SealedContext {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.pkce_verifier.zeroize();
        self.client_secret.zeroize();
    }
}

/// Runs the flows. Cheap to clone.
#[derive(Clone)]
pub struct AuthFlows {
    store: Store,
    http: OAuthHttp,
    apps: Arc<OperatorApps>,
    clock: Arc<dyn Clock>,
    settings: FlowSettings,
}

/// Endpoints and client resolved from a manifest method + config.
/// A client-credentials or password grant, ready to send.
struct DirectGrant {
    resolved: Resolved,
    scopes: Vec<String>,
    client: oauth::OAuthClient,
}

/// The `scope` parameter, joined with the provider's separator, if any.
fn with_scopes<R>(
    request: R,
    scopes: &[String],
    resolved: &Resolved,
    add: impl FnOnce(R, OAuthScope) -> R,
) -> R {
    if scopes.is_empty() {
        request
    } else {
        add(
            request,
            OAuthScope::new(scopes.join(&resolved.endpoints.scope_separator)),
        )
    }
}

fn invalid_oauth_settings(e: impl std::fmt::Display) -> AuthError {
    AuthError::InvalidInput {
        what: "OAuth settings",
        reason: e.to_string(),
    }
}

struct Resolved {
    settings: OAuth2Settings,
    /// The method's default scopes with `{field}`s expanded from config.
    default_scopes: Vec<String>,
    authorize_url: Option<String>,
    endpoints: TokenEndpoints,
    client: ClientRef,
    client_secret: SecretString,
}

impl AuthFlows {
    pub fn new(
        store: Store,
        http: OAuthHttp,
        apps: Arc<OperatorApps>,
        clock: Arc<dyn Clock>,
        settings: FlowSettings,
    ) -> Self {
        AuthFlows {
            store,
            http,
            apps,
            clock,
            settings,
        }
    }

    /// `<public base>/provisioning_/callback`, exactly as registered at providers.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}{CALLBACK_PATH}",
            self.settings.public_base_url.as_str().trim_end_matches('/')
        )
    }

    fn resolve(
        &self,
        connector_id: &str,
        method: &AuthMethod,
        config: &BTreeMap<String, String>,
        client: &ClientChoice,
    ) -> Result<Resolved, AuthError> {
        // Every `{field}` (URLs, separator, user-typed scopes) is filled in
        // one place, by the manifest crate.
        let method = method.resolve(config)?;
        let settings = method.oauth2.clone().ok_or_else(|| AuthError::BadMethod {
            connector: connector_id.into(),
            kind: method.kind,
            reason: "the manifest declares no OAuth 2.0 endpoints".into(),
        })?;
        let endpoints = TokenEndpoints {
            token_url: settings.token_url.clone(),
            revoke_url: settings.revoke_url.clone(),
            client_auth: settings.client_auth,
            scope_separator: settings.scope_separator.clone(),
        };
        let (client, client_secret) = match client {
            ClientChoice::Own {
                client_id,
                client_secret,
            } => {
                if client_id.trim().is_empty() || client_secret.is_empty() {
                    return Err(AuthError::InvalidInput {
                        what: "OAuth app",
                        reason: "both the client ID and the client secret are required".into(),
                    });
                }
                (
                    ClientRef::Own {
                        client_id: client_id.trim().to_string(),
                        client_secret: client_secret.clone(),
                    },
                    client_secret.clone(),
                )
            }
            ClientChoice::Operator => {
                let app = self.apps.get(connector_id).ok_or_else(|| {
                    let (id_env, secret_env) = crate::apps::env_keys(connector_id);
                    AuthError::AppNotConfigured {
                        connector: connector_id.into(),
                        kind: method.kind,
                        id_env,
                        secret_env,
                        config_key: crate::apps::config_key(connector_id),
                    }
                })?;
                (
                    ClientRef::Operator {
                        connector: connector_id.into(),
                        client_id: app.client_id.clone(),
                    },
                    app.client_secret.clone(),
                )
            }
        };
        Ok(Resolved {
            authorize_url: settings.authorize_url.clone(),
            default_scopes: method.scopes_default,
            settings,
            endpoints,
            client,
            client_secret,
        })
    }

    /// Step 1 of the authorization code flow: the URL to send the person to.
    ///
    /// # Errors
    /// Wrong auth kind, missing endpoints or config fields,
    /// [`AuthError::AppNotConfigured`] for the operator app, store errors.
    pub async fn begin_authorization(&self, req: BeginAuthorization<'_>) -> Result<Url, AuthError> {
        if !req.method.kind.uses_authorize_redirect() {
            return Err(AuthError::BadMethod {
                connector: req.connector_id.into(),
                kind: req.method.kind,
                reason: "this auth kind does not sign in through the provider's authorize page"
                    .into(),
            });
        }
        let r = self.resolve(req.connector_id, req.method, req.config, &req.client)?;
        let authorize_url = r
            .authorize_url
            .clone()
            .ok_or_else(|| AuthError::BadMethod {
                connector: req.connector_id.into(),
                kind: req.method.kind,
                reason: "the manifest declares no authorize URL".into(),
            })?;
        let authorize_origin = Url::parse(&authorize_url)
            .map_err(|_| AuthError::InvalidInput {
                what: "authorize URL",
                reason: format!("`{authorize_url}` is not an absolute URL"),
            })?
            .origin()
            .ascii_serialization();
        let redirect_uri = self.redirect_uri();
        let client = oauth::client(ClientSpec {
            client_id: r.client.client_id(),
            client_secret: Some(&r.client_secret),
            authorize_url: Some(&authorize_url),
            token_url: Some(&r.endpoints.token_url),
            revoke_url: None,
            redirect_uri: Some(&redirect_uri),
            client_auth: r.endpoints.client_auth,
        })?;
        let scopes = req
            .scopes
            .clone()
            .unwrap_or_else(|| r.default_scopes.clone());
        let state: [u8; 32] = rand::rng().random();
        let state = URL_SAFE_NO_PAD.encode(state);
        let mut request = client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .map_err(|e| AuthError::InvalidInput {
                what: "OAuth settings",
                reason: e.to_string(),
            })?;
        if !scopes.is_empty() {
            // One value joined with the provider's separator (Zoom: comma);
            // `oauth2` would join several with spaces.
            request = request.add_scope(OAuthScope::new(scopes.join(&r.settings.scope_separator)));
        }
        for (k, v) in &r.settings.extra_authorize_params {
            request = request.add_extra_param(k.clone(), v.clone());
        }
        let mut sealed = SealedContext::default();
        if r.settings.pkce {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            sealed.pkce_verifier = verifier.secret().clone();
        }
        if let ClientRef::Own { client_secret, .. } = &r.client {
            sealed.client_secret = client_secret.expose().to_string();
        }
        let (url, _) = request.url();
        let context = PendingContext {
            connector_id: req.connector_id.into(),
            kind: req.method.kind,
            endpoints: r.endpoints.clone(),
            authorize_origin,
            issuer: req.issuer.clone(),
            requested_scopes: scopes,
            client_id: r.client.client_id().to_string(),
            operator_client: matches!(r.client, ClientRef::Operator { .. }),
            pkce: r.settings.pkce,
            reconnect: req.reconnect,
        };
        let sealed_secret = (!sealed.pkce_verifier.is_empty() || !sealed.client_secret.is_empty())
            .then(|| SecretString::new(serde_json::to_string(&sealed).expect("json")));
        let expires_at = self.clock.now() + self.settings.state_ttl;
        self.store
            .create_pending_authorization(
                &req.conn.scope,
                NewPendingAuthorization {
                    connection: req.conn.connection,
                    state: &state,
                    pkce_verifier: sealed_secret.as_ref(),
                    redirect_uri: &redirect_uri,
                    extra: serde_json::to_value(&context).expect("json"),
                    created_by: req.created_by,
                    expires_at,
                },
            )
            .await?;
        self.forget_abandoned_authorizations().await;
        Ok(url)
    }

    /// Delete the authorizations nobody finished (with their sealed PKCE
    /// verifier and client secret) once they are [`EXPIRED_STATE_KEPT`]
    /// past their expiry. Done when a flow starts, as signing in forgets
    /// expired sessions: no background task, and the table holds only the
    /// last hour or so of flows.
    async fn forget_abandoned_authorizations(&self) {
        let before = self.clock.now() - EXPIRED_STATE_KEPT;
        if let Err(e) = self.store.purge_pending_authorizations(before).await {
            tracing::warn!(error = %e, "could not delete abandoned OAuth authorizations");
        }
    }

    /// Step 3: handle the redirect to the callback.
    ///
    /// # Errors
    /// A [`CallbackFailure`] whose message is meant for the person.
    pub async fn complete_authorization(
        &self,
        params: &CallbackParams,
    ) -> Result<CompletedAuthorization, CallbackFailure> {
        let fail =
            |conn: Option<ConnectionRef>, error: CallbackError| CallbackFailure { conn, error };
        let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) else {
            return Err(fail(None, CallbackError::MissingState));
        };
        let pending = match self.store.consume_pending_authorization(state).await {
            Ok(p) => p,
            Err(StoreError::AuthorizationState { reason }) => {
                let error = if reason.contains("expired") {
                    CallbackError::ExpiredState
                } else if reason.contains("already used") {
                    CallbackError::ReusedState
                } else {
                    CallbackError::UnknownState
                };
                return Err(fail(None, error));
            }
            Err(e) => return Err(fail(None, CallbackError::Internal(e.to_string()))),
        };
        let conn = ConnectionRef {
            scope: pending.scope,
            connection: pending.connection,
        };
        let context: PendingContext = match serde_json::from_value(pending.extra.clone()) {
            Ok(c) => c,
            Err(e) => {
                return Err(fail(
                    Some(conn),
                    CallbackError::Internal(format!("pending authorization: {e}")),
                ));
            }
        };
        let reconnect = context.reconnect;
        match self.finish(params, &pending, context).await {
            Ok(done) => Ok(done),
            Err(error) => {
                if !reconnect {
                    let _ = self
                        .store
                        .set_connection_status(
                            &conn.scope,
                            conn.connection,
                            ConnectionStatus::Disconnected,
                            Some(&error.to_string()),
                            error.provider_message(),
                        )
                        .await;
                }
                Err(fail(Some(conn), error))
            }
        }
    }

    async fn finish(
        &self,
        params: &CallbackParams,
        pending: &plugboard_store::PendingAuthorization,
        context: PendingContext,
    ) -> Result<CompletedAuthorization, CallbackError> {
        let conn = ConnectionRef {
            scope: pending.scope,
            connection: pending.connection,
        };
        if let Some(error) = params.error.as_deref() {
            let description = params.error_description.clone();
            if description.as_deref().is_some_and(is_pre_approval) {
                return Err(CallbackError::PreApprovalRequired {
                    provider_message: description.unwrap_or_default(),
                });
            }
            return Err(if error == "access_denied" {
                CallbackError::Denied {
                    provider_message: description,
                }
            } else {
                CallbackError::Provider {
                    error: error.to_string(),
                    description,
                }
            });
        }
        // RFC 9207: when the provider says who it is, it must be who we asked.
        if let Some(iss) = params.iss.as_deref() {
            let matches = match &context.issuer {
                Some(expected) => iss.trim_end_matches('/') == expected.trim_end_matches('/'),
                None => Url::parse(iss)
                    .map(|u| u.origin().ascii_serialization() == context.authorize_origin)
                    .unwrap_or(false),
            };
            if !matches {
                return Err(CallbackError::IssuerMismatch {
                    expected: context
                        .issuer
                        .clone()
                        .unwrap_or(context.authorize_origin.clone()),
                    actual: iss.to_string(),
                });
            }
        }
        let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(CallbackError::MissingCode);
        };
        let sealed: SealedContext = match &pending.pkce_verifier {
            Some(s) => serde_json::from_str(s.expose()).map_err(|_| {
                CallbackError::Internal("pending authorization secrets do not parse".into())
            })?,
            None => SealedContext::default(),
        };
        let (client, client_secret) = if context.operator_client {
            let app = self.apps.get(&context.connector_id).ok_or_else(|| {
                CallbackError::Internal(format!(
                    "the OAuth app of connector `{}` is no longer configured",
                    context.connector_id
                ))
            })?;
            (
                ClientRef::Operator {
                    connector: context.connector_id.clone(),
                    client_id: app.client_id.clone(),
                },
                app.client_secret.clone(),
            )
        } else {
            let secret = SecretString::new(sealed.client_secret.clone());
            (
                ClientRef::Own {
                    client_id: context.client_id.clone(),
                    client_secret: secret.clone(),
                },
                secret,
            )
        };
        let oauth_client = oauth::client(ClientSpec {
            client_id: client.client_id(),
            client_secret: Some(&client_secret),
            authorize_url: None,
            token_url: Some(&context.endpoints.token_url),
            revoke_url: None,
            redirect_uri: Some(&pending.redirect_uri),
            client_auth: context.endpoints.client_auth,
        })
        .map_err(|e| CallbackError::Internal(e.to_string()))?;
        let mut exchange = oauth_client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| CallbackError::Internal(e.to_string()))?;
        if context.pkce {
            if sealed.pkce_verifier.is_empty() {
                return Err(CallbackError::Internal("the PKCE verifier was lost".into()));
            }
            exchange =
                exchange.set_pkce_verifier(PkceCodeVerifier::new(sealed.pkce_verifier.clone()));
        }
        // Exactly once: a code is single-use.
        let response =
            exchange
                .request_async(&self.http)
                .await
                .map_err(|e| match oauth::classify(e) {
                    TokenFailure::OAuth(p) => {
                        let message = p.provider_message();
                        if is_pre_approval(&message) {
                            CallbackError::PreApprovalRequired {
                                provider_message: message,
                            }
                        } else {
                            CallbackError::ExchangeRefused {
                                provider_message: Some(message),
                            }
                        }
                    }
                    TokenFailure::Transient { detail, .. } => {
                        CallbackError::ExchangeFailed { detail }
                    }
                    TokenFailure::Other(detail) => CallbackError::ExchangeFailed { detail },
                })?;
        let issued = oauth::issued(
            &response,
            self.clock.now(),
            &context.endpoints.scope_separator,
        )
        .map_err(|e| CallbackError::ExchangeFailed {
            detail: e.to_string(),
        })?;
        let granted = issued
            .scopes
            .clone()
            .unwrap_or(context.requested_scopes.clone());
        Ok(CompletedAuthorization {
            conn,
            connector_id: context.connector_id,
            kind: context.kind,
            granted_scopes: granted.clone(),
            reconnect: context.reconnect,
            credential: Credential::OAuth2(OAuth2Credential {
                grant: Grant::AuthorizationCode,
                access_token: issued.access_token,
                refresh_token: issued.refresh_token,
                token_type: issued.token_type,
                expires_at: issued.expires_at,
                scopes: granted,
                requested_scopes: context.requested_scopes,
                endpoints: context.endpoints,
                client,
            }),
        })
    }

    /// Client credentials grant: a credential right away (renewed later by
    /// asking again).
    ///
    /// # Errors
    /// As [`Self::begin_authorization`], plus the provider's refusal.
    pub async fn client_credentials(
        &self,
        connector_id: &str,
        method: &AuthMethod,
        config: &BTreeMap<String, String>,
        client: ClientChoice,
        scopes: Option<Vec<String>>,
    ) -> Result<Credential, AuthError> {
        let direct = self.direct_grant(
            connector_id,
            method,
            AuthKind::Oauth2ClientCredentials,
            "not a client-credentials method",
            config,
            &client,
            scopes,
        )?;
        let req = direct
            .client
            .exchange_client_credentials()
            .map_err(invalid_oauth_settings)?;
        let req = with_scopes(req, &direct.scopes, &direct.resolved, |r, s| r.add_scope(s));
        let resp = req
            .request_async(&self.http)
            .await
            .map_err(|e| oauth::classify(e).into_error())?;
        self.credential_from(
            Grant::ClientCredentials,
            &resp,
            direct.scopes,
            direct.resolved,
        )
    }

    /// Resource owner password grant, only where the manifest declares
    /// `oauth2_password`. Discouraged by RFC 9700; the password is used once
    /// and never stored.
    ///
    /// # Errors
    /// As [`Self::client_credentials`].
    #[allow(clippy::too_many_arguments)]
    pub async fn password_grant(
        &self,
        connector_id: &str,
        method: &AuthMethod,
        config: &BTreeMap<String, String>,
        client: ClientChoice,
        scopes: Option<Vec<String>>,
        username: &str,
        password: &SecretString,
    ) -> Result<Credential, AuthError> {
        let direct = self.direct_grant(
            connector_id,
            method,
            AuthKind::Oauth2Password,
            "the connector does not declare the password grant",
            config,
            &client,
            scopes,
        )?;
        let user = ResourceOwnerUsername::new(username.to_string());
        let pass = ResourceOwnerPassword::new(password.expose().to_string());
        let req = direct
            .client
            .exchange_password(&user, &pass)
            .map_err(invalid_oauth_settings)?;
        let req = with_scopes(req, &direct.scopes, &direct.resolved, |r, s| r.add_scope(s));
        let resp = req
            .request_async(&self.http)
            .await
            .map_err(|e| oauth::classify(e).into_error())?;
        self.credential_from(Grant::Password, &resp, direct.scopes, direct.resolved)
    }

    /// What the grants that need no browser share: the kind check, the
    /// resolved endpoints and client, and the scopes to ask for.
    #[allow(clippy::too_many_arguments)]
    fn direct_grant(
        &self,
        connector_id: &str,
        method: &AuthMethod,
        expected: AuthKind,
        refusal: &str,
        config: &BTreeMap<String, String>,
        client: &ClientChoice,
        scopes: Option<Vec<String>>,
    ) -> Result<DirectGrant, AuthError> {
        if method.kind != expected {
            return Err(AuthError::BadMethod {
                connector: connector_id.into(),
                kind: method.kind,
                reason: refusal.into(),
            });
        }
        let resolved = self.resolve(connector_id, method, config, client)?;
        let scopes = scopes.unwrap_or_else(|| resolved.default_scopes.clone());
        let client = oauth::client(ClientSpec {
            client_id: resolved.client.client_id(),
            client_secret: Some(&resolved.client_secret),
            authorize_url: None,
            token_url: Some(&resolved.endpoints.token_url),
            revoke_url: None,
            redirect_uri: None,
            client_auth: resolved.endpoints.client_auth,
        })?;
        Ok(DirectGrant {
            resolved,
            scopes,
            client,
        })
    }

    fn credential_from(
        &self,
        grant: Grant,
        resp: &oauth2::basic::BasicTokenResponse,
        requested: Vec<String>,
        r: Resolved,
    ) -> Result<Credential, AuthError> {
        let issued = oauth::issued(resp, self.clock.now(), &r.endpoints.scope_separator)?;
        Ok(Credential::OAuth2(OAuth2Credential {
            grant,
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            token_type: issued.token_type,
            expires_at: issued.expires_at,
            scopes: issued.scopes.unwrap_or(requested.clone()),
            requested_scopes: requested,
            endpoints: r.endpoints,
            client: r.client,
        }))
    }
}
