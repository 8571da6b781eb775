//! Turning a filename a source's browser sent into one that is safe to create offline.
//!
//! The name is hostile input: it may carry path separators, `..`, NUL and control
//! characters, right-to-left overrides that disguise `exe.jpg` as `gpj.exe`, names reserved by
//! Windows, or a thousand bytes. [`sanitize`] keeps only a last path component of printable
//! characters, at most [`MAX_BYTES`] bytes, keeping the extension; it never returns an empty
//! name, `.` or `..`, and the result never contains `/` or `\`.

/// Longest name [`sanitize`] returns, in bytes (most filesystems allow 255).
pub const MAX_BYTES: usize = 180;

/// Characters that change text direction or are invisible: they can disguise an extension.
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// A safe file name for `name`; `fallback` if nothing usable is left.
pub fn sanitize(name: &str, fallback: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_deceptive(*c))
        .map(|c| {
            if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let mut out = if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    };
    let stem = out
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        out.insert(0, '_');
    }
    truncate(&out)
}

/// Cuts `name` to [`MAX_BYTES`] at a character boundary, keeping a short extension.
fn truncate(name: &str) -> String {
    if name.len() <= MAX_BYTES {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut cut = MAX_BYTES - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// `name (n).ext` for the n-th duplicate.
///
/// The stem is shortened to make room for ` (n)`: a name already at [`MAX_BYTES`] must
/// still yield a different name (the fuzz target `filename` found that it did not).
pub fn numbered(name: &str, n: usize) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let suffix = format!(" ({n})");
    let mut cut = stem.len().min(MAX_BYTES - ext.len() - suffix.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        let cases = [
            ("../../x", "x"),
            ("/etc/passwd", "passwd"),
            ("C:\\Windows\\system32\\evil.dll", "evil.dll"),
            ("a\0b.txt", "ab.txt"),
            ("photo\u{202E}gpj.exe", "photogpj.exe"),
            ("..", "file"),
            ("", "file"),
            ("   ", "file"),
            ("...hidden", "hidden"),
            ("CON.txt", "_CON.txt"),
            ("com1", "_com1"),
            ("what?.jpg", "what_.jpg"),
            ("Сурат аз зиндон.jpg", "Сурат аз зиндон.jpg"),
            ("عکس.png", "عکس.png"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input, "file"), want, "{input:?}");
        }
    }

    #[test]
    fn long_names_keep_extension_and_utf8() {
        let long = "ж".repeat(500) + ".pdf";
        let s = sanitize(&long, "file");
        assert!(s.len() <= MAX_BYTES);
        assert!(s.ends_with(".pdf"));
        let s = sanitize(&"a".repeat(1000), "file");
        assert_eq!(s.len(), MAX_BYTES);
        assert_eq!(numbered("a.tar", 2), "a (2).tar");
        assert_eq!(numbered("noext", 3), "noext (3)");
        // A name already as long as allowed still gets a different numbered name.
        for full in [sanitize(&"a".repeat(1000), "file"), s.clone(), long.clone()] {
            let full = sanitize(&full, "file");
            let n = numbered(&full, 12);
            assert!(
                n.len() <= MAX_BYTES && n != full && n.contains(" (12)"),
                "{n}"
            );
        }
    }
}
