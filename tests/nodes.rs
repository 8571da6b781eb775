//! Three `sanduq serve` nodes on one PostgreSQL and one Garage, behind a real HAProxy running
//! deploy/haproxy.cfg: uploads spread over the nodes, a node stopped with SIGTERM in the
//! middle of uploads (drained, none lost), a node killed with SIGKILL (the others serve on,
//! the janitor of a survivor cleans up), and the health listener while a store is down.
//!
//! One fixture serves every step, in order: the stores and four processes take a while to
//! start on a loaded machine, and each step leaves the bucket in a state the next one counts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::nodes::{
    client, fetch_from, health, send_message, submit, visit, Nodes, Timing,
};
use crate::common::*;

/// The janitor's grace period: short, so that a killed node's leftovers go within the test.
/// Intake cuts a request at half of it, well above any upload here.
const GRACE: u64 = 30;
/// `node.drain_seconds`: how long a stopping node waits for uploads in flight.
const DRAIN: u64 = 10;

/// `haproxy -c -f FILE`: whether it is valid, and everything it said.
fn haproxy_check(file: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(file)
        .output()
        .expect("run haproxy (apt-get install haproxy; scripts/test.sh does)");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[test]
fn the_shipped_haproxy_config_is_valid() {
    let shipped = crate::common::nodes::shipped_config();
    let (ok, said) = haproxy_check(&shipped);
    assert!(ok, "{said}");
    assert!(said.contains("Configuration file is valid"), "{said}");
    // Without a warning either (a misspelt keyword is often only a warning).
    assert!(!said.contains("WARNING"), "{said}");
    // And the check can fail: a misspelt balancing algorithm is reported.
    let text = std::fs::read_to_string(&shipped).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("haproxy.cfg");
    std::fs::write(
        &broken,
        text.replace("balance leastconn", "balance leastcon"),
    )
    .unwrap();
    let (ok, said) = haproxy_check(&broken);
    assert!(!ok, "{said}");
    // No traffic log: it would keep the time and size of every submission.
    let config_lines = text.lines().map(str::trim).filter(|l| !l.starts_with('#'));
    for l in config_lines {
        assert!(
            !l.starts_with("log ") && !l.starts_with("option tcplog"),
            "a traffic log line in haproxy.cfg: {l}"
        );
    }
}

/// What the sources were told was received: message text → times acknowledged.
#[derive(Default)]
struct Acked(BTreeMap<String, usize>);

impl Acked {
    fn add(&mut self, text: String) {
        *self.0.entry(text).or_default() += 1;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_behind_haproxy_lose_no_acknowledged_upload() {
    let mut nodes = Nodes::start(Timing {
        grace: GRACE,
        drain: DRAIN,
    })
    .await;
    let mut acked = Acked::default();
    let mark = marker();

    health_says_ok_and_nothing_else(&nodes).await;
    let files = spread_load(&nodes, &mark, &mut acked).await;
    sigterm_drains_uploads_in_flight(&mut nodes, &mark, &mut acked).await;
    sigkill_leaves_the_others_serving(&mut nodes, &mark, &mut acked).await;
    every_acknowledged_upload_is_listed_once(&nodes, &acked, files).await;
    health_follows_the_stores(&mut nodes).await;
}

/// Each node's health listener answers a fixed "ok"; the source site has no such route.
async fn health_says_ok_and_nothing_else(nodes: &Nodes) {
    for n in &nodes.nodes {
        let res = client(Duration::from_secs(5))
            .get(format!("http://{}/health", n.health))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"],
            "text/plain; charset=utf-8",
            "{:?}",
            res.headers()
        );
        assert!(res.headers().get("server").is_none());
        assert_eq!(res.text().await.unwrap(), "ok\n");
        assert_eq!(health(n.health).await.unwrap().0, 200);
    }
    let (status, _) = health_on(nodes.lb.source).await;
    assert_eq!(status, 404, "the source site answers health checks");
}

async fn health_on(addr: SocketAddr) -> (u16, String) {
    health(addr).await.expect("an answer")
}

/// 200 uploads at once through HAProxy (a message and a small file each): all acknowledged,
/// and every node took a share. Returns how many files were sent.
async fn spread_load(nodes: &Nodes, mark: &str, acked: &mut Acked) -> usize {
    const UPLOADS: usize = 200;
    let before = source_sessions(nodes);
    let c = client(Duration::from_secs(120));
    let lb = nodes.lb.source;
    let tasks: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let c = c.clone();
            let text = format!("load {i} {mark}");
            tokio::spawn(async move {
                let file = vec![i as u8; 16 * 1024];
                let v = visit(&c, lb).await.map_err(|e| e.to_string())?;
                let parts = [
                    Part::text("message", text.as_bytes()),
                    Part::file(b"f.bin", &file),
                ];
                match submit(&v, lb, &parts).await {
                    Ok((200, _)) => Ok(text),
                    Ok((status, page)) => Err(format!("{status}: {page:.200}")),
                    Err(e) => Err(e.to_string()),
                }
            })
        })
        .collect();
    let mut failed = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(text) => acked.add(text),
            Err(e) => failed.push(e),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {UPLOADS} failed: {failed:?}",
        failed.len()
    );
    // Each node took a share (a connection may carry several requests).
    let shares: Vec<u64> = source_sessions(nodes)
        .iter()
        .zip(&before)
        .map(|(after, before)| after - before)
        .collect();
    for s in &shares {
        assert!(*s >= 10, "a node got no share of the load: {shares:?}");
    }
    UPLOADS
}

/// Sessions HAProxy sent to each node's source site so far.
fn source_sessions(nodes: &Nodes) -> Vec<u64> {
    (1..=nodes.nodes.len())
        .map(|i| {
            nodes
                .lb
                .stat()
                .into_iter()
                .find(|s| s.backend == "sanduq_source_nodes" && s.server == format!("node{i}"))
                .map_or(0, |s| s.sessions)
        })
        .collect()
}

/// An upload sent by hand: the head and the first `sent` bytes of its body are on the wire.
struct RawUpload {
    stream: tokio::net::TcpStream,
    body: Vec<u8>,
    sent: usize,
}

impl RawUpload {
    /// Begins an upload of `text` and a file of `file_mib` MiB to the source site at `addr`,
    /// sending the head and half the body.
    async fn begin(addr: SocketAddr, text: &str, file_mib: usize) -> RawUpload {
        let v = visit(&client(Duration::from_secs(30)), addr).await.unwrap();
        let file = vec![7u8; file_mib << 20];
        let body = multipart(&[
            Part::text("csrf_token", v.token.as_bytes()),
            Part::text("message", text.as_bytes()),
            Part::file(b"big.bin", &file),
        ]);
        let head = format!(
            "POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            v.cookie,
            content_type(),
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let sent = body.len() / 2;
        stream.write_all(&body[..sent]).await.unwrap();
        RawUpload { stream, body, sent }
    }

    /// Sends the rest and reads the answer's status line.
    async fn finish(mut self) -> String {
        // A node that cut the upload has closed the connection: no status line then.
        let _ = self.stream.write_all(&self.body[self.sent..]).await;
        let mut answer = Vec::new();
        let read = self.stream.read_to_end(&mut answer);
        let _ = tokio::time::timeout(Duration::from_secs(60), read).await;
        let answer = String::from_utf8_lossy(&answer);
        answer.lines().next().unwrap_or_default().to_owned()
    }

    /// Waits (sending nothing more) until the server closes the connection; what it said.
    async fn wait_closed(mut self, within: Duration) -> String {
        let mut answer = Vec::new();
        let read = self.stream.read_to_end(&mut answer);
        assert!(
            tokio::time::timeout(within, read).await.is_ok(),
            "the connection stayed open"
        );
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// Polls `done` (async) every 100 ms for up to `within`.
async fn eventually<F, Fut>(within: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + within;
    while Instant::now() < end {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// SIGTERM to node 3 with two uploads in flight: it stops accepting at once, its health says
/// 503, HAProxy marks it DOWN and sends new uploads to the others; the upload that goes on
/// completes and is acknowledged; the one that stays silent is cut at the drain bound (and
/// never acknowledged); then the node exits 0.
async fn sigterm_drains_uploads_in_flight(nodes: &mut Nodes, mark: &str, acked: &mut Acked) {
    let (addr, health_addr) = (nodes.nodes[2].server.source, nodes.nodes[2].health);
    let finishing = RawUpload::begin(addr, &format!("drained {mark}"), 4).await;
    let silent = RawUpload::begin(addr, &format!("silent {mark}"), 4).await;
    // Both heads are read and their bodies are on their way (to Garage, in parts).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    nodes.nodes[2].server.terminate();

    let said_503 = eventually(Duration::from_secs(5), move || async move {
        health(health_addr).await == Some((503, "unavailable\n".into()))
    })
    .await;
    assert!(said_503, "a stopping node's health is not 503");
    let refused = eventually(Duration::from_secs(5), move || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(refused, "a stopping node still accepts connections");
    let down = wait_for_status(nodes, 2, "DOWN").await;
    assert!(down, "haproxy did not mark the stopping node DOWN");
    // A rolling restart: sources through the balancer see nothing of it.
    let c = client(Duration::from_secs(60));
    for i in 0..10 {
        let text = format!("during drain {i} {mark}");
        assert!(send_message(&c, nodes.lb.source, &text).await, "{text}");
        acked.add(text);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(DRAIN),
        "too slow to test the drain"
    );
    let status = finishing.finish().await;
    assert_eq!(
        status, "HTTP/1.1 200 OK",
        "the upload in flight was not acknowledged"
    );
    acked.add(format!("drained {mark}"));

    let cut = silent.wait_closed(Duration::from_secs(DRAIN + 20)).await;
    assert!(
        !cut.contains(" 200 "),
        "a cut upload was acknowledged: {cut:.200}"
    );
    let exit = nodes.nodes[2]
        .server
        .wait_exit(Duration::from_secs(DRAIN + 20))
        .expect("the node did not exit after the drain");
    let took = t0.elapsed();
    assert!(exit.success(), "exit status {exit}");
    assert!(
        took >= Duration::from_secs(DRAIN - 1),
        "the node did not wait for the silent upload: {took:?}"
    );
    nodes.nodes[2].server.start();
    assert!(wait_for_status(nodes, 2, "UP").await, "node 3 not back UP");
}

/// Waits up to 15 s until HAProxy gives node `i` (0-based) a status starting with `status`.
async fn wait_for_status(nodes: &Nodes, i: usize, status: &str) -> bool {
    eventually(Duration::from_secs(15), move || async move {
        nodes.lb.source_status(i).starts_with(status)
    })
    .await
}

/// Sends messages in a loop to `addrs` in turn until `stop`; what was acknowledged and what
/// failed.
async fn keep_sending(
    addrs: Vec<SocketAddr>,
    label: String,
    stop: Arc<AtomicBool>,
) -> (Vec<String>, Vec<String>) {
    let c = client(Duration::from_secs(30));
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let addr = addrs[i % addrs.len()];
        let text = format!("{label} {i}");
        if send_message(&c, addr, &text).await {
            ok.push(text);
        } else {
            failed.push(format!("{text} to {addr}"));
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (ok, failed)
}

/// SIGKILL to node 2 in the middle of a large upload while sources send to the others: they
/// see no error, and once HAProxy has marked it DOWN, uploads through HAProxy succeed.
async fn sigkill_leaves_the_others_serving(nodes: &mut Nodes, mark: &str, acked: &mut Acked) {
    let killed = nodes.nodes[1].server.source;
    let cut = RawUpload::begin(killed, &format!("killed {mark}"), 16).await;
    let started = wait_for(Duration::from_secs(30), || {
        nodes.garage.unfinished_multipart_uploads() > 0
    });
    assert!(
        started,
        "no multipart upload began on the node to be killed"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let others = vec![nodes.nodes[0].server.source, nodes.nodes[2].server.source];
    let senders: Vec<_> = (0..2)
        .map(|k| {
            let label = format!("beside the kill {k} {mark}");
            tokio::spawn(keep_sending(others.clone(), label, stop.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nodes.nodes[1].server.kill();
    drop(cut);
    assert!(
        wait_for_status(nodes, 1, "DOWN").await,
        "killed node not DOWN"
    );
    let c = client(Duration::from_secs(60));
    for i in 0..10 {
        let text = format!("after the kill {i} {mark}");
        assert!(send_message(&c, nodes.lb.source, &text).await, "{text}");
        acked.add(text);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        let (ok, failed) = s.await.unwrap();
        assert!(
            failed.is_empty(),
            "a source sending to a live node failed: {failed:?}"
        );
        assert!(ok.len() >= 5, "the senders hardly sent: {}", ok.len());
        for text in ok {
            acked.add(text);
        }
    }
}

/// Through HAProxy's editor API: every acknowledged message listed exactly once, nothing
/// else, all decrypting; the files intact. Then the surviving nodes' janitor removes the
/// killed node's leftovers: the bucket ends with exactly the listed items' objects.
async fn every_acknowledged_upload_is_listed_once(nodes: &Nodes, acked: &Acked, files: usize) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let o = fetch_from(nodes.lb.api, &nodes.editor, &bundle);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let items = manifest(&bundle)["items"].as_array().unwrap().len();
    let messages: usize = acked.0.values().sum();
    // The drained upload carried a file too.
    assert_eq!(items, messages + files + 1, "listed items");
    let out = dir.path().join("out");
    let o = decrypt(&nodes.editor.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut listed = Acked::default();
    let mut file_bytes = 0;
    for p in files_under(&out) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name == "message.txt" {
            listed.add(std::fs::read_to_string(&p).unwrap().trim().to_owned());
        } else if name.contains(".bin") {
            let bytes = std::fs::read(&p).unwrap();
            assert!(bytes.iter().all(|b| *b == bytes[0]), "{name} altered");
            file_bytes += bytes.len();
        }
    }
    assert_eq!(
        listed.0, acked.0,
        "listed messages differ from the acknowledged ones"
    );
    assert_eq!(file_bytes, files * 16 * 1024 + (4 << 20), "file bytes");

    let clean = wait_for(Duration::from_secs(GRACE + 30), || {
        nodes.garage.unfinished_multipart_uploads() == 0 && nodes.objects() == 2 * items as u64
    });
    assert!(
        clean,
        "after the grace period: {} incomplete multipart uploads, {} objects for {items} items",
        nodes.garage.unfinished_multipart_uploads(),
        nodes.objects()
    );
}

/// A node's health while PostgreSQL, then Garage, is stopped: 503 with the fixed body, at
/// once (the answer never waits for a store), and 200 again when the store is back.
async fn health_follows_the_stores(nodes: &mut Nodes) {
    let h = nodes.nodes[0].health;
    let says = move |status: u16| async move {
        let t = Instant::now();
        let got = health(h).await;
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a health answer took {:?}",
            t.elapsed()
        );
        let body = if status == 200 {
            "ok\n"
        } else {
            "unavailable\n"
        };
        got == Some((status, body.to_owned()))
    };
    nodes.pg.stop();
    assert!(
        eventually(Duration::from_secs(15), || says(503)).await,
        "503 without PostgreSQL"
    );
    nodes.pg.start_again();
    assert!(
        eventually(Duration::from_secs(30), || says(200)).await,
        "200 after PostgreSQL"
    );
    nodes.garage.stop();
    assert!(
        eventually(Duration::from_secs(15), || says(503)).await,
        "503 without Garage"
    );
    nodes.garage.start_again();
    assert!(
        eventually(Duration::from_secs(30), || says(200)).await,
        "200 after Garage"
    );
}
