//! Web console sign-in sessions: a session belongs to one tenant user and
//! expires at a fixed time. The session id is a secret the browser holds
//! in a cookie; this module sees and stores only its SHA-256 (hex), so a
//! copy of the database does not let anyone sign in.

use crate::db::{now_ms, on_db, to_ms};
use crate::server_support::{OwnerRow, no_tenant_user};
use crate::{Store, StoreError, TokenOwner, UserId};
use time::OffsetDateTime;

impl Store {
    /// Starts a session for a tenant user, valid until `expires_at`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the user works in no tenant.
    pub async fn create_session(
        &self,
        user: UserId,
        id_sha256: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO sessions (id_sha256, user_id, org_id, tenant_id, created_at, expires_at) \
                 SELECT $1, user_id, org_id, tenant_id, $2, $3 FROM tenant_users WHERE user_id = $4")
            .bind(id_sha256)
            .bind(now_ms())
            .bind(to_ms(expires_at))
            .bind(user)
            .execute(pool)
            .await
            .map_err(StoreError::write("create session", "session"))?
            .rows_affected());
        if n == 0 {
            return Err(no_tenant_user(user));
        }
        Ok(())
    }

    /// Who the session with this SHA-256 belongs to, if it has not expired
    /// at `now`.
    pub async fn session_owner(
        &self,
        id_sha256: &str,
        now: OffsetDateTime,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let row: Option<OwnerRow> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT s.org_id, s.tenant_id, s.user_id, u.user_name, tu.is_admin FROM sessions s \
                 JOIN tenant_users tu ON tu.user_id = s.user_id AND tu.org_id = s.org_id AND tu.tenant_id = s.tenant_id \
                 JOIN users u ON u.id = s.user_id AND u.org_id = s.org_id \
                 WHERE s.id_sha256 = $1 AND s.expires_at > $2")
            .bind(id_sha256)
            .bind(to_ms(now))
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("session owner"))?);
        Ok(row.map(TokenOwner::from_row))
    }

    /// Ends one session (sign-out); false if there was none.
    pub async fn delete_session(&self, id_sha256: &str) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(pool)
            .await
            .map_err(StoreError::query("delete session"))?
            .rows_affected());
        Ok(n > 0)
    }

    /// Ends every session of a user (after a password change); rows deleted.
    pub async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user)
            .execute(pool)
            .await
            .map_err(StoreError::query("delete user sessions"))?
            .rows_affected());
        Ok(n)
    }

    /// Forgets sessions that expired before `now`; rows deleted.
    pub async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(pool)
            .await
            .map_err(StoreError::query("delete expired sessions"))?
            .rows_affected());
        Ok(n)
    }
}
