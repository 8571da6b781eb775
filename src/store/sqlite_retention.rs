//! The SQLite side of retention: a source's last-activity day, and the rows a desk's
//! `retention_days` removes, a batch per transaction. Apart from `sqlite.rs` so that the
//! trait's implementation there only delegates.

use sqlx::SqlitePool;

use super::{sqlite::parse_id, Result};
use crate::ids::Id;

pub(super) async fn touch_source(pool: &SqlitePool, source: Id, day: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sources SET last_day = ? WHERE id = ? AND (last_day IS NULL OR last_day < ?)",
    )
    .bind(day)
    .bind(source.to_string())
    .bind(day)
    .execute(pool)
    .await?;
    Ok(())
}

/// `?, ?, …`: one placeholder per id.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Deletes a batch of the desk's items received before `day`; the caller checkpoints the WAL.
pub(super) async fn expire_items(
    pool: &SqlitePool,
    desk: &str,
    day: &str,
    limit: u32,
) -> Result<Vec<Id>> {
    // `RETURNING` hands back exactly the rows this statement deleted, in one transaction.
    let ids: Vec<String> = sqlx::query_scalar(
        "DELETE FROM items WHERE id IN \
         (SELECT id FROM items WHERE desk = ? AND day < ? ORDER BY day, id LIMIT ?) RETURNING id",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    ids.iter().map(|s| parse_id(s)).collect()
}

/// Deletes a batch of the desk's silent sources and their replies in one transaction; the
/// caller checkpoints the WAL.
pub(super) async fn expire_sources(
    pool: &SqlitePool,
    desk: &str,
    day: &str,
    today: &str,
    limit: u32,
) -> Result<(u64, Vec<Id>)> {
    let mut tx = pool.begin().await?;
    // A write first: the transaction holds the write lock from here, so no item can be
    // committed for a source between the check below and its delete.
    sqlx::query("UPDATE sources SET last_day = ? WHERE desk = ? AND last_day IS NULL")
        .bind(today)
        .bind(desk)
        .execute(&mut *tx)
        .await?;
    let sources: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sources s WHERE desk = ? AND last_day < ? \
         AND NOT EXISTS (SELECT 1 FROM items i WHERE i.source = s.id) \
         ORDER BY last_day, id LIMIT ?",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    if sources.is_empty() {
        tx.commit().await?;
        return Ok((0, Vec::new()));
    }
    let list = placeholders(sources.len());
    let delete_replies = format!("DELETE FROM replies WHERE source IN ({list}) RETURNING id");
    let mut q = sqlx::query_scalar::<_, String>(&delete_replies);
    for s in &sources {
        q = q.bind(s);
    }
    let replies = q.fetch_all(&mut *tx).await?;
    let delete_sources = format!("DELETE FROM sources WHERE id IN ({list})");
    let mut q = sqlx::query(&delete_sources);
    for s in &sources {
        q = q.bind(s);
    }
    let gone = q.execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    let replies = replies.iter().map(|s| parse_id(s)).collect::<Result<_>>()?;
    Ok((gone, replies))
}
