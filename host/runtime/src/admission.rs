//! Who may start a call now: a fair share of the instance pool for every
//! tenant and connection.
//!
//! The pooling allocator has a fixed number of instance slots. Before this,
//! 300 slow calls on one connection took all 256, and every other call of
//! every tenant failed with "maximum concurrent limit … reached" for as long
//! as the attacker kept it up (issue 16). Now a call is admitted only while
//! its connection and its tenant are under their limits and the pool has a
//! free slot; otherwise it is refused at once, with a retry hint, before any
//! guest code runs. Refusals are [`Busy`], which the server answers with
//! 429 (a connection or tenant at its limit: the caller's own share) or 503
//! (the pool: the host is full).
//!
//! Owns: the counters of calls in flight. Must never: queue a call (a
//! refused call costs nothing and says when to come back), or let a ticket
//! outlive its call (it is released on drop).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Concurrent-call limits. A limit of 0 means "no limit of this kind".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyLimits {
    /// Calls one connection may have in flight.
    pub per_connection: u32,
    /// Calls all connections of one tenant may have in flight.
    pub per_tenant: u32,
}

impl ConcurrencyLimits {
    /// Defaults for a pool of `pool` call slots: a tenant may use a quarter
    /// of the pool, a connection a quarter of its tenant's share, so one
    /// tenant never takes more than a fraction of the host and one
    /// connection never takes all of its tenant's share.
    pub fn for_pool(pool: u32) -> Self {
        let per_tenant = (pool / 4).max(1);
        ConcurrencyLimits {
            per_tenant,
            per_connection: (per_tenant / 4).max(1),
        }
    }
}

/// Slots kept free for loading components (each load runs `manifest()` in
/// an instance): an upload must work while calls fill the pool.
pub(crate) const LOAD_RESERVE: u32 = 8;

/// Seconds a refused caller is told to wait: calls are short, and a slot
/// frees as soon as one ends.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyScope {
    /// The connection has [`ConcurrencyLimits::per_connection`] calls in flight.
    Connection,
    /// The tenant has [`ConcurrencyLimits::per_tenant`] calls in flight.
    Tenant,
    /// Every call slot of the host's pool is in use.
    Host,
}

/// A call refused because a limit is reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", busy_message(*scope, *limit))]
pub struct Busy {
    pub scope: BusyScope,
    /// The limit that was reached.
    pub limit: u32,
    /// When to try again, seconds.
    pub retry_after_seconds: u32,
}

fn busy_message(scope: BusyScope, limit: u32) -> String {
    match scope {
        BusyScope::Connection => format!(
            "this connection already has {limit} calls in progress, its limit; wait for some to finish and retry"
        ),
        BusyScope::Tenant => format!(
            "your organization's tenant already has {limit} connector calls in progress, its limit; wait for some to finish and retry"
        ),
        BusyScope::Host => {
            format!("the server is running {limit} connector calls, all it can; retry in a moment")
        }
    }
}

/// The counters, one per runtime.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: ConcurrencyLimits,
    /// Call slots: the pool minus [`LOAD_RESERVE`].
    slots: u32,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    tenants: HashMap<String, u32>,
    connections: HashMap<String, u32>,
}

impl Admission {
    pub(crate) fn new(pool: u32, limits: ConcurrencyLimits) -> Self {
        Admission {
            limits,
            slots: pool.saturating_sub(LOAD_RESERVE).max(1),
            counts: Arc::default(),
        }
    }

    /// Admit one call of `connection` in `tenant`, or say which limit is full.
    pub(crate) fn admit(&self, tenant: &str, connection: &str) -> Result<Ticket, Busy> {
        let mut counts = lock(&self.counts);
        let busy = |scope, limit| Busy {
            scope,
            limit,
            retry_after_seconds: RETRY_AFTER_SECONDS,
        };
        let connection_key = scoped(tenant, connection);
        let l = self.limits;
        if l.per_connection > 0
            && counts
                .connections
                .get(&connection_key)
                .copied()
                .unwrap_or(0)
                >= l.per_connection
        {
            return Err(busy(BusyScope::Connection, l.per_connection));
        }
        if l.per_tenant > 0 && counts.tenants.get(tenant).copied().unwrap_or(0) >= l.per_tenant {
            return Err(busy(BusyScope::Tenant, l.per_tenant));
        }
        if counts.total >= self.slots {
            return Err(busy(BusyScope::Host, self.slots));
        }
        counts.total += 1;
        *counts.tenants.entry(tenant.to_string()).or_default() += 1;
        *counts
            .connections
            .entry(connection_key.clone())
            .or_default() += 1;
        Ok(Ticket {
            counts: self.counts.clone(),
            tenant: tenant.to_string(),
            connection: connection_key,
        })
    }

    /// Calls in flight (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> u32 {
        lock(&self.counts).total
    }
}

/// Connection ids are only unique per tenant as far as this crate knows.
fn scoped(tenant: &str, connection: &str) -> String {
    format!("{tenant}\u{0}{connection}")
}

/// One admitted call; gives its place back when dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    counts: Arc<Mutex<Counts>>,
    tenant: String,
    connection: String,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.total = counts.total.saturating_sub(1);
        release(&mut counts.tenants, &self.tenant);
        release(&mut counts.connections, &self.connection);
    }
}

/// Count one call less under `key`, forgetting keys at zero so the maps
/// only hold what is in flight.
fn release(map: &mut HashMap<String, u32>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The counters are updated in one step each; a panic cannot leave them half-written.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(pool: u32, per_tenant: u32, per_connection: u32) -> Admission {
        Admission::new(
            pool + LOAD_RESERVE,
            ConcurrencyLimits {
                per_connection,
                per_tenant,
            },
        )
    }

    #[test]
    fn a_connection_at_its_limit_does_not_stop_its_neighbours() {
        let a = admission(100, 10, 2);
        let held: Vec<_> = (0..2).map(|_| a.admit("t1", "c1").unwrap()).collect();
        let refused = a.admit("t1", "c1").unwrap_err();
        assert_eq!(refused.scope, BusyScope::Connection);
        assert_eq!(refused.retry_after_seconds, RETRY_AFTER_SECONDS);
        // Another connection of the same tenant, and another tenant, go on.
        let _other = a.admit("t1", "c2").unwrap();
        let _elsewhere = a.admit("t2", "c1").unwrap();
        drop(held);
        assert!(
            a.admit("t1", "c1").is_ok(),
            "places come back when calls end"
        );
    }

    #[test]
    fn a_tenant_at_its_limit_does_not_stop_other_tenants() {
        let a = admission(100, 3, 0);
        let _held: Vec<_> = (0..3)
            .map(|i| a.admit("greedy", &format!("c{i}")).unwrap())
            .collect();
        let refused = a.admit("greedy", "c9").unwrap_err();
        assert_eq!(refused.scope, BusyScope::Tenant);
        assert!(refused.to_string().contains("tenant"), "{refused}");
        assert!(a.admit("polite", "c1").is_ok());
    }

    #[test]
    fn the_pool_refuses_as_the_host_being_full() {
        let a = admission(2, 0, 0);
        let _held = (a.admit("t1", "c1").unwrap(), a.admit("t2", "c1").unwrap());
        let refused = a.admit("t3", "c1").unwrap_err();
        assert_eq!(refused.scope, BusyScope::Host);
        assert_eq!(a.in_flight(), 2);
    }

    #[test]
    fn the_same_connection_id_in_two_tenants_is_two_connections() {
        let a = admission(100, 0, 1);
        let _t1 = a.admit("t1", "same").unwrap();
        assert!(a.admit("t2", "same").is_ok());
    }

    #[test]
    fn defaults_give_a_tenant_a_quarter_of_the_pool() {
        let l = ConcurrencyLimits::for_pool(256);
        assert_eq!(l.per_tenant, 64);
        assert_eq!(l.per_connection, 16);
    }

    #[test]
    fn counters_forget_what_is_no_longer_in_flight() {
        let a = admission(10, 5, 5);
        drop(a.admit("t", "c").unwrap());
        let counts = lock(&a.counts);
        assert!(counts.tenants.is_empty() && counts.connections.is_empty());
        assert_eq!(counts.total, 0);
    }
}
