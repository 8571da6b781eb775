//! A source's whole conversation with the desk, in order, read from a bundle.
//!
//! Both sides of it: what the source sent (messages, form answers, files) and the replies the
//! desk wrote (the outbox's queued and sent replies are encrypted to the desk's editors too,
//! so they read back). Everything is decrypted into memory only; the inbox shows it and
//! `decrypt` writes it as `conversation.txt`. The text kept here is what was sent, unchanged:
//! every display path passes it through [`visible`](super::visible) first, and
//! [`to_text`] does so for the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::bundle::{Bundle, Manifest};
use super::decrypt::{read_meta, ItemMeta};
use super::export::read_answers;
use super::filename::sanitize;
use super::visible::{visible, visible_line};
use crate::crypto::{stream_error, Identities};
use crate::ids::Id;
use crate::store::{BlobKey, ItemRow};

/// Characters of a file's name shown (a browser may send thousands).
const MAX_NAME_SHOWN: usize = 200;
/// Largest message or reply decrypted into memory to be shown; a longer one is saved instead.
const MAX_SHOWN: u64 = 4 << 20;

/// What one event of a conversation is.
pub(super) enum Body {
    /// A message the source wrote.
    Message(Zeroizing<String>),
    /// A form's answers: the form's id and (question, answer) pairs in the form's order.
    Form {
        form: String,
        answers: Vec<(String, Zeroizing<String>)>,
    },
    /// A file: the name its source's browser gave it (hostile: shown only through `visible`)
    /// and its size in bytes.
    File { original: String, size: u64 },
    /// A reply of the desk: `sent` once `push` uploaded it, else waiting in the outbox.
    Reply { text: Zeroizing<String>, sent: bool },
    /// Something that could not be read with the identities given, and why.
    Unreadable(String),
}

/// One event of a conversation.
pub(super) struct Event {
    /// When it was received (items) or written (replies); `None` if unknown.
    pub(super) at: Option<OffsetDateTime>,
    /// The item, for what the source sent.
    pub(super) item: Option<ItemRow>,
    pub(super) body: Body,
}

/// A source's conversation, oldest event first.
pub(super) struct Conversation {
    pub(super) source: Id,
    pub(super) events: Vec<Event>,
}

impl Conversation {
    /// Reads everything of `source` in the bundle: its items and the desk's replies to it.
    pub(super) fn load(
        ids: &Identities,
        bundle: &Bundle,
        manifest: &Manifest,
        source: Id,
    ) -> Conversation {
        let items_dir = bundle.items_dir();
        let rows: Vec<&ItemRow> = manifest
            .items
            .iter()
            .filter(|i| i.source == source)
            .collect();
        let metas: Vec<Result<ItemMeta, String>> = rows
            .iter()
            .map(|i| read_meta(ids, &items_dir, i).map_err(|e| e.to_string()))
            .collect();
        // A form's file question is answered with item ids: shown as the files' names.
        let names: HashMap<Id, String> = rows
            .iter()
            .zip(&metas)
            .filter_map(|(row, m)| {
                let m = m.as_ref().ok().filter(|m| m.kind == "file")?;
                Some((row.id, file_name(m)))
            })
            .collect();
        let mut events: Vec<Event> = rows
            .iter()
            .zip(metas)
            .map(|(row, meta)| item_event(ids, &items_dir, row, meta, &names))
            .collect();
        let mine = replies(ids, &bundle.outbox(), source);
        let desk = desk_replies(ids, bundle, manifest, source, &mine);
        events.extend(mine);
        events.extend(desk);
        // Stable: items the same instant keep the manifest's order.
        events.sort_by_key(|e| e.at);
        Conversation { source, events }
    }

    /// The items of this conversation that decrypted whole (their metadata, and the content
    /// of messages and forms; files are checked when queued for deletion or saved).
    pub(super) fn readable_items(&self) -> impl Iterator<Item = &ItemRow> {
        self.events.iter().filter_map(|e| match e.body {
            Body::Unreadable(_) | Body::Reply { .. } => None,
            _ => e.item.as_ref(),
        })
    }
}

/// The name a file is saved under, as `decrypt` gives it.
fn file_name(meta: &ItemMeta) -> String {
    sanitize(meta.filename.as_deref().unwrap_or_default(), "file")
}

fn item_event(
    ids: &Identities,
    items_dir: &Path,
    row: &ItemRow,
    meta: Result<ItemMeta, String>,
    names: &HashMap<Id, String>,
) -> Event {
    let event = |at, body| Event {
        at,
        item: Some(row.clone()),
        body,
    };
    let meta = match meta {
        Ok(m) => m,
        Err(e) => return event(None, Body::Unreadable(e)),
    };
    let at = parse_time(&meta.received_at);
    let body = match meta.kind.as_str() {
        "message" => match read_text(ids, &items_dir.join(BlobKey::content(row.id).file_name())) {
            Ok(text) => Body::Message(text),
            Err(e) => Body::Unreadable(e),
        },
        "form" => match read_answers(ids, items_dir, row.id, meta.size) {
            // In words (option labels, files by name), consent first, as decrypt writes them.
            Ok(doc) => Body::Form {
                answers: crate::forms::words::in_words(
                    &doc,
                    crate::forms::Form::builtin(&doc.form).as_ref(),
                    crate::i18n::Locale::english(),
                    &|id: &str| id.parse().ok().and_then(|id| names.get(&id).cloned()),
                )
                .iter()
                .map(|w| (w.question.clone(), Zeroizing::new(w.answer.clone())))
                .collect(),
                form: doc.form,
            },
            Err(e) => Body::Unreadable(e.to_string()),
        },
        _ => Body::File {
            original: meta.filename.clone().unwrap_or_default(),
            size: meta.size,
        },
    };
    event(at, body)
}

/// The desk's replies to `source`: waiting in the outbox, and sent (`outbox/sent/`).
fn replies(ids: &Identities, outbox: &Path, source: Id) -> Vec<Event> {
    let prefix = format!("{source}.");
    let mut found = Vec::new();
    for (dir, sent) in [(outbox.to_owned(), false), (outbox.join("sent"), true)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(&prefix) && name.ends_with(".age")) {
                continue;
            }
            let at = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(OffsetDateTime::from);
            let body = match read_text(ids, &e.path()) {
                Ok(text) => Body::Reply { text, sent },
                Err(e) => Body::Unreadable(format!("a reply of the desk: {e}")),
            };
            found.push(Event {
                at,
                item: None,
                body,
            });
        }
    }
    found
}

/// The desk's replies to `source` that `fetch` brought (`replies/<id>.age`, by any editor),
/// except those already shown from this bundle's outbox (the same text). They are placed at
/// the end of the UTC day they were pushed (the listing gives no finer time): after what
/// they answer, as a rule.
fn desk_replies(
    ids: &Identities,
    bundle: &Bundle,
    manifest: &Manifest,
    source: Id,
    shown: &[Event],
) -> Vec<Event> {
    let seen: Vec<&str> = shown
        .iter()
        .filter_map(|e| match &e.body {
            Body::Reply { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let dir = bundle.replies_dir();
    manifest
        .replies
        .iter()
        .filter(|r| r.source == source)
        .filter_map(|r| {
            let body = match read_text(ids, &dir.join(format!("{}.age", r.id))) {
                Ok(text) if seen.contains(&text.as_str()) => return None,
                Ok(text) => Body::Reply { text, sent: true },
                Err(e) => Body::Unreadable(format!("a reply of the desk: {e}")),
            };
            Some(Event {
                at: parse_time(&format!("{}T23:59:59Z", r.day)),
                item: None,
                body,
            })
        })
        .collect()
}

/// Decrypts a small text (a message or a reply) into memory.
fn read_text(ids: &Identities, path: &Path) -> Result<Zeroizing<String>, String> {
    let f = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut bytes = Zeroizing::new(Vec::new());
    ids.decrypt(BufReader::new(f))
        .map_err(|e| e.to_string())?
        .take(MAX_SHOWN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| stream_error(&e))?;
    if bytes.len() as u64 > MAX_SHOWN {
        return Err(format!(
            "longer than {} MiB, too long to show here: decrypt it",
            MAX_SHOWN >> 20
        ));
    }
    Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// A time as people read it: `2026-12-07 09:12 UTC` (`unknown time` if none).
pub(super) fn when(at: Option<OffsetDateTime>) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.and_then(|t| t.to_offset(time::UtcOffset::UTC).format(FORMAT).ok())
        .unwrap_or_else(|| "unknown time".into())
}

/// One line saying what an event is, made safe to show.
pub(super) fn heading(e: &Event) -> String {
    let item = e
        .item
        .as_ref()
        .map(|i| format!(" · item {}", &i.id.to_string()[..8]))
        .unwrap_or_default();
    let what = match &e.body {
        Body::Message(_) => "message from the source".to_owned(),
        Body::Form { form, .. } => format!("form {}", visible_line(form)),
        // As sent, tricks shown; `decrypt` and "save" give it a safe name.
        Body::File { original, size } => {
            let mut name: String = original.chars().take(MAX_NAME_SHOWN).collect();
            if name.len() < original.len() {
                name.push('…');
            } else if name.is_empty() {
                name = "(no name)".into();
            }
            format!("file {} ({})", visible_line(&name), size_text(*size))
        }
        Body::Reply { sent: true, .. } => "reply of the desk, sent".to_owned(),
        Body::Reply { sent: false, .. } => "reply of the desk, waiting in the outbox".to_owned(),
        Body::Unreadable(why) => format!("cannot be read: {}", visible_line(why)),
    };
    format!("{} · {what}{item}", when(e.at))
}

/// The text of an event, made safe to show; empty for a file.
pub(super) fn body_text(e: &Event) -> String {
    match &e.body {
        Body::Message(t) | Body::Reply { text: t, .. } => visible(t),
        Body::Form { answers, .. } => answers
            .iter()
            .map(|(q, a)| format!("{}: {}", visible_line(q), visible(a)))
            .collect::<Vec<_>>()
            .join("\n"),
        Body::File { .. } | Body::Unreadable(_) => String::new(),
    }
}

/// A size in bytes as people read it.
pub(super) fn size_text(n: u64) -> String {
    super::progress::human(n)
}

/// The whole conversation as plain text, for `conversation.txt`: `saved` names, per item, the
/// file `decrypt` wrote it to.
pub(super) fn to_text(c: &Conversation, saved: &HashMap<Id, String>) -> String {
    let mut out = format!(
        "Conversation with {} (source {})\n",
        crate::designation::of(c.source),
        c.source
    );
    for e in &c.events {
        out.push_str(&format!("\n== {} ==\n", heading(e)));
        if let Some(file) = e.item.as_ref().and_then(|i| saved.get(&i.id)) {
            out.push_str(&format!("saved as: {}\n", visible_line(file)));
        }
        let body = body_text(e);
        if !body.is_empty() {
            out.push_str(&body);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: Id) -> ItemRow {
        ItemRow {
            id: Id::random(),
            source,
            desk: "default".into(),
            day: "2026-12-07".into(),
            size: 1,
            meta_size: 1,
        }
    }

    #[test]
    fn the_text_file_is_in_order_and_obeys_nothing() {
        let source = Id::random();
        let (msg, file) = (row(source), row(source));
        let at = |s: &str| parse_time(s);
        let c = Conversation {
            source,
            events: vec![
                Event {
                    at: at("2026-12-07T09:12:30.5Z"),
                    item: Some(msg.clone()),
                    body: Body::Message(Zeroizing::new("hi\u{1b}]0;X\u{7}\nline 2".into())),
                },
                Event {
                    at: at("2026-12-07T09:13:00Z"),
                    item: Some(file.clone()),
                    body: Body::File {
                        original: "a\u{202E}gpj.exe".into(),
                        size: 2048,
                    },
                },
                Event {
                    at: at("2026-12-07T10:00:00Z"),
                    item: None,
                    body: Body::Reply {
                        text: Zeroizing::new("thanks".into()),
                        sent: true,
                    },
                },
            ],
        };
        let saved = HashMap::from([(file.id, "a\u{1b}gpj.exe".to_owned())]);
        let text = to_text(&c, &saved);
        assert!(
            !text.chars().any(|ch| ch.is_control() && ch != '\n'),
            "{text:?}"
        );
        let first = text
            .find("2026-12-07 09:12 UTC · message from the source")
            .unwrap();
        let second = text.find("file a<U+202E>gpj.exe (2.0 KiB)").unwrap();
        let third = text.find("10:00 UTC · reply of the desk, sent").unwrap();
        assert!(first < second && second < third, "{text}");
        assert!(text.contains("hi<ESC>]0;X<BEL>\nline 2\n"), "{text}");
        assert!(text.contains("saved as: a<ESC>gpj.exe"), "{text}");
        assert!(text.contains(&format!("item {}", &msg.id.to_string()[..8])));
        assert_eq!(when(None), "unknown time");
    }
}
