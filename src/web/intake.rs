//! Intake: a multipart submission streamed through age into the blob store.
//!
//! No byte a source sends touches the disk in the clear. Each part (the message, each file)
//! is read in chunks, encrypted to the desk's editors as it arrives, and written to a
//! temporary object; its metadata (filename, content type, size, exact time) is encrypted
//! too. Only when every part is complete and durable are the objects published and their rows
//! committed in one transaction; then, and only then, is the source told it succeeded. Any
//! failure on the way discards every temporary object of the request.

use std::collections::BTreeMap;
use std::sync::Arc;

use age::Encryptor;
use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::Serialize;
use std::io::Write as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{pages, AppError, AppState};
use crate::codename::Codename;
use crate::forms::answers::Draft;
use crate::forms::Kind;
use crate::ids::{utc_day, utc_timestamp, Id};
use crate::store::{BlobKey, BlobStore, ItemRow, SourceLogin, SourceRow};

/// Plaintext handed from the request parser to the encrypting thread at a time.
const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight between the two: with the full one being sent, the next one being
/// filled and the one being encrypted, at most `CHANNEL_BATCHES + 3` buffers (1.75 MiB) per
/// part.
const CHANNEL_BATCHES: usize = 4;
/// Largest value of a small form field (token, desk, form id, a choice).
const SMALL_FIELD: usize = 256;
/// Parts allowed beyond the file limit (token, desk, form, message).
const EXTRA_PARTS: usize = 8;
/// How much of a refused request is read and discarded so the browser sees the error page.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// How long that may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);
/// How long the rest of a form sent back may take to arrive (slow sources are cut by the
/// minimum-progress rule long before).
const SENT_BACK_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The encrypted metadata of one item (`<id>.meta.age`).
#[derive(Debug, Serialize)]
struct ItemMeta<'a> {
    /// Format version.
    v: u32,
    /// The item this metadata describes.
    id: Id,
    /// `message`, `file` or `form` (a form's answers, as JSON).
    kind: &'a str,
    /// The form and version answered (kind `form`).
    #[serde(skip_serializing_if = "Option::is_none")]
    form: Option<FormRef<'a>>,
    /// The form question this file was attached to (kind `file`, sent with a form).
    #[serde(skip_serializing_if = "Option::is_none")]
    form_field: Option<&'a str>,
    /// The item holding the answers of that form.
    #[serde(skip_serializing_if = "Option::is_none")]
    form_item: Option<Id>,
    /// The file name the source's browser gave, as given (sanitised only on decrypt).
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
    /// The content type the browser claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    /// Plaintext size in bytes.
    size: u64,
    /// Exact UTC time this part was completely received.
    received_at: &'a str,
    /// Desk it was sent to.
    desk: &'a str,
    /// The source.
    source: Id,
    /// The submission this item belongs to, and all items sent with it.
    submission: Id,
    items: &'a [Id],
}

/// Which form, which version.
#[derive(Debug, Serialize)]
struct FormRef<'a> {
    id: &'a str,
    version: u32,
}

/// One part that has been encrypted and sealed, not yet published.
struct Part {
    id: Id,
    kind: &'static str,
    form_field: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    plain_size: u64,
    received_at: String,
    temp: Id,
    size: u64,
}

/// A new source's codename, derived on its own task while the source's parts still arrive:
/// the ~0.2 s of argon2 then overlaps the upload instead of following it. A request that
/// fails costs no more than a small submission that succeeds (one derivation); dropping it
/// cancels a derivation still waiting for its turn, and one already running ends and wipes its
/// buffer as any other (see [`crate::codename::Deriver`]). The codename and its keys now exist
/// while the upload runs rather than only at its end; one never shown (the upload failed) is
/// of no use to anyone, and both are wiped when dropped.
struct PendingCodename {
    shown: Zeroizing<String>,
    task: tokio::task::JoinHandle<Result<Box<crate::codename::Derived>, crate::codename::Error>>,
}

impl PendingCodename {
    fn start(st: &AppState) -> PendingCodename {
        let codename = Codename::generate();
        let shown = Zeroizing::new(codename.expose().to_owned());
        let deriver = st.deriver.clone();
        PendingCodename {
            shown,
            task: tokio::spawn(async move { deriver.derive_new(codename).await }),
        }
    }

    /// The codename to show once, and what is derived from it.
    async fn finish(
        mut self,
    ) -> Result<(Zeroizing<String>, Box<crate::codename::Derived>), AppError> {
        let derived = (&mut self.task)
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok((std::mem::take(&mut self.shown), derived))
    }
}

impl Drop for PendingCodename {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Temporary objects of one request; discarded on drop unless published.
struct Staging {
    blobs: Arc<dyn BlobStore>,
    temps: Vec<Id>,
}

impl Staging {
    fn track(&mut self, temp: Id) {
        self.temps.push(temp);
    }
    fn forget(&mut self, temp: Id) {
        self.blobs.discard(temp);
        self.temps.retain(|t| *t != temp);
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        for t in self.temps.drain(..) {
            self.blobs.discard(t);
        }
    }
}

/// `POST /submit`.
pub(crate) async fn submit(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let mut stream = body.into_data_stream();
    let result = receive(&st, &headers, &mut stream).await;
    // A form sent back for correction was refused before its files were received: the rest
    // of the request is read and dropped (the minimum-progress rule still applies), so that
    // the browser shows the answers kept rather than a broken connection.
    if result
        .as_ref()
        .is_ok_and(|r| r.status() == StatusCode::UNPROCESSABLE_ENTITY)
    {
        drain(
            &mut stream,
            st.config.max_request_bytes,
            SENT_BACK_DRAIN_TIME,
        )
        .await;
        return result;
    }
    // Draining more than DRAIN_LIMIT would not help: the connection closes after it anyway.
    // A request that declares more is answered at once.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if result.is_err() && declared.is_none_or(|n| n <= DRAIN_LIMIT) {
        drain(&mut stream, DRAIN_LIMIT, DRAIN_TIME).await;
    }
    result
}

/// Reads and discards what is left of a refused request, within bounds, so that the
/// browser, still sending, receives the error page instead of a reset connection.
async fn drain(stream: &mut BodyDataStream, limit: u64, time: std::time::Duration) {
    let mut left = limit;
    let _ = tokio::time::timeout(time, async {
        while let Some(Ok(chunk)) = stream.next().await {
            left = left.saturating_sub(chunk.len() as u64);
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

async fn receive(
    st: &AppState,
    headers: &HeaderMap,
    stream: &mut BodyDataStream,
) -> Result<Response, AppError> {
    let cfg = st.config.clone();
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > cfg.max_request_bytes {
            return Err(AppError::TooLarge);
        }
    }
    // A compressed body is never inflated: that would hand an attacker a multiplier.
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return Err(AppError::BadRequest);
    }
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        // RFC 2046: a boundary has 1 to 70 characters.
        .filter(|b| (1..=70).contains(&b.len()))
        .ok_or(AppError::BadRequest)?;
    // A logged-in source's form carries its session's token; a new source's, the cookie's.
    let session = st.sessions.for_request(headers);
    let expected = match &session {
        Some(s) => s.csrf.clone(),
        None => pages::csrf_cookie(st, headers).ok_or(AppError::Forbidden)?,
    };

    let limits = multer::SizeLimit::new()
        .whole_stream(cfg.max_request_bytes)
        .per_field(cfg.max_request_bytes);
    let mut guard = super::multipart_guard::PartHeaderGuard::new(&boundary);
    let guarded = stream.map(move |chunk| match chunk {
        Ok(bytes) if !guard.feed(&bytes) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "multipart header block too long",
        )),
        Ok(bytes) => Ok(bytes),
        Err(e) => Err(std::io::Error::other(e)),
    });
    let mut form = multer::Multipart::with_constraints(
        guarded,
        boundary,
        multer::Constraints::new().size_limit(limits),
    );

    let mut staging = Staging {
        blobs: st.blobs.clone(),
        temps: Vec::new(),
    };
    let mut parts: Vec<Part> = Vec::new();
    let mut token_ok = false;
    let mut desk = match &session {
        Some(s) => s.desk.clone(),
        None => cfg.default_desk().name.clone(),
    };
    let mut recipients: Option<Arc<Vec<String>>> = None;
    let mut pending: Option<PendingCodename> = None;
    let mut part_count = 0usize;
    let mut part_limit = cfg.max_files + EXTRA_PARTS;
    let mut files = 0usize;
    // A form's answers, and the files sent with each of its questions.
    let mut draft: Option<Draft<'_>> = None;
    let mut form_files: BTreeMap<String, Vec<Id>> = BTreeMap::new();
    let mut answers_checked = false;
    let sent_back = |draft: &Draft<'_>, problems, had_files, desk: &str| {
        Ok(super::forms::sent_back(
            st,
            draft,
            &problems,
            had_files,
            desk,
            session.is_some(),
            &expected,
        ))
    };

    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        part_count += 1;
        if part_count > part_limit {
            return Err(AppError::TooLarge);
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csrf_token" {
            let value = small_field(&mut field).await?;
            token_ok = bool::from(value.as_bytes().ct_eq(expected.as_bytes()));
            if !token_ok {
                return Err(AppError::Forbidden);
            }
            continue;
        }
        // Nothing is read, let alone stored, before the form token has been checked.
        if !token_ok {
            return Err(AppError::Forbidden);
        }
        let (kind, limit, form_field) = match name.as_str() {
            "desk" => {
                let value = small_field(&mut field).await?;
                if session.is_some()
                    || recipients.is_some()
                    || draft.is_some()
                    || cfg.desk(&value).is_none()
                {
                    return Err(AppError::BadRequest);
                }
                desk = value;
                continue;
            }
            "form" => {
                let value = small_field(&mut field).await?;
                let offered = cfg.desk(&desk).is_some_and(|d| d.forms.contains(&value));
                if draft.is_some() || recipients.is_some() || !offered {
                    return Err(AppError::BadRequest);
                }
                let f = cfg.form(&value).ok_or(AppError::BadRequest)?;
                part_limit += f.max_parts();
                draft = Some(Draft::new(f));
                continue;
            }
            "message" if draft.is_none() => ("message", cfg.max_message_bytes, None),
            "file" if draft.is_none() => ("file", cfg.max_request_bytes, None),
            _ => {
                let (Some(d), Some(question)) = (draft.as_mut(), name.strip_prefix("f.")) else {
                    return Err(AppError::BadRequest);
                };
                let def = d.form().field(question).ok_or(AppError::BadRequest)?;
                if def.kind != Kind::File {
                    // Only text questions take long answers; a choice, date or number is short.
                    let most = if def.kind.is_text() {
                        def.max_length
                    } else {
                        0
                    };
                    let (value, cut) = answer_field(&mut field, most).await?;
                    d.push(question, &value).map_err(|_| AppError::BadRequest)?;
                    if cut {
                        d.mark_cut(question);
                    }
                    continue;
                }
                // The form puts its files after every answer: check the answers before the
                // first file is received, so that a form sent back costs no upload.
                let chosen = field.file_name().is_some_and(|n| !n.is_empty());
                if chosen && !answers_checked {
                    answers_checked = true;
                    if let Err(problems) = d.check(&form_files) {
                        let problems: crate::forms::answers::Problems = problems
                            .into_iter()
                            .filter(|(n, _)| {
                                d.form().field(n).is_some_and(|f| f.kind != Kind::File)
                            })
                            .collect();
                        if !problems.is_empty() {
                            return sent_back(d, problems, true, &desk);
                        }
                    }
                }
                ("file", cfg.max_request_bytes, Some(def.name.clone()))
            }
        };
        let recips = match &recipients {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(st.meta.desk_recipients(&desk).await?);
                if r.is_empty() {
                    return Err(AppError::DeskClosed);
                }
                recipients = Some(r.clone());
                r
            }
        };
        // The first part to be stored starts a new source's derivation.
        if session.is_none() && pending.is_none() {
            pending = Some(PendingCodename::start(st));
        }
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(|m| m.to_string());
        let temp = Id::random();
        let writer = st.blobs.create(temp).await?;
        staging.track(temp);
        let enc = new_encryptor(recips).await?;
        let plain_size = encrypt_field(&mut field, enc, writer, limit).await?;
        // A browser sends an empty, nameless part for a file box left empty, and an empty
        // message when none was written: neither is an item.
        if plain_size == 0 && filename.as_deref().unwrap_or_default().is_empty() {
            staging.forget(temp);
            continue;
        }
        if kind == "file" {
            files += 1;
            if files > cfg.max_files {
                return Err(AppError::TooLarge);
            }
        }
        let size = st.blobs.seal(temp).await?;
        let id = Id::random();
        if let Some(q) = &form_field {
            form_files.entry(q.clone()).or_default().push(id);
        }
        parts.push(Part {
            id,
            kind,
            form_field,
            filename: if kind == "file" { filename } else { None },
            content_type: if kind == "file" { content_type } else { None },
            plain_size,
            received_at: utc_timestamp(),
            temp,
            size,
        });
    }
    if !token_ok {
        return Err(AppError::Forbidden);
    }
    // A form's answers become one item, stored like any other part.
    if let Some(d) = &draft {
        if let Err(problems) = d.check(&form_files) {
            return sent_back(d, problems, !form_files.is_empty(), &desk);
        }
        let recips = match &recipients {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(st.meta.desk_recipients(&desk).await?);
                if r.is_empty() {
                    return Err(AppError::DeskClosed);
                }
                recipients = Some(r.clone());
                r
            }
        };
        let json = d
            .to_json(pages::current_locale(), &form_files)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let (temp, size) = store_small(st, &mut staging, recips, &json).await?;
        parts.insert(
            0,
            Part {
                id: Id::random(),
                kind: "form",
                form_field: None,
                filename: None,
                content_type: None,
                plain_size: json.len() as u64,
                received_at: utc_timestamp(),
                temp,
                size,
            },
        );
    }
    let Some(recips) = recipients.filter(|_| !parts.is_empty()) else {
        return Err(AppError::Empty);
    };

    // A returning source adds to its own record; a new one gets a codename, shown once.
    let (source, login, codename) = match &session {
        Some(s) => (
            SourceRow {
                id: s.source,
                desk: desk.clone(),
                day: utc_day(),
            },
            None,
            None,
        ),
        None => {
            // A form of answers only (no part stored yet) starts its derivation here.
            let (shown, derived) = pending
                .take()
                .unwrap_or_else(|| PendingCodename::start(st))
                .finish()
                .await?;
            let login = SourceLogin {
                login_hash: derived.login_hash(),
                // A post-quantum desk's replies go to a post-quantum reply key: age does
                // not let one file mix the two kinds.
                reply_recipient: derived
                    .reply_recipient_for(recips.iter().all(|r| crate::crypto::is_post_quantum(r))),
                cost: derived.cost,
            };
            (
                SourceRow {
                    id: Id::random(),
                    desk: desk.clone(),
                    day: utc_day(),
                },
                Some(login),
                Some(shown),
            )
        }
    };
    let submission = Id::random();
    let ids: Vec<Id> = parts.iter().map(|p| p.id).collect();
    let form_item = parts.iter().find(|p| p.kind == "form").map(|p| p.id);
    let mut staged = Vec::with_capacity(parts.len() * 2);
    let mut rows = Vec::with_capacity(parts.len());
    for p in &parts {
        let meta = ItemMeta {
            v: 1,
            id: p.id,
            kind: p.kind,
            form: match (&draft, p.kind) {
                (Some(d), "form") => Some(FormRef {
                    id: &d.form().id,
                    version: d.form().version,
                }),
                _ => None,
            },
            form_field: p.form_field.as_deref(),
            form_item: p.form_field.as_ref().and(form_item),
            filename: p.filename.as_deref(),
            content_type: p.content_type.as_deref(),
            size: p.plain_size,
            received_at: &p.received_at,
            desk: &desk,
            source: source.id,
            submission,
            items: &ids,
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&meta).map_err(|e| AppError::Internal(e.to_string()))?,
        );
        let (temp, meta_size) = store_small(st, &mut staging, recips.clone(), &json).await?;
        staged.push((p.temp, BlobKey::content(p.id)));
        staged.push((temp, BlobKey::meta(p.id)));
        rows.push(ItemRow {
            id: p.id,
            source: source.id,
            desk: desk.clone(),
            day: source.day.clone(),
            size: p.size,
            meta_size,
        });
    }

    st.blobs.publish(&staged).await?;
    staging.temps.clear();
    if let Err(e) = st
        .meta
        .commit_submission(&source, login.as_ref(), &rows)
        .await
    {
        for (_, key) in &staged {
            let _ = st.blobs.delete(*key).await;
        }
        return Err(e.into());
    }
    Ok(pages::thanks(parts.len(), codename.as_deref().map(String::as_str))?.into_response())
}

/// Encrypts a small plaintext held in memory into a sealed temporary object of the request.
async fn store_small(
    st: &AppState,
    staging: &mut Staging,
    recipients: Arc<Vec<String>>,
    plaintext: &[u8],
) -> Result<(Id, u64), AppError> {
    let enc = new_encryptor(recipients).await?;
    let ct = crate::crypto::encrypt_to_vec(enc, plaintext)?;
    let temp = Id::random();
    let mut w = st.blobs.create(temp).await?;
    staging.track(temp);
    tokio::task::spawn_blocking(move || w.write_all(&ct).and_then(|()| w.flush()))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    Ok((temp, st.blobs.seal(temp).await?))
}

async fn new_encryptor(recipients: Arc<Vec<String>>) -> Result<Encryptor, AppError> {
    tokio::task::spawn_blocking(move || crate::crypto::encryptor(&recipients))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(AppError::from)
}

/// Streams one part through age into `writer`; returns the plaintext size.
///
/// The request is parsed on the async runtime while a blocking thread encrypts and writes,
/// so the two overlap. The parser copies each part's bytes into one of a few reused
/// [`BATCH_BYTES`] buffers and hands full ones over; the encrypting thread hands them back.
/// Sending multer's own chunks instead kept multer's buffer shared, so it allocated fresh
/// memory for every chunk: ~58,000 page faults per GiB (measured with `perf`). Memory stays
/// bounded whatever the part's size, and the buffers are wiped when the part ends. If this
/// future is dropped (the client went away), the channel closes without its end mark and
/// the age file is never finished.
async fn encrypt_field(
    field: &mut multer::Field<'_>,
    enc: Encryptor,
    writer: crate::store::BlobWriter,
    limit: u64,
) -> Result<u64, AppError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Zeroizing<Vec<u8>>>>(CHANNEL_BATCHES);
    let (give_back, mut returned) = tokio::sync::mpsc::unbounded_channel::<Zeroizing<Vec<u8>>>();
    let worker = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        // age writes whole 64 KiB chunks: a BufWriter here only added a copy (measured).
        let mut out = enc.wrap_output(writer)?;
        loop {
            match rx.blocking_recv() {
                Some(Some(mut batch)) => {
                    out.write_all(&batch)?;
                    batch.clear();
                    // The parser may have finished meanwhile; the buffer is then wiped here.
                    let _ = give_back.send(batch);
                }
                Some(None) => {
                    // Without finish() the age stream's last chunk is never written.
                    out.finish()?.flush()?;
                    return Ok(());
                }
                None => return Err(std::io::Error::other("part abandoned")),
            }
        }
    });
    let mut total = 0u64;
    let fed = async {
        let mut batch = Zeroizing::new(Vec::with_capacity(BATCH_BYTES));
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            total += chunk.len() as u64;
            if total > limit {
                return Err(AppError::TooLarge);
            }
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let take = rest.len().min(BATCH_BYTES - batch.len());
                batch.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if batch.len() == BATCH_BYTES {
                    let next = returned
                        .try_recv()
                        .unwrap_or_else(|_| Zeroizing::new(Vec::with_capacity(BATCH_BYTES)));
                    if tx
                        .send(Some(std::mem::replace(&mut batch, next)))
                        .await
                        .is_err()
                    {
                        // The writer stopped early: its own error says why.
                        return Ok(());
                    }
                }
            }
        }
        if !batch.is_empty() && tx.send(Some(batch)).await.is_err() {
            return Ok(());
        }
        let _ = tx.send(None).await;
        Ok(())
    }
    .await;
    drop(tx);
    let written = worker
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    fed?;
    written?;
    Ok(total)
}

async fn small_field(field: &mut multer::Field<'_>) -> Result<String, AppError> {
    let mut v = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        v.extend_from_slice(&chunk);
        if v.len() > SMALL_FIELD {
            return Err(AppError::BadRequest);
        }
    }
    String::from_utf8(v).map_err(|_| AppError::BadRequest)
}

/// Reads one answer of at most `max_chars` characters (or a short value, for 0). A longer one
/// is cut, not refused, and reported as cut: what is kept (more than `max_chars` characters,
/// whatever the script) is shown back to the source with the request to shorten it.
async fn answer_field(
    field: &mut multer::Field<'_>,
    max_chars: usize,
) -> Result<(Zeroizing<String>, bool), AppError> {
    let limit = max_chars.max(SMALL_FIELD / 4) * 4 + 4;
    let mut v = Zeroizing::new(Vec::with_capacity(limit.min(64 * 1024)));
    let mut cut = false;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        let room = limit.saturating_sub(v.len());
        cut |= chunk.len() > room;
        v.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    // Cut at a character boundary; anything else that is not UTF-8 is a broken request.
    let text = match std::str::from_utf8(&v) {
        Ok(t) => t,
        Err(e) if v.len() >= limit && e.error_len().is_none() => {
            std::str::from_utf8(&v[..e.valid_up_to()]).map_err(|_| AppError::BadRequest)?
        }
        Err(_) => return Err(AppError::BadRequest),
    };
    Ok((Zeroizing::new(text.to_owned()), cut))
}

fn multipart_error(e: multer::Error) -> AppError {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            AppError::TooLarge
        }
        _ => AppError::BadRequest,
    }
}
