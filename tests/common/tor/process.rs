//! The tor processes of the private network: their folders and torrc, the control
//! connection that owns each, authority keys, client-authorisation keys, and the watchdog
//! that stops them all when the test process is gone.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Tor, DEPLOY_TORRC};

impl Tor {
    pub(super) fn tail(&self) -> String {
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
pub(super) struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Asynchronous events (`650 …`) read while waiting for replies.
    events: Vec<String>,
}

impl Control {
    pub(super) fn connect(dir: &Path, deadline: Instant) -> Result<Control, String> {
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
    pub(super) fn command(&mut self, command: &str) -> Result<Vec<String>, String> {
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
    pub(super) fn read_events(&mut self, wait: Duration) -> Result<Vec<String>, String> {
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
pub(super) struct Common {
    pub(super) root: PathBuf,
    pub(super) dir_authorities: Vec<String>,
    pub(super) empty: PathBuf,
}

impl Common {
    pub(super) fn torrc(&self, dir: &Path, nickname: &str, extra: &str) -> String {
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
pub(super) fn tor_dir(root: &Path, name: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Runs a command to completion; its stdout, or an error with its stderr.
pub(super) fn run(cmd: &mut Command) -> Result<String, String> {
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
pub(super) fn make_authority(
    root: &Path,
    i: usize,
    or: u16,
    dir_port: u16,
) -> Result<String, String> {
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
pub(super) fn spawn(name: &str, dir: &Path, torrc: &str, pids: &Path) -> Result<Tor, String> {
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

pub(super) fn record_pid(pids: &Path, pid: u32) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(pids)
        .map_err(|e| e.to_string())?;
    writeln!(f, "{pid}").map_err(|e| e.to_string())
}

/// SIGTERM, up to 5 s for the process to go, then SIGKILL.
pub(super) fn stop(child: &mut Child) {
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
pub(super) fn watchdog(pids: &Path, folders: &[&Path]) -> Result<(), String> {
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
pub(super) fn client_auth_keys(dir: &Path) -> Result<(String, String), String> {
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
pub(super) fn base32(bytes: &[u8]) -> String {
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
