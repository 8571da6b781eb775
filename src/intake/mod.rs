//! Intake: what a source sends, encrypted on arrival, stored, and committed — without HTTP.
//!
//! No byte a source sends touches a store in the clear. Each part (the message, each file,
//! a form's answers) is encrypted to the desk's editors as it arrives and written under its
//! final key with [`BlobStore::begin`]; its metadata (filename, content type, size, exact
//! time) is encrypted too. The objects become items only when [`Submission::commit`] writes
//! their rows in one transaction; until then no listing shows them, and a submission that
//! fails or is dropped deletes them. What a crash leaves is the [janitor]'s, after its grace
//! period.
//!
//! The web layer parses requests and renders pages; this module encrypts, stores and
//! commits, for a source's submission and an editor's reply alike.
//!
//! [janitor]: crate::store::janitor

mod stream;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::ids::{utc_day, utc_timestamp, Id};
use crate::store::{BlobKey, BlobStore, ItemRow, MetaStore, ReplyRow, SourceLogin, SourceRow};

/// What can go wrong while taking something in. Nothing already committed is affected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A part is over its limit.
    #[error("over a size limit")]
    TooLarge,
    /// The bytes sent are not what they claim (a broken request, not an age file).
    #[error("malformed input")]
    Malformed,
    /// The desk has no editors: nothing sent to it could be read by anyone.
    #[error("desk has no editors")]
    DeskClosed,
    /// A store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// Encryption failed.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::Error),
    /// A task ended abnormally (it panicked, or the runtime is stopping).
    #[error("a task ended abnormally")]
    Task(#[from] tokio::task::JoinError),
    /// An item's metadata could not be written as JSON.
    #[error("an item's metadata could not be written as JSON")]
    Json(#[from] serde_json::Error),
}

/// Result alias for intake.
pub type Result<T> = std::result::Result<T, Error>;

/// What an item is, with what only that kind of item carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// The source's written message.
    Message,
    /// An attached file, as the browser named and typed it, and the form question it answers
    /// if it was sent with a form.
    File {
        /// The file name the browser gave (sanitised only on decrypt).
        filename: Option<String>,
        /// The content type the browser claimed.
        content_type: Option<String>,
        /// The form question it was attached to.
        form_field: Option<String>,
    },
    /// A form's answers, as JSON.
    Form {
        /// The form's id.
        id: String,
        /// The form's version.
        version: u32,
    },
}

impl ItemKind {
    /// The name in the item's encrypted metadata.
    fn name(&self) -> &'static str {
        match self {
            ItemKind::Message => "message",
            ItemKind::File { .. } => "file",
            ItemKind::Form { .. } => "form",
        }
    }
}

/// One part encrypted and completed, not yet an item.
struct Part {
    id: Id,
    kind: ItemKind,
    plain_size: u64,
    received_at: String,
    size: u64,
}

/// The encrypted metadata of one item (`<id>.meta.age`).
#[derive(Debug, Serialize)]
struct ItemMeta<'a> {
    /// Format version.
    v: u32,
    /// The item this metadata describes.
    id: Id,
    /// `message`, `file` or `form`.
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
    /// The file name the source's browser gave, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
    /// The content type the browser claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    /// Plaintext size in bytes.
    size: u64,
    /// Exact UTC time this part was completely received (only ever encrypted).
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

/// One submission to one desk, being received: its parts are stored but not yet items.
///
/// Every completed object is deleted by [`Submission::discard`], or on drop (in a spawned
/// task: a request cut off mid-way), unless [`Submission::commit`] made it an item.
pub struct Submission {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    desk: String,
    recipients: Arc<Vec<String>>,
    staged: Vec<BlobKey>,
    parts: Vec<Part>,
}

impl Submission {
    /// Starts a submission to `desk`: fails with [`Error::DeskClosed`] if it has no editors.
    pub async fn open(
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetaStore>,
        desk: &str,
    ) -> Result<Submission> {
        let recipients = meta.desk_recipients(desk).await?;
        if recipients.is_empty() {
            return Err(Error::DeskClosed);
        }
        Ok(Submission {
            blobs,
            meta,
            desk: desk.to_owned(),
            recipients: Arc::new(recipients),
            staged: Vec::new(),
            parts: Vec::new(),
        })
    }

    /// The desk's editors' recipients, as read when the submission started.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// How many parts are stored so far.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether no part is stored yet.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Encrypts `chunks` (at most `limit` bytes) into a new item of `kind` and returns its
    /// id, or `None` for an empty part with no file name (a file box left empty, a message
    /// not written): that is no item, and nothing of it is kept.
    pub async fn stream<S>(&mut self, kind: ItemKind, chunks: S, limit: u64) -> Result<Option<Id>>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let id = Id::random();
        let key = BlobKey::content(id);
        // Dropped on any error below, the upload is aborted.
        let (writer, upload) = self.blobs.begin(key).await?;
        let enc = stream::encryptor(self.recipients.clone()).await?;
        let plain_size = stream::encrypt(chunks, enc, writer, limit).await?;
        let nameless = match &kind {
            ItemKind::File { filename, .. } => filename.as_deref().unwrap_or_default().is_empty(),
            _ => true,
        };
        if plain_size == 0 && nameless {
            upload.abort().await;
            return Ok(None);
        }
        let size = upload.complete().await?;
        self.staged.push(key);
        self.parts.push(Part {
            id,
            kind,
            plain_size,
            received_at: utc_timestamp(),
            size,
        });
        Ok(Some(id))
    }

    /// Encrypts a small plaintext held in memory (a form's answers) into a new item of
    /// `kind`, listed before every other part. Returns its id.
    pub async fn add_first(&mut self, kind: ItemKind, plaintext: &[u8]) -> Result<Id> {
        let id = Id::random();
        let size = self.store_small(BlobKey::content(id), plaintext).await?;
        self.parts.insert(
            0,
            Part {
                id,
                kind,
                plain_size: plaintext.len() as u64,
                received_at: utc_timestamp(),
                size,
            },
        );
        Ok(id)
    }

    /// Writes each part's encrypted metadata, then the rows of `source` (with `login` if it
    /// is new) and of every part in one transaction: the parts become items. Returns how
    /// many. If it fails, every object is deleted and nothing is listed.
    pub async fn commit(
        &mut self,
        source: &SourceRow,
        login: Option<&SourceLogin>,
    ) -> Result<usize> {
        let submission = Id::random();
        let ids: Vec<Id> = self.parts.iter().map(|p| p.id).collect();
        let form_item = self
            .parts
            .iter()
            .find(|p| matches!(p.kind, ItemKind::Form { .. }))
            .map(|p| p.id);
        let mut rows = Vec::with_capacity(self.parts.len());
        for i in 0..self.parts.len() {
            let json = self.meta_json(&self.parts[i], source.id, submission, &ids, form_item)?;
            let p = &self.parts[i];
            let (id, size) = (p.id, p.size);
            let meta_size = self.store_small(BlobKey::meta(id), &json).await?;
            rows.push(ItemRow {
                id,
                source: source.id,
                desk: self.desk.clone(),
                day: source.day.clone(),
                size,
                meta_size,
            });
        }
        self.meta.commit_submission(source, login, &rows).await?;
        self.staged.clear();
        crate::notify::arrived(self.meta.as_ref(), &self.desk).await;
        Ok(rows.len())
    }

    /// Deletes every object stored so far (nothing is committed), and waits for it.
    pub async fn discard(&mut self) {
        for key in std::mem::take(&mut self.staged) {
            let _ = self.blobs.delete(key).await;
        }
    }

    /// The JSON of one part's encrypted metadata.
    fn meta_json(
        &self,
        p: &Part,
        source: Id,
        submission: Id,
        items: &[Id],
        form_item: Option<Id>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (form, form_field, filename, content_type) = match &p.kind {
            ItemKind::Message => (None, None, None, None),
            ItemKind::Form { id, version } => (
                Some(FormRef {
                    id,
                    version: *version,
                }),
                None,
                None,
                None,
            ),
            ItemKind::File {
                filename,
                content_type,
                form_field,
            } => (
                None,
                form_field.as_deref(),
                filename.as_deref(),
                content_type.as_deref(),
            ),
        };
        let meta = ItemMeta {
            v: 1,
            id: p.id,
            kind: p.kind.name(),
            form,
            form_field,
            form_item: form_field.and(form_item),
            filename,
            content_type,
            size: p.plain_size,
            received_at: &p.received_at,
            desk: &self.desk,
            source,
            submission,
            items,
        };
        serde_json::to_vec(&meta)
            .map(Zeroizing::new)
            .map_err(Error::Json)
    }

    /// Encrypts `plaintext` into the completed object `key`, staged for this submission.
    async fn store_small(&mut self, key: BlobKey, plaintext: &[u8]) -> Result<u64> {
        let enc = stream::encryptor(self.recipients.clone()).await?;
        let ct = crate::crypto::encrypt_to_vec(enc, plaintext)?;
        let size = crate::store::put_small(self.blobs.as_ref(), key, ct).await?;
        self.staged.push(key);
        Ok(size)
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.staged);
        let blobs = self.blobs.clone();
        // Outside a runtime (never in the server) the janitor removes them after its grace.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for k in keys {
                    let _ = blobs.delete(k).await;
                }
            });
        }
    }
}

/// Stores an editor's reply to `source` (an age file encrypted offline; checked by the
/// caller) and commits its row. If the commit fails the object is deleted.
pub async fn push_reply(
    blobs: &dyn BlobStore,
    meta: &dyn MetaStore,
    source: Id,
    desk: &str,
    ciphertext: Vec<u8>,
) -> Result<Id> {
    let id = Id::random();
    let key = BlobKey::reply(id);
    let size = crate::store::put_small(blobs, key, ciphertext).await?;
    let row = ReplyRow {
        id,
        source,
        desk: desk.to_owned(),
        day: utc_day(),
        size,
    };
    if let Err(e) = meta.add_reply(&row).await {
        let _ = blobs.delete(key).await;
        return Err(e.into());
    }
    Ok(id)
}
