//! The embedded metadata store: one SQLite file, `meta.sqlite`.
//!
//! It holds ids, sizes, desks, UTC days, editors and token hashes — nothing a source wrote.
//! `secure_delete` is on, so deleted rows are overwritten in the file, and every commit is
//! synchronous (`synchronous = FULL`), so an acknowledged submission survives a crash.
//! The schema, and how older databases reach it, is in `sqlite_schema`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::sqlite_schema::migrate;
use super::{
    Channel, Dump, Editor, Error, ItemRow, Lease, MetaStore, NotifyRow, ReplyRow, Result,
    SessionRow, SourceInfo, SourceLogin, SourceRow,
};
use crate::codename::Cost;
use crate::ids::Id;

/// The `install` row of the pepper's fingerprint.
const PEPPER_FINGERPRINT: &str = "pepper_fingerprint";

/// A [`MetaStore`] in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteMetaStore {
    pub(super) pool: SqlitePool,
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

pub(super) fn parse_id(s: &str) -> Result<Id> {
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

    async fn put_session(&self, s: &SessionRow) -> Result<()> {
        let res = sqlx::query("INSERT INTO sessions (id, sealed, sweep_after) VALUES (?, ?, ?)")
            .bind(&s.id[..])
            .bind(&s.sealed)
            .bind(to_i64(s.sweep_after_ms)?)
            .execute(&self.pool)
            .await
            .map_err(Error::from);
        match res {
            Ok(_) => Ok(()),
            Err(Error::Exists(_)) => Err(Error::Exists("a session of that id".into())),
            Err(other) => Err(other),
        }
    }

    async fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRow>> {
        let row = sqlx::query("SELECT sealed, sweep_after FROM sessions WHERE id = ?")
            .bind(&id[..])
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let after: i64 = r.try_get("sweep_after")?;
            Ok(SessionRow {
                id: *id,
                sealed: r.try_get("sealed")?,
                sweep_after_ms: u64::try_from(after)
                    .map_err(|_| Error::Corrupt("negative sweep time".into()))?,
            })
        })
        .transpose()
    }

    async fn update_session(&self, s: &SessionRow) -> Result<bool> {
        let r = sqlx::query("UPDATE sessions SET sealed = ?, sweep_after = ? WHERE id = ?")
            .bind(&s.sealed)
            .bind(to_i64(s.sweep_after_ms)?)
            .bind(&s.id[..])
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_session(&self, id: &[u8; 32]) -> Result<bool> {
        let r = sqlx::query("DELETE FROM sessions WHERE id = ?")
            .bind(&id[..])
            .execute(&self.pool)
            .await?;
        if r.rows_affected() > 0 {
            self.forget().await?;
        }
        Ok(r.rows_affected() > 0)
    }

    async fn sweep_sessions(&self, now_ms: u64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE sweep_after <= ?")
            .bind(to_i64(now_ms)?)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() > 0 {
            self.forget().await?;
        }
        Ok(r.rows_affected())
    }

    // Sync (issue 20): the desk's replies and its address book.
    async fn replies_for_desk(&self, desk: &str) -> Result<Vec<ReplyRow>> {
        let rows = sqlx::query(
            "SELECT id, source, desk, day, size FROM replies WHERE desk = ? ORDER BY day, id",
        )
        .bind(desk)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(reply_from_row).collect()
    }

    async fn sources_after(
        &self,
        desk: &str,
        after: (&str, Option<Id>),
        limit: u32,
    ) -> Result<Vec<SourceInfo>> {
        let rows = sqlx::query(
            "SELECT id, desk, day, reply_recipient FROM sources \
             WHERE desk = ? AND (day > ? OR (day = ? AND id > ?)) ORDER BY day, id LIMIT ?",
        )
        .bind(desk)
        .bind(after.0)
        .bind(after.0)
        .bind(after.1.map(|i| i.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source_from_row).collect()
    }

    // Retention: see `sqlite_retention`.
    async fn touch_source(&self, source: Id, day: &str) -> Result<()> {
        super::sqlite_retention::touch_source(&self.pool, source, day).await
    }

    async fn expire_items(&self, desk: &str, day: &str, limit: u32) -> Result<Vec<Id>> {
        let ids = super::sqlite_retention::expire_items(&self.pool, desk, day, limit).await?;
        if !ids.is_empty() {
            self.forget().await?;
        }
        Ok(ids)
    }

    async fn expire_sources(
        &self,
        desk: &str,
        day: &str,
        today: &str,
        limit: u32,
    ) -> Result<(u64, Vec<Id>)> {
        let gone =
            super::sqlite_retention::expire_sources(&self.pool, desk, day, today, limit).await?;
        if gone.0 > 0 {
            self.forget().await?;
        }
        Ok(gone)
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
        let fetched: Vec<String> =
            sqlx::query_scalar("SELECT id FROM items WHERE fetched = 1 ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Dump {
            fetched: fetched.iter().map(|s| parse_id(s)).collect::<Result<_>>()?,
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
        for id in &dump.fetched {
            sqlx::query("UPDATE items SET fetched = 1 WHERE id = ?")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // Editor keys over time, and items seen by the desk (issue 19).

    async fn set_recipient(&self, name: &str, recipient: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE editors SET recipient = ? WHERE name = ?")
            .bind(recipient)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn mark_fetched(&self, desk: &str, ids: &[Id]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut marked = 0;
        for id in ids {
            marked += sqlx::query(
                "UPDATE items SET fetched = 1 WHERE id = ? AND desk = ? AND fetched = 0",
            )
            .bind(id.to_string())
            .bind(desk)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(marked)
    }

    async fn fetched_items(&self, desk: &str) -> Result<Vec<Id>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM items WHERE desk = ? AND fetched = 1 ORDER BY id")
                .bind(desk)
                .fetch_all(&self.pool)
                .await?;
        ids.iter().map(|s| parse_id(s)).collect()
    }

    // Content-free notifications: the statements are shared with the other SQL store.

    async fn notify_subscribe(
        &self,
        editor: &str,
        channel: Channel,
        address: Option<&str>,
    ) -> Result<bool> {
        super::notify_rows::subscribe(&self.pool, editor, channel, address).await
    }

    async fn notify_rows(&self) -> Result<Vec<NotifyRow>> {
        super::notify_rows::rows(&self.pool).await
    }

    async fn notify_arrived(&self, desk: &str) -> Result<()> {
        super::notify_rows::arrived(&self.pool, desk).await
    }

    async fn notify_plan(
        &self,
        editor: &str,
        channel: Channel,
        period: u64,
        offset: u64,
    ) -> Result<()> {
        super::notify_rows::plan(&self.pool, editor, channel, (period, offset)).await
    }

    async fn notify_due(&self, editor: &str, channel: Channel) -> Result<bool> {
        super::notify_rows::due(&self.pool, editor, channel).await
    }

    async fn notify_sent(&self, editor: &str, channel: Channel, period: u64) -> Result<()> {
        super::notify_rows::sent(&self.pool, editor, channel, period).await
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
