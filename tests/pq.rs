//! Post-quantum keys against an independent implementation: sanduq's `pq` module and the
//! age author's TypeScript age (typage, npm `age-encryption`, run with the machine's Node.js
//! through `tests/typage/age-pq.mjs`), both ways, with identities made by either side.
//! The typage package is installed with `npm ci` on first use.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use age::secrecy::ExposeSecret;
use sanduq::{crypto, pq};

fn typage_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/typage")
}

/// Installs typage from the committed lock file when `node_modules` is missing.
fn ensure_typage() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = typage_dir();
    if dir
        .join("node_modules/age-encryption/package.json")
        .exists()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .expect("npm (Node.js) is needed for the typage interop tests");
    assert!(
        out.status.success(),
        "npm ci in tests/typage failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `node age-pq.mjs ARGS` with `stdin`; requires success and returns stdout.
fn typage(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    ensure_typage();
    let mut child = Command::new("node")
        .arg("age-pq.mjs")
        .args(args)
        .current_dir(typage_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the typage interop tests");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "typage {:?} failed: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A new identity from typage: (identity, recipient).
fn typage_keygen() -> (String, String) {
    let out = String::from_utf8(typage(&["keygen"], b"")).unwrap();
    let mut lines = out.lines();
    let id = lines.next().unwrap().to_owned();
    let r = lines.next().unwrap().to_owned();
    assert!(id.starts_with("AGE-SECRET-KEY-PQ-1"));
    assert!(r.starts_with("age1pq1"));
    (id, r)
}

fn payload() -> Vec<u8> {
    // Crosses age's 64 KiB chunk boundary.
    (0..150_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// Encrypts with sanduq's own path: recipient strings through `crypto::encryptor`.
fn sanduq_encrypt(recipients: &[String], data: &[u8]) -> Vec<u8> {
    let e = crypto::encryptor(recipients).unwrap();
    crypto::encrypt_to_vec(e, data).unwrap()
}

/// Decrypts with sanduq's own path: an identity file through `crypto::Identities`.
fn sanduq_decrypt(identity_file: &Path, file: &[u8]) -> Vec<u8> {
    let ids =
        crypto::Identities::from_files(&[identity_file.to_str().unwrap().to_owned()]).unwrap();
    let mut out = Vec::new();
    ids.decrypt(file).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn write_identity(dir: &Path, name: &str, identity: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("# test identity\n{identity}\n")).unwrap();
    path
}

#[test]
fn typage_encrypts_sanduq_decrypts_with_a_typage_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (id, r) = typage_keygen();
    // sanduq derives the same recipient from the identity.
    let ours: pq::Identity = id.parse().unwrap();
    assert_eq!(ours.to_public().to_string(), r);
    let data = payload();
    let file = typage(&["encrypt", &r], &data);
    let idf = write_identity(dir.path(), "typage.key", &id);
    assert_eq!(sanduq_decrypt(&idf, &file), data);
}

#[test]
fn sanduq_encrypts_typage_decrypts_with_a_sanduq_identity() {
    let dir = tempfile::tempdir().unwrap();
    let id = pq::Identity::generate().unwrap();
    let r = id.to_public().to_string();
    // typage derives the same recipient from sanduq's identity.
    let theirs = typage(&["recipient", id.to_string().expose_secret()], b"");
    assert_eq!(String::from_utf8(theirs).unwrap().trim(), r);
    let data = payload();
    let file = dir.path().join("item.age");
    std::fs::write(&file, sanduq_encrypt(&[r], &data)).unwrap();
    let idf = write_identity(dir.path(), "sanduq.key", id.to_string().expose_secret());
    let out = typage(
        &["decrypt", idf.to_str().unwrap(), file.to_str().unwrap()],
        b"",
    );
    assert_eq!(out, data);
}

#[test]
fn each_side_encrypts_to_the_others_identity() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"Names, dates, the cell number.\n".to_vec();

    // sanduq encrypts to a typage identity; typage decrypts.
    let (tid, tr) = typage_keygen();
    let tidf = write_identity(dir.path(), "typage.key", &tid);
    let file = dir.path().join("to-typage.age");
    std::fs::write(&file, sanduq_encrypt(&[tr], &data)).unwrap();
    let out = typage(
        &["decrypt", tidf.to_str().unwrap(), file.to_str().unwrap()],
        b"",
    );
    assert_eq!(out, data);

    // typage encrypts to a sanduq identity; sanduq decrypts.
    let sid = pq::Identity::generate().unwrap();
    let sidf = write_identity(dir.path(), "sanduq.key", sid.to_string().expose_secret());
    let file = typage(&["encrypt", &sid.to_public().to_string()], &data);
    assert_eq!(sanduq_decrypt(&sidf, &file), data);
}

#[test]
fn one_file_for_editors_of_both_origins() {
    let dir = tempfile::tempdir().unwrap();
    let (tid, tr) = typage_keygen();
    let sid = pq::Identity::generate().unwrap();
    let recipients = [tr.clone(), sid.to_public().to_string()];
    let data = payload();
    let tidf = write_identity(dir.path(), "typage.key", &tid);
    let sidf = write_identity(dir.path(), "sanduq.key", sid.to_string().expose_secret());

    // Written by sanduq, read by both.
    let file = dir.path().join("both.age");
    std::fs::write(&file, sanduq_encrypt(&recipients, &data)).unwrap();
    for idf in [&tidf, &sidf] {
        let out = typage(
            &["decrypt", idf.to_str().unwrap(), file.to_str().unwrap()],
            b"",
        );
        assert_eq!(out, data);
        assert_eq!(sanduq_decrypt(idf, &std::fs::read(&file).unwrap()), data);
    }

    // Written by typage, read by both.
    let file = typage(&["encrypt", &recipients[0], &recipients[1]], &data);
    assert_eq!(sanduq_decrypt(&tidf, &file), data);
    assert_eq!(sanduq_decrypt(&sidf, &file), data);
}
