//! Errors of the web layer and the pages they become.
//!
//! A source sees a fixed sentence chosen by the error's kind, never an internal message. The
//! cause is logged without anything that could identify the request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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
    /// Storing failed (full disk, I/O error); nothing was kept.
    #[error("storage failed: {0}")]
    Storage(String),
    /// Anything else; nothing was kept.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::Error> for AppError {
    fn from(e: crate::store::Error) -> Self {
        AppError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::Storage(e.kind().to_string())
    }
}

impl From<crate::crypto::Error> for AppError {
    fn from(e: crate::crypto::Error) -> Self {
        match e {
            crate::crypto::Error::NoRecipients => AppError::DeskClosed,
            crate::crypto::Error::Io(io) => io.into(),
            other => AppError::Internal(other.to_string()),
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
            AppError::DeskClosed => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Storage(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The fixed title and sentence a source sees.
    pub fn text(&self) -> (&'static str, &'static str) {
        match self {
            AppError::BadRequest => (
                "The form could not be read",
                "Your browser sent something the server could not understand. Nothing was stored. Please go back and try again.",
            ),
            AppError::Forbidden => (
                "The form has expired",
                "For your safety, forms can only be sent from this site. Nothing was stored. Please go back, reload the page and send again.",
            ),
            AppError::TooLarge => (
                "Too much to send at once",
                "What you sent is larger than this site accepts, or has too many files. Nothing was stored. Please send fewer or smaller files, or send them in several parts.",
            ),
            AppError::Empty => (
                "Nothing to send",
                "Please write a message or choose a file, then send.",
            ),
            AppError::DeskClosed => (
                "This desk cannot receive testimonies yet",
                "No editor can read this desk yet, so nothing was stored. Please try again later.",
            ),
            AppError::Stalled => (
                "The upload stopped",
                "Your connection stopped sending for too long, so the upload was ended. Nothing was stored. Please try again: a slow connection is fine, one that stops is not.",
            ),
            AppError::NotFound => ("Page not found", "There is no page at this address."),
            AppError::UnknownCodename => (
                "This codename is not known here",
                "Check that every word is written as you noted it, then try again.",
            ),
            AppError::Storage(_) => (
                "Your testimony could not be stored",
                "The server could not store what you sent, so nothing was kept. Please try again later.",
            ),
            AppError::Internal(_) => (
                "Something went wrong",
                "Nothing was stored. Please try again later.",
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Storage(cause) => {
                tracing::error!("a submission could not be stored: {cause}")
            }
            AppError::Internal(cause) => tracing::error!("internal error: {cause}"),
            _ => {}
        }
        let (title, sentence) = self.text();
        (self.status(), super::pages::error_page(title, sentence)).into_response()
    }
}
