//! The SQLite store's schema and how a database reaches it.
//!
//! Databases made before versioned migrations count their schema in `PRAGMA user_version`
//! (0 to 3); the frozen legacy steps bring any of them to version 3, then sqlx's migrator
//! takes over. Its first migration is the whole version-3 schema written idempotently, so a
//! database the legacy steps just finished takes it as a no-op. A new database goes straight
//! to the migrator.

use sqlx::SqlitePool;

use super::Result;

/// The first schema, as the earliest installs wrote it: the legacy steps below start from it.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS editors (
    name TEXT PRIMARY KEY NOT NULL,
    desk TEXT NOT NULL,
    recipient TEXT NOT NULL,
    token_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY NOT NULL,
    desk TEXT NOT NULL,
    day TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL REFERENCES sources(id),
    desk TEXT NOT NULL,
    day TEXT NOT NULL,
    size INTEGER NOT NULL,
    meta_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_desk ON items(desk, day);
";

/// Schema changes after the first, applied in order; `PRAGMA user_version` counts them. These
/// are frozen: a database made before `_sqlx_migrations` took over is brought to version 3 by
/// them, then handed to [`MIGRATOR`], whose first migration is the whole version-3 schema
/// written idempotently. New changes go to `migrations/sqlite/`, never here.
const LEGACY_MIGRATIONS: &[&str] = &[
    "
ALTER TABLE sources ADD COLUMN login_hash BLOB;
ALTER TABLE sources ADD COLUMN reply_recipient TEXT;
CREATE UNIQUE INDEX sources_login ON sources(login_hash);
",
    "
CREATE TABLE replies (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL REFERENCES sources(id),
    desk TEXT NOT NULL,
    day TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX replies_source ON replies(source);
",
    // The argon2 cost of each source's codename (NULL for sources written before: serve
    // records the configured cost for them at its first start), and the pepper's
    // fingerprint.
    "
ALTER TABLE sources ADD COLUMN argon2_memory_kib INTEGER;
ALTER TABLE sources ADD COLUMN argon2_time INTEGER;
ALTER TABLE sources ADD COLUMN argon2_lanes INTEGER;
CREATE TABLE install (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
",
];

/// The versioned migrations, embedded at build time.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Brings the database at `pool` to the current schema: the legacy steps for a database made
/// before `_sqlx_migrations` existed, then the versioned migrations.
pub(super) async fn migrate(pool: &SqlitePool) -> Result<()> {
    let has = |table: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(table)
        .fetch_one(pool)
    };
    // A database with tables but no migrations table was made by the legacy steps (or by a
    // version before them): finish those steps. A new, empty database skips them.
    if has("_sqlx_migrations").await? == 0 && has("editors").await? > 0 {
        legacy_migrate(pool).await?;
    }
    MIGRATOR.run(pool).await.map_err(super::sql::from_migrate)?;
    // sqlx records when each migration ran, to the second: keep the day only.
    sqlx::query("UPDATE _sqlx_migrations SET installed_on = date(installed_on)")
        .execute(pool)
        .await?;
    Ok(())
}

/// The steps that counted in `PRAGMA user_version`, up to version 3.
async fn legacy_migrate(pool: &SqlitePool) -> Result<()> {
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(pool)
        .await?;
    for (i, m) in LEGACY_MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(m).execute(&mut *tx).await?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", i + 1))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sqlx::Row;

    use super::*;
    use crate::ids::Id;
    use crate::store::sqlite::SqliteMetaStore;

    /// Every column of every table and every index, as SQLite describes them.
    async fn shape(pool: &SqlitePool) -> Vec<String> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' \
             ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .expect("tables");
        let mut out = Vec::new();
        for t in tables {
            let cols = sqlx::query(&format!("PRAGMA table_info({t})"))
                .fetch_all(pool)
                .await
                .expect("columns");
            for c in cols {
                let (name, ty, notnull, pk): (String, String, i64, i64) =
                    (c.get("name"), c.get("type"), c.get("notnull"), c.get("pk"));
                out.push(format!("{t}.{name} {ty} notnull={notnull} pk={pk}"));
            }
        }
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .expect("indexes");
        out.extend(
            indexes
                .into_iter()
                .map(|(i, t)| format!("index {i} on {t}")),
        );
        out
    }

    async fn pool_at(path: &Path) -> SqlitePool {
        SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("pool")
    }

    #[tokio::test]
    async fn every_older_database_reaches_the_schema_a_new_one_gets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fresh = dir.path().join("fresh.sqlite");
        SqliteMetaStore::open(&fresh)
            .await
            .expect("open a new database");
        let want = shape(&pool_at(&fresh).await).await;
        assert!(
            want.iter().any(|c| c.starts_with("sources.argon2_lanes")),
            "{want:?}"
        );
        for version in 0..=LEGACY_MIGRATIONS.len() {
            // A database as the legacy steps left it at `version`, with a row in it.
            let path = dir.path().join(format!("v{version}.sqlite"));
            let pool = pool_at(&path).await;
            sqlx::raw_sql(SCHEMA).execute(&pool).await.expect("schema");
            for m in &LEGACY_MIGRATIONS[..version] {
                sqlx::raw_sql(m).execute(&pool).await.expect("legacy step");
            }
            sqlx::raw_sql(&format!("PRAGMA user_version = {version}"))
                .execute(&pool)
                .await
                .expect("version");
            sqlx::query("INSERT INTO sources (id, desk, day) VALUES (?, 'default', '2026-01-02')")
                .bind(Id::random().to_string())
                .execute(&pool)
                .await
                .expect("a source");
            pool.close().await;

            let store = SqliteMetaStore::open(&path).await.expect("upgrade");
            assert_eq!(shape(&store.pool).await, want, "version {version} upgraded");
            let sources: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sources")
                .fetch_one(&store.pool)
                .await
                .expect("count");
            assert_eq!(sources, 1, "version {version} kept its rows");
            drop(store);
            // And opening it again is a no-op.
            let store = SqliteMetaStore::open(&path).await.expect("reopen");
            assert_eq!(shape(&store.pool).await, want);
        }
    }

    #[tokio::test]
    async fn migrations_record_the_day_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteMetaStore::open(&dir.path().join("m.sqlite"))
            .await
            .expect("open");
        let recorded: Vec<String> =
            sqlx::query_scalar("SELECT CAST(installed_on AS TEXT) FROM _sqlx_migrations")
                .fetch_all(&store.pool)
                .await
                .expect("migrations");
        assert!(!recorded.is_empty(), "the migrations are recorded");
        for r in recorded {
            assert!(
                r.len() == 10 && r.as_bytes()[4] == b'-' && r.as_bytes()[7] == b'-',
                "installed_on holds a day, not a time: {r:?}"
            );
        }
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&store.pool)
            .await
            .expect("version");
        assert_eq!(version, 3, "older sanduqs see their last legacy step done");
    }
}
