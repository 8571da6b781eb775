//! Testimony forms against a running server: the form pages, server-side checks that send a
//! form back with its answers kept (and nothing stored), consent enforced, answers as one
//! encrypted item beside their files, and the offline export across form versions.

use std::path::Path;

use crate::common::*;

/// Posts `parts` (the form token first) to `/<lang>/submit`.
async fn post(server: &Server, v: &Visitor, lang: &str, parts: &[Part<'_>]) -> (u16, String) {
    let mut all = vec![Part::text("csrf_token", v.token.as_bytes())];
    all.extend(parts.iter().map(|p| Part {
        name: p.name,
        filename: p.filename,
        content_type: p.content_type,
        data: p.data,
    }));
    let res = v
        .client
        .post(server.source_url(&format!("/{lang}/submit")))
        .header("content-type", content_type())
        .header("cookie", &v.cookie)
        .body(multipart(&all))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn get(server: &Server, path: &str) -> (u16, String) {
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(server.source_url(path))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

/// Parses a CSV export into rows of cells.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

#[allow(
    clippy::too_many_lines,
    reason = "one form's way from sent back to stored to exported, each step checking what the previous left"
)]
#[tokio::test(flavor = "multi_thread")]
async fn a_form_sent_back_keeps_its_answers_and_stores_nothing_then_round_trips() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let m = marker();

    // The front page offers the form; the form page is in Tajik, with no script.
    let (status, home) = get(&server, "/tg/").await;
    assert_eq!(status, 200);
    assert!(home.contains("href=\"/tg/form/detention\""), "{home}");
    let (status, page) = get(&server, "/tg/form/detention").await;
    assert_eq!(status, 200);
    assert!(page.contains("<html lang=\"tg\""));
    assert!(page.contains("novalidate"));
    assert!(!page.contains("<script"));
    for name in [
        "f.detained_name",
        "f.arrest_date",
        "f.ill_treatment",
        "f.documents",
        "f.consent_publish",
    ] {
        assert!(page.contains(&format!("name=\"{name}\"")), "{name}");
    }
    // The language picker keeps the form.
    assert!(page.contains("href=\"/fa/form/detention\""));

    let v = Visitor::new(&server).await;
    let name: &'static str = format!("=HYPERLINK(\"http://x\",\"{m}\")").leak();
    let charges: &'static str = format!("Article 307.\r\nSecond line {m}").leak();
    let file: &'static [u8] = format!("{m} scan").repeat(1000).into_bytes().leak();
    let answers = |consent: bool| {
        let mut p = vec![
            Part::text("form", b"detention"),
            Part::text("f.detained_name", name.as_bytes()),
            Part::text("f.detained_age", "۳۴".as_bytes()),
            Part::text("f.relation", b"parent"),
            Part::text("f.arrest_date", b"2025-03-01"),
            Part::text("f.charges", charges.as_bytes()),
            Part::text("f.ill_treatment", b"beating"),
            Part::text("f.ill_treatment", b"isolation"),
        ];
        if consent {
            p.push(Part::text("f.consent_publish", b"anonymous"));
            p.push(Part::text("f.consent_share", b"yes"));
        }
        p
    };
    let with_file = |mut p: Vec<Part<'static>>| {
        p.push(Part {
            name: "f.documents",
            filename: Some(b"arrest-record.pdf"),
            content_type: Some("application/pdf"),
            data: file,
        });
        p
    };

    // Without consent: sent back, 422, in Tajik, every answer kept, nothing stored.
    let (status, page) = post(&server, &v, "tg", &with_file(answers(false))).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("<html lang=\"tg\""));
    assert!(page.contains("id=\"form-problems\""));
    let required = sanduq::i18n::Locale::from_code("tg")
        .unwrap()
        .message("form-error-required", None);
    assert_eq!(
        page.matches(&required).count(),
        2,
        "both consent questions are marked"
    );
    let files_again = sanduq::i18n::Locale::from_code("tg")
        .unwrap()
        .message("form-files-again", None);
    assert!(page.contains(&files_again));
    let page = unescape(&page);
    assert!(page.contains(&format!("value=\"{name}\"")), "name kept");
    assert!(
        page.contains(&format!("Second line {m}</textarea>")),
        "charges kept"
    );
    assert!(page.contains("value=\"2025-03-01\""));
    assert!(page.contains("value=\"parent\" checked"));
    assert!(
        page.contains("value=\"beating\" checked") && page.contains("value=\"isolation\" checked")
    );
    assert!(!page.contains("value=\"torture\" checked"));
    assert!(
        server.blob_files().is_empty(),
        "nothing stored: {:?}",
        server.blob_files()
    );
    let mut paths = files_under(&server.data());
    paths.extend(server.temp_files());
    for p in &paths {
        let bytes = std::fs::read(p).unwrap_or_default();
        assert!(
            !bytes.windows(m.len()).any(|w| w == m.as_bytes()),
            "{} holds the marker",
            p.display()
        );
    }

    // A wrong option and an impossible date are explained too.
    let mut bad = answers(true);
    bad[4] = Part::text("f.arrest_date", b"2025-02-30");
    bad.push(Part::text("f.medical_care", b"maybe"));
    let (status, page) = post(&server, &v, "en", &bad).await;
    assert_eq!(status, 422);
    assert!(page.contains("Please give a date as year-month-day"));
    assert!(page.contains("Please choose one of the answers offered."));

    // With consent: stored, one answer item and the file.
    let (status, page) = post(&server, &v, "tg", &with_file(answers(true))).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"codename\""));
    assert_eq!(
        server.blob_files().len(),
        4,
        "answers and file, each with metadata"
    );

    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let out = work.path().join("out");
    let res = decrypt(&ed.identity, &bundle, &out);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let folder = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("form-detention.json")).unwrap())
            .unwrap();
    assert_eq!(doc["form"], "detention");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["locale"], "tg");
    let a = &doc["answers"];
    assert_eq!(a["detained_name"], name);
    assert_eq!(a["detained_age"], 34);
    assert_eq!(a["charges"], format!("Article 307.\nSecond line {m}"));
    assert_eq!(
        a["ill_treatment"],
        serde_json::json!(["beating", "isolation"])
    );
    assert_eq!(a["consent_publish"], "anonymous");
    assert!(a.get("witnesses").is_none());
    assert_eq!(
        std::fs::read(folder.join("arrest-record.pdf")).unwrap(),
        file
    );
    let file_item = a["documents"][0].as_str().unwrap();
    let index = std::fs::read_to_string(folder.join("index.jsonl")).unwrap();
    let file_line = index
        .lines()
        .find(|l| l.contains("arrest-record.pdf"))
        .unwrap();
    assert!(file_line.contains(file_item) && file_line.contains("\"form_field\":\"documents\""));
    let form_line = index
        .lines()
        .find(|l| l.contains("form-detention.json"))
        .unwrap();
    let form_item: serde_json::Value = serde_json::from_str(form_line).unwrap();
    assert!(
        file_line.contains(&format!(
            "\"form_item\":\"{}\"",
            form_item["item"].as_str().unwrap()
        )),
        "{file_line}"
    );

    // The reference age CLI reads the answers too.
    let items = std::fs::read_dir(bundle.join("items")).unwrap();
    let mut found = false;
    for e in items.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.to_string_lossy().ends_with(".meta.age") {
            continue;
        }
        let o = std::process::Command::new("age")
            .args([
                "-d",
                "-i",
                ed.identity.to_str().unwrap(),
                p.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success());
        found |= o.stdout.starts_with(b"{")
            && String::from_utf8_lossy(&o.stdout).contains("\"consent_share\": \"yes\"");
    }
    assert!(found, "age -d yields the answers");

    // CSV export: a row, the file by name, the formula neutralised.
    let csv = work.path().join("cases.csv");
    let res = export(&ed.identity, &bundle, "csv", &csv, None);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 2);
    let col = |n: &str| {
        rows[0]
            .iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert_eq!(
        &rows[0][..6],
        ["source", "day", "received_at", "item", "version", "locale"]
    );
    // Questions and answers in words, consent first.
    assert_eq!(rows[0][6], "CONSENT: May we publish what you tell us?");
    assert_eq!(rows[1][6], "Yes, but without any names");
    assert_eq!(
        rows[1][col("Full name of the detained person")],
        format!("'{name}")
    );
    assert_eq!(rows[1][col("Photos or documents")], "arrest-record.pdf");
    assert_eq!(
        rows[1][col("Signs of ill-treatment or torture")],
        "Beating; Solitary confinement"
    );
    assert_eq!(rows[1][col("Witnesses")], "");
    assert_eq!(
        rows[1][col("source")],
        sanduq::designation::folder(doc_source(&bundle).parse().unwrap())
    );
    // An export never replaces a file.
    let res = export(&ed.identity, &bundle, "csv", &csv, None);
    assert_eq!(res.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&res.stderr).contains("exists"));
}

/// A page's text with the HTML escapes minijinja writes undone.
fn unescape(page: &str) -> String {
    page.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The one source of a bundle.
fn doc_source(bundle: &Path) -> String {
    manifest(bundle)["items"][0]["source"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_is_required_and_hostile_form_posts_are_refused() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;

    let (status, page) = post(&server, &v, "fa", &[Part::text("form", b"detention")]).await;
    assert_eq!(status, 422, "consent is required on the server");
    assert!(page.contains("dir=\"rtl\""));
    assert!(server.blob_files().is_empty());

    let consent = [
        Part::text("f.consent_publish", b"no"),
        Part::text("f.consent_share", b"no"),
    ];
    let cases: Vec<(&str, Vec<Part<'_>>, u16)> = vec![
        ("unknown form", vec![Part::text("form", b"nope")], 400),
        (
            "unknown question",
            vec![Part::text("form", b"detention"), Part::text("f.nope", b"x")],
            400,
        ),
        (
            "answer without a form",
            vec![Part::text("f.consent_publish", b"no")],
            400,
        ),
        (
            "a message inside a form",
            vec![
                Part::text("form", b"detention"),
                Part::text("message", b"x"),
            ],
            400,
        ),
        (
            "two values for one choice",
            vec![
                Part::text("form", b"detention"),
                Part::text("f.relation", b"parent"),
                Part::text("f.relation", b"child"),
            ],
            400,
        ),
        (
            "form named twice",
            vec![
                Part::text("form", b"detention"),
                Part::text("form", b"detention"),
            ],
            400,
        ),
        (
            "not UTF-8",
            vec![
                Part::text("form", b"detention"),
                Part::text("f.charges", b"\xff\xfe"),
            ],
            400,
        ),
    ];
    for (what, mut parts, expected) in cases {
        parts.extend(consent.iter().map(|p| Part::text(p.name, p.data)));
        let (status, _) = post(&server, &v, "en", &parts).await;
        assert_eq!(status, expected, "{what}");
    }
    // An answer far over its limit is cut, not stored, and sent back to be shortened.
    let long = "ж".repeat(50_000);
    let mut parts = vec![
        Part::text("form", b"detention"),
        Part::text("f.detained_name", long.as_bytes()),
    ];
    parts.extend(consent.iter().map(|p| Part::text(p.name, p.data)));
    let (status, page) = post(&server, &v, "ru", &parts).await;
    assert_eq!(status, 422);
    let too_long = {
        let args = fluent_args(200);
        sanduq::i18n::Locale::from_code("ru")
            .unwrap()
            .message("form-error-too-long", Some(&args))
    };
    assert!(page.contains(&too_long), "{too_long}");
    assert!(page.contains(&"ж".repeat(201)), "what fits is shown back");
    assert!(server.blob_files().is_empty());
    // Spaces past the limit do not hide a cut answer: it is sent back, not stored short.
    let padded = format!("abc{}important", " ".repeat(4001));
    let mut parts = vec![
        Part::text("form", b"detention"),
        Part::text("f.detained_name", padded.as_bytes()),
    ];
    parts.extend(consent.iter().map(|p| Part::text(p.name, p.data)));
    let (status, _) = post(&server, &v, "en", &parts).await;
    assert_eq!(status, 422, "a cut answer is too long");
    assert!(server.blob_files().is_empty());
    let (status, _) = get(&server, "/en/form/nope").await;
    assert_eq!(status, 404);

    // A valid one still goes through, consent "no" included.
    let mut parts = vec![Part::text("form", b"detention")];
    parts.extend(consent.iter().map(|p| Part::text(p.name, p.data)));
    let (status, page) = post(&server, &v, "en", &parts).await;
    assert_eq!(status, 200, "{page}");
}

fn fluent_args(max: i64) -> fluent_bundle::FluentArgs<'static> {
    let mut a = fluent_bundle::FluentArgs::new();
    a.set("max", max);
    a
}

const FORM_V1: &str = r#"
id = "intake"
version = 1
title.en = "Intake"
[[field]]
name = "who"
kind = "text"
label.en = "Who"
[[field]]
name = "where"
kind = "text"
label.en = "Where"
[[field]]
name = "ok"
kind = "checkbox"
required = true
label.en = "I agree"
"#;

const FORM_V2: &str = r#"
id = "intake"
version = 2
title.en = "Intake"
[[field]]
name = "who"
kind = "text"
label.en = "Who"
[[field]]
name = "when"
kind = "date"
label.en = "When"
[[field]]
name = "ok"
kind = "checkbox"
required = true
label.en = "I agree"
"#;

#[allow(
    clippy::too_many_lines,
    reason = "two versions of one form answered in turn, then exported together: one story"
)]
#[tokio::test(flavor = "multi_thread")]
async fn answers_to_two_versions_of_a_form_export_together() {
    let mut server = Server::configured(|c| {
        c.set("forms_dir", "forms").desk_key(
            0,
            "forms",
            ["intake", "detention"]
                .into_iter()
                .collect::<toml_edit::Array>(),
        );
    });
    let forms = server.data().join("forms");
    std::fs::create_dir_all(&forms).unwrap();
    std::fs::write(forms.join("intake.toml"), FORM_V1).unwrap();
    server.start();
    let ed = server.add_editor("ana", None);

    let v = Visitor::new(&server).await;
    let (status, page) = post(
        &server,
        &v,
        "en",
        &[
            Part::text("form", b"intake"),
            Part::text("f.who", b"A"),
            Part::text("f.where", b"+Dushanbe"),
            Part::text("f.ok", b"yes"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let (status, _) = post(
        &server,
        &v,
        "en",
        &[
            Part::text("form", b"detention"),
            Part::text("f.consent_publish", b"no"),
            Part::text("f.consent_share", b"no"),
        ],
    )
    .await;
    assert_eq!(status, 200);

    // The operator changes the form: `where` goes, `when` comes.
    server.kill();
    std::fs::write(forms.join("intake.toml"), FORM_V2).unwrap();
    server.start();
    let v = Visitor::new(&server).await;
    let (status, _) = post(
        &server,
        &v,
        "en",
        &[
            Part::text("form", b"intake"),
            Part::text("f.who", b"B"),
            Part::text("f.where", b"x"),
            Part::text("f.ok", b"yes"),
        ],
    )
    .await;
    assert_eq!(status, 400, "a question the current version does not ask");
    let (status, page) = post(
        &server,
        &v,
        "en",
        &[
            Part::text("form", b"intake"),
            Part::text("f.who", b"B"),
            Part::text("f.when", b"2024-05-06"),
            Part::text("f.ok", b"yes"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");

    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());

    // Two forms in the bundle: CSV needs a choice.
    let csv = work.path().join("all.csv");
    let res = export(&ed.identity, &bundle, "csv", &csv, None);
    assert_eq!(res.status.code(), Some(1));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("detention") && err.contains("intake") && err.contains("--form"),
        "{err}"
    );
    assert!(!csv.exists());

    let res = export(&ed.identity, &bundle, "csv", &csv, Some("intake"));
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let rows = csv_rows(&csv);
    // A form sanduq has no definition of: the stored English labels head the columns.
    assert_eq!(&rows[0][6..], ["Who", "Where", "I agree", "When"]);
    assert_eq!(rows.len(), 3);
    let (v1, v2) = if rows[1][4] == "1" {
        (&rows[1], &rows[2])
    } else {
        (&rows[2], &rows[1])
    };
    assert_eq!(&v1[4..], ["1", "en", "A", "'+Dushanbe", "Yes", ""]);
    assert_eq!(&v2[4..], ["2", "en", "B", "", "Yes", "2024-05-06"]);

    let json = work.path().join("all.json");
    let res = export(&ed.identity, &bundle, "json", &json, None);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let forms = doc["forms"].as_array().unwrap();
    assert_eq!(forms.len(), 2);
    let intake = forms.iter().find(|f| f["form"] == "intake").unwrap();
    let labels: Vec<_> = intake["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Who", "Where", "I agree", "When"]);
    let rows = intake["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        match r["version"].as_u64() {
            Some(1) => assert!(r["when"].is_null() && r["where"] == "+Dushanbe" && r["ok"] == true),
            Some(2) => assert!(r["where"].is_null() && r["when"] == "2024-05-06"),
            other => panic!("version {other:?}"),
        }
    }

    // A wrong identity reads nothing and writes nothing.
    let other = work.path().join("other.txt");
    sanduq_ok(&["keygen", "-o", other.to_str().unwrap()]);
    let out = work.path().join("none.json");
    let res = export(&other, &bundle, "json", &out, None);
    assert_eq!(res.status.code(), Some(1));
    assert!(!out.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desk_offering_no_form_refuses_one_and_another_desk_offers_it() {
    let mut server = Server::configured(|c| {
        c.desk_key(0, "forms", toml_edit::Array::new())
            .desk_with_forms("lawyers", None, Some(&["detention"]));
    });
    server.start();
    server.add_editor("ana", None);
    server.add_editor("bo", Some("lawyers"));
    let consent = [
        Part::text("f.consent_publish", b"no"),
        Part::text("f.consent_share", b"no"),
    ];
    // The first desk offers no form: a form posted without a desk is refused.
    let v = Visitor::new(&server).await;
    let mut parts = vec![Part::text("form", b"detention")];
    parts.extend(consent.iter().map(|p| Part::text(p.name, p.data)));
    let (status, _) = post(&server, &v, "en", &parts).await;
    assert_eq!(status, 400);
    // The second desk offers it: the page names that desk, and the form goes there.
    let (_, home) = get(&server, "/en/").await;
    assert_eq!(home.matches("/en/form/").count(), 1, "{home}");
    let (status, page) = get(&server, "/en/form/detention").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<input type=\"hidden\" name=\"desk\" value=\"lawyers\">"),
        "{page}"
    );
    let mut parts = vec![
        Part::text("desk", b"lawyers"),
        Part::text("form", b"detention"),
    ];
    parts.extend(consent.iter().map(|p| Part::text(p.name, p.data)));
    let (status, page) = post(&server, &v, "en", &parts).await;
    assert_eq!(status, 200, "{page}");
    // Sent back, the desk is still there.
    let (status, page) = post(&server, &v, "en", &parts[..2]).await;
    assert_eq!(status, 422);
    assert!(page.contains("<input type=\"hidden\" name=\"desk\" value=\"lawyers\">"));
}
