//! Languages, checked on the pages the source router renders: the locale comes from the
//! path, every page is entirely in its language (no raw message key, no English left over),
//! the picker names every language in itself, Farsi is right to left, and the install's
//! default language serves the bare paths.

use sanduq::i18n::Locale;

use crate::common::inproc::{Answer, App, InVisitor};
use crate::common::{codename_in, logged_in_page_token, Part};

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
pub(super) fn check_language(l: Locale, what: &str, page: &str) {
    assert!(
        page.contains(&format!(
            "<html lang=\"{}\" dir=\"{}\">",
            l.code(),
            if l.rtl() { "rtl" } else { "ltr" }
        )),
        "{}/{what}: wrong lang or dir",
        l.code()
    );
    // Keys would show up as words with hyphens between tags. A key of one word (`footer`) is
    // looked for only as a whole text: codenames are words of the EFF list, which has
    // `footer` too, and the thanks page shows one.
    for id in ids() {
        if id == "site-name" {
            continue;
        }
        let inline = id.contains('-') && page.contains(&format!(" {id} "));
        assert!(
            !page.contains(&format!(">{id}<")) && !inline,
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

/// The pages a source reaches in `l` by reading, sending, being sent back and logging in,
/// each with what it is; checks the status of each on the way.
async fn pages_in(app: &App, l: Locale) -> Vec<(String, String)> {
    let code = l.code();
    let v = InVisitor::new(app).await;
    let mut pages = Vec::new();
    for path in ["/", "/login", "/nope", "/form/detention"] {
        let path_in = format!("/{code}{path}");
        let page = app.get_with(&path_in, &[("x-tor2web", "1")]).await.body;
        assert!(
            page.contains(&l.message("tor2web-title", None)),
            "{path_in}"
        );
        pages.push((path.to_owned(), page));
    }
    // The form posts to the same language, and the answers come in it.
    assert!(pages[0].1.contains(&format!("action=\"/{code}/submit\"")));
    let thanks = v
        .submit_in(app, code, &[Part::text("message", b"salom")])
        .await;
    assert_eq!(thanks.status, 200);
    assert!(thanks.body.contains(&l.message("codename-words", None)));
    let codename = codename_in(&thanks.body);
    pages.push(("thanks".into(), thanks.body));
    let empty = v.submit_in(app, code, &[Part::text("message", b"")]).await;
    assert_eq!(empty.status, 400);
    pages.push(("400".into(), empty.body));
    // A form sent back for its missing consent.
    let sent_back = v
        .submit_in(
            app,
            code,
            &[
                Part::text("desk", b"lawyers"),
                Part::text("form", b"detention"),
                Part::text("f.detained_age", b"two hundred"),
            ],
        )
        .await;
    assert_eq!(sent_back.status, 422);
    assert!(sent_back
        .body
        .contains(&l.message("form-error-required", None)));
    assert!(
        sent_back.body.contains("value=\"lawyers\" selected"),
        "the desk is kept"
    );
    pages.push(("form sent back".into(), sent_back.body));
    // Logging in brings the source back to the front page in the same language.
    let res = v.login_in(app, code, &codename).await;
    assert_eq!(res.location(), format!("/{code}/"));
    let session = res.session_cookie().unwrap();
    let page = app
        .get_with(&format!("/{code}/"), &[("cookie", &session)])
        .await
        .body;
    assert!(page.contains(&l.message("replies-none", None)));
    pages.push(("logged in".into(), page));
    let res = v.login_in(app, code, "not a codename at all").await;
    assert_eq!(res.status, 403);
    pages.push(("403".into(), res.body));
    pages
}

/// Fails if a page of `pages` with a form shows one of the detention form's English texts.
fn check_form_texts(l: Locale, pages: &[(String, String)]) {
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
                "{}/{what}: English left: {text}",
                l.code()
            );
        }
    }
}

#[tokio::test]
async fn every_page_is_in_the_language_of_its_path() {
    let app = App::new(|c| {
        c.desk("lawyers", None);
    })
    .await;
    app.add_editor("ana", None).await;
    for l in Locale::all() {
        let code = l.code();
        let pages = pages_in(&app, l).await;
        for (what, page) in &pages {
            check_language(l, what, page);
        }
        // The form's own texts are in the page's language too.
        if l != Locale::english() {
            check_form_texts(l, &pages);
        }
        // `/tg` leads to `/tg/`.
        let res = app.get(&format!("/{code}")).await;
        assert!(res.status.is_redirection());
        assert_eq!(res.location(), format!("/{code}/"));
    }
    // Not a language: not found.
    assert_eq!(app.get("/xx/").await.status, 404);
    // The sizes in the form's hint are in the page's language too.
    let fa = app.text("/fa/").await;
    let mut args = fluent_bundle::FluentArgs::new();
    args.set("n", 2);
    assert!(fa.contains(
        &Locale::from_code("fa")
            .unwrap()
            .message("size-gib", Some(&args))
    ));
}

#[tokio::test]
async fn the_install_chooses_the_language_of_its_bare_address() {
    let app = App::new(|c| {
        c.set("default_locale", "tg");
    })
    .await;
    let tg = Locale::from_code("tg").unwrap();
    for path in ["/", "/login", "/nope"] {
        check_language(tg, path, &app.text(path).await);
    }
    // Accept-Language is not consulted.
    let page = app
        .get_with("/", &[("accept-language", "ru-RU,ru;q=0.9")])
        .await
        .body;
    assert!(page.contains("<html lang=\"tg\""));
}

/// The size limit in the form's hint, with its number written as the language writes it:
/// `1,5` in Tajik, Russian and Uzbek, Persian digits in Farsi; Uzbek units that its readers
/// know (KB, МБ), never KiB.
#[tokio::test]
async fn sizes_and_counts_are_written_as_each_language_writes_numbers() {
    let app = App::new(|c| {
        c.set("limits.max_request_bytes", 1_572_864);
    })
    .await;
    app.add_editor("ana", None).await;
    for (code, size) in [
        ("en", "1.5 MiB"),
        ("ru", "1,5 МБ"),
        ("tg", "1,5 МБ"),
        ("uz", "1,5 MB"),
        ("uz-Cyrl", "1,5 МБ"),
        ("fa", "۱٫۵ مگابایت"),
    ] {
        for path in ["/", "/form/detention"] {
            let page = app.text(&format!("/{code}{path}")).await;
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
    let page = app.text("/fa/").await;
    let files = page.split("حداکثر ").nth(1).unwrap_or_default();
    assert!(
        files.starts_with(|c: char| ('۰'..='۹').contains(&c)),
        "fa: the number of files is not in Persian digits: {files:.40}"
    );
    let v = InVisitor::new(&app).await;
    let thanks = v
        .submit_in(&app, "fa", &[Part::text("message", b"salom")])
        .await;
    assert!(
        thanks.body.contains("۱ مورد"),
        "fa: the count is not in Persian digits"
    );
    assert_eq!(fa.digits("2024-03-05"), "۲۰۲۴-۰۳-۰۵");
}

/// The day an answer was written is shown in the page's digits: Persian in Farsi.
#[tokio::test]
async fn the_day_of_an_answer_is_in_the_digits_of_the_page() {
    let app = App::default().await;
    let ed = app.add_editor("ana", None).await;
    let v = InVisitor::new(&app).await;
    let sent = v.submit(&app, &[Part::text("message", b"salom")]).await;
    assert_eq!(sent.status, 200);
    let codename = codename_in(&sent.body);
    app.reply(&ed, "We have it.").await;
    let v = InVisitor::new(&app).await;
    let session = v
        .login_in(&app, "", &codename)
        .await
        .session_cookie()
        .unwrap();
    let day = |a: Answer| {
        let page = a.body;
        let at = page.find("<bdi>").expect("the answer's day") + "<bdi>".len();
        page[at..]
            .split("</bdi>")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let en = day(app.get_with("/en/", &[("cookie", &session)]).await);
    assert!(
        en.len() == 10 && en.bytes().filter(u8::is_ascii_digit).count() == 8,
        "{en}"
    );
    let fa = day(app.get_with("/fa/", &[("cookie", &session)]).await);
    assert_eq!(fa, Locale::from_code("fa").unwrap().digits(&en));
    assert!(
        fa.chars().filter(|c| ('۰'..='۹').contains(c)).count() == 8,
        "{fa}"
    );
}

/// The confirmation page tells the source, in every language, to close Tor Browser itself:
/// a phone's Tor Browser has no window, and a closed tab keeps the session.
#[tokio::test]
async fn the_confirmation_says_to_close_tor_browser_in_every_language() {
    let app = App::default().await;
    app.add_editor("ana", None).await;
    for l in Locale::all() {
        let code = l.code();
        let v = InVisitor::new(&app).await;
        let thanks = v
            .submit_in(&app, code, &[Part::text("message", b"salom")])
            .await
            .body;
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
#[tokio::test]
async fn the_form_asks_for_the_full_name_and_farsi_names_the_readers() {
    let app = App::default().await;
    for (code, full_name) in [
        ("en", "Full name"),
        ("ru", "Фамилия, имя и отчество"),
        ("tg", "Насаб, ном ва номи падари"),
        ("uz", "familiyasi, ismi va otasining ismi"),
        ("uz-Cyrl", "фамилияси, исми ва отасининг исми"),
        ("fa", "نام کامل"),
    ] {
        let page = app.text(&format!("/{code}/form/detention")).await;
        assert!(
            page.contains(full_name),
            "{code}: not asked for the full name"
        );
    }
    let ru = app.text("/ru/").await;
    assert!(
        ru.contains("Анкета о задержании") && !ru.contains("Свидетельство о задержании"),
        "ru: the form is still titled like a certificate"
    );
    let mut farsi = String::new();
    for path in ["/fa/", "/fa/form/detention", "/fa/login", "/fa/nope"] {
        farsi += &app.text(path).await;
    }
    farsi += Locale::from_code("fa").unwrap().source();
    farsi += include_str!("../../forms/detention.toml");
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
