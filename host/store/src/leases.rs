//! Leases: named, time-limited exclusive holds shared by every replica, for
//! single-flight token refresh and trigger polling. Expiry is computed in
//! the database's clock, so replicas with skewed clocks agree. An expired
//! lease can be taken over by anyone. This module must never block waiting
//! for a lease: callers decide whether to wait, retry or skip.
//!
//! Lease names are global (not tenant-scoped); use ids in them, e.g.
//! `refresh:<connection id>`.

use std::time::Duration;

use crate::db::on_db;
use crate::{Store, StoreError};

impl Store {
    /// Takes the lease `name` for `holder` for `ttl` if it is free, expired,
    /// or already held by `holder` (then it is extended). `Ok(true)` when
    /// `holder` now holds it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.db().now_sql();
        let sql = format!(
            "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES ($1, $2, {now} + $3, {now}) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
             acquired_at = excluded.acquired_at \
             WHERE leases.expires_at <= {now} OR leases.holder = excluded.holder"
        );
        let ttl_ms = ttl.as_millis().min(i64::MAX as u128) as i64;
        let n = on_db!(self.db(), pool => sqlx::query(&sql)
            .bind(name)
            .bind(holder)
            .bind(ttl_ms)
            .execute(pool)
            .await
            .map_err(StoreError::query("acquire lease"))?
            .rows_affected());
        Ok(n == 1)
    }

    /// Extends a lease `holder` still holds (not expired). `Ok(false)` if it
    /// lost it: stop the work it guarded.
    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.db().now_sql();
        let sql = format!(
            "UPDATE leases SET expires_at = {now} + $1 WHERE name = $2 AND holder = $3 AND expires_at > {now}"
        );
        let ttl_ms = ttl.as_millis().min(i64::MAX as u128) as i64;
        let n = on_db!(self.db(), pool => sqlx::query(&sql)
            .bind(ttl_ms)
            .bind(name)
            .bind(holder)
            .execute(pool)
            .await
            .map_err(StoreError::query("renew lease"))?
            .rows_affected());
        Ok(n == 1)
    }

    /// Releases a lease `holder` holds. `Ok(false)` if it was not theirs.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(pool)
            .await
            .map_err(StoreError::query("release lease"))?
            .rows_affected());
        Ok(n == 1)
    }
}
