//! The wasmtime [`Engine`]: its configuration and the epoch ticker that
//! drives CPU limits.
//!
//! Owns: every engine setting (each with its reason) and the ticker thread.
//! Must never: hold per-call or per-tenant state; the engine is shared by
//! every connector and call in the process.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::RuntimeError;
use crate::limits::CallLimits;

/// Build the engine every connector shares.
pub(crate) fn build_engine(
    limits: &CallLimits,
    max_concurrent_instances: u32,
) -> Result<Engine, RuntimeError> {
    let mut config = Config::new();
    // Connectors are components (WIT contract), not core modules.
    config.wasm_component_model(true);
    // Host imports (HTTP, secret storage) are async so a guest waiting on
    // the network does not hold a tokio worker thread. (Since wasmtime 48
    // async support needs no switch: `*_async` calls and async host
    // functions are always available.)
    // We call exports with the classic async API only; the component-model
    // async machinery (streams, futures, `run_concurrent`) is not part of
    // our contract, and turning it off keeps per-Store set-up smaller.
    config.concurrency_support(false);
    // CPU limits: compiled code checks an epoch counter at loop headers and
    // function entries; a ticker thread advances it (see `spawn_epoch_ticker`).
    // Cheaper than fuel and lets a busy guest yield to the executor.
    config.epoch_interruption(true);
    // Guests need stack; 512 KiB of wasm stack is far more than a JSON
    // connector needs and bounds deep recursion. The async (fiber) stack
    // must be larger than the wasm stack plus host frames.
    config.max_wasm_stack(512 << 10);
    config.async_stack_size(2 << 20);
    // Copy-on-write memory images: a fresh instance maps the component's
    // initial memory from an image instead of copying data segments, the
    // main trick behind microsecond instantiation. (On by default; stated
    // because the benchmark depends on it.)
    config.memory_init_cow(true);
    // Cranelift, optimizing for speed of the generated code; components
    // are compiled once and cached on disk.
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);

    let mut pool = PoolingAllocationConfig::new();
    // One slot per concurrently running call. Each call is one component
    // instance; a Rust wasm32-wasip2 component holds a few core instances
    // (the program, the WASI adapter, small shims), up to 2 memories and a
    // few tables.
    let n = max_concurrent_instances.max(1);
    pool.total_component_instances(n);
    pool.total_core_instances(n.saturating_mul(8));
    pool.total_memories(n.saturating_mul(2));
    pool.total_tables(n.saturating_mul(8));
    pool.total_stacks(n);
    // No slot may hold more memory than a call is allowed; the
    // `CallLimiter` gives the precise error below this hard ceiling.
    pool.max_memory_size(limits.max_memory_bytes);
    // Reset slots with memset up to this many bytes instead of madvise:
    // avoids page faults on the next instantiate in the same slot (the
    // hot path for a connector called again and again).
    pool.linear_memory_keep_resident(256 << 10);
    pool.table_keep_resident(64 << 10);
    // On Linux ≥ 6.7, PAGEMAP_SCAN finds the pages a call actually touched
    // and resets only those, instead of assuming the low addresses are
    // resident; `Auto` falls back silently on older kernels.
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    // Keep warm slots around so a connector's next call reuses a slot
    // that already has its memory image mapped.
    pool.max_unused_warm_slots(n.min(100));
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    Engine::new(&config).map_err(|source| RuntimeError::Engine { source })
}

/// Advance the engine's epoch every `tick` until the engine is dropped.
/// The thread holds only a weak reference, so it never keeps the engine
/// alive and ends by itself.
///
/// # Errors
/// The thread could not be spawned; without it CPU limits never fire, so
/// the runtime refuses to start.
pub(crate) fn spawn_epoch_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("plugboard-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
}
