//! Key rotation across the whole store, on both backends: re-wrap and
//! re-encrypt with live reads between every step, and a re-encrypt pass
//! killed half-way (in a child process) that a restart finishes.

mod common;

use std::sync::mpsc as std_mpsc;

use common::{Backend, TestDb};
use plugboard_store::{
    ConnectionId, NewConnection, NewPendingAuthorization, OperatorWebhookId, Progress,
    RootKeySource, Scope, SecretString, Store, StoreOptions,
};
use time::OffsetDateTime;

on_both_backends!(
    rotation_with_live_reads_in_between_keeps_every_secret_readable,
    killed_reencrypt_pass_is_finished_after_restart,
);

/// (scope, connection, expected credential, expected connector secret,
/// the tenant's operator webhook and its secret on the first connection)
type Fixture = Vec<(
    Scope,
    ConnectionId,
    String,
    String,
    Option<(OperatorWebhookId, String)>,
)>;

async fn populate(store: &Store, tenants: usize, per_tenant: usize) -> Fixture {
    let org = store
        .create_organization(&format!("org-{}", uuid::Uuid::now_v7()))
        .await
        .unwrap();
    let user = store.create_user(org.id, "u", "U", None).await.unwrap();
    let mut out = Vec::new();
    for t in 0..tenants {
        let tenant = store.create_tenant(org.id, &format!("t{t}")).await.unwrap();
        let scope = tenant.scope();
        let app = format!("app-{t}");
        store
            .put_oauth_app_default(
                &scope,
                "zoom",
                &app,
                &SecretString::from(format!("secret-of-{app}")),
            )
            .await
            .unwrap();
        let folder = store.personal_folder(&scope, user.id).await.unwrap();
        for i in 0..per_tenant {
            let c = store
                .create_connection(
                    &scope,
                    NewConnection::new(folder.id, "zoom", "pat", &format!("c{i}")),
                )
                .await
                .unwrap();
            let cred = format!("token-{t}-{i}");
            let hook = format!("hook-{t}-{i}");
            store
                .compare_and_swap_credential(&scope, c.id, None, cred.as_bytes(), None)
                .await
                .unwrap();
            store
                .put_connector_secret(&scope, c.id, "webhook", hook.as_bytes())
                .await
                .unwrap();
            let mut operator_webhook = None;
            if i == 0 {
                let secret = format!("ops-{t}");
                let w = store
                    .create_operator_webhook(
                        &scope,
                        "https://ops.example/hook",
                        secret.as_bytes(),
                        None,
                    )
                    .await
                    .unwrap();
                operator_webhook = Some((w.id, secret));
                store
                    .create_pending_authorization(
                        &scope,
                        NewPendingAuthorization {
                            connection: c.id,
                            state: &format!("state-{t}-{i}-0123456789"),
                            pkce_verifier: Some(&SecretString::from(format!(
                                "verifier-{t}-{i}-0123456789abcdef"
                            ))),
                            redirect_uri: "https://pb.example/provisioning_/callback",
                            extra: serde_json::json!({}),
                            created_by: None,
                            expires_at: OffsetDateTime::now_utc() + time::Duration::hours(1),
                        },
                    )
                    .await
                    .unwrap();
            }
            out.push((scope, c.id, cred, hook, operator_webhook));
        }
    }
    out
}

async fn check_all(store: &Store, fixture: &Fixture) {
    for (scope, id, cred, hook, operator_webhook) in fixture {
        let got = store.get_credential(scope, *id).await.unwrap().unwrap();
        assert_eq!(got.secret.expose(), cred.as_bytes());
        let got = store
            .get_connector_secret(scope, *id, "webhook")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), hook.as_bytes());
        let app = store
            .oauth_app_default(scope, "zoom")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            app.client_secret.expose(),
            format!("secret-of-{}", app.client_id)
        );
        if let Some((w, secret)) = operator_webhook {
            let got = store
                .operator_webhook_secret(scope, *w)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got.expose(), secret.as_bytes());
        }
    }
}

const STALE_SECRETS: &str = "SELECT \
    (SELECT COUNT(*) FROM credentials t WHERE t.key_version < (SELECT MAX(version) FROM vault_data_keys k WHERE k.tenant_id = t.tenant_id)) + \
    (SELECT COUNT(*) FROM connector_secrets t WHERE t.key_version < (SELECT MAX(version) FROM vault_data_keys k WHERE k.tenant_id = t.tenant_id)) + \
    (SELECT COUNT(*) FROM pending_authorizations t WHERE t.key_version < (SELECT MAX(version) FROM vault_data_keys k WHERE k.tenant_id = t.tenant_id)) + \
    (SELECT COUNT(*) FROM oauth_app_defaults t WHERE t.key_version < (SELECT MAX(version) FROM vault_data_keys k WHERE k.tenant_id = t.tenant_id)) + \
    (SELECT COUNT(*) FROM operator_webhooks t WHERE t.key_version < (SELECT MAX(version) FROM vault_data_keys k WHERE k.tenant_id = t.tenant_id))";

async fn rotation_with_live_reads_in_between_keeps_every_secret_readable(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let fixture = populate(&store, 3, 4).await;

    // A reader on its own store instance (another replica), woken at every
    // progress step; the rotation waits until that round of reads is done.
    let reader = db.open().await;
    let (step_tx, mut step_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (ack_tx, ack_rx) = std_mpsc::channel::<usize>();
    let reader_fixture = fixture.clone();
    let reader_task = tokio::spawn(async move {
        let mut rounds = 0;
        while step_rx.recv().await.is_some() {
            check_all(&reader, &reader_fixture).await;
            rounds += 1;
            ack_tx.send(rounds).unwrap();
        }
        rounds
    });
    let steps = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = steps.clone();
    let mut progress = move |_: &Progress| {
        step_tx.send(()).unwrap();
        // block this step until the reader has read everything once
        tokio::task::block_in_place(|| ack_rx.recv().unwrap());
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    };
    let report = store.rotate_keys(true, &mut progress).await.unwrap();
    drop(progress);
    let rounds = reader_task.await.unwrap();
    assert_eq!(rounds, steps.load(std::sync::atomic::Ordering::SeqCst));
    assert!(rounds > 20, "reads happened between the steps ({rounds})");

    assert_eq!(report.root.root_version, 2);
    assert!(report.root.added_version);
    assert_eq!(report.root.rewrapped, 3);
    let re = report.reencrypt.unwrap();
    assert!(!re.resumed);
    assert_eq!(re.new_data_keys, 3);
    // credentials and connector secrets, PKCE verifiers, OAuth app defaults,
    // operator webhooks
    assert_eq!(re.reencrypted, 3 * 4 * 2 + 3 + 3 + 3);
    assert_eq!(db.scalar(STALE_SECRETS).await, 0);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM vault_data_keys WHERE root_version <> 2")
            .await,
        0
    );
    assert!(!store.pending_reencrypt().await.unwrap());

    // the key file now holds both versions; a fresh process reads everything
    let text = std::fs::read_to_string(db.key_path()).unwrap();
    assert!(text.lines().any(|l| l.starts_with("1:")) && text.lines().any(|l| l.starts_with("2:")));
    store.close().await;
    let fresh = db.open().await;
    check_all(&fresh, &fixture).await;
    // pending authorization verifiers survived too
    let p = fresh
        .consume_pending_authorization("state-0-0-0123456789")
        .await
        .unwrap();
    assert_eq!(
        p.pkce_verifier.unwrap().expose(),
        "verifier-0-0-0123456789abcdef"
    );
    // new writes use the newest data key
    let (scope, id, _, _, _) = &fixture[0];
    let v = fresh.credential_version(scope, *id).await.unwrap();
    fresh
        .compare_and_swap_credential(scope, *id, v, b"after", None)
        .await
        .unwrap();
    assert_eq!(db.scalar(STALE_SECRETS).await, 0);
}

const CHILD_DB: &str = "PB_REENCRYPT_CHILD_DATABASE";
const CHILD_KEY: &str = "PB_REENCRYPT_CHILD_KEY";
const CHILD_MARK: &str = "PB_REENCRYPT_CHILD_MARK";

/// Not a test on its own: the child process of
/// `killed_reencrypt_pass_is_finished_after_restart`. Without its
/// environment variables it returns at once.
#[tokio::test]
async fn reencrypt_child_process() {
    let (Ok(url), Ok(key), Ok(mark)) = (
        std::env::var(CHILD_DB),
        std::env::var(CHILD_KEY),
        std::env::var(CHILD_MARK),
    ) else {
        return;
    };
    let store = Store::open(StoreOptions {
        database: plugboard_store::Database::parse(&url).unwrap(),
        root_key: RootKeySource::DataDir(key.into()),
        max_connections: 2,
    })
    .await
    .unwrap();
    let mut progress = move |p: &Progress| {
        if p.phase == "re-encrypt secrets" && p.done == 7 {
            std::fs::write(&mark, b"half-way").unwrap();
            // wait here to be killed
            loop {
                std::thread::park();
            }
        }
    };
    store.rotate_keys(true, &mut progress).await.unwrap();
    unreachable!("the parent kills this process half-way");
}

async fn killed_reencrypt_pass_is_finished_after_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let fixture = populate(&store, 2, 6).await;
    store.close().await;

    let mark = db.dir.path().join("half-way");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "reencrypt_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, db.url())
        .env(CHILD_KEY, db.key_path())
        .env(CHILD_MARK, &mark)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the child to reach the middle of the pass (a hang guard only,
    // generous for a loaded machine; no assertion depends on timing).
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        if mark.exists() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited ({status}) before reaching the middle of the pass");
        }
        if std::time::Instant::now() > give_up {
            child.kill().ok();
            panic!("the child never reached the middle of the re-encrypt pass");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let store = db.open().await;
    assert!(
        store.pending_reencrypt().await.unwrap(),
        "the interrupted pass is recorded"
    );
    let stale = db.scalar(STALE_SECRETS).await;
    assert!(stale > 0, "the pass was interrupted half-way");
    // every secret still decrypts before the pass is finished
    check_all(&store, &fixture).await;
    let report = store
        .resume_reencrypt_if_pending(&mut |_: &Progress| {})
        .await
        .unwrap()
        .unwrap();
    assert!(report.resumed);
    assert_eq!(
        report.new_data_keys, 0,
        "keys made before the crash are reused"
    );
    assert_eq!(report.reencrypted as i64, stale);
    assert!(!store.pending_reencrypt().await.unwrap());
    assert_eq!(db.scalar(STALE_SECRETS).await, 0);
    check_all(&store, &fixture).await;
    assert!(
        store
            .resume_reencrypt_if_pending(&mut |_: &Progress| {})
            .await
            .unwrap()
            .is_none()
    );
}
