//! Testimony forms: questions an operator defines in TOML, asked on the source site.
//!
//! A free message makes every testimony a different shape; a form makes cases countable. A
//! form has an id, a version and fields of eight kinds, each with a label and help text per
//! locale (English required, the fallback for the rest). The built-in detention form
//! (`forms/detention.toml`) is compiled into the binary; operators add or replace forms with
//! files in `forms_dir`. Definitions are checked in full at start-up: a mistake in one is a
//! configuration error naming the file and the field, never a broken page.
//!
//! [`answers`] collects and checks what a source sent, and turns it into the JSON that is
//! encrypted as one item.

pub mod answers;
pub mod words;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::i18n::Locale;

/// The built-in detention testimony form.
const DETENTION: &str = include_str!("../../forms/detention.toml");

/// Most fields in one form.
const MAX_FIELDS: usize = 200;
/// Most answers offered by one select or multiselect field.
const MAX_OPTIONS: usize = 100;
/// Longest answer to a text or textarea field, in characters.
pub const MAX_LENGTH: usize = 100_000;
/// Longest all answers of one form may be together, in characters: one request's answers
/// are held in memory (at most four bytes a character).
pub const MAX_FORM_LENGTH: usize = 1_000_000;
/// Default longest answer to a text field.
const TEXT_LENGTH: usize = 1_000;
/// Default longest answer to a textarea field.
const TEXTAREA_LENGTH: usize = 20_000;

/// The kinds of field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One line of text.
    Text,
    /// Several lines of text.
    Textarea,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A number, optionally within `min`..=`max`.
    Number,
    /// One of the options.
    Select,
    /// Any of the options.
    Multiselect,
    /// Yes or no.
    Checkbox,
    /// Files, each stored as its own item.
    File,
}

impl Kind {
    /// Whether the field takes free text whose length is limited.
    pub fn is_text(self) -> bool {
        matches!(self, Kind::Text | Kind::Textarea)
    }
}

/// A text in several locales; English is always present.
#[derive(Debug, Clone, Default)]
pub struct Text(BTreeMap<String, String>);

impl Text {
    /// The text in `locale`, or in English.
    pub fn get(&self, locale: Locale) -> &str {
        self.0
            .get(locale.code())
            .or_else(|| self.0.get("en"))
            .map_or("", String::as_str)
    }

    /// The locales this text is written in.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// One answer a select or multiselect field offers.
#[derive(Debug, Clone)]
pub struct Choice {
    /// What is stored (`[a-z0-9_-]`), the same in every language.
    pub value: String,
    /// What the source sees.
    pub label: Text,
}

/// One question.
#[derive(Debug, Clone)]
pub struct Field {
    /// The answer's key (`[a-z0-9_]`, 1–64 characters).
    pub name: String,
    /// What kind of answer it takes.
    pub kind: Kind,
    /// Whether an answer is required (for a checkbox: that it is ticked).
    pub required: bool,
    /// Whether the question asks the source's consent: the editors' tools show it first.
    pub consent: bool,
    /// Longest answer in characters (text and textarea).
    pub max_length: usize,
    /// Smallest number accepted (number).
    pub min: Option<f64>,
    /// Largest number accepted (number).
    pub max: Option<f64>,
    /// The question.
    pub label: Text,
    /// A sentence under the question, if any.
    pub help: Option<Text>,
    /// The answers offered (select, multiselect).
    pub options: Vec<Choice>,
}

impl Field {
    /// The offered answer whose value is `value`.
    pub fn choice(&self, value: &str) -> Option<&Choice> {
        self.options.iter().find(|c| c.value == value)
    }
}

/// A checked form definition.
#[derive(Debug, Clone)]
pub struct Form {
    /// Its id (`[a-z0-9_-]`, 1–64 characters), as desks name it.
    pub id: String,
    /// Its version; answers carry it, so that old answers still export.
    pub version: u32,
    /// Its title.
    pub title: Text,
    /// A paragraph above the questions, if any.
    pub intro: Option<Text>,
    /// The questions, in order.
    pub fields: Vec<Field>,
}

impl Form {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The most multipart parts its answers (not counting files) can take.
    pub fn max_parts(&self) -> usize {
        self.fields
            .iter()
            .map(|f| match f.kind {
                Kind::Multiselect => f.options.len(),
                Kind::File => 0,
                _ => 1,
            })
            .sum()
    }

    /// Parses and checks a form definition; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Form, Error> {
        let raw: RawForm = toml::from_str(text).map_err(|source| Error::Toml {
            origin: origin.to_owned(),
            source,
        })?;
        raw.check().map_err(|reason| Error::Invalid {
            origin: origin.to_owned(),
            reason,
        })
    }

    /// The built-in form whose id is `id`, if any: what the offline tools know of a form
    /// without the server's configuration.
    pub fn builtin(id: &str) -> Option<Form> {
        (id == "detention").then(Form::detention)
    }

    /// The built-in detention testimony form.
    pub fn detention() -> Form {
        // The file is part of the binary and checked by a unit test below.
        #[allow(clippy::expect_used)]
        Form::parse("forms/detention.toml", DETENTION).expect("built-in form")
    }
}

/// Why a form definition was refused. Each names the form's file; its text is one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The folder or a file in it could not be read.
    #[error("{}: {source}", .path.display())]
    Read {
        /// What could not be read.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML, or has keys a form does not have.
    #[error("{origin}: {}", crate::crypto::one_line(&.source.to_string()))]
    Toml {
        /// The form's file.
        origin: String,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// The form breaks a rule: the sentence says which.
    #[error("{origin}: {reason}")]
    Invalid {
        /// The form's file.
        origin: String,
        /// The rule broken, for the operator to read.
        reason: String,
    },
}

/// Every `*.toml` form in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Form>, Error> {
    let read = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Read { path, source }
    };
    let entries = std::fs::read_dir(dir).map_err(read(dir))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut forms = Vec::with_capacity(paths.len());
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(read(&p))?;
        forms.push(Form::parse(&p.display().to_string(), &text)?);
    }
    Ok(forms)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForm {
    id: String,
    version: u32,
    title: BTreeMap<String, String>,
    #[serde(default)]
    intro: BTreeMap<String, String>,
    #[serde(default, rename = "field")]
    fields: Vec<RawField>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    kind: Kind,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    consent: bool,
    max_length: Option<usize>,
    min: Option<f64>,
    max: Option<f64>,
    label: BTreeMap<String, String>,
    #[serde(default)]
    help: BTreeMap<String, String>,
    #[serde(default, rename = "option")]
    options: Vec<RawChoice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChoice {
    value: String,
    label: BTreeMap<String, String>,
}

/// Whether `id` is a well-formed form id (`[a-z0-9_-]`, 1–64 characters).
pub fn valid_id(id: &str) -> bool {
    valid_name(id, true)
}

/// Question names that `sanduq export` uses for its own columns.
const RESERVED: [&str; 6] = ["source", "day", "received_at", "item", "version", "locale"];

/// `[a-z0-9_]` (and `-` if `dash`), 1–64 characters.
fn valid_name(s: &str, dash: bool) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || (dash && b == b'-')
        })
}

/// Checks a locale table: known locales, English present, nothing empty.
fn text(what: &str, map: BTreeMap<String, String>) -> Result<Text, String> {
    for (code, value) in &map {
        if Locale::from_code(code).is_none() {
            return Err(format!("{what}: unknown locale {code:?}"));
        }
        if value.trim().is_empty() {
            return Err(format!("{what}.{code} is empty"));
        }
    }
    if !map.contains_key("en") {
        return Err(format!("{what}.en is missing (English is the fallback)"));
    }
    Ok(Text(map))
}

fn optional_text(what: &str, map: BTreeMap<String, String>) -> Result<Option<Text>, String> {
    if map.is_empty() {
        Ok(None)
    } else {
        text(what, map).map(Some)
    }
}

/// Checks a field's offered answers; `at` names the field in errors.
fn choices(at: &str, raw: Vec<RawChoice>) -> Result<Vec<Choice>, String> {
    let mut values = HashSet::new();
    let mut options = Vec::with_capacity(raw.len());
    for o in raw {
        if !valid_name(&o.value, true) || !values.insert(o.value.clone()) {
            return Err(format!(
                "{at}: option value {:?} must be unique, 1 to 64 of a-z, 0-9, _ and -",
                o.value
            ));
        }
        options.push(Choice {
            label: text(&format!("{at} option {:?} label", o.value), o.label)?,
            value: o.value,
        });
    }
    Ok(options)
}

impl RawForm {
    fn check(self) -> Result<Form, String> {
        if !valid_name(&self.id, true) {
            return Err(format!(
                "id {:?}: use 1 to 64 of a-z, 0-9, _ and -",
                self.id
            ));
        }
        if self.version == 0 {
            return Err("version must be 1 or more".into());
        }
        if self.fields.is_empty() || self.fields.len() > MAX_FIELDS {
            return Err(format!("a form has 1 to {MAX_FIELDS} [[field]] tables"));
        }
        let title = text("title", self.title)?;
        let intro = optional_text("intro", self.intro)?;
        let mut names = HashSet::new();
        let mut fields = Vec::with_capacity(self.fields.len());
        for f in self.fields {
            let at = format!("field {:?}", f.name);
            if !valid_name(&f.name, false) {
                return Err(format!("{at}: a name has 1 to 64 of a-z, 0-9 and _"));
            }
            if RESERVED.contains(&f.name.as_str()) {
                return Err(format!(
                    "{at}: the names {} are export's own columns; choose another",
                    RESERVED.join(", ")
                ));
            }
            if !names.insert(f.name.clone()) {
                return Err(format!("{at} appears twice"));
            }
            if f.max_length.is_some() && !f.kind.is_text() {
                return Err(format!("{at}: max_length is for text and textarea only"));
            }
            if (f.min.is_some() || f.max.is_some()) && f.kind != Kind::Number {
                return Err(format!("{at}: min and max are for number only"));
            }
            if f.min.is_some_and(|v| !v.is_finite())
                || f.max.is_some_and(|v| !v.is_finite())
                || matches!((f.min, f.max), (Some(a), Some(b)) if a > b)
            {
                return Err(format!("{at}: min and max must be numbers, min ≤ max"));
            }
            let max_length = match (f.kind, f.max_length) {
                (_, Some(n)) if n == 0 || n > MAX_LENGTH => {
                    return Err(format!("{at}: max_length is 1 to {MAX_LENGTH}"));
                }
                (_, Some(n)) => n,
                (Kind::Textarea, None) => TEXTAREA_LENGTH,
                _ => TEXT_LENGTH,
            };
            let wants_options = matches!(f.kind, Kind::Select | Kind::Multiselect);
            if wants_options && (f.options.is_empty() || f.options.len() > MAX_OPTIONS) {
                return Err(format!("{at}: offer 1 to {MAX_OPTIONS} [[field.option]]"));
            }
            if !wants_options && !f.options.is_empty() {
                return Err(format!("{at}: options are for select and multiselect only"));
            }
            let options = choices(&at, f.options)?;
            fields.push(Field {
                label: text(&format!("{at} label"), f.label)?,
                help: optional_text(&format!("{at} help"), f.help)?,
                name: f.name,
                kind: f.kind,
                required: f.required,
                consent: f.consent,
                max_length,
                min: f.min,
                max: f.max,
                options,
            });
        }
        let total: usize = fields
            .iter()
            .filter(|f| f.kind.is_text())
            .map(|f| f.max_length)
            .sum();
        if total > MAX_FORM_LENGTH {
            return Err(format!(
                "the text questions allow {total} characters together; at most {MAX_FORM_LENGTH}"
            ));
        }
        Ok(Form {
            id: self.id,
            version: self.version,
            title,
            intro,
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detention_form_is_complete_in_every_locale() {
        let form = Form::detention();
        assert_eq!(form.id, "detention");
        let consent: Vec<_> = form.fields.iter().filter(|f| f.required).collect();
        assert_eq!(
            consent.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["consent_publish", "consent_share"],
            "only consent is required"
        );
        assert!(consent.iter().all(|f| f.consent), "and marked as consent");
        assert_eq!(form.fields.iter().filter(|f| f.consent).count(), 2);
        let mut texts: Vec<(String, &Text)> = vec![("title".into(), &form.title)];
        texts.extend(form.intro.iter().map(|t| ("intro".into(), t)));
        for f in &form.fields {
            texts.push((format!("{} label", f.name), &f.label));
            texts.extend(f.help.iter().map(|t| (format!("{} help", f.name), t)));
            for o in &f.options {
                texts.push((format!("{} {}", f.name, o.value), &o.label));
            }
        }
        for (what, t) in texts {
            for l in Locale::all() {
                assert!(
                    t.locales().any(|c| c == l.code()),
                    "{what} has no {} text",
                    l.code()
                );
            }
        }
        for kind in [Kind::Text, Kind::Textarea, Kind::Date, Kind::Number] {
            assert!(form.fields.iter().any(|f| f.kind == kind), "{kind:?}");
        }
    }

    #[test]
    fn mistakes_in_a_definition_are_named() {
        let base = "id = \"f\"\nversion = 1\ntitle.en = \"T\"\n";
        let cases = [
            ("", "[[field]] tables"),
            ("[[field]]\nname = \"a\"\nkind = \"text\"\n", "label"),
            (
                "[[field]]\nname = \"A b\"\nkind = \"text\"\nlabel.en = \"x\"\n",
                "a name has",
            ),
            (
                "[[field]]\nname = \"a\"\nkind = \"select\"\nlabel.en = \"x\"\n",
                "offer 1 to",
            ),
            (
                "[[field]]\nname = \"a\"\nkind = \"text\"\nlabel.en = \"x\"\n[[field]]\nname = \"a\"\nkind = \"text\"\nlabel.en = \"y\"\n",
                "appears twice",
            ),
            (
                "[[field]]\nname = \"a\"\nkind = \"text\"\nlabel.xx = \"x\"\nlabel.en = \"x\"\n",
                "unknown locale",
            ),
            (
                "[[field]]\nname = \"a\"\nkind = \"date\"\nmax_length = 3\nlabel.en = \"x\"\n",
                "max_length is for",
            ),
            (
                "[[field]]\nname = \"a\"\nkind = \"number\"\nmin = 5\nmax = 1\nlabel.en = \"x\"\n",
                "min ≤ max",
            ),
            (
                "[[field]]\nname = \"a\"\nkind = \"rating\"\nlabel.en = \"x\"\n",
                "unknown variant",
            ),
            (
                "[[field]]\nname = \"a\"\nkind = \"text\"\nlabel.en = \"x\"\ncolour = 1\n",
                "unknown field",
            ),
            (
                "[[field]]\nname = \"day\"\nkind = \"date\"\nlabel.en = \"x\"\n",
                "export's own columns",
            ),
            (
                &"[[field]]\nname = \"a\"\nkind = \"textarea\"\nmax_length = 100000\nlabel.en = \"x\"\n"
                    .repeat(11)
                    .split("[[field]]")
                    .enumerate()
                    .skip(1)
                    .map(|(i, f)| format!("[[field]]{}", f.replace("name = \"a\"", &format!("name = \"a{i}\""))))
                    .collect::<String>(),
                "at most 1000000",
            ),
        ];
        for (fields, expected) in cases {
            let err = Form::parse("t.toml", &format!("{base}{fields}"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("t.toml: "), "{err}");
            assert!(err.contains(expected), "{expected:?} not in {err}");
        }
        let err = Form::parse("t.toml", "id = \"../x\"\nversion = 1\ntitle.en = \"T\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("id"), "{err}");
    }
}
