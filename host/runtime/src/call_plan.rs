//! What a call needs that follows from the connector and the connection's
//! [`CallContext`] alone: where the credential goes, the base URL and the
//! declared hosts. Working these out (template filling, URL parsing) cost
//! more per invoke than the guest's own code in profiles, and they only
//! change when the context does, so each connector keeps them per context.
//!
//! Owns: [`CallPlan`] and the bounded table of them ([`CallPlans`]).
//! Must never: hold guest state or a credential; a plan is a pure function
//! of the manifest and the context, so it can never be stale: a changed
//! connection is a different context and gets its own plan.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use plugboard_manifest::{Manifest, TokenPlacement};

use crate::egress::EgressError;
use crate::imports::http::{self, Destination};
use crate::services::CallContext;

/// The resolved, per-context part of a call.
pub(crate) struct CallPlan {
    pub(crate) ctx: CallContext,
    /// Where the credential goes; the error, if config cannot fill the
    /// placement, is reported on the guest's first request.
    pub(crate) token_placement: Result<Option<TokenPlacement>, String>,
    /// Base URL and declared hosts; an error is reported on the guest's
    /// first request (a call that sends none never sees it).
    pub(crate) destination: Result<Destination, EgressError>,
}

impl CallPlan {
    fn new(manifest: &Manifest, ctx: CallContext) -> Self {
        CallPlan {
            token_placement: http::resolve_token_placement(manifest, &ctx),
            destination: http::destination(&ctx, manifest),
            ctx,
        }
    }
}

/// How many contexts a connector keeps plans for. Past this the table is
/// emptied and refilled by the calls that follow: cheaper than tracking
/// recency on every call, and a plan costs microseconds to rebuild.
const MAX_PLANS: usize = 4096;

/// One connector's plans, each found by the context it holds (so the
/// context is stored once, in the plan).
#[derive(Default)]
pub(crate) struct CallPlans {
    plans: Mutex<HashSet<ByContext>>,
}

/// A plan hashed and compared by its context, so that the set can be
/// looked up with a `&CallContext`.
struct ByContext(Arc<CallPlan>);

impl Hash for ByContext {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.ctx.hash(state);
    }
}

impl PartialEq for ByContext {
    fn eq(&self, other: &Self) -> bool {
        self.0.ctx == other.0.ctx
    }
}

impl Eq for ByContext {}

impl Borrow<CallContext> for ByContext {
    fn borrow(&self) -> &CallContext {
        &self.0.ctx
    }
}

impl CallPlans {
    /// The plan for `ctx`, built on the first call with it.
    pub(crate) fn get(&self, manifest: &Manifest, ctx: &CallContext) -> Arc<CallPlan> {
        if let Some(found) = self.lock().get(ctx) {
            return found.0.clone();
        }
        // Built outside the lock; two first calls may both build it.
        let plan = Arc::new(CallPlan::new(manifest, ctx.clone()));
        let mut plans = self.lock();
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        plans.replace(ByContext(plan.clone()));
        plan
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<ByContext>> {
        // A panic while holding the lock cannot leave a half-written plan.
        self.plans.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use plugboard_manifest::AuthKind;

    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            id: "acme".into(),
            base_url: "https://{region}.api.acme.test".into(),
            ..crate::connector::placeholder_manifest()
        }
    }

    fn ctx(connection: &str, region: &str) -> CallContext {
        CallContext::new("t", connection, "acme", AuthKind::PersonalAccessToken)
            .with_config("region", region)
    }

    fn base(plan: &CallPlan) -> String {
        let destination = plan.destination.as_ref().expect("base URL resolves");
        destination.base_url().to_string()
    }

    #[test]
    fn one_plan_per_context_and_a_changed_context_gets_its_own() {
        let (plans, m) = (CallPlans::default(), manifest());
        let first = plans.get(&m, &ctx("c1", "eu"));
        assert!(Arc::ptr_eq(&first, &plans.get(&m, &ctx("c1", "eu"))));
        assert_eq!(base(&first), "https://eu.api.acme.test/");

        // The connection's config changed: a new context, a new plan.
        let moved = plans.get(&m, &ctx("c1", "us"));
        assert_eq!(base(&moved), "https://us.api.acme.test/");
        assert_eq!(plans.lock().len(), 2);
    }

    #[test]
    fn a_config_that_cannot_fill_the_base_url_is_kept_as_its_error() {
        let plans = CallPlans::default();
        let unfilled = CallContext::new("t", "c1", "acme", AuthKind::PersonalAccessToken);
        let plan = plans.get(&manifest(), &unfilled);
        let Err(e) = &plan.destination else {
            panic!("a missing `region` must not resolve");
        };
        assert!(e.to_string().contains("region"), "{e}");
    }

    #[test]
    fn the_table_never_grows_past_its_bound() {
        let (plans, m) = (CallPlans::default(), manifest());
        for i in 0..=MAX_PLANS {
            plans.get(&m, &ctx(&format!("c{i}"), "eu"));
        }
        assert!(plans.lock().len() <= MAX_PLANS);
        // The call that found it full is kept.
        assert!(plans.lock().contains(&ctx(&format!("c{MAX_PLANS}"), "eu")));
    }
}
