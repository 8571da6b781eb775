//! Content-free notifications against real servers: an SMTP server (aiosmtpd, STARTTLS
//! with a CA made here, login required) and an HTTP receiver. A notice arrives after a
//! submission and not without one, holds nothing of it, comes at most once per period, is
//! retried after a failure, and the log never names an address or a secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sanduq::store::Channel;

use crate::common::*;

/// Seconds per notice period: short, so the test is; the server warns that it is.
const PERIOD: f64 = 4.0;
/// The most a notice may take from the server's decision to its receipt.
const LATENCY: f64 = 1.0;
const SMTP_USER: &str = "sanduq-notices";
const SMTP_PASSWORD: &str = "smtp-pw-7f3a9c";
const WEBHOOK_SECRET: &str = "hook-secret-51be02";
const EDITOR_MAIL: &str = "ed-notify@example.org";

/// aiosmtpd with STARTTLS required (or implicit TLS) and a login required; each message's envelope and raw
/// text is written to a file named by its arrival time.
const SMTP_SERVER: &str = r#"
import os, ssl, sys, threading, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
out, port, cert, key, user, password, mode = sys.argv[1:8]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        raw = ("MAIL FROM:%s\nRCPT TO:%s\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))).encode()
        tmp = os.path.join(out, ".tmp")
        with open(tmp, "wb") as f:
            f.write(raw + envelope.original_content)
        os.rename(tmp, os.path.join(out, "%.3f.eml" % time.time()))
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
if mode == "starttls":
    tls = dict(tls_context=ctx, require_starttls=True)
else:  # implicit TLS: the whole session is TLS, so AUTH is offered at once
    tls = dict(ssl_context=ctx, auth_require_tls=False)
c = Controller(Handler(), hostname="127.0.0.1", port=int(port), authenticator=auth,
               auth_required=True, **tls)
c.start()
print("ready", flush=True)
threading.Event().wait()
"#;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A throwaway CA and a certificate for `localhost` it signed: (CA PEM, cert PEM, key PEM).
fn throwaway_ca() -> (String, String, String) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// The SMTP server, stopped when dropped; mails land in `out`.
struct Smtp {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Smtp {
    /// `mode` is `starttls` or `tls` (implicit).
    fn start(dir: &Path, cert: &Path, key: &Path, mode: &str) -> Smtp {
        let out = dir.join("mail");
        std::fs::create_dir(&out).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SMTP_SERVER)
            .args([out.to_str().unwrap(), &port.to_string()])
            .args([cert.to_str().unwrap(), key.to_str().unwrap()])
            .args([SMTP_USER, SMTP_PASSWORD, mode])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        Smtp { child, port, out }
    }

    /// Every mail so far, oldest first: arrival time and raw text.
    fn mails(&self) -> Vec<(f64, String)> {
        let mut all: Vec<_> = files_under(&self.out)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .map(|p| {
                let t: f64 = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                (t, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP receiver that keeps every request whole (head and body) with its arrival time,
/// and answers the first one 500, the rest 200: the first notice must be retried.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(f64, u16, String)>>>,
}

impl Receiver {
    fn start(&self) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = self.got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let raw = read_request(&mut conn);
                let mut got = got.lock().unwrap();
                let status = if got.is_empty() { 500 } else { 200 };
                got.push((now(), status, raw));
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        port
    }

    /// Requests answered 200, oldest first: the notices delivered.
    fn delivered(&self) -> Vec<(f64, String)> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|r| r.1 == 200)
            .map(|r| (r.0, r.2.clone()))
            .collect()
    }

    fn all(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// One HTTP/1.1 request: the head, then as many body bytes as `content-length` says.
fn read_request(conn: &mut std::net::TcpStream) -> String {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The server's config with `[notify]` at the end; its secrets in files beside it.
fn notify_section(data: &Path, smtp_port: u16, mode: &str) -> String {
    std::fs::write(data.join("smtp-password"), format!("{SMTP_PASSWORD}\n")).unwrap();
    std::fs::write(data.join("webhook-secret"), WEBHOOK_SECRET).unwrap();
    format!(
        "\n[notify]\nperiod_seconds = {}\nsmtp_server = \"localhost\"\nsmtp_port = {smtp_port}\n\
         smtp_tls = \"{mode}\"\n\
         from = \"sanduq@example.org\"\nsmtp_user = \"{SMTP_USER}\"\n\
         smtp_password_file = \"smtp-password\"\nca_file = \"ca.pem\"\n\
         webhook_secret_file = \"webhook-secret\"\n",
        PERIOD as u64
    )
}

/// A submission with `m` in its message, a file's name and bytes; or, with `form`, in form
/// answers and an attached document's name and bytes.
async fn submit(server: &Server, m: &str, form: bool) {
    let v = Visitor::new(server).await;
    let text = format!("text {m}");
    let filename = format!("{m}.pdf");
    let parts = if form {
        vec![
            Part::text("form", b"detention"),
            Part::text("f.detained_name", text.as_bytes()),
            Part::text("f.relation", b"parent"),
            Part::text("f.arrest_date", b"2025-03-01"),
            Part::text("f.charges", text.as_bytes()),
            Part::text("f.consent_publish", b"anonymous"),
            Part::text("f.consent_share", b"yes"),
            Part {
                name: "f.documents",
                filename: Some(filename.as_bytes()),
                content_type: Some("application/pdf"),
                data: m.as_bytes(),
            },
        ]
    } else {
        vec![
            Part::text("message", text.as_bytes()),
            Part::file(filename.as_bytes(), m.as_bytes()),
        ]
    };
    let (status, page) = v.submit(server, &parts).await;
    assert_eq!(status, 200, "{page}");
}

/// Waits for notice number `n` on both channels; their arrival times.
fn wait_for_notices(smtp: &Smtp, hook: &Receiver, n: usize) -> (f64, f64) {
    let within = Duration::from_secs_f64(2.0 * PERIOD + 2.0 * LATENCY);
    assert!(
        wait_for(within, || smtp.mails().len() >= n
            && hook.delivered().len() >= n),
        "notice {n} did not arrive in two periods: {} mails, {} webhooks",
        smtp.mails().len(),
        hook.delivered().len()
    );
    (smtp.mails()[n - 1].0, hook.delivered()[n - 1].0)
}

/// The period of the last notice sent to `ed`, by e-mail and by webhook, from the server's
/// own store: once both are recorded and, if `before` is given, both differ from it (the
/// store is written just after a delivery), or as they are after two seconds.
async fn sent_periods(store: &dyn sanduq::store::MetaStore, before: Option<&[u64]>) -> Vec<u64> {
    for attempt in 0..20 {
        let rows = store.notify_rows().await.unwrap();
        let periods: Vec<_> = [Channel::Email, Channel::Webhook]
            .iter()
            .filter_map(|c| {
                let row = rows.iter().find(|r| r.editor == "ed" && r.channel == *c);
                row.and_then(|r| r.sent_period)
            })
            .collect();
        let moved = before.is_none_or(|b| b.iter().zip(&periods).all(|(b, p)| b != p));
        if periods.len() == 2 && (moved || attempt == 19) {
            return periods;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server recorded no notice")
}

/// Nothing of a submission in a notice; what it must hold.
fn check_mail(raw: &str, markers: &[&str]) {
    for m in markers {
        assert!(
            !raw.contains(m),
            "the mail holds the submission's marker:\n{raw}"
        );
    }
    assert!(raw.contains(&format!("RCPT TO:{EDITOR_MAIL}")), "{raw}");
    assert!(
        raw.contains(&format!("Subject: {}", sanduq::notify::SUBJECT)),
        "{raw}"
    );
    let date = raw
        .lines()
        .find(|l| l.starts_with("Date: "))
        .expect("a Date");
    assert!(
        date.ends_with("00:00:00 +0000"),
        "finer than the day: {date}"
    );
    for word in ["default", "detention", "pdf", "parent"] {
        assert!(!raw.contains(word), "{word:?} in the mail:\n{raw}");
    }
}

fn check_webhook(raw: &str, markers: &[&str]) {
    for m in markers {
        assert!(!raw.contains(m), "the webhook holds the marker:\n{raw}");
    }
    assert!(raw.starts_with("POST /hook/ed HTTP/1.1\r\n"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains(&format!("authorization: bearer {WEBHOOK_SECRET}")),
        "{raw}"
    );
    assert!(raw.ends_with(sanduq::notify::BODY), "{raw}");
    for word in ["default", "detention", "pdf", "parent", "date:"] {
        assert!(
            !raw.to_ascii_lowercase().contains(word),
            "{word:?} in:\n{raw}"
        );
    }
}

/// The SMTP server, the receiver and a sanduq server (not yet started) whose editor `ed` is
/// opted in by e-mail and webhook, and `ed2` by a webhook nothing listens on.
struct Rig {
    _tmp: tempfile::TempDir,
    smtp: Smtp,
    hook: Receiver,
    server: Server,
}

fn rig(mode: &str) -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = throwaway_ca();
    let (cert_file, key_file) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let smtp = Smtp::start(tmp.path(), &cert_file, &key_file, mode);
    let hook = Receiver::default();
    let hook_port = hook.start();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::init(|t| t);
    let dir = server.data();
    std::fs::write(dir.join("ca.pem"), ca).unwrap();
    let text =
        std::fs::read_to_string(&server.config).unwrap() + &notify_section(&dir, smtp.port, mode);
    std::fs::write(&server.config, text).unwrap();
    let config = server.config.to_str().unwrap().to_owned();
    server.add_editor("ed", None);
    server.add_editor("ed2", None);
    let hook_url = format!("http://127.0.0.1:{hook_port}/hook/ed");
    let set = ["admin", "notify", "set", "--config", &config, "--name"];
    let ed = ["ed", "--email", EDITOR_MAIL, "--webhook", &hook_url];
    sanduq_ok(&[&set[..], &ed].concat());
    let dead_url = format!("http://127.0.0.1:{closed}/hook/dead");
    sanduq_ok(&[&set[..], &["ed2", "--webhook", &dead_url]].concat());
    Rig {
        _tmp: tmp,
        smtp,
        hook,
        server,
    }
}

/// The log: the dead webhook's failures, the short period's warning, and no address, URL,
/// secret or marker.
fn check_logs(logs: &str, marker: &str) {
    assert!(
        logs.contains("could not be delivered"),
        "the dead webhook's failures are logged"
    );
    let secrets = [
        EDITOR_MAIL,
        "hook/dead",
        "hook/ed",
        SMTP_PASSWORD,
        WEBHOOK_SECRET,
        marker,
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "{secret:?} in the log");
    }
    assert!(
        logs.contains("period_seconds is under a day"),
        "the short period is warned of"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_say_only_that_something_arrived_once_per_period() {
    let Rig {
        _tmp,
        smtp,
        hook,
        mut server,
    } = rig("starttls");
    let dir = server.data();
    server.start();

    // Two whole periods with nothing sent: no notice.
    std::thread::sleep(Duration::from_secs_f64(2.0 * PERIOD + 0.5));
    assert_eq!(smtp.mails().len(), 0, "a mail without a submission");
    assert_eq!(hook.all(), 0, "a webhook without a submission");

    let store = sanduq::store::sqlite::SqliteMetaStore::open(&dir.join("meta.sqlite"))
        .await
        .unwrap();
    let mut markers = vec![marker()];
    submit(&server, &markers[0], false).await;
    wait_for_notices(&smtp, &hook, 1);
    assert!(hook.all() >= 2, "the refused first webhook was tried again");
    // A submission at once after each notice must wait for a later period. Whether a notice
    // sent at once would show depends on how much of the period is left; up to three rounds,
    // until one leaves enough.
    for round in 2..=4 {
        let before = sent_periods(&store, None).await;
        let left = before
            .iter()
            .map(|p| (*p + 1) as f64 * PERIOD - now())
            .fold(PERIOD, f64::min);
        markers.push(marker());
        submit(&server, &markers[round - 1], round % 2 == 0).await;
        let arrived = wait_for_notices(&smtp, &hook, round);
        let after = sent_periods(&store, Some(&before)).await;
        for ((p, q), at) in before.iter().zip(&after).zip([arrived.0, arrived.1]) {
            assert!(q > p, "two notices in period {p} (period {PERIOD} s)");
            assert!(
                at >= (*p + 1) as f64 * PERIOD,
                "received before period {p} ended"
            );
        }
        if left > 0.7 {
            break;
        }
    }
    let rounds = markers.len();
    assert_eq!(smtp.mails().len(), rounds, "one mail per arrival period");
    assert_eq!(
        hook.delivered().len(),
        rounds,
        "one webhook per arrival period"
    );
    let markers: Vec<&str> = markers.iter().map(String::as_str).collect();
    for (_, raw) in smtp.mails() {
        check_mail(&raw, &markers);
    }
    for (_, raw) in hook.delivered() {
        check_webhook(&raw, &markers);
    }
    check_logs(&server.logs(), markers[0]);
}

#[test]
fn secrets_in_sanduq_toml_are_refused() {
    let server = Server::init(|t| t + "\n[notify]\nsmtp_password = \"pw-in-file-93\"\n");
    let out = sanduq(&[
        "admin",
        "editor",
        "list",
        "--config",
        server.config.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("notify.smtp_password") && err.contains("smtp_password_file"),
        "{err}"
    );
    assert!(!err.contains("pw-in-file-93"), "{err}");
}

#[test]
fn admin_notify_checks_what_it_stores() {
    let plain = Server::init(|t| t);
    plain.add_editor("ana", None);
    let config = plain.config.to_str().unwrap().to_owned();
    let fails = |args: &[&str], says: &str| {
        let out = sanduq(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    };
    let set = ["admin", "notify", "set", "--config", &config, "--name"];
    let hook = "https://ntfy.example.org/ana-x7";
    fails(
        &[&set[..], &["ana", "--webhook", hook]].concat(),
        "[notify]",
    );

    let webhook_only = Server::init(|t| t + "\n[notify]\n");
    webhook_only.add_editor("ana", None);
    let config = webhook_only.config.to_str().unwrap().to_owned();
    let set = ["admin", "notify", "set", "--config", &config, "--name"];
    fails(
        &[&set[..], &["ana", "--email", "ana@example.org"]].concat(),
        "smtp_server",
    );
    for bad in [
        "http://ntfy.example.org/a",
        "https://u:p@ntfy.example.org/a",
        "nope",
    ] {
        fails(&[&set[..], &["ana", "--webhook", bad]].concat(), "webhook");
    }
    fails(
        &[&set[..], &["bob", "--webhook", hook]].concat(),
        "no editor named",
    );
    sanduq_ok(&[&set[..], &["ana", "--webhook", hook]].concat());
    let list = ["admin", "notify", "list", "--config", &config];
    assert_eq!(sanduq_ok(&list), format!("ana\twebhook\t{hook}\n"));
    sanduq_ok(&[
        "admin", "notify", "off", "--config", &config, "--name", "ana",
    ]);
    assert_eq!(sanduq_ok(&list), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_delivers_too() {
    let Rig {
        _tmp,
        smtp,
        hook,
        mut server,
    } = rig("tls");
    server.start();
    let m = marker();
    submit(&server, &m, false).await;
    wait_for_notices(&smtp, &hook, 1);
    check_mail(&smtp.mails()[0].1, &[&m]);
}
