//! Faults of the machine under a running server: a full disk.

use std::path::{Path, PathBuf};
use std::process::Command;

use sanduq::i18n::Locale;

use crate::common::*;

/// A size-limited tmpfs mounted for the length of a test (the test suite runs as root).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(at.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Bytes free on the filesystem holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_clearly_keeps_serving_and_recovers() {
    let mut disk = None;
    let mut server = Server::init_on(|data| disk = Some(SmallDisk::mount(data, "24m")), |t| t);
    let _disk = disk.unwrap();
    server.start();
    let ed = server.add_editor("ana", None);
    let data = server.data();
    let tg = Locale::from_code("tg").unwrap();
    let v = Visitor::new(&server).await;
    let submit_tg = |body: Vec<u8>| {
        let req = v
            .client
            .post(server.source_url("/tg/submit"))
            .header("content-type", content_type())
            .header("cookie", &v.cookie)
            .body(body);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let form = |file: &[u8]| {
        multipart(&[
            Part::text("csrf_token", v.token.as_bytes()),
            Part::file(b"scan.pdf", file),
        ])
    };

    // An upload larger than the free space: a clear page in the source's language.
    let free_before = free_bytes(&data);
    let big = vec![b'b'; 40 * 1024 * 1024];
    let (status, page) = submit_tg(form(&big)).await;
    assert_eq!(status, 507, "{page:.300}");
    assert!(
        page.contains(&tg.message("error-storage-title", None)),
        "{page:.500}"
    );
    assert!(server.temp_files().is_empty() && server.blob_files().is_empty());
    let free_after = free_bytes(&data);
    assert!(
        free_after + 1024 * 1024 >= free_before,
        "the partial ciphertext was not removed: {free_before} then {free_after} bytes free"
    );

    // Nothing is listed, and the server keeps serving.
    let bundle = server.dir.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 0);
    let (status, _) = submit_tg(form(b"small")).await;
    assert_eq!(status, 200);

    // Fill the disk to the brim: even a small upload is refused, nothing half-stored.
    let ballast = data.join("ballast");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=64"])
        .arg(format!("of={}", ballast.display()))
        .output();
    let stored = server.blob_files().len();
    let (status, page) = submit_tg(form(&vec![b's'; 256 * 1024])).await;
    assert_eq!(status, 507, "{page:.300}");
    assert_eq!(server.blob_files().len(), stored);
    assert!(server.temp_files().is_empty());

    // Space freed: uploads work again, and everything stored decrypts.
    std::fs::remove_file(&ballast).unwrap();
    let (status, _) = submit_tg(form(&vec![b'a'; 1024 * 1024])).await;
    assert_eq!(status, 200);
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 2);
    let out = server.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    server.kill();
}

/// A random number below `n`.
fn below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

/// After a crash and restart: every listed item is complete and decrypts (what the crash
/// left half-done is not listed). Returns the texts of every decrypted message.
fn check_after_restart(server: &Server, ed: &EditorKeys, round: &str) -> Vec<String> {
    let bundle = server.dir.path().join(format!("bundle-{round}"));
    let o = fetch(server, ed, &bundle);
    assert!(
        o.status.success(),
        "{round}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = server.dir.path().join(format!("out-{round}"));
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(
        o.status.success(),
        "{round}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    files_under(&out)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "message.txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[allow(
    clippy::too_many_lines,
    reason = "the crash points, the restart and the janitor's pass are one experiment on one server"
)]
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_uploads_loses_nothing_acknowledged_and_leaves_nothing_half_done() {
    // A short grace period, so that the janitor removes what the crashes left within the test.
    let mut server = Server::configured(|c| {
        c.janitor(6);
    });
    server.start();
    let ed = server.add_editor("ana", None);
    let secret = marker();
    let file: Vec<u8> = secret.as_bytes().repeat(8 * 1024 * 1024 / secret.len());

    // Four fixed points of one upload.
    for (point, sent_fraction, wait_ms) in [
        ("early", 0.001, 50),
        ("mid-stream", 0.5, 50),
        ("after the last byte", 1.0, 0),
        ("before the response", 1.0, 30),
    ] {
        let v = Visitor::new(&server).await;
        let body = multipart(&[
            Part::text("csrf_token", v.token.as_bytes()),
            Part::text("message", format!("{secret} {point}").as_bytes()),
            Part::file(b"evidence.bin", &file),
        ]);
        let head = format!(
            "POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            v.cookie,
            content_type(),
            body.len()
        );
        let mut s = tokio::net::TcpStream::connect(server.source).await.unwrap();
        use tokio::io::AsyncWriteExt as _;
        s.write_all(head.as_bytes()).await.unwrap();
        let n = ((body.len() as f64) * sent_fraction) as usize;
        s.write_all(&body[..n]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        server.kill();
        drop(s);
        server.start();
        let messages = check_after_restart(&server, &ed, point);
        // Unacknowledged: absent, or (killed between commit and answer) complete.
        for m in &messages {
            assert!(m.starts_with(&secret), "{point}: {m}");
        }
        eprintln!(
            "crash {point}: {} complete submissions listed",
            messages.len()
        );
    }

    // 100 uploads, 10 at a time, the server killed at a random moment of each round.
    let mut acknowledged = Vec::new();
    for round in 0..10 {
        let mut tasks = Vec::new();
        for i in 0..10 {
            let v = Visitor::new(&server).await;
            let text = format!("{secret} upload {round}-{i}");
            let size = 1 + below(2 * 1024 * 1024) as usize;
            let data = secret.as_bytes().repeat(size / secret.len() + 1);
            let url = server.source_url("/submit");
            tasks.push(tokio::spawn(async move {
                let body = multipart(&[
                    Part::text("csrf_token", v.token.as_bytes()),
                    Part::text("message", text.as_bytes()),
                    Part::file(b"f.bin", &data),
                ]);
                let res = v
                    .client
                    .post(url)
                    .header("content-type", content_type())
                    .header("cookie", &v.cookie)
                    .body(body)
                    .send()
                    .await;
                let acked = match res {
                    Ok(r) if r.status() == 200 => {
                        r.text().await.is_ok_and(|p| p.contains("id=\"codename\""))
                    }
                    _ => false,
                };
                (text, acked)
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(below(150))).await;
        server.kill();
        for t in tasks {
            let (text, acked) = t.await.unwrap();
            if acked {
                acknowledged.push(text);
            }
        }
        server.start();
    }
    let messages = check_after_restart(&server, &ed, "random");
    for a in &acknowledged {
        assert!(messages.contains(a), "acknowledged but lost: {a}");
    }
    eprintln!(
        "100 uploads under random SIGKILL: {} acknowledged, {} listed complete, none lost",
        acknowledged.len(),
        messages.iter().filter(|m| m.contains("upload")).count()
    );
    // After the grace period the janitor has removed every temporary and every object that
    // no row lists, and only those.
    let bundle = server.dir.path().join("bundle-final");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let listed = manifest(&bundle)["items"].as_array().unwrap().len();
    let clean = wait_for(std::time::Duration::from_secs(30), || {
        server.temp_files().is_empty() && server.blob_files().len() == 2 * listed
    });
    assert!(
        clean,
        "left after the grace period: {} temporaries, {} objects for {listed} items",
        server.temp_files().len(),
        server.blob_files().len()
    );
    assert_eq!(
        check_after_restart(&server, &ed, "swept").len(),
        messages.len()
    );
    // No plaintext on disk, whatever the crashes interrupted.
    for f in files_under(&server.data()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "plaintext in {}",
            f.display()
        );
    }
}
