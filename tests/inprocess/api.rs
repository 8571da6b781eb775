//! The editor API's authentication and desk isolation, and ranged downloads: every answer of
//! the API router to a token, right, wrong or missing.

use std::io::Read as _;

use axum::body::Body;
use axum::http::{header, Request};

use crate::common::inproc::{Answer, App, InEditor, InVisitor};
use crate::common::Part;

/// `method` on `path` of the API with the editor's token, if any.
async fn call(app: &App, method: &str, path: &str, ed: Option<&InEditor>) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(ed) = ed {
        req = req.header(header::AUTHORIZATION, format!("Bearer {}", ed.token));
    }
    app.api(req.body(Body::empty()).unwrap()).await
}

/// Status and body, what a client can tell two refusals apart by.
fn seen(a: &Answer) -> (u16, String) {
    (a.status.as_u16(), a.body.clone())
}

#[tokio::test]
async fn bad_tokens_get_the_same_bare_401() {
    let app = App::default().await;
    let ana = app.add_editor("ana", None).await;
    assert_eq!(
        app.api_get("/api/v1/items", Some(&ana.token)).await.status,
        200
    );
    let none = seen(&app.api_get("/api/v1/items", None).await);
    let wrong = seen(
        &app.api_get(
            "/api/v1/items",
            Some("sanduq-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await,
    );
    assert_eq!(none.0, 401);
    assert_eq!(none, wrong, "the answer reveals nothing about why");
    let malformed = seen(&app.api_get("/api/v1/items", Some("not a token")).await);
    assert_eq!(none, malformed);
    // Downloads, metadata, deletes and replies are guarded the same way.
    let id = "0123456789abcdef0123456789abcdef";
    for (method, path) in [
        ("GET", format!("/api/v1/items/{id}/content")),
        ("GET", format!("/api/v1/items/{id}/meta")),
        ("DELETE", format!("/api/v1/items/{id}")),
        ("POST", format!("/api/v1/sources/{id}/replies")),
        ("POST", "/api/v1/batch".to_owned()),
    ] {
        let a = call(&app, method, &path, None).await;
        assert_eq!(seen(&a), none, "{method} {path}");
    }
}

#[tokio::test]
async fn an_editor_sees_only_its_own_desk() {
    let app = App::new(|c| {
        c.desk("lawyers", Some("Lawyers' collective"));
    })
    .await;
    let ana = app.add_editor("ana", Some("default")).await;
    let lev = app.add_editor("lev", Some("lawyers")).await;
    let v = InVisitor::new(&app).await;
    let page = app.text("/").await;
    assert!(
        page.contains("Lawyers&#x27; collective") || page.contains("Lawyers' collective"),
        "desks are offered"
    );
    let to_lawyers = [
        Part::text("desk", b"lawyers"),
        Part::text("message", b"for the lawyers"),
    ];
    assert_eq!(v.submit(&app, &to_lawyers).await.status, 200);
    let to_default = [Part::text("message", b"for the default desk")];
    assert_eq!(v.submit(&app, &to_default).await.status, 200);
    let nowhere = [
        Part::text("desk", b"nosuchdesk"),
        Part::text("message", b"x"),
    ];
    assert_eq!(v.submit(&app, &nowhere).await.status, 400);

    let a = app.listing(&ana).await;
    let l = app.listing(&lev).await;
    assert_eq!(a.items.len(), 1);
    assert_eq!(l.items.len(), 1);
    assert_eq!(l.items[0].desk, "lawyers");
    let lev_item = l.items[0].id;
    // Ana asking for Lev's item is answered as if it did not exist.
    for (method, path) in [
        ("GET", format!("/api/v1/items/{lev_item}/content")),
        ("GET", format!("/api/v1/items/{lev_item}/meta")),
        ("DELETE", format!("/api/v1/items/{lev_item}")),
    ] {
        let a = call(&app, method, &path, Some(&ana)).await;
        assert_eq!(a.status, 404, "{method} {path}");
    }
    // Lev's item is encrypted to Lev's desk: Lev's key opens it, Ana's does not.
    let path = format!("/api/v1/items/{lev_item}/content");
    let ct = call(&app, "GET", &path, Some(&lev)).await.bytes;
    let open = |ed: &InEditor| -> Option<Vec<u8>> {
        let d = age::Decryptor::new(&ct[..]).ok()?;
        let mut r = d
            .decrypt(std::iter::once(&ed.identity as &dyn age::Identity))
            .ok()?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).ok()?;
        Some(out)
    };
    assert!(open(&lev).is_some(), "Lev cannot read Lev's item");
    assert!(open(&ana).is_none(), "Ana's key opens Lev's item");
}

#[tokio::test]
async fn downloads_resume_from_an_offset() {
    let app = App::default().await;
    let ana = app.add_editor("ana", None).await;
    let v = InVisitor::new(&app).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sent = v.submit(&app, &[Part::file(b"d.bin", &data)]).await;
    assert_eq!(sent.status, 200);
    let l = app.listing(&ana).await;
    let (id, size) = (l.items[0].id, l.items[0].size);
    let path = format!("/api/v1/items/{id}/content");
    let ranged = |range: Option<String>| {
        let mut req =
            Request::get(&path).header(header::AUTHORIZATION, format!("Bearer {}", ana.token));
        if let Some(r) = range {
            req = req.header(header::RANGE, r);
        }
        app.api(req.body(Body::empty()).unwrap())
    };
    let full = ranged(None).await.bytes;
    assert_eq!(full.len() as u64, size);
    let part = ranged(Some("bytes=1000-".into())).await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.headers["content-range"],
        format!("bytes 1000-{}/{size}", size - 1).as_str()
    );
    assert_eq!(part.bytes, full[1000..]);
    let past = ranged(Some(format!("bytes={}-", size + 5))).await;
    assert_eq!(past.status, 416);
}
