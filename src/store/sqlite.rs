//! The embedded metadata store: one SQLite file, `meta.sqlite`.
//!
//! It holds ids, sizes, desks, UTC days, editors and token hashes — nothing a source wrote.
//! `secure_delete` is on, so deleted rows are overwritten in the file, and every commit is
//! synchronous (`synchronous = FULL`), so an acknowledged submission survives a crash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    Dump, Editor, Error, ItemRow, Lease, MetaStore, ReplyRow, Result, SourceInfo, SourceLogin,
    SourceRow,
};
use crate::codename::Cost;
use crate::ids::Id;

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
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The `install` row of the pepper's fingerprint.
const PEPPER_FINGERPRINT: &str = "pepper_fingerprint";

/// A [`MetaStore`] in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteMetaStore {
    pool: SqlitePool,
    /// The janitor's lease: a lock on this file, beside the database.
    lease_path: PathBuf,
}

impl SqliteMetaStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        // SQLite gives its -wal and -shm files the mode of the database file, so create that
        // file owner-only before SQLite first opens it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        migrate(&pool).await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        let mut lease_path = path.as_os_str().to_owned();
        lease_path.push(".janitor");
        Ok(SqliteMetaStore {
            pool,
            lease_path: PathBuf::from(lease_path),
        })
    }
}

/// Brings the database at `pool` to the current schema: the legacy steps for a database made
/// before `_sqlx_migrations` existed, then the versioned migrations.
async fn migrate(pool: &SqlitePool) -> Result<()> {
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

impl SqliteMetaStore {
    /// After a delete: copy the WAL into the database (where `secure_delete` has zeroed the
    /// old row) and truncate it, so the deleted row survives in neither file.
    async fn forget(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn parse_id(s: &str) -> Result<Id> {
    Id::from_str(s).map_err(|_| Error::Corrupt(format!("bad id {s:?}")))
}

fn item_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ItemRow> {
    let size: i64 = r.try_get("size")?;
    let meta_size: i64 = r.try_get("meta_size")?;
    Ok(ItemRow {
        id: parse_id(r.try_get("id")?)?,
        source: parse_id(r.try_get("source")?)?,
        desk: r.try_get("desk")?,
        day: r.try_get("day")?,
        size: u64::try_from(size).map_err(|_| Error::Corrupt("negative size".into()))?,
        meta_size: u64::try_from(meta_size).map_err(|_| Error::Corrupt("negative size".into()))?,
    })
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Corrupt("size out of range".into()))
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn add_editor(&self, e: &Editor) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO editors (name, desk, recipient, token_hash) VALUES (?, ?, ?, ?)",
        )
        .bind(&e.name)
        .bind(&e.desk)
        .bind(&e.recipient)
        .bind(&e.token_hash[..])
        .execute(&self.pool)
        .await
        .map_err(Error::from);
        match res {
            Ok(_) => Ok(()),
            Err(Error::Exists(_)) => Err(Error::Exists(format!("an editor named {:?}", e.name))),
            Err(other) => Err(other),
        }
    }

    async fn editors(&self) -> Result<Vec<Editor>> {
        let rows =
            sqlx::query("SELECT name, desk, recipient, token_hash FROM editors ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let h: Vec<u8> = r.try_get("token_hash")?;
                Ok(Editor {
                    name: r.try_get("name")?,
                    desk: r.try_get("desk")?,
                    recipient: r.try_get("recipient")?,
                    token_hash: h
                        .try_into()
                        .map_err(|_| Error::Corrupt("token hash length".into()))?,
                })
            })
            .collect()
    }

    async fn remove_editor(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM editors WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_token_hash(&self, name: &str, hash: &[u8; 32]) -> Result<bool> {
        let r = sqlx::query("UPDATE editors SET token_hash = ? WHERE name = ?")
            .bind(&hash[..])
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn desk_recipients(&self, desk: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT recipient FROM editors WHERE desk = ? ORDER BY name")
            .bind(desk)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("recipient"))
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn commit_submission(
        &self,
        source: &SourceRow,
        login: Option<&SourceLogin>,
        items: &[ItemRow],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_source(&mut tx, source, login).await?;
        for it in items {
            insert_item(&mut tx, it, "INSERT").await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn source_by_login(&self, login_hash: &[u8; 32]) -> Result<Option<SourceRow>> {
        let row = sqlx::query("SELECT id, desk, day FROM sources WHERE login_hash = ?")
            .bind(&login_hash[..])
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| -> Result<SourceRow> {
            Ok(SourceRow {
                id: parse_id(r.try_get("id")?)?,
                desk: r.try_get("desk")?,
                day: r.try_get("day")?,
            })
        })
        .transpose()
    }

    async fn items_for_desk(&self, desk: &str) -> Result<Vec<ItemRow>> {
        let rows = sqlx::query(
            "SELECT id, source, desk, day, size, meta_size FROM items WHERE desk = ? ORDER BY day, id",
        )
        .bind(desk)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn item(&self, id: Id) -> Result<Option<ItemRow>> {
        let row =
            sqlx::query("SELECT id, source, desk, day, size, meta_size FROM items WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn set_reply_recipient(&self, source: Id, recipient: &str) -> Result<()> {
        sqlx::query("UPDATE sources SET reply_recipient = ? WHERE id = ?")
            .bind(recipient)
            .bind(source.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn item_with_editors(&self, id: Id) -> Result<Option<(ItemRow, Vec<Editor>)>> {
        let rows = sqlx::query(
            "SELECT i.id, i.source, i.desk, i.day, i.size, i.meta_size, \
             e.name, e.recipient, e.token_hash \
             FROM items i JOIN editors e ON e.desk = i.desk WHERE i.id = ?",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let item = item_from_row(first)?;
        let editors = rows
            .iter()
            .map(|r| {
                let h: Vec<u8> = r.try_get("token_hash")?;
                Ok(Editor {
                    name: r.try_get("name")?,
                    desk: item.desk.clone(),
                    recipient: r.try_get("recipient")?,
                    token_hash: h
                        .try_into()
                        .map_err(|_| Error::Corrupt("token hash length".into()))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((item, editors)))
    }

    async fn delete_item(&self, id: Id) -> Result<bool> {
        let r = sqlx::query("DELETE FROM items WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        self.forget().await?;
        Ok(r.rows_affected() > 0)
    }

    async fn item_ids(&self) -> Result<HashSet<Id>> {
        let rows = sqlx::query("SELECT id FROM items UNION ALL SELECT id FROM replies")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse_id(r.try_get("id")?)).collect()
    }

    async fn sources_with_items(&self, desk: &str) -> Result<Vec<SourceInfo>> {
        let rows = sqlx::query(
            "SELECT id, desk, day, reply_recipient FROM sources \
             WHERE desk = ? AND id IN (SELECT source FROM items WHERE desk = ?) \
             ORDER BY day, id",
        )
        .bind(desk)
        .bind(desk)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source_from_row).collect()
    }

    async fn source(&self, id: Id) -> Result<Option<SourceInfo>> {
        let row = sqlx::query("SELECT id, desk, day, reply_recipient FROM sources WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source_from_row).transpose()
    }

    async fn add_reply(&self, r: &ReplyRow) -> Result<()> {
        sqlx::query("INSERT INTO replies (id, source, desk, day, size) VALUES (?, ?, ?, ?, ?)")
            .bind(r.id.to_string())
            .bind(r.source.to_string())
            .bind(&r.desk)
            .bind(&r.day)
            .bind(to_i64(r.size)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn replies_for_source(&self, source: Id) -> Result<Vec<ReplyRow>> {
        let rows = sqlx::query(
            "SELECT id, source, desk, day, size FROM replies WHERE source = ? ORDER BY day, id",
        )
        .bind(source.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(reply_from_row).collect()
    }

    async fn delete_reply(&self, source: Id, id: Id) -> Result<bool> {
        let r = sqlx::query("DELETE FROM replies WHERE id = ? AND source = ?")
            .bind(id.to_string())
            .bind(source.to_string())
            .execute(&self.pool)
            .await?;
        self.forget().await?;
        Ok(r.rows_affected() > 0)
    }

    async fn pepper_fingerprint(&self, fingerprint: &[u8; 32]) -> Result<[u8; 32]> {
        sqlx::query("INSERT OR IGNORE INTO install (key, value) VALUES (?, ?)")
            .bind(PEPPER_FINGERPRINT)
            .bind(&fingerprint[..])
            .execute(&self.pool)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM install WHERE key = ?")
            .bind(PEPPER_FINGERPRINT)
            .fetch_one(&self.pool)
            .await?;
        v.try_into()
            .map_err(|_| Error::Corrupt("pepper fingerprint length".into()))
    }

    async fn assume_cost(&self, cost: Cost) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE sources SET argon2_memory_kib = ?, argon2_time = ?, argon2_lanes = ? \
             WHERE login_hash IS NOT NULL AND argon2_memory_kib IS NULL",
        )
        .bind(i64::from(cost.memory_kib))
        .bind(i64::from(cost.time))
        .bind(i64::from(cost.lanes))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn source_costs(&self) -> Result<Vec<Cost>> {
        let rows = sqlx::query(
            "SELECT argon2_memory_kib, argon2_time, argon2_lanes, MAX(rowid) AS newest \
             FROM sources WHERE login_hash IS NOT NULL AND argon2_memory_kib IS NOT NULL \
             GROUP BY argon2_memory_kib, argon2_time, argon2_lanes ORDER BY newest DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let field = |r: &sqlx::sqlite::SqliteRow, name: &str| -> Result<u32> {
            let v: i64 = r.try_get(name)?;
            u32::try_from(v).map_err(|_| Error::Corrupt(format!("{name} out of range")))
        };
        rows.iter()
            .map(|r| {
                Ok(Cost {
                    memory_kib: field(r, "argon2_memory_kib")?,
                    time: field(r, "argon2_time")?,
                    lanes: field(r, "argon2_lanes")?,
                })
            })
            .collect()
    }

    async fn janitor_lease(&self) -> Result<Option<Lease>> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&self.lease_path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    async fn dump(&self) -> Result<Dump> {
        // One read transaction: a consistent picture even while serve writes.
        let mut tx = self.pool.begin().await?;
        let editors =
            sqlx::query("SELECT name, desk, recipient, token_hash FROM editors ORDER BY name")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(Editor {
                        name: r.try_get("name")?,
                        desk: r.try_get("desk")?,
                        recipient: r.try_get("recipient")?,
                        token_hash: hash32(r.try_get("token_hash")?, "token hash")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        let sources = sqlx::query(
            "SELECT id, desk, day, login_hash, reply_recipient, argon2_memory_kib, argon2_time, \
             argon2_lanes FROM sources ORDER BY rowid",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let row = SourceRow {
                id: parse_id(r.try_get("id")?)?,
                desk: r.try_get("desk")?,
                day: r.try_get("day")?,
            };
            let login = super::sql::dumped_login(
                r.try_get("login_hash")?,
                r.try_get("reply_recipient")?,
                [
                    r.try_get("argon2_memory_kib")?,
                    r.try_get("argon2_time")?,
                    r.try_get("argon2_lanes")?,
                ],
            )?;
            Ok((row, login))
        })
        .collect::<Result<Vec<_>>>()?;
        let items = sqlx::query(
            "SELECT id, source, desk, day, size, meta_size FROM items ORDER BY day, id",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(item_from_row)
        .collect::<Result<Vec<_>>>()?;
        let replies =
            sqlx::query("SELECT id, source, desk, day, size FROM replies ORDER BY day, id")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(reply_from_row)
                .collect::<Result<Vec<_>>>()?;
        let pepper: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM install WHERE key = ?")
            .bind(PEPPER_FINGERPRINT)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Dump {
            editors,
            sources,
            items,
            replies,
            pepper_fingerprint: pepper
                .map(|v| hash32(v, "pepper fingerprint"))
                .transpose()?,
        })
    }

    async fn restore(&self, dump: &Dump) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(fp) = &dump.pepper_fingerprint {
            sqlx::query("INSERT OR IGNORE INTO install (key, value) VALUES (?, ?)")
                .bind(PEPPER_FINGERPRINT)
                .bind(&fp[..])
                .execute(&mut *tx)
                .await?;
            let held: Vec<u8> = sqlx::query_scalar("SELECT value FROM install WHERE key = ?")
                .bind(PEPPER_FINGERPRINT)
                .fetch_one(&mut *tx)
                .await?;
            if held != fp[..] {
                return Err(super::sql::other_pepper());
            }
        }
        for e in &dump.editors {
            sqlx::query(
                "INSERT OR IGNORE INTO editors (name, desk, recipient, token_hash) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(&e.name)
            .bind(&e.desk)
            .bind(&e.recipient)
            .bind(&e.token_hash[..])
            .execute(&mut *tx)
            .await?;
        }
        // In the dumped order, so rowids keep the order sources were first written in.
        for (source, login) in &dump.sources {
            insert_source(&mut tx, source, login.as_ref()).await?;
        }
        for it in &dump.items {
            insert_item(&mut tx, it, "INSERT OR IGNORE").await?;
        }
        for r in &dump.replies {
            sqlx::query(
                "INSERT OR IGNORE INTO replies (id, source, desk, day, size) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(r.id.to_string())
            .bind(r.source.to_string())
            .bind(&r.desk)
            .bind(&r.day)
            .bind(to_i64(r.size)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn source_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<SourceInfo> {
    Ok(SourceInfo {
        id: parse_id(r.try_get("id")?)?,
        desk: r.try_get("desk")?,
        day: r.try_get("day")?,
        reply_recipient: r.try_get("reply_recipient")?,
    })
}

fn reply_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ReplyRow> {
    let size: i64 = r.try_get("size")?;
    Ok(ReplyRow {
        id: parse_id(r.try_get("id")?)?,
        source: parse_id(r.try_get("source")?)?,
        desk: r.try_get("desk")?,
        day: r.try_get("day")?,
        size: u64::try_from(size).map_err(|_| Error::Corrupt("negative size".into()))?,
    })
}

fn hash32(v: Vec<u8>, what: &str) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| Error::Corrupt(format!("{what} length")))
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// Writes a source unless one of its id (or login) is there.
async fn insert_source(tx: &mut Tx, source: &SourceRow, login: Option<&SourceLogin>) -> Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO sources (id, desk, day, login_hash, reply_recipient, \
         argon2_memory_kib, argon2_time, argon2_lanes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(source.id.to_string())
    .bind(&source.desk)
    .bind(&source.day)
    .bind(login.map(|l| l.login_hash.to_vec()))
    .bind(login.map(|l| l.reply_recipient.clone()))
    .bind(login.map(|l| i64::from(l.cost.memory_kib)))
    .bind(login.map(|l| i64::from(l.cost.time)))
    .bind(login.map(|l| i64::from(l.cost.lanes)))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes an item; `verb` is `INSERT` or `INSERT OR IGNORE`.
async fn insert_item(tx: &mut Tx, it: &ItemRow, verb: &'static str) -> Result<()> {
    sqlx::query(&format!(
        "{verb} INTO items (id, source, desk, day, size, meta_size) VALUES (?, ?, ?, ?, ?, ?)"
    ))
    .bind(it.id.to_string())
    .bind(it.source.to_string())
    .bind(&it.desk)
    .bind(&it.day)
    .bind(to_i64(it.size)?)
    .bind(to_i64(it.meta_size)?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
