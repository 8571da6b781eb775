//! A real sanduq server in a temp directory, and the tools to talk to it: the source's side
//! (visitor.rs), the CLI (cli.rs), the configuration (config.rs), the engines (pg, garage,
//! tor, chrome, slowlink, nodes) and the in-process tier (inproc.rs).
#![allow(dead_code)]

pub mod chrome;
mod cli;
pub mod config;
pub mod garage;
pub mod headers;
pub mod html;
pub mod inproc;
pub mod nodes;
pub mod pg;
pub mod slowlink;
pub mod tmux;
pub mod tor;
mod visitor;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use cli::*;
pub use config::TestConfig;
pub use visitor::*;

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
    /// Prefer [`Server::configured`]: a text edit that no longer matches does nothing.
    pub fn init(edit: impl FnOnce(String) -> String) -> Server {
        Server::init_on(|_| {}, edit)
    }

    /// A new install with the test defaults and `set` applied to its configuration, not yet
    /// started. A key the template does not know fails the test.
    pub fn configured(set: impl FnOnce(&mut TestConfig)) -> Server {
        Server::prepared(|_| {}, set, |t| t)
    }

    /// As [`Server::init`], with `prepare` called on the data directory's path first (to
    /// mount a small filesystem there, say).
    pub fn init_on(prepare: impl FnOnce(&Path), edit: impl FnOnce(String) -> String) -> Server {
        Server::prepared(prepare, |_| {}, edit)
    }

    /// `sanduq init` in a temp folder (`prepare` called on the data directory's path first),
    /// the test defaults and `set` applied to the configuration, then `edit` to its text.
    pub fn prepared(
        prepare: impl FnOnce(&Path),
        set: impl FnOnce(&mut TestConfig),
        edit: impl FnOnce(String) -> String,
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        prepare(&data);
        sanduq_ok(&["init", "--dir", data.to_str().unwrap()]);
        let config = data.join("sanduq.toml");
        let source: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        // The test switch goes right below `memory_kib`, where text edits written before the
        // builder expect it.
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "memory_kib = 65536",
            "memory_kib = 65536\nweak_cost_for_tests = true",
        );
        let mut cfg = TestConfig::parse(&text);
        cfg.set("listen.source", source.to_string())
            .set("listen.api", api.to_string())
            .test_cost();
        set(&mut cfg);
        std::fs::write(&config, edit(cfg.text())).unwrap();
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
        let mut server = Server::configured(|c| {
            c.set("listen.tls_cert", "cert.pem")
                .set("listen.tls_key", "key.pem");
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

    /// Applies `set` to the configuration file as it is now (the server reads it at its next
    /// start).
    pub fn edit_config(&self, set: impl FnOnce(&mut TestConfig)) {
        let mut c = TestConfig::parse(&std::fs::read_to_string(&self.config).unwrap());
        set(&mut c);
        std::fs::write(&self.config, c.text()).unwrap();
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

/// A random marker for plaintext scans.
pub fn marker() -> String {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).unwrap();
    format!("MARK{}", hex::encode(b))
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

/// The config text `t` with `lines` (`key = value` lines) set in its `[store]` table; a key
/// `[store]` does not know fails. [`TestConfig::set_lines`] for new code.
pub fn in_store_table(t: String, lines: &str) -> String {
    let mut c = TestConfig::parse(&t);
    c.set_lines("store", lines);
    c.text()
}

/// The config text `t` with a janitor whose grace period is `grace_seconds` and which runs
/// every second. [`TestConfig::janitor`] for new code.
pub fn with_janitor(t: String, grace_seconds: u64) -> String {
    let mut c = TestConfig::parse(&t);
    c.janitor(i64::try_from(grace_seconds).unwrap());
    c.text()
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
