//! Server configuration: defaults, an optional TOML file, `PLUGBOARD_*`
//! environment variables and command-line flags, in rising precedence.
//!
//! This module owns parsing and defaults only. It never logs a secret: the
//! OAuth client secrets it holds are [`Redacted`] and print as `[redacted]`.
//!
//! | key (TOML)                  | environment                               | default |
//! |-----------------------------|-------------------------------------------|---------|
//! | `listen`                    | `PLUGBOARD_LISTEN`                        | `127.0.0.1:8080` (port 0: any free port) |
//! | `public_url`                | `PLUGBOARD_PUBLIC_URL`                    | `http://<bound address>` |
//! | `database_url`              | `PLUGBOARD_DATABASE_URL`                  | `sqlite://<data_dir>/plugboard.db` |
//! | `data_dir`                  | `PLUGBOARD_DATA_DIR`                      | `./.plugboard` (relative to the working directory) |
//! | `egress.allow_loopback`     | `PLUGBOARD_ALLOW_LOOPBACK_EGRESS`         | `false` |
//! | `egress.allow_private`      | `PLUGBOARD_ALLOW_PRIVATE_EGRESS`          | `false` |
//! | `egress.ca_file`            | `PLUGBOARD_EGRESS_CA_FILE`                | none (system roots only) |
//! | `limits.call_timeout_ms`    | `PLUGBOARD_CALL_TIMEOUT_MS`               | `60000` |
//! | `limits.cpu_ms`             | `PLUGBOARD_CALL_CPU_MS`                   | `2000` |
//! | `limits.memory_mib`         | `PLUGBOARD_CALL_MEMORY_MIB`               | `64` |
//! | `limits.http_calls`         | `PLUGBOARD_CALL_HTTP_CALLS`               | `50` |
//! | `limits.response_bytes`     | `PLUGBOARD_CALL_RESPONSE_BYTES`           | `8 MiB` |
//! | `limits.max_instances`     | `PLUGBOARD_MAX_INSTANCES`                 | `256` (sandbox pool slots) |
//! | `limits.tenant_calls`      | `PLUGBOARD_TENANT_CALLS`                  | a quarter of the pool (0: no limit) |
//! | `limits.connection_calls`  | `PLUGBOARD_CONNECTION_CALLS`              | a quarter of a tenant's (0: no limit) |
//! | `limits.request_body_bytes` | `PLUGBOARD_REQUEST_BODY_BYTES`            | `1 MiB` |
//! | `limits.component_bytes`    | `PLUGBOARD_COMPONENT_BYTES`               | `32 MiB` |
//! | `edge.max_connections`     | `PLUGBOARD_MAX_CONNECTIONS`               | `4096` (lowered to fit the open-files limit) |
//! | `edge.header_timeout_ms`   | `PLUGBOARD_HEADER_TIMEOUT_MS`             | `15000` (also the idle keep-alive) |
//! | `edge.body_timeout_ms`     | `PLUGBOARD_BODY_TIMEOUT_MS`               | `60000` (a whole request body) |
//! | `token_cache_ms`            | `PLUGBOARD_TOKEN_CACHE_MS`                | `2000` (0: off) |
//! | `connection_cache_ms`       | `PLUGBOARD_CONNECTION_CACHE_MS`           | `2000` (0: off) |
//! | `connectors.<id>.client_id` | `PLUGBOARD_CONNECTOR_<ID>_CLIENT_ID`      | none |
//! | `connectors.<id>.client_secret` | `PLUGBOARD_CONNECTOR_<ID>_CLIENT_SECRET` | none |
//! | `connectors.<id>.base_url`  | `PLUGBOARD_CONNECTOR_<ID>_BASE_URL`       | the connector's own |
//! | `connectors.<id>.oauth_base_url` | `PLUGBOARD_CONNECTOR_<ID>_OAUTH_BASE_URL` | the manifest's OAuth endpoints |
//!
//! `<ID>` is the connector id upper-cased with `-` as `_` (`zoom` → `ZOOM`).
//! The file is named by `--config` or `PLUGBOARD_CONFIG`; unknown keys in it
//! are an error, so a typo does not silently fall back to a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

/// A string that must not be printed: Debug and Display say `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(s: impl Into<String>) -> Self {
        Redacted(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Per-call limits handed to the runtime, and request limits of the API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock limit of one connector call, milliseconds.
    pub call_timeout_ms: u64,
    /// Guest CPU time of one connector call, milliseconds.
    pub cpu_ms: u64,
    /// Linear memory of one connector instance, MiB.
    pub memory_mib: u64,
    /// HTTP requests one connector call may send.
    pub http_calls: u32,
    /// Largest HTTP response body a connector may receive, bytes.
    pub response_bytes: u64,
    /// Sandbox instances that may exist at once (the pool's slots).
    pub max_instances: u32,
    /// Connector calls one tenant may have in flight (0: no limit); past
    /// it calls are answered 429 with `Retry-After`.
    pub tenant_calls: u32,
    /// Connector calls one connection may have in flight (0: no limit).
    pub connection_calls: u32,
    /// Largest JSON request body the API accepts, bytes.
    pub request_body_bytes: usize,
    /// Largest connector component an upload may carry, bytes.
    pub component_bytes: usize,
}

/// Sandbox pool slots by default.
const DEFAULT_INSTANCES: u32 = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout_ms: 60_000,
            cpu_ms: 2_000,
            memory_mib: 64,
            http_calls: 50,
            response_bytes: 8 * 1024 * 1024,
            max_instances: DEFAULT_INSTANCES,
            tenant_calls: plugboard_runtime::ConcurrencyLimits::for_pool(DEFAULT_INSTANCES)
                .per_tenant,
            connection_calls: plugboard_runtime::ConcurrencyLimits::for_pool(DEFAULT_INSTANCES)
                .per_connection,
            request_body_bytes: 1024 * 1024,
            component_bytes: 32 * 1024 * 1024,
        }
    }
}

/// What a client may hold at the network edge (see `crate::edge`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Edge {
    /// Open client connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time to send a request's headers, milliseconds; also the longest a
    /// keep-alive connection may sit idle.
    pub header_timeout_ms: u64,
    /// Time to send a whole request body, milliseconds.
    pub body_timeout_ms: u64,
}

impl Default for Edge {
    fn default() -> Self {
        let limits = crate::edge::EdgeLimits::default();
        Edge {
            max_connections: limits.max_connections,
            header_timeout_ms: limits.header_timeout.as_millis() as u64,
            body_timeout_ms: limits.body_timeout.as_millis() as u64,
        }
    }
}

impl Edge {
    /// The limits the accept loop applies.
    pub fn limits(&self) -> crate::edge::EdgeLimits {
        crate::edge::EdgeLimits {
            max_connections: self.max_connections.max(1),
            header_timeout: std::time::Duration::from_millis(self.header_timeout_ms.max(1)),
            body_timeout: std::time::Duration::from_millis(self.body_timeout_ms.max(1)),
        }
    }
}

/// Where connectors may send requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Egress {
    /// Allow loopback destinations (127.0.0.0/8, ::1). Off by default:
    /// turning it on lets connectors reach this machine. Tests turn it on
    /// to reach their loopback fakes.
    pub allow_loopback: bool,
    /// Allow private ranges (10/8, 172.16/12, 192.168/16, CGNAT, fc00::/7).
    /// Off by default. Link-local and metadata addresses are always refused.
    pub allow_private: bool,
    /// PEM file of certificate authorities trusted for connector egress
    /// besides the system's: APIs behind a private CA (often the ones that
    /// take client certificates).
    pub ca_file: Option<PathBuf>,
}

/// Operator settings for one connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorSettings {
    /// The operator's OAuth app (authorization-code kinds without BYOA).
    pub client_id: Option<String>,
    pub client_secret: Option<Redacted>,
    /// Replaces the connector's API base URL (and is allowed as an API host).
    pub base_url: Option<Url>,
    /// Replaces the scheme, host and port of the connector's OAuth
    /// endpoints (authorize, token, revoke), keeping their paths: a
    /// provider's staging site, or a local fake in tests.
    pub oauth_base_url: Option<Url>,
}

/// The TOML file, all keys optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    egress: Option<Egress>,
    #[serde(default)]
    limits: Option<Limits>,
    #[serde(default)]
    edge: Option<Edge>,
    token_cache_ms: Option<u64>,
    connection_cache_ms: Option<u64>,
    #[serde(default)]
    connectors: BTreeMap<String, ConnectorSettings>,
}

/// Values given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub allow_loopback_egress: Option<bool>,
    pub allow_private_egress: Option<bool>,
    /// `(connector id, base URL)` pairs from `--connector-base-url id=url`.
    pub connector_base_urls: Vec<(String, String)>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Base URL people and providers reach this server at; `None` means
    /// "derive from the bound address" (see [`Config::public_url_for`]).
    pub public_url: Option<Url>,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub egress: Egress,
    pub limits: Limits,
    pub edge: Edge,
    /// How long an API token's owner is answered from memory, milliseconds
    /// (0: every request reads the database). A user deleted through
    /// another replica keeps working here at most this long; see
    /// `plugboard_store::token_cache`.
    pub token_cache_ms: u64,
    /// How long a call reuses what it read of a connection (row, folder
    /// access, sealed PAT), milliseconds (0: every call reads the
    /// database). A change made through another replica reaches calls here
    /// at most this late; see `plugboard_store::ttl_cache`.
    pub connection_cache_ms: u64,
    pub connectors: BTreeMap<String, ConnectorSettings>,
}

fn default_token_cache_ms() -> u64 {
    plugboard_store::DEFAULT_TOKEN_CACHE_TTL.as_millis() as u64
}

fn default_connection_cache_ms() -> u64 {
    plugboard_store::DEFAULT_CONNECTION_CACHE_TTL.as_millis() as u64
}

/// Why the configuration could not be built. Each names the key and source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file `{path}` is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("{source_name} `{value}` is not a valid {what}: {message}")]
    Invalid {
        source_name: String,
        value: String,
        what: &'static str,
        message: String,
    },
}

fn invalid(
    source_name: &str,
    value: &str,
    what: &'static str,
    message: impl ToString,
) -> ConfigError {
    ConfigError::Invalid {
        source_name: source_name.to_string(),
        value: value.to_string(),
        what,
        message: message.to_string(),
    }
}

impl Config {
    /// The configuration for tests and embedding: loopback, any free port,
    /// everything under `data_dir`.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Config {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            public_url: None,
            database_url: default_database_url(&data_dir),
            data_dir,
            egress: Egress::default(),
            limits: Limits::default(),
            edge: Edge::default(),
            token_cache_ms: default_token_cache_ms(),
            connection_cache_ms: default_connection_cache_ms(),
            connectors: BTreeMap::new(),
        }
    }

    /// Build the configuration from the process environment and `overrides`.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, or a value that is not valid
    /// for its key; the error names the key and where it came from.
    pub fn load(overrides: Overrides) -> Result<Self, ConfigError> {
        Self::load_from(overrides, std::env::vars())
    }

    /// [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(
        overrides: Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("PLUGBOARD_"))
            .collect();

        let file_path = overrides
            .config_file
            .clone()
            .or_else(|| env.get("PLUGBOARD_CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };

        // listen
        let (listen_src, listen_raw) = pick(
            ("--listen", overrides.listen.clone()),
            ("PLUGBOARD_LISTEN", env.get("PLUGBOARD_LISTEN").cloned()),
            ("config `listen`", file.listen.clone()),
        )
        .unwrap_or(("default", "127.0.0.1:8080".to_string()));
        let listen: SocketAddr = listen_raw
            .parse()
            .map_err(|e| invalid(listen_src, &listen_raw, "socket address (ip:port)", e))?;

        // data dir
        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| env.get("PLUGBOARD_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(".plugboard"));

        // public url
        let public_url = match pick(
            ("--public-url", overrides.public_url.clone()),
            (
                "PLUGBOARD_PUBLIC_URL",
                env.get("PLUGBOARD_PUBLIC_URL").cloned(),
            ),
            ("config `public_url`", file.public_url.clone()),
        ) {
            Some((src, raw)) => Some(parse_base_url(src, &raw)?),
            None => None,
        };

        // database
        let database_url = pick(
            ("--database", overrides.database_url.clone()),
            (
                "PLUGBOARD_DATABASE_URL",
                env.get("PLUGBOARD_DATABASE_URL").cloned(),
            ),
            ("config `database_url`", file.database_url.clone()),
        )
        .map(|(_, v)| v)
        .unwrap_or_else(|| default_database_url(&data_dir));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database URL",
                &redact_url(&database_url),
                "database URL",
                "expected `sqlite://path` or `postgres://user@host/db`",
            ));
        }

        // egress
        let mut egress = file.egress.clone().unwrap_or_default();
        if let Some(v) = env.get("PLUGBOARD_ALLOW_PRIVATE_EGRESS") {
            egress.allow_private = parse_bool("PLUGBOARD_ALLOW_PRIVATE_EGRESS", v)?;
        }
        if let Some(v) = env.get("PLUGBOARD_ALLOW_LOOPBACK_EGRESS") {
            egress.allow_loopback = parse_bool("PLUGBOARD_ALLOW_LOOPBACK_EGRESS", v)?;
        }
        if let Some(v) = env.get("PLUGBOARD_EGRESS_CA_FILE") {
            egress.ca_file = Some(PathBuf::from(v));
        }
        if let Some(v) = overrides.allow_private_egress {
            egress.allow_private = v;
        }
        if let Some(v) = overrides.allow_loopback_egress {
            egress.allow_loopback = v;
        }

        // limits
        let mut limits = file.limits.clone().unwrap_or_default();
        macro_rules! env_num {
            ($key:literal, $field:expr) => {
                if let Some(v) = env.get($key) {
                    $field = v
                        .trim()
                        .parse()
                        .map_err(|e| invalid($key, v, "number", e))?;
                }
            };
        }
        env_num!("PLUGBOARD_CALL_TIMEOUT_MS", limits.call_timeout_ms);
        env_num!("PLUGBOARD_CALL_CPU_MS", limits.cpu_ms);
        env_num!("PLUGBOARD_CALL_MEMORY_MIB", limits.memory_mib);
        env_num!("PLUGBOARD_CALL_HTTP_CALLS", limits.http_calls);
        env_num!("PLUGBOARD_CALL_RESPONSE_BYTES", limits.response_bytes);
        env_num!("PLUGBOARD_MAX_INSTANCES", limits.max_instances);
        env_num!("PLUGBOARD_TENANT_CALLS", limits.tenant_calls);
        env_num!("PLUGBOARD_CONNECTION_CALLS", limits.connection_calls);
        env_num!("PLUGBOARD_REQUEST_BODY_BYTES", limits.request_body_bytes);
        env_num!("PLUGBOARD_COMPONENT_BYTES", limits.component_bytes);
        let mut edge = file.edge.clone().unwrap_or_default();
        env_num!("PLUGBOARD_MAX_CONNECTIONS", edge.max_connections);
        env_num!("PLUGBOARD_HEADER_TIMEOUT_MS", edge.header_timeout_ms);
        env_num!("PLUGBOARD_BODY_TIMEOUT_MS", edge.body_timeout_ms);
        let mut token_cache_ms = file.token_cache_ms.unwrap_or_else(default_token_cache_ms);
        env_num!("PLUGBOARD_TOKEN_CACHE_MS", token_cache_ms);
        let mut connection_cache_ms = file
            .connection_cache_ms
            .unwrap_or_else(default_connection_cache_ms);
        env_num!("PLUGBOARD_CONNECTION_CACHE_MS", connection_cache_ms);

        // connectors: file, then env, then flags
        let mut connectors = file.connectors.clone();
        for (key, value) in &env {
            let Some(rest) = key.strip_prefix("PLUGBOARD_CONNECTOR_") else {
                continue;
            };
            let (id, field) = if let Some(id) = rest.strip_suffix("_CLIENT_ID") {
                (id, "client_id")
            } else if let Some(id) = rest.strip_suffix("_CLIENT_SECRET") {
                (id, "client_secret")
            } else if let Some(id) = rest.strip_suffix("_OAUTH_BASE_URL") {
                (id, "oauth_base_url")
            } else if let Some(id) = rest.strip_suffix("_BASE_URL") {
                (id, "base_url")
            } else {
                return Err(invalid(
                    key,
                    "…",
                    "connector setting",
                    "expected PLUGBOARD_CONNECTOR_<ID>_CLIENT_ID, _CLIENT_SECRET, _BASE_URL or _OAUTH_BASE_URL",
                ));
            };
            let id = id.to_ascii_lowercase().replace('_', "-");
            let entry = connectors.entry(id).or_default();
            match field {
                "client_id" => entry.client_id = Some(value.clone()),
                "client_secret" => entry.client_secret = Some(Redacted::new(value.clone())),
                "oauth_base_url" => entry.oauth_base_url = Some(parse_base_url(key, value)?),
                _ => entry.base_url = Some(parse_base_url(key, value)?),
            }
        }
        for (id, url) in &overrides.connector_base_urls {
            let entry = connectors.entry(id.clone()).or_default();
            entry.base_url = Some(parse_base_url("--connector-base-url", url)?);
        }
        for (id, settings) in &connectors {
            if let Some(url) = &settings.base_url {
                check_http_url(&format!("connectors.{id}.base_url"), url)?;
            }
            if let Some(url) = &settings.oauth_base_url {
                check_http_url(&format!("connectors.{id}.oauth_base_url"), url)?;
            }
            if settings.client_id.is_some() != settings.client_secret.is_some() {
                let (id_env, secret_env) = plugboard_auth::env_keys(id);
                return Err(invalid(
                    &format!("connectors.{id}"),
                    "…",
                    "OAuth app",
                    format!(
                        "set both the client id and the client secret (`{id_env}` and `{secret_env}`, or `client_id` and `client_secret` under [connectors.{id}]), or neither"
                    ),
                ));
            }
        }

        Ok(Config {
            listen,
            public_url,
            database_url,
            data_dir,
            egress,
            limits,
            edge,
            token_cache_ms,
            connection_cache_ms,
            connectors,
        })
    }

    /// The public base URL, given the address actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> Url {
        match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let host = if bound.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else if bound.is_ipv6() {
                    format!("[{}]", bound.ip())
                } else {
                    bound.ip().to_string()
                };
                Url::parse(&format!("http://{host}:{}/", bound.port()))
                    .expect("an address always makes a URL")
            }
        }
    }

    /// The OAuth redirect URI: `<public>/provisioning_/callback`.
    pub fn redirect_uri_for(&self, bound: SocketAddr) -> Url {
        self.public_url_for(bound)
            .join("provisioning_/callback")
            .expect("relative join on an http URL")
    }
}

fn pick(
    a: (&'static str, Option<String>),
    b: (&'static str, Option<String>),
    c: (&'static str, Option<String>),
) -> Option<(&'static str, String)> {
    [a, b, c]
        .into_iter()
        .find_map(|(src, v)| v.map(|v| (src, v)))
}

fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("plugboard.db").display())
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(invalid(key, v, "boolean", "expected true or false")),
    }
}

/// A base URL: absolute http(s); a trailing `/` is added so joins keep the path.
fn parse_base_url(src: &str, raw: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(raw.trim()).map_err(|e| invalid(src, raw, "URL", e))?;
    check_http_url(src, &url)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn check_http_url(src: &str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            src,
            url.as_str(),
            "URL",
            "expected an absolute http:// or https:// URL",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            src,
            &redact_url(url.as_str()),
            "URL",
            "credentials do not belong in a URL; configure them separately",
        ));
    }
    Ok(())
}

/// A URL with any password replaced, safe for messages and logs.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparsable URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::load_from(Overrides::default(), env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from(".plugboard"));
        assert!(
            c.database_url
                .starts_with("sqlite://.plugboard/plugboard.db")
        );
        assert!(!c.egress.allow_private, "private egress is never a default");
        assert!(
            !c.egress.allow_loopback,
            "loopback egress is never a default"
        );
        assert_eq!(
            c.redirect_uri_for("127.0.0.1:8080".parse().unwrap())
                .as_str(),
            "http://127.0.0.1:8080/provisioning_/callback"
        );
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plugboard.toml");
        std::fs::write(
            &file,
            r#"
listen = "127.0.0.1:1"
public_url = "https://file.example"
token_cache_ms = 100
connection_cache_ms = 100
[egress]
allow_private = true
[limits]
call_timeout_ms = 5
[connectors.zoom]
client_id = "from-file"
client_secret = "file-secret"
"#,
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(file),
            listen: Some("127.0.0.1:0".into()),
            connector_base_urls: vec![("zoom".into(), "http://127.0.0.1:9/v2".into())],
            ..Default::default()
        };
        let c = Config::load_from(
            overrides,
            env(&[
                ("PLUGBOARD_LISTEN", "127.0.0.1:2"),
                ("PLUGBOARD_PUBLIC_URL", "https://env.example/base"),
                ("PLUGBOARD_CONNECTOR_ZOOM_CLIENT_ID", "from-env"),
                ("PLUGBOARD_CONNECTOR_MY_API_BASE_URL", "https://api.example"),
                ("PLUGBOARD_CALL_HTTP_CALLS", "3"),
                ("PLUGBOARD_TOKEN_CACHE_MS", "0"),
                ("PLUGBOARD_CONNECTION_CACHE_MS", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!(
            c.redirect_uri_for(c.listen).as_str(),
            "https://env.example/base/provisioning_/callback"
        );
        assert!(c.egress.allow_private);
        assert_eq!(c.limits.call_timeout_ms, 5);
        assert_eq!(c.limits.http_calls, 3);
        assert_eq!(c.token_cache_ms, 0, "the environment beats the file");
        assert_eq!(c.connection_cache_ms, 0);
        let zoom = &c.connectors["zoom"];
        assert_eq!(zoom.client_id.as_deref(), Some("from-env"));
        assert_eq!(zoom.client_secret.as_ref().unwrap().expose(), "file-secret");
        assert_eq!(
            zoom.base_url.as_ref().unwrap().as_str(),
            "http://127.0.0.1:9/v2/"
        );
        assert!(c.connectors.contains_key("my-api"));
        assert!(
            !format!("{c:?}").contains("file-secret"),
            "secrets never in Debug"
        );
    }

    #[test]
    fn bad_values_name_their_source() {
        let err = Config::load_from(
            Overrides::default(),
            env(&[("PLUGBOARD_LISTEN", "localhost")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("PLUGBOARD_LISTEN"), "{err}");

        let err = Config::load_from(
            Overrides::default(),
            env(&[("PLUGBOARD_DATABASE_URL", "mysql://u:hunter2@h/db")]),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "listne = \"x\"").unwrap();
        let err = Config::load_from(
            Overrides {
                config_file: Some(file),
                ..Default::default()
            },
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("listne"), "{err}");
    }
}
