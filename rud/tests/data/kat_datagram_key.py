#!/usr/bin/env python3
"""Independent known answers for RUD stream and per-datagram keys.

Computed with the Python `cryptography` package, not with the Rust code, so the Rust test
(rud/tests/crypto_datagram_key.rs) cross-checks two implementations of:

    sk      = HKDF-SHA-512-Expand(ts, "rud1 stream" || be64(generation), 32)
    block_j = be32(j) || be32(0) || be64(n),  j = 0..3
    K_n     = AES-256(sk, block_0)[:8] || ... || AES-256(sk, block_3)[:8]
    N_n     = be32(0) || be64(n)
    ct, tag = AES-256-GCM(K_n, N_n, aad, plaintext)

Regenerate the fixture with:

    python3 rud/tests/data/kat_datagram_key.py > rud/tests/data/kat_datagram_key.json
"""

import hashlib
import json
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand


def stream_key(ts: bytes, generation: int) -> bytes:
    info = b"rud1 stream" + struct.pack(">Q", generation)
    return HKDFExpand(hashes.SHA512(), 32, info).derive(ts)


def datagram_key(sk: bytes, n: int) -> tuple[bytes, bytes]:
    enc = Cipher(algorithms.AES(sk), modes.ECB()).encryptor()
    blocks = b"".join(struct.pack(">IIQ", j, 0, n) for j in range(4))
    out = enc.update(blocks) + enc.finalize()
    key = b"".join(out[16 * j : 16 * j + 8] for j in range(4))
    nonce = struct.pack(">IQ", 0, n)
    return key, nonce


def main() -> None:
    # Deterministic inputs: traffic secrets are SHA-512 of a name.
    secrets = [hashlib.sha512(name).digest() for name in (b"kat ts i2r", b"kat ts r2i")]
    counters = [0, 1, 2, 255, 256, 2**32 - 1, 2**32, 2**62 - 1]
    vectors = []
    for ts in secrets:
        for generation in (0, 1, 2**64 - 1):
            sk = stream_key(ts, generation)
            for n in counters:
                key, nonce = datagram_key(sk, n)
                aad = b"\x11\x22" + struct.pack(">Q", n)
                plaintext = bytes((i * 7 + n) & 0xFF for i in range(37))
                sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
                vectors.append(
                    {
                        "traffic_secret": ts.hex(),
                        "generation": generation,
                        "stream_key": sk.hex(),
                        "n": n,
                        "datagram_key": key.hex(),
                        "nonce": nonce.hex(),
                        "aad": aad.hex(),
                        "plaintext": plaintext.hex(),
                        "ciphertext": sealed[:-16].hex(),
                        "tag": sealed[-16:].hex(),
                    }
                )
    doc = {
        "schema_version": 1,
        "description": "RUD stream key and per-datagram key known answers (kat_datagram_key.py)",
        "vectors": vectors,
    }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
