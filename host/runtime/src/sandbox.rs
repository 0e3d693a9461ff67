//! One call in one fresh sandbox: a new `Store` from the connector's
//! `InstancePre`, the limits armed (memory limiter, CPU epoch budget with
//! async yield, wall-clock timeout), the export called, and a failure
//! turned into the [`RuntimeError`] that names the limit that stopped it.
//!
//! Owns: the lifetime of a `Store` (it ends with the call). Must never:
//! reuse a `Store` or instance across calls, or run an export without the
//! limits armed.

use wasmtime::Store;

use crate::connector::LoadedConnector;
use crate::cpu_share::CpuAccount;
use crate::error::RuntimeError;
use crate::imports::{CallState, HostState};
use crate::wit::latest::{WitAccount, WitConnectorError, WitPollResult, wit_types};

/// Which export to call, with its arguments.
pub(crate) enum Export<'a> {
    Manifest,
    CheckConnection,
    Invoke {
        operation: &'a str,
        input: &'a str,
    },
    Poll {
        trigger: &'a str,
        parameters: &'a str,
        cursor: Option<&'a str>,
    },
}

impl Export<'_> {
    fn name(&self) -> String {
        match self {
            Export::Manifest => "manifest".into(),
            Export::CheckConnection => "check-connection".into(),
            Export::Invoke { operation, .. } => format!("invoke({operation})"),
            Export::Poll { trigger, .. } => format!("poll({trigger})"),
        }
    }
}

/// What the export returned.
pub(crate) enum Outcome {
    Manifest(wit_types::Manifest),
    Account(Result<WitAccount, WitConnectorError>),
    Output(Result<String, WitConnectorError>),
    Poll(Result<WitPollResult, WitConnectorError>),
}

/// Which step failed inside the sandbox.
enum Step {
    Instantiate,
    Call,
}

impl LoadedConnector {
    /// Run one export in a fresh store under the runtime's limits.
    pub(crate) async fn run(
        &self,
        export: Export<'_>,
        call: Option<CallState>,
    ) -> Result<Outcome, RuntimeError> {
        let shared = &self.shared;
        let limits = &shared.limits;
        let mut store = Store::new(
            &shared.engine,
            HostState::new(
                limits,
                CpuAccount::new(shared.cpu_ticks, &shared.heavy_lanes),
                call,
            ),
        );
        store.limiter(|state| &mut state.limiter);
        // At each epoch tick that finds the guest running: spend a tick of
        // its CPU budget and yield, so it never holds a tokio worker for
        // longer; a guest that keeps running takes turns with other busy
        // ones (see `cpu_share`); one whose budget is gone is stopped.
        store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().cpu.on_tick()));
        store.set_epoch_deadline(1);

        let name = export.name();
        let work = async {
            let instance = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| (Step::Instantiate, e))?;
            let plugin = instance.plugboard_connector_plugin();
            let outcome = match export {
                Export::Manifest => plugin
                    .call_manifest(&mut store)
                    .await
                    .map(Outcome::Manifest),
                Export::CheckConnection => plugin
                    .call_check_connection(&mut store)
                    .await
                    .map(Outcome::Account),
                Export::Invoke { operation, input } => plugin
                    .call_invoke(&mut store, operation, input)
                    .await
                    .map(Outcome::Output),
                Export::Poll {
                    trigger,
                    parameters,
                    cursor,
                } => plugin
                    .call_poll(&mut store, trigger, parameters, cursor)
                    .await
                    .map(Outcome::Poll),
            };
            outcome.map_err(|e| (Step::Call, e))
        };
        let result = tokio::time::timeout(limits.wall_time, work).await;

        let connector = self.label.clone();
        let state = store.data();
        match result {
            Ok(Ok(outcome)) => Ok(outcome),
            Err(_elapsed) => Err(RuntimeError::Timeout {
                connector,
                export: name,
                limit: limits.wall_time,
            }),
            Ok(Err(_)) if state.cpu.exceeded => Err(RuntimeError::CpuLimitExceeded {
                connector,
                export: name,
                limit: limits.cpu_time,
            }),
            Ok(Err(_)) if state.limiter.memory_exceeded => Err(RuntimeError::MemoryLimitExceeded {
                connector,
                export: name,
                limit_bytes: limits.max_memory_bytes,
            }),
            Ok(Err((Step::Instantiate, source))) => {
                Err(RuntimeError::Instantiate { connector, source })
            }
            Ok(Err((Step::Call, source))) => Err(RuntimeError::Trap {
                connector,
                export: name,
                source,
            }),
        }
    }
}
