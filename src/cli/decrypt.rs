//! `sanduq decrypt`: the offline half. Every item of a bundle, decrypted into `--out`.
//!
//! Items are grouped in one folder per source, named with the source's designation and its
//! whole id (`amber-heron-<32 digits>`), so that two sources never share one; each line of a
//! folder's `index.jsonl` names the item's source in full too. A file gets the name its source
//! gave it, sanitised; a message becomes `message.txt`. Nothing is written outside `--out`,
//! nothing is overwritten (a clash gets ` (2)`), and nothing partial is left: plaintext goes to
//! a hidden partial file that is linked to its final name only after age has authenticated the
//! whole stream, and is removed on any error. Items already decrypted into `--out` are skipped.
//! A form's answers (`form-<id>.json`) carry them in words too, in the editor's language.
//!
//! An item encrypted to none of the given identities (it arrived before the editor's key
//! joined the desk) is not an error: such items are counted on one line. Only when no item at
//! all can be read does that fail, as it is then more likely the wrong `--identity`.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroize;

use super::bundle::Bundle;
use super::conversation::{to_text, Conversation};
use super::filename::{numbered, sanitize};
use super::progress::{duration, Progress};
use super::{CliError, Result};
use crate::crypto::{stream_error, Identities};
use crate::i18n::Locale;
use crate::ids::Id;
use crate::store::{BlobKey, ItemRow};

/// Largest metadata object sanduq will decrypt into memory.
const MAX_META: u64 = 1 << 20;
/// Largest form answer document that decrypt also writes in words (as `export` reads).
const MAX_WORDS: u64 = 64 << 20;
/// The record of items already decrypted into an output folder.
const DONE_FILE: &str = ".sanduq-decrypted";
/// The per-source index of decrypted items.
const INDEX_FILE: &str = "index.jsonl";
/// The per-source conversation, in order, as plain text.
const CONVERSATION_FILE: &str = "conversation.txt";
/// sanduq's conversation file where a source's own file already holds [`CONVERSATION_FILE`].
const CONVERSATION_FILE_ASIDE: &str = "sanduq-conversation.txt";

/// Creates `dir` (and parents) readable by the owner only.
fn private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Opens `path` for appending, creating it readable by the owner only.
fn private_append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

/// Which form a form item answers.
#[derive(Debug, Deserialize, serde::Serialize)]
pub(super) struct FormRef {
    pub(super) id: String,
    pub(super) version: u32,
}

/// The encrypted metadata of an item, as written by intake.
#[derive(Debug, Deserialize)]
pub(super) struct ItemMeta {
    id: Id,
    pub(super) kind: String,
    /// The form answered (kind `form`).
    #[serde(default)]
    pub(super) form: Option<FormRef>,
    /// The form question a file was attached to.
    #[serde(default)]
    pub(super) form_field: Option<String>,
    /// The item holding that form's answers.
    #[serde(default)]
    pub(super) form_item: Option<Id>,
    pub(super) filename: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) size: u64,
    pub(super) received_at: String,
    source: Id,
    pub(super) submission: Id,
    items: Vec<Id>,
}

/// Why an item gave no output.
#[derive(Debug)]
pub(super) enum ItemError {
    /// Intact, but encrypted to none of the given identities: counted, not a failure.
    NotForThese,
    /// Damaged, truncated, tampered with, or not writable; with the cause where there is one.
    Failed(CliError),
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemError::NotForThese => f.write_str("none of the given identities can decrypt it"),
            ItemError::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl From<CliError> for ItemError {
    fn from(e: CliError) -> Self {
        ItemError::Failed(e)
    }
}

/// Items encrypted to none of the given identities, and the days they arrived.
#[derive(Debug, Default)]
pub(super) struct NotForThese {
    n: usize,
    /// Only days that are dates: the manifest's text is the server's, and never printed raw.
    days: Vec<time::Date>,
}

impl NotForThese {
    pub(super) fn add(&mut self, item: &ItemRow) {
        self.n += 1;
        self.days.extend(crate::ids::parse_day(&item.day));
    }

    pub(super) fn count(&self) -> usize {
        self.n
    }

    /// The one line saying so, if any item was.
    pub(super) fn report(&self) -> Option<String> {
        let n = self.n;
        if n == 0 {
            return None;
        }
        let when = match (self.days.iter().min(), self.days.iter().max()) {
            (Some(first), Some(last)) if first == last => format!("on {first}"),
            (Some(first), Some(last)) => format!("from {first} to {last}"),
            _ => "on days the bundle does not give".to_owned(),
        };
        Some(format!(
            "sanduq: {n} item{} received {when} {} encrypted to none of your identities, most likely because {} arrived before your key joined the desk; an editor of that time can read {}. After a key rotation, give the old key too (--identity OLD --identity NEW)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" },
            if n == 1 { "it" } else { "they" },
            if n == 1 { "it" } else { "them" },
        ))
    }
}

/// What a form's answers in words need: the editor's language, and file names by item id.
pub(super) struct FormWords<'a> {
    pub(super) lang: Locale,
    pub(super) file_name: &'a dyn Fn(&str) -> Option<String>,
}

/// `sanduq decrypt`.
pub(super) fn decrypt(
    identity: &[String],
    bundle_dir: &Path,
    out: &Path,
    lang: Locale,
) -> Result<()> {
    let bundle = Bundle::open(bundle_dir, false)?;
    let manifest = bundle.manifest()?;
    let ids = open_identities(identity)?;
    private_dir(out).map_err(|e| CliError::new(format!("cannot create {}: {e}", out.display())))?;
    let done_path = out.join(DONE_FILE);
    let done: HashSet<String> = fs::read_to_string(&done_path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut done_log = private_append(&done_path)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", done_path.display())))?;
    rename_old_folders(out, &manifest.items);

    let todo: Vec<&ItemRow> = manifest
        .items
        .iter()
        .filter(|i| !done.contains(&i.id.to_string()))
        .collect();
    let skipped = manifest.items.len() - todo.len();
    let bytes = todo.iter().fold(0u64, |b, i| {
        b.saturating_add(i.size).saturating_add(i.meta_size)
    });
    let progress = Progress::new("decrypt", todo.len() as u64, bytes);
    let items_dir = bundle.items_dir();
    let mut not_for_these = NotForThese::default();
    let (ordered, mut failed) =
        in_sent_order(&ids, &items_dir, todo, &progress, &mut not_for_these);
    let names = |id: &str| file_name(&ids, &items_dir, &manifest.items, id);
    let words = FormWords {
        lang,
        file_name: &names,
    };
    let mut ok = 0usize;
    let mut touched = HashSet::new();
    for (item, meta) in ordered {
        match decrypt_item(&ids, &items_dir, item, &meta, out, &words) {
            Ok(name) => {
                writeln!(done_log, "{}", item.id)
                    .and_then(|()| done_log.sync_all())
                    .map_err(|e| {
                        progress.abandon();
                        CliError::new(e)
                    })?;
                println!("{}", name.display());
                touched.insert(item.source);
                ok += 1;
            }
            Err(ItemError::NotForThese) => not_for_these.add(item),
            Err(e) => {
                progress.note(&format!("sanduq: item {}: {e}", item.id));
                failed += 1;
            }
        }
        progress.add_bytes(item.size.saturating_add(item.meta_size));
        progress.item_done();
    }
    progress.finish();
    let sources: HashSet<Id> = manifest.items.iter().map(|i| i.source).collect();
    for source in sources {
        let dir = out.join(source_folder(source));
        if dir.is_dir()
            && (touched.contains(&source) || conversation_stale(&dir, &bundle.outbox(), source))
        {
            if let Err(e) = write_conversation(&ids, &bundle, &manifest, source, &dir) {
                eprintln!("sanduq: {e}");
                failed += 1;
            }
        }
    }
    if let Some(line) = not_for_these.report() {
        eprintln!("{line}");
    }
    eprintln!(
        "decrypted {ok} item{} into {} in {}; {skipped} done before and skipped, {failed} refused, {} not for your key",
        if ok == 1 { "" } else { "s" },
        out.display(),
        duration(progress.elapsed().as_secs_f64()),
        not_for_these.count(),
    );
    if ok + skipped + failed == 0 && not_for_these.count() > 0 {
        return Err(CliError::new(
            "no item is encrypted to the given identities: check --identity (a new editor's key reads only what arrived after it joined the desk)",
        ));
    }
    if failed > 0 {
        return Err(CliError::new(format!(
            "{failed} item{} could not be decrypted and left no output (reasons above)",
            if failed == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// Whether a source's `conversation.txt` is missing or older than a reply to it in the outbox.
fn conversation_stale(dir: &Path, outbox: &Path, source: Id) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(written) = modified(&dir.join(CONVERSATION_FILE_ASIDE))
        .or_else(|| modified(&dir.join(CONVERSATION_FILE)))
    else {
        return true;
    };
    let prefix = format!("{source}.");
    [outbox.to_owned(), outbox.join("sent")].iter().any(|d| {
        fs::read_dir(d).into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(&prefix)
                && modified(&e.path()).is_some_and(|t| t > written)
        })
    })
}

/// Writes (or replaces, atomically) `conversation.txt` in a source's folder: the whole
/// conversation in order, with the name each file was saved under. The file is sanduq's own,
/// made again whenever the source has something new.
fn write_conversation(
    ids: &Identities,
    bundle: &Bundle,
    manifest: &super::Manifest,
    source: Id,
    dir: &Path,
) -> std::result::Result<(), String> {
    let saved: std::collections::HashMap<Id, String> = fs::read_to_string(dir.join(INDEX_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let item = v.get("item")?.as_str()?.parse().ok()?;
            Some((item, v.get("file")?.as_str()?.to_owned()))
        })
        .collect();
    let conv = Conversation::load(ids, bundle, manifest, source);
    let text = zeroize::Zeroizing::new(to_text(&conv, &saved));
    let tmp = dir.join(format!(".sanduq-partial-{CONVERSATION_FILE}"));
    let _ = fs::remove_file(&tmp);
    let path = dir.join(conversation_name(&saved));
    super::write_private(&tmp, text.as_bytes())
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

/// The name of sanduq's conversation file in a source's folder: `conversation.txt`, unless a
/// decrypt from before that file existed saved one of the source's own files under that name
/// (today's saves such a file as `_conversation.txt`); the source's file is never replaced.
fn conversation_name(saved: &std::collections::HashMap<Id, String>) -> &'static str {
    if saved
        .values()
        .any(|f| f.eq_ignore_ascii_case(CONVERSATION_FILE))
    {
        CONVERSATION_FILE_ASIDE
    } else {
        CONVERSATION_FILE
    }
}

/// Decrypts one item into `out` as `decrypt` would (its source's folder, never overwriting,
/// never outside `out`) and records it as done there; returns the path written. For the
/// inbox's "save this file".
pub(super) fn save_item(
    ids: &Identities,
    bundle: &Bundle,
    item: &ItemRow,
    out: &Path,
) -> std::result::Result<PathBuf, String> {
    private_dir(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let items_dir = bundle.items_dir();
    let meta = read_meta(ids, &items_dir, item).map_err(|e| e.to_string())?;
    // A form saved alone names its files by id: their items are not looked up here.
    let no_names = |_: &str| None;
    let words = FormWords {
        lang: Locale::english(),
        file_name: &no_names,
    };
    let name =
        decrypt_item(ids, &items_dir, item, &meta, out, &words).map_err(|e| e.to_string())?;
    let done = out.join(DONE_FILE);
    private_append(&done)
        .and_then(|mut f| writeln!(f, "{}", item.id).and_then(|()| f.sync_all()))
        .map_err(|e| format!("cannot write {}: {e}", done.display()))?;
    Ok(out.join(name))
}

/// Reads the `--identity` files. One that does not exist is refused before age sees it, with
/// a message that does not show it: age's would echo a key pasted where its path belongs.
pub(super) fn open_identities(files: &[String]) -> Result<Identities> {
    for (n, f) in files.iter().enumerate() {
        if f != "-" && fs::metadata(f).is_err() {
            return Err(CliError::new(format!(
                "--identity number {}: no such file (it takes the path of an identity file, not the key itself)",
                n + 1
            )));
        }
    }
    Identities::from_files(files).map_err(CliError::new)
}

/// The folder name of a source inside `--out`.
fn source_folder(source: Id) -> String {
    crate::designation::folder(source)
}

/// Gives the folders an older sanduq named with six digits of the source id
/// (`amber-heron-3f2a91`) today's name, so that a source's new items join its old ones. A
/// folder is renamed only when every item its `index.jsonl` names belongs, by the manifest,
/// to that one source; one that holds items of two sources (the names clashed) is left as it
/// is, and said.
fn rename_old_folders(out: &Path, items: &[ItemRow]) {
    let source_of: std::collections::HashMap<Id, Id> =
        items.iter().map(|i| (i.id, i.source)).collect();
    let sources: HashSet<Id> = items.iter().map(|i| i.source).collect();
    let mut mixed = HashSet::new();
    for source in sources {
        let new = out.join(source_folder(source));
        let old_name = format!(
            "{}-{}",
            crate::designation::of(source).replace(' ', "-"),
            &source.to_string()[..6]
        );
        let old = out.join(&old_name);
        if new.exists() || !old.is_dir() {
            continue;
        }
        // The sources of the items it holds, by the manifest; `None` for an item it lacks.
        let owners: HashSet<Option<Id>> = fs::read_to_string(old.join(INDEX_FILE))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                let item = v.get("item").and_then(|i| i.as_str())?.parse::<Id>().ok()?;
                source_of.get(&item).copied()
            })
            .collect();
        let known = owners.iter().flatten().count();
        if known == 1 && owners.len() == 1 && owners.contains(&Some(source)) {
            if fs::rename(&old, &new).is_ok() {
                eprintln!(
                    "sanduq: renamed {old_name}/ to {}/ (folders now hold the whole source id)",
                    source_folder(source)
                );
            }
        } else if known > 1 && mixed.insert(old_name.clone()) {
            eprintln!(
                "sanduq: {old_name}/ holds items of more than one source (an older sanduq gave them one name); left as it is: its index.jsonl names each item, and new items go to folders with the whole source id"
            );
        }
    }
}

/// The name (sanitised) of the file item `id` of the bundle, from its metadata.
fn file_name(ids: &Identities, items: &Path, rows: &[ItemRow], id: &str) -> Option<String> {
    let row = rows.iter().find(|r| r.id.to_string() == id)?;
    let meta = read_meta(ids, items, row).ok()?;
    Some(sanitize(
        meta.filename.as_deref().unwrap_or_default(),
        "file",
    ))
}

/// Decrypts and checks the metadata of `item`.
pub(super) fn read_meta(
    ids: &Identities,
    items: &Path,
    item: &ItemRow,
) -> std::result::Result<ItemMeta, ItemError> {
    let meta_path = items.join(BlobKey::meta(item.id).file_name());
    let f = File::open(&meta_path).map_err(|e| CliError::context("cannot open its metadata", e))?;
    let mut json = Vec::new();
    ids.decrypt(BufReader::new(f))
        .map_err(|e| match e {
            crate::crypto::Error::NotForThese => ItemError::NotForThese,
            e => ItemError::Failed(CliError::context("metadata", e)),
        })?
        .take(MAX_META)
        .read_to_end(&mut json)
        .map_err(|e| CliError::new(format!("metadata: {}", stream_error(&e))))?;
    let meta: std::result::Result<ItemMeta, _> = serde_json::from_slice(&json);
    json.zeroize();
    let meta = meta.map_err(|_| CliError::new("its metadata is not sanduq metadata"))?;
    if meta.id != item.id || meta.source != item.source || !meta.items.contains(&item.id) {
        return Err(ItemError::Failed(CliError::new(
            "its metadata belongs to another item (the bundle was altered)",
        )));
    }
    Ok(meta)
}

/// The items of `todo` whose metadata decrypts, in the order their sources sent them: by the
/// exact time of receipt inside the encrypted metadata (the server keeps only the day in
/// plaintext), then by their place in their submission. So a source's first message is
/// `message.txt` and a later one `message (2).txt`, whatever order they were fetched in.
/// Returns them and how many were refused (said on `progress`).
fn in_sent_order<'a>(
    ids: &Identities,
    items: &Path,
    todo: Vec<&'a ItemRow>,
    progress: &Progress,
    not_for_these: &mut NotForThese,
) -> (Vec<(&'a ItemRow, ItemMeta)>, usize) {
    let mut failed = 0;
    let mut ordered = Vec::with_capacity(todo.len());
    for item in todo {
        match read_meta(ids, items, item) {
            Ok(meta) => ordered.push((item, meta)),
            Err(ItemError::NotForThese) => {
                not_for_these.add(item);
                progress.add_bytes(item.size.saturating_add(item.meta_size));
                progress.item_done();
            }
            Err(e) => {
                progress.note(&format!("sanduq: item {}: {e}", item.id));
                progress.add_bytes(item.size.saturating_add(item.meta_size));
                progress.item_done();
                failed += 1;
            }
        }
    }
    ordered.sort_by_cached_key(|(item, meta)| {
        let place = meta.items.iter().position(|i| *i == item.id);
        (sent_at(meta), meta.submission, place, item.id)
    });
    (ordered, failed)
}

/// When the source's item was received, from its encrypted metadata; `None` (first) if the
/// metadata has no readable time.
fn sent_at(meta: &ItemMeta) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(
        &meta.received_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
}

/// Decrypts one item; returns the path written, relative to `out`. The file's modification
/// time is the time the source sent it, not the time of decryption.
fn decrypt_item(
    ids: &Identities,
    items: &Path,
    item: &ItemRow,
    meta: &ItemMeta,
    out: &Path,
    words: &FormWords<'_>,
) -> std::result::Result<PathBuf, ItemError> {
    for (key, listed) in [
        (BlobKey::meta(item.id), item.meta_size),
        (BlobKey::content(item.id), item.size),
    ] {
        let path = items.join(key.file_name());
        let len = fs::metadata(&path)
            .map_err(|e| CliError::context(format!("cannot open {}", key.file_name()), e))?
            .len();
        if len < listed {
            return Err(ItemError::Failed(CliError::new(format!(
                "{} is truncated ({len} of {listed} bytes); fetch it again",
                key.file_name()
            ))));
        }
        if len > listed {
            return Err(ItemError::Failed(CliError::new(format!(
                "{} is larger than the server listed ({len}, not {listed} bytes)",
                key.file_name()
            ))));
        }
    }
    let folder = source_folder(item.source);
    let dir = out.join(&folder);
    private_dir(&dir)
        .map_err(|e| CliError::context(format!("cannot create {}", dir.display()), e))?;
    let mut wanted = match meta.kind.as_str() {
        "message" => "message.txt".to_owned(),
        // A form's answers, as JSON, beside the files sent with them.
        "form" => {
            let form = meta.form.as_ref().map_or("form", |f| f.id.as_str());
            sanitize(&format!("form-{form}.json"), "form.json")
        }
        _ => sanitize(meta.filename.as_deref().unwrap_or_default(), "file"),
    };
    // The index and the conversation are sanduq's own; a source's file may not take their name.
    if [INDEX_FILE, CONVERSATION_FILE, CONVERSATION_FILE_ASIDE]
        .iter()
        .any(|n| wanted.eq_ignore_ascii_case(n))
    {
        wanted.insert(0, '_');
    }

    let partial = dir.join(format!(".sanduq-partial-{}", item.id));
    let result = write_plaintext(
        ids,
        &items.join(BlobKey::content(item.id).file_name()),
        &partial,
        meta.size,
        sent_at(meta).map(std::time::SystemTime::from),
    )
    .and_then(|()| {
        // Answers are at most a few MiB (intake's limits); a larger one stays as it came.
        if meta.kind == "form" && meta.size <= MAX_WORDS {
            add_words(&partial, words)?;
        }
        place(&partial, &dir, &wanted)
    });
    let _ = fs::remove_file(&partial);
    let name = result?;
    if let Err(e) = append_index(&dir, &name, item, meta) {
        // Without its index line the item is not done: take the file back out.
        let _ = fs::remove_file(dir.join(&name));
        return Err(ItemError::Failed(CliError::context(
            format!("cannot write {}", dir.join(INDEX_FILE).display()),
            e,
        )));
    }
    Ok(PathBuf::from(folder).join(name))
}

/// Replaces the finished partial file of a form's answers with the same document plus the
/// answers in words. A document sanduq cannot read as answers is kept as it came.
fn add_words(partial: &Path, words: &FormWords<'_>) -> Result<()> {
    let raw = zeroize::Zeroizing::new(fs::read(partial).map_err(CliError::caused)?);
    let Some(text) = crate::forms::words::readable_json(&raw, words.lang, words.file_name) else {
        return Ok(());
    };
    // The time the source sent it, which write_plaintext gave the file, stays.
    let sent = fs::metadata(partial).and_then(|m| m.modified()).ok();
    fs::remove_file(partial).map_err(CliError::caused)?;
    super::write_private(partial, &text)
        .map_err(|e| CliError::context(format!("cannot create {}", partial.display()), e))?;
    if let Some(t) = sent {
        let _ = OpenOptions::new()
            .write(true)
            .open(partial)
            .and_then(|f| f.set_modified(t));
    }
    Ok(())
}

fn write_plaintext(
    ids: &Identities,
    ciphertext: &Path,
    partial: &Path,
    expected: u64,
    sent: Option<std::time::SystemTime>,
) -> Result<()> {
    let f =
        File::open(ciphertext).map_err(|e| CliError::context("cannot open its ciphertext", e))?;
    let mut reader = ids
        .decrypt(BufReader::with_capacity(1 << 20, f))
        .map_err(CliError::caused)?;
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut w = opts
        .open(partial)
        .map_err(|e| CliError::context(format!("cannot create {}", partial.display()), e))?;
    let n = io::copy(&mut reader, &mut w).map_err(|e| CliError::new(stream_error(&e)))?;
    if n != expected {
        return Err(CliError::new(format!(
            "decrypted {n} bytes where its metadata says {expected}"
        )));
    }
    if let Some(t) = sent {
        // Best effort: a filesystem that keeps no such time loses only the date.
        let _ = w.set_modified(t);
    }
    w.sync_all().map_err(CliError::caused)
}

/// Gives the finished partial file its final name without ever replacing an existing file,
/// also avoiding names that differ only in case (for case-insensitive filesystems).
fn place(partial: &Path, dir: &Path, wanted: &str) -> Result<String> {
    let taken: HashSet<String> = fs::read_dir(dir)
        .map_err(CliError::caused)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .map(|n| n.to_lowercase())
        .collect();
    for n in 1..10_000 {
        let candidate = if n == 1 {
            wanted.to_owned()
        } else {
            numbered(wanted, n)
        };
        if taken.contains(&candidate.to_lowercase()) {
            continue;
        }
        let target = dir.join(&candidate);
        // A hard link fails if the target exists: no check-then-write race.
        match fs::hard_link(partial, &target) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) if !target.exists() => {
                // Filesystems without hard links (FAT on a USB stick): copy into a file
                // created with create_new, which also refuses to replace anything.
                let mut opts = OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let copied = opts.open(&target).and_then(|mut t| {
                    io::copy(&mut File::open(partial)?, &mut t)?;
                    t.sync_all()
                });
                match copied {
                    Ok(()) => return Ok(candidate),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        let _ = fs::remove_file(&target);
                        return Err(CliError::caused(e));
                    }
                }
            }
            Err(e) => return Err(CliError::caused(e)),
        }
    }
    Err(CliError::new("too many files of the same name"))
}

/// Appends one line about the item to `index.jsonl` in its source folder: what the editors
/// need to know that a file name cannot say (time, type, original name, submission).
fn append_index(dir: &Path, name: &str, item: &ItemRow, meta: &ItemMeta) -> io::Result<()> {
    let line = serde_json::json!({
        "file": name,
        "item": item.id,
        // The whole id: the folder's name alone is for people.
        "source": item.source,
        "kind": meta.kind,
        "form": meta.form,
        "form_field": meta.form_field,
        "form_item": meta.form_item,
        "original_filename": meta.filename,
        "content_type": meta.content_type,
        "size": meta.size,
        "received_at": meta.received_at,
        "submission": meta.submission,
    });
    let mut f = private_append(&dir.join(INDEX_FILE))?;
    writeln!(f, "{line}")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sources_own_conversation_txt_is_never_replaced() {
        let mut saved = std::collections::HashMap::new();
        saved.insert(Id::random(), "photo.jpg".to_owned());
        assert_eq!(conversation_name(&saved), CONVERSATION_FILE);
        // Saved under that name by a decrypt from before sanduq wrote its own.
        saved.insert(Id::random(), "Conversation.TXT".to_owned());
        assert_eq!(conversation_name(&saved), CONVERSATION_FILE_ASIDE);
    }

    #[test]
    fn the_count_of_items_not_for_these_keys_prints_dates_only() {
        let row = |day: &str| ItemRow {
            id: Id::random(),
            source: Id::random(),
            desk: "d".into(),
            day: day.into(),
            size: 1,
            meta_size: 1,
        };
        let mut n = NotForThese::default();
        n.add(&row("2026-12-01\u{1b}]0;title\u{7}"));
        let line = n.report().unwrap();
        assert!(line.starts_with("sanduq: 1 item received on days the bundle does not give"));
        assert!(!line.contains('\u{1b}'), "{line}");
        n.add(&row("2026-12-03"));
        n.add(&row("2026-12-01"));
        assert_eq!(n.count(), 3);
        assert!(n
            .report()
            .unwrap()
            .contains("from 2026-12-01 to 2026-12-03"));
    }
}
