//! The host side of the contract's imports, one module per WIT interface,
//! and [`HostState`], the data of one call's `Store`.
//!
//! Owns: what a guest can reach during a call: WASI (powerless), `http`,
//! `auth`, `credential-store`, `log`. Must never: let state outlive the
//! call (a `HostState` is built per call and dropped with its `Store`), or
//! reach another connection: everything connection-specific comes from the
//! [`CallState`] the caller bound to this one call.

pub(crate) mod auth;
pub(crate) mod credential_store;
pub(crate) mod http;
pub(crate) mod log;

use std::sync::Arc;

use plugboard_manifest::Manifest;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::Shared;
use crate::call_plan::CallPlan;
use crate::cpu_share::CpuAccount;
use crate::limits::{CallLimiter, CallLimits};
use crate::services::{CallContext, ConnectionServices};
use crate::wit::latest;

/// The data of one call's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    /// The call's CPU budget and its share of the CPU (see
    /// [`crate::cpu_share`]).
    pub(crate) cpu: CpuAccount,
    /// `None` while `manifest()` runs at load: imports then trap.
    pub(crate) call: Option<CallState>,
}

/// Everything an import needs to know about the call it serves.
pub(crate) struct CallState {
    /// The context and what follows from it (credential placement,
    /// destination), shared with the connector's other calls in it.
    pub(crate) plan: Arc<CallPlan>,
    pub(crate) services: Arc<dyn ConnectionServices>,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) shared: Arc<Shared>,
    /// HTTP requests sent so far in this call.
    pub(crate) http_calls: u32,
    /// The call's place in its tenant's and connection's share; released
    /// when the call's `Store` is dropped.
    pub(crate) _admitted: crate::admission::Ticket,
}

impl CallState {
    /// Who and what the call runs for.
    pub(crate) fn ctx(&self) -> &CallContext {
        &self.plan.ctx
    }
}

impl HostState {
    pub(crate) fn new(limits: &CallLimits, cpu: CpuAccount, call: Option<CallState>) -> Self {
        HostState {
            wasi: powerless_wasi(),
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits),
            cpu,
            call,
        }
    }

    /// The call this store serves, or a trap when an import is used from
    /// `manifest()` (the contract forbids it: there is no connection yet).
    pub(crate) fn call(&mut self, import: &str) -> wasmtime::Result<&mut CallState> {
        self.call.as_mut().ok_or_else(|| {
            wasmtime::format_err!(
                "`{import}` was called from `manifest()`; manifest() must not call imports"
            )
        })
    }
}

/// WASI with nothing behind it: no preopened directories, no environment,
/// no arguments, stdin closed, stdout/stderr discarded, no sockets and no
/// name lookup. Clocks and randomness work (the contract allows them).
/// Guests built for wasm32-wasip2 import these interfaces, so they must be
/// linked, but they grant no authority.
fn powerless_wasi() -> WasiCtx {
    WasiCtx::builder()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A linker with WASI and the four contract interfaces.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    latest::Connector::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
    Ok(linker)
}

impl latest::plugboard::connector::types::Host for HostState {}
