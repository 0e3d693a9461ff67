//! Write a Plugboard connector: a WebAssembly component (wasm32-wasip2) that
//! knows one API and reaches it only through the host.
//!
//! A connector implements [`Connector`] on a unit type and registers it with
//! [`export_connector!`]. Operations are plain Rust functions with serde input
//! and output types, dispatched by a [`Router`]; HTTP goes through
//! [`http::Request`], which the host sends (it injects the credential, enforces
//! the manifest's `api-hosts` and its limits).
//!
//! ```ignore
//! use plugboard_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     fn manifest() -> Manifest { /* ... */ }
//!     fn invoke(operation: &str, input: &str) -> Result<String, ConnectorError> {
//!         Router::new().operation("whoami", whoami).invoke(operation, input)
//!     }
//! }
//!
//! export_connector!(Hello);
//! ```
//!
//! What this crate must never do: keep state between calls (each call runs in
//! a fresh instance), or expose the raw bindings as its API (they are
//! `#[doc(hidden)]` plumbing for [`export_connector!`]).

extern crate self as plugboard_sdk;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/plugboard-connector@0.1.0",
        world: "plugboard:connector/connector@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "::plugboard_sdk::__private::bindings",
        runtime_path: "::plugboard_sdk::__private::wit_bindgen::rt",
        generate_all,
    });
}

pub mod error;
pub mod generic;
pub mod http;
pub mod log;
pub mod manifest;
pub mod router;

pub use error::ConnectorError;
pub use manifest::{
    Account, AuthKind, AuthMethod, Capability, ClientAuth, ConfigField, Event, FieldKind, Manifest,
    Oauth2Settings, Operation, PollResult, Scope, TokenPlacement, Trigger,
};
pub use router::Router;

/// The contract version this SDK builds connectors against.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Everything a connector usually needs, in one `use`.
pub mod prelude {
    pub use crate::auth;
    pub use crate::credential_store;
    pub use crate::http::{self, Method, Request, Response};
    pub use crate::{
        Account, AuthKind, AuthMethod, Capability, ClientAuth, ConfigField, Connector,
        ConnectorError, Event, FieldKind, Manifest, Oauth2Settings, Operation, PollResult, Router,
        Scope, TokenPlacement, Trigger, export_connector,
    };
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::json;
}

/// What the current connection is: auth kind, granted scopes, config values.
pub mod auth {
    use crate::bindings::plugboard::connector::auth as wit;

    pub use wit::ConnectionInfo;

    /// The connection this call runs for (one host call; cheap).
    pub fn connection_info() -> ConnectionInfo {
        wit::connection()
    }

    /// The value of the connection's config field `name`, if set.
    pub fn config(name: &str) -> Option<String> {
        connection_info()
            .config
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The value of the required config field `name`.
    ///
    /// # Errors
    /// [`crate::ConnectorError::InvalidInput`] naming the field when it is
    /// missing or empty.
    pub fn require_config(name: &str) -> Result<String, crate::ConnectorError> {
        config(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                crate::ConnectorError::invalid_input(format!(
                    "the connection's config field `{name}` is not set"
                ))
            })
    }

    /// Tell the host a person must reconnect this connection; `message` says
    /// why in the provider's words. The host marks the connection Disconnected.
    pub fn request_reconnect(message: &str) {
        wit::request_reconnect(message)
    }

    /// The raw access token, for connectors whose manifest declares the
    /// `raw-token` capability and whose operator granted it.
    ///
    /// # Errors
    /// The host's refusal when the capability was not declared or granted.
    pub fn raw_token() -> Result<String, String> {
        wit::raw_token()
    }
}

/// Small per-connection secrets (e.g. a webhook secret), encrypted by the host.
pub mod credential_store {
    use crate::bindings::plugboard::connector::credential_store as wit;

    /// The value stored under `key`, if any.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        wit::get(key)
    }

    /// Store `value` under `key`.
    ///
    /// # Errors
    /// The host's message when the key or value exceeds its size limits.
    pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
        wit::set(key, value)
    }

    /// Forget `key` (no error when it was not set).
    pub fn delete(key: &str) {
        wit::delete(key)
    }
}

/// A connector: what it is ([`Connector::manifest`]) and what it does.
///
/// Every method is an associated function: each call runs in a fresh
/// instance, so there is no `self` to keep state in.
pub trait Connector {
    /// Describe the connector. Called once when the host loads it; must not
    /// call imports (no HTTP, no `auth`).
    fn manifest() -> Manifest;

    /// Check the connection's credential and return its account.
    ///
    /// The default says the connector cannot check connections.
    ///
    /// # Errors
    /// Whatever the provider says is wrong with the credential.
    fn check_connection() -> Result<Account, ConnectorError> {
        Err(ConnectorError::internal(
            "this connector does not implement check-connection",
        ))
    }

    /// Run `operation` with JSON `input`; return JSON. Usually
    /// `Router::new().operation(..).invoke(operation, input)`.
    ///
    /// # Errors
    /// [`ConnectorError::UnknownOperation`] by default.
    fn invoke(operation: &str, input: &str) -> Result<String, ConnectorError> {
        let _ = input;
        Err(ConnectorError::UnknownOperation(operation.to_owned()))
    }

    /// Poll `trigger` for new events since `cursor`.
    ///
    /// # Errors
    /// [`ConnectorError::UnknownOperation`] by default.
    fn poll(
        trigger: &str,
        parameters: &str,
        cursor: Option<String>,
    ) -> Result<PollResult, ConnectorError> {
        let _ = (parameters, cursor);
        Err(ConnectorError::UnknownOperation(trigger.to_owned()))
    }
}

/// Plumbing for [`export_connector!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::exports::plugboard::connector::plugin::Guest;
    pub use wit_bindgen;

    const STAMP_TEXT: &str = concat!("contract=0.1.0;sdk=", env!("CARGO_PKG_VERSION"));
    /// Length of [`STAMP`].
    pub const STAMP_LEN: usize = STAMP_TEXT.len();
    /// Contents of the `plugboard:sdk` custom section that
    /// [`crate::export_connector!`] puts in every component, so a host can
    /// read which contract and SDK built it without instantiating it.
    pub const STAMP: [u8; STAMP_LEN] = {
        let text = STAMP_TEXT.as_bytes();
        let mut out = [0u8; STAMP_LEN];
        let mut i = 0;
        while i < STAMP_LEN {
            out[i] = text[i];
            i += 1;
        }
        out
    };

    /// Adapts a [`crate::Connector`] to the generated `Guest` trait.
    pub struct Adapter<C>(core::marker::PhantomData<C>);

    impl<C: crate::Connector> Guest for Adapter<C> {
        fn manifest() -> crate::Manifest {
            C::manifest()
        }
        fn check_connection() -> Result<crate::Account, crate::ConnectorError> {
            C::check_connection()
        }
        fn invoke(operation: String, input: String) -> Result<String, crate::ConnectorError> {
            C::invoke(&operation, &input)
        }
        fn poll(
            trigger: String,
            parameters: String,
            cursor: Option<String>,
        ) -> Result<crate::PollResult, crate::ConnectorError> {
            C::poll(&trigger, &parameters, cursor)
        }
    }
}

/// Export a [`Connector`] type as the component's `plugin` interface.
///
/// Use once per connector crate, at the crate root:
/// `plugboard_sdk::export_connector!(Zoom);`. It expands to nothing when
/// not compiling for WebAssembly, so the crate's unit tests run natively.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        // Only components export anything: a native build (unit tests of
        // the connector's logic) cannot link the contract's export names.
        #[cfg(target_arch = "wasm32")]
        type __PlugboardExport = $crate::__private::Adapter<$connector>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::bindings::__export_plugin!(__PlugboardExport);
        // `contract=0.1.0;sdk=<version>` in a `plugboard:sdk` custom section.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "plugboard:sdk")]
        #[used]
        static __PLUGBOARD_SDK_STAMP: [u8; $crate::__private::STAMP_LEN] = $crate::__private::STAMP;
    };
}

/// The README's example compiles (checked by `cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
