//! What the SQL backends share: how a driver's error becomes a store [`Error`].

use super::{Error, Result, SourceLogin};
use crate::codename::Cost;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The engine cannot be reached or gives no connection in time: try again later.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable(e.to_string())
            }
            sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
            sqlx::Error::Database(d) if d.is_unique_violation() => Error::Exists(d.to_string()),
            // PostgreSQL's SQLSTATE classes 08 (connection exception), 53 (insufficient
            // resources) and 57 (operator intervention: shutting down, starting up) say the
            // server is there but will not do the work now.
            sqlx::Error::Database(d) if d.code().is_some_and(|c| transient(&c)) => {
                Error::Unavailable(d.to_string())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Error::Corrupt(e.to_string())
            }
            other => Error::Backend(other.to_string()),
        }
    }
}

/// Whether a SQLSTATE names a condition that passes by itself.
fn transient(code: &str) -> bool {
    ["08", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
}

/// A failed versioned migration: the engine's error where there is one, else what the
/// migrator found wrong (a database migrated by a newer sanduq, an edited migration).
pub(super) fn from_migrate(e: sqlx::migrate::MigrateError) -> Error {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
        sqlx::migrate::MigrateError::VersionMissing(v) => Error::Backend(format!(
            "the metadata schema has migration {v}, which this sanduq does not know: \
             it was upgraded by a newer sanduq"
        )),
        other => Error::Backend(format!("metadata schema migration: {other}")),
    }
}

/// A source's login as a dump carries it, from its nullable columns: none without a login
/// hash. A login whose recipient or cost is missing cannot be carried: serve records the
/// cost of such logins at its first start (`assume_cost`), so start it once first.
pub(super) fn dumped_login(
    login_hash: Option<Vec<u8>>,
    reply_recipient: Option<String>,
    cost: [Option<i64>; 3],
) -> Result<Option<SourceLogin>> {
    let Some(hash) = login_hash else {
        return Ok(None);
    };
    let login_hash = hash
        .try_into()
        .map_err(|_| Error::Corrupt("login hash length".into()))?;
    let reply_recipient = reply_recipient
        .ok_or_else(|| Error::Corrupt("a source's login has no reply recipient".into()))?;
    let field = |v: Option<i64>| -> Result<u32> {
        let v = v.ok_or_else(|| {
            Error::Corrupt(
                "a source's login has no recorded argon2 cost: start `sanduq serve` once on \
                 this install to record it"
                    .into(),
            )
        })?;
        u32::try_from(v).map_err(|_| Error::Corrupt("argon2 cost out of range".into()))
    };
    let [memory_kib, time, lanes] = cost;
    Ok(Some(SourceLogin {
        login_hash,
        reply_recipient,
        cost: Cost {
            memory_kib: field(memory_kib)?,
            time: field(time)?,
            lanes: field(lanes)?,
        },
    }))
}

/// A restore into a store that records another install's pepper: its sources' codenames
/// would not log in there.
pub(super) fn other_pepper() -> Error {
    Error::Exists("a different pepper fingerprint in the target store".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_passing_conditions_are_transient() {
        assert!(super::transient("57P01"), "admin_shutdown");
        assert!(super::transient("08006"), "connection_failure");
        assert!(super::transient("53300"), "too_many_connections");
        assert!(!super::transient("23505"), "unique_violation");
        assert!(!super::transient("42P01"), "undefined_table");
    }
}
