//! Log lines sent to the host, which attributes them to tenant, connection
//! and connector. Never log secrets or tokens.
//!
//! Use the functions (`log::info("...")`) or the `format!`-style macros
//! ([`crate::info!`] and friends).

use crate::bindings::plugboard::connector::log as wit;

pub use wit::Level;

/// Send one log line at `level`.
pub fn log(level: Level, message: &str) {
    wit::log(level, message)
}

/// Log at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message)
}

/// Log at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Log at info level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Log at error level.
pub fn error(message: &str) {
    log(Level::Error, message)
}

/// `format!`-style debug log line.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}

/// `format!`-style info log line.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// `format!`-style warn log line.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// `format!`-style error log line.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
