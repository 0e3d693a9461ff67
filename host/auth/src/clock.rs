//! Time as the token manager sees it. Injected so tests decide when a token
//! is "about to expire" without sleeping; production uses [`SystemClock`].

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

/// Wall-clock time source.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// Starts at the current system time.
    pub fn new() -> Self {
        Self::at(OffsetDateTime::now_utc())
    }
    pub fn at(t: OffsetDateTime) -> Self {
        ManualClock(Mutex::new(t))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
    pub fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap() = t;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}
