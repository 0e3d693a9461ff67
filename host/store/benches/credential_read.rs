//! A credential read (query + decrypt of a 2 KiB token set) on SQLite and
//! on PostgreSQL (fresh schema in database `test`, dropped afterwards; the
//! PostgreSQL half fails loudly when the server is unreachable).

use criterion::{Criterion, criterion_group, criterion_main};
use plugboard_store::{Database, NewConnection, RootKeySource, Store, StoreOptions};
use plugboard_test_support::postgres::TestSchema;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schema = rt.block_on(TestSchema::create("pb_bench"));
    let backends = [
        ("sqlite", Database::Sqlite(dir.path().join("bench.db"))),
        ("postgres", Database::Postgres(schema.url().to_owned())),
    ];
    for (name, database) in backends {
        let (store, scope, id) = rt.block_on(async {
            let store = Store::open(StoreOptions {
                database,
                root_key: RootKeySource::DataDir(dir.path().join(format!("{name}.key"))),
                max_connections: 4,
            })
            .await
            .unwrap();
            let org = store.create_organization("bench").await.unwrap();
            let tenant = store.create_tenant(org.id, "t").await.unwrap();
            let user = store.create_user(org.id, "u", "U", None).await.unwrap();
            let scope = tenant.scope();
            let folder = store.personal_folder(&scope, user.id).await.unwrap();
            let conn = store
                .create_connection(&scope, NewConnection::new(folder.id, "zoom", "pat", "c"))
                .await
                .unwrap();
            store
                .compare_and_swap_credential(&scope, conn.id, None, &[0x5a; 2048], None)
                .await
                .unwrap();
            (store, scope, conn.id)
        });
        c.bench_function(&format!("credential read 2 KiB ({name})"), |b| {
            b.to_async(&rt)
                .iter(|| async { store.get_credential(&scope, id).await.unwrap().unwrap() })
        });
        rt.block_on(store.close());
    }
    // The schema is dropped with `schema`.
}

criterion_group!(benches, bench);
criterion_main!(benches);
