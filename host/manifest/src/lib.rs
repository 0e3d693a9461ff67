//! What a connector declares about itself, as plain Rust data.
//!
//! The runtime reads a component's `manifest()` export once at load and turns
//! it into a [`Manifest`]; auth, store and server only ever see this type, so
//! none of them depends on wasmtime or the WIT bindings. [`Manifest::validate`]
//! is the one place that decides whether a manifest is acceptable: a
//! connector is untrusted input, and its manifest may lie.
//!
//! This crate must stay free of I/O: no network, no database, no wasm.

mod resolve;
mod template;
mod validate;

use serde::{Deserialize, Serialize};

pub use template::{TemplateError, fill_template, placeholders};
pub use validate::{ManifestError, host_matches};

/// How a connection authenticates. Mirrors the WIT `auth-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// Authorization code with the operator's OAuth app.
    Oauth2AuthorizationCode,
    /// Authorization code with the user's own OAuth app (client id + secret).
    Oauth2Byoa,
    Oauth2ClientCredentials,
    /// Resource owner password grant; discouraged by RFC 9700.
    Oauth2Password,
    PersonalAccessToken,
    ClientCertificate,
}

impl AuthKind {
    /// All kinds, in the order people are shown them.
    pub const ALL: [AuthKind; 6] = [
        AuthKind::Oauth2AuthorizationCode,
        AuthKind::Oauth2Byoa,
        AuthKind::Oauth2ClientCredentials,
        AuthKind::Oauth2Password,
        AuthKind::PersonalAccessToken,
        AuthKind::ClientCertificate,
    ];

    /// The stable name used in APIs, the database and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Oauth2AuthorizationCode => "oauth2_authorization_code",
            AuthKind::Oauth2Byoa => "oauth2_byoa",
            AuthKind::Oauth2ClientCredentials => "oauth2_client_credentials",
            AuthKind::Oauth2Password => "oauth2_password",
            AuthKind::PersonalAccessToken => "personal_access_token",
            AuthKind::ClientCertificate => "client_certificate",
        }
    }

    /// Whether this kind needs OAuth 2.0 endpoints in its auth method.
    pub fn is_oauth2(self) -> bool {
        matches!(
            self,
            AuthKind::Oauth2AuthorizationCode
                | AuthKind::Oauth2Byoa
                | AuthKind::Oauth2ClientCredentials
                | AuthKind::Oauth2Password
        )
    }

    /// Whether a person is sent to the provider's authorize page.
    pub fn uses_authorize_redirect(self) -> bool {
        matches!(
            self,
            AuthKind::Oauth2AuthorizationCode | AuthKind::Oauth2Byoa
        )
    }
}

impl std::fmt::Display for AuthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuthKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuthKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = AuthKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown auth kind `{s}`; expected one of: {}",
                    known.join(", ")
                )
            })
    }
}

/// How the OAuth client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` / `client_secret` in the form body.
    Post,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub name: String,
    pub description: String,
}

/// OAuth 2.0 endpoints of a provider. URLs may hold `{field}` placeholders
/// filled from the connection's config (see [`fill_template`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth2Settings {
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub revoke_url: Option<String>,
    pub pkce: bool,
    pub client_auth: ClientAuth,
    pub scope_separator: String,
    pub extra_authorize_params: Vec<(String, String)>,
}

/// Where a personal access token goes in each request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPlacement {
    pub header: String,
    pub prefix: String,
}

impl Default for TokenPlacement {
    fn default() -> Self {
        TokenPlacement {
            header: "Authorization".into(),
            prefix: "Bearer ".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthMethod {
    pub kind: AuthKind,
    pub label: String,
    pub oauth2: Option<OAuth2Settings>,
    pub token_placement: Option<TokenPlacement>,
    pub scopes_offered: Vec<Scope>,
    pub scopes_default: Vec<String>,
}

impl AuthMethod {
    /// Where the credential goes: the declared placement or `Authorization: Bearer`.
    pub fn token_placement(&self) -> TokenPlacement {
        self.token_placement.clone().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Url,
    Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigField {
    pub name: String,
    pub label: String,
    pub description: String,
    pub kind: FieldKind,
    pub required: bool,
    pub default_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub name: String,
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output.
    pub output_schema: serde_json::Value,
    pub required_scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    pub description: String,
    pub parameters_schema: serde_json::Value,
    pub event_schema: serde_json::Value,
    pub required_scopes: Vec<String>,
    pub default_poll_interval_seconds: u32,
}

/// Something a connector asks of the host beyond the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Read the raw access token (`auth.raw-token`).
    RawToken,
}

/// Everything a connector declares. Built by the runtime from the
/// component's `manifest()` export and checked with [`Manifest::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub base_url: String,
    pub api_hosts: Vec<String>,
    pub auth_methods: Vec<AuthMethod>,
    pub config_fields: Vec<ConfigField>,
    pub operations: Vec<Operation>,
    pub triggers: Vec<Trigger>,
    pub capabilities: Vec<Capability>,
}

impl Manifest {
    pub fn auth_method(&self, kind: AuthKind) -> Option<&AuthMethod> {
        self.auth_methods.iter().find(|m| m.kind == kind)
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.name == name)
    }

    pub fn trigger(&self, name: &str) -> Option<&Trigger> {
        self.triggers.iter().find(|t| t.name == name)
    }

    pub fn config_field(&self, name: &str) -> Option<&ConfigField> {
        self.config_fields.iter().find(|f| f.name == name)
    }

    /// The auth kind to use when the caller names none: the only one, if
    /// the connector has exactly one (seed 001: no chooser then).
    pub fn sole_auth_kind(&self) -> Option<AuthKind> {
        match self.auth_methods.as_slice() {
            [only] => Some(only.kind),
            _ => None,
        }
    }
}

/// Scopes in `required` that are not in `granted`, in `required`'s order.
/// Comparison is exact: providers treat scope strings as opaque.
pub fn missing_scopes(required: &[String], granted: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|r| !granted.iter().any(|g| g == *r))
        .cloned()
        .collect()
}

/// Split a provider's scope string with the manifest's separator, also
/// accepting spaces (providers are not always consistent: Zoom answers
/// with commas or spaces depending on the endpoint).
pub fn split_scopes(scopes: &str, separator: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let pieces: Box<dyn Iterator<Item = &str>> = if separator.is_empty() {
        Box::new(std::iter::once(scopes))
    } else {
        Box::new(scopes.split(separator))
    };
    for piece in pieces.flat_map(|p| p.split_whitespace()) {
        if !piece.is_empty() && !out.iter().any(|s| s == piece) {
            out.push(piece.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scopes_lists_only_what_is_not_granted() {
        let required = vec!["meeting:write".to_string(), "recording:read".to_string()];
        let granted = vec!["recording:read".to_string(), "user_info:read".to_string()];
        assert_eq!(missing_scopes(&required, &granted), vec!["meeting:write"]);
        assert!(missing_scopes(&[], &granted).is_empty());
    }

    #[test]
    fn split_scopes_accepts_the_declared_separator_and_spaces() {
        assert_eq!(
            split_scopes("meeting:write,recording:read", ","),
            vec!["meeting:write", "recording:read"]
        );
        assert_eq!(
            split_scopes("openid profile  email", " "),
            vec!["openid", "profile", "email"]
        );
        assert_eq!(
            split_scopes("a, b,a", ","),
            vec!["a", "b"],
            "spaces after commas and duplicates are tolerated"
        );
        assert!(split_scopes("", ",").is_empty());
    }

    #[test]
    fn auth_kind_round_trips_through_its_name() {
        for kind in AuthKind::ALL {
            assert_eq!(kind.as_str().parse::<AuthKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        let err = "oauth3".parse::<AuthKind>().unwrap_err();
        assert!(err.contains("personal_access_token"), "{err}");
    }
}
