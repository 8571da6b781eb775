//! Human-friendly designations for sources: "amber heron", derived from the source's id.
//!
//! Editors talk about sources; a 32-digit id is easy to mistype and hard to remember. The
//! designation is an adjective and a noun picked by the id's first bytes: stable, needing no
//! storage, and revealing nothing that the id does not. With 128 × 128 pairs two sources
//! share one within months (100 sources a month: even odds after about 150 sources), so the
//! words never appear alone: people see [`label`], the words and the id's first 8 digits
//! ("amber heron 3f2a91c0", 32 bits: even odds of a shared label only after some 77,000
//! sources), and where names must be unique (folders) the whole id follows: a shorter part of
//! it would let two sources share a folder (six digits did, for one pair in 4,800 sources).
//! Where a label is still shared, naming the source (`sources::resolve`) lists both.

use crate::ids::Id;

const ADJECTIVES: [&str; 128] = [
    "amber", "ancient", "autumn", "azure", "bold", "brave", "breezy", "bright", "brisk", "calm",
    "careful", "cedar", "clear", "clever", "cloudy", "coastal", "copper", "coral", "cosy",
    "crimson", "crisp", "curious", "dappled", "dawn", "deep", "distant", "dusky", "eager", "early",
    "earnest", "eastern", "emerald", "even", "faithful", "fern", "fierce", "firm", "flint",
    "floral", "fresh", "frosty", "gentle", "gilded", "glad", "golden", "graceful", "granite",
    "green", "hardy", "hazel", "hidden", "highland", "honest", "humble", "indigo", "ivory", "jade",
    "jolly", "keen", "kind", "late", "lavender", "leafy", "light", "lively", "loyal", "lucky",
    "lunar", "maple", "meadow", "mellow", "merry", "mild", "misty", "modest", "morning", "mossy",
    "nimble", "noble", "northern", "oaken", "ochre", "olive", "open", "orange", "patient", "pearl",
    "pine", "plain", "polar", "proud", "quiet", "rapid", "rosy", "royal", "rustic", "sandy",
    "scarlet", "serene", "silent", "silver", "simple", "slate", "snowy", "soft", "solar",
    "southern", "spring", "steady", "stone", "stormy", "strong", "summer", "sunny", "swift",
    "tall", "tawny", "tidal", "topaz", "tranquil", "true", "valley", "velvet", "violet", "warm",
    "western", "willow", "winter",
];

const NOUNS: [&str; 128] = [
    "acorn",
    "anchor",
    "apple",
    "apricot",
    "arrow",
    "aspen",
    "badger",
    "barley",
    "beacon",
    "bear",
    "beaver",
    "birch",
    "bison",
    "bluebell",
    "bridge",
    "brook",
    "canyon",
    "cedar",
    "cherry",
    "cliff",
    "clover",
    "comet",
    "cormorant",
    "crane",
    "creek",
    "crow",
    "daisy",
    "deer",
    "delta",
    "dolphin",
    "dove",
    "dune",
    "eagle",
    "elm",
    "falcon",
    "fern",
    "finch",
    "fjord",
    "flint",
    "fox",
    "garden",
    "gazelle",
    "glacier",
    "grove",
    "gull",
    "harbor",
    "hare",
    "hawk",
    "heron",
    "hill",
    "horizon",
    "ibex",
    "island",
    "jasmine",
    "juniper",
    "kestrel",
    "lake",
    "lantern",
    "lark",
    "laurel",
    "lily",
    "lynx",
    "magpie",
    "maple",
    "marten",
    "meadow",
    "mesa",
    "mint",
    "moon",
    "moth",
    "oak",
    "orchard",
    "osprey",
    "otter",
    "owl",
    "panther",
    "pebble",
    "pelican",
    "pine",
    "plover",
    "pond",
    "poplar",
    "poppy",
    "prairie",
    "quail",
    "rain",
    "raven",
    "reed",
    "ridge",
    "river",
    "robin",
    "rose",
    "rowan",
    "saffron",
    "sage",
    "salmon",
    "sparrow",
    "spruce",
    "star",
    "stone",
    "stork",
    "stream",
    "summit",
    "swallow",
    "swan",
    "sycamore",
    "thistle",
    "thrush",
    "tiger",
    "tulip",
    "valley",
    "violet",
    "walnut",
    "wave",
    "willow",
    "wolf",
    "wren",
    "yarrow",
    "yew",
    "zephyr",
    "basil",
    "cove",
    "fig",
    "kite",
    "larch",
    "petrel",
    "linden",
    "marsh",
];

/// "amber heron": the designation of `id`.
pub fn of(id: Id) -> String {
    let b = id.as_bytes();
    format!(
        "{} {}",
        ADJECTIVES[usize::from(b[0]) % ADJECTIVES.len()],
        NOUNS[usize::from(b[1]) % NOUNS.len()]
    )
}

/// How many digits of the id [`label`] shows.
pub const SHORT_DIGITS: usize = 8;

/// "3f2a91c0": the first [`SHORT_DIGITS`] digits of `id`.
pub fn short(id: Id) -> String {
    let mut s = id.to_string();
    s.truncate(SHORT_DIGITS);
    s
}

/// "amber heron 3f2a91c0": how a source is shown to people, everywhere.
pub fn label(id: Id) -> String {
    format!("{} {}", of(id), short(id))
}

/// "amber-heron-3f2a91…" (the designation, then all 32 digits of the id): a unique,
/// filesystem-safe name for `id`.
pub fn folder(id: Id) -> String {
    format!("{}-{id}", of(id).replace(' ', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn designations_are_stable_distinct_words() {
        let mut a = ADJECTIVES.to_vec();
        a.sort();
        a.dedup();
        assert_eq!(a.len(), 128, "no repeated adjective");
        let mut n = NOUNS.to_vec();
        n.sort();
        n.dedup();
        assert_eq!(n.len(), 128, "no repeated noun");
        let id: Id = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
        assert_eq!(of(id), "amber anchor");
        assert_eq!(folder(id), "amber-anchor-000102030405060708090a0b0c0d0e0f");
        let twin: Id = "000102030405060708090a0b0c0d0e0e".parse().unwrap();
        assert_ne!(folder(id), folder(twin), "ids that differ only at the end");
        assert!(of(id).chars().all(|c| c.is_ascii_lowercase() || c == ' '));
        assert_eq!(label(id), "amber anchor 00010203");
        assert_ne!(
            label(id),
            label("0001020405060708090a0b0c0d0e0f00".parse().unwrap())
        );
    }
}
