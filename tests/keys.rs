//! Editor keys over time and items seen by the desk, against a running server and the CLI:
//! a rotated key takes new items at once and old items stay with the old key; an editor
//! with both keys reads all; a reply is checked against the editor's own keys; editors of a
//! desk see what another of them has fetched, and no other desk does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The reference age CLI's plaintext of `file` with `identity`, or `None` if it cannot open it.
fn age_open(identity: &Path, file: &Path) -> Option<Vec<u8>> {
    let out = Command::new("age")
        .args(["-d", "-i", identity.to_str().unwrap()])
        .arg(file)
        .output()
        .expect("the reference age CLI (Debian package `age`)");
    out.status.success().then_some(out.stdout)
}

fn admin(server: &Server, args: &[&str]) -> Output {
    let mut all = vec!["admin", "editor"];
    all.extend_from_slice(&args[..1]);
    all.extend(["--config", server.config.to_str().unwrap()]);
    all.extend_from_slice(&args[1..]);
    sanduq(&all)
}

fn decrypt_with(ids: &[&Path], bundle: &Path, out: &Path) -> Output {
    let mut args = vec!["decrypt".to_owned()];
    for id in ids {
        args.extend(["--identity".to_owned(), id.to_str().unwrap().to_owned()]);
    }
    args.extend([
        "--bundle".into(),
        bundle.to_str().unwrap().into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ]);
    sanduq(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `sanduq reply` to the bundle's first source, with `--identity` for each of `ids`.
fn reply_with(bundle: &Path, ids: &[&Path]) -> Output {
    let source = manifest(bundle)["sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = bundle.with_file_name("reply.txt");
    std::fs::write(&file, "we read you").unwrap();
    let mut args = vec![
        "reply".to_owned(),
        "--bundle".into(),
        bundle.to_str().unwrap().into(),
        "--source".into(),
        source,
        "--message-file".into(),
        file.to_str().unwrap().into(),
    ];
    for id in ids {
        args.extend(["--identity".to_owned(), id.to_str().unwrap().to_owned()]);
    }
    sanduq(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The content files of the bundle's items.
fn contents(bundle: &Path) -> Vec<PathBuf> {
    manifest(bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| bundle.join(format!("items/{}.age", i["id"].as_str().unwrap())))
        .collect()
}

/// rotate-key refuses the key the editor has, an unknown editor and a malformed key, each
/// with one line.
fn refusals(server: &Server, new: &str) {
    for (args, why) in [
        (
            ["rotate-key", "--name", "ana", "--recipient", new],
            "same key",
        ),
        (
            ["rotate-key", "--name", "nobody", "--recipient", new],
            "no such editor",
        ),
        (
            ["rotate-key", "--name", "ana", "--recipient", "age1nonsense"],
            "bad key",
        ),
    ] {
        let o = admin(server, &args);
        assert_eq!(o.status.code(), Some(1), "{why}: {}", stderr(&o));
        assert_eq!(
            stderr(&o).trim().lines().count(),
            1,
            "{why}: one line: {}",
            stderr(&o)
        );
    }
}

/// The reference age CLI opens the item sent `before` with the `old` key only, and the one
/// sent `after` with the `new` key only.
fn old_before_new_after(bundle: &Path, old: &Path, new: &Path, before: &str, after: &str) {
    // The reference age CLI: the item from before opens with the old key only, the one
    // from after with the new key only.
    let files = contents(bundle);
    assert_eq!(files.len(), 2);
    let mut seen = Vec::new();
    for f in &files {
        let (by_old, by_new) = (age_open(old, f), age_open(new, f));
        assert!(
            by_old.is_some() != by_new.is_some(),
            "exactly one key opens {f:?}"
        );
        seen.push(match (by_old, by_new) {
            (Some(text), None) => ("old", text),
            (None, Some(text)) => ("new", text),
            _ => unreachable!(),
        });
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("new", after.as_bytes().to_vec()),
            ("old", before.as_bytes().to_vec())
        ],
        "new items go to the new key, nothing old is re-encrypted"
    );
}

/// What [`rotate_between_two_items`] leaves: ana's bundle holding one item sent before her
/// key was rotated and one sent after.
struct Rotated {
    ana: EditorKeys,
    new_key: PathBuf,
    bundle: PathBuf,
    before: String,
    after: String,
}

/// On the running `server` (no restart): editors ana and bo, an item, ana's key rotated, an
/// item; checks that the reference age CLI opens the first with the old key only and the
/// second with the new key only.
async fn rotate_between_two_items(server: &Server) -> Rotated {
    let ana = server.add_editor("ana", None);
    let _bo = server.add_editor("bo", None);
    let v = Visitor::new(server).await;
    let (before, after) = (marker(), marker());
    assert_eq!(
        v.submit(server, &[Part::text("message", before.as_bytes())])
            .await
            .0,
        200
    );
    let bundle = server.dir.path().join("b");
    let o = fetch(server, &ana, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));

    // The new key, on the running server: no restart.
    let new_key = server.dir.path().join("ana-new.key");
    let new = sanduq_ok(&["keygen", "-o", new_key.to_str().unwrap()])
        .trim()
        .to_owned();
    let o = admin(
        server,
        &["rotate-key", "--name", "ana", "--recipient", &new],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("sanduq accept") && stderr(&o).contains("--identity OLD"),
        "rotate-key says what editors do next: {}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("one editor"),
        "two editors: no warning"
    );
    refusals(server, &new);
    assert_eq!(
        v.submit(server, &[Part::text("message", after.as_bytes())])
            .await
            .0,
        200
    );

    // The bundle holds the change to the desk's editors until ana accepts it.
    let o = fetch(server, &ana, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("added:   {new}"))
            && stderr(&o).contains(&format!("removed: {}", ana.recipient)),
        "fetch names the rotated key: {}",
        stderr(&o)
    );

    old_before_new_after(&bundle, &ana.identity, &new_key, &before, &after);

    Rotated {
        ana,
        new_key,
        bundle,
        before,
        after,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_takes_new_items_at_once_and_both_keys_read_everything() {
    let server = Server::start_default();
    let Rotated {
        ana,
        new_key,
        bundle,
        before,
        after,
    } = rotate_between_two_items(&server).await;
    // sanduq decrypt: one key reads its share and says the other needs the old key too;
    // both read all.
    for (key, name, text) in [(&ana.identity, "old", &before), (&new_key, "new", &after)] {
        let out = server.dir.path().join(format!("out-{name}"));
        let o = decrypt_with(&[key], &bundle, &out);
        let err = stderr(&o);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains("decrypted 1 item into")
                && err.contains("1 not for your key")
                && err.contains("1 item received on")
                && err.contains("--identity OLD --identity NEW"),
            "the {name} key alone: {err}"
        );
        let got: String = files_under(&out)
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect();
        assert!(got.contains(text.as_str()), "the {name} key reads its item");
    }
    let out = server.dir.path().join("out-both");
    let o = decrypt_with(&[&ana.identity, &new_key], &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("decrypted 2 items") && stderr(&o).contains("0 not for your key"),
        "{}",
        stderr(&o)
    );
    let all: String = files_under(&out)
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    assert!(all.contains(&before) && all.contains(&after));

    // reply --identity: refused while the new key is not accepted, written once it is.
    let o = reply_with(&bundle, &[&new_key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("sanduq accept"), "{}", stderr(&o));
    let o = reply_with(&bundle, &[&ana.identity, &new_key]);
    assert!(
        o.status.success(),
        "the old key is still accepted: {}",
        stderr(&o)
    );
    let shown = String::from_utf8(sanduq(&["accept", "--bundle", bundle.to_str().unwrap()]).stdout)
        .unwrap();
    let code = shown
        .split("--change ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a code to accept")
        .to_owned();
    sanduq_ok(&[
        "accept",
        "--bundle",
        bundle.to_str().unwrap(),
        "--change",
        &code,
    ]);
    let o = reply_with(&bundle, &[&new_key]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reply = PathBuf::from(String::from_utf8(o.stdout).unwrap().trim());
    assert_eq!(
        age_open(&new_key, &reply).as_deref(),
        Some(&b"we read you"[..])
    );
    assert_eq!(age_open(&ana.identity, &reply), None, "the old key is gone");

    // Removing bo leaves one editor: the operator is warned.
    let o = admin(&server, &["remove", "--name", "bo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("has one editor"), "{}", stderr(&o));
}

/// `GET /api/v1/items` as `ed`.
async fn listing(server: &Server, ed: &EditorKeys) -> serde_json::Value {
    let token = std::fs::read_to_string(&ed.token_file).unwrap();
    reqwest::Client::new()
        .get(format!("{}/api/v1/items", server.api_url()))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn ids(v: &serde_json::Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v[key]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|x| {
            x.as_str()
                .map_or_else(|| x["id"].as_str().unwrap().to_owned(), str::to_owned)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn editors_of_a_desk_see_what_another_has_fetched_and_no_other_desk_does() {
    let mut server = Server::init(|t| t + "\n[[desk]]\nname = \"lawyers\"\n");
    server.start();
    let ana = server.add_editor("ana", None);
    let bo = server.add_editor("bo", None);
    let lev = server.add_editor("lev", Some("lawyers"));
    let v = Visitor::new(&server).await;
    for (desk, text) in [("default", "one"), ("default", "two"), ("lawyers", "three")] {
        let parts = [
            Part::text("desk", desk.as_bytes()),
            Part::text("message", text.as_bytes()),
        ];
        assert_eq!(v.submit(&server, &parts).await.0, 200);
    }
    let desk_items = ids(&listing(&server, &ana).await, "items");
    assert_eq!(desk_items.len(), 2);
    assert!(
        ids(&listing(&server, &bo).await, "fetched").is_empty(),
        "nothing fetched yet"
    );

    let [a, b, l] = ["a", "b", "l"].map(|n| server.dir.path().join(n));
    let o = fetch(&server, &ana, &a);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 of the 2 new items had already been fetched by another editor"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        ids(&listing(&server, &bo).await, "fetched"),
        desk_items,
        "bo's listing shows what ana fetched"
    );
    let o = fetch(&server, &bo, &b);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 of the 2 new items had already been fetched by another editor"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        ids(&manifest(&b), "fetched_elsewhere"),
        desk_items,
        "the manifest keeps it"
    );
    assert_eq!(
        ids(&manifest(&a), "fetched_elsewhere"),
        Vec::<String>::new()
    );

    // Another desk: its item is not marked by this desk's fetches, nor by this desk's editor
    // naming it; its own editor's fetch says none was taken.
    let lawyers = listing(&server, &lev).await;
    assert_eq!(ids(&lawyers, "items").len(), 1);
    assert!(ids(&lawyers, "fetched").is_empty());
    let token = std::fs::read_to_string(&ana.token_file).unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/fetched", server.api_url()))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({ "ids": ids(&lawyers, "items") }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        204,
        "the same answer as for its own items"
    );
    assert!(
        ids(&listing(&server, &lev).await, "fetched").is_empty(),
        "an editor of another desk marks nothing here"
    );
    // Without a token, or with a body that names no item, nothing is marked.
    let url = format!("{}/api/v1/fetched", server.api_url());
    let body = serde_json::json!({ "ids": ids(&lawyers, "items") });
    let res = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = reqwest::Client::new()
        .post(&url)
        .bearer_auth(std::fs::read_to_string(&lev.token_file).unwrap().trim())
        .json(&serde_json::json!({ "ids": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(ids(&listing(&server, &lev).await, "fetched").is_empty());
    let o = fetch(&server, &lev, &l);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 of the 1 new item had already been fetched"),
        "{}",
        stderr(&o)
    );
}

/// Several nodes share one metadata store and read the desk's editors from it for each
/// submission: a server on PostgreSQL takes a rotated key at once, as the embedded one does.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_on_postgresql_takes_a_rotated_key_at_once() {
    let pg = crate::common::pg::PgCluster::start();
    let url = pg.database("keys").await;
    let mut server = Server::init(|t| in_store_table(t, &format!("metadata = \"{url}\"")));
    server.start();
    let r = rotate_between_two_items(&server).await;
    assert_eq!(contents(&r.bundle).len(), 2);
}
