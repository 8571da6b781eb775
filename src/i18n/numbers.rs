//! Numbers as each language writes them: `1.5` in English, `1,5` in Tajik, Russian and Uzbek,
//! `۱٫۵` in Farsi.
//!
//! Fluent prints every number with Rust's `Display`, whatever the language, so the bundles are
//! given [`fluent_number`] as their number formatter: ICU4X's decimal formatter with the CLDR
//! data compiled in. Every number a source sees (sizes, counts, limits) is a Fluent argument
//! and goes through here; so do the digits of a date ([`digits`]).

use std::convert::Infallible;

use fluent_bundle::FluentValue;
use icu_decimal::input::Decimal;
use icu_decimal::options::{DecimalFormatterOptions, GroupingStrategy};
use icu_decimal::DecimalFormatter;
use intl_memoizer::concurrent::IntlLangMemoizer;
use intl_memoizer::Memoizable;

/// At most this many digits after the separator, unless the number's options say otherwise.
const DEFAULT_FRACTION_DIGITS: usize = 3;

/// Beyond this, a value is not a count or a size a page shows; it is printed as Fluent would.
const LARGEST: f64 = 1e15;

/// `value` as `locale` writes it, rounded to at most `max_fraction` digits after the
/// separator, trailing zeros dropped (`1.5`, never `1.50`). None if the locale is not one
/// ICU4X knows, or the value is not finite or too large.
pub(super) fn format(
    locale: &icu_locale_core::Locale,
    value: f64,
    max_fraction: usize,
) -> Option<String> {
    let formatter = DecimalFormatter::try_new(locale.into(), Default::default()).ok()?;
    Some(formatter.format_to_string(&decimal(value, max_fraction)?))
}

/// `text` with every run of ASCII digits written in `locale`'s digits, run for run and with
/// its leading zeros: `2024-03-05` stays so in Russian and becomes `۲۰۲۴-۰۳-۰۵` in Farsi.
pub(super) fn digits(locale: &icu_locale_core::Locale, text: &str) -> String {
    let mut options = DecimalFormatterOptions::default();
    options.grouping_strategy = Some(GroupingStrategy::Never);
    let Ok(formatter) = DecimalFormatter::try_new(locale.into(), options) else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len() * 2);
    let mut rest = text;
    while !rest.is_empty() {
        let run = rest.bytes().take_while(u8::is_ascii_digit).count();
        if run == 0 {
            let next = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            out.push_str(&rest[..next]);
            rest = &rest[next..];
            continue;
        }
        let (number, tail) = rest.split_at(run);
        match (Decimal::try_from_str(number), i16::try_from(run)) {
            (Ok(mut d), Ok(width)) => {
                d.absolute.pad_start(width);
                out.push_str(&formatter.format_to_string(&d));
            }
            _ => out.push_str(number),
        }
        rest = tail;
    }
    out
}

/// `value` rounded to `max_fraction` digits (at most 6) as a decimal, trailing zeros dropped.
fn decimal(value: f64, max_fraction: usize) -> Option<Decimal> {
    let places = i16::try_from(max_fraction.min(6)).ok()?;
    let scaled = (value * 10f64.powi(places.into())).round();
    if !scaled.is_finite() || scaled.abs() >= LARGEST {
        return None;
    }
    // In range: |scaled| < 10^15 fits an i64 exactly.
    #[allow(clippy::cast_possible_truncation)]
    let mut d = Decimal::from(scaled as i64);
    d.multiply_pow10(-places);
    d.absolute.trim_end();
    Some(d)
}

/// The number formatter of every Fluent bundle: numbers in the bundle's language; anything
/// else (strings) as Fluent prints it.
pub(super) fn fluent_number(value: &FluentValue<'_>, intls: &IntlLangMemoizer) -> Option<String> {
    let FluentValue::Number(n) = value else {
        return None;
    };
    let max = n
        .options
        .maximum_fraction_digits
        .unwrap_or(DEFAULT_FRACTION_DIGITS);
    intls
        .with_try_get::<BundleLocale, _, _>((), |l| format(&l.0, n.value, max))
        .ok()
        .flatten()
}

/// A bundle's language as ICU4X names it, kept by Fluent's memoizer for that bundle.
struct BundleLocale(icu_locale_core::Locale);

impl Memoizable for BundleLocale {
    type Args = ();
    type Error = Infallible;

    fn construct(lang: unic_langid::LanguageIdentifier, _: ()) -> Result<Self, Infallible> {
        // Our codes (`tg`, `uz-Cyrl`, …) are valid in both; an unknown one reads as `und`,
        // which writes numbers as English does.
        let locale = lang
            .to_string()
            .parse()
            .unwrap_or(icu_locale_core::Locale::UNKNOWN);
        Ok(BundleLocale(locale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locale(code: &str) -> icu_locale_core::Locale {
        code.parse().unwrap()
    }

    #[test]
    fn each_language_writes_its_decimal_separator_and_digits() {
        for (code, one_and_a_half, twenty_thousand) in [
            ("en", "1.5", "20,000"),
            ("ru", "1,5", "20\u{a0}000"),
            ("tg", "1,5", "20\u{a0}000"),
            ("uz", "1,5", "20\u{a0}000"),
            ("uz-Cyrl", "1,5", "20\u{a0}000"),
            ("fa", "۱٫۵", "۲۰٬۰۰۰"),
        ] {
            let l = locale(code);
            assert_eq!(
                format(&l, 1.5, 1).as_deref(),
                Some(one_and_a_half),
                "{code}"
            );
            assert_eq!(
                format(&l, 20000.0, 0).as_deref(),
                Some(twenty_thousand),
                "{code}"
            );
        }
    }

    #[test]
    fn rounds_and_drops_trailing_zeros() {
        let en = locale("en");
        assert_eq!(format(&en, 2.0, 1).as_deref(), Some("2"));
        assert_eq!(format(&en, 1.96, 1).as_deref(), Some("2"));
        assert_eq!(format(&en, 1.25, 3).as_deref(), Some("1.25"));
        assert_eq!(format(&en, 0.0, 1).as_deref(), Some("0"));
        assert_eq!(format(&en, -3.0, 0).as_deref(), Some("-3"));
        assert_eq!(format(&en, f64::NAN, 1), None);
        assert_eq!(format(&en, f64::INFINITY, 1), None);
        assert_eq!(format(&en, 1e16, 0), None);
    }

    #[test]
    fn digits_keep_their_width_and_everything_else() {
        assert_eq!(digits(&locale("fa"), "2024-03-05"), "۲۰۲۴-۰۳-۰۵");
        assert_eq!(digits(&locale("ru"), "2024-03-05"), "2024-03-05");
        assert_eq!(digits(&locale("en"), "day 0007, ok"), "day 0007, ok");
        assert_eq!(digits(&locale("fa"), ""), "");
    }
}
