//! A post-quantum desk against a running server: `keygen --pq`, a desk that refuses a second
//! kind of key, submissions encrypted only with the mlkem768x25519 stanza, decrypt and export
//! with a post-quantum identity, replies to a source's post-quantum reply key, a desk moving
//! from classical to post-quantum keys, and a mixed desk refused at start-up.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// `sanduq keygen --pq -o FILE`; returns the recipient.
fn pq_keygen(path: &Path) -> String {
    let r = sanduq_ok(&["keygen", "--pq", "-o", path.to_str().unwrap()])
        .trim()
        .to_owned();
    assert!(r.starts_with("age1pq1"), "{r}");
    r
}

/// The stanza types in an age file's header.
fn stanza_types(file: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(&file[..file.len().min(8192)]).into_owned();
    text.lines()
        .take_while(|l| !l.starts_with("---"))
        .filter_map(|l| l.strip_prefix("-> "))
        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        // The age crate adds a random "grease" stanza now and then, to keep parsers honest.
        .filter(|t| !t.ends_with("-grease"))
        .collect()
}

async fn submit_message(server: &Server, text: &str) -> String {
    let v = Visitor::new(server).await;
    let (status, page) = v
        .submit(server, &[Part::text("message", text.as_bytes())])
        .await;
    assert_eq!(status, 200, "{page}");
    codename_in(&page)
}

/// Logs in with `codename` and returns the text of the front page.
async fn page_after_login(server: &Server, codename: &str) -> String {
    let v = Visitor::new(server).await;
    let res = login(server, &v, codename).await;
    let cookie = session_cookie(&res).expect("logged in");
    page_with(server, &cookie).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_quantum_desk_from_submission_to_reply() {
    let server = Server::start_default();
    let key = server.dir.path().join("pq.key");
    let recipient = pq_keygen(&key);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-PQ-1") && text.contains(&recipient));
    let ed = server.register("ana", &recipient, None, key.clone());

    // A classical key cannot join the post-quantum desk.
    let classical = server.dir.path().join("classical.key");
    let c = sanduq_ok(&["keygen", "-o", classical.to_str().unwrap()]);
    let out = sanduq(&[
        "admin",
        "editor",
        "add",
        "--config",
        server.config.to_str().unwrap(),
        "--name",
        "bo",
        "--recipient",
        c.trim(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot join") && err.lines().count() == 1,
        "{err}"
    );
    // A submission: every object carries only the post-quantum stanza.
    let m = marker();
    let codename = submit_message(&server, &format!("They took him. {m}")).await;
    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 2);
    for b in &blobs {
        assert_eq!(
            stanza_types(&std::fs::read(b).unwrap()),
            ["mlkem768x25519"],
            "{}",
            b.display()
        );
    }

    // Fetch and decrypt with the post-quantum identity.
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let out = work.path().join("out");
    let res = decrypt(&key, &bundle, &out);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let folder = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(folder.join("message.txt")).unwrap(),
        format!("They took him. {m}")
    );
    // The source's reply key on this desk is post-quantum too.
    let reply_key = manifest(&bundle)["sources"][0]["reply_recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reply_key.starts_with("age1pq1"), "{reply_key}");

    // A reply, read by the source after logging in.
    let res = reply_and_push(&server, &ed, &bundle, "We have it. Stay safe.");
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let page = page_after_login(&server, &codename).await;
    assert!(page.contains("We have it. Stay safe."), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desk_moves_to_post_quantum_keys_and_its_sources_follow() {
    let server = Server::start_default();
    let old = server.add_editor("old", None);
    let codename = submit_message(&server, "before the move").await;

    // Every editor makes a post-quantum key; the desk switches at once.
    sanduq_ok(&[
        "admin",
        "editor",
        "remove",
        "--config",
        server.config.to_str().unwrap(),
        "--name",
        "old",
    ]);
    let key = server.dir.path().join("pq.key");
    let recipient = pq_keygen(&key);
    let ed = server.register("new", &recipient, None, key.clone());

    // Until the source comes back, its reply key is classical: reply says so in one line.
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let res = reply_and_push(&server, &ed, &bundle, "hello");
    assert_eq!(res.status.code(), Some(1));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("next time it logs in") && err.lines().count() == 1,
        "{err}"
    );

    // The source logs in; its reply key follows the desk.
    page_after_login(&server, &codename).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(fetch(&server, &ed, &bundle).status.success());
        let r = manifest(&bundle)["sources"][0]["reply_recipient"]
            .as_str()
            .unwrap()
            .to_owned();
        if r.starts_with("age1pq1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reply key did not follow: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let res = reply_and_push(&server, &ed, &bundle, "after the move");
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let page = page_after_login(&server, &codename).await;
    assert!(page.contains("after the move"), "{page}");
    // Older items stay readable with the old key.
    let out = work.path().join("out");
    assert!(decrypt(&old.identity, &bundle, &out).status.success());

    // New items need the new key: a form sent now, exported with the post-quantum identity.
    let v = Visitor::new(&server).await;
    let (status, _) = v
        .submit(
            &server,
            &[
                Part::text("form", b"detention"),
                Part::text("f.detained_name", "Ҷамшед".as_bytes()),
                Part::text("f.consent_publish", b"no"),
                Part::text("f.consent_share", b"no"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(fetch(&server, &ed, &bundle).status.success());
    let csv = work.path().join("cases.csv");
    let res = export(&key, &bundle, "csv", &csv, None);
    // The first message is classical: export counts it as not for this key, on one line,
    // and writes the form's row.
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("1 item received on") && err.contains("encrypted to none of your identities"),
        "{err}"
    );
    assert!(std::fs::read_to_string(&csv).unwrap().contains("Ҷамшед"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desk_that_mixes_kinds_is_refused_at_start() {
    let mut server = Server::configured(|c| {
        c.desk("other", None);
    });
    let key = server.dir.path().join("pq.key");
    let recipient = pq_keygen(&key);
    server.register("pq", &recipient, Some("other"), key);
    server.add_editor("classic", None);
    // Move the post-quantum editor into the classical desk behind sanduq's back.
    let db = server.data().join("meta.sqlite");
    let rt = tokio::runtime::Handle::current();
    rt.spawn(async move {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE editors SET desk = 'default' WHERE name = 'pq'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    })
    .await
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sanduq"))
        .args(["serve", "--config", server.config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a mixed desk was served");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("mixes 1 post-quantum") && err.contains("\"default\""),
        "{err}"
    );
    let _ = &mut server;
}

/// `keygen --pq --passphrase` writes an armored, passphrase-protected file (no secret in the
/// clear); decrypt asks for the passphrase and opens the desk's items with it; a wrong
/// passphrase is one clear line and writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_passphrase_protected_post_quantum_identity_opens_the_desk() {
    let server = Server::start_default();
    let key = server.dir.path().join("pq-protected.age");
    let o = with_terminal(
        format!("{BIN} keygen --pq --passphrase -o {}", key.display()),
        "correct horse\ncorrect horse\n",
    );
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{said}");
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(
        !text.contains("AGE-SECRET-KEY"),
        "the secret is not in the clear"
    );
    let recipient = said
        .lines()
        .rev()
        .find_map(|l| l.trim().starts_with("age1pq1").then(|| l.trim().to_owned()))
        .expect("the recipient is printed");
    let ed = server.register("ana", &recipient, None, key.clone());
    let m = marker();
    submit_message(&server, &format!("Behind a passphrase. {m}")).await;
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    for b in files_under(&bundle.join("items")) {
        assert_eq!(
            stanza_types(&std::fs::read(&b).unwrap()),
            ["mlkem768x25519"]
        );
    }
    let decrypt_with = |out: &Path, passphrase: &str| {
        with_terminal(
            format!(
                "{BIN} decrypt -i {} --bundle {} --out {}",
                key.display(),
                bundle.display(),
                out.display()
            ),
            &format!("{passphrase}\n"),
        )
    };
    let out = server.dir.path().join("out");
    let o = decrypt_with(&out, "correct horse");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let msg = files_under(&out)
        .into_iter()
        .find(|p| p.ends_with("message.txt"))
        .expect("decrypted");
    assert!(std::fs::read_to_string(msg).unwrap().contains(&m));

    let out2 = server.dir.path().join("out2");
    let o = decrypt_with(&out2, "wrong");
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!o.status.success());
    assert!(said.contains("wrong passphrase"), "{said}");
    assert!(files_under(&out2).is_empty(), "nothing written");
}

/// `recipient` (`age1pq1…`) with its X25519 half replaced by `point`.
fn with_x25519_half(recipient: &str, point: &[u8; 32]) -> String {
    use age_core::primitives::{bech32_decode, bech32_encode};
    let mut bytes: Vec<u8> =
        bech32_decode(recipient, |_| (), |_| Ok(()), |_, data| Ok(data.collect())).unwrap();
    let n = bytes.len();
    bytes[n - 32..].copy_from_slice(point);
    bech32_encode(bech32::Hrp::parse("age1pq").unwrap(), &bytes)
}

#[test]
fn a_recipient_with_a_low_order_x25519_key_cannot_join_a_desk() {
    let server = Server::init(|t| t);
    let good = pq_keygen(&server.dir.path().join("pq.key"));
    // The all-zero point and a point of order 8: X25519 with either gives all zeros, so a
    // file to such a key would rest on ML-KEM alone.
    let mut order8 = [0u8; 32];
    hex::decode_to_slice(
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        &mut order8,
    )
    .unwrap();
    for point in [[0u8; 32], order8] {
        let bad = with_x25519_half(&good, &point);
        let out = sanduq(&[
            "admin",
            "editor",
            "add",
            "--config",
            server.config.to_str().unwrap(),
            "--name",
            "mallory",
            "--recipient",
            &bad,
        ]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("low order") && err.lines().count() == 1,
            "{err}"
        );
        assert!(out.stdout.is_empty(), "no token for a refused key");
    }
    // The real key still joins.
    sanduq_ok(&[
        "admin",
        "editor",
        "add",
        "--config",
        server.config.to_str().unwrap(),
        "--name",
        "ana",
        "--recipient",
        &good,
    ]);
}

/// A key stored before today's checks existed (here a low-order X25519 half, written into the
/// database behind the server's back) stops `serve` at start, in one line, instead of failing
/// the first source who sends.
#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_to_start_with_a_stored_key_todays_checks_refuse() {
    let server = Server::init(|t| t);
    let good = pq_keygen(&server.dir.path().join("pq.key"));
    let config = server.config.to_str().unwrap().to_owned();
    sanduq_ok(&[
        "admin",
        "editor",
        "add",
        "--config",
        &config,
        "--name",
        "ana",
        "--recipient",
        &good,
    ]);
    let bad = with_x25519_half(&good, &[0u8; 32]);
    let db = server.data().join("meta.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE editors SET recipient = ?")
        .bind(&bad)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (code, stderr) = serve_must_exit(&server);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no longer accepts") && stderr.trim().lines().count() == 1,
        "{stderr}"
    );
}
