//! `sanduq sync`: the online machine's one command. Pushes what the outbox holds, fetches, and
//! prints one line of news about people, not items: new sources, follow-ups (named), replies
//! sent, replies the desk's editors wrote, replies sources deleted.
//!
//! Everything it says is what the online machine knows without any key: the listing's
//! plaintext (ids, sources, days, sizes), what the push did, and which replies the server no
//! longer has. What kind of item came (a message, a file, which form) is inside the encrypted
//! metadata: the online machine cannot say "1 detention form", and the server is not told.

use std::path::Path;

use super::fetch::{self, Fetched, PushOutcome};
use super::{Result, ServerArgs};
use crate::ids::Id;

/// Names shown in one list of the news at most; the rest are counted.
const MAX_NAMES: usize = 5;

/// `sanduq sync`.
pub(super) async fn sync(args: &ServerArgs, bundle_dir: &Path) -> Result<()> {
    let mut news = Vec::new();
    let mut failed = None;
    // A bundle not yet fetched into has no outbox to push.
    if bundle_dir.join("manifest.json").is_file() {
        match fetch::push_reported(args, bundle_dir).await {
            Ok(pushed) => news.extend(pushed_news(&pushed)),
            Err(e) => {
                eprintln!("sanduq: {e}");
                failed = Some(e);
            }
        }
    }
    let fetched = fetch::fetch(args, bundle_dir).await?;
    news.extend(fetched_news(&fetched));
    if news.is_empty() {
        println!("nothing new");
    } else {
        println!("{}", news.join(", "));
    }
    failed.map_or(Ok(()), Err)
}

/// What `push` did, as news. The one place that reads push's result.
fn pushed_news(p: &PushOutcome) -> Vec<String> {
    let mut out = Vec::new();
    if p.replies_sent > 0 {
        out.push(count(p.replies_sent, "reply sent", "replies sent"));
    }
    let removed = p.deletions.deleted + p.deletions.already_gone;
    if removed > 0 {
        out.push(count(
            removed,
            "item removed from the server",
            "items removed from the server",
        ));
    }
    out
}

/// What `fetch` brought, as news.
fn fetched_news(f: &Fetched) -> Vec<String> {
    let mut out = Vec::new();
    if !f.new_sources.is_empty() {
        out.push(format!(
            "{} ({})",
            count(f.new_sources.len(), "new source", "new sources"),
            names(&f.new_sources)
        ));
    }
    if !f.follow_ups.is_empty() {
        out.push(format!(
            "{} ({})",
            count(f.follow_ups.len(), "follow-up", "follow-ups"),
            names(&f.follow_ups)
        ));
    }
    if f.replies.fetched > 0 {
        out.push(count(
            f.replies.fetched,
            "reply by the desk downloaded",
            "replies by the desk downloaded",
        ));
    }
    let deleted = &f.replies.deleted;
    if !deleted.is_empty() {
        out.push(format!(
            "{} ({})",
            count(
                deleted.len(),
                "reply deleted by its source",
                "replies deleted by their sources"
            ),
            names(deleted)
        ));
    }
    out
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The designations of `sources`, each once, at most [`MAX_NAMES`] and a count of the rest.
pub(super) fn names(sources: &[Id]) -> String {
    let mut unique: Vec<Id> = Vec::with_capacity(sources.len().min(MAX_NAMES + 1));
    for s in sources {
        if !unique.contains(s) {
            unique.push(*s);
            if unique.len() > MAX_NAMES {
                break;
            }
        }
    }
    let all: std::collections::HashSet<&Id> = sources.iter().collect();
    let mut shown: Vec<String> = unique
        .iter()
        .take(MAX_NAMES)
        .map(|s| crate::designation::label(*s))
        .collect();
    if all.len() > MAX_NAMES {
        shown.push(format!("and {} more", all.len() - MAX_NAMES));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::conversations::RepliesNews;

    #[test]
    fn news_is_about_people_and_bounded() {
        let ids: Vec<Id> = (0..8).map(|_| Id::random()).collect();
        let f = Fetched {
            new_sources: ids[..3].to_vec(),
            follow_ups: vec![ids[3]],
            replies: RepliesNews {
                fetched: 2,
                deleted: vec![ids[4], ids[4]],
            },
        };
        let mut news = pushed_news(&PushOutcome {
            replies_sent: 1,
            ..PushOutcome::default()
        });
        news.extend(fetched_news(&f));
        let line = news.join(", ");
        assert!(line.starts_with("1 reply sent, 3 new sources ("), "{line}");
        assert!(line.contains(&format!(
            "1 follow-up ({})",
            crate::designation::label(ids[3])
        )));
        assert!(line.contains("2 replies by the desk downloaded"));
        assert!(line.contains(&format!(
            "2 replies deleted by their sources ({})",
            crate::designation::label(ids[4])
        )));
        let many = names(&ids);
        assert!(many.ends_with("and 3 more"), "{many}");
        assert!(fetched_news(&Fetched::default()).is_empty());
    }
}
