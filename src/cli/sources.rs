//! Naming a source: what an editor types (`amber heron`, the folder `decrypt` made, its
//! digits) turned into exactly one source of a bundle, or an answer that helps.
//!
//! `reply` and the inbox share it. A designation alone can be shared by two sources (see
//! `designation`), so a name that fits several is never guessed at: the answer lists them
//! with the digits that tell them apart. A typo gets the nearest designations ("did you
//! mean"). What the editor typed is never repeated back: a codename or key pasted in the
//! wrong place must not end up on the screen or in a terminal's scrollback.

use crate::designation;
use crate::store::SourceInfo;

/// Fewest digits of an id accepted on their own: fewer would fit too many sources.
pub(crate) const MIN_DIGITS: usize = 6;
/// Most sources listed in one answer.
const MAX_LISTED: usize = 8;
/// Largest edit distance between a typo and a designation it may have meant.
const MAX_DISTANCE: usize = 3;

/// Why a name did not give one source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unresolved {
    /// Nothing typed, or fewer digits than [`MIN_DIGITS`] and no words.
    #[error("give the source's name as decrypt's folder shows it (amber-heron-3f2a91c0…), or at least {MIN_DIGITS} digits of its id")]
    TooShort,
    /// No source has that name; `near` are the labels of designations a typo may have meant.
    #[error("no source in this bundle has that name{}", did_you_mean(.near))]
    NotFound {
        /// Labels of the nearest sources, nearest first.
        near: Vec<String>,
    },
    /// Several sources fit; their labels (at most [`MAX_LISTED`]) and how many fit in all.
    #[error("{total} sources fit that name: {}{}; give more of the digits", .fits.join(", "), more(*.total, .fits.len()))]
    Ambiguous {
        /// Labels of sources that fit.
        fits: Vec<String>,
        /// How many fit.
        total: usize,
    },
}

fn did_you_mean(near: &[String]) -> String {
    match near {
        [] => "; run sanduq fetch on the online machine if it is new".to_owned(),
        _ => format!("; did you mean {}?", near.join(" or ")),
    }
}

fn more(total: usize, shown: usize) -> String {
    if total > shown {
        format!(" and {} more", total - shown)
    } else {
        String::new()
    }
}

/// What was typed: designation words (lower case, single spaces) and digits of the id.
fn parse(wanted: &str) -> (String, String) {
    let lower = wanted.trim().to_lowercase();
    let mut tokens: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '_' | '(' | ')' | '/' | ','))
        .filter(|t| !t.is_empty())
        .collect();
    let digits = match tokens.last() {
        Some(t) if t.len() >= MIN_DIGITS && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let t = (*t).to_owned();
            tokens.pop();
            t
        }
        _ => String::new(),
    };
    (tokens.join(" "), digits)
}

/// The one source of `sources` that `wanted` names: its designation ("amber heron"), its
/// label ("amber heron 3f2a91c0"), the folder decrypt gives it (today's, with the whole id,
/// or an older one with six digits), its id, or the first digits of its id (at least
/// [`MIN_DIGITS`]). Case, dashes and spaces do not matter.
pub(crate) fn resolve<'a>(
    sources: &'a [SourceInfo],
    wanted: &str,
) -> Result<&'a SourceInfo, Unresolved> {
    let (words, digits) = parse(wanted);
    let few_digits =
        words.bytes().all(|b| b.is_ascii_hexdigit()) && words.bytes().any(|b| b.is_ascii_digit());
    if digits.is_empty() && (words.is_empty() || few_digits) {
        return Err(Unresolved::TooShort);
    }
    let fits: Vec<&SourceInfo> = sources
        .iter()
        .filter(|s| words.is_empty() || designation::of(s.id) == words)
        .filter(|s| s.id.to_string().starts_with(&digits))
        .collect();
    match fits.as_slice() {
        [one] => Ok(one),
        [] if words.is_empty() => Err(Unresolved::NotFound { near: Vec::new() }),
        [] => Err(Unresolved::NotFound {
            near: nearest(sources, &words),
        }),
        many => {
            let mut labels: Vec<String> = many.iter().map(|s| designation::label(s.id)).collect();
            labels.sort();
            labels.truncate(MAX_LISTED);
            Err(Unresolved::Ambiguous {
                fits: labels,
                total: many.len(),
            })
        }
    }
}

/// The labels of the sources whose designation is nearest `words`, within [`MAX_DISTANCE`].
fn nearest(sources: &[SourceInfo], words: &str) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = sources
        .iter()
        .map(|s| {
            let d = strsim::levenshtein(&designation::of(s.id), words);
            (d, designation::label(s.id))
        })
        .filter(|(d, _)| *d <= MAX_DISTANCE)
        .collect();
    scored.sort();
    let best = scored.first().map_or(0, |(d, _)| *d);
    scored
        .into_iter()
        .take_while(|(d, _)| *d == best)
        .take(MAX_LISTED)
        .map(|(_, l)| l)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(id: &str) -> SourceInfo {
        SourceInfo {
            id: id.parse().unwrap(),
            desk: "default".into(),
            day: "2026-11-28".into(),
            reply_recipient: Some("age1x".into()),
        }
    }

    #[test]
    fn every_way_decrypt_and_people_name_a_source_finds_it() {
        let a = source("000102030405060708090a0b0c0d0e0f");
        let b = source("0101ffffffffffffffffffffffffffff");
        let all = vec![a.clone(), b.clone()];
        let name = designation::of(a.id);
        let found = |w: &str| resolve(&all, w).map(|s| s.id);
        assert_eq!(found(&name), Ok(a.id));
        assert_eq!(found(&name.to_uppercase().replace(' ', "-")), Ok(a.id));
        assert_eq!(found(&designation::label(a.id)), Ok(a.id));
        assert_eq!(found(&designation::folder(b.id)), Ok(b.id));
        assert_eq!(found(&format!("{}/", designation::folder(b.id))), Ok(b.id));
        let old_folder = format!("{}-0101ff", designation::of(b.id).replace(' ', "-"));
        assert_eq!(found(&old_folder), Ok(b.id));
        assert_eq!(found("0101ff"), Ok(b.id));
        assert_eq!(found(&b.id.to_string()), Ok(b.id));
        assert_eq!(found(&format!("({})", designation::short(a.id))), Ok(a.id));
        assert_eq!(found("0001"), Err(Unresolved::TooShort), "too few digits");
        assert_eq!(found("  "), Err(Unresolved::TooShort));
        assert!(matches!(found("ffffff"), Err(Unresolved::NotFound { .. })));
    }

    #[test]
    fn a_typo_gets_the_nearest_names_and_a_shared_name_lists_every_fit() {
        let a = source("000102030405060708090a0b0c0d0e0f"); // amber anchor
        let twin = source("00010000000000000000000000000000"); // amber anchor too
        let far = source("7f7f0000000000000000000000000000");
        let all = vec![a.clone(), twin.clone(), far.clone()];
        let err = resolve(&all, "ambr anchr").unwrap_err();
        let Unresolved::NotFound { near } = &err else {
            panic!("{err:?}")
        };
        let mut both = vec![designation::label(a.id), designation::label(twin.id)];
        both.sort();
        assert_eq!(near, &both);
        assert!(
            err.to_string().contains("did you mean amber anchor 0001"),
            "{err}"
        );
        assert!(
            !err.to_string().contains("ambr"),
            "what was typed is not echoed"
        );
        let Err(Unresolved::NotFound { near }) = resolve(&all, "zzzz qqqq") else {
            panic!()
        };
        assert!(near.is_empty(), "nothing near: {near:?}");

        let err = resolve(&all, "amber anchor").unwrap_err();
        assert_eq!(
            err,
            Unresolved::Ambiguous {
                fits: both,
                total: 2
            }
        );
        assert!(err.to_string().contains("00010000"), "{err}");
        // Digits beside the words choose one of the two.
        assert_eq!(
            resolve(&all, &designation::label(twin.id)).map(|s| s.id),
            Ok(twin.id)
        );
        assert_eq!(resolve(&all, "amber-anchor-000102").map(|s| s.id), Ok(a.id));
    }
}
