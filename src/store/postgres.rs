//! The metadata store for installs of several nodes: one PostgreSQL database.
//!
//! It holds the same rows as [`super::sqlite`] — ids, sizes, desks, UTC days, editors and
//! token hashes, nothing a source wrote — in the schema of `migrations/postgres/`, applied at
//! [`PgMetaStore::connect`]. No column has a time type: days are `YYYY-MM-DD` text, and the
//! time of day sqlx records for each migration is cut to the day.
//!
//! The password comes from the URL's environment, never from `sanduq.toml`: `PGPASSWORD` or
//! `~/.pgpass` (sqlx reads the standard `PG*` variables). Connections come from a pool that
//! waits at most [`ACQUIRE_TIMEOUT`] for one, so a PostgreSQL that is down or unreachable
//! makes calls fail with [`Error::Unavailable`] (a 503) quickly instead of hanging; each
//! pooled connection is checked before use, so once PostgreSQL is back the same store works
//! again without a restart of sanduq.
//!
//! The janitor's lease is a session advisory lock held on a connection of its own, outside
//! the pool: dropping the lease closes that connection and PostgreSQL releases the lock. If
//! PostgreSQL restarts meanwhile the lock is gone while the holder still runs; the janitor's
//! grace period, not the lease alone, keeps it from removing what another node is writing.
//!
//! # What PostgreSQL keeps after a delete
//!
//! A `DELETE` does not erase a row: PostgreSQL marks it dead and leaves its bytes in the
//! table's heap pages and in every index until `VACUUM` (or autovacuum) reclaims the space,
//! and even then the bytes stay in the file until the page is reused. The row also stays in
//! the write-ahead log (WAL) segments until they are recycled, in any archived WAL, in base
//! backups, and on every streaming replica, each of which keeps its own dead tuples. The rows
//! hold no plaintext of a source, but they do say that an item or reply existed, its size and
//! its day. The operator should: keep autovacuum on, run `VACUUM` on sanduq's tables
//! regularly (after bulk deletes at least), keep WAL retention and archives short, keep
//! backups on the same retention as the install, and put the data directory, WAL, replicas
//! and backups on encrypted disks. The same advice is in `docs/security.md`.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgPool, Row};

use super::{
    Channel, Dump, Editor, Error, ItemRow, Lease, MetaStore, NotifyRow, ReplyRow, Result,
    SessionRow, SourceInfo, SourceLogin, SourceRow,
};
use crate::codename::Cost;
use crate::ids::Id;

/// How long a call waits for a connection before it fails as unavailable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The key of the janitor's advisory lock ("sanduq" and 1, as bytes).
const LEASE_KEY: i64 = 0x7361_6e64_7571_0001;

/// The `install` row of the pepper's fingerprint.
const PEPPER_FINGERPRINT: &str = "pepper_fingerprint";

/// The versioned migrations, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A [`MetaStore`] in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgMetaStore {
    pool: PgPool,
    /// For the lease's own connection.
    opts: PgConnectOptions,
}

/// The janitor's lease: the connection that holds the advisory lock. Dropping it closes the
/// connection, which releases the lock.
struct PgLease(#[allow(dead_code)] Mutex<sqlx::PgConnection>);

impl PgMetaStore {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DATABASE`) and brings
    /// its schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        // Connection lines name the server, never data: keep them out of the log.
        // PostgreSQL's notices ("relation … already exists, skipping" at each start) are not
        // news: without them an admin command's error stays one line on stderr.
        let opts = PgConnectOptions::from_str(url)?
            .disable_statement_logging()
            .options([("client_min_messages", "warning")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts.clone())
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(super::sql::from_migrate)?;
        // sqlx records when each migration ran, to the microsecond: keep the UTC day only.
        sqlx::query(
            "UPDATE _sqlx_migrations SET installed_on = date_trunc('day', installed_on, 'UTC') \
             WHERE installed_on <> date_trunc('day', installed_on, 'UTC')",
        )
        .execute(&pool)
        .await?;
        Ok(PgMetaStore { pool, opts })
    }

    /// The pool, for tests that look at the schema itself.
    #[doc(hidden)]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

pub(super) fn parse_id(s: &str) -> Result<Id> {
    Id::from_str(s).map_err(|_| Error::Corrupt(format!("bad id {s:?}")))
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Corrupt("size out of range".into()))
}

fn to_u64(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::Corrupt("negative size".into()))
}

fn hash32(v: Vec<u8>, what: &str) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| Error::Corrupt(format!("{what} length")))
}

fn item_from_row(r: &PgRow) -> Result<ItemRow> {
    Ok(ItemRow {
        id: parse_id(r.try_get("id")?)?,
        source: parse_id(r.try_get("source")?)?,
        desk: r.try_get("desk")?,
        day: r.try_get("day")?,
        size: to_u64(r.try_get("size")?)?,
        meta_size: to_u64(r.try_get("meta_size")?)?,
    })
}

fn reply_from_row(r: &PgRow) -> Result<ReplyRow> {
    Ok(ReplyRow {
        id: parse_id(r.try_get("id")?)?,
        source: parse_id(r.try_get("source")?)?,
        desk: r.try_get("desk")?,
        day: r.try_get("day")?,
        size: to_u64(r.try_get("size")?)?,
    })
}

fn source_from_row(r: &PgRow) -> Result<SourceInfo> {
    Ok(SourceInfo {
        id: parse_id(r.try_get("id")?)?,
        desk: r.try_get("desk")?,
        day: r.try_get("day")?,
        reply_recipient: r.try_get("reply_recipient")?,
    })
}

fn editor_from_row(r: &PgRow) -> Result<Editor> {
    Ok(Editor {
        name: r.try_get("name")?,
        desk: r.try_get("desk")?,
        recipient: r.try_get("recipient")?,
        token_hash: hash32(r.try_get("token_hash")?, "token hash")?,
    })
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Writes a source unless one of its id (or login) is there.
async fn insert_source(tx: &mut Tx, source: &SourceRow, login: Option<&SourceLogin>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sources (id, desk, day, login_hash, reply_recipient, \
         argon2_memory_kib, argon2_time, argon2_lanes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT DO NOTHING",
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

const INSERT_ITEM: &str = "INSERT INTO items (id, source, desk, day, size, meta_size) \
                           VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_ITEM_IF_NEW: &str = "INSERT INTO items (id, source, desk, day, size, meta_size) \
                                  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

/// Writes an item with `sql`, one of the two statements above.
async fn insert_item(tx: &mut Tx, it: &ItemRow, sql: &'static str) -> Result<()> {
    sqlx::query(sql)
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

#[async_trait]
impl MetaStore for PgMetaStore {
    async fn add_editor(&self, e: &Editor) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO editors (name, desk, recipient, token_hash) VALUES ($1, $2, $3, $4)",
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
        sqlx::query("SELECT name, desk, recipient, token_hash FROM editors ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(editor_from_row)
            .collect()
    }

    async fn remove_editor(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM editors WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_token_hash(&self, name: &str, hash: &[u8; 32]) -> Result<bool> {
        let r = sqlx::query("UPDATE editors SET token_hash = $1 WHERE name = $2")
            .bind(&hash[..])
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn desk_recipients(&self, desk: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT recipient FROM editors WHERE desk = $1 ORDER BY name")
                .bind(desk)
                .fetch_all(&self.pool)
                .await?,
        )
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
            insert_item(&mut tx, it, INSERT_ITEM).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn source_by_login(&self, login_hash: &[u8; 32]) -> Result<Option<SourceRow>> {
        let row = sqlx::query("SELECT id, desk, day FROM sources WHERE login_hash = $1")
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
        sqlx::query(
            "SELECT id, source, desk, day, size, meta_size FROM items WHERE desk = $1 \
             ORDER BY day, id",
        )
        .bind(desk)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(item_from_row)
        .collect()
    }

    async fn item(&self, id: Id) -> Result<Option<ItemRow>> {
        let row =
            sqlx::query("SELECT id, source, desk, day, size, meta_size FROM items WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn set_reply_recipient(&self, source: Id, recipient: &str) -> Result<()> {
        sqlx::query("UPDATE sources SET reply_recipient = $1 WHERE id = $2")
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
             FROM items i JOIN editors e ON e.desk = i.desk WHERE i.id = $1 ORDER BY e.name",
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
                Ok(Editor {
                    name: r.try_get("name")?,
                    desk: item.desk.clone(),
                    recipient: r.try_get("recipient")?,
                    token_hash: hash32(r.try_get("token_hash")?, "token hash")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((item, editors)))
    }

    async fn delete_item(&self, id: Id) -> Result<bool> {
        let r = sqlx::query("DELETE FROM items WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn item_ids(&self) -> Result<HashSet<Id>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM items UNION ALL SELECT id FROM replies")
                .fetch_all(&self.pool)
                .await?;
        ids.iter().map(|s| parse_id(s)).collect()
    }

    async fn sources_with_items(&self, desk: &str) -> Result<Vec<SourceInfo>> {
        sqlx::query(
            "SELECT id, desk, day, reply_recipient FROM sources \
             WHERE desk = $1 AND id IN (SELECT source FROM items WHERE desk = $1) \
             ORDER BY day, id",
        )
        .bind(desk)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(source_from_row)
        .collect()
    }

    async fn source(&self, id: Id) -> Result<Option<SourceInfo>> {
        let row = sqlx::query("SELECT id, desk, day, reply_recipient FROM sources WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source_from_row).transpose()
    }

    async fn add_reply(&self, r: &ReplyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO replies (id, source, desk, day, size) VALUES ($1, $2, $3, $4, $5)",
        )
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
        sqlx::query(
            "SELECT id, source, desk, day, size FROM replies WHERE source = $1 ORDER BY day, id",
        )
        .bind(source.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(reply_from_row)
        .collect()
    }

    async fn delete_reply(&self, source: Id, id: Id) -> Result<bool> {
        let r = sqlx::query("DELETE FROM replies WHERE id = $1 AND source = $2")
            .bind(id.to_string())
            .bind(source.to_string())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn pepper_fingerprint(&self, fingerprint: &[u8; 32]) -> Result<[u8; 32]> {
        sqlx::query("INSERT INTO install (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(PEPPER_FINGERPRINT)
            .bind(&fingerprint[..])
            .execute(&self.pool)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM install WHERE key = $1")
            .bind(PEPPER_FINGERPRINT)
            .fetch_one(&self.pool)
            .await?;
        hash32(v, "pepper fingerprint")
    }

    async fn assume_cost(&self, cost: Cost) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE sources SET argon2_memory_kib = $1, argon2_time = $2, argon2_lanes = $3 \
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
            "SELECT argon2_memory_kib, argon2_time, argon2_lanes, MAX(seq) AS newest \
             FROM sources WHERE login_hash IS NOT NULL AND argon2_memory_kib IS NOT NULL \
             GROUP BY argon2_memory_kib, argon2_time, argon2_lanes ORDER BY newest DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let field = |r: &PgRow, name: &str| -> Result<u32> {
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
        // A connection of its own: a pooled one would go back to the pool, lock and all.
        let mut conn = tokio::time::timeout(ACQUIRE_TIMEOUT, self.opts.connect())
            .await
            .map_err(|_| Error::Unavailable("no connection for the janitor's lease".into()))??;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEASE_KEY)
            .fetch_one(&mut conn)
            .await?;
        Ok(got.then(|| Box::new(PgLease(Mutex::new(conn))) as Lease))
    }

    async fn put_session(&self, s: &SessionRow) -> Result<()> {
        let res = sqlx::query("INSERT INTO sessions (id, sealed, sweep_after) VALUES ($1, $2, $3)")
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
        let row = sqlx::query("SELECT sealed, sweep_after FROM sessions WHERE id = $1")
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
        let r = sqlx::query("UPDATE sessions SET sealed = $1, sweep_after = $2 WHERE id = $3")
            .bind(&s.sealed)
            .bind(to_i64(s.sweep_after_ms)?)
            .bind(&s.id[..])
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_session(&self, id: &[u8; 32]) -> Result<bool> {
        let r = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(&id[..])
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn sweep_sessions(&self, now_ms: u64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE sweep_after <= $1")
            .bind(to_i64(now_ms)?)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    // Sync (issue 20): the desk's replies and its address book.
    async fn replies_for_desk(&self, desk: &str) -> Result<Vec<ReplyRow>> {
        let rows = sqlx::query(
            "SELECT id, source, desk, day, size FROM replies WHERE desk = $1 ORDER BY day, id",
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
             WHERE desk = $1 AND (day > $2 OR (day = $2 AND id > $3)) ORDER BY day, id LIMIT $4",
        )
        .bind(desk)
        .bind(after.0)
        .bind(after.1.map(|i| i.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source_from_row).collect()
    }

    // Retention: see `postgres_retention`.
    async fn touch_source(&self, source: Id, day: &str) -> Result<()> {
        super::postgres_retention::touch_source(&self.pool, source, day).await
    }

    async fn expire_items(&self, desk: &str, day: &str, limit: u32) -> Result<Vec<Id>> {
        super::postgres_retention::expire_items(&self.pool, desk, day, limit).await
    }

    async fn expire_sources(
        &self,
        desk: &str,
        day: &str,
        today: &str,
        limit: u32,
    ) -> Result<(u64, Vec<Id>)> {
        super::postgres_retention::expire_sources(&self.pool, desk, day, today, limit).await
    }

    async fn dump(&self) -> Result<Dump> {
        // One snapshot: a consistent picture even while other nodes write.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let editors =
            sqlx::query("SELECT name, desk, recipient, token_hash FROM editors ORDER BY name")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(editor_from_row)
                .collect::<Result<Vec<_>>>()?;
        let sources = sqlx::query(
            "SELECT id, desk, day, login_hash, reply_recipient, argon2_memory_kib, argon2_time, \
             argon2_lanes FROM sources ORDER BY seq",
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
        let pepper: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM install WHERE key = $1")
                .bind(PEPPER_FINGERPRINT)
                .fetch_optional(&mut *tx)
                .await?;
        let fetched: Vec<String> =
            sqlx::query_scalar("SELECT id FROM items WHERE fetched ORDER BY id")
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
            sqlx::query("INSERT INTO install (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(PEPPER_FINGERPRINT)
                .bind(&fp[..])
                .execute(&mut *tx)
                .await?;
            let held: Vec<u8> = sqlx::query_scalar("SELECT value FROM install WHERE key = $1")
                .bind(PEPPER_FINGERPRINT)
                .fetch_one(&mut *tx)
                .await?;
            if held != fp[..] {
                return Err(super::sql::other_pepper());
            }
        }
        for e in &dump.editors {
            sqlx::query(
                "INSERT INTO editors (name, desk, recipient, token_hash) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&e.name)
            .bind(&e.desk)
            .bind(&e.recipient)
            .bind(&e.token_hash[..])
            .execute(&mut *tx)
            .await?;
        }
        // In the dumped order, so `seq` keeps the order sources were first written in.
        for (source, login) in &dump.sources {
            insert_source(&mut tx, source, login.as_ref()).await?;
        }
        for it in &dump.items {
            insert_item(&mut tx, it, INSERT_ITEM_IF_NEW).await?;
        }
        for r in &dump.replies {
            sqlx::query(
                "INSERT INTO replies (id, source, desk, day, size) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(r.id.to_string())
            .bind(r.source.to_string())
            .bind(&r.desk)
            .bind(&r.day)
            .bind(to_i64(r.size)?)
            .execute(&mut *tx)
            .await?;
        }
        let fetched: Vec<String> = dump.fetched.iter().map(Id::to_string).collect();
        sqlx::query("UPDATE items SET fetched = TRUE WHERE id = ANY($1)")
            .bind(&fetched)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // Editor keys over time, and items seen by the desk (issue 19).

    async fn set_recipient(&self, name: &str, recipient: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE editors SET recipient = $1 WHERE name = $2")
            .bind(recipient)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn mark_fetched(&self, desk: &str, ids: &[Id]) -> Result<u64> {
        let ids: Vec<String> = ids.iter().map(Id::to_string).collect();
        let r = sqlx::query(
            "UPDATE items SET fetched = TRUE WHERE id = ANY($1) AND desk = $2 AND NOT fetched",
        )
        .bind(&ids)
        .bind(desk)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn fetched_items(&self, desk: &str) -> Result<Vec<Id>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM items WHERE desk = $1 AND fetched ORDER BY id")
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
