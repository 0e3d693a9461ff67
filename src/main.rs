//! The `plugboard` command: `serve` runs the server; `connectors inspect`
//! and `connectors run` work locally for connector authors; the other
//! commands are a thin REST client over the server's API (`--server`,
//! `--token`).
//!
//! This file parses arguments and prints; the rules live in the server.
//! Tokens are read from `--token`/`PLUGBOARD_TOKEN` or the server's
//! `admin-token` file and are never printed (except a new one, once, by
//! `tokens create`).

mod client;
mod local;

// glibc's malloc showed as ~11% of the server's CPU under load (many small
// allocations across the tokio workers, hyper, sqlx and wasmtime);
// mimalloc's thread-local free lists cost markedly less.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "plugboard",
    version,
    about = "Connections to third-party APIs through sandboxed connector plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API, bundled connectors) with zero configuration.
    Serve(ServeArgs),
    /// Root and data keys of the secrets vault.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Connectors available to your tenant.
    #[command(subcommand, alias = "connector")]
    Connectors(ConnectorsCommand),
    /// Connections in your folders.
    #[command(subcommand, alias = "connection")]
    Connections(client::ConnectionsCommand),
    /// Folders: your personal workspace and shared folders.
    #[command(subcommand, alias = "folder")]
    Folders(client::FoldersCommand),
    /// Trigger subscriptions: polling, webhooks, the pull API, dead letters.
    #[command(subcommand, alias = "trigger")]
    Triggers(client::TriggersCommand),
    /// Run an operation through a connection.
    Invoke(client::InvokeArgs),
    /// Users of your tenant: console passwords.
    #[command(subcommand, alias = "user")]
    Users(client::UsersCommand),
    /// Your API tokens: list, create, revoke.
    #[command(subcommand, alias = "token")]
    Tokens(client::TokensCommand),
    /// External applications of your organization (management APIs).
    #[command(subcommand, alias = "app")]
    Apps(client::AppsCommand),
}

#[derive(Subcommand)]
enum ConnectorsCommand {
    /// Show a connector's auth types, scopes per operation, API hosts and
    /// config fields, from a bundled id or a `.wasm` file (no server needed).
    Inspect(local::InspectArgs),
    /// Run one operation of a bundled connector or `.wasm` file in the local
    /// sandbox, with a credential from an environment variable (no server needed).
    Run(local::RunArgs),
    #[command(flatten)]
    Server(client::ConnectorsCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file (env PLUGBOARD_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 or 127.0.0.1:0 for any port (env PLUGBOARD_LISTEN).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Base URL people and OAuth providers reach this server at; the
    /// redirect URI is `<public-url>/provisioning_/callback` (env PLUGBOARD_PUBLIC_URL).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Database URL: sqlite://path or postgres://… (env PLUGBOARD_DATABASE_URL).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Data directory for the database, root key and admin token (env PLUGBOARD_DATA_DIR; default ./.plugboard).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Let connectors reach loopback addresses (tests, local APIs). Never a default
    /// (env PLUGBOARD_ALLOW_LOOPBACK_EGRESS).
    #[arg(long)]
    allow_loopback_egress: bool,
    /// Let connectors reach private-range addresses (10/8, 192.168/16, …). Never a default
    /// (env PLUGBOARD_ALLOW_PRIVATE_EGRESS).
    #[arg(long)]
    allow_private_egress: bool,
    /// Replace a connector's API base URL: `zoom=http://127.0.0.1:9000/v2` (repeatable).
    #[arg(long, value_name = "ID=URL")]
    connector_base_url: Vec<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new root key version and re-wrap every tenant key.
    Rotate {
        /// Also re-encrypt every secret with the new data keys.
        #[arg(long)]
        reencrypt: bool,
        /// Data directory (env PLUGBOARD_DATA_DIR; default ./.plugboard).
        #[arg(long, env = "PLUGBOARD_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Database URL (env PLUGBOARD_DATABASE_URL).
        #[arg(long, env = "PLUGBOARD_DATABASE_URL", value_name = "URL")]
        database: Option<String>,
    },
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PLUGBOARD_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,hyper=warn,sqlx=warn,wasmtime=warn,cranelift=warn")
    });
    let json = std::env::var("PLUGBOARD_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Keys(KeysCommand::Rotate {
            reencrypt,
            data_dir,
            database,
        }) => keys_rotate(reencrypt, data_dir, database).await,
        Command::Connectors(ConnectorsCommand::Inspect(a)) => local::inspect(a).await,
        Command::Connectors(ConnectorsCommand::Run(a)) => local::run(a).await,
        Command::Connectors(ConnectorsCommand::Server(c)) => client::connectors(c).await,
        Command::Connections(c) => client::connections(c).await,
        Command::Folders(c) => client::folders(c).await,
        Command::Triggers(c) => client::triggers(c).await,
        Command::Invoke(a) => client::invoke(a).await,
        Command::Users(c) => client::users(c).await,
        Command::Apps(c) => client::apps(c).await,
        Command::Tokens(c) => client::tokens(c).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut connector_base_urls = Vec::new();
    for pair in &args.connector_base_url {
        let (id, url) = pair.split_once('=').ok_or_else(|| {
            anyhow::anyhow!(
                "--connector-base-url `{pair}` must look like `zoom=http://127.0.0.1:9000/v2`"
            )
        })?;
        connector_base_urls.push((id.to_string(), url.to_string()));
    }
    let overrides = plugboard_server::Overrides {
        config_file: args.config,
        listen: args.listen,
        public_url: args.public_url,
        database_url: args.database,
        data_dir: args.data_dir,
        allow_loopback_egress: args.allow_loopback_egress.then_some(true),
        allow_private_egress: args.allow_private_egress.then_some(true),
        connector_base_urls,
    };
    let config = plugboard_server::Config::load(overrides)?;
    let server = plugboard_server::start(config).await?;
    if server.first_start {
        println!(
            "First start: created the default organization, tenant and admin user. The admin API token is in {} (mode 0600).",
            server.admin_token_file.display()
        );
        println!(
            "To sign in to the web console, give the admin a password: plugboard users set-password admin"
        );
    }
    println!("Plugboard listening on {}", server.local_url());
    println!("Web console: {}console/", server.public_url);
    println!("API docs: {}api/docs", server.public_url);
    tracing::info!(address = %server.local_addr, "listening");
    server.run_until_signal().await
}

async fn keys_rotate(
    reencrypt: bool,
    data_dir: Option<PathBuf>,
    database: Option<String>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let data_dir = data_dir.unwrap_or_else(|| PathBuf::from(".plugboard"));
    let store = plugboard_store::Store::open_data_dir(&data_dir, database.as_deref())
        .await
        .with_context(|| format!("opening the store in `{}`", data_dir.display()))?;
    let mut progress = plugboard_store::progress_bar();
    let report = store
        .rotate_keys(reencrypt, &mut progress)
        .await
        .context("rotating keys")?;
    println!(
        "Root key version {}{}; {} data key(s) re-wrapped.",
        report.root.root_version,
        if report.root.added_version {
            " (new)"
        } else {
            ""
        },
        report.root.rewrapped
    );
    if let Some(r) = report.reencrypt {
        println!(
            "Re-encrypted {} secret(s) under {} new data key(s){}.",
            r.reencrypted,
            r.new_data_keys,
            if r.resumed {
                ", resuming an interrupted pass"
            } else {
                ""
            }
        );
    }
    store.close().await;
    Ok(())
}
