//! Limits on a real listener: oversized heads, too many parts, stalled and slow bodies,
//! hundreds of uploads in flight, slowloris, the connection cap, clients that never read.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

use super::raw;

#[tokio::test(flavor = "multi_thread")]
async fn oversized_heads_and_too_many_parts_are_refused() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    // The limit (16,384 bytes by default) is the head as sent; hyper reads 64 KiB at a time,
    // so the server checks it, on both listeners, and hyper refuses what does not fit its
    // buffer.
    let head_of = |value_len: usize| {
        let fixed = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \r\n\r\n".len();
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(value_len - fixed)
        )
    };
    let res = raw(
        server.source,
        head_of(16_384).as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        res.starts_with("HTTP/1.1 200"),
        "a head of 16,384 bytes: {res:.200}"
    );
    // An absolute-form target counts whole, authority included.
    let absolute = format!(
        "GET http://{}.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "h".repeat(20_000)
    );
    let res = raw(server.source, absolute.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        res.starts_with("HTTP/1.1 431"),
        "an absolute-form target of 20,000 bytes: {res:.200}"
    );
    for size in [16_385, 20_000, 60_000, 100_000] {
        for addr in [server.source, server.api] {
            let res = raw(addr, head_of(size).as_bytes(), Duration::from_secs(5)).await;
            assert!(
                res.starts_with("HTTP/1.1 431"),
                "a head of {size} bytes to {addr}: {res:.200}"
            );
        }
    }
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let res = raw(server.source, head.as_bytes(), Duration::from_secs(5)).await;
    assert!(res.starts_with("HTTP/1.1 431"), "{res:.200}");
    // Too many parts: a clear 413 page.
    let v = Visitor::new(&server).await;
    let parts: Vec<Part<'_>> = (0..200).map(|_| Part::text("message", b"x")).collect();
    let (s, page) = v.submit(&server, &parts).await;
    assert_eq!(s, 413);
    assert!(page.contains("Too much to send"));
    assert!(server.blob_files().is_empty());
    // The server still serves (a fresh client: the refused request's connection is closed).
    let v = Visitor::new(&server).await;
    let (s, _) = v.submit(&server, &[Part::text("message", b"ok")]).await;
    assert_eq!(s, 200);
}

/// The request head of a submission of `len` bytes by `v`.
fn submit_head(server: &Server, v: &Visitor, len: usize) -> String {
    format!(
        "POST /submit HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nCookie: {}\r\nContent-Length: {len}\r\n\r\n",
        server.source,
        content_type(),
        v.cookie
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_upload_is_cut_and_a_slow_one_completes() {
    let mut server = Server::configured(|c| {
        c.set("limits.stall_window_seconds", 2);
    });
    server.start();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let payload = vec![b'z'; 16 * 1024];
    let body = multipart(&[
        Part::text("csrf_token", v.token.as_bytes()),
        Part::file(b"slow.bin", &payload),
    ]);

    // Stalled: the head and 600 bytes, then nothing. The 408 page is in the language of the
    // address the form was sent to.
    for (path, locale) in [("/submit", "en"), ("/tg/submit", "tg")] {
        let started = Instant::now();
        let mut s = TcpStream::connect(server.source).await.unwrap();
        let head = submit_head(&server, &v, body.len()).replacen("/submit", path, 1);
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body[..600]).await.unwrap();
        // The upload had begun: its ciphertext was being written.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(server.temp_files().len(), 1, "the upload was under way");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.300}");
        let title = sanduq::i18n::Locale::from_code(locale)
            .unwrap()
            .message("error-stalled-title", None);
        assert!(answer.contains(&title), "{locale}: {answer:.600}");
        assert!(
            answer.contains(&format!("lang=\"{locale}\"")),
            "{answer:.600}"
        );
        assert!(answer
            .to_ascii_lowercase()
            .contains("content-security-policy"));
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(server.temp_files().is_empty() && server.blob_files().is_empty());
    }

    // Slow but steady: 1 KiB every 0.4 s, about 8 s in all, more than 1 KiB per 2 s.
    let mut s = TcpStream::connect(server.source).await.unwrap();
    s.write_all(submit_head(&server, &v, body.len()).as_bytes())
        .await
        .unwrap();
    for chunk in body.chunks(1024) {
        s.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut answer = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    assert_eq!(server.blob_files().len(), 2, "one item and its metadata");
}

#[tokio::test(flavor = "multi_thread")]
async fn six_hundred_uploads_in_flight_do_not_starve_a_submission() {
    // Each upload in flight holds a worker thread while it waits for the source's next bytes;
    // more of them than tokio's default pool (512) must not stop anyone else.
    const UPLOADS: usize = 600;
    let server = Server::start_default();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let payload = vec![b'u'; 64 * 1024];
    let body = multipart(&[
        Part::text("csrf_token", v.token.as_bytes()),
        Part::file(b"held.bin", &payload),
    ]);
    let head = submit_head(&server, &v, body.len());
    let mut held = Vec::with_capacity(UPLOADS);
    for _ in 0..UPLOADS {
        let mut s = TcpStream::connect(server.source).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body[..1000]).await.unwrap();
        held.push(s);
    }
    // Every one of them has begun writing its ciphertext.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.temp_files().len() < UPLOADS {
        assert!(
            Instant::now() < deadline,
            "only {} uploads under way",
            server.temp_files().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t0 = Instant::now();
    let other = Visitor::new(&server).await;
    let (s, page) = other
        .submit(&server, &[Part::text("message", b"past the queue")])
        .await;
    assert_eq!(s, 200, "{page:.300}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the submission waited {:?}",
        t0.elapsed()
    );
    // The held uploads complete too.
    for s in held.iter_mut().take(20) {
        s.write_all(&body[1000..]).await.unwrap();
    }
    let mut ok = 0;
    for s in held.iter_mut().take(20) {
        let mut buf = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        ok += usize::from(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    assert_eq!(ok, 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_does_not_stop_a_submission_and_is_cut_in_time() {
    const TRICKLERS: usize = 1000;
    let mut server = Server::configured(|c| {
        c.set("limits.header_read_timeout_seconds", 8);
    });
    server.start();
    server.add_editor("ana", None);
    let addr = server.source;
    // Each trickler sends a header line a second and reports when the server hung up.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TRICKLERS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        tasks.push(tokio::spawn(async move {
            if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.is_err() {
                return Instant::now();
            }
            for i in 0..60 {
                let mut buf = [0u8; 512];
                match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Instant::now(),
                    Ok(Ok(_)) => {}
                    Err(_) => {}
                }
                if s.write_all(format!("X-T{i}: v\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return Instant::now();
                }
            }
            Instant::now() + Duration::from_secs(3600)
        }));
    }
    let connected = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // All tricklers hold their connections, and a source still gets through.
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "a trickler ended early"
    );
    let t0 = Instant::now();
    let v = Visitor::new(&server).await;
    let (s, page) = v
        .submit(&server, &[Part::text("message", b"through the flood")])
        .await;
    let took = t0.elapsed();
    assert_eq!(s, 200, "{page}");
    assert!(
        tasks.iter().filter(|t| !t.is_finished()).count() > TRICKLERS * 9 / 10,
        "the submission ran while the tricklers were connected"
    );
    // The server cuts each trickler once the header timeout has passed.
    let mut cut_after = Vec::new();
    for t in tasks {
        cut_after.push(t.await.unwrap().saturating_duration_since(started));
    }
    cut_after.sort();
    let last = *cut_after.last().unwrap();
    eprintln!(
        "slowloris: {TRICKLERS} connected in {connected:?}; submission took {took:?}; cut between {:?} and {last:?}",
        cut_after[0]
    );
    assert!(cut_after[0] >= Duration::from_secs(7), "{:?}", cut_after[0]);
    assert!(last <= connected + Duration::from_secs(15), "{last:?}");
}

/// A connection that was answered once and is kept open, so it surely holds one of the
/// server's places. A connection merely opened proves nothing: the server may still be
/// closing an earlier one (the start-up probe's, say), and closes this one instead.
async fn hold_a_place(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = answered_and_kept_open(addr).await {
            return s;
        }
        assert!(Instant::now() < deadline, "no place was free for 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn answered_and_kept_open(addr: SocketAddr) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /static/style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got.starts_with(b"HTTP/1.1 200").then_some(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_limit_are_closed_at_once() {
    let mut server = Server::configured(|c| {
        c.set("limits.max_connections", 8);
    });
    server.start();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(hold_a_place(server.source).await);
    }
    let t0 = Instant::now();
    let res = raw(
        server.source,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(res, "", "the ninth connection is closed unanswered");
    // Closed, not left hanging until the client gives up.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    drop(held);
    // Once they are gone, the server serves again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = raw(
            server.source,
            b"GET /static/style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        if res.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "not served again: {res:.100}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_reads_its_answers_loses_its_connection() {
    // One connection allowed, idle timeout 2 × 2 s: the connection that pipelines requests
    // and reads nothing must give its place up, or nobody else is ever served.
    let mut server = Server::configured(|c| {
        c.set("limits.max_connections", 1)
            .set("limits.stall_window_seconds", 2);
    });
    server.start();
    let hog = hold_a_place(server.source).await;
    let (mut hog_read, mut hog_write) = hog.into_split();
    let writer = tokio::spawn(async move {
        // Small batches, each well within the server's read buffer.
        let req = b"GET /static/style.css HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50);
        for _ in 0..400 {
            if hog_write.write_all(&req).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Keep the write half open.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    // The hog is being answered, into buffers it never empties.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = raw(
        server.source,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(res.get(..40).unwrap_or(&res), "", "the only place is taken");
    let t0 = Instant::now();
    loop {
        let res = raw(
            server.source,
            b"GET /static/style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(2),
        )
        .await;
        if res.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the hog kept its connection"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    writer.abort();
    // The hog's connection was closed by the server: it reads what was sent, then the end.
    let mut sink = vec![0u8; 1 << 20];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match hog_read.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the hog's connection is still open");
}
