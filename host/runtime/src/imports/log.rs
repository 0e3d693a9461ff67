//! `plugboard:connector/log`: a guest's log lines become `tracing` events
//! attributed to tenant, connection and connector.
//!
//! Owns: level mapping and the message length bound. Must never: add the
//! credential or config secrets to an event, or let a guest flood the log
//! with unbounded lines.

use crate::imports::HostState;
use crate::wit::latest::plugboard::connector::log::{Host, Level};

/// Cut `message` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let call = self.call("log.log")?;
        let max = call.shared.limits.max_log_message_bytes;
        let truncated = message.len() > max;
        let message = truncate(&message, max);
        let ctx = call.ctx();
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(
                    target: "plugboard::connector",
                    $level,
                    tenant = %ctx.tenant_id,
                    connection = %ctx.connection_id,
                    connector = %call.manifest.id,
                    truncated,
                    "{message}"
                )
            };
        }
        match level {
            Level::Trace => emit!(tracing::Level::TRACE),
            Level::Debug => emit!(tracing::Level::DEBUG),
            Level::Info => emit!(tracing::Level::INFO),
            Level::Warn => emit!(tracing::Level::WARN),
            Level::Error => emit!(tracing::Level::ERROR),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("hello", 10), "hello");
        assert_eq!(truncate("hello", 3), "hel");
        assert_eq!(truncate("héllo", 2), "h");
    }
}
