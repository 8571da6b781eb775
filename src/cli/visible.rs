//! Text a source wrote, made safe to show on a terminal or in a plain-text file.
//!
//! A testimony is hostile input, and a terminal obeys what it prints: an escape sequence can
//! retitle the window, repaint the screen, hide text or (on some terminals) answer back as
//! if typed; a right-to-left override can make `exe.jpg` read `gpj.exe`; zero-width
//! characters can make two different names look the same. [`visible`] is the one filter
//! every display path of the editor's side uses (the inbox and `conversation.txt`): it keeps
//! line breaks and printable text, and turns every other such character into a visible,
//! inert tag such as `<ESC>` or `<U+202E>`, so the editor sees that it was there.

/// The name shown for a control character that has a well-known one.
fn control_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{1b}' => "ESC",
        '\u{7}' => "BEL",
        '\u{8}' => "BS",
        '\r' => "CR",
        '\t' => "TAB",
        '\0' => "NUL",
        '\u{7f}' => "DEL",
        '\u{9b}' => "CSI",
        '\u{9d}' => "OSC",
        _ => return None,
    })
}

/// Characters that are invisible or change how the text around them is laid out: bidi
/// marks, embeddings, overrides and isolates, zero-width characters, invisible operators,
/// the byte-order mark, interlinear annotation, tag characters and line/paragraph separators.
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether `c` is shown as a tag rather than as itself.
fn must_escape(c: char) -> bool {
    (c.is_control() && c != '\n') || is_deceptive(c)
}

/// `text` with line breaks kept and every control, bidi and invisible character replaced by
/// a visible tag (`<ESC>`, `<U+202E>`). Nothing else changes.
pub(crate) fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !must_escape(c) {
            out.push(c);
        } else if let Some(name) = control_name(c) {
            out.push('<');
            out.push_str(name);
            out.push('>');
        } else {
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
        }
    }
    out
}

/// As [`visible`], on one line: a line break becomes `<LF>` too (names, answers in a row).
pub(crate) fn visible_line(text: &str) -> String {
    visible(text).replace('\n', "<LF>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_trick_is_shown_not_obeyed() {
        let hostile = "a\u{1b}]0;PWNED\u{7}b\u{1b}[31mred\u{1b}[2J\r\n\
                       \u{9b}1m\u{202E}gpj.exe\u{2066}x\u{2069}y\u{200B}z\u{FEFF}\u{7f}\0\t\u{E0041}";
        let shown = visible(hostile);
        assert_eq!(
            shown,
            "a<ESC>]0;PWNED<BEL>b<ESC>[31mred<ESC>[2J<CR>\n\
             <CSI>1m<U+202E>gpj.exe<U+2066>x<U+2069>y<U+200B>z<U+FEFF><DEL><NUL><TAB><U+E0041>"
        );
        assert!(shown.chars().all(|c| c == '\n' || !must_escape(c)));
        assert!(!visible_line(hostile).contains('\n'));
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2067}', '\u{2068}',
        ] {
            assert!(visible(&c.to_string()).starts_with("<U+"), "{c:?}");
        }
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            assert_eq!(
                visible(&c.to_string()).chars().next(),
                Some(if c == '\n' { '\n' } else { '<' }),
                "{c:?}"
            );
        }
    }

    #[test]
    fn ordinary_text_in_any_script_is_unchanged() {
        for t in [
            "Салом! Ман аз Душанбе менависам.",
            "Здравствуйте, это мой рассказ.\nВторая строка.",
            "سلام، این شهادت من است",
            "emoji 👍🏽 and ‘quotes’ — and <tags> & 100%",
        ] {
            assert_eq!(visible(t), t);
        }
    }
}
