#!/usr/bin/env python3
"""Known-answer vectors for sanduq's codename derivation, computed independently of sanduq.

argon2id (argon2-cffi) -> 64 bytes -> HKDF-SHA-256 (no salt; info "sanduq v1 login id" and
"sanduq v1 reply key", "sanduq v1 pq reply key") -> SHA-256 of the login id, the X25519
public key of the reply secret (cryptography) in age's Bech32 recipient form, and the
post-quantum reply seed as an age AGE-SECRET-KEY-PQ-1 identity. Run once to (re)write
codename_kat.json:  pip install argon2-cffi cryptography && python3 make_codename_kat.py
"""
import hashlib, hmac, json
from argon2.low_level import hash_secret_raw, Type
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

def polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk

def bech32(hrp, data):
    acc, bits, out = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(exp + out + [0] * 6) ^ 1
    chk = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in out + chk)

def hkdf(ikm, info, length=32):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    t, okm, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:length]

def vector(codename, pepper, m, t, p):
    okm = hash_secret_raw(codename.encode(), pepper, time_cost=t, memory_cost=m,
                          parallelism=p, hash_len=64, type=Type.ID, version=19)
    login = hkdf(okm, b"sanduq v1 login id")
    secret = hkdf(okm, b"sanduq v1 reply key")
    pub = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    return {
        "codename": codename,
        "pepper_hex": pepper.hex(),
        "memory_kib": m, "time": t, "lanes": p,
        "login_hash_hex": hashlib.sha256(login).hexdigest(),
        "reply_recipient": bech32("age", pub),
        "pq_reply_identity": bech32("age-secret-key-pq-", hkdf(okm, b"sanduq v1 pq reply key")).upper(),
    }

vectors = [
    vector("abacus zoom drop-down yo-yo t-shirt felt-tip abdomen", bytes(range(32)), 65536, 3, 1),
    vector("legacy unwind sprout anyway daisy quilt mangle", b"\x42" * 32, 19456, 2, 1),
    vector("zoom zoom zoom zoom zoom zoom zoom", b"pepper-of-at-least-32-bytes-long", 64, 1, 1),
]
with open("codename_kat.json", "w") as f:
    json.dump(vectors, f, indent=2)
    f.write("\n")
