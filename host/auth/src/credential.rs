//! What a connection's credential is, and its sealed form in the store.
//!
//! The plaintext is JSON inside [`SecretBytes`]; the store seals it with the
//! vault (AAD: tenant + connection + field). Secrets live in
//! [`SecretString`]s (wiped on drop, printed as `[redacted]`); the JSON
//! intermediate is wiped too. This module must never log or `Display` a
//! secret.

use plugboard_manifest::ClientAuth;
use plugboard_vault::{SecretBytes, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroize;

use crate::AuthError;

/// Which OAuth grant produced (and renews) the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Renewed with the refresh token.
    AuthorizationCode,
    /// Renewed by asking again with the client's credentials.
    ClientCredentials,
    /// Renewed with the refresh token if any; the password is never stored.
    Password,
}

/// Where tokens are renewed and revoked (filled from the manifest and the
/// connection's config when the connection was authorized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEndpoints {
    pub token_url: String,
    pub revoke_url: Option<String>,
    pub client_auth: ClientAuth,
    pub scope_separator: String,
}

/// The OAuth client a credential was issued to.
#[derive(Debug, Clone)]
pub enum ClientRef {
    /// The operator's app for this connector (secret from [`crate::OperatorApps`]).
    Operator {
        connector: String,
        client_id: String,
    },
    /// The user's own app, or the organization's default (BYOA).
    Own {
        client_id: String,
        client_secret: SecretString,
    },
}

impl ClientRef {
    pub fn client_id(&self) -> &str {
        match self {
            ClientRef::Operator { client_id, .. } | ClientRef::Own { client_id, .. } => client_id,
        }
    }
}

/// An OAuth 2.0 token set and what is needed to renew it.
#[derive(Debug, Clone)]
pub struct OAuth2Credential {
    pub grant: Grant,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    /// `None`: the provider did not say; refresh on the first 401.
    pub expires_at: Option<OffsetDateTime>,
    /// Granted scopes (from the token response, else the requested ones).
    pub scopes: Vec<String>,
    pub requested_scopes: Vec<String>,
    pub endpoints: TokenEndpoints,
    pub client: ClientRef,
}

/// A PEM client certificate and its private key (mTLS).
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub cert_pem: String,
    pub key_pem: SecretString,
}

impl ClientCertificate {
    /// The identity for a reqwest client that serves this connection only
    /// (mTLS). The PEM copy is wiped after parsing.
    ///
    /// # Errors
    /// When the stored PEM no longer parses.
    pub fn to_identity(&self) -> Result<reqwest::Identity, AuthError> {
        let mut both = Vec::with_capacity(self.cert_pem.len() + self.key_pem.len() + 1);
        both.extend_from_slice(self.cert_pem.as_bytes());
        both.push(b'\n');
        both.extend_from_slice(self.key_pem.expose().as_bytes());
        let identity = reqwest::Identity::from_pem(&both);
        both.zeroize();
        identity.map_err(|_| {
            AuthError::CorruptCredential("the stored client certificate does not parse".into())
        })
    }
}

/// A connection's credential.
// Few live at a time and briefly; boxing would only add noise at every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Credential {
    OAuth2(OAuth2Credential),
    PersonalAccessToken(SecretString),
    ClientCertificate(ClientCertificate),
}

impl Credential {
    /// A personal access token, checked to be plausible.
    ///
    /// # Errors
    /// Empty, or with whitespace or control characters inside.
    pub fn personal_access_token(token: SecretString) -> Result<Credential, AuthError> {
        let t = token.expose();
        if t.trim().is_empty() {
            return Err(AuthError::InvalidInput {
                what: "personal access token",
                reason: "it is empty".into(),
            });
        }
        if t.trim()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(AuthError::InvalidInput {
                what: "personal access token",
                reason: "it contains spaces or control characters; paste the token alone".into(),
            });
        }
        Ok(Credential::PersonalAccessToken(SecretString::new(
            t.trim().to_string(),
        )))
    }

    /// A client certificate from PEM text: the certificate (chain) and an
    /// unencrypted PKCS#8, PKCS#1 or SEC1 private key. Parsed the way the
    /// HTTP client will use it, so a bad pair is refused now, not at the
    /// first call.
    ///
    /// # Errors
    /// When either part is missing or does not parse.
    pub fn client_certificate(
        cert_pem: &str,
        key_pem: SecretString,
    ) -> Result<Credential, AuthError> {
        let invalid = |reason: &str| AuthError::InvalidInput {
            what: "client certificate",
            reason: reason.to_string(),
        };
        if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(invalid(
                "the certificate is not PEM (expected `-----BEGIN CERTIFICATE-----`)",
            ));
        }
        if cert_pem.contains("PRIVATE KEY-----") {
            return Err(invalid(
                "the certificate field holds a private key; put it in the key field",
            ));
        }
        let key = key_pem.expose();
        if key.contains("ENCRYPTED PRIVATE KEY") {
            return Err(invalid(
                "the private key is encrypted; provide it unencrypted (it is stored encrypted by Plugboard)",
            ));
        }
        if !key.contains("PRIVATE KEY-----") {
            return Err(invalid(
                "the private key is not PEM (expected `-----BEGIN … PRIVATE KEY-----`)",
            ));
        }
        let mut both = Vec::with_capacity(cert_pem.len() + key.len() + 1);
        both.extend_from_slice(cert_pem.as_bytes());
        both.push(b'\n');
        both.extend_from_slice(key.as_bytes());
        let parsed = reqwest::Identity::from_pem(&both);
        both.zeroize();
        let identity =
            parsed.map_err(|_| invalid("the certificate or the private key does not parse"))?;
        // Building a TLS client config parses the certificate's public key
        // and the private key, and checks that they belong together.
        reqwest::Client::builder()
            .identity(identity)
            .build()
            .map_err(|_| invalid("the certificate or the private key does not parse, or the key does not belong to the certificate"))?;
        Ok(Credential::ClientCertificate(ClientCertificate {
            cert_pem: cert_pem.to_string(),
            key_pem,
        }))
    }

    /// When the access token expires, if known (stored unsealed beside the
    /// credential so the server can list what needs refreshing).
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        match self {
            Credential::OAuth2(c) => c.expires_at,
            _ => None,
        }
    }

    pub fn as_oauth2(&self) -> Option<&OAuth2Credential> {
        match self {
            Credential::OAuth2(c) => Some(c),
            _ => None,
        }
    }

    /// The sealed-at-rest form (plaintext JSON in wiped memory).
    pub fn to_secret(&self) -> SecretBytes {
        let wire = Wire::from(self);
        let bytes = serde_json::to_vec(&wire).expect("credential JSON");
        SecretBytes::new(bytes)
    }

    /// # Errors
    /// [`AuthError::CorruptCredential`] when it is not a credential this
    /// version understands (the message never quotes the content).
    pub fn from_secret(secret: &SecretBytes) -> Result<Credential, AuthError> {
        let mut wire: Wire = serde_json::from_slice(secret.expose()).map_err(|e| {
            AuthError::CorruptCredential(format!(
                "not a credential (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        wire.take()
    }
}

/// Serialized form. Plain strings only while serializing; wiped on drop.
#[derive(Serialize, Deserialize, Default)]
struct Wire {
    v: u32,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<Grant>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    refresh_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    requested_scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoints: Option<TokenEndpoints>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operator_connector: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    client_secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cert_pem: String,
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.token.zeroize();
        self.refresh_token.zeroize();
        self.client_secret.zeroize();
    }
}

impl From<&Credential> for Wire {
    fn from(c: &Credential) -> Wire {
        match c {
            Credential::PersonalAccessToken(t) => {
                let mut w = Wire::default();
                w.v = 1;
                w.kind = "pat".into();
                w.token = t.expose().to_string();
                w
            }
            Credential::ClientCertificate(cc) => {
                let mut w = Wire::default();
                w.v = 1;
                w.kind = "client_certificate".into();
                w.token = cc.key_pem.expose().to_string();
                w.cert_pem = cc.cert_pem.clone();
                w
            }
            Credential::OAuth2(o) => {
                let (operator_connector, client_id, client_secret) = match &o.client {
                    ClientRef::Operator {
                        connector,
                        client_id,
                    } => (Some(connector.clone()), client_id.clone(), String::new()),
                    ClientRef::Own {
                        client_id,
                        client_secret,
                    } => (None, client_id.clone(), client_secret.expose().to_string()),
                };
                Wire {
                    v: 1,
                    kind: "oauth2".into(),
                    grant: Some(o.grant),
                    token: o.access_token.expose().to_string(),
                    refresh_token: o
                        .refresh_token
                        .as_ref()
                        .map(|r| r.expose().to_string())
                        .unwrap_or_default(),
                    token_type: o.token_type.clone(),
                    expires_at: o.expires_at.map(|t| t.unix_timestamp()),
                    scopes: o.scopes.clone(),
                    requested_scopes: o.requested_scopes.clone(),
                    endpoints: Some(o.endpoints.clone()),
                    operator_connector,
                    client_id,
                    client_secret,
                    cert_pem: String::new(),
                }
            }
        }
    }
}

impl Wire {
    fn take(&mut self) -> Result<Credential, AuthError> {
        let secret = |s: &mut String| SecretString::new(std::mem::take(s));
        match self.kind.as_str() {
            "pat" => Ok(Credential::PersonalAccessToken(secret(&mut self.token))),
            "client_certificate" => Ok(Credential::ClientCertificate(ClientCertificate {
                cert_pem: std::mem::take(&mut self.cert_pem),
                key_pem: secret(&mut self.token),
            })),
            "oauth2" => {
                let endpoints = self.endpoints.take().ok_or_else(|| {
                    AuthError::CorruptCredential("OAuth credential without endpoints".into())
                })?;
                let client = match self.operator_connector.take() {
                    Some(connector) => ClientRef::Operator {
                        connector,
                        client_id: std::mem::take(&mut self.client_id),
                    },
                    None => ClientRef::Own {
                        client_id: std::mem::take(&mut self.client_id),
                        client_secret: secret(&mut self.client_secret),
                    },
                };
                let expires_at =
                    match self.expires_at {
                        Some(t) => Some(OffsetDateTime::from_unix_timestamp(t).map_err(|_| {
                            AuthError::CorruptCredential("expiry out of range".into())
                        })?),
                        None => None,
                    };
                Ok(Credential::OAuth2(OAuth2Credential {
                    grant: self.grant.unwrap_or(Grant::AuthorizationCode),
                    access_token: secret(&mut self.token),
                    refresh_token: (!self.refresh_token.is_empty())
                        .then(|| secret(&mut self.refresh_token)),
                    token_type: std::mem::take(&mut self.token_type),
                    expires_at,
                    scopes: std::mem::take(&mut self.scopes),
                    requested_scopes: std::mem::take(&mut self.requested_scopes),
                    endpoints,
                    client,
                }))
            }
            other => Err(AuthError::CorruptCredential(format!(
                "unknown credential kind `{other}`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_credential_round_trips_and_debug_hides_secrets() {
        let c = Credential::OAuth2(OAuth2Credential {
            grant: Grant::AuthorizationCode,
            access_token: "at-123".into(),
            refresh_token: Some("rt-456".into()),
            token_type: "bearer".into(),
            expires_at: Some(OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()),
            scopes: vec!["meeting:write".into()],
            requested_scopes: vec!["meeting:write".into()],
            endpoints: TokenEndpoints {
                token_url: "https://zoom.us/oauth/token".into(),
                revoke_url: None,
                client_auth: ClientAuth::Basic,
                scope_separator: ",".into(),
            },
            client: ClientRef::Own {
                client_id: "cid".into(),
                client_secret: "cs-789".into(),
            },
        });
        let debug = format!("{c:?}");
        for secret in ["at-123", "rt-456", "cs-789"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let back = Credential::from_secret(&c.to_secret()).unwrap();
        let o = back.as_oauth2().unwrap();
        assert_eq!(o.access_token.expose(), "at-123");
        assert_eq!(o.refresh_token.as_ref().unwrap().expose(), "rt-456");
        assert_eq!(o.expires_at, c.expires_at());
        assert!(
            matches!(&o.client, ClientRef::Own { client_secret, .. } if client_secret.expose() == "cs-789")
        );
    }

    #[test]
    fn personal_access_tokens_are_trimmed_and_checked() {
        let c = Credential::personal_access_token(" ghp_abc \n".into()).unwrap();
        assert!(matches!(c, Credential::PersonalAccessToken(ref t) if t.expose() == "ghp_abc"));
        assert!(Credential::personal_access_token("  ".into()).is_err());
        assert!(Credential::personal_access_token("two words".into()).is_err());
    }

    #[test]
    fn client_certificate_refuses_what_is_not_a_pem_pair() {
        let err = Credential::client_certificate("hello", "-----BEGIN PRIVATE KEY-----".into())
            .unwrap_err();
        assert!(err.to_string().contains("not PEM"), "{err}");
        let err = Credential::client_certificate(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
                .into(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("encrypted"), "{err}");
        let err = Credential::client_certificate(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not parse"), "{err}");
    }

    fn openssl_pair(dir: &std::path::Path, name: &str) -> Option<(String, String)> {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
            ])
            .arg(format!("/CN={name}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?
            .success();
        ok.then(|| {
            (
                std::fs::read_to_string(cert).unwrap(),
                std::fs::read_to_string(key).unwrap(),
            )
        })
    }

    #[test]
    fn client_certificate_accepts_a_matching_pair_and_refuses_a_foreign_key() {
        let dir = std::env::temp_dir().join(format!("pb-cert-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let Some((cert_a, key_a)) = openssl_pair(&dir, "a") else {
            eprintln!("openssl not available; skipping");
            return;
        };
        let (_, key_b) = openssl_pair(&dir, "b").unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let c = Credential::client_certificate(&cert_a, key_a.clone().into()).unwrap();
        let back = Credential::from_secret(&c.to_secret()).unwrap();
        assert!(
            matches!(back, Credential::ClientCertificate(ref cc) if cc.key_pem.expose() == key_a)
        );
        let err = Credential::client_certificate(&cert_a, key_b.into()).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }
}
