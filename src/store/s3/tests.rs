//! The S3 store against `object_store`'s in-memory store: the conformance suite, and what only
//! a look behind the trait shows (uploads really aborted, errors surfacing, the memory bound).
//!
//! `InMemory` panics on a part whose index is beyond the next one (object_store 0.13.2,
//! `memory.rs` line 439), which S3 accepts and two parts in flight produce whenever the
//! second finishes first. [`Gated`] keeps the parts of each upload itself and gives them to
//! `InMemory` in order on completion.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::{
    CopyOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, PutMultipartOptions,
    PutOptions, PutResult,
};

use super::*;
use crate::ids::Id;
use crate::store::conformance::blobs as suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    suite::run(&S3BlobStore::new(Gated::new(false, true))).await;
}

/// The markers in the bucket: their paths and the upload ids they hold.
async fn markers<T: ObjectStore>(store: &T) -> Vec<(Path, String)> {
    let metas: Vec<_> = store
        .list(Some(&Path::from(UPLOADS)))
        .try_collect()
        .await
        .unwrap();
    let mut out = Vec::new();
    for m in metas {
        let id = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        out.push((m.location, String::from_utf8(id.to_vec()).unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_really_aborts_the_multipart_upload() {
    let s = S3BlobStore::new(Gated::new(false, true));
    let key = BlobKey::content(Id::random());
    suite::crash_during_upload(&s, key, suite::pattern(PART_SIZE + 1, 1)).await;
    let m = markers(s.inner()).await;
    assert_eq!(m.len(), 1, "one marker: {m:?}");
    let path = item_path(&key.file_name());
    let id = m[0].1.clone();
    // The upload is alive before the sweep…
    s.inner()
        .put_part(&path, &id, 1, PutPayload::from_static(b"x"))
        .await
        .expect("upload alive before the sweep");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(s.sweep_stale_uploads(Duration::ZERO).await.unwrap(), 1);
    // …and gone after it, with its marker.
    assert!(
        s.inner()
            .put_part(&path, &id, 1, PutPayload::from_static(b"x"))
            .await
            .is_err(),
        "the multipart upload survived the sweep"
    );
    assert!(markers(s.inner()).await.is_empty(), "marker left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_and_abort_remove_their_markers() {
    let s = S3BlobStore::new(Gated::new(false, true));
    let (w, up) = s.begin(BlobKey::content(Id::random())).await.unwrap();
    assert_eq!(markers(s.inner()).await.len(), 1, "begin writes a marker");
    suite::write_and_drop(w, vec![1; 10]).await.unwrap();
    up.complete().await.unwrap();
    let (w, up) = s.begin(BlobKey::meta(Id::random())).await.unwrap();
    drop(w);
    up.abort().await;
    assert!(markers(s.inner()).await.is_empty(), "markers left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_before_the_writer_is_dropped_fails_instead_of_hanging() {
    let s = S3BlobStore::new(Gated::new(false, true));
    let (w, up) = s.begin(BlobKey::content(Id::random())).await.unwrap();
    assert!(matches!(up.complete().await, Err(Error::Backend(_))));
    drop(w);
}

/// An in-memory store whose parts can be held back behind a gate, or refused; it counts the
/// parts in flight.
#[derive(Debug)]
struct Gated {
    inner: InMemory,
    /// The parts of each live upload, by index.
    uploads: Mutex<HashMap<MultipartId, BTreeMap<usize, PutPayload>>>,
    refuse_parts: bool,
    gate: tokio::sync::Semaphore,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Gated {
    fn new(refuse_parts: bool, open: bool) -> Gated {
        Gated {
            inner: InMemory::new(),
            uploads: Mutex::default(),
            refuse_parts,
            gate: tokio::sync::Semaphore::new(if open { 1 << 20 } else { 0 }),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }
}

impl std::fmt::Display for Gated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gated({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Gated {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[async_trait]
impl MultipartStore for Gated {
    async fn create_multipart(&self, path: &Path) -> object_store::Result<MultipartId> {
        let id = self.inner.create_multipart(path).await?;
        self.uploads
            .lock()
            .unwrap()
            .insert(id.clone(), BTreeMap::new());
        Ok(id)
    }
    async fn put_part(
        &self,
        path: &Path,
        id: &MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> object_store::Result<PartId> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let permit = self.gate.acquire().await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        drop(permit);
        if self.refuse_parts {
            return Err(object_store::Error::Generic {
                store: "Gated",
                source: "part refused".into(),
            });
        }
        let mut uploads = self.uploads.lock().unwrap();
        let Some(parts) = uploads.get_mut(id) else {
            return Err(object_store::Error::NotFound {
                path: path.to_string(),
                source: "no such upload".into(),
            });
        };
        parts.insert(part_idx, data);
        Ok(PartId {
            content_id: part_idx.to_string(),
        })
    }
    async fn complete_multipart(
        &self,
        path: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> object_store::Result<PutResult> {
        let mut stored = self.uploads.lock().unwrap().remove(id).unwrap_or_default();
        // In order, as S3 assembles them; a part missing from the list is a bug.
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(part.content_id, i.to_string(), "parts out of order");
            let data = stored.remove(&i).expect("a listed part was uploaded");
            self.inner.put_part(path, id, i, data).await?;
        }
        self.inner.complete_multipart(path, id, parts).await
    }
    async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> object_store::Result<()> {
        self.uploads.lock().unwrap().remove(id);
        self.inner.abort_multipart(path, id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_part_fails_the_writer_and_complete_and_leaves_nothing() {
    let s = S3BlobStore::new(Gated::new(true, true));
    let key = BlobKey::content(Id::random());
    let (w, up) = s.begin(key).await.unwrap();
    let written = suite::write_and_drop(w, suite::pattern(8 * PART_SIZE, 2)).await;
    let e = written.expect_err("a write after a refused part fails");
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    assert!(matches!(up.complete().await, Err(Error::Backend(_))));
    assert!(s.list().await.unwrap().is_empty());
    assert!(
        markers(s.inner()).await.is_empty(),
        "the failed upload's marker left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_last_part_fails_complete() {
    let s = S3BlobStore::new(Gated::new(true, true));
    let (w, up) = s.begin(BlobKey::meta(Id::random())).await.unwrap();
    // One short part, sent on drop: the writer never sees the error; complete does.
    suite::write_and_drop(w, vec![7; 100]).await.unwrap();
    assert!(up.complete().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_outruns_the_store_holds_at_most_the_bound() {
    let s = S3BlobStore::new(Gated::new(false, false));
    let key = BlobKey::content(Id::random());
    let (mut w, up) = s.begin(key).await.unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let total = 10 * PART_SIZE + 3;
    let counted = Arc::clone(&accepted);
    let writer = tokio::task::spawn_blocking(move || {
        let chunk = vec![9u8; 64 * 1024];
        let mut left = total;
        while left > 0 {
            let n = w.write(&chunk[..left.min(chunk.len())]).unwrap();
            counted.fetch_add(n as u64, Ordering::SeqCst);
            left -= n;
        }
    });
    // With the store stalled, the writer stops once the bound is full.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = accepted.load(Ordering::SeqCst);
    assert!(
        held <= MAX_BUFFERED as u64,
        "the writer got {held} bytes ahead of a stalled store, more than {MAX_BUFFERED}"
    );
    assert_eq!(
        held, MAX_BUFFERED as u64,
        "the writer did not fill its buffers while the store was stalled"
    );
    assert_eq!(s.inner().in_flight.load(Ordering::SeqCst), 1);
    s.inner().gate.add_permits(1 << 20);
    writer.await.unwrap();
    assert_eq!(up.complete().await.unwrap(), total as u64);
    assert_eq!(
        s.inner().max_in_flight.load(Ordering::SeqCst),
        1,
        "parts of one upload went to the store at the same time"
    );
    let (size, _) = s.open(key, 0).await.unwrap().unwrap();
    assert_eq!(size, total as u64);
}

#[test]
fn unreachable_errors_are_unavailable() {
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let e = object_store::Error::Generic {
        store: "S3",
        source: Box::new(HttpError::new(HttpErrorKind::Connect, refused)),
    };
    assert!(matches!(map_err(e), Error::Unavailable(_)));
    let e = object_store::Error::Generic {
        store: "S3",
        source: "Server returned non-2xx status code: 403 Forbidden".into(),
    };
    assert!(matches!(map_err(e), Error::Backend(_)));
    let e = object_store::Error::Generic {
        store: "S3",
        source: "Server returned non-2xx status code: 503 Service Unavailable".into(),
    };
    assert!(matches!(map_err(e), Error::Unavailable(_)));
}
