//! Trust on first use for the keys replies are encrypted to.
//!
//! The server lists the desk's editors and each source's reply recipient, and a reply is
//! encrypted to them. A seized server could add its own key to every future reply, so the
//! bundle keeps what it was first told and later listings change nothing by themselves:
//!
//! - The editors a bundle's first fetch sees are pinned. When a later listing names others,
//!   `fetch` says which were added and removed and holds the new list as pending; `sanduq
//!   accept` shows it with a code, and `sanduq accept --change CODE` accepts exactly that list.
//!   Until then `reply` encrypts to the accepted editors only.
//! - A source's reply key is pinned when the bundle first sees it. A codename yields one
//!   classical and one post-quantum key, so the only change `fetch` takes is to the other kind
//!   when the accepted editors are of that kind (the desk moved, the source logged in since);
//!   it reports it. Any other change is refused and reported, and the known key stays.
//!
//! A bundle made before pinning existed holds the editors and keys its last fetch saw: those
//! are its pins. A bundle with no editors yet pins what its next fetch lists.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::bundle::{Bundle, Manifest};
use super::{CliError, Result};
use crate::crypto::is_post_quantum;
use crate::ids::Id;
use crate::store::SourceInfo;

/// At most this many lines about sources' keys per fetch; the rest are counted.
const MAX_SOURCE_NOTES: usize = 10;

/// Whether the accepted editors make a post-quantum desk.
pub(super) fn desk_is_post_quantum(editors: &[String]) -> bool {
    !editors.is_empty() && editors.iter().all(|r| is_post_quantum(r))
}

fn set(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

/// Takes the editors the server `listed`: pins them on first use, forgets a pending change
/// the server no longer lists, and holds any other difference as pending. Returns the lines
/// `fetch` prints about it.
pub(super) fn merge_editors(m: &mut Manifest, listed: &[String], bundle: &Path) -> Vec<String> {
    let listed: Vec<String> = set(listed).into_iter().map(str::to_owned).collect();
    if m.editors.is_empty() {
        m.editors = listed;
        m.pending_editors = None;
        return Vec::new();
    }
    if set(&listed) == set(&m.editors) {
        m.pending_editors = None;
        return Vec::new();
    }
    // Accepting "no editors" would empty the pinned list, and the next fetch would pin
    // whatever the server lists then, unseen: it is never a change to accept.
    if listed.is_empty() {
        return vec![
            "the server lists no editors for this desk; this bundle keeps the editors it trusts"
                .to_owned(),
        ];
    }
    let notes = describe_change(&m.editors, &listed, bundle);
    m.pending_editors = Some(listed);
    notes
}

/// The lines that say how `pending` differs from `accepted`.
fn describe_change(accepted: &[String], pending: &[String], bundle: &Path) -> Vec<String> {
    let (old, new) = (set(accepted), set(pending));
    let mut lines = vec![
        "the server lists other editors for this desk than this bundle trusts; replies still go to the trusted ones only:".to_owned(),
    ];
    lines.extend(
        new.difference(&old)
            .map(|r| format!("  added:   {}", short(r))),
    );
    lines.extend(
        old.difference(&new)
            .map(|r| format!("  removed: {}", short(r))),
    );
    lines.push(format!(
        "  check every added key with its editor (not over this server), then run: sanduq accept --bundle {}",
        bundle.display()
    ));
    lines
}

/// A recipient as `fetch` shows it: a post-quantum one is 1,960 characters long, so its start
/// and end stand for it there (`sanduq accept` shows it whole).
fn short(r: &str) -> String {
    let n = r.chars().count();
    if n <= 100 {
        return r.to_owned();
    }
    let head: String = r.chars().take(32).collect();
    let tail: String = r.chars().skip(n - 16).collect();
    format!("{head}…{tail} ({n} characters)")
}

/// Brings the bundle's sources up to date with the server's listing. A source the server no
/// longer lists stays (the server lists only sources that still have items, and a source can
/// be answered after its items were deleted there). A reply key changes only as the module
/// header says; `desk_pq` is the kind of the accepted editors. Returns the lines `fetch`
/// prints about keys.
pub(super) fn merge_sources(
    known: &mut Vec<SourceInfo>,
    listed: Vec<SourceInfo>,
    desk_pq: bool,
) -> Vec<String> {
    let mut at: HashMap<Id, usize> = known.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let mut notes = Vec::new();
    for s in listed {
        let Some(&i) = at.get(&s.id) else {
            at.insert(s.id, known.len());
            known.push(s);
            continue;
        };
        let k = &mut known[i];
        k.desk = s.desk;
        k.day = s.day;
        if let Some(note) = take_reply_key(k, s.reply_recipient, desk_pq) {
            notes.push(format!(
                "source {}: {note}",
                crate::designation::folder(k.id)
            ));
        }
    }
    // The server's order: by day, then id (lowercase hex, so byte order is text order).
    known.sort_by(|a, b| (&a.day, a.id).cmp(&(&b.day, b.id)));
    if notes.len() > MAX_SOURCE_NOTES {
        let more = notes.len() - MAX_SOURCE_NOTES;
        notes.truncate(MAX_SOURCE_NOTES);
        notes.push(format!(
            "and {more} more sources whose reply key the server lists differently"
        ));
    }
    notes
}

/// Applies the rule for one source's reply key; returns what to report, if anything.
fn take_reply_key(k: &mut SourceInfo, listed: Option<String>, desk_pq: bool) -> Option<String> {
    let kind = |pq: bool| if pq { "post-quantum" } else { "classical" };
    let new = listed?;
    if !derivable_from_a_codename(&new) {
        return Some(
            "the server lists a reply key that no codename derives (only age1 X25519 and age1pq1 keys are): refused, replies keep the trusted key".into(),
        );
    }
    let Some(old) = &k.reply_recipient else {
        k.reply_recipient = Some(new);
        return Some("it has a reply key now (trusted from this fetch on)".into());
    };
    if *old == new {
        return None;
    }
    let (old_pq, new_pq) = (is_post_quantum(old), is_post_quantum(&new));
    if old_pq == new_pq {
        return Some(
            "the server lists another reply key than the one this bundle trusts: refused, replies keep the trusted key (a codename's key changes only when its desk moves between classical and post-quantum keys)".into(),
        );
    }
    if new_pq != desk_pq {
        return Some(format!(
            "the server lists a {} reply key but the editors this bundle trusts are {}: replies keep the trusted key (if the desk moved, accept its new editors first: sanduq accept)",
            kind(new_pq),
            kind(desk_pq)
        ));
    }
    k.reply_recipient = Some(new);
    Some(format!(
        "its reply key is now {}, as its desk's editors are (it logged in after the desk moved)",
        kind(new_pq)
    ))
}

/// Whether `r` is of a kind a codename derives: an age X25519 recipient or a post-quantum
/// one. An ssh or plugin key in a source's place can only come from the server.
fn derivable_from_a_codename(r: &str) -> bool {
    r.parse::<age::x25519::Recipient>().is_ok() || r.parse::<crate::pq::Recipient>().is_ok()
}

/// The code that names one change: from the accepted list to the pending one.
fn change_code(accepted: &[String], pending: &[String]) -> String {
    let mut h = Sha256::new();
    for r in set(accepted) {
        h.update(r.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\0");
    for r in set(pending) {
        h.update(r.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..8])
}

/// `sanduq accept`: without `change`, shows the pending change to the desk's editors and its
/// code; with the code, accepts exactly that change.
pub(super) fn accept(bundle_dir: &Path, change: Option<&str>) -> Result<()> {
    let bundle = Bundle::open(bundle_dir, false)?;
    let mut m = bundle.manifest()?;
    let Some(pending) = m.pending_editors.clone().filter(|p| !p.is_empty()) else {
        println!("Nothing to accept. This bundle trusts these editors, as the server listed last:");
        for r in &m.editors {
            println!("trusted: {r}");
        }
        return Ok(());
    };
    let code = change_code(&m.editors, &pending);
    let Some(given) = change else {
        let (old, new) = (set(&m.editors), set(&pending));
        println!("The server lists other editors for this desk than this bundle trusts.");
        for r in new.difference(&old) {
            println!("added:   {r}");
        }
        for r in old.difference(&new) {
            println!("removed: {r}");
        }
        println!("Check every added key with its editor, in person or over a channel other than this server.");
        println!(
            "Then accept exactly this change: sanduq accept --bundle {} --change {code}",
            bundle_dir.display()
        );
        return Ok(());
    };
    if given.trim() != code {
        return Err(CliError::new(
            "--change does not name the pending change (the server changed it since, or it was mistyped): run sanduq accept without --change to see it again",
        ));
    }
    m.editors = pending;
    m.pending_editors = None;
    bundle.save(&m)?;
    println!(
        "accepted: replies are now encrypted to {} editor{}",
        m.editors.len(),
        if m.editors.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classical reply key, as a codename derives one.
    fn x25519() -> String {
        age::x25519::Identity::generate().to_public().to_string()
    }

    /// A post-quantum reply key, as a codename derives one.
    fn pq() -> String {
        crate::pq::Identity::generate()
            .unwrap()
            .to_public()
            .to_string()
    }

    fn source(day: &str, recipient: &str) -> SourceInfo {
        SourceInfo {
            id: Id::random(),
            desk: "default".to_owned(),
            day: day.to_owned(),
            reply_recipient: Some(recipient.to_owned()),
        }
    }

    #[test]
    fn sources_no_longer_listed_stay_and_new_ones_are_added() {
        let gone = source("2026-11-01", &x25519());
        let kept = source("2026-11-02", &x25519());
        let mut known = vec![kept.clone(), gone.clone()];
        let new = source("2026-11-03", &x25519());
        let notes = merge_sources(&mut known, vec![new.clone(), kept.clone()], false);
        assert_eq!(known, vec![gone, kept, new]);
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn a_reply_key_changes_only_to_the_other_kind_of_the_accepted_desk() {
        let first = source("2026-11-02", &x25519());
        let (mallory, after) = (x25519(), pq());
        let listed = |r: &str| SourceInfo {
            reply_recipient: Some(r.to_owned()),
            ..first.clone()
        };
        // Another classical key: refused.
        let mut known = vec![first.clone()];
        let notes = merge_sources(&mut known, vec![listed(&mallory)], false);
        assert_eq!(known, vec![first.clone()]);
        assert!(notes[0].contains("refused"), "{notes:?}");
        // A post-quantum key while the accepted desk is classical: held.
        let notes = merge_sources(&mut known, vec![listed(&after)], false);
        assert_eq!(known, vec![first.clone()]);
        assert!(notes[0].contains("accept its new editors"), "{notes:?}");
        // The same once the desk is post-quantum: taken, and said.
        let notes = merge_sources(&mut known, vec![listed(&after)], true);
        assert_eq!(known, vec![listed(&after)]);
        assert!(notes[0].contains("now post-quantum"), "{notes:?}");
        // A listing without the key keeps it.
        let notes = merge_sources(
            &mut known,
            vec![SourceInfo {
                reply_recipient: None,
                ..first.clone()
            }],
            true,
        );
        assert_eq!(known, vec![listed(&after)]);
        assert!(notes.is_empty());
    }

    #[test]
    fn editors_are_pinned_then_changes_wait_for_acceptance() {
        let dir = Path::new("b");
        let mut m = Manifest::default();
        let ana = "age1ana".to_owned();
        let eve = "age1eve".to_owned();
        assert!(merge_editors(&mut m, std::slice::from_ref(&ana), dir).is_empty());
        assert_eq!(m.editors, std::slice::from_ref(&ana));
        let notes = merge_editors(&mut m, std::slice::from_ref(&eve), dir);
        assert_eq!(
            m.editors,
            std::slice::from_ref(&ana),
            "not used before it is accepted"
        );
        assert_eq!(m.pending_editors, Some(vec![eve.clone()]));
        assert!(notes.iter().any(|l| l.contains("added:   age1eve")));
        assert!(notes.iter().any(|l| l.contains("removed: age1ana")));
        // The server lists the trusted editors again: nothing is pending any more.
        assert!(merge_editors(&mut m, &[ana.clone(), ana.clone()], dir).is_empty());
        assert_eq!(m.pending_editors, None);
        assert_ne!(
            change_code(std::slice::from_ref(&ana), std::slice::from_ref(&eve)),
            change_code(std::slice::from_ref(&ana), &[eve, ana.clone()])
        );
    }

    #[test]
    fn a_listing_without_editors_is_never_a_change_to_accept() {
        let dir = Path::new("b");
        let mut m = Manifest::default();
        let ana = "age1ana".to_owned();
        assert!(merge_editors(&mut m, std::slice::from_ref(&ana), dir).is_empty());
        let notes = merge_editors(&mut m, &[], dir);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(m.pending_editors, None, "nothing to accept");
        assert_eq!(m.editors, vec![ana.clone()], "still pinned");
        // The next listing is compared with the pinned editors, not pinned unseen.
        let eve = "age1eve".to_owned();
        assert!(!merge_editors(&mut m, std::slice::from_ref(&eve), dir).is_empty());
        assert_eq!(m.editors, vec![ana]);
    }

    #[test]
    fn a_reply_key_no_codename_derives_is_never_taken() {
        let classical = age::x25519::Identity::generate().to_public().to_string();
        let mut k = source(
            "2026-11-01",
            &crate::pq::Identity::generate()
                .unwrap()
                .to_public()
                .to_string(),
        );
        let ssh =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN";
        let note = take_reply_key(&mut k, Some(ssh.to_owned()), false).unwrap();
        assert!(note.contains("no codename derives"), "{note}");
        assert_ne!(k.reply_recipient.as_deref(), Some(ssh));
        // The same move to a key a codename derives is taken.
        assert!(take_reply_key(&mut k, Some(classical.clone()), false).is_some());
        assert_eq!(k.reply_recipient, Some(classical));
    }
}
