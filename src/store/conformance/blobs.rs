//! The `BlobStore` conformance suite.
//!
//! [`run`] takes a fresh, empty store and runs every check in turn; each check leaves the
//! store as empty as it found it. A check panics, naming the promise, when the store breaks
//! it. Writers are used from blocking threads, as intake uses them.

use std::io::Write;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::ids::Id;
use crate::store::{put_small, BlobKey, BlobKind, BlobStore, BlobWriter, Listed, Upload};

/// A size above two S3 parts of 5 MiB, and no multiple of any part size.
pub const LARGE: usize = (12 << 20) + 12_345;

/// Every check, in turn.
pub async fn run(store: &dyn BlobStore) {
    assert_empty(store, "a fresh store").await;
    round_trip(store).await;
    invisible_until_complete(store).await;
    offsets(store).await;
    large(store).await;
    empty_object(store).await;
    delete(store).await;
    every_kind_listed(store).await;
    aborted_and_dropped_leave_nothing(store).await;
    crashed_upload_swept(store).await;
}

/// Bytes that differ from part to part, so that parts out of order or repeated show.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes `bytes` into `writer` on a blocking thread and drops it; returns the write's error.
pub async fn write_and_drop(mut writer: BlobWriter, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        // Uneven chunks, as an encryptor writes them.
        for chunk in bytes.chunks(64 * 1024 + 7) {
            writer.write_all(chunk)?;
        }
        writer.flush()
    })
    .await
    .expect("writer thread")
}

/// Begins `key`, writes `bytes`, completes; returns the size `complete` gave.
pub async fn write(store: &dyn BlobStore, key: BlobKey, bytes: Vec<u8>) -> u64 {
    let (w, up) = store.begin(key).await.expect("begin");
    write_and_drop(w, bytes).await.expect("write");
    up.complete().await.expect("complete")
}

/// The size and bytes of `key` from `offset`, or `None` if absent.
pub async fn read(store: &dyn BlobStore, key: BlobKey, offset: u64) -> Option<(u64, Vec<u8>)> {
    let (size, mut r) = store.open(key, offset).await.expect("open")?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.expect("read");
    Some((size, out))
}

async fn listed(store: &dyn BlobStore) -> Vec<Listed> {
    store.list().await.expect("list")
}

async fn assert_empty(store: &dyn BlobStore, when: &str) {
    let l = listed(store).await;
    assert!(l.is_empty(), "{when}: nothing listed, got {l:?}");
}

/// Begin, write, complete: open returns exactly the bytes and size; list has it.
pub async fn round_trip(store: &dyn BlobStore) {
    let key = BlobKey::content(Id::random());
    let bytes = pattern(1000, 1);
    assert_eq!(
        write(store, key, bytes.clone()).await,
        1000,
        "complete's size"
    );
    assert_eq!(
        read(store, key, 0).await,
        Some((1000, bytes)),
        "read back whole"
    );
    let l = listed(store).await;
    assert_eq!(l.len(), 1, "one object listed: {l:?}");
    assert_eq!((l[0].key, l[0].size), (key, 1000), "listed key and size");
    assert!(
        l[0].age < Duration::from_secs(60),
        "a new object is young: {l:?}"
    );
    store.delete(key).await.expect("delete");
    assert_empty(store, "after delete").await;
}

/// An object written but not completed is neither listed nor readable.
pub async fn invisible_until_complete(store: &dyn BlobStore) {
    let key = BlobKey::content(Id::random());
    let (w, up) = store.begin(key).await.expect("begin");
    write_and_drop(w, pattern(LARGE, 2)).await.expect("write");
    assert_empty(store, "before complete").await;
    assert!(
        read(store, key, 0).await.is_none(),
        "unreadable before complete"
    );
    assert_eq!(up.complete().await.expect("complete"), LARGE as u64);
    assert_eq!(listed(store).await.len(), 1, "listed once complete");
    store.delete(key).await.expect("delete");
}

/// Open at 0, in the middle, at the end and past it: the right tail and the whole size.
pub async fn offsets(store: &dyn BlobStore) {
    let key = BlobKey::meta(Id::random());
    let bytes = pattern(100, 3);
    write(store, key, bytes.clone()).await;
    for offset in [0u64, 1, 37, 99] {
        let got = read(store, key, offset).await;
        let tail = bytes[offset as usize..].to_vec();
        assert_eq!(got, Some((100, tail)), "open at {offset}");
    }
    assert_eq!(
        read(store, key, 100).await,
        Some((100, vec![])),
        "open at the size"
    );
    assert_eq!(
        read(store, key, 150).await,
        Some((100, vec![])),
        "open past the size"
    );
    store.delete(key).await.expect("delete");
}

/// An object of more than two parts round-trips, also read from inside a part.
pub async fn large(store: &dyn BlobStore) {
    let key = BlobKey::content(Id::random());
    let bytes = pattern(LARGE, 4);
    assert_eq!(write(store, key, bytes.clone()).await, LARGE as u64);
    let (size, got) = read(store, key, 0).await.expect("present");
    assert_eq!(size, LARGE as u64);
    assert!(
        got == bytes,
        "large object read back differs ({} bytes)",
        got.len()
    );
    let offset = (5 << 20) - 3;
    let (size, got) = read(store, key, offset).await.expect("present");
    assert_eq!(size, LARGE as u64, "size from an offset");
    assert!(
        got[..] == bytes[offset as usize..],
        "tail from {offset} differs"
    );
    store.delete(key).await.expect("delete");
}

/// An object of no bytes.
pub async fn empty_object(store: &dyn BlobStore) {
    let key = BlobKey::reply(Id::random());
    assert_eq!(write(store, key, vec![]).await, 0, "empty object's size");
    assert_eq!(
        read(store, key, 0).await,
        Some((0, vec![])),
        "empty object read"
    );
    let l = listed(store).await;
    assert_eq!(
        l.iter().map(|l| (l.key, l.size)).collect::<Vec<_>>(),
        [(key, 0)]
    );
    store.delete(key).await.expect("delete");
}

/// Deleted is gone; deleting what is absent is no error.
pub async fn delete(store: &dyn BlobStore) {
    let key = BlobKey::content(Id::random());
    write(store, key, pattern(10, 5)).await;
    store.delete(key).await.expect("delete");
    assert!(read(store, key, 0).await.is_none(), "open after delete");
    assert_empty(store, "after delete").await;
    store.delete(key).await.expect("delete again");
    let never = BlobKey::meta(Id::random());
    store
        .delete(never)
        .await
        .expect("delete of an object never written");
}

/// Content, metadata and reply objects are listed as such, with their sizes.
pub async fn every_kind_listed(store: &dyn BlobStore) {
    let id = Id::random();
    let keys = [
        (BlobKey::content(id), 11),
        (BlobKey::meta(id), 22),
        (BlobKey::reply(Id::random()), 33),
    ];
    for (key, size) in keys {
        let n = put_small(store, key, pattern(size, size as u64))
            .await
            .expect("put_small");
        assert_eq!(n, size as u64);
    }
    let mut got: Vec<_> = listed(store)
        .await
        .iter()
        .map(|l| (l.key, l.size as usize))
        .collect();
    got.sort_by_key(|(_, size)| *size);
    assert_eq!(got, keys, "listed keys and sizes");
    let kinds: Vec<_> = got.iter().map(|(k, _)| k.kind).collect();
    assert_eq!(kinds, [BlobKind::Content, BlobKind::Meta, BlobKind::Reply]);
    for (key, _) in keys {
        store.delete(key).await.expect("delete");
    }
}

/// Aborted and dropped uploads leave nothing listed and nothing for the sweep.
pub async fn aborted_and_dropped_leave_nothing(store: &dyn BlobStore) {
    let aborted = BlobKey::content(Id::random());
    let (w, up) = store.begin(aborted).await.expect("begin");
    write_and_drop(w, pattern(LARGE, 6)).await.expect("write");
    up.abort().await;
    // Dropped with its writer still open, then the writer.
    let dropped = BlobKey::meta(Id::random());
    let (w, up) = store.begin(dropped).await.expect("begin");
    drop(up);
    let _ = write_and_drop(w, pattern(PART_ISH, 7)).await;
    assert_empty(store, "after abort and drop").await;
    assert!(
        read(store, aborted, 0).await.is_none(),
        "aborted object absent"
    );
    assert!(
        read(store, dropped, 0).await.is_none(),
        "dropped object absent"
    );
    // The drop's clean-up may run on a task; and stores tell ages in whole seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        store
            .sweep_stale_uploads(Duration::ZERO)
            .await
            .expect("sweep"),
        0,
        "aborted and dropped uploads left something to sweep"
    );
    assert_empty(store, "after the sweep").await;
}

/// A little over one S3 part.
const PART_ISH: usize = (5 << 20) + 1;

/// Begins `key`, writes `bytes`, and "crashes": the writer and upload are leaked, so no drop
/// cleans anything up.
pub async fn crash_during_upload(store: &dyn BlobStore, key: BlobKey, bytes: Vec<u8>) {
    let (mut w, up) = store.begin(key).await.expect("begin");
    let w = tokio::task::spawn_blocking(move || {
        w.write_all(&bytes).expect("write");
        w
    })
    .await
    .expect("writer thread");
    std::mem::forget::<BlobWriter>(w);
    std::mem::forget::<Box<dyn Upload>>(up);
}

/// An upload a crash left is not listed, survives a sweep with a long grace period and is
/// removed by one with none.
pub async fn crashed_upload_swept(store: &dyn BlobStore) {
    let key = BlobKey::content(Id::random());
    crash_during_upload(store, key, pattern(PART_ISH, 8)).await;
    assert_empty(store, "after a crash").await;
    assert_eq!(
        store
            .sweep_stale_uploads(Duration::from_secs(3600))
            .await
            .expect("sweep"),
        0,
        "a recent upload is left alone"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        store
            .sweep_stale_uploads(Duration::ZERO)
            .await
            .expect("sweep"),
        1,
        "the crashed upload is swept"
    );
    assert_eq!(
        store
            .sweep_stale_uploads(Duration::ZERO)
            .await
            .expect("sweep"),
        0,
        "swept once only"
    );
    assert_empty(store, "after the sweep").await;
    assert!(read(store, key, 0).await.is_none(), "crashed object absent");
}
