//! A source's answers to a form: collected from the request, checked, written as JSON.
//!
//! Answers live in memory only, in buffers wiped on drop, until they are encrypted as one
//! item. Checking never throws an answer away: a [`Draft`] that fails keeps every value, so
//! the form can be shown again with what the source wrote.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use zeroize::Zeroizing;

use super::{Field, Form, Kind};
use crate::i18n::Locale;
use crate::ids::Id;

/// Why an answer was not accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Problem {
    /// A required question has no answer.
    Required,
    /// Longer than `max` characters.
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Not a calendar date `YYYY-MM-DD`.
    Date,
    /// Not a number within the bounds.
    Number {
        /// Smallest accepted, if any.
        min: Option<f64>,
        /// Largest accepted, if any.
        max: Option<f64>,
    },
    /// Not one of the offered answers.
    Choice,
}

/// Problems by field name.
pub type Problems = BTreeMap<String, Problem>;

/// A value was sent that no honest form can send.
#[derive(Debug, PartialEq, Eq)]
pub struct Unexpected;

/// The answers of one submission, as sent.
#[derive(Debug)]
pub struct Draft<'f> {
    form: &'f Form,
    values: BTreeMap<String, Vec<Zeroizing<String>>>,
    /// Questions whose answer arrived longer than could be kept, and was cut.
    cut: std::collections::BTreeSet<String>,
}

impl<'f> Draft<'f> {
    /// No answers yet.
    pub fn new(form: &'f Form) -> Self {
        Draft {
            form,
            values: BTreeMap::new(),
            cut: std::collections::BTreeSet::new(),
        }
    }

    /// The form being answered.
    pub fn form(&self) -> &'f Form {
        self.form
    }

    /// Adds one value sent for the field `name`. Unknown fields, file fields and more values
    /// than the field can take are [`Unexpected`]: a browser showing our form sends none.
    pub fn push(&mut self, name: &str, value: &str) -> Result<(), Unexpected> {
        let field = self.form.field(name).ok_or(Unexpected)?;
        let most = match field.kind {
            Kind::File => 0,
            Kind::Multiselect => field.options.len(),
            _ => 1,
        };
        let values = self.values.entry(field.name.clone()).or_default();
        if values.len() >= most {
            return Err(Unexpected);
        }
        // Browsers send textarea lines with CRLF; answers keep plain LF.
        values.push(Zeroizing::new(value.replace("\r\n", "\n")));
        Ok(())
    }

    /// Notes that the answer to `name` was cut on arrival: it is too long, whatever is left.
    pub fn mark_cut(&mut self, name: &str) {
        self.cut.insert(name.to_owned());
    }

    /// The values sent for `name`, as sent.
    pub fn values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.values
            .get(name)
            .into_iter()
            .flatten()
            .map(|v| v.as_str())
    }

    /// The single answer to `name`, trimmed, if not empty.
    fn one(&self, name: &str) -> Option<&str> {
        self.values(name).map(str::trim).find(|v| !v.is_empty())
    }

    /// Checks every answer; `files` counts the files sent per file field.
    pub fn check(&self, files: &BTreeMap<String, Vec<Id>>) -> Result<(), Problems> {
        let mut problems = Problems::new();
        for f in &self.form.fields {
            if let Some(p) = self.problem(f, files) {
                problems.insert(f.name.clone(), p);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn problem(&self, f: &Field, files: &BTreeMap<String, Vec<Id>>) -> Option<Problem> {
        let answered = match f.kind {
            Kind::File => files.get(&f.name).is_some_and(|v| !v.is_empty()),
            Kind::Checkbox => self.values(&f.name).next().is_some(),
            Kind::Multiselect => self.values(&f.name).any(|v| !v.is_empty()),
            _ => self.one(&f.name).is_some(),
        };
        if !answered {
            return f.required.then_some(Problem::Required);
        }
        match f.kind {
            Kind::Text | Kind::Textarea => {
                let v = self.one(&f.name).unwrap_or_default();
                (v.chars().count() > f.max_length || self.cut.contains(&f.name))
                    .then_some(Problem::TooLong { max: f.max_length })
            }
            Kind::Date => self
                .one(&f.name)
                .and_then(parse_date)
                .is_none()
                .then_some(Problem::Date),
            Kind::Number => {
                let n = self.one(&f.name).and_then(parse_number);
                let ok = n.is_some_and(|(_, x)| {
                    f.min.is_none_or(|m| x >= m) && f.max.is_none_or(|m| x <= m)
                });
                (!ok).then_some(Problem::Number {
                    min: f.min,
                    max: f.max,
                })
            }
            Kind::Select => f
                .choice(self.one(&f.name).unwrap_or_default())
                .is_none()
                .then_some(Problem::Choice),
            Kind::Multiselect => self
                .values(&f.name)
                .filter(|v| !v.is_empty())
                .any(|v| f.choice(v).is_none())
                .then_some(Problem::Choice),
            Kind::Checkbox | Kind::File => None,
        }
    }

    /// The answers as the JSON document stored encrypted as the form's item. Call after
    /// [`Draft::check`] succeeded; `files` are the item ids of the files per file field.
    pub fn to_json(
        &self,
        locale: Locale,
        files: &BTreeMap<String, Vec<Id>>,
    ) -> serde_json::Result<Zeroizing<Vec<u8>>> {
        let mut answers: Vec<(&str, Answer<'_>)> = Vec::new();
        for f in &self.form.fields {
            let answer = match f.kind {
                Kind::Text | Kind::Textarea | Kind::Date | Kind::Select => {
                    self.one(&f.name).map(Answer::Text)
                }
                Kind::Number => self
                    .one(&f.name)
                    .and_then(parse_number)
                    .and_then(|(s, _)| s.parse().ok())
                    .map(Answer::Number),
                Kind::Multiselect => {
                    // In the form's order, once each.
                    let chosen: Vec<&str> = f
                        .options
                        .iter()
                        .map(|c| c.value.as_str())
                        .filter(|c| self.values(&f.name).any(|v| v == *c))
                        .collect();
                    (!chosen.is_empty()).then_some(Answer::List(chosen))
                }
                Kind::Checkbox => Some(Answer::Bool(self.values(&f.name).next().is_some())),
                Kind::File => files
                    .get(&f.name)
                    .filter(|ids| !ids.is_empty())
                    .map(|ids| Answer::Files(ids.clone())),
            };
            if let Some(a) = answer {
                answers.push((&f.name, a));
            }
        }
        let doc = Document {
            form: &self.form.id,
            version: self.form.version,
            locale: locale.code(),
            fields: self
                .form
                .fields
                .iter()
                .map(|f| FieldInfo {
                    name: &f.name,
                    kind: f.kind,
                    label: f.label.get(Locale::english()),
                    consent: f.consent,
                })
                .collect(),
            answers: Ordered(answers),
        };
        let mut out = Zeroizing::new(Vec::new());
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        out.push(b'\n');
        Ok(out)
    }
}

/// The stored JSON of a form item: self-describing, so that an editor reading it with
/// `age -d` alone, and `sanduq export`, need no copy of the form's definition.
#[derive(Serialize)]
struct Document<'a> {
    form: &'a str,
    version: u32,
    /// The language the source answered in.
    locale: &'a str,
    /// Every question of this version, in order, with its English label.
    fields: Vec<FieldInfo<'a>>,
    /// The answers given, by field name, in the form's order; unanswered ones are absent.
    answers: Ordered<'a>,
}

#[derive(Serialize)]
struct FieldInfo<'a> {
    name: &'a str,
    kind: Kind,
    label: &'a str,
    /// Present (true) on questions asking consent, so that tools without the definition
    /// can show them first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    consent: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Answer<'a> {
    Text(&'a str),
    Number(serde_json::Number),
    Bool(bool),
    List(Vec<&'a str>),
    Files(Vec<Id>),
}

/// A JSON object whose keys keep the form's order.
struct Ordered<'a>(Vec<(&'a str, Answer<'a>)>);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `2024-03-15` → that date; anything else, or a year outside 1900–2100, → None.
pub fn parse_date(s: &str) -> Option<time::Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    if !(1900..=2100).contains(&year) {
        return None;
    }
    time::Date::from_calendar_date(year, month, day).ok()
}

/// A number as a source may type it — Persian or Arabic-Indic digits, a decimal comma or
/// the Arabic decimal separator — as plain ASCII and as a value.
pub fn parse_number(s: &str) -> Option<(String, f64)> {
    let mut ascii = String::with_capacity(s.len());
    for c in s.trim().chars() {
        let mapped = match c {
            '0'..='9' | '-' | '.' => c,
            '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
            '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
            ',' | '٫' => '.',
            '−' => '-',
            _ => return None,
        };
        ascii.push(mapped);
    }
    // Plain decimal notation only: no exponent, no leading '+', no "inf" or "NaN".
    let digits = ascii.strip_prefix('-').unwrap_or(&ascii);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty()
        || int.len() > 15
        || frac.len() > 6
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let value: f64 = ascii.parse().ok()?;
    let ascii = if frac.is_empty() {
        ascii.trim_end_matches('.').to_owned()
    } else {
        ascii
    };
    Some((ascii, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        Form::parse(
            "t",
            r#"
id = "t"
version = 2
title.en = "T"
[[field]]
name = "name"
kind = "text"
max_length = 5
label.en = "Name"
[[field]]
name = "when"
kind = "date"
label.en = "When"
[[field]]
name = "age"
kind = "number"
min = 0
max = 120
label.en = "Age"
[[field]]
name = "who"
kind = "select"
required = true
label.en = "Who"
[[field.option]]
value = "a"
label.en = "A"
[[field.option]]
value = "b"
label.en = "B"
[[field]]
name = "what"
kind = "multiselect"
label.en = "What"
[[field.option]]
value = "x"
label.en = "X"
[[field.option]]
value = "y"
label.en = "Y"
[[field]]
name = "ok"
kind = "checkbox"
label.en = "OK"
[[field]]
name = "docs"
kind = "file"
label.en = "Docs"
"#,
        )
        .unwrap()
    }

    #[test]
    fn problems_are_found_and_answers_kept() {
        let f = form();
        let mut d = Draft::new(&f);
        d.push("name", "toolong").unwrap();
        d.push("when", "2024-02-30").unwrap();
        d.push("age", "121").unwrap();
        d.push("what", "z").unwrap();
        let problems = d.check(&BTreeMap::new()).unwrap_err();
        assert_eq!(problems["name"], Problem::TooLong { max: 5 });
        assert_eq!(problems["when"], Problem::Date);
        assert!(matches!(problems["age"], Problem::Number { .. }));
        assert_eq!(problems["who"], Problem::Required);
        assert_eq!(problems["what"], Problem::Choice);
        assert_eq!(problems.len(), 5);
        // An answer cut on arrival is too long even if what was kept is short (spaces).
        let mut cut = Draft::new(&f);
        cut.push("name", "abc  ").unwrap();
        cut.push("who", "a").unwrap();
        assert!(cut.check(&BTreeMap::new()).is_ok());
        cut.mark_cut("name");
        assert_eq!(
            cut.check(&BTreeMap::new()).unwrap_err()["name"],
            Problem::TooLong { max: 5 }
        );
        assert_eq!(d.values("name").collect::<Vec<_>>(), ["toolong"]);
    }

    #[test]
    fn unexpected_values_are_refused() {
        let f = form();
        let mut d = Draft::new(&f);
        assert_eq!(d.push("nope", "1"), Err(Unexpected));
        assert_eq!(d.push("docs", "1"), Err(Unexpected));
        d.push("who", "a").unwrap();
        assert_eq!(
            d.push("who", "b"),
            Err(Unexpected),
            "one value for a select"
        );
        d.push("what", "x").unwrap();
        d.push("what", "y").unwrap();
        assert_eq!(d.push("what", "x"), Err(Unexpected));
    }

    #[test]
    fn json_is_self_describing_and_in_form_order() {
        let f = form();
        let mut d = Draft::new(&f);
        d.push("name", " Ali\r\n").unwrap();
        d.push("age", "۳۴").unwrap();
        d.push("who", "b").unwrap();
        d.push("what", "y").unwrap();
        d.push("what", "x").unwrap();
        d.push("ok", "yes").unwrap();
        let file = Id::random();
        let files = BTreeMap::from([("docs".to_owned(), vec![file])]);
        d.check(&files).unwrap();
        let json = d.to_json(Locale::from_code("fa").unwrap(), &files).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["form"], "t");
        assert_eq!(v["version"], 2);
        assert_eq!(v["locale"], "fa");
        assert_eq!(v["fields"][2]["kind"], "number");
        assert_eq!(v["answers"]["name"], "Ali");
        assert_eq!(v["answers"]["age"], 34);
        assert_eq!(v["answers"]["what"], serde_json::json!(["x", "y"]));
        assert_eq!(v["answers"]["ok"], true);
        assert_eq!(v["answers"]["docs"][0], file.to_string());
        assert!(v["answers"].get("when").is_none());
        let text = String::from_utf8_lossy(&json);
        let text = &text[text.find("\"answers\"").unwrap()..];
        let order: Vec<usize> = ["\"name\": \"Ali\"", "\"age\": 34", "\"who\"", "\"ok\""]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn dates_and_numbers() {
        assert!(parse_date("2024-02-29").is_some());
        for bad in [
            "2023-02-29",
            "24-02-29",
            "2024/02/29",
            "1850-01-01",
            "2024-1-01",
            "+024-01-01",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_number("12,5").unwrap().0, "12.5");
        assert_eq!(parse_number("٤٢").unwrap().1, 42.0);
        assert_eq!(parse_number("-3").unwrap().1, -3.0);
        for bad in [
            "1e9",
            "inf",
            "NaN",
            "+1",
            "",
            "1.2.3",
            "12 kg",
            "9999999999999999",
        ] {
            assert!(parse_number(bad).is_none(), "{bad}");
        }
    }
}
