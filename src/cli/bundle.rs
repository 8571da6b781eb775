//! The bundle: the folder an editor carries between the online and the offline machine.
//!
//! `manifest.json` (plaintext server metadata: ids, sources, desks, sizes, days, and the
//! recipients replies go to, pinned as `trust` says),
//! `items/<id>.age` and `items/<id>.meta.age` (ciphertext, as stored on the server), and
//! `outbox/` for replies going back, `replies/<id>.age` for the desk's replies as the server
//! holds them (by any of its editors). An item is in the manifest only once both its files are
//! complete; the manifest is replaced atomically, so an interrupted fetch never leaves a
//! manifest that promises a file that is not there.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CliError, Result};
use crate::ids::Id;
use crate::store::{ItemRow, SourceInfo};

/// The format tag of a bundle manifest.
pub(crate) const FORMAT: &str = "sanduq-bundle/1";

/// `manifest.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Every complete item.
    pub items: Vec<ItemRow>,
    /// Every source of the desk this bundle has been told of, with the recipient replies to it
    /// go to; kept after the server stops listing it.
    #[serde(default)]
    pub sources: Vec<SourceInfo>,
    /// The desk's editors' recipients this bundle trusts: every reply is encrypted to them
    /// too. Pinned by the first fetch, changed only by `sanduq accept` (see `trust`).
    #[serde(default)]
    pub editors: Vec<String>,
    /// The editors the server listed last, when they differ from `editors`: not used until an
    /// editor accepts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_editors: Option<Vec<String>>,
    /// The items of this bundle that another editor of the desk had already fetched when this
    /// bundle took them, as the server's listing said then (see `seen`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetched_elsewhere: Vec<crate::ids::Id>,
    /// Every reply of the desk this bundle holds in `replies/<id>.age`, written by any of its
    /// editors (each is encrypted to the desk's editors too); kept after the server loses it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<BundleReply>,
    /// The day the next fetch reads the server's address book from: the last day of the
    /// last whole walk (a new source is always of that day or later). None: from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_book_from: Option<String>,
}

/// A reply in the bundle, as the server listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleReply {
    /// The reply.
    pub id: Id,
    /// The source it answers.
    pub source: Id,
    /// The UTC day it was pushed.
    pub day: String,
    /// Size of `replies/<id>.age`.
    pub size: u64,
    /// The server no longer has it: its source deleted it (read, or wanted it gone), or the
    /// desk's retention did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// It is not a manifest's JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// It is a manifest of another format.
    #[error("unknown bundle format {0:?}")]
    Format(String),
}

impl Manifest {
    /// Parses a manifest, refusing other formats.
    pub fn parse(text: &[u8]) -> std::result::Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(text)?;
        if m.format != FORMAT {
            return Err(ManifestError::Format(m.format));
        }
        Ok(m)
    }
}

/// A bundle folder.
pub(super) struct Bundle {
    root: PathBuf,
}

impl Bundle {
    /// The outbox, where `sanduq reply` puts replies for `sanduq push`.
    pub(super) fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// Opens a bundle folder, creating it (and `items/`, `outbox/`) if `create`.
    pub(super) fn open(root: &Path, create: bool) -> Result<Bundle> {
        if create {
            for d in [
                root.to_owned(),
                root.join("items"),
                root.join("outbox"),
                root.join("replies"),
            ] {
                std::fs::create_dir_all(&d)
                    .map_err(|e| CliError::context(format!("cannot create {}", d.display()), e))?;
            }
        } else if !root.join("manifest.json").is_file() {
            return Err(CliError::new(format!(
                "{} is not a bundle (no manifest.json); run sanduq fetch first",
                root.display()
            )));
        }
        Ok(Bundle {
            root: root.to_owned(),
        })
    }

    /// `replies/`: the desk's replies, as fetched.
    pub(super) fn replies_dir(&self) -> PathBuf {
        self.root.join("replies")
    }

    pub(super) fn items_dir(&self) -> PathBuf {
        self.root.join("items")
    }

    fn manifest_path(&self) -> PathBuf {
        self.root.join("manifest.json")
    }

    /// Reads the manifest; an absent one is empty.
    pub(super) fn manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path();
        match std::fs::read(&path) {
            Ok(bytes) => Manifest::parse(&bytes)
                .map_err(|e| CliError::context(format!("{}", path.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                format: FORMAT.into(),
                ..Manifest::default()
            }),
            Err(e) => Err(CliError::context(
                format!("cannot read {}", path.display()),
                e,
            )),
        }
    }

    /// Replaces the manifest atomically and durably.
    pub(super) fn save(&self, m: &Manifest) -> Result<()> {
        let path = self.manifest_path();
        let tmp = self.root.join("manifest.json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            serde_json::to_writer_pretty(&mut f, m)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            crate::store::fs::sync_dir(&self.root)
        };
        write().map_err(|e| CliError::context(format!("cannot write {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let b = Bundle::open(dir.path(), true).unwrap();
        let mut m = b.manifest().unwrap();
        assert!(m.items.is_empty());
        m.items.push(ItemRow {
            id: crate::ids::Id::random(),
            source: crate::ids::Id::random(),
            desk: "default".into(),
            day: "2026-11-28".into(),
            size: 1,
            meta_size: 2,
        });
        b.save(&m).unwrap();
        assert_eq!(b.manifest().unwrap().items, m.items);
        assert!(Manifest::parse(b"{\"format\":\"other\",\"items\":[]}").is_err());
        assert!(
            Manifest::parse(b"{\"format\":\"sanduq-bundle/1\",\"items\":[{\"id\":\"../x\"}]}")
                .is_err()
        );
        assert!(Bundle::open(&dir.path().join("nope"), false).is_err());
    }
}
