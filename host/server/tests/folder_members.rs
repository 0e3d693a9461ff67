//! Folder members that are not users of the organization (another
//! organization's user, a made-up id) are refused with 400 before anything
//! is written. Found by schemathesis: they used to be a 500 after the
//! folder had been created, or after the old members had been removed.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_folder_members_are_refused_and_nothing_changes() {
    let t = start_server().await;
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let me = admin.get("/api/v1/me").await.body;
    let tenant: plugboard_server::model::TenantId =
        me["tenant_id"].as_str().unwrap().parse().unwrap();
    let (alice, _) = t.server.create_user(tenant, "alice", false).await.unwrap();
    let alice = alice.principal.user_id.to_string();
    let (elsewhere, _) = t.server.create_tenant("other-org").await.unwrap();
    let stranger = elsewhere.principal.user_id.to_string();
    let made_up = "01a20000-0000-7000-8000-000000000000";

    // Create: refused, naming the unknown ids; no folder appears.
    let before = admin.get("/api/v1/folders").await;
    let r = admin
        .post(
            "/api/v1/folders",
            json!({"name": "Finance", "members": [alice, stranger, made_up]}),
        )
        .await;
    assert_error(&r, 400, "unknown_user");
    assert_eq!(
        r.body["details"]["unknown_users"],
        json!([stranger, made_up])
    );
    assert_eq!(admin.get("/api/v1/folders").await.body, before.body);

    // Replace members: refused; Alice is still the one member.
    let r = admin
        .post(
            "/api/v1/folders",
            json!({"name": "Finance", "members": [alice]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let folder = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/folders/{folder}/members"),
            Some(json!({"members": [made_up]})),
        )
        .await;
    assert_error(&r, 400, "unknown_user");
    let folders = admin.get("/api/v1/folders").await.body;
    let finance = folders
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == folder.as_str())
        .expect("the folder is listed");
    assert_eq!(finance["members"], json!([alice]));
    t.server.shutdown().await.unwrap();
}
