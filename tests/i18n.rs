//! Languages, checked on the pages a running server sends: the locale comes from the path,
//! every page is entirely in its language (no raw message key, no English left over), the
//! picker names every language in itself, Farsi is right to left, and the install's default
//! language serves the bare paths.

use sanduq::i18n::Locale;

use crate::common::*;

/// Message ids of the English reference file.
fn ids() -> Vec<String> {
    Locale::english()
        .source()
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_owned()))
        .collect()
}

/// English sentences (four words or more, no placeholder) that must not appear on a page in
/// another language.
fn english_phrases() -> Vec<String> {
    ids()
        .iter()
        .map(|id| Locale::english().message(id, None))
        .filter(|m| m.split_whitespace().count() >= 4)
        .collect()
}

/// Fails if `page` (rendered in `l`) shows a raw key or, outside English, an English sentence.
fn check_language(l: Locale, what: &str, page: &str) {
    assert!(
        page.contains(&format!(
            "<html lang=\"{}\" dir=\"{}\">",
            l.code(),
            if l.rtl() { "rtl" } else { "ltr" }
        )),
        "{}/{what}: wrong lang or dir",
        l.code()
    );
    // Keys would show up as words with hyphens between tags.
    for id in ids() {
        if id == "site-name" {
            continue;
        }
        assert!(
            !page.contains(&format!(">{id}<")) && !page.contains(&format!(" {id} ")),
            "{}/{what}: raw key {id}",
            l.code()
        );
    }
    if l != Locale::english() {
        for phrase in english_phrases() {
            let escaped = phrase.replace('\'', "&#x27;");
            assert!(
                !page.contains(&phrase) && !page.contains(&escaped),
                "{}/{what}: English left: {phrase}",
                l.code()
            );
        }
    }
    // The picker: every language, named in itself, linked under its own path.
    for other in Locale::all() {
        let name = other.message("language-name", None);
        assert!(
            page.contains(&format!("lang=\"{}\"", other.code())) && page.contains(&name),
            "{}/{what}: the picker lacks {name}",
            l.code()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_is_in_the_language_of_its_path() {
    let mut server = Server::init(|t| t + "\n[[desk]]\nname = \"lawyers\"\n");
    server.start();
    server.add_editor("ana", None);
    let c = no_redirect();
    for l in Locale::all() {
        let code = l.code();
        let v = Visitor::with_client(&server, c.clone()).await;
        let mut pages = Vec::new();
        for path in ["/", "/login", "/nope", "/form/detention"] {
            let res = c
                .get(server.source_url(&format!("/{code}{path}")))
                .header("x-tor2web", "1")
                .send()
                .await
                .unwrap();
            let page = res.text().await.unwrap();
            assert!(
                page.contains(&l.message("tor2web-title", None)),
                "{code}{path}"
            );
            pages.push((path.to_owned(), page));
        }
        // The form posts to the same language, and the answers come in it.
        assert!(pages[0].1.contains(&format!("action=\"/{code}/submit\"")));
        let res = c
            .post(server.source_url(&format!("/{code}/submit")))
            .header("content-type", content_type())
            .header("cookie", &v.cookie)
            .body(multipart(&[
                Part::text("csrf_token", v.token.as_bytes()),
                Part::text("message", b"salom"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let thanks = res.text().await.unwrap();
        assert!(thanks.contains(&l.message("codename-words", None)));
        let codename = codename_in(&thanks);
        pages.push(("thanks".into(), thanks));
        let res = c
            .post(server.source_url(&format!("/{code}/submit")))
            .header("content-type", content_type())
            .header("cookie", &v.cookie)
            .body(multipart(&[
                Part::text("csrf_token", v.token.as_bytes()),
                Part::text("message", b""),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        pages.push(("400".into(), res.text().await.unwrap()));
        // A form sent back for its missing consent.
        let res = c
            .post(server.source_url(&format!("/{code}/submit")))
            .header("content-type", content_type())
            .header("cookie", &v.cookie)
            .body(multipart(&[
                Part::text("csrf_token", v.token.as_bytes()),
                Part::text("desk", b"lawyers"),
                Part::text("form", b"detention"),
                Part::text("f.detained_age", b"two hundred"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let sent_back = res.text().await.unwrap();
        assert!(sent_back.contains(&l.message("form-error-required", None)));
        assert!(
            sent_back.contains("value=\"lawyers\" selected"),
            "the desk is kept"
        );
        pages.push(("form sent back".into(), sent_back));
        // Logging in brings the source back to the front page in the same language.
        let res = c
            .post(server.source_url(&format!("/{code}/login")))
            .header("cookie", &v.cookie)
            .form(&[
                ("csrf_token", v.token.as_str()),
                ("codename", codename.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], format!("/{code}/").as_str());
        let session = session_cookie(&res).unwrap();
        let page = c
            .get(server.source_url(&format!("/{code}/")))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(&l.message("replies-none", None)));
        pages.push(("logged in".into(), page));
        let res = c
            .post(server.source_url(&format!("/{code}/login")))
            .header("cookie", &v.cookie)
            .form(&[
                ("csrf_token", v.token.as_str()),
                ("codename", "not a codename at all"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        pages.push(("403".into(), res.text().await.unwrap()));
        for (what, page) in &pages {
            check_language(l, what, page);
        }
        // The form's own texts are in the page's language too.
        if l != Locale::english() {
            let form = sanduq::forms::Form::detention();
            let mut english: Vec<&str> = vec![form.title.get(Locale::english())];
            for f in &form.fields {
                english.push(f.label.get(Locale::english()));
                english.extend(f.help.as_ref().map(|h| h.get(Locale::english())));
                english.extend(f.options.iter().map(|o| o.label.get(Locale::english())));
            }
            for (what, page) in pages.iter().filter(|(w, _)| w.contains("form")) {
                for text in english.iter().filter(|t| t.split_whitespace().count() >= 3) {
                    let escaped = text.replace('\'', "&#x27;");
                    assert!(
                        !page.contains(text) && !page.contains(&escaped),
                        "{code}/{what}: English left: {text}"
                    );
                }
            }
        }
        // `/tg` leads to `/tg/`.
        let res = c
            .get(server.source_url(&format!("/{code}")))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection());
        assert_eq!(res.headers()["location"], format!("/{code}/").as_str());
    }
    // Not a language: not found.
    let res = c.get(server.source_url("/xx/")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // The sizes in the form's hint are in the page's language too.
    let fa = c
        .get(server.source_url("/fa/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut args = fluent_bundle::FluentArgs::new();
    args.set("n", "2");
    assert!(fa.contains(
        &Locale::from_code("fa")
            .unwrap()
            .message("size-gib", Some(&args))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_install_chooses_the_language_of_its_bare_address() {
    let mut server =
        Server::init(|t| t.replace("default_locale = \"en\"", "default_locale = \"tg\""));
    server.start();
    let tg = Locale::from_code("tg").unwrap();
    let c = no_redirect();
    for path in ["/", "/login", "/nope"] {
        let page = c
            .get(server.source_url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        check_language(tg, path, &page);
    }
    // Accept-Language is not consulted.
    let page = c
        .get(server.source_url("/"))
        .header("accept-language", "ru-RU,ru;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html lang=\"tg\""));
    // A language that does not exist is a configuration error.
    let bad = Server::init(|t| t.replace("default_locale = \"en\"", "default_locale = \"tj\""));
    let out = sanduq(&["serve", "--config", bad.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("default_locale") && err.contains("uz-Cyrl"),
        "{err}"
    );
}
