//! A real Garage (S3-compatible object store) in a temp directory: one node, one bucket, one
//! key. Each test starts its own, so that no sweep or outage reaches another test's objects.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `garage` binary: on PATH, else where `cargo install` puts it.
pub fn garage_bin() -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("garage");
            if p.is_file() {
                return p;
            }
        }
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let p = Path::new(&home).join(".cargo/bin/garage");
    assert!(
        p.is_file(),
        "garage not found on PATH nor in ~/.cargo/bin: cargo install --locked garage"
    );
    p
}

/// A running single-node Garage with the bucket `sanduq` and a key that may use it.
pub struct Garage {
    dir: tempfile::TempDir,
    config: PathBuf,
    s3_port: u16,
    admin_port: u16,
    key_id: String,
    secret: String,
    child: Option<Child>,
}

const BUCKET: &str = "sanduq";
/// How long Garage gets to come up.
const READY: Duration = Duration::from_secs(60);

impl Garage {
    /// Starts a fresh Garage: layout, bucket and key made, ready for S3 requests.
    pub fn start() -> Garage {
        let dir = tempfile::tempdir().expect("tempdir");
        let (meta, data) = (dir.path().join("meta"), dir.path().join("data"));
        std::fs::create_dir_all(&meta).expect("meta dir");
        std::fs::create_dir_all(&data).expect("data dir");
        let (s3_port, rpc_port, admin_port) =
            (super::free_port(), super::free_port(), super::free_port());
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("random");
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
                meta = meta.display(),
                data = data.display(),
                secret = hex::encode(secret),
            ),
        )
        .expect("write garage.toml");
        let mut g = Garage {
            dir,
            config,
            s3_port,
            admin_port,
            key_id: String::new(),
            secret: String::new(),
            child: None,
        };
        g.spawn();
        let node = g.cli_ok(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().expect("node id").to_owned();
        g.cli_ok(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli_ok(&["layout", "apply", "--version", "1"]);
        g.cli_ok(&["bucket", "create", BUCKET]);
        let key = g.cli_ok(&["key", "create", "sanduq-key"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| panic!("no {name:?} in garage key create's output:\n{key}"))
        };
        g.key_id = field("Key ID:");
        g.secret = field("Secret key:");
        g.cli_ok(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            BUCKET,
            "--key",
            "sanduq-key",
        ]);
        g.wait_healthy();
        g
    }

    /// A plain HTTP/1.0 GET on loopback: the whole answer, or `None`.
    fn http_get(port: u16, path: &str) -> Option<String> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        c.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        c.read_to_string(&mut answer).ok()?;
        Some(answer)
    }

    /// Whether our Garage answers on its S3 port (another process may hold a port that was
    /// free when it was picked: then Garage dies and that process answers).
    fn s3_answers(&self) -> bool {
        Self::http_get(self.s3_port, "/").is_some_and(|a| a.contains("<Region>garage</Region>"))
    }

    /// Waits until the admin API says the layout is in force and every partition served.
    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + READY;
        while !Self::http_get(self.admin_port, "/health")
            .is_some_and(|a| a.contains("fully operational"))
        {
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "garage not healthy in {READY:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn check_alive(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("garage exited with {status}:\n{}", self.log());
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .expect("garage log");
        let child = Command::new(garage_bin())
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start garage server");
        self.child = Some(child);
        // Up when its CLI gets an answer over RPC and its S3 port accepts connections.
        let deadline = Instant::now() + READY;
        loop {
            if self.cli(&["status"]).status.success() && self.s3_answers() {
                self.check_alive();
                return;
            }
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "garage not ready in {READY:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    /// Runs `garage -c <config> args…`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(garage_bin())
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run garage")
    }

    /// Runs the CLI and requires success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "garage {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 garage output")
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The S3 region Garage answers to.
    pub fn region(&self) -> &str {
        "garage"
    }

    /// The access key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The secret access key.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The `[store]` keys of a sanduq on PostgreSQL at `metadata_url` and on this bucket.
    pub fn store_keys(&self, metadata_url: &str) -> String {
        format!(
            "metadata = \"{metadata_url}\"\nblobs = \"s3://{}\"\ns3_endpoint = \"{}\"\ns3_region = \"{}\"",
            self.bucket(),
            self.endpoint(),
            self.region()
        )
    }

    /// This bucket's credentials as sanduq reads them: from the environment only.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.key_id().into()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret().into()),
        ]
    }

    /// Garage's data directory (object blocks).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Garage's metadata directory.
    pub fn meta_dir(&self) -> PathBuf {
        self.dir.path().join("meta")
    }

    /// How many incomplete multipart uploads the bucket has, as `garage bucket info` tells.
    pub fn unfinished_multipart_uploads(&self) -> u64 {
        let info = self.cli_ok(&["bucket", "info", BUCKET]);
        // "Unfinished uploads:   N multipart uploads", absent when there are none.
        info.lines()
            .find_map(|l| l.trim().strip_prefix("Unfinished uploads:"))
            .map_or(0, |rest| {
                let n = rest.split_whitespace().next().expect("a count");
                assert!(rest.contains("multipart"), "unexpected line: {rest}");
                n.parse().expect("a number of uploads")
            })
    }

    /// Kills the server (as a crash or an outage would); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same directories and ports.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "garage is running");
        self.spawn();
        self.wait_healthy();
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
