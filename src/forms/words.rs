//! A form's stored answers in words, for editors: the questions and the chosen answers in
//! the editor's language, not the codes (`sibling`, `denied`, `anonymous`) intake stores.
//!
//! The stored document names each question with its English label and each chosen answer by
//! its code, so that it can be read with `age -d` alone. With the form's definition (the
//! built-in ones are in the binary) the questions and answers read in any of the form's
//! languages; without it, the stored English labels and the codes are shown. Questions that
//! ask the source's consent are marked, so that every tool can put them first: consent is
//! what an editor must check before using anything else.
//!
//! Everything here is plaintext a source wrote: callers keep it in memory no longer than
//! they need, and [`InWords`] wipes itself when dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use super::{Form, Kind};
use crate::i18n::Locale;

/// A stored answer document (`kind = form`), as intake writes it.
#[derive(Debug, Deserialize)]
pub struct Stored {
    /// The form's id.
    pub form: String,
    /// The form's version the source answered.
    pub version: u32,
    /// The language the source answered in.
    pub locale: String,
    /// Every question of that version, in order.
    pub fields: Vec<StoredField>,
    /// The answers, by question name; unanswered questions are absent.
    pub answers: serde_json::Map<String, Value>,
}

/// One question as the stored document describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredField {
    /// The answer's key.
    pub name: String,
    /// Its kind (`select`, `file`, …).
    pub kind: String,
    /// The question in English.
    pub label: String,
    /// Whether it asks consent (absent in documents older than the flag).
    #[serde(default)]
    pub consent: bool,
}

/// One answered question, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InWords {
    /// The question's key (machine-readable, the same in every language).
    pub name: String,
    /// The question, in the editor's language if the definition has it.
    pub question: String,
    /// The answer in words: option labels, "Yes"/"No", file names, or the text sent.
    pub answer: String,
    /// The answer as stored (codes for select and multiselect, joined by "; ").
    pub code: String,
    /// Whether the question asks the source's consent.
    pub consent: bool,
}

impl Drop for InWords {
    fn drop(&mut self) {
        self.answer.zeroize();
        self.code.zeroize();
    }
}

/// The answered questions of `doc`, in the form's order, consent questions first, in
/// `lang` where `form` (the definition of `doc.form`, if known) has it. `file_name` gives the
/// name of a file item (by its id) when known.
pub fn in_words(
    doc: &Stored,
    form: Option<&Form>,
    lang: Locale,
    file_name: &dyn Fn(&str) -> Option<String>,
) -> Vec<InWords> {
    let mut all: Vec<InWords> = doc
        .fields
        .iter()
        .filter_map(|f| {
            let value = doc.answers.get(&f.name)?;
            let def = form
                .filter(|d| d.id == doc.form)
                .and_then(|d| d.field(&f.name));
            let answer = answer(value, f, def, lang, file_name)?;
            Some(InWords {
                name: f.name.clone(),
                question: def.map_or_else(|| f.label.clone(), |d| d.label.get(lang).to_owned()),
                code: code(value),
                answer,
                consent: is_consent(f, def),
            })
        })
        .collect();
    // Stable: the form's order within each group.
    all.sort_by_key(|a| !a.consent);
    all
}

/// What decrypt writes as `form-<id>.json`: the stored document `raw` with, before it,
/// its title and answers in words (consent first, apart), each with its question's name
/// and stored code. `None` if `raw` is not a stored answer document.
pub fn readable_json(
    raw: &[u8],
    lang: Locale,
    file_name: &dyn Fn(&str) -> Option<String>,
) -> Option<Zeroizing<Vec<u8>>> {
    let original: serde_json::Map<String, Value> = serde_json::from_slice(raw).ok()?;
    let doc: Stored = serde_json::from_value(Value::Object(original.clone())).ok()?;
    let form = Form::builtin(&doc.form);
    let words = in_words(&doc, form.as_ref(), lang, file_name);
    let pairs = |consent: bool| -> Vec<Value> {
        words
            .iter()
            .filter(|w| w.consent == consent)
            .map(|w| {
                serde_json::json!({
                    "question": w.question, "answer": w.answer, "name": w.name, "code": w.code,
                })
            })
            .collect()
    };
    let readable = Readable {
        language: lang.code(),
        title: form
            .as_ref()
            .map_or_else(|| doc.form.clone(), |f| f.title.get(lang).to_owned()),
        consent: pairs(true),
        in_words: pairs(false),
        original,
    };
    let mut out = Zeroizing::new(Vec::new());
    serde_json::to_writer_pretty(&mut *out, &readable).ok()?;
    out.push(b'\n');
    Some(out)
}

/// `form-<id>.json`: the words first, then the stored document's own keys.
#[derive(Serialize)]
struct Readable {
    /// The language of the words.
    language: &'static str,
    title: String,
    consent: Vec<Value>,
    in_words: Vec<Value>,
    #[serde(flatten)]
    original: serde_json::Map<String, Value>,
}

/// Whether a stored question asks consent: the document or the definition says so, or, for
/// documents older than the flag and forms sanduq does not know, its name begins `consent`.
pub fn is_consent(f: &StoredField, def: Option<&super::Field>) -> bool {
    f.consent || def.map_or_else(|| f.name.starts_with("consent"), |d| d.consent)
}

/// One answer in words; `None` for an empty one.
pub fn answer(
    value: &Value,
    f: &StoredField,
    def: Option<&super::Field>,
    lang: Locale,
    file_name: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let choice = |code: &str| {
        def.and_then(|d| d.choice(code))
            .map_or_else(|| code.to_owned(), |c| c.label.get(lang).to_owned())
    };
    let text = match value {
        Value::Null => return None,
        Value::Bool(b) => lang.message(if *b { "editor-yes" } else { "editor-no" }, None),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is(f, def, Kind::Select) => choice(s),
        Value::String(s) => s.clone(),
        Value::Array(list) => list
            .iter()
            .map(|x| match x.as_str() {
                Some(s) if f.kind == "file" => {
                    file_name(s).unwrap_or_else(|| format!("(item {s})"))
                }
                Some(s) if is(f, def, Kind::Multiselect) => choice(s),
                Some(s) => s.to_owned(),
                None => x.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::Object(_) => value.to_string(),
    };
    Some(text)
}

/// Whether the question is of `kind`, by the definition or else by the stored document.
fn is(f: &StoredField, def: Option<&super::Field>, kind: Kind) -> bool {
    def.map_or_else(
        || serde_json::to_value(kind).is_ok_and(|k| k == f.kind.as_str()),
        |d| d.kind == kind,
    )
}

/// The answer as stored, as text: what a tool matching on codes needs (a checkbox is `yes`
/// or `no`, a list is joined by "; ").
pub fn code(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(list) => list
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// The locale the editor reads in: `explicit` (`--lang`), else the first of `LC_ALL`,
/// `LC_MESSAGES` and `LANG` that `env` gives, as POSIX writes them (`ru_RU.UTF-8`,
/// `uz_UZ.UTF-8@cyrillic`); English when none names a language sanduq has. An explicit
/// language sanduq does not have is an error, naming those it has.
pub fn editor_locale(
    explicit: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Locale, String> {
    if let Some(code) = explicit {
        return locale_of(code).ok_or_else(|| {
            let all: Vec<&str> = Locale::all().map(Locale::code).collect();
            format!("--lang: sanduq speaks {}", all.join(", "))
        });
    }
    let set = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .find_map(|k| env(k).filter(|v| !v.is_empty()));
    Ok(set
        .as_deref()
        .and_then(locale_of)
        .unwrap_or(Locale::english()))
}

/// `ru`, `ru_RU.UTF-8`, `uz-Cyrl`, `uz_UZ@cyrillic`, `fa_IR` → that locale.
fn locale_of(code: &str) -> Option<Locale> {
    let (rest, modifier) = code.split_once('@').unwrap_or((code, ""));
    let rest = rest.split('.').next().unwrap_or_default();
    let mut parts = rest.split(['_', '-']);
    let lang = parts.next().unwrap_or_default().to_ascii_lowercase();
    let cyrillic =
        modifier.eq_ignore_ascii_case("cyrillic") || parts.any(|p| p.eq_ignore_ascii_case("cyrl"));
    if lang == "uz" && cyrillic {
        return Locale::from_code("uz-Cyrl");
    }
    Locale::from_code(&lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Stored {
        serde_json::from_value(serde_json::json!({
            "form": "detention", "version": 1, "locale": "tg",
            "fields": [
                {"name": "relation", "kind": "select", "label": "Your relation to them"},
                {"name": "detained_age", "kind": "number", "label": "Age"},
                {"name": "ill_treatment", "kind": "multiselect", "label": "Signs"},
                {"name": "witnesses", "kind": "textarea", "label": "Witnesses"},
                {"name": "documents", "kind": "file", "label": "Photos"},
                {"name": "consent_publish", "kind": "select", "label": "May we publish?", "consent": true},
                {"name": "consent_share", "kind": "select", "label": "May we share?"},
            ],
            "answers": {
                "relation": "sibling", "detained_age": 34,
                "ill_treatment": ["beating", "isolation"],
                "documents": ["00000000000000000000000000000001", "00000000000000000000000000000002"],
                "consent_publish": "anonymous", "consent_share": "yes",
            },
        }))
        .unwrap()
    }

    fn names(id: &str) -> Option<String> {
        id.ends_with('1').then(|| "scan.pdf".to_owned())
    }

    #[test]
    fn answers_read_in_the_editors_language_with_consent_first() {
        let form = Form::detention();
        let words = in_words(&doc(), Some(&form), Locale::english(), &names);
        let pairs: Vec<(&str, &str)> = words
            .iter()
            .map(|w| (w.name.as_str(), w.answer.as_str()))
            .collect();
        assert_eq!(pairs[0], ("consent_publish", "Yes, but without any names"));
        assert_eq!(pairs[1], ("consent_share", "Yes"));
        assert!(words[..2].iter().all(|w| w.consent) && !words[2].consent);
        assert_eq!(words[0].code, "anonymous");
        assert_eq!(words[0].question, "May we publish what you tell us?");
        let relation = words.iter().find(|w| w.name == "relation").unwrap();
        assert_ne!(relation.answer, "sibling", "the label, not the code");
        assert_eq!(relation.code, "sibling");
        let ill = words.iter().find(|w| w.name == "ill_treatment").unwrap();
        assert_eq!(ill.answer, "Beating; Solitary confinement");
        let docs = words.iter().find(|w| w.name == "documents").unwrap();
        assert_eq!(
            docs.answer,
            "scan.pdf; (item 00000000000000000000000000000002)"
        );
        assert!(words.iter().all(|w| w.name != "witnesses"), "unanswered");
        assert_eq!(words.len(), 6);

        let ru = Locale::from_code("ru").unwrap();
        let words = in_words(&doc(), Some(&form), ru, &names);
        assert_eq!(
            words[0].question,
            "Можно ли нам опубликовать то, что вы рассказали?"
        );
        assert_eq!(words[0].answer, "Да, но без каких-либо имён");
    }

    #[test]
    fn without_the_definition_the_stored_labels_and_codes_are_shown() {
        let words = in_words(&doc(), None, Locale::english(), &names);
        assert_eq!(words[0].question, "May we publish?");
        assert_eq!(words[0].answer, "anonymous");
        assert!(words[1].consent, "by its name, for older documents");
        let mut d = doc();
        d.answers.insert("witnesses".into(), Value::Bool(true));
        let fa = Locale::from_code("fa").unwrap();
        let words = in_words(&d, None, fa, &names);
        let w = words.iter().find(|w| w.name == "witnesses").unwrap();
        assert_eq!(w.answer, fa.message("editor-yes", None));
        assert_ne!(w.answer, "Yes");
    }

    #[test]
    fn the_file_decrypt_writes_keeps_the_document_and_adds_words() {
        let raw = serde_json::to_vec(&serde_json::json!({
            "form": "detention", "version": 1, "locale": "tg",
            "fields": [{"name": "consent_share", "kind": "select", "label": "May we share?"},
                       {"name": "medical_care", "kind": "select", "label": "Care?"}],
            "answers": {"consent_share": "no", "medical_care": "denied"},
        }))
        .unwrap();
        let out = readable_json(&raw, Locale::english(), &names).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["title"], Form::detention().title.get(Locale::english()));
        assert_eq!(v["consent"][0]["answer"], "No");
        assert_eq!(v["consent"][0]["code"], "no");
        assert_eq!(v["in_words"][0]["answer"], "Yes, it was denied");
        assert_eq!(
            v["answers"]["medical_care"], "denied",
            "the stored codes stay"
        );
        assert_eq!(v["locale"], "tg");
        assert!(readable_json(b"{\"x\": 1}", Locale::english(), &names).is_none());
    }

    #[test]
    fn the_editors_language_comes_from_lang_or_the_environment() {
        let none = |_: &str| None;
        let code = |l: Result<Locale, String>| l.map(Locale::code);
        assert_eq!(code(editor_locale(Some("ru"), none)), Ok("ru"));
        assert_eq!(code(editor_locale(Some("uz-Cyrl"), none)), Ok("uz-Cyrl"));
        assert!(editor_locale(Some("xx"), none).unwrap_err().contains("tg"));
        assert_eq!(code(editor_locale(None, none)), Ok("en"));
        let env = |v: &'static str| move |k: &str| (k == "LANG").then(|| v.to_owned());
        assert_eq!(code(editor_locale(None, env("ru_RU.UTF-8"))), Ok("ru"));
        assert_eq!(
            code(editor_locale(None, env("uz_UZ.UTF-8@cyrillic"))),
            Ok("uz-Cyrl")
        );
        assert_eq!(code(editor_locale(None, env("uz_UZ.UTF-8"))), Ok("uz"));
        assert_eq!(code(editor_locale(None, env("de_DE.UTF-8"))), Ok("en"));
        assert_eq!(code(editor_locale(None, env("C"))), Ok("en"));
        let both = |k: &str| match k {
            "LC_ALL" => Some("fa_IR.UTF-8".to_owned()),
            "LANG" => Some("ru_RU.UTF-8".to_owned()),
            _ => None,
        };
        assert_eq!(code(editor_locale(None, both)), Ok("fa"));
    }
}
