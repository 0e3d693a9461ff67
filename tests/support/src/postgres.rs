//! A fresh PostgreSQL schema for one test on the machine's server, dropped
//! when the test is done: tests that run on PostgreSQL share one database
//! without seeing each other's rows. If PostgreSQL is unreachable the test
//! fails with the command that starts it; it never passes silently.

use sqlx::Connection as _;

/// Where PostgreSQL for tests is: `PLUGBOARD_TEST_POSTGRES`, default the
/// `test` database on 127.0.0.1:5432 (trust auth).
pub fn base_url() -> String {
    std::env::var("PLUGBOARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// What to do when PostgreSQL is unreachable.
pub const START_POSTGRES: &str = "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
     (database `test`, user `postgres`, trust auth on 127.0.0.1), or point PLUGBOARD_TEST_POSTGRES at another server";

/// One test's schema. [`TestSchema::url`] connects with it as the search
/// path, so a store opened on that URL creates its tables there.
pub struct TestSchema {
    base: String,
    name: String,
    url: String,
}

impl TestSchema {
    /// A new empty schema named `<prefix>_<random>`. Creates the `test`
    /// database first on a fresh cluster that lacks it.
    ///
    /// # Panics
    /// PostgreSQL is unreachable (the message says how to start it).
    pub async fn create(prefix: &str) -> TestSchema {
        let base = base_url();
        let mut conn = match sqlx::PgConnection::connect(&base).await {
            Ok(c) => c,
            Err(e) if e.to_string().contains("does not exist") => {
                create_database(&base).await;
                sqlx::PgConnection::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {base}: {e}; {START_POSTGRES}"))
            }
            Err(e) => panic!("PostgreSQL at {base} is unreachable ({e}); {START_POSTGRES}"),
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create test schema");
        conn.close().await.ok();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        TestSchema { base, name, url }
    }

    /// The database URL with this schema as the search path.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Creates the test database on a server that lacks it.
async fn create_database(base: &str) {
    let (server, db) = base.rsplit_once('/').expect("URL has a database");
    let db = db.split('?').next().unwrap_or(db);
    let mut c = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {server} is unreachable ({e}); {START_POSTGRES}")
        });
    // A concurrent test may win the race: "already exists" is fine.
    let _ = sqlx::query(&format!("CREATE DATABASE \"{db}\""))
        .execute(&mut c)
        .await;
    c.close().await.ok();
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop may run inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .execute(&mut c)
                        .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}
