//! What the runtime asks of the rest of the host for one call: who the call
//! is for ([`CallContext`]) and the connection's credential and secrets
//! ([`ConnectionServices`]), plus [`StaticServices`], an in-memory
//! implementation for tests and for callers that hold a fixed credential.
//!
//! Owns: the trait boundary between the sandbox and auth/vault/store.
//! Must never: name a database, an HTTP route or a tenant table; implementors
//! (host/auth, host/server) bind one [`ConnectionServices`] value to one
//! tenant's connection before a call, so nothing here can reach another.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use plugboard_manifest::{AuthKind, TokenPlacement};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// Who and what one call runs for. Plain data; the server builds it from
/// the connection record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallContext {
    pub tenant_id: String,
    pub connection_id: String,
    /// The connector id the caller believes it is calling; the runtime
    /// checks it against the loaded manifest.
    pub connector_id: String,
    pub auth_kind: AuthKind,
    /// Scopes the provider granted, in the provider's spelling.
    pub granted_scopes: Vec<String>,
    pub account_id: Option<String>,
    /// Config values of the connection (base URL, ...). Fields the
    /// manifest declares `secret` are withheld from the guest.
    pub config: BTreeMap<String, String>,
    /// Operator override of the manifest's base URL (e.g. a test fake).
    pub base_url_override: Option<String>,
}

impl CallContext {
    /// A context with no scopes, account or config.
    pub fn new(
        tenant_id: impl Into<String>,
        connection_id: impl Into<String>,
        connector_id: impl Into<String>,
        auth_kind: AuthKind,
    ) -> Self {
        CallContext {
            tenant_id: tenant_id.into(),
            connection_id: connection_id.into(),
            connector_id: connector_id.into(),
            auth_kind,
            granted_scopes: Vec::new(),
            account_id: None,
            config: BTreeMap::new(),
            base_url_override: None,
        }
    }

    /// Add a config value.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Set the granted scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.granted_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// A connection's credential as the host injects it into requests. Secrets
/// are zeroized when dropped and print as `[redacted]`.
#[derive(Clone)]
pub enum Credential {
    /// `Authorization: Bearer <token>` (OAuth 2.0 kinds).
    Bearer(SecretString),
    /// A personal access token. `placement: None` uses the manifest's
    /// token placement for the connection's auth method (default
    /// `Authorization: Bearer `).
    Pat {
        placement: Option<TokenPlacement>,
        secret: SecretString,
    },
    /// Mutual TLS: the client presents this certificate and key.
    ClientCertificate {
        cert_pem: String,
        key_pem: SecretString,
    },
    /// Nothing to inject.
    None,
}

impl Credential {
    /// A bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Credential::Bearer(SecretString::from(token.into()))
    }

    /// A personal access token placed as the manifest says.
    pub fn pat(token: impl Into<String>) -> Self {
        Credential::Pat {
            placement: None,
            secret: SecretString::from(token.into()),
        }
    }

    /// The token text, for `raw-token`; `None` for certificates and `None`.
    pub(crate) fn token(&self) -> Option<&str> {
        match self {
            Credential::Bearer(s) | Credential::Pat { secret: s, .. } => Some(s.expose_secret()),
            Credential::ClientCertificate { .. } | Credential::None => None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer([redacted])"),
            Credential::Pat { placement, .. } => f
                .debug_struct("Pat")
                .field("placement", placement)
                .field("secret", &"[redacted]")
                .finish(),
            Credential::ClientCertificate { .. } => f.write_str("ClientCertificate([redacted])"),
            Credential::None => f.write_str("None"),
        }
    }
}

/// Why a credential could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A person must reconnect (refresh token revoked, `invalid_grant`).
    #[error("reconnect required: {0}")]
    ReconnectRequired(String),
    /// Temporarily unavailable (provider down, vault locked).
    #[error("credential unavailable: {0}")]
    Unavailable(String),
}

/// A `credential-store` operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretStoreError(pub String);

/// Everything a call needs from outside the sandbox, bound to **one**
/// connection of **one** tenant by whoever constructs it. host/auth
/// implements the credential part (token manager, single-flight refresh),
/// host/vault + host/store the secret part.
#[async_trait]
pub trait ConnectionServices: Send + Sync {
    /// The credential to inject now (refreshed ahead of expiry by the
    /// implementor if it likes).
    async fn credential(&self) -> Result<Credential, CredentialError>;

    /// The provider answered 401 to `rejected`: refresh and return the new
    /// credential (or the same one if another caller already refreshed).
    /// Called at most once per request.
    async fn refresh_credential(
        &self,
        rejected: &Credential,
    ) -> Result<Credential, CredentialError>;

    /// A connector secret of this connection.
    async fn secret_get(&self, key: &str) -> Result<Option<SecretSlice<u8>>, SecretStoreError>;

    /// Store a connector secret (size already checked by the runtime).
    async fn secret_set(&self, key: &str, value: SecretSlice<u8>) -> Result<(), SecretStoreError>;

    /// Remove a connector secret; absent keys are fine.
    async fn secret_delete(&self, key: &str) -> Result<(), SecretStoreError>;

    /// The connector says a person must reconnect; mark the connection
    /// Disconnected with this message (the provider's words).
    async fn request_reconnect(&self, message: String);
}

/// In-memory [`ConnectionServices`] for tests and fixed credentials: one
/// credential, optionally a different one after refresh, secrets in a map,
/// reconnect requests recorded.
pub struct StaticServices {
    credential: Mutex<Credential>,
    after_refresh: Option<Credential>,
    refreshes: AtomicU32,
    secrets: Mutex<BTreeMap<String, Vec<u8>>>,
    reconnects: Mutex<Vec<String>>,
}

impl StaticServices {
    /// Always hand out `credential`; a refresh returns it again.
    pub fn new(credential: Credential) -> Self {
        StaticServices {
            credential: Mutex::new(credential),
            after_refresh: None,
            refreshes: AtomicU32::new(0),
            secrets: Mutex::new(BTreeMap::new()),
            reconnects: Mutex::new(Vec::new()),
        }
    }

    /// After a refresh, hand out `credential` instead.
    pub fn refreshing_to(mut self, credential: Credential) -> Self {
        self.after_refresh = Some(credential);
        self
    }

    /// How many times `refresh_credential` was called.
    pub fn refresh_count(&self) -> u32 {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Messages passed to `request_reconnect`, oldest first.
    pub fn reconnect_requests(&self) -> Vec<String> {
        lock(&self.reconnects).clone()
    }

    /// The stored keys (values stay inside).
    pub fn secret_keys(&self) -> Vec<String> {
        lock(&self.secrets).keys().cloned().collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl ConnectionServices for StaticServices {
    async fn credential(&self) -> Result<Credential, CredentialError> {
        Ok(lock(&self.credential).clone())
    }

    async fn refresh_credential(
        &self,
        _rejected: &Credential,
    ) -> Result<Credential, CredentialError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let mut current = lock(&self.credential);
        if let Some(next) = &self.after_refresh {
            *current = next.clone();
        }
        Ok(current.clone())
    }

    async fn secret_get(&self, key: &str) -> Result<Option<SecretSlice<u8>>, SecretStoreError> {
        Ok(lock(&self.secrets)
            .get(key)
            .map(|v| SecretSlice::from(v.clone())))
    }

    async fn secret_set(&self, key: &str, value: SecretSlice<u8>) -> Result<(), SecretStoreError> {
        lock(&self.secrets).insert(key.to_string(), value.expose_secret().to_vec());
        Ok(())
    }

    async fn secret_delete(&self, key: &str) -> Result<(), SecretStoreError> {
        lock(&self.secrets).remove(key);
        Ok(())
    }

    async fn request_reconnect(&self, message: String) {
        lock(&self.reconnects).push(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_their_secret() {
        for credential in [
            Credential::bearer("tok-123"),
            Credential::pat("tok-123"),
            Credential::ClientCertificate {
                cert_pem: "CERT".into(),
                key_pem: SecretString::from("tok-123"),
            },
        ] {
            let printed = format!("{credential:?}");
            assert!(!printed.contains("tok-123"), "{printed}");
            assert!(printed.contains("[redacted]"), "{printed}");
        }
    }

    #[tokio::test]
    async fn static_services_refresh_to_the_next_credential() {
        let services =
            StaticServices::new(Credential::bearer("old")).refreshing_to(Credential::bearer("new"));
        let old = services.credential().await.unwrap();
        assert_eq!(old.token(), Some("old"));
        let new = services.refresh_credential(&old).await.unwrap();
        assert_eq!(new.token(), Some("new"));
        assert_eq!(services.credential().await.unwrap().token(), Some("new"));
        assert_eq!(services.refresh_count(), 1);
    }
}
