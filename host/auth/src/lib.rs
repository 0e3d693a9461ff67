//! Auth flows and the token manager: the host, never a connector, signs in
//! to providers and holds every token.
//!
//! - [`AuthFlows`]: OAuth 2.0 authorization code (PKCE S256, one-time
//!   `state` bound to the pending connection, exact redirect URI
//!   `<public base>/provisioning_/callback`, RFC 9207 `iss` check, code
//!   exchanged once), BYOA, client credentials, password grant (only where
//!   declared; RFC 9700 discourages it), and [`Credential`] constructors
//!   for personal access tokens and client certificates.
//! - [`TokenManager`]: fresh access tokens, single-flight refresh per
//!   credential in a process and across replicas (store lease), rotation
//!   saved by compare-and-swap before use, `invalid_grant` → Disconnected,
//!   transient failures retried without disconnecting, revocation.
//! - [`OperatorApps`]: the operator's OAuth app per connector.
//!
//! Wiring into the runtime (done by the server, which owns both sides):
//! `ConnectionServices::credential` → [`TokenManager::access_token`]
//! (bearer) or [`TokenManager::credential`] (PAT, client certificate);
//! `refresh_credential(rejected)` → [`TokenManager::refresh_after_unauthorized`];
//! `request_reconnect(message)` → [`TokenManager::request_reconnect`].
//! [`AuthError::ReconnectRequired`] maps to the runtime's reconnect-required
//! error, [`AuthError::Transient`] and [`AuthError::Busy`] to unavailable.
//!
//! Token requests go through the `oauth2` crate over our reqwest client
//! ([`OAuthHttp`]). This crate must never log a token or a secret, never
//! put one in an error message, and keeps them in zeroizing types.

mod apps;
mod clock;
mod credential;
mod error;
mod flows;
mod http;
mod manager;
mod oauth;

pub use apps::{AppCredentials, OperatorApps, config_key, env_keys};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credential::{
    ClientCertificate, ClientRef, Credential, Grant, OAuth2Credential, TokenEndpoints,
};
pub use error::{AuthError, CallbackError, PRE_APPROVAL_HELP};
pub use flows::{
    AuthFlows, BeginAuthorization, CALLBACK_PATH, CallbackFailure, CallbackParams, ClientChoice,
    CompletedAuthorization, ConnectionRef, FlowSettings,
};
pub use http::{HttpError, OAuthHttp};
pub use manager::{AccessToken, ManagerSettings, RECONNECT_MESSAGE, Revocation, TokenManager};
pub use oauth::ProviderError;
