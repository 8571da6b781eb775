//! Retention, from outside: a real server and the real CLI, days moved forward with Debian's
//! `faketime` (the binary runs with its clock ahead; nothing in sanduq is told). After
//! `sanduq admin expire`, what a desk no longer keeps is gone from disk, from the API and
//! from the login page; what is younger, and what a desk without retention holds, stays.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::garage::Garage;
use crate::common::pg::PgCluster;
use crate::common::*;

/// Runs sanduq with its clock `offset` ahead (`+31d`) under `faketime`, with the server's
/// environment (a store's credentials).
fn sanduq_at(env: &[(String, String)], offset: &str, args: &[&str]) -> Output {
    Command::new("faketime")
        .args(["-f", offset, BIN])
        .args(args)
        .env("PINENTRY_PROGRAM", "/nonexistent")
        // Not the clock the server may run under: faketime sets its own.
        .envs(
            env.iter()
                .filter(|(k, _)| !k.starts_with("FAKETIME") && k != "LD_PRELOAD")
                .map(|(k, v)| (k, v)),
        )
        .output()
        .expect("run faketime (Debian package faketime)")
}

/// `sanduq admin expire` at `offset`; its stdout.
fn expire_at(server: &Server, offset: &str) -> String {
    let out = sanduq_at(
        &server.env,
        offset,
        &[
            "admin",
            "expire",
            "--config",
            server.config.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "admin expire: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `sanduq fetch` at `offset`; its stderr.
fn fetch_at(server: &Server, ed: &EditorKeys, bundle: &Path, offset: &str) -> String {
    let out = sanduq_at(
        &[],
        offset,
        &[
            "fetch",
            "--server",
            &server.api_url(),
            "--token-file",
            ed.token_file.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "fetch: {err}");
    err
}

/// libfaketime, for a server process whose clock runs ahead (as `faketime` sets it up).
fn libfaketime() -> String {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime (Debian package faketime)")
        .to_string_lossy()
        .into_owned()
}

/// Restarts the server with its clock `offset` ahead.
fn restart_ahead(server: &mut Server, offset: &str) {
    server.kill();
    server.env.push(("LD_PRELOAD".into(), libfaketime()));
    server.env.push(("FAKETIME".into(), offset.into()));
    server
        .env
        .push(("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()));
    server.start();
}

/// How many replies are stored on disk.
fn replies_on_disk(server: &Server) -> usize {
    server
        .blob_files()
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".reply.age"))
        .count()
}

/// The ids of the items the editor's listing names.
async fn listed(server: &Server, ed: &EditorKeys) -> Vec<String> {
    let token = std::fs::read_to_string(&ed.token_file).unwrap();
    let listing: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/items", server.api_url()))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The status of a download of item `id`'s content.
async fn content_status(server: &Server, ed: &EditorKeys, id: &str) -> u16 {
    let token = std::fs::read_to_string(&ed.token_file).unwrap();
    reqwest::Client::new()
        .get(format!("{}/api/v1/items/{id}/content", server.api_url()))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A new source sends a message to `desk`; its codename.
async fn new_source(server: &Server, desk: &str) -> String {
    let v = Visitor::new(server).await;
    let text = marker();
    let (status, page) = v
        .submit(
            server,
            &[
                Part::text("desk", desk.as_bytes()),
                Part::text("message", text.as_bytes()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    codename_in(&page)
}

/// The page a source sees after logging in with `codename`, or `None` if it cannot.
async fn logged_in_page(server: &Server, codename: &str) -> Option<String> {
    let v = Visitor::new(server).await;
    let res = login(server, &v, codename).await;
    let session = session_cookie(&res)?;
    Some(page_with(server, &session).await)
}

/// How many stored objects under the blob folder name `id`.
fn blobs_of(server: &Server, id: &str) -> usize {
    server
        .blob_files()
        .iter()
        .filter(|p| p.to_string_lossy().contains(id))
        .count()
}

/// The source the bundle lists that is not in `known`.
fn new_source_id(bundle: &Path, known: &[String]) -> String {
    manifest(bundle)["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .find(|s| !known.contains(s))
        .expect("a new source in the bundle")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_deletes_what_the_desk_no_longer_keeps_and_nothing_else() {
    let mut server = Server::init(|t| {
        assert!(t.contains("retention_days = 90"), "init writes a retention");
        t.replace("retention_days = 90", "retention_days = 30")
            + "\n[[desk]]\nname = \"keep\"\ntitle = \"Archive\"\nretention_days = 0\n"
    });
    server.start();
    let ana = server.add_editor("ana", None);
    let kim = server.add_editor("kim", Some("keep"));
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");

    // Sources learn, in their language, how long each desk keeps what they send.
    let home = page_with(&server, "").await;
    assert!(home.contains("for 30 days after it arrives"), "{home}");
    assert!(home.contains("<bdi>Archive</bdi>: The server keeps what you send, encrypted"));

    // `gone` never comes back; `back` logs in twenty days later; `kept` writes to the desk
    // that keeps everything. The editor answers the first two.
    let gone = new_source(&server, "default").await;
    assert!(fetch(&server, &ana, &bundle).status.success());
    let gone_id = new_source_id(&bundle, &[]);
    assert!(
        reply_to_and_push(&server, &ana, &bundle, &gone_id, "to gone")
            .status
            .success()
    );
    let back = new_source(&server, "default").await;
    assert!(fetch(&server, &ana, &bundle).status.success());
    let back_id = new_source_id(&bundle, std::slice::from_ref(&gone_id));
    let back_reply = marker();
    assert!(
        reply_to_and_push(&server, &ana, &bundle, &back_id, &back_reply)
            .status
            .success()
    );
    let kept = new_source(&server, "keep").await;
    let short = listed(&server, &ana).await;
    let archive = listed(&server, &kim).await;
    assert_eq!((short.len(), archive.len()), (2, 1));
    for id in short.iter().chain(&archive) {
        assert_eq!(
            blobs_of(&server, id),
            2,
            "content and metadata of {id} on disk"
        );
    }
    assert_eq!(replies_on_disk(&server), 2);

    // Twenty days on, `back` logs in: activity that keeps its login.
    restart_ahead(&mut server, "+20d");
    assert!(logged_in_page(&server, &back).await.is_some());

    // A fresh bundle fetched 25 days on is warned about the two items that go within a week;
    // one fetched today is not, and nor is a fetch with nothing new.
    let early = tmp.path().join("early");
    assert!(!fetch_at(&server, &ana, &early, "+0d").contains("warning"));
    let late = tmp.path().join("late");
    let warned = fetch_at(&server, &ana, &late, "+25d");
    assert!(
        warned.contains("warning: 2 items not yet in this bundle"),
        "{warned}"
    );
    assert!(!fetch_at(&server, &ana, &late, "+25d").contains("warning"));

    // Kept for 30 whole days after their day: nothing goes on day 30, the items on day 31.
    assert_eq!(
        expire_at(&server, "+30d").trim(),
        "expired 0 item(s), 0 source(s), 0 reply(ies)"
    );
    assert_eq!(
        expire_at(&server, "+31d").trim(),
        "expired 2 item(s), 1 source(s), 1 reply(ies)"
    );

    // Gone from disk, from the listing and from downloads.
    for id in &short {
        assert_eq!(blobs_of(&server, id), 0, "objects of {id} left on disk");
        assert_eq!(content_status(&server, &ana, id).await, 404);
    }
    assert!(listed(&server, &ana).await.is_empty());
    assert_eq!(
        replies_on_disk(&server),
        1,
        "the silent source's reply is gone"
    );
    // The silent source's codename no longer opens anything; the one that came back still
    // reads its reply; the desk without retention keeps its item and its source.
    assert!(logged_in_page(&server, &gone).await.is_none());
    let page = logged_in_page(&server, &back).await.expect("back logs in");
    assert!(page.contains(&back_reply), "its reply survives");
    assert_eq!(listed(&server, &kim).await, archive);
    assert_eq!(blobs_of(&server, &archive[0]), 2);
    assert!(logged_in_page(&server, &kept).await.is_some());

    // A hundred days on, the desk without retention still keeps everything.
    assert_eq!(
        expire_at(&server, "+400d").trim(),
        "expired 0 item(s), 1 source(s), 1 reply(ies)"
    );
    assert_eq!(listed(&server, &kim).await, archive);
    assert!(logged_in_page(&server, &kept).await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_the_pass_by_itself() {
    let mut server = Server::init(|t| t.replace("retention_days = 90", "retention_days = 1"));
    server.start();
    let ana = server.add_editor("ana", None);
    let gone = new_source(&server, "default").await;
    let ids = listed(&server, &ana).await;
    assert_eq!(ids.len(), 1);
    // Restarted three days on: its first pass runs at start.
    restart_ahead(&mut server, "+3d");
    // Its log line comes once the whole pass is done; a login before then would be activity.
    assert!(
        wait_for(std::time::Duration::from_secs(10), || server
            .logs()
            .contains("retention pass")),
        "the server's own pass did not run"
    );
    assert!(logged_in_page(&server, &gone).await.is_none());
    assert_eq!(blobs_of(&server, &ids[0]), 0, "objects left on disk");
    assert!(listed(&server, &ana).await.is_empty());
}

#[test]
fn a_retention_out_of_range_is_refused_naming_the_key() {
    let server = Server::init(|t| t.replace("retention_days = 90", "retention_days = 40000"));
    let out = sanduq(&[
        "admin",
        "expire",
        "--config",
        server.config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("desk.retention_days"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_and_s3_the_pass_deletes_objects_and_rows() {
    let pg = PgCluster::start();
    let url = pg.database("sanduq").await;
    let garage = Garage::start();
    let mut server = Server::init(|t| {
        in_store_table(
            t.replace("retention_days = 90", "retention_days = 1"),
            &garage.store_keys(&url),
        )
    });
    server.env = garage.env();
    server.start();
    let ana = server.add_editor("ana", None);
    let objects = || {
        garage
            .cli_ok(&["bucket", "info", garage.bucket()])
            .lines()
            .find_map(|l| l.trim().strip_prefix("Objects:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .expect("an object count in `garage bucket info`")
    };
    let empty = objects();
    let gone = new_source(&server, "default").await;
    let ids = listed(&server, &ana).await;
    assert_eq!(ids.len(), 1);
    assert!(wait_for(std::time::Duration::from_secs(10), || objects()
        == empty + 2));

    assert_eq!(
        expire_at(&server, "+3d").trim(),
        "expired 1 item(s), 1 source(s), 0 reply(ies)"
    );
    assert!(
        wait_for(std::time::Duration::from_secs(10), || objects() == empty),
        "the item's objects are gone from the bucket"
    );
    assert!(listed(&server, &ana).await.is_empty());
    assert_eq!(content_status(&server, &ana, &ids[0]).await, 404);
    assert!(logged_in_page(&server, &gone).await.is_none());
}
