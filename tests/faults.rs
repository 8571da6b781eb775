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
