//! Editor API tokens: 256 random bits, shown once, stored only as a SHA-256 hash.
//!
//! A token has full entropy, so a plain hash is enough to make a stolen database useless for
//! logging in; comparisons of hashes are constant-time.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix that makes a token recognisable in a file or a leak scanner.
pub const PREFIX: &str = "sanduq-token-";

/// A fresh token and its hash.
pub fn generate() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    crate::ids::fill_random(&mut raw);
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    zeroize::Zeroize::zeroize(&mut raw);
    let h = hash(&token);
    (token, h)
}

/// The stored form of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// Constant-time equality of two token hashes.
pub fn matches(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (t1, h1) = generate();
        let (t2, h2) = generate();
        assert_ne!(t1, t2);
        assert!(t1.len() >= PREFIX.len() + 43);
        assert!(matches(&hash(&t1), &h1));
        assert!(!matches(&h1, &h2));
        assert!(
            matches(&hash(&format!("{t1}\n")), &h1),
            "a trailing newline in a file is fine"
        );
    }
}
