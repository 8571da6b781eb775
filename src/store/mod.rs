//! Where ciphertext and metadata live: the `BlobStore` and `MetaStore` traits.
//!
//! A `BlobStore` holds opaque age files under keys built only from random ids. A `MetaStore`
//! holds the little plaintext sanduq keeps: ids, sizes, desks and UTC days, plus editors and
//! their token hashes. The embedded defaults are a directory ([`fs::FsBlobStore`]) and SQLite
//! ([`sqlite::SqliteMetaStore`]); other backends implement the same traits.

pub mod fs;
pub mod sqlite;

use std::collections::HashSet;
use std::pin::Pin;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use crate::ids::Id;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The filesystem failed (full disk, permissions, …).
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
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

/// A writer into a temporary object. It blocks: use it from a blocking thread
/// (`spawn_blocking`), where encryption runs too, so that parsing and encrypting overlap.
pub type BlobWriter = Box<dyn std::io::Write + Send>;
/// A reader of a stored object.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Ciphertext storage. Objects are written under a temporary id, made durable with
/// [`BlobStore::seal`], and become visible under their keys with [`BlobStore::publish`].
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Opens a new temporary object for writing.
    async fn create(&self, temp: Id) -> Result<BlobWriter>;
    /// Makes a fully written temporary object durable and returns its size in bytes.
    async fn seal(&self, temp: Id) -> Result<u64>;
    /// Moves sealed temporary objects to their keys, durably.
    async fn publish(&self, staged: &[(Id, BlobKey)]) -> Result<()>;
    /// Removes a temporary object, best effort; safe to call from `Drop`.
    fn discard(&self, temp: Id);
    /// Opens a stored object at `offset`: its total size and a reader, or `None` if absent.
    async fn open(&self, key: BlobKey, offset: u64) -> Result<Option<(u64, BlobReader)>>;
    /// Deletes an object; deleting an absent object is not an error.
    async fn delete(&self, key: BlobKey) -> Result<()>;
    /// Every stored (published) object.
    async fn list(&self) -> Result<Vec<BlobKey>>;
    /// Removes every temporary object; returns how many. Only at start-up.
    async fn sweep_temporaries(&self) -> Result<usize>;
}

/// A registered editor.
#[derive(Debug, Clone)]
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
    /// The ids of every item and reply (for the orphan sweep).
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
}

/// Removes temporary objects and objects that no committed item owns. Run at start-up,
/// before serving: whatever a crash interrupted was never acknowledged to anyone.
pub async fn remove_orphans(blobs: &dyn BlobStore, meta: &dyn MetaStore) -> Result<usize> {
    let mut removed = blobs.sweep_temporaries().await?;
    let live = meta.item_ids().await?;
    for key in blobs.list().await? {
        if !live.contains(&key.id) {
            blobs.delete(key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
