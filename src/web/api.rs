//! The editor API: list, download and delete ciphertext, with a bearer token.
//!
//! An editor sees only its own desk. Every failure to authenticate — no token, a wrong one, a
//! removed editor's — gets the same bare 401. An item of another desk is answered exactly as
//! an item that does not exist. Downloads honour `Range: bytes=N-` so that `sanduq fetch`
//! can resume. `POST /api/v1/batch` ([`batch`]) sends many small items in one response, and
//! the listing carries a tag so that a fetch with nothing new costs one round trip.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio_util::io::ReaderStream;

use super::error::chain;
use super::AppState;
use crate::ids::Id;
use crate::store::{BlobKey, Editor, ItemRow, ReplyRow, SourceInfo};

pub(crate) mod batch;
pub(crate) mod book;
pub(crate) mod fetched;

/// The header that carries the listing's tag, both ways.
pub(crate) const LISTING_TAG: &str = "sanduq-listing-tag";
/// The header of the listing that tells the desk's `retention_days`, when it has one (absent:
/// items stay until an editor deletes them), so that `sanduq fetch` can warn before unfetched
/// items expire. A header, not a field of the listing, so that the listing's tag (a hash of
/// its body) stays the same when the operator changes the retention.
pub(crate) const RETENTION_DAYS: &str = "sanduq-retention-days";

/// The listing `GET /api/v1/items` returns. `sanduq fetch` reads it from a server it cannot
/// trust, so each list is refused while it is parsed once it passes its cap: counted after
/// parsing, a 16 MiB body of `"",` took hundreds of MiB as Rust values first.
#[derive(Debug, Serialize, Deserialize)]
pub struct Listing {
    /// The editor's desk.
    pub desk: String,
    /// Every item of that desk.
    #[serde(deserialize_with = "at_most::<_, _, { Listing::MAX_ITEMS }>")]
    pub items: Vec<ItemRow>,
    /// Every source of that desk, with its reply recipient.
    #[serde(
        default,
        deserialize_with = "at_most::<_, _, { Listing::MAX_SOURCES }>"
    )]
    pub sources: Vec<SourceInfo>,
    /// The recipients of the desk's editors, to whom replies are also encrypted.
    #[serde(
        default,
        deserialize_with = "at_most::<_, _, { Listing::MAX_EDITORS }>"
    )]
    pub editors: Vec<String>,
    /// Every reply of the desk, by any of its editors (encrypted to them all). `None` from a
    /// server older than the field: then nothing can be said about replies sources deleted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_at_most::<_, _, { Listing::MAX_REPLIES }>"
    )]
    pub replies: Option<Vec<ReplyRow>>,
    /// The items of `items` that some editor of the desk has already fetched (the server's
    /// one boolean per item: no name, no time). Last in the body, and not covered by the
    /// listing's tag (see [`list`]).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "at_most::<_, _, { Listing::MAX_ITEMS }>"
    )]
    pub fetched: Vec<Id>,
    /// The desk's retention in days as the listing's [`RETENTION_DAYS`] header told it (the
    /// CLI fills it in after checking it); never part of the body.
    #[serde(skip)]
    pub retention_days: Option<u32>,
}

impl Listing {
    /// Most items a listing may name (far above any real desk).
    pub const MAX_ITEMS: usize = 100_000;
    /// Most sources a listing may name.
    pub const MAX_SOURCES: usize = 100_000;
    /// Most editors a listing may name.
    pub const MAX_EDITORS: usize = 1_000;
    /// Most replies a listing may name.
    pub const MAX_REPLIES: usize = 100_000;
    /// How the parse error of a list over its cap starts, so that the CLI can tell it from
    /// a malformed listing (whose message may quote the server and is never shown).
    pub const OVER_CAP: &'static str = "lists more than";
}

/// A JSON list of at most `N` entries, refused at its `N + 1`-th.
fn at_most<'de, D, T, const N: usize>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Capped<T, const N: usize>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for Capped<T, N> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a list of at most {N} entries")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(x) = seq.next_element()? {
                if out.len() == N {
                    return Err(serde::de::Error::custom(format!(
                        "{} {N} entries in one of its lists",
                        Listing::OVER_CAP
                    )));
                }
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Capped::<T, N>(std::marker::PhantomData))
}

/// As [`at_most`], for a list that may be absent.
fn some_at_most<'de, D, T, const N: usize>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    at_most::<D, T, N>(d).map(Some)
}

/// Failures of the editor API, as JSON with a fixed message.
#[derive(Debug)]
pub(crate) enum ApiError {
    Unauthorized,
    NotFound,
    BadRange,
    NotAge,
    /// A request body the route cannot read (a batch of no ids, or too many).
    BadRequest,
    TooLarge,
    /// The request body stopped arriving (the minimum-progress rule).
    Stalled,
    /// A store cannot be reached for now: 503, try again later.
    Unavailable(crate::store::Error),
    /// A store failed otherwise: 500.
    Store(crate::store::Error),
    /// Anything else, with its cause for the log (an error, or a sentence naming what
    /// failed): 500.
    Internal(super::error::Cause),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found"),
            ApiError::BadRange => (StatusCode::RANGE_NOT_SATISFIABLE, "bad range"),
            ApiError::NotAge => (StatusCode::BAD_REQUEST, "not a binary age file"),
            ApiError::BadRequest => (StatusCode::BAD_REQUEST, "bad request"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too large"),
            ApiError::Stalled => (StatusCode::REQUEST_TIMEOUT, "upload stalled"),
            ApiError::Unavailable(cause) => {
                tracing::warn!("editor API: a store is unavailable: {}", chain(&cause));
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store unavailable, try again later",
                )
            }
            ApiError::Store(cause) => {
                tracing::error!("editor API: {}", chain(&cause));
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
            ApiError::Internal(cause) => {
                tracing::error!("editor API: {}", chain(cause.as_ref()));
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        };
        let mut res = (status, Json(serde_json::json!({ "error": msg }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        match e {
            crate::store::Error::Unavailable(_) => ApiError::Unavailable(e),
            other => ApiError::Store(other),
        }
    }
}

/// The hash of the request's bearer token.
fn presented_token(headers: &HeaderMap) -> Result<[u8; 32], ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    Ok(crate::tokens::hash(token))
}

/// The editor among `editors` whose token hash is `presented`. Every one is compared, so the
/// time taken does not depend on which one matched.
fn matching(editors: Vec<Editor>, presented: &[u8; 32]) -> Option<Editor> {
    let mut found = None;
    for e in editors {
        if crate::tokens::matches(&e.token_hash, presented) && found.is_none() {
            found = Some(e);
        }
    }
    found
}

async fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Editor, ApiError> {
    let presented = presented_token(headers)?;
    matching(st.meta.editors().await?, &presented).ok_or(ApiError::Unauthorized)
}

/// `GET /api/v1/items`. The [`LISTING_TAG`] header is a hash of the body: a client that sends
/// it back gets a bare 304 when nothing changed, instead of the whole listing again. (Not an
/// `ETag`: every response drops those, as a browser could keep one as a tracking cookie.)
pub(crate) async fn list(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let editor = authenticate(&st, &headers).await?;
    let items = st.meta.items_for_desk(&editor.desk).await?;
    let sources = st.meta.sources_with_items(&editor.desk).await?;
    let editors = st.meta.desk_recipients(&editor.desk).await?;
    let replies = Some(st.meta.replies_for_desk(&editor.desk).await?);
    let fetched = st.meta.fetched_items(&editor.desk).await?;
    let desk = editor.desk;
    let mut body = serde_json::to_vec(&Listing {
        desk: desk.clone(),
        items,
        sources,
        editors,
        replies,
        fetched: Vec::new(),
        retention_days: None,
    })
    .map_err(|e| ApiError::Internal(e.into()))?;
    // The tag leaves out which items are fetched: an editor's own fetch sets those flags,
    // and must not make its next listing differ. Another editor hears of them with its next
    // changed listing, which is when it has new items to fetch.
    let tag = hex::encode(sha2::Sha256::digest(&body));
    append_fetched(&mut body, &fetched)?;
    let unchanged = headers
        .get(LISTING_TAG)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let mut res = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&tag) {
        res.headers_mut().insert(LISTING_TAG, v);
    }
    let days = st
        .config
        .desks
        .iter()
        .find(|d| d.name == desk)
        .map_or(0, |d| d.retention_days);
    if days > 0 {
        res.headers_mut()
            .insert(RETENTION_DAYS, HeaderValue::from(days));
    }
    Ok(res)
}

/// Adds `"fetched": [...]` as the last field of the serialised listing `body`.
fn append_fetched(body: &mut Vec<u8>, fetched: &[Id]) -> Result<(), ApiError> {
    if fetched.is_empty() {
        return Ok(());
    }
    let list = serde_json::to_vec(fetched).map_err(|e| ApiError::Internal(e.into()))?;
    if body.pop() != Some(b'}') {
        return Err(ApiError::Internal("a listing is not a JSON object".into()));
    }
    body.extend_from_slice(b",\"fetched\":");
    body.extend_from_slice(&list);
    body.push(b'}');
    Ok(())
}

/// The item `id` for the editor presenting the request's token: one query when the editor is
/// one of the item's desk (every download asks this); otherwise the full check decides
/// between 401 (no editor) and 404 (not this editor's item).
async fn authorised_item(
    st: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Editor, ItemRow), ApiError> {
    let presented = presented_token(headers)?;
    if let Ok(parsed) = id.parse::<Id>() {
        if let Some((item, editors)) = st.meta.item_with_editors(parsed).await? {
            if let Some(editor) = matching(editors, &presented) {
                return Ok((editor, item));
            }
        }
    }
    let editor = authenticate(st, headers).await?;
    let item = item_of_desk(st, &editor, id).await?;
    Ok((editor, item))
}

async fn item_of_desk(st: &AppState, editor: &Editor, id: &str) -> Result<ItemRow, ApiError> {
    let id: Id = id.parse().map_err(|_| ApiError::NotFound)?;
    match st.meta.item(id).await? {
        Some(item) if item.desk == editor.desk => Ok(item),
        _ => Err(ApiError::NotFound),
    }
}

async fn download(
    st: AppState,
    headers: HeaderMap,
    id: String,
    key: fn(Id) -> BlobKey,
) -> Result<Response, ApiError> {
    let (_editor, item) = authorised_item(&st, &headers, &id).await?;
    let offset = match headers.get(header::RANGE) {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.strip_suffix('-'))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(ApiError::BadRange)?,
    };
    let (len, reader) = st
        .blobs
        .open(key(item.id), offset)
        .await?
        .ok_or(ApiError::NotFound)?;
    if offset > 0 && offset >= len {
        let mut res = ApiError::BadRange.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
            res.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(res);
    }
    let body = Body::from_stream(ReaderStream::with_capacity(reader, 256 * 1024));
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len - offset));
    if headers.contains_key(header::RANGE) {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        let range = format!("bytes {offset}-{}/{len}", len.saturating_sub(1));
        if let Ok(v) = HeaderValue::from_str(&range) {
            res.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(res)
}

/// `GET /api/v1/items/{id}/content`: `<id>.age`.
pub(crate) async fn content(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    download(st, headers, id, BlobKey::content).await
}

/// `GET /api/v1/items/{id}/meta`: `<id>.meta.age`.
pub(crate) async fn meta(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    download(st, headers, id, BlobKey::meta).await
}

/// `DELETE /api/v1/items/{id}`: removes the row, then both objects.
pub(crate) async fn delete_item(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (_editor, item) = authorised_item(&st, &headers, &id).await?;
    st.meta.delete_item(item.id).await?;
    // If removing an object fails now, it is an orphan: the janitor removes it later.
    st.blobs.delete(BlobKey::content(item.id)).await?;
    st.blobs.delete(BlobKey::meta(item.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Largest reply accepted, in bytes.
pub(crate) const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// `POST /api/v1/sources/{id}/replies`: a reply encrypted offline (`sanduq reply`), stored as
/// it came. Only a well-formed binary age file, of bounded size, for a source of the editor's
/// own desk.
pub(crate) async fn push_reply(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let editor = authenticate(&st, &headers).await?;
    let source_id: Id = id.parse().map_err(|_| ApiError::NotFound)?;
    let source = match st.meta.source(source_id).await? {
        Some(s) if s.desk == editor.desk && s.reply_recipient.is_some() => s,
        _ => return Err(ApiError::NotFound),
    };
    // A declared size over the limit is refused before a byte is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REPLY_BYTES as u64) {
        return Err(ApiError::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, MAX_REPLY_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    if !bytes.starts_with(b"age-encryption.org/v1\n") || age::Decryptor::new(&bytes[..]).is_err() {
        return Err(ApiError::NotAge);
    }
    crate::intake::push_reply(
        st.blobs.as_ref(),
        st.meta.as_ref(),
        source.id,
        &source.desk,
        bytes.to_vec(),
    )
    .await
    .map_err(|e| match e {
        crate::intake::Error::Store(s) => s.into(),
        other => ApiError::Internal(other.into()),
    })?;
    Ok(StatusCode::CREATED)
}

/// Anything else on the API listener.
pub(crate) async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}
