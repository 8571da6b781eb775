//! Where ciphertext and metadata live: the `BlobStore` and `MetaStore` traits.
//!
//! A `BlobStore` holds opaque age files under keys built only from random ids. A `MetaStore`
//! holds the little plaintext sanduq keeps: ids, sizes, desks and UTC days, plus editors and
//! their token hashes. The embedded defaults are a directory ([`fs::FsBlobStore`]) and SQLite
//! ([`sqlite::SqliteMetaStore`]); PostgreSQL ([`postgres::PgMetaStore`]) and an S3 bucket
//! ([`s3::S3BlobStore`]) implement the same traits.

#[doc(hidden)]
pub mod conformance;
pub mod fs;
pub mod janitor;
pub mod open;
pub mod postgres;
pub mod s3;
mod sql;
pub mod sqlite;
mod sqlite_schema;

use std::collections::HashSet;
use std::pin::Pin;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use crate::ids::Id;

/// What can go wrong in a store. No variant names a driver: each backend maps its own errors
/// into these.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The filesystem failed (full disk, permissions, …).
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    /// The engine cannot be reached or refuses work for now (PostgreSQL or the object store
    /// down, a pool timed out): worth trying again later. Pages answer it with a 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The engine failed otherwise.
    #[error("store: {0}")]
    Backend(String),
    /// A name that must be unique is taken.
    #[error("{0} already exists")]
    Exists(String),
    /// A stored row does not make sense (damaged database).
    #[error("damaged metadata: {0}")]
    Corrupt(String),
}

/// Result alias for stores.
pub type Result<T> = std::result::Result<T, Error>;

/// Which object of an item a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// `<id>.age`: exactly the bytes the source sent, encrypted.
    Content,
    /// `<id>.meta.age`: the item's encrypted metadata (JSON).
    Meta,
    /// `<id>.reply.age`: an editor's reply, encrypted offline to the source and the desk.
    Reply,
}

/// The name of a stored object: an item id and which of its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobKey {
    /// The item.
    pub id: Id,
    /// Which object.
    pub kind: BlobKind,
}

impl BlobKey {
    /// The content object of `id`.
    pub fn content(id: Id) -> Self {
        BlobKey {
            id,
            kind: BlobKind::Content,
        }
    }
    /// The metadata object of `id`.
    pub fn meta(id: Id) -> Self {
        BlobKey {
            id,
            kind: BlobKind::Meta,
        }
    }
    /// A reply.
    pub fn reply(id: Id) -> Self {
        BlobKey {
            id,
            kind: BlobKind::Reply,
        }
    }
    /// The object's file name, as in a bundle's `items/` folder.
    pub fn file_name(&self) -> String {
        match self.kind {
            BlobKind::Content => format!("{}.age", self.id),
            BlobKind::Meta => format!("{}.meta.age", self.id),
            BlobKind::Reply => format!("{}.reply.age", self.id),
        }
    }
    /// Parses a file name made by [`BlobKey::file_name`].
    pub fn from_file_name(name: &str) -> Option<BlobKey> {
        if let Some(id) = name.strip_suffix(".meta.age") {
            return id.parse().ok().map(BlobKey::meta);
        }
        if let Some(id) = name.strip_suffix(".reply.age") {
            return id.parse().ok().map(BlobKey::reply);
        }
        name.strip_suffix(".age")?
            .parse()
            .ok()
            .map(BlobKey::content)
    }
}

/// A writer of an object being uploaded. It blocks: use it from a blocking thread
/// (`spawn_blocking`), where encryption runs too, so that parsing and encrypting overlap.
/// Dropping it ends the object's bytes; only [`Upload::complete`] makes them durable.
pub type BlobWriter = Box<dyn std::io::Write + Send>;
/// A reader of a stored object.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// An object being uploaded: `begin → write… → complete | abort`.
///
/// A completed object is durable but not yet an item: it becomes visible only when the
/// metadata commit names it. A completed object that no commit names is garbage, removed by
/// the [`janitor`] after its grace period.
#[async_trait]
pub trait Upload: Send {
    /// Makes the object durable under its key and returns its size in bytes. Call it after
    /// the [`BlobWriter`] has been dropped.
    async fn complete(self: Box<Self>) -> Result<u64>;
    /// Gives up the object and removes what was written, best effort. Dropping an `Upload`
    /// without completing it aborts it too; whatever a crash leaves is the janitor's.
    async fn abort(self: Box<Self>);
}

/// A stored object as listed: its key, size and how long ago it was completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// The object.
    pub key: BlobKey,
    /// Its size in bytes.
    pub size: u64,
    /// Time since it was completed, as the store tells it (rounded down to whole seconds).
    pub age: std::time::Duration,
}

/// Ciphertext storage. Objects are written under their final keys with [`BlobStore::begin`]:
/// there is no rename, as S3 has none.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Begins the object `key`: a writer for its bytes and the upload that completes it.
    async fn begin(&self, key: BlobKey) -> Result<(BlobWriter, Box<dyn Upload>)>;
    /// Opens a stored object at `offset`: its total size and a reader, or `None` if absent.
    async fn open(&self, key: BlobKey, offset: u64) -> Result<Option<(u64, BlobReader)>>;
    /// Deletes an object; deleting an absent object is not an error.
    async fn delete(&self, key: BlobKey) -> Result<()>;
    /// Every completed object.
    async fn list(&self) -> Result<Vec<Listed>>;
    /// Removes what uploads begun more than `grace` ago and never completed or aborted left
    /// behind (temporary files; S3 incomplete multipart uploads); returns how many. Uploads
    /// begun more recently may still be in flight on some node and are left alone.
    async fn sweep_stale_uploads(&self, grace: std::time::Duration) -> Result<usize>;
}

/// Writes `bytes` as the whole object `key` and completes it: for small objects held in
/// memory. Runs the blocking write on a blocking thread.
pub async fn put_small(blobs: &dyn BlobStore, key: BlobKey, bytes: Vec<u8>) -> Result<u64> {
    let (mut w, upload) = blobs.begin(key).await?;
    let written = tokio::task::spawn_blocking(move || {
        std::io::Write::write_all(&mut w, &bytes).and_then(|()| std::io::Write::flush(&mut w))
    })
    .await
    .map_err(std::io::Error::other)?;
    match written {
        Ok(()) => upload.complete().await,
        Err(e) => {
            upload.abort().await;
            Err(e.into())
        }
    }
}

/// Proof that this node holds the janitor's lease; dropping it gives the lease up.
pub type Lease = Box<dyn Send + Sync>;

/// A registered editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    /// Unique name.
    pub name: String,
    /// The desk whose items this editor reads.
    pub desk: String,
    /// The editor's age recipient.
    pub recipient: String,
    /// SHA-256 of the editor's API token.
    pub token_hash: [u8; 32],
}

/// The plaintext row of one item. Nothing here may identify a person or a time of day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRow {
    /// The item.
    pub id: Id,
    /// The source that sent it.
    pub source: Id,
    /// The desk it was sent to.
    pub desk: String,
    /// UTC day of receipt, `YYYY-MM-DD`.
    pub day: String,
    /// Size of `<id>.age` in bytes.
    pub size: u64,
    /// Size of `<id>.meta.age` in bytes.
    pub meta_size: u64,
}

/// The plaintext row of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRow {
    /// The source.
    pub id: Id,
    /// The desk it writes to.
    pub desk: String,
    /// UTC day it first wrote.
    pub day: String,
}

/// What lets a source with a codename come back: both values are public or one-way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLogin {
    /// SHA-256 of the login id derived from the codename.
    pub login_hash: [u8; 32],
    /// The age recipient of the reply key derived from the codename.
    pub reply_recipient: String,
    /// The argon2 cost the codename was derived with: its logins derive at this cost.
    pub cost: crate::codename::Cost,
}

/// A source as editors see it: ids, desk, day, and where replies go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The source.
    pub id: Id,
    /// Its desk.
    pub desk: String,
    /// UTC day it first wrote.
    pub day: String,
    /// The age recipient its codename derives, if it has one.
    pub reply_recipient: Option<String>,
}

/// The plaintext row of one reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRow {
    /// The reply.
    pub id: Id,
    /// The source it answers.
    pub source: Id,
    /// The desk that wrote it.
    pub desk: String,
    /// UTC day it was pushed.
    pub day: String,
    /// Size of `<id>.reply.age`.
    pub size: u64,
}

/// A logged-in source's session as stored: opaque without the source's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The row's id, derived one-way from the cookie.
    pub id: [u8; 32],
    /// The session, sealed under a key derived from the cookie (`web::sealed`).
    pub sealed: Vec<u8>,
    /// When the row may be deleted, in milliseconds since the Unix epoch: the end of the
    /// coarse window in which the session expires, never the time of a request.
    pub sweep_after_ms: u64,
}

/// Every row of an install's metadata, for `sanduq admin migrate-store`: nothing here is
/// secret beyond what the store already holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    /// Every editor, with its token hash.
    pub editors: Vec<Editor>,
    /// Every source and its login if it has one, in the order the sources were first written
    /// (oldest first): [`MetaStore::source_costs`] orders costs by it.
    pub sources: Vec<(SourceRow, Option<SourceLogin>)>,
    /// Every item.
    pub items: Vec<ItemRow>,
    /// Every reply.
    pub replies: Vec<ReplyRow>,
    /// The fingerprint of the install's pepper, if one is recorded.
    pub pepper_fingerprint: Option<[u8; 32]>,
}

/// Plaintext metadata storage.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Registers an editor; fails with [`Error::Exists`] if the name is taken.
    async fn add_editor(&self, editor: &Editor) -> Result<()>;
    /// All editors.
    async fn editors(&self) -> Result<Vec<Editor>>;
    /// Removes an editor; `false` if there was none of that name.
    async fn remove_editor(&self, name: &str) -> Result<bool>;
    /// Replaces an editor's token hash; `false` if there was none of that name.
    async fn set_token_hash(&self, name: &str, hash: &[u8; 32]) -> Result<bool>;
    /// The recipients of every editor of `desk`.
    async fn desk_recipients(&self, desk: &str) -> Result<Vec<String>>;
    /// Records a source (if new, with its login) and all items of one submission in one
    /// transaction.
    async fn commit_submission(
        &self,
        source: &SourceRow,
        login: Option<&SourceLogin>,
        items: &[ItemRow],
    ) -> Result<()>;
    /// The source whose login hash this is.
    async fn source_by_login(&self, login_hash: &[u8; 32]) -> Result<Option<SourceRow>>;
    /// Every item of `desk`.
    async fn items_for_desk(&self, desk: &str) -> Result<Vec<ItemRow>>;
    /// One item.
    async fn item(&self, id: Id) -> Result<Option<ItemRow>>;
    /// Replaces a source's reply recipient (when its desk moves to or from post-quantum keys).
    async fn set_reply_recipient(&self, source: Id, recipient: &str) -> Result<()>;
    /// One item with every editor of its desk, in one query: the editor API's hot path.
    /// None if there is no such item or its desk has no editor.
    async fn item_with_editors(&self, id: Id) -> Result<Option<(ItemRow, Vec<Editor>)>>;
    /// Deletes an item's row; `false` if there was none.
    async fn delete_item(&self, id: Id) -> Result<bool>;
    /// The ids of every item and reply (for the janitor).
    async fn item_ids(&self) -> Result<HashSet<Id>>;
    /// The sources of `desk` that have at least one item on the server. A source whose items
    /// were all fetched and deleted is left out: the editor's bundle keeps it, and listing
    /// every source ever would make each fetch cost the server memory in proportion to all
    /// sources there have been.
    async fn sources_with_items(&self, desk: &str) -> Result<Vec<SourceInfo>>;
    /// One source.
    async fn source(&self, id: Id) -> Result<Option<SourceInfo>>;
    /// Records a reply whose object is already published.
    async fn add_reply(&self, reply: &ReplyRow) -> Result<()>;
    /// A source's replies, oldest day first.
    async fn replies_for_source(&self, source: Id) -> Result<Vec<ReplyRow>>;
    /// Deletes a reply of `source`; `false` if it has none of that id.
    async fn delete_reply(&self, source: Id, id: Id) -> Result<bool>;
    /// Records `fingerprint` as the fingerprint of the install's pepper if none is recorded
    /// yet, and returns the one on record (`fingerprint` itself if it was just recorded).
    async fn pepper_fingerprint(&self, fingerprint: &[u8; 32]) -> Result<[u8; 32]>;
    /// Records `cost` for every source that has a login but no recorded cost (written before
    /// costs were recorded, when every derivation used the configured cost); returns how many.
    async fn assume_cost(&self, cost: crate::codename::Cost) -> Result<u64>;
    /// Every distinct cost of sources' codenames, the most recently given to a source first.
    async fn source_costs(&self) -> Result<Vec<crate::codename::Cost>>;
    /// The janitor's lease if no other node holds it now (SQLite: a file lock beside the
    /// database; PostgreSQL: a session advisory lock), else `None`.
    async fn janitor_lease(&self) -> Result<Option<Lease>>;
    /// Stores a new session; fails with [`Error::Exists`] if its id is taken.
    async fn put_session(&self, session: &SessionRow) -> Result<()>;
    /// The session of id `id`.
    async fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRow>>;
    /// Replaces a session's sealed blob and sweep time; `false`, writing nothing, if it is
    /// gone (ended meanwhile on another node: it stays ended).
    async fn update_session(&self, session: &SessionRow) -> Result<bool>;
    /// Deletes a session; `false` if there was none. Deleted means gone from the store's
    /// files as far as the engine allows (SQLite: overwritten; PostgreSQL: see its module).
    async fn delete_session(&self, id: &[u8; 32]) -> Result<bool>;
    /// Deletes every session whose sweep time is at or before `now_ms`; returns how many.
    async fn sweep_sessions(&self, now_ms: u64) -> Result<u64>;
    // Sync (issue 20): whole conversations and an address book that survives deletions.
    /// Every reply of `desk`, by day then id: `sanduq fetch` brings the desk's replies down
    /// and tells which ones their sources deleted.
    async fn replies_for_desk(&self, desk: &str) -> Result<Vec<ReplyRow>>;
    /// At most `limit` sources of `desk`, with items or without, that come after `after`
    /// (a day, and an id on that day; `None` takes the whole day) in (day, id) order: one
    /// page of the desk's address book.
    async fn sources_after(
        &self,
        desk: &str,
        after: (&str, Option<Id>),
        limit: u32,
    ) -> Result<Vec<SourceInfo>>;
    /// Every row, in an order `restore` can write back (sources before their items and
    /// replies). Sessions are not part of it: they end when their install moves.
    async fn dump(&self) -> Result<Dump>;
    /// Writes every row of `dump`, keeping rows already there (same primary key): re-running
    /// it after an interruption finishes the job. One transaction.
    /// Fails with [`Error::Exists`], writing nothing, if this store records a pepper
    /// fingerprint other than the dump's: that store belongs to another install.
    async fn restore(&self, dump: &Dump) -> Result<()>;
}
