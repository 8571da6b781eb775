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
    args.set("n", 2);
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

/// GET `path` on the source site, as text.
async fn get_text(server: &Server, path: &str) -> String {
    no_redirect()
        .get(server.source_url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The size limit in the form's hint, with its number written as the language writes it:
/// `1,5` in Tajik, Russian and Uzbek, Persian digits in Farsi; Uzbek units that its readers
/// know (KB, МБ), never KiB.
#[tokio::test(flavor = "multi_thread")]
async fn sizes_and_counts_are_written_as_each_language_writes_numbers() {
    let mut server = Server::init(|t| {
        t.replace(
            "max_request_bytes = 2147483648",
            "max_request_bytes = 1572864",
        )
    });
    server.start();
    server.add_editor("ana", None);
    for (code, size) in [
        ("en", "1.5 MiB"),
        ("ru", "1,5 МБ"),
        ("tg", "1,5 МБ"),
        ("uz", "1,5 MB"),
        ("uz-Cyrl", "1,5 МБ"),
        ("fa", "۱٫۵ مگابایت"),
    ] {
        for path in ["/", "/form/detention"] {
            let page = get_text(&server, &format!("/{code}{path}")).await;
            assert!(page.contains(size), "{code}{path}: no {size:?} in the hint");
            if code.starts_with("uz") {
                // The random form token may spell a unit by chance: it is not page text.
                let text = match page.contains("name=\"csrf_token\" value=\"") {
                    true => page.replace(&logged_in_page_token(&page), ""),
                    false => page.clone(),
                };
                for unit in ["KiB", "MiB", "GiB"] {
                    assert!(!text.contains(unit), "{code}{path} says {unit}");
                }
            }
        }
    }
    // The number of files too, and the count on the confirmation page.
    let fa = Locale::from_code("fa").unwrap();
    let page = get_text(&server, "/fa/").await;
    let files = page.split("حداکثر ").nth(1).unwrap_or_default();
    assert!(
        files.starts_with(|c: char| ('۰'..='۹').contains(&c)),
        "fa: the number of files is not in Persian digits: {files:.40}"
    );
    let v = Visitor::new(&server).await;
    let (_, thanks) = v
        .submit_in(&server, "fa", &[Part::text("message", b"salom")])
        .await;
    assert!(
        thanks.contains("۱ مورد"),
        "fa: the count is not in Persian digits"
    );
    assert_eq!(fa.digits("2024-03-05"), "۲۰۲۴-۰۳-۰۵");
}

/// The day an answer was written is shown in the page's digits: Persian in Farsi.
#[tokio::test(flavor = "multi_thread")]
async fn the_day_of_an_answer_is_in_the_digits_of_the_page() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (status, page) = v.submit(&server, &[Part::text("message", b"salom")]).await;
    assert_eq!(status, 200);
    let codename = codename_in(&page);
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let out = reply_and_push(&server, &ed, &bundle, "We have it.");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = Visitor::new(&server).await;
    let session = session_cookie(&login(&server, &v, &codename).await).unwrap();
    let page_in = |code: &str| {
        let url = server.source_url(&format!("/{code}/"));
        let session = session.clone();
        async move {
            let res = no_redirect()
                .get(url)
                .header("cookie", session)
                .send()
                .await;
            res.unwrap().text().await.unwrap()
        }
    };
    let day = |page: &str| {
        let at = page.find("<bdi>").expect("the answer's day") + "<bdi>".len();
        page[at..]
            .split("</bdi>")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let en = day(&page_in("en").await);
    assert!(
        en.len() == 10 && en.bytes().filter(u8::is_ascii_digit).count() == 8,
        "{en}"
    );
    let fa = day(&page_in("fa").await);
    assert_eq!(fa, Locale::from_code("fa").unwrap().digits(&en));
    assert!(
        fa.chars().filter(|c| ('۰'..='۹').contains(c)).count() == 8,
        "{fa}"
    );
}

/// The confirmation page tells the source, in every language, to close Tor Browser itself:
/// a phone's Tor Browser has no window, and a closed tab keeps the session.
#[tokio::test(flavor = "multi_thread")]
async fn the_confirmation_says_to_close_tor_browser_in_every_language() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    for l in Locale::all() {
        let code = l.code();
        let v = Visitor::new(&server).await;
        let (_, thanks) = v
            .submit_in(&server, code, &[Part::text("message", b"salom")])
            .await;
        let close = l.message("thanks-close", None);
        assert!(thanks.contains(&close), "{code}: no thanks-close");
        // Nothing else on this page names Tor Browser.
        assert!(
            thanks.contains("Tor Browser") && close.contains("Tor Browser"),
            "{code}: the confirmation does not say to close Tor Browser: {close}"
        );
        for window in ["window", "окно", "равзана", "oyna", "ойна", "پنجره"] {
            assert!(!close.contains(window), "{code}: still a window: {close}");
        }
    }
}

/// What the form and the Farsi pages call things: the people who read and answer (not a
/// copy-editor), the detained person's full name, words Dari readers share.
#[tokio::test(flavor = "multi_thread")]
async fn the_form_asks_for_the_full_name_and_farsi_names_the_readers() {
    let server = Server::start_default();
    for (code, full_name) in [
        ("en", "Full name"),
        ("ru", "Фамилия, имя и отчество"),
        ("tg", "Насаб, ном ва номи падари"),
        ("uz", "familiyasi, ismi va otasining ismi"),
        ("uz-Cyrl", "фамилияси, исми ва отасининг исми"),
        ("fa", "نام کامل"),
    ] {
        let page = get_text(&server, &format!("/{code}/form/detention")).await;
        assert!(
            page.contains(full_name),
            "{code}: not asked for the full name"
        );
    }
    let ru = get_text(&server, "/ru/").await;
    assert!(
        ru.contains("Анкета о задержании") && !ru.contains("Свидетельство о задержании"),
        "ru: the form is still titled like a certificate"
    );
    let mut farsi = String::new();
    for path in ["/fa/", "/fa/form/detention", "/fa/login", "/fa/nope"] {
        farsi += &get_text(&server, path).await;
    }
    farsi += Locale::from_code("fa").unwrap().source();
    farsi += include_str!("../forms/detention.toml");
    for word in [
        "ویراستار",
        "شهرستان",
        "کلانتری",
        "قانون مجازات",
        "وکیل تسخیری",
    ] {
        assert!(!farsi.contains(word), "fa: still says {word}");
    }
    assert!(farsi.contains("دبیران"));
}

/// The source guides: one a language, each linked from the README, each with the advice the
/// review found missing.
#[test]
fn every_language_has_a_guide_with_the_same_advice() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for l in Locale::all() {
        let name = format!("docs/source-guide.{}.md", l.code());
        let guide = std::fs::read_to_string(root.join(&name))
            .unwrap_or_else(|_| panic!("{name} is missing"));
        assert!(readme.contains(&format!("({name})")), "README lacks {name}");
        // iPhone: the browser the Tor Project recommends; Android: where the level is set.
        for needle in [
            "Onion Browser",
            "App Store",
            "Privacy and security",
            "Security level",
        ] {
            assert!(guide.contains(needle), "{name} does not mention {needle}");
        }
        // The provider sees Tor unless a bridge is used: said in section 1, before bridges.
        let start = section(&guide, 1);
        assert!(
            ["bridge", "мост", "koʻprik", "кўприк", "پل"]
                .iter()
                .any(|b| start.contains(b)),
            "{name}: section 1 does not say that a bridge hides the use of Tor"
        );
        // The photo warning is pointed to where files are attached (step 4 of section 4).
        let attach = section(&guide, 4)
            .split("\n4. ")
            .nth(1)
            .and_then(|s| s.split("\n5. ").next())
            .unwrap_or_default();
        assert!(
            [
                "6",
                "Stay safe",
                "Берегите себя",
                "Эҳтиёт бошед",
                "۶",
                "location"
            ]
            .iter()
            .any(|p| attach.contains(p)),
            "{name}: the attaching step says nothing of photos' hidden data: {attach}"
        );
    }
    let uz_cyrl = std::fs::read_to_string(root.join("docs/source-guide.uz-Cyrl.md")).unwrap();
    assert!(uz_cyrl.contains("Гувоҳлик") && !uz_cyrl.replace("Oʻzbekcha", "").contains('ʻ'));
    let tg = std::fs::read_to_string(root.join("docs/source-guide.tg.md")).unwrap();
    for slip in ["шоҳид", " пул", "суроғаи худро"] {
        assert!(!tg.contains(slip), "tg guide: {slip}");
    }
    let ru = std::fs::read_to_string(root.join("docs/source-guide.ru.md")).unwrap();
    assert!(!ru.contains("свой адрес"));
}

/// Section `n` of a guide (`## 1.` … up to the next `## `), its number in Latin or Persian
/// digits.
fn section(guide: &str, n: u32) -> &str {
    let persian = char::from_u32('۰' as u32 + n).unwrap_or('?');
    let start = [format!("## {n}."), format!("## {persian}.")]
        .iter()
        .find_map(|h| guide.find(h.as_str()))
        .unwrap_or(guide.len());
    let rest = &guide[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}
