//! Storage: one sqlx pool over SQLite (the embedded default, a file under `data/`) or PostgreSQL
//! (production, several nodes), chosen by the database URL.
//!
//! Queries are written once in the SQL both engines accept: `$1, $2, ...` placeholders (SQLite
//! accepts `$N` too), times as `BIGINT` unix milliseconds, booleans as `BIGINT` 0/1 where a column
//! must read back the same on both. DDL differs per engine, so migrations live in `sql/sqlite/`
//! and `sql/postgres/`, embedded in the binary at build time.
//!
//! Migration numbering leaves room per area: `0001..` core telephony (agents, registrations,
//! CDRs), `0100..` tickets, `0200..` ACD, `0300..` media (recordings), `0400..` IVR.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

/// Which engine a [`Db`] talks to; the few places where SQL must differ match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the database: cheap to clone, shared by every task that persists something.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL `{0}` is neither sqlite: nor postgres:")]
    UnknownScheme(String),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("sql/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("sql/postgres");

impl Db {
    /// Connects to `url` (`sqlite:data/hotline.db`, `sqlite::memory:`, `postgres://...`),
    /// creating a SQLite file and its folder when missing. Does not migrate: see [`Db::migrate`].
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnknownScheme(url.to_string()));
        };
        let mut url = url.to_string();
        if backend == Backend::Sqlite && !url.contains(":memory:") {
            let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        let options = AnyConnectOptions::from_str(&url)?;
        let mut pool = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        pool = match backend {
            // One writer at a time is what SQLite allows; WAL lets readers go on beside it.
            Backend::Sqlite if url.contains(":memory:") => pool.max_connections(1).min_connections(1),
            Backend::Sqlite => pool.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;")
                        .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => pool.max_connections(32),
        };
        let pool = pool.connect_with(options).await?;
        Ok(Db { pool, backend })
    }

    /// Brings the schema up to date with the migrations embedded for this engine.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch: how every time is stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub mod testing;
