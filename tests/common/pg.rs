//! A throwaway PostgreSQL cluster in a temp directory, on a free port of 127.0.0.1, for the
//! tests of the PostgreSQL metadata store. PostgreSQL refuses to run as root: under root the
//! cluster belongs to the `postgres` user and its binaries run through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::{Connection, Executor};

/// The role every test connects as (trusted: no password).
const USER: &str = "sanduq";

/// A running cluster; dropping it stops it and removes its files.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The directory of PostgreSQL's server binaries.
fn bindir() -> PathBuf {
    let has_initdb = |d: &Path| d.join("initdb").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&dir) {
            return dir;
        }
    }
    // Debian's layout: the newest version first.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| has_initdb(d))
        .collect();
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .expect("PostgreSQL's initdb (install the postgresql package: scripts/test.sh does)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .expect("id -u")
}

impl PgCluster {
    /// initdb's a new cluster and starts it.
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = is_root();
        let cluster = PgCluster {
            bin: bindir(),
            port: super::free_port(),
            as_postgres,
            dir,
        };
        std::fs::create_dir(cluster.socket_dir()).expect("socket dir");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(cluster.dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown the cluster's directory to postgres");
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data_dir().display().to_string(),
                "-A",
                "trust",
                "-U",
                USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 50\n",
            cluster.port,
            cluster.socket_dir().display()
        );
        let conf_path = cluster.data_dir().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&conf_path, text).expect("write postgresql.conf");
        cluster.start_again();
        cluster
    }

    /// Runs one of the cluster's binaries, as `postgres` under root; panics if it fails.
    fn run(&self, name: &str, args: &[&str]) {
        let bin = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
        assert!(
            out.status.success(),
            "{name} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The cluster's data directory (PGDATA).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The URL of the database `postgres`, which initdb makes.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of database `db`.
    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates the empty database `db` and returns its URL.
    pub async fn database(&self, db: &str) -> String {
        let mut conn = sqlx::PgConnection::connect(&self.url())
            .await
            .expect("connect to the cluster");
        conn.execute(format!("CREATE DATABASE \"{db}\"").as_str())
            .await
            .expect("create a database");
        conn.close().await.expect("close");
        self.url_of(db)
    }

    /// Stops the server (fast: open sessions are ended), keeping its data.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn start_again(&self) {
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg_ctl(&["-l", &log, "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data_dir().display().to_string();
        let mut all = vec!["-D", &data, "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Best effort: the server may already be stopped; the temp dir goes with `dir`.
        let data = self.data_dir().display().to_string();
        let bin = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .current_dir(self.dir.path())
            .output();
    }
}
