//! sanduq through a private Tor network on loopback next to plain loopback, in one run: a
//! 100 MiB upload to the source site, and `sanduq fetch` of 1,000 items from the editor API
//! (through the client-authorised onion). The network is the integration tests' fixture
//! (tests/common/tor.rs). A benchmark that prints figures, not a test; run it with
//! scripts/bench-tor.sh.

#![allow(clippy::unwrap_used)]
#![allow(unreachable_pub)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::tor::{network, TorNet, WIRE_DESK};
use common::{content_type, multipart, sanduq, Part};

/// The upload's size.
const UPLOAD_MIB: usize = 100;
/// How many items the editor fetches.
const ITEMS: usize = 1_000;

/// Submits `parts` to the source site at `base` with `client`; the time the POST took.
async fn submit(client: &reqwest::Client, base: &str, desk: &str, file: &[u8]) -> Duration {
    let res = client.get(format!("{base}/")).send().await.unwrap();
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
    let mut parts = vec![
        Part::text("csrf_token", token.as_bytes()),
        Part::text("desk", desk.as_bytes()),
        Part::text("message", b"bench"),
    ];
    if !file.is_empty() {
        parts.push(Part::file(b"upload.bin", file));
    }
    let body = multipart(&parts);
    let t = Instant::now();
    let res = client
        .post(format!("{base}/submit"))
        .header("content-type", content_type())
        .header("cookie", cookie)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let _ = res.bytes().await;
    assert_eq!(status, 200);
    t.elapsed()
}

/// `sanduq fetch` into a fresh bundle; its time.
fn fetch(net: &TorNet, server: &str, proxy: Option<&str>, token: &str, n: usize) -> Duration {
    let bundle = net.server.dir.path().join(format!("bench-bundle-{n}"));
    let mut args = vec!["fetch", "--server", server, "--token-file", token];
    let bundle_arg = bundle.display().to_string();
    args.extend(["--bundle", &bundle_arg]);
    if let Some(p) = proxy {
        args.extend(["--proxy", p]);
    }
    let t = Instant::now();
    let o = sanduq(&args);
    let took = t.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let items = common::manifest(&bundle)["items"].as_array().unwrap().len();
    assert_eq!(items, ITEMS);
    took
}

#[tokio::main]
async fn main() {
    let net = tokio::task::spawn_blocking(network).await.unwrap();
    println!("private Tor network ready after {:.1?}", net.ready_after);
    let direct = reqwest::Client::builder().no_proxy().build().unwrap();
    let tor = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(net.proxy(net.socks_stranger, "bench")).unwrap())
        .build()
        .unwrap();
    let file: Vec<u8> = (0..UPLOAD_MIB << 20)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let loopback = format!("http://{}", net.server.source);
    let onion = net.source_url("");
    // A desk takes testimonies only once it has an editor.
    net.server.add_editor("bench-upload", None);
    let up_direct = submit(&direct, &loopback, "default", &file).await;
    let up_tor = submit(&tor, &onion, "default", &file).await;

    let ed = net.server.add_editor("bench", Some(WIRE_DESK));
    for _ in 0..ITEMS {
        submit(&direct, &loopback, WIRE_DESK, &[]).await;
    }
    let token = ed.token_file.display().to_string();
    let api = net.server.api_url();
    let proxy = net.proxy(net.socks_editor, "bench-editor");
    let fetch_direct = fetch(net, &api, None, &token, 1);
    let fetch_tor = fetch(net, &net.api_url(), Some(&proxy), &token, 2);

    let mib = UPLOAD_MIB as f64;
    let rate = |d: Duration| mib / d.as_secs_f64();
    println!("| what | plain loopback | private Tor network |");
    println!("|---|---|---|");
    println!(
        "| upload of {UPLOAD_MIB} MiB (one POST) | {:.1} s ({:.0} MiB/s) | {:.1} s ({:.1} MiB/s) |",
        up_direct.as_secs_f64(),
        rate(up_direct),
        up_tor.as_secs_f64(),
        rate(up_tor)
    );
    println!(
        "| `sanduq fetch` of {ITEMS} items | {:.1} s | {:.1} s |",
        fetch_direct.as_secs_f64(),
        fetch_tor.as_secs_f64()
    );
    let rss: u64 = net.rss_kib().iter().map(|(_, k)| k).sum();
    println!("RSS of the nine tors at the end: {} MiB", rss >> 10);
}
