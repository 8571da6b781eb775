//! The `notify` table's statements, once for both SQL engines.
//!
//! SQLite and PostgreSQL read the same statements (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`) and the same column types (integers as `i64`), so the two stores share these
//! functions rather than each keeping a copy that could drift. Each function repeats the
//! engine bounds, as Rust does not imply bounds on other types from a trait's where clause.

use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{Channel, Error, NotifyRow, Result};

fn period(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Backend("a notice period out of range".into()))
}

fn unsigned(v: Option<i64>) -> Result<Option<u64>> {
    v.map(|v| u64::try_from(v).map_err(|_| Error::Corrupt("a negative notice period".into())))
        .transpose()
}

pub(super) async fn subscribe<DB: Database>(
    pool: &Pool<DB>,
    editor: &str,
    channel: Channel,
    address: Option<&str>,
) -> Result<bool>
where
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Decode<'q, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<<DB as Database>::Row>,
    usize: sqlx::ColumnIndex<<DB as Database>::Row>,
{
    let Some(address) = address else {
        sqlx::query("DELETE FROM notify WHERE editor = $1 AND channel = $2")
            .bind(editor)
            .bind(channel.as_str())
            .execute(pool)
            .await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM editors WHERE name = $1")
            .bind(editor)
            .fetch_one(pool)
            .await?;
        return Ok(n > 0);
    };
    let kept: Option<String> = sqlx::query_scalar(
        "INSERT INTO notify (editor, channel, address) \
         SELECT name, $2, $3 FROM editors WHERE name = $1 \
         ON CONFLICT (editor, channel) DO UPDATE SET address = excluded.address \
         RETURNING editor",
    )
    .bind(editor)
    .bind(channel.as_str())
    .bind(address)
    .fetch_optional(pool)
    .await?;
    Ok(kept.is_some())
}

pub(super) async fn rows<DB: Database>(pool: &Pool<DB>) -> Result<Vec<NotifyRow>>
where
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Decode<'q, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<<DB as Database>::Row>,
    usize: sqlx::ColumnIndex<<DB as Database>::Row>,
{
    let rows = sqlx::query(
        "SELECT n.editor, e.desk, n.channel, n.address, n.pending, n.owed, n.moment_period, \
         n.moment_offset, n.sent_period FROM notify n JOIN editors e ON e.name = n.editor \
         ORDER BY n.editor, n.channel",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let channel: String = r.try_get("channel")?;
            let moment = unsigned(r.try_get("moment_period")?)?
                .map(|p| Ok::<_, Error>((p, unsigned(r.try_get("moment_offset")?)?)))
                .transpose()?;
            Ok(NotifyRow {
                editor: r.try_get("editor")?,
                desk: r.try_get("desk")?,
                channel: Channel::parse(&channel)
                    .ok_or_else(|| Error::Corrupt("an unknown notice channel".into()))?,
                address: r.try_get("address")?,
                pending: r.try_get::<i64, _>("pending")? != 0,
                owed: r.try_get::<i64, _>("owed")? != 0,
                moment,
                sent_period: unsigned(r.try_get("sent_period")?)?,
            })
        })
        .collect()
}

pub(super) async fn arrived<DB: Database>(pool: &Pool<DB>, desk: &str) -> Result<()>
where
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Decode<'q, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<<DB as Database>::Row>,
    usize: sqlx::ColumnIndex<<DB as Database>::Row>,
{
    sqlx::query(
        "UPDATE notify SET pending = 1 \
         WHERE pending = 0 AND editor IN (SELECT name FROM editors WHERE desk = $1)",
    )
    .bind(desk)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn plan<DB: Database>(
    pool: &Pool<DB>,
    editor: &str,
    channel: Channel,
    at: (u64, u64),
) -> Result<()>
where
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Decode<'q, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<<DB as Database>::Row>,
    usize: sqlx::ColumnIndex<<DB as Database>::Row>,
{
    sqlx::query(
        "UPDATE notify SET moment_period = $3, moment_offset = $4 \
         WHERE editor = $1 AND channel = $2 AND (moment_period IS NULL OR moment_period < $3)",
    )
    .bind(editor)
    .bind(channel.as_str())
    .bind(period(at.0)?)
    .bind(period(at.1)?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn due<DB: Database>(
    pool: &Pool<DB>,
    editor: &str,
    channel: Channel,
) -> Result<bool>
where
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Decode<'q, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<<DB as Database>::Row>,
    usize: sqlx::ColumnIndex<<DB as Database>::Row>,
{
    // One statement: a submission committing meanwhile is either taken into this notice or
    // left pending for the next moment, never lost.
    let owed: Option<i64> = sqlx::query_scalar(
        "UPDATE notify SET owed = CASE WHEN owed = 1 OR pending = 1 THEN 1 ELSE 0 END, \
         pending = 0, moment_offset = NULL WHERE editor = $1 AND channel = $2 RETURNING owed",
    )
    .bind(editor)
    .bind(channel.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(owed == Some(1))
}

pub(super) async fn sent<DB: Database>(
    pool: &Pool<DB>,
    editor: &str,
    channel: Channel,
    at: u64,
) -> Result<()>
where
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Decode<'q, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<<DB as Database>::Row>,
    usize: sqlx::ColumnIndex<<DB as Database>::Row>,
{
    sqlx::query("UPDATE notify SET owed = 0, sent_period = $3 WHERE editor = $1 AND channel = $2")
        .bind(editor)
        .bind(channel.as_str())
        .bind(period(at)?)
        .execute(pool)
        .await?;
    Ok(())
}
