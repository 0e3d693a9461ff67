//! Wasmtime embedding: loads connector components and runs them sandboxed.
//!
//! [`Runtime::new`] builds one engine (pooling allocator, epoch-based CPU
//! limits, an on-disk compile cache); [`Runtime::load`] turns component
//! bytes into a [`LoadedConnector`] (contract check, compile or cache hit,
//! `InstancePre`, validated [`Manifest`]); each call —
//! [`LoadedConnector::check_connection`], [`LoadedConnector::invoke`],
//! [`LoadedConnector::poll`] — runs in a fresh `Store` under [`CallLimits`]
//! and reaches the world only through [`ConnectionServices`] and the
//! egress policy.
//!
//! This crate must never depend on a database, a web framework or a tenant
//! model: it asks the traits in [`services`] for credentials and storage.

pub mod admission;
pub mod capabilities;
pub mod egress;
pub mod error;
pub mod limits;
pub mod services;
pub mod wit;

mod cache;
mod call_plan;
mod connector;
mod cpu_share;
mod engine;
mod imports;
mod sandbox;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use admission::{Busy, BusyScope, ConcurrencyLimits};
pub use capabilities::{CapabilityError, Grants};
pub use connector::{Account, Event, LoadedConnector, PollResult};
pub use cpu_share::HEAVY_AFTER_TICKS;
pub use egress::AddressPolicy;
pub use error::{CallError, ConnectorError, RuntimeError};
pub use limits::CallLimits;
pub use plugboard_manifest::{Capability, Manifest};
pub use services::{
    CallContext, ConnectionServices, Credential, CredentialError, SecretStoreError, StaticServices,
};

use crate::imports::HostState;

/// How the operator configures the sandbox.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached. `None` compiles on every load.
    /// The directory must belong to this host alone.
    pub cache_dir: Option<PathBuf>,
    /// Limits applied to every call.
    pub limits: CallLimits,
    /// Which IP addresses connectors may reach. Default: public only.
    pub address_policy: AddressPolicy,
    /// Capabilities granted to connectors. Default: none.
    pub grants: Grants,
    /// Instances that can exist at the same time (pool slots). Default
    /// 256; a few are kept for loading components, the rest serve calls.
    pub max_concurrent_instances: u32,
    /// Calls one connection, and one tenant, may have in flight; past them
    /// a call is refused with [`Busy`]. Default:
    /// [`ConcurrencyLimits::for_pool`] of the pool.
    pub concurrency: ConcurrencyLimits,
    /// Epoch tick: the granularity of CPU limits and of yielding a busy
    /// guest back to the executor. Default 10 ms.
    pub epoch_tick: Duration,
    /// How many calls that keep the CPU busy (running across
    /// [`HEAVY_AFTER_TICKS`] ticks) may run at once; the others
    /// wait their turn, so busy guests cannot starve the host. Default:
    /// half the cores, at least one.
    pub heavy_lanes: usize,
    /// PEM certificates of authorities trusted for connector egress besides
    /// the system's (an API behind a private CA, e.g. one that takes client
    /// certificates). Default: none.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            limits: CallLimits::default(),
            address_policy: AddressPolicy::default(),
            grants: Grants::none(),
            max_concurrent_instances: 256,
            concurrency: ConcurrencyLimits::for_pool(256),
            epoch_tick: Duration::from_millis(10),
            heavy_lanes: cpu_share::HeavyLanes::default_count(),
            extra_ca_pem: None,
        }
    }
}

/// What every loaded connector and call shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) limits: CallLimits,
    pub(crate) policy: AddressPolicy,
    pub(crate) grants: Grants,
    pub(crate) client: Arc<reqwest::Client>,
    /// Extra trusted authorities, for the per-connection mTLS clients too.
    pub(crate) extra_roots: Vec<reqwest::Certificate>,
    /// One client per client certificate (by its SHA-256), reused across
    /// calls so mTLS connections keep their TLS sessions.
    pub(crate) mtls_clients: imports::http::MtlsClients,
    pub(crate) cache: Option<cache::ComponentCache>,
    /// CPU limit in epoch ticks.
    pub(crate) cpu_ticks: u64,
    /// Where calls that keep the CPU busy take turns.
    pub(crate) heavy_lanes: cpu_share::HeavyLanes,
    /// Calls in flight per tenant and connection.
    pub(crate) admission: admission::Admission,
}

/// The connector host: one engine, one linker, one HTTP client, shared by
/// every connector it loads. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl Runtime {
    /// Build the engine, linker and HTTP client, and start the epoch ticker.
    ///
    /// # Errors
    /// [`RuntimeError::Engine`] when wasmtime rejects the configuration,
    /// the cache directory cannot be created, or the HTTP client cannot be
    /// built.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = engine::build_engine(&config.limits, config.max_concurrent_instances)?;
        engine::spawn_epoch_ticker(&engine, config.epoch_tick).map_err(|e| {
            RuntimeError::Engine {
                source: wasmtime::Error::from(e),
            }
        })?;
        let linker = imports::linker(&engine).map_err(|source| RuntimeError::Engine { source })?;
        let extra_roots = match &config.extra_ca_pem {
            Some(pem) => {
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| RuntimeError::Engine {
                    source: wasmtime::format_err!(
                        "the extra CA certificates are not a PEM bundle: {e}"
                    ),
                })?
            }
            None => Vec::new(),
        };
        let client =
            imports::http::build_client(config.address_policy, &config.limits, &extra_roots, None)
                .map_err(|e| RuntimeError::Engine {
                    source: wasmtime::format_err!("building the HTTP client: {e}"),
                })?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(cache::ComponentCache::new(dir, &engine).map_err(|e| {
                RuntimeError::Engine {
                    source: wasmtime::format_err!(
                        "creating the component cache `{}`: {e}",
                        dir.display()
                    ),
                }
            })?),
            None => None,
        };
        let tick = config.epoch_tick.max(Duration::from_millis(1));
        let cpu_ticks = config.limits.cpu_time.as_nanos().div_ceil(tick.as_nanos()) as u64;
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                linker,
                limits: config.limits,
                policy: config.address_policy,
                grants: config.grants,
                client: Arc::new(client),
                extra_roots,
                mtls_clients: imports::http::MtlsClients::new(
                    imports::http::MAX_MTLS_CLIENTS,
                    imports::http::MTLS_CLIENT_IDLE,
                ),
                cache,
                cpu_ticks: cpu_ticks.max(1),
                heavy_lanes: cpu_share::HeavyLanes::new(config.heavy_lanes),
                admission: admission::Admission::new(
                    config.max_concurrent_instances,
                    config.concurrency,
                ),
            }),
        })
    }

    /// Load a component: check it is a component for a contract this host
    /// runs, compile it (or take it from the cache), pre-instantiate it,
    /// and read and validate its manifest in a fresh sandbox.
    ///
    /// # Errors
    /// A [`RuntimeError`] naming the connector: `NotAComponent`,
    /// `ContractMismatch`, `NotAConnector`, `Compile`, `Link`,
    /// `TrapAtLoad`, `InvalidManifest`, or a limit hit by `manifest()`.
    pub async fn load(&self, wasm: &[u8]) -> Result<Arc<LoadedConnector>, RuntimeError> {
        self.load_named(None, wasm).await
    }

    /// [`Runtime::load`], naming the component in errors (`label`, e.g. a
    /// file name) until its manifest gives it an id.
    ///
    /// # Errors
    /// As [`Runtime::load`].
    pub async fn load_named(
        &self,
        label: Option<&str>,
        wasm: &[u8],
    ) -> Result<Arc<LoadedConnector>, RuntimeError> {
        connector::load(self.shared.clone(), label, wasm).await
    }

    /// Where the compiled form of `wasm` is (or would be) cached.
    pub fn cache_path_for(&self, wasm: &[u8]) -> Option<PathBuf> {
        let cache = self.shared.cache.as_ref()?;
        Some(cache.path_for(&cache::sha256_hex(wasm)))
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &CallLimits {
        &self.shared.limits
    }

    /// The wasmtime engine (for benchmarks comparing against raw wasmtime).
    #[doc(hidden)]
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.shared.limits)
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}
