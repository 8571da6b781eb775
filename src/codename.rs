//! Codenames: how a source comes back without the server holding any secret of theirs.
//!
//! A codename is seven words from the EFF large wordlist (7,776 words, ~90.3 bits), drawn
//! from the OS CSPRNG. At login, `argon2id(normalised codename, install pepper)` gives 64
//! bytes; HKDF-SHA-256 splits them into a login id (the server stores only its SHA-256), an
//! X25519 secret and a post-quantum (X-Wing) seed. The server stores the age recipient of one
//! of the two, the kind its desk's editors use, so editors can reply. Nothing derived from a
//! codename is written anywhere but the login hash and that recipient.
//!
//! Each source's row records the argon2 cost its codename was derived with, so that an
//! operator can raise the cost for new sources without locking out the old ones, and the
//! install records a fingerprint of its pepper, so that a wrong pepper stops the server
//! instead of silently failing every login (see [`install`]).

mod deriver;
mod gate;
pub mod install;

pub use deriver::{Deriver, LOGIN_QUEUE_PER_PERMIT, MAX_COSTS};

use std::fmt;
use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Words in a codename.
pub const WORDS: usize = 7;
/// Longest codename input accepted, in bytes, checked before any hashing.
pub const MAX_INPUT_BYTES: usize = 256;
/// The smallest argon2 memory cost a configuration may set, in KiB, outside tests.
pub const MIN_MEMORY_KIB: u32 = 19 * 1024;

static WORDLIST: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("../data/eff_large_wordlist.txt")
        .lines()
        .collect()
});

/// The EFF large wordlist.
pub fn wordlist() -> &'static [&'static str] {
    &WORDLIST
}

/// What can go wrong with a codename.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Longer than [`MAX_INPUT_BYTES`].
    #[error("codename too long")]
    TooLong,
    /// Not seven words of the list.
    #[error("not a codename")]
    Malformed,
    /// Argon2 parameters out of range.
    #[error("bad argon2 parameters: {0}")]
    Params(String),
    /// Too many logins wait for a derivation already; this one was not queued.
    #[error("too many logins are waiting")]
    Busy,
}

/// A codename, wiped from memory when dropped; `Debug` never shows it.
pub struct Codename(Zeroizing<String>);

impl Codename {
    /// A fresh random codename.
    pub fn generate() -> Codename {
        let list = wordlist();
        let mut words = Vec::with_capacity(WORDS);
        while words.len() < WORDS {
            let mut b = [0u8; 2];
            crate::ids::fill_random(&mut b);
            let r = u16::from_le_bytes(b) as usize;
            // Rejection sampling: 8 × 7,776 = 62,208 ≤ 65,536 keeps every word equally likely.
            if r < 8 * list.len() {
                words.push(list[r % list.len()]);
            }
        }
        Codename(Zeroizing::new(words.join(" ")))
    }

    /// Parses what a source typed: case, surrounding and repeated spaces are forgiven; the
    /// result must be seven words of the list.
    pub fn parse(input: &str) -> Result<Codename, Error> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(Error::TooLong);
        }
        let lower = Zeroizing::new(input.to_lowercase());
        let words: Vec<&str> = lower.split_whitespace().collect();
        if words.len() != WORDS || !words.iter().all(|w| wordlist().binary_search(w).is_ok()) {
            return Err(Error::Malformed);
        }
        Ok(Codename(Zeroizing::new(words.join(" "))))
    }

    /// The normalised codename: lowercase words joined by single spaces.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Codename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Codename(***)")
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub time: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Default for Cost {
    /// m = 64 MiB, t = 3, p = 1.
    fn default() -> Self {
        Cost {
            memory_kib: 64 * 1024,
            time: 3,
            lanes: 1,
        }
    }
}

/// What a codename opens. Made on a blocking thread whose stack is then scrubbed, and handed
/// on boxed, so that its secrets are never moved (copied) again: they are wiped where they
/// lie when it is dropped.
pub struct Derived {
    /// Identifies the source at login; the server stores only [`Derived::login_hash`].
    login_id: Zeroizing<[u8; 32]>,
    /// The source's reply identity, held in memory for a session only.
    pub reply_identity: age::x25519::Identity,
    /// Its 32 secret bytes, which a session seals (see `web::session`).
    reply_secret: Zeroizing<[u8; 32]>,
    /// The seed of its post-quantum reply identity, for a desk whose editors have
    /// post-quantum keys (age does not let a reply mix the two kinds). Kept as its seed: the
    /// expanded identity takes 2 KiB a session.
    pq_seed: Zeroizing<[u8; 32]>,
    /// The public halves of both, computed with the secrets.
    recipients: (String, String),
    /// The argon2 cost it was derived with, which its source's row records.
    pub cost: Cost,
}

impl Derived {
    /// SHA-256 of the login id: the stored form.
    pub fn login_hash(&self) -> [u8; 32] {
        Sha256::digest(self.login_id.as_slice()).into()
    }

    /// Keeps the reply keys only, for a session: the login id is wiped in place, and the
    /// recipients (the post-quantum one is 2 KB) are let go.
    pub fn keep_only_reply_keys(&mut self) {
        self.login_id.zeroize();
        self.recipients = (String::new(), String::new());
    }

    /// The public reply recipient the server stores.
    pub fn reply_recipient(&self) -> String {
        self.recipients.0.clone()
    }

    /// The reply recipient to store for a desk whose editors are post-quantum or not.
    pub fn reply_recipient_for(&self, post_quantum: bool) -> String {
        if post_quantum {
            self.recipients.1.clone()
        } else {
            self.reply_recipient()
        }
    }

    /// The post-quantum reply identity, expanded from its seed (wiped when dropped). Expand
    /// it on a blocking thread that scrubs its stack after use.
    pub fn pq_reply_identity(&self) -> crate::pq::Identity {
        crate::pq::Identity::from_seed(&self.pq_seed)
    }

    /// The secret bytes of both reply identities, X25519 then post-quantum seed: what a
    /// session keeps, sealed, to open replies with [`reply_identity`] and
    /// [`crate::pq::Identity::from_seed`].
    pub fn reply_secrets(&self) -> (&[u8; 32], &[u8; 32]) {
        (&self.reply_secret, &self.pq_seed)
    }
}

/// The X25519 reply identity of the secret bytes [`Derived::reply_secrets`] gave. Call it on
/// a blocking thread that scrubs its stack after use.
pub fn reply_identity(secret: &[u8; 32]) -> Result<age::x25519::Identity, Error> {
    x25519_identity(secret)
}

/// Derives the login id and reply identity of `codename` under an install's `pepper`.
pub fn derive(codename: &Codename, pepper: &[u8], cost: Cost) -> Result<Derived, Error> {
    let mut memory = vec![Block::default(); cost.memory_kib as usize];
    let d = derive_with_memory(codename, pepper, cost, &mut memory);
    memory.zeroize();
    d
}

/// [`derive`] in caller-provided argon2 memory (`cost.memory_kib` blocks of 1 KiB), so that a
/// server can reuse a few buffers instead of asking the allocator for 64 MiB per login.
pub fn derive_with_memory(
    codename: &Codename,
    pepper: &[u8],
    cost: Cost,
    memory: &mut [Block],
) -> Result<Derived, Error> {
    let params = Params::new(cost.memory_kib, cost.time, cost.lanes, Some(64))
        .map_err(|e| Error::Params(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut okm = Zeroizing::new([0u8; 64]);
    argon
        .hash_password_into_with_memory(
            codename.expose().as_bytes(),
            pepper,
            okm.as_mut_slice(),
            memory,
        )
        .map_err(|e| Error::Params(e.to_string()))?;
    let hk = Hkdf::<Sha256>::new(None, okm.as_slice());
    let mut login_id = Zeroizing::new([0u8; 32]);
    let mut secret = Zeroizing::new([0u8; 32]);
    let mut pq_seed = Zeroizing::new([0u8; 32]);
    hk.expand(b"sanduq v1 login id", login_id.as_mut_slice())
        .and_then(|()| hk.expand(b"sanduq v1 reply key", secret.as_mut_slice()))
        .and_then(|()| hk.expand(b"sanduq v1 pq reply key", pq_seed.as_mut_slice()))
        .map_err(|e| Error::Params(e.to_string()))?;
    let reply_identity = x25519_identity(&secret)?;
    let recipients = (
        reply_identity.to_public().to_string(),
        crate::pq::Identity::from_seed(&pq_seed)
            .to_public()
            .to_string(),
    );
    Ok(Derived {
        login_id,
        reply_identity,
        reply_secret: secret,
        pq_seed,
        recipients,
        cost,
    })
}

/// An age X25519 identity from 32 secret bytes (through its standard Bech32 encoding).
fn x25519_identity(secret: &[u8; 32]) -> Result<age::x25519::Identity, Error> {
    let hrp = bech32::Hrp::parse("age-secret-key-").map_err(|e| Error::Params(e.to_string()))?;
    // Written in upper case (the form age parses) straight into a buffer of more than its
    // final size (74 bytes), wiped when dropped: no lowercase copy (`bech32::encode` leaves
    // one in freed memory even when its result is wiped), and no reallocation leaves a
    // partial one behind.
    let mut text = Zeroizing::new(String::with_capacity(128));
    bech32::encode_upper_to_fmt::<bech32::Bech32, String>(&mut text, hrp, secret)
        .map_err(|e| Error::Params(e.to_string()))?;
    text.parse::<age::x25519::Identity>()
        .map_err(|e| Error::Params(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wordlist_is_the_eff_large_list() {
        let list = wordlist();
        assert_eq!(list.len(), 7776);
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "sorted, for binary search"
        );
        assert_eq!(list[0], "abacus");
        assert_eq!(list[7775], "zoom");
    }

    #[test]
    fn generated_codenames_are_seven_list_words_and_differ() {
        let a = Codename::generate();
        let b = Codename::generate();
        assert_eq!(a.expose().split(' ').count(), WORDS);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(Codename::parse(a.expose()).unwrap().expose(), a.expose());
        assert_eq!(format!("{a:?}"), "Codename(***)");
    }

    #[test]
    fn normalisation_forgives_case_and_spaces_only() {
        let c = "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen";
        let typed = "  Abacus\tZOOM  drop-down\n yo-yo T-Shirt felt-tip   abdomen ";
        assert_eq!(Codename::parse(typed).unwrap().expose(), c);
        assert_eq!(
            Codename::parse("abacus zoom").unwrap_err(),
            Error::Malformed
        );
        assert_eq!(
            Codename::parse(&format!("{c} zoom")).unwrap_err(),
            Error::Malformed
        );
        assert_eq!(
            Codename::parse("abacus zoom drop down yo-yo t-shirt felt-tip").unwrap_err(),
            Error::Malformed
        );
        assert_eq!(
            Codename::parse(&"a".repeat(257)).unwrap_err(),
            Error::TooLong
        );
    }

    #[test]
    fn derivation_is_deterministic_and_pepper_bound() {
        let cost = Cost {
            memory_kib: 64,
            time: 1,
            lanes: 1,
        };
        let c = Codename::parse("abacus zoom drop-down yo-yo t-shirt felt-tip abdomen").unwrap();
        let a = derive(&c, &[1u8; 32], cost).unwrap();
        let b = derive(&c, &[1u8; 32], cost).unwrap();
        let other = derive(&c, &[2u8; 32], cost).unwrap();
        assert_eq!(a.login_hash(), b.login_hash());
        assert_eq!(a.reply_recipient(), b.reply_recipient());
        assert_ne!(a.login_hash(), other.login_hash());
        assert_ne!(a.reply_recipient(), other.reply_recipient());
        assert!(a.reply_recipient().starts_with("age1"));
    }

    /// Vectors computed by tests/data/make_codename_kat.py with argon2-cffi, Python's HMAC
    /// and `cryptography`'s X25519: nothing of sanduq's code. What version 1 derived must
    /// still derive in every later version, or sources lose their replies.
    #[test]
    fn known_answers_from_an_independent_implementation() {
        let kat: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/codename_kat.json")).unwrap();
        let vectors = kat.as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let c = Codename::parse(v["codename"].as_str().unwrap()).unwrap();
            let pepper = hex::decode(v["pepper_hex"].as_str().unwrap()).unwrap();
            let cost = Cost {
                memory_kib: v["memory_kib"].as_u64().unwrap() as u32,
                time: v["time"].as_u64().unwrap() as u32,
                lanes: v["lanes"].as_u64().unwrap() as u32,
            };
            let d = derive(&c, &pepper, cost).unwrap();
            assert_eq!(
                hex::encode(d.login_hash()),
                v["login_hash_hex"].as_str().unwrap()
            );
            assert_eq!(d.reply_recipient(), v["reply_recipient"].as_str().unwrap());
            // The post-quantum reply key's seed: a change would cut every source of a
            // post-quantum desk off from its replies. (Seed to recipient is pinned by the
            // age spec's and typage's vectors in pq.rs.)
            assert_eq!(
                age::secrecy::ExposeSecret::expose_secret(&d.pq_reply_identity().to_string()),
                v["pq_reply_identity"].as_str().unwrap()
            );
        }
    }

    /// Whether this process's writable memory holds `tail` in lower case (compared byte by
    /// byte with the upper-case `tail`, so that the needle itself is no lowercase copy). Reads
    /// /proc/self/mem, no unsafe code; the maps and the buffer are taken before `run`, so that
    /// the scan allocates nothing that could reuse what `run` freed.
    #[cfg(target_os = "linux")]
    fn leaves_lowercase(tail: &[u8], run: impl FnOnce()) -> bool {
        use std::os::unix::fs::FileExt;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let regions: Vec<(u64, u64)> = maps
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.starts_with("rw"))
            })
            .filter_map(|l| {
                let (a, b) = l.split_whitespace().next()?.split_once('-')?;
                Some((
                    u64::from_str_radix(a, 16).ok()?,
                    u64::from_str_radix(b, 16).ok()?,
                ))
            })
            .collect();
        let mem = std::fs::File::open("/proc/self/mem").unwrap();
        let mut buf = vec![0u8; 1 << 20];
        run();
        let lower = |i: usize, b: u8| b == tail[i].to_ascii_lowercase();
        for (start, end) in regions {
            let mut at = start;
            while at < end {
                let n = buf.len().min((end - at) as usize);
                let Ok(got) = mem.read_at(&mut buf[..n], at) else {
                    break;
                };
                if buf[..got]
                    .windows(tail.len())
                    .any(|w| w.iter().enumerate().all(|(i, b)| lower(i, *b)))
                {
                    return true;
                }
                // Overlap chunks by the needle's length.
                at += (got.max(tail.len()) - tail.len() + 1) as u64;
            }
        }
        false
    }

    /// No lowercase Bech32 text of the reply secret (what `bech32::encode` returns) is left
    /// in memory once its identity is made and dropped.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_lowercase_bech32_text_of_a_reply_secret_is_wiped() {
        let secret = [0xa7u8; 32];
        let hrp = bech32::Hrp::parse("age-secret-key-").unwrap();
        let upper = {
            let lower = Zeroizing::new(bech32::encode::<bech32::Bech32>(hrp, &secret).unwrap());
            Zeroizing::new(lower.to_uppercase().into_bytes())
        };
        // The end of the text: the first bytes of a freed allocation are overwritten by the
        // allocator's own pointers.
        let tail = &upper[upper.len() - 24..];
        assert!(tail.iter().any(u8::is_ascii_alphabetic));
        assert!(!leaves_lowercase(tail, || {}), "no copy before");
        let leaked = leaves_lowercase(tail, || {
            drop(x25519_identity(&secret).unwrap());
        });
        assert!(
            !leaked,
            "the lowercase Bech32 secret key is left in freed memory"
        );
    }
}
