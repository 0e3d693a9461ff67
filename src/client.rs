//! REST-client commands over the server's API. Human tables by default,
//! `--json` prints the server's JSON unchanged for scripts.
//!
//! The token comes from `--token` / `PLUGBOARD_TOKEN`, or else from the
//! `admin-token` file in `PLUGBOARD_DATA_DIR` (default `./.plugboard`). It is
//! sent only as a bearer header and never printed; the one token printed is
//! a new one, once, by `tokens create`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Args, Clone)]
pub struct Conn {
    /// Server URL (env PLUGBOARD_SERVER).
    #[arg(
        long,
        env = "PLUGBOARD_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// API token (env PLUGBOARD_TOKEN; default: the data directory's admin-token file).
    #[arg(long, env = "PLUGBOARD_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
pub enum ConnectorsCommand {
    /// List connectors.
    List(#[command(flatten)] Conn),
    /// Show a connector's auth types, scopes and operations.
    Show {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Upload a custom connector component (.wasm) to your tenant.
    Upload {
        file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a custom connector (refused while connections use it).
    Remove {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum FoldersCommand {
    /// List your folders.
    List(#[command(flatten)] Conn),
    /// Create a shared folder (administrators).
    Create {
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum ConnectionsCommand {
    /// List connections (filter by folder, connector, status).
    List {
        #[arg(long)]
        folder: Option<String>,
        #[arg(long)]
        connector: Option<String>,
        /// pending, connected or disconnected.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show one connection.
    Show {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a connection. Secret fields are read from the environment
    /// variable you name (`--credential-env token=MY_PAT`), never from argv.
    Create {
        connector: String,
        /// Auth type; omit when the connector has only one.
        #[arg(long)]
        auth_kind: Option<String>,
        /// Folder id (default: your personal workspace).
        #[arg(long)]
        folder: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Config field, `key=value` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Credential field read from an environment variable: `token=MY_PAT_VAR` (repeatable).
        #[arg(long = "credential-env", value_name = "FIELD=ENV_VAR")]
        credential_env: Vec<String>,
        #[arg(long)]
        polling_frequency: Option<u32>,
        /// OAuth sign-in: seconds to wait for it to finish.
        #[arg(long, default_value_t = 600)]
        wait: u64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Rename a connection.
    Rename {
        id: String,
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Edit name and polling frequency.
    Edit {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Seconds between polls.
        #[arg(long)]
        polling_frequency: Option<u32>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Make it the default connection of its connector in its folder.
    #[command(alias = "default")]
    SetDefault {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Check the connection with its connector.
    Check {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Reconnect with new credentials (read from environment variables),
    /// or, for OAuth, sign in again (the URL is printed and waited for).
    Reconnect {
        id: String,
        #[arg(long = "credential-env", value_name = "FIELD=ENV_VAR")]
        credential_env: Vec<String>,
        /// OAuth sign-in: seconds to wait for it to finish.
        #[arg(long, default_value_t = 600)]
        wait: u64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a connection (refused while referenced, unless --force).
    Delete {
        id: String,
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Set a user's console sign-in password (administrators). The password
    /// is read from a prompt, or from the environment variable named by
    /// `--password-env`; never from the command line. Ends the user's
    /// console sessions.
    SetPassword {
        /// User name in your tenant (the first admin is `admin`).
        name: String,
        /// Read the password from this environment variable instead of prompting.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum AppsCommand {
    /// Register an external application of your organization for the
    /// management APIs (`/identity/api/...`, `/odata/...`; administrators).
    /// Its client secret is printed once.
    Register {
        /// A name people recognise, e.g. `provisioning-script`.
        name: String,
        /// A scope its tokens may carry, e.g. `PM.User.Read` (repeatable).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// List your API tokens (ids, names, when made and last used; never the tokens).
    List(#[command(flatten)] Conn),
    /// Create an API token for yourself; it is printed once.
    Create {
        /// A label you will recognise, e.g. `ci`.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Revoke an API token by id: yours, or (administrators) any of your
    /// tenant's. It stops working at once.
    Revoke {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum TriggersCommand {
    /// Subscribe to a connector trigger of a connection. A webhook's
    /// signing secret is printed once.
    Create {
        /// Connection id.
        connection: String,
        /// Trigger name, e.g. `new_recording` (`plugboard connectors show <id>` lists them).
        trigger: String,
        /// Deliver by signed POST to this URL.
        #[arg(long, conflicts_with = "pull")]
        webhook: Option<String>,
        /// Keep events for `plugboard triggers events` instead.
        #[arg(long)]
        pull: bool,
        /// Trigger parameter, `key=value` (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List subscriptions (optionally of one connection).
    List {
        #[arg(long)]
        connection: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show one subscription.
    Show {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop polling a subscription.
    Pause {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Resume a paused subscription.
    Resume {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a subscription and its queued events.
    Delete {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// A subscription's events after a cursor (the pull API).
    Events {
        id: String,
        /// Events after this `seq`.
        #[arg(long, default_value_t = 0)]
        since: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[command(flatten)]
        conn: Conn,
    },
    /// A subscription's deliveries (pending, delivered, dead, pull).
    Deliveries {
        id: String,
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Dead letters of the subscriptions you can see.
    DeadLetters(#[command(flatten)] Conn),
    /// Queue a subscription's dead letters (or one, by --seq) again.
    Replay {
        id: String,
        #[arg(long)]
        seq: Option<i64>,
        #[command(flatten)]
        conn: Conn,
    },
    /// The tenant's operator events: connections broken and recovered, dead letters (administrators).
    OperatorEvents {
        #[arg(long, default_value_t = 0)]
        since: i64,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Args)]
pub struct InvokeArgs {
    /// Connection id.
    connection: String,
    /// Operation name.
    operation: String,
    /// Input JSON, or `@file.json`.
    #[arg(long, default_value = "{}")]
    input: String,
    #[command(flatten)]
    conn: Conn,
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    fn new(conn: &Conn) -> anyhow::Result<Self> {
        let token = match &conn.token {
            Some(t) => t.trim().to_string(),
            None => {
                let dir = std::env::var_os("PLUGBOARD_DATA_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(".plugboard"));
                let path = dir.join("admin-token");
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "no --token / PLUGBOARD_TOKEN given and `{}` cannot be read",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_string()
            }
        };
        Ok(Api {
            base: conn.server.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?,
        })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let code = value.get("code").and_then(Value::as_str).unwrap_or("error");
            let message = value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(value)
    }

    async fn upload(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let res = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "{} {}: {}",
                status.as_u16(),
                value.get("code").and_then(Value::as_str).unwrap_or("error"),
                value.get("message").and_then(Value::as_str).unwrap_or("")
            );
        }
        Ok(value)
    }
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(Value::Bool(b)) => {
            if *b {
                "yes".into()
            } else {
                "no".into()
            }
        }
        Some(other) => other.to_string(),
    }
}

/// Print rows as an aligned table.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for r in rows {
        line(r);
    }
}

/// GET a JSON array and print it: as JSON with `--json`, else as a table
/// with one row per element.
async fn list_table(
    conn: &Conn,
    path: &str,
    headers: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> anyhow::Result<()> {
    let v = Api::new(conn)?.call(Method::GET, path, None).await?;
    if conn.json {
        print_json(&v);
    } else {
        let rows = v.as_array().into_iter().flatten().map(row).collect();
        table(headers, rows);
    }
    Ok(())
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn connection_rows(items: &[Value]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|c| {
            vec![
                s(c, "id"),
                s(c, "name"),
                s(c, "connector"),
                c.get("account")
                    .map(|a| s(a, "display_name"))
                    .unwrap_or_else(|| "-".into()),
                s(c, "status"),
                if c.get("is_default").and_then(Value::as_bool) == Some(true) {
                    "*".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect()
}

/// Print `keys` of `v` as `key  value` lines.
fn print_fields(v: &Value, keys: &[&str]) {
    for key in keys {
        println!("{key:<26} {}", s(v, key));
    }
}

/// Send one request and print the answer: JSON with `--json`, else `human`.
async fn call_and_print(
    conn: &Conn,
    method: Method,
    path: &str,
    body: Option<Value>,
    human: impl Fn(&Value),
) -> anyhow::Result<()> {
    let v = Api::new(conn)?.call(method, path, body).await?;
    if conn.json {
        print_json(&v);
    } else {
        human(&v);
    }
    Ok(())
}

fn print_connection(c: &Value) {
    print_fields(
        c,
        &[
            "id",
            "name",
            "connector",
            "auth_kind",
            "folder_id",
            "status",
            "message",
            "provider_error",
            "polling_frequency_seconds",
            "is_default",
            "created_at",
            "updated_at",
        ],
    );
    if let Some(a) = c.get("account").filter(|a| !a.is_null()) {
        println!(
            "{:<26} {} ({})",
            "account",
            s(a, "display_name"),
            s(a, "id")
        );
    }
    if let Some(scopes) = c
        .get("granted_scopes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let list: Vec<String> = scopes
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        println!("{:<26} {}", "granted_scopes", list.join(", "));
    }
}

fn pairs(list: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in list {
        let (k, v) = item
            .split_once('=')
            .with_context(|| format!("{what} `{item}` must look like key=value"))?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn credentials_from_env(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (field, var) in pairs(list, "--credential-env")? {
        let value = std::env::var(&var).with_context(|| {
            format!("environment variable `{var}` (for credential `{field}`) is not set")
        })?;
        out.insert(field, value);
    }
    Ok(out)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn connectors(cmd: ConnectorsCommand) -> anyhow::Result<()> {
    match cmd {
        ConnectorsCommand::List(conn) => {
            list_table(
                &conn,
                "/api/v1/connectors",
                &["id", "name", "version", "source", "auth types"],
                |c| {
                    let auth_kinds = c["auth_kinds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![
                        s(c, "id"),
                        s(c, "name"),
                        s(c, "version"),
                        s(c, "source"),
                        auth_kinds,
                    ]
                },
            )
            .await?;
        }
        ConnectorsCommand::Show { id, conn } => {
            call_and_print(
                &conn,
                Method::GET,
                &format!("/api/v1/connectors/{}", enc(&id)),
                None,
                |v| {
                    println!(
                        "{} — {} {} ({})",
                        s(v, "id"),
                        s(v, "name"),
                        s(v, "version"),
                        s(v, "source")
                    );
                    println!("{}", s(v, "description"));
                    let m = &v["manifest"];
                    println!("\nAuth types:");
                    for a in m["auth_methods"].as_array().into_iter().flatten() {
                        let scopes: Vec<&str> = a["scopes_offered"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s["name"].as_str())
                            .collect();
                        println!(
                            "  {:<28} {}  scopes: {}",
                            s(a, "kind"),
                            s(a, "label"),
                            if scopes.is_empty() {
                                "-".into()
                            } else {
                                scopes.join(", ")
                            }
                        );
                    }
                    println!("\nOperations:");
                    let rows = m["operations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| {
                            let scopes: Vec<&str> = o["required_scopes"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .collect();
                            vec![s(o, "name"), scopes.join(", "), s(o, "description")]
                        })
                        .collect();
                    table(&["operation", "required scopes", "description"], rows);
                    if let Some(fields) = m["config_fields"].as_array().filter(|f| !f.is_empty()) {
                        println!("\nConfig fields:");
                        for f in fields {
                            println!(
                                "  {:<16} {}{}",
                                s(f, "name"),
                                s(f, "label"),
                                if f["required"] == json!(true) {
                                    " (required)"
                                } else {
                                    ""
                                }
                            );
                        }
                    }
                },
            )
            .await?;
        }
        ConnectorsCommand::Upload { file, conn } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("cannot read `{}`", file.display()))?;
            let v = Api::new(&conn)?.upload("/api/v1/connectors", bytes).await?;
            if conn.json {
                print_json(&v);
                return Ok(());
            }
            println!(
                "Uploaded connector `{}` version {} ({})",
                s(&v, "id"),
                s(&v, "version"),
                s(&v, "content_hash")
            );
        }
        ConnectorsCommand::Remove { id, conn } => {
            Api::new(&conn)?
                .call(
                    Method::DELETE,
                    &format!("/api/v1/connectors/{}", enc(&id)),
                    None,
                )
                .await?;
            if !conn.json {
                println!("Removed connector `{id}`");
            }
        }
    }
    Ok(())
}

pub async fn folders(cmd: FoldersCommand) -> anyhow::Result<()> {
    match cmd {
        FoldersCommand::List(conn) => {
            list_table(&conn, "/api/v1/folders", &["id", "name", "kind"], |f| {
                vec![s(f, "id"), s(f, "name"), s(f, "kind")]
            })
            .await?;
        }
        FoldersCommand::Create { name, conn } => {
            call_and_print(
                &conn,
                Method::POST,
                "/api/v1/folders",
                Some(json!({ "name": name })),
                |v| {
                    println!("Created shared folder `{}` ({})", s(v, "name"), s(v, "id"));
                },
            )
            .await?;
        }
    }
    Ok(())
}

fn print_warnings(v: &Value) {
    for w in v["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", s(w, "message"));
    }
}

/// After printing an authorize URL: poll the connection until the
/// provider's callback changed it (Connected, or Disconnected with the
/// reason), or until `timeout`.
async fn await_authorization(api: &Api, started: &Value, timeout: Duration) -> anyhow::Result<()> {
    let id = s(started, "id");
    let before = started["updated_at"].clone();
    println!(
        "Waiting for the sign-in to finish (up to {} s)…",
        timeout.as_secs()
    );
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = api
            .call(
                Method::GET,
                &format!("/api/v1/connections/{}", enc(&id)),
                None,
            )
            .await?;
        if now["status"] != json!("pending") && now["updated_at"] != before {
            print_connection(&now);
            if now["status"] != json!("connected") {
                bail!("the sign-in did not succeed: {}", s(&now, "message"));
            }
            return Ok(());
        }
    }
    bail!(
        "the sign-in did not finish within {} s; `plugboard connections show {id}` shows where it stands, and the URL works until it expires",
        timeout.as_secs()
    )
}

pub async fn connections(cmd: ConnectionsCommand) -> anyhow::Result<()> {
    match cmd {
        ConnectionsCommand::List {
            folder,
            connector,
            status,
            conn,
        } => {
            let mut query = Vec::new();
            if let Some(f) = folder {
                query.push(format!("folder_id={}", enc(&f)));
            }
            if let Some(c) = connector {
                query.push(format!("connector={}", enc(&c)));
            }
            if let Some(s) = status {
                query.push(format!("status={}", enc(&s)));
            }
            let path = if query.is_empty() {
                "/api/v1/connections".to_string()
            } else {
                format!("/api/v1/connections?{}", query.join("&"))
            };
            call_and_print(&conn, Method::GET, &path, None, |v| {
                let items = v["items"].as_array().cloned().unwrap_or_default();
                table(
                    &["id", "name", "connector", "account", "status", "default"],
                    connection_rows(&items),
                );
            })
            .await?;
        }
        ConnectionsCommand::Show { id, conn } => {
            call_and_print(
                &conn,
                Method::GET,
                &format!("/api/v1/connections/{}", enc(&id)),
                None,
                print_connection,
            )
            .await?;
        }
        ConnectionsCommand::Create {
            connector,
            auth_kind,
            folder,
            name,
            config,
            credential_env,
            polling_frequency,
            wait,
            conn,
        } => {
            let mut body = json!({
                "connector": connector,
                "config": pairs(&config, "--config")?,
                "credentials": credentials_from_env(&credential_env)?,
            });
            if let Some(k) = auth_kind {
                body["auth_kind"] = json!(k);
            }
            if let Some(f) = folder {
                body["folder_id"] = json!(f);
            }
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(p) = polling_frequency {
                body["polling_frequency_seconds"] = json!(p);
            }
            let api = Api::new(&conn)?;
            let v = api
                .call(Method::POST, "/api/v1/connections", Some(body))
                .await?;
            if conn.json {
                print_json(&v);
                return Ok(());
            }
            let c = &v["connection"];
            print_warnings(&v);
            if let Some(url) = v["authorize_url"].as_str() {
                println!("Open this URL to authorize the connection:\n\n  {url}\n");
                await_authorization(&api, c, Duration::from_secs(wait)).await?;
            } else {
                println!("Created connection:");
                print_connection(c);
            }
        }
        ConnectionsCommand::Rename { id, name, conn } => {
            call_and_print(
                &conn,
                Method::PATCH,
                &format!("/api/v1/connections/{}", enc(&id)),
                Some(json!({ "name": name })),
                |v| {
                    println!("Renamed to `{}`", s(v, "name"));
                },
            )
            .await?;
        }
        ConnectionsCommand::Edit {
            id,
            name,
            polling_frequency,
            conn,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(p) = polling_frequency {
                body.insert("polling_frequency_seconds".into(), json!(p));
            }
            if body.is_empty() {
                bail!("nothing to edit: give --name and/or --polling-frequency");
            }
            call_and_print(
                &conn,
                Method::PATCH,
                &format!("/api/v1/connections/{}", enc(&id)),
                Some(Value::Object(body)),
                print_connection,
            )
            .await?;
        }
        ConnectionsCommand::SetDefault { id, conn } => {
            call_and_print(
                &conn,
                Method::POST,
                &format!("/api/v1/connections/{}/default", enc(&id)),
                None,
                |v| {
                    println!(
                        "`{}` is now the default {} connection in its folder",
                        s(v, "name"),
                        s(v, "connector")
                    );
                },
            )
            .await?;
        }
        ConnectionsCommand::Check { id, conn } => {
            call_and_print(
                &conn,
                Method::POST,
                &format!("/api/v1/connections/{}/check", enc(&id)),
                None,
                |v| {
                    println!(
                        "{}: {}",
                        if v["ok"] == json!(true) {
                            "Connected"
                        } else {
                            "Disconnected"
                        },
                        s(v, "message")
                    );
                    if let Some(p) = v["connection"]["provider_error"].as_str() {
                        println!("Provider error message: {p}");
                    }
                },
            )
            .await?;
        }
        ConnectionsCommand::Reconnect {
            id,
            credential_env,
            wait,
            conn,
        } => {
            let body = json!({ "credentials": credentials_from_env(&credential_env)? });
            let api = Api::new(&conn)?;
            let v = api
                .call(
                    Method::POST,
                    &format!("/api/v1/connections/{}/reconnect", enc(&id)),
                    Some(body),
                )
                .await?;
            if conn.json {
                print_json(&v);
                return Ok(());
            }
            print_warnings(&v);
            if let Some(url) = v["authorize_url"].as_str() {
                println!("Open this URL to reconnect:\n\n  {url}\n");
                await_authorization(&api, &v["connection"], Duration::from_secs(wait)).await?;
            } else {
                println!("Reconnected:");
                print_connection(&v["connection"]);
            }
        }
        ConnectionsCommand::Delete { id, force, conn } => {
            let path = format!(
                "/api/v1/connections/{}{}",
                enc(&id),
                if force { "?force=true" } else { "" }
            );
            let v = Api::new(&conn)?.call(Method::DELETE, &path, None).await?;
            if !conn.json {
                println!("Deleted connection {id}");
                print_warnings(&v);
            }
        }
    }
    Ok(())
}

pub async fn invoke(args: InvokeArgs) -> anyhow::Result<()> {
    let text = match args.input.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read `{path}`"))?
        }
        None => args.input.clone(),
    };
    let input: Value = serde_json::from_str(&text).context("--input is not valid JSON")?;
    let v = Api::new(&args.conn)?
        .call(
            Method::POST,
            &format!(
                "/api/v1/connections/{}/invoke/{}",
                enc(&args.connection),
                enc(&args.operation)
            ),
            Some(input),
        )
        .await?;
    if args.conn.json {
        print_json(&v);
    } else {
        print_json(&v["output"]);
    }
    Ok(())
}

pub async fn users(cmd: UsersCommand) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::SetPassword {
            name,
            password_env,
            conn,
        } => {
            let password = match password_env {
                Some(var) => std::env::var(&var).with_context(|| {
                    format!("--password-env {var}: the environment variable `{var}` is not set")
                })?,
                None => prompt_new_password(&name)?,
            };
            Api::new(&conn)?
                .call(
                    Method::PUT,
                    &format!("/api/v1/users/{}/password", enc(&name)),
                    Some(json!({ "password": password })),
                )
                .await?;
            println!(
                "Password of `{name}` set; they can sign in to the console at {}/console/",
                conn.server.trim_end_matches('/')
            );
        }
    }
    Ok(())
}

pub async fn apps(cmd: AppsCommand) -> anyhow::Result<()> {
    match cmd {
        AppsCommand::Register { name, scopes, conn } => {
            let body = json!({ "name": name, "scopes": scopes });
            call_and_print(
                &conn,
                Method::POST,
                "/api/v1/external-apps",
                Some(body),
                |v| {
                    println!("Registered `{}`:", s(v, "name"));
                    print_fields(v, &["client_id", "token_url"]);
                    println!(
                        "\nClient secret (shown once; store it now):\n\n  {}",
                        s(v, "client_secret")
                    );
                },
            )
            .await
        }
    }
}

pub async fn tokens(cmd: TokensCommand) -> anyhow::Result<()> {
    match cmd {
        TokensCommand::List(conn) => {
            list_table(
                &conn,
                "/api/v1/tokens",
                &["id", "name", "created", "last used"],
                |t| {
                    vec![
                        s(t, "id"),
                        s(t, "name"),
                        s(t, "created_at"),
                        s(t, "last_used_at"),
                    ]
                },
            )
            .await
        }
        TokensCommand::Create { name, conn } => {
            call_and_print(
                &conn,
                Method::POST,
                "/api/v1/tokens",
                Some(json!({ "name": name })),
                |v| {
                    println!("Created API token `{}` ({}).", s(v, "name"), s(v, "id"));
                    println!("\nToken (shown once; store it now):\n\n  {}", s(v, "token"));
                },
            )
            .await
        }
        TokensCommand::Revoke { id, conn } => {
            let path = format!("/api/v1/tokens/{}", enc(&id));
            call_and_print(&conn, Method::DELETE, &path, None, |_| {
                println!("Revoked API token {id}")
            })
            .await
        }
    }
}

fn destination(sub: &Value) -> String {
    let d = &sub["destination"];
    match d["kind"].as_str() {
        Some("webhook") => s(d, "url"),
        _ => "pull".into(),
    }
}

fn print_subscription(v: &Value) {
    print_fields(
        v,
        &[
            "id",
            "connection_id",
            "trigger",
            "enabled",
            "last_polled_at",
            "last_error",
            "created_at",
        ],
    );
    println!("{:<26} {}", "destination", destination(v));
    println!("{:<26} {}", "parameters", v["parameters"]);
}

fn event_row(e: &Value) -> Vec<String> {
    vec![
        s(e, "seq"),
        s(e, "event_id"),
        s(e, "type"),
        s(e, "state"),
        s(e, "attempts"),
        s(e, "last_error"),
    ]
}

const EVENT_HEADERS: [&str; 6] = ["seq", "event id", "type", "state", "attempts", "last error"];

pub async fn triggers(cmd: TriggersCommand) -> anyhow::Result<()> {
    let sub_path = |id: &str, tail: &str| format!("/api/v1/triggers/{}{tail}", enc(id));
    match cmd {
        TriggersCommand::Create {
            connection,
            trigger,
            webhook,
            pull,
            params,
            conn,
        } => {
            let destination = match (webhook, pull) {
                (Some(url), _) => json!({ "kind": "webhook", "url": url }),
                (None, true) => json!({ "kind": "pull" }),
                (None, false) => bail!("say where events go: --webhook <url> or --pull"),
            };
            let body = json!({
                "connection_id": connection,
                "trigger": trigger,
                "parameters": pairs(&params, "--param")?,
                "destination": destination,
            });
            call_and_print(&conn, Method::POST, "/api/v1/triggers", Some(body), |v| {
                println!("Created subscription:");
                print_subscription(&v["subscription"]);
                if let Some(secret) = v["webhook_secret"].as_str() {
                    println!(
                        "\nWebhook signing secret (shown once; verify the Plugboard-Signature header with it):\n\n  {secret}"
                    );
                }
            })
            .await?;
        }
        TriggersCommand::List { connection, conn } => {
            let path = match connection {
                Some(c) => format!("/api/v1/triggers?connection_id={}", enc(&c)),
                None => "/api/v1/triggers".into(),
            };
            list_table(
                &conn,
                &path,
                &[
                    "id",
                    "connection",
                    "trigger",
                    "destination",
                    "enabled",
                    "last error",
                ],
                |t| {
                    vec![
                        s(t, "id"),
                        s(t, "connection_id"),
                        s(t, "trigger"),
                        destination(t),
                        s(t, "enabled"),
                        s(t, "last_error"),
                    ]
                },
            )
            .await?;
        }
        TriggersCommand::Show { id, conn } => {
            call_and_print(
                &conn,
                Method::GET,
                &sub_path(&id, ""),
                None,
                print_subscription,
            )
            .await?;
        }
        TriggersCommand::Pause { id, conn } => {
            call_and_print(&conn, Method::POST, &sub_path(&id, "/pause"), None, |v| {
                println!("Paused subscription {}", s(v, "id"))
            })
            .await?;
        }
        TriggersCommand::Resume { id, conn } => {
            call_and_print(&conn, Method::POST, &sub_path(&id, "/resume"), None, |v| {
                println!("Resumed subscription {}", s(v, "id"))
            })
            .await?;
        }
        TriggersCommand::Delete { id, conn } => {
            call_and_print(&conn, Method::DELETE, &sub_path(&id, ""), None, |_| {
                println!("Deleted subscription {id}")
            })
            .await?;
        }
        TriggersCommand::Events {
            id,
            since,
            limit,
            conn,
        } => {
            let path = sub_path(&id, &format!("/events?since={since}&limit={limit}"));
            list_table(&conn, &path, &EVENT_HEADERS, event_row).await?;
        }
        TriggersCommand::Deliveries { id, state, conn } => {
            let tail = match state {
                Some(st) => format!("/deliveries?state={}", enc(&st)),
                None => "/deliveries".into(),
            };
            list_table(&conn, &sub_path(&id, &tail), &EVENT_HEADERS, event_row).await?;
        }
        TriggersCommand::DeadLetters(conn) => {
            let mut headers = vec!["subscription"];
            headers.extend(EVENT_HEADERS);
            list_table(&conn, "/api/v1/triggers/dead-letters", &headers, |e| {
                let mut row = vec![s(e, "subscription")];
                row.extend(event_row(e));
                row
            })
            .await?;
        }
        TriggersCommand::Replay { id, seq, conn } => {
            let body = match seq {
                Some(n) => json!({ "seq": n }),
                None => json!({}),
            };
            call_and_print(
                &conn,
                Method::POST,
                &sub_path(&id, "/replay"),
                Some(body),
                |v| println!("Queued {} dead letter(s) again", s(v, "replayed")),
            )
            .await?;
        }
        TriggersCommand::OperatorEvents { since, conn } => {
            let path = format!("/api/v1/triggers/operator-events?since={since}");
            list_table(&conn, &path, &EVENT_HEADERS, event_row).await?;
        }
    }
    Ok(())
}

/// Asks twice on the terminal, without echo.
fn prompt_new_password(name: &str) -> anyhow::Result<String> {
    let no_tty = "cannot prompt for a password (no terminal); pass --password-env VAR with the password in VAR";
    let first =
        rpassword::prompt_password(format!("New password for `{name}`: ")).context(no_tty)?;
    let again = rpassword::prompt_password("Again: ").context(no_tty)?;
    if first != again {
        bail!("the two passwords differ; nothing was changed, run the command again");
    }
    Ok(first)
}
