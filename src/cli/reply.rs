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

/// Finds a source by its designation ("amber heron", or its folder name "amber-heron-3f2a91"),
/// its full id, or a unique prefix of its id of at least 8 characters.
pub(super) fn find_source<'a>(sources: &'a [SourceInfo], wanted: &str) -> Result<&'a SourceInfo> {
    let spaced = wanted.trim().to_lowercase().replace(['-', '_'], " ");
    let spaced = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    let by_name: Vec<&SourceInfo> = sources
        .iter()
        .filter(|s| {
            let d = crate::designation::of(s.id);
            spaced == d || spaced == crate::designation::folder(s.id).replace('-', " ")
        })
        .collect();
    match by_name.as_slice() {
        [one] => return Ok(one),
        [] => {}
        _ => {
            return Err(CliError::new(
                "--source: several sources have that name; use the folder name with its digits",
            ))
        }
    }
    let wanted = wanted.trim().to_lowercase();
    if wanted.len() < 8 {
        return Err(CliError::new(
            "--source: give the source's id, or at least its first 8 characters",
        ));
    }
    let matches: Vec<&SourceInfo> = sources
        .iter()
        .filter(|s| s.id.to_string().starts_with(&wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        // The value is not echoed: whatever was pasted there may be a secret.
        [] => Err(CliError::new(
            "--source: no such source in this bundle; run sanduq fetch on the online machine first",
        )),
        _ => Err(CliError::new(
            "--source: that matches several sources; give more characters",
        )),
    }
}

/// `sanduq reply`.
pub(super) fn reply(bundle_dir: &Path, source: &str, message_file: &Path) -> Result<()> {
    let bundle = Bundle::open(bundle_dir, false)?;
    let manifest = bundle.manifest()?;
    let source = find_source(&manifest.sources, source)?;
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
    let path = write_reply(&bundle, &manifest, source, &text)?;
    println!("{}", path.display());
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
/// the outbox (`<source>.<reply>.age`, mode 0600); returns its path. `sanduq reply` and the
/// inbox both answer through here.
pub(super) fn write_reply(
    bundle: &Bundle,
    manifest: &Manifest,
    source: &SourceInfo,
    text: &[u8],
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
    let name = format!("{}.{}.age", source.id, crate::ids::Id::random());
    let path = bundle.outbox().join(&name);
    std::fs::create_dir_all(bundle.outbox()).map_err(CliError::new)?;
    super::write_private(&path, &ct)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(id: &str) -> SourceInfo {
        SourceInfo {
            id: id.parse().unwrap(),
            desk: "default".into(),
            day: "2026-11-28".into(),
            reply_recipient: Some("age1x".into()),
        }
    }

    #[test]
    fn sources_are_found_by_designation_folder_or_id_prefix() {
        let a = source("000102030405060708090a0b0c0d0e0f");
        let b = source("0101ffffffffffffffffffffffffffff");
        let all = vec![a.clone(), b.clone()];
        let name = crate::designation::of(a.id);
        assert_eq!(find_source(&all, &name).unwrap().id, a.id);
        assert_eq!(
            find_source(&all, &name.to_uppercase().replace(' ', "-"))
                .unwrap()
                .id,
            a.id
        );
        assert_eq!(
            find_source(&all, &crate::designation::folder(b.id))
                .unwrap()
                .id,
            b.id
        );
        assert_eq!(find_source(&all, "0101ffff").unwrap().id, b.id);
        assert!(find_source(&all, "0001").is_err(), "too short");
        assert!(find_source(&all, "nobody here").is_err());
        let twin = source("00010000000000000000000000000000");
        assert_eq!(crate::designation::of(twin.id), name);
        assert!(
            find_source(&[a, twin], &name).is_err(),
            "an ambiguous designation is refused"
        );
    }
}
