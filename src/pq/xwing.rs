//! X-Wing (MLKEM768-X25519), the KEM under age's `mlkem768x25519` stanza, as an `hpke::Kem`.
//!
//! The age spec names the KEM "MLKEM768-X25519 from draft-ietf-hpke-pq-03 / filippo.io/hpke-pq",
//! which is X-Wing (draft-connolly-cfrg-xwing-kem) with HPKE KEM id 0x647a. The age crate
//! 0.12 pins `ml-kem` 0.2, whose `kem` trait crate cannot coexist with the one RustCrypto's
//! `x-wing` crate needs, so X-Wing is composed here from the crates age itself already uses:
//! `ml-kem` (FIPS 203), `x25519-dalek` (RFC 7748) and `sha3` (SHAKE256, SHA3-256). No
//! primitive is written here; this file only wires them as the X-Wing draft says, and the
//! draft's own test vectors (`tests/data/xwing_draft_vectors.json`) check every byte of it.
//! The HPKE key schedule, HKDF-SHA256 and ChaCha20Poly1305 then come from the `hpke` crate
//! (the same version the age crate uses for its own hybrid recipient).

use hpke::generic_array::typenum::{Sum, U1024, U32, U64, U96};
use hpke::{kem::SharedSecret, Deserializable, HpkeError, Serializable};
use ml_kem::{kem::Decapsulate, EncapsulateDeterministic, EncodedSizeUser, KemCore, MlKem768, B32};
use rand::{CryptoRng, RngCore};
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::{Digest, Sha3_256, Shake256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

/// HPKE KEM identifier of MLKEM768-X25519 (draft-ietf-hpke-pq-03, filippo.io/hpke-pq).
pub(crate) const KEM_ID: u16 = 0x647a;
/// The X-Wing decapsulation key is a 32-byte seed.
pub(crate) const SEED_LEN: usize = 32;
/// `pk = pk_M (ML-KEM-768 encapsulation key, 1184 bytes) || pk_X (X25519, 32 bytes)`.
pub(crate) const PUBLIC_KEY_LEN: usize = 1216;
/// `ct = ct_M (ML-KEM-768 ciphertext, 1088 bytes) || ct_X (X25519 share, 32 bytes)`.
pub(crate) const CIPHERTEXT_LEN: usize = 1120;
const MLKEM_EK_LEN: usize = 1184;
const MLKEM_CT_LEN: usize = 1088;
/// Encapsulation randomness: 32 bytes for ML-KEM `m`, then 32 for the X25519 ephemeral key.
const ENCAP_RANDOMNESS_LEN: usize = 64;
/// `XWingLabel`, the six ASCII bytes `\.//^\` (0x5c2e2f2f5e5c).
const XWING_LABEL: &[u8; 6] = br"\.//^\";

type MlKemDk = <MlKem768 as KemCore>::DecapsulationKey;
type MlKemEk = <MlKem768 as KemCore>::EncapsulationKey;

/// An X-Wing private key: the seed, wiped on drop, and the public key it expands to.
#[derive(Clone)]
pub(crate) struct PrivateKey {
    seed: Zeroizing<[u8; SEED_LEN]>,
    public: PublicKey,
}

impl PrivateKey {
    /// The 32-byte seed, as age stores it in `AGE-SECRET-KEY-PQ-1…`.
    pub(crate) fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    /// The public key.
    pub(crate) fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Builds the key from its seed; the caller wipes its own copy.
    pub(crate) fn from_seed(seed: &[u8; SEED_LEN]) -> PrivateKey {
        let expanded = expand(seed);
        PrivateKey {
            seed: Zeroizing::new(*seed),
            public: PublicKey {
                ek_m: expanded.ek_m.clone(),
                pk_x: expanded.pk_x,
            },
        }
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.seed.ct_eq(&*other.seed).into()
    }
}
impl Eq for PrivateKey {}

impl Serializable for PrivateKey {
    type OutputSize = U32;

    fn write_exact(&self, buf: &mut [u8]) {
        buf.copy_from_slice(&*self.seed);
    }
}

impl Deserializable for PrivateKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let seed: Zeroizing<[u8; SEED_LEN]> = Zeroizing::new(
            encoded
                .try_into()
                .map_err(|_| HpkeError::IncorrectInputLength(SEED_LEN, encoded.len()))?,
        );
        Ok(PrivateKey::from_seed(&seed))
    }
}

/// An X-Wing public (encapsulation) key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PublicKey {
    ek_m: MlKemEk,
    pk_x: X25519Public,
}

impl Eq for PublicKey {}

impl Serializable for PublicKey {
    type OutputSize = Sum<Sum<U1024, U96>, U96>; // 1216

    fn write_exact(&self, buf: &mut [u8]) {
        buf[..MLKEM_EK_LEN].copy_from_slice(&self.ek_m.as_bytes());
        buf[MLKEM_EK_LEN..].copy_from_slice(self.pk_x.as_bytes());
    }
}

impl Deserializable for PublicKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        if encoded.len() != PUBLIC_KEY_LEN {
            return Err(HpkeError::IncorrectInputLength(
                PUBLIC_KEY_LEN,
                encoded.len(),
            ));
        }
        let (m, x) = encoded.split_at(MLKEM_EK_LEN);
        let m: &[u8; MLKEM_EK_LEN] = m.try_into().map_err(|_| HpkeError::ValidationError)?;
        let ek_m = MlKemEk::from_bytes(&(*m).into());
        // FIPS 203 §7.2 encapsulation key check ("modulus check"): decoding reduces every
        // coefficient mod q, so a key that does not re-encode to the same bytes carried a
        // coefficient >= q and is refused.
        if ek_m.as_bytes().as_slice() != m.as_slice() {
            return Err(HpkeError::ValidationError);
        }
        let x: [u8; 32] = x.try_into().map_err(|_| HpkeError::ValidationError)?;
        Ok(PublicKey {
            ek_m,
            pk_x: X25519Public::from(x),
        })
    }
}

/// An X-Wing ciphertext, HPKE's `enc`: `ct_M || ct_X`.
#[derive(Clone)]
pub(crate) struct EncappedKey([u8; CIPHERTEXT_LEN]);

impl Serializable for EncappedKey {
    type OutputSize = Sum<Sum<U1024, U64>, U32>; // 1120

    fn write_exact(&self, buf: &mut [u8]) {
        buf.copy_from_slice(&self.0);
    }
}

impl Deserializable for EncappedKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        encoded
            .try_into()
            .map(EncappedKey)
            .map_err(|_| HpkeError::IncorrectInputLength(CIPHERTEXT_LEN, encoded.len()))
    }
}

/// The X-Wing KEM.
pub(crate) struct XWing;

impl hpke::Kem for XWing {
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;
    type EncappedKey = EncappedKey;
    type NSecret = U32;
    const KEM_ID: u16 = KEM_ID;

    fn sk_to_pk(sk: &PrivateKey) -> PublicKey {
        sk.public.clone()
    }

    /// Not used by age, whose identities are 32 random bytes (`Identity::generate`), and not
    /// HPKE's `DeriveKeyPair` for this KEM (a SHAKE256 labelled derivation with the suite
    /// id): the trait requires the method, so `ikm` is hashed with SHAKE256 to a seed.
    /// Nothing in sanduq calls it.
    fn derive_keypair(ikm: &[u8]) -> (PrivateKey, PublicKey) {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        let mut xof = Shake256::default().chain(ikm).finalize_xof();
        xof.read(&mut *seed);
        let sk = PrivateKey::from_seed(&seed);
        let pk = sk.public.clone();
        (sk, pk)
    }

    fn decap(
        sk_recip: &PrivateKey,
        pk_sender_id: Option<&PublicKey>,
        encapped_key: &EncappedKey,
    ) -> Result<SharedSecret<Self>, HpkeError> {
        // Base mode only: X-Wing has no authenticated mode.
        if pk_sender_id.is_some() {
            return Err(HpkeError::DecapError);
        }
        let ss = decapsulate(&sk_recip.seed, &encapped_key.0)?;
        Ok(SharedSecret((*ss).into()))
    }

    fn encap<R: CryptoRng + RngCore>(
        pk_recip: &PublicKey,
        sender_id_keypair: Option<(&PrivateKey, &PublicKey)>,
        csprng: &mut R,
    ) -> Result<(SharedSecret<Self>, EncappedKey), HpkeError> {
        if sender_id_keypair.is_some() {
            return Err(HpkeError::EncapError);
        }
        let mut eseed = Zeroizing::new([0u8; ENCAP_RANDOMNESS_LEN]);
        csprng
            .try_fill_bytes(&mut *eseed)
            .map_err(|_| HpkeError::EncapError)?;
        let (ss, ct) = encapsulate_derand(pk_recip, &eseed)?;
        Ok((SharedSecret((*ss).into()), EncappedKey(ct)))
    }
}

/// What `expandDecapsulationKey(sk)` yields.
struct Expanded {
    dk_m: MlKemDk,
    ek_m: MlKemEk,
    sk_x: StaticSecret,
    pk_x: X25519Public,
}

/// X-Wing `expandDecapsulationKey(sk)`:
///
/// ```text
/// expanded = SHAKE256(sk, 96)
/// (pk_M, sk_M) = ML-KEM-768.KeyGen_internal(expanded[0:32], expanded[32:64])
/// sk_X = expanded[64:96]
/// pk_X = X25519(sk_X, X25519_BASE)
/// ```
fn expand(seed: &[u8; SEED_LEN]) -> Expanded {
    let mut expanded = Zeroizing::new([0u8; 96]);
    let mut xof = Shake256::default().chain(seed).finalize_xof();
    xof.read(&mut *expanded);

    let mut d = B32::default();
    let mut z = B32::default();
    d.copy_from_slice(&expanded[0..32]);
    z.copy_from_slice(&expanded[32..64]);
    let (dk_m, ek_m) = MlKem768::generate_deterministic(&d, &z);
    d.as_mut_slice().zeroize();
    z.as_mut_slice().zeroize();

    let mut x = [0u8; 32];
    x.copy_from_slice(&expanded[64..96]);
    let sk_x = StaticSecret::from(x);
    x.zeroize();
    let pk_x = X25519Public::from(&sk_x);

    Expanded {
        dk_m,
        ek_m,
        sk_x,
        pk_x,
    }
}

/// X-Wing `Combiner(ss_M, ss_X, ct_X, pk_X) = SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)`.
fn combiner(ss_m: &[u8], ss_x: &[u8], ct_x: &[u8], pk_x: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha3_256::new();
    Digest::update(&mut h, ss_m);
    Digest::update(&mut h, ss_x);
    Digest::update(&mut h, ct_x);
    Digest::update(&mut h, pk_x);
    Digest::update(&mut h, XWING_LABEL);
    Zeroizing::new(h.finalize().into())
}

/// X-Wing `EncapsulateDerand(pk, eseed)`:
///
/// ```text
/// ek_X = eseed[32:64]
/// ct_X = X25519(ek_X, X25519_BASE)
/// ss_X = X25519(ek_X, pk_X)
/// (ss_M, ct_M) = ML-KEM-768.EncapsDerand(pk_M, eseed[0:32])
/// ss = Combiner(ss_M, ss_X, ct_X, pk_X)
/// ct = ct_M || ct_X
/// ```
fn encapsulate_derand(
    pk: &PublicKey,
    eseed: &[u8; ENCAP_RANDOMNESS_LEN],
) -> Result<(Zeroizing<[u8; 32]>, [u8; CIPHERTEXT_LEN]), HpkeError> {
    let mut m = B32::default();
    m.copy_from_slice(&eseed[0..32]);
    let (ct_m, mut ss_m) = pk
        .ek_m
        .encapsulate_deterministic(&m)
        .map_err(|()| HpkeError::EncapError)?;
    m.as_mut_slice().zeroize();

    let mut e = [0u8; 32];
    e.copy_from_slice(&eseed[32..64]);
    let ek_x = StaticSecret::from(e);
    e.zeroize();
    let ct_x = X25519Public::from(&ek_x);
    let ss_x = ek_x.diffie_hellman(&pk.pk_x);

    let ss = combiner(&ss_m, ss_x.as_bytes(), ct_x.as_bytes(), pk.pk_x.as_bytes());
    ss_m.as_mut_slice().zeroize();

    let mut ct = [0u8; CIPHERTEXT_LEN];
    ct[..MLKEM_CT_LEN].copy_from_slice(&ct_m);
    ct[MLKEM_CT_LEN..].copy_from_slice(ct_x.as_bytes());
    Ok((ss, ct))
}

/// X-Wing `Decapsulate(ct, sk)`:
///
/// ```text
/// (sk_M, sk_X, pk_M, pk_X) = expandDecapsulationKey(sk)
/// ss_M = ML-KEM-768.Decapsulate(ct[0:1088], sk_M)
/// ss_X = X25519(sk_X, ct[1088:1120])
/// return Combiner(ss_M, ss_X, ct_X, pk_X)
/// ```
///
/// ML-KEM rejects implicitly: a wrong key or a damaged `ct_M` yields an unrelated secret,
/// so the HPKE AEAD open that follows is what fails. Like the X-Wing draft (and RustCrypto's
/// `x-wing` default), an all-zero X25519 output is not refused here: the secret still
/// depends on the ML-KEM share.
fn decapsulate(
    seed: &[u8; SEED_LEN],
    ct: &[u8; CIPHERTEXT_LEN],
) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let k = expand(seed);
    let (ct_m, ct_x) = ct.split_at(MLKEM_CT_LEN);
    let ct_m: [u8; MLKEM_CT_LEN] = ct_m.try_into().map_err(|_| HpkeError::DecapError)?;
    let ct_x: [u8; 32] = ct_x.try_into().map_err(|_| HpkeError::DecapError)?;
    let mut ss_m = k
        .dk_m
        .decapsulate(&ct_m.into())
        .map_err(|()| HpkeError::DecapError)?;
    let ss_x = k.sk_x.diffie_hellman(&X25519Public::from(ct_x));
    let ss = combiner(&ss_m, ss_x.as_bytes(), &ct_x, k.pk_x.as_bytes());
    ss_m.as_mut_slice().zeroize();
    Ok(ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The X-Wing draft's test vectors (draft-connolly-cfrg-xwing-kem, `spec/test-vectors.json`;
    /// the same file RustCrypto's `x-wing` crate tests against).
    #[derive(serde::Deserialize)]
    struct Vector {
        seed: String,
        eseed: String,
        ss: String,
        sk: String,
        pk: String,
        ct: String,
    }

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s)
            .expect("hex")
            .try_into()
            .expect("vector length")
    }

    #[test]
    fn draft_test_vectors() {
        let vectors: Vec<Vector> =
            serde_json::from_str(include_str!("../../tests/data/xwing_draft_vectors.json"))
                .expect("vectors parse");
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let seed: [u8; 32] = unhex(&v.seed);
            assert_eq!(seed, unhex::<32>(&v.sk), "sk is the seed itself");
            let sk = PrivateKey::from_seed(&seed);
            assert_eq!(
                sk.public().to_bytes().as_slice(),
                unhex::<PUBLIC_KEY_LEN>(&v.pk)
            );
            let pk = PublicKey::from_bytes(&unhex::<PUBLIC_KEY_LEN>(&v.pk)).expect("pk");
            let (ss, ct) = encapsulate_derand(&pk, &unhex(&v.eseed)).expect("encap");
            assert_eq!(*ss, unhex::<32>(&v.ss));
            assert_eq!(ct, unhex::<CIPHERTEXT_LEN>(&v.ct));
            let ss2 = decapsulate(&seed, &ct).expect("decap");
            assert_eq!(*ss2, unhex::<32>(&v.ss));
        }
    }

    #[test]
    fn modulus_check_refuses_out_of_range_coefficients() {
        let sk = PrivateKey::from_seed(&[7u8; 32]);
        let mut bytes = sk.public().to_bytes().to_vec();
        // The first 12-bit coefficient set to 0xfff (>= q = 3329).
        bytes[0] = 0xff;
        bytes[1] |= 0x0f;
        assert!(PublicKey::from_bytes(&bytes).is_err());
        assert!(PublicKey::from_bytes(&bytes[..PUBLIC_KEY_LEN - 1]).is_err());
    }
}
