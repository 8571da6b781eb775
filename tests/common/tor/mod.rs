//! A private Tor network on loopback, started once per test run and shared by every test
//! that needs it (tests/tor_network.rs): three directory authorities, three relays, one tor
//! hosting sanduq's two onion services, and two clients, one holding the editor API's
//! client-authorisation key and one without it. One sanduq server sits behind the services.
//!
//! The onion services are configured from deploy/torrc's own `HiddenService*` lines (only
//! the folders and the listener ports are replaced), so the shipped options are what runs:
//! PoW defences, intro DoS limits, stream limits and client authorisation.
//!
//! What makes it reliable on a small machine (measured): `TestingTorNetwork`,
//! `AssumeReachable` on authorities and relays, every relay voted HSDir, a 10 s voting
//! interval, GeoIP off, and two phases: the services and clients start only once the
//! consensus lists every relay as HSDir, and the first request waits until each service has
//! uploaded its descriptor twice. Every wait is bounded by [`READY`].
//!
//! Nothing outlives the test process. Each tor has `__OwningControllerProcess` set to it and
//! a control connection that sent `TAKEOWNERSHIP`: the kernel closes that connection when
//! the process ends, however it ends, and tor then exits at once (`ShutdownWaitLength 0`).
//! A watchdog shell also sends SIGTERM, then SIGKILL, to every process started here once the
//! test process is gone, and removes the folders.

mod client;
mod process;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Server;
use client::first_answer;
#[allow(
    unused_imports,
    reason = "used by tests/tor_network.rs, not by benches/tor.rs"
)]
pub use client::{http_get, socks_connect};
pub use process::onion_service_lines;
use process::{
    client_auth_keys, make_authority, record_pid, spawn, stop, tor_dir, watchdog, Common, Control,
};

/// The longest any phase of the start may take before the fixture gives up.
pub const READY: Duration = Duration::from_secs(90);

/// The server's second desk, beside the default one.
pub const WIRE_DESK: &str = "wire";

/// The shipped Tor configuration whose onion-service lines are used.
const DEPLOY_TORRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/torrc");

/// The running network and the sanduq server behind its onion services.
pub struct TorNet {
    /// `<56 characters>.onion` of the source site.
    pub source_onion: String,
    /// `<56 characters>.onion` of the editor API.
    pub api_onion: String,
    /// SOCKS port of the client that holds the editor API's client-authorisation key.
    pub socks_editor: u16,
    /// SOCKS port of a client with no key.
    pub socks_stranger: u16,
    /// The server whose listeners the two onion services forward to.
    pub server: Server,
    /// How long the start took, up to both onion services answering.
    pub ready_after: Duration,
    tors: Mutex<Vec<Tor>>,
}

/// One tor process: its folder, its log, and the control connection that owns it.
struct Tor {
    name: String,
    dir: PathBuf,
    child: Child,
    /// Never read after the start: kept open so that tor exits when this process does.
    control: Control,
}

static NETWORK: OnceLock<Result<TorNet, String>> = OnceLock::new();

/// The shared network, started by the first test that asks for it. A failed start is
/// reported to every test that asks, with the tails of the tor logs.
pub fn network() -> &'static TorNet {
    match NETWORK.get_or_init(start) {
        Ok(net) => net,
        Err(e) => panic!("the private Tor network did not start: {e}"),
    }
}

impl TorNet {
    /// `http://<source onion>/<path>`.
    pub fn source_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.source_onion)
    }

    /// `http://<api onion>`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_onion)
    }

    /// `socks5h://` URL of a client; `isolation` names a Tor circuit (streams with the same
    /// SOCKS user name share one, a new name gets a new circuit).
    pub fn proxy(&self, port: u16, isolation: &str) -> String {
        format!("socks5h://{isolation}:x@127.0.0.1:{port}")
    }

    /// The last lines of every tor's log, for a failure message.
    pub fn log_tails(&self) -> String {
        let tors = self.tors.lock().unwrap_or_else(|p| p.into_inner());
        tors.iter().map(Tor::tail).collect()
    }

    /// The last lines of one tor's log (`hs`, `editor`, `stranger`, `auth0`, `relay1`…).
    pub fn log_tail(&self, name: &str) -> String {
        let tors = self.tors.lock().unwrap_or_else(|p| p.into_inner());
        tors.iter()
            .filter(|t| t.name == name)
            .map(Tor::tail)
            .collect()
    }

    /// Resident memory of each tor now, in KiB.
    pub fn rss_kib(&self) -> Vec<(String, u64)> {
        let tors = self.tors.lock().unwrap_or_else(|p| p.into_inner());
        tors.iter()
            .map(|t| (t.name.clone(), super::rss_kib(t.child.id())))
            .collect()
    }

    /// A control command sent to the tor named `name`; the reply's lines.
    pub fn control(&self, name: &str, command: &str) -> Result<Vec<String>, String> {
        let mut tors = self.tors.lock().unwrap_or_else(|p| p.into_inner());
        let tor = tors
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("no tor named {name}"))?;
        tor.control.command(command)
    }
}

fn start() -> Result<TorNet, String> {
    let t0 = Instant::now();
    let root = tempfile::Builder::new()
        .prefix("sanduq-tor-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let pids = root.join("pids");
    let mut server = Server::init(|t| t);
    watchdog(&pids, &[&root, server.dir.path()])?;
    let mut tors: Vec<Tor> = Vec::new();
    let result = start_in(&root, &pids, &mut server, &mut tors, t0);
    match result {
        Ok((source_onion, api_onion, socks_editor, socks_stranger)) => {
            let ready_after = t0.elapsed();
            eprintln!("tor network: both onion services answer after {ready_after:.1?}");
            Ok(TorNet {
                source_onion,
                api_onion,
                socks_editor,
                socks_stranger,
                server,
                ready_after,
                tors: Mutex::new(tors),
            })
        }
        Err(e) => {
            let tails: String = tors.iter().map(Tor::tail).collect();
            for t in &mut tors {
                stop(&mut t.child);
            }
            Err(format!("{e}{tails}"))
        }
    }
}

/// The two phases of the start; the onion addresses and the clients' SOCKS ports.
fn start_in(
    root: &Path,
    pids: &Path,
    server: &mut Server,
    tors: &mut Vec<Tor>,
    t0: Instant,
) -> Result<(String, String, u16, u16), String> {
    let common = authorities_and_relays(root, pids, tors)?;
    eprintln!(
        "tor network: consensus with 6 HSDirs after {:.1?}",
        t0.elapsed()
    );
    let (source_onion, api_onion, private) = services(&common, pids, server, tors)?;
    let hs_index = tors.len() - 1;
    let socks = clients(&common, pids, tors, &api_onion, &private)?;
    let deadline = Instant::now() + READY;
    wait_for_descriptors(&mut tors[hs_index..], [&source_onion, &api_onion], deadline)?;
    eprintln!(
        "tor network: descriptors uploaded after {:.1?}",
        t0.elapsed()
    );
    tors[hs_index].control.command("SETEVENTS")?;
    let editor = socks[0];
    first_answer(editor, &source_onion, "/", 200, deadline)?;
    first_answer(editor, &api_onion, "/api/v1/items", 401, deadline)?;
    Ok((source_onion, api_onion, socks[0], socks[1]))
}

/// Phase 1: three authorities and three relays, until the consensus lists all six as
/// HSDir. What every later tor shares.
fn authorities_and_relays(root: &Path, pids: &Path, tors: &mut Vec<Tor>) -> Result<Common, String> {
    let empty = root.join("empty");
    std::fs::write(&empty, "").map_err(|e| e.to_string())?;
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| (super::free_port(), super::free_port()))
        .collect();
    let keygen: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, &(or, d))| {
            let root = root.to_owned();
            std::thread::spawn(move || make_authority(&root, i, or, d))
        })
        .collect();
    let mut dir_authorities = Vec::new();
    for k in keygen {
        dir_authorities.push(k.join().map_err(|_| "tor-gencert panicked")??);
    }
    let common = Common {
        root: root.to_owned(),
        dir_authorities,
        empty,
    };
    for (i, &(or, d)) in ports.iter().enumerate() {
        let dir = common.root.join(format!("auth{i}"));
        let extra = format!(
            "ORPort 127.0.0.1:{or}\nDirPort 127.0.0.1:{d}\nAddress 127.0.0.1\nSocksPort 0\n\
             AuthoritativeDirectory 1\nV3AuthoritativeDirectory 1\nExitPolicy reject *:*\n\
             AssumeReachable 1\nTestingV3AuthInitialVotingInterval 10\n\
             TestingV3AuthInitialVoteDelay 2\nTestingV3AuthInitialDistDelay 2\n\
             V3AuthVotingInterval 10\nV3AuthVoteDelay 2\nV3AuthDistDelay 2\n\
             V3AuthNIntervalsValid 2\nTestingDirAuthVoteHSDir *\nTestingDirAuthVoteGuard *\n\
             TestingDirAuthVoteExit *\nTestingMinExitFlagThreshold 0\n"
        );
        let torrc = common.torrc(&dir, &format!("auth{i}"), &extra);
        tors.push(spawn(&format!("auth{i}"), &dir, &torrc, pids)?);
    }
    for i in 0..3 {
        let name = format!("relay{i}");
        let dir = tor_dir(root, &name)?;
        let extra = format!(
            "ORPort 127.0.0.1:{}\nAddress 127.0.0.1\nSocksPort 0\nAssumeReachable 1\n\
             ExitRelay 0\n",
            super::free_port()
        );
        let torrc = common.torrc(&dir, &name, &extra);
        tors.push(spawn(&name, &dir, &torrc, pids)?);
    }
    let deadline = Instant::now() + READY;
    loop {
        let ns = tors[0].control.command("GETINFO ns/all")?;
        let hsdirs = ns
            .iter()
            .filter(|l| l.starts_with("s ") && l.split(' ').any(|f| f == "HSDir"))
            .count();
        if hsdirs >= 6 {
            return Ok(common);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {READY:?} the consensus lists {hsdirs} of 6 relays as HSDir"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Phase 2: the onion services (deploy/torrc's lines) and sanduq behind them. Their onion
/// addresses and the editor's client-authorisation private key.
fn services(
    common: &Common,
    pids: &Path,
    server: &mut Server,
    tors: &mut Vec<Tor>,
) -> Result<(String, String, String), String> {
    let hs = tor_dir(&common.root, "hs")?;
    let (source_dir, api_dir) = (tor_dir(&hs, "sanduq-source")?, tor_dir(&hs, "sanduq-api")?);
    let (private, public) = client_auth_keys(&hs)?;
    let authorized = tor_dir(&api_dir, "authorized_clients")?;
    std::fs::write(
        authorized.join("editor.auth"),
        format!("descriptor:x25519:{public}\n"),
    )
    .map_err(|e| e.to_string())?;
    let services = onion_service_lines(&[&source_dir, &api_dir], server.source, server.api);
    let torrc = common.torrc(&hs, "hs", &format!("SocksPort 0\n{services}"));
    tors.push(spawn("hs", &hs, &torrc, pids)?);
    tors.last_mut()
        .ok_or("no hs tor")?
        .control
        .command("SETEVENTS HS_DESC")?;
    let hostname = |d: &Path| -> Result<String, String> {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(h) = std::fs::read_to_string(d.join("hostname")) {
                return Ok(h.trim().to_owned());
            }
            if Instant::now() > end {
                return Err(format!("no hostname in {}", d.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (source_onion, api_onion) = (hostname(&source_dir)?, hostname(&api_dir)?);
    // The real onion address (no Tor2web warning on it), and a second desk for the tests
    // that must not see the first one's items.
    server.edit_config(|c| {
        c.set("listen.onion_address", source_onion.as_str())
            .desk(WIRE_DESK, Some("Wire desk"));
    });
    server.start();
    record_pid(pids, server.pid())?;
    Ok((source_onion, api_onion, private))
}

/// The clients: one with the editor API's key, one without; their SOCKS ports.
fn clients(
    common: &Common,
    pids: &Path,
    tors: &mut Vec<Tor>,
    api_onion: &str,
    private: &str,
) -> Result<Vec<u16>, String> {
    let mut socks = Vec::new();
    for (name, key) in [("editor", true), ("stranger", false)] {
        let dir = tor_dir(&common.root, name)?;
        // No exit relays here: OnionTrafficOnly refuses anything else at once (Chromium's
        // background requests would otherwise wait for a circuit that never comes).
        let mut extra = "SocksPort 127.0.0.1:auto ExtendedErrors OnionTrafficOnly\n".to_owned();
        if key {
            let auth = tor_dir(&dir, "onion_auth")?;
            let api = api_onion.trim_end_matches(".onion");
            std::fs::write(
                auth.join("sanduq.auth_private"),
                format!("{api}:descriptor:x25519:{private}\n"),
            )
            .map_err(|e| e.to_string())?;
            extra.push_str(&format!("ClientOnionAuthDir {}\n", auth.display()));
        }
        tors.push(spawn(name, &dir, &common.torrc(&dir, name, &extra), pids)?);
        let reply = tors
            .last_mut()
            .ok_or("no client")?
            .control
            .command("GETINFO net/listeners/socks")?;
        let port = reply
            .first()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim_matches('"').parse::<u16>().ok())
            .ok_or_else(|| format!("no SOCKS port in {reply:?}"))?;
        socks.push(port);
    }
    Ok(socks)
}

/// Ready: each descriptor uploaded twice (events on the first of `phase2`, the services'
/// tor), every tor of phase 2 bootstrapped.
fn wait_for_descriptors(
    phase2: &mut [Tor],
    onions: [&String; 2],
    deadline: Instant,
) -> Result<(), String> {
    let mut uploads: HashMap<String, usize> = HashMap::new();
    loop {
        for e in phase2[0].control.read_events(Duration::from_millis(200))? {
            let f: Vec<&str> = e.split(' ').collect();
            if f.get(1) == Some(&"HS_DESC") && f.get(2) == Some(&"UPLOADED") {
                *uploads.entry(format!("{}.onion", f[3])).or_default() += 1;
            }
        }
        let uploaded = onions
            .iter()
            .all(|o| uploads.get(o.as_str()).copied().unwrap_or(0) >= 2);
        let mut bootstrapped = true;
        for t in phase2.iter_mut() {
            let phase = t.control.command("GETINFO status/bootstrap-phase")?;
            bootstrapped &= phase.iter().any(|l| l.contains("PROGRESS=100"));
        }
        if uploaded && bootstrapped {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {READY:?}: descriptors uploaded {uploads:?}, all bootstrapped: {bootstrapped}"
            ));
        }
    }
}
