//! How guests share the CPU with each other and with the rest of the host.
//!
//! The engine's epoch ticker interrupts a running guest at every tick. At
//! each interruption the call spends one tick of its CPU budget and yields
//! to the executor, so a busy guest never holds a tokio worker for more
//! than one tick. Two rules keep busy guests from starving everyone else
//! (issue 16: two looping guests pushed a normal call from 0.4 ms to 600 ms):
//!
//! - **The yield really lets others run.** wasmtime's default yield wakes
//!   the task from inside its own poll, which tokio treats as "run me next"
//!   (the LIFO slot), so the busy guest was polled again at once. Yielding
//!   through `tokio::task::yield_now` defers it behind the tasks already
//!   waiting.
//! - **Heavy guests take turns on a few lanes.** A call seen running at
//!   [`HEAVY_AFTER_TICKS`] ticks is heavy: from then on it may only run
//!   while holding a lane, a permit of a small fair semaphore (by default
//!   half the cores). It gives its lane back at every tick and queues again
//!   (and, having got one, still yields once, so a lone heavy guest does
//!   not keep its thread either),
//!   so heavy guests round-robin on those lanes while ordinary calls, which
//!   finish well inside a tick, never wait for one.
//!
//! Owns: the per-call CPU account and the lanes. Must never: block a thread
//! (waiting for a lane is an async wait), or let a call hold a lane past
//! its own end (the permit lives in the call's `Store` and drops with it).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::UpdateDeadline;

/// A call running at this many ticks has used at least about one tick of
/// CPU time (ticks are sampled: a short call can be caught by one).
pub const HEAVY_AFTER_TICKS: u64 = 2;

/// The lanes heavy guests share; one per runtime.
#[derive(Debug)]
pub(crate) struct HeavyLanes {
    lanes: Arc<Semaphore>,
}

impl HeavyLanes {
    pub(crate) fn new(lanes: usize) -> Self {
        HeavyLanes {
            lanes: Arc::new(Semaphore::new(lanes.max(1))),
        }
    }

    /// The default: half the cores, at least one.
    pub(crate) fn default_count() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get() / 2)
            .unwrap_or(1)
            .max(1)
    }
}

/// One call's CPU budget and, once it is heavy, its place on a lane.
pub(crate) struct CpuAccount {
    ticks_left: u64,
    ticks_used: u64,
    /// Set when the budget ran out and the guest was stopped.
    pub(crate) exceeded: bool,
    lanes: Arc<Semaphore>,
    /// The lane this call holds while it runs (heavy calls only). Shared
    /// with the yield future that acquires it.
    lane: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl CpuAccount {
    pub(crate) fn new(ticks: u64, lanes: &HeavyLanes) -> Self {
        CpuAccount {
            ticks_left: ticks,
            ticks_used: 0,
            exceeded: false,
            lanes: lanes.lanes.clone(),
            lane: Arc::default(),
        }
    }

    /// What to do at an epoch interruption: stop the guest when its budget
    /// is spent, else spend a tick and yield (through a lane when heavy).
    pub(crate) fn on_tick(&mut self) -> UpdateDeadline {
        if self.ticks_left == 0 {
            self.exceeded = true;
            return UpdateDeadline::Interrupt;
        }
        self.ticks_left -= 1;
        self.ticks_used += 1;
        if self.ticks_used < HEAVY_AFTER_TICKS {
            return UpdateDeadline::YieldCustom(1, Box::pin(yield_to_others()));
        }
        // Give the lane back (if held) and queue for one again: the
        // semaphore is fair, so waiting heavy guests go first.
        let slot = self.lane.clone();
        drop(lock(&slot).take());
        let lanes = self.lanes.clone();
        UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                let permit = lanes
                    .acquire_owned()
                    .await
                    .expect("the lanes' semaphore is never closed");
                *lock(&slot) = Some(permit);
                // A free lane is had at once: still let others run first.
                yield_to_others().await;
            }),
        )
    }
}

/// Let the tasks already waiting, and the timer and I/O drivers, run before
/// the guest resumes.
async fn yield_to_others() {
    tokio::task::yield_now().await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yields(update: &UpdateDeadline) -> bool {
        matches!(update, UpdateDeadline::YieldCustom(1, _))
    }

    #[tokio::test]
    async fn a_call_is_stopped_when_its_ticks_are_spent() {
        let lanes = HeavyLanes::new(1);
        let mut account = CpuAccount::new(3, &lanes);
        for _ in 0..3 {
            let update = account.on_tick();
            assert!(yields(&update));
            if let UpdateDeadline::YieldCustom(_, wait) = update {
                wait.await;
            }
        }
        assert!(matches!(account.on_tick(), UpdateDeadline::Interrupt));
        assert!(account.exceeded);
    }

    #[tokio::test]
    async fn heavy_calls_take_turns_on_the_lanes() {
        let lanes = HeavyLanes::new(1);
        let (mut a, mut b) = (CpuAccount::new(100, &lanes), CpuAccount::new(100, &lanes));
        // Both become heavy; `a` gets the only lane first.
        for _ in 0..HEAVY_AFTER_TICKS - 1 {
            let _ = a.on_tick();
            let _ = b.on_tick();
        }
        let UpdateDeadline::YieldCustom(_, a_wait) = a.on_tick() else {
            panic!("a heavy call yields for a lane")
        };
        a_wait.await;
        assert!(lock(&a.lane).is_some(), "a holds the lane");
        let UpdateDeadline::YieldCustom(_, b_wait) = b.on_tick() else {
            panic!("a heavy call yields for a lane")
        };
        let mut b_wait = tokio_test_spawn(b_wait);
        tokio::task::yield_now().await;
        assert!(
            !b_wait.is_finished(),
            "b must wait while a holds the only lane"
        );
        // a's next tick gives the lane back and queues behind b.
        let UpdateDeadline::YieldCustom(_, a_again) = a.on_tick() else {
            panic!("a heavy call yields for a lane")
        };
        (&mut b_wait).await.unwrap();
        assert!(lock(&b.lane).is_some(), "b got the lane a gave back");
        let a_again = tokio_test_spawn(a_again);
        tokio::task::yield_now().await;
        assert!(!a_again.is_finished(), "a now waits behind b");
        drop(b); // the call ends: its lane goes with its Store
        a_again.await.unwrap();
        assert!(lock(&a.lane).is_some());
    }

    fn tokio_test_spawn(
        f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(f)
    }
}
