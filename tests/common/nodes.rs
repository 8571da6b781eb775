//! Several `sanduq serve` nodes on one PostgreSQL and one Garage, behind a real HAProxy
//! running the shipped `deploy/haproxy.cfg` with only its addresses replaced.
//!
//! Each node has its own data directory and listeners, and a config naming the same stores
//! and the same pepper, as docs/scale-out.md tells an operator to do. The nodes start at the
//! same moment, so that their first connections to the stores (schema migrations, the pepper's
//! check) race as they would under systemd.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::garage::Garage;
use super::pg::PgCluster;
use super::{sanduq, wait_for, EditorKeys, Server, TestConfig, Visitor};

/// One node: its server and its health listener.
pub struct Node {
    pub server: Server,
    pub health: SocketAddr,
}

/// The stores, the nodes, the balancer in front of them, and one registered editor.
pub struct Nodes {
    pub pg: PgCluster,
    pub garage: Garage,
    pub nodes: Vec<Node>,
    pub lb: Haproxy,
    pub editor: EditorKeys,
}

/// The nodes' settings that tests choose.
#[derive(Clone, Copy)]
pub struct Timing {
    /// `store.janitor_grace_seconds` (the janitor runs every second).
    pub grace: u64,
    /// `node.drain_seconds`.
    pub drain: u64,
}

impl Nodes {
    /// Three nodes (the shipped HAProxy config names three) on fresh stores, all UP behind
    /// HAProxy.
    pub async fn start(timing: Timing) -> Nodes {
        let pg = PgCluster::start();
        let url = pg.database("sanduq").await;
        let garage = Garage::start();
        let store = garage.store_keys(&url);
        let env = garage.env();
        let mut pepper: Option<String> = None;
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let health: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
            let mut server = Server::configured(|c| {
                // Every node gets the first node's pepper, as an operator copies it.
                if let Some(p) = &pepper {
                    c.set("secrets.pepper", p.as_str());
                }
                c.janitor(i64::try_from(timing.grace).unwrap())
                    .set_lines("store", &store)
                    .set("node.health", health.to_string())
                    .set("node.drain_seconds", i64::try_from(timing.drain).unwrap());
            });
            let text = std::fs::read_to_string(&server.config).unwrap();
            pepper.get_or_insert_with(|| {
                TestConfig::parse(&text)
                    .get("secrets.pepper")
                    .expect("a pepper")
            });
            server.env = env.clone();
            server.log_filter = "info".into();
            nodes.push(Node { server, health });
        }
        std::thread::scope(|s| {
            for n in &mut nodes {
                s.spawn(|| n.server.start());
            }
        });
        let editor = nodes[0].server.add_editor("ana", None);
        let lb = Haproxy::start(&nodes);
        Nodes {
            pg,
            garage,
            nodes,
            lb,
            editor,
        }
    }

    /// Objects in the bucket (items and upload markers), as Garage counts them.
    pub fn objects(&self) -> u64 {
        let info = self
            .garage
            .cli_ok(&["bucket", "info", self.garage.bucket()]);
        info.lines()
            .find_map(|l| l.trim().strip_prefix("Objects:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("an object count in `garage bucket info`")
    }
}

/// A running HAProxy with the shipped configuration.
pub struct Haproxy {
    dir: tempfile::TempDir,
    child: Child,
    /// The balanced source site (tor's target).
    pub source: SocketAddr,
    /// The balanced editor API.
    pub api: SocketAddr,
    socket: PathBuf,
}

/// The shipped configuration.
pub fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy.cfg")
}

/// `text` with each `from` replaced by its `to`, in one pass (a new port never matches an
/// old one); every `from` must occur.
fn substitute(text: &str, pairs: &[(String, String)]) -> String {
    let mut out = text.to_owned();
    for (i, (from, _)) in pairs.iter().enumerate() {
        assert!(out.contains(from.as_str()), "{from:?} not in haproxy.cfg");
        out = out.replace(from.as_str(), &format!("@@{i}@@"));
    }
    for (i, (_, to)) in pairs.iter().enumerate() {
        out = out.replace(&format!("@@{i}@@"), to);
    }
    out
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .expect("id -u")
}

impl Haproxy {
    /// Starts HAProxy in the foreground on the shipped config, the nodes' addresses put in,
    /// and waits until every node is UP in both backends.
    fn start(nodes: &[Node]) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let source: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
        let api: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
        let socket = dir.path().join("admin.sock");
        let mut pairs = vec![
            ("127.0.0.1:8080".to_owned(), source.to_string()),
            ("127.0.0.1:8081".to_owned(), api.to_string()),
            (
                "/run/haproxy/admin.sock".to_owned(),
                socket.display().to_string(),
            ),
        ];
        for (i, n) in nodes.iter().enumerate() {
            let base = 8180 + 100 * i;
            pairs.push((format!("127.0.0.1:{base}"), n.server.source.to_string()));
            pairs.push((format!("127.0.0.1:{}", base + 1), n.server.api.to_string()));
            pairs.push((
                format!("port {}", base + 2),
                format!("port {}", n.health.port()),
            ));
        }
        let text = std::fs::read_to_string(shipped_config()).unwrap();
        let mut text = substitute(&text, &pairs);
        if !is_root() {
            // Only root can chroot and change user; the rest is the shipped file.
            text = text
                .lines()
                .filter(|l| {
                    !["chroot ", "user ", "group "]
                        .iter()
                        .any(|k| l.trim().starts_with(k))
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, text).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start haproxy (apt-get install haproxy; scripts/test.sh does)");
        let mut lb = Haproxy {
            dir,
            child,
            source,
            api,
            socket,
        };
        let up = wait_for(Duration::from_secs(30), || {
            let s = lb.stat();
            s.len() == 2 * nodes.len() && s.iter().all(|r| r.status == "UP")
        });
        if let Ok(Some(status)) = lb.child.try_wait() {
            panic!("haproxy exited with {status}: {}", lb.log());
        }
        assert!(up, "nodes not UP in haproxy: {:?}\n{}", lb.stat(), lb.log());
        lb
    }

    /// HAProxy's own output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// Every server line of `show stat`: backend, server, sessions so far, status.
    pub fn stat(&self) -> Vec<ServerStat> {
        let Ok(mut c) = UnixStream::connect(&self.socket) else {
            return Vec::new();
        };
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if c.write_all(b"show stat\n").is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        let _ = c.read_to_string(&mut text);
        let mut lines = text.lines();
        let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
            return Vec::new();
        };
        let col = |name: &str| header.split(',').position(|c| c == name).unwrap();
        let (px, sv, stot, status) = (col("pxname"), col("svname"), col("stot"), col("status"));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > status && !["FRONTEND", "BACKEND"].contains(&f[sv]))
            .map(|f| ServerStat {
                backend: f[px].to_owned(),
                server: f[sv].to_owned(),
                sessions: f[stot].parse().unwrap_or(0),
                status: f[status].to_owned(),
            })
            .collect()
    }

    /// The status HAProxy gives node `i` (0-based) in the source site's backend.
    pub fn source_status(&self, i: usize) -> String {
        let name = format!("node{}", i + 1);
        self.stat()
            .into_iter()
            .find(|s| s.backend == "sanduq_source_nodes" && s.server == name)
            .map(|s| s.status)
            .unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of `show stat`.
#[derive(Debug, Clone)]
pub struct ServerStat {
    pub backend: String,
    pub server: String,
    pub sessions: u64,
    pub status: String,
}

/// A client that never uses a proxy and gives up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// A form token and its cookie from the landing page at `addr`.
pub async fn visit(client: &reqwest::Client, addr: SocketAddr) -> Result<Visitor, reqwest::Error> {
    let res = client.get(format!("http://{addr}/")).send().await?;
    let res = res.error_for_status()?;
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
    let html = res.text().await?;
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf_token in the form")
        .to_owned();
    Ok(Visitor {
        client: client.clone(),
        token,
        cookie,
    })
}

/// Posts a submission of `parts` (the form token put first) to `addr`: status and page, or
/// the transport error (a node killed under it).
pub async fn submit(
    v: &Visitor,
    addr: SocketAddr,
    parts: &[super::Part<'_>],
) -> Result<(u16, String), reqwest::Error> {
    let mut all = vec![super::Part::text("csrf_token", v.token.as_bytes())];
    all.extend(parts.iter().map(|p| super::Part { ..*p }));
    let res = v
        .client
        .post(format!("http://{addr}/submit"))
        .header("content-type", super::content_type())
        .header("cookie", &v.cookie)
        .body(super::multipart(&all))
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.text().await?))
}

/// A message through a fresh visit to `addr`: whether it was acknowledged (200).
pub async fn send_message(client: &reqwest::Client, addr: SocketAddr, text: &str) -> bool {
    let Ok(v) = visit(client, addr).await else {
        return false;
    };
    matches!(
        submit(&v, addr, &[super::Part::text("message", text.as_bytes())]).await,
        Ok((200, _))
    )
}

/// Runs `sanduq fetch` against the editor API at `api` into `bundle`.
pub fn fetch_from(api: SocketAddr, ed: &EditorKeys, bundle: &Path) -> Output {
    sanduq(&[
        "fetch",
        "--server",
        &format!("http://{api}"),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ])
}

/// GET /health on `addr`: status and body, or `None` if nothing answers.
pub async fn health(addr: SocketAddr) -> Option<(u16, String)> {
    let res = client(Duration::from_secs(5))
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    Some((status, res.text().await.ok()?))
}
