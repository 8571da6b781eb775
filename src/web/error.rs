//! Errors of the web layer and the pages they become.
//!
//! A source sees a fixed sentence chosen by the error's kind, in the page's language, never
//! an internal message. The cause is logged without anything that could identify the request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `Retry-After` of a 503 [`AppError::Busy`], in seconds.
const RETRY_AFTER_SECONDS: &str = "60";

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed (not multipart, unknown field, broken body).
    #[error("bad request")]
    BadRequest,
    /// The form's CSRF token is missing or wrong.
    #[error("bad or missing form token")]
    Forbidden,
    /// The request, a field or the number of files is over its limit.
    #[error("over a size limit")]
    TooLarge,
    /// The form was sent with neither a message nor a file.
    #[error("empty submission")]
    Empty,
    /// The chosen desk has no editors, so nothing could be read by anyone.
    #[error("desk has no editors")]
    DeskClosed,
    /// The request body stopped arriving (the minimum-progress rule).
    #[error("upload stalled")]
    Stalled,
    /// No such page.
    #[error("not found")]
    NotFound,
    /// The codename is not one of this site's (or not a codename at all).
    #[error("unknown codename")]
    UnknownCodename,
    /// Too many logins wait for a codename check: try again in a minute (503).
    #[error("too many logins waiting")]
    Busy,
    /// A store (PostgreSQL, the object store) cannot be reached for now; nothing was kept.
    /// A 503 with `Retry-After`: sanduq recovers by itself when the store is back.
    #[error("store unavailable")]
    Unavailable(#[source] crate::store::Error),
    /// Storing failed (full disk, I/O error); nothing was kept.
    #[error("storage failed")]
    Storage(#[source] crate::store::Error),
    /// Anything else; nothing was kept.
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// The cause of an internal error, kept for the log: an error with its own causes, or a
/// sentence naming what failed where there is no error to keep.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl AppError {
    /// An internal error caused by `cause`.
    pub fn internal(cause: impl Into<Cause>) -> AppError {
        AppError::Internal(cause.into())
    }
}

/// `e` and each of its causes, `: ` between them: what the log shows of an error.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

impl From<crate::store::Error> for AppError {
    fn from(e: crate::store::Error) -> Self {
        match e {
            crate::store::Error::Unavailable(_) => AppError::Unavailable(e),
            other => AppError::Storage(other),
        }
    }
}

impl From<crate::intake::Error> for AppError {
    fn from(e: crate::intake::Error) -> Self {
        use crate::intake::Error as E;
        match e {
            E::TooLarge => AppError::TooLarge,
            E::Malformed => AppError::BadRequest,
            E::DeskClosed => AppError::DeskClosed,
            E::Store(s) => s.into(),
            E::Crypto(c) => c.into(),
            E::Task(cause) => AppError::internal(cause),
            E::Json(cause) => AppError::internal(cause),
        }
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::Storage(crate::store::Error::Io(e))
    }
}

impl From<crate::crypto::Error> for AppError {
    fn from(e: crate::crypto::Error) -> Self {
        match e {
            crate::crypto::Error::NoRecipients => AppError::DeskClosed,
            crate::crypto::Error::Io(io) => io.into(),
            other => AppError::internal(other),
        }
    }
}

impl AppError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest | AppError::Empty => StatusCode::BAD_REQUEST,
            AppError::Forbidden | AppError::UnknownCodename => StatusCode::FORBIDDEN,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Stalled => StatusCode::REQUEST_TIMEOUT,
            AppError::DeskClosed | AppError::Busy | AppError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Storage(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Fluent keys of the title and sentence a source sees (`locales/*.ftl`).
    pub fn text(&self) -> (&'static str, &'static str) {
        match self {
            AppError::BadRequest => ("error-bad-request-title", "error-bad-request"),
            AppError::Forbidden => ("error-forbidden-title", "error-forbidden"),
            AppError::TooLarge => ("error-too-large-title", "error-too-large"),
            AppError::Empty => ("error-empty-title", "error-empty"),
            AppError::DeskClosed => ("error-desk-closed-title", "error-desk-closed"),
            AppError::Stalled => ("error-stalled-title", "error-stalled"),
            AppError::NotFound => ("error-not-found-title", "error-not-found"),
            AppError::UnknownCodename => ("error-unknown-codename-title", "error-unknown-codename"),
            AppError::Busy => ("error-busy-title", "error-busy"),
            AppError::Unavailable(_) => ("error-unavailable-title", "error-unavailable"),
            AppError::Storage(_) => ("error-storage-title", "error-storage"),
            AppError::Internal(_) => ("error-internal-title", "error-internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Storage(_) => {
                tracing::error!("a submission could not be stored: {}", chain(&self))
            }
            AppError::Unavailable(_) => tracing::warn!("{}", chain(&self)),
            AppError::Internal(_) => tracing::error!("{}", chain(&self)),
            _ => {}
        }
        let (title, sentence) = self.text();
        let mut res = (self.status(), super::pages::error_page(title, sentence)).into_response();
        if matches!(self, AppError::Busy | AppError::Unavailable(_)) {
            // What the page says: a minute.
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_error_keeps_its_cause_for_the_log_and_shows_a_fixed_sentence() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space on /srv/x");
        let e = AppError::from(io);
        assert_eq!(e.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(e.text(), ("error-storage-title", "error-storage"));
        let logged = chain(&e);
        assert!(
            logged.starts_with("storage failed: ") && logged.ends_with("no space on /srv/x"),
            "{logged}"
        );
        let source = std::error::Error::source(&e).expect("the store error is kept");
        let io = std::error::Error::source(source).expect("and the I/O error beneath it");
        assert_eq!(
            io.downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::StorageFull)
        );
    }

    #[test]
    fn an_unavailable_store_stays_a_503_with_its_cause() {
        let e = AppError::from(crate::store::Error::Unavailable("pool timed out".into()));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(chain(&e).ends_with("pool timed out"), "{}", chain(&e));
    }
}
