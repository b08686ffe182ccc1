//! Helpers for tests that must run the same queries on SQLite and on PostgreSQL.
//!
//! PostgreSQL tests connect to `HOTLINE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and work inside a fresh schema of their own, so parallel tests never see each other's rows.
//! When no PostgreSQL answers, [`postgres`] prints why and returns `None`: the caller then says
//! so in its output instead of passing silently.

use super::{Backend, Db};

/// A migrated in-memory SQLite database.
pub async fn sqlite() -> Db {
    let db = Db::connect("sqlite::memory:")
        .await
        .expect("in-memory sqlite");
    db.migrate().await.expect("sqlite migrations");
    db
}

/// A migrated PostgreSQL database in a schema of its own, or `None` (with a printed reason).
pub async fn postgres(test_name: &str) -> Option<Db> {
    let base = std::env::var("HOTLINE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!(
        "t_{}_{}",
        test_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase(),
        uuid::Uuid::new_v4().simple()
    );
    let admin = match Db::connect(&base).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("SKIPPED on PostgreSQL ({test_name}): no PostgreSQL at {base}: {e}");
            return None;
        }
    };
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin.pool)
        .await
        .expect("create test schema");
    admin.pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let db = Db::connect(&url).await.expect("connect to test schema");
    assert_eq!(db.backend, Backend::Postgres);
    db.migrate().await.expect("postgres migrations");
    Some(db)
}
