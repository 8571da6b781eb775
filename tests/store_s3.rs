//! The S3 blob store against a real Garage: the conformance suite, incomplete multipart uploads
//! really aborted, an outage and the recovery after it, memory during a large upload.

use std::io::Write;
use std::time::{Duration, Instant};

use sanduq::ids::Id;
use sanduq::store::conformance::blobs as suite;
use sanduq::store::s3::{s3_with_credentials, S3BlobStore, MAX_BUFFERED};
use sanduq::store::{BlobKey, BlobStore, Error};

use crate::common::garage::Garage;

fn store(g: &Garage) -> S3BlobStore<object_store::aws::AmazonS3> {
    s3_with_credentials(
        g.bucket(),
        Some(&g.endpoint()),
        g.region(),
        g.key_id(),
        g.secret(),
    )
    .expect("S3 store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let g = Garage::start();
    suite::run(&store(&g)).await;
}

/// Waits until Garage counts `n` incomplete multipart uploads (its counters lag a little).
async fn wait_unfinished(g: &Garage, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = g.unfinished_multipart_uploads();
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Garage counts {now} incomplete multipart uploads, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_aborts_garages_incomplete_multipart_uploads() {
    let g = Garage::start();
    let s = store(&g);
    // Two parts sent, the rest lost with the "crashed" process.
    let key = BlobKey::content(Id::random());
    suite::crash_during_upload(&s, key, suite::pattern((10 << 20) + 1, 1)).await;
    wait_unfinished(&g, 1).await;
    assert_eq!(
        s.sweep_stale_uploads(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.sweep_stale_uploads(Duration::ZERO).await.unwrap(), 1);
    wait_unfinished(&g, 0).await;
    assert!(s.list().await.unwrap().is_empty());
}

/// Runs `op` and requires `Error::Unavailable` within 15 s.
async fn unavailable<T: std::fmt::Debug>(
    what: &str,
    op: impl std::future::Future<Output = sanduq::store::Result<T>>,
) {
    let t = Instant::now();
    let r = op.await;
    let took = t.elapsed();
    eprintln!("{what} with Garage down failed in {took:?}");
    assert!(
        matches!(r, Err(Error::Unavailable(_))),
        "{what} with Garage down: {r:?}"
    );
    assert!(
        took < Duration::from_secs(15),
        "{what} took {took:?} to fail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unavailable_and_the_same_store_recovers() {
    let mut g = Garage::start();
    let s = store(&g);
    let before = BlobKey::content(Id::random());
    suite::write(&s, before, suite::pattern(1000, 2)).await;

    g.stop();
    unavailable("begin", async {
        s.begin(BlobKey::meta(Id::random())).await.map(|_| ())
    })
    .await;
    unavailable("open", async {
        s.open(before, 0).await.map(|o| o.map(|(n, _)| n))
    })
    .await;
    unavailable("open at an offset", async {
        s.open(before, 10).await.map(|o| o.map(|(n, _)| n))
    })
    .await;
    unavailable("list", s.list()).await;
    unavailable("delete", s.delete(before)).await;
    unavailable("sweep", s.sweep_stale_uploads(Duration::ZERO)).await;

    g.start_again();
    // Garage may take a moment to serve again after its port opens.
    let deadline = Instant::now() + Duration::from_secs(30);
    let read = loop {
        match s.open(before, 0).await {
            Ok(found) => break found,
            Err(e) => {
                assert!(Instant::now() < deadline, "no recovery: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(
        read.map(|(n, _)| n),
        Some(1000),
        "the object written before"
    );
    assert_eq!(
        suite::read(&s, before, 0).await,
        Some((1000, suite::pattern(1000, 2)))
    );
    let after = BlobKey::meta(Id::random());
    assert_eq!(suite::write(&s, after, vec![5; 77]).await, 77);
    assert_eq!(s.list().await.unwrap().len(), 2);
}

/// The test process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_holds_a_bounded_amount_of_memory() {
    const SIZE: u64 = 192 << 20;
    let g = Garage::start();
    let s = store(&g);
    let key = BlobKey::content(Id::random());
    let base = rss();
    let (mut w, up) = s.begin(key).await.unwrap();
    let peak = tokio::task::spawn_blocking(move || {
        let chunk = suite::pattern(64 * 1024, 3);
        let mut peak = 0;
        for i in 0..SIZE / chunk.len() as u64 {
            w.write_all(&chunk).unwrap();
            if i % 64 == 0 {
                peak = peak.max(rss());
            }
        }
        drop(w);
        peak.max(rss())
    })
    .await
    .unwrap();
    assert_eq!(up.complete().await.unwrap(), SIZE);
    let grew = peak.saturating_sub(base);
    eprintln!(
        "a {} MiB upload grew the test process by {} MiB at most (bound on buffers: {} MiB)",
        SIZE >> 20,
        grew >> 20,
        MAX_BUFFERED >> 20
    );
    // Other tests share the process: a generous margin, far below the object's size.
    assert!(
        grew < SIZE / 2,
        "a {} MiB upload grew memory by {} MiB",
        SIZE >> 20,
        grew >> 20
    );
    let (size, _) = s.open(key, 0).await.unwrap().unwrap();
    assert_eq!(size, SIZE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_accepts_and_never_answers_is_unavailable_after_the_read_timeout() {
    // Holds every connection open and says nothing, as a hung store would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let s = s3_with_credentials("sanduq", Some(&endpoint), "garage", "GK0", "secret")
        .expect("S3 store");
    let t = Instant::now();
    let r = s.list().await;
    let took = t.elapsed();
    eprintln!("list against a silent store failed in {took:?}");
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    assert!(
        took < sanduq::store::s3::READ_TIMEOUT + Duration::from_secs(15),
        "took {took:?}"
    );
}
