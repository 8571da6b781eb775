//! `sanduq export`: offline, every form's answers in a bundle as one table per form.
//!
//! A row per submission, a column per question, plus the source's designation, the day and
//! the exact time of receipt. Each stored answer document describes its own questions, so
//! answers to every version of a form export together: the columns are the questions of all
//! versions, in order of first appearance, and a question a version did not ask is empty.
//! CSV cells that a spreadsheet would run as a formula are neutralised.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::bundle::Bundle;
use super::decrypt::read_meta;
use super::filename::sanitize;
use super::progress::{duration, Progress};
use super::{CliError, Result};
use crate::crypto::{stream_error, Identities};
use crate::ids::Id;
use crate::store::BlobKey;

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

/// A stored answer document (`kind = form`), as intake writes it.
#[derive(Debug, Deserialize)]
pub(super) struct Document {
    pub(super) form: String,
    version: u32,
    locale: String,
    pub(super) fields: Vec<FieldInfo>,
    answers: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct FieldInfo {
    name: String,
    kind: String,
    pub(super) label: String,
}

/// One submission's answers, ready for a row.
struct Row {
    source: String,
    day: String,
    received_at: String,
    item: Id,
    doc: Document,
}

/// One form's table.
struct Table {
    form: String,
    /// Questions of every version, in order of first appearance (by version).
    columns: Vec<FieldInfo>,
    rows: Vec<Row>,
}

/// `sanduq export`.
pub(super) fn export(
    identity: &[String],
    bundle_dir: &Path,
    format: Format,
    out: &Path,
    only: Option<&str>,
) -> Result<()> {
    let bundle = Bundle::open(bundle_dir, false)?;
    let manifest = bundle.manifest()?;
    let ids = super::decrypt::open_identities(identity)?;
    let items = bundle.items_dir();

    // File names first: a file question's answer is the names of the files sent with it.
    let mut names: HashMap<Id, String> = HashMap::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut failed = 0usize;
    let bytes = manifest
        .items
        .iter()
        .fold(0u64, |b, i| b.saturating_add(i.meta_size));
    let progress = Progress::new("export", manifest.items.len() as u64, bytes);
    for item in &manifest.items {
        progress.add_bytes(item.meta_size);
        progress.item_done();
        let meta = match read_meta(&ids, &items, item) {
            Ok(m) => m,
            Err(e) => {
                progress.note(&format!("sanduq: item {}: {e}", item.id));
                failed += 1;
                continue;
            }
        };
        match meta.kind.as_str() {
            "file" => {
                names.insert(
                    item.id,
                    sanitize(meta.filename.as_deref().unwrap_or_default(), "file"),
                );
            }
            "form" => match read_answers(&ids, &items, item.id, meta.size) {
                Ok(doc) if meta.form.as_ref().is_some_and(|f| f.id == doc.form) => {
                    rows.push(Row {
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
                    failed += 1;
                }
                Err(e) => {
                    progress.note(&format!("sanduq: item {}: {e}", item.id));
                    failed += 1;
                }
            },
            _ => {}
        }
    }
    progress.finish();
    if let Some(id) = only {
        rows.retain(|r| r.doc.form == id);
    }
    let tables = tables(rows);
    if tables.is_empty() {
        return Err(CliError::new(match only {
            Some(id) => format!("the bundle holds no answers to the form {id:?}"),
            None if failed > 0 => "no form answers could be read (reasons above)".to_owned(),
            None => "the bundle holds no form answers".to_owned(),
        }));
    }
    let text = match format {
        Format::Csv => {
            if tables.len() > 1 {
                let list: Vec<&str> = tables.iter().map(|t| t.form.as_str()).collect();
                return Err(CliError::new(format!(
                    "the bundle holds answers to {} forms ({}); choose one with --form, or use --format json",
                    tables.len(),
                    list.join(", ")
                )));
            }
            csv_table(&tables[0], &names)?
        }
        Format::Json => json_tables(&tables, &names)?,
    };
    write_new(out, &text)?;
    let rows: usize = tables.iter().map(|t| t.rows.len()).sum();
    eprintln!(
        "exported {rows} submission{} of {} form{} into {} in {}; {} item{} in the bundle, {failed} unreadable",
        if rows == 1 { "" } else { "s" },
        tables.len(),
        if tables.len() == 1 { "" } else { "s" },
        out.display(),
        duration(progress.elapsed().as_secs_f64()),
        manifest.items.len(),
        if manifest.items.len() == 1 { "" } else { "s" },
    );
    if failed > 0 {
        return Err(CliError::new(format!(
            "{failed} item{} could not be read (reasons above); the export holds the rest",
            if failed == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// Decrypts a form item's answer document.
pub(super) fn read_answers(
    ids: &Identities,
    items: &Path,
    id: Id,
    size: u64,
) -> std::result::Result<Document, String> {
    if size > MAX_ANSWERS {
        return Err(format!("its answers are too large ({size} bytes)"));
    }
    let path = items.join(BlobKey::content(id).file_name());
    let f = File::open(&path).map_err(|e| format!("cannot open its answers: {e}"))?;
    let mut json = Zeroizing::new(Vec::new());
    ids.decrypt(BufReader::new(f))
        .map_err(|e| format!("answers: {e}"))?
        .take(MAX_ANSWERS)
        .read_to_end(&mut json)
        .map_err(|e| format!("answers: {}", stream_error(&e)))?;
    serde_json::from_slice(&json).map_err(|_| "its answers are not a sanduq form document".into())
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

/// The text of one answer in a cell: lists joined with "; ", files by their names.
pub(super) fn cell(doc: &Document, column: &FieldInfo, names: &HashMap<Id, String>) -> String {
    let Some(v) = doc.answers.get(&column.name) else {
        return String::new();
    };
    let is_file = doc
        .fields
        .iter()
        .find(|f| f.name == column.name)
        .is_some_and(|f| f.kind == "file");
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(list) => list
            .iter()
            .map(|x| match x.as_str() {
                Some(s) if is_file => s
                    .parse::<Id>()
                    .ok()
                    .and_then(|id| names.get(&id).cloned())
                    .unwrap_or_else(|| format!("(item {s} not in this bundle)")),
                Some(s) => s.to_owned(),
                None => x.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::Null => String::new(),
        Value::Object(_) => v.to_string(),
    }
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

fn csv_table(t: &Table, names: &HashMap<Id, String>) -> Result<Zeroizing<Vec<u8>>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = FIXED
        .iter()
        .map(|s| (*s).to_owned())
        .chain(t.columns.iter().map(|c| c.name.clone()));
    w.write_record(header.map(|h| neutralise(&h).into_owned()))
        .map_err(CliError::new)?;
    for row in &t.rows {
        let values = fixed_values(row)
            .into_iter()
            .chain(t.columns.iter().map(|c| cell(&row.doc, c, names)));
        w.write_record(values.map(|v| neutralise(&v).into_owned()))
            .map_err(CliError::new)?;
    }
    w.into_inner()
        .map(Zeroizing::new)
        .map_err(|e| CliError::new(e.error()))
}

fn json_tables(tables: &[Table], names: &HashMap<Id, String>) -> Result<Zeroizing<Vec<u8>>> {
    let forms: Vec<Value> = tables
        .iter()
        .map(|t| {
            let rows: Vec<Value> = t
                .rows
                .iter()
                .map(|row| {
                    let mut obj = serde_json::Map::new();
                    for (k, v) in FIXED.iter().zip(fixed_values(row)) {
                        obj.insert((*k).to_owned(), Value::String(v));
                    }
                    obj["version"] = Value::from(row.doc.version);
                    for c in &t.columns {
                        let v = match row.doc.answers.get(&c.name) {
                            None => Value::Null,
                            Some(Value::Array(_)) if c.kind == "file" => Value::from(
                                cell(&row.doc, c, names)
                                    .split("; ")
                                    .map(str::to_owned)
                                    .collect::<Vec<_>>(),
                            ),
                            Some(v) => v.clone(),
                        };
                        obj.insert(c.name.clone(), v);
                    }
                    Value::Object(obj)
                })
                .collect();
            let columns: Vec<Value> = t
                .columns
                .iter()
                .map(|c| serde_json::json!({ "name": c.name, "kind": c.kind, "label": c.label }))
                .collect();
            serde_json::json!({ "form": t.form, "columns": columns, "rows": rows })
        })
        .collect();
    let mut out = Zeroizing::new(Vec::new());
    serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "forms": forms }))
        .map_err(CliError::new)?;
    out.push(b'\n');
    Ok(out)
}

/// Writes `out` whole or not at all, never replacing an existing file.
fn write_new(out: &Path, text: &[u8]) -> Result<()> {
    if out.exists() {
        return Err(CliError::new(format!(
            "{} exists; sanduq export never replaces a file, choose another --out",
            out.display()
        )));
    }
    let name = out
        .file_name()
        .ok_or_else(|| CliError::new(format!("{} is not a file name", out.display())))?;
    let partial = out.with_file_name(format!(".{}.sanduq-partial", name.to_string_lossy()));
    let _ = fs::remove_file(&partial);
    let result = super::write_private(&partial, text)
        .and_then(|()| match fs::hard_link(&partial, out) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                // Filesystems without hard links (FAT on a USB stick): a copy into a file
                // created with create_new, which refuses to replace anything either.
                let mut opts = fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                opts.open(out).and_then(|mut t| {
                    std::io::copy(&mut File::open(&partial)?, &mut t)?;
                    t.sync_all()
                })
            }
            other => other,
        })
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", out.display())));
    let _ = fs::remove_file(&partial);
    result
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
