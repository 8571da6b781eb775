//! What a newcomer editor tripped over, tried from outside against a running server and the
//! real CLI: naming a source for `reply`, forms in words, `export --force` and `--new`, an
//! editor who joined after some items arrived, and deleting what is already gone.

use std::path::{Path, PathBuf};

use crate::common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `sanduq reply --source SOURCE` with `text`.
fn reply(bundle: &Path, source: &str, text: &str) -> std::process::Output {
    let file = bundle.with_file_name("reply.txt");
    std::fs::write(&file, text).unwrap();
    sanduq(&[
        "reply",
        "--bundle",
        path(bundle),
        "--source",
        source,
        "--message-file",
        path(&file),
    ])
}

/// The folders decrypt wrote into `out`, by name.
fn folders(out: &Path) -> Vec<String> {
    let mut f: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    f.sort();
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn reply_takes_the_folder_or_its_digits_says_who_reads_it_and_helps_with_typos() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    for text in ["first source", "second source"] {
        let v = Visitor::new(&server).await;
        let parts = [Part::text("message", text.as_bytes())];
        assert_eq!(v.submit(&server, &parts).await.0, 200);
    }
    let work = tempfile::tempdir().unwrap();
    let (bundle, out) = (work.path().join("b"), work.path().join("out"));
    assert!(fetch(&server, &ed, &bundle).status.success());
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let folder = folders(&out)[0].clone();
    let id: sanduq::ids::Id = folder[folder.len() - 32..].parse().unwrap();
    let label = sanduq::designation::label(id);

    // The folder's name, as decrypt wrote it: encrypted to the source and to ana, said.
    let o = reply(&bundle, &folder, "We read you.");
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let ana_start: String = ed.recipient.chars().take(12).collect();
    assert!(
        err.contains(&format!("reply queued for {label}"))
            && err.contains("its reply key")
            && err.contains("the 1 editor accepted")
            && err.contains(&ana_start),
        "{err}"
    );
    assert!(!err.contains("waiting in the outbox"), "{err}");

    // Its digits alone: a reply to the same source is already queued, and that is said.
    let o = reply(&bundle, &sanduq::designation::short(id), "One more thing.");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "1 earlier reply to {label} is waiting in the outbox"
        )),
        "{}",
        stderr(&o)
    );

    // A typo in the designation: the nearest names, and what was typed is not repeated.
    let words = sanduq::designation::of(id);
    // Two edits whatever the words are (the distance allowed is 3): the second letter dropped
    // and a letter added at the end.
    let mut typo: String = words.chars().take(1).chain(words.chars().skip(2)).collect();
    typo.push('x');
    let o = reply(&bundle, &typo, "lost");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("did you mean") && stderr(&o).contains(&label),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains(&typo));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // Another source of the same designation (as 100 sources a month soon have): the bare
    // words are refused with both sources listed; the label picks one.
    let mut m = manifest(&bundle);
    let mut twin = m["sources"][0].clone();
    let twin_id = format!("{}ffffffffffffffffffffffffffff", &id.to_string()[..4]);
    twin["id"] = serde_json::Value::from(twin_id.as_str());
    m["sources"].as_array_mut().unwrap().push(twin);
    std::fs::write(bundle.join("manifest.json"), m.to_string()).unwrap();
    let o = reply(&bundle, &words, "who?");
    assert_eq!(o.status.code(), Some(1));
    let twin_label = sanduq::designation::label(twin_id.parse().unwrap());
    assert!(
        stderr(&o).contains("2 sources fit that name")
            && stderr(&o).contains(&label)
            && stderr(&o).contains(&twin_label),
        "{}",
        stderr(&o)
    );
    assert!(reply(&bundle, &label, "Third.").status.success());

    // Everything queued goes to the server.
    let o = sanduq(&[
        "push",
        "--server",
        &server.api_url(),
        "--token-file",
        path(&ed.token_file),
        "--bundle",
        path(&bundle),
    ]);
    assert!(
        o.status.success() && stderr(&o).contains("pushed 3 replies"),
        "{}",
        stderr(&o)
    );
}

/// Posts the detention form's answers as a new source.
async fn send_form(server: &Server, relation: &'static str) {
    let v = Visitor::new(server).await;
    let parts = [
        Part::text("form", b"detention"),
        Part::text("f.relation", relation.as_bytes()),
        Part::text("f.medical_care", b"denied"),
        Part::text("f.ill_treatment", b"beating"),
        Part::text("f.ill_treatment", b"isolation"),
        Part::text("f.consent_publish", b"anonymous"),
        Part::text("f.consent_share", b"yes"),
    ];
    let (status, page) = v.submit_in(server, "tg", &parts).await;
    assert_eq!(status, 200, "{page}");
}

/// `sanduq export` of the detention form as CSV into `out`, with `more` arguments.
fn export_csv(ed: &EditorKeys, bundle: &Path, out: &Path, more: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        "--identity",
        path(&ed.identity),
        "--bundle",
        path(bundle),
        "--format",
        "csv",
        "--out",
        path(out),
    ];
    args.extend(more);
    sanduq(&args)
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// decrypt: the language from LANG, consent first and apart, the codes kept.
fn decrypt_reads_in_russian(ed: &EditorKeys, bundle: &Path, work: &Path) {
    let out = work.join("out");
    let o = std::process::Command::new(BIN)
        .args([
            "decrypt",
            "--identity",
            path(&ed.identity),
            "--bundle",
            path(bundle),
        ])
        .args(["--out", path(&out)])
        .env("LANG", "ru_RU.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let form = out.join(&folders(&out)[0]).join("form-detention.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(form).unwrap()).unwrap();
    assert_eq!(doc["language"], "ru");
    assert_eq!(
        doc["consent"][0]["question"],
        "Можно ли нам опубликовать то, что вы рассказали?"
    );
    assert_eq!(doc["consent"][0]["answer"], "Да, но без каких-либо имён");
    assert_eq!(doc["consent"][0]["code"], "anonymous");
    let words = doc["in_words"].as_array().unwrap();
    let answer = |name: &str| words.iter().find(|w| w["name"] == name).unwrap()["answer"].clone();
    assert_eq!(answer("relation"), "Сестра или брат");
    assert_eq!(answer("medical_care"), "Да, отказывали");
    assert_eq!(answer("ill_treatment"), "Избиения; Одиночное заключение");
    assert_eq!(
        doc["answers"]["relation"], "sibling",
        "the stored codes stay for tools"
    );
    assert_eq!(doc["locale"], "tg");
}

#[tokio::test(flavor = "multi_thread")]
async fn forms_read_in_the_editors_language_and_exports_replace_only_their_own() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    send_form(&server, "sibling").await;
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());

    decrypt_reads_in_russian(&ed, &bundle, work.path());

    // export: questions and answers in words, consent first and marked.
    let table = work.path().join("cases.csv");
    let o = export_csv(&ed, &bundle, &table, &["--lang", "en"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = csv(&table);
    assert_eq!(rows[0][6], "CONSENT: May we publish what you tell us?");
    assert_eq!(rows[1][6], "Yes, but without any names", "{rows:?}");
    assert!(
        rows[0].iter().any(|h| h == "Who are you to them?"),
        "{:?}",
        rows[0]
    );
    assert!(
        rows[1].iter().any(|c| c == "Sister or brother"),
        "{:?}",
        rows[1]
    );
    assert!(
        !rows[1].iter().any(|c| c == "sibling" || c == "denied"),
        "{:?}",
        rows[1]
    );
    let codes = work.path().join("codes.csv");
    assert!(export_csv(&ed, &bundle, &codes, &["--codes"])
        .status
        .success());
    let rows = csv(&codes);
    let col = rows[0].iter().position(|h| h == "medical_care").unwrap();
    assert_eq!(rows[1][col], "denied");

    // --force replaces the export it wrote, and nothing else.
    let o = export_csv(&ed, &bundle, &table, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = export_csv(&ed, &bundle, &table, &["--force", "--lang", "ru"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&table)
        .unwrap()
        .contains("Сестра или брат"));
    std::fs::write(&table, "my own notes").unwrap();
    let o = export_csv(&ed, &bundle, &table, &["--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "my own notes");
    let notes = work.path().join("notes.csv");
    std::fs::write(&notes, "a,b\n").unwrap();
    assert_eq!(
        export_csv(&ed, &bundle, &notes, &["--force"]).status.code(),
        Some(1)
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "a,b\n");

    // --new: only what arrived since the last export.
    let none = work.path().join("none.csv");
    let o = export_csv(&ed, &bundle, &none, &["--new"]);
    assert!(
        o.status.success() && stderr(&o).contains("nothing new"),
        "{}",
        stderr(&o)
    );
    assert!(!none.exists());
    send_form(&server, "parent").await;
    assert!(fetch(&server, &ed, &bundle).status.success());
    let fresh = work.path().join("fresh.csv");
    let o = export_csv(&ed, &bundle, &fresh, &["--new", "--lang", "en"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = csv(&fresh);
    assert_eq!(rows.len(), 2, "one new submission: {rows:?}");
    assert!(
        rows[1].iter().any(|c| c == "Mother or father"),
        "{:?}",
        rows[1]
    );
}

/// Runs `sanduq delete` of `ids` as `ed`.
fn delete(server: &Server, ed: &EditorKeys, ids: &[String]) -> std::process::Output {
    let mut args = vec![
        "delete".to_owned(),
        "--server".into(),
        server.api_url(),
        "--token-file".into(),
        path(&ed.token_file).into(),
    ];
    args.extend(ids.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sanduq(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_editor_decrypts_what_is_theirs_and_deleting_twice_is_calm() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    for text in ["before bob 1", "before bob 2"] {
        let parts = [Part::text("message", text.as_bytes())];
        assert_eq!(v.submit(&server, &parts).await.0, 200);
    }
    let bob = server.add_editor("bob", None);
    let v = Visitor::new(&server).await;
    let parts = [Part::text("message", b"after bob")];
    assert_eq!(v.submit(&server, &parts).await.0, 200);

    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("b");
    assert!(fetch(&server, &bob, &bundle).status.success());
    let out = work.path().join("out");
    let o = decrypt(&bob.identity, &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err.matches("encrypted to none of your identities").count(),
        1,
        "{err}"
    );
    assert!(err.contains("2 items received on"), "{err}");
    assert!(!err.contains("sanduq: item "), "no line per item: {err}");
    let folder = out.join(&folders(&out)[0]);
    assert_eq!(
        std::fs::read_to_string(folder.join("message.txt")).unwrap(),
        "after bob"
    );

    // Tampering still fails: the item bob can read, one byte changed, in a copy.
    let copy = work.path().join("copy");
    std::fs::create_dir_all(copy.join("items")).unwrap();
    std::fs::copy(bundle.join("manifest.json"), copy.join("manifest.json")).unwrap();
    for e in std::fs::read_dir(bundle.join("items")).unwrap().flatten() {
        std::fs::copy(e.path(), copy.join("items").join(e.file_name())).unwrap();
    }
    let mine = manifest(&bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .find(|id| readable_by(&bob.identity, &bundle.join(format!("items/{id}.age"))))
        .unwrap();
    let tampered: PathBuf = copy.join(format!("items/{mine}.age"));
    let mut bytes = std::fs::read(&tampered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    let o = decrypt(&bob.identity, &copy, &work.path().join("out2"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 item could not be decrypted"),
        "{}",
        stderr(&o)
    );

    // A wrong key reads nothing: that stays an error.
    let stranger = work.path().join("stranger.key");
    sanduq_ok(&["keygen", "-o", path(&stranger)]);
    let o = decrypt(&stranger, &bundle, &work.path().join("out3"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // Deleting: all three, then again: one line, exit 0.
    let ids: Vec<String> = manifest(&bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let o = delete(&server, &ana, &ids);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = delete(&server, &ana, &ids);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "deleted 0 items; 3 already gone (deleted before, or past retention)"
    );
    // A real failure still fails, and says the rest calmly.
    let mut with_bad = ids.clone();
    with_bad.push("not-an-id".into());
    let o = delete(&server, &ana, &with_bad);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("3 already gone") && stderr(&o).contains("1 item not deleted"),
        "{}",
        stderr(&o)
    );
}

/// Whether `identity` decrypts `file` (with the reference age CLI).
fn readable_by(identity: &Path, file: &Path) -> bool {
    std::process::Command::new("age")
        .args(["-d", "-i", path(identity), "-o", "/dev/null", path(file)])
        .output()
        .unwrap()
        .status
        .success()
}
