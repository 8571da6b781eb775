//! What the inbox remembers between runs, kept in the bundle (`inbox.json`), never on the
//! server: which items the editor has opened, and which sources they marked as handled.
//!
//! It holds only ids, as `manifest.json` does, and travels with the bundle so that a desk
//! sharing one stick shares it too. A missing or unreadable file is an empty state: losing
//! it costs only the unread marks.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::{CliError, Result};
use crate::ids::Id;

/// The file's name in the bundle.
const FILE: &str = "inbox.json";

/// The inbox's state.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct State {
    /// Items the editor has seen in a conversation.
    #[serde(default)]
    pub(super) read: BTreeSet<Id>,
    /// Sources marked as handled.
    #[serde(default)]
    pub(super) handled: BTreeSet<Id>,
    #[serde(skip)]
    path: PathBuf,
}

impl State {
    /// Reads the state of the bundle at `root`.
    pub(super) fn load(root: &Path) -> State {
        let path = root.join(FILE);
        let mut s: State = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        s.path = path;
        s
    }

    /// Writes it back, atomically.
    pub(super) fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            serde_json::to_writer(&mut f, self)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| CliError::new(format!("cannot write {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_damaged_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path());
        assert!(s.read.is_empty() && s.handled.is_empty());
        let id = Id::random();
        s.read.insert(id);
        s.handled.insert(id);
        s.save().unwrap();
        let back = State::load(dir.path());
        assert!(back.read.contains(&id) && back.handled.contains(&id));
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(State::load(dir.path()).read.is_empty());
    }
}
