//! A hostile editor API (seized or impersonated): `sanduq fetch` against a server that sends
//! whatever it likes, with the real binary's peak memory measured (GNU time, from wait4).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use crate::common::*;

/// What `fetch` may use, whatever the server sends.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// The bytes a hostile server sends for one request path; `None` for a 404.
type Body = Box<dyn Fn(&mut dyn Write) -> std::io::Result<()> + Send + Sync>;

/// Serves `route(path)` to every request on a thread per connection, without a length (the
/// body ends when the connection closes) so that it can stream without end.
fn hostile_api(route: impl Fn(&str) -> Option<Body> + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let route = Arc::new(route);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let route = route.clone();
            std::thread::spawn(move || serve_one(conn, &*route));
        }
    });
    addr
}

fn serve_one(conn: TcpStream, route: &dyn Fn(&str) -> Option<Body>) -> Option<()> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
    }
    let mut w = std::io::BufWriter::with_capacity(1 << 16, conn);
    match route(&path) {
        Some(body) => {
            w.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            )
            .ok()?;
            // Ends when the client hangs up.
            let _ = body(&mut w);
            let _ = w.flush();
        }
        None => {
            w.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .ok()?;
        }
    }
    Some(())
}

/// One listed item, with its id from `n`.
fn item(n: u64, size: u64) -> String {
    format!(
        r#"{{"id":"{n:032x}","source":"{n:032x}","desk":"default","day":"2026-11-28","size":{size},"meta_size":{size}}}"#
    )
}

/// A listing of `items`, then whatever `tail` writes, then the end of the listing.
fn listing(items: Vec<String>) -> Body {
    Box::new(move |w| {
        w.write_all(br#"{"desk":"default","items":["#)?;
        w.write_all(items.join(",").as_bytes())?;
        w.write_all(br#"],"sources":[],"editors":[]}"#)
    })
}

/// `sanduq fetch` against `api` into `bundle`, under GNU time; its output and peak RSS in KiB.
fn fetch_measured(api: SocketAddr, dir: &Path) -> (Output, u64) {
    let token = dir.join("token");
    std::fs::write(&token, format!("sanduq-token-{}\n", "A".repeat(43))).unwrap();
    let rss = dir.join("rss");
    let out = Command::new("/usr/bin/time")
        .args([
            "-f",
            "%M",
            "-o",
            rss.to_str().unwrap(),
            BIN,
            "fetch",
            "--server",
        ])
        .arg(format!("http://{api}"))
        .args(["--token-file", token.to_str().unwrap(), "--bundle"])
        .arg(dir.join("bundle"))
        .output()
        .expect("GNU time (Debian package `time`; scripts/test.sh installs it)");
    let kib = std::fs::read_to_string(&rss)
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("time -f %M");
    (out, kib)
}

fn one_line_error(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn a_listing_of_400_mib_is_refused_in_little_memory() {
    // One endless string, as a listing that is nothing but one editor's "recipient".
    let api = hostile_api(|path| {
        (path == "/api/v1/items").then(|| -> Body {
            Box::new(|w| {
                w.write_all(br#"{"desk":"default","items":[],"sources":[],"editors":[""#)?;
                let chunk = vec![b'a'; 1 << 16];
                for _ in 0..(400 << 20) / chunk.len() {
                    w.write_all(&chunk)?;
                }
                w.write_all(br#""]}"#)
            })
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let (o, kib) = fetch_measured(api, dir.path());
    let err = one_line_error(&o);
    assert!(err.contains("listing over 16 MiB"), "{err}");
    assert!(kib < MAX_RSS_KIB, "fetch peaked at {kib} KiB");
    eprintln!("400 MiB listing: refused, peak RSS {kib} KiB");
}

#[test]
fn a_listing_of_a_million_items_is_refused_in_little_memory() {
    let api = hostile_api(|path| {
        (path == "/api/v1/items").then(|| -> Body {
            Box::new(|w| {
                w.write_all(br#"{"desk":"default","items":["#)?;
                for n in 0..1_000_000u64 {
                    if n > 0 {
                        w.write_all(b",")?;
                    }
                    w.write_all(item(n + 1, 1000).as_bytes())?;
                }
                w.write_all(br#"],"sources":[],"editors":[]}"#)
            })
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let (o, kib) = fetch_measured(api, dir.path());
    let err = one_line_error(&o);
    assert!(err.contains("listing over"), "{err}");
    assert!(kib < MAX_RSS_KIB, "fetch peaked at {kib} KiB");
    eprintln!("1,000,000-item listing: refused, peak RSS {kib} KiB");
}

#[test]
fn an_item_longer_than_listed_is_cut_at_its_listed_size() {
    let api = hostile_api(|path| {
        if path == "/api/v1/items" {
            return Some(listing(vec![item(7, 100)]));
        }
        // Both of the item's files: 400 MiB where 100 bytes were promised.
        path.starts_with("/api/v1/items/").then(|| -> Body {
            Box::new(|w| {
                let chunk = vec![b'x'; 1 << 16];
                for _ in 0..(400 << 20) / chunk.len() {
                    w.write_all(&chunk)?;
                }
                Ok(())
            })
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let (o, kib) = fetch_measured(api, dir.path());
    let err = one_line_error(&o);
    assert!(err.contains("the server listed 100"), "{err}");
    assert!(kib < MAX_RSS_KIB, "fetch peaked at {kib} KiB");
    let written: u64 = files_under(&dir.path().join("bundle/items"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(written <= 200, "{written} bytes written for 2 × 100 listed");
}

#[test]
fn duplicate_empty_or_undated_items_are_named_not_an_os_error() {
    for (items, expected) in [
        (vec![item(7, 100), item(7, 100)], "twice"),
        (vec![item(8, 0)], "no content"),
        // A day carrying terminal escapes (a title, the clipboard) is never kept to be
        // printed later by decrypt or the inbox.
        (
            vec![item(9, 100).replace("2026-11-28", r"2026-11-28\u001b]52;c;cHduZWQ=\u0007")],
            "day that is not a date",
        ),
    ] {
        let items = Arc::new(items);
        let api = hostile_api(move |path| {
            let items = (*items).clone();
            (path == "/api/v1/items").then(|| listing(items))
        });
        let dir = tempfile::tempdir().unwrap();
        let (o, _) = fetch_measured(api, dir.path());
        let err = one_line_error(&o);
        assert!(err.contains(expected) && !err.contains("os error"), "{err}");
    }
}

#[test]
fn the_largest_listings_sanduq_parses_stay_in_little_memory() {
    const CAP: usize = 16 << 20;
    let one = item(1, 1000).len() + 1;
    let count = (CAP - 100) / one;
    // As many items as fit under the cap (more than the 100,000 taken), and one editor's
    // "recipient" of almost the whole cap: both are read and parsed whole, then refused.
    let many: Body = Box::new(move |w| {
        w.write_all(br#"{"desk":"default","items":["#)?;
        for n in 0..count as u64 {
            if n > 0 {
                w.write_all(b",")?;
            }
            w.write_all(item(n + 1, 1000).as_bytes())?;
        }
        w.write_all(br#"],"sources":[],"editors":[]}"#)
    });
    let long: Body = Box::new(|w| {
        w.write_all(br#"{"desk":"default","items":[],"sources":[],"editors":[""#)?;
        w.write_all(&vec![b'a'; CAP - 100])?;
        w.write_all(br#""]}"#)
    });
    // Lists whose entries are far smaller as JSON than as values: empty editors' keys
    // (3 bytes each), and sources with empty fields.
    let empty_editors: Body = Box::new(|w| {
        w.write_all(br#"{"desk":"default","items":[],"sources":[],"editors":["#)?;
        w.write_all(&b"\"\",".repeat((CAP - 100) / 3))?;
        w.write_all(b"\"\"]}")
    });
    let bare_sources: Body = Box::new(|w| {
        w.write_all(br#"{"desk":"default","items":[],"editors":[],"sources":["#)?;
        let one = |n: usize| format!(r#"{{"id":"{n:032x}","desk":"","day":""}}"#);
        for n in 0..(CAP - 100) / (one(0).len() + 1) {
            w.write_all(format!("{},", one(n)).as_bytes())?;
        }
        w.write_all(one(0).as_bytes())?;
        w.write_all(b"]}")
    });
    for (body, expected) in [
        (many, "items"),
        (long, "not an age recipient"),
        (empty_editors, "lists more than"),
        (bare_sources, "lists more than"),
    ] {
        let body = std::sync::Mutex::new(Some(body));
        let api = hostile_api(move |path| {
            (path == "/api/v1/items")
                .then(|| body.lock().unwrap().take())
                .flatten()
        });
        let dir = tempfile::tempdir().unwrap();
        let (o, kib) = fetch_measured(api, dir.path());
        assert!(kib < MAX_RSS_KIB, "fetch peaked at {kib} KiB ({expected})");
        let err = one_line_error(&o);
        assert!(err.contains(expected), "{err}");
        eprintln!("a listing just under the cap ({expected}): refused, peak RSS {kib} KiB");
    }
}

/// A redirect from the editor API is not followed: the token and the client stay with the
/// server the editor named, and fetch says what it got.
#[test]
fn a_redirect_from_the_api_is_not_followed() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = elsewhere.local_addr().unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let api = TcpListener::bind("127.0.0.1:0").unwrap();
    let api_addr = api.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in api.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = (&conn).write_all(
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://{target}/api/v1/items\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = fetch_measured(api_addr, dir.path());
    let err = one_line_error(&o);
    assert!(err.contains("302"), "{err}");
    assert!(
        elsewhere.accept().is_err(),
        "fetch followed the redirect to another address"
    );
}
