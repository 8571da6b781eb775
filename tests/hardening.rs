//! The hardened front, checked from outside against a running server: the headers it
//! actually sends, pages free of script and external resources, connection and body limits
//! on a real listener, TLS, the Tor2web banner, logs and core dumps.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::html::{attributes, check_ids, tags};
use crate::common::*;

/// A CSP header, directive by directive. Panics on a malformed directive name (a stray colon,
/// say), which a browser would ignore.
fn csp_directives(csp: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for d in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut words = d.split_ascii_whitespace();
        let name = words.next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "malformed CSP directive name {name:?} in {csp:?}"
        );
        let prev = out.insert(name.to_owned(), words.map(str::to_owned).collect());
        assert!(prev.is_none(), "directive {name} twice in {csp:?}");
    }
    out
}

/// Fails unless `h` carries exactly the headers every response must carry.
fn check_headers(what: &str, h: &reqwest::header::HeaderMap) {
    let one = |name: &str| -> String {
        let all: Vec<_> = h.get_all(name).iter().collect();
        assert_eq!(all.len(), 1, "{what}: {name} must appear once, got {all:?}");
        all[0].to_str().unwrap().to_owned()
    };
    let expected: BTreeMap<String, Vec<String>> = [
        ("default-src", "'none'"),
        ("style-src", "'self'"),
        ("img-src", "'self'"),
        ("form-action", "'self'"),
        ("base-uri", "'none'"),
        ("frame-ancestors", "'none'"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
    .collect();
    assert_eq!(
        csp_directives(&one("content-security-policy")),
        expected,
        "{what}"
    );
    assert_eq!(one("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(one("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(one("cross-origin-opener-policy"), "same-origin", "{what}");
    assert_eq!(one("cross-origin-resource-policy"), "same-origin", "{what}");
    assert_eq!(one("cache-control"), "no-store", "{what}");
    let pp = one("permissions-policy");
    let features: BTreeSet<&str> = pp
        .split(',')
        .map(|f| {
            let (name, allow) = f.trim().split_once('=').expect("feature=allowlist");
            assert_eq!(allow, "()", "{what}: {name} is allowed to {allow}");
            name
        })
        .collect();
    for f in [
        "camera",
        "microphone",
        "geolocation",
        "payment",
        "usb",
        "fullscreen",
        "display-capture",
        "clipboard-read",
        "publickey-credentials-get",
        "browsing-topics",
    ] {
        assert!(features.contains(f), "{what}: {f} not denied in {pp}");
    }
    for absent in ["server", "etag", "x-powered-by", "last-modified"] {
        assert!(h.get(absent).is_none(), "{what}: {absent} sent");
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_of_both_listeners_carries_the_security_headers() {
    let server = Server::init(|t| {
        t.replace(
            "max_request_bytes = 2147483648",
            "max_request_bytes = 65536",
        )
        .replace("max_message_bytes = 1048576", "max_message_bytes = 4096")
    });
    let mut server = server;
    server.start();
    let c = client();
    let mut seen = BTreeSet::new();
    let mut check = |what: &str, res: &reqwest::Response| {
        check_headers(what, res.headers());
        seen.insert(res.status().as_u16());
    };
    // A desk without editors: 503.
    let v = Visitor::new(&server).await;
    let res = v
        .client
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", &v.cookie)
        .body(multipart(&[
            Part::text("csrf_token", v.token.as_bytes()),
            Part::text("message", b"x"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    check("503 closed desk", &res);
    let ed = server.add_editor("ana", None);

    for (path, status) in [
        ("/", 200),
        ("/login", 200),
        ("/static/style.css", 200),
        ("/nope", 404),
        ("/api/v1/items", 404),
        ("/static/../sanduq.toml", 404),
    ] {
        let res = c.get(server.source_url(path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        check(path, &res);
    }
    // Sent as written: an HTTP client would normalise these paths before sending.
    for path in [
        "/static/../sanduq.toml",
        "/static/%2e%2e/sanduq.toml",
        "/static/..%2fsanduq.toml",
        "/../../etc/passwd",
    ] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let res = raw(server.source, head.as_bytes(), Duration::from_secs(5)).await;
        let status = res.get(..12).unwrap_or_default();
        assert!(
            status == "HTTP/1.1 404" || status == "HTTP/1.1 400",
            "{path}: {res:.200}"
        );
        assert!(
            !res.contains("[listen]") && !res.contains("root:"),
            "{path}"
        );
    }
    // 403: a form without its token.
    let res = c
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .body(multipart(&[Part::text("message", b"x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    check("403", &res);
    // 413: over the request limit.
    let big = vec![b'a'; 100_000];
    let res = c
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", &v.cookie)
        .body(multipart(&[
            Part::text("csrf_token", v.token.as_bytes()),
            Part::file(b"big.bin", &big),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    check("413", &res);
    // 507: storage fails (the temp folder replaced by a file).
    let tmp = server.data().join("blobs/tmp");
    std::fs::rename(&tmp, tmp.with_extension("away")).unwrap();
    std::fs::write(&tmp, b"").unwrap();
    let res = v
        .client
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", &v.cookie)
        .body(multipart(&[
            Part::text("csrf_token", v.token.as_bytes()),
            Part::text("message", b"x"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 507);
    check("507", &res);
    std::fs::remove_file(&tmp).unwrap();
    std::fs::rename(tmp.with_extension("away"), &tmp).unwrap();

    // The editor API.
    let token = std::fs::read_to_string(&ed.token_file).unwrap();
    for (path, auth, status) in [
        ("/api/v1/items", None, 401),
        ("/api/v1/items", Some(token.trim()), 200),
        (
            "/api/v1/items/00000000000000000000000000000000/content",
            Some(token.trim()),
            404,
        ),
        ("/nope", None, 404),
        ("/", None, 404),
    ] {
        let mut req = c.get(format!("{}{path}", server.api_url()));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "api {path}");
        check(&format!("api {path}"), &res);
    }
    assert!(
        [200, 401, 403, 404, 413, 503, 507]
            .iter()
            .all(|s| seen.contains(s)),
        "{seen:?}"
    );
}

/// Fails on any script, inline handler, `javascript:` URL, inline style, web font, or URL that
/// leaves the site. Returns the page's own links (href and form actions).
fn check_page(what: &str, html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "<style",
        "@import",
        "@font-face",
        "<iframe",
        "<object",
        "<embed",
    ] {
        assert!(!lower.contains(bad), "{what}: contains {bad}");
    }
    check_ids(what, html);
    let mut links = Vec::new();
    for tag in tags(html) {
        for (name, value) in attributes(tag) {
            assert!(!name.starts_with("on"), "{what}: handler {name} in <{tag}>");
            assert_ne!(name, "style", "{what}: inline style in <{tag}>");
            assert!(
                !value.to_ascii_lowercase().contains("javascript:"),
                "{what}: javascript: URL in <{tag}>"
            );
            if [
                "href",
                "src",
                "action",
                "formaction",
                "srcset",
                "poster",
                "data",
            ]
            .contains(&name.as_str())
            {
                let ok = value.is_empty()
                    || value.starts_with('#')
                    || (value.starts_with('/') && !value.starts_with("//"));
                assert!(ok, "{what}: {name}={value:?} leaves the site");
                if value.starts_with('/') {
                    links.push(value.split('#').next().unwrap().to_owned());
                }
            }
        }
    }
    links
}

fn check_css(css: &str) {
    let lower = css.to_ascii_lowercase();
    for bad in [
        "url(",
        "@import",
        "@font-face",
        "http:",
        "https:",
        "expression(",
    ] {
        assert!(!lower.contains(bad), "stylesheet contains {bad}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_page_has_script_handlers_or_anything_external() {
    let mut server = Server::init(|t| t + "\n[[desk]]\nname = \"lawyers\"\n");
    server.start();
    let ed = server.add_editor("ana", None);
    let c = client();
    let v = Visitor::new(&server).await;
    let mut pages: Vec<(String, String)> = Vec::new();

    // Crawl every page the site links to, starting from the front page.
    let mut todo = vec!["/".to_owned()];
    let mut done = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !done.insert(path.clone()) {
            continue;
        }
        let res = c
            .get(server.source_url(&path))
            .header("cookie", &v.cookie)
            .send()
            .await
            .unwrap();
        let is_css = res
            .headers()
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap().starts_with("text/css"));
        let body = res.text().await.unwrap();
        if is_css {
            check_css(&body);
            continue;
        }
        for link in check_page(&path, &body) {
            todo.push(link);
        }
        pages.push((path, body));
    }
    assert!(
        [
            "/en/login",
            "/tg/login",
            "/fa/",
            "/uz-Cyrl/login",
            "/static/style.css"
        ]
        .iter()
        .all(|p| done.contains(*p)),
        "{done:?}"
    );

    // Pages only reached by posting: confirmation, logged-in front page, errors.
    let (s, thanks) = v.submit(&server, &[Part::text("message", b"hello")]).await;
    assert_eq!(s, 200);
    let codename = codename_in(&thanks);
    pages.push(("thanks".into(), thanks));
    let (_, empty) = v.submit(&server, &[Part::text("message", b"")]).await;
    pages.push(("400".into(), empty));
    // The detention form sent back with its errors, in every language: errors and hints are
    // what `aria-describedby` points at.
    for lang in ["en", "tg", "ru", "uz", "uz-Cyrl", "fa"] {
        let (status, page) = v
            .submit_in(&server, lang, &[Part::text("form", b"detention")])
            .await;
        assert_eq!(status, 422, "{lang}: the form is sent back");
        pages.push((format!("{lang} form sent back"), page));
    }
    let res = login(&server, &v, "no such codename at all here ok").await;
    pages.push(("403 login".into(), res.text().await.unwrap()));
    let res = login(&server, &v, &codename).await;
    let session = session_cookie(&res).unwrap();
    // Give the source a reply so that the reply block is rendered too.
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let msg = server.dir.path().join("reply.txt");
    std::fs::write(&msg, "<script>alert(1)</script> onload=x javascript:y").unwrap();
    let source = manifest(&bundle)["sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sanduq_ok(&[
        "reply",
        "--bundle",
        bundle.to_str().unwrap(),
        "--source",
        &source,
        "--message-file",
        msg.to_str().unwrap(),
    ]);
    sanduq_ok(&[
        "push",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    let page = page_with(&server, &session).await;
    assert!(
        page.contains("&lt;script&gt;"),
        "the reply is shown, escaped"
    );
    pages.push(("logged in".into(), page));
    let res = c
        .get(server.source_url("/nope"))
        .header("x-tor2web", "1")
        .send()
        .await
        .unwrap();
    pages.push(("404 via tor2web".into(), res.text().await.unwrap()));

    for (what, html) in &pages {
        check_page(what, html);
    }
    // The API answers JSON or nothing; no HTML, no script.
    for path in ["/", "/api/v1/items", "/api/v1/nope"] {
        let res = c
            .get(format!("{}{path}", server.api_url()))
            .send()
            .await
            .unwrap();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = res.text().await.unwrap();
        assert!(
            ct.as_deref().is_none_or(|t| !t.contains("html")),
            "api {path} sends {ct:?}"
        );
        assert!(!body.to_ascii_lowercase().contains("<script"));
    }
}

/// Sends `head` and `body` on a fresh connection and returns all it answers, read until the
/// server closes or `limit` passes.
async fn raw(addr: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

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
    let mut server =
        Server::init(|t| t.replace("stall_window_seconds = 60", "stall_window_seconds = 2"));
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
    let mut server = Server::init(|t| {
        t.replace(
            "header_read_timeout_seconds = 30",
            "header_read_timeout_seconds = 8",
        )
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
    let mut server = Server::init(|t| t.replace("max_connections = 1024", "max_connections = 8"));
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
    let mut server = Server::init(|t| {
        t.replace("max_connections = 1024", "max_connections = 1")
            .replace("stall_window_seconds = 60", "stall_window_seconds = 2")
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

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_both_listeners_with_tls_1_2_and_1_3_only() {
    let (server, cert) = Server::start_with_tls();
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let build = |b: reqwest::ClientBuilder| {
        b.use_rustls_tls()
            .no_proxy()
            .add_root_certificate(root.clone())
            .resolve("localhost", server.source)
            .build()
            .unwrap()
    };
    let src = format!("https://localhost:{}/", server.source.port());
    for (what, c) in [
        (
            "TLS 1.2",
            build(reqwest::Client::builder().max_tls_version(reqwest::tls::Version::TLS_1_2)),
        ),
        (
            "TLS 1.3",
            build(reqwest::Client::builder().min_tls_version(reqwest::tls::Version::TLS_1_3)),
        ),
    ] {
        let res = c.get(&src).send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(res.version(), reqwest::Version::HTTP_11, "{what}");
        check_headers(what, res.headers());
    }
    // The API too.
    let c = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .add_root_certificate(root)
        .resolve("localhost", server.api)
        .build()
        .unwrap();
    let res = c
        .get(format!(
            "https://localhost:{}/api/v1/items",
            server.api.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Seen by another TLS stack: TLS 1.1 is refused, and no session is ever resumed (a
    // ticket or session id would link a source's visits).
    let port = server.source.port();
    let s_client = |args: &[&str]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost", "-ign_eof"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl is installed by scripts/test.sh");
        // A whole request: the answer (and any session ticket) arrives before the close.
        let _ = child.stdin.take().unwrap().write_all(
            b"GET /static/style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let old = s_client(&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    assert!(
        old.contains("Cipher is (NONE)") && old.contains("alert"),
        "TLS 1.1 was accepted: {old}"
    );
    for version in ["-tls1_2", "-tls1_3"] {
        let sess = server.dir.path().join(format!("session{version}"));
        let sess = sess.to_str().unwrap();
        let first = s_client(&[version, "-sess_out", sess]);
        assert!(first.contains("New, TLSv1."), "{version}: {first}");
        assert!(
            !std::path::Path::new(sess).exists(),
            "{version}: the server offered a resumable session: {first}"
        );
    }
    // No plain HTTP on a TLS listener.
    let plain = client().get(server.source_url("/")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_arriving_through_tor2web_are_warned() {
    let onion = format!("{}.onion", "b".repeat(56));
    let mut server = Server::init(|t| {
        t.replace(
            "[listen]\n",
            &format!("[listen]\nonion_address = \"{onion}\"\n"),
        )
    });
    server.start();
    let c = client();
    let get = |host: String, tor2web: bool, path: &'static str| {
        let mut req = c.get(server.source_url(path)).header("host", host);
        if tor2web {
            req = req.header("x-tor2web", "encrypted");
        }
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let direct = get(onion.clone(), false, "/").await;
    assert!(
        !direct.contains("id=\"tor2web\""),
        "no banner over the onion"
    );
    let flagged = get(onion.clone(), true, "/").await;
    assert!(flagged.contains("id=\"tor2web\""));
    let gateway = get(format!("{}.onion.ws", "b".repeat(56)), false, "/").await;
    assert!(gateway.contains("id=\"tor2web\""));
    assert!(gateway.contains(&format!(">{onion}</code>")));
    let error = get("gateway.example".into(), false, "/nope").await;
    assert!(error.contains("id=\"tor2web\"") && error.contains("Page not found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_disables_core_dumps() {
    // The server is started with core dumps allowed, so that a limit of 0 is its own doing.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::CORE).unwrap();
    rlimit::setrlimit(rlimit::Resource::CORE, hard, hard).unwrap();
    assert!(
        rlimit::getrlimit(rlimit::Resource::CORE).unwrap().0 > 0,
        "the test could not allow core dumps"
    );
    let server = Server::start_default();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<_> = line.split_whitespace().collect();
    assert_eq!(&fields[4..6], &["0", "0"], "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_round_trip_logs_nothing_about_anyone() {
    let mut server = Server::init(|t| t);
    server.log_filter = "trace".into();
    server.start();
    let ed = server.add_editor("ana", None);
    let ua = marker();
    // The source's address differs from the listener's, so that any address in the logs
    // would be the source's.
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(ua.clone())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let v = Visitor::with_client(&server, c.clone()).await;
    let m = marker();
    let fname = format!("{}.pdf", marker());
    let file = vec![b'q'; 31_337];
    let (s, page) = v
        .submit(
            &server,
            &[
                Part::text("message", m.as_bytes()),
                Part::file(fname.as_bytes(), &file),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let codename = codename_in(&page);
    // Errors: a bad token, an unknown codename, a missing page with an id in it.
    let bad = Visitor {
        client: c.clone(),
        token: "wrong".into(),
        cookie: v.cookie.clone(),
    };
    assert_eq!(
        bad.submit(&server, &[Part::text("message", b"x")]).await.0,
        403
    );
    let res = c
        .post(server.source_url("/login"))
        .header("cookie", &v.cookie)
        .form(&[
            ("csrf_token", v.token.as_str()),
            ("codename", "wrong words here"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = c
        .post(server.source_url("/login"))
        .header("cookie", &v.cookie)
        .form(&[
            ("csrf_token", v.token.as_str()),
            ("codename", codename.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let session = session_cookie(&res).expect("logged in");
    // The editor: fetch, reply, push; the source reads the reply and deletes it.
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let man = manifest(&bundle);
    let source = man["sources"][0]["id"].as_str().unwrap().to_owned();
    let items: Vec<String> = man["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let reply_text = marker();
    let msg = server.dir.path().join("reply.txt");
    std::fs::write(&msg, &reply_text).unwrap();
    sanduq_ok(&[
        "reply",
        "--bundle",
        bundle.to_str().unwrap(),
        "--source",
        &source,
        "--message-file",
        msg.to_str().unwrap(),
    ]);
    sanduq_ok(&[
        "push",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    let page = c
        .get(server.source_url("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&reply_text));
    let token = logged_in_page_token(&page);
    let reply_id = page
        .split("name=\"reply\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let res = c
        .post(server.source_url("/reply/delete"))
        .header("cookie", &session)
        .form(&[("csrf_token", token.as_str()), ("reply", reply_id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection() || res.status().is_success());
    let res = c
        .get(server.source_url(&format!("/item/{}", items[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // A delete through the API, and an API error.
    sanduq_ok(&[
        "delete",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        &items[0],
    ]);
    let res = client()
        .get(format!(
            "{}/api/v1/items/{}/content",
            server.api_url(),
            items[1]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let logs = server.logs();
    let mut needles = vec![
        "127.0.0.2".to_owned(),
        ua,
        m,
        fname,
        reply_text,
        codename.clone(),
        source.clone(),
        reply_id,
        "31337".into(),
        "31,337".into(),
        "/submit".into(),
        "/login".into(),
        "/api/".into(),
        "user-agent".into(),
        "user_agent".into(),
        "GET ".into(),
        "POST ".into(),
    ];
    needles.extend(items);
    let words: Vec<&str> = codename.split(' ').collect();
    needles.extend(words.windows(2).map(|w| w.join(" ")));
    for n in &needles {
        assert!(
            !logs.contains(n.as_str()),
            "the logs contain {n:?}:\n{logs}"
        );
    }
    assert!(!logs.is_empty(), "the server logged its start at least");
}

#[test]
fn the_deploy_torrc_is_valid_for_tor() {
    let dir = tempfile::tempdir().unwrap();
    let torrc = std::fs::read_to_string("deploy/torrc").unwrap();
    // The options of each onion service, by the HiddenServiceDir that opens its block.
    let mut blocks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut global = Vec::new();
    let mut current: Option<String> = None;
    for line in torrc.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(dir) = line.strip_prefix("HiddenServiceDir ") {
            current = Some(
                dir.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
            continue;
        }
        match &current {
            Some(dir) => blocks.entry(dir.clone()).or_default().push(line.to_owned()),
            None => global.push(line.to_owned()),
        }
    }
    assert!(global.iter().any(|l| l == "SafeLogging 1"), "{global:?}");
    let source = &blocks["sanduq-source"];
    for needle in [
        "HiddenServicePort 80 127.0.0.1:8080",
        "HiddenServicePoWDefensesEnabled 1",
    ] {
        assert!(source.iter().any(|l| l == needle), "source: {source:?}");
    }
    let api = &blocks["sanduq-api"];
    assert!(
        api.iter()
            .any(|l| l == "HiddenServicePort 80 127.0.0.1:8081"),
        "the editor API has its own onion service: {api:?}"
    );
    assert!(!api.iter().any(|l| l.contains("8080")) && !source.iter().any(|l| l.contains("8081")));
    let copy = dir.path().join("torrc");
    std::fs::write(
        &copy,
        torrc.replace("/var/lib/tor/", &format!("{}/", dir.path().display())),
    )
    .unwrap();
    let out = std::process::Command::new("tor")
        .args(["--verify-config", "--defaults-torrc", "/dev/null", "-f"])
        .arg(&copy)
        .arg("--DataDirectory")
        .arg(dir.path().join("data"))
        .output()
        .expect("tor is installed by scripts/test.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Configuration was valid"), "{text}");
    // And it can fail: a misspelt option is refused.
    std::fs::write(&copy, "HiddenServicePoWDefensesEnabld 1\n").unwrap();
    let out = std::process::Command::new("tor")
        .args(["--verify-config", "--defaults-torrc", "/dev/null", "-f"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Unknown option"), "{text}");
}

#[test]
fn the_systemd_unit_is_sandboxed_and_verifies() {
    let unit = std::fs::read_to_string("deploy/sanduq.service").unwrap();
    let keys: BTreeMap<&str, &str> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    for (k, v) in [
        ("User", "sanduq"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/sanduq"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LimitCORE", "0"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(keys.get(k).map(|v| v.trim()), Some(v), "{k}");
    }
    assert!(unit
        .lines()
        .any(|l| l.trim() == "SystemCallFilter=@system-service"));
    assert!(keys.contains_key("RestrictAddressFamilies"));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sanduq.service");
    std::fs::write(
        &copy,
        unit.replace("ExecStart=/usr/bin/sanduq ", "ExecStart=/bin/true "),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze is installed by scripts/test.sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
    // And it can fail: a misspelt key is reported.
    std::fs::write(
        &copy,
        unit.replace("ProtectSystem=", "ProtectSytem=")
            .replace("ExecStart=/usr/bin/sanduq ", "ExecStart=/bin/true "),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
}
