//! `sanduq admin editor rotate-key`, and the warning about a desk with one editor.
//!
//! A rotation replaces an editor's recipient in the metadata store. Every submission reads
//! the desk's recipients from that store when it starts, so every node encrypts new items to
//! the new key at once (a submission already under way finishes with the keys it started
//! with); nothing stored is re-encrypted, because the server holds no key that could. The
//! editor keeps the old key to read what came before. Bundles pin the desk's editors
//! (`trust`), so each editor accepts the new list once before replies go to the new key.

use std::path::Path;

use super::{CliError, Result};
use crate::config::Config;
use crate::store::MetaStore;

/// `sanduq admin editor rotate-key`.
pub(super) async fn rotate_key(config: &Path, name: &str, recipient: &str) -> Result<()> {
    let cfg = Config::load(config).map_err(CliError::new)?;
    let recipient = recipient.trim();
    crate::crypto::check_recipient(recipient)
        .map_err(|e| CliError::new(format!("--recipient: {e}")))?;
    let meta = crate::store::open::meta(&cfg)
        .await
        .map_err(|e| CliError::new(format!("cannot open the metadata store: {e}")))?;
    let editors = meta.editors().await.map_err(CliError::new)?;
    let editor = editors
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| CliError::new(format!("no editor named {name:?}")))?;
    if editor.recipient == recipient {
        return Err(CliError::new(format!(
            "that is already {name:?}'s key; give the new recipient"
        )));
    }
    let pq = crate::crypto::is_post_quantum(recipient);
    let mixed = editors
        .iter()
        .filter(|e| e.desk == editor.desk && e.name != name)
        .any(|e| crate::crypto::is_post_quantum(&e.recipient) != pq);
    if mixed {
        return Err(CliError::new(format!(
            "the other editors of desk {:?} have {} keys; age cannot encrypt one file to both kinds. Move the whole desk at once (docs/operator.md)",
            editor.desk,
            if pq { "classical" } else { "post-quantum" }
        )));
    }
    if !meta
        .set_recipient(name, recipient)
        .await
        .map_err(CliError::new)?
    {
        return Err(CliError::new(format!(
            "no editor named {name:?} (removed meanwhile)"
        )));
    }
    eprintln!(
        "Editor {name:?} of desk {:?} has a new key. From now on new items are encrypted to it, \
         on every node; items already stored stay encrypted to the old key, so keep it to read \
         them (sanduq decrypt --identity OLD --identity NEW).\n\
         The API token is unchanged (if the old key may be compromised: sanduq admin token \
         rotate). Every editor of the desk sees the change at their next fetch and accepts it \
         with sanduq accept --bundle DIR after checking the new key with {name:?} in person; \
         until then their replies go to the old key.",
        editor.desk
    );
    warn_if_alone(meta.as_ref(), &editor.desk).await;
    Ok(())
}

/// Says on stderr when `desk` has exactly one editor: losing that one key loses everything
/// the desk was ever sent.
pub(super) async fn warn_if_alone(meta: &dyn MetaStore, desk: &str) {
    if let Ok(recipients) = meta.desk_recipients(desk).await {
        if recipients.len() == 1 {
            eprintln!(
                "sanduq: warning: desk {desk:?} has one editor. If that key is lost, every item \
                 sent to the desk is unreadable for ever; add a second editor \
                 (docs/operator.md, keys over time)."
            );
        }
    }
}
