//! Reading the pages sanduq serves as a browser would: their tags and attributes, and the
//! references between elements (ids, labels, descriptions) that assistive technology and a
//! click on a label rely on.

use std::collections::{BTreeMap, BTreeSet};

/// Every tag of an HTML page, as written between `<` and `>`.
pub fn tags(html: &str) -> Vec<&str> {
    html.split('<')
        .skip(1)
        .filter_map(|t| t.split_once('>').map(|(tag, _)| tag))
        .collect()
}

/// Attribute names and values of a tag (`name="value"`, `name='value'` or bare `name`).
pub fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag.split_once(char::is_whitespace).map_or("", |(_, r)| r);
    loop {
        rest = rest.trim_start().trim_start_matches('/').trim_start();
        if rest.is_empty() {
            return out;
        }
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        rest = rest[end..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let (v, after) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &r[1..];
                    let close = body.find(q).expect("closed attribute quote");
                    (&body[..close], &body[close + 1..])
                }
                _ => {
                    let e = r.find(char::is_whitespace).unwrap_or(r.len());
                    (&r[..e], &r[e..])
                }
            };
            rest = after;
            v.to_owned()
        } else {
            String::new()
        };
        out.push((name, value));
    }
}

/// Fails unless every `id` on the page is unique, every `<label for=…>` names exactly one
/// element, and every id that `aria-describedby` or `aria-labelledby` lists exists. A
/// duplicate id makes a click on a label choose another answer than the one it shows.
pub fn check_ids(what: &str, html: &str) {
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut referenced: Vec<(String, String)> = Vec::new();
    for tag in tags(html) {
        for (name, value) in attributes(tag) {
            match name.as_str() {
                "id" => *ids.entry(value).or_default() += 1,
                "for" if tag.to_ascii_lowercase().starts_with("label") => {
                    referenced.push(("label for".into(), value));
                }
                "aria-describedby" | "aria-labelledby" => {
                    for id in value.split_ascii_whitespace() {
                        referenced.push((name.clone(), id.to_owned()));
                    }
                }
                _ => {}
            }
        }
    }
    let twice: BTreeSet<&String> = ids
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(
        twice.is_empty(),
        "{what}: ids used more than once: {twice:?}"
    );
    for (kind, id) in referenced {
        assert!(
            ids.contains_key(&id),
            "{what}: {kind}={id:?} names no element"
        );
    }
}

#[test]
fn a_duplicate_id_or_a_dangling_reference_is_caught() {
    let ok = r#"<p id="a"><input id="b"><label for="b">B</label><i aria-describedby="a b">"#;
    check_ids("ok", ok);
    for bad in [
        r#"<input id="b"><input id="b">"#,
        r#"<input id="b"><label for="c">C</label>"#,
        r#"<input id="b" aria-describedby="b x">"#,
    ] {
        let caught = std::panic::catch_unwind(|| check_ids("bad", bad)).is_err();
        assert!(caught, "not caught: {bad}");
    }
}
