//! The web console in a real headless Chromium against a real server: sign
//! in, create PAT connections against a loopback API, edit, set default,
//! check, reconnect, delete past a reference, see an OAuth error, sign out, and a
//! wrong password refused. `tests/console/console.mjs` drives the page and
//! asserts on what it shows; this side checks the server's state after.
//!
//! Needs `/usr/bin/chromium` (`apt-get install chromium`) and Node 20+. It
//! is skipped with a message when the browser is missing, except under
//! `CI`, where a missing browser is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "console-test-password";
const PAT_TOKEN: &str = "pat-console-secret-5d1e";

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/console")
}

/// Whether CI asked for every test to run (`CI` set to anything but `false`/`0`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_manages_pat_connections_in_the_console() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            !in_ci(),
            "{CHROMIUM} is missing; CI must run the console test: `apt-get install -y chromium`"
        );
        eprintln!(
            "SKIPPED a_person_manages_pat_connections_in_the_console: {CHROMIUM} is missing (`apt-get install -y chromium` to run it)"
        );
        return;
    }
    let dir = script_dir();
    let installer = dir.clone();
    tokio::task::spawn_blocking(move || {
        plugboard_test_support::npm::ensure_installed(
            &installer,
            "playwright-core",
            "npm ci --prefix tests/console",
        )
    })
    .await
    .unwrap()
    .expect("playwright-core installs");

    let t = start_server().await;
    let fake = start_fake_api(PAT_TOKEN).await;
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let r = admin
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/admin/password",
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = admin.post("/api/v1/folders", json!({"name": "Team"})).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let url = format!("{}/", t.base);
    let fake_url = fake.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(dir.join("console.mjs"))
            .arg(&url)
            .env("CONSOLE_USER", "admin")
            .env("CONSOLE_PASSWORD", PASSWORD)
            .env("PAT_BASE_URL", &fake_url)
            .env("PAT_TOKEN", PAT_TOKEN)
            .env("CHROMIUM", CHROMIUM)
            .stdin(Stdio::null())
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (Node 20+ on PATH)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let findings: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!("no findings from the script;\nstdout: {stdout}\nstderr: {stderr}")
        });
    assert!(
        output.status.success() && findings["ok"] == true,
        "the console script failed: {}\nstderr: {stderr}",
        findings["error"].as_str().unwrap_or(&stdout)
    );

    // What the page showed is what the API says.
    let r = admin.get("/api/v1/connections").await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.text);
    let c = &items[0];
    assert_eq!(c["name"], "Renamed PAT");
    assert_eq!(c["status"], "connected");
    assert_eq!(c["is_default"], true);
    assert_eq!(c["polling_frequency_seconds"], 300);
    assert_eq!(c["account"]["display_name"], "Ada Lovelace");
    assert_eq!(findings["rows"], json!(["Renamed PAT"]));

    // The errors the page showed are the API's own messages.
    let bad_polling = admin
        .patch(
            &format!("/api/v1/connections/{}", c["id"].as_str().unwrap()),
            json!({"polling_frequency_seconds": 5}),
        )
        .await;
    assert_eq!(findings["polling_error"], bad_polling.body["message"]);
    let folder = admin.get("/api/v1/me").await.body["personal_folder_id"].clone();
    let oauth = admin
        .post(
            "/api/v1/connections",
            json!({"connector": "zoom", "auth_kind": findings["zoom_auth_kinds"][0], "folder_id": folder, "config": {}, "credentials": {}}),
        )
        .await;
    assert!(oauth.status >= 400, "{}", oauth.text);
    assert_eq!(findings["oauth_error"], oauth.body["message"]);
    assert!(
        findings["delete_error"]
            .as_str()
            .is_some_and(|m| m.contains("Payroll") && m.contains("force")),
        "{findings}"
    );
    assert!(
        findings["reconnect_error"]
            .as_str()
            .is_some_and(|m| m.starts_with("nothing changed")),
        "{findings}"
    );
    let wrong = reqwest::Client::new()
        .post(format!("{}/api/v1/session", t.base))
        .header("x-plugboard-csrf", "1")
        .json(&json!({"username": "admin", "password": "definitely-not-it"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(findings["sign_in_error"], wrong["message"]);

    // The audit log saw the forced delete and the default change, by admin.
    let audit = admin.get("/api/v1/audit").await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "connection.create",
        "connection.set_default",
        "connection.delete_forced",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    admin.assert_never_returned(PAT_TOKEN);
    t.server.shutdown().await.unwrap();
}

/// The console's files, without a browser: `/` leads there, every file has
/// the strict policy, the page has no inline script, unknown files are 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_files_are_served_with_a_strict_content_security_policy() {
    let t = start_server().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, to) in [("/", "console/"), ("/console", "console/")] {
        let r = http.get(format!("{}{path}", t.base)).send().await.unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(r.headers()["location"], to, "{path}");
    }
    for (path, kind) in [
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
        ("/console/nope.js", "text/plain"),
    ] {
        let r = http.get(format!("{}{path}", t.base)).send().await.unwrap();
        let status = r.status().as_u16();
        assert_eq!(
            status,
            if path.ends_with("nope.js") { 404 } else { 200 },
            "{path}"
        );
        let h = r.headers().clone();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let body = r.text().await.unwrap();
        if path == "/console/" {
            // Every script is a file of this origin; none inline.
            for tag in body.split("<script").skip(1) {
                let open = &tag[..tag.find('>').unwrap()];
                assert!(
                    open.contains("src=\"app.js\""),
                    "inline or foreign script: <script{open}>"
                );
            }
            assert!(
                !body.contains("onclick=") && !body.contains("onsubmit="),
                "no inline handlers"
            );
        }
    }
    t.server.shutdown().await.unwrap();
}
