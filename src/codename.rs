//! Codenames: how a source comes back without the server holding any secret of theirs.
//!
//! A codename is seven words from the EFF large wordlist (7,776 words, ~90.3 bits), drawn
//! from the OS CSPRNG. At login, `argon2id(normalised codename, install pepper)` gives 64
//! bytes; HKDF-SHA-256 splits them into a login id (the server stores only its SHA-256), an
//! X25519 secret and a post-quantum (X-Wing) seed. The server stores the age recipient of one
//! of the two, the kind its desk's editors use, so editors can reply. Nothing derived from a
//! codename is written anywhere but the login hash and that recipient.

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

/// What a codename opens.
pub struct Derived {
    /// Identifies the source at login; the server stores only [`Derived::login_hash`].
    login_id: Zeroizing<[u8; 32]>,
    /// The source's reply identity, held in memory for a session only.
    pub reply_identity: age::x25519::Identity,
    /// Its post-quantum reply identity, for a desk whose editors have post-quantum keys
    /// (age does not let a reply mix the two kinds).
    pub pq_reply_identity: crate::pq::Identity,
}

impl Derived {
    /// SHA-256 of the login id: the stored form.
    pub fn login_hash(&self) -> [u8; 32] {
        Sha256::digest(self.login_id.as_slice()).into()
    }

    /// The public reply recipient the server stores.
    pub fn reply_recipient(&self) -> String {
        self.reply_identity.to_public().to_string()
    }

    /// The reply recipient to store for a desk whose editors are post-quantum or not.
    pub fn reply_recipient_for(&self, post_quantum: bool) -> String {
        if post_quantum {
            self.pq_reply_identity.to_public().to_string()
        } else {
            self.reply_recipient()
        }
    }
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
    Ok(Derived {
        login_id,
        reply_identity,
        pq_reply_identity: crate::pq::Identity::from_seed(&pq_seed),
    })
}

/// An age X25519 identity from 32 secret bytes (through its standard Bech32 encoding).
fn x25519_identity(secret: &[u8; 32]) -> Result<age::x25519::Identity, Error> {
    let hrp = bech32::Hrp::parse("age-secret-key-").map_err(|e| Error::Params(e.to_string()))?;
    let mut text = bech32::encode::<bech32::Bech32>(hrp, secret)
        .map_err(|e| Error::Params(e.to_string()))?
        .to_uppercase();
    let id = text.parse::<age::x25519::Identity>();
    text.zeroize();
    id.map_err(|e| Error::Params(e.to_string()))
}

/// Runs derivations for a server: on blocking threads, at most `max_concurrent` at once (a
/// login flood queues instead of exhausting memory). Argon2 buffers are reused while
/// derivations follow one another (no new 64 MiB per login in a flood), wiped after each use,
/// and given back to the operating system as soon as no derivation is running or waiting, so
/// an idle server does not keep `max_concurrent × memory_kib` of RSS.
pub struct Deriver {
    pepper: std::sync::Arc<crate::config::Secret>,
    cost: Cost,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    shared: std::sync::Arc<Shared>,
}

/// What the deriver and its blocking closures share.
#[derive(Default)]
struct Shared {
    /// Wiped buffers waiting for the next derivation.
    pool: std::sync::Mutex<Vec<Buffer>>,
    /// Requests deriving or waiting for a permit.
    busy: std::sync::atomic::AtomicUsize,
    counts: std::sync::Arc<BufferCounts>,
}

impl Shared {
    /// Keeps a wiped buffer for the next derivation, or frees it when no request is deriving
    /// or waiting any more (checked under the pool's lock, so the last request's
    /// [`Busy`] cannot miss it).
    fn give_back(&self, buffer: Buffer) {
        if let Ok(mut pool) = self.pool.lock() {
            if self.busy.load(std::sync::atomic::Ordering::Acquire) > 0 {
                pool.push(buffer);
                return;
            }
        }
        drop(buffer);
    }
}

/// How many argon2 buffers exist now, and the most that ever existed at once.
#[derive(Default)]
struct BufferCounts {
    live: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

/// One argon2 buffer, counted while it exists.
struct Buffer {
    blocks: Vec<Block>,
    counts: std::sync::Arc<BufferCounts>,
}

/// Address space reserved for every argon2 buffer, whatever its cost: glibc's malloc serves
/// requests below its dynamic mmap threshold (at most 32 MiB) from per-thread arenas that
/// keep freed memory, so buffers of a smaller cost were never given back (measured at
/// `memory_kib = 19456`: 600 logins left the server at 280 MiB of RSS). A request of this
/// size is above that threshold, so glibc maps it on its own and unmaps it when freed (short
/// of finding a free chunk that large in an arena, which the server's other allocations do
/// not leave). Only the cost's blocks are ever written, so only they become resident.
const RESERVED_KIB: usize = 33 * 1024;

impl Buffer {
    fn new(kib: u32, counts: &std::sync::Arc<BufferCounts>) -> Buffer {
        use std::sync::atomic::Ordering::Relaxed;
        let now = counts.live.fetch_add(1, Relaxed) + 1;
        counts.peak.fetch_max(now, Relaxed);
        let mut blocks = Vec::with_capacity((kib as usize).max(RESERVED_KIB));
        blocks.resize(kib as usize, Block::default());
        Buffer {
            blocks,
            counts: counts.clone(),
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.counts
            .live
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Marks a request as deriving or waiting; the last one to leave empties the pool.
struct Busy<'a>(&'a Shared);

impl<'a> Busy<'a> {
    fn enter(shared: &'a Shared) -> Busy<'a> {
        shared
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Busy(shared)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let idle = self.0.pool.lock().map(|mut pool| {
            let last = self
                .0
                .busy
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
                == 1;
            // Nobody else is deriving: give the (already wiped) buffers back.
            if last {
                std::mem::take(&mut *pool)
            } else {
                Vec::new()
            }
        });
        drop(idle);
    }
}

impl Deriver {
    /// A deriver for an install's pepper and cost.
    pub fn new(pepper: crate::config::Secret, cost: Cost, max_concurrent: usize) -> Deriver {
        Deriver {
            pepper: std::sync::Arc::new(pepper),
            cost,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1))),
            shared: Default::default(),
        }
    }

    /// Derives `codename`'s login id and reply identity.
    pub async fn derive(&self, codename: Codename) -> Result<Derived, Error> {
        let _busy = Busy::enter(&self.shared);
        // The permit goes into the blocking closure with the buffer, and is released only
        // once the buffer is wiped and pooled or freed: if this future is dropped (the client
        // hung up), the derivation still runs to its end and still counts against the cap,
        // or hang-ups could start any number of 64 MiB derivations.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Params(e.to_string()))?;
        let reused = self.shared.pool.lock().ok().and_then(|mut p| p.pop());
        let mut memory = match reused {
            Some(m) => m,
            None => Buffer::new(self.cost.memory_kib, &self.shared.counts),
        };
        let pepper = self.pepper.clone();
        let cost = self.cost;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let d = derive_with_memory(&codename, pepper.expose(), cost, &mut memory.blocks);
            // Wipe in place: `Vec::zeroize` would also empty the buffer we keep.
            memory.blocks.iter_mut().for_each(Zeroize::zeroize);
            shared.give_back(memory);
            drop(permit);
            d
        })
        .await
        .map_err(|e| Error::Params(e.to_string()))?
    }

    /// How many argon2 buffers exist now (0 when no derivation runs or waits).
    pub fn buffers_live(&self) -> usize {
        self.shared
            .counts
            .live
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most argon2 buffers that ever existed at once (never more than the concurrency cap).
    pub fn buffers_peak(&self) -> usize {
        self.shared
            .counts
            .peak
            .load(std::sync::atomic::Ordering::Relaxed)
    }
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
                age::secrecy::ExposeSecret::expose_secret(&d.pq_reply_identity.to_string()),
                v["pq_reply_identity"].as_str().unwrap()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_deriver_caps_concurrency_and_gives_memory_back_when_idle() {
        let cost = Cost {
            memory_kib: 256,
            time: 1,
            lanes: 1,
        };
        let pepper = [9u8; 32];
        let d = std::sync::Arc::new(Deriver::new(
            crate::config::Secret::new(pepper.to_vec()),
            cost,
            2,
        ));
        let c = "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen";
        let want = derive(&Codename::parse(c).unwrap(), &pepper, cost)
            .unwrap()
            .login_hash();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let d = d.clone();
                tokio::spawn(async move {
                    d.derive(Codename::parse(c).unwrap())
                        .await
                        .unwrap()
                        .login_hash()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(
                t.await.unwrap(),
                want,
                "reused memory gives the same answer"
            );
        }
        assert!(
            d.buffers_peak() <= 2,
            "{} buffers at once for a cap of 2",
            d.buffers_peak()
        );
        assert!(d.buffers_peak() >= 1);
        assert_eq!(
            d.buffers_live(),
            0,
            "an idle deriver gives its buffers back"
        );
    }

    /// A request that goes away mid-derivation (a client hanging up on its login) must not
    /// free its place while its derivation still runs: hang-ups would otherwise start any
    /// number of derivations, each with its own buffer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_derivations_still_count_against_the_cap() {
        let cost = Cost {
            memory_kib: 16 * 1024,
            time: 3,
            lanes: 1,
        };
        let d = std::sync::Arc::new(Deriver::new(
            crate::config::Secret::new(vec![9u8; 32]),
            cost,
            2,
        ));
        let c = "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen";
        for _ in 0..12 {
            let d2 = d.clone();
            let task = tokio::spawn(async move { d2.derive(Codename::parse(c).unwrap()).await });
            // Long enough to start deriving, far shorter than a derivation.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            task.abort();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while d.buffers_live() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            d.buffers_peak() <= 2,
            "{} buffers at once after hang-ups, for a cap of 2",
            d.buffers_peak()
        );
        assert!(d.buffers_peak() >= 1, "some derivation started");
        assert_eq!(d.buffers_live(), 0, "every abandoned buffer is given back");
    }
}
