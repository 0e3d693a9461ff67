//! Shared set-up for Plugboard's tests: real counterparts on loopback, so
//! tests read like the seeds' user stories and never mock HTTP.
//!
//! - [`FakeZoom`]: a Zoom-like OAuth 2.0 provider and `/v2` API in-process
//!   (axum on an OS-chosen loopback port) with fault switches and counters.
//! - [`OidcProvider`]: the real `oidc-provider` (npm) in a child process,
//!   killed on drop; needs `npm ci --prefix tests/support/oidc` once.
//! - [`browser`]: drive an authorize URL through login/consent pages over
//!   plain HTTP up to the redirect back to Plugboard's callback.
//! - [`npm::ensure_installed`]: `npm ci` of a test's pinned packages, once.
//! - [`LogCapture`]: log lines in memory, to assert no secret was logged.
//! - [`WebhookReceiver`]: records signed webhook deliveries, can be taken down.
//! - [`mtls`]: test CAs and certificates, and [`mtls::MtlsApi`], an HTTPS
//!   API that requires client certificates and records its connections.
//! - [`postgres::TestSchema`]: a fresh PostgreSQL schema per test, dropped
//!   afterwards.
//! - [`free_port`].
//!
//! This crate is only for tests: it holds test-only secrets in plain
//! strings and must never be a dependency of a shipped crate.

pub mod browser;
mod fake_zoom;
mod logs;
pub mod mtls;
pub mod npm;
mod oidc;
pub mod postgres;
mod webhook_receiver;

pub use fake_zoom::{FakeZoom, Recording, TokenFault, ZoomApp, ZoomUser};
pub use logs::LogCapture;
pub use oidc::{OidcClient, OidcProvider};
pub use webhook_receiver::{Received, WebhookReceiver};

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it).
/// Prefer binding `127.0.0.1:0` yourself when you can; this is for child
/// processes that must be told their port.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The redirect URI Plugboard registers with providers in tests: an address
/// nothing listens on, since [`browser`] stops at the redirect and hands the
/// callback URL to the test.
pub const TEST_PUBLIC_BASE: &str = "http://127.0.0.1:9";

/// `<TEST_PUBLIC_BASE>/provisioning_/callback`.
pub fn test_redirect_uri() -> String {
    format!("{TEST_PUBLIC_BASE}/provisioning_/callback")
}
