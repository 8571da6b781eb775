//! A real sanduq server in a temp directory, and the tools to talk to it.
#![allow(dead_code)]

pub mod chrome;
pub mod garage;
pub mod html;
pub mod nodes;
pub mod pg;
pub mod slowlink;
pub mod tmux;
pub mod tor;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sanduq");

/// Runs the sanduq binary with `args`.
pub fn sanduq(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("PINENTRY_PROGRAM", "/nonexistent")
        .output()
        .expect("run sanduq")
}

/// Runs sanduq and requires success; returns stdout.
pub fn sanduq_ok(args: &[&str]) -> String {
    let out = sanduq(args);
    assert!(
        out.status.success(),
        "sanduq {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// An editor registered on a server.
pub struct EditorKeys {
    pub name: String,
    pub identity: PathBuf,
    pub token_file: PathBuf,
    pub recipient: String,
}

/// A running `sanduq serve` with its own data directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub source: SocketAddr,
    pub api: SocketAddr,
    pub log: PathBuf,
    /// `SANDUQ_LOG` for the server process.
    pub log_filter: String,
    /// More environment for the server process (a store's credentials).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Server {
    /// A new install with the default config, `edit` applied to its text, not yet started.
    pub fn init(edit: impl FnOnce(String) -> String) -> Server {
        Server::init_on(|_| {}, edit)
    }

    /// As [`Server::init`], with `prepare` called on the data directory's path first (to
    /// mount a small filesystem there, say).
    pub fn init_on(prepare: impl FnOnce(&Path), edit: impl FnOnce(String) -> String) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        prepare(&data);
        sanduq_ok(&["init", "--dir", data.to_str().unwrap()]);
        let config = data.join("sanduq.toml");
        let source: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("127.0.0.1:8080", &source.to_string())
            .replace("127.0.0.1:8081", &api.to_string())
            // Codename derivation at test cost: the real cost is tested in the unit tests.
            .replace(
                "memory_kib = 65536",
                "memory_kib = 1024\nweak_cost_for_tests = true",
            );
        std::fs::write(&config, edit(text)).unwrap();
        let log = dir.path().join("server.log");
        Server {
            dir,
            config,
            source,
            api,
            log,
            log_filter: "debug".into(),
            env: Vec::new(),
            child: None,
        }
    }

    /// A started server whose two listeners speak TLS, with a fresh self-signed certificate
    /// for `localhost` (returned, to trust it).
    pub fn start_with_tls() -> (Server, rcgen::CertifiedKey) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let mut server = Server::init(|t| {
            t.replace(
                "[listen]\n",
                "[listen]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n",
            )
        });
        let data = server.data();
        std::fs::write(data.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(data.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
        server.start();
        (server, cert)
    }

    /// A started server with the default config.
    pub fn start_default() -> Server {
        let mut s = Server::init(|t| t);
        s.start();
        s
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts (or restarts) the server and waits until both listeners accept.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--config", self.config.to_str().unwrap()])
            .env("SANDUQ_LOG", &self.log_filter)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if TcpStream::connect(self.source).is_ok() && TcpStream::connect(self.api).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "server exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not start");
    }

    /// Kills the server with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM, as systemd stops a service.
    pub fn terminate(&self) {
        let pid = self.pid().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success(), "kill -TERM {pid}");
    }

    /// Waits up to `within` for the server to exit; its exit status then (the server is
    /// no longer running), or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + within;
        loop {
            let status = self.child.as_mut().expect("running").try_wait().unwrap();
            if let Some(s) = status {
                self.child = None;
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn source_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.source)
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// Makes a key with `sanduq keygen` and registers it as editor `name` of `desk`.
    pub fn add_editor(&self, name: &str, desk: Option<&str>) -> EditorKeys {
        let identity = self.dir.path().join(format!("{name}.key"));
        let recipient = sanduq_ok(&["keygen", "-o", identity.to_str().unwrap()])
            .trim()
            .to_owned();
        self.register(name, &recipient, desk, identity)
    }

    /// Registers an existing recipient.
    pub fn register(
        &self,
        name: &str,
        recipient: &str,
        desk: Option<&str>,
        identity: PathBuf,
    ) -> EditorKeys {
        let mut args = vec![
            "admin",
            "editor",
            "add",
            "--config",
            self.config.to_str().unwrap(),
            "--name",
            name,
            "--recipient",
            recipient,
        ];
        if let Some(d) = desk {
            args.extend(["--desk", d]);
        }
        let token = sanduq_ok(&args).trim().to_owned();
        let token_file = self.dir.path().join(format!("{name}.token"));
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        EditorKeys {
            name: name.into(),
            identity,
            token_file,
            recipient: recipient.into(),
        }
    }

    /// The logs the server wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Files (not directories) under the data directory's `blobs/items`.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.data().join("blobs/items"))
    }

    pub fn temp_files(&self) -> Vec<PathBuf> {
        files_under(&self.data().join("blobs/tmp"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every regular file below `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// One part of a multipart form.
pub struct Part<'a> {
    pub name: &'a str,
    pub filename: Option<&'a [u8]>,
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

impl<'a> Part<'a> {
    pub fn text(name: &'a str, data: &'a [u8]) -> Self {
        Part {
            name,
            filename: None,
            content_type: None,
            data,
        }
    }
    pub fn file(filename: &'a [u8], data: &'a [u8]) -> Self {
        Part {
            name: "file",
            filename: Some(filename),
            content_type: Some("application/octet-stream"),
            data,
        }
    }
}

pub const BOUNDARY: &str = "----sanduqtestboundary7MA4YWxkTrZu0gW";

/// A multipart/form-data body.
pub fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut b = Vec::new();
    for p in parts {
        b.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        b.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{}\"", p.name).as_bytes(),
        );
        if let Some(f) = p.filename {
            b.extend_from_slice(b"; filename=\"");
            b.extend_from_slice(f);
            b.extend_from_slice(b"\"");
        }
        b.extend_from_slice(b"\r\n");
        if let Some(ct) = p.content_type {
            b.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(p.data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

pub fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A browser-like session on the source site: the form token and its cookie.
pub struct Visitor {
    pub client: reqwest::Client,
    pub token: String,
    pub cookie: String,
}

impl Visitor {
    pub async fn new(server: &Server) -> Visitor {
        Visitor::with_client(
            server,
            reqwest::Client::builder().no_proxy().build().unwrap(),
        )
        .await
    }

    /// A visitor using `client` (for a chosen source address or user agent).
    pub async fn with_client(server: &Server, client: reqwest::Client) -> Visitor {
        let res = client.get(server.source_url("/")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let cookie = res
            .headers()
            .get("set-cookie")
            .expect("form cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = res.text().await.unwrap();
        let token = html
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("csrf_token in form")
            .to_owned();
        Visitor {
            client,
            token,
            cookie,
        }
    }

    /// Posts the parts (the form token is put first) and returns status and page.
    pub async fn submit(&self, server: &Server, parts: &[Part<'_>]) -> (u16, String) {
        self.submit_in(server, "", parts).await
    }

    /// As [`Visitor::submit`], to `/<lang>/submit` (the default language for "").
    pub async fn submit_in(
        &self,
        server: &Server,
        lang: &str,
        parts: &[Part<'_>],
    ) -> (u16, String) {
        let mut all = vec![Part::text("csrf_token", self.token.as_bytes())];
        all.extend(parts.iter().map(|p| Part {
            name: p.name,
            filename: p.filename,
            content_type: p.content_type,
            data: p.data,
        }));
        let path = if lang.is_empty() {
            "/submit".to_owned()
        } else {
            format!("/{lang}/submit")
        };
        self.post_raw_to(server, &path, multipart(&all)).await
    }

    pub async fn post_raw(&self, server: &Server, body: Vec<u8>) -> (u16, String) {
        self.post_raw_to(server, "/submit", body).await
    }

    async fn post_raw_to(&self, server: &Server, path: &str, body: Vec<u8>) -> (u16, String) {
        let res = self
            .client
            .post(server.source_url(path))
            .header("content-type", content_type())
            .header("cookie", &self.cookie)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }
}

/// A random marker for plaintext scans.
pub fn marker() -> String {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).unwrap();
    format!("MARK{}", hex::encode(b))
}

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

/// Peak resident memory of a process in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// Resident memory of a process now, in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect(field)
}

/// The codename shown on a confirmation page.
pub fn codename_in(page: &str) -> String {
    page.split("id=\"codename\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the codename is shown in id=\"codename\"")
        .to_owned()
}

/// A client that shows redirects instead of following them.
pub fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The start page as the holder of `cookie` sees it.
pub async fn page_with(server: &Server, cookie: &str) -> String {
    no_redirect()
        .get(server.source_url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn login(server: &Server, v: &Visitor, codename: &str) -> reqwest::Response {
    let client = no_redirect();
    client
        .post(server.source_url("/login"))
        .header("cookie", &v.cookie)
        .form(&[("csrf_token", v.token.as_str()), ("codename", codename)])
        .send()
        .await
        .unwrap()
}

pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sanduq_session=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

pub fn logged_in_page_token(page: &str) -> String {
    page.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

/// Runs `sanduq export` with one identity file.
pub fn export(
    identity: &Path,
    bundle: &Path,
    format: &str,
    out: &Path,
    form: Option<&str>,
) -> Output {
    let mut args = vec![
        "export",
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

/// `sanduq reply` to `source` from `bundle`, then `sanduq push`; the first that fails, or the
/// push.
pub fn reply_to_and_push(
    server: &Server,
    ed: &EditorKeys,
    bundle: &Path,
    source: &str,
    text: &str,
) -> Output {
    let file = bundle.with_file_name("reply.txt");
    std::fs::write(&file, text).unwrap();
    let out = sanduq(&[
        "reply",
        "--bundle",
        bundle.to_str().unwrap(),
        "--source",
        source,
        "--message-file",
        file.to_str().unwrap(),
    ]);
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

/// The config text `t` with `lines` (`key = value` lines) added to its own `[store]` table.
pub fn in_store_table(t: String, lines: &str) -> String {
    assert!(t.contains("\n[store]\n"), "the config has no [store] table");
    t.replacen("\n[store]\n", &format!("\n[store]\n{lines}\n"), 1)
}

/// The config text `t` with a janitor whose grace period is `grace_seconds` and which runs
/// every second.
pub fn with_janitor(t: String, grace_seconds: u64) -> String {
    in_store_table(
        t,
        &format!("janitor_grace_seconds = {grace_seconds}\njanitor_every_seconds = 1"),
    )
}

/// Polls `done` every 200 ms until it holds or `within` has passed; whether it held.
pub fn wait_for(within: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
