//! Launcher for a real authorization server: `oidc-provider` (npm) on
//! Node, configured by `tests/support/oidc/server.mjs`.
//!
//! [`OidcProvider::start`] runs `node server.mjs` on a free loopback port,
//! waits until its discovery document answers, and kills the process when
//! dropped. The first start in a checkout installs the pinned packages
//! (`npm ci`, once, under a file lock so parallel tests do not race), so
//! `cargo test` is all a newcomer runs; if that install fails it says which
//! command to run by hand.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};

/// A client registered in `server.mjs`.
#[derive(Debug, Clone, Copy)]
pub struct OidcClient {
    pub client_id: &'static str,
    pub client_secret: &'static str,
}

/// A running oidc-provider. Killed on drop.
pub struct OidcProvider {
    port: u16,
    child: tokio::process::Child,
}

impl OidcProvider {
    /// `client_secret_basic` at the token endpoint.
    pub const BASIC_CLIENT: OidcClient = OidcClient {
        client_id: "plugboard-basic",
        client_secret: "basic-secret",
    };
    /// `client_secret_post` at the token endpoint.
    pub const POST_CLIENT: OidcClient = OidcClient {
        client_id: "plugboard-post",
        client_secret: "post-secret",
    };
    /// The test account's login.
    pub const LOGIN: &'static str = "alice";
    /// The test account's password.
    pub const PASSWORD: &'static str = "alice-password";

    /// The directory holding `server.mjs` and `package.json`.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
    }

    /// Start oidc-provider accepting `redirect_uris` for its clients.
    ///
    /// # Errors
    /// When `node_modules` is missing (run `npm ci --prefix
    /// tests/support/oidc`), `node` cannot be run, or the server does not
    /// answer within 20 s.
    pub async fn start(redirect_uris: &[&str]) -> anyhow::Result<OidcProvider> {
        Self::start_in(Self::dir(), redirect_uris).await
    }

    async fn start_in(dir: PathBuf, redirect_uris: &[&str]) -> anyhow::Result<OidcProvider> {
        let installer = dir.clone();
        tokio::task::spawn_blocking(move || {
            crate::npm::ensure_installed(
                &installer,
                "oidc-provider",
                "npm ci --prefix tests/support/oidc",
            )
        })
        .await
        .context("the npm install task panicked")??;
        let port = crate::free_port();
        let child = tokio::process::Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("REDIRECT_URIS", redirect_uris.join(","))
            .env("NODE_NO_WARNINGS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Its startup warnings (Node 20 "unsupported runtime", dev keys)
            // are noise in test output; PLUGBOARD_TEST_OIDC_LOG=1 shows them.
            .stderr(if std::env::var_os("PLUGBOARD_TEST_OIDC_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .context("could not run `node` (is Node 20+ on PATH?)")?;
        let mut provider = OidcProvider { port, child };
        let client = reqwest::Client::new();
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer());
        for _ in 0..200 {
            if let Some(status) = provider.child.try_wait()? {
                bail!("oidc-provider exited early with {status}");
            }
            if let Ok(r) = client.get(&discovery).send().await
                && r.status().is_success()
            {
                return Ok(provider);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("oidc-provider did not answer at {discovery} within 20 s")
    }

    /// `http://127.0.0.1:<port>`; also the `iss` it puts in authorization responses.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/auth", self.issuer())
    }
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer())
    }
    pub fn revoke_url(&self) -> String {
        format!("{}/token/revocation", self.issuer())
    }
    pub fn introspection_url(&self) -> String {
        format!("{}/token/introspection", self.issuer())
    }
    pub fn userinfo_url(&self) -> String {
        format!("{}/me", self.issuer())
    }

    /// Ask the introspection endpoint whether `token` is active (to observe
    /// revocation from a test).
    pub async fn is_active(&self, client: OidcClient, token: &str) -> anyhow::Result<bool> {
        let request = reqwest::Client::new().post(self.introspection_url());
        let request = if client.client_id == Self::POST_CLIENT.client_id {
            request.form(&[
                ("token", token),
                ("client_id", client.client_id),
                ("client_secret", client.client_secret),
            ])
        } else {
            request
                .basic_auth(client.client_id, Some(client.client_secret))
                .form(&[("token", token)])
        };
        let r: serde_json::Value = request.send().await?.json().await?;
        Ok(r["active"].as_bool().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_node_modules_says_which_command_installs_them() {
        let empty = std::env::temp_dir().join("plugboard-no-oidc-here");
        let err = match OidcProvider::start_in(empty, &["http://127.0.0.1:9/cb"]).await {
            Ok(_) => panic!("started without node_modules"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("run `npm ci --prefix tests/support/oidc`"),
            "{err}"
        );
    }
}
