//! The hardened front, checked from outside against a running server: connection and body
//! limits on a real listener, TLS (with the security headers over it), the Tor2web banner,
//! logs and core dumps, and the shipped deploy files. Each concern has a file of its own;
//! TLS, Tor2web, core dumps and logs live here. The headers of every kind of answer and the
//! crawl of every page need no listener: they are in tests/inprocess/.

// Request heads and bodies, stalled and slow uploads, connection caps, slowloris.
mod limits;
// deploy/torrc with `tor --verify-config`, deploy/sanduq.service with systemd-analyze.
mod deploy;

use crate::common::headers::check_headers;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends `head` and `body` on a fresh connection and returns all it answers, read until the
/// server closes or `limit` passes.
pub(super) async fn raw(addr: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_both_listeners_with_tls_1_2_and_1_3_only() {
    let (server, cert) = Server::start_with_tls();
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let build = |b: reqwest::ClientBuilder| {
        b.use_rustls_tls()
            .no_proxy()
            .add_root_certificate(root.clone())
            .resolve("localhost", server.source)
            .build()
            .unwrap()
    };
    let src = format!("https://localhost:{}/", server.source.port());
    for (what, c) in [
        (
            "TLS 1.2",
            build(reqwest::Client::builder().max_tls_version(reqwest::tls::Version::TLS_1_2)),
        ),
        (
            "TLS 1.3",
            build(reqwest::Client::builder().min_tls_version(reqwest::tls::Version::TLS_1_3)),
        ),
    ] {
        let res = c.get(&src).send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(res.version(), reqwest::Version::HTTP_11, "{what}");
        check_headers(what, res.headers());
    }
    // The API too.
    let c = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .add_root_certificate(root)
        .resolve("localhost", server.api)
        .build()
        .unwrap();
    let res = c
        .get(format!(
            "https://localhost:{}/api/v1/items",
            server.api.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Seen by another TLS stack: TLS 1.1 is refused, and no session is ever resumed (a
    // ticket or session id would link a source's visits).
    let port = server.source.port();
    let s_client = |args: &[&str]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost", "-ign_eof"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl is installed by scripts/test.sh");
        // A whole request: the answer (and any session ticket) arrives before the close.
        let _ = child.stdin.take().unwrap().write_all(
            b"GET /static/style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let old = s_client(&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    assert!(
        old.contains("Cipher is (NONE)") && old.contains("alert"),
        "TLS 1.1 was accepted: {old}"
    );
    for version in ["-tls1_2", "-tls1_3"] {
        let sess = server.dir.path().join(format!("session{version}"));
        let sess = sess.to_str().unwrap();
        let first = s_client(&[version, "-sess_out", sess]);
        assert!(first.contains("New, TLSv1."), "{version}: {first}");
        assert!(
            !std::path::Path::new(sess).exists(),
            "{version}: the server offered a resumable session: {first}"
        );
    }
    // No plain HTTP on a TLS listener.
    let plain = client().get(server.source_url("/")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_arriving_through_tor2web_are_warned() {
    let onion = format!("{}.onion", "b".repeat(56));
    let mut server = Server::configured(|c| {
        c.set("listen.onion_address", onion.as_str());
    });
    server.start();
    let c = client();
    let get = |host: String, tor2web: bool, path: &'static str| {
        let mut req = c.get(server.source_url(path)).header("host", host);
        if tor2web {
            req = req.header("x-tor2web", "encrypted");
        }
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let direct = get(onion.clone(), false, "/").await;
    assert!(
        !direct.contains("id=\"tor2web\""),
        "no banner over the onion"
    );
    let flagged = get(onion.clone(), true, "/").await;
    assert!(flagged.contains("id=\"tor2web\""));
    let gateway = get(format!("{}.onion.ws", "b".repeat(56)), false, "/").await;
    assert!(gateway.contains("id=\"tor2web\""));
    assert!(gateway.contains(&format!(">{onion}</code>")));
    let error = get("gateway.example".into(), false, "/nope").await;
    assert!(error.contains("id=\"tor2web\"") && error.contains("Page not found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_disables_core_dumps() {
    // The server is started with core dumps allowed, so that a limit of 0 is its own doing.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::CORE).unwrap();
    rlimit::setrlimit(rlimit::Resource::CORE, hard, hard).unwrap();
    assert!(
        rlimit::getrlimit(rlimit::Resource::CORE).unwrap().0 > 0,
        "the test could not allow core dumps"
    );
    let server = Server::start_default();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<_> = line.split_whitespace().collect();
    assert_eq!(&fields[4..6], &["0", "0"], "{line}");
}

#[allow(
    clippy::too_many_lines,
    reason = "the logs are scanned after every step of one round trip; split, the steps would need the same server and markers passed around"
)]
#[tokio::test(flavor = "multi_thread")]
async fn a_full_round_trip_logs_nothing_about_anyone() {
    let mut server = Server::init(|t| t);
    server.log_filter = "trace".into();
    server.start();
    let ed = server.add_editor("ana", None);
    let ua = marker();
    // The source's address differs from the listener's, so that any address in the logs
    // would be the source's.
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(ua.clone())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let v = Visitor::with_client(&server, c.clone()).await;
    let m = marker();
    let fname = format!("{}.pdf", marker());
    let file = vec![b'q'; 31_337];
    let (s, page) = v
        .submit(
            &server,
            &[
                Part::text("message", m.as_bytes()),
                Part::file(fname.as_bytes(), &file),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let codename = codename_in(&page);
    // Errors: a bad token, an unknown codename, a missing page with an id in it.
    let bad = Visitor {
        client: c.clone(),
        token: "wrong".into(),
        cookie: v.cookie.clone(),
    };
    assert_eq!(
        bad.submit(&server, &[Part::text("message", b"x")]).await.0,
        403
    );
    let res = c
        .post(server.source_url("/login"))
        .header("cookie", &v.cookie)
        .form(&[
            ("csrf_token", v.token.as_str()),
            ("codename", "wrong words here"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = c
        .post(server.source_url("/login"))
        .header("cookie", &v.cookie)
        .form(&[
            ("csrf_token", v.token.as_str()),
            ("codename", codename.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let session = session_cookie(&res).expect("logged in");
    // The editor: fetch, reply, push; the source reads the reply and deletes it.
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let man = manifest(&bundle);
    let source = man["sources"][0]["id"].as_str().unwrap().to_owned();
    let items: Vec<String> = man["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let reply_text = marker();
    let msg = server.dir.path().join("reply.txt");
    std::fs::write(&msg, &reply_text).unwrap();
    sanduq_ok(&[
        "reply",
        "--bundle",
        bundle.to_str().unwrap(),
        "--source",
        &source,
        "--message-file",
        msg.to_str().unwrap(),
    ]);
    sanduq_ok(&[
        "push",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    let page = c
        .get(server.source_url("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&reply_text));
    let token = logged_in_page_token(&page);
    let reply_id = page
        .split("name=\"reply\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let res = c
        .post(server.source_url("/reply/delete"))
        .header("cookie", &session)
        .form(&[("csrf_token", token.as_str()), ("reply", reply_id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection() || res.status().is_success());
    let res = c
        .get(server.source_url(&format!("/item/{}", items[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // A delete through the API, and an API error.
    sanduq_ok(&[
        "delete",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        &items[0],
    ]);
    let res = client()
        .get(format!(
            "{}/api/v1/items/{}/content",
            server.api_url(),
            items[1]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let logs = server.logs();
    let mut needles = vec![
        "127.0.0.2".to_owned(),
        ua,
        m,
        fname,
        reply_text,
        codename.clone(),
        source.clone(),
        reply_id,
        "31337".into(),
        "31,337".into(),
        "/submit".into(),
        "/login".into(),
        "/api/".into(),
        "user-agent".into(),
        "user_agent".into(),
        "GET ".into(),
        "POST ".into(),
    ];
    needles.extend(items);
    let words: Vec<&str> = codename.split(' ').collect();
    needles.extend(words.windows(2).map(|w| w.join(" ")));
    for n in &needles {
        assert!(
            !logs.contains(n.as_str()),
            "the logs contain {n:?}:\n{logs}"
        );
    }
    assert!(!logs.is_empty(), "the server logged its start at least");
}
