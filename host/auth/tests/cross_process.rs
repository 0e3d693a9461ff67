//! Single-flight across processes: three token managers in three OS
//! processes (this test binary, re-run with `child_refresher_process`)
//! share one PostgreSQL store, and an expired token is refreshed exactly
//! once. Needs PostgreSQL at `PLUGBOARD_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); without it the test fails
//! saying how to start it.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use plugboard_auth::{ConnectionRef, ManualClock, OAuthHttp, TokenManager};
use plugboard_store::{
    ConnectionId, Database, OrganizationId, RootKeySource, Scope, Store, StoreOptions, TenantId,
};
use plugboard_test_support::FakeZoom;
use plugboard_test_support::postgres::TestSchema;

const CHILD_ENV: &str = "PLUGBOARD_AUTH_TEST_CHILD";

async fn open(url: &str, root_key: RootKeySource) -> Store {
    Store::open(StoreOptions {
        database: Database::Postgres(url.to_string()),
        root_key,
        max_connections: 4,
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_sharing_postgres_refresh_once() {
    let schema = TestSchema::create("auth_test").await;
    let url = schema.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&url, RootKeySource::DataDir(dir.path().join("root.key"))).await;
    let zoom = FakeZoom::start().await;
    let env = Env::with_store(tempfile::tempdir().unwrap(), store.clone()).await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let calls = zoom.token_calls();

    // Three processes, started together: each sees the token as expired
    // (their clocks are an hour ahead) and 334 callers each ask for it:
    // 1002 concurrent invocations in all.
    let go = dir.path().join("go");
    let children: Vec<_> = (0..3)
        .map(|_| {
            tokio::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_refresher_process",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(CHILD_ENV, "1")
                .env("PB_CHILD_DB", &url)
                .env("PB_CHILD_ROOT_KEY", dir.path().join("root.key"))
                .env("PB_CHILD_GO", &go)
                .env("PB_CHILD_ORG", conn.scope.org.to_string())
                .env("PB_CHILD_TENANT", conn.scope.tenant.to_string())
                .env("PB_CHILD_CONNECTION", conn.connection.to_string())
                .env("PB_CHILD_ZOOM_ID", FakeZoom::CLIENT_ID)
                .env("PB_CHILD_ZOOM_SECRET", FakeZoom::CLIENT_SECRET)
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        })
        .collect();
    // Let them open their pools, then release them at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(&go, b"go").unwrap();
    let mut versions = Vec::new();
    for child in children {
        let out = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed:\n{stdout}");
        let v = stdout
            .split("CHILD-VERSION ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no version from child:\n{stdout}"))
            .to_string();
        versions.push(v);
    }
    assert_eq!(
        zoom.token_calls() - calls,
        1,
        "one refresh for three processes"
    );
    assert_eq!(zoom.refreshes(), 1);
    assert!(versions.iter().all(|v| *v == versions[0]), "{versions:?}");
    store.close().await;
}

/// Runs only when spawned by `three_processes_sharing_postgres_refresh_once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_refresher_process() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap();
    let store = open(
        &var("PB_CHILD_DB"),
        RootKeySource::File(PathBuf::from(var("PB_CHILD_ROOT_KEY"))),
    )
    .await;
    let conn = ConnectionRef {
        scope: Scope::new(
            OrganizationId::from_str(&var("PB_CHILD_ORG")).unwrap(),
            TenantId::from_str(&var("PB_CHILD_TENANT")).unwrap(),
        ),
        connection: ConnectionId::from_str(&var("PB_CHILD_CONNECTION")).unwrap(),
    };
    let mut apps = plugboard_auth::OperatorApps::new();
    apps.insert(
        "zoom",
        plugboard_auth::AppCredentials {
            client_id: var("PB_CHILD_ZOOM_ID"),
            client_secret: var("PB_CHILD_ZOOM_SECRET").into(),
        },
    );
    let clock = Arc::new(ManualClock::new());
    clock.advance(Duration::from_secs(3600));
    let manager = TokenManager::new(
        store,
        OAuthHttp::new(Duration::from_secs(5)),
        Arc::new(apps),
        clock,
        fast_settings(),
    );
    let go = PathBuf::from(var("PB_CHILD_GO"));
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tasks: Vec<_> = (0..334)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.access_token(conn).await })
        })
        .collect();
    let tokens: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(tokens.iter().all(|t| t.token == tokens[0].token));
    println!("CHILD-VERSION {}", tokens[0].version);
}
