//! Progress of a long command (`fetch`, `push`, `decrypt`, `export`): items, bytes, rate and
//! time left.
//!
//! On a terminal, a bar redrawn in place ([`indicatif`]). Anywhere else (a log, a pipe, a
//! test), one plain line every [`PLAIN_INTERVAL`] and one at the end, so that a log shows the
//! command was alive without a line per item. A line holds counts and sizes only: never an
//! item's id, a filename or anything a source wrote.

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is written when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// The progress of one command. Shared by reference between the tasks of one thread.
pub(super) struct Progress {
    what: &'static str,
    items: u64,
    bytes: u64,
    done_items: Cell<u64>,
    done_bytes: Cell<u64>,
    started: Instant,
    last_line: Cell<Instant>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress of `what` (the command's name) over `items` items of `bytes` bytes in all.
    pub(super) fn new(what: &'static str, items: u64, bytes: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} {wide_bar} {msg} items  {binary_bytes}/{binary_total_bytes}  {binary_bytes_per_sec}  {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(what);
            bar.set_message(format!("0/{items}"));
            bar
        });
        let now = Instant::now();
        Progress {
            what,
            items,
            bytes,
            done_items: Cell::new(0),
            done_bytes: Cell::new(0),
            started: now,
            last_line: Cell::new(now),
            bar,
        }
    }

    /// `n` more bytes done.
    pub(super) fn add_bytes(&self, n: u64) {
        self.done_bytes.set(self.done_bytes.get().saturating_add(n));
        self.show();
    }

    /// One more item done.
    pub(super) fn item_done(&self) {
        self.done_items.set(self.done_items.get() + 1);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}/{}", self.done_items.get(), self.items));
        }
        self.show();
    }

    /// Writes `line` on stderr without breaking the bar.
    pub(super) fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// The command is done: the bar goes, and a plain log gets its last progress line.
    pub(super) fn finish(&self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None if self.items > 0 => eprintln!("{}", self.line()),
            None => {}
        }
    }

    /// The command failed: the bar goes, with no line (the error is the last word).
    pub(super) fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Seconds since the command began.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn show(&self) {
        match &self.bar {
            Some(bar) => bar.set_position(self.done_bytes.get()),
            None if self.last_line.get().elapsed() >= PLAIN_INTERVAL => {
                self.last_line.set(Instant::now());
                eprintln!("{}", self.line());
            }
            None => {}
        }
    }

    /// `fetch: 120/300 items, 1.2 MiB of 3.0 MiB, 410 KiB/s, about 5 s left`.
    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let done = self.done_bytes.get();
        let rate = done as f64 / secs;
        let left = self.bytes.saturating_sub(done);
        let when = if left == 0 {
            format!("in {}", duration(secs))
        } else if rate >= 1.0 {
            format!("about {} left", duration(left as f64 / rate))
        } else {
            "time left unknown".to_owned()
        };
        format!(
            "{}: {}/{} items, {} of {}, {}/s, {when}",
            self.what,
            self.done_items.get(),
            self.items,
            human(done),
            human(self.bytes),
            human(rate as u64),
        )
    }
}

/// `2.5 s`, `4 min 10 s`.
pub(super) fn duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let s = secs.round() as u64;
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// A size for people, in binary units.
pub(super) fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_counts_sizes_rate_and_time() {
        let p = Progress::new("fetch", 4, 4096);
        p.add_bytes(2048);
        p.item_done();
        let line = p.line();
        assert!(
            line.starts_with("fetch: 1/4 items, 2.0 KiB of 4.0 KiB, "),
            "{line}"
        );
        assert!(line.ends_with(" left"), "{line}");
        p.add_bytes(2048);
        assert!(p.line().contains(", in "), "{}", p.line());
    }

    #[test]
    fn durations_and_sizes_read_as_people_say_them() {
        assert_eq!(duration(2.54), "2.5 s");
        assert_eq!(duration(250.0), "4 min 10 s");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(12), "12 bytes");
    }
}
