//! Decrypt's folders: one per source, never shared, and older folders carried over. Bundles
//! are crafted here, with the reference age CLI, to hold sources whose ids nearly match.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Encrypts `plain` to `recipient` with the reference age CLI.
fn age_encrypt(recipient: &str, plain: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = Command::new("age")
        .args(["-r", recipient])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("age installed");
    enc.stdin.take().unwrap().write_all(plain).unwrap();
    enc.wait_with_output().unwrap().stdout
}

/// A key, and a bundle of one message item per `(item, source, text)`, encrypted to it.
fn crafted_bundle(dir: &Path, messages: &[(u64, &str, &str)]) -> (PathBuf, PathBuf) {
    let key = dir.join("k.txt");
    let recipient = sanduq_ok(&["keygen", "-o", key.to_str().unwrap()]);
    let recipient = recipient.trim();
    let bundle = dir.join("b");
    std::fs::create_dir_all(bundle.join("items")).unwrap();
    let mut rows = Vec::new();
    for (n, source, text) in messages {
        let item = format!("{n:032x}");
        let meta = serde_json::json!({
            "id": item, "kind": "message", "filename": null, "content_type": "text/plain",
            "size": text.len(), "received_at": "2026-11-28T10:00:00Z", "source": source,
            "submission": format!("{:032x}", n + 1000), "items": [item],
        });
        let content = age_encrypt(recipient, text.as_bytes());
        let meta = age_encrypt(recipient, meta.to_string().as_bytes());
        std::fs::write(bundle.join(format!("items/{item}.age")), &content).unwrap();
        std::fs::write(bundle.join(format!("items/{item}.meta.age")), &meta).unwrap();
        rows.push(serde_json::json!({
            "id": item, "source": source, "desk": "default", "day": "2026-11-28",
            "size": content.len(), "meta_size": meta.len(),
        }));
    }
    let manifest = serde_json::json!({"format": "sanduq-bundle/1", "items": rows});
    std::fs::write(bundle.join("manifest.json"), manifest.to_string()).unwrap();
    (key, bundle)
}

fn folders(out: &Path) -> Vec<PathBuf> {
    let mut f: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    f.sort();
    f
}

/// Two sources that differ only in their last digit: same designation, same first 31 digits.
const TWINS: [&str; 2] = [
    "3f2a91c0ffee0123456789abcdef0001",
    "3f2a91c0ffee0123456789abcdef0002",
];

#[test]
fn sources_whose_ids_share_a_long_prefix_get_folders_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (key, bundle) = crafted_bundle(
        dir.path(),
        &[
            (1, TWINS[0], "testimony of source 0"),
            (2, TWINS[1], "testimony of source 1"),
        ],
    );
    let out = dir.path().join("out");
    let o = decrypt(&key, &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let folders = folders(&out);
    assert_eq!(folders.len(), 2, "one folder per source: {folders:?}");
    for (n, (folder, source)) in folders.iter().zip(TWINS).enumerate() {
        assert!(
            folder.to_string_lossy().ends_with(source),
            "{}",
            folder.display()
        );
        assert_eq!(
            std::fs::read_to_string(folder.join("message.txt")).unwrap(),
            format!("testimony of source {n}")
        );
        let index = std::fs::read_to_string(folder.join("index.jsonl")).unwrap();
        for line in index.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["source"], source, "the whole id in every line");
        }
    }
}

/// What an older sanduq left in `out`: a folder named with six digits, holding `items`.
fn old_folder(out: &Path, name: &str, items: &[u64]) {
    let folder = out.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut index = String::new();
    let mut done = String::new();
    for n in items {
        let file = format!("old-{n}.txt");
        std::fs::write(folder.join(&file), "decrypted before").unwrap();
        index += &format!("{{\"file\":\"{file}\",\"item\":\"{n:032x}\",\"kind\":\"message\"}}\n");
        done += &format!("{n:032x}\n");
    }
    std::fs::write(folder.join("index.jsonl"), index).unwrap();
    let log = out.join(".sanduq-decrypted");
    let before = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::write(log, before + &done).unwrap();
}

#[test]
fn a_folder_an_older_sanduq_named_is_carried_over_unless_two_sources_share_it() {
    let other = "77aa91c0ffee0123456789abcdef0003";
    let dir = tempfile::tempdir().unwrap();
    let (key, bundle) = crafted_bundle(
        dir.path(),
        &[
            (1, TWINS[0], "first of twin 0"),
            (2, TWINS[1], "first of twin 1"),
            (3, other, "first of the other"),
            (4, TWINS[0], "second of twin 0"),
            (5, TWINS[1], "second of twin 1"),
            (6, other, "second of the other"),
        ],
    );
    let out = dir.path().join("out");
    let shared = format!(
        "{}-3f2a91",
        sanduq::designation::of(TWINS[0].parse().unwrap()).replace(' ', "-")
    );
    let alone = sanduq::designation::folder(other.parse().unwrap());
    let alone_old = format!("{}-77aa91", &alone[..alone.len() - 33]);
    old_folder(&out, &shared, &[1, 2]);
    old_folder(&out, &alone_old, &[3]);
    let o = decrypt(&key, &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    // The other source's old folder now has today's name, and its new item beside the old.
    assert!(!out.join(&alone_old).exists());
    assert!(out.join(&alone).join("old-3.txt").exists());
    assert_eq!(
        std::fs::read_to_string(out.join(&alone).join("message.txt")).unwrap(),
        "second of the other"
    );
    // The folder two sources shared stays, and is named once.
    assert!(out.join(&shared).join("old-1.txt").exists());
    assert_eq!(
        stderr(&o).matches("more than one source").count(),
        1,
        "{}",
        stderr(&o)
    );
    assert_eq!(folders(&out).len(), 4, "{:?}", folders(&out));
}
