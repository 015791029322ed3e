//! X448 key files: OpenSSL-generated fixtures, raw hex, strict DER with byte offsets, and the
//! key identifier.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rud::crypto::keyfile::{
    DerProblem, KeyFileError, KeyId, parse_private_key, parse_public_key, private_key_from_der,
    private_key_to_der, private_key_to_hex, private_key_to_pem, public_key_from_der,
    public_key_to_der, public_key_to_hex, public_key_to_pem,
};
use rud::crypto::x448::{X448PublicKey, X448Secret};
use rud::crypto::{CountingProvider, CryptoError, RustCryptoProvider, default_provider};

const OPENSSL_PRIVATE_PEM: &str = include_str!("data/x448_openssl_private.pem");
const OPENSSL_PUBLIC_PEM: &str = include_str!("data/x448_openssl_public.pem");
const OPENSSL_TEXT: &str = include_str!("data/x448_openssl.txt");

fn fixture_hex(name: &str) -> Vec<u8> {
    let line = OPENSSL_TEXT
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap();
    hex::decode(line.trim()).unwrap()
}

fn der_err(offset: usize, problem: DerProblem) -> KeyFileError {
    KeyFileError::Der { offset, problem }
}

#[test]
fn reads_openssl_keys_and_writes_them_back_identically() {
    let p = RustCryptoProvider;
    let secret = parse_private_key(&p, OPENSSL_PRIVATE_PEM).unwrap();
    assert_eq!(&secret.expose()[..], &fixture_hex("private")[..]);
    let public = parse_public_key(OPENSSL_PUBLIC_PEM).unwrap();
    assert_eq!(&public.as_bytes()[..], &fixture_hex("public")[..]);
    // The public key OpenSSL derived equals ours.
    assert_eq!(secret.public_key(&p), public);
    // Our encoders produce OpenSSL's bytes exactly.
    assert_eq!(&*private_key_to_pem(&secret), OPENSSL_PRIVATE_PEM);
    assert_eq!(public_key_to_pem(&public), OPENSSL_PUBLIC_PEM);
    assert_eq!(private_key_to_der(&secret).len(), 72);
    assert_eq!(public_key_to_der(&public).len(), 68);
}

#[test]
fn key_identifier() {
    // SHA-512("RUD key identifier" || 0x01 || public key)[0..16], computed with Python hashlib.
    let public = parse_public_key(OPENSSL_PUBLIC_PEM).unwrap();
    let id = KeyId::of(&RustCryptoProvider, &public);
    assert_eq!(id.to_string(), "b48e21f149e9d245a274cda95c3baec0");
    assert_eq!(format!("{id:?}"), "KeyId(b48e21f149e9d245a274cda95c3baec0)");
}

#[test]
fn raw_hex_forms() {
    let p = RustCryptoProvider;
    let secret = parse_private_key(&p, OPENSSL_PRIVATE_PEM).unwrap();
    let public = secret.public_key(&p);
    let hex_priv = private_key_to_hex(&secret);
    assert_eq!(hex_priv.len(), 113);
    assert_eq!(parse_private_key(&p, &hex_priv).unwrap(), secret);
    let hex_pub = public_key_to_hex(&public);
    // Whitespace and newlines anywhere, upper case accepted.
    let spaced: String = hex_pub
        .trim()
        .to_uppercase()
        .as_bytes()
        .chunks(16)
        .map(|c| format!("  {}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(parse_public_key(&spaced).unwrap(), public);
    assert_eq!(
        parse_public_key(&hex_pub[..110]),
        Err(KeyFileError::HexLength { digits: 110 })
    );
    assert_eq!(
        parse_public_key(&format!("{}00", hex_pub.trim())),
        Err(KeyFileError::HexLength { digits: 114 })
    );
    let mut bad = hex_pub.clone();
    bad.replace_range(5..6, "x");
    assert_eq!(parse_public_key(&bad), Err(KeyFileError::Hex { offset: 5 }));
    // The public-key checks apply to hex input too.
    let zero = "00".repeat(56);
    assert_eq!(
        parse_public_key(&zero),
        Err(KeyFileError::PublicKey(CryptoError::LowOrderPublicKey))
    );
    assert_eq!(
        parse_public_key(&"ff".repeat(56)),
        Err(KeyFileError::PublicKey(CryptoError::NonCanonicalPublicKey))
    );
}

#[test]
fn strict_der_with_offsets() {
    let p = RustCryptoProvider;
    let secret = X448Secret::from_bytes([0x42; 56]);
    let der = private_key_to_der(&secret).to_vec();
    let spki = public_key_to_der(&secret.public_key(&p));

    // Every truncation fails cleanly.
    for len in 0..der.len() {
        assert!(private_key_from_der(&der[..len]).is_err(), "len {len}");
    }
    for len in 0..spki.len() {
        assert!(public_key_from_der(&spki[..len]).is_err(), "len {len}");
    }
    // Trailing byte after the outer SEQUENCE.
    let mut long = der.clone();
    long.push(0);
    assert_eq!(
        private_key_from_der(&long).unwrap_err(),
        der_err(72, DerProblem::TrailingData)
    );
    // Version 2 is not a PKCS#8 version.
    let mut v = der.clone();
    v[4] = 2;
    assert_eq!(
        private_key_from_der(&v).unwrap_err(),
        der_err(2, DerProblem::Version)
    );
    // X25519's OID (1.3.101.110) is not X448.
    let mut oid = der.clone();
    oid[11] = 0x6e;
    assert_eq!(
        private_key_from_der(&oid).unwrap_err(),
        der_err(5, DerProblem::Algorithm)
    );
    // Parameters must be absent (here a NULL).
    let mut params = vec![
        0x30, 0x44, 0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x6f, 0x05, 0x00,
    ];
    params.extend_from_slice(&spki[9..]);
    assert_eq!(
        public_key_from_der(&params).unwrap_err(),
        der_err(2, DerProblem::Algorithm)
    );
    // Unused bits in the BIT STRING.
    let mut bits = spki.clone();
    bits[11] = 1;
    assert_eq!(
        public_key_from_der(&bits).unwrap_err(),
        der_err(11, DerProblem::UnusedBits)
    );
    // A 57-byte key.
    let mut k57 = vec![
        0x30, 0x43, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f, 0x03, 0x3a, 0x00,
    ];
    k57.extend_from_slice(&[0x05; 57]);
    assert_eq!(
        public_key_from_der(&k57).unwrap_err(),
        der_err(12, DerProblem::KeyLength { len: 57 })
    );
    // Long-form length where the short form is required.
    let mut nonmin = vec![0x30, 0x81, 0x42];
    nonmin.extend_from_slice(&spki[2..]);
    assert_eq!(
        public_key_from_der(&nonmin).unwrap_err(),
        der_err(1, DerProblem::BadLength)
    );
    // Wrong outer tag.
    let mut tag = spki.clone();
    tag[0] = 0x31;
    assert_eq!(
        public_key_from_der(&tag).unwrap_err(),
        der_err(
            0,
            DerProblem::UnexpectedTag {
                expected: 0x30,
                found: 0x31
            }
        )
    );
    // A low-order key inside a well-formed SubjectPublicKeyInfo.
    let mut low = spki.clone();
    low[12..].fill(0);
    assert_eq!(
        public_key_from_der(&low).unwrap_err(),
        KeyFileError::PublicKey(CryptoError::LowOrderPublicKey)
    );
    // Any single-byte change either fails or (in the key bytes) decodes: never a panic.
    for i in 0..der.len() {
        for x in [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0xff] {
            let mut m = der.clone();
            m[i] = x;
            let _ = private_key_from_der(&m);
        }
    }
    for i in 0..spki.len() {
        for x in [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0xff] {
            let mut m = spki.clone();
            m[i] = x;
            let _ = public_key_from_der(&m);
        }
    }
}

/// RFC 5958 version 1 (v2) private keys may carry attributes and the public key; the public
/// key must match.
#[test]
fn one_asymmetric_key_v2() {
    let counting = CountingProvider::new(default_provider());
    let secret = X448Secret::from_bytes([0x42; 56]);
    let public = secret.public_key(&counting);
    let build = |pk: &[u8; 56], attrs: bool| {
        let mut body = vec![0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f];
        body.extend_from_slice(&[0x04, 0x3a, 0x04, 0x38]);
        body.extend_from_slice(secret.expose());
        if attrs {
            body.extend_from_slice(&[0xa0, 0x02, 0x31, 0x00]);
        }
        body.extend_from_slice(&[0x81, 0x39, 0x00]);
        body.extend_from_slice(pk);
        let len = u8::try_from(body.len()).unwrap();
        let mut der = if len < 0x80 {
            vec![0x30, len]
        } else {
            vec![0x30, 0x81, len]
        };
        der.extend_from_slice(&body);
        der
    };
    for attrs in [false, true] {
        let der = build(public.as_bytes(), attrs);
        let decoded = private_key_from_der(&der).unwrap();
        assert_eq!(decoded.public.as_ref(), Some(public.as_bytes()));
        let text = pem("PRIVATE KEY", &der);
        assert_eq!(parse_private_key(&counting, &text).unwrap(), secret);
        let mut other = *public.as_bytes();
        other[0] ^= 1;
        let text = pem("PRIVATE KEY", &build(&other, attrs));
        assert_eq!(
            parse_private_key(&counting, &text),
            Err(KeyFileError::PublicKeyMismatch)
        );
    }
}

/// PEM-encodes with a plain base64 encoder written here, independent of the one under test.
fn pem(label: &str, der: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for c in der.chunks(3) {
        let v = c
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, &b)| v | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= c.len() {
                b64.push(char::from(A[((v >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

#[test]
fn pem_framing() {
    let p = RustCryptoProvider;
    let with_text = format!("Subject: test key\n\n{OPENSSL_PRIVATE_PEM}trailing words\n");
    assert!(parse_private_key(&p, &with_text).is_ok());
    assert_eq!(
        parse_private_key(&p, OPENSSL_PUBLIC_PEM),
        Err(KeyFileError::NoPemBlock {
            label: "PRIVATE KEY"
        })
    );
    assert_eq!(
        parse_public_key(OPENSSL_PRIVATE_PEM),
        Err(KeyFileError::NoPemBlock {
            label: "PUBLIC KEY"
        })
    );
    let encrypted = OPENSSL_PRIVATE_PEM.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
    assert!(matches!(
        parse_private_key(&p, &encrypted),
        Err(KeyFileError::NoPemBlock { .. })
    ));
    let cut = OPENSSL_PRIVATE_PEM.replace("-----END PRIVATE KEY-----\n", "");
    assert_eq!(
        parse_private_key(&p, &cut),
        Err(KeyFileError::UnterminatedPem {
            label: "PRIVATE KEY"
        })
    );
    // A bad base64 character is reported at its byte offset in the file.
    let mut bad = OPENSSL_PRIVATE_PEM.to_owned();
    bad.replace_range(40..41, "*");
    assert_eq!(
        parse_private_key(&p, &bad),
        Err(KeyFileError::Base64 { offset: 40 })
    );
}

/// If OpenSSL is installed, it reads what we write. Skipped (with a note) otherwise.
#[test]
fn openssl_reads_our_files() {
    let Ok(out) = std::process::Command::new("openssl")
        .arg("version")
        .output()
    else {
        eprintln!("openssl not found: cross-check skipped");
        return;
    };
    if !out.status.success() {
        eprintln!("openssl not usable: cross-check skipped");
        return;
    }
    let p = RustCryptoProvider;
    let secret = X448Secret::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(29)));
    let dir = std::env::temp_dir().join(format!("rud-keyfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("k.pem");
    std::fs::write(&path, private_key_to_pem(&secret).as_bytes()).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = parse_public_key(std::str::from_utf8(&out.stdout).unwrap()).unwrap();
    let ours: X448PublicKey = secret.public_key(&p);
    assert_eq!(theirs, ours);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        public_key_to_pem(&ours)
    );
}
