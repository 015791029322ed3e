//! Stream keys and per-datagram keys: known answers computed independently in Python
//! (tests/data/kat_datagram_key.py), distinctness, the sealer/opener API, and a seal audit.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use rud::crypto::datagram_key::{
    DatagramOpener, DatagramSealer, MAX_DATAGRAM_COUNTER, StreamKey, datagram_nonce,
};
use rud::crypto::stream_key::{TrafficSecret, derive_stream_key, stream_key_bytes};
use rud::crypto::{CryptoError, CryptoProvider, SealAuditProvider, SecretBytes, default_provider};

fn unhex(v: &serde_json::Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap()).unwrap()
}

/// To regenerate the fixture:
/// `python3 rud/tests/data/kat_datagram_key.py > rud/tests/data/kat_datagram_key.json`.
//= docs/SPEC.md#per-datagram-key
//= type=test
//# K_n and N_n match an independent implementation.
#[test]
fn known_answers_from_python_cryptography() {
    let text = include_str!("data/kat_datagram_key.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let provider = default_provider();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 48);
    for v in vectors {
        let ts = TrafficSecret::from_slice(&unhex(v, "traffic_secret")).unwrap();
        let generation = v["generation"].as_u64().unwrap();
        let n = v["n"].as_u64().unwrap();
        let sk = stream_key_bytes(&*provider, &ts, generation).unwrap();
        assert_eq!(&sk.expose()[..], &unhex(v, "stream_key")[..]);

        let key = derive_stream_key(provider.clone(), &ts, generation).unwrap();
        let dk = key.datagram_key(n).unwrap();
        assert_eq!(&dk.key()[..], &unhex(v, "datagram_key")[..], "n = {n}");
        assert_eq!(&dk.nonce()[..], &unhex(v, "nonce")[..]);
        assert_eq!(dk.nonce(), &datagram_nonce(n));

        let aad = unhex(v, "aad");
        let pt = unhex(v, "plaintext");
        let ct = unhex(v, "ciphertext");
        let tag: [u8; 16] = unhex(v, "tag").try_into().unwrap();
        let mut buf = ct.clone();
        DatagramOpener::new(key)
            .open(n, &aad, &mut buf, &tag)
            .unwrap();
        assert_eq!(buf, pt);

        // Sealing through a sealer: counters 0, 1 and 2 are reachable by allocation.
        if n <= 2 {
            let mut sealer =
                DatagramSealer::new(derive_stream_key(provider.clone(), &ts, generation).unwrap());
            for _ in 0..n {
                sealer.reserve().unwrap();
            }
            let slot = sealer.reserve().unwrap();
            assert_eq!(slot.counter(), n);
            let mut buf = pt.clone();
            let got = slot.seal(&aad, &mut buf).unwrap();
            assert_eq!(buf, ct);
            assert_eq!(got, tag);
        }
    }
}

//= docs/SPEC.md#stream-key
//= type=test
//# Stream keys differ per direction and generation.
#[test]
fn derived_keys_are_distinct() {
    let provider = default_provider();
    let i2r = TrafficSecret::new(SecretBytes::new([1; 64]));
    let r2i = TrafficSecret::new(SecretBytes::new([2; 64]));
    let keys = [
        derive_stream_key(provider.clone(), &i2r, 0).unwrap(),
        derive_stream_key(provider.clone(), &i2r, 1).unwrap(),
        derive_stream_key(provider.clone(), &r2i, 0).unwrap(),
        StreamKey::new(provider.clone(), &SecretBytes::new([3; 32])),
    ];
    let mut seen = HashSet::new();
    let mut nonces = HashSet::new();
    let counters: Vec<u64> = (0..2000)
        .chain([1 << 32, (1 << 32) + 1, MAX_DATAGRAM_COUNTER - 1])
        .collect();
    for key in &keys {
        for &n in &counters {
            let dk = key.datagram_key(n).unwrap();
            assert!(seen.insert(*dk.key()), "duplicate datagram key");
            nonces.insert(*dk.nonce());
        }
    }
    assert_eq!(seen.len(), keys.len() * counters.len());
    assert_eq!(nonces.len(), counters.len());
}

//= docs/SPEC.md#seal-once
//= type=test
//# The sealer allocates n itself and refuses to go past 2^62.
#[test]
fn sealer_and_opener_round_trip_and_refusals() {
    let provider = default_provider();
    let ts = TrafficSecret::new(SecretBytes::new([9; 64]));
    let mut sealer = DatagramSealer::new(derive_stream_key(provider.clone(), &ts, 7).unwrap());
    let opener = DatagramOpener::new(derive_stream_key(provider.clone(), &ts, 7).unwrap());
    let other_generation =
        DatagramOpener::new(derive_stream_key(provider.clone(), &ts, 8).unwrap());
    let payload = vec![0xa5u8; 1200];

    for expect_n in 0..5u64 {
        assert_eq!(sealer.next_counter(), expect_n);
        let slot = sealer.reserve().unwrap();
        let n = slot.counter();
        assert_eq!(n, expect_n);
        let aad = [b"hdr".as_slice(), &n.to_be_bytes()].concat();
        let mut buf = payload.clone();
        let tag = slot.seal(&aad, &mut buf).unwrap();
        let sealed = buf.clone();

        let mut b = sealed.clone();
        opener.open(n, &aad, &mut b, &tag).unwrap();
        assert_eq!(b, payload);

        // Wrong associated data, wrong counter, wrong generation, flipped bit: all refused
        // and the buffer wiped.
        let mut bad_tag = tag;
        bad_tag[15] ^= 0x80;
        let refusals: [(&DatagramOpener, u64, &[u8], [u8; 16]); 4] = [
            (&opener, n, b"other", tag),
            (&opener, n + 1, &aad, tag),
            (&other_generation, n, &aad, tag),
            (&opener, n, &aad, bad_tag),
        ];
        for (o, n2, aad2, tag2) in refusals {
            let mut b = sealed.clone();
            assert_eq!(
                o.open(n2, aad2, &mut b, &tag2),
                Err(CryptoError::AuthenticationFailed)
            );
            assert!(b.iter().all(|&x| x == 0));
        }
    }
    let mut b = vec![0u8; 4];
    assert_eq!(
        opener.open(MAX_DATAGRAM_COUNTER, b"", &mut b, &[0; 16]),
        Err(CryptoError::CounterOutOfRange {
            n: MAX_DATAGRAM_COUNTER
        })
    );
}

/// Every seal goes through the audit: two streams and two directions, many datagrams, no
/// (key, nonce) pair reused. A deliberate reuse through the raw AEAD is caught.
#[test]
fn seal_audit_sees_no_reuse_and_catches_a_deliberate_one() {
    let audit = Arc::new(SealAuditProvider::new(default_provider()));
    let provider: Arc<dyn CryptoProvider> = audit.clone();
    let i2r = TrafficSecret::new(SecretBytes::new([4; 64]));
    let r2i = TrafficSecret::new(SecretBytes::new([5; 64]));
    let mut sealers: Vec<DatagramSealer> = [(&i2r, 0), (&i2r, 1), (&r2i, 0), (&r2i, 1)]
        .into_iter()
        .map(|(ts, g)| DatagramSealer::new(derive_stream_key(provider.clone(), ts, g).unwrap()))
        .collect();
    for round in 0..200u32 {
        for s in &mut sealers {
            let slot = s.reserve().unwrap();
            // The same associated data and payload on every stream: only the key and nonce
            // keep them apart.
            let mut buf = round.to_be_bytes().to_vec();
            slot.seal(b"same header", &mut buf).unwrap();
        }
    }
    assert_eq!(audit.seal_count(), 800);
    assert!(audit.conflicts().is_empty());
    assert_eq!(audit.reseals(), 0);

    // What a retransmission must never do: seal again under the same key and nonce with a
    // different header.
    let key = [7u8; 32];
    let nonce = datagram_nonce(3);
    let mut a = *b"payload";
    rud::crypto::aead::seal_in_place(&*provider, &key, &nonce, b"retransmit=0", &mut a).unwrap();
    let mut b = *b"payload";
    rud::crypto::aead::seal_in_place(&*provider, &key, &nonce, b"retransmit=1", &mut b).unwrap();
    assert_eq!(audit.conflicts().len(), 1);
}
