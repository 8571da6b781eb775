//! A Tor-like link in front of a TCP server, for scripts/bench-sync.sh and for trying
//! `sanduq fetch` by hand: 150 ms each way and 1 MB/s each way unless told otherwise.
//!
//!   cargo run --release --example slowlink -- UPSTREAM_ADDR [LISTEN_ADDR] [RTT_MS] [BYTES_PER_SEC]
//!
//! Prints the address it listens on, then forwards until killed. Not part of the binary.

// The same module the tests use, whose items are `pub` for them.
#[allow(unreachable_pub)]
#[path = "../tests/common/slowlink.rs"]
mod slowlink;

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: slowlink UPSTREAM_ADDR [LISTEN_ADDR] [RTT_MS] [BYTES_PER_SEC]";
    let Some(upstream) = args.first().and_then(|a| a.parse().ok()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let listen = args.get(1).map_or("127.0.0.1:0", String::as_str);
    let mut spec = slowlink::LinkSpec::tor_like();
    if let Some(ms) = args.get(2).and_then(|a| a.parse::<u64>().ok()) {
        spec.one_way = Duration::from_millis(ms / 2);
    }
    if let Some(rate) = args.get(3).and_then(|a| a.parse::<u64>().ok()) {
        spec.bytes_per_sec = rate;
    }
    let link = slowlink::SlowLink::start_on(listen, upstream, spec);
    println!("{}", link.addr);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
