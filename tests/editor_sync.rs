//! Fetch over a Tor-like link (tests/common/slowlink.rs): batches of items in one response,
//! resumed after a cut, refused when hostile, scoped to the editor's desk; and the progress
//! and summary lines of fetch, decrypt and push as a log (not a terminal) sees them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use crate::common::slowlink::{LinkSpec, SlowLink};
use crate::common::*;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `sanduq fetch` against the editor API at `api` (a link in front of it, say).
fn fetch_from(api: SocketAddr, token_file: &Path, bundle: &Path) -> Output {
    Command::new(BIN)
        .args([
            "fetch",
            "--server",
            &format!("http://{api}"),
            "--token-file",
        ])
        .arg(token_file)
        .arg("--bundle")
        .arg(bundle)
        .output()
        .expect("run sanduq")
}

/// `n` files of 1 KiB, `per` to a submission, each submission from a new source; their
/// names carry `marker`, which no progress or summary line may show.
async fn submit_files(server: &Server, n: usize, per: usize, marker: &str) {
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 7) as u8).collect();
    let names: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("{marker}-{i}.bin").into_bytes())
        .collect();
    for chunk in names.chunks(per) {
        let v = Visitor::new(server).await;
        let parts: Vec<Part<'_>> = chunk.iter().map(|f| Part::file(f, &data)).collect();
        assert_eq!(v.submit(server, &parts).await.0, 200);
    }
}

fn manifest_ids(bundle: &Path) -> Vec<String> {
    manifest(bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fetch_over_a_tor_like_link_arrives_whole_and_says_what_it_did() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let marker = marker();
    submit_files(&server, 300, 50, &marker).await;
    let link = SlowLink::start(server.api, LinkSpec::tor_like());
    let bundle = server.dir.path().join("b");
    let o = fetch_from(link.addr, &ed.token_file, &bundle);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // A log sees a progress line at the end, then the summary: counts and sizes only.
    assert!(
        err.lines().any(|l| l.starts_with("fetch: 300/300 items, ")),
        "{err}"
    );
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("fetched 300 new items from 6 sources ("),
        "{err}"
    );
    assert!(!err.contains(&marker), "{err}");
    let mut ids = manifest_ids(&bundle);
    assert_eq!(ids.len(), 300);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 300, "no item twice");

    // Nothing new: the unchanged listing is not sent again.
    let o = fetch_from(link.addr, &ed.token_file, &bundle);
    assert!(
        stderr(&o).contains(
            "fetched 0 new items; 300 already in the bundle (the server's listing has not changed)"
        ),
        "{}",
        stderr(&o)
    );
    // One item more: the listing is sent again, and only the new item fetched.
    submit_files(&server, 1, 1, &marker).await;
    let o = fetch_from(link.addr, &ed.token_file, &bundle);
    assert!(
        stderr(&o).contains("fetched 1 new item from 1 source (")
            && stderr(&o).contains("300 already"),
        "{}",
        stderr(&o)
    );

    let out = server.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("decrypt: 301/301 items, ")),
        "{err}"
    );
    assert!(
        err.contains("decrypted 301 items into ")
            && err.contains("; 0 done before and skipped, 0 refused"),
        "{err}"
    );
    assert!(!err.contains(&marker), "{err}");
    let written = files_under(&out)
        .iter()
        .filter(|p| p.to_string_lossy().contains(&marker))
        .count();
    assert_eq!(written, 301, "every file decrypts");

    let o = reply_and_push(&server, &ed, &bundle, "we read you");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("push: 1/1 items, ")),
        "{err}"
    );
    assert!(
        err.contains("pushed 1 reply in ") && err.contains("; 0 not pushed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_cut_mid_batch_resumes_without_losing_or_repeating_an_item() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    submit_files(&server, 200, 100, &marker()).await;
    // Every connection is cut after 40 KB towards the client: each batch needs several.
    let link = SlowLink::start(
        server.api,
        LinkSpec {
            one_way: Duration::from_millis(5),
            bytes_per_sec: 50_000_000,
            cut_after: Some(40_000),
        },
    );
    let bundle = server.dir.path().join("b");
    let o = fetch_from(link.addr, &ed.token_file, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(link.cuts() >= 3, "the link cut {} connections", link.cuts());
    let mut ids = manifest_ids(&bundle);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "{}", stderr(&o));
    assert_eq!(manifest_ids(&bundle).len(), 200, "no item twice");
    let leftovers: Vec<_> = files_under(&bundle)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let o = decrypt(&ed.identity, &bundle, &server.dir.path().join("out"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("decrypted 200 items"), "{}", stderr(&o));
}

/// `POST /api/v1/batch` with `token_file`'s token; the status and body.
async fn batch(server: &Server, token_file: &Path, ids: &[String]) -> (u16, Vec<u8>) {
    let token = std::fs::read_to_string(token_file).unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/batch", server.api_url()))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({ "ids": ids }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap().to_vec())
}

/// The frame of an item the batch does not give: its id and two zero lengths.
fn absent(id: &str) -> Vec<u8> {
    let mut f = hex::decode(id).unwrap();
    f.extend_from_slice(&[0; 16]);
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_answers_another_desks_item_as_an_unknown_one() {
    let mut server = Server::configured(|c| {
        c.desk("lawyers", Some("Lawyers' collective"));
    });
    server.start();
    let ana = server.add_editor("ana", Some("default"));
    let lev = server.add_editor("lev", Some("lawyers"));
    let v = Visitor::new(&server).await;
    let parts = [
        Part::text("desk", b"lawyers"),
        Part::text("message", b"for the lawyers"),
    ];
    assert_eq!(v.submit(&server, &parts).await.0, 200);
    let bundle = server.dir.path().join("lev");
    assert!(fetch(&server, &lev, &bundle).status.success());
    let theirs = manifest_ids(&bundle)[0].clone();
    let unknown = "0123456789abcdef0123456789abcdef".to_owned();

    let (status, body) = batch(&server, &ana.token_file, &[theirs.clone(), unknown.clone()]).await;
    assert_eq!(status, 200);
    let mut expected = b"sanduq-batch-1\n".to_vec();
    expected.extend(absent(&theirs));
    expected.extend(absent(&unknown));
    assert_eq!(
        body, expected,
        "another desk's item is answered as an unknown one"
    );

    // Its own desk's editor gets it: the id, both lengths, both age files.
    let (status, body) = batch(&server, &lev.token_file, std::slice::from_ref(&theirs)).await;
    assert_eq!(status, 200);
    assert_eq!(&body[15..31], &hex::decode(&theirs).unwrap()[..]);
    let meta_len = u64::from_be_bytes(body[31..39].try_into().unwrap()) as usize;
    let len = u64::from_be_bytes(body[39..47].try_into().unwrap()) as usize;
    assert_eq!(body.len(), 47 + meta_len + len);
    assert!(body[47..].starts_with(b"age-encryption.org/v1\n"));
    assert!(body[47 + meta_len..].starts_with(b"age-encryption.org/v1\n"));

    // Authentication and bounds as on every route.
    let bad = server.dir.path().join("bad.token");
    std::fs::write(&bad, format!("sanduq-token-{}", "A".repeat(43))).unwrap();
    assert_eq!(
        batch(&server, &bad, std::slice::from_ref(&theirs)).await.0,
        401
    );
    assert_eq!(batch(&server, &ana.token_file, &[]).await.0, 400);
    let many: Vec<String> = (0..1001).map(|n| format!("{n:032x}")).collect();
    assert_eq!(batch(&server, &ana.token_file, &many).await.0, 400);
}

/// What a fake editor API answers to the batch route, given the ids it lists.
type BatchAnswer = Box<dyn Fn(&[String]) -> Option<Vec<u8>> + Send + Sync>;

/// An editor API that lists `n` items of 100 + 100 bytes and answers the batch route with
/// `answer` (404 for `None`); the per-object routes serve each file whole.
fn fake_api(n: usize, answer: BatchAnswer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ids: Vec<String> = (1..=n).map(|i| format!("{i:032x}")).collect();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (ids, answer) = (ids.clone(), answer.clone());
            std::thread::spawn(move || serve(conn, &ids, &answer));
        }
    });
    addr
}

/// An age file's first bytes, padded to 100.
fn file() -> Vec<u8> {
    let mut f = b"age-encryption.org/v1\n".to_vec();
    f.resize(100, b'x');
    f
}

/// A well-formed frame of item `id`.
fn frame(id: &str) -> Vec<u8> {
    let mut f = hex::decode(id).unwrap();
    f.extend_from_slice(&100u64.to_be_bytes());
    f.extend_from_slice(&100u64.to_be_bytes());
    f.extend(file());
    f.extend(file());
    f
}

fn serve(conn: TcpStream, ids: &[String], answer: &BatchAnswer) -> Option<()> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let items: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"id":"{id}","source":"{id}","desk":"default","day":"2026-11-28","size":100,"meta_size":100}}"#))
        .collect();
    let reply = match path.as_str() {
        "/api/v1/items" => Some(
            format!(
                r#"{{"desk":"default","items":[{}],"sources":[],"editors":[]}}"#,
                items.join(",")
            )
            .into_bytes(),
        ),
        "/api/v1/batch" => answer(ids),
        p if p.ends_with("/content") || p.ends_with("/meta") => Some(file()),
        _ => None,
    };
    let mut w = conn;
    match reply {
        // No length: the body ends when the connection closes, as a cut stream would look.
        Some(b) => {
            w.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .ok()?;
            w.write_all(&b).ok()?;
        }
        None => {
            w.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .ok()?;
        }
    }
    Some(())
}

/// Fetches from `api`: the output and the ids in the manifest.
fn fetch_fake(api: SocketAddr, dir: &Path) -> (Output, Vec<String>) {
    let token = dir.join("token");
    std::fs::write(&token, format!("sanduq-token-{}\n", "A".repeat(43))).unwrap();
    let bundle = dir.join("bundle");
    let o = fetch_from(api, &token, &bundle);
    let ids = if bundle.join("manifest.json").exists() {
        manifest_ids(&bundle)
    } else {
        Vec::new()
    };
    (o, ids)
}

fn refused_in_one_line(o: &Output, why: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("batch answer is refused") && err.contains(why),
        "{err}"
    );
}

#[test]
fn a_hostile_batch_answer_is_refused_and_leaves_no_half_item() {
    let magic = || b"sanduq-batch-1\n".to_vec();
    // The second item announced longer than its listing says.
    let longer: BatchAnswer = Box::new(move |ids| {
        let mut b = magic();
        b.extend(frame(&ids[0]));
        let mut f = frame(&ids[1]);
        f[24..32].copy_from_slice(&200u64.to_be_bytes());
        f.extend(file());
        b.extend(f);
        Some(b)
    });
    // An item that was not asked for, where the second was due.
    let stranger: BatchAnswer = Box::new(move |ids| {
        let mut b = magic();
        b.extend(frame(&ids[0]));
        b.extend(frame(&"f".repeat(32)));
        Some(b)
    });
    // More bytes after an item than announced: read as the next frame, which is wrong.
    let overlong: BatchAnswer = Box::new(move |ids| {
        let mut b = magic();
        b.extend(frame(&ids[0]));
        b.extend(b"trailing bytes of the first item, then the rest..");
        Some(b)
    });
    // Cut in the middle of the second item, and ended cleanly there.
    let truncated: BatchAnswer = Box::new(move |ids| {
        let mut b = magic();
        b.extend(frame(&ids[0]));
        b.extend(&frame(&ids[1])[..150]);
        Some(b)
    });
    for (answer, why) in [
        (longer, "listing said 100 + 100"),
        (stranger, "not asked for"),
        (overlong, "not asked for"),
        (truncated, "ended before every item"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (o, ids) = fetch_fake(fake_api(3, answer), dir.path());
        refused_in_one_line(&o, why);
        // The first item came whole and is kept; nothing of the second is in the manifest.
        assert_eq!(ids, vec![format!("{:032x}", 1)], "{}", stderr(&o));
        let second = dir.path().join(format!("bundle/items/{:032x}.age", 2));
        assert!(!second.exists());
    }
}

#[test]
fn a_server_without_the_batch_route_is_fetched_object_by_object() {
    let dir = tempfile::tempdir().unwrap();
    let (o, ids) = fetch_fake(fake_api(5, Box::new(|_| None)), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ids.len(), 5);
    assert!(
        stderr(&o).contains("fetched 5 new items from 5 sources"),
        "{}",
        stderr(&o)
    );
}
