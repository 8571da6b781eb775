//! Who can read replies: the bundle trusts the editors and reply keys it first saw, and a
//! server that lists others (seized, say) changes nothing until an editor accepts it.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `sanduq reply` to the bundle's first source; returns the reply file it wrote.
fn write_reply(bundle: &Path, text: &str) -> std::path::PathBuf {
    let source = manifest(bundle)["sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = bundle.with_file_name("reply.txt");
    std::fs::write(&file, text).unwrap();
    let out = sanduq(&[
        "reply",
        "--bundle",
        bundle.to_str().unwrap(),
        "--source",
        &source,
        "--message-file",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// Whether the reference age CLI opens `file` with `identity`.
fn opens(identity: &Path, file: &Path) -> bool {
    Command::new("age")
        .args(["-d", "-i", identity.to_str().unwrap()])
        .arg(file)
        .output()
        .expect("the reference age CLI")
        .status
        .success()
}

fn accept(bundle: &Path, change: Option<&str>) -> Output {
    let mut args = vec!["accept", "--bundle", bundle.to_str().unwrap()];
    if let Some(c) = change {
        args.extend(["--change", c]);
    }
    sanduq(&args)
}

fn editors(bundle: &Path) -> Vec<String> {
    manifest(bundle)["editors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Runs SQL against a server's database behind its back, as whoever seized it could.
async fn tamper(server: &Server, sql: String) {
    let db = server.data().join("meta.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(&sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editor_the_server_adds_reads_no_reply_until_an_editor_accepts_it() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"hello")])
            .await
            .0,
        200
    );
    let bundle = server.dir.path().join("b");
    let o = fetch(&server, &ana, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        editors(&bundle),
        std::slice::from_ref(&ana.recipient),
        "pinned"
    );

    // Whoever holds the server adds a key of their own to the desk.
    let eve = server.add_editor("eve", None);
    let o = fetch(&server, &ana, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("added:   {}", eve.recipient)) && err.contains("sanduq accept"),
        "fetch says what changed: {err}"
    );
    assert!(!err.contains("removed:"), "{err}");
    assert_eq!(
        editors(&bundle),
        std::slice::from_ref(&ana.recipient),
        "not used yet"
    );
    let reply = write_reply(&bundle, "only for the trusted");
    assert!(opens(&ana.identity, &reply));
    assert!(
        !opens(&eve.identity, &reply),
        "a key the server added reads no reply"
    );

    // `accept` shows the change and its code; only that code accepts it.
    let shown = accept(&bundle, None);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains(&format!("added:   {}", eve.recipient)),
        "{text}"
    );
    let code = text
        .split("--change ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a code to accept")
        .to_owned();
    let wrong = accept(&bundle, Some("0000000000000000"));
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(
        stderr(&wrong).trim().lines().count(),
        1,
        "{}",
        stderr(&wrong)
    );
    assert_eq!(editors(&bundle), std::slice::from_ref(&ana.recipient));
    let ok = accept(&bundle, Some(&code));
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(editors(&bundle).len(), 2);
    assert!(manifest(&bundle).get("pending_editors").is_none());
    let reply = write_reply(&bundle, "for both");
    assert!(opens(&eve.identity, &reply) && opens(&ana.identity, &reply));

    // A removal is held and named the same way.
    sanduq_ok(&[
        "admin",
        "editor",
        "remove",
        "--config",
        server.config.to_str().unwrap(),
        "--name",
        "eve",
    ]);
    let o = fetch(&server, &ana, &bundle);
    assert!(
        stderr(&o).contains(&format!("removed: {}", eve.recipient)),
        "{}",
        stderr(&o)
    );
    assert_eq!(editors(&bundle).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_key_the_server_swaps_is_refused() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"hello")])
            .await
            .0,
        200
    );
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ana, &bundle).status.success());
    let source = manifest(&bundle)["sources"][0].clone();
    let trusted = source["reply_recipient"].as_str().unwrap().to_owned();

    // The server now lists a key of its own as the source's reply key.
    let eve_key = server.dir.path().join("eve.key");
    let eve = sanduq_ok(&["keygen", "-o", eve_key.to_str().unwrap()])
        .trim()
        .to_owned();
    tamper(
        &server,
        format!(
            "UPDATE sources SET reply_recipient = '{eve}' WHERE id = '{}'",
            source["id"].as_str().unwrap()
        ),
    )
    .await;
    let o = fetch(&server, &ana, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("another reply key") && stderr(&o).contains("refused"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        manifest(&bundle)["sources"][0]["reply_recipient"],
        trusted.as_str()
    );
    let reply = write_reply(&bundle, "for the source");
    assert!(!opens(&eve_key, &reply), "the swapped key reads no reply");
    assert!(opens(&ana.identity, &reply));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_from_before_pinning_pins_at_its_next_fetch() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (_, page) = v.submit(&server, &[Part::text("message", b"hello")]).await;
    let codename = codename_in(&page);
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ana, &bundle).status.success());
    // The manifest of an older sanduq: no editor list at all.
    let mut m = manifest(&bundle);
    m.as_object_mut().unwrap().remove("editors");
    std::fs::write(bundle.join("manifest.json"), m.to_string()).unwrap();
    let o = fetch(&server, &ana, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("added"), "{}", stderr(&o));
    assert_eq!(editors(&bundle), std::slice::from_ref(&ana.recipient));
    let o = reply_and_push(&server, &ana, &bundle, "still answered");
    assert!(o.status.success(), "{}", stderr(&o));
    let res = login(&server, &v, &codename).await;
    let cookie = session_cookie(&res).unwrap();
    assert!(page_with(&server, &cookie).await.contains("still answered"));
}
