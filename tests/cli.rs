//! `plugboard serve` as a process and the CLI over its API: first start,
//! the printed URL, tables and `--json`, a PAT connection's lifecycle, and
//! a graceful stop on SIGTERM, the admin's console password; an OAuth
//! connection created from the CLI, which prints the sign-in URL and waits
//! until the callback connected it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_plugboard");

/// A loopback API answering every request with one JSON account.
fn fake_api() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let body = r#"{"id":"42","name":"Ada Lovelace"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

struct Serve {
    child: Child,
    url: String,
    data_dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn serve() -> Serve {
    serve_with("lifecycle", &[])
}

/// `plugboard serve` in a data directory of its own, also when tests of this
/// file run at once (`name` tells tests apart), with extra environment.
fn serve_with(name: &str, env: &[(&str, String)]) -> Serve {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let data_dir =
        std::env::temp_dir().join(format!("plugboard-cli-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut child = Command::new(BIN)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-loopback-egress",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env("PLUGBOARD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut saw_first_start = false;
    let url = loop {
        let line = lines.next().expect("serve printed its URL").unwrap();
        if line.starts_with("First start") {
            assert!(line.contains("admin-token"), "{line}");
            assert!(
                !line.contains("pb_"),
                "the token itself is never printed: {line}"
            );
            saw_first_start = true;
        }
        if let Some(url) = line.strip_prefix("Plugboard listening on ") {
            break url.trim().to_string();
        }
    };
    assert!(saw_first_start, "first start says where the admin token is");
    std::thread::spawn(move || for _ in lines {});
    Serve {
        child,
        url,
        data_dir,
    }
}

fn cli_command(s: &Serve, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("PLUGBOARD_SERVER", &s.url)
        .env("PLUGBOARD_DATA_DIR", &s.data_dir)
        .env("MY_PAT", "cli-secret-token-1")
        .env_remove("PLUGBOARD_TOKEN");
    command
}

fn cli(s: &Serve, args: &[&str]) -> Output {
    cli_command(s, args).output().unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "CLI failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("cli-secret-token-1"),
        "a secret reached the output: {stdout}"
    );
    stdout
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("--json prints JSON")
}

#[test]
fn serve_and_the_cli_run_a_pat_connection_lifecycle() {
    let s = serve();
    let api = fake_api();
    for file in ["admin-token", "plugboard.db", "root.key"] {
        assert!(
            Path::new(&s.data_dir).join(file).exists(),
            "first start creates {file}"
        );
    }

    let table = ok(&cli(&s, &["connectors", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("pat") && table.contains("zoom"), "{table}");

    // The organization's first external application for the management APIs.
    let bad = cli(&s, &["apps", "register", "sync", "--scope", "PM.Nope"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("invalid_scopes") && err.contains("PM.Nope"),
        "{err}"
    );
    let out = ok(&cli(
        &s,
        &["apps", "register", "sync", "--scope", "PM.User.Read"],
    ));
    assert!(
        out.contains("client_id") && out.contains("Client secret (shown once"),
        "{out}"
    );
    assert!(
        table.contains("personal_access_token") && table.contains("oauth2_byoa"),
        "the auth types column lists each connector's kinds: {table}"
    );
    let folders = ok(&cli(&s, &["folders", "list"]));
    assert!(folders.starts_with("ID"), "{folders}");
    assert!(
        folders.lines().count() >= 2,
        "the admin's personal workspace is listed: {folders}"
    );
    let shown = ok(&cli(&s, &["connectors", "show", "zoom"]));
    assert!(shown.contains("meeting:write"), "{shown}");

    let base = format!("base_url={api}");
    let created = json(&cli(
        &s,
        &[
            "connections",
            "create",
            "pat",
            "--config",
            &base,
            "--credential-env",
            "token=MY_PAT",
            "--json",
        ],
    ));
    let id = created["connection"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["connection"]["account"]["id"], "42");

    let list = ok(&cli(&s, &["connections", "list"]));
    assert!(list.contains(&id) && list.contains("connected"), "{list}");
    ok(&cli(&s, &["connections", "rename", &id, "CLI conn"]));
    let edited = json(&cli(
        &s,
        &[
            "connections",
            "edit",
            &id,
            "--polling-frequency",
            "600",
            "--json",
        ],
    ));
    assert_eq!(edited["name"], "CLI conn");
    assert_eq!(edited["polling_frequency_seconds"], 600);
    let checked = ok(&cli(&s, &["connections", "check", &id]));
    assert!(checked.starts_with("Connected"), "{checked}");
    ok(&cli(&s, &["connections", "set-default", &id]));
    let out = json(&cli(
        &s,
        &["invoke", &id, "request", "--input", r#"{"path": "/user"}"#],
    ));
    assert_eq!(out["body"]["name"], "Ada Lovelace");

    let bad = cli(
        &s,
        &[
            "connections",
            "show",
            "0190b8f4-0000-7000-8000-000000000000",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("connection_not_found"));

    ok(&cli(&s, &["connections", "delete", &id]));
    let list = json(&cli(&s, &["connections", "list", "--json"]));
    assert_eq!(list["total"], 0);

    // SIGTERM: the server stops gracefully and exits 0.
    let mut s = s;
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = s.child.wait().unwrap();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");

    // Key rotation on the same data directory.
    let out = Command::new(BIN)
        .args(["keys", "rotate", "--reencrypt", "--data-dir"])
        .arg(&s.data_dir)
        .env_remove("PLUGBOARD_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = ok(&out);
    assert!(stdout.contains("Root key version 2"), "{stdout}");
}

/// `plugboard users set-password` with `--password-env`, then that password
/// signs in to the console API.
#[test]
fn the_admin_sets_a_console_password_from_the_environment() {
    let s = serve();
    let set = |args: &[&str], password: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("PLUGBOARD_SERVER", &s.url)
            .env("PLUGBOARD_DATA_DIR", &s.data_dir)
            .env_remove("PLUGBOARD_TOKEN")
            .stdin(Stdio::null());
        match password {
            Some(p) => cmd.env("CONSOLE_PW", p),
            None => cmd.env_remove("CONSOLE_PW"),
        };
        cmd.output().unwrap()
    };
    let sign_in = |password: &str| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/api/v1/session", s.url))
                .header("x-plugboard-csrf", "1")
                .json(&serde_json::json!({"username": "admin", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let args = [
        "users",
        "set-password",
        "admin",
        "--password-env",
        "CONSOLE_PW",
    ];

    // Errors say what to do, and change nothing.
    let missing = set(&args, None);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("`CONSOLE_PW` is not set"), "{err}");
    let short = set(&args, Some("short"));
    assert!(!short.status.success());
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(
        err.contains("weak_password") && err.contains("8 characters"),
        "{err}"
    );
    assert_eq!(sign_in("short"), 401);

    let out = set(&args, Some("a long console password"));
    let stdout = ok(&out);
    assert!(
        stdout.contains("/console/"),
        "says where to sign in: {stdout}"
    );
    assert!(!stdout.contains("a long console password"), "{stdout}");
    assert_eq!(sign_in("a long console password"), 200);
    assert_eq!(sign_in("short"), 401);
}

#[test]
fn the_cli_creates_lists_and_revokes_api_tokens() {
    let s = serve_with("tokens", &[]);
    let created = json(&cli(&s, &["tokens", "create", "ci", "--json"]));
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pb_"), "{created}");

    // The table shows it by id and name, never the token; the new token works.
    let table = ok(&cli(&s, &["tokens", "list", "--token", &token]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.lines().next().unwrap().contains("LAST USED"),
        "{table}"
    );
    let row = table.lines().find(|l| l.contains(&id)).expect("listed");
    assert!(row.contains("ci"), "{table}");
    // Listed with the token itself, so it shows a last-used time, not `-`.
    assert!(!row.trim_end().ends_with('-'), "{table}");
    assert!(!table.contains(&token), "{table}");
    let listed = json(&cli(&s, &["tokens", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    // Human create prints the token once, saying so.
    let human = ok(&cli(&s, &["tokens", "create", "laptop"]));
    assert!(
        human.contains("shown once") && human.contains("pb_"),
        "{human}"
    );

    let out = ok(&cli(&s, &["tokens", "revoke", &id]));
    assert!(out.contains(&id), "{out}");
    let refused = cli(&s, &["tokens", "list", "--token", &token]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("401"), "{err}");

    let bad = cli(&s, &["tokens", "revoke", "not-a-uuid"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("invalid_id"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_sign_in_url_and_waits_for_the_callback() {
    use plugboard_test_support::FakeZoom;
    use plugboard_test_support::browser::{Consent, authorize_with_zoom};

    let zoom = FakeZoom::start().await;
    let s = serve_with("oauth", &fake_zoom_env(&zoom));
    let mut child = cli_command(
        &s,
        &[
            "connections",
            "create",
            "zoom",
            "--auth-kind",
            "oauth2_authorization_code",
            "--wait",
            "60",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the CLI printed the sign-in URL")
            .unwrap();
        if let Some(url) = line.trim().strip_prefix("http") {
            break url::Url::parse(&format!("http{url}")).unwrap();
        }
    };
    let callback = format!("{}/provisioning_/callback", s.url);
    let back = authorize_with_zoom(&url, &callback, Consent::Allow)
        .await
        .unwrap();
    let page = reqwest::get(back).await.unwrap();
    assert_eq!(page.status(), 200);

    let rest: Vec<String> =
        tokio::task::spawn_blocking(move || lines.map_while(Result::ok).collect())
            .await
            .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let rest = rest.join("\n");
    assert!(status.success(), "{rest}");
    assert!(rest.contains("connected"), "{rest}");
    assert!(rest.contains("Alice Example"), "{rest}");
    assert!(!rest.contains(FakeZoom::CLIENT_SECRET), "{rest}");
}

/// `plugboard serve` settings that make the fake Zoom the operator's Zoom
/// app, API and OAuth endpoints.
fn fake_zoom_env(zoom: &plugboard_test_support::FakeZoom) -> Vec<(&'static str, String)> {
    use plugboard_test_support::FakeZoom;
    vec![
        (
            "PLUGBOARD_CONNECTOR_ZOOM_CLIENT_ID",
            FakeZoom::CLIENT_ID.into(),
        ),
        (
            "PLUGBOARD_CONNECTOR_ZOOM_CLIENT_SECRET",
            FakeZoom::CLIENT_SECRET.into(),
        ),
        ("PLUGBOARD_CONNECTOR_ZOOM_BASE_URL", zoom.api_url()),
        ("PLUGBOARD_CONNECTOR_ZOOM_OAUTH_BASE_URL", zoom.base_url()),
    ]
}

/// A Zoom connection created over the API with Plugboard's authorization-code
/// flow, consented at the fake Zoom and completed through the callback;
/// returns its id.
async fn connect_zoom_over_api(s: &Serve) -> String {
    use plugboard_test_support::browser::{Consent, authorize_with_zoom};
    let token = std::fs::read_to_string(s.data_dir.join("admin-token")).unwrap();
    let created: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/connections", s.url))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({"connector": "zoom", "auth_kind": "oauth2_authorization_code"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = url::Url::parse(created["authorize_url"].as_str().expect("authorize URL")).unwrap();
    let callback = format!("{}/provisioning_/callback", s.url);
    let back = authorize_with_zoom(&url, &callback, Consent::Allow)
        .await
        .unwrap();
    assert_eq!(reqwest::get(back).await.unwrap().status(), 200);
    created["connection"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_manages_trigger_subscriptions_over_the_api() {
    let zoom = plugboard_test_support::FakeZoom::start().await;
    let s = serve_with("triggers", &fake_zoom_env(&zoom));
    let conn = connect_zoom_over_api(&s).await;
    let hook = fake_api();

    let out = ok(&cli(
        &s,
        &[
            "triggers",
            "create",
            &conn,
            "new_recording",
            "--webhook",
            &format!("{hook}/hook"),
        ],
    ));
    assert!(out.contains("whsec_"), "the secret is shown once: {out}");
    let created = json(&cli(
        &s,
        &[
            "triggers",
            "create",
            &conn,
            "new_recording",
            "--pull",
            "--json",
        ],
    ));
    let id = created["subscription"]["id"].as_str().unwrap().to_string();
    assert!(created["webhook_secret"].is_null());

    let table = ok(&cli(&s, &["triggers", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert_eq!(table.lines().count(), 3, "two subscriptions: {table}");
    assert!(table.contains(&id) && table.contains("pull"), "{table}");
    let shown = ok(&cli(&s, &["triggers", "show", &id]));
    assert!(
        shown.contains("new_recording") && shown.contains(&conn),
        "{shown}"
    );

    let paused = json(&cli(&s, &["triggers", "pause", &id, "--json"]));
    assert_eq!(paused["enabled"], false);
    let out = ok(&cli(&s, &["triggers", "resume", &id]));
    assert!(out.contains("Resumed"), "{out}");
    let events = ok(&cli(&s, &["triggers", "events", &id]));
    assert!(events.starts_with("SEQ"), "{events}");
    let deliveries = json(&cli(&s, &["triggers", "deliveries", &id, "--json"]));
    assert!(deliveries.is_array(), "{deliveries}");
    let dead = ok(&cli(&s, &["triggers", "dead-letters"]));
    assert!(dead.starts_with("SUBSCRIPTION"), "{dead}");
    let out = ok(&cli(&s, &["triggers", "replay", &id]));
    assert!(out.contains("Queued 0"), "{out}");

    // Refused input: a clear error, and nothing created.
    let bad = cli(
        &s,
        &[
            "triggers",
            "create",
            &conn,
            "new_recording",
            "--webhook",
            "http://169.254.169.254/",
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("webhook_url_refused") && err.contains("metadata"),
        "{err}"
    );
    let bad = cli(&s, &["triggers", "create", &conn, "new_recording"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--webhook <url> or --pull"));
    let blocked = cli(&s, &["connections", "delete", &conn]);
    assert!(String::from_utf8_lossy(&blocked.stderr).contains("connection_referenced"));
    assert_eq!(
        json(&cli(&s, &["triggers", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );

    ok(&cli(&s, &["triggers", "delete", &id]));
    let left = json(&cli(
        &s,
        &["triggers", "list", "--connection", &conn, "--json"],
    ));
    assert_eq!(left.as_array().unwrap().len(), 1);
}
