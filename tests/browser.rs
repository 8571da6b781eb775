//! A real browser with JavaScript switched off: headless Debian Chromium driven over
//! WebDriver (chromedriver + fantoccini). JavaScript is off through the content-settings
//! preference `profile.managed_default_content_settings.javascript = 2`; the
//! `--disable-javascript` flag does nothing, so the test first proves scripts do not run.
//!
//! Each page the source sees is saved as a screenshot under `target/screenshots/`, or under
//! `docs/screenshots/` with `SANDUQ_SCREENSHOTS=docs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::common::chrome::Driver;
use crate::common::*;

/// `target/screenshots/` on every run; `docs/screenshots/` (the ones the README shows) when
/// `SANDUQ_SCREENSHOTS=docs` is set, so that a test run leaves the checkout as it was.
fn screenshots() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = if std::env::var("SANDUQ_SCREENSHOTS").as_deref() == Ok("docs") {
        root.join("docs/screenshots")
    } else {
        root.join("target/screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The text of the element `css`. Retried for a moment: an element found while a page is
/// still being replaced goes stale before its text is read.
async fn text_of(b: &Client, css: &str) -> String {
    let mut last = None;
    for _ in 0..20 {
        match b.find(Locator::Css(css)).await {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(err) => last = Some(err.to_string()),
            },
            Err(err) => last = Some(err.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no text for {css}: {last:?}");
}

/// Waits until the element's text is `expected`: a click that sends a form returns before the
/// next page is shown, so the old page's heading may still be there for a moment.
async fn wait_for_text(b: &Client, css: &str, expected: &str) {
    let mut last = String::new();
    for _ in 0..150 {
        if let Ok(e) = b.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if t == expected {
                    return;
                }
                last = t;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} still says {last:?}, not {expected:?}");
}

/// The page's visible text.
async fn body(b: &Client) -> String {
    text_of(b, "body").await
}

/// The page's text once it contains `want`, or as it is after 20 s. A refused upload's page
/// can arrive after the click returns (the server answers before the browser has sent it
/// all), most of all on a busy machine.
async fn body_once_it_says(b: &Client, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = body(b).await;
        if page.contains(want) || Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A page whose script, if it runs, changes the text of `#state`.
const SCRIPT_PROBE: &str = "data:text/html,<p id=state>script did not run</p>\
<script>document.getElementById('state').textContent='script ran'</script>";

#[allow(
    clippy::too_many_lines,
    reason = "one browser session, step by step, as a source lives it"
)]
#[tokio::test(flavor = "multi_thread")]
async fn a_source_without_javascript_submits_logs_in_and_reads_a_reply() {
    let driver = Driver::start();
    // The switch works, and the probe can tell: with the preference scripts stay off,
    // without it they run.
    let with_js = driver.browser(true, None).await;
    with_js.goto(SCRIPT_PROBE).await.unwrap();
    assert_eq!(text_of(&with_js, "#state").await, "script ran");
    with_js.close().await.unwrap();
    let b = driver.browser(false, None).await;
    b.goto(SCRIPT_PROBE).await.unwrap();
    assert_eq!(text_of(&b, "#state").await, "script did not run");

    let mut server = Server::configured(|c| {
        c.set("limits.max_request_bytes", 1_048_576)
            .set("limits.max_message_bytes", 65_536);
    });
    server.start();
    let ed = server.add_editor("ana", None);

    // The form: a message and a file.
    b.goto(&server.source_url("/")).await.unwrap();
    shot(&b, "1-form").await;
    let m = marker();
    let message = format!("My son was taken on 3 March. {m}");
    b.find(Locator::Css("textarea[name=message]"))
        .await
        .unwrap()
        .send_keys(&message)
        .await
        .unwrap();
    let file = server.dir.path().join("photo of the summons.jpg");
    let photo: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &photo).unwrap();
    b.find(Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.find(Locator::Css("form[action$='/submit'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let codename = text_of(&b, "#codename").await;
    assert_eq!(codename.split_whitespace().count(), 7, "{codename}");
    assert!(body(&b).await.contains("2 items"));
    shot(&b, "2-codename").await;

    // The editor fetches, decrypts offline and replies.
    let bundle = server.dir.path().join("bundle");
    let f = fetch(&server, &ed, &bundle);
    assert!(f.status.success(), "{}", String::from_utf8_lossy(&f.stderr));
    let out = server.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let folder = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(folder.join("message.txt")).unwrap(),
        message
    );
    assert_eq!(
        std::fs::read(folder.join("photo of the summons.jpg")).unwrap(),
        photo
    );
    let reply = "We have your testimony and the photo. A lawyer will contact the family.";
    let o = reply_and_push(&server, &ed, &bundle, reply);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The source comes back in a fresh browser, logs in and reads the answer.
    b.close().await.unwrap();
    let b = driver.browser(false, None).await;
    b.goto(&server.source_url("/")).await.unwrap();
    b.find(Locator::LinkText("Come back with your codename"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(Locator::Css("input[name=codename]"))
        .await
        .unwrap()
        .send_keys(&codename)
        .await
        .unwrap();
    shot(&b, "3-login").await;
    b.find(Locator::Css("form[action$='/login'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&b, ".reply-text").await, reply);
    shot(&b, "4-reply").await;

    // Too large: the error page, in the browser, and nothing stored.
    let before = server.blob_files().len();
    let big = server.dir.path().join("video.mp4");
    std::fs::write(&big, vec![7u8; 3 * 1024 * 1024]).unwrap();
    b.find(Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(big.to_str().unwrap())
        .await
        .unwrap();
    b.find(Locator::Css("form[action$='/submit'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = body_once_it_says(&b, "Too much to send at once").await;
    assert!(page.contains("Too much to send at once"), "{page}");
    shot(&b, "5-too-large").await;
    assert_eq!(server.blob_files().len(), before);
    assert!(server.temp_files().is_empty());
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tor2web_warning_shows_in_the_browser() {
    let onion = format!("{}.onion", "c".repeat(56));
    let mut server = Server::configured(|c| {
        c.set("listen.onion_address", onion.as_str());
    });
    server.start();
    let driver = Driver::start();
    let b = driver.browser(false, None).await;
    // Reached as 127.0.0.1, not as the onion address: what a gateway's visitor sees.
    b.goto(&server.source_url("/")).await.unwrap();
    let banner = text_of(&b, "#tor2web").await;
    assert!(banner.contains("not using Tor Browser"), "{banner}");
    assert!(banner.contains(&onion));
    shot(&b, "6-tor2web-warning").await;
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn farsi_is_mirrored_and_tajik_shows_its_own_letters() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    let driver = Driver::start();
    let b = driver.browser(false, None).await;
    let button = "form[action$='/submit'] button[type=submit]";
    b.goto(&server.source_url("/en/")).await.unwrap();
    let (en_x, ..) = b
        .find(Locator::Css(button))
        .await
        .unwrap()
        .rectangle()
        .await
        .unwrap();
    b.goto(&server.source_url("/fa/")).await.unwrap();
    let html = b.find(Locator::Css("html")).await.unwrap();
    assert_eq!(html.attr("dir").await.unwrap().as_deref(), Some("rtl"));
    assert_eq!(html.attr("lang").await.unwrap().as_deref(), Some("fa"));
    let (fa_x, _, fa_w, _) = b
        .find(Locator::Css(button))
        .await
        .unwrap()
        .rectangle()
        .await
        .unwrap();
    // Mirrored: the button sits at the left edge of the column in English, at its right
    // edge in Farsi.
    assert!(fa_x > en_x + 300.0, "en {en_x}, fa {fa_x}+{fa_w}");
    shot(&b, "7-farsi-form").await;

    // A Tajik source: the whole way in Tajik, the codename in Latin letters.
    let tg = sanduq::i18n::Locale::from_code("tg").unwrap();
    b.goto(&server.source_url("/tg/")).await.unwrap();
    wait_for_text(&b, "h1", &tg.message("index-title", None)).await;
    b.find(Locator::Css("textarea[name=message]"))
        .await
        .unwrap()
        .send_keys("Писарам дар зиндон аст. Ӯро ҳабс карданд.")
        .await
        .unwrap();
    b.find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&b, "h2", &tg.message("codename-heading", None)).await;
    let codename = text_of(&b, "#codename").await;
    let words: Vec<&str> = codename.split_whitespace().collect();
    assert_eq!(words.len(), 7, "{codename:?}");
    assert!(
        words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')),
        "{codename:?}"
    );
    shot(&b, "8-tajik-codename").await;
    b.close().await.unwrap();
}

/// Fills a form in `lang` in the browser with JavaScript off: sent back once without
/// consent (answers kept, in the page's language), then sent with consent.
#[allow(
    clippy::too_many_lines,
    reason = "the form's questions filled in page order, one short block each"
)]
async fn fill_detention_form(b: &Client, server: &Server, lang: &str, name: &str, file: &Path) {
    let l = sanduq::i18n::Locale::from_code(lang).unwrap();
    let form = sanduq::forms::Form::detention();
    b.goto(&server.source_url(&format!("/{lang}/")))
        .await
        .unwrap();
    b.find(Locator::Css(&format!("a[href='/{lang}/form/detention']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(b, "h1", form.title.get(l)).await;
    b.find(Locator::Css("input[name='f.detained_name']"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    b.find(Locator::Css("textarea[name='f.charges']"))
        .await
        .unwrap()
        .send_keys("Моддаи 307")
        .await
        .unwrap();
    click_label_of_lawyer_access_none(b, &form, l).await;
    for choice in [
        "#f-relation-opt-parent",
        "#f-ill_treatment-opt-beating",
        "#f-ill_treatment-opt-torture",
        "#f-lawyer_access-opt-appointed",
    ] {
        b.find(Locator::Css(choice))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    b.find(Locator::Css("input[name='f.documents']"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    let button = "form[action$='/submit'] button[type=submit]";
    b.find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Sent back: the problems in this language, every answer still there.
    let problems = text_of(b, "#form-problems").await;
    assert!(
        problems.contains(&l.message("form-errors-title", None)),
        "{problems}"
    );
    assert!(
        problems.contains(&l.message("form-files-again", None)),
        "{problems}"
    );
    assert_eq!(
        text_of(b, "#f-consent_publish-error").await,
        l.message("form-error-required", None)
    );
    let kept = b
        .find(Locator::Css("input[name='f.detained_name']"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some(name));
    for checked in [
        "#f-relation-opt-parent",
        "#f-ill_treatment-opt-beating",
        "#f-ill_treatment-opt-torture",
        "#f-lawyer_access-opt-appointed",
    ] {
        let on = b
            .find(Locator::Css(checked))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap();
        assert_eq!(on.as_deref(), Some("true"), "{checked} kept");
    }
    shot(b, &format!("9-form-sent-back-{lang}")).await;

    // Consent given, the file chosen again: received.
    for choice in [
        "#f-consent_publish-opt-anonymous",
        "#f-consent_share-opt-yes",
    ] {
        b.find(Locator::Css(choice))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    b.find(Locator::Css("input[name='f.documents']"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(b, "h1", &l.message("thanks-title", None)).await;
    assert_eq!(text_of(b, "#codename").await.split_whitespace().count(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_in_tajik_and_in_farsi_without_javascript() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let driver = Driver::start();
    let file = server.dir.path().join("қарори суд.jpg");
    let photo: Vec<u8> = (0..30_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(&file, &photo).unwrap();
    let names = [("tg", "Раҳимов Ҷамшед"), ("fa", "جمشید رحیمی")];
    for (lang, name) in names {
        let b = driver.browser(false, None).await;
        fill_detention_form(&b, &server, lang, name, &file).await;
        if lang == "fa" {
            let html = b.find(Locator::Css("html")).await.unwrap();
            assert_eq!(html.attr("dir").await.unwrap().as_deref(), Some("rtl"));
        }
        b.close().await.unwrap();
    }

    // Offline: two sources, each with its answers and its file.
    let bundle = server.dir.path().join("bundle");
    let f = fetch(&server, &ed, &bundle);
    assert!(f.status.success(), "{}", String::from_utf8_lossy(&f.stderr));
    let out = server.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut seen = Vec::new();
    for folder in std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        let doc: serde_json::Value = serde_json::from_slice(
            &std::fs::read(folder.path().join("form-detention.json")).unwrap(),
        )
        .unwrap();
        let a = &doc["answers"];
        assert_eq!(
            a["ill_treatment"],
            serde_json::json!(["beating", "torture"])
        );
        assert_eq!(a["lawyer_access"], "appointed");
        assert_eq!(a["consent_publish"], "anonymous");
        assert_eq!(a["charges"], "Моддаи 307");
        assert_eq!(
            std::fs::read(folder.path().join("қарори суд.jpg")).unwrap(),
            photo
        );
        seen.push((
            doc["locale"].as_str().unwrap().to_owned(),
            a["detained_name"].as_str().unwrap().to_owned(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("fa".to_owned(), "جمشید رحیمی".to_owned()),
            ("tg".to_owned(), "Раҳимов Ҷамшед".to_owned())
        ]
    );
}

/// A click on the label of the answer "No" (value `none`) to "access to a lawyer" chooses that
/// answer, not "No answer": each label names its own control.
async fn click_label_of_lawyer_access_none(
    b: &fantoccini::Client,
    form: &sanduq::forms::Form,
    l: sanduq::i18n::Locale,
) {
    let field = form
        .fields
        .iter()
        .find(|f| f.name == "lawyer_access")
        .unwrap();
    let no = field.choice("none").unwrap().label.get(l);
    let xpath = format!("//fieldset[@id='f-lawyer_access']//label[normalize-space()='{no}']");
    b.find(Locator::XPath(&xpath))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let chosen = b
        .find(Locator::Css("input[name='f.lawyer_access'][value='none']"))
        .await
        .unwrap()
        .is_selected()
        .await
        .unwrap();
    assert!(chosen, "the label {no:?} chose another answer than its own");
}
