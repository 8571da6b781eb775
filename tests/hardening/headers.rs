//! Every response of both listeners carries the security headers, parsed as a browser would.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::common::*;

use super::{client, raw};

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
pub(super) fn check_headers(what: &str, h: &reqwest::header::HeaderMap) {
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
