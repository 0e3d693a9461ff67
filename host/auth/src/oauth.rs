//! The `oauth2` crate, configured from a manifest's [`OAuth2Settings`]: one
//! client type, provider error bodies as they really are (`error` plus
//! `error_description`, Zoom's `reason`, or `message`), and the mapping of
//! token-endpoint failures to what the token manager does about them.

use std::fmt;
use std::time::Duration;

use oauth2::basic::{BasicTokenIntrospectionResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, RedirectUrl,
    RequestTokenError, RevocationUrl, StandardRevocableToken, TokenResponse as _, TokenUrl,
};
use plugboard_manifest::{ClientAuth, split_scopes};
use plugboard_vault::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::AuthError;
use crate::http::HttpError;

/// An OAuth error body from a provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    /// Zoom's human-readable field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ProviderError {
    /// The provider's own explanation, if it gave one.
    pub fn text(&self) -> Option<String> {
        self.error_description
            .clone()
            .or_else(|| self.reason.clone())
            .or_else(|| self.message.clone())
            .filter(|t| !t.trim().is_empty())
    }

    /// What to keep as the connection's "provider error message".
    pub fn provider_message(&self) -> String {
        match self.text() {
            Some(t) => format!("{}: {t}", self.error),
            None => self.error.clone(),
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.provider_message())
    }
}

impl oauth2::ErrorResponse for ProviderError {}

pub(crate) type OAuthClient = oauth2::Client<
    ProviderError,
    BasicTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    ProviderError,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub(crate) struct ClientSpec<'a> {
    pub client_id: &'a str,
    pub client_secret: Option<&'a SecretString>,
    pub authorize_url: Option<&'a str>,
    pub token_url: Option<&'a str>,
    pub revoke_url: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub client_auth: ClientAuth,
}

fn bad_url(what: &'static str, url: &str) -> AuthError {
    AuthError::InvalidInput {
        what,
        reason: format!("`{url}` is not an absolute URL"),
    }
}

pub(crate) fn client(spec: ClientSpec<'_>) -> Result<OAuthClient, AuthError> {
    let auth = spec
        .authorize_url
        .map(|u| AuthUrl::new(u.to_string()).map_err(|_| bad_url("authorize URL", u)))
        .transpose()?;
    let token = spec
        .token_url
        .map(|u| TokenUrl::new(u.to_string()).map_err(|_| bad_url("token URL", u)))
        .transpose()?;
    let revoke = spec
        .revoke_url
        .map(|u| RevocationUrl::new(u.to_string()).map_err(|_| bad_url("revocation URL", u)))
        .transpose()?;
    let redirect = spec
        .redirect_uri
        .map(|u| RedirectUrl::new(u.to_string()).map_err(|_| bad_url("redirect URI", u)))
        .transpose()?;
    let mut c = oauth2::Client::new(ClientId::new(spec.client_id.to_string()))
        .set_auth_uri_option(auth)
        .set_token_uri_option(token)
        .set_revocation_url_option(revoke)
        .set_auth_type(match spec.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Post => AuthType::RequestBody,
        });
    if let Some(secret) = spec.client_secret {
        c = c.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    if let Some(r) = redirect {
        c = c.set_redirect_uri(r);
    }
    Ok(c)
}

/// What a token-endpoint failure means for the caller.
#[derive(Debug)]
pub(crate) enum TokenFailure {
    /// An OAuth error body (any status, including 200 with `error`).
    OAuth(ProviderError),
    /// Timeouts, 5xx, 429.
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// A 2xx that is not a token, or an unusable request.
    Other(String),
}

impl TokenFailure {
    pub(crate) fn into_error(self) -> AuthError {
        match self {
            TokenFailure::OAuth(p) => AuthError::Provider {
                message: p.text(),
                error: p.error,
            },
            TokenFailure::Transient {
                detail,
                retry_after,
            } => AuthError::Transient {
                detail,
                retry_after,
            },
            TokenFailure::Other(s) => AuthError::BadTokenResponse(s),
        }
    }
}

pub(crate) fn classify(e: RequestTokenError<HttpError, ProviderError>) -> TokenFailure {
    match e {
        RequestTokenError::ServerResponse(p) => TokenFailure::OAuth(p),
        RequestTokenError::Request(HttpError::Transient {
            host,
            status,
            retry_after,
        }) => TokenFailure::Transient {
            detail: format!("{host} answered HTTP {status}"),
            retry_after,
        },
        RequestTokenError::Request(e @ HttpError::Transport { .. }) => TokenFailure::Transient {
            detail: e.to_string(),
            retry_after: None,
        },
        RequestTokenError::Request(e @ HttpError::Build(_)) => TokenFailure::Other(e.to_string()),
        RequestTokenError::Parse(err, body) => {
            // A 200 carrying an OAuth error instead of a token is a failure,
            // not a token (some providers do this).
            match serde_json::from_slice::<ProviderError>(&body) {
                Ok(p) => TokenFailure::OAuth(p),
                // Only the JSON path: the body may hold a token.
                Err(_) => TokenFailure::Other(format!("unexpected JSON at `{}`", err.path())),
            }
        }
        RequestTokenError::Other(s) => TokenFailure::Other(s),
    }
}

/// The parts of a token response Plugboard keeps.
pub(crate) struct Issued {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    pub expires_at: Option<OffsetDateTime>,
    /// `None` when the provider did not say (then keep what was requested).
    pub scopes: Option<Vec<String>>,
}

pub(crate) fn issued(
    resp: &BasicTokenResponse,
    now: OffsetDateTime,
    separator: &str,
) -> Result<Issued, AuthError> {
    if resp.access_token().secret().is_empty() {
        return Err(AuthError::BadTokenResponse("empty access_token".into()));
    }
    let scopes = resp.scopes().map(|s| {
        let joined = s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        split_scopes(&joined, separator)
    });
    Ok(Issued {
        access_token: SecretString::new(resp.access_token().secret().clone()),
        refresh_token: resp
            .refresh_token()
            .map(|r| SecretString::new(r.secret().clone()))
            .filter(|r| !r.is_empty()),
        token_type: resp.token_type().as_ref().to_string(),
        expires_at: resp
            .expires_in()
            .filter(|d| !d.is_zero())
            .map(|d| now + time::Duration::try_from(d).unwrap_or(time::Duration::hours(1))),
        scopes,
    })
}
