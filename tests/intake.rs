use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;

use crate::common::*;

/// Every form of the marker a leak could take.
pub(crate) fn needles(m: &str) -> Vec<Vec<u8>> {
    let mut v = vec![m.as_bytes().to_vec()];
    v.push(m.encode_utf16().flat_map(u16::to_le_bytes).collect());
    v.push(m.encode_utf16().flat_map(u16::to_be_bytes).collect());
    let b64 = base64::engine::general_purpose::STANDARD;
    for shift in 0..3 {
        // The marker's base64 at each alignment, minus the edge characters that depend on
        // the neighbouring bytes.
        let padded = format!("{}{m}", "x".repeat(shift));
        let enc = b64.encode(padded.as_bytes());
        let start = (shift * 4).div_ceil(3) + 1;
        v.push(enc.as_bytes()[start..enc.len() - 4].to_vec());
    }
    v
}

pub(crate) fn scan(paths: &[std::path::PathBuf], needles: &[Vec<u8>]) -> Vec<String> {
    let mut hits = Vec::new();
    for p in paths {
        let Ok(mut f) = std::fs::File::open(p) else {
            continue;
        };
        let mut buf = Vec::new();
        if Read::by_ref(&mut f)
            .take(256 << 20)
            .read_to_end(&mut buf)
            .is_err()
        {
            continue;
        }
        for n in needles {
            if buf.windows(n.len()).any(|w| w == n.as_slice()) {
                hits.push(format!(
                    "{} contains {:?}",
                    p.display(),
                    String::from_utf8_lossy(n)
                ));
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread")]
async fn no_plaintext_at_rest_and_every_object_is_age() {
    let started = std::time::SystemTime::now() - Duration::from_secs(2);
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let m = marker();
    let message = format!("They took him at night. {m}");
    let file: Vec<u8> = format!("{m}\n").repeat(50_000).into_bytes();
    let fname = format!("evidence-{m}.jpg");
    let ctype = format!("image/x-{m}");
    let v = Visitor::new(&server).await;
    let parts = [
        Part::text("message", message.as_bytes()),
        Part {
            name: "file",
            filename: Some(fname.as_bytes()),
            content_type: Some(&ctype),
            data: &file,
        },
    ];
    let (status, page) = v.submit(&server, &parts).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Received"));

    let needles = needles(&m);
    let mut paths = files_under(&server.data());
    paths.extend(
        files_under(&std::env::temp_dir())
            .into_iter()
            // Anything written to the temp dir while this test ran (older files cannot hold
            // its fresh marker; skipping them keeps the scan fast on a busy machine).
            .filter(|p| {
                let fresh = std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .map(|t| t >= started)
                    .unwrap_or(false);
                fresh && (!p.starts_with(server.dir.path()) || p.starts_with(server.data()))
            }),
    );
    paths.push(server.log.clone());
    let hits = scan(&paths, &needles);
    assert!(hits.is_empty(), "plaintext found: {hits:#?}");
    assert!(!server.logs().contains(&m));

    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 4, "two items, each content + meta: {blobs:?}");
    for b in &blobs {
        let head = std::fs::read(b).unwrap();
        assert!(
            head.starts_with(b"age-encryption.org/v1\n"),
            "{} is not a binary age file",
            b.display()
        );
    }

    // And it all comes back, byte for byte, on the offline side.
    let bundle = server.dir.path().join("bundle");
    let out = server.dir.path().join("out");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = files_under(&out);
    let got_file = files
        .iter()
        .find(|p| p.file_name().unwrap() == fname.as_str())
        .expect("file by its name");
    assert_eq!(std::fs::read(got_file).unwrap(), file);
    let msg = files
        .iter()
        .find(|p| p.ends_with("message.txt"))
        .expect("message.txt");
    assert_eq!(std::fs::read_to_string(msg).unwrap(), message);
    let index = files
        .iter()
        .find(|p| p.ends_with("index.jsonl"))
        .expect("index");
    let index = std::fs::read_to_string(index).unwrap();
    assert!(
        index.contains(&ctype.to_lowercase()),
        "content type kept in the encrypted metadata: {index}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_metadata_holds_only_ids_sizes_desk_and_day() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (status, _) = v
        .submit(&server, &[Part::file(b"secret-name.pdf", b"%PDF-1.4 data")])
        .await;
    assert_eq!(status, 200);
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let man = manifest(&bundle);
    let item = &man["items"][0];
    let mut keys: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["day", "desk", "id", "meta_size", "size", "source"]);
    let day = item["day"].as_str().unwrap();
    assert_eq!(day.len(), 10, "a day, no time: {day}");
    let all = std::fs::read_to_string(bundle.join("manifest.json")).unwrap();
    assert!(!all.contains("secret-name") && !all.contains("pdf"));
    // Blob files carry the day, not the time of arrival, as their modification time.
    for b in server.blob_files() {
        let mtime = std::fs::metadata(&b).unwrap().modified().unwrap();
        let secs = mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(secs % 86_400, 0, "{} has a time of day", b.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_stays_flat_while_a_large_upload_streams() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let before = peak_rss_kib(server.pid());
    // 512 MiB streamed from a generator: the test never holds it either.
    const TOTAL: usize = 512 << 20;
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        v.token
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let chunk = bytes::Bytes::from(vec![0x5au8; 1 << 20]);
    let stream = futures_util::stream::iter(
        std::iter::once(bytes::Bytes::from(head))
            .chain(std::iter::repeat_n(chunk, TOTAL >> 20))
            .chain(std::iter::once(bytes::Bytes::from(tail)))
            .map(Ok::<_, std::io::Error>),
    );
    let res = v
        .client
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", &v.cookie)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = peak_rss_kib(server.pid());
    eprintln!("server peak RSS: {before} KiB before, {after} KiB after a 512 MiB upload");
    assert!(
        after < 64 * 1024,
        "peak RSS {after} KiB for a 512 MiB upload: memory grows with size"
    );
    let sizes: u64 = server
        .blob_files()
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(sizes > TOTAL as u64, "the ciphertext is all there");
}

/// Sends the start of a submission over a raw socket and hangs up half-way.
fn abandoned_upload(server: &Server, v: &Visitor, declared: usize, sent: usize) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.bin\"\r\n\r\n",
        v.token
    );
    let mut s = TcpStream::connect(server.source).unwrap();
    write!(
        s,
        "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nCookie: {}\r\nContent-Length: {}\r\n\r\n{head}",
        content_type(),
        v.cookie,
        head.len() + declared
    )
    .unwrap();
    let block = vec![1u8; 64 * 1024];
    let mut n = 0;
    while n < sent {
        s.write_all(&block).unwrap();
        n += block.len();
    }
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
}

async fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_upload_leaves_nothing() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    abandoned_upload(&server, &v, 20 << 20, 4 << 20);
    assert!(
        wait_until(|| server.temp_files().is_empty()).await,
        "temporaries left: {:?}",
        server.temp_files()
    );
    assert!(server.blob_files().is_empty());
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 0);
    // The server still serves others.
    let (status, _) = v
        .submit(&server, &[Part::text("message", b"still here")])
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_limit_uploads_get_413_and_leave_nothing() {
    let mut server = Server::configured(|c| {
        c.set("limits.max_request_bytes", 1_048_576)
            .set("limits.max_message_bytes", 1000)
            .set("limits.max_files", 2);
    });
    server.start();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let big = vec![7u8; 2 << 20];
    // Declared too large: refused before reading.
    let (status, page) = v.submit(&server, &[Part::file(b"big.bin", &big)]).await;
    assert_eq!(status, 413, "{page}");
    assert!(page.contains("Too much to send"), "{page}");
    // Streamed without a length: cut when the count passes the limit.
    let body = multipart(&[
        Part::text("csrf_token", v.token.as_bytes()),
        Part::file(b"big.bin", &big),
    ]);
    let stream = futures_util::stream::iter(
        body.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let res = v
        .client
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", &v.cookie)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), 413);
    }
    // A message over its own limit, and too many files.
    let long = vec![b'a'; 2000];
    assert_eq!(
        v.submit(&server, &[Part::text("message", &long)]).await.0,
        413
    );
    let three = [
        Part::file(b"1", b"1"),
        Part::file(b"2", b"2"),
        Part::file(b"3", b"3"),
    ];
    assert_eq!(v.submit(&server, &three).await.0, 413);
    // An empty file box, as a browser sends for each box left empty, is not a file.
    let two_and_empty = [
        Part::file(b"1", b"1"),
        Part::file(b"", b""),
        Part::file(b"2", b"2"),
    ];
    assert_eq!(v.submit(&server, &two_and_empty).await.0, 200);
    let bundle = server.dir.path().join("b0");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let ids: Vec<String> = manifest(&bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let api = server.api_url();
    let mut args = vec![
        "delete",
        "--server",
        &api,
        "--token-file",
        ed.token_file.to_str().unwrap(),
    ];
    args.extend(ids.iter().map(String::as_str));
    sanduq_ok(&args);

    assert!(
        wait_until(|| server.temp_files().is_empty()).await,
        "temporaries left"
    );
    assert!(
        server.blob_files().is_empty(),
        "nothing stored: {:?}",
        server.blob_files()
    );
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"small")])
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn form_token_is_required_before_anything_is_stored() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    // No token at all.
    let (s, page) = v
        .post_raw(&server, multipart(&[Part::text("message", b"x")]))
        .await;
    assert_eq!(s, 403, "{page}");
    // A wrong token.
    let wrong = "A".repeat(43);
    let (s, _) = v
        .post_raw(
            &server,
            multipart(&[
                Part::text("csrf_token", wrong.as_bytes()),
                Part::text("message", b"x"),
            ]),
        )
        .await;
    assert_eq!(s, 403);
    // A token but no cookie (another site's form).
    let res = v
        .client
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .body(multipart(&[
            Part::text("csrf_token", v.token.as_bytes()),
            Part::text("message", b"x"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(server.blob_files().is_empty());
    assert!(server.temp_files().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_forms_bad_bodies_and_closed_desks_get_clear_pages() {
    let server = Server::start_default();
    let v = Visitor::new(&server).await;
    // No editor yet: nobody could read it, so nothing is taken.
    let (s, page) = v.submit(&server, &[Part::text("message", b"hello")]).await;
    assert_eq!(s, 503, "{page}");
    assert!(page.contains("cannot receive"));
    server.add_editor("ana", None);
    let (s, page) = v
        .submit(&server, &[Part::text("message", b""), Part::file(b"", b"")])
        .await;
    assert_eq!(s, 400, "{page}");
    assert!(page.contains("Nothing to send"));
    let (s, _) = v.submit(&server, &[Part::text("surprise", b"x")]).await;
    assert_eq!(s, 400);
    let (s, _) = v.post_raw(&server, b"not multipart at all".to_vec()).await;
    assert_eq!(s, 400);
    assert!(server.blob_files().is_empty());
    // Every page, errors included, carries the security headers and no script.
    for path in ["/", "/nope", "/static/style.css", "/api/v1/items"] {
        let res = v.client.get(server.source_url(path)).send().await.unwrap();
        let h = res.headers().clone();
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{path}"
        );
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert!(h.get("server").is_none());
        if path == "/api/v1/items" {
            assert_eq!(res.status(), 404, "the source listener has no API");
        }
        assert!(!res.text().await.unwrap().contains("<script"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn orphans_of_a_crash_are_left_at_start_and_removed_by_the_janitor_after_grace() {
    let mut server = Server::configured(|c| {
        c.janitor(4);
    });
    server.start();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"kept")]).await.0,
        200
    );
    server.kill();
    // What a crash between writing and committing leaves: a temporary and a completed,
    // uncommitted pair.
    let orphan = "0123456789abcdef0123456789abcdef";
    let temp = server
        .data()
        .join("blobs/tmp/ffffffffffffffffffffffffffffffff.age.part");
    std::fs::write(&temp, b"age-encryption.org/v1\npartial").unwrap();
    for name in [format!("{orphan}.age"), format!("{orphan}.meta.age")] {
        std::fs::write(
            server.data().join("blobs/items").join(name),
            b"age-encryption.org/v1\n",
        )
        .unwrap();
    }
    server.start();
    // Not at start-up: another node may be in the middle of these uploads.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        server.temp_files().len(),
        1,
        "a young temporary was removed"
    );
    assert_eq!(server.blob_files().len(), 4, "young objects were removed");
    // Nothing uncommitted is listed meanwhile.
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 1);
    // After the grace period (4 s) and a pass (every second): gone.
    let gone = wait_for(std::time::Duration::from_secs(15), || {
        server.temp_files().is_empty() && server.blob_files().len() == 2
    });
    assert!(
        gone,
        "left: {:?} {:?}",
        server.temp_files(),
        server.blob_files()
    );
    assert!(server
        .blob_files()
        .iter()
        .all(|b| !b.to_string_lossy().contains(orphan)));
    let bundle = server.dir.path().join("b2");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submission_still_arriving_at_half_the_grace_period_is_cut_and_leaves_nothing() {
    // Grace 4 s: a submission is cut at 2 s, so the janitor never meets one in flight.
    let mut server = Server::configured(|c| {
        c.janitor(4);
    });
    server.start();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let body = multipart(&[
        Part::text("csrf_token", v.token.as_bytes()),
        Part::text("message", b"a slow one"),
        Part::file(b"slow.bin", &vec![7u8; 64 * 1024]),
    ]);
    let addr = server.source;
    let (cookie, started) = (v.cookie.clone(), std::time::Instant::now());
    // A whole, valid submission sent steadily over about 4 s (well above the
    // minimum-progress rule), then the answer read.
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n",
            content_type(),
            body.len()
        )
        .unwrap();
        for piece in body.chunks(body.len() / 20 + 1) {
            if s.write_all(piece).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // The status line is enough: the connection may stay open for the next request.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut res = vec![0u8; 512];
        let n = s.read(&mut res).unwrap_or(0);
        String::from_utf8_lossy(&res[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(3), "sent too fast");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.300}");
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
    assert!(server.temp_files().is_empty(), "{:?}", server.temp_files());
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_the_same_data_is_refused() {
    let server = Server::start_default();
    let out = sanduq(&["serve", "--config", server.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another sanduq serve"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_hold_no_request_details() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let m = marker();
    let name = format!("{m}.txt");
    v.submit(
        &server,
        &[
            Part::file(name.as_bytes(), b"x"),
            Part::text("message", m.as_bytes()),
        ],
    )
    .await;
    v.submit(&server, &[Part::text("bogus", m.as_bytes())])
        .await;
    let logs = server.logs();
    for needle in [
        m.as_str(),
        "127.0.0.1:",
        "/submit",
        "reqwest",
        "user-agent",
        "GET ",
        "POST ",
    ] {
        if needle == "127.0.0.1:" {
            // The start-up line names the listeners; nothing else may name an address.
            assert_eq!(logs.matches(needle).count(), 2, "{logs}");
            continue;
        }
        assert!(!logs.contains(needle), "log contains {needle:?}: {logs}");
    }
}
