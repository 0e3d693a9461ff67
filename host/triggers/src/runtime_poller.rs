//! The real [`Poller`]: calls the connector's `poll` export in
//! `plugboard-runtime`, with [`ConnectionServices`] built per call by a
//! [`ServicesFactory`] (`plugboard serve` passes one over its own
//! connection services; this crate ships [`TokenManagerServices`], a
//! minimal one over the token manager and the store, for embedders and
//! tests), and the connector found by a [`ConnectorLookup`].
//!
//! Unauthorized / reconnect-required answers and an unavailable-for-good
//! credential become [`PollError::Unauthorized`]; this module must never
//! change connection status itself (the scheduler does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_auth::{AuthError, ConnectionRef, TokenManager};
use plugboard_manifest::AuthKind;
use plugboard_runtime::{
    CallContext, ConnectionServices, ConnectorError, Credential, CredentialError, LoadedConnector,
    SecretStoreError,
};
use plugboard_store::{Connection, Store};
use secrecy::{ExposeSecret, SecretSlice};

use crate::poller::{PollError, PollOutput, PollRequest, PolledEvent, Poller};

/// Builds the call context and services for one call on one connection.
#[async_trait]
pub trait ServicesFactory: Send + Sync + 'static {
    /// Context and services bound to `connection` (and nothing else).
    async fn services(
        &self,
        connection: &Connection,
    ) -> Result<(CallContext, Arc<dyn ConnectionServices>), PollError>;
}

/// Finds the loaded connector a connection uses (bundled or the tenant's
/// uploaded one), `None` when it is not loaded.
pub type ConnectorLookup = Arc<dyn Fn(&Connection) -> Option<Arc<LoadedConnector>> + Send + Sync>;

/// Polls through loaded connectors, chosen by the connection's connector id.
pub struct RuntimePoller {
    lookup: ConnectorLookup,
    factory: Arc<dyn ServicesFactory>,
}

impl std::fmt::Debug for RuntimePoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimePoller").finish_non_exhaustive()
    }
}

impl RuntimePoller {
    /// A poller over a fixed set of `connectors` (each keyed by its manifest id).
    pub fn new(
        connectors: impl IntoIterator<Item = Arc<LoadedConnector>>,
        factory: Arc<dyn ServicesFactory>,
    ) -> Self {
        let by_id: HashMap<String, Arc<LoadedConnector>> = connectors
            .into_iter()
            .map(|c| (c.id().to_owned(), c))
            .collect();
        Self::with_lookup(
            Arc::new(move |c: &Connection| by_id.get(&c.connector).cloned()),
            factory,
        )
    }

    /// A poller that asks `lookup` for each connection's connector (the
    /// server's registry, which also holds tenants' uploaded connectors).
    pub fn with_lookup(lookup: ConnectorLookup, factory: Arc<dyn ServicesFactory>) -> Self {
        Self { lookup, factory }
    }
}

fn map_connector_error(e: &ConnectorError) -> PollError {
    match e {
        ConnectorError::Unauthorized { message }
        | ConnectorError::ReconnectRequired { message } => PollError::Unauthorized {
            message: message.clone(),
        },
        ConnectorError::RateLimited {
            retry_after_seconds,
            ..
        } => PollError::RateLimited {
            retry_after: retry_after_seconds.map(|s| Duration::from_secs(s.into())),
        },
        other => PollError::Failed {
            message: other.to_string(),
        },
    }
}

#[async_trait]
impl Poller for RuntimePoller {
    async fn poll(&self, r: PollRequest<'_>) -> Result<PollOutput, PollError> {
        let connector = (self.lookup)(r.connection).ok_or_else(|| PollError::Failed {
            message: format!("connector `{}` is not loaded", r.connection.connector),
        })?;
        let (ctx, services) = self.factory.services(r.connection).await?;
        let params = r.parameters.to_string();
        match connector
            .poll(&ctx, services, &r.trigger.trigger_name, &params, r.cursor)
            .await
        {
            Ok(result) => Ok(PollOutput {
                events: result
                    .events
                    .into_iter()
                    .map(|e| PolledEvent {
                        payload: serde_json::from_str(&e.payload)
                            .unwrap_or(serde_json::Value::String(e.payload)),
                        id: e.id,
                    })
                    .collect(),
                cursor: result.next_cursor,
            }),
            Err(e) => Err(match e.connector_error() {
                Some(ce) => map_connector_error(ce),
                None => PollError::Failed {
                    message: e.to_string(),
                },
            }),
        }
    }
}

/// Connector secrets live under this prefix among the connection's sealed
/// secrets (as in the server's adapter), so a connector can never read the
/// host's own entries such as webhook secrets.
const CONNECTOR_PREFIX: &str = "connector:";

/// Minimal [`ConnectionServices`] over the token manager (refresh,
/// single-flight, reconnect) and the store (connector secrets).
pub struct TokenManagerServices {
    store: Store,
    tokens: TokenManager,
    conn: ConnectionRef,
}

impl TokenManagerServices {
    /// Services bound to one connection.
    pub fn new(store: Store, tokens: TokenManager, conn: ConnectionRef) -> Self {
        Self {
            store,
            tokens,
            conn,
        }
    }

    /// A [`ServicesFactory`] building these, with an optional base URL
    /// override for every context (tests point it at a fake API).
    pub fn factory(
        store: Store,
        tokens: TokenManager,
        base_url_override: Option<String>,
    ) -> Arc<dyn ServicesFactory> {
        Arc::new(Factory {
            store,
            tokens,
            base_url_override,
        })
    }
}

fn credential_error(e: AuthError) -> CredentialError {
    match e {
        AuthError::ReconnectRequired { message, .. } => CredentialError::ReconnectRequired(message),
        AuthError::NoCredential => {
            CredentialError::ReconnectRequired("the connection has no credential".into())
        }
        AuthError::Transient { detail, .. } => CredentialError::Unavailable(detail),
        other => CredentialError::Unavailable(other.to_string()),
    }
}

fn to_credential(token: &plugboard_auth::AccessToken) -> Credential {
    if token.token_type == "pat" {
        Credential::pat(token.token.expose())
    } else {
        Credential::bearer(token.token.expose())
    }
}

#[async_trait]
impl ConnectionServices for TokenManagerServices {
    async fn credential(&self) -> Result<Credential, CredentialError> {
        let t = self
            .tokens
            .access_token(self.conn)
            .await
            .map_err(credential_error)?;
        Ok(to_credential(&t))
    }

    async fn refresh_credential(
        &self,
        rejected: &Credential,
    ) -> Result<Credential, CredentialError> {
        let token = match rejected {
            Credential::Bearer(s) | Credential::Pat { secret: s, .. } => {
                plugboard_store::SecretString::new(s.expose_secret().to_owned())
            }
            _ => {
                return Err(CredentialError::ReconnectRequired(
                    "the provider refused the credential".into(),
                ));
            }
        };
        let t = self
            .tokens
            .refresh_after_unauthorized(self.conn, &token)
            .await
            .map_err(credential_error)?;
        Ok(to_credential(&t))
    }

    async fn secret_get(&self, key: &str) -> Result<Option<SecretSlice<u8>>, SecretStoreError> {
        let v = self
            .store
            .get_connector_secret(
                &self.conn.scope,
                self.conn.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
            )
            .await
            .map_err(|e| SecretStoreError(format!("reading secret `{key}` failed: {e}")))?;
        Ok(v.map(|s| SecretSlice::from(s.expose().to_vec())))
    }

    async fn secret_set(&self, key: &str, value: SecretSlice<u8>) -> Result<(), SecretStoreError> {
        self.store
            .put_connector_secret(
                &self.conn.scope,
                self.conn.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
                value.expose_secret(),
            )
            .await
            .map_err(|e| SecretStoreError(format!("storing secret `{key}` failed: {e}")))
    }

    async fn secret_delete(&self, key: &str) -> Result<(), SecretStoreError> {
        self.store
            .delete_connector_secret(
                &self.conn.scope,
                self.conn.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
            )
            .await
            .map(|_| ())
            .map_err(|e| SecretStoreError(format!("deleting secret `{key}` failed: {e}")))
    }

    async fn request_reconnect(&self, message: String) {
        if let Err(e) = self
            .tokens
            .request_reconnect(self.conn, plugboard_auth::RECONNECT_MESSAGE, Some(&message))
            .await
        {
            tracing::warn!(error = %e, "marking the connection for reconnection failed");
        }
    }
}

struct Factory {
    store: Store,
    tokens: TokenManager,
    base_url_override: Option<String>,
}

#[async_trait]
impl ServicesFactory for Factory {
    async fn services(
        &self,
        c: &Connection,
    ) -> Result<(CallContext, Arc<dyn ConnectionServices>), PollError> {
        let kind = AuthKind::ALL
            .into_iter()
            .find(|k| k.as_str() == c.auth_kind)
            .ok_or_else(|| PollError::Failed {
                message: format!("unknown auth kind `{}`", c.auth_kind),
            })?;
        let mut ctx = CallContext::new(
            c.scope.tenant.to_string(),
            c.id.to_string(),
            c.connector.clone(),
            kind,
        )
        .with_scopes(c.granted_scopes.iter().cloned());
        ctx.account_id = c.account_id.clone();
        if let Some(obj) = c.config.as_object() {
            for (k, v) in obj {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                ctx = ctx.with_config(k.clone(), v);
            }
        }
        ctx.base_url_override = self.base_url_override.clone();
        let conn = ConnectionRef {
            scope: c.scope,
            connection: c.id,
        };
        Ok((
            ctx,
            Arc::new(TokenManagerServices::new(
                self.store.clone(),
                self.tokens.clone(),
                conn,
            )),
        ))
    }
}
