//! The runtime's errors: [`RuntimeError`] for host-side failures (load,
//! limits, traps) and [`ConnectorError`], the plain mirror of the WIT
//! `connector-error` a guest returns on purpose; [`CallError`] is either.
//!
//! Owns: error types and their messages. Must never: carry a secret in a
//! message (credentials are redacted long before an error is built).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Something went wrong on the host side: loading a component, a limit, a
/// trap. Every variant names the step and the connector.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The wasmtime engine could not be configured.
    #[error("configuring the wasm engine: {source}")]
    Engine {
        #[source]
        source: wasmtime::Error,
    },
    /// The bytes are not a WebAssembly component (a core module, or not wasm).
    #[error("connector {connector}: not a WebAssembly component: {reason}")]
    NotAComponent { connector: String, reason: String },
    /// Cranelift refused the component.
    #[error("connector {connector}: compiling the component failed: {source}")]
    Compile {
        connector: String,
        #[source]
        source: wasmtime::Error,
    },
    /// The component targets a contract version this host does not run.
    #[error("connector {connector} targets {package}@{found}; this host supports {supported}")]
    ContractMismatch {
        connector: String,
        package: &'static str,
        found: String,
        supported: String,
    },
    /// The component is wasm, but exports no `plugboard:connector/plugin`.
    #[error(
        "connector {connector} is not a Plugboard connector: it exports no `plugboard:connector/plugin` interface (exports: {exports})"
    )]
    NotAConnector { connector: String, exports: String },
    /// The component imports something the sandbox does not provide.
    #[error("connector {connector}: linking imports failed: {source}")]
    Link {
        connector: String,
        #[source]
        source: wasmtime::Error,
    },
    /// A fresh instance could not be created (e.g. every pool slot is busy).
    #[error("connector {connector}: instantiating failed: {source}")]
    Instantiate {
        connector: String,
        #[source]
        source: wasmtime::Error,
    },
    /// `manifest()` trapped while the host loaded the component.
    #[error("connector {connector}: manifest() trapped at load: {source}")]
    TrapAtLoad {
        connector: String,
        #[source]
        source: wasmtime::Error,
    },
    /// The manifest breaks the rules; every problem is listed.
    #[error("connector {connector}: {source}")]
    InvalidManifest {
        connector: String,
        #[source]
        source: plugboard_manifest::ManifestError,
    },
    /// The guest used more CPU time than [`crate::CallLimits::cpu_time`].
    #[error(
        "connector {connector}: `{export}` used more than {limit:?} of CPU time and was stopped"
    )]
    CpuLimitExceeded {
        connector: String,
        export: String,
        limit: Duration,
    },
    /// The guest tried to grow memory past [`crate::CallLimits::max_memory_bytes`].
    #[error("connector {connector}: `{export}` exceeded the memory limit of {limit_bytes} bytes")]
    MemoryLimitExceeded {
        connector: String,
        export: String,
        limit_bytes: usize,
    },
    /// The call did not finish within [`crate::CallLimits::wall_time`].
    #[error("connector {connector}: `{export}` did not finish within {limit:?}")]
    Timeout {
        connector: String,
        export: String,
        limit: Duration,
    },
    /// The export returned more than [`crate::CallLimits::max_output_bytes`].
    #[error("connector {connector}: `{export}` returned {size} bytes; the limit is {limit} bytes")]
    OutputTooLarge {
        connector: String,
        export: String,
        size: usize,
        limit: usize,
    },
    /// The export returned text that is not JSON where JSON is required.
    #[error("connector {connector}: `{export}` returned invalid JSON: {reason}")]
    InvalidOutput {
        connector: String,
        export: String,
        reason: String,
    },
    /// The call was not started: its connection, its tenant or the host has
    /// as many calls in flight as allowed. Nothing ran; retry later.
    #[error("connector {connector}: {busy}")]
    Busy {
        connector: String,
        busy: crate::admission::Busy,
    },
    /// The guest trapped (panic, unreachable, a host fault) during a call.
    #[error("connector {connector}: `{export}` trapped: {source}")]
    Trap {
        connector: String,
        export: String,
        #[source]
        source: wasmtime::Error,
    },
}

/// Why a connector export failed on purpose: the plain Rust mirror of the
/// WIT `connector-error`, serializable for the API and the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorError {
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    #[error("forbidden: {message}{}", missing(missing_scopes))]
    Forbidden {
        message: String,
        missing_scopes: Vec<String>,
    },
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("rate limited: {message}")]
    RateLimited {
        message: String,
        retry_after_seconds: Option<u32>,
    },
    #[error("provider error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Provider {
        status: Option<u16>,
        code: Option<String>,
        message: String,
    },
    #[error("reconnect required: {message}")]
    ReconnectRequired { message: String },
    #[error("unknown operation or trigger: {message}")]
    UnknownOperation { message: String },
    #[error("connector bug: {message}")]
    Internal { message: String },
}

fn missing(scopes: &[String]) -> String {
    if scopes.is_empty() {
        String::new()
    } else {
        format!(" (missing scopes: {})", scopes.join(", "))
    }
}

/// The outcome of a failed call: the connector said no ([`ConnectorError`],
/// its words wrapped once with its id and version), or the host stopped it
/// ([`RuntimeError`]: limits, traps).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("connector {connector}: {error}")]
    Connector {
        /// `"zoom" 1.2.0`.
        connector: String,
        error: ConnectorError,
    },
    #[error(transparent)]
    Host(#[from] RuntimeError),
}

impl CallError {
    /// The connector's typed error, if it was one.
    pub fn connector_error(&self) -> Option<&ConnectorError> {
        match self {
            CallError::Connector { error, .. } => Some(error),
            CallError::Host(_) => None,
        }
    }

    /// The host-side error, if it was one.
    pub fn runtime_error(&self) -> Option<&RuntimeError> {
        match self {
            CallError::Host(e) => Some(e),
            CallError::Connector { .. } => None,
        }
    }
}
