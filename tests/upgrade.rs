//! Upgrades: an install made by an earlier sanduq (tests/fixtures/upgrade-0002, made by
//! scripts/make-fixture.sh at schema migration 0002) opened by this binary loses nothing.
//!
//! It checks data, not the schema version: whatever migrations this binary has, every item
//! is listed and decrypts to what its source sent, both sources log in with their codenames,
//! and the reply is still there.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade-0002")
}

/// Copies every file under `from` into `to`, keeping the tree.
fn copy_tree(from: &Path, to: &Path) {
    for f in files_under(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// A server on a copy of the fixture install, on this test's ports; not started.
fn fixture_server() -> Server {
    let server = Server::init(|t| t);
    let data = server.data();
    std::fs::remove_dir_all(&data).unwrap();
    copy_tree(&fixture().join("install"), &data);
    let text = std::fs::read_to_string(data.join("sanduq.toml"))
        .unwrap()
        .replace("127.0.0.1:47080", &server.source.to_string())
        .replace("127.0.0.1:47081", &server.api.to_string());
    std::fs::write(&server.config, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&server.config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    server
}

/// The fixture's sources: (codename, the message it sent).
fn sources() -> Vec<(String, String)> {
    std::fs::read_to_string(fixture().join("codenames"))
        .unwrap()
        .lines()
        .map(|l| {
            let (c, m) = l.split_once('\t').expect("codename TAB message");
            (c.to_owned(), m.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_install_from_schema_0002_upgrades_and_keeps_everything() {
    let mut server = fixture_server();
    server.start();
    let ed = EditorKeys {
        name: "fixture".into(),
        identity: fixture().join("editor.key"),
        token_file: fixture().join("editor.token"),
        recipient: String::new(),
    };

    // Every item is listed and decrypts, with sanduq and with the reference age CLI.
    let bundle = server.dir.path().join("bundle");
    let o = fetch(&server, &ed, &bundle);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 3);
    let out = server.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files: Vec<String> = files_under(&out)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    for (_, message) in sources() {
        assert!(
            files.iter().any(|t| t.contains(&message)),
            "{message:?} in {files:?}"
        );
    }
    assert!(
        files.contains(&"The bytes of the first source's file.".to_owned()),
        "the file decrypts to its bytes: {files:?}"
    );
    let objects = files_under(&bundle.join("items"));
    assert_eq!(objects.len(), 6, "{objects:?}");
    for f in objects {
        let o = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&ed.identity)
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "age -d {}: {o:?}", f.display());
    }

    // Both sources log in; the first reads its reply.
    let reply = std::fs::read_to_string(fixture().join("reply")).unwrap();
    let mut replies_seen = 0;
    for (codename, _) in sources() {
        let v = Visitor::new(&server).await;
        let res = login(&server, &v, &codename).await;
        assert_eq!(res.status(), 303, "{codename} logs in after the upgrade");
        let page = page_with(&server, &session_cookie(&res).unwrap()).await;
        if page.contains(&reply) {
            replies_seen += 1;
        }
    }
    assert_eq!(replies_seen, 1, "the reply is there, for its source only");
}

#[tokio::test]
async fn admin_migrate_applies_every_migration_and_stops() {
    let server = Server::init(|t| t);
    for f in ["meta.sqlite", "meta.sqlite-wal", "meta.sqlite-shm"] {
        let _ = std::fs::remove_file(server.data().join(f));
    }
    let o = sanduq(&[
        "admin",
        "migrate",
        "--config",
        server.config.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let want = std::fs::read_dir(dir).unwrap().count();
    let db = server.data().join("meta.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        applied as usize, want,
        "every migration in migrations/sqlite"
    );
}
