//! A corpus of malformed and hostile requests, sent raw over TCP to a running server. Each
//! must be answered with a 4xx (or the connection closed where HTTP allows no answer) within
//! a second; a normal submission must succeed after each; nothing may be stored; and the
//! server's memory must stay bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

/// How a hostile request may end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// This exact status.
    Status(u16),
    /// Any 4xx status, or the connection closed without an answer.
    ClientErrorOrClose,
}

/// Sends `bytes` and returns the status line's code (None if closed without answer) and how
/// long the answer took. Gives up after two seconds.
async fn send(addr: SocketAddr, bytes: &[u8]) -> (Option<u16>, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = s.write_all(bytes).await;
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let deadline = started + Duration::from_secs(2);
    while !got.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    let elapsed = started.elapsed();
    let status = String::from_utf8_lossy(&got)
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok());
    (status, elapsed)
}

fn form_head(host: SocketAddr, v: &Visitor, content_type: &str, extra: &str, len: usize) -> String {
    format!(
        "POST /submit HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {len}\r\n\r\n",
        v.cookie
    )
}

/// A whole multipart request with the visitor's token first, then `rest` (raw part bytes).
fn form(host: SocketAddr, v: &Visitor, boundary: &str, rest: &[u8], extra: &str) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n",
        v.token
    )
    .into_bytes();
    body.extend_from_slice(rest);
    let mut req = form_head(
        host,
        v,
        &format!("multipart/form-data; boundary={boundary}"),
        extra,
        body.len(),
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

#[allow(
    clippy::too_many_lines,
    reason = "a corpus: one table of hostile requests and their expected answers, read as a list"
)]
#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_quick_4xx_and_harm_nothing() {
    let mut server = Server::init(|t| t);
    server.start();
    let ed = server.add_editor("ana", None);
    let token = std::fs::read_to_string(&ed.token_file).unwrap();
    let token = token.trim();
    let src = server.source;
    let api = server.api;
    let v = Visitor::new(&server).await;
    let b = "hostileboundary";

    // A source exists, so that replies can be pushed to it.
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"seed")]).await.0,
        200
    );
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let source = manifest(&bundle)["sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let items_before = server.blob_files().len();

    let many_parts: Vec<u8> = (0..10_000)
        .flat_map(|_| {
            format!("--{b}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nx\r\n")
                .into_bytes()
        })
        .chain(format!("--{b}--\r\n").into_bytes())
        .collect();
    let big_part_header = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"message\"\r\nX-Junk: {}\r\n\r\nx\r\n--{b}--\r\n",
        "j".repeat(1024 * 1024)
    );
    let long_boundary = "b".repeat(75);
    let mut non_utf8 = format!("--{b}\r\nContent-Disposition: form-data; name=\"").into_bytes();
    non_utf8.extend_from_slice(&[0xff, 0xfe, 0x80]);
    non_utf8.extend_from_slice(format!("\"\r\n\r\nx\r\n--{b}--\r\n").as_bytes());
    let gzip_body = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4];
    let cookie = format!("a={}", "c".repeat(20_000));
    let codename = "word ".repeat(200_000);
    let login_body = format!("csrf_token={}&codename={codename}", v.token);
    let reply_head = format!(
        "POST /api/v1/sources/{source}/replies HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\nContent-Length: 1073741824\r\n\r\nage-encryption.org/v1\n"
    );

    let cases: Vec<(&str, SocketAddr, Vec<u8>, Expect)> = vec![
        (
            "multipart without its end boundary",
            src,
            form(src, &v, b, format!("--{b}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nunfinished").as_bytes(), ""),
            Expect::Status(400),
        ),
        ("10,000 parts", src, form(src, &v, b, &many_parts, ""), Expect::Status(413)),
        (
            "a 1 MiB part header",
            src,
            form(src, &v, b, big_part_header.as_bytes(), ""),
            Expect::ClientErrorOrClose,
        ),
        (
            "a 75-character boundary",
            src,
            form(src, &v, &long_boundary, format!("--{long_boundary}--\r\n").as_bytes(), ""),
            Expect::Status(400),
        ),
        ("a non-UTF-8 field name", src, form(src, &v, b, &non_utf8, ""), Expect::Status(400)),
        (
            "Content-Length with Transfer-Encoding",
            src,
            form(src, &v, b, format!("--{b}--\r\n").as_bytes(), "Transfer-Encoding: chunked\r\n"),
            Expect::ClientErrorOrClose,
        ),
        (
            "two different Content-Lengths",
            src,
            form(src, &v, b, format!("--{b}--\r\n").as_bytes(), "Content-Length: 5\r\n"),
            Expect::ClientErrorOrClose,
        ),
        (
            "a gzip-encoded body",
            src,
            {
                let mut r = form_head(src, &v, &format!("multipart/form-data; boundary={b}"), "Content-Encoding: gzip\r\n", gzip_body.len()).into_bytes();
                r.extend_from_slice(&gzip_body);
                r
            },
            Expect::Status(400),
        ),
        (
            "an absurd Content-Length",
            src,
            form_head(src, &v, &format!("multipart/form-data; boundary={b}"), "", 0)
                .replace("Content-Length: 0", "Content-Length: 999999999999999999")
                .into_bytes(),
            Expect::Status(413),
        ),
        (
            "a Content-Length beyond u64",
            src,
            form_head(src, &v, &format!("multipart/form-data; boundary={b}"), "", 0)
                .replace("Content-Length: 0", "Content-Length: 99999999999999999999999")
                .into_bytes(),
            Expect::ClientErrorOrClose,
        ),
        ("path traversal", src, b"GET /static/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Expect::Status(404)),
        ("encoded path traversal", src, b"GET /static/%2e%2e/%2e%2e/sanduq.toml HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Expect::Status(404)),
        ("a bad percent-encoding", src, b"GET /%zz%00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Expect::Status(404)),
        ("a 20 kB cookie", src, format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n").into_bytes(), Expect::Status(431)),
        ("a 20 kB URL", src, format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(20_000)).into_bytes(), Expect::ClientErrorOrClose),
        ("150 headers", src, format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..150).map(|i| format!("H{i}: v\r\n")).collect::<String>()).into_bytes(), Expect::Status(431)),
        ("a header without a colon", src, b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(), Expect::Status(400)),
        ("a NUL in a header", src, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(), Expect::Status(400)),
        ("an HTTP/2 preface", src, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), Expect::ClientErrorOrClose),
        (
            "a bad form token",
            src,
            {
                let mut w = Visitor { client: v.client.clone(), token: "forged".into(), cookie: v.cookie.clone() };
                w.token = "forged".into();
                form(src, &w, b, format!("--{b}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nx\r\n--{b}--\r\n").as_bytes(), "")
            },
            Expect::Status(403),
        ),
        ("a text/plain submission", src, form_head(src, &v, "text/plain", "", 3).into_bytes().into_iter().chain(*b"abc").collect(), Expect::Status(400)),
        ("multipart without a boundary", src, form_head(src, &v, "multipart/form-data", "", 3).into_bytes().into_iter().chain(*b"abc").collect(), Expect::Status(400)),
        (
            "a part without Content-Disposition",
            src,
            form(src, &v, b, format!("--{b}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{b}--\r\n").as_bytes(), ""),
            Expect::Status(400),
        ),
        (
            "a 1 MB codename",
            src,
            format!("POST /login HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{login_body}", v.cookie, login_body.len()).into_bytes(),
            Expect::Status(413),
        ),
        ("PUT on the form", src, b"PUT /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_vec(), Expect::Status(405)),
        ("a bad chunk size", src, form_head(src, &v, &format!("multipart/form-data; boundary={b}"), "", 0).replace("Content-Length: 0\r\n", "Transfer-Encoding: chunked\r\n").into_bytes().into_iter().chain(*b"zz\r\nabc\r\n0\r\n\r\n").collect(), Expect::ClientErrorOrClose),
        ("a 2^64 chunk size", src, form_head(src, &v, &format!("multipart/form-data; boundary={b}"), "", 0).replace("Content-Length: 0\r\n", "Transfer-Encoding: chunked\r\n").into_bytes().into_iter().chain(*b"ffffffffffffffffff\r\nabc").collect(), Expect::ClientErrorOrClose),
        ("an age file of 1 GiB pushed as a reply", api, reply_head.into_bytes(), Expect::Status(413)),
        ("a 10 kB API token", api, format!("GET /api/v1/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", "t".repeat(10_000)).into_bytes(), Expect::Status(401)),
        ("an API path traversal", api, format!("GET /api/v1/items/..%2f..%2fmeta.sqlite/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n").into_bytes(), Expect::Status(404)),
        ("the API on the source listener", src, format!("GET /api/v1/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n").into_bytes(), Expect::Status(404)),
    ];
    assert!(cases.len() >= 25);

    let mut report = Vec::new();
    for (what, addr, bytes, expect) in &cases {
        let (status, took) = send(*addr, bytes).await;
        let ok = match expect {
            Expect::Status(s) => status == Some(*s),
            Expect::ClientErrorOrClose => status.is_none_or(|s| (400..500).contains(&s)),
        };
        assert!(ok, "{what}: expected {expect:?}, got {status:?}");
        assert!(
            took < Duration::from_secs(1),
            "{what}: answered in {took:?}"
        );
        report.push(format!("{what}: {status:?} in {} ms", took.as_millis()));
        // The server still serves a source normally.
        let v = Visitor::new(&server).await;
        let (s, page) = v.submit(&server, &[Part::text("message", b"normal")]).await;
        assert_eq!(s, 200, "after {what}: {page}");
    }
    eprintln!("{}", report.join("\n"));
    // Each normal submission added one item and its metadata; the hostile ones added nothing.
    assert_eq!(
        server.blob_files().len(),
        items_before + 2 * cases.len(),
        "a hostile request left something stored"
    );
    assert!(server.temp_files().is_empty());
    let peak = peak_rss_kib(server.pid());
    eprintln!("server peak RSS after the corpus: {} MiB", peak / 1024);
    assert!(peak < 160 * 1024, "peak RSS {peak} KiB");
}
