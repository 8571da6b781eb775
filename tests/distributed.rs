//! sanduq on PostgreSQL and a real Garage (S3), from outside: the round trip, no plaintext at
//! rest, a crash mid-upload, each engine stopped and started while sources submit, and an
//! embedded install moved onto them.

use std::time::Duration;

use sanduq::i18n::Locale;

use crate::common::garage::Garage;
use crate::common::pg::PgCluster;
use crate::common::*;
use crate::intake::{needles, scan};
use crate::migrate::{check_after, fill, migrate, successor};

/// A PostgreSQL cluster with a database for one install, and a Garage with its bucket.
struct Stack {
    pg: PgCluster,
    garage: Garage,
    url: String,
}

impl Stack {
    async fn start() -> Stack {
        let pg = PgCluster::start();
        let url = pg.database("sanduq").await;
        Stack {
            pg,
            garage: Garage::start(),
            url,
        }
    }

    /// The config text `t` on these stores, with a janitor of `grace` seconds.
    fn config(&self, c: &mut TestConfig, grace: u64) {
        c.janitor(i64::try_from(grace).unwrap())
            .set_lines("store", &self.garage.store_keys(&self.url));
    }

    /// The object store's credentials, as sanduq reads them: from the environment only.
    fn env(&self) -> Vec<(String, String)> {
        self.garage.env()
    }

    /// A started server on these stores, logging at `trace`.
    fn server(&self, grace: u64) -> Server {
        let mut server = Server::configured(|c| self.config(c, grace));
        server.env = self.env();
        server.log_filter = "trace".into();
        server.start();
        server
    }

    /// Objects in the bucket (items and upload markers), as Garage counts them.
    fn objects(&self) -> u64 {
        let info = self
            .garage
            .cli_ok(&["bucket", "info", self.garage.bucket()]);
        info.lines()
            .find_map(|l| l.trim().strip_prefix("Objects:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("an object count in `garage bucket info`")
    }
}

/// Every time of day in `text` other than midnight.
fn times_of_day(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(7))
        .filter(|&i| {
            let d = |j: usize| b[i + j].is_ascii_digit();
            d(0) && d(1) && b[i + 2] == b':' && d(3) && d(4) && b[i + 5] == b':' && d(6) && d(7)
        })
        .map(|i| text[i..i + 8].to_owned())
        .filter(|t| t != "00:00:00")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_round_trip_on_postgres_and_garage_leaves_no_plaintext_and_no_time_of_day() {
    let stack = Stack::start().await;
    let server = stack.server(86_400);
    let before = fill(&server).await;
    check_after(&server, &before).await;
    assert!(
        server.blob_files().is_empty(),
        "ciphertext went to the local folder"
    );
    assert!(stack.objects() >= 5, "the bucket holds the objects");

    let mut files = files_under(&stack.pg.data_dir());
    files.extend(files_under(&stack.garage.data_dir()));
    files.extend(files_under(&stack.garage.meta_dir()));
    files.extend(files_under(&server.data()));
    files.push(server.log.clone());
    let hits = scan(&files, &needles(&before.marker));
    assert!(hits.is_empty(), "plaintext at rest: {hits:?}");
    // Not even at `trace`, with the S3 and PostgreSQL clients' own logs: no marker, no id.
    let logs = server.logs();
    assert!(logs.contains("TRACE"), "the server logged at trace");
    assert!(!logs.contains(&before.marker));
    let bundle = server.dir.path().join("ids");
    assert!(fetch(&server, &before.ed, &bundle).status.success());
    let m = manifest(&bundle);
    let ids = m["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(m["sources"].as_array().unwrap())
        .map(|i| i["id"].as_str().unwrap().to_owned());
    for id in ids {
        assert!(!logs.contains(&id), "the log names {id}");
    }

    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--inserts", &stack.url])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{dump:?}");
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("INSERT INTO public.items"), "{dump:.500}");
    assert_eq!(times_of_day(&dump), Vec::<String>::new(), "{dump}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_upload_lists_nothing_and_the_janitor_empties_the_bucket() {
    let stack = Stack::start().await;
    let mut server = stack.server(3);
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let body = multipart(&[
        Part::text("csrf_token", v.token.as_bytes()),
        Part::text("message", b"interrupted"),
        Part::file(b"big.bin", &vec![9u8; 40 << 20]),
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
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    // Parts of the file are on their way to Garage.
    let started = wait_for(Duration::from_secs(20), || {
        stack.garage.unfinished_multipart_uploads() > 0
    });
    assert!(started, "no multipart upload began");
    server.kill();
    drop(s);
    server.start();

    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 0);
    let clean = wait_for(Duration::from_secs(30), || {
        stack.garage.unfinished_multipart_uploads() == 0 && stack.objects() == 0
    });
    assert!(
        clean,
        "after the grace period: {} incomplete multipart uploads, {} objects",
        stack.garage.unfinished_multipart_uploads(),
        stack.objects()
    );
}

/// Submits a message in Tajik; the status and the page.
async fn submit_tg(server: &Server, text: &str) -> (u16, String) {
    let v = Visitor::new(server).await;
    v.submit_in(server, "tg", &[Part::text("message", text.as_bytes())])
        .await
}

/// Submits until one is accepted (the engine back), within 30 s.
async fn submit_until_accepted(server: &Server, text: &str) {
    for _ in 0..30 {
        if submit_tg(server, text).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("no submission accepted after the engine came back");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_engine_stopped_gives_a_503_page_and_sanduq_recovers_without_a_restart() {
    let mut stack = Stack::start().await;
    let server = stack.server(86_400);
    let ed = server.add_editor("ana", None);
    let tg = Locale::from_code("tg").unwrap();
    let title = tg.message("error-unavailable-title", None);
    assert_eq!(submit_tg(&server, "first").await.0, 200);

    stack.pg.stop();
    for _ in 0..2 {
        let (status, page) = submit_tg(&server, "while postgres is down").await;
        assert_eq!(status, 503, "{page:.300}");
        assert!(page.contains(&title), "{page:.500}");
    }
    stack.pg.start_again();
    submit_until_accepted(&server, "after postgres").await;

    stack.garage.stop();
    for _ in 0..2 {
        let (status, page) = submit_tg(&server, "while garage is down").await;
        assert_eq!(status, 503, "{page:.300}");
        assert!(page.contains(&title), "{page:.500}");
    }
    stack.garage.start_again();
    submit_until_accepted(&server, "after garage").await;

    // Exactly the accepted ones are listed, and each decrypts.
    let bundle = server.dir.path().join("b");
    let o = fetch(&server, &ed, &bundle);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(manifest(&bundle)["items"].as_array().unwrap().len(), 3);
    let out = server.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let texts: Vec<String> = files_under(&out)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "message.txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(texts.iter().all(|t| !t.contains("down")), "{texts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedded_install_moves_to_postgres_and_garage() {
    let stack = Stack::start().await;
    let mut old = Server::start_default();
    let before = fill(&old).await;
    old.kill();
    let mut new = successor(&old, |t| {
        let mut c = TestConfig::parse(&t);
        stack.config(&mut c, 86_400);
        c.text()
    });
    new.env = stack.env();
    let o = migrate(&old, &new, &stack.env());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("copied 5 objects"), "{said}");
    assert_eq!(stack.objects(), 5);
    new.start();
    check_after(&new, &before).await;
    // Run again: nothing to copy.
    new.kill();
    let o = migrate(&old, &new, &stack.env());
    assert!(String::from_utf8_lossy(&o.stdout).contains("5 already there"));
}
