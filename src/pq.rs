//! Post-quantum editor keys: age's hybrid `mlkem768x25519` recipient type (`age1pq1…`).
//!
//! Testimonies are evidence for decades, and a state that copies today's ciphertext can wait
//! for a quantum computer. age v1.3 added a hybrid recipient type — ML-KEM-768 with X25519
//! (X-Wing), wrapped with HPKE — that the age crate 0.12 does not implement yet. This module
//! implements it as an [`age::Recipient`] and an [`age::Identity`], exactly as the age
//! specification (C2SP `age.md`, "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum
//! recipient type") defines it, so that files are byte-compatible with the reference
//! implementations (Go `filippo.io/age`, TypeScript `age-encryption`). It stands alone so that
//! it can be swapped for the age crate's own implementation the day that lands.
//!
//! What the spec fixes, and where each piece lives:
//!
//! - identity = 32 bytes from the CSPRNG, Bech32 with HRP `AGE-SECRET-KEY-PQ-` (upper case);
//! - recipient = the X-Wing public key of that seed (1216 bytes), Bech32 with HRP `age1pq`
//!   (lower case); Bech32 as BIP 173 without its 90-character limit;
//! - stanza = `-> mlkem768x25519 <base64 enc>` with the HPKE ciphertext of the 16-byte file
//!   key as body, where `(enc, ct) = SealBase(pkR = recipient, info =
//!   "age-encryption.org/mlkem768x25519", aad = "", pt = file key)` with KEM MLKEM768-X25519
//!   (0x647a), KDF HKDF-SHA256 (0x0001), AEAD ChaCha20Poly1305 (0x0003);
//! - an identity ignores stanzas of other types and rejects an `mlkem768x25519` stanza with
//!   other than one argument after the type, an `enc` that is not canonical base64 of 1120
//!   bytes, or a body that is not exactly 32 bytes;
//! - a non-contributory (all-zero) X25519 result is refused both ways, as Go's age and typage
//!   refuse it: a recipient with a low-order X25519 half is refused when parsed, and a stanza
//!   whose X25519 share gives zeros is an invalid header (only a failed AEAD open is "not
//!   ours").
//!
//! The KEM is in [`xwing`] (composed from `ml-kem`, `x25519-dalek` and `sha3`); the HPKE key
//! schedule and AEAD are the `hpke` crate's; Bech32 is `age-core`'s long-string variant. What
//! is written here is glue only.
//!
//! Mixing: the spec says a file SHOULD NOT be encrypted to this type together with classical
//! recipients, since a classical stanza would undo the protection. [`Recipient`] returns the
//! `postquantum` label (as Go's `HybridRecipient.WrapWithLabels` does), and the age crate's
//! `Encryptor` refuses any set of recipients whose label sets differ — an X25519, SSH or
//! scrypt recipient (no labels) cannot be mixed in. On decryption, [`Identity`] follows the Go
//! and TypeScript identities: it ignores other stanzas and decrypts a file that mixes types.
//! Refusing such a file would lock an editor out of evidence without protecting anything (only
//! the sender, who already had the plaintext, could have made it).

mod xwing;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use age::{DecryptError, EncryptError};
use age_core::format::{FileKey, Stanza};
use age_core::primitives::{bech32_decode, bech32_encode};
use base64::prelude::{Engine as _, BASE64_STANDARD_NO_PAD};
use hpke::{Deserializable, Serializable};
use zeroize::{Zeroize, Zeroizing};

use xwing::XWing;

/// Bech32 HRP of a recipient; recipients are written, and accepted, in lower case only.
pub const RECIPIENT_HRP: &str = "age1pq";
/// Bech32 HRP of an identity; identities are written, and accepted, in upper case only.
pub const IDENTITY_HRP: &str = "AGE-SECRET-KEY-PQ-";
/// What every identity string starts with (HRP and the Bech32 separator).
pub const IDENTITY_PREFIX: &str = "AGE-SECRET-KEY-PQ-1";
/// What every recipient string starts with.
pub const RECIPIENT_PREFIX: &str = "age1pq1";
/// The stanza type, the first stanza argument.
pub const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE `info` for sealing and opening the file key.
pub const HPKE_INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// The age label that keeps post-quantum stanzas from being mixed with classical ones.
pub const POSTQUANTUM_LABEL: &str = "postquantum";

/// age file keys are 16 bytes; ChaCha20Poly1305 adds a 16-byte tag.
const FILE_KEY_LEN: usize = 16;
const WRAPPED_FILE_KEY_LEN: usize = FILE_KEY_LEN + 16;
/// Unpadded base64 length of the 1120-byte `enc`.
const ENC_B64_LEN: usize = (xwing::CIPHERTEXT_LEN * 4).div_ceil(3);

/// HPKE AEAD id 0x0003.
type Aead = hpke::aead::ChaCha20Poly1305;
/// HPKE KDF id 0x0001.
type Kdf = hpke::kdf::HkdfSha256;

/// What can go wrong with post-quantum keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string is not a valid `age1pq1…` recipient; the reason is fixed text.
    #[error("not a post-quantum age recipient (age1pq1…): {0}")]
    BadRecipient(&'static str),
    /// A string is not a valid `AGE-SECRET-KEY-PQ-1…` identity; the reason is fixed text
    /// (never the key itself).
    #[error("not a post-quantum age identity (AGE-SECRET-KEY-PQ-1…): {0}")]
    BadIdentity(&'static str),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A line of an identity file is not a post-quantum identity: its number and why, never
    /// its content.
    #[error("line {line}: {source}")]
    BadLine {
        /// The line's number, from 1.
        line: usize,
        /// Why ([`Error::BadIdentity`]).
        #[source]
        source: Box<Error>,
    },
}

/// Decodes strict Bech32: one case throughout, the HRP exactly `hrp` (so in the case the
/// spec writes it), a valid checksum (no 90-character limit), and canonical padding (the
/// data must re-encode to the same string).
fn decode_bech32(
    s: &str,
    hrp: &'static str,
    err: fn(&'static str) -> Error,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bytes = bech32_decode(
        s,
        |_| err("invalid Bech32 (bad character, mixed case or checksum)"),
        |found| {
            if found.as_str() == hrp {
                Ok(())
            } else {
                Err(err("wrong type or case"))
            }
        },
        |_, data| Ok(Zeroizing::new(data.collect::<Vec<u8>>())),
    )?;
    let again = Zeroizing::new(bech32_encode(bech32::Hrp::parse_unchecked(hrp), &bytes));
    if !again.eq_ignore_ascii_case(s) {
        return Err(err("non-canonical Bech32 padding"));
    }
    Ok(bytes)
}

/// A post-quantum recipient: an X-Wing public key, written `age1pq1…`.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient(xwing::PublicKey);

impl FromStr for Recipient {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bytes = decode_bech32(s, RECIPIENT_HRP, Error::BadRecipient)?;
        if bytes.len() != xwing::PUBLIC_KEY_LEN {
            return Err(Error::BadRecipient("wrong length"));
        }
        if xwing::has_low_order_x25519(&bytes) {
            return Err(Error::BadRecipient(
                "its X25519 key is of low order, which would leave files to ML-KEM alone",
            ));
        }
        xwing::PublicKey::from_bytes(&bytes)
            .map(Recipient)
            .map_err(|_| Error::BadRecipient("invalid ML-KEM-768 encapsulation key"))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = bech32::Hrp::parse_unchecked(RECIPIENT_HRP);
        f.write_str(&bech32_encode(hrp, &self.0.to_bytes()))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl age::Recipient for Recipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        // (enc, ct) = SealBase(pkR, info, aad = "", pt = file key), HPKE base mode.
        let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, XWing, _>(
            &hpke::OpModeS::Base,
            &self.0,
            HPKE_INFO,
            file_key.expose_secret(),
            b"",
            &mut rand::rngs::OsRng,
        )
        .map_err(|e| {
            EncryptError::Io(io::Error::other(format!(
                "mlkem768x25519: HPKE seal failed (a low-order X25519 key is refused): {e}"
            )))
        })?;
        // `-> mlkem768x25519 <base64(enc)>`, body = ct.
        let stanza = Stanza {
            tag: STANZA_TAG.to_owned(),
            args: vec![BASE64_STANDARD_NO_PAD.encode(enc.to_bytes())],
            body: ct,
        };
        Ok((vec![stanza], HashSet::from([POSTQUANTUM_LABEL.to_owned()])))
    }
}

/// A post-quantum identity: a 32-byte seed, written `AGE-SECRET-KEY-PQ-1…`, wiped from
/// memory when dropped.
pub struct Identity(xwing::PrivateKey);

impl Identity {
    /// A new identity: 32 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Identity, Error> {
        let mut seed = Zeroizing::new([0u8; xwing::SEED_LEN]);
        getrandom::fill(&mut *seed).map_err(|_| Error::Random)?;
        Ok(Identity(xwing::PrivateKey::from_seed(&seed)))
    }

    /// The identity whose seed is `seed` (a key derived from a codename, say).
    pub fn from_seed(seed: &[u8; 32]) -> Identity {
        Identity(xwing::PrivateKey::from_seed(seed))
    }

    /// The 32-byte seed the identity expands from (kept secret; wiped with the copy).
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.0.seed())
    }

    /// The recipient that files for this identity are encrypted to.
    pub fn to_public(&self) -> Recipient {
        Recipient(self.0.public().clone())
    }

    /// The identity as `AGE-SECRET-KEY-PQ-1…`, kept secret.
    pub fn to_string(&self) -> SecretString {
        let hrp = bech32::Hrp::parse_unchecked(IDENTITY_HRP);
        let mut lower = bech32_encode(hrp, self.0.seed());
        let upper = lower.to_uppercase();
        lower.zeroize();
        SecretString::from(upper)
    }
}

impl FromStr for Identity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bytes = decode_bech32(s, IDENTITY_HRP, Error::BadIdentity)?;
        let seed: &[u8; xwing::SEED_LEN] = bytes[..]
            .try_into()
            .map_err(|_| Error::BadIdentity("wrong length"))?;
        Ok(Identity(xwing::PrivateKey::from_seed(seed)))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pq::Identity(***)")
    }
}

impl age::Identity for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        // Stanzas of other types are not ours.
        if stanza.tag != STANZA_TAG {
            return None;
        }
        // Exactly one argument after the type: canonical base64 of the 1120-byte `enc`.
        let [arg] = &stanza.args[..] else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        if arg.len() != ENC_B64_LEN {
            return Some(Err(DecryptError::InvalidHeader));
        }
        let Ok(enc) = BASE64_STANDARD_NO_PAD.decode(arg) else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        let Ok(enc) = xwing::EncappedKey::from_bytes(&enc) else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        // The body is checked to be exactly 32 bytes before any decryption (the spec's
        // defence against partitioning oracles).
        if stanza.body.len() != WRAPPED_FILE_KEY_LEN {
            return Some(Err(DecryptError::InvalidHeader));
        }
        // pt = OpenBase(enc, skR = identity, info, aad = "", ct = body). ML-KEM rejects
        // implicitly, so a stanza for someone else and a damaged one both fail the AEAD
        // open, and neither is ours: the next stanza or identity is tried, as for X25519.
        // A decapsulation error (an all-zero X25519 share) is a malformed header, as in Go.
        let opened = hpke::single_shot_open::<Aead, Kdf, XWing>(
            &hpke::OpModeR::Base,
            &self.0,
            &enc,
            HPKE_INFO,
            &stanza.body,
            b"",
        );
        let mut pt = match opened {
            Ok(pt) => pt,
            Err(hpke::HpkeError::OpenError) => return None,
            Err(_) => return Some(Err(DecryptError::InvalidHeader)),
        };
        let file_key = FileKey::try_init_with_mut(|k| {
            let ok = pt.len() == FILE_KEY_LEN;
            if ok {
                k.copy_from_slice(&pt);
            }
            ok.then_some(()).ok_or(DecryptError::DecryptionFailed)
        });
        pt.zeroize();
        Some(file_key)
    }
}

/// An identity file taken apart: its post-quantum identities, and its other lines.
pub type SplitIdentityFile = (Vec<Identity>, Zeroizing<String>);

/// Picks the `AGE-SECRET-KEY-PQ-1…` lines out of an identity file's text, so that identity
/// files can hold post-quantum keys beside the types the age crate parses. Returns `None`
/// when there is no such line; otherwise the parsed identities and the remaining lines
/// (comments and blank lines dropped) for the age crate to parse. A malformed PQ line is an
/// error naming its line number, never its content.
pub fn split_identity_file(text: &str) -> Result<Option<SplitIdentityFile>, Error> {
    if !text.lines().any(|l| l.trim().starts_with(IDENTITY_PREFIX)) {
        return Ok(None);
    }
    let mut ids = Vec::new();
    let mut rest = Zeroizing::new(String::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with(IDENTITY_PREFIX) {
            let id = line.parse::<Identity>().map_err(|e| Error::BadLine {
                line: n + 1,
                source: Box::new(e),
            })?;
            ids.push(id);
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    Ok(Some((ids, rest)))
}

#[cfg(test)]
mod tests;
