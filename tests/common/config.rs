//! `sanduq.toml` for tests, built from values on the text `sanduq init` writes.
//!
//! A test that changes the configuration names a key and gives a value. The key must be one
//! the `init` template knows (set there, or shown commented out as an option), so that a key
//! renamed or removed in the template fails the test at once; a text replacement that no
//! longer matches would instead leave the default in place and let the test pass for the
//! wrong reason.

use std::collections::BTreeSet;

use toml_edit::{value, Array, DocumentMut, Item, Table, Value};

/// Keys the server reads that the template leaves out on purpose (test-only switches).
const UNLISTED: &[&str] = &["codename.weak_cost_for_tests"];

/// A configuration being built: the `init` template's document and the keys it knows.
pub struct TestConfig {
    doc: DocumentMut,
    known: BTreeSet<String>,
}

impl TestConfig {
    /// The configuration in `text` (what `sanduq init` wrote); panics if it is not TOML.
    pub fn parse(text: &str) -> TestConfig {
        let doc: DocumentMut = text.parse().expect("the init template is TOML");
        TestConfig {
            doc,
            known: known_keys(text),
        }
    }

    /// The template `sanduq init` writes, with `pepper_b64` as the pepper.
    pub fn template(pepper_b64: &str) -> TestConfig {
        TestConfig::parse(&sanduq::config::template(pepper_b64))
    }

    /// Codename derivation at test cost (the real cost is tested in the unit tests and in
    /// tests/argon2_costs.rs).
    pub fn test_cost(&mut self) -> &mut Self {
        self.set("codename.memory_kib", 1024)
            .set("codename.weak_cost_for_tests", true)
    }

    /// Sets `path` (`"limits.max_files"`, `"default_locale"`) to `v`. Panics if the template
    /// knows no such key, set or commented out.
    pub fn set(&mut self, path: &str, v: impl Into<Value>) -> &mut Self {
        assert!(
            self.known.contains(path) || UNLISTED.contains(&path),
            "sanduq.toml has no key {path:?}; keys it knows: {:?}",
            self.known
        );
        let (table, key) = match path.rsplit_once('.') {
            Some((t, k)) => (Some(t), k),
            None => (None, path),
        };
        let target = match table {
            None => self.doc.as_table_mut(),
            Some(t) => self.doc[t]
                .as_table_mut()
                .unwrap_or_else(|| panic!("sanduq.toml has no [{t}] table")),
        };
        target[key] = value(v);
        self
    }

    /// A janitor whose grace period is `grace_seconds` and which runs every second.
    pub fn janitor(&mut self, grace_seconds: i64) -> &mut Self {
        self.set("store.janitor_grace_seconds", grace_seconds)
            .set("store.janitor_every_seconds", 1)
    }

    /// Sets each `key = value` of `lines` (TOML) in `[table]`; each key must be known there.
    pub fn set_lines(&mut self, table: &str, lines: &str) -> &mut Self {
        let given: DocumentMut = lines.parse().expect("the lines are TOML");
        for (k, item) in given.iter() {
            let v = item.as_value().expect("plain values").clone();
            self.set(&format!("{table}.{k}"), v);
        }
        self
    }

    /// Adds a desk named `name` with the title `title` and the template's forms.
    pub fn desk(&mut self, name: &str, title: Option<&str>) -> &mut Self {
        self.desk_with_forms(name, title, None)
    }

    /// Adds a desk; `forms` of `None` leaves the key out (the built-in form, as the default
    /// desk of the template has).
    pub fn desk_with_forms(
        &mut self,
        name: &str,
        title: Option<&str>,
        forms: Option<&[&str]>,
    ) -> &mut Self {
        let desks = self.doc["desk"]
            .as_array_of_tables_mut()
            .expect("the template has [[desk]] tables");
        let mut t = Table::new();
        t["name"] = value(name);
        if let Some(title) = title {
            t["title"] = value(title);
        }
        if let Some(forms) = forms {
            t["forms"] = value(forms.iter().copied().collect::<Array>());
        }
        desks.push(t);
        self
    }

    /// Sets `key` of the desk at `index` (0 is the template's default desk).
    pub fn desk_key(&mut self, index: usize, key: &str, v: impl Into<Value>) -> &mut Self {
        assert!(
            self.known.contains(&format!("desk.{key}")),
            "a desk has no key {key:?}"
        );
        let desks = self.doc["desk"]
            .as_array_of_tables_mut()
            .expect("the template has [[desk]] tables");
        let desk = desks
            .get_mut(index)
            .unwrap_or_else(|| panic!("no desk number {index}"));
        desk[key] = value(v);
        self
    }

    /// The value at `path` now: a string as it is, any other value as TOML text.
    pub fn get(&self, path: &str) -> Option<String> {
        let mut item: &Item = self.doc.as_item();
        for part in path.split('.') {
            item = item.get(part)?;
        }
        Some(match item.as_str() {
            Some(s) => s.to_owned(),
            None => item.to_string().trim().to_owned(),
        })
    }

    /// The `sanduq.toml` text.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }
}

/// `table.key` for every key of `text`, set or commented out (`# key = …`), `key` alone for
/// the keys before the first table. A commented-out table header (`# [[desk]]`) starts no
/// table.
fn known_keys(text: &str) -> BTreeSet<String> {
    let mut table = String::new();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix('[') {
            table = h.trim_matches(|c| c == '[' || c == ']').to_owned();
            continue;
        }
        let body = line.strip_prefix('#').map_or(line, str::trim_start);
        let Some((key, _)) = body.split_once(" = ") else {
            continue;
        };
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        out.insert(if table.is_empty() {
            key.to_owned()
        } else {
            format!("{table}.{key}")
        });
    }
    out
}

#[test]
fn a_key_the_template_does_not_know_fails_loudly() {
    let mut c = TestConfig::template("cGVwcGVy");
    c.set("limits.max_files", 3)
        .set("listen.tls_cert", "cert.pem")
        .set("store.janitor_grace_seconds", 4)
        .set("store.s3_region", "garage")
        .set("default_locale", "tg")
        .desk("lawyers", Some("Lawyers' collective"))
        .test_cost();
    let text = c.text();
    assert!(text.contains("max_files = 3"), "{text}");
    assert!(text.contains("tls_cert = \"cert.pem\""));
    assert!(text.contains("janitor_grace_seconds = 4"));
    assert!(text.contains("s3_region = \"garage\""));
    assert!(text.contains("default_locale = \"tg\""));
    assert!(text.contains("name = \"lawyers\""));
    assert!(text.contains("weak_cost_for_tests = true"));
    assert!(!text.contains("max_files = 100"));
    for bad in [
        "limits.max_flies",
        "max_files",
        "nosuch.max_files",
        "listen.source.x",
    ] {
        let r = std::panic::catch_unwind(|| {
            TestConfig::template("cGVwcGVy").set(bad, 1).text();
        });
        assert!(r.is_err(), "{bad} was accepted");
    }
}
