//! Commands for connector authors that need no server: inspect a component
//! and run one operation through the real sandbox on this machine.
//!
//! They load the component with the same runtime `plugboard serve` uses, so
//! a manifest or contract problem shows here exactly as it would on upload.
//! Credentials come from an environment variable, never from argv, and are
//! never printed.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use plugboard_manifest::{AuthKind, Manifest};
use plugboard_runtime::{
    AddressPolicy, CallContext, CallError, Credential, LoadedConnector, Runtime, RuntimeConfig,
    StaticServices,
};

/// `plugboard connectors inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// A bundled connector id (`zoom`, `oauth2`, `pat`) or a component file (`.wasm`).
    pub connector: String,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `plugboard connectors run`.
#[derive(Args)]
pub struct RunArgs {
    /// A bundled connector id or a component file (`.wasm`).
    pub connector: String,
    /// The operation to run.
    pub operation: String,
    /// Input JSON, or `@file` to read it from a file.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// Auth type; omit when the connector has only one.
    #[arg(long)]
    pub auth_kind: Option<String>,
    /// Environment variable holding the access token or PAT (never pass it on the command line).
    #[arg(long, value_name = "ENV_VAR")]
    pub credential_env: Option<String>,
    /// Connection config field, `key=value` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A scope the credential was granted (repeatable; default: the auth type's default scopes).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Replace the connector's API base URL (e.g. a local fake).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Let the connector reach loopback addresses (a local test API).
    #[arg(long)]
    pub allow_loopback_egress: bool,
}

pub async fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let connector = load(&args.connector, AddressPolicy::default()).await?;
    let manifest = connector.manifest();
    if args.json {
        println!("{}", serde_json::to_string_pretty(manifest)?);
    } else {
        print!("{}", describe(manifest));
    }
    Ok(())
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let policy = AddressPolicy {
        allow_loopback: args.allow_loopback_egress,
        ..AddressPolicy::default()
    };
    let connector = load(&args.connector, policy).await?;
    let manifest = connector.manifest();
    let kind = match &args.auth_kind {
        Some(k) => k.parse::<AuthKind>().map_err(anyhow::Error::msg)?,
        None => manifest.sole_auth_kind().with_context(|| {
            format!(
                "connector `{}` has several auth types; choose one with --auth-kind ({})",
                manifest.id,
                kinds(manifest)
            )
        })?,
    };
    let method = manifest.auth_method(kind).with_context(|| {
        format!(
            "connector `{}` does not offer auth type `{kind}`; it offers {}",
            manifest.id,
            kinds(manifest)
        )
    })?;
    let credential = match &args.credential_env {
        None => Credential::None,
        Some(var) => {
            let secret = std::env::var(var)
                .with_context(|| format!("environment variable `{var}` is not set"))?;
            match kind {
                AuthKind::PersonalAccessToken => Credential::pat(secret),
                AuthKind::ClientCertificate => {
                    bail!("client certificates are not supported by `connectors run`; use a server")
                }
                _ => Credential::bearer(secret),
            }
        }
    };
    let mut ctx = CallContext::new("local", "local", manifest.id.clone(), kind).with_scopes(
        if args.scopes.is_empty() {
            method.scopes_default.clone()
        } else {
            args.scopes.clone()
        },
    );
    for pair in &args.config {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--config `{pair}` must look like `key=value`"))?;
        ctx = ctx.with_config(key, value);
    }
    ctx.base_url_override = args.base_url.clone();
    let input = match args.input.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => args.input.clone(),
    };
    let services = Arc::new(StaticServices::new(credential));
    match connector
        .invoke(&ctx, services, &args.operation, &input)
        .await
    {
        Ok(output) => {
            // The runtime checked it is one JSON value; parsed only to indent it.
            let value: serde_json::Value = serde_json::from_str(output.get())?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(())
        }
        Err(CallError::Connector { connector, error }) => {
            bail!(
                "connector {connector} answered: {}",
                serde_json::to_string(&error)?
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// A bundled connector by id, or a component file by path.
async fn load(what: &str, policy: AddressPolicy) -> anyhow::Result<Arc<LoadedConnector>> {
    let (label, wasm): (String, Vec<u8>) = if Path::new(what).is_file() {
        let bytes = std::fs::read(what).with_context(|| format!("reading {what}"))?;
        (what.to_string(), bytes)
    } else if let Some(bundled) = plugboard_connectors::bundled_by_id(what) {
        (bundled.id.to_string(), bundled.wasm.to_vec())
    } else {
        let ids: Vec<_> = plugboard_connectors::bundled()
            .iter()
            .map(|c| c.id)
            .collect();
        bail!(
            "`{what}` is neither a file nor a bundled connector ({})",
            ids.join(", ")
        );
    };
    let runtime = Runtime::new(RuntimeConfig {
        address_policy: policy,
        ..RuntimeConfig::default()
    })?;
    Ok(runtime.load_named(Some(&label), &wasm).await?)
}

fn kinds(manifest: &Manifest) -> String {
    let kinds: Vec<_> = manifest
        .auth_methods
        .iter()
        .map(|m| m.kind.as_str())
        .collect();
    kinds.join(", ")
}

/// The manifest as a person reads it: what it calls, how it authenticates,
/// and which scopes each operation needs.
fn describe(m: &Manifest) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}) {}", m.name, m.id, m.version);
    if !m.description.is_empty() {
        let _ = writeln!(out, "{}", m.description);
    }
    let _ = writeln!(out, "\nAPI base:   {}", m.base_url);
    let _ = writeln!(out, "API hosts:  {}", m.api_hosts.join(", "));
    let _ = writeln!(out, "\nAuth types:");
    for method in &m.auth_methods {
        let scopes: Vec<_> = method
            .scopes_offered
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let _ = writeln!(out, "  {:<28} {}", method.kind.as_str(), method.label);
        if !scopes.is_empty() {
            let _ = writeln!(out, "  {:<28} scopes: {}", "", scopes.join(", "));
        }
    }
    if !m.config_fields.is_empty() {
        let _ = writeln!(out, "\nConfig fields:");
        for f in &m.config_fields {
            let required = if f.required { "required" } else { "optional" };
            let _ = writeln!(
                out,
                "  {:<20} {:<8} {required}  {}",
                f.name,
                format!("{:?}", f.kind).to_lowercase(),
                f.label
            );
        }
    }
    let _ = writeln!(out, "\nOperations (required scopes):");
    for op in &m.operations {
        let _ = writeln!(out, "  {:<24} {}", op.name, op.required_scopes.join(", "));
    }
    if !m.triggers.is_empty() {
        let _ = writeln!(out, "\nTriggers (required scopes, default poll interval):");
        for t in &m.triggers {
            let _ = writeln!(
                out,
                "  {:<24} {}  every {}s",
                t.name,
                t.required_scopes.join(", "),
                t.default_poll_interval_seconds
            );
        }
    }
    out
}
