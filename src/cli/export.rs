//! `sanduq export`: offline, every form's answers in a bundle as one table per form.
//!
//! A row per submission, a column per question, plus the source's designation, the day and
//! the exact time of receipt. Each stored answer document describes its own questions, so
//! answers to every version of a form export together: the columns are the questions of all
//! versions, in order of first appearance, and a question a version did not ask is empty.
//! Questions and answers are in words, in the editor's language (`forms::words`), questions
//! asking consent first and marked; `--codes` gives CSV with question names and stored codes
//! for tools, and JSON always holds both. CSV cells that a spreadsheet would run as a formula
//! are neutralised. `--force` and `--new` keep their state as `state` says.

mod state;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde_json::Value;
use zeroize::Zeroizing;

use super::bundle::Bundle;
use super::decrypt::{read_meta, ItemError, NotForThese};
use super::filename::sanitize;
use super::progress::{duration, Progress};
use super::{CliError, Result};
use crate::crypto::{stream_error, Identities};
use crate::forms::words::{Stored, StoredField};
use crate::forms::Form;
use crate::i18n::Locale;
use crate::ids::Id;
use crate::store::{BlobKey, ItemRow};

/// Largest answer document sanduq will decrypt into memory.
const MAX_ANSWERS: u64 = 64 << 20;
/// The columns every table begins with.
const FIXED: [&str; 6] = ["source", "day", "received_at", "item", "version", "locale"];

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One table, one form: a header row, then a row per submission.
    Csv,
    /// Every form: columns with their labels, rows as objects.
    Json,
}

/// One submission's answers, ready for a row.
struct Row {
    source: String,
    day: String,
    received_at: String,
    item: Id,
    doc: Stored,
}

/// One form's table.
struct Table {
    form: String,
    /// Questions of every version, in order of first appearance (by version).
    columns: Vec<StoredField>,
    rows: Vec<Row>,
}

/// What `sanduq export` was asked for, besides where.
#[derive(Debug, Clone)]
pub(super) struct Options {
    /// CSV or JSON.
    pub(super) format: Format,
    /// Only this form.
    pub(super) only: Option<String>,
    /// The language of questions and answers.
    pub(super) lang: Locale,
    /// CSV with question names and stored codes, as tools read it.
    pub(super) codes: bool,
    /// Replace `--out` if it is an export sanduq wrote there and nobody changed since.
    pub(super) force: bool,
    /// Only submissions no earlier export of the same scope held.
    pub(super) new: bool,
}

/// What reading the bundle gave.
#[derive(Default)]
struct Gathered {
    /// File names by item, for file questions.
    names: HashMap<Id, String>,
    rows: Vec<Row>,
    failed: usize,
    not_for_these: NotForThese,
    /// Every item whose metadata was read, of any kind.
    seen: Vec<Id>,
}

/// `sanduq export`.
pub(super) fn export(
    identity: &[String],
    bundle_dir: &Path,
    out: &Path,
    opts: &Options,
) -> Result<()> {
    let bundle = Bundle::open(bundle_dir, false)?;
    let manifest = bundle.manifest()?;
    let ids = super::decrypt::open_identities(identity)?;
    let scope = opts.only.as_deref().unwrap_or(state::ALL_FORMS);
    let mut state = state::State::read(bundle_dir);
    let skip = if opts.new {
        state.seen(scope)
    } else {
        Default::default()
    };
    let started = std::time::Instant::now();
    let mut got = gather(&ids, &bundle, &manifest.items, &skip);
    if let Some(line) = got.not_for_these.report() {
        eprintln!("{line}");
    }
    if let Some(id) = &opts.only {
        got.rows.retain(|r| &r.doc.form == id);
    }
    let tables = tables(std::mem::take(&mut got.rows));
    if tables.is_empty() {
        if opts.new && got.failed == 0 && !skip.is_empty() {
            eprintln!("sanduq: nothing new since the last export; nothing written");
            return Ok(());
        }
        return Err(CliError::new(match &opts.only {
            Some(id) => format!("the bundle holds no answers to the form {id:?}"),
            None if got.failed > 0 => "no form answers could be read (reasons above)".to_owned(),
            None if got.not_for_these.count() > 0 => {
                "no form answers are encrypted to the given identities: check --identity".to_owned()
            }
            None => "the bundle holds no form answers".to_owned(),
        }));
    }
    let text = render(&tables, &got.names, opts)?;
    state::write_out(out, &text, opts.force)?;
    state.add_seen(scope, &got.seen, &manifest.items);
    state.save(bundle_dir)?;
    let rows: usize = tables.iter().map(|t| t.rows.len()).sum();
    eprintln!(
        "exported {rows} submission{} of {} form{} into {} in {}; {} item{} in the bundle, {} unreadable, {} not for your key",
        if rows == 1 { "" } else { "s" },
        tables.len(),
        if tables.len() == 1 { "" } else { "s" },
        out.display(),
        duration(started.elapsed().as_secs_f64()),
        manifest.items.len(),
        if manifest.items.len() == 1 { "" } else { "s" },
        got.failed,
        got.not_for_these.count(),
    );
    if got.failed > 0 {
        return Err(CliError::new(format!(
            "{} item{} could not be read (reasons above); the export holds the rest",
            got.failed,
            if got.failed == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// The export's text in the chosen format.
fn render(
    tables: &[Table],
    names: &HashMap<Id, String>,
    opts: &Options,
) -> Result<Zeroizing<Vec<u8>>> {
    match opts.format {
        Format::Csv => {
            if tables.len() > 1 {
                let list: Vec<&str> = tables.iter().map(|t| t.form.as_str()).collect();
                return Err(CliError::new(format!(
                    "the bundle holds answers to {} forms ({}); choose one with --form, or use --format json",
                    tables.len(),
                    list.join(", ")
                )));
            }
            csv_table(&tables[0], names, opts)
        }
        Format::Json => json_tables(tables, names, opts.lang),
    }
}

/// Reads every item's metadata, and the answers of form items not in `skip`.
fn gather(ids: &Identities, bundle: &Bundle, rows: &[ItemRow], skip: &HashSet<Id>) -> Gathered {
    let items = bundle.items_dir();
    let mut got = Gathered::default();
    let bytes = rows.iter().fold(0u64, |b, i| b.saturating_add(i.meta_size));
    let progress = Progress::new("export", rows.len() as u64, bytes);
    for item in rows {
        progress.add_bytes(item.meta_size);
        progress.item_done();
        let meta = match read_meta(ids, &items, item) {
            Ok(m) => m,
            Err(ItemError::NotForThese) => {
                got.not_for_these.add(item);
                continue;
            }
            Err(e) => {
                progress.note(&format!("sanduq: item {}: {e}", item.id));
                got.failed += 1;
                continue;
            }
        };
        match meta.kind.as_str() {
            "file" => {
                got.names.insert(
                    item.id,
                    sanitize(meta.filename.as_deref().unwrap_or_default(), "file"),
                );
            }
            "form" if skip.contains(&item.id) => {}
            "form" => match read_answers(ids, &items, item.id, meta.size) {
                Ok(doc) if meta.form.as_ref().is_some_and(|f| f.id == doc.form) => {
                    got.rows.push(Row {
                        // As decrypt names the source's folder: unique, unlike the
                        // designation alone.
                        source: crate::designation::folder(item.source),
                        day: item.day.clone(),
                        received_at: meta.received_at,
                        item: item.id,
                        doc,
                    });
                }
                Ok(_) => {
                    progress.note(&format!(
                        "sanduq: item {}: its answers name another form than its metadata",
                        item.id
                    ));
                    got.failed += 1;
                    continue;
                }
                Err(e) => {
                    progress.note(&format!("sanduq: item {}: {e}", item.id));
                    got.failed += 1;
                    continue;
                }
            },
            _ => {}
        }
        got.seen.push(item.id);
    }
    progress.finish();
    got
}

/// Decrypts a form item's answer document.
pub(super) fn read_answers(ids: &Identities, items: &Path, id: Id, size: u64) -> Result<Stored> {
    if size > MAX_ANSWERS {
        return Err(CliError::new(format!(
            "its answers are too large ({size} bytes)"
        )));
    }
    let path = items.join(BlobKey::content(id).file_name());
    let f = File::open(&path).map_err(|e| CliError::context("cannot open its answers", e))?;
    let mut json = Zeroizing::new(Vec::new());
    ids.decrypt(BufReader::new(f))
        .map_err(|e| CliError::context("answers", e))?
        .take(MAX_ANSWERS)
        .read_to_end(&mut json)
        .map_err(|e| CliError::new(format!("answers: {}", stream_error(&e))))?;
    serde_json::from_slice(&json)
        .map_err(|_| CliError::new("its answers are not a sanduq form document"))
}

/// Groups rows into one table per form, columns in order of first appearance by version.
fn tables(mut rows: Vec<Row>) -> Vec<Table> {
    rows.sort_by(|a, b| {
        (&a.doc.form, &a.received_at, a.item).cmp(&(&b.doc.form, &b.received_at, b.item))
    });
    let mut tables: Vec<Table> = Vec::new();
    for row in rows {
        match tables.last_mut() {
            Some(t) if t.form == row.doc.form => t.rows.push(row),
            _ => tables.push(Table {
                form: row.doc.form.clone(),
                columns: Vec::new(),
                rows: vec![row],
            }),
        }
    }
    for t in &mut tables {
        let mut versions: Vec<&Row> = t.rows.iter().collect();
        versions.sort_by_key(|r| r.doc.version);
        for r in versions {
            for f in &r.doc.fields {
                if !t.columns.iter().any(|c| c.name == f.name) {
                    t.columns.push(f.clone());
                }
            }
        }
    }
    tables
}

/// The text of one answer in a cell: in words (lists joined with "; ", files by their
/// names), or as stored with `codes`.
fn cell(
    row: &Row,
    column: &StoredField,
    names: &HashMap<Id, String>,
    lang: Locale,
    codes: bool,
) -> String {
    let Some(v) = row.doc.answers.get(&column.name) else {
        return String::new();
    };
    // The row's own description of the question: its version's kind.
    let field = row
        .doc
        .fields
        .iter()
        .find(|f| f.name == column.name)
        .unwrap_or(column);
    let file_name = |s: &str| {
        s.parse::<Id>()
            .ok()
            .and_then(|id| names.get(&id).cloned())
            .or_else(|| Some(format!("(item {s} not in this bundle)")))
    };
    if codes && field.kind != "file" {
        return crate::forms::words::code(v);
    }
    let form = Form::builtin(&row.doc.form);
    let def = form.as_ref().and_then(|f| f.field(&column.name));
    crate::forms::words::answer(v, field, def, lang, &file_name).unwrap_or_default()
}

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab, carriage return
/// first) gets a leading apostrophe, which spreadsheets show as text.
pub(super) fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn fixed_values(row: &Row) -> [String; 6] {
    [
        row.source.clone(),
        row.day.clone(),
        row.received_at.clone(),
        row.item.to_string(),
        row.doc.version.to_string(),
        row.doc.locale.clone(),
    ]
}

/// The table's columns as people read them: consent questions first, each with its header
/// (the question in `lang`, consent marked). With `codes`, the stored order and names.
fn headed_columns(t: &Table, lang: Locale, codes: bool) -> Vec<(&StoredField, String)> {
    if codes {
        return t.columns.iter().map(|c| (c, c.name.clone())).collect();
    }
    let form = Form::builtin(&t.form);
    let mut cols: Vec<(bool, &StoredField, String)> = t
        .columns
        .iter()
        .map(|c| {
            let def = form.as_ref().and_then(|f| f.field(&c.name));
            let question = def.map_or_else(|| c.label.clone(), |d| d.label.get(lang).to_owned());
            let consent = crate::forms::words::is_consent(c, def);
            let header = if consent {
                format!("{}: {question}", lang.message("editor-consent", None))
            } else {
                question
            };
            (consent, c, header)
        })
        .collect();
    cols.sort_by_key(|(consent, _, _)| !consent);
    cols.into_iter().map(|(_, c, h)| (c, h)).collect()
}

fn csv_table(t: &Table, names: &HashMap<Id, String>, opts: &Options) -> Result<Zeroizing<Vec<u8>>> {
    let columns = headed_columns(t, opts.lang, opts.codes);
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = FIXED
        .iter()
        .map(|s| (*s).to_owned())
        .chain(columns.iter().map(|(_, h)| h.clone()));
    w.write_record(header.map(|h| neutralise(&h).into_owned()))
        .map_err(CliError::new)?;
    for row in &t.rows {
        let values = fixed_values(row).into_iter().chain(
            columns
                .iter()
                .map(|(c, _)| cell(row, c, names, opts.lang, opts.codes)),
        );
        w.write_record(values.map(|v| neutralise(&v).into_owned()))
            .map_err(CliError::new)?;
    }
    w.into_inner()
        .map(Zeroizing::new)
        .map_err(|e| CliError::new(e.error()))
}

/// One row as JSON: the fixed columns, each answer as stored (codes) under its question's
/// name, and `in_words` with the same answers in words.
fn json_row(
    row: &Row,
    columns: &[(&StoredField, String)],
    names: &HashMap<Id, String>,
    lang: Locale,
) -> Value {
    let mut obj = serde_json::Map::new();
    for (k, v) in FIXED.iter().zip(fixed_values(row)) {
        obj.insert((*k).to_owned(), Value::String(v));
    }
    obj["version"] = Value::from(row.doc.version);
    let mut words = serde_json::Map::new();
    for (c, _) in columns {
        let v = match row.doc.answers.get(&c.name) {
            None => Value::Null,
            Some(Value::Array(_)) if c.kind == "file" => Value::from(
                cell(row, c, names, lang, true)
                    .split("; ")
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            ),
            Some(v) => v.clone(),
        };
        if !v.is_null() {
            words.insert(
                c.name.clone(),
                Value::from(cell(row, c, names, lang, false)),
            );
        }
        obj.insert(c.name.clone(), v);
    }
    obj.insert("in_words".into(), Value::Object(words));
    Value::Object(obj)
}

fn json_tables(
    tables: &[Table],
    names: &HashMap<Id, String>,
    lang: Locale,
) -> Result<Zeroizing<Vec<u8>>> {
    let forms: Vec<Value> = tables
        .iter()
        .map(|t| {
            let columns = headed_columns(t, lang, false);
            let rows: Vec<Value> = t
                .rows
                .iter()
                .map(|row| json_row(row, &columns, names, lang))
                .collect();
            let form = Form::builtin(&t.form);
            let described: Vec<Value> = columns
                .iter()
                .map(|(c, _)| {
                    let def = form.as_ref().and_then(|f| f.field(&c.name));
                    let label = def.map_or_else(|| c.label.clone(), |d| d.label.get(lang).to_owned());
                    let consent = crate::forms::words::is_consent(c, def);
                    serde_json::json!({ "name": c.name, "kind": c.kind, "label": label, "consent": consent })
                })
                .collect();
            serde_json::json!({ "form": t.form, "columns": described, "rows": rows })
        })
        .collect();
    let mut out = Zeroizing::new(Vec::new());
    serde_json::to_writer_pretty(
        &mut *out,
        &serde_json::json!({ "language": lang.code(), "forms": forms }),
    )
    .map_err(CliError::new)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "=HYPERLINK(\"http://x\")",
        ] {
            assert_eq!(neutralise(bad), format!("'{bad}"));
        }
        for fine in ["Ali", "1", "", "a=b", " =1", "'=1"] {
            assert_eq!(neutralise(fine), fine);
        }
    }
}
