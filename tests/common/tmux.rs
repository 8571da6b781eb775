//! A terminal a person would use, for tests of `sanduq inbox`: a detached tmux session on a
//! private socket (no user configuration), driven with `send-keys` and read with
//! `capture-pane`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server with one session running a command; killed when dropped.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `cmd` (a shell command line) in a 100×30 terminal. When it ends, the pane shows
    /// `EXIT=<code>` and stays open.
    pub fn start(dir: &Path, cmd: &str) -> Tmux {
        let t = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let line = format!("{cmd}; echo EXIT=$?; sleep 60");
        let o = t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "100",
            "-y",
            "30",
            &line,
        ]);
        assert!(
            o.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux must be installed (scripts/test.sh installs it)")
    }

    /// Presses keys, as tmux names them (`Enter`, `Down`, `C-s`, `q`).
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "t", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// The screen with its attributes and colours as escape sequences (`capture-pane -e`).
    pub fn screen_with_styles(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-e", "-t", "t"]).stdout)
            .into_owned()
    }

    /// A tmux format about the pane, e.g. `#{pane_title}`.
    pub fn format(&self, f: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "t", f]).stdout)
            .trim()
            .to_owned()
    }

    /// Waits (up to 15 s) until the screen shows `what`; returns the screen.
    pub fn wait_for(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the screen never showed {what:?}; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
