//! Ciphertext in an S3 bucket (AWS, Garage, MinIO, …), through `object_store`.
//!
//! Layout in the bucket: `items/<id>.age`, `<id>.meta.age` and `<id>.reply.age` once completed,
//! like the filesystem store's `items/`. An object is written as an S3 multipart upload under
//! its final key, so it is invisible — not listed, not readable — until
//! [`Upload::complete`](super::Upload::complete) completes the upload. S3 cannot rename.
//!
//! **Crash leftovers.** An incomplete multipart upload is billed and kept by S3 until aborted,
//! but `object_store` cannot list them. So `begin` writes a small marker object,
//! `uploads/<file name>.<random>`, whose content is the upload id; `complete` and `abort`
//! delete it, and [`BlobStore::sweep_stale_uploads`] aborts the upload of every marker older
//! than the grace period. A crash between creating the upload and writing its marker (one
//! request) would leak the upload: a bucket lifecycle rule aborting incomplete multipart
//! uploads after some days covers that too.
//!
//! **Memory.** One upload owns one part buffer of [`PART_SIZE`] bytes, allocated once and
//! reused: the [`BlobWriter`](super::BlobWriter) fills it, hands it to a task that uploads it,
//! and takes it back once the store has the part. One upload so holds at most
//! [`MAX_BUFFERED`] = 5 MiB of ciphertext, whatever the object's size. The writer waits while
//! a part is sent (its blocking thread): filling a second buffer meanwhile bought no
//! measurable speed against Garage (`BLOBS=s3 bash scripts/bench-ingest.sh 1024 2`), and a
//! source over Tor sends far slower than any store takes a part.
//! An empty object is a plain PUT: S3 completes no upload without a part, and Garage refuses
//! an empty one.
//!
//! **Outages.** Requests that cannot reach the store (refused, reset, timed out) are retried a
//! few times over at most [`RETRY_TIMEOUT`] and then fail with [`Error::Unavailable`]; the same
//! store object works again once the store is back. There is no whole-request timeout, since
//! a download streams to an editor over Tor for as long as it takes, but a connection that
//! sends nothing for [`READ_TIMEOUT`] fails.
//!
//! **Metadata.** S3 keeps each object's exact `Last-Modified` time; the filesystem store keeps
//! an inode change time just as exact. Neither holds anything a source sent in the clear.

use std::io::Write;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, MultipartId, ObjectStore, ObjectStoreExt,
    PutPayload, RetryConfig,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{BlobKey, BlobReader, BlobStore, BlobWriter, Error, Listed, Result, Upload};

/// Size of every part but the last: S3's minimum for a part that is not the last.
pub const PART_SIZE: usize = 5 << 20;
/// Part buffers one upload owns.
pub const BUFFERS: usize = 1;
/// The most ciphertext one upload holds in memory.
pub const MAX_BUFFERED: usize = PART_SIZE * BUFFERS;
/// A part goes to the HTTP client in slices of this size.
const SEND_CHUNK: usize = 64 << 10;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection that sends nothing for this long fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of a request that could not reach the store stop after this long.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(10);

const ITEMS: &str = "items";
const UPLOADS: &str = "uploads";
/// A marker holds an upload id: S3's are a few hundred bytes at most.
const MARKER_MAX: u64 = 4096;

/// A [`BlobStore`] on any `object_store` store with multipart uploads: [`AmazonS3`] in
/// production, `object_store::memory::InMemory` in tests.
#[derive(Debug)]
pub struct S3BlobStore<T> {
    store: Arc<T>,
}

impl<T: ObjectStore + MultipartStore> S3BlobStore<T> {
    /// The store over `store`.
    pub fn new(store: T) -> Self {
        S3BlobStore {
            store: Arc::new(store),
        }
    }

    /// The underlying store (tests look behind the trait with it).
    pub fn inner(&self) -> &T {
        &self.store
    }
}

/// The S3 store of `bucket`: credentials from the environment (`AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`, or what else `object_store` finds there on AWS), never from the
/// configuration. `endpoint` is an S3-compatible store's URL, `None` for AWS.
pub fn s3(bucket: &str, endpoint: Option<&str>, region: &str) -> Result<S3BlobStore<AmazonS3>> {
    build(AmazonS3Builder::from_env(), bucket, endpoint, region)
}

/// As [`s3`], with explicit credentials (tests, whose environment is shared by threads).
pub fn s3_with_credentials(
    bucket: &str,
    endpoint: Option<&str>,
    region: &str,
    key_id: &str,
    secret: &str,
) -> Result<S3BlobStore<AmazonS3>> {
    let builder = AmazonS3Builder::new()
        .with_access_key_id(key_id)
        .with_secret_access_key(secret);
    build(builder, bucket, endpoint, region)
}

fn build(
    builder: AmazonS3Builder,
    bucket: &str,
    endpoint: Option<&str>,
    region: &str,
) -> Result<S3BlobStore<AmazonS3>> {
    // Plain HTTP only to an endpoint that says so (Garage on loopback).
    let allow_http = endpoint.is_some_and(|e| e.starts_with("http://"));
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: RETRY_TIMEOUT,
    };
    let mut builder = builder
        .with_bucket_name(bucket)
        .with_region(region)
        .with_virtual_hosted_style_request(false)
        .with_allow_http(allow_http)
        // Object tags are not needed, and not every S3-compatible store has them.
        .with_disable_tagging(true)
        .with_retry(retry)
        // No whole-request timeout: a download streams to an editor over Tor for as long as
        // it takes. A connection that stops sending fails instead.
        .with_client_options(
            ClientOptions::new()
                .with_allow_http(allow_http)
                .with_connect_timeout(CONNECT_TIMEOUT)
                .with_read_timeout(READ_TIMEOUT)
                .with_timeout_disabled()
                .with_pool_idle_timeout(Duration::from_secs(60)),
        );
    if let Some(e) = endpoint {
        builder = builder.with_endpoint(e);
    }
    let store = builder.build().map_err(|e| Error::Backend(e.to_string()))?;
    Ok(S3BlobStore::new(store))
}

/// Maps an `object_store` error: what says the store cannot be reached is
/// [`Error::Unavailable`], the rest [`Error::Backend`]. Callers handle `NotFound` first.
fn map_err(e: object_store::Error) -> Error {
    if cannot_reach(&e) {
        Error::Unavailable(e.to_string())
    } else {
        Error::Backend(e.to_string())
    }
}

fn cannot_reach(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(h) = e.downcast_ref::<HttpError>() {
            if matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            ) {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::TimedOut
                    | K::BrokenPipe
                    | K::UnexpectedEof
            ) {
                return true;
            }
        }
        // A 5xx answer after the retries (Garage without quorum, S3 "SlowDown"). object_store
        // does not expose the status of its retry error, only this sentence.
        if e.to_string()
            .starts_with("Server returned non-2xx status code: 5")
        {
            return true;
        }
        cause = e.source();
    }
    false
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

fn item_path(name: &str) -> Path {
    Path::from_iter([ITEMS, name])
}

/// How long ago `modified` was, by this node's clock; zero if it is in the future.
fn ago(modified: SystemTime) -> Duration {
    SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default()
}

#[async_trait]
impl<T: ObjectStore + MultipartStore> BlobStore for S3BlobStore<T> {
    async fn begin(&self, key: BlobKey) -> Result<(BlobWriter, Box<dyn Upload>)> {
        let name = key.file_name();
        let path = item_path(&name);
        let id = self.store.create_multipart(&path).await.map_err(map_err)?;
        let marker = Path::from_iter([UPLOADS, &format!("{name}.{}", crate::ids::Id::random())]);
        if let Err(e) = self
            .store
            .put(&marker, PutPayload::from(id.clone().into_bytes()))
            .await
        {
            // Best effort: with no marker, nothing else would ever abort it.
            let _ = self.store.abort_multipart(&path, &id).await;
            return Err(map_err(e));
        }
        // Room for every buffer, so that neither side ever waits to hand one over.
        let (tx, rx) = mpsc::channel(BUFFERS);
        let (spare_tx, spare) = mpsc::channel(BUFFERS);
        let task = tokio::spawn(upload_parts(
            Arc::clone(&self.store),
            path.clone(),
            id.clone(),
            rx,
            spare_tx,
        ));
        let alive = Arc::new(());
        let writer = PartWriter {
            buf: BytesMut::new(),
            allocated: 0,
            tx: Some(tx),
            spare,
            runtime: tokio::runtime::Handle::current(),
            _alive: Arc::clone(&alive),
        };
        let upload = S3Upload {
            store: Arc::clone(&self.store),
            path,
            marker,
            id,
            task: Some(task),
            writer: Arc::downgrade(&alive),
            runtime: tokio::runtime::Handle::current(),
        };
        Ok((Box::new(writer), Box::new(upload)))
    }

    async fn open(&self, key: BlobKey, offset: u64) -> Result<Option<(u64, BlobReader)>> {
        let path = item_path(&key.file_name());
        let mut options = GetOptions::default();
        if offset > 0 {
            let meta = match self.store.head(&path).await {
                Ok(m) => m,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(map_err(e)),
            };
            // As the filesystem store: an offset at or past the end reads nothing.
            if offset >= meta.size {
                return Ok(Some((meta.size, Box::pin(tokio::io::empty()))));
            }
            options.range = Some(GetRange::Offset(offset));
            // The same object as the one measured (keys are written once; this is a check).
            options.if_match = meta.e_tag;
        }
        let got = match self.store.get_opts(&path, options).await {
            Ok(g) => g,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(map_err(e)),
        };
        let size = got.meta.size;
        let stream = got.into_stream().map_err(std::io::Error::from);
        Ok(Some((
            size,
            Box::pin(tokio_util::io::StreamReader::new(stream)),
        )))
    }

    async fn delete(&self, key: BlobKey) -> Result<()> {
        match self.store.delete(&item_path(&key.file_name())).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut objects = self.store.list(Some(&Path::from(ITEMS)));
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(map_err)?;
            let mut parts = meta.location.parts();
            let (Some(_items), Some(name), None) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(key) = BlobKey::from_file_name(name.as_ref()) else {
                continue;
            };
            out.push(Listed {
                key,
                size: meta.size,
                age: Duration::from_secs(ago(meta.last_modified.into()).as_secs()),
            });
        }
        Ok(out)
    }

    async fn sweep_stale_uploads(&self, grace: Duration) -> Result<usize> {
        let markers: Vec<_> = self
            .store
            .list(Some(&Path::from(UPLOADS)))
            .try_collect()
            .await
            .map_err(map_err)?;
        let mut n = 0;
        for meta in markers {
            if ago(meta.last_modified.into()) <= grace || meta.size > MARKER_MAX {
                continue;
            }
            // `<file name>.<random>`; anything else is not ours to remove.
            let Some(name) = meta.location.filename().and_then(|f| f.rsplit_once('.')) else {
                continue;
            };
            if BlobKey::from_file_name(name.0).is_none() {
                continue;
            }
            let path = item_path(name.0);
            let id = match self.store.get(&meta.location).await {
                Ok(got) => got.bytes().await.map_err(map_err)?,
                // Removed since it was listed: its upload completed or was aborted.
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(map_err(e)),
            };
            let Ok(id) = String::from_utf8(id.to_vec()) else {
                continue;
            };
            match self.store.abort_multipart(&path, &id).await {
                Ok(()) => {}
                // Completed, or aborted, just before a crash took the marker's deletion.
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
            match self.store.delete(&meta.location).await {
                Ok(()) => n += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
        }
        Ok(n)
    }
}

/// The writer of one upload: fills a part and hands it to [`upload_parts`] when full; the last
/// (possibly short, possibly empty) part goes when it is dropped.
struct PartWriter {
    buf: BytesMut,
    /// Buffers allocated so far, at most [`BUFFERS`].
    allocated: usize,
    tx: Option<mpsc::Sender<Bytes>>,
    /// The buffers of uploaded parts, back from [`upload_parts`].
    spare: mpsc::Receiver<Bytes>,
    runtime: tokio::runtime::Handle,
    /// Lets the upload tell whether the writer is still alive.
    _alive: Arc<()>,
}

impl PartWriter {
    fn closed() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "the object store upload failed; completing it returns why",
        )
    }

    /// An empty buffer for the next part: a new one while fewer than [`BUFFERS`] exist, else
    /// the buffer of a part in flight once it is uploaded. Blocks this (blocking) thread while
    /// the store is behind: that is the bound.
    fn next_buffer(&mut self) -> std::io::Result<BytesMut> {
        if self.allocated < BUFFERS {
            self.allocated += 1;
            return Ok(BytesMut::with_capacity(PART_SIZE));
        }
        let used = self.spare.blocking_recv().ok_or_else(Self::closed)?;
        Ok(match used.try_into_mut() {
            Ok(mut b) if b.capacity() >= PART_SIZE => {
                b.clear();
                b
            }
            // Still shared (the HTTP client has not let go of it yet) or shrunk: it is freed
            // when the last holder drops it.
            _ => BytesMut::with_capacity(PART_SIZE),
        })
    }
}

impl Write for PartWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.tx.is_none() {
            return Err(Self::closed());
        }
        if self.buf.capacity() == 0 {
            self.buf = self.next_buffer()?;
        }
        let n = data.len().min(PART_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PART_SIZE {
            let part = std::mem::take(&mut self.buf).freeze();
            let sent = self.tx.as_ref().map(|tx| tx.blocking_send(part));
            if !matches!(sent, Some(Ok(()))) {
                self.tx = None;
                return Err(Self::closed());
            }
        }
        Ok(n)
    }

    /// Does nothing: S3 takes only full parts but the last, which goes on drop.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.tx.is_none() {
            return Err(Self::closed());
        }
        Ok(())
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        if self.buf.is_empty() {
            return;
        }
        let part = std::mem::take(&mut self.buf).freeze();
        // The channel has room for every buffer, so this does not wait; should it ever be
        // full, a task waits instead (a drop may run on an async thread, where blocking is
        // not allowed). The sender goes with the part, so the upload sees it before its end.
        if let Err(mpsc::error::TrySendError::Full(part)) = tx.try_send(part) {
            self.runtime.spawn(async move {
                let _ = tx.send(part).await;
            });
        }
    }
}

/// The parts uploaded: their ids in order and their total size.
struct Parts {
    ids: Vec<PartId>,
    size: u64,
}

/// Uploads the parts that come through `rx`, one at a time, until the writer is dropped, and
/// hands each part's buffer back through `spare`. An error ends it at once: dropping `rx`
/// makes the writer's next write fail.
async fn upload_parts<T: MultipartStore>(
    store: Arc<T>,
    path: Path,
    id: MultipartId,
    mut rx: mpsc::Receiver<Bytes>,
    spare: mpsc::Sender<Bytes>,
) -> std::result::Result<Parts, object_store::Error> {
    let mut ids = Vec::new();
    let mut size = 0u64;
    while let Some(part) = rx.recv().await {
        size += part.len() as u64;
        let payload = payload(&part);
        ids.push(store.put_part(&path, &id, ids.len(), payload).await?);
        // Never full (it has room for every buffer); closed once the writer is gone.
        let _ = spare.try_send(part);
    }
    Ok(Parts { ids, size })
}

/// A part as a payload of [`SEND_CHUNK`]-byte slices of its buffer, not copies: an HTTP
/// client may copy each chunk it is given into its write buffer, and then a 64 KiB chunk
/// costs 64 KiB, where the whole part would cost a second [`PART_SIZE`].
fn payload(part: &Bytes) -> PutPayload {
    (0..part.len())
        .step_by(SEND_CHUNK)
        .map(|at| part.slice(at..part.len().min(at + SEND_CHUNK)))
        .collect()
}

/// An S3 multipart upload and its marker.
struct S3Upload<T: ObjectStore + MultipartStore> {
    store: Arc<T>,
    path: Path,
    marker: Path,
    id: MultipartId,
    /// `None` once completed or aborted.
    task: Option<JoinHandle<std::result::Result<Parts, object_store::Error>>>,
    writer: Weak<()>,
    runtime: tokio::runtime::Handle,
}

/// Aborts the multipart upload, then deletes its marker; keeps the marker if the abort failed,
/// so that the janitor tries again.
async fn abort_upload<T: ObjectStore + MultipartStore>(
    store: &T,
    path: &Path,
    marker: &Path,
    id: &MultipartId,
) {
    match store.abort_multipart(path, id).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        Err(_) => return,
    }
    let _ = store.delete(marker).await;
}

#[async_trait]
impl<T: ObjectStore + MultipartStore> Upload for S3Upload<T> {
    async fn complete(mut self: Box<Self>) -> Result<u64> {
        if self.writer.strong_count() > 0 {
            // Waiting would never end: the parts end when the writer is dropped.
            return Err(Error::Backend(
                "an S3 upload was completed before its writer was dropped".into(),
            ));
        }
        let Some(task) = self.task.take() else {
            return Err(Error::Backend("S3 upload already ended".into()));
        };
        let parts = match task.await {
            Ok(Ok(parts)) => parts,
            Ok(Err(e)) => {
                abort_upload(&*self.store, &self.path, &self.marker, &self.id).await;
                return Err(map_err(e));
            }
            Err(e) => {
                abort_upload(&*self.store, &self.path, &self.marker, &self.id).await;
                return Err(Error::Backend(format!("S3 upload task: {e}")));
            }
        };
        if parts.ids.is_empty() {
            // S3 completes no upload without a part, and Garage refuses an empty part: an
            // empty object is one plain (atomic) PUT, and the upload is given up.
            if let Err(e) = self.store.put(&self.path, PutPayload::default()).await {
                abort_upload(&*self.store, &self.path, &self.marker, &self.id).await;
                return Err(map_err(e));
            }
            abort_upload(&*self.store, &self.path, &self.marker, &self.id).await;
            return Ok(0);
        }
        if let Err(e) = self
            .store
            .complete_multipart(&self.path, &self.id, parts.ids)
            .await
        {
            abort_upload(&*self.store, &self.path, &self.marker, &self.id).await;
            return Err(map_err(e));
        }
        // The object is complete: a marker left behind only makes a later sweep abort an
        // upload that no longer exists.
        let _ = self.store.delete(&self.marker).await;
        Ok(parts.size)
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
            abort_upload(&*self.store, &self.path, &self.marker, &self.id).await;
        }
    }
}

impl<T: ObjectStore + MultipartStore> Drop for S3Upload<T> {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        task.abort();
        let (store, path, marker, id) = (
            Arc::clone(&self.store),
            self.path.clone(),
            self.marker.clone(),
            self.id.clone(),
        );
        self.runtime.spawn(async move {
            let _ = task.await;
            abort_upload(&*store, &path, &marker, &id).await;
        });
    }
}

#[cfg(test)]
mod tests;
