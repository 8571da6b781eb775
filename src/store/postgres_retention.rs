//! The PostgreSQL side of retention: a source's last-activity day, and the rows a desk's
//! `retention_days` removes. Apart from `postgres.rs` so that the trait's implementation there
//! only delegates.

use sqlx::PgPool;

use super::{postgres::parse_id, Result};
use crate::ids::Id;

pub(super) async fn touch_source(pool: &PgPool, source: Id, day: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sources SET last_day = $1 WHERE id = $2 AND (last_day IS NULL OR last_day < $3)",
    )
    .bind(day)
    .bind(source.to_string())
    .bind(day)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn items_before(
    pool: &PgPool,
    desk: &str,
    day: &str,
    limit: u32,
) -> Result<Vec<Id>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM items WHERE desk = $1 AND day < $2 ORDER BY day, id LIMIT $3",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    ids.iter().map(|s| parse_id(s)).collect()
}

pub(super) async fn stale_sources(
    pool: &PgPool,
    desk: &str,
    day: &str,
    today: &str,
    limit: u32,
) -> Result<Vec<Id>> {
    sqlx::query("UPDATE sources SET last_day = $1 WHERE desk = $2 AND last_day IS NULL")
        .bind(today)
        .bind(desk)
        .execute(pool)
        .await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sources s WHERE desk = $1 AND last_day < $2 \
         AND NOT EXISTS (SELECT 1 FROM items i WHERE i.source = s.id) \
         ORDER BY last_day, id LIMIT $3",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    ids.iter().map(|s| parse_id(s)).collect()
}

/// Deletes the source's replies and row in one transaction.
pub(super) async fn delete_source(pool: &PgPool, source: Id) -> Result<Option<Vec<Id>>> {
    let id = source.to_string();
    let mut tx = pool.begin().await?;
    // Locked first: a submission committing an item of this source meanwhile waits, and the
    // count below stays true until the row is gone.
    sqlx::query("SELECT id FROM sources WHERE id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    let items: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE source = $1")
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
    if items > 0 {
        return Ok(None);
    }
    let replies: Vec<String> = sqlx::query_scalar("SELECT id FROM replies WHERE source = $1")
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM replies WHERE source = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    let gone = sqlx::query("DELETE FROM sources WHERE id = $1")
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
