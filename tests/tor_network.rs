//! sanduq through real Tor: a private Tor network on loopback (tests/common/tor.rs, started
//! once and shared) carries a source in headless Chromium with JavaScript off to the source
//! onion, and the editor CLI to the client-authorised editor API onion. The onion services
//! run deploy/torrc's own options, so these tests check the shipped configuration: client
//! authorisation refuses a tor without the key, and a circuit that opens more streams than
//! `HiddenServiceMaxStreams` is closed while sanduq goes on serving the others.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::common::chrome::Driver;
use crate::common::tor::{self, network, TorNet, WIRE_DESK};
use crate::common::*;

/// The text of the element `css`, waited for up to 60 s (a page through Tor takes a while).
async fn text_of(b: &Client, css: &str, net: &TorNet) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = b.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                return t;
            }
        }
        if Instant::now() > deadline {
            let page = b.source().await.unwrap_or_default();
            panic!(
                "no {css} within 60 s; the page:\n{page}\n{}",
                net.log_tail("editor")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn click(b: &Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shared network, started off the async runtime; a failed start's message as it is.
async fn shared_network() -> &'static TorNet {
    match tokio::task::spawn_blocking(network).await {
        Ok(net) => net,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs a `sanduq` command that talks to the editor API onion through `proxy`.
fn sanduq_via(proxy: &str, net: &TorNet, args: &[&str], token: &Path) -> Output {
    let api = net.api_url();
    let mut all = vec![args[0], "--server", &api, "--proxy", proxy];
    all.extend(["--token-file", token.to_str().unwrap()]);
    all.extend(&args[1..]);
    sanduq(&all)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_without_javascript_submits_and_reads_a_reply_through_tor() {
    let net = shared_network().await;
    let t0 = Instant::now();
    let ed = net.server.add_editor("tor-browser-ed", None);
    let driver = Driver::start();
    let b = driver.browser(false, Some(net.socks_stranger)).await;

    // Scripts are off in this browser: the probe page's script does not run.
    b.goto("data:text/html,<p id=s>off</p><script>document.getElementById('s').textContent='on'</script>")
        .await
        .unwrap();
    assert_eq!(text_of(&b, "#s", net).await, "off");

    b.goto(&net.source_url("/")).await.unwrap();
    // The real onion address: no Tor2web warning.
    assert!(text_of(&b, "textarea[name=message]", net).await.is_empty());
    assert!(
        b.find(Locator::Css("#tor2web")).await.is_err(),
        "a Tor2web warning on the real onion address"
    );
    let message = format!("Taken from the market at noon. {}", marker());
    b.find(Locator::Css("textarea[name=message]"))
        .await
        .unwrap()
        .send_keys(&message)
        .await
        .unwrap();
    click(&b, "form[action$='/submit'] button[type=submit]").await;
    let codename = text_of(&b, "#codename", net).await;
    assert_eq!(codename.split_whitespace().count(), 7, "{codename}");

    // The editor fetches through the authorised client, reads it, replies and pushes.
    let proxy = net.proxy(net.socks_editor, "browser-editor");
    let bundle = net.server.dir.path().join("tor-browser-bundle");
    let o = sanduq_via(
        &proxy,
        net,
        &["fetch", "--bundle", bundle.to_str().unwrap()],
        &ed.token_file,
    );
    assert!(o.status.success(), "{}{}", stderr(&o), net.log_tails());
    let out = net.server.dir.path().join("tor-browser-out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let texts: Vec<String> = files_under(&out)
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    assert!(texts.contains(&message), "{texts:?}");
    let reply = "Received. Do not come to the office; we will write here.";
    let source = manifest(&bundle)["sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = bundle.with_file_name("tor-reply.txt");
    std::fs::write(&file, reply).unwrap();
    let bundle_arg = bundle.to_str().unwrap();
    sanduq_ok(&[
        "reply",
        "--bundle",
        bundle_arg,
        "--source",
        &source,
        "--message-file",
        file.to_str().unwrap(),
    ]);
    let o = sanduq_via(
        &proxy,
        net,
        &["push", "--bundle", bundle_arg],
        &ed.token_file,
    );
    assert!(o.status.success(), "{}{}", stderr(&o), net.log_tails());

    // The source comes back in a fresh browser, logs in and reads the reply.
    b.close().await.unwrap();
    let b = driver.browser(false, Some(net.socks_stranger)).await;
    b.goto(&net.source_url("/login")).await.unwrap();
    b.find(Locator::Css("input[name=codename]"))
        .await
        .unwrap()
        .send_keys(&codename)
        .await
        .unwrap();
    click(&b, "form[action$='/login'] button[type=submit]").await;
    assert_eq!(text_of(&b, ".reply-text", net).await, reply);
    b.close().await.unwrap();
    eprintln!("tor browser flow: {:.1?}", t0.elapsed());
}

/// A testimony sent to `desk` through the client on `socks`, as a source's browser would.
async fn submit_via_tor(net: &TorNet, socks: u16, desk: &str, message: &str) {
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(net.proxy(socks, "cli-source")).unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let res = client.get(net.source_url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = res.text().await.unwrap();
    let token = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let body = multipart(&[
        Part::text("csrf_token", token.as_bytes()),
        Part::text("desk", desk.as_bytes()),
        Part::text("message", message.as_bytes()),
    ]);
    let res = client
        .post(net.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", cookie)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_editor_cli_works_through_the_authorised_onion_and_a_keyless_tor_is_refused() {
    let net = shared_network().await;
    let t0 = Instant::now();
    let ed = net.server.add_editor("tor-cli-ed", Some(WIRE_DESK));
    let message = format!("The list of names is in the second file. {}", marker());
    submit_via_tor(net, net.socks_stranger, WIRE_DESK, &message).await;

    // fetch, then delete what was fetched, through the client holding the key.
    let proxy = net.proxy(net.socks_editor, "cli-editor");
    let bundle = net.server.dir.path().join("tor-cli-bundle");
    let bundle_arg = bundle.to_str().unwrap();
    let o = sanduq_via(
        &proxy,
        net,
        &["fetch", "--bundle", bundle_arg],
        &ed.token_file,
    );
    assert!(o.status.success(), "{}{}", stderr(&o), net.log_tails());
    let items = manifest(&bundle)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    let id = items[0]["id"].as_str().unwrap();
    let o = sanduq_via(&proxy, net, &["delete", id], &ed.token_file);
    assert!(o.status.success(), "{}{}", stderr(&o), net.log_tails());
    let again = net.server.dir.path().join("tor-cli-bundle-2");
    let o = sanduq_via(
        &proxy,
        net,
        &["fetch", "--bundle", again.to_str().unwrap()],
        &ed.token_file,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(manifest(&again)["items"].as_array().unwrap().len(), 0);

    // Without the key, tor cannot read the API's descriptor: SOCKS 0xF4, and one line.
    let refused = tor::socks_connect(
        net.socks_stranger,
        "stranger",
        &net.api_onion,
        80,
        Duration::from_secs(60),
    );
    assert_eq!(refused.err(), Some(0xF4), "{}", net.log_tail("stranger"));
    let stranger = net.proxy(net.socks_stranger, "stranger");
    let out = net.server.dir.path().join("tor-cli-stranger");
    let o = sanduq_via(
        &stranger,
        net,
        &["fetch", "--bundle", out.to_str().unwrap()],
        &ed.token_file,
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("client authorisation"), "{err}");
    assert!(!out.join("manifest.json").exists());
    eprintln!("tor editor CLI: {:.1?}", t0.elapsed());
}

/// `HiddenServiceMaxStreams` of the source service, read from deploy/torrc.
fn source_max_streams() -> usize {
    let lines = tor::onion_service_lines(
        &[Path::new("/s"), Path::new("/a")],
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    lines
        .lines()
        .find_map(|l| l.strip_prefix("HiddenServiceMaxStreams "))
        .and_then(|n| n.parse().ok())
        .expect("deploy/torrc sets HiddenServiceMaxStreams for the source site")
}

#[test]
fn a_circuit_past_the_stream_limit_is_closed_and_sanduq_serves_the_others() {
    let net = network();
    let t0 = Instant::now();
    let max = source_max_streams();
    let onion = net.source_onion.as_str();
    let wait = Duration::from_secs(60);
    let crowd = format!("crowd-{}", marker());
    let mut streams = Vec::new();
    for i in 0..max {
        match tor::socks_connect(net.socks_stranger, &crowd, onion, 80, wait) {
            Ok(s) => streams.push(s),
            Err(code) => panic!(
                "stream {i} of {max} refused ({code:#04x}){}",
                net.log_tail("stranger")
            ),
        }
    }
    // One more on the same circuit: the service closes the circuit, and with it the others.
    let over = tor::socks_connect(net.socks_stranger, &crowd, onion, 80, wait);
    let cut = streams
        .into_iter()
        .filter(|s| tor::http_get(s.try_clone().unwrap(), onion, "/").is_err())
        .count();
    assert!(
        over.is_err(),
        "stream {} of one circuit was let through (limit {max})",
        max + 1
    );
    assert_eq!(cut, max, "streams still served after the limit was passed");

    // Another circuit is served, and so is this one's name on a fresh circuit.
    for name in [format!("other-{}", marker()), crowd] {
        let s = tor::socks_connect(net.socks_stranger, &name, onion, 80, wait)
            .unwrap_or_else(|c| panic!("{c:#04x}{}", net.log_tail("stranger")));
        let (status, _) = tor::http_get(s, onion, "/").unwrap();
        assert_eq!(status, 200);
    }
    eprintln!("tor stream limit: {:.1?}", t0.elapsed());
}

#[test]
fn the_onion_services_run_deploy_torrc_options() {
    let net = network();
    let reply = net
        .control("hs", "GETCONF HiddenServiceOptions")
        .unwrap_or_else(|e| panic!("{e}{}", net.log_tail("hs")));
    // Every option but the folders and ports, as tor reports it: `Name=value`.
    let ours = |l: &str| !l.starts_with("HiddenServiceDir") && !l.starts_with("HiddenServicePort");
    let running: Vec<String> = reply
        .iter()
        .map(|l| l[4..].replacen('=', " ", 1))
        .filter(|l| ours(l))
        .collect();
    let shipped: Vec<String> = tor::onion_service_lines(
        &[Path::new("/s"), Path::new("/a")],
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    )
    .lines()
    .filter(|l| ours(l))
    .map(str::to_owned)
    .collect();
    for option in [
        "HiddenServicePoWDefensesEnabled 1",
        "HiddenServiceEnableIntroDoSDefense 1",
        "HiddenServiceMaxStreamsCloseCircuit 1",
    ] {
        assert!(
            shipped.iter().any(|l| l == option),
            "deploy/torrc lost {option}"
        );
    }
    assert_eq!(
        running, shipped,
        "the onion services do not run deploy/torrc's options"
    );
    let rss = net.rss_kib();
    let total: u64 = rss.iter().map(|(_, k)| k).sum();
    eprintln!(
        "tor network ready after {:.1?}; RSS of the tors {total} KiB: {rss:?}",
        net.ready_after
    );
}
