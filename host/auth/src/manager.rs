//! The token manager: hands out access tokens and keeps them fresh.
//!
//! - Refreshes `refresh_skew` before expiry (by the injected [`Clock`]).
//! - Single-flight per credential: in one process, a per-connection async
//!   mutex (everyone queued behind it re-reads the credential and finds it
//!   refreshed); across processes sharing the store, the store's lease
//!   `refresh:<connection id>` (waiters poll the credential's version).
//! - The new token set is saved with compare-and-swap on the credential's
//!   version *before* the new access token is handed out, so a rotated
//!   refresh token is never lost by a caller that already used its access
//!   token; when the provider returns no refresh token the old one is kept.
//! - Missing `expires_in`: expiry unknown; callers refresh after a 401 with
//!   [`TokenManager::refresh_after_unauthorized`].
//! - `invalid_grant` (also inside an HTTP 200): re-read the credential (a
//!   replica may have refreshed it meanwhile); if it did not move, the
//!   connection becomes Disconnected — reconnect required, with the
//!   provider's message kept as the provider error message.
//! - Timeouts, 5xx, 429: bounded retries with backoff (honouring
//!   `Retry-After`), and the connection stays Connected.
//!
//! It never logs a token: tracing fields are ids, versions and outcomes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth2::basic::BasicTokenResponse;
use oauth2::{RefreshToken, RequestTokenError, Scope as OAuthScope, StandardRevocableToken};
use plugboard_store::{ConnectionId, ConnectionStatus, Store};
use plugboard_vault::SecretString;
use time::OffsetDateTime;

use crate::credential::{ClientRef, Credential, Grant, OAuth2Credential};
use crate::flows::ConnectionRef;
use crate::http::HttpError;
use crate::oauth::{self, ClientSpec, OAuthClient, ProviderError, TokenFailure};
use crate::{AuthError, Clock, OAuthHttp, OperatorApps};

/// What a person reads on a connection whose refresh token was refused.
pub const RECONNECT_MESSAGE: &str = "Reconnect required: the provider no longer accepts this \
connection's sign-in. It was revoked, expired, or replaced by a newer sign-in to the same \
app and account (Zoom, for one, keeps a single session per app and user, so connecting the \
same Zoom account again ends the older connection). Reconnect to use it again.";

/// Tuning of the [`TokenManager`]; the defaults suit production.
#[derive(Debug, Clone)]
pub struct ManagerSettings {
    /// Refresh this long before the access token expires (default 5 min).
    pub refresh_skew: Duration,
    /// Lease time-to-live while one process refreshes (default 60 s);
    /// longer than a whole refresh with its retries.
    pub lease_ttl: Duration,
    /// How long to wait for another process's refresh (default 30 s).
    pub lease_wait: Duration,
    /// How often a waiter looks at the credential again (default 50 ms).
    pub lease_poll: Duration,
    /// Token-endpoint attempts for one refresh, first included (default 4).
    pub max_attempts: u32,
    /// First backoff, doubled each retry (default 500 ms)…
    pub backoff_base: Duration,
    /// …up to this (default 8 s).
    pub backoff_max: Duration,
    /// A longer `Retry-After` is not waited for: the refresh fails as
    /// transient instead (default 30 s).
    pub max_retry_after: Duration,
}

impl Default for ManagerSettings {
    fn default() -> Self {
        ManagerSettings {
            refresh_skew: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(60),
            lease_wait: Duration::from_secs(30),
            lease_poll: Duration::from_millis(50),
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// A usable access token. `Debug` does not show it.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub token_type: String,
    pub expires_at: Option<OffsetDateTime>,
    pub scopes: Vec<String>,
    /// Credential version it came from.
    pub version: i64,
}

/// What happened at the provider when tokens were revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    /// The connector declares no revocation endpoint, or the credential is
    /// not OAuth.
    NotSupported,
    /// It was tried and failed (the message is safe to show).
    Failed(String),
}

/// Cheap to clone; one per process.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    http: OAuthHttp,
    apps: Arc<OperatorApps>,
    clock: Arc<dyn Clock>,
    settings: ManagerSettings,
    holder: String,
    locks: Mutex<HashMap<ConnectionId, Arc<tokio::sync::Mutex<()>>>>,
}

struct Loaded {
    version: i64,
    credential: Credential,
}

impl TokenManager {
    pub fn new(
        store: Store,
        http: OAuthHttp,
        apps: Arc<OperatorApps>,
        clock: Arc<dyn Clock>,
        settings: ManagerSettings,
    ) -> Self {
        TokenManager {
            inner: Arc::new(Inner {
                store,
                http,
                apps,
                clock,
                settings,
                holder: format!("token-manager:{}", uuid::Uuid::new_v4()),
                locks: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// This process's lease holder name.
    pub fn holder_id(&self) -> &str {
        &self.inner.holder
    }

    async fn load(&self, conn: ConnectionRef) -> Result<Loaded, AuthError> {
        let stored = self
            .inner
            .store
            .get_credential(&conn.scope, conn.connection)
            .await?
            .ok_or(AuthError::NoCredential)?;
        Ok(Loaded {
            version: stored.version,
            credential: Credential::from_secret(&stored.secret)?,
        })
    }

    /// The connection's credential as stored (PAT and client certificate
    /// connections use it as is).
    ///
    /// # Errors
    /// [`AuthError::NoCredential`], store and decoding errors.
    pub async fn credential(&self, conn: ConnectionRef) -> Result<Credential, AuthError> {
        Ok(self.load(conn).await?.credential)
    }

    /// Save a new credential for the connection (after authorization,
    /// reconnect, or new client credentials), mark it Connected, and revoke
    /// the tokens it replaces at the provider (best effort): no stale tokens
    /// stay alive after a reconnect or a client change.
    ///
    /// # Errors
    /// Store errors (a concurrent writer: [`AuthError::Store`] with a conflict).
    pub async fn install(
        &self,
        conn: ConnectionRef,
        credential: &Credential,
    ) -> Result<i64, AuthError> {
        let previous = match self
            .inner
            .store
            .get_credential(&conn.scope, conn.connection)
            .await?
        {
            Some(stored) => Some((stored.version, Credential::from_secret(&stored.secret).ok())),
            None => None,
        };
        let version = self
            .inner
            .store
            .compare_and_swap_credential(
                &conn.scope,
                conn.connection,
                previous.as_ref().map(|(v, _)| *v),
                credential.to_secret().expose(),
                credential.expires_at(),
            )
            .await?;
        if let Some((_, Some(Credential::OAuth2(old)))) = &previous {
            let replaced = match credential.as_oauth2() {
                Some(new) => {
                    new.access_token != old.access_token
                        && (old.refresh_token.is_none() || new.refresh_token != old.refresh_token)
                }
                None => true,
            };
            if replaced && let Revocation::Failed(why) = self.revoke_credential(old).await {
                tracing::warn!(connection = %conn.connection, %why, "could not revoke replaced tokens");
            }
        }
        self.inner
            .store
            .set_connection_status(
                &conn.scope,
                conn.connection,
                ConnectionStatus::Connected,
                None,
                None,
            )
            .await?;
        Ok(version)
    }

    /// A valid access token, refreshed first when it expires within the
    /// skew. A personal access token is returned as is.
    ///
    /// # Errors
    /// [`AuthError::ReconnectRequired`] (the connection is now
    /// Disconnected), [`AuthError::Transient`] (still Connected; retry
    /// later), [`AuthError::NoCredential`], others.
    pub async fn access_token(&self, conn: ConnectionRef) -> Result<AccessToken, AuthError> {
        let loaded = self.load(conn).await?;
        match &loaded.credential {
            Credential::OAuth2(o) if self.usable(o, None) => Ok(token_of(o, loaded.version)),
            Credential::OAuth2(_) => self.refresh(conn, loaded.version, None).await,
            Credential::PersonalAccessToken(t) => Ok(AccessToken {
                token: t.clone(),
                token_type: "pat".into(),
                expires_at: None,
                scopes: Vec::new(),
                version: loaded.version,
            }),
            Credential::ClientCertificate(_) => Err(AuthError::InvalidInput {
                what: "credential",
                reason: "a client-certificate connection has no access token".into(),
            }),
        }
    }

    /// The API answered 401 to `rejected`: refresh unless someone already
    /// did, and return the token to retry with (once).
    ///
    /// # Errors
    /// As [`Self::access_token`].
    pub async fn refresh_after_unauthorized(
        &self,
        conn: ConnectionRef,
        rejected: &SecretString,
    ) -> Result<AccessToken, AuthError> {
        let loaded = self.load(conn).await?;
        match &loaded.credential {
            Credential::OAuth2(o) if o.access_token != *rejected => Ok(token_of(o, loaded.version)),
            Credential::OAuth2(_) => self.refresh(conn, loaded.version, Some(rejected)).await,
            _ => Err(AuthError::ReconnectRequired {
                message: "the provider refused the saved credential; update it and check the connection again".into(),
                provider_message: None,
            }),
        }
    }

    fn usable(&self, o: &OAuth2Credential, rejected: Option<&SecretString>) -> bool {
        if rejected.is_some_and(|r| *r == o.access_token) {
            return false;
        }
        match o.expires_at {
            None => true,
            Some(t) => t - self.inner.settings.refresh_skew > self.inner.clock.now(),
        }
    }

    fn lock_for(&self, id: ConnectionId) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .locks
            .lock()
            .unwrap()
            .entry(id)
            .or_default()
            .clone()
    }

    async fn refresh(
        &self,
        conn: ConnectionRef,
        seen_version: i64,
        rejected: Option<&SecretString>,
    ) -> Result<AccessToken, AuthError> {
        let lock = self.lock_for(conn.connection);
        let result = {
            let _guard = lock.lock().await;
            self.refresh_locked(conn, seen_version, rejected).await
        };
        let mut locks = self.inner.locks.lock().unwrap();
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&conn.connection);
        }
        result
    }

    /// The credential moved past `seen_version` and is usable: someone
    /// else refreshed it.
    async fn refreshed_by_someone_else(
        &self,
        conn: ConnectionRef,
        seen_version: i64,
        rejected: Option<&SecretString>,
    ) -> Result<Option<AccessToken>, AuthError> {
        let loaded = self.load(conn).await?;
        if loaded.version != seen_version
            && let Credential::OAuth2(o) = &loaded.credential
            && self.usable(o, rejected)
        {
            return Ok(Some(token_of(o, loaded.version)));
        }
        Ok(None)
    }

    async fn refresh_locked(
        &self,
        conn: ConnectionRef,
        seen_version: i64,
        rejected: Option<&SecretString>,
    ) -> Result<AccessToken, AuthError> {
        if let Some(t) = self
            .refreshed_by_someone_else(conn, seen_version, rejected)
            .await?
        {
            return Ok(t);
        }
        let s = &self.inner.settings;
        let lease = format!("refresh:{}", conn.connection);
        let deadline = Instant::now() + s.lease_wait;
        while !self
            .inner
            .store
            .acquire_lease(&lease, &self.inner.holder, s.lease_ttl)
            .await?
        {
            if Instant::now() >= deadline {
                return Err(AuthError::Busy);
            }
            tokio::time::sleep(s.lease_poll).await;
            if let Some(t) = self
                .refreshed_by_someone_else(conn, seen_version, rejected)
                .await?
            {
                return Ok(t);
            }
        }
        let result = self.refresh_with_lease(conn, seen_version, rejected).await;
        if let Err(e) = self
            .inner
            .store
            .release_lease(&lease, &self.inner.holder)
            .await
        {
            tracing::warn!(connection = %conn.connection, error = %e, "could not release refresh lease");
        }
        result
    }

    async fn refresh_with_lease(
        &self,
        conn: ConnectionRef,
        seen_version: i64,
        rejected: Option<&SecretString>,
    ) -> Result<AccessToken, AuthError> {
        // Re-read under the lease: another process may have just finished.
        let loaded = self.load(conn).await?;
        let Credential::OAuth2(o) = &loaded.credential else {
            return Err(AuthError::InvalidInput {
                what: "credential",
                reason: "only OAuth credentials are refreshed".into(),
            });
        };
        if loaded.version != seen_version && self.usable(o, rejected) {
            return Ok(token_of(o, loaded.version));
        }
        // A connection already marked reconnect-required is not retried at
        // the provider on every use: a person has to reconnect it.
        if let Some(c) = self
            .inner
            .store
            .get_connection(&conn.scope, conn.connection)
            .await?
            && c.status == ConnectionStatus::Disconnected
        {
            return Err(AuthError::ReconnectRequired {
                message: c
                    .status_message
                    .unwrap_or_else(|| RECONNECT_MESSAGE.to_string()),
                provider_message: c.provider_error,
            });
        }
        if o.grant != Grant::ClientCredentials && o.refresh_token.is_none() {
            return self
                .disconnect(
                    conn,
                    "Reconnect required: the access token expired and the provider issued no refresh token to renew it.",
                    None,
                )
                .await;
        }
        let client = self.oauth_client(o)?;
        let s = &self.inner.settings;
        let mut attempt = 0u32;
        let lease = format!("refresh:{}", conn.connection);
        let response = loop {
            attempt += 1;
            // Before a retry, make sure the lease is still ours: if it ran
            // out while we waited, another replica may be refreshing with
            // the same single-use refresh token, and two refreshes would
            // end in a false `invalid_grant` for one of us.
            if attempt > 1
                && !self
                    .inner
                    .store
                    .renew_lease(&lease, &self.inner.holder, s.lease_ttl)
                    .await?
            {
                return Err(AuthError::Busy);
            }
            match self.token_call(&client, o).await {
                Ok(r) => break r,
                Err(e) => match oauth::classify(e) {
                    TokenFailure::Transient {
                        detail,
                        retry_after,
                    } => {
                        let too_long = retry_after.is_some_and(|r| r > s.max_retry_after);
                        if attempt >= s.max_attempts || too_long {
                            tracing::warn!(connection = %conn.connection, attempt, %detail, "token refresh failed; will retry on next use");
                            return Err(AuthError::Transient {
                                detail,
                                retry_after,
                            });
                        }
                        let backoff = s
                            .backoff_base
                            .saturating_mul(1 << (attempt - 1).min(16))
                            .min(s.backoff_max);
                        let delay = retry_after.unwrap_or(backoff);
                        tracing::info!(connection = %conn.connection, attempt, %detail, ?delay, "token endpoint unavailable, retrying");
                        tokio::time::sleep(delay).await;
                    }
                    TokenFailure::OAuth(p) if p.error == "invalid_grant" => {
                        return self.on_invalid_grant(conn, loaded.version, p).await;
                    }
                    other => return Err(other.into_error()),
                },
            }
        };
        let issued = oauth::issued(
            &response,
            self.inner.clock.now(),
            &o.endpoints.scope_separator,
        )?;
        let renewed = OAuth2Credential {
            access_token: issued.access_token,
            // Keep the old refresh token when the provider sends none.
            refresh_token: issued.refresh_token.or_else(|| o.refresh_token.clone()),
            token_type: issued.token_type,
            expires_at: issued.expires_at,
            scopes: issued.scopes.unwrap_or_else(|| o.scopes.clone()),
            ..o.clone()
        };
        let credential = Credential::OAuth2(renewed);
        // Saved before anyone gets the new access token.
        match self
            .inner
            .store
            .compare_and_swap_credential(
                &conn.scope,
                conn.connection,
                Some(loaded.version),
                credential.to_secret().expose(),
                credential.expires_at(),
            )
            .await
        {
            Ok(version) => {
                tracing::debug!(connection = %conn.connection, version, "token refreshed");
                let Credential::OAuth2(o) = &credential else {
                    unreachable!()
                };
                Ok(token_of(o, version))
            }
            Err(e) if e.is_conflict() => {
                // Someone wrote meanwhile (the lease expired under us, or a
                // reconnect): theirs wins; use it if it is usable.
                tracing::warn!(connection = %conn.connection, "credential changed during refresh; using the stored one");
                match self
                    .refreshed_by_someone_else(conn, loaded.version, rejected)
                    .await?
                {
                    Some(t) => Ok(t),
                    None => Err(AuthError::Store(e)),
                }
            }
            Err(e) => Err(AuthError::Store(e)),
        }
    }

    async fn token_call(
        &self,
        client: &OAuthClient,
        o: &OAuth2Credential,
    ) -> Result<BasicTokenResponse, RequestTokenError<HttpError, ProviderError>> {
        let config_error = |e: oauth2::ConfigurationError| RequestTokenError::Other(e.to_string());
        match (o.grant, &o.refresh_token) {
            (Grant::ClientCredentials, _) => {
                let mut req = client.exchange_client_credentials().map_err(config_error)?;
                if !o.requested_scopes.is_empty() {
                    req = req.add_scope(OAuthScope::new(
                        o.requested_scopes.join(&o.endpoints.scope_separator),
                    ));
                }
                req.request_async(&self.inner.http).await
            }
            (_, Some(rt)) => {
                let rt = RefreshToken::new(rt.expose().to_string());
                client
                    .exchange_refresh_token(&rt)
                    .map_err(config_error)?
                    .request_async(&self.inner.http)
                    .await
            }
            (_, None) => Err(RequestTokenError::Other("no refresh token".into())),
        }
    }

    async fn on_invalid_grant(
        &self,
        conn: ConnectionRef,
        version: i64,
        p: ProviderError,
    ) -> Result<AccessToken, AuthError> {
        // Another replica may have refreshed with this refresh token just
        // before us (it is single-use): then its result is in the store.
        let current = self.load(conn).await?;
        if current.version != version
            && let Credential::OAuth2(o) = &current.credential
        {
            return Ok(token_of(o, current.version));
        }
        self.disconnect(conn, RECONNECT_MESSAGE, Some(p.provider_message()))
            .await
    }

    async fn disconnect(
        &self,
        conn: ConnectionRef,
        message: &str,
        provider_message: Option<String>,
    ) -> Result<AccessToken, AuthError> {
        tracing::warn!(connection = %conn.connection, "connection needs reconnecting");
        self.inner
            .store
            .set_connection_status(
                &conn.scope,
                conn.connection,
                ConnectionStatus::Disconnected,
                Some(message),
                provider_message.as_deref(),
            )
            .await?;
        Err(AuthError::ReconnectRequired {
            message: message.to_string(),
            provider_message,
        })
    }

    fn client_secret(&self, o: &OAuth2Credential) -> Result<SecretString, AuthError> {
        match &o.client {
            ClientRef::Own { client_secret, .. } => Ok(client_secret.clone()),
            ClientRef::Operator { connector, .. } => self
                .inner
                .apps
                .get(connector)
                .map(|a| a.client_secret.clone())
                .ok_or_else(|| {
                    let (id_env, secret_env) = crate::apps::env_keys(connector);
                    AuthError::AppNotConfigured {
                        connector: connector.clone(),
                        kind: plugboard_manifest::AuthKind::Oauth2AuthorizationCode,
                        id_env,
                        secret_env,
                        config_key: crate::apps::config_key(connector),
                    }
                }),
        }
    }

    fn oauth_client(&self, o: &OAuth2Credential) -> Result<OAuthClient, AuthError> {
        let secret = self.client_secret(o)?;
        oauth::client(ClientSpec {
            client_id: o.client.client_id(),
            client_secret: Some(&secret),
            authorize_url: None,
            token_url: Some(&o.endpoints.token_url),
            revoke_url: o.endpoints.revoke_url.as_deref(),
            redirect_uri: None,
            client_auth: o.endpoints.client_auth,
        })
    }

    async fn revoke_credential(&self, o: &OAuth2Credential) -> Revocation {
        if o.endpoints.revoke_url.is_none() {
            return Revocation::NotSupported;
        }
        let client = match self.oauth_client(o) {
            Ok(c) => c,
            Err(e) => return Revocation::Failed(e.to_string()),
        };
        let mut tokens = Vec::new();
        if let Some(rt) = &o.refresh_token {
            tokens.push(StandardRevocableToken::RefreshToken(RefreshToken::new(
                rt.expose().to_string(),
            )));
        }
        tokens.push(StandardRevocableToken::AccessToken(
            oauth2::AccessToken::new(o.access_token.expose().to_string()),
        ));
        let revoke_url = o.endpoints.revoke_url.as_deref().unwrap_or_default();
        if revoke_url.starts_with("http://") {
            return self.revoke_over_loopback_http(o, revoke_url, tokens).await;
        }
        for token in tokens {
            let request = match client.revoke_token(token) {
                Ok(r) => r,
                Err(e) => return Revocation::Failed(e.to_string()),
            };
            if let Err(e) = request.request_async(&self.inner.http).await {
                return Revocation::Failed(oauth::classify(e).into_error().to_string());
            }
        }
        Revocation::Revoked
    }

    /// `oauth2` refuses plain-HTTP revocation endpoints, rightly. Local
    /// development and the tests run providers on loopback over HTTP, so
    /// for a loopback address only, the RFC 7009 request (a form POST with
    /// the client's credentials) is sent here; anything else is refused.
    async fn revoke_over_loopback_http(
        &self,
        o: &OAuth2Credential,
        revoke_url: &str,
        tokens: Vec<StandardRevocableToken>,
    ) -> Revocation {
        let loopback = url::Url::parse(revoke_url)
            .ok()
            .is_some_and(|u| match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            });
        if !loopback {
            return Revocation::Failed("the revocation endpoint must use HTTPS".into());
        }
        let secret = match self.client_secret(o) {
            Ok(s) => s,
            Err(e) => return Revocation::Failed(e.to_string()),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("static client");
        for token in tokens {
            let (value, hint) = match &token {
                StandardRevocableToken::RefreshToken(t) => (t.secret().as_str(), "refresh_token"),
                StandardRevocableToken::AccessToken(t) => (t.secret().as_str(), "access_token"),
                _ => continue,
            };
            let mut form = vec![("token", value), ("token_type_hint", hint)];
            let mut request = client.post(revoke_url);
            match o.endpoints.client_auth {
                plugboard_manifest::ClientAuth::Basic => {
                    request = request.basic_auth(o.client.client_id(), Some(secret.expose()));
                }
                plugboard_manifest::ClientAuth::Post => {
                    form.push(("client_id", o.client.client_id()));
                    form.push(("client_secret", secret.expose()));
                }
            }
            match request.form(&form).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    return Revocation::Failed(format!(
                        "the revocation endpoint answered HTTP {}",
                        r.status().as_u16()
                    ));
                }
                Err(e) => {
                    return Revocation::Failed(format!(
                        "could not reach the revocation endpoint ({})",
                        if e.is_timeout() {
                            "timed out"
                        } else {
                            "connection failed"
                        }
                    ));
                }
            }
        }
        Revocation::Revoked
    }

    /// Revoke the connection's tokens at the provider (where the connector
    /// declares a revocation endpoint), keeping the stored credential.
    ///
    /// # Errors
    /// Store and decoding errors; provider failures are in the [`Revocation`].
    pub async fn revoke(&self, conn: ConnectionRef) -> Result<Revocation, AuthError> {
        match self.load(conn).await {
            Ok(Loaded {
                credential: Credential::OAuth2(o),
                ..
            }) => Ok(self.revoke_credential(&o).await),
            Ok(_) | Err(AuthError::NoCredential) => Ok(Revocation::NotSupported),
            Err(e) => Err(e),
        }
    }

    /// A connector (WIT `auth`) or the server says a person must reconnect:
    /// mark the connection Disconnected with `message`, keeping the
    /// provider's words as the provider error message. Tokens stay stored
    /// (a reconnect replaces them, see [`Self::install`]).
    ///
    /// # Errors
    /// Store errors.
    pub async fn request_reconnect(
        &self,
        conn: ConnectionRef,
        message: &str,
        provider_message: Option<&str>,
    ) -> Result<(), AuthError> {
        self.inner
            .store
            .set_connection_status(
                &conn.scope,
                conn.connection,
                ConnectionStatus::Disconnected,
                Some(message),
                provider_message,
            )
            .await?;
        Ok(())
    }

    /// The connection's OAuth client changed (BYOA client id or secret
    /// edited) or its credential must not be used any more: revoke the
    /// tokens, delete them, and mark the connection Disconnected with
    /// `reason` so a person reconnects. No stale tokens are kept.
    ///
    /// # Errors
    /// Store errors.
    pub async fn discard(
        &self,
        conn: ConnectionRef,
        reason: &str,
    ) -> Result<Revocation, AuthError> {
        let outcome = self.delete_credential(conn).await?;
        self.request_reconnect(conn, reason, None).await?;
        Ok(outcome)
    }

    /// Deleting a connection: revoke at the provider, then delete the
    /// stored credential whatever the provider said (the outcome is
    /// returned so the caller can tell the person).
    ///
    /// # Errors
    /// Store errors.
    pub async fn delete_credential(&self, conn: ConnectionRef) -> Result<Revocation, AuthError> {
        let outcome = self
            .revoke(conn)
            .await
            .unwrap_or_else(|e| Revocation::Failed(e.to_string()));
        self.inner
            .store
            .delete_credential(&conn.scope, conn.connection)
            .await?;
        Ok(outcome)
    }
}

fn token_of(o: &OAuth2Credential, version: i64) -> AccessToken {
    AccessToken {
        token: o.access_token.clone(),
        token_type: o.token_type.clone(),
        expires_at: o.expires_at,
        scopes: o.scopes.clone(),
        version,
    }
}
