//! The scheduler's clock, injected so tests advance time instead of
//! sleeping. It must never be used for lease expiry (the database's clock
//! decides that, see `plugboard_store` leases).

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

/// Wall-clock time for scheduling and delivery backoff.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// Starts at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().expect("poisoned");
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("poisoned")
    }
}

/// Exponential backoff: `base` after the first failure, doubling per
/// failure (`attempt` counts from 1), capped at `max`.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: i64) -> Duration {
    base.saturating_mul(1u32 << (attempt - 1).clamp(0, 20) as u32)
        .min(max)
}
