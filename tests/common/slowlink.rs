//! A Tor-like link for tests and benchmarks: a TCP proxy that delays every chunk by a fixed
//! one-way time and limits throughput in each direction, as a delay line does (chunks keep
//! their order; a chunk leaves after the ones before it have been sent at the link's rate,
//! plus the one-way delay). The rate is the link's, shared by all its connections, as the
//! streams of one Tor circuit share it. It can also cut each connection after a number of bytes sent
//! towards the client, to test resumption.
//!
//! Used by tests/editor_sync.rs and, through `examples/slowlink.rs`, by
//! scripts/bench-sync.sh. Threads, not async: it must not share a runtime with what it
//! measures.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the link does to the bytes crossing it.
#[derive(Clone, Copy, Debug)]
pub struct LinkSpec {
    /// Delay added in each direction (half the round-trip time).
    pub one_way: Duration,
    /// Throughput in each direction, in bytes per second.
    pub bytes_per_sec: u64,
    /// Cut each connection (both ways) once this many bytes went towards the client.
    pub cut_after: Option<u64>,
}

impl LinkSpec {
    /// A Tor circuit as the goals of docs/performance.md assume it: 300 ms round trip,
    /// 1 MB/s (10^6 bytes per second) each way.
    pub fn tor_like() -> LinkSpec {
        LinkSpec {
            one_way: Duration::from_millis(150),
            bytes_per_sec: 1_000_000,
            cut_after: None,
        }
    }
}

/// A running proxy in front of `upstream`; it stops accepting when the process ends.
pub struct SlowLink {
    pub addr: SocketAddr,
    cuts: Arc<AtomicUsize>,
}

impl SlowLink {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr, spec: LinkSpec) -> SlowLink {
        SlowLink::start_on("127.0.0.1:0", upstream, spec)
    }

    /// As [`SlowLink::start`], on `listen`.
    pub fn start_on(listen: &str, upstream: SocketAddr, spec: LinkSpec) -> SlowLink {
        let listener = TcpListener::bind(listen).expect("bind the slow link");
        let addr = listener.local_addr().expect("slow link address");
        let cuts = Arc::new(AtomicUsize::new(0));
        let counter = cuts.clone();
        let wires = Wires {
            down: Arc::new(Mutex::new(Instant::now())),
            up: Arc::new(Mutex::new(Instant::now())),
        };
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (counter, wires) = (counter.clone(), wires.clone());
                std::thread::spawn(move || connect(client, upstream, spec, wires, counter));
            }
        });
        SlowLink { addr, cuts }
    }

    /// How many connections the link has cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// When each direction of the link is next free: shared by every connection.
#[derive(Clone)]
struct Wires {
    down: Arc<Mutex<Instant>>,
    up: Arc<Mutex<Instant>>,
}

fn connect(
    client: TcpStream,
    upstream: SocketAddr,
    spec: LinkSpec,
    wires: Wires,
    cuts: Arc<AtomicUsize>,
) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up_spec = LinkSpec {
        cut_after: None,
        ..spec
    };
    let up = {
        let (c, s) = (c2, s2);
        let wire = wires.up.clone();
        std::thread::spawn(move || pipe(c, s, up_spec, &wire, None))
    };
    pipe(server, client, spec, &wires.down, Some(cuts));
    let _ = up.join();
}

/// Carries `from` to `to` through the delay line until `from` ends (then half-closes `to`)
/// or the cut comes (then closes both, both ways).
fn pipe(
    from: TcpStream,
    mut to: TcpStream,
    spec: LinkSpec,
    wire: &Mutex<Instant>,
    cuts: Option<Arc<AtomicUsize>>,
) {
    // Bounded: a sender faster than the link waits, as it would behind a real one.
    let (tx, rx) = sync_channel::<(Instant, Vec<u8>)>(64);
    let reader = {
        let from2 = from.try_clone();
        std::thread::spawn(move || {
            let Ok(mut from) = from2 else { return };
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        })
    };
    let cut = deliver(&rx, &mut to, spec, wire);
    if cut {
        if let Some(c) = cuts {
            c.fetch_add(1, Ordering::SeqCst);
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    } else {
        let _ = to.shutdown(Shutdown::Write);
    }
    drop(rx);
    let _ = reader.join();
}

/// Writes each chunk when the link would deliver it; true if the link cut the connection.
fn deliver(
    rx: &Receiver<(Instant, Vec<u8>)>,
    to: &mut TcpStream,
    spec: LinkSpec,
    wire: &Mutex<Instant>,
) -> bool {
    let mut sent = 0u64;
    while let Ok((arrived, mut chunk)) = rx.recv() {
        let mut cut = false;
        if let Some(limit) = spec.cut_after {
            let room = limit.saturating_sub(sent) as usize;
            if chunk.len() >= room {
                chunk.truncate(room);
                cut = true;
            }
        }
        // Serialised at the link's rate after the chunks before it (of every connection),
        // then delayed.
        let on_wire = Duration::from_secs_f64(chunk.len() as f64 / spec.bytes_per_sec as f64);
        let due = {
            let mut free = wire.lock().unwrap_or_else(|e| e.into_inner());
            *free = (*free).max(arrived) + on_wire;
            *free + spec.one_way
        };
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if to.write_all(&chunk).is_err() {
            return false;
        }
        sent += chunk.len() as u64;
        if cut {
            return true;
        }
    }
    false
}
