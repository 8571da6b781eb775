//! The PostgreSQL side of retention: a source's last-activity day, and the rows a desk's
//! `retention_days` removes, a batch per transaction. Apart from `postgres.rs` so that the
//! trait's implementation there only delegates.

use sqlx::PgPool;

use super::{postgres::parse_id, Result};
use crate::ids::Id;

pub(super) async fn touch_source(pool: &PgPool, source: Id, day: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sources SET last_day = $1 WHERE id = $2 AND (last_day IS NULL OR last_day < $1)",
    )
    .bind(day)
    .bind(source.to_string())
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes a batch of the desk's items received before `day`.
pub(super) async fn expire_items(
    pool: &PgPool,
    desk: &str,
    day: &str,
    limit: u32,
) -> Result<Vec<Id>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "DELETE FROM items WHERE id IN \
         (SELECT id FROM items WHERE desk = $1 AND day < $2 ORDER BY day, id LIMIT $3) \
         RETURNING id",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    ids.iter().map(|s| parse_id(s)).collect()
}

/// Deletes a batch of the desk's silent sources and their replies in one transaction.
pub(super) async fn expire_sources(
    pool: &PgPool,
    desk: &str,
    day: &str,
    today: &str,
    limit: u32,
) -> Result<(u64, Vec<Id>)> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE sources SET last_day = $1 WHERE desk = $2 AND last_day IS NULL")
        .bind(today)
        .bind(desk)
        .execute(&mut *tx)
        .await?;
    // Locked: a submission committing an item of one of these sources meanwhile waits (its
    // foreign key check needs the row), so "no item left" stays true until the row is gone.
    let sources: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sources s WHERE desk = $1 AND last_day < $2 \
         AND NOT EXISTS (SELECT 1 FROM items i WHERE i.source = s.id) \
         ORDER BY last_day, id LIMIT $3 FOR UPDATE",
    )
    .bind(desk)
    .bind(day)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    let replies: Vec<String> =
        sqlx::query_scalar("DELETE FROM replies WHERE source = ANY($1) RETURNING id")
            .bind(&sources)
            .fetch_all(&mut *tx)
            .await?;
    let gone = sqlx::query("DELETE FROM sources WHERE id = ANY($1)")
        .bind(&sources)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    let replies = replies.iter().map(|s| parse_id(s)).collect::<Result<_>>()?;
    Ok((gone, replies))
}
