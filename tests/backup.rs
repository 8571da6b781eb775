//! `sanduq admin backup` and `restore`: a backup taken while sources submit, restored into a
//! new install, holds every item acknowledged before it started; refusals of a wrong pepper
//! and of an install that is not empty.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

/// Submitters running in parallel during the backup.
const SUBMITTERS: usize = 3;

/// A submission the server acknowledged: its marker (in the message and the file) and the
/// source's codename.
#[derive(Clone)]
struct Acked {
    marker: String,
    codename: String,
}

fn backup(server: &Server, out: &Path) -> Output {
    Command::new(BIN)
        .args(["admin", "backup", "--config"])
        .arg(&server.config)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn restore(server: &Server, from: &Path) -> Output {
    Command::new(BIN)
        .args(["admin", "restore", "--config"])
        .arg(&server.config)
        .arg("--from")
        .arg(from)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Submits from a new source, again and again, until `stop`; records each acknowledged one.
async fn submitter(server: Arc<Server>, acked: Arc<Mutex<Vec<Acked>>>, stop: Arc<Mutex<bool>>) {
    while !*stop.lock().unwrap() {
        let v = Visitor::new(&server).await;
        let m = marker();
        let file = m.as_bytes().repeat(20_000 / m.len());
        let (status, page) = v
            .submit(
                &server,
                &[
                    Part::text("message", format!("backed up {m}").as_bytes()),
                    Part::file(b"evidence.bin", &file),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page:.300}");
        acked.lock().unwrap().push(Acked {
            marker: m,
            codename: codename_in(&page),
        });
    }
}

/// A new install with `old`'s pepper, as an operator makes one to restore into.
fn successor(old: &Server) -> Server {
    let new = Server::init(|t| t);
    let text = std::fs::read_to_string(&old.config)
        .unwrap()
        .replace(&old.source.to_string(), &new.source.to_string())
        .replace(&old.api.to_string(), &new.api.to_string());
    std::fs::write(&new.config, text).unwrap();
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_everything_acknowledged_before_it() {
    let old = Arc::new(Server::start_default());
    let ed = old.add_editor("ana", None);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let tasks: Vec<_> = (0..SUBMITTERS)
        .map(|_| tokio::spawn(submitter(old.clone(), acked.clone(), stop.clone())))
        .collect();
    let started = tokio::task::block_in_place(|| {
        wait_for(Duration::from_secs(20), || {
            acked.lock().unwrap().len() >= 10
        })
    });
    assert!(started, "the load is under way");

    // Everything acknowledged by now must come back; the load goes on during the backup.
    let before: Vec<Acked> = acked.lock().unwrap().clone();
    let file = old.dir.path().join("sanduq.backup");
    let o = tokio::task::block_in_place(|| backup(&old, &file));
    assert!(o.status.success(), "{}", stderr(&o));
    let served_on = tokio::task::block_in_place(|| {
        wait_for(Duration::from_secs(20), || {
            acked.lock().unwrap().len() > before.len() + SUBMITTERS
        })
    });
    *stop.lock().unwrap() = true;
    for t in tasks {
        t.await.unwrap();
    }
    assert!(served_on, "submissions went on through the backup");
    check_the_file(&old, &file, &before);

    let mut new = successor(&old);
    let o = restore(&new, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = restore(&new, &file);
    assert_eq!(o.status.code(), Some(1), "a second restore is refused");
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    new.start();
    check_restored(&new, &ed, &before).await;
}

/// The file: mode 0600, never replaced, and no plaintext in it.
fn check_the_file(server: &Server, file: &Path, before: &[Acked]) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let bytes = std::fs::read(file).unwrap();
    for a in before {
        assert!(
            !bytes
                .windows(a.marker.len())
                .any(|w| w == a.marker.as_bytes()),
            "plaintext in the backup"
        );
    }
    let o = backup(server, file);
    assert_eq!(o.status.code(), Some(1), "an existing file is not replaced");
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(file).unwrap(), bytes, "and is left as it was");
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "no partial file is left");
}

/// On the restored install: every item acknowledged before the backup decrypts, and its
/// sources log in with their codenames.
async fn check_restored(new: &Server, ed: &EditorKeys, before: &[Acked]) {
    let bundle = new.dir.path().join("bundle");
    let o = fetch(new, ed, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = new.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let texts: Vec<String> = files_under(&out)
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "message.txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for a in before {
        let want = format!("backed up {}", a.marker);
        assert!(texts.contains(&want), "{want:?} is restored and decrypts");
    }
    let listed = manifest(&bundle)["items"].as_array().unwrap().len();
    assert_eq!(listed % 2, 0, "each submission whole: message and file");
    assert!(listed >= 2 * before.len());
    for a in before.iter().take(3) {
        let v = Visitor::new(new).await;
        let res = login(new, &v, &a.codename).await;
        assert_eq!(
            res.status(),
            303,
            "the source logs in on the restored install"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_a_wrong_pepper() {
    let mut old = Server::start_default();
    old.add_editor("ana", None);
    let v = Visitor::new(&old).await;
    let (status, _) = v.submit(&old, &[Part::text("message", b"kept")]).await;
    assert_eq!(status, 200);
    let file = old.dir.path().join("sanduq.backup");
    let o = backup(&old, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    old.kill();

    // A new install keeps the pepper `init` gave it: not the backed-up install's.
    let other = Server::init(|t| t);
    let o = restore(&other, &file);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("secrets.pepper"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(other.blob_files().is_empty(), "nothing was restored");
}
