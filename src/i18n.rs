//! The source site's languages: Fluent messages compiled into the binary.
//!
//! Every string a source can see comes from `locales/<code>.ftl`. The locale is chosen by the
//! first segment of the URL path (`/tg/…`), never by `Accept-Language` (Tor Browser sends
//! `en-US` for everyone) nor by a cookie. A message missing from a locale falls back to
//! English at run time, and a test fails the build on any missing or extra message, any
//! syntax error, and any English left in another locale's pages.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

mod numbers;

/// One language of the source site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale(usize);

/// Code (URL segment and `lang`), right-to-left, Fluent source. In the order of the picker.
const LOCALES: [(&str, bool, &str); 6] = [
    ("tg", false, include_str!("../locales/tg.ftl")),
    ("ru", false, include_str!("../locales/ru.ftl")),
    ("uz", false, include_str!("../locales/uz.ftl")),
    ("uz-Cyrl", false, include_str!("../locales/uz-Cyrl.ftl")),
    ("fa", true, include_str!("../locales/fa.ftl")),
    ("en", false, include_str!("../locales/en.ftl")),
];

const ENGLISH: Locale = Locale(LOCALES.len() - 1);

static BUNDLES: LazyLock<Vec<FluentBundle<FluentResource>>> = LazyLock::new(|| {
    LOCALES
        .iter()
        .map(|(code, _, source)| {
            let lang = code
                .parse::<unic_langid::LanguageIdentifier>()
                .unwrap_or_default();
            let mut bundle = FluentBundle::new_concurrent(vec![lang]);
            // No bidi isolation marks around placeables: pages set `dir` themselves, and the
            // marks would sit invisibly inside numbers and codenames.
            bundle.set_use_isolating(false);
            // Numbers as the language writes them (`1,5`, `۱٫۵`), not as Rust prints them.
            bundle.set_formatter(Some(numbers::fluent_number));
            // A syntax error keeps the messages that did parse (and fails `tests` below).
            let resource = FluentResource::try_new((*source).to_owned()).unwrap_or_else(|(r, _)| r);
            let _ = bundle.add_resource(resource);
            bundle
        })
        .collect()
});

impl Locale {
    /// Every locale, in the picker's order.
    pub fn all() -> impl Iterator<Item = Locale> {
        (0..LOCALES.len()).map(Locale)
    }

    /// English, the reference locale.
    pub fn english() -> Locale {
        ENGLISH
    }

    /// The locale whose code is `code` (exactly, as in URLs: `uz-Cyrl`).
    pub fn from_code(code: &str) -> Option<Locale> {
        LOCALES.iter().position(|(c, _, _)| *c == code).map(Locale)
    }

    /// The code: the URL path segment and the page's `lang`.
    pub fn code(self) -> &'static str {
        LOCALES[self.0].0
    }

    /// Whether the script runs right to left.
    pub fn rtl(self) -> bool {
        LOCALES[self.0].1
    }

    /// The Fluent source of this locale.
    pub fn source(self) -> &'static str {
        LOCALES[self.0].2
    }

    /// The digits of `text` (a date, say) in this language's digits: Persian in Farsi.
    pub fn digits(self, text: &str) -> String {
        numbers::digits(&self.icu(), text)
    }

    /// This locale as ICU4X names it.
    fn icu(self) -> icu_locale_core::Locale {
        self.code()
            .parse()
            .unwrap_or(icu_locale_core::Locale::UNKNOWN)
    }

    /// The message `key` with `args`, or its English text if this locale lacks it, or the key
    /// itself if English lacks it too (a test prevents both).
    pub fn message(self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        format(self, key, args)
            .or_else(|| format(ENGLISH, key, args))
            .unwrap_or_else(|| key.to_owned())
    }
}

fn format(locale: Locale, key: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
    let bundle = &BUNDLES[locale.0];
    let pattern = bundle.get_message(key)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    errors.is_empty().then(|| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ids(source: &str) -> Vec<String> {
        source
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_owned()))
            .collect()
    }

    #[test]
    fn every_locale_parses_and_has_exactly_the_english_messages() {
        let english: BTreeSet<String> = ids(ENGLISH.source()).into_iter().collect();
        assert!(english.len() > 50);
        for l in Locale::all() {
            if let Err((_, errors)) = FluentResource::try_new(l.source().to_owned()) {
                panic!("{}.ftl has syntax errors: {errors:?}", l.code());
            }
            let list = ids(l.source());
            let set: BTreeSet<String> = list.iter().cloned().collect();
            assert_eq!(
                set.len(),
                list.len(),
                "{}: a message defined twice",
                l.code()
            );
            let missing: Vec<_> = english.difference(&set).collect();
            let extra: Vec<_> = set.difference(&english).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", l.code());
            assert!(extra.is_empty(), "{} has unknown {extra:?}", l.code());
            for id in &english {
                assert!(
                    format(l, id, Some(&sample_args())).is_some(),
                    "{}: {id} does not format",
                    l.code()
                );
            }
        }
    }

    fn sample_args() -> FluentArgs<'static> {
        let mut a = FluentArgs::new();
        for k in ["count", "files", "n", "min", "max", "days"] {
            a.set(k, 3);
        }
        a.set("size", "2 GiB");
        a.set("title", "T");
        a
    }

    #[test]
    fn placeholders_and_plurals_are_filled_in_every_locale() {
        for l in Locale::all() {
            let mut args = FluentArgs::new();
            args.set("files", 17);
            args.set("size", "1.5 GiB");
            let hint = l.message("files-hint", Some(&args));
            assert!(
                hint.contains(&l.digits("17")) && hint.contains("1.5 GiB"),
                "{}: {hint}",
                l.code()
            );
            for count in [1, 2, 5, 21] {
                let mut args = FluentArgs::new();
                args.set("count", count);
                let text = l.message("thanks-body", Some(&args));
                assert!(!text.contains('{'), "{}: {text}", l.code());
            }
        }
        // How long a desk keeps things: every count reads, Russian in its three forms.
        for l in Locale::all() {
            for days in [1, 2, 5, 21, 90] {
                let mut args = FluentArgs::new();
                args.set("days", days);
                let text = l.message("retention-days", Some(&args));
                assert!(
                    text.contains(&l.digits(&days.to_string())) && !text.contains('{'),
                    "{}: {text}",
                    l.code()
                );
            }
        }
        let ru = Locale::from_code("ru").unwrap_or(ENGLISH);
        for (days, form) in [(21, "21 день"), (2, "2 дня"), (90, "90 дней")] {
            let mut args = FluentArgs::new();
            args.set("days", days);
            let text = ru.message("retention-days", Some(&args));
            assert!(text.contains(form), "{text}");
        }
        let mut args = FluentArgs::new();
        args.set("count", 1);
        assert!(ENGLISH
            .message("thanks-body", Some(&args))
            .contains("1 item."));
    }

    #[test]
    fn numbers_in_messages_are_written_as_the_language_writes_them() {
        let fa = Locale::from_code("fa").unwrap();
        let ru = Locale::from_code("ru").unwrap();
        let mut args = FluentArgs::new();
        args.set("max", 20000);
        let text = fa.message("form-error-too-long", Some(&args));
        assert!(text.contains("۲۰٬۰۰۰") && !text.contains("20000"), "{text}");
        let text = ru.message("form-error-too-long", Some(&args));
        assert!(text.contains("20\u{a0}000"), "{text}");
        let mut args = FluentArgs::new();
        args.set("count", 3);
        let text = fa.message("thanks-body", Some(&args));
        assert!(text.contains("۳ مورد"), "{text}");
        assert_eq!(fa.digits("2024-03-05"), "۲۰۲۴-۰۳-۰۵");
        assert_eq!(ru.digits("2024-03-05"), "2024-03-05");
    }

    #[test]
    fn scripts_use_their_own_letters() {
        let tg = Locale::from_code("tg").unwrap().source();
        for c in ['щ', 'ц', 'ы', 'ь', 'Щ', 'Ц', 'Ы', 'Ь'] {
            assert!(!tg.contains(c), "tg.ftl uses the Russian letter {c}");
        }
        for c in ['ғ', 'ӣ', 'қ', 'ӯ', 'ҳ', 'ҷ'] {
            assert!(tg.contains(c), "tg.ftl never uses {c}");
        }
        let uz = Locale::from_code("uz").unwrap().source();
        for bad in ["o'", "g'", "o‘", "g‘", "o`", "g`", "O'", "G'", "O‘", "G‘"] {
            assert!(
                !uz.contains(bad),
                "uz.ftl writes {bad:?} instead of the modifier letter ʻ"
            );
        }
        assert!(uz.contains("oʻ") || uz.contains("gʻ"));
        let fa = Locale::from_code("fa").unwrap().source();
        assert!(
            !fa.contains('\u{064A}') && !fa.contains('\u{0643}'),
            "fa.ftl uses Arabic ي or ك"
        );
        assert!(Locale::from_code("fa").unwrap().rtl());
        let names: Vec<String> = Locale::all()
            .map(|l| l.message("language-name", None))
            .collect();
        assert_eq!(
            names,
            [
                "Тоҷикӣ",
                "Русский",
                "Oʻzbekcha",
                "Ўзбекча",
                "فارسی",
                "English"
            ]
        );
    }
}
