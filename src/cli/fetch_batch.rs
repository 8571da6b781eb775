//! Small items in batches: one `POST /api/v1/batch` brings up to [`MAX_BATCH_IDS`] items, so
//! that a fetch over Tor pays a round trip per batch, not two per item.
//!
//! The answer is framed (see src/web/api/batch.rs; the format is repeated here because the
//! client must speak it to any server): a magic line, then per id asked, in the order asked,
//! the id, the two lengths and the bytes. Everything in it is hostile and bounded: a frame must
//! name the next id asked, announce exactly the sizes the listing gave (or zero for an item
//! gone from the server), and each file must start with the age header; the answer must end
//! after the last frame. Anything else refuses the batch in one line. An item is held in memory
//! (at most [`SMALL_ITEM`]), written to its two `.part` files only when both are complete, and
//! handed to the caller, who makes them durable and enters them in the manifest.
//!
//! A connection cut mid-answer asks again for the ids still missing (the item being received
//! is fetched again whole: it is small); [`MAX_STUCK`] cuts in a row with nothing received
//! stop the fetch, which a later run resumes. A server without the route (404) gets the
//! per-object downloads instead.

use std::cell::Cell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;

use super::api::{root_cause, Api};
use super::progress::Progress;
use super::CliError;
use crate::store::{BlobKey, ItemRow};

/// The most ids one batch asks for (the server's limit too).
const MAX_BATCH_IDS: usize = 1000;
/// The listed bytes one batch asks for at most, so that batches end, and are entered in the
/// manifest, every few seconds even over a slow link.
const BATCH_BYTES: u64 = 2 << 20;
/// Items larger than this (both files together) are downloaded alone, resumable by `Range`.
pub(super) const SMALL_ITEM: u64 = 1 << 20;
/// The first bytes of every batch answer.
const MAGIC: &[u8] = b"sanduq-batch-1\n";
/// Id, meta length, content length.
const FRAME_HEADER_LEN: usize = 32;
/// How every stored file begins.
const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n";
/// Cuts in a row with no item received before the fetch gives up.
const MAX_STUCK: u32 = 3;

/// A downloaded item and its `(part, final)` files.
pub(super) type Done = (ItemRow, Vec<(PathBuf, PathBuf)>);

/// What a batch brought.
#[derive(Default)]
pub(super) struct Got {
    /// Items received whole, in `.part` files.
    pub(super) done: Vec<Done>,
    /// Items to download one by one: the server has no batch route.
    pub(super) fallback: Vec<ItemRow>,
    /// Items the server no longer has (deleted since the listing).
    pub(super) gone: usize,
    /// Why the batch stopped before its end.
    pub(super) error: Option<CliError>,
}

/// Whether `item` goes in a batch.
pub(super) fn fits(item: &ItemRow) -> bool {
    item.size.saturating_add(item.meta_size) <= SMALL_ITEM
}

/// Splits `items` into batches of at most [`MAX_BATCH_IDS`] ids and about [`BATCH_BYTES`].
pub(super) fn plan(items: Vec<ItemRow>) -> Vec<Vec<ItemRow>> {
    let mut batches = vec![Vec::new()];
    let mut bytes = 0u64;
    for item in items {
        let size = item.size.saturating_add(item.meta_size);
        let current = batches.last().map_or(0, Vec::len);
        if current == MAX_BATCH_IDS || (current > 0 && bytes.saturating_add(size) > BATCH_BYTES) {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes = bytes.saturating_add(size);
        if let Some(b) = batches.last_mut() {
            b.push(item);
        }
    }
    batches.retain(|b| !b.is_empty());
    batches
}

/// Why one request stopped.
pub(super) enum Stop {
    /// The connection broke: ask again for what is missing.
    Cut(String),
    /// The server has no batch route.
    NoRoute,
    /// The server sent something sanduq refuses.
    Refused(CliError),
}

impl Stop {
    /// The stop as the one line a fetch that gives up prints.
    pub(super) fn into_error(self) -> CliError {
        match self {
            Stop::Cut(why) => CliError::new(format!(
                "the download was interrupted ({why}); run fetch again to resume"
            )),
            Stop::NoRoute => CliError::new("the server does not offer this route"),
            Stop::Refused(e) => e,
        }
    }
}

pub(super) fn refused(why: impl std::fmt::Display) -> Stop {
    Stop::Refused(CliError::new(format!(
        "the server's batch answer is refused: {why}; nothing of it was kept past the last whole item (a damaged or hostile server: tell the desk's operator)"
    )))
}

/// Downloads one batch of small items into `dir`. `no_route` is shared by the batches of
/// one fetch: once a server answers 404, the rest go to the per-object downloads directly.
pub(super) async fn fetch(
    api: &Api,
    dir: &Path,
    items: Vec<ItemRow>,
    progress: &Progress,
    no_route: &Cell<bool>,
) -> Got {
    let mut left: VecDeque<ItemRow> = items.into();
    let mut got = Got::default();
    let mut stuck = 0u32;
    while !left.is_empty() {
        if no_route.get() {
            got.fallback.extend(left.drain(..));
            break;
        }
        let before = left.len();
        match request(api, dir, &mut left, &mut got, progress).await {
            Ok(()) => {}
            Err(Stop::NoRoute) => no_route.set(true),
            Err(Stop::Refused(e)) => {
                got.error = Some(e);
                break;
            }
            Err(Stop::Cut(why)) => {
                stuck = if left.len() < before { 1 } else { stuck + 1 };
                if stuck > MAX_STUCK {
                    got.error = Some(CliError::new(format!(
                        "the download was interrupted ({why}); run fetch again to resume"
                    )));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300 * u64::from(stuck))).await;
            }
        }
    }
    got
}

/// One request for every id in `left`; each item received whole moves from `left` to `got`.
async fn request(
    api: &Api,
    dir: &Path,
    left: &mut VecDeque<ItemRow>,
    got: &mut Got,
    progress: &Progress,
) -> Result<(), Stop> {
    let ids: Vec<String> = left.iter().map(|i| i.id.to_string()).collect();
    let res = api
        .client
        .post(api.url("/api/v1/batch"))
        .header(AUTHORIZATION, api.auth.as_str())
        .json(&serde_json::json!({ "ids": ids }))
        .send()
        .await
        .map_err(|e| Stop::Cut(root_cause(&e)))?;
    if res.status() == StatusCode::NOT_FOUND {
        return Err(Stop::NoRoute);
    }
    api.check(res.status(), "batch of items")
        .map_err(Stop::Refused)?;
    let mut body = Body::new(res);
    if body.exact(MAGIC.len()).await? != MAGIC {
        return Err(refused("it is not in sanduq's batch format"));
    }
    while let Some(item) = left.front() {
        let head = body.exact(FRAME_HEADER_LEN).await?;
        if head[..16] != item.id.as_bytes()[..] {
            return Err(refused(format!(
                "it sent an item it was not asked for where item {} was due",
                item.id
            )));
        }
        let meta_len = u64::from_be_bytes(head[16..24].try_into().unwrap_or_default());
        let len = u64::from_be_bytes(head[24..32].try_into().unwrap_or_default());
        if (meta_len, len) == (0, 0) {
            left.pop_front();
            got.gone += 1;
            continue;
        }
        if (meta_len, len) != (item.meta_size, item.size) {
            return Err(refused(format!(
                "it announced item {} as {meta_len} + {len} bytes, its listing said {} + {}",
                item.id, item.meta_size, item.size
            )));
        }
        let meta = body.exact(meta_len as usize).await?;
        let content = body.exact(len as usize).await?;
        if !meta.starts_with(AGE_HEADER) || !content.starts_with(AGE_HEADER) {
            return Err(refused(format!("item {} is not an age file", item.id)));
        }
        let staged = write_parts(dir, item, &meta, &content).map_err(Stop::Refused)?;
        progress.add_bytes(meta_len + len);
        progress.item_done();
        if let Some(item) = left.pop_front() {
            got.done.push((item, staged));
        }
    }
    if body.more().await? {
        return Err(refused("it sent more than it was asked for"));
    }
    Ok(())
}

/// Writes an item's two files as `.part` files; returns them with their final names.
fn write_parts(
    dir: &Path,
    item: &ItemRow,
    meta: &[u8],
    content: &[u8],
) -> Result<Vec<(PathBuf, PathBuf)>, CliError> {
    let mut staged = Vec::with_capacity(2);
    for (key, bytes) in [
        (BlobKey::meta(item.id), meta),
        (BlobKey::content(item.id), content),
    ] {
        let done = dir.join(key.file_name());
        let part = dir.join(format!("{}.part", key.file_name()));
        std::fs::write(&part, bytes)
            .map_err(|e| CliError::context(format!("cannot write {}", part.display()), e))?;
        staged.push((part, done));
    }
    Ok(staged)
}

/// The answer's bytes as they come.
pub(super) struct Body {
    stream: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: Bytes,
}

impl Body {
    pub(super) fn new(res: reqwest::Response) -> Body {
        Body {
            stream: Box::pin(res.bytes_stream()),
            buf: Bytes::new(),
        }
    }

    /// Whether any byte is left; waits for the next chunk if needed.
    pub(super) async fn more(&mut self) -> Result<bool, Stop> {
        while self.buf.is_empty() {
            match self.stream.next().await {
                None => return Ok(false),
                Some(Err(e)) => return Err(Stop::Cut(root_cause(&e))),
                Some(Ok(chunk)) => self.buf = chunk,
            }
        }
        Ok(true)
    }

    /// The next `n` bytes (the caller has bounded `n` by the listing). An answer that ends
    /// cleanly before them is refused: a cut connection is an error, not an end.
    pub(super) async fn exact(&mut self, n: usize) -> Result<Vec<u8>, Stop> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if !self.more().await? {
                return Err(refused("it ended before every item asked for"));
            }
            let take = (n - out.len()).min(self.buf.len());
            out.extend_from_slice(&self.buf.split_to(take));
        }
        Ok(out)
    }
}
