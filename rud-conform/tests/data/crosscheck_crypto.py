#!/usr/bin/env python3
"""Recomputes the RUD `crypto` vectors (docs/SPEC.md section 7) with Python's `cryptography`
package, independently of the Rust reference: X448, SHA-512, HKDF-SHA-512 (extract and expand),
HMAC-SHA-256, AES-256 and AES-256-GCM.

Input: the crypto vectors as a JSON list on stdin (what `rud-conform/tests/python_crosscheck.rs`
sends), or vector files given as arguments (YAML, needs PyYAML):

    python3 rud-conform/tests/data/crosscheck_crypto.py vectors/crypto/*.yaml

Prints one line per vector and `checked N crypto vectors` at the end; exits 1 on any mismatch
and 77 when `cryptography` is missing (printing why it skipped).
"""
import hashlib
import hmac
import json
import struct
import sys

try:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x448 import X448PrivateKey, X448PublicKey
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError as e:  # pragma: no cover
    print(f"SKIPPED: the Python `cryptography` package is not available ({e})")
    sys.exit(77)

PROTOCOL_NAME = b"RUD-1 X448 HKDF-SHA512 AES-256-GCM"
MODES = {"first-contact": 1, "immediate": 2, "deferred": 3}


def h(s):
    return bytes.fromhex(s)


def extract(salt, ikm):
    """HKDF-SHA-512-Extract (RFC 5869 2.2) is HMAC-SHA-512(salt, IKM)."""
    return hmac.new(salt, ikm, hashlib.sha512).digest()


def expand(prk, info, n):
    return HKDFExpand(algorithm=hashes.SHA512(), length=n, info=info).derive(prk)


def public(private):
    k = X448PrivateKey.from_private_bytes(private)
    return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def dh(private, peer):
    return X448PrivateKey.from_private_bytes(private).exchange(X448PublicKey.from_public_bytes(peer))


def cookie_field_of_complete(header):
    """The cookie field of an InitiatorComplete header (docs/SPEC.md 3.7.3): stream id, type,
    key id, ephemeral (algorithm, length, key), index, then the cookie. Every length here is a
    one-octet QUIC varint."""
    off = 1 + header[0] + 1
    off += 1 + header[off]  # responder key id
    off += 2 + header[off + 1]  # algorithm, length, key
    off += 1  # ephemeral index
    n = header[off]
    return header[off + 1 : off + 1 + n]


def key_schedule(v):
    k = v["key_schedule"]
    mode, i, o = k["mode"], k["inputs"], k["outputs"]
    s_i, s_r = h(i["initiator_static_private"]), h(i["responder_static_private"])
    e_i, e_r = h(i["initiator_ephemeral_private"]), h(i["responder_ephemeral_private"])
    S_i, S_r, E_i, E_r = public(s_i), public(s_r), public(e_i), public(e_r)
    got = {
        "initiator_static_public": S_i,
        "responder_static_public": S_r,
        "initiator_ephemeral_public": E_i,
        "responder_ephemeral_public": E_r,
        "es": dh(e_i, S_r),
        "ee": dh(e_i, E_r),
        "se": dh(s_i, E_r),
    }
    assert dh(s_r, E_i) == got["es"] and dh(e_r, E_i) == got["ee"] and dh(e_r, S_i) == got["se"]
    ck0 = hashlib.sha512(PROTOCOL_NAME).digest()
    ck1 = extract(ck0, got["es"])
    th = hashlib.sha512(PROTOCOL_NAME + bytes([MODES[mode]]) + S_r)
    got.update(ck0=ck0, ck1=ck1)
    if mode == "immediate":
        got["ss"] = dh(s_i, S_r)
        th.update(h(i["exchange_header"]))
        th0 = th.digest()
        got["k_mz_i2r"] = expand(ck1, b"rud1 mz i2r" + th0, 32)
        th.update(S_i)
        th1 = th.digest()
        ck2 = extract(ck1, got["ss"])
        got["k_early_i2r"] = expand(ck2, b"rud1 early i2r" + th1, 32)
        th.update(h(i["responder_complete_header"]))
        th2 = th.digest()
        got["k_mz_r2i"] = expand(ck2, b"rud1 mz r2i" + th2, 32)
        th.update(E_r)
        th3 = th.digest()
        ck2_ee = extract(ck2, got["ee"])
        ck3 = extract(ck2_ee, got["se"])
        got["k_hs_r2i"] = expand(ck3, b"rud1 hs r2i" + th3, 32)
        got.update(ck2=ck2, ck2_ee=ck2_ee, th0=th0, th1=th1, th2=th2, th3=th3)
        final = th3
    else:
        request, reply = h(i["request"]), h(i["reply"])
        header = h(i["complete_header"])
        field = cookie_field_of_complete(header)
        at = reply.find(field)
        assert at > 0, "the Complete's cookie field is not in the reply"
        offer = hashlib.sha512(
            b"rud1 offer transcript" + request + reply[:at] + reply[at + len(field) :]
        ).digest()[:32]
        assert field[21:] == offer, "the cookie field does not carry the offer transcript"
        th.update(offer + E_r + header)
        th0 = th.digest()
        ck2 = extract(ck1, got["ee"])
        got["k_mz_i2r"] = expand(ck2, b"rud1 mz i2r" + th0, 32)
        th.update(S_i)
        th1 = th.digest()
        ck3 = extract(ck2, got["se"])
        got["k_hs_i2r"] = expand(ck3, b"rud1 hs i2r" + th1, 32)
        got.update(offer=offer, ck2=ck2, th0=th0, th1=th1)
        final = th1
    got["ck3"] = ck3
    for name, label in [
        ("ts_i2r", b"rud1 ts i2r"),
        ("ts_r2i", b"rud1 ts r2i"),
        ("exporter", b"rud1 exporter"),
        ("resumption", b"rud1 resumption"),
    ]:
        got[name] = expand(ck3, label + final, 64)
    return o, got


def datagram_key(sk, n):
    aes = Cipher(algorithms.AES(sk), modes.ECB()).encryptor()
    blocks = b"".join(struct.pack(">IIQ", j, 0, n) for j in range(4))
    out = aes.update(blocks) + aes.finalize()
    return b"".join(out[16 * j : 16 * j + 8] for j in range(4)), struct.pack(">IQ", 0, n)


def datagram_keys(v):
    d = v["datagram_key"]
    i, o = d["inputs"], d["outputs"]
    sk = expand(h(i["traffic_secret"]), b"rud1 stream" + struct.pack(">Q", i["generation"]), 32)
    got = {"stream_key": sk}
    want = {"stream_key": o["stream_key"]}
    for row in o["datagrams"]:
        key, nonce = datagram_key(sk, row["n"])
        got[f"key[{row['n']}]"], got[f"nonce[{row['n']}]"] = key, nonce
        want[f"key[{row['n']}]"], want[f"nonce[{row['n']}]"] = row["key"], row["nonce"]
    assert [r["n"] for r in o["datagrams"]] == i["counters"]
    return want, got


def seal(v):
    s = v["seal"]
    i, o = s["inputs"], s["outputs"]
    key, nonce = datagram_key(h(i["stream_key"]), i["n"])
    sealed = AESGCM(key).encrypt(nonce, h(i["plaintext"]), h(i["aad"]))
    assert AESGCM(key).decrypt(nonce, sealed, h(i["aad"])) == h(i["plaintext"])
    return o, {"key": key, "nonce": nonce, "sealed": sealed}


def cookie(v):
    c = v["cookie"]
    i, o = c["inputs"], c["outputs"]
    mode = bytes([MODES[i["mode"]]])
    sid = h(i["responder_stream_id"])
    offer_hash = hashlib.sha512(
        b"rud1 offer" + mode + bytes([len(sid)]) + sid + h(i["responder_static_public"])
        + h(i["responder_ephemeral_public"]) + h(i["offer"])
    ).digest()
    host, port = i["address"].rsplit(":", 1)
    import ipaddress

    ip = ipaddress.ip_address(host.strip("[]"))
    addr = bytes([ip.version]) + ip.packed + struct.pack(">H", int(port))
    epoch = i["time"] // i["epoch_length"]
    mac = hmac.new(
        h(i["secret"]),
        b"rud1 cookie" + mode + bytes([len(addr)]) + addr + h(i["initiator_ephemeral"])
        + h(i["responder_key_id"]) + offer_hash,
        hashlib.sha256,
    ).digest()[:16]
    value = b"\x01" + struct.pack(">I", epoch & 0xFFFFFFFF) + mac
    got = {"epoch": epoch, "offer_hash": offer_hash, "cookie": value, "cookie_field": value + h(i["offer"])}
    return o, got


CHECKS = {"key-schedule": key_schedule, "datagram-key": datagram_keys, "seal": seal, "cookie": cookie}


def main():
    if len(sys.argv) > 1:
        try:
            import yaml
        except ImportError:
            print("SKIPPED: reading YAML files needs PyYAML; pipe JSON instead")
            sys.exit(77)
        vectors = []
        for path in sys.argv[1:]:
            with open(path) as f:
                vectors += yaml.safe_load(f)["vectors"]
    else:
        vectors = json.load(sys.stdin)
    failed = 0
    for v in vectors:
        want, got = CHECKS[v["kind"]](v)
        bad = []
        for name, value in got.items():
            expected = want.get(name)
            shown = value if isinstance(value, int) else value.hex()
            if expected != shown:
                bad.append(f"{name}: vector {expected}, python {shown}")
        missing = [k for k, x in want.items() if x is not None and k not in got]
        bad += [f"{k}: not recomputed" for k in missing]
        if bad:
            failed += 1
            print(f"FAIL {v['id']}: " + "; ".join(bad))
        else:
            print(f"ok   {v['id']} ({v['kind']}, {len(got)} values)")
    print(f"checked {len(vectors)} crypto vectors, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
