//! What `sanduq export` remembers between runs: which items earlier exports read (for
//! `--new`), and which files it wrote (for `--force`).
//!
//! `--new` needs to know what the last export held; that is kept in the bundle
//! (`export-state.json`): the ids of the items each export read, per scope (one form, or all
//! of them). Item ids are in the manifest anyway; every item read is listed, messages and
//! files too, so the list does not tell which items are forms.
//!
//! `--force` must replace only an export sanduq wrote, never a file someone else made or
//! changed since. So every export is recorded beside itself, in `.sanduq-exports` of the
//! output's folder (on the offline machine, with the plaintext, not in the bundle that
//! travels): its file name and SHA-256. A file is replaced only if it is a regular file whose
//! name and content match a record; anything else is refused.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::{CliError, Result};
use crate::ids::Id;
use crate::store::ItemRow;

/// The scope of an export of every form.
pub(super) const ALL_FORMS: &str = "*";
/// In the bundle: what earlier exports read.
const STATE_FILE: &str = "export-state.json";
/// Beside each export: the exports sanduq wrote in that folder.
const WRITTEN_FILE: &str = ".sanduq-exports";

/// `export-state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    /// Per scope (a form's id, or [`ALL_FORMS`]), the items earlier exports read.
    #[serde(default)]
    seen: BTreeMap<String, BTreeSet<String>>,
}

impl State {
    /// The bundle's state; none yet, or unreadable, is empty (said, for the latter).
    pub(super) fn read(bundle: &Path) -> State {
        match fs::read(bundle.join(STATE_FILE)) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|_| {
                eprintln!(
                    "sanduq: {STATE_FILE} in the bundle is damaged; --new exports everything"
                );
                State::default()
            }),
            Err(_) => State::default(),
        }
    }

    /// The items exports of `scope` read before.
    pub(super) fn seen(&self, scope: &str) -> HashSet<Id> {
        self.seen
            .get(scope)
            .into_iter()
            .flatten()
            .filter_map(|s| s.parse().ok())
            .collect()
    }

    /// Adds `ids` to what exports of `scope` read, keeping only items still in the bundle.
    pub(super) fn add_seen(&mut self, scope: &str, ids: &[Id], items: &[ItemRow]) {
        let set = self.seen.entry(scope.to_owned()).or_default();
        set.extend(ids.iter().map(Id::to_string));
        let present: HashSet<String> = items.iter().map(|i| i.id.to_string()).collect();
        for s in self.seen.values_mut() {
            s.retain(|id| present.contains(id));
        }
    }

    /// Replaces the bundle's state atomically.
    pub(super) fn save(&self, bundle: &Path) -> Result<()> {
        let path = bundle.join(STATE_FILE);
        let tmp = bundle.join(format!("{STATE_FILE}.tmp"));
        let write = || -> io::Result<()> {
            let _ = fs::remove_file(&tmp);
            let text = serde_json::to_vec(self)?;
            crate::cli::write_private(&tmp, &text)?;
            fs::rename(&tmp, &path)?;
            crate::store::fs::sync_dir(bundle)
        };
        write().map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
    }
}

/// One line of `.sanduq-exports`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Written {
    file: String,
    sha256: String,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where `out`'s record lives, and `out`'s file name.
fn record_of(out: &Path) -> Result<(PathBuf, String)> {
    let name = out
        .file_name()
        .ok_or_else(|| CliError::new(format!("{} is not a file name", out.display())))?
        .to_string_lossy()
        .into_owned();
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((dir.join(WRITTEN_FILE), name))
}

/// Whether `record` says sanduq wrote `name` with exactly `contents`.
fn wrote(record: &Path, name: &str, contents: &[u8]) -> bool {
    let wanted = Written {
        file: name.to_owned(),
        sha256: sha256(contents),
    };
    fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Written>(l).ok())
        .any(|w| w == wanted)
}

/// Writes the export `text` to `out`, whole or not at all. An existing `out` is replaced
/// only with `force`, and only if sanduq wrote it and nobody changed it since.
pub(super) fn write_out(out: &Path, text: &[u8], force: bool) -> Result<()> {
    let (record, name) = record_of(out)?;
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => write_new(out, text)?,
        Err(e) => return Err(CliError::new(format!("cannot read {}: {e}", out.display()))),
        Ok(_) if !force => {
            return Err(CliError::new(format!(
                "{} exists; sanduq export replaces only its own earlier export, with --force; or choose another --out",
                out.display()
            )))
        }
        Ok(m) => {
            let ours = m.is_file()
                && fs::read(out)
                    .map(zeroize::Zeroizing::new)
                    .is_ok_and(|old| wrote(&record, &name, &old));
            if !ours {
                return Err(CliError::new(format!(
                    "{} was not written by sanduq export, or was changed since; --force replaces only sanduq's own unchanged export: choose another --out",
                    out.display()
                )));
            }
            replace(out, text)?;
        }
    }
    let line = serde_json::to_string(&Written {
        file: name,
        sha256: sha256(text),
    })
    .map_err(CliError::new)?;
    let mut opts = fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(&record)
        .and_then(|mut f| writeln!(f, "{line}").and_then(|()| f.sync_all()))
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", record.display())))
}

/// The hidden partial file `out` is written to first.
fn partial_of(out: &Path) -> PathBuf {
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    out.with_file_name(format!(".{name}.sanduq-partial"))
}

/// Replaces `out` with `text` atomically: a new file renamed over it.
fn replace(out: &Path, text: &[u8]) -> Result<()> {
    let partial = partial_of(out);
    let _ = fs::remove_file(&partial);
    let result = crate::cli::write_private(&partial, text)
        .and_then(|()| fs::rename(&partial, out))
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", out.display())));
    let _ = fs::remove_file(&partial);
    result
}

/// Writes `out` whole or not at all, never replacing an existing file.
fn write_new(out: &Path, text: &[u8]) -> Result<()> {
    let partial = partial_of(out);
    let _ = fs::remove_file(&partial);
    let result = crate::cli::write_private(&partial, text)
        .and_then(|()| match fs::hard_link(&partial, out) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                // Filesystems without hard links (FAT on a USB stick): a copy into a file
                // created with create_new, which refuses to replace anything either.
                let mut opts = fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                opts.open(out).and_then(|mut t| {
                    io::copy(&mut fs::File::open(&partial)?, &mut t)?;
                    t.sync_all()
                })
            }
            other => other,
        })
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", out.display())));
    let _ = fs::remove_file(&partial);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_replaces_only_an_unchanged_export_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cases.csv");
        write_out(&out, b"first", false).unwrap();
        assert!(write_out(&out, b"second", false).is_err(), "no --force");
        write_out(&out, b"second", true).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"second");
        // Changed by hand: refused, and left as it is.
        fs::write(&out, b"edited").unwrap();
        assert!(write_out(&out, b"third", true).is_err());
        assert_eq!(fs::read(&out).unwrap(), b"edited");
        // Another file, even with an export's content under another name: refused.
        let other = dir.path().join("notes.csv");
        fs::write(&other, b"second").unwrap();
        assert!(write_out(&other, b"x", true).is_err());
        assert_eq!(fs::read(&other).unwrap(), b"second");
        // A link to an export is not replaced through.
        #[cfg(unix)]
        {
            let link = dir.path().join("link.csv");
            write_out(&dir.path().join("real.csv"), b"real", false).unwrap();
            std::os::unix::fs::symlink(dir.path().join("real.csv"), &link).unwrap();
            assert!(write_out(&link, b"x", true).is_err());
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("partial"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn state_keeps_what_each_scope_read_and_only_items_still_there() {
        let dir = tempfile::tempdir().unwrap();
        let row = |id: Id| ItemRow {
            id,
            source: Id::random(),
            desk: "default".into(),
            day: "2026-11-28".into(),
            size: 1,
            meta_size: 1,
        };
        let (a, b, gone) = (Id::random(), Id::random(), Id::random());
        let mut s = State::read(dir.path());
        assert!(s.seen(ALL_FORMS).is_empty());
        s.add_seen(ALL_FORMS, &[a, gone], &[row(a), row(b)]);
        s.add_seen("detention", &[b], &[row(a), row(b)]);
        s.save(dir.path()).unwrap();
        let s = State::read(dir.path());
        assert_eq!(s.seen(ALL_FORMS), HashSet::from([a]));
        assert_eq!(s.seen("detention"), HashSet::from([b]));
        fs::write(dir.path().join(STATE_FILE), b"{oops").unwrap();
        assert!(State::read(dir.path()).seen(ALL_FORMS).is_empty());
    }
}
