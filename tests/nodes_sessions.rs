//! Sessions across nodes and restarts, from outside: three `sanduq serve` processes on one
//! PostgreSQL and one Garage, each with its own listeners and data directory and the same
//! configuration (pepper included), and an embedded install restarted. A source's session
//! works on whichever node answers, ends on all at logout and at its idle time, survives a
//! restart of every node, and a copy of the database opens none of it.

use std::time::Duration;

use base64::Engine as _;
use sanduq::web::sealed::{self, CookieKeys};

use crate::common::garage::Garage;
use crate::common::pg::PgCluster;
use crate::common::*;
use crate::intake::needles;

/// One PostgreSQL, one Garage, and three nodes on them.
struct Nodes {
    // Stopped first, before the stores they use.
    nodes: Vec<Server>,
    pg: PgCluster,
    _garage: Garage,
    url: String,
}

impl Nodes {
    /// Three started nodes whose sessions end after `idle` seconds.
    async fn start(idle: u64) -> Nodes {
        let pg = PgCluster::start();
        let url = pg.database("sanduq").await;
        let garage = Garage::start();
        let stores = garage.store_keys(&url);
        let env = garage.env();
        let first = Server::configured(|c| {
            c.set_lines("store", &stores)
                .set("listen.session_idle_seconds", i64::try_from(idle).unwrap());
        });
        let text = std::fs::read_to_string(&first.config).unwrap();
        let mut nodes = vec![first];
        // The others: the first one's configuration (pepper, stores) on their own ports.
        for _ in 1..3 {
            let n = Server::init(|t| t);
            let own = text
                .replace(&nodes[0].source.to_string(), &n.source.to_string())
                .replace(&nodes[0].api.to_string(), &n.api.to_string());
            std::fs::write(&n.config, own).unwrap();
            nodes.push(n);
        }
        for n in &mut nodes {
            n.env = env.clone();
            n.start();
        }
        Nodes {
            nodes,
            pg,
            _garage: garage,
            url,
        }
    }

    /// How many session rows PostgreSQL holds.
    async fn session_rows(&self) -> i64 {
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        let n = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }
}

fn logged_in(page: &str) -> bool {
    page.contains("You are logged in")
}

/// A new source through `through`, with an answer from `ed` pushed through `push_via`: the
/// visitor, its codename and the answer's text. `bundle` is the editor's; the new source is
/// the one of its manifest that `answered` does not name yet (then it does).
async fn answered_source(
    through: &Server,
    push_via: &Server,
    ed: &EditorKeys,
    bundle: &std::path::Path,
    answered: &mut Vec<String>,
) -> (Visitor, String, String) {
    let v = Visitor::new(through).await;
    let (status, page) = v.submit(through, &[Part::text("message", b"hello")]).await;
    assert_eq!(status, 200);
    let codename = codename_in(&page);
    assert!(fetch(push_via, ed, bundle).status.success());
    let answer = marker();
    let source = manifest(bundle)["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .find(|id| !answered.contains(id))
        .expect("the new source in the manifest");
    answered.push(source.clone());
    let out = reply_to_and_push(push_via, ed, bundle, &source, &answer);
    assert!(out.status.success(), "{out:?}");
    (v, codename, answer)
}

/// Logs out the holder of `session` on `server`, with its page's form token.
async fn logout(server: &Server, session: &str) -> u16 {
    let token = logged_in_page_token(&page_with(server, session).await);
    no_redirect()
        .post(server.source_url("/logout"))
        .header("cookie", session)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_works_on_every_node_and_ends_on_all_at_logout() {
    let n = Nodes::start(1800).await;
    let [one, two, three] = [&n.nodes[0], &n.nodes[1], &n.nodes[2]];
    let ed = one.add_editor("ana", None);
    let bundle = one.dir.path().join("bundle");
    // Submitted through node 1, answered through node 3's API, logged in through node 2 (with
    // the form cookie node 1 gave: form tokens need no shared state).
    let (v, codename, answer) = answered_source(one, three, &ed, &bundle, &mut Vec::new()).await;
    let res = login(two, &v, &codename).await;
    assert_eq!(res.status(), 303);
    let session = session_cookie(&res).unwrap();
    for node in [two, one, three, one] {
        let page = page_with(node, &session).await;
        assert!(logged_in(&page), "logged out on {}", node.source);
        assert!(page.contains(&answer), "the answer is not shown");
    }
    assert_eq!(n.session_rows().await, 1);

    assert_eq!(logout(three, &session).await, 303);
    for node in [one, two, three] {
        assert!(!logged_in(&page_with(node, &session).await));
    }
    assert_eq!(n.session_rows().await, 0, "logout left the row");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_of_every_node_keeps_sessions_and_an_idle_one_ends_everywhere() {
    // Sessions end 6 to 7.5 s after their last request; rows are swept every 1.5 s.
    let mut n = Nodes::start(6).await;
    let ed = n.nodes[0].add_editor("ana", None);
    let bundle = n.nodes[0].dir.path().join("bundle");
    let (v, codename, answer) =
        answered_source(&n.nodes[0], &n.nodes[1], &ed, &bundle, &mut Vec::new()).await;
    let session = session_cookie(&login(&n.nodes[2], &v, &codename).await).unwrap();
    assert!(logged_in(&page_with(&n.nodes[0], &session).await));

    for node in &mut n.nodes {
        node.kill();
    }
    for node in &mut n.nodes {
        node.start();
    }
    for node in &n.nodes {
        let page = page_with(node, &session).await;
        assert!(logged_in(&page), "a restart logged the source out");
        assert!(page.contains(&answer));
    }

    // No request now: the row goes by the sweep alone, then every node refuses the cookie.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut gone = false;
    for _ in 0..40 {
        if n.session_rows().await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(gone, "the expired session's row is still stored");
    for node in &n.nodes {
        assert!(!logged_in(&page_with(node, &session).await));
    }
}

/// `bytes` as they could be written: raw, hex, base64 (both alphabets, at every alignment).
fn encodings(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut v = vec![
        bytes.to_vec(),
        hex::encode(bytes).into_bytes(),
        hex::encode_upper(bytes).into_bytes(),
    ];
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        for shift in 0..3 {
            let mut padded = vec![0u8; shift];
            padded.extend_from_slice(bytes);
            let enc = engine.encode(&padded);
            let start = (shift * 4).div_ceil(3) + 1;
            v.push(enc.as_bytes()[start..enc.len() - 4].to_vec());
        }
    }
    v
}

/// Each file of `paths` that holds one of `needles`, with which (memchr's substring search:
/// a PostgreSQL data folder is tens of megabytes, and there are many needles).
fn scan(paths: &[std::path::PathBuf], needles: &[Vec<u8>]) -> Vec<String> {
    let mut hits = Vec::new();
    for p in paths {
        let Ok(buf) = std::fs::read(p) else {
            continue;
        };
        for n in needles {
            if memchr::memmem::find(&buf, n).is_some() {
                hits.push(format!(
                    "{} contains {:?}",
                    p.display(),
                    String::from_utf8_lossy(n)
                ));
            }
        }
    }
    hits
}

/// The sealed blob of row `row` in a plain-format `pg_dump` (bytea as `\x` hex).
fn sealed_in_dump(dump: &str, row: &[u8; 32]) -> Option<Vec<u8>> {
    let line = dump
        .lines()
        .find(|l| l.starts_with(&format!("\\\\x{}\t", hex::encode(row))))?;
    let sealed = line.split('\t').nth(1)?.strip_prefix("\\\\x")?;
    hex::decode(sealed).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_of_postgres_taken_while_sources_are_logged_in_opens_nothing() {
    let n = Nodes::start(1800).await;
    let ed = n.nodes[0].add_editor("ana", None);
    let bundle = n.nodes[0].dir.path().join("bundle");
    let (mut logged, mut answered) = (Vec::new(), Vec::new());
    for i in 0..2 {
        let (v, codename, answer) =
            answered_source(&n.nodes[i], &n.nodes[2], &ed, &bundle, &mut answered).await;
        let session = session_cookie(&login(&n.nodes[i + 1], &v, &codename).await).unwrap();
        assert!(page_with(&n.nodes[i], &session).await.contains(&answer));
        logged.push((codename, session, answer));
    }

    // The test cluster commits without waiting for the WAL (synchronous_commit = off): a
    // checkpoint puts every row in the data folder before it is copied.
    let checkpoint = std::process::Command::new("psql")
        .args([&n.url, "-q", "-c", "CHECKPOINT"])
        .output()
        .unwrap();
    assert!(checkpoint.status.success(), "{checkpoint:?}");
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", &n.url])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{dump:?}");
    let text = String::from_utf8_lossy(&dump.stdout).into_owned();
    let copy = n.pg.data_dir().parent().unwrap().join("dump.sql");
    std::fs::write(&copy, &dump.stdout).unwrap();
    let mut files = files_under(&n.pg.data_dir());
    files.push(copy);

    let config = sanduq::config::Config::load(&n.nodes[0].config).unwrap();
    let mut secret = Vec::new();
    for (codename, session, answer) in &logged {
        let value = session.split_once('=').unwrap().1;
        let keys = CookieKeys::from_cookie(value).unwrap();
        // The copy holds the session, and the cookie opens it: the scan below looks at the
        // right place.
        let sealed = sealed_in_dump(&text, &keys.row).expect("the session's row in the dump");
        assert!(
            sealed::open(&keys, &sealed).is_some(),
            "the cookie opens it"
        );
        assert!(
            !scan(&files, &[keys.row.to_vec()]).is_empty(),
            "the session's row id is nowhere in the data folder: the scan proves nothing"
        );
        secret.extend(needles(answer));
        secret.extend(encodings(keys.key_bytes()));
        secret.push(value.as_bytes().to_vec());
        let cookie = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .unwrap();
        secret.extend(encodings(&cookie));
        let c = sanduq::codename::Codename::parse(codename).unwrap();
        let derived =
            sanduq::codename::derive(&c, config.pepper.expose(), config.codename_cost).unwrap();
        let (x25519, pq) = derived.reply_secrets();
        secret.extend(encodings(x25519));
        secret.extend(encodings(pq));
    }
    let hits = scan(&files, &secret);
    assert!(hits.is_empty(), "a copy of PostgreSQL holds: {hits:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_of_an_embedded_install_keeps_sessions_sealed_in_sqlite() {
    let mut server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let bundle = server.dir.path().join("bundle");
    let (v, codename, answer) =
        answered_source(&server, &server, &ed, &bundle, &mut Vec::new()).await;
    let session = session_cookie(&login(&server, &v, &codename).await).unwrap();
    assert!(page_with(&server, &session).await.contains(&answer));

    server.kill();
    server.start();
    let page = page_with(&server, &session).await;
    assert!(logged_in(&page), "a restart logged the source out");
    assert!(page.contains(&answer));

    let value = session.split_once('=').unwrap().1;
    let keys = CookieKeys::from_cookie(value).unwrap();
    let files = files_under(&server.data());
    assert!(
        !scan(&files, &[keys.row.to_vec()]).is_empty(),
        "the session's row is nowhere in the data directory: the scan proves nothing"
    );
    let mut secret = encodings(keys.key_bytes());
    secret.push(value.as_bytes().to_vec());
    secret.extend(needles(&answer));
    let hits = scan(&files, &secret);
    assert!(hits.is_empty(), "the data directory holds: {hits:?}");

    assert_eq!(logout(&server, &session).await, 303);
    assert!(!logged_in(&page_with(&server, &session).await));
    assert!(
        scan(&files_under(&server.data()), &[keys.row.to_vec()]).is_empty(),
        "the ended session's row is still in the data directory"
    );
}
