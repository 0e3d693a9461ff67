//! Trigger subscriptions through the REST API of a real server on
//! loopback: the bundled Zoom connector polled against the fake Zoom, events
//! delivered to a loopback webhook receiver with a valid signature, pause
//! and resume, connection deletion blocked by a subscription, tenant
//! isolation on every route, and SSRF refusals. The triggers' clock is a
//! manual one, so "the next poll" is a clock step, not minutes of waiting,
//! and the tests run the scheduling and delivery passes themselves (the
//! background loop's first pass is a day away).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use plugboard_server::RunningServer;
use plugboard_server::model::{
    Account, Connection, ConnectionId, ConnectionStatus, TenantId, UserId,
};
use plugboard_server::repo::Bootstrap;
use plugboard_server::triggers::TriggerOptions;
use plugboard_test_support::{FakeZoom, Recording, TokenFault, WebhookReceiver};
use plugboard_triggers::{ManualClock, verify};
use serde_json::{Value, json};

/// A Zoom connection row in `owner`'s personal workspace, Connected with
/// account and scopes but holding no token: enough for the subscription
/// checks of a server whose egress cannot reach the fake Zoom (polling
/// tests connect through the real OAuth flow instead, see [`world`]).
async fn zoom_connection_row(server: &RunningServer, owner: &Bootstrap) -> ConnectionId {
    let now = time::OffsetDateTime::now_utc();
    let user: UserId = owner.principal.user_id;
    let conn = Connection {
        id: ConnectionId::new(),
        org_id: owner.principal.org_id,
        tenant_id: owner.principal.tenant_id,
        folder_id: owner.personal_folder,
        connector_id: "zoom".into(),
        auth_kind: plugboard_manifest::AuthKind::Oauth2AuthorizationCode,
        name: "Zoom (Alice)".into(),
        account: Some(Account {
            id: "zu-alice".into(),
            display_name: "Alice Example".into(),
            email: Some("alice@example.com".into()),
        }),
        status: ConnectionStatus::Connected,
        status_message: None,
        provider_error: None,
        polling_frequency_seconds: Some(120),
        is_default: true,
        granted_scopes: vec![
            "meeting:write".into(),
            "recording:read".into(),
            "user_info:read".into(),
        ],
        config: vec![],
        created_by: user,
        updated_by: user,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    server.state.repo.insert_connection(&conn).await.unwrap();
    conn.id
}

/// `POST /api/v1/triggers` for `trigger` on `conn`, as `api`.
async fn subscribe(api: &Api, conn: ConnectionId, trigger: &str, destination: Value) -> Reply {
    api.post(
        "/api/v1/triggers",
        json!({"connection_id": conn, "trigger": trigger, "destination": destination}),
    )
    .await
}

fn recording(id: u64) -> Recording {
    Recording {
        meeting_id: id,
        topic: format!("meeting {id}"),
        start_time: "2026-11-23T10:00:00Z".into(),
    }
}

/// A manual clock, and no background pass for a day: the test drives them.
fn manual_triggers(clock: Arc<ManualClock>) -> TriggerOptions {
    TriggerOptions {
        clock,
        tick: Duration::from_secs(24 * 3600),
    }
}

struct World {
    t: TestServer,
    clock: Arc<ManualClock>,
    zoom: FakeZoom,
    owner: Api,
    conn: ConnectionId,
    tenant: TenantId,
    /// The connection's access token at the fake Zoom.
    access: String,
}

async fn world() -> World {
    let zoom = FakeZoom::start().await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let (api_url, oauth_url) = (zoom.api_url(), zoom.base_url());
    let t = start_server_with_triggers(
        |c| use_fake_zoom(c, &api_url, &oauth_url),
        manual_triggers(clock.clone()),
    )
    .await;
    let (boot, token) = t.server.create_tenant("zoom-users").await.unwrap();
    let owner = Api::new(&t.base, Some(&token));
    // Through Plugboard's own authorization-code flow and callback, so the
    // polls use the token manager exactly as in production.
    let (id, _, _) = connect_zoom(&t, &owner, json!({"polling_frequency_seconds": 120})).await;
    let conn: ConnectionId = id.parse().unwrap();
    let tenant = boot.principal.tenant_id;
    let state = &t.server.state;
    let conn_ref = plugboard_server::oauth::connection_ref(&state.store, tenant, conn)
        .await
        .unwrap();
    let access = state
        .tokens
        .access_token(conn_ref)
        .await
        .unwrap()
        .token
        .expose()
        .to_string();
    World {
        clock,
        zoom,
        owner,
        conn,
        tenant,
        access,
        t,
    }
}

impl World {
    /// One scheduling pass and one delivery pass, now.
    async fn run_triggers(&self) -> plugboard_triggers::TickReport {
        let report = self.t.server.triggers.scheduler.tick().await.unwrap();
        self.t
            .server
            .triggers
            .deliverer
            .deliver_due()
            .await
            .unwrap();
        report
    }

    /// Past the connection's polling frequency (120 s) and any jitter.
    fn next_period(&self) {
        self.clock.advance(Duration::from_secs(121 + 12));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoom_recordings_reach_a_signed_webhook_and_pause_resume_and_delete_work() {
    let w = world().await;
    let rx = WebhookReceiver::start().await;
    let r = subscribe(
        &w.owner,
        w.conn,
        "new_recording",
        json!({"kind": "webhook", "url": rx.url}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["subscription"]["id"].as_str().unwrap().to_owned();
    let secret = r.body["webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    // The first poll records what exists; later polls report what is new.
    w.zoom.add_recordings("alice@example.com", [recording(1)]);
    let first = w.run_triggers().await;
    assert_eq!((first.polled, first.failed), (1, 0), "{first:?}");
    w.zoom.add_recordings("alice@example.com", [recording(2)]);
    w.next_period();
    assert_eq!(w.run_triggers().await.queued, 1);

    let got = rx.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one event delivered");
    let (sig, body) = &got[0];
    assert!(
        verify(secret.as_bytes(), sig, body),
        "valid signature: {sig}"
    );
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["type"], "new_recording");
    assert_eq!(event["subscription"], id.as_str());

    let d = w
        .owner
        .get(&format!("/api/v1/triggers/{id}/deliveries?state=delivered"))
        .await;
    assert_eq!(d.body.as_array().map(Vec::len), Some(1), "{}", d.text);
    assert_eq!(d.body[0]["event_id"], event["id"]);

    // Paused: no poll, however much time passes; resumed: polled again.
    let p = w
        .owner
        .post(&format!("/api/v1/triggers/{id}/pause"), json!({}))
        .await;
    assert_eq!((p.status, p.body["enabled"].clone()), (200, json!(false)));
    w.zoom.add_recordings("alice@example.com", [recording(3)]);
    w.next_period();
    assert_eq!(w.run_triggers().await.polled, 0);
    let p = w
        .owner
        .post(&format!("/api/v1/triggers/{id}/resume"), json!({}))
        .await;
    assert_eq!((p.status, p.body["enabled"].clone()), (200, json!(true)));
    assert_eq!(w.run_triggers().await.queued, 1);
    assert_eq!(rx.received.lock().unwrap().len(), 2);

    // The connection cannot be deleted while the subscription uses it…
    let del = w
        .owner
        .delete(&format!("/api/v1/connections/{}", w.conn))
        .await;
    assert_error(&del, 409, "connection_referenced");
    assert_eq!(del.body["details"]["references"][0]["kind"], "trigger");
    assert_eq!(del.body["details"]["references"][0]["id"], id.as_str());
    assert_eq!(
        w.owner.get(&format!("/api/v1/triggers/{id}")).await.status,
        200,
        "nothing was deleted"
    );
    // …and with force both go.
    let del = w
        .owner
        .delete(&format!("/api/v1/connections/{}?force=true", w.conn))
        .await;
    assert_eq!(del.status, 204, "{}", del.text);
    let gone = w.owner.get(&format!("/api/v1/triggers/{id}")).await;
    assert_error(&gone, 404, "subscription_not_found");

    let audit = w.owner.get("/api/v1/audit").await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "trigger.create",
        "trigger.pause",
        "trigger.resume",
        "trigger.delete",
    ] {
        assert!(actions.contains(&a), "audit has {a}: {actions:?}");
    }
    w.owner.assert_never_returned(&w.access);
    w.t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_gets_404_on_every_triggers_route_and_changes_nothing() {
    let w = world().await;
    let r = subscribe(&w.owner, w.conn, "new_recording", json!({"kind": "pull"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["webhook_secret"].is_null());
    let id = r.body["subscription"]["id"].as_str().unwrap().to_owned();

    let (_, other_token) = w.t.server.create_tenant("intruders").await.unwrap();
    let other = Api::new(&w.t.base, Some(&other_token));
    for (method, path) in [
        ("GET", format!("/api/v1/triggers/{id}")),
        ("DELETE", format!("/api/v1/triggers/{id}")),
        ("POST", format!("/api/v1/triggers/{id}/pause")),
        ("POST", format!("/api/v1/triggers/{id}/resume")),
        ("GET", format!("/api/v1/triggers/{id}/events")),
        ("GET", format!("/api/v1/triggers/{id}/deliveries")),
        ("POST", format!("/api/v1/triggers/{id}/replay")),
    ] {
        let r = match method {
            "GET" => other.get(&path).await,
            "DELETE" => other.delete(&path).await,
            _ => other.post(&path, json!({})).await,
        };
        assert_error(&r, 404, "subscription_not_found");
    }
    let r = subscribe(&other, w.conn, "new_recording", json!({"kind": "pull"})).await;
    assert_error(&r, 404, "connection_not_found");
    let r = other
        .get(&format!("/api/v1/triggers?connection_id={}", w.conn))
        .await;
    assert_error(&r, 404, "connection_not_found");
    assert_eq!(other.get("/api/v1/triggers").await.body, json!([]));
    assert_eq!(
        other.get("/api/v1/triggers/dead-letters").await.body,
        json!([])
    );
    assert_eq!(
        other.get("/api/v1/triggers/operator-events").await.body,
        json!([])
    );

    // Nothing changed for the owner: still there, still enabled, one subscription.
    let mine = w.owner.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(
        (mine.status, mine.body["enabled"].clone()),
        (200, json!(true))
    );
    assert_eq!(
        w.owner
            .get("/api/v1/triggers")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A user of the same tenant without access to the folder sees nothing either.
    let (_, bob_token) =
        w.t.server
            .create_user(w.tenant, "bob", false)
            .await
            .unwrap();
    let bob = Api::new(&w.t.base, Some(&bob_token));
    assert_error(
        &bob.get(&format!("/api/v1/triggers/{id}")).await,
        404,
        "subscription_not_found",
    );
    assert_error(
        &bob.get("/api/v1/triggers/operator-events").await,
        403,
        "admin_required",
    );
    w.t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_to_refused_addresses_are_400_and_create_nothing() {
    // Loopback egress left at its default (off) for this server.
    let t = start_server_with_triggers(
        |c| c.egress.allow_loopback = false,
        manual_triggers(Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()))),
    )
    .await;
    let (boot, token) = t.server.create_tenant("ssrf").await.unwrap();
    let conn = zoom_connection_row(&t.server, &boot).await;
    let api = Api::new(&t.base, Some(&token));
    for (url, why) in [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://localhost:9/hook", "loopback"),
        ("http://10.0.0.7/hook", "private"),
        ("http://user:pw@example.com/hook", "credentials"),
        ("file:///etc/passwd", "http and https"),
    ] {
        let r = subscribe(
            &api,
            conn,
            "new_recording",
            json!({"kind": "webhook", "url": url}),
        )
        .await;
        assert_error(&r, 400, "webhook_url_refused");
        assert!(
            r.body["message"].as_str().unwrap().contains(why),
            "{url}: {}",
            r.text
        );
        assert!(
            !r.text.contains(":pw@"),
            "the password is not echoed: {}",
            r.text
        );
    }
    let r = api
        .post(
            "/api/v1/triggers/operator-webhooks",
            json!({"url": "http://169.254.169.254/"}),
        )
        .await;
    assert_error(&r, 400, "webhook_url_refused");
    assert_eq!(api.get("/api/v1/triggers").await.body, json!([]));
    assert_eq!(
        api.get("/api/v1/triggers/operator-webhooks").await.body,
        json!([])
    );

    let r = subscribe(&api, conn, "no_such_trigger", json!({"kind": "pull"})).await;
    assert_error(&r, 400, "unknown_trigger");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("new_recording")
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_frequency_edit_applies_at_the_next_tick_and_operator_webhooks_hear_breaks() {
    let w = world().await;
    let ops = WebhookReceiver::start().await;
    let r = w
        .owner
        .post(
            "/api/v1/triggers/operator-webhooks",
            json!({"url": ops.url}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ops_secret = r.body["secret"].as_str().unwrap().to_owned();
    let r = subscribe(&w.owner, w.conn, "new_recording", json!({"kind": "pull"})).await;
    let id = r.body["subscription"]["id"].as_str().unwrap().to_owned();
    assert_eq!(w.run_triggers().await.polled, 1);

    // 120 s frequency: not due after 70 s. Edit to 60 s: due at the next tick.
    w.clock.advance(Duration::from_secs(70));
    assert_eq!(w.run_triggers().await.polled, 0);
    let e = w
        .owner
        .patch(
            &format!("/api/v1/connections/{}", w.conn),
            json!({"polling_frequency_seconds": 60}),
        )
        .await;
    assert_eq!(e.status, 200, "{}", e.text);
    assert_eq!(w.run_triggers().await.polled, 1);

    // The token dies and Zoom refuses the refresh token: the poll marks the
    // connection Disconnected, pauses polling, and the operator webhook
    // hears it, signed. (An expired access token alone is refreshed.)
    w.zoom.expire_all_access_tokens();
    w.zoom.push_token_fault(TokenFault::ErrorBody200 {
        error: "invalid_grant".into(),
        reason: "Invalid Token!".into(),
    });
    w.zoom.add_recordings("alice@example.com", [recording(9)]);
    w.next_period();
    let r = w.run_triggers().await;
    assert_eq!((r.polled, r.failed), (1, 1), "{r:?}");
    let c = w
        .owner
        .get(&format!("/api/v1/connections/{}", w.conn))
        .await;
    assert_eq!(c.body["status"], "disconnected", "{}", c.text);
    w.next_period();
    assert_eq!(w.run_triggers().await.paused_by_connection, 1);
    let feed = w.owner.get("/api/v1/triggers/operator-events").await;
    assert_eq!(
        feed.body[0]["type"], "connection.disconnected",
        "{}",
        feed.text
    );
    let got = ops.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(verify(ops_secret.as_bytes(), &got[0].0, &got[0].1));
    let body: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(body["type"], "connection.disconnected");
    assert_eq!(body["data"]["connection"], w.conn.to_string());
    let events = w.owner.get(&format!("/api/v1/triggers/{id}/events")).await;
    assert_eq!(events.status, 200, "{}", events.text);
    w.t.server.shutdown().await.unwrap();
}
