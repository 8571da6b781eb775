//! `POST /api/v1/batch`: many items in one response, so that a fetch over Tor pays one round
//! trip per batch instead of two per item.
//!
//! The request is `{"ids": [...]}` (at most [`MAX_BATCH_IDS`]). The answer is
//! [`BATCH_MAGIC`], then one frame per id asked, in the order asked: the 16 bytes of the id,
//! the length of `<id>.meta.age` and of `<id>.age` (each a big-endian u64), then those bytes.
//! An id that is not an item of the editor's desk — unknown, deleted, or another desk's — gets
//! a frame with both lengths zero, so that a batch tells no more than the per-item routes. A
//! store failure mid-stream breaks the response (the client sees a cut, not a short item).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::{authenticate, ApiError};
use crate::ids::Id;
use crate::store::{BlobKey, BlobReader};
use crate::web::AppState;

/// The most ids one batch may ask for.
const MAX_BATCH_IDS: usize = 1000;
/// The first bytes of every batch response.
const BATCH_MAGIC: &[u8] = b"sanduq-batch-1\n";
/// Bytes before each item's files: id, meta length, content length.
const FRAME_HEADER_LEN: usize = 32;
/// Largest request body: 1,000 ids in JSON are about 35 KB.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Size of the pieces the response is sent in.
const CHUNK: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    ids: Vec<Id>,
}

pub(super) type Chunks = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// `POST /api/v1/batch`.
pub(crate) async fn items(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let editor = authenticate(&st, &headers).await?;
    let ids = read_ids(body).await?;
    Ok(streamed(move |tx| async move {
        send_items(&st, &editor.desk, &ids, &tx).await
    }))
}

/// The ids a batch request asks for: at least one, at most [`MAX_BATCH_IDS`].
pub(super) async fn read_ids(body: Body) -> Result<Vec<Id>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let req: BatchRequest = serde_json::from_slice(&bytes).map_err(|_| ApiError::BadRequest)?;
    if req.ids.is_empty() || req.ids.len() > MAX_BATCH_IDS {
        return Err(ApiError::BadRequest);
    }
    Ok(req.ids)
}

/// A response whose body `send` writes, a few chunks ahead of the client at most: memory
/// stays constant whatever the batch. An error breaks the response.
pub(super) fn streamed<F, Fut>(send: F) -> Response
where
    F: FnOnce(Chunks) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let err_tx = tx.clone();
        if let Err(e) = send(tx).await {
            // The client hung up, or a store failed: either way the response breaks.
            tracing::debug!("editor API: a batch ended early: {e}");
            let _ = err_tx.send(Err(e)).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut res = Response::new(Body::from_stream(stream));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    res
}

async fn send_items(st: &AppState, desk: &str, ids: &[Id], tx: &Chunks) -> std::io::Result<()> {
    send(tx, Bytes::from_static(BATCH_MAGIC)).await?;
    for id in ids {
        let found = match st.meta.item(*id).await.map_err(std::io::Error::other)? {
            Some(item) if item.desk == desk => open_both(st, *id).await?,
            _ => None,
        };
        let mut head = Vec::with_capacity(FRAME_HEADER_LEN);
        head.extend_from_slice(id.as_bytes());
        match found {
            None => {
                head.extend_from_slice(&[0; 16]);
                send(tx, head.into()).await?;
            }
            Some(((meta_len, meta), (len, content))) => {
                head.extend_from_slice(&meta_len.to_be_bytes());
                head.extend_from_slice(&len.to_be_bytes());
                send(tx, head.into()).await?;
                copy_exactly(meta, meta_len, tx).await?;
                copy_exactly(content, len, tx).await?;
            }
        }
    }
    Ok(())
}

type Opened = (u64, BlobReader);

/// Both objects of an item, or `None` if either is gone (deleted meanwhile).
async fn open_both(st: &AppState, id: Id) -> std::io::Result<Option<(Opened, Opened)>> {
    let meta = st.blobs.open(BlobKey::meta(id), 0).await;
    let content = st.blobs.open(BlobKey::content(id), 0).await;
    match (
        meta.map_err(std::io::Error::other)?,
        content.map_err(std::io::Error::other)?,
    ) {
        (Some(m), Some(c)) => Ok(Some((m, c))),
        _ => Ok(None),
    }
}

/// Sends exactly `len` bytes of `reader`; an object shorter than its size breaks the stream.
pub(super) async fn copy_exactly(reader: BlobReader, len: u64, tx: &Chunks) -> std::io::Result<()> {
    let mut reader = reader.take(len);
    let mut sent = 0u64;
    loop {
        let mut buf = Vec::with_capacity(CHUNK);
        let n = (&mut reader)
            .take(CHUNK as u64)
            .read_to_end(&mut buf)
            .await?;
        if n == 0 {
            break;
        }
        sent += n as u64;
        send(tx, buf.into()).await?;
    }
    if sent != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "a stored object is shorter than its size",
        ));
    }
    Ok(())
}

pub(super) async fn send(tx: &Chunks, chunk: Bytes) -> std::io::Result<()> {
    tx.send(Ok(chunk))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client hung up"))
}
