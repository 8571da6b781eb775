//! What the SQL backends share: how a driver's error becomes a store [`Error`].

use super::Error;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The engine cannot be reached or gives no connection in time: try again later.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable(e.to_string())
            }
            sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
            sqlx::Error::Database(d) if d.is_unique_violation() => Error::Exists(d.to_string()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Error::Corrupt(e.to_string())
            }
            other => Error::Backend(other.to_string()),
        }
    }
}
