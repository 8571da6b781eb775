//! A client's view of the private network: streams through a tor's SOCKS port, and plain
//! HTTP/1.1 over them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Waits until `GET path` on `onion` through the client on `socks` answers `want`.
pub(super) fn first_answer(
    socks: u16,
    onion: &str,
    path: &str,
    want: u16,
    deadline: Instant,
) -> Result<(), String> {
    let mut last = String::new();
    while Instant::now() < deadline {
        match socks_connect(socks, "warm-up", onion, 80, Duration::from_secs(30)) {
            Ok(s) => match http_get(s, onion, path) {
                Ok((status, _)) if status == want => return Ok(()),
                Ok((status, _)) => last = format!("HTTP {status}"),
                Err(e) => last = e,
            },
            Err(code) => last = format!("SOCKS error {code:#04x}"),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("{onion}{path} never answered {want}: {last}"))
}

/// Opens a stream to `host:port` through the SOCKS5 proxy on `socks`, with `isolation` as
/// the user name (Tor puts streams with the same name on the same circuit). The SOCKS reply
/// code when the proxy refuses (Tor's 0xF0–0xF7 say why an onion service was not reached).
pub fn socks_connect(
    socks: u16,
    isolation: &str,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, u8> {
    let io = |_| 0xFFu8;
    let mut s = TcpStream::connect(("127.0.0.1", socks)).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.write_all(&[5, 1, 2]).map_err(io)?;
    let mut method = [0u8; 2];
    s.read_exact(&mut method).map_err(io)?;
    let mut auth = vec![1, isolation.len() as u8];
    auth.extend_from_slice(isolation.as_bytes());
    auth.extend_from_slice(&[1, b'x']);
    s.write_all(&auth).map_err(io)?;
    let mut ok = [0u8; 2];
    s.read_exact(&mut ok).map_err(io)?;
    let mut req = vec![5, 1, 0, 3, host.len() as u8];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).map_err(io)?;
    // VER REP RSV ATYP, then an IPv4 address and a port (what tor answers).
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).map_err(io)?;
    if reply[1] != 0 {
        return Err(reply[1]);
    }
    s.set_read_timeout(None).map_err(io)?;
    Ok(s)
}

/// `GET path` on an open stream; the status code and body, read to the end.
pub fn http_get(mut s: TcpStream, host: &str, path: &str) -> Result<(u16, String), String> {
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    Ok((status, text))
}
