//! The editor CLI and the operator's commands as processes: fetch, decrypt, export, reply
//! and push, a terminal to type a passphrase into, a `serve` that must refuse to start.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{sanduq, EditorKeys, Server, BIN};

/// Runs `sanduq fetch` for an editor into `bundle`.
pub fn fetch(server: &Server, ed: &EditorKeys, bundle: &Path) -> Output {
    sanduq(&[
        "fetch",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ])
}

/// Runs `sanduq decrypt`.
pub fn decrypt(identity: &Path, bundle: &Path, out: &Path) -> Output {
    sanduq(&[
        "decrypt",
        "--identity",
        identity.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// The manifest of a bundle.
pub fn manifest(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap()
}

/// Runs `sanduq export` with one identity file, in English whatever the environment's
/// language (headers and answers are in words).
pub fn export(
    identity: &Path,
    bundle: &Path,
    format: &str,
    out: &Path,
    form: Option<&str>,
) -> Output {
    let mut args = vec![
        "export",
        "--lang",
        "en",
        "--identity",
        identity.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(f) = form {
        args.extend(["--form", f]);
    }
    sanduq(&args)
}

/// Writes `text` as a reply to the bundle's first source with `sanduq reply`, then pushes it;
/// the first command that fails gives its output.
pub fn reply_and_push(server: &Server, ed: &EditorKeys, bundle: &Path, text: &str) -> Output {
    let source = manifest(bundle)["sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    reply_to_and_push(server, ed, bundle, &source, text)
}

/// `sanduq reply`: `text` for `source`, into the bundle's outbox (a file beside the bundle
/// holds the text).
pub fn queue_reply(bundle: &Path, source: &str, text: &str) -> Output {
    let file = bundle.with_file_name(format!("reply-{source}.txt"));
    std::fs::write(&file, text).unwrap();
    sanduq(&[
        "reply",
        "--bundle",
        bundle.to_str().unwrap(),
        "--source",
        source,
        "--message-file",
        file.to_str().unwrap(),
    ])
}

/// `sanduq reply` to `source` from `bundle`, then `sanduq push`; the first that fails, or the
/// push.
pub fn reply_to_and_push(
    server: &Server,
    ed: &EditorKeys,
    bundle: &Path,
    source: &str,
    text: &str,
) -> Output {
    let out = queue_reply(bundle, source, text);
    if !out.status.success() {
        return out;
    }
    sanduq(&[
        "push",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ])
}

/// Runs the shell command `cmd` on a terminal (`script`, from util-linux) and types `input`
/// into it line by line, slowly enough for each prompt: how a passphrase is entered.
pub fn with_terminal(cmd: String, input: &str) -> Output {
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("PINENTRY_PROGRAM", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) is needed to type a passphrase");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    std::thread::spawn(move || {
        use std::io::Write;
        for line in input.lines() {
            std::thread::sleep(Duration::from_millis(700));
            let _ = writeln!(stdin, "{line}");
        }
        std::thread::sleep(Duration::from_millis(2000));
    });
    child.wait_with_output().unwrap()
}

/// Runs `sanduq serve` and requires it to exit by itself; its exit code and stderr.
pub fn serve_must_exit(server: &Server) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--config", server.config.to_str().unwrap()])
        .env("SANDUQ_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}
