//! A source's session sealed for shared storage: what any node may write about a logged-in
//! source, readable only with the source's cookie.
//!
//! The session cookie carries 32 random bytes and nothing else. HKDF-SHA256 turns them into
//! two independent values: the row's id, which the store keeps (one-way: a copy of the
//! database gives no cookie), and a 256-bit XChaCha20-Poly1305 key, which no store, log or
//! node keeps. The session (source, desk, form token, reply secrets and its coarse expiry) is
//! sealed under that key with a fresh random nonce at each write, and the row's id is the
//! associated data: a sealed blob copied into another row does not open. A node holding the
//! cookie opens it; a copy of the database, without cookies, opens nothing.
//!
//! The plaintext of a session exists only in buffers wiped when dropped: it is encrypted and
//! decrypted in place (`encrypt_in_place`, `decrypt_in_place`), in memory reserved beforehand,
//! so that no reallocation leaves a copy behind.

use base64::Engine as _;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::Id;

/// Bytes of the nonce that starts every sealed blob.
const NONCE: usize = 24;
/// Bytes of the authentication tag that ends it.
const TAG: usize = 16;
/// The layout's version, the first sealed byte.
const VERSION: u8 = 1;
/// Length of a form token (32 random bytes, base64url without padding).
const CSRF_LEN: usize = 43;
/// Associated data: this prefix, then the row's id.
const AD_PREFIX: &[u8] = b"sanduq v1 session row ";

/// What a session cookie names: the row's id (stored) and the sealing key (never stored).
pub struct CookieKeys {
    /// The row's id in the store.
    pub row: [u8; 32],
    key: Zeroizing<[u8; 32]>,
}

impl CookieKeys {
    /// A fresh cookie value (43 characters, base64url) and what it names.
    pub fn generate() -> (String, CookieKeys) {
        let mut secret = Zeroizing::new([0u8; 32]);
        crate::ids::fill_random(secret.as_mut_slice());
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_slice());
        (value, CookieKeys::derive(&secret))
    }

    /// What the cookie value `value` names, if it is shaped like one.
    pub fn from_cookie(value: &str) -> Option<CookieKeys> {
        // A Vec wiped whole (its spare capacity too) when dropped.
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(value)
                .ok()?,
        );
        let secret: &[u8; 32] = bytes.as_slice().try_into().ok()?;
        Some(CookieKeys::derive(secret))
    }

    fn derive(secret: &[u8; 32]) -> CookieKeys {
        let hk = Hkdf::<Sha256>::new(None, secret);
        let mut row = [0u8; 32];
        let mut key = Zeroizing::new([0u8; 32]);
        // Both lengths are far below HKDF-SHA256's limit (8160 bytes): expand cannot fail.
        let _ = hk.expand(b"sanduq v1 session row id", &mut row);
        let _ = hk.expand(b"sanduq v1 session key", key.as_mut_slice());
        CookieKeys { row, key }
    }

    /// The sealing key, for tests that look for it where it must not be.
    #[doc(hidden)]
    pub fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    fn aad(&self) -> Vec<u8> {
        [AD_PREFIX, self.row.as_slice()].concat()
    }
}

/// A source's reply secrets (the X25519 secret, then the post-quantum seed), boxed so that
/// they are never moved, and wiped where they lie when dropped.
pub struct ReplySecrets(Box<Zeroizing<[u8; 64]>>);

impl ReplySecrets {
    /// The reply secrets of a codename's derivation.
    pub fn of(derived: &crate::codename::Derived) -> ReplySecrets {
        let (x25519, pq) = derived.reply_secrets();
        let mut s = ReplySecrets::zeroed();
        s.0[..32].copy_from_slice(x25519);
        s.0[32..].copy_from_slice(pq);
        s
    }

    fn zeroed() -> ReplySecrets {
        ReplySecrets(Box::new(Zeroizing::new([0u8; 64])))
    }

    /// The classical identity, made from its secret (wiped when dropped). Call it on a
    /// blocking thread that scrubs its stack after use.
    pub fn classical(&self) -> Option<age::x25519::Identity> {
        let secret: &[u8; 32] = self.0[..32].try_into().ok()?;
        crate::codename::reply_identity(secret).ok()
    }

    /// The post-quantum identity, expanded from its seed (wiped when dropped). Call it on a
    /// blocking thread that scrubs its stack after use.
    pub fn post_quantum(&self) -> Option<crate::pq::Identity> {
        let seed: &[u8; 32] = self.0[32..].try_into().ok()?;
        Some(crate::pq::Identity::from_seed(seed))
    }
}

/// What a sealed session holds.
pub struct Contents {
    /// The source.
    pub source: Id,
    /// Its desk.
    pub desk: String,
    /// The form token of its pages (43 characters).
    pub csrf: String,
    /// When it ends, in milliseconds since the Unix epoch (see `session::Sessions`).
    pub expires_ms: u64,
    /// Its reply secrets.
    pub secrets: ReplySecrets,
}

/// `contents` sealed under `keys`: `nonce || ciphertext || tag`.
pub fn seal(keys: &CookieKeys, contents: &Contents) -> Result<Vec<u8>, chacha20poly1305::Error> {
    let desk = contents.desk.as_bytes();
    let len = 1 + 8 + 16 + CSRF_LEN + 64 + desk.len();
    // Room for the tag too, so that encrypting in place never reallocates.
    let mut buf = Zeroizing::new(Vec::with_capacity(len + TAG));
    buf.push(VERSION);
    buf.extend_from_slice(&contents.expires_ms.to_be_bytes());
    buf.extend_from_slice(contents.source.as_bytes());
    let mut csrf = [0u8; CSRF_LEN];
    let n = contents.csrf.len().min(CSRF_LEN);
    csrf[..n].copy_from_slice(&contents.csrf.as_bytes()[..n]);
    buf.extend_from_slice(&csrf);
    buf.extend_from_slice(contents.secrets.0.as_slice());
    buf.extend_from_slice(desk);
    let mut nonce = [0u8; NONCE];
    crate::ids::fill_random(&mut nonce);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(keys.key.as_slice()));
    cipher.encrypt_in_place(XNonce::from_slice(&nonce), &keys.aad(), &mut *buf)?;
    let mut out = Vec::with_capacity(NONCE + buf.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    Ok(out)
}

/// The session `sealed` holds, if `keys` open it (the right cookie for this very row) and it
/// is well formed.
pub fn open(keys: &CookieKeys, sealed: &[u8]) -> Option<Contents> {
    if sealed.len() < NONCE + TAG {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE);
    let mut buf = Zeroizing::new(ct.to_vec());
    let cipher = XChaCha20Poly1305::new(Key::from_slice(keys.key.as_slice()));
    cipher
        .decrypt_in_place(XNonce::from_slice(nonce), &keys.aad(), &mut *buf)
        .ok()?;
    let fixed = 1 + 8 + 16 + CSRF_LEN + 64;
    if buf.len() < fixed || buf[0] != VERSION {
        return None;
    }
    let expires_ms = u64::from_be_bytes(buf[1..9].try_into().ok()?);
    let source = Id::from_bytes(buf[9..25].try_into().ok()?);
    let csrf = std::str::from_utf8(&buf[25..25 + CSRF_LEN])
        .ok()?
        .to_owned();
    let mut secrets = ReplySecrets::zeroed();
    secrets
        .0
        .copy_from_slice(&buf[25 + CSRF_LEN..25 + CSRF_LEN + 64]);
    let desk = std::str::from_utf8(&buf[fixed..]).ok()?.to_owned();
    Some(Contents {
        source,
        desk,
        csrf,
        expires_ms,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents() -> Contents {
        let mut secrets = ReplySecrets::zeroed();
        secrets.0.copy_from_slice(&[7u8; 64]);
        Contents {
            source: Id::random(),
            desk: "lawyers".into(),
            csrf: "c".repeat(CSRF_LEN),
            expires_ms: 1_234_567,
            secrets,
        }
    }

    #[test]
    fn a_sealed_session_opens_with_its_cookie_only_and_in_its_row_only() {
        let (cookie, keys) = CookieKeys::generate();
        let c = contents();
        let sealed = seal(&keys, &c).unwrap();
        let back = open(&CookieKeys::from_cookie(&cookie).unwrap(), &sealed).unwrap();
        assert_eq!(
            (back.source, back.desk.as_str(), back.csrf.as_str()),
            (c.source, "lawyers", c.csrf.as_str())
        );
        assert_eq!(back.expires_ms, 1_234_567);
        assert_eq!(back.secrets.0.as_slice(), &[7u8; 64]);
        assert!(
            !sealed.windows(64).any(|w| w == [7u8; 64]),
            "sealed in clear"
        );

        let (_, other) = CookieKeys::generate();
        assert!(open(&other, &sealed).is_none(), "another cookie opens it");
        // The right key in another row: the associated data differs.
        let moved = CookieKeys {
            row: other.row,
            key: keys.key.clone(),
        };
        assert!(open(&moved, &sealed).is_none(), "it opens in another row");
        let mut tampered = sealed.clone();
        tampered[30] ^= 1;
        assert!(
            open(&keys, &tampered).is_none(),
            "a changed byte goes unseen"
        );
        // A fresh nonce at every seal: the same session never seals to the same bytes.
        assert_ne!(seal(&keys, &c).unwrap(), sealed);
    }

    #[test]
    fn a_cookie_is_32_bytes_of_base64url_and_names_the_same_row_every_time() {
        let (cookie, keys) = CookieKeys::generate();
        assert_eq!(cookie.len(), 43);
        assert_eq!(CookieKeys::from_cookie(&cookie).unwrap().row, keys.row);
        assert_ne!(keys.row, *keys.key_bytes(), "the row id is not the key");
        assert!(CookieKeys::from_cookie("short").is_none());
        assert!(CookieKeys::from_cookie(&"A".repeat(44)).is_none());
    }
}
