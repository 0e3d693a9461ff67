//! Fresh sandbox + call of a trivial export (`invoke("noop")` on the hostile
//! fixture) through plugboard-runtime, beside raw wasmtime doing the same
//! instantiate + call on the same engine and component, and a warm call on
//! an existing instance. Run: `cargo bench -p plugboard-runtime --bench instantiate`.
//!
//! After criterion's runs, an interleaved pass (variants alternate batch by
//! batch, so machine noise hits them alike) prints medians and the ratio
//! runtime / raw.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use plugboard_manifest::AuthKind;
use plugboard_runtime::wit::latest;
use plugboard_runtime::{
    AddressPolicy, CallContext, ConnectionServices, Credential, LoadedConnector, Runtime,
    RuntimeConfig, StaticServices,
};
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct RawState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    connector: Arc<LoadedConnector>,
    ctx: CallContext,
    services: Arc<dyn ConnectionServices>,
    raw_pre: latest::ConnectorPre<RawState>,
    engine: wasmtime::Engine,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        address_policy: AddressPolicy::allow_loopback(),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasm = std::fs::read(plugboard_connectors::fixtures::HOSTILE).unwrap();
    let connector = rt.block_on(runtime.load(&wasm)).unwrap();
    let ctx = CallContext::new("tenant", "conn", "hostile", AuthKind::PersonalAccessToken)
        .with_config("base_url", "http://127.0.0.1:9");
    let services: Arc<dyn ConnectionServices> = Arc::new(StaticServices::new(Credential::pat("t")));

    // Raw wasmtime: same engine (pooling + CoW), WASI linked, the contract's
    // imports as traps (noop calls none), InstancePre built once.
    let engine = runtime.engine().clone();
    let component = Component::new(&engine, &wasm).unwrap();
    let mut linker: Linker<RawState> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    linker.define_unknown_imports_as_traps(&component).unwrap();
    let raw_pre = latest::ConnectorPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    Setup {
        rt,
        connector,
        ctx,
        services,
        raw_pre,
        engine,
    }
}

fn raw_store(engine: &wasmtime::Engine) -> Store<RawState> {
    let mut store = Store::new(
        engine,
        RawState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    // The engine has epoch interruption on; a far deadline never fires.
    store.set_epoch_deadline(u64::MAX / 2);
    store
}

async fn runtime_call(s: &Setup) {
    let out = s
        .connector
        .invoke(&s.ctx, s.services.clone(), "noop", "{}")
        .await
        .unwrap();
    black_box(out);
}

async fn raw_call(s: &Setup) {
    let mut store = raw_store(&s.engine);
    let instance = s.raw_pre.instantiate_async(&mut store).await.unwrap();
    let out = instance
        .plugboard_connector_plugin()
        .call_invoke(&mut store, "noop", "{}")
        .await
        .unwrap();
    black_box(out.unwrap());
}

fn benches(c: &mut Criterion) {
    let s = setup();
    let mut group = c.benchmark_group("instantiate_and_call");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("plugboard_runtime", |b| {
        b.to_async(&s.rt).iter(|| runtime_call(&s))
    });
    group.bench_function("raw_wasmtime", |b| b.to_async(&s.rt).iter(|| raw_call(&s)));
    group.finish();

    // Warm: one instance, many calls (what a reused instance would cost;
    // the runtime never does this, every call gets a fresh sandbox).
    let mut store = raw_store(&s.engine);
    let instance =
        s.rt.block_on(s.raw_pre.instantiate_async(&mut store))
            .unwrap();
    c.bench_function("warm_call/raw_wasmtime", |b| {
        b.iter(|| {
            let out =
                s.rt.block_on(
                    instance
                        .plugboard_connector_plugin()
                        .call_invoke(&mut store, "noop", "{}"),
                )
                .unwrap();
            black_box(out.unwrap());
        })
    });

    interleaved_ratio(&s);
}

/// Median per-call time of each variant over alternating batches.
fn interleaved_ratio(s: &Setup) {
    const BATCHES: usize = 30;
    const PER_BATCH: u32 = 500;
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..BATCHES {
        let start = Instant::now();
        s.rt.block_on(async {
            for _ in 0..PER_BATCH {
                runtime_call(s).await;
            }
        });
        ours.push(start.elapsed() / PER_BATCH);
        let start = Instant::now();
        s.rt.block_on(async {
            for _ in 0..PER_BATCH {
                raw_call(s).await;
            }
        });
        raw.push(start.elapsed() / PER_BATCH);
    }
    ours.sort();
    raw.sort();
    let (ours, raw) = (ours[BATCHES / 2], raw[BATCHES / 2]);
    println!();
    println!("interleaved medians ({BATCHES} batches x {PER_BATCH} calls):");
    println!("  plugboard-runtime fresh sandbox + invoke(noop): {ours:?}");
    println!("  raw wasmtime InstancePre + fresh Store + call:  {raw:?}");
    println!(
        "  ratio runtime / raw: {:.2}",
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}

criterion_group!(group, benches);

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
