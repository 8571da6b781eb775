//! Argon2 costs and the pepper across restarts and upgrades: a raised cost applies to new
//! sources only, a wrong pepper stops `serve`, and an install from before both were recorded
//! upgrades in place.

use base64::Engine as _;
use sanduq::codename::{derive, Codename, Cost};

use crate::common::*;

/// The test cost `Server::init` writes.
const TEST_COST: Cost = Cost {
    memory_kib: 1024,
    time: 3,
    lanes: 1,
};

/// The same, with twice the memory.
const RAISED: Cost = Cost {
    memory_kib: 2048,
    time: 3,
    lanes: 1,
};

fn set_memory(server: &Server, from: u32, to: u32) {
    server.edit_config(|c| {
        assert_eq!(c.get("codename.memory_kib"), Some(from.to_string()));
        c.set("codename.memory_kib", i64::from(to));
    });
}

/// The install's pepper, as its configuration holds it.
fn pepper(server: &Server) -> Vec<u8> {
    let text = std::fs::read_to_string(&server.config).unwrap();
    let b64 = TestConfig::parse(&text).get("secrets.pepper").unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// Replaces the configured pepper by another valid one.
fn change_pepper(server: &Server) {
    let new = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    server.edit_config(|c| {
        c.set("secrets.pepper", new.as_str());
    });
}

/// The reply recipient `codename` derives at `cost` under the install's pepper.
fn recipient(server: &Server, codename: &str, cost: Cost) -> String {
    derive(&Codename::parse(codename).unwrap(), &pepper(server), cost)
        .unwrap()
        .reply_recipient()
}

fn assert_wrong_pepper_refused(server: &Server) {
    let (code, stderr) = serve_must_exit(server);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("secrets.pepper is not the pepper this install was made with"),
        "{stderr}"
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    assert!(!stderr.contains(&b64), "the pepper is not echoed");
}

#[tokio::test(flavor = "multi_thread")]
async fn raising_the_cost_keeps_old_sources_and_gives_new_ones_the_new_cost() {
    let mut server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (s, page) = v
        .submit(&server, &[Part::text("message", b"before the change")])
        .await;
    assert_eq!(s, 200);
    let old = codename_in(&page);
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let m = marker();
    let o = reply_and_push(&server, &ed, &bundle, &format!("an answer {m}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    server.kill();
    set_memory(&server, TEST_COST.memory_kib, RAISED.memory_kib);
    server.start();

    // The old source logs in at its own cost and reads its reply.
    let v = Visitor::new(&server).await;
    let res = login(&server, &v, &old).await;
    assert_eq!(
        res.status(),
        303,
        "the source from before the change logs in"
    );
    let page = page_with(&server, &session_cookie(&res).unwrap()).await;
    assert!(page.contains(&m), "and reads its reply");

    // A new source gets the new cost: the editor sees the reply key of that derivation.
    let (s, page) = v
        .submit(&server, &[Part::text("message", b"after the change")])
        .await;
    assert_eq!(s, 200);
    let new = codename_in(&page);
    assert_eq!(login(&server, &v, &new).await.status(), 303);
    assert!(fetch(&server, &ed, &bundle).status.success());
    let mut listed: Vec<String> = manifest(&bundle)["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reply_recipient"].as_str().unwrap().to_owned())
        .collect();
    let mut want = vec![
        recipient(&server, &old, TEST_COST),
        recipient(&server, &new, RAISED),
    ];
    listed.sort();
    want.sort();
    assert_eq!(listed, want, "each source's reply key is of its own cost");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_a_pepper_that_is_not_the_installs() {
    let mut server = Server::init(|t| t);
    let original = std::fs::read_to_string(&server.config).unwrap();
    change_pepper(&server);
    assert_wrong_pepper_refused(&server);
    // With its own pepper back, the same install starts.
    std::fs::write(&server.config, original).unwrap();
    server.start();
}

/// The metadata schema as sanduq wrote it before costs and fingerprints were recorded
/// (`PRAGMA user_version = 2`).
const OLD_SCHEMA: &str = "
CREATE TABLE editors (name TEXT PRIMARY KEY NOT NULL, desk TEXT NOT NULL,
    recipient TEXT NOT NULL, token_hash BLOB NOT NULL);
CREATE TABLE sources (id TEXT PRIMARY KEY NOT NULL, desk TEXT NOT NULL, day TEXT NOT NULL);
CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, source TEXT NOT NULL REFERENCES sources(id),
    desk TEXT NOT NULL, day TEXT NOT NULL, size INTEGER NOT NULL, meta_size INTEGER NOT NULL);
CREATE INDEX items_desk ON items(desk, day);
ALTER TABLE sources ADD COLUMN login_hash BLOB;
ALTER TABLE sources ADD COLUMN reply_recipient TEXT;
CREATE UNIQUE INDEX sources_login ON sources(login_hash);
CREATE TABLE replies (id TEXT PRIMARY KEY NOT NULL, source TEXT NOT NULL REFERENCES sources(id),
    desk TEXT NOT NULL, day TEXT NOT NULL, size INTEGER NOT NULL);
CREATE INDEX replies_source ON replies(source);
PRAGMA user_version = 2;
";

/// Replaces the install's database by one of the old schema holding one source, whose
/// codename was derived at `cost`; returns the codename.
async fn old_install(server: &Server, cost: Cost) -> String {
    let db = server.data().join("meta.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(OLD_SCHEMA).execute(&pool).await.unwrap();
    let codename = Codename::generate();
    let d = derive(&codename, &pepper(server), cost).unwrap();
    sqlx::query(
        "INSERT INTO sources (id, desk, day, login_hash, reply_recipient) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(sanduq::ids::Id::random().to_string())
    .bind("default")
    .bind("2026-11-01")
    .bind(d.login_hash().to_vec())
    .bind(d.reply_recipient())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    codename.expose().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_install_from_before_costs_and_fingerprints_upgrades() {
    let mut server = Server::init(|t| t);
    let codename = old_install(&server, TEST_COST).await;
    // First start of the new version: the source logs in as before.
    server.start();
    let v = Visitor::new(&server).await;
    assert_eq!(login(&server, &v, &codename).await.status(), 303);
    server.kill();
    // That start recorded the cost its sources were derived with: raising it keeps them.
    set_memory(&server, TEST_COST.memory_kib, RAISED.memory_kib);
    server.start();
    let v = Visitor::new(&server).await;
    assert_eq!(
        login(&server, &v, &codename).await.status(),
        303,
        "the upgraded install's source logs in after the cost was raised"
    );
    server.kill();
    // And it recorded the pepper's fingerprint.
    change_pepper(&server);
    assert_wrong_pepper_refused(&server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fourth_cost_in_use_stops_serve_and_names_the_costs() {
    let mut server = Server::start_default();
    server.add_editor("ana", None);
    // A source at each of three costs, raising the cost after each.
    let mut codenames = Vec::new();
    for (cost, next) in [(1024, 2048), (2048, 3072), (3072, 4096)] {
        if cost != 1024 {
            server.start();
        }
        let v = Visitor::new(&server).await;
        let (s, page) = v.submit(&server, &[Part::text("message", b"x")]).await;
        assert_eq!(s, 200);
        codenames.push(codename_in(&page));
        server.kill();
        set_memory(&server, cost, next);
    }
    // A fourth cost would make every login derive four times: serve refuses and says why.
    let (code, stderr) = serve_must_exit(&server);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("4 argon2 costs") && stderr.contains("memory_kib = 3072"),
        "{stderr}"
    );
    // Back at a cost in use, all three sources log in.
    set_memory(&server, 4096, 3072);
    server.start();
    let v = Visitor::new(&server).await;
    for c in &codenames {
        assert_eq!(login(&server, &v, c).await.status(), 303);
    }
}
