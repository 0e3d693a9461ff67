//! Persistence across restarts: a server on the same data directory keeps
//! its connections, their sealed credentials, folders, audit and the admin
//! token (only its hash is stored).

mod common;

use common::*;
use plugboard_server::Config;
use serde_json::json;

async fn start_on(data_dir: &std::path::Path) -> (plugboard_server::RunningServer, String) {
    let mut config = Config::for_data_dir(data_dir);
    config.egress.allow_loopback = true;
    let server = plugboard_server::start(config)
        .await
        .expect("server starts");
    let token = std::fs::read_to_string(&server.admin_token_file)
        .expect("admin token file")
        .trim()
        .to_string();
    (server, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_folders_audit_and_admin_token_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = "pat-secret-restart-51c2";
    let fake = start_fake_api(secret).await;

    let (server, token) = start_on(&data).await;
    assert!(server.first_start);
    let api = Api::new(&server.local_url(), Some(&token));
    let r = api
        .post("/api/v1/connections", pat_body(&fake, secret))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();
    let r = api
        .post("/api/v1/folders", json!({"name": "Finance", "members": []}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    server.shutdown().await.unwrap();

    // The database holds no plaintext secret and no plaintext token.
    let db = std::fs::read(data.join("plugboard.db")).unwrap();
    let wal = std::fs::read(data.join("plugboard.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        for needle in [secret, token.as_str()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "plaintext in the database"
            );
        }
    }

    let (server, token2) = start_on(&data).await;
    assert!(!server.first_start, "second start finds the admin");
    assert_eq!(token, token2, "the admin token file is unchanged");
    let api = Api::new(&server.local_url(), Some(&token2));
    let r = api.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let conn = if r.body["connection"].is_object() {
        r.body["connection"].clone()
    } else {
        r.body.clone()
    };
    assert_eq!(conn["status"], "connected");
    assert_eq!(conn["account"]["id"], "42");
    assert_eq!(conn["is_default"], true);

    // The sealed credential still decrypts and works.
    let r = api
        .post(
            &format!("/api/v1/connections/{id}/invoke/request"),
            json!({"path": "/items"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["body"]["items"], json!(["a", "b", "c"]));

    let r = api.get("/api/v1/folders").await;
    assert!(r.text.contains("Finance"), "{}", r.text);
    server.shutdown().await.unwrap();
}
