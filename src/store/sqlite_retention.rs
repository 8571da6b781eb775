//! The SQLite side of retention: a source's last-activity day, and the rows a desk's
//! `retention_days` removes. Apart from `sqlite.rs` so that the trait's implementation there
//! only delegates.

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

pub(super) async fn items_before(
    pool: &SqlitePool,
    desk: &str,
    day: &str,
    limit: u32,
) -> Result<Vec<Id>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM items WHERE desk = ? AND day < ? ORDER BY day, id LIMIT ?",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    ids.iter().map(|s| parse_id(s)).collect()
}

pub(super) async fn stale_sources(
    pool: &SqlitePool,
    desk: &str,
    day: &str,
    today: &str,
    limit: u32,
) -> Result<Vec<Id>> {
    sqlx::query("UPDATE sources SET last_day = ? WHERE desk = ? AND last_day IS NULL")
        .bind(today)
        .bind(desk)
        .execute(pool)
        .await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sources s WHERE desk = ? AND last_day < ? \
         AND NOT EXISTS (SELECT 1 FROM items i WHERE i.source = s.id) \
         ORDER BY last_day, id LIMIT ?",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    ids.iter().map(|s| parse_id(s)).collect()
}

/// Deletes the source's replies and row in one transaction; the caller checkpoints the WAL.
pub(super) async fn delete_source(pool: &SqlitePool, source: Id) -> Result<Option<Vec<Id>>> {
    let id = source.to_string();
    let mut tx = pool.begin().await?;
    let items: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE source = ?")
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
    if items > 0 {
        return Ok(None);
    }
    let replies: Vec<String> = sqlx::query_scalar("SELECT id FROM replies WHERE source = ?")
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM replies WHERE source = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    let gone = sqlx::query("DELETE FROM sources WHERE id = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if gone.rows_affected() == 0 {
        return Ok(None);
    }
    replies
        .iter()
        .map(|s| parse_id(s))
        .collect::<Result<_>>()
        .map(Some)
}
