//! Three replicas on one PostgreSQL database behind a real HAProxy
//! (`deploy/haproxy.cfg`, round robin, no stickiness), as operators run
//! them (issue 23): the console's session, an OAuth sign-in whose callback
//! lands on another replica, and a token refresh all work whichever replica
//! answers.
//!
//! Needs `haproxy` (`apt-get install haproxy`); skipped with a message
//! without it, except under `CI`.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use plugboard_test_support::FakeZoom;
use plugboard_test_support::postgres::TestSchema;
use serde_json::json;
use url::Url;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

struct Balancer {
    child: Child,
    base: String,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy on `port` in front of `replicas`, with the repository's config.
async fn balancer(port: u16, replicas: [&TestServer; 3]) -> Balancer {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/haproxy.cfg");
    let addr = |t: &TestServer| t.base.trim_start_matches("http://").to_string();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(cfg)
        .env("PLUGBOARD_LB_BIND", format!("127.0.0.1:{port}"))
        .env("PLUGBOARD_R1", addr(replicas[0]))
        .env("PLUGBOARD_R2", addr(replicas[1]))
        .env("PLUGBOARD_R3", addr(replicas[2]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let base = format!("http://127.0.0.1:{port}");
    // Up when every replica passed its health check: three answers in a row.
    let http = reqwest::Client::new();
    let mut healthy = 0;
    for _ in 0..200 {
        match http.get(format!("{base}/readyz")).send().await {
            Ok(r) if r.status() == 200 => healthy += 1,
            _ => healthy = 0,
        }
        if healthy >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy >= 6, "HAProxy never served /readyz");
    Balancer { child, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_haproxy_serve_console_oauth_and_refresh() {
    let have_haproxy = Command::new("haproxy").arg("-v").output().is_ok();
    if !have_haproxy {
        assert!(
            !in_ci(),
            "haproxy is missing; CI installs it (apt-get install haproxy)"
        );
        eprintln!("SKIPPED: haproxy is missing (apt-get install haproxy)");
        return;
    }
    let database = TestSchema::create("pb_lb").await;
    let zoom = FakeZoom::start().await;
    let lb_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public = Url::parse(&format!("http://127.0.0.1:{lb_port}/")).unwrap();
    let (db, pubu, api_url, oauth_url) = (
        database.url().to_owned(),
        public.clone(),
        zoom.api_url(),
        zoom.base_url(),
    );
    let configure = move |c: &mut plugboard_server::Config| {
        c.database_url = db.clone();
        c.public_url = Some(pubu.clone());
        use_fake_zoom(c, &api_url, &oauth_url);
    };
    let r1 = start_server_with(configure.clone()).await;
    let r2 = start_replica(&r1, configure.clone()).await;
    let r3 = start_replica(&r1, configure).await;
    let lb = balancer(lb_port, [&r1, &r2, &r3]).await;
    let admin = Api::new(&lb.base, Some(&r1.admin_token));

    // Console: a password set through one replica, a sign-in through
    // another, and the cookie honoured by all of them.
    let r = admin
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/admin/password",
            Some(json!({"password": "load-balanced-pw"})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let browser = reqwest::Client::new();
    let signed_in = browser
        .post(format!("{}/api/v1/session", lb.base))
        .header("x-plugboard-csrf", "1")
        .json(&json!({"username": "admin", "password": "load-balanced-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    for round in 0..6 {
        let me = browser
            .get(format!("{}/api/v1/me", lb.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            me.status(),
            200,
            "round {round}: a replica refused the session"
        );
    }

    // OAuth: started through one replica, the callback lands on another.
    let created = start_zoom(&admin, "oauth2_authorization_code", json!({})).await;
    let url = authorize_url(&created);
    let id = created.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let callback = plugboard_test_support::browser::authorize_with_zoom(
        &url,
        &format!("{}/provisioning_/callback", lb.base),
        plugboard_test_support::browser::Consent::Allow,
    )
    .await
    .unwrap();
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 200, "{page}");
    let r = admin.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.body["status"], "connected", "{}", r.text);

    // Refresh: the access token expires; calls through every replica keep
    // working, and the provider sees one refresh, not one per replica.
    zoom.expire_all_access_tokens();
    let refreshes_before = zoom.refreshes();
    for round in 0..6 {
        let r = admin.invoke(&id, "get_current_user", json!({})).await;
        assert_eq!(r.status, 200, "round {round}: {}", r.text);
    }
    assert_eq!(
        zoom.refreshes() - refreshes_before,
        1,
        "one refresh across three replicas"
    );
    drop(lb);
}
