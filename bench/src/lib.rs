//! What the benchmark's helper servers share.

use std::net::SocketAddr;

/// The listen address given as `arg` (default `127.0.0.1:0`, any free port).
///
/// # Errors
/// `arg` is not an address.
pub fn listen_addr(arg: Option<String>) -> std::io::Result<SocketAddr> {
    arg.as_deref()
        .unwrap_or("127.0.0.1:0")
        .parse()
        .map_err(|e| std::io::Error::other(format!("ADDR: {e}; expected e.g. 127.0.0.1:9000")))
}
