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
        let pk_x = X25519Public::from(x);
        // A low-order X25519 key gives every sender the all-zero secret: a file to it would
        // rest on ML-KEM alone. Refused here, so no such recipient is ever taken in.
        if is_low_order(&pk_x) {
            return Err(HpkeError::ValidationError);
        }
        Ok(PublicKey { ek_m, pk_x })
    }
}

/// Whether X25519 with `point` is non-contributory (an all-zero secret) for every scalar:
/// a point of small order on the curve or its twist. Every X25519 scalar is clamped to a
/// multiple of the cofactor 8, so one fixed scalar decides it; the one used here is not a
/// multiple of either large prime order, so only small-order points give zero.
fn is_low_order(point: &X25519Public) -> bool {
    let probe = StaticSecret::from([0x55u8; 32]);
    !probe.diffie_hellman(point).was_contributory()
}

/// Whether the X25519 half of an encoded X-Wing public key (`pk_M || pk_X`) is of low order.
pub(crate) fn has_low_order_x25519(encoded: &[u8]) -> bool {
    let Some(x) = encoded
        .get(MLKEM_EK_LEN..)
        .and_then(|x| <[u8; 32]>::try_from(x).ok())
    else {
        return false;
    };
    is_low_order(&X25519Public::from(x))
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

    /// HPKE `DeriveKeyPair(ikm)` for this KEM (draft-ietf-hpke-pq): the seed is
    /// `SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", 32)` with the KEM's suite id. age
    /// does not use it (its identities are 32 random bytes, [`crate::pq::Identity::generate`]),
    /// and nothing in sanduq calls it; it is checked against the draft's known answer.
    fn derive_keypair(ikm: &[u8]) -> (PrivateKey, PublicKey) {
        const LABEL: &[u8] = b"DeriveKeyPair";
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        let mut xof = Shake256::default()
            .chain(ikm)
            .chain(b"HPKE-v1")
            .chain(b"KEM")
            .chain(KEM_ID.to_be_bytes())
            .chain((LABEL.len() as u16).to_be_bytes())
            .chain(LABEL)
            .chain((SEED_LEN as u16).to_be_bytes())
            .finalize_xof();
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
    // An all-zero X25519 secret (a low-order recipient key) would leave the file to ML-KEM
    // alone: refused, as Go's age and typage refuse it.
    if !ss_x.was_contributory() {
        ss_m.as_mut_slice().zeroize();
        return Err(HpkeError::EncapError);
    }

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
/// so the HPKE AEAD open that follows is what fails. An all-zero X25519 output (a
/// low-order `ct_X`) is refused with a decapsulation error, as Go's age and typage refuse
/// it: such a share is never made by an honest sender, and the age stanza it came in is
/// malformed (a header failure), not merely for someone else.
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
    if !ss_x.was_contributory() {
        ss_m.as_mut_slice().zeroize();
        return Err(HpkeError::DecapError);
    }
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

    /// The HPKE known-answer vector for KEM 0x647a with HKDF-SHA256 and ChaCha20Poly1305
    /// (draft-ietf-hpke-pq; provenance in the file).
    #[derive(serde::Deserialize)]
    struct HpkeKat {
        provenance: String,
        vector: HpkeVector,
    }

    #[derive(serde::Deserialize)]
    struct HpkeVector {
        mode: u8,
        kem_id: u16,
        kdf_id: u16,
        aead_id: u16,
        info: String,
        #[serde(rename = "ikmE")]
        ikm_e: String,
        #[serde(rename = "ikmR")]
        ikm_r: String,
        #[serde(rename = "skRm")]
        sk_rm: String,
        #[serde(rename = "pkRm")]
        pk_rm: String,
        enc: String,
        shared_secret: String,
        encryptions: Vec<KatEncryption>,
        exports: Vec<KatExport>,
    }

    #[derive(serde::Deserialize)]
    struct KatEncryption {
        aad: String,
        ct: String,
        pt: String,
    }

    #[derive(serde::Deserialize)]
    struct KatExport {
        exporter_context: String,
        #[serde(rename = "L")]
        len: usize,
        exported_value: String,
    }

    /// Hands out the vector's `ikmE` as the encapsulation randomness, then nothing.
    struct FixedRandomness(Vec<u8>);

    impl RngCore for FixedRandomness {
        fn next_u32(&mut self) -> u32 {
            unreachable!("X-Wing asks only for bytes")
        }
        fn next_u64(&mut self) -> u64 {
            unreachable!("X-Wing asks only for bytes")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            self.try_fill_bytes(dest).expect("enough fixed randomness");
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            assert!(dest.len() <= self.0.len(), "asked for more than ikmE");
            let rest = self.0.split_off(dest.len());
            dest.copy_from_slice(&self.0);
            self.0 = rest;
            Ok(())
        }
    }
    impl CryptoRng for FixedRandomness {}

    type KatAead = hpke::aead::ChaCha20Poly1305;
    type KatKdf = hpke::kdf::HkdfSha256;

    #[test]
    fn hpke_known_answer_for_kem_0x647a() {
        let kat: HpkeKat =
            serde_json::from_str(include_str!("../../tests/data/hpke_xwing_kat.json"))
                .expect("vector parses");
        assert!(kat.provenance.contains("draft-ietf-hpke-pq"));
        let v = kat.vector;
        assert_eq!((v.mode, v.kem_id, v.kdf_id, v.aead_id), (0, KEM_ID, 1, 3));
        let hex = |s: &str| hex::decode(s).expect("hex");

        // DeriveKeyPair(ikmR) = (skRm, pkRm).
        let (sk, pk) = <XWing as hpke::Kem>::derive_keypair(&hex(&v.ikm_r));
        assert_eq!(sk.to_bytes().as_slice(), hex(&v.sk_rm));
        assert_eq!(pk.to_bytes().as_slice(), hex(&v.pk_rm));
        let pk = PublicKey::from_bytes(&hex(&v.pk_rm)).expect("pkRm");

        // Encap with ikmE gives enc and the shared secret; Decap gives the secret back.
        let eseed: [u8; ENCAP_RANDOMNESS_LEN] = hex(&v.ikm_e).try_into().expect("ikmE length");
        let (ss, enc) = encapsulate_derand(&pk, &eseed).expect("encap");
        assert_eq!(enc.as_slice(), hex(&v.enc));
        assert_eq!(ss.as_slice(), hex(&v.shared_secret));
        let seed: [u8; SEED_LEN] = hex(&v.sk_rm).try_into().expect("skRm length");
        let enc_arr: [u8; CIPHERTEXT_LEN] = hex(&v.enc).try_into().expect("enc length");
        assert_eq!(
            decapsulate(&seed, &enc_arr).expect("decap").as_slice(),
            hex(&v.shared_secret)
        );

        // The whole HPKE schedule through the hpke crate, as age's stanza uses it: the
        // sender's context seals each message in sequence, the receiver's opens it, and
        // both export the same values.
        let info = hex(&v.info);
        let mut rng = FixedRandomness(eseed.to_vec());
        let (enc_s, mut sender) = hpke::setup_sender::<KatAead, KatKdf, XWing, _>(
            &hpke::OpModeS::Base,
            &pk,
            &info,
            &mut rng,
        )
        .expect("setup sender");
        assert_eq!(enc_s.to_bytes().as_slice(), hex(&v.enc));
        let mut receiver = hpke::setup_receiver::<KatAead, KatKdf, XWing>(
            &hpke::OpModeR::Base,
            &sk,
            &EncappedKey::from_bytes(&hex(&v.enc)).expect("enc"),
            &info,
        )
        .expect("setup receiver");
        assert_eq!(v.encryptions.len(), 10);
        for (seq, e) in v.encryptions.iter().enumerate() {
            let ct = sender.seal(&hex(&e.pt), &hex(&e.aad)).expect("seal");
            assert_eq!(ct, hex(&e.ct), "encryption {seq}");
            let pt = receiver.open(&ct, &hex(&e.aad)).expect("open");
            assert_eq!(pt, hex(&e.pt), "decryption {seq}");
        }
        assert_eq!(v.exports.len(), 5);
        for x in &v.exports {
            let (mut a, mut b) = (vec![0u8; x.len], vec![0u8; x.len]);
            sender
                .export(&hex(&x.exporter_context), &mut a)
                .expect("export");
            receiver
                .export(&hex(&x.exporter_context), &mut b)
                .expect("export");
            assert_eq!(a, hex(&x.exported_value));
            assert_eq!(b, a);
        }
    }

    /// X25519 points of small order (on the curve or its twist), in canonical and
    /// non-canonical encodings: each makes X25519 output all zeros.
    pub(crate) const LOW_ORDER_POINTS: [&str; 7] = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];

    #[test]
    fn low_order_x25519_is_refused_both_ways() {
        let sk = PrivateKey::from_seed(&[9u8; 32]);
        let good = sk.public().to_bytes();
        assert!(!has_low_order_x25519(&good));
        let eseed = [3u8; ENCAP_RANDOMNESS_LEN];
        let (_, ct) = encapsulate_derand(sk.public(), &eseed).expect("encap");
        for p in LOW_ORDER_POINTS {
            let point: [u8; 32] = unhex(p);
            // A recipient whose X25519 half is of low order: refused when parsed, and
            // refused on encapsulation even when built without the parser.
            let mut bytes = good.to_vec();
            bytes[MLKEM_EK_LEN..].copy_from_slice(&point);
            assert!(has_low_order_x25519(&bytes), "{p}");
            assert!(PublicKey::from_bytes(&bytes).is_err(), "{p}");
            let forged = PublicKey {
                ek_m: sk.public().ek_m.clone(),
                pk_x: X25519Public::from(point),
            };
            assert!(
                matches!(
                    encapsulate_derand(&forged, &eseed),
                    Err(HpkeError::EncapError)
                ),
                "{p}"
            );
            // A ciphertext whose X25519 share is of low order: a decapsulation error.
            let mut bad = ct;
            bad[MLKEM_CT_LEN..].copy_from_slice(&point);
            assert!(
                matches!(decapsulate(&[9u8; 32], &bad), Err(HpkeError::DecapError)),
                "{p}"
            );
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
