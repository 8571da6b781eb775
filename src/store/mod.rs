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
mod notify_rows;
pub mod open;
pub mod postgres;
mod postgres_retention;
pub mod retention;
pub mod s3;
mod sql;
pub mod sqlite;
mod sqlite_retention;
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
    /// The items some editor of their desk has fetched ([`MetaStore::mark_fetched`]).
    pub fetched: Vec<Id>,
}

/// How a notice reaches an editor (content-free notifications, `crate::notify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// An e-mail to the editor's address.
    Email,
    /// An HTTP POST to the editor's webhook URL.
    Webhook,
}

impl Channel {
    /// The name stored in the `notify` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
    /// Parses [`Channel::as_str`].
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// One editor's notices on one channel, as stored. Periods are whole periods since the Unix
/// epoch (days, unless the operator shortened the period); nothing here dates an arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRow {
    /// The editor.
    pub editor: String,
    /// The editor's desk.
    pub desk: String,
    /// The channel.
    pub channel: Channel,
    /// The e-mail address or webhook URL.
    pub address: String,
    /// Something arrived that no notice has been decided for yet.
    pub pending: bool,
    /// A notice was decided at a chosen moment and is not yet delivered.
    pub owed: bool,
    /// The period whose moment is planned, and the moment (seconds into it) if not yet
    /// handled.
    pub moment: Option<(u64, Option<u64>)>,
    /// The period of the last delivered notice.
    pub sent_period: Option<u64>,
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
    // Retention (`store::retention`): the day a source was last active, and what a desk's
    // `retention_days` removes. Days are UTC `YYYY-MM-DD`, compared as text.
    /// Records `day` as the last day `source` was active, unless a later day is recorded.
    async fn touch_source(&self, source: Id, day: &str) -> Result<()>;
    /// Deletes up to `limit` items of `desk` received before `day`, oldest first, in one
    /// transaction, and returns their ids (whose objects the caller deletes).
    async fn expire_items(&self, desk: &str, day: &str, limit: u32) -> Result<Vec<Id>>;
    /// Deletes up to `limit` sources of `desk` last active before `day` that have no item
    /// left, with their logins and replies, in one transaction; returns how many sources, and
    /// the ids of their replies (whose objects the caller deletes). Each source of `desk`
    /// with no recorded activity day first gets `today`: its clock starts at the first pass
    /// that looks at it, never earlier.
    async fn expire_sources(
        &self,
        desk: &str,
        day: &str,
        today: &str,
        limit: u32,
    ) -> Result<(u64, Vec<Id>)>;
    /// Every row, in an order `restore` can write back (sources before their items and
    /// replies). Sessions are not part of it: they end when their install moves.
    async fn dump(&self) -> Result<Dump>;
    /// Writes every row of `dump`, keeping rows already there (same primary key): re-running
    /// it after an interruption finishes the job. One transaction.
    /// Fails with [`Error::Exists`], writing nothing, if this store records a pepper
    /// fingerprint other than the dump's: that store belongs to another install.
    async fn restore(&self, dump: &Dump) -> Result<()>;

    // Editor keys over time, and items seen by the desk (issue 19).

    /// Replaces an editor's recipient; `false` if there was none of that name. Every read of
    /// the desk's recipients (each submission reads them when it starts) sees the new one at
    /// once, on every node; what is stored stays encrypted to the old one.
    async fn set_recipient(&self, name: &str, recipient: &str) -> Result<bool>;
    /// Records that some editor of `desk` has fetched the items `ids`: one boolean per item,
    /// no name and no time. Ids that are not items of `desk` are ignored. Returns how many
    /// items were not marked before.
    async fn mark_fetched(&self, desk: &str, ids: &[Id]) -> Result<u64>;
    /// The items of `desk` that some editor of the desk has fetched.
    async fn fetched_items(&self, desk: &str) -> Result<Vec<Id>>;

    // Content-free notifications (`crate::notify`): who opted in, and the little state that
    // sends at most one notice per period at a random moment.

    /// Opts editor `editor` in to notices on `channel` at `address`, or out with `None`;
    /// `false` if there is no such editor. Opting in again keeps the state, with the new
    /// address.
    async fn notify_subscribe(
        &self,
        editor: &str,
        channel: Channel,
        address: Option<&str>,
    ) -> Result<bool>;
    /// Every editor's notice state, on every channel it opted in to.
    async fn notify_rows(&self) -> Result<Vec<NotifyRow>>;
    /// Something arrived on `desk`: every subscription of its editors is pending.
    async fn notify_arrived(&self, desk: &str) -> Result<()>;
    /// Plans the moment of `period` (`offset` seconds into it), unless a moment of that
    /// period or a later one is planned already.
    async fn notify_plan(
        &self,
        editor: &str,
        channel: Channel,
        period: u64,
        offset: u64,
    ) -> Result<()>;
    /// The planned moment has come: it is handled, and what was pending is now owed, in one
    /// statement. Returns whether a notice is owed.
    async fn notify_due(&self, editor: &str, channel: Channel) -> Result<bool>;
    /// The owed notice was delivered in `period`.
    async fn notify_sent(&self, editor: &str, channel: Channel, period: u64) -> Result<()>;
}
