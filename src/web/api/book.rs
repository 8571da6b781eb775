//! The desk's address book and its replies, so that a bundle holds whole conversations and
//! can answer every source the server still knows, even after their items were deleted.
//!
//! `GET /api/v1/sources[?after_day=D[&after_id=ID]]`: one page of the editor's desk's sources,
//! with items or without, in (day, id) order: at most [`PAGE`], those after `(D, ID)` (every
//! source of day `D` and later without `after_id`). A page shorter than [`PAGE`] is the last.
//! A bundle that has walked the whole book asks next time only from the last day it saw: a
//! new source is always of that day or later.
//!
//! `POST /api/v1/replies/batch` with `{"ids": [...]}` (as `/api/v1/batch`): [`REPLIES_MAGIC`],
//! then per id asked, in the order asked, the 16 bytes of the id, the length of
//! `<id>.reply.age` (a big-endian u64) and those bytes. An id that is not a reply of the
//! editor's desk gets length zero. Replies are whatever any editor of the desk pushed:
//! ciphertext to the source and to the desk's editors.

use std::collections::HashSet;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::batch::{copy_exactly, read_ids, send, streamed, Chunks};
use super::{at_most, authenticate, ApiError};
use crate::ids::Id;
use crate::store::{BlobKey, SourceInfo};
use crate::web::AppState;

/// Most sources in one page: about 150 KB of a classical desk, 2 MB of a post-quantum one.
pub const PAGE: usize = 1000;
/// The first bytes of every replies batch.
pub const REPLIES_MAGIC: &[u8] = b"sanduq-replies-1\n";

/// What `GET /api/v1/sources` returns.
#[derive(Debug, Serialize, Deserialize)]
pub struct SourcesPage {
    /// At most [`PAGE`] sources, in (day, id) order.
    #[serde(deserialize_with = "at_most::<_, _, PAGE>")]
    pub sources: Vec<SourceInfo>,
}

/// Where a page starts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct After {
    after_day: Option<String>,
    after_id: Option<String>,
}

/// Whether `d` is a day as the stores keep it, `YYYY-MM-DD`.
fn is_day(d: &str) -> bool {
    d.len() == 10
        && d.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// `GET /api/v1/sources`.
pub(crate) async fn sources(
    State(st): State<AppState>,
    headers: HeaderMap,
    after: Result<Query<After>, QueryRejection>,
) -> Result<Json<SourcesPage>, ApiError> {
    let editor = authenticate(&st, &headers).await?;
    let Query(after) = after.map_err(|_| ApiError::BadRequest)?;
    let day = after.after_day.unwrap_or_default();
    if !day.is_empty() && !is_day(&day) {
        return Err(ApiError::BadRequest);
    }
    let id = match after.after_id {
        Some(_) if day.is_empty() => return Err(ApiError::BadRequest),
        Some(id) => Some(id.parse::<Id>().map_err(|_| ApiError::BadRequest)?),
        None => None,
    };
    let sources = st
        .meta
        .sources_after(&editor.desk, (&day, id), PAGE as u32)
        .await?;
    Ok(Json(SourcesPage { sources }))
}

/// `POST /api/v1/replies/batch`.
pub(crate) async fn replies(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let editor = authenticate(&st, &headers).await?;
    let ids = read_ids(body).await?;
    let of_desk: HashSet<Id> = st
        .meta
        .replies_for_desk(&editor.desk)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    Ok(streamed(move |tx| async move {
        send_replies(&st, &of_desk, &ids, &tx).await
    }))
}

async fn send_replies(
    st: &AppState,
    of_desk: &HashSet<Id>,
    ids: &[Id],
    tx: &Chunks,
) -> std::io::Result<()> {
    send(tx, Bytes::from_static(REPLIES_MAGIC)).await?;
    for id in ids {
        let found = if of_desk.contains(id) {
            st.blobs
                .open(BlobKey::reply(*id), 0)
                .await
                .map_err(std::io::Error::other)?
        } else {
            None
        };
        let mut head = Vec::with_capacity(24);
        head.extend_from_slice(id.as_bytes());
        match found {
            None => {
                head.extend_from_slice(&[0; 8]);
                send(tx, head.into()).await?;
            }
            Some((len, reader)) => {
                head.extend_from_slice(&len.to_be_bytes());
                send(tx, head.into()).await?;
                copy_exactly(reader, len, tx).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_checked_before_a_query() {
        assert!(is_day("2026-12-07"));
        for bad in ["2026-12-7", "2026/12/07", "2026-12-07'", "", "abcd-ef-gh"] {
            assert!(!is_day(bad), "{bad}");
        }
    }
}
