//! `sanduq admin migrate-store`: an install moved to other stores, nothing decrypted on the
//! way, and everything still works afterwards.

use std::process::Command;

use crate::common::*;

/// What an install holds before it moves: an editor, a source with a message and a file, a
/// reply to it, and the source's codename.
pub struct Before {
    pub ed: EditorKeys,
    /// Sent in the message, the file name and the file.
    pub marker: String,
    pub codename: String,
    pub reply: String,
    pub items: usize,
}

/// Fills `server` (running) with a submission and a reply.
pub async fn fill(server: &Server) -> Before {
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(server).await;
    let m = marker();
    let file = m.as_bytes().repeat(300_000 / m.len());
    let (s, page) = v
        .submit(
            server,
            &[
                Part::text("message", format!("moved {m}").as_bytes()),
                Part::file(format!("{m}.pdf").as_bytes(), &file),
            ],
        )
        .await;
    assert_eq!(s, 200, "{page:.300}");
    let codename = codename_in(&page);
    let bundle = server.dir.path().join("before");
    assert!(fetch(server, &ed, &bundle).status.success());
    let reply = format!("an answer {m}");
    let o = reply_and_push(server, &ed, &bundle, &reply);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Before {
        ed,
        marker: m,
        codename,
        reply,
        items: 2,
    }
}

/// `migrate-store --from old --to new` with `env`; its output.
pub fn migrate(old: &Server, new: &Server, env: &[(String, String)]) -> std::process::Output {
    Command::new(BIN)
        .args(["admin", "migrate-store", "--from"])
        .arg(&old.config)
        .arg("--to")
        .arg(&new.config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// A new install on the stores `edit` names, with the old install's pepper: the config text
/// of `old` with the new ports and `edit` applied.
pub fn successor(old: &Server, edit: impl FnOnce(String) -> String) -> Server {
    let new = Server::init(|t| t);
    let text = std::fs::read_to_string(&old.config)
        .unwrap()
        .replace(&old.source.to_string(), &new.source.to_string())
        .replace(&old.api.to_string(), &new.api.to_string());
    std::fs::write(&new.config, edit(text)).unwrap();
    // `init` recorded its own pepper's fingerprint: the new stores start empty instead.
    for f in ["meta.sqlite", "meta.sqlite-wal", "meta.sqlite-shm"] {
        let _ = std::fs::remove_file(new.data().join(f));
    }
    new
}

/// On the new install: the editor fetches and decrypts everything, every stored object is a
/// binary age file, and the source logs in with its codename and reads its reply.
pub async fn check_after(new: &Server, before: &Before) {
    let bundle = new.dir.path().join("after");
    let o = fetch(new, &before.ed, &bundle);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        manifest(&bundle)["items"].as_array().unwrap().len(),
        before.items
    );
    let out = new.dir.path().join("out");
    let o = decrypt(&before.ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let texts: Vec<String> = files_under(&out)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "message.txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.starts_with("moved ")), "{texts:?}");
    for f in files_under(&bundle.join("items")) {
        let o = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&before.ed.identity)
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "age -d {}: {o:?}", f.display());
    }
    let v = Visitor::new(new).await;
    let res = login(new, &v, &before.codename).await;
    assert_eq!(res.status(), 303, "the source logs in on the new stores");
    let page = page_with(new, &session_cookie(&res).unwrap()).await;
    assert!(page.contains(&before.reply), "and reads its reply");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_install_moves_to_other_stores_and_a_rerun_finishes_an_interrupted_one() {
    let mut old = Server::start_default();
    let before = fill(&old).await;
    let mut new = successor(&old, |t| t);

    // Not while the old install is served.
    let o = migrate(&old, &new, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stop it before migrating"), "{err}");
    old.kill();

    let o = migrate(&old, &new, &[]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(said.contains("copied 5 objects"), "{said}");

    // An interruption: an object lost and one cut short. A re-run copies those two only.
    let mut objects = new.blob_files();
    objects.sort();
    std::fs::remove_file(&objects[0]).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&objects[1])
        .unwrap();
    f.set_len(10).unwrap();
    drop(f);
    let o = migrate(&old, &new, &[]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(said.contains("copied 2 objects"), "{said}");
    assert!(said.contains("3 already there"), "{said}");

    new.start();
    check_after(&new, &before).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn migrating_refuses_another_pepper_and_the_same_stores() {
    let mut old = Server::start_default();
    old.kill();
    // Another pepper: sources could not log in afterwards.
    let other = Server::init(|t| t);
    let o = migrate(&old, &other, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("different peppers"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // The same stores.
    let o = migrate(&old, &old, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("same stores"), "{err}");
}
