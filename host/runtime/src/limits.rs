//! Per-call limits ([`CallLimits`]) and the memory limiter that enforces
//! the memory one.
//!
//! Owns: the limit values and their defaults, and remembering *which* limit
//! stopped a guest so the caller gets `MemoryLimitExceeded` rather than a
//! bare trap. Must never: decide policy about hosts or credentials.

use std::time::Duration;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Limits applied to every single call (`check-connection`, `invoke`,
/// `poll`, and `manifest` at load). Exceeding one stops the call with a
/// specific [`crate::RuntimeError`] (or, for HTTP, a WIT `http-error` the
/// guest sees) and harms nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLimits {
    /// Bytes each linear memory of the instance may grow to (a connector's
    /// data lives in one; the WASI adapter's is tiny). Default 64 MiB: plenty for JSON APIs, small enough that hundreds of
    /// concurrent calls fit in a modest host.
    pub max_memory_bytes: usize,
    /// Guest CPU time, measured in epoch ticks while guest code runs (time
    /// spent waiting in host imports such as HTTP does not count).
    /// Default 2 s. Rounded up to whole ticks of [`crate::RuntimeConfig::epoch_tick`].
    pub cpu_time: Duration,
    /// Wall-clock time for the whole call, HTTP included. Default 60 s.
    pub wall_time: Duration,
    /// HTTP requests one call may send (a 401 retry is not counted).
    /// Default 50 (pagination through a handful of pages, not a crawl).
    pub max_http_calls: u32,
    /// Bytes of one HTTP response body; the host stops reading there.
    /// Default 8 MiB.
    pub max_http_response_bytes: u64,
    /// Time for one HTTP request, connect to last body byte. Default 30 s.
    pub http_timeout: Duration,
    /// Bytes of the JSON an `invoke` or `poll` returns. Default 4 MiB.
    pub max_output_bytes: usize,
    /// Bytes of one log message; longer ones are cut. Default 4 KiB.
    pub max_log_message_bytes: usize,
    /// Bytes of one `credential-store` value. Default 64 KiB.
    pub max_secret_value_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            max_memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(2),
            wall_time: Duration::from_secs(60),
            max_http_calls: 50,
            max_http_response_bytes: 8 << 20,
            http_timeout: Duration::from_secs(30),
            max_output_bytes: 4 << 20,
            max_log_message_bytes: 4 << 10,
            max_secret_value_bytes: 64 << 10,
        }
    }
}

/// [`StoreLimits`] plus a note of whether the memory limit was hit, so a
/// trap that follows a refused `memory.grow` is reported as
/// `MemoryLimitExceeded`.
pub(crate) struct CallLimiter {
    inner: StoreLimits,
    max_memory_bytes: usize,
    pub(crate) memory_exceeded: bool,
}

impl CallLimiter {
    pub(crate) fn new(limits: &CallLimits) -> Self {
        CallLimiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(limits.max_memory_bytes)
                // One component instance per store; a handful of core
                // instances, tables and memories inside it.
                .instances(64)
                .tables(64)
                .memories(16)
                // Let the guest see a failed grow (Rust aborts on OOM) and
                // keep our flag as the source of truth.
                .trap_on_grow_failure(false)
                .build(),
            max_memory_bytes: limits.max_memory_bytes,
            memory_exceeded: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if !allowed || desired > self.max_memory_bytes {
            self.memory_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_exceeded = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_past_the_limit_is_refused_and_remembered() {
        let limits = CallLimits {
            max_memory_bytes: 1 << 20,
            ..CallLimits::default()
        };
        let mut limiter = CallLimiter::new(&limits);
        assert!(limiter.memory_growing(0, 64 << 10, None).unwrap());
        assert!(!limiter.memory_exceeded);
        assert!(!limiter.memory_growing(64 << 10, 2 << 20, None).unwrap());
        assert!(limiter.memory_exceeded);
    }

    #[test]
    fn defaults_are_finite_and_nonzero() {
        let d = CallLimits::default();
        assert!(d.max_memory_bytes > 0 && d.max_http_calls > 0 && d.max_output_bytes > 0);
        assert!(d.cpu_time < d.wall_time);
    }
}
