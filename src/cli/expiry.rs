//! The warning `sanduq fetch` gives, on stderr, about items of the desk that the server will
//! delete within a week under the desk's retention and that are not yet in the bundle.
//!
//! The retention comes from a header of the listing (`sanduq-retention-days`), a server's
//! word like the rest: a value that is not a plain number of days in the accepted range is
//! ignored, with a note, and item days that are not dates are left out.

use reqwest::header::HeaderValue;
use time::{Date, Duration};

use crate::config::MAX_RETENTION_DAYS;
use crate::ids::{format_day, parse_day};
use crate::store::retention::expires_on;
use crate::store::ItemRow;

/// How many days ahead `fetch` warns.
pub(super) const WARN_DAYS: i64 = 7;

/// The retention a listing's header states: `Ok(None)` without the header (the desk keeps
/// items until an editor deletes them), `Err(())` if it is not one sanduq accepts.
pub(super) fn retention(header: Option<&HeaderValue>) -> Result<Option<u32>, ()> {
    let Some(v) = header else {
        return Ok(None);
    };
    let b = v.as_bytes();
    if b.is_empty() || b.len() > 5 || !b.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let days: u32 = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(())?;
    if days == 0 || days > MAX_RETENTION_DAYS {
        return Err(());
    }
    Ok(Some(days))
}

/// The warning about `items` (none of them in the bundle yet) under a retention of `days`
/// on `today`, if any of them goes within [`WARN_DAYS`]: one line, counts and a date only.
pub(super) fn warning(items: &[ItemRow], days: u32, today: Date) -> Option<String> {
    let horizon = today.checked_add(Duration::days(WARN_DAYS))?;
    let soon: Vec<Date> = items
        .iter()
        .filter_map(|i| parse_day(&i.day))
        .filter_map(|d| expires_on(d, days))
        .filter(|gone| *gone <= horizon)
        .collect();
    let first = soon.iter().min()?;
    Some(format!(
        "warning: {} item{} not yet in this bundle will be deleted from the server within {WARN_DAYS} days (this desk keeps items {days} days; the first may go on {}); this fetch downloads {}: if it fails, fetch again before then",
        soon.len(),
        if soon.len() == 1 { "" } else { "s" },
        format_day(*first),
        if soon.len() == 1 { "it" } else { "them" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Id;

    fn item(day: &str) -> ItemRow {
        ItemRow {
            id: Id::random(),
            source: Id::random(),
            desk: "d".into(),
            day: day.into(),
            size: 1,
            meta_size: 1,
        }
    }

    #[test]
    fn only_plain_day_counts_in_range_are_taken() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(retention(None), Ok(None));
        assert_eq!(retention(Some(&h("90"))), Ok(Some(90)));
        for bad in [
            "0",
            "-1",
            "36501",
            "99999999999",
            " 9",
            "9 ",
            "1e3",
            "x",
            "",
        ] {
            assert_eq!(retention(Some(&h(bad))), Err(()), "{bad:?} accepted");
        }
    }

    #[test]
    fn warns_only_about_items_that_go_within_a_week() {
        let today = parse_day("2026-03-20").expect("a day");
        // Kept 30 days: received 2026-02-24, it may go on 2026-03-27, 7 days from today.
        let due = item("2026-02-24");
        let later = item("2026-02-25");
        let junk = item("2026-02-xx");
        assert_eq!(warning(&[later.clone(), junk.clone()], 30, today), None);
        let w = warning(&[later, due, junk, item("2026-01-01")], 30, today).expect("a warning");
        assert!(w.contains("2 items"), "{w}");
        assert!(w.contains("the first may go on 2026-02-01"), "{w}");
    }
}
