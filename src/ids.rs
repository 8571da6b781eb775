//! Random identifiers and secrets.
//!
//! Every id in sanduq is 128 random bits from the OS CSPRNG, never a counter, so that ids say
//! nothing about order or volume. Paths on disk are built only from values of [`Id`], which
//! can hold nothing but 32 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// Panics if the OS has no entropy source; sanduq cannot run safely without one.
pub fn fill_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// A random 128-bit identifier, shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; 16]);

impl Id {
    /// A fresh random id.
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        fill_random(&mut b);
        Id(b)
    }

    /// The 16 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The id of these 16 raw bytes (as [`Id::as_bytes`] gave them).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Id(bytes)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

/// The text was not 32 lowercase hex digits.
#[derive(Debug, thiserror::Error)]
#[error("not a sanduq id (32 lowercase hex digits)")]
pub struct BadId;

impl FromStr for Id {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(BadId);
        }
        let mut b = [0u8; 16];
        hex::decode_to_slice(s, &mut b).map_err(|_| BadId)?;
        Ok(Id(b))
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Today's date in UTC as `YYYY-MM-DD`: the only time sanduq keeps in plaintext.
pub fn utc_day() -> String {
    format_day(utc_date())
}

/// Today's date in UTC.
pub fn utc_date() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// `date` as `YYYY-MM-DD`.
pub fn format_day(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The date a `YYYY-MM-DD` day names, if it names one; anything else (a day from a hostile
/// server, say) is `None`.
pub fn parse_day(s: &str) -> Option<time::Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|d| d.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|d| d.parse::<u16>().ok())
    };
    let month = time::Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    let day = u8::try_from(digits(8..10)?).ok()?;
    time::Date::from_calendar_date(i32::from(digits(0..4)?), month, day).ok()
}

/// The exact time in UTC (RFC 3339). Only ever written inside encrypted metadata.
pub fn utc_timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_junk() {
        let id = Id::random();
        let s = id.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(s.parse::<Id>().ok(), Some(id));
        for bad in [
            "",
            "../../etc/passwd",
            &s.to_uppercase(),
            &format!("{s}0"),
            "g".repeat(32).as_str(),
        ] {
            assert!(bad.parse::<Id>().is_err(), "{bad:?} accepted");
        }
        assert_ne!(Id::random(), Id::random());
    }

    #[test]
    fn days_parse_only_when_they_name_a_date() {
        let d = utc_date();
        assert_eq!(parse_day(&format_day(d)), Some(d));
        assert_eq!(
            parse_day("2026-02-28").map(format_day).as_deref(),
            Some("2026-02-28")
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-1-01",
            "+026-01-01",
            "2026/01/01",
            "",
        ] {
            assert_eq!(parse_day(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn day_has_no_time_of_day() {
        let d = utc_day();
        assert_eq!(d.len(), 10);
        assert_eq!(&d[4..5], "-");
    }
}
