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
    Editor, Error, ItemRow, Lease, MetaStore, ReplyRow, Result, SourceInfo, SourceLogin, SourceRow,
};
use crate::codename::Cost;
use crate::ids::Id;

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

/// Schema changes after the first, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &[
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
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&pool)
            .await?;
        for (i, m) in MIGRATIONS
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
        .execute(&mut *tx)
        .await?;
        for it in items {
            sqlx::query(
                "INSERT INTO items (id, source, desk, day, size, meta_size) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(it.id.to_string())
            .bind(it.source.to_string())
            .bind(&it.desk)
            .bind(&it.day)
            .bind(to_i64(it.size)?)
            .bind(to_i64(it.meta_size)?)
            .execute(&mut *tx)
            .await?;
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
        rows.iter()
            .map(|r| {
                let size: i64 = r.try_get("size")?;
                Ok(ReplyRow {
                    id: parse_id(r.try_get("id")?)?,
                    source: parse_id(r.try_get("source")?)?,
                    desk: r.try_get("desk")?,
                    day: r.try_get("day")?,
                    size: u64::try_from(size)
                        .map_err(|_| Error::Corrupt("negative size".into()))?,
                })
            })
            .collect()
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
}

fn source_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<SourceInfo> {
    Ok(SourceInfo {
        id: parse_id(r.try_get("id")?)?,
        desk: r.try_get("desk")?,
        day: r.try_get("day")?,
        reply_recipient: r.try_get("reply_recipient")?,
    })
}
