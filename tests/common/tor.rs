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

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Server;

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

impl Tor {
    fn tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("notice.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(12);
        format!(
            "\n--- tor {} ({}), last lines of notice.log:\n{}",
            self.name,
            self.dir.display(),
            lines[from..].join("\n")
        )
    }
}

/// A tor control connection, authenticated with the cookie.
struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Asynchronous events (`650 …`) read while waiting for replies.
    events: Vec<String>,
}

impl Control {
    fn connect(dir: &Path, deadline: Instant) -> Result<Control, String> {
        let port_file = dir.join("control.port");
        let addr = loop {
            // The file holds `PORT=127.0.0.1:NNNN` once tor listens.
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            if let Some(a) = text.trim().strip_prefix("PORT=") {
                break a.parse::<SocketAddr>().map_err(|e| e.to_string())?;
            }
            if Instant::now() > deadline {
                return Err(format!("no control port in {}", port_file.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The cookie may be written a moment after the port.
        let cookie = loop {
            match std::fs::read(dir.join("control_auth_cookie")) {
                Ok(c) if c.len() == 32 => break c,
                _ if Instant::now() > deadline => return Err("no control_auth_cookie".into()),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let stream = TcpStream::connect(addr).map_err(|e| format!("control {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut c = Control {
            reader: BufReader::new(stream.try_clone().map_err(|e| e.to_string())?),
            writer: stream,
            events: Vec::new(),
        };
        c.command(&format!("AUTHENTICATE {}", hex::encode(cookie)))?;
        c.command("TAKEOWNERSHIP")?;
        Ok(c)
    }

    /// Sends one command and reads its reply up to the final `250 ` line.
    fn command(&mut self, command: &str) -> Result<Vec<String>, String> {
        self.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .map_err(|e| format!("control: {e}"))?;
        let mut lines = Vec::new();
        loop {
            let line = self.line()?.ok_or("control: no reply in 10 s")?;
            if line.starts_with("650") {
                self.events.push(line);
                continue;
            }
            let done = line.len() >= 4 && line.as_bytes()[3] == b' ';
            let code = line.get(..3).unwrap_or_default().to_owned();
            lines.push(line);
            if done && code == "250" {
                return Ok(lines);
            }
            if done {
                return Err(format!("control {command:?}: {}", lines.join(" | ")));
            }
        }
    }

    /// One line, or `None` when none came within the read timeout.
    fn line(&mut self) -> Result<Option<String>, String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err("control: tor closed the connection".into()),
            Ok(_) => Ok(Some(line.trim_end().to_owned())),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("control: {e}")),
        }
    }

    /// Asynchronous events that arrive within `wait`.
    fn read_events(&mut self, wait: Duration) -> Result<Vec<String>, String> {
        self.writer
            .set_read_timeout(Some(wait))
            .map_err(|e| e.to_string())?;
        let got = self.line();
        self.writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        if let Some(l) = got? {
            self.events.push(l);
        }
        Ok(std::mem::take(&mut self.events))
    }
}

/// What every tor in the network shares.
struct Common {
    root: PathBuf,
    dir_authorities: Vec<String>,
    empty: PathBuf,
}

impl Common {
    fn torrc(&self, dir: &Path, nickname: &str, extra: &str) -> String {
        let mut t = format!(
            "TestingTorNetwork 1\nDataDirectory {dir}\nNickname {nickname}\n\
             ControlPort auto\nControlPortWriteToFile {dir}/control.port\n\
             CookieAuthentication 1\n__OwningControllerProcess {pid}\n\
             Log notice file {dir}/notice.log\nSafeLogging 0\nShutdownWaitLength 0\n\
             GeoIPFile {empty}\nGeoIPv6File {empty}\nPathsNeededToBuildCircuits 0.67\n\
             ContactInfo sanduq-tests@localhost\n",
            dir = dir.display(),
            pid = std::process::id(),
            empty = self.empty.display(),
        );
        for a in &self.dir_authorities {
            t.push_str(&format!("DirAuthority {a}\n"));
        }
        t.push_str(extra);
        t
    }
}

/// A folder for one tor, mode 0700 (tor refuses a DataDirectory others can read).
fn tor_dir(root: &Path, name: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Runs a command to completion; its stdout, or an error with its stderr.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An authority's keys (tor-gencert) and its `DirAuthority` line.
fn make_authority(root: &Path, i: usize, or: u16, dir_port: u16) -> Result<String, String> {
    let dir = tor_dir(root, &format!("auth{i}"))?;
    let keys = tor_dir(&dir, "keys")?;
    let mut gencert = Command::new("tor-gencert");
    gencert
        .current_dir(&keys)
        .args(["--create-identity-key", "-m", "12", "--passphrase-fd", "0"])
        .args(["-a", &format!("127.0.0.1:{dir_port}")])
        .stdin(Stdio::null());
    run(&mut gencert)?;
    let cert =
        std::fs::read_to_string(keys.join("authority_certificate")).map_err(|e| e.to_string())?;
    let v3ident = cert
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint "))
        .ok_or("no fingerprint in authority_certificate")?
        .to_owned();
    run(Command::new("tor")
        .args([
            "--list-fingerprint",
            "--orport",
            "1",
            "--ignore-missing-torrc",
        ])
        .args(["-f", "/dev/null", "--defaults-torrc", "/dev/null"])
        .args(["--datadirectory", &dir.display().to_string()])
        .args([
            "--dirauthority",
            "x 127.0.0.1:1 0000000000000000000000000000000000000000",
        ]))?;
    // The file holds `<nickname> <fingerprint>`.
    let fp = std::fs::read_to_string(dir.join("fingerprint")).map_err(|e| e.to_string())?;
    let fp = fp
        .split_whitespace()
        .nth(1)
        .ok_or("no fingerprint from tor --list-fingerprint")?
        .to_owned();
    Ok(format!(
        "auth{i} orport={or} no-v2 v3ident={v3ident} 127.0.0.1:{dir_port} {fp}"
    ))
}

/// Starts one tor with `torrc` in `dir`, and takes ownership of it.
fn spawn(name: &str, dir: &Path, torrc: &str, pids: &Path) -> Result<Tor, String> {
    let file = dir.join("torrc");
    std::fs::write(&file, torrc).map_err(|e| e.to_string())?;
    let out = std::fs::File::create(dir.join("stdout.log")).map_err(|e| e.to_string())?;
    let child = Command::new("tor")
        .args([
            "-f",
            &file.display().to_string(),
            "--defaults-torrc",
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("tor (Debian package tor) could not start: {e}"))?;
    record_pid(pids, child.id())?;
    let mut child = child;
    let control = match Control::connect(dir, Instant::now() + Duration::from_secs(20)) {
        Ok(c) => c,
        Err(e) => {
            stop(&mut child);
            let log = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
            return Err(format!("tor {name}: {e}\n{log}"));
        }
    };
    Ok(Tor {
        name: name.into(),
        dir: dir.to_owned(),
        child,
        control,
    })
}

fn record_pid(pids: &Path, pid: u32) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(pids)
        .map_err(|e| e.to_string())?;
    writeln!(f, "{pid}").map_err(|e| e.to_string())
}

/// SIGTERM, up to 5 s for the process to go, then SIGKILL.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A watchdog that outlives this process by a few seconds: once it is gone, every process
/// listed in `pids` that is still one of ours (its command line names one of `folders`) gets
/// SIGTERM, then SIGKILL, and the folders are removed.
fn watchdog(pids: &Path, folders: &[&Path]) -> Result<(), String> {
    let script = r#"
        parent=$1; pids=$2; shift 2
        while kill -0 "$parent" 2>/dev/null; do sleep 1; done
        ours() {
            line=$(tr '\0' ' ' < /proc/$1/cmdline 2>/dev/null) || return 1
            for f in "$@"; do case $line in *"$f"*) return 0;; esac; done
            return 1
        }
        for p in $(cat "$pids"); do ours "$p" "$@" && kill -TERM "$p"; done
        sleep 3
        for p in $(cat "$pids"); do ours "$p" "$@" && kill -KILL "$p"; done
        rm -rf -- "$@"
    "#;
    Command::new("sh")
        .args(["-c", script, "sanduq-tor-watchdog"])
        .arg(std::process::id().to_string())
        .arg(pids)
        .args(folders)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    Ok(())
}

/// deploy/torrc's `HiddenService*` lines, in order, for a service folder and the two
/// listeners: each `HiddenServiceDir` is replaced by the next of `dirs`, and the shipped
/// listener ports 8080 and 8081 by the server's.
pub fn onion_service_lines(dirs: &[&Path], source: SocketAddr, api: SocketAddr) -> String {
    let shipped = std::fs::read_to_string(DEPLOY_TORRC).expect("deploy/torrc");
    let mut dirs = dirs.iter();
    let mut out = String::new();
    for line in shipped.lines().map(str::trim) {
        if !line.starts_with("HiddenService") {
            continue;
        }
        let line = if line.starts_with("HiddenServiceDir ") {
            let dir = dirs.next().expect("a folder for each HiddenServiceDir");
            format!("HiddenServiceDir {}", dir.display())
        } else {
            line.replace("127.0.0.1:8080", &source.to_string())
                .replace("127.0.0.1:8081", &api.to_string())
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// An x25519 key pair for client authorisation, made as deploy/torrc tells editors to:
/// `openssl genpkey`, the raw 32 bytes, base32 without padding. (private, public)
fn client_auth_keys(dir: &Path) -> Result<(String, String), String> {
    let pem = dir.join("onion-auth.pem");
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "x25519", "-out"])
        .arg(&pem))?;
    let raw = |public: bool| -> Result<String, String> {
        let mut cmd = Command::new("openssl");
        cmd.args(["pkey", "-in"])
            .arg(&pem)
            .args(["-outform", "DER"]);
        if public {
            cmd.arg("-pubout");
        }
        let der = cmd.output().map_err(|e| e.to_string())?.stdout;
        let key = der.get(der.len().saturating_sub(32)..).unwrap_or_default();
        Ok(base32(key))
    };
    Ok((raw(false)?, raw(true)?))
}

/// RFC 4648 base32, upper case, no padding (what `base32 | tr -d '='` prints).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
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

    // Phase 1: authorities and relays, until the consensus lists all six as HSDir.
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
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {READY:?} the consensus lists {hsdirs} of 6 relays as HSDir"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "tor network: consensus with 6 HSDirs after {:.1?}",
        t0.elapsed()
    );

    // Phase 2: the onion services (deploy/torrc's lines) and sanduq behind them.
    let hs = tor_dir(root, "hs")?;
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

    // The clients: one with the editor API's key, one without.
    let mut socks = Vec::new();
    for (name, key) in [("editor", true), ("stranger", false)] {
        let dir = tor_dir(root, name)?;
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

    // Ready: each descriptor uploaded twice, every tor of phase 2 bootstrapped.
    let mut uploads: HashMap<String, usize> = HashMap::new();
    let hs_index = tors.len() - 3;
    let deadline = Instant::now() + READY;
    loop {
        for e in tors[hs_index]
            .control
            .read_events(Duration::from_millis(200))?
        {
            let f: Vec<&str> = e.split(' ').collect();
            if f.get(1) == Some(&"HS_DESC") && f.get(2) == Some(&"UPLOADED") {
                *uploads.entry(format!("{}.onion", f[3])).or_default() += 1;
            }
        }
        let uploaded = [&source_onion, &api_onion]
            .iter()
            .all(|o| uploads.get(o.as_str()).copied().unwrap_or(0) >= 2);
        let mut bootstrapped = true;
        for t in tors[hs_index..].iter_mut() {
            let phase = t.control.command("GETINFO status/bootstrap-phase")?;
            bootstrapped &= phase.iter().any(|l| l.contains("PROGRESS=100"));
        }
        if uploaded && bootstrapped {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {READY:?}: descriptors uploaded {uploads:?}, all bootstrapped: {bootstrapped}"
            ));
        }
    }
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

/// Waits until `GET path` on `onion` through the client on `socks` answers `want`.
fn first_answer(
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
