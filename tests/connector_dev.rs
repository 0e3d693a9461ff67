//! The commands connector authors run without a server:
//! `plugboard connectors inspect` and `plugboard connectors run`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_plugboard");

fn plugboard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("PLUGBOARD_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run plugboard")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback API that records each request head and answers `{"ok":true}`.
fn recording_api() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let body = r#"{"ok":true}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn inspect_shows_the_scope_each_zoom_operation_needs() {
    let out = plugboard(&["connector", "inspect", "zoom"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let create = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("create_meeting"))
        .unwrap_or_else(|| panic!("no create_meeting line in:\n{stdout}"));
    assert!(create.contains("meeting:write"), "{create}");
    assert!(stdout.contains("oauth2_byoa"), "{stdout}");

    let json = plugboard(&["connector", "inspect", "zoom", "--json"], &[]);
    let manifest: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(manifest["id"], "zoom");
    assert_eq!(manifest["api_hosts"][0], "api.zoom.us");
}

#[test]
fn inspect_of_a_file_that_is_not_a_component_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-component.wasm");
    std::fs::write(&file, b"this is text, not wasm").unwrap();
    let out = plugboard(&["connector", "inspect", file.to_str().unwrap()], &[]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.to_lowercase().contains("component"), "{stderr}");

    let out = plugboard(&["connector", "inspect", "no-such-connector"], &[]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("zoom, oauth2, pat"), "{stderr}");
}

#[test]
fn run_sends_the_pat_in_the_configured_header_and_never_prints_it() {
    let (api, seen) = recording_api();
    const TOKEN: &str = "pat-local-run-7f3a";
    let out = plugboard(
        &[
            "connectors",
            "run",
            "pat",
            "request",
            "--input",
            r#"{"method":"GET","path":"/me"}"#,
            "--config",
            &format!("base_url={api}"),
            "--config",
            "header_name=X-API-Key",
            "--config",
            "header_prefix=",
            "--credential-env",
            "LOCAL_RUN_TOKEN",
            "--allow-loopback-egress",
        ],
        &[("LOCAL_RUN_TOKEN", TOKEN)],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"ok\": true"), "{stdout}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    let requests = seen.lock().unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let head = requests[0].to_ascii_lowercase();
    assert!(head.starts_with("get /me "), "{head}");
    assert!(
        head.contains(&format!("x-api-key: {TOKEN}")),
        "token not injected as configured: {head}"
    );
}

#[test]
fn run_refuses_loopback_unless_allowed_and_reads_no_token_from_argv() {
    let (api, seen) = recording_api();
    let out = plugboard(
        &[
            "connectors",
            "run",
            "pat",
            "request",
            "--input",
            r#"{"method":"GET","path":"/me"}"#,
            "--config",
            &format!("base_url={api}"),
        ],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("127.0.0.1 is refused (loopback)"),
        "{stderr}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "the request left the sandbox"
    );

    let out = plugboard(
        &[
            "connectors",
            "run",
            "pat",
            "request",
            "--credential-env",
            "UNSET_VAR_FOR_TEST",
        ],
        &[],
    );
    assert!(text(&out).1.contains("`UNSET_VAR_FOR_TEST` is not set"));
}
