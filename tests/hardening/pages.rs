//! Pages free of script, inline handlers, inline style and anything outside the site, in
//! every language; ids unique and every label resolving.

use std::collections::BTreeSet;

use crate::common::html::{attributes, check_ids, tags};
use crate::common::*;

use super::client;

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
