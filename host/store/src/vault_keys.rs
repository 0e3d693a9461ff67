//! The store's implementation of the vault's [`KeyStore`]: root key check
//! values and wrapped tenant data keys in `vault_root_keys` /
//! `vault_data_keys`. It persists exactly what the vault hands it and must
//! never unwrap, log or cache keys.

use async_trait::async_trait;
use plugboard_vault::{KeyStore, KeyStoreError, RootKeyCheck, WrappedDataKey};
use sqlx::Row;
use uuid::Uuid;

use crate::db::{Db, now_ms, on_db};

fn to_wrapped<R>(row: &R) -> Result<WrappedDataKey, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> Uuid: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(WrappedDataKey {
        tenant: row.try_get("tenant_id")?,
        version: row.try_get::<i64, _>("version")? as u32,
        root_version: row.try_get::<i64, _>("root_version")? as u32,
        nonce: row.try_get("nonce")?,
        wrapped: row.try_get("wrapped")?,
    })
}

const COLUMNS: &str = "tenant_id, version, root_version, nonce, wrapped";

#[async_trait]
impl KeyStore for Db {
    async fn root_key_checks(&self) -> Result<Vec<RootKeyCheck>, KeyStoreError> {
        let rows: Vec<(i64, Vec<u8>)> = on_db!(self, pool => sqlx::query_as(
                "SELECT version, check_value FROM vault_root_keys ORDER BY version")
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|(v, c)| RootKeyCheck {
                version: v as u32,
                check_value: c,
            })
            .collect())
    }

    async fn add_root_key_check(&self, check: &RootKeyCheck) -> Result<(), KeyStoreError> {
        on_db!(self, pool => sqlx::query(
                "INSERT INTO vault_root_keys (version, check_value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (version) DO NOTHING")
            .bind(check.version as i64)
            .bind(&check.check_value)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    async fn latest_data_key(&self, tenant: Uuid) -> Result<Option<WrappedDataKey>, KeyStoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM vault_data_keys WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1"
        );
        Ok(
            on_db!(self, pool => match sqlx::query(&sql).bind(tenant).fetch_optional(pool).await? {
                Some(row) => Some(to_wrapped(&row)?),
                None => None,
            }),
        )
    }

    async fn data_key(
        &self,
        tenant: Uuid,
        version: u32,
    ) -> Result<Option<WrappedDataKey>, KeyStoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM vault_data_keys WHERE tenant_id = $1 AND version = $2");
        Ok(on_db!(self, pool => match sqlx::query(&sql)
            .bind(tenant)
            .bind(version as i64)
            .fetch_optional(pool)
            .await?
        {
            Some(row) => Some(to_wrapped(&row)?),
            None => None,
        }))
    }

    async fn insert_data_key(&self, key: &WrappedDataKey) -> Result<bool, KeyStoreError> {
        let done = on_db!(self, pool => sqlx::query(
                "INSERT INTO vault_data_keys (tenant_id, version, root_version, nonce, wrapped, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, version) DO NOTHING")
            .bind(key.tenant)
            .bind(key.version as i64)
            .bind(key.root_version as i64)
            .bind(&key.nonce)
            .bind(&key.wrapped)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    async fn all_data_keys(&self) -> Result<Vec<WrappedDataKey>, KeyStoreError> {
        let sql = format!("SELECT {COLUMNS} FROM vault_data_keys ORDER BY tenant_id, version");
        Ok(on_db!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(to_wrapped).collect::<Result<Vec<_>, _>>()?
        }))
    }

    async fn replace_data_key(
        &self,
        key: &WrappedDataKey,
        expected_root_version: u32,
    ) -> Result<bool, KeyStoreError> {
        let done = on_db!(self, pool => sqlx::query(
                "UPDATE vault_data_keys SET root_version = $1, nonce = $2, wrapped = $3 \
                 WHERE tenant_id = $4 AND version = $5 AND root_version = $6")
            .bind(key.root_version as i64)
            .bind(&key.nonce)
            .bind(&key.wrapped)
            .bind(key.tenant)
            .bind(key.version as i64)
            .bind(expected_root_version as i64)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }
}
