//! A loaded connector: load-time checks (component? which contract?
//! compiled or cached, pre-instantiated, manifest valid?) and the public
//! call API with its pre-call checks (right connector, known operation,
//! granted scopes).
//!
//! Owns: [`LoadedConnector`] and the plain result types of its exports.
//! Must never: run guest code outside [`crate::sandbox`], or keep guest
//! state from one call for the next (only the per-context
//! [`crate::call_plan`], which holds none).

use std::sync::Arc;

use plugboard_manifest::{Manifest, ManifestError, missing_scopes};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use wasmtime::component::Component;

use crate::Shared;
use crate::cache::sha256_hex;
use crate::call_plan::CallPlans;
use crate::error::{CallError, ConnectorError, RuntimeError};
use crate::imports::CallState;
use crate::sandbox::{Export, Outcome};
use crate::services::{CallContext, ConnectionServices};
use crate::wit::{self, ContractProblem, latest};

/// The account a credential belongs to (`check-connection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
}

/// One event found by a poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id for de-duplication.
    pub id: String,
    /// RFC 3339, if the provider says.
    pub occurred_at: Option<String>,
    /// The event as JSON text.
    pub payload: String,
}

/// What a poll returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResult {
    pub events: Vec<Event>,
    pub next_cursor: Option<String>,
}

/// A component that passed every load check, ready to be called. Calls
/// never share an instance: each one gets a fresh `Store` from the
/// pre-instantiated component.
pub struct LoadedConnector {
    pub(crate) shared: Arc<Shared>,
    pub(crate) pre: latest::ConnectorPre<crate::imports::HostState>,
    manifest: Arc<Manifest>,
    /// `"zoom" 1.2.0`, used in every error.
    pub(crate) label: String,
    sha256: String,
    contract: String,
    /// Resolved per-context call data (see [`crate::call_plan`]).
    plans: CallPlans,
    from_cache: bool,
}

impl std::fmt::Debug for LoadedConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedConnector")
            .field("connector", &self.label)
            .field("sha256", &self.sha256)
            .field("contract", &self.contract)
            .finish_non_exhaustive()
    }
}

/// The `\0asm` preamble of a component (version 0x0d, layer 1).
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// The `\0asm` preamble of a core module (version 1, layer 0).
const MODULE_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

pub(crate) async fn load(
    shared: Arc<Shared>,
    label: Option<&str>,
    wasm: &[u8],
) -> Result<Arc<LoadedConnector>, RuntimeError> {
    let sha256 = sha256_hex(wasm);
    let who = match label {
        Some(label) => format!("`{label}`"),
        None => format!("sha256:{}", &sha256[..12]),
    };
    if !wasm.starts_with(&COMPONENT_PREAMBLE) {
        let reason = if wasm.starts_with(&MODULE_PREAMBLE) {
            "it is a core WebAssembly module; build the connector as a component (cargo build --target wasm32-wasip2)".to_string()
        } else if wasm.starts_with(b"\0asm") {
            "it has an unknown WebAssembly version or layer".to_string()
        } else {
            format!(
                "it does not start with the WebAssembly magic bytes ({} bytes)",
                wasm.len()
            )
        };
        return Err(RuntimeError::NotAComponent {
            connector: who,
            reason,
        });
    }

    // Compile (or deserialize) off the async executor: Cranelift can take
    // seconds on a large component.
    let (component, from_cache) = {
        let shared = shared.clone();
        let wasm = wasm.to_vec();
        let sha = sha256.clone();
        let who_task = who.clone();
        tokio::task::spawn_blocking(move || compile(&shared, &wasm, &sha, &who_task))
            .await
            .map_err(|e| RuntimeError::Compile {
                connector: who.clone(),
                source: wasmtime::format_err!("the compile task failed: {e}"),
            })??
    };

    let contract =
        wit::detect_contract(&shared.engine, &component).map_err(|problem| match problem {
            ContractProblem::Unsupported { found } => RuntimeError::ContractMismatch {
                connector: who.clone(),
                package: wit::PACKAGE,
                found,
                supported: wit::supported_versions(),
            },
            ContractProblem::NotAConnector { exports } => RuntimeError::NotAConnector {
                connector: who.clone(),
                exports: if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                },
            },
        })?;

    let instance_pre = shared
        .linker
        .instantiate_pre(&component)
        .map_err(|source| RuntimeError::Link {
            connector: who.clone(),
            source,
        })?;
    let pre = latest::ConnectorPre::new(instance_pre).map_err(|source| RuntimeError::Link {
        connector: who.clone(),
        source,
    })?;

    let mut loaded = LoadedConnector {
        shared,
        pre,
        manifest: Arc::new(placeholder_manifest()),
        label: who.clone(),
        sha256,
        contract,
        from_cache,
        plans: CallPlans::default(),
    };
    let wit_manifest = match loaded.run(Export::Manifest, None).await {
        Ok(Outcome::Manifest(m)) => m,
        Ok(_) => unreachable!("manifest export returns a manifest"),
        Err(RuntimeError::Trap { source, .. }) => {
            return Err(RuntimeError::TrapAtLoad {
                connector: who,
                source,
            });
        }
        Err(other) => return Err(other),
    };
    let (manifest, mut problems) = latest::convert_manifest(wit_manifest);
    let connector = if manifest.id.is_empty() {
        who.clone()
    } else {
        format!("{:?} {}", manifest.id, manifest.version)
    };
    if let Err(invalid) = manifest.validate() {
        problems.extend(invalid.problems);
    }
    if !problems.is_empty() {
        return Err(RuntimeError::InvalidManifest {
            connector,
            source: ManifestError {
                connector: manifest.id.clone(),
                problems,
            },
        });
    }
    loaded.label = connector;
    loaded.manifest = Arc::new(manifest);
    tracing::info!(
        connector = %loaded.manifest.id,
        version = %loaded.manifest.version,
        contract = %loaded.contract,
        sha256 = %loaded.sha256,
        from_cache,
        "connector loaded"
    );
    Ok(Arc::new(loaded))
}

fn compile(
    shared: &Shared,
    wasm: &[u8],
    sha256: &str,
    who: &str,
) -> Result<(Component, bool), RuntimeError> {
    let compile_error = |source| RuntimeError::Compile {
        connector: who.to_string(),
        source,
    };
    match &shared.cache {
        Some(cache) => {
            if let Some(component) = cache.load(&shared.engine, sha256) {
                return Ok((component, true));
            }
            cache
                .compile_and_store(&shared.engine, wasm, sha256)
                .map(|c| (c, false))
                .map_err(compile_error)
        }
        None => Component::new(&shared.engine, wasm)
            .map(|c| (c, false))
            .map_err(compile_error),
    }
}

/// Stands in until the real manifest is read (only `manifest()` runs then).
pub(crate) fn placeholder_manifest() -> Manifest {
    Manifest {
        id: String::new(),
        name: String::new(),
        version: String::new(),
        description: String::new(),
        base_url: String::new(),
        api_hosts: vec![],
        auth_methods: vec![],
        config_fields: vec![],
        operations: vec![],
        triggers: vec![],
        capabilities: vec![],
    }
}

impl LoadedConnector {
    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest's id.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Hex SHA-256 of the component bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The contract version the component targets, e.g. `0.1.0`.
    pub fn contract_version(&self) -> &str {
        &self.contract
    }

    /// Whether the compiled code came from the on-disk cache.
    pub fn loaded_from_cache(&self) -> bool {
        self.from_cache
    }

    /// Ask the connector which account the connection's credential
    /// belongs to.
    ///
    /// # Errors
    /// [`CallError::Connector`] when the connector says no;
    /// [`CallError::Host`] for limits and traps.
    pub async fn check_connection(
        &self,
        ctx: &CallContext,
        services: Arc<dyn ConnectionServices>,
    ) -> Result<Account, CallError> {
        self.check_context(ctx)?;
        match self
            .run(
                Export::CheckConnection,
                Some(self.call_state(ctx, services)?),
            )
            .await?
        {
            Outcome::Account(result) => result
                .map(|a| Account {
                    id: a.id,
                    display_name: a.display_name,
                    email: a.email,
                })
                .map_err(|e| self.connector_error(e.into())),
            _ => unreachable!("check-connection returns an account"),
        }
    }

    /// Run `operation` with `input_json`; returns the output, checked to be
    /// one JSON value (as text, so a caller can embed it without parsing
    /// it again). Unknown operations and missing scopes are refused before
    /// the guest runs (no request is sent).
    ///
    /// # Errors
    /// [`CallError::Connector`] for the connector's typed errors (and for
    /// an unknown operation or a missing scope); [`CallError::Host`] for
    /// limits, traps and invalid output.
    pub async fn invoke(
        &self,
        ctx: &CallContext,
        services: Arc<dyn ConnectionServices>,
        operation: &str,
        input_json: &str,
    ) -> Result<Box<RawValue>, CallError> {
        self.check_context(ctx)?;
        let Some(op) = self.manifest.operation(operation) else {
            return Err(self.connector_error(ConnectorError::UnknownOperation {
                message: format!("connector has no operation `{operation}`"),
            }));
        };
        self.check_scopes("operation", operation, &op.required_scopes, ctx)?;
        let outcome = self
            .run(
                Export::Invoke {
                    operation,
                    input: input_json,
                },
                Some(self.call_state(ctx, services)?),
            )
            .await?;
        let Outcome::Output(result) = outcome else {
            unreachable!("invoke returns output")
        };
        let output = result.map_err(|e| self.connector_error(e.into()))?;
        let export = format!("invoke({operation})");
        let limit = self.shared.limits.max_output_bytes;
        if output.len() > limit {
            return Err(RuntimeError::OutputTooLarge {
                connector: self.label.clone(),
                export,
                size: output.len(),
                limit,
            }
            .into());
        }
        RawValue::from_string(output).map_err(|e| {
            RuntimeError::InvalidOutput {
                connector: self.label.clone(),
                export,
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// Poll `trigger` with the subscription's `parameters_json` and the
    /// previous cursor.
    ///
    /// # Errors
    /// As [`LoadedConnector::invoke`].
    pub async fn poll(
        &self,
        ctx: &CallContext,
        services: Arc<dyn ConnectionServices>,
        trigger: &str,
        parameters_json: &str,
        cursor: Option<&str>,
    ) -> Result<PollResult, CallError> {
        self.check_context(ctx)?;
        let Some(t) = self.manifest.trigger(trigger) else {
            return Err(self.connector_error(ConnectorError::UnknownOperation {
                message: format!("connector has no trigger `{trigger}`"),
            }));
        };
        self.check_scopes("trigger", trigger, &t.required_scopes, ctx)?;
        let outcome = self
            .run(
                Export::Poll {
                    trigger,
                    parameters: parameters_json,
                    cursor,
                },
                Some(self.call_state(ctx, services)?),
            )
            .await?;
        let Outcome::Poll(result) = outcome else {
            unreachable!("poll returns a poll result")
        };
        let result = result.map_err(|e| self.connector_error(e.into()))?;
        let size: usize = result
            .events
            .iter()
            .map(|e| e.id.len() + e.payload.len() + e.occurred_at.as_ref().map_or(0, String::len))
            .sum::<usize>()
            + result.next_cursor.as_ref().map_or(0, String::len);
        let limit = self.shared.limits.max_output_bytes;
        if size > limit {
            return Err(RuntimeError::OutputTooLarge {
                connector: self.label.clone(),
                export: format!("poll({trigger})"),
                size,
                limit,
            }
            .into());
        }
        Ok(PollResult {
            events: result
                .events
                .into_iter()
                .map(|e| Event {
                    id: e.id,
                    occurred_at: e.occurred_at,
                    payload: e.payload,
                })
                .collect(),
            next_cursor: result.next_cursor,
        })
    }

    /// The state of one call, if its tenant and connection may start one
    /// now (see [`crate::admission`]).
    fn call_state(
        &self,
        ctx: &CallContext,
        services: Arc<dyn ConnectionServices>,
    ) -> Result<CallState, CallError> {
        let admitted = self
            .shared
            .admission
            .admit(&ctx.tenant_id, &ctx.connection_id)
            .map_err(|busy| RuntimeError::Busy {
                connector: self.label.clone(),
                busy,
            })?;
        Ok(CallState {
            plan: self.plans.get(&self.manifest, ctx),
            services,
            manifest: self.manifest.clone(),
            shared: self.shared.clone(),
            http_calls: 0,
            _admitted: admitted,
        })
    }

    /// The caller must be calling the connector it thinks it is.
    fn check_context(&self, ctx: &CallContext) -> Result<(), CallError> {
        if ctx.connector_id != self.manifest.id {
            return Err(self.connector_error(ConnectorError::InvalidInput {
                message: format!(
                    "the connection is for connector `{}`, not `{}`",
                    ctx.connector_id, self.manifest.id
                ),
            }));
        }
        Ok(())
    }

    fn check_scopes(
        &self,
        what: &str,
        name: &str,
        required: &[String],
        ctx: &CallContext,
    ) -> Result<(), CallError> {
        let missing = missing_scopes(required, &ctx.granted_scopes);
        if missing.is_empty() {
            return Ok(());
        }
        Err(self.connector_error(ConnectorError::Forbidden {
            message: format!(
                "{what} `{name}` needs scope{} {} that the connection was not granted; reconnect and grant {}",
                if missing.len() == 1 { "" } else { "s" },
                missing.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
                if missing.len() == 1 { "it" } else { "them" },
            ),
            missing_scopes: missing,
        }))
    }

    fn connector_error(&self, error: ConnectorError) -> CallError {
        CallError::Connector {
            connector: self.label.clone(),
            error,
        }
    }
}
