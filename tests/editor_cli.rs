use std::path::Path;
use std::process::Command;

use crate::common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn items(bundle: &Path) -> Vec<serde_json::Value> {
    manifest(bundle)["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_age_cli_decrypts_stored_items() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let photo: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert_eq!(
        v.submit(&server, &[Part::file(b"photo.jpg", &photo)])
            .await
            .0,
        200
    );
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let id = items(&bundle)[0]["id"].as_str().unwrap().to_owned();
    let age = Command::new("age")
        .args(["-d", "-i", ed.identity.to_str().unwrap()])
        .arg(bundle.join(format!("items/{id}.age")))
        .output()
        .expect("the reference age CLI (Debian package `age`) must be installed: scripts/test.sh installs it");
    assert!(age.status.success(), "age -d failed: {}", stderr(&age));
    assert_eq!(
        age.stdout, photo,
        "age -d yields the original file, no sanduq code involved"
    );
    let meta = Command::new("age")
        .args(["-d", "-i", ed.identity.to_str().unwrap()])
        .arg(bundle.join(format!("items/{id}.meta.age")))
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    assert_eq!(meta["filename"], "photo.jpg");
    assert_eq!(meta["size"], 1_000_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_is_incremental_and_resumes_a_partial_download() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"first")])
            .await
            .0,
        200
    );
    let bundle = server.dir.path().join("b");
    let o = fetch(&server, &ed, &bundle);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("fetched 1 new item"), "{}", stderr(&o));
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(
        v.submit(&server, &[Part::file(b"two.bin", &data)]).await.0,
        200
    );
    let o = fetch(&server, &ed, &bundle);
    assert!(
        stderr(&o).contains("fetched 1 new item") && stderr(&o).contains("1 already"),
        "{}",
        stderr(&o)
    );
    assert_eq!(items(&bundle).len(), 2);

    // An interrupted download: a second bundle holds the first half of the big item as a
    // .part file, with one byte marked so we can tell it was kept and extended, not refetched.
    let big = items(&bundle)
        .into_iter()
        .find(|i| i["size"].as_u64().unwrap() > 1_000_000)
        .unwrap();
    let id = big["id"].as_str().unwrap();
    let full = std::fs::read(bundle.join(format!("items/{id}.age"))).unwrap();
    let b2 = server.dir.path().join("b2");
    std::fs::create_dir_all(b2.join("items")).unwrap();
    let mut half = full[..full.len() / 2].to_vec();
    half[500] ^= 0xff;
    std::fs::write(b2.join(format!("items/{id}.age.part")), &half).unwrap();
    let o = fetch(&server, &ed, &b2);
    assert!(o.status.success(), "{}", stderr(&o));
    let resumed = std::fs::read(b2.join(format!("items/{id}.age"))).unwrap();
    assert_eq!(resumed.len(), full.len());
    assert_eq!(
        resumed[500],
        full[500] ^ 0xff,
        "the partial file was resumed, not downloaded again"
    );
    assert_eq!(resumed[full.len() / 2..], full[full.len() / 2..]);
    assert!(!b2.join(format!("items/{id}.age.part")).exists());
    // Decrypting that resumed-but-corrupted item fails cleanly: age authenticates.
    let out = server.dir.path().join("o2");
    let o = decrypt(&ed.identity, &b2, &out);
    assert_eq!(o.status.code(), Some(1));
    // A bundle item lost on the way is fetched again.
    std::fs::remove_file(b2.join(format!("items/{id}.age"))).unwrap();
    let o = fetch(&server, &ed, &b2);
    assert!(stderr(&o).contains("fetched 1 new item"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(b2.join(format!("items/{id}.age"))).unwrap(),
        full
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_filenames_stay_inside_out_and_nothing_is_overwritten() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let long = "ж".repeat(500) + ".txt";
    let names: Vec<Vec<u8>> = vec![
        b"../../escape.txt".to_vec(),
        b"/etc/passwd".to_vec(),
        b"..\\..\\win.txt".to_vec(),
        b"percent%00byte.txt".to_vec(),
        "photo\u{202E}gpj.exe".as_bytes().to_vec(),
        long.as_bytes().to_vec(),
        // The same name at the longest a file name may be: the copy is numbered all the same.
        long.as_bytes().to_vec(),
        b"Case.txt".to_vec(),
        b"case.txt".to_vec(),
        b"same.txt".to_vec(),
        b"same.txt".to_vec(),
        b"index.jsonl".to_vec(),
        b"..".to_vec(),
    ];
    let contents: Vec<Vec<u8>> = (0..names.len())
        .map(|i| format!("content {i}").into_bytes())
        .collect();
    let parts: Vec<Part<'_>> = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| Part::file(n, c))
        .collect();
    let (s, page) = v.submit(&server, &parts).await;
    assert_eq!(s, 200, "{page}");
    // A raw NUL in a part header is malformed HTTP: refused whole, nothing stored.
    let before = server.blob_files().len();
    let (s, _) = v
        .submit(&server, &[Part::file(b"nul\x00byte.txt", b"x")])
        .await;
    assert_eq!(s, 400);
    assert_eq!(server.blob_files().len(), before);
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let root = server.dir.path().join("decrypt-root");
    let out = root.join("out");
    std::fs::create_dir_all(&root).unwrap();
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    // Nothing next to --out, nothing above it.
    let beside: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["out"]);
    assert!(!server.dir.path().join("escape.txt").exists());
    let files: Vec<_> = files_under(&out)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap();
            n != "index.jsonl" && n != ".sanduq-decrypted" && n != "conversation.txt"
        })
        .collect();
    assert_eq!(files.len(), names.len(), "{files:#?}");
    let mut lower: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_lowercase())
        .collect();
    lower.sort();
    lower.dedup();
    assert_eq!(
        lower.len(),
        names.len(),
        "every name distinct, even ignoring case"
    );
    let mut got: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    got.sort();
    let mut want = contents.clone();
    want.sort();
    assert_eq!(got, want, "every file intact");
    for p in &files {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(n.len() <= 180, "{n}");
        assert!(
            !n.contains('\u{202E}') && !n.contains('\0') && !n.starts_with('.'),
            "{n:?}"
        );
    }
    // The index is sanduq's, not the source's file of the same name.
    let dir = files[0].parent().unwrap();
    for line in std::fs::read_to_string(dir.join("index.jsonl"))
        .unwrap()
        .lines()
    {
        serde_json::from_str::<serde_json::Value>(line).expect("every index line is sanduq's JSON");
    }
    // A second run decrypts nothing again and overwrites nothing.
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("decrypted 0 items")
            && stderr(&o).contains(&format!("{} done before", names.len())),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_or_tampered_items_fail_with_one_line_and_no_output() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let big: Vec<u8> = vec![3u8; 500_000];
    assert_eq!(
        v.submit(&server, &[Part::file(b"truncated.bin", &big)])
            .await
            .0,
        200
    );
    assert_eq!(
        v.submit(&server, &[Part::file(b"tampered.bin", &big)])
            .await
            .0,
        200
    );
    assert_eq!(
        v.submit(&server, &[Part::file(b"good.bin", &big)]).await.0,
        200
    );
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let out = server.dir.path().join("out");
    // Decrypt one, to learn which item is which.
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success());
    let mut by_name = std::collections::HashMap::new();
    for idx in files_under(&out)
        .into_iter()
        .filter(|p| p.ends_with("index.jsonl"))
    {
        for line in std::fs::read_to_string(idx).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            by_name.insert(
                v["file"].as_str().unwrap().to_owned(),
                v["item"].as_str().unwrap().to_owned(),
            );
        }
    }
    let truncated = &by_name["truncated.bin"];
    let tampered = &by_name["tampered.bin"];
    let t = bundle.join(format!("items/{truncated}.age"));
    let bytes = std::fs::read(&t).unwrap();
    std::fs::write(&t, &bytes[..bytes.len() - 1000]).unwrap();
    let t = bundle.join(format!("items/{tampered}.age"));
    let mut bytes = std::fs::read(&t).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x01;
    std::fs::write(&t, &bytes).unwrap();

    let out2 = server.dir.path().join("out2");
    let o = decrypt(&ed.identity, &bundle, &out2);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<_> = err
        .lines()
        .filter(|l| l.starts_with("sanduq: item"))
        .collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(truncated.as_str()) && l.contains("truncated")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(tampered.as_str()) && l.contains("damaged")),
        "{err}"
    );
    let names: Vec<String> = files_under(&out2)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"good.bin".to_owned()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("truncated") || n.contains("tampered") || n.contains("partial")),
        "no partial output: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_items_from_disk_and_listing() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    assert_eq!(
        v.submit(
            &server,
            &[Part::text("message", b"one"), Part::file(b"f", b"two")]
        )
        .await
        .0,
        200
    );
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let ids: Vec<String> = items(&bundle)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(server.blob_files().len(), 4);
    let api = server.api_url();
    let mut args = vec![
        "delete",
        "--server",
        &api,
        "--token-file",
        ed.token_file.to_str().unwrap(),
    ];
    args.push(&ids[0]);
    let o = sanduq(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.blob_files().len(), 2);
    assert!(server
        .blob_files()
        .iter()
        .all(|p| !p.to_string_lossy().contains(&ids[0])));
    // Deleting it again, or an id the desk does not have, is counted as already gone on one
    // line, not an error; the rest goes on.
    args.push("ffffffffffffffffffffffffffffffff");
    args.push(&ids[1]);
    let o = sanduq(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "deleted 1 item; 2 already gone (deleted before, or past retention)"
    );
    assert!(server.blob_files().is_empty());
    let b2 = server.dir.path().join("b2");
    assert!(fetch(&server, &ed, &b2).status.success());
    assert!(items(&b2).is_empty());
    // The row is gone from the database file too (secure_delete).
    let db = std::fs::read(server.data().join("meta.sqlite")).unwrap();
    let wal = std::fs::read(server.data().join("meta.sqlite-wal")).unwrap_or_default();
    for id in &ids {
        let hit = |b: &[u8]| b.windows(id.len()).any(|w| w == id.as_bytes());
        assert!(!hit(&db), "{id} still in meta.sqlite");
        assert!(!hit(&wal), "the deleted row is gone from the WAL too");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn passphrase_protected_identity_works_in_sanduq_and_age() {
    let server = Server::start_default();
    let key = server.dir.path().join("protected.age");
    let o = with_terminal(
        format!("{BIN} keygen --passphrase -o {}", key.display()),
        "correct horse\ncorrect horse\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!text.contains("AGE-SECRET-KEY"));
    let recipient = String::from_utf8_lossy(&o.stdout)
        .lines()
        .rev()
        .find(|l| l.trim().starts_with("age1"))
        .unwrap()
        .trim()
        .to_owned();
    let ed = server.register("ana", &recipient, None, key.clone());
    let v = Visitor::new(&server).await;
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"behind a passphrase")])
            .await
            .0,
        200
    );
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let out = server.dir.path().join("out");
    let o = with_terminal(
        format!(
            "{BIN} decrypt -i {} --bundle {} --out {}",
            key.display(),
            bundle.display(),
            out.display()
        ),
        "correct horse\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let msg = files_under(&out)
        .into_iter()
        .find(|p| p.ends_with("message.txt"))
        .expect("decrypted");
    assert_eq!(std::fs::read_to_string(msg).unwrap(), "behind a passphrase");
    // A wrong passphrase: one clear line, exit 1, nothing written.
    let out2 = server.dir.path().join("out2");
    let o = with_terminal(
        format!(
            "{BIN} decrypt -i {} --bundle {} --out {}",
            key.display(),
            bundle.display(),
            out2.display()
        ),
        "wrong\n",
    );
    assert!(!o.status.success());
    assert!(files_under(&out2)
        .iter()
        .all(|p| !p.ends_with("message.txt")));
}

#[test]
fn keygen_makes_a_private_identity_that_age_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.txt");
    let r = sanduq_ok(&["keygen", "-o", key.to_str().unwrap()]);
    assert!(r.trim().starts_with("age1") && r.trim().len() == 62);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = sanduq(&["keygen", "-o", key.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "never overwrites a key");
    // The reference CLI encrypts to the recipient and decrypts with the file.
    let plain = b"interop";
    let mut enc = Command::new("age")
        .args(["-r", r.trim()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("age installed");
    use std::io::Write;
    enc.stdin.take().unwrap().write_all(plain).unwrap();
    let ct = enc.wait_with_output().unwrap().stdout;
    let ctf = dir.path().join("x.age");
    std::fs::write(&ctf, ct).unwrap();
    let dec = Command::new("age")
        .args(["-d", "-i", key.to_str().unwrap(), ctf.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(dec.stdout, plain);
}

/// A minimal SOCKS5 proxy, as Tor offers, that records the host names it is asked for and
/// connects every request to the given address.
async fn socks5_proxy(
    target: std::net::SocketAddr,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 2];
                c.read_exact(&mut head).await.ok()?;
                let mut methods = vec![0u8; head[1] as usize];
                c.read_exact(&mut methods).await.ok()?;
                c.write_all(&[5, 0]).await.ok()?;
                let mut req = [0u8; 4];
                c.read_exact(&mut req).await.ok()?;
                let host = match req[3] {
                    3 => {
                        let mut len = [0u8; 1];
                        c.read_exact(&mut len).await.ok()?;
                        let mut name = vec![0u8; len[0] as usize];
                        c.read_exact(&mut name).await.ok()?;
                        String::from_utf8(name).ok()?
                    }
                    1 => {
                        let mut ip = [0u8; 4];
                        c.read_exact(&mut ip).await.ok()?;
                        std::net::Ipv4Addr::from(ip).to_string()
                    }
                    _ => return None,
                };
                let mut port = [0u8; 2];
                c.read_exact(&mut port).await.ok()?;
                seen.lock().unwrap().push(host);
                let mut up = tokio::net::TcpStream::connect(target).await.ok()?;
                c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.ok()?;
                tokio::io::copy_bidirectional(&mut c, &mut up).await.ok()
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_and_delete_go_through_a_socks5h_proxy_with_remote_names() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    assert_eq!(
        v.submit(&server, &[Part::text("message", b"over tor")])
            .await
            .0,
        200
    );
    let (proxy, seen) = socks5_proxy(server.api).await;
    // A name only the proxy can resolve, as a .onion address is.
    let onion = format!(
        "http://sanduqtestxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion:{}",
        server.api.port()
    );
    let bundle = server.dir.path().join("b");
    let proxy_url = format!("socks5h://{proxy}");
    let args: Vec<String> = [
        "fetch",
        "--server",
        &onion,
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--proxy",
        &proxy_url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The proxy runs on this test's runtime: run the CLI off it.
    let o = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sanduq(&args)
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(items(&bundle).len(), 1);
    let names = seen.lock().unwrap().clone();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.ends_with(".onion")),
        "the proxy resolved the name: {names:?}"
    );
    // Without the proxy the same address cannot be reached: nothing bypasses it.
    let direct = sanduq(&[
        "fetch",
        "--server",
        &onion,
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(direct.status.code(), Some(1));
    assert_eq!(
        stderr(&direct).trim().lines().count(),
        1,
        "{}",
        stderr(&direct)
    );
    // A proxy that is not SOCKS is refused with one line.
    let bad = sanduq(&[
        "fetch",
        "--server",
        &onion,
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--proxy",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("socks5h"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_whose_items_were_deleted_is_no_longer_listed_but_can_be_answered() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let answered = Visitor::new(&server).await;
    let (_, page) = answered
        .submit(&server, &[Part::text("message", b"answer me later")])
        .await;
    let codename = codename_in(&page);
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let gone = manifest(&bundle)["sources"][0].clone();
    let ids: Vec<String> = items(&bundle)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let api = server.api_url();
    let token_file = ed.token_file.to_str().unwrap();
    let mut args = vec!["delete", "--server", &api, "--token-file", token_file];
    args.extend(ids.iter().map(String::as_str));
    let o = sanduq(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    // Another source writes: the listing names it, and not the one without items.
    let (s, _) = Visitor::new(&server)
        .await
        .submit(&server, &[Part::text("message", b"another")])
        .await;
    assert_eq!(s, 200);
    let token = std::fs::read_to_string(&ed.token_file).unwrap();
    let listing: serde_json::Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{api}/api/v1/items"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listing["sources"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listing}");
    assert_ne!(listed[0]["id"], gone["id"]);
    // The bundle keeps the source it already knew, beside the new one, and can answer it.
    assert!(fetch(&server, &ed, &bundle).status.success());
    let known = manifest(&bundle)["sources"].as_array().unwrap().clone();
    assert_eq!(known.len(), 2, "{known:?}");
    assert!(known.contains(&gone));
    let o = reply_to_and_push(
        &server,
        &ed,
        &bundle,
        gone["id"].as_str().unwrap(),
        "We read it.",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let res = login(&server, &answered, &codename).await;
    let cookie = session_cookie(&res).unwrap();
    assert!(page_with(&server, &cookie).await.contains("We read it."));
}
