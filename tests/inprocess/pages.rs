//! Pages free of script, inline handlers, inline style and anything outside the site, in
//! every language; ids unique and every label resolving. The crawl follows every link the
//! source site shows, from the front page, as a visitor with JavaScript off would.

use std::collections::BTreeSet;

use crate::common::html::{attributes, check_ids, tags};
use crate::common::inproc::{App, InVisitor};
use crate::common::{codename_in, Part};

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

/// Every page the site links to, crawled from the front page with `cookie`: each checked,
/// the stylesheet as CSS; returns the pages and every path seen.
async fn crawl(app: &App, cookie: &str) -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut pages = Vec::new();
    let mut todo = vec!["/".to_owned()];
    let mut done = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !done.insert(path.clone()) {
            continue;
        }
        let a = app.get_with(&path, &[("cookie", cookie)]).await;
        let is_css = a
            .headers
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap().starts_with("text/css"));
        if is_css {
            check_css(&a.body);
            continue;
        }
        todo.extend(check_page(&path, &a.body));
        pages.push((path, a.body));
    }
    (pages, done)
}

#[tokio::test]
async fn no_page_has_script_handlers_or_anything_external() {
    let app = App::new(|c| {
        c.desk("lawyers", None);
    })
    .await;
    let ed = app.add_editor("ana", None).await;
    let v = InVisitor::new(&app).await;
    let (mut pages, done) = crawl(&app, &v.cookie).await;
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
    let thanks = v.submit(&app, &[Part::text("message", b"hello")]).await;
    assert_eq!(thanks.status, 200);
    let codename = codename_in(&thanks.body);
    pages.push(("thanks".into(), thanks.body));
    let empty = v.submit(&app, &[Part::text("message", b"")]).await;
    pages.push(("400".into(), empty.body));
    // The detention form sent back with its errors, in every language: errors and hints are
    // what `aria-describedby` points at.
    for lang in ["en", "tg", "ru", "uz", "uz-Cyrl", "fa"] {
        let a = v
            .submit_in(&app, lang, &[Part::text("form", b"detention")])
            .await;
        assert_eq!(a.status, 422, "{lang}: the form is sent back");
        pages.push((format!("{lang} form sent back"), a.body));
    }
    let a = v
        .login_in(&app, "", "no such codename at all here ok")
        .await;
    pages.push(("403 login".into(), a.body));
    let session = v
        .login_in(&app, "", &codename)
        .await
        .session_cookie()
        .unwrap();
    // Give the source a reply so that the reply block is rendered too.
    app.reply(&ed, "<script>alert(1)</script> onload=x javascript:y")
        .await;
    let page = app.get_with("/", &[("cookie", &session)]).await.body;
    assert!(
        page.contains("&lt;script&gt;"),
        "the reply is shown, escaped"
    );
    pages.push(("logged in".into(), page));
    let a = app.get_with("/nope", &[("x-tor2web", "1")]).await;
    pages.push(("404 via tor2web".into(), a.body));

    for (what, html) in &pages {
        check_page(what, html);
    }
    // The API answers JSON or nothing; no HTML, no script.
    for path in ["/", "/api/v1/items", "/api/v1/nope"] {
        let a = app.api_get(path, None).await;
        let ct = a
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            ct.as_deref().is_none_or(|t| !t.contains("html")),
            "api {path} sends {ct:?}"
        );
        assert!(!a.body.to_ascii_lowercase().contains("<script"));
    }
}
