//! Pinned npm packages of a test directory (`package-lock.json`), installed
//! on first use so `cargo test` is all a newcomer runs.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};

/// Install the pinned packages of `dir` with `npm ci` unless `package` is
/// already in its `node_modules`. Blocking; one installer at a time per
/// checkout (a file lock), and the others find the packages there when
/// they get the lock.
///
/// # Errors
/// The install failed; the message names `by_hand`, the command to run.
pub fn ensure_installed(dir: &Path, package: &str, by_hand: &str) -> anyhow::Result<()> {
    let installed = || dir.join("node_modules").join(package).is_dir();
    if installed() {
        return Ok(());
    }
    let by_hand = format!(
        "{package} is not installed in {}: run `{by_hand}` \
         from the repository root (needs Node 20+ and the npm registry)",
        dir.display()
    );
    if !dir.join("package-lock.json").is_file() {
        bail!(by_hand);
    }
    let lock = std::fs::File::create(dir.join(".npm-install.lock")).context(by_hand.clone())?;
    lock.lock().context(by_hand.clone())?;
    if installed() {
        return Ok(());
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() && installed() => Ok(()),
        Ok(s) => bail!("{by_hand} (automatic `npm ci` exited with {s})"),
        Err(e) => bail!("{by_hand} (could not run npm: {e})"),
    }
}
