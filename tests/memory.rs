//! Secrets in the server's memory, read from outside: the test runs as root and reads the
//! running server's writable memory through `/proc/PID/mem`, as someone who seized the
//! running machine could.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::*;

/// Every readable, writable mapping of process `pid` (heap, stacks, anonymous memory), joined.
/// Mappings that cannot be read (guard pages and the like) are skipped.
fn writable_memory(pid: u32) -> Vec<u8> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut all = Vec::new();
    for line in maps.lines() {
        let mut cols = line.split_whitespace();
        let (Some(range), Some(perms)) = (cols.next(), cols.next()) else {
            continue;
        };
        if !perms.starts_with("rw") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut chunk = vec![0u8; usize::try_from(end - start).unwrap()];
        if mem.seek(SeekFrom::Start(start)).is_ok() && mem.read_exact(&mut chunk).is_ok() {
            all.extend_from_slice(&chunk);
        }
    }
    all
}

/// The secrets `codename` derives on `server` as they could lie in memory: the X25519 reply
/// secret (as given, and clamped as X25519 uses it) and the post-quantum reply seed.
fn reply_secrets(server: &Server, codename: &str) -> Vec<(&'static str, Vec<u8>)> {
    let config = sanduq::config::Config::load(&server.config).unwrap();
    let codename = sanduq::codename::Codename::parse(codename).unwrap();
    let derived =
        sanduq::codename::derive(&codename, config.pepper.expose(), config.codename_cost).unwrap();
    let bytes_of = |text: &str| {
        let (_, bytes) = bech32::decode(text).unwrap();
        assert_eq!(bytes.len(), 32);
        bytes
    };
    let expose =
        |s: &age::secrecy::SecretString| age::secrecy::ExposeSecret::expose_secret(s).to_owned();
    let raw = bytes_of(&expose(&derived.reply_identity.to_string()));
    let mut clamped = raw.clone();
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    let pq = bytes_of(&expose(&derived.pq_reply_identity().to_string()));
    vec![
        ("X25519 secret", raw),
        ("clamped X25519 secret", clamped),
        ("post-quantum seed", pq),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A source's reply secrets are in the server's memory only while one of its requests runs:
/// a session is kept sealed in the store and opened per request, and what a request opened
/// is wiped when it ends. Deriving them for a new source leaves nothing behind either, nor
/// does the session's expiry.
#[tokio::test(flavor = "multi_thread")]
async fn a_sessions_reply_secrets_are_in_memory_only_while_its_requests_run() {
    let mut server = Server::configured(|c| {
        c.set("listen.session_idle_seconds", 4);
    });
    server.start();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (status, page) = v.submit(&server, &[Part::text("message", b"x")]).await;
    assert_eq!(status, 200);
    let codename = codename_in(&page);
    // An answer, so that the logged-in page decrypts with the reply keys.
    let bundle = server.dir.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert!(reply_and_push(&server, &ed, &bundle, "an answer")
        .status
        .success());
    let secrets = reply_secrets(&server, &codename);
    let found = |pid: u32| -> Vec<&str> {
        let mem = writable_memory(pid);
        secrets
            .iter()
            .filter(|(_, s)| contains(&mem, s))
            .map(|(what, _)| *what)
            .collect()
    };
    assert!(
        found(server.pid()).is_empty(),
        "left in memory by the new source's derivation"
    );

    let res = login(&server, &v, &codename).await;
    let session = session_cookie(&res).unwrap();
    let page = page_with(&server, &session).await;
    assert!(page.contains("an answer"), "the reply is read");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = found(server.pid());
    assert!(
        left.is_empty(),
        "still in the server's memory after the login and a page were served: {left:?}"
    );

    // A logged-in submission held open half-way: its request has the session open.
    let token = logged_in_page_token(&page);
    let body = multipart(&[
        Part::text("csrf_token", token.as_bytes()),
        Part::text("message", b"held open"),
        Part::file(b"f.bin", &vec![5u8; 4 << 20]),
    ]);
    let head = format!(
        "POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {session}\r\nContent-Type: {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        content_type(),
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(server.source).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        found(server.pid()).contains(&"X25519 secret"),
        "the scan does not find the secret a running request holds: it proves nothing"
    );
    s.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = found(server.pid());
    assert!(
        left.is_empty(),
        "still in the server's memory after the request that opened it: {left:?}"
    );

    // Idle time (4 s), its window (1 s), one sweep period (1 s), with margin.
    tokio::time::sleep(Duration::from_millis(7000)).await;
    assert!(!page_with(&server, &session)
        .await
        .contains("You are logged in"));
    let left = found(server.pid());
    assert!(
        left.is_empty(),
        "in the server's memory after the session expired: {left:?}"
    );
}
