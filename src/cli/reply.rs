//! `sanduq reply`: offline, encrypt an answer to a source into the bundle's outbox.
//!
//! The reply is encrypted to the source's reply recipient (derived from its codename; the
//! server keeps only that public key) and to every editor of the desk, so the desk can read
//! its own replies later: the editors this bundle trusts, never a list the server changed
//! without an editor accepting it (see `trust`). `sanduq push` uploads the outbox from the
//! online machine.

use std::path::{Path, PathBuf};

use super::api::io_reason;
use super::bundle::{Bundle, Manifest};
use super::{CliError, Result};
use crate::store::SourceInfo;

/// Largest reply text, in bytes.
const MAX_REPLY_TEXT: u64 = 256 * 1024;

/// `sanduq reply`.
///
/// With `identity` (the editor's own keys, old and new), the reply is written only if one of
/// them can read it: the editor can then read their sent reply back, and learns at once when
/// their current key is not yet among the editors this bundle encrypts to (after a rotation,
/// until `sanduq accept`).
pub(super) fn reply(
    bundle_dir: &Path,
    source: &str,
    message_file: &Path,
    identity: &[String],
) -> Result<()> {
    let bundle = Bundle::open(bundle_dir, false)?;
    let manifest = bundle.manifest()?;
    let source = super::sources::resolve(&manifest.sources, source)
        .map_err(|e| CliError::new(format!("--source: {e}")))?;
    check_can_reply(&manifest, source)?;
    if manifest.pending_editors.is_some() {
        eprintln!("sanduq: {}", pending_note(bundle_dir));
    }
    // The path is not shown: a reply pasted where its file's name belongs must not be echoed.
    let unreadable = |e: std::io::Error| {
        CliError::new(format!("cannot read the --message-file: {}", io_reason(&e)))
    };
    let meta = std::fs::metadata(message_file).map_err(unreadable)?;
    if meta.len() > MAX_REPLY_TEXT {
        return Err(too_long());
    }
    let text = zeroize::Zeroizing::new(std::fs::read(message_file).map_err(unreadable)?);
    let queued = queued_for(&bundle.outbox(), source.id);
    let check = |ct: &[u8]| {
        if identity.is_empty() {
            Ok(())
        } else {
            readable_by(identity, ct, bundle_dir)
        }
    };
    let path = write_reply(&bundle, &manifest, source, &text, &check)?;
    println!("{}", path.display());
    eprintln!("{}", confirmation(source.id, &manifest.editors));
    if queued > 0 {
        eprintln!(
            "sanduq: {queued} earlier repl{} to {} {} waiting in the outbox too; sanduq push sends them all (delete a file from {} to take one back)",
            if queued == 1 { "y" } else { "ies" },
            crate::designation::label(source.id),
            if queued == 1 { "is" } else { "are" },
            bundle.outbox().display()
        );
    }
    Ok(())
}

fn too_long() -> CliError {
    CliError::new(format!(
        "the reply is over {MAX_REPLY_TEXT} bytes; shorten it"
    ))
}

/// What to say when the server lists other editors than the bundle trusts.
pub(super) fn pending_note(bundle_dir: &Path) -> String {
    format!(
        "the server lists other editors than this bundle trusts; this reply goes to the trusted ones only (sanduq accept --bundle {} shows the change)",
        bundle_dir.display()
    )
}

/// Refuses a source that cannot be answered from this bundle, with the reason.
pub(super) fn check_can_reply(manifest: &Manifest, source: &SourceInfo) -> Result<()> {
    let Some(source_recipient) = &source.reply_recipient else {
        return Err(CliError::new(
            "this source has no codename, so it cannot read replies",
        ));
    };
    if manifest.editors.is_empty() {
        return Err(CliError::new(
            "the bundle lists no editors of the desk; run sanduq fetch first",
        ));
    }
    let desk_pq = manifest
        .editors
        .iter()
        .all(|r| crate::crypto::is_post_quantum(r));
    if crate::crypto::is_post_quantum(source_recipient) != desk_pq {
        return Err(CliError::new(format!(
            "this source's reply key is {} but the desk's editors are {}; age cannot mix the two in one reply. The source's key follows the desk the next time it logs in: fetch again after that",
            if desk_pq { "classical" } else { "post-quantum" },
            if desk_pq { "post-quantum" } else { "classical" },
        )));
    }
    Ok(())
}

/// Encrypts `text` to the source and to the editors the bundle trusts, into a new file of
/// the outbox (`<source>.<reply>.age`, mode 0600) once `check` accepts the ciphertext;
/// returns its path. `sanduq reply` and the inbox both answer through here.
pub(super) fn write_reply(
    bundle: &Bundle,
    manifest: &Manifest,
    source: &SourceInfo,
    text: &[u8],
    check: &dyn Fn(&[u8]) -> Result<()>,
) -> Result<PathBuf> {
    check_can_reply(manifest, source)?;
    if text.len() as u64 > MAX_REPLY_TEXT {
        return Err(too_long());
    }
    if std::str::from_utf8(text).is_err() || text.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::new("the reply must be non-empty UTF-8 text"));
    }
    let mut recipients: Vec<String> = source.reply_recipient.iter().cloned().collect();
    recipients.extend(manifest.editors.iter().cloned());
    let enc = crate::crypto::encryptor(&recipients).map_err(CliError::new)?;
    let ct = crate::crypto::encrypt_to_vec(enc, text).map_err(CliError::new)?;
    check(&ct)?;
    let name = format!("{}.{}.age", source.id, crate::ids::Id::random());
    let path = bundle.outbox().join(&name);
    std::fs::create_dir_all(bundle.outbox()).map_err(CliError::new)?;
    super::write_private(&path, &ct)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Refuses a reply that none of the editor's own `identity` files can read back.
fn readable_by(identity: &[String], ct: &[u8], bundle_dir: &Path) -> Result<()> {
    let ids = super::decrypt::open_identities(identity)?;
    if ids.decrypt(ct).is_ok() {
        return Ok(());
    }
    Err(CliError::new(format!(
        "none of the --identity keys is among the editors this bundle encrypts replies to, so you could not read this reply back; nothing was written. After a key rotation, accept the new key first: sanduq fetch, then sanduq accept --bundle {}",
        bundle_dir.display()
    )))
}

/// How many replies to `source` wait in `outbox` (not yet pushed).
fn queued_for(outbox: &Path, source: crate::ids::Id) -> usize {
    let prefix = format!("{source}.");
    std::fs::read_dir(outbox).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".age"))
            .count()
    })
}

/// The line saying who can read the reply: the source, and each editor accepted in the
/// bundle, by a shortened recipient (enough to compare with `sanduq keygen`'s output).
fn confirmation(source: crate::ids::Id, editors: &[String]) -> String {
    let list: Vec<String> = editors.iter().map(|r| short_recipient(r)).collect();
    format!(
        "sanduq: reply queued for {}, encrypted to its reply key and to the {} editor{} accepted in this bundle: {}",
        crate::designation::label(source),
        editors.len(),
        if editors.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// `age1qyqs…x7k2m9`: the start and end of a recipient; recipients are public, but a
/// post-quantum one is 2,000 characters long.
pub(crate) fn short_recipient(r: &str) -> String {
    let r = r.trim();
    let chars: Vec<char> = r.chars().collect();
    if chars.len() <= 24 {
        return r.to_owned();
    }
    let head: String = chars[..12].iter().collect();
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_shortened_and_counted() {
        let long = format!("age1pq1{}", "q".repeat(1900));
        assert_eq!(short_recipient(&long).chars().count(), 21);
        assert!(short_recipient(&long).starts_with("age1pq1qqqqq…"));
        assert_eq!(short_recipient("age1short"), "age1short");
        let id: crate::ids::Id = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
        let line = confirmation(id, &["age1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbb".into()]);
        assert!(line.contains("amber anchor 00010203"), "{line}");
        assert!(
            line.contains("1 editor accepted") && line.contains("age1aaaaaaaa…bbbbbbbb"),
            "{line}"
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(queued_for(dir.path(), id), 0);
        std::fs::write(
            dir.path()
                .join(format!("{id}.{}.age", crate::ids::Id::random())),
            b"x",
        )
        .unwrap();
        std::fs::write(
            dir.path()
                .join(format!("{}.x.age", crate::ids::Id::random())),
            b"x",
        )
        .unwrap();
        assert_eq!(queued_for(dir.path(), id), 1);
    }
}
