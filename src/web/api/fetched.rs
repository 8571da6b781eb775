//! `POST /api/v1/fetched`: an editor's `sanduq fetch` says which items it now holds, so that
//! the other editors of the desk see them as taken and do not all process the same testimony.
//!
//! The request is `{"ids": [...]}` (at most [`MAX_IDS`]). The server keeps one boolean per
//! item — never which editor, never when — and the listing names the items whose boolean is
//! set. Ids that are not items of the editor's desk are ignored, and the answer is the same
//! 204 whatever they were, so the route tells no more than the listing does.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::{authenticate, ApiError};
use crate::ids::Id;
use crate::web::AppState;

/// The most ids one request may name; `sanduq fetch` sends more in several requests.
pub(crate) const MAX_IDS: usize = 1000;
/// Largest request body: 1,000 ids in JSON are about 35 KB.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchedRequest {
    ids: Vec<Id>,
}

/// `POST /api/v1/fetched`.
pub(crate) async fn mark(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let editor = authenticate(&st, &headers).await?;
    let bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let req: FetchedRequest = serde_json::from_slice(&bytes).map_err(|_| ApiError::BadRequest)?;
    if req.ids.is_empty() || req.ids.len() > MAX_IDS {
        return Err(ApiError::BadRequest);
    }
    st.meta.mark_fetched(&editor.desk, &req.ids).await?;
    Ok(StatusCode::NO_CONTENT)
}
