//! The runtime's [`ConnectionServices`] for one connection of one tenant:
//! the credential (PAT and client certificate from the repository's secret
//! slots; OAuth access tokens from the [`TokenManager`], refreshed ahead of
//! expiry and after a 401, single-flight, rotation saved, `invalid_grant`
//! → Disconnected), connector secrets under a `connector:` prefix, and
//! reconnect requests turned into a Disconnected status. One value is
//! built per call and bound to one (tenant, connection): nothing here can
//! reach another connection. [`for_connection`] builds it.
//!
//! Never logs or returns a secret; errors name the field, not the value.

use std::sync::Arc;

use async_trait::async_trait;
use plugboard_auth::{AuthError, ConnectionRef, TokenManager};
use plugboard_manifest::AuthKind;
use plugboard_runtime::{ConnectionServices, Credential, CredentialError, SecretStoreError};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::AppState;
use crate::config::Redacted;
use crate::model::{Connection, ConnectionId, TenantId};
use crate::repo::Repo;

/// Secret slot of a personal access token.
pub const FIELD_TOKEN: &str = "token";
/// Client certificate (PEM, not secret) and key (PEM, secret).
pub const FIELD_CERT_PEM: &str = "cert_pem";
pub const FIELD_KEY_PEM: &str = "key_pem";
const CONNECTOR_PREFIX: &str = "connector:";

/// What a person reads when a connector asks for a reconnect.
const CONNECTOR_RECONNECT_MESSAGE: &str =
    "The provider asks for this connection to be reconnected.";

pub struct Services {
    pub repo: Arc<dyn Repo>,
    pub tokens: TokenManager,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    /// The store's name for the connection, for the token manager.
    pub store_ref: ConnectionRef,
    pub auth_kind: AuthKind,
    /// A credential being tried before it is stored (create, reconnect):
    /// handed out instead of the stored one, and never refreshed.
    pub candidate: Option<Credential>,
    /// The stored credential, when it was read with the connection (a
    /// PAT): handed out without reading it again.
    pub stored: Option<Credential>,
}

/// The services a call through `conn` uses: its stored credential (OAuth
/// kinds through the token manager), its connector secrets, its status.
/// The triggers scheduler builds them the same way to poll.
pub fn for_connection(state: &AppState, conn: &Connection) -> Arc<Services> {
    with_candidate(state, conn, None)
}

/// [`for_connection`], but handing out `candidate` instead of the stored
/// credential (a check before anything is stored).
pub fn with_candidate(
    state: &AppState,
    conn: &Connection,
    candidate: Option<Credential>,
) -> Arc<Services> {
    Arc::new(Services {
        candidate,
        ..services(state, conn)
    })
}

/// [`for_connection`] for a connection whose [`FIELD_TOKEN`] slot was
/// read with it: a PAT connection hands that token out.
pub fn with_stored_token(
    state: &AppState,
    conn: &Connection,
    token: Option<Redacted>,
) -> Arc<Services> {
    let stored = match (conn.auth_kind, token) {
        (AuthKind::PersonalAccessToken, Some(t)) => Some(Credential::pat(t.expose())),
        _ => None,
    };
    Arc::new(Services {
        stored,
        ..services(state, conn)
    })
}

fn services(state: &AppState, conn: &Connection) -> Services {
    Services {
        repo: state.repo.clone(),
        tokens: state.tokens.clone(),
        tenant: conn.tenant_id,
        connection: conn.id,
        store_ref: crate::oauth::store_ref(conn),
        auth_kind: conn.auth_kind,
        candidate: None,
        stored: None,
    }
}

/// The runtime's view of a token-manager failure. Messages are the auth
/// crate's, which never hold a token.
fn credential_error(e: AuthError) -> CredentialError {
    match e {
        AuthError::ReconnectRequired { message, .. } => CredentialError::ReconnectRequired(message),
        AuthError::NoCredential => CredentialError::ReconnectRequired(
            "the connection has no credential yet; finish connecting (or reconnect) first".into(),
        ),
        e @ (AuthError::Transient { .. } | AuthError::Busy) => {
            CredentialError::Unavailable(e.to_string())
        }
        e => CredentialError::Unavailable(format!("the credential could not be read: {e}")),
    }
}

impl Services {
    /// Mark the connection Disconnected with `message` for people and the
    /// provider's own words. Only the status columns change: a full-row
    /// save could undo an edit that landed while a call ran. A failure is
    /// logged; the caller's own error is what the user needs to see.
    pub async fn mark_disconnected(&self, message: &str, provider_message: &str) {
        let marked = self
            .tokens
            .request_reconnect(self.store_ref, message, Some(provider_message))
            .await;
        if let Err(error) = marked {
            tracing::warn!(connection = %self.connection, %error, "could not mark connection disconnected");
        }
    }

    async fn bearer(&self) -> Result<Credential, CredentialError> {
        let token = self
            .tokens
            .access_token(self.store_ref)
            .await
            .map_err(credential_error)?;
        Ok(Credential::bearer(token.token.expose()))
    }

    async fn slot(&self, field: &str) -> Result<Option<Redacted>, CredentialError> {
        self.repo
            .secret(self.tenant, self.connection, field)
            .await
            .map_err(|e| {
                CredentialError::Unavailable(format!("reading the credential failed: {e}"))
            })
    }

    async fn require(&self, field: &str) -> Result<Redacted, CredentialError> {
        self.slot(field).await?.ok_or_else(|| {
            CredentialError::ReconnectRequired(format!(
                "the connection has no stored `{field}`; reconnect it"
            ))
        })
    }
}

#[async_trait]
impl ConnectionServices for Services {
    async fn credential(&self) -> Result<Credential, CredentialError> {
        if let Some(c) = self.candidate.as_ref().or(self.stored.as_ref()) {
            return Ok(c.clone());
        }
        match self.auth_kind {
            AuthKind::PersonalAccessToken => {
                let t = self.require(FIELD_TOKEN).await?;
                Ok(Credential::pat(t.expose()))
            }
            AuthKind::ClientCertificate => {
                let cert = self.require(FIELD_CERT_PEM).await?;
                let key = self.require(FIELD_KEY_PEM).await?;
                Ok(Credential::ClientCertificate {
                    cert_pem: cert.expose().to_string(),
                    key_pem: SecretString::from(key.expose().to_string()),
                })
            }
            _ => self.bearer().await,
        }
    }

    async fn refresh_credential(
        &self,
        rejected: &Credential,
    ) -> Result<Credential, CredentialError> {
        if self.candidate.is_some() {
            return Err(CredentialError::ReconnectRequired(
                "the provider rejected the credential".into(),
            ));
        }
        match (self.auth_kind, rejected) {
            // A PAT or certificate cannot be refreshed.
            (AuthKind::PersonalAccessToken | AuthKind::ClientCertificate, _) => {
                Err(CredentialError::ReconnectRequired(
                    "the provider rejected the credential; reconnect with a valid one".into(),
                ))
            }
            (_, Credential::Bearer(sent)) => {
                let sent = plugboard_vault::SecretString::new(sent.expose_secret().to_string());
                let token = self
                    .tokens
                    .refresh_after_unauthorized(self.store_ref, &sent)
                    .await
                    .map_err(credential_error)?;
                Ok(Credential::bearer(token.token.expose()))
            }
            _ => self.bearer().await,
        }
    }

    async fn secret_get(&self, key: &str) -> Result<Option<SecretSlice<u8>>, SecretStoreError> {
        let v = self
            .repo
            .secret(
                self.tenant,
                self.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
            )
            .await
            .map_err(|e| SecretStoreError(format!("reading secret `{key}` failed: {e}")))?;
        Ok(v.map(|s| SecretSlice::from(hex::decode(s.expose()).unwrap_or_default())))
    }

    async fn secret_set(&self, key: &str, value: SecretSlice<u8>) -> Result<(), SecretStoreError> {
        let encoded = Redacted::new(hex::encode(value.expose_secret()));
        self.repo
            .put_secret(
                self.tenant,
                self.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
                encoded,
            )
            .await
            .map_err(|e| SecretStoreError(format!("storing secret `{key}` failed: {e}")))
    }

    async fn secret_delete(&self, key: &str) -> Result<(), SecretStoreError> {
        self.repo
            .delete_secret(
                self.tenant,
                self.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
            )
            .await
            .map_err(|e| SecretStoreError(format!("deleting secret `{key}` failed: {e}")))
    }

    async fn request_reconnect(&self, message: String) {
        if self.candidate.is_some() {
            return;
        }
        self.mark_disconnected(CONNECTOR_RECONNECT_MESSAGE, &message)
            .await;
    }
}
