//! The `Host` header, sent raw: a request must name exactly one host (RFC 9112 §3.2), so that
//! no page can be made to believe it was reached by another name than the one it was.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

/// Sends `head` on a fresh connection; returns the whole answer (the server closes it).
async fn send(addr: SocketAddr, head: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_exactly_one_host_is_refused_on_both_listeners() {
    let onion = format!("{}.onion", "c".repeat(56));
    let mut server = Server::configured(|c| {
        c.set("listen.onion_address", onion.as_str());
    });
    server.start();
    let close = "Connection: close\r\n\r\n";

    let direct = send(
        server.source,
        &format!("GET / HTTP/1.1\r\nHost: {onion}\r\n{close}"),
    )
    .await;
    assert!(direct.starts_with("HTTP/1.1 200"), "{direct:.200}");
    assert!(
        !direct.contains("id=\"tor2web\""),
        "no banner over the onion"
    );

    let refused = [
        ("no Host", "GET / HTTP/1.1\r\n".to_owned()),
        (
            "two Hosts",
            format!("GET / HTTP/1.1\r\nHost: {onion}\r\nHost: evil.example\r\n"),
        ),
        (
            "two Hosts, the gateway's first",
            format!("GET / HTTP/1.1\r\nHost: evil.example\r\nHost: {onion}\r\n"),
        ),
        (
            "absolute form naming another host",
            format!("GET http://evil.example/ HTTP/1.1\r\nHost: {onion}\r\n"),
        ),
        (
            "no Host on a form post",
            "POST /submit HTTP/1.1\r\nContent-Length: 0\r\n".to_owned(),
        ),
    ];
    for (what, head) in &refused {
        let answer = send(server.source, &format!("{head}{close}")).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{what}: {answer:.300}");
        assert!(!answer.contains("<html"), "{what}: a page was rendered");
    }
    // The editor API too.
    let answer = send(
        server.api,
        &format!("GET /api/v1/items HTTP/1.1\r\n{close}"),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "API without Host: {answer:.300}"
    );
    // The absolute form naming its own host is fine.
    let answer = send(
        server.source,
        &format!("GET http://{onion}/ HTTP/1.1\r\nHost: {onion}\r\n{close}"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
}
