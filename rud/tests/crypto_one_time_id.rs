//! One-time stream identifiers: one AES block of (stream index, counter), counters never
//! repeat, and ids above the highest issued counter are refused.

use std::collections::HashSet;

use rud::crypto::one_time_id::{ONE_TIME_ID_LEN, OneTimeId, OneTimeIdError, OneTimeIdIssuer};
use rud::crypto::{RustCryptoProvider, SecretBytes};

fn issuer(byte: u8) -> OneTimeIdIssuer {
    OneTimeIdIssuer::new(&RustCryptoProvider, &SecretBytes::new([byte; 32]))
}

#[test]
fn issue_and_decode() {
    let mut iss = issuer(1);
    let mut seen = HashSet::new();
    for stream in [0u64, 5, u64::MAX] {
        for counter in 0..100u64 {
            let id = iss.issue(stream).unwrap();
            assert_eq!(id.len(), ONE_TIME_ID_LEN);
            assert!(seen.insert(id), "ids never repeat");
            assert_eq!(
                iss.decode(&id),
                Ok(OneTimeId {
                    stream_index: stream,
                    counter
                })
            );
        }
        assert_eq!(iss.highest_issued(stream), Some(99));
    }
    // Earlier ids still decode (whether they are still current is the connection's call).
    let first = issuer(1).issue(5).unwrap();
    assert_eq!(iss.decode(&first).unwrap().counter, 0);
}

#[test]
fn refuses_unissued_and_malformed_ids() {
    let mut iss = issuer(2);
    // Another issuer with the same key plays the forger who guesses the structure: anything it
    // makes beyond what `iss` issued is refused.
    let mut twin = issuer(2);
    let id0 = iss.issue(9).unwrap();
    assert_eq!(twin.issue(9).unwrap(), id0);
    let ahead = twin.issue(9).unwrap();
    assert_eq!(
        iss.decode(&ahead),
        Err(OneTimeIdError::CounterNotIssued {
            counter: 1,
            highest: 0
        })
    );
    let other_stream = twin.issue(10).unwrap();
    assert_eq!(
        iss.decode(&other_stream),
        Err(OneTimeIdError::UnknownStream)
    );
    // Under another key the same plaintext decodes to garbage: almost surely unknown.
    let foreign = issuer(3).issue(9).unwrap();
    assert!(iss.decode(&foreign).is_err());
    assert_eq!(
        iss.decode(&id0[..8]),
        Err(OneTimeIdError::Length { len: 8 })
    );
    assert_eq!(
        iss.decode(&[0; 17]),
        Err(OneTimeIdError::Length { len: 17 })
    );
    // Once a counter is issued, the next issue never goes back.
    let id1 = iss.issue(9).unwrap();
    assert_eq!(id1, ahead);
    assert_eq!(iss.decode(&ahead).unwrap().counter, 1);
}
