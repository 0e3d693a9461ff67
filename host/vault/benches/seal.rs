//! Encrypt + decrypt of a 2 KiB token blob (data key cached, as in steady
//! state), and the two halves separately.

use criterion::{Criterion, criterion_group, criterion_main};
use plugboard_vault::{Aad, MemoryKeyStore, RootKeyring, Vault};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let keys = MemoryKeyStore::default();
    let vault = rt
        .block_on(Vault::open_with_keyring(RootKeyring::generate(), &keys))
        .unwrap();
    let (tenant, owner) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let aad = Aad::new(tenant, owner, "credential");
    let blob = vec![0x5au8; 2048];
    let sealed = rt.block_on(vault.seal(&keys, &aad, &blob)).unwrap();

    c.bench_function("vault seal+unseal 2 KiB", |b| {
        b.to_async(&rt).iter(|| async {
            let s = vault.seal(&keys, &aad, &blob).await.unwrap();
            vault.unseal(&keys, &aad, &s).await.unwrap()
        })
    });
    c.bench_function("vault seal 2 KiB", |b| {
        b.to_async(&rt).iter(|| vault.seal(&keys, &aad, &blob))
    });
    c.bench_function("vault unseal 2 KiB", |b| {
        b.to_async(&rt).iter(|| vault.unseal(&keys, &aad, &sealed))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
