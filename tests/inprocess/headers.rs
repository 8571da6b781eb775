//! Every kind of answer of both routers carries the security headers: pages, errors from
//! 403 to 507, the stylesheet, the API's JSON and refusals.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Request};

use crate::common::headers::check_headers;
use crate::common::inproc::{Answer, App, InVisitor};
use crate::common::{content_type, multipart, Part};

#[tokio::test]
async fn every_response_of_both_routers_carries_the_security_headers() {
    let app = App::new(|c| {
        c.set("limits.max_request_bytes", 65_536)
            .set("limits.max_message_bytes", 4096);
    })
    .await;
    let mut seen = BTreeSet::new();
    let mut check = |what: &str, a: &Answer| {
        check_headers(what, &a.headers);
        seen.insert(a.status.as_u16());
    };
    // A desk without editors: 503.
    let v = InVisitor::new(&app).await;
    let a = v.submit(&app, &[Part::text("message", b"x")]).await;
    assert_eq!(a.status, 503);
    check("503 closed desk", &a);
    let ed = app.add_editor("ana", None).await;

    for (path, status) in [
        ("/", 200),
        ("/login", 200),
        ("/static/style.css", 200),
        ("/nope", 404),
        ("/api/v1/items", 404),
        ("/static/../sanduq.toml", 404),
    ] {
        let a = app.get(path).await;
        assert_eq!(a.status, status, "{path}");
        check(path, &a);
    }
    // Paths as an attacker writes them (a browser would normalise them before sending).
    for path in [
        "/static/../sanduq.toml",
        "/static/%2e%2e/sanduq.toml",
        "/static/..%2fsanduq.toml",
        "/../../etc/passwd",
    ] {
        let a = app.get(path).await;
        assert!(a.status == 404 || a.status == 400, "{path}: {}", a.status);
        assert!(
            !a.body.contains("[listen]") && !a.body.contains("root:"),
            "{path}"
        );
        check(path, &a);
    }
    // 403: a form without its token.
    let body = multipart(&[Part::text("message", b"x")]);
    let req = Request::post("/submit")
        .header(header::CONTENT_TYPE, content_type())
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    let a = app.source(req).await;
    assert_eq!(a.status, 403);
    check("403", &a);
    // 413: over the request limit.
    let big = vec![b'a'; 100_000];
    let a = v.submit(&app, &[Part::file(b"big.bin", &big)]).await;
    assert_eq!(a.status, 413);
    check("413", &a);
    // 507: storage fails (the temp folder replaced by a file).
    let tmp = app.dir.path().join("blobs/tmp");
    std::fs::rename(&tmp, tmp.with_extension("away")).unwrap();
    std::fs::write(&tmp, b"").unwrap();
    let a = v.submit(&app, &[Part::text("message", b"x")]).await;
    assert_eq!(a.status, 507);
    check("507", &a);
    std::fs::remove_file(&tmp).unwrap();
    std::fs::rename(tmp.with_extension("away"), &tmp).unwrap();

    // The editor API.
    for (path, auth, status) in [
        ("/api/v1/items", None, 401),
        ("/api/v1/items", Some(ed.token.as_str()), 200),
        (
            "/api/v1/items/00000000000000000000000000000000/content",
            Some(ed.token.as_str()),
            404,
        ),
        ("/nope", None, 404),
        ("/", None, 404),
    ] {
        let a = app.api_get(path, auth).await;
        assert_eq!(a.status, status, "api {path}");
        check(&format!("api {path}"), &a);
    }
    assert!(
        [200, 401, 403, 404, 413, 503, 507]
            .iter()
            .all(|s| seen.contains(s)),
        "{seen:?}"
    );
}
