//! Stateless challenge cookies: valid, garbled, expired and rebound cookies, with no X448.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rud::crypto::cookie::{
    COOKIE_LEN, CookieAddress, CookieError, CookieInput, CookieJar, DEFAULT_EPOCH,
};
use rud::crypto::{CountingProvider, default_provider};

struct Inputs {
    address: CookieAddress,
    ephemeral: [u8; 56],
    key_id: [u8; 16],
    transcript: [u8; 64],
}

impl Inputs {
    fn new() -> Self {
        Self {
            address: CookieAddress::socket(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                40000,
            )),
            ephemeral: [0xe1; 56],
            key_id: [0x1d; 16],
            transcript: [0x7a; 64],
        }
    }

    fn input(&self) -> CookieInput<'_> {
        CookieInput {
            mode: 3,
            address: &self.address,
            initiator_ephemeral: &self.ephemeral,
            responder_key_id: &self.key_id,
            transcript_hash: &self.transcript,
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Fills each new epoch secret with a distinct byte, counting calls.
fn secret_source(calls: &mut u8) -> impl FnOnce(&mut [u8; 32]) + '_ {
    move |b| {
        *calls += 1;
        b.fill(*calls);
    }
}

#[test]
fn valid_cookie_verifies_with_zero_x448() {
    let counting = Arc::new(CountingProvider::new(default_provider()));
    let mut jar = CookieJar::with_default_epoch(counting.clone());
    let i = Inputs::new();
    let mut calls = 0;
    let cookie = jar.issue(secs(1000), &i.input(), secret_source(&mut calls));
    assert_eq!(cookie.len(), COOKIE_LEN);
    assert_eq!(cookie[0], 1);
    assert_eq!(&cookie[1..5], &(1000u32 / 30).to_be_bytes());
    assert_eq!(jar.verify(secs(1000), &cookie, &i.input()), Ok(()));
    assert_eq!(jar.verify(secs(1019), &cookie, &i.input()), Ok(()));
    // Issuing again in the same epoch does not ask for a new secret and gives the same bytes.
    let again = jar.issue(secs(1010), &i.input(), secret_source(&mut calls));
    assert_eq!(again, cookie);
    assert_eq!(calls, 1);
    assert_eq!(counting.counts().total(), 0);
}

#[test]
fn garbled_cookies_are_refused() {
    let mut jar = CookieJar::with_default_epoch(default_provider());
    let i = Inputs::new();
    let mut calls = 0;
    let cookie = jar.issue(secs(600), &i.input(), secret_source(&mut calls));
    for pos in 0..COOKIE_LEN {
        for bit in 0..8 {
            let mut bad = cookie;
            bad[pos] ^= 1 << bit;
            let err = jar.verify(secs(600), &bad, &i.input()).unwrap_err();
            match pos {
                0 => assert_eq!(err, CookieError::Version { version: bad[0] }),
                1..=4 => assert!(
                    matches!(err, CookieError::Expired { .. } | CookieError::Invalid),
                    "{err:?}"
                ),
                _ => assert_eq!(err, CookieError::Invalid),
            }
        }
    }
    assert_eq!(
        jar.verify(secs(600), &cookie[..20], &i.input()),
        Err(CookieError::Length { len: 20 })
    );
    assert_eq!(
        jar.verify(secs(600), &[], &i.input()),
        Err(CookieError::Length { len: 0 })
    );
    let mut long = cookie.to_vec();
    long.push(0);
    assert_eq!(
        jar.verify(secs(600), &long, &i.input()),
        Err(CookieError::Length { len: 22 })
    );
    assert_eq!(
        jar.verify(secs(600), &[0u8; COOKIE_LEN], &i.input()),
        Err(CookieError::Version { version: 0 })
    );
}

#[test]
fn cookies_expire_after_two_epochs_at_most_60_seconds() {
    assert_eq!(DEFAULT_EPOCH, secs(30));
    let mut jar = CookieJar::with_default_epoch(default_provider());
    let i = Inputs::new();
    let mut calls = 0;
    // Issued at the very start of epoch 3 (t = 90 s).
    let cookie = jar.issue(secs(90), &i.input(), secret_source(&mut calls));
    assert_eq!(jar.verify(secs(149), &cookie, &i.input()), Ok(()));
    assert_eq!(
        jar.verify(secs(150), &cookie, &i.input()),
        Err(CookieError::Expired { epoch: 3 })
    );
    // The jar rotates when it issues in a later epoch: the previous secret stays, older go.
    let mut calls = 0;
    let c4 = jar.issue(secs(120), &i.input(), secret_source(&mut calls));
    assert_eq!(calls, 1);
    assert_ne!(c4, cookie);
    assert_eq!(jar.verify(secs(125), &cookie, &i.input()), Ok(()));
    assert_eq!(jar.verify(secs(125), &c4, &i.input()), Ok(()));
    let c5 = jar.issue(secs(150), &i.input(), secret_source(&mut calls));
    assert_eq!(
        jar.verify(secs(150), &cookie, &i.input()),
        Err(CookieError::Expired { epoch: 3 })
    );
    assert_eq!(jar.verify(secs(150), &c4, &i.input()), Ok(()));
    assert_eq!(jar.verify(secs(179), &c5, &i.input()), Ok(()));
    // Skipping several epochs drops every old secret.
    let _ = jar.issue(secs(1000), &i.input(), secret_source(&mut calls));
    assert!(jar.verify(secs(1000), &c5, &i.input()).is_err());
    // A cookie from the future (clock went back) is refused.
    let mut jar2 = CookieJar::with_default_epoch(default_provider());
    let late = jar2.issue(secs(3000), &i.input(), secret_source(&mut calls));
    assert_eq!(
        jar2.verify(secs(2900), &late, &i.input()),
        Err(CookieError::Expired { epoch: 100 })
    );
}

#[test]
fn rebound_cookies_are_refused() {
    let mut jar = CookieJar::new(default_provider(), secs(10)).unwrap();
    let i = Inputs::new();
    let mut calls = 0;
    let cookie = jar.issue(secs(55), &i.input(), secret_source(&mut calls));
    let base = i.input();

    let other_port = CookieAddress::socket(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        40001,
    ));
    let other_ip = CookieAddress::socket(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8)),
        40000,
    ));
    let ip_only = CookieAddress::ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    let v6 = CookieAddress::socket(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 40000));
    let other_eph = [0xe2; 56];
    let other_kid = [0x1e; 16];
    let other_th = [0x7b; 64];
    let cases = [
        CookieInput {
            address: &other_port,
            ..base
        },
        CookieInput {
            address: &other_ip,
            ..base
        },
        CookieInput {
            address: &ip_only,
            ..base
        },
        CookieInput {
            address: &v6,
            ..base
        },
        CookieInput {
            initiator_ephemeral: &other_eph,
            ..base
        },
        CookieInput {
            responder_key_id: &other_kid,
            ..base
        },
        CookieInput {
            transcript_hash: &other_th,
            ..base
        },
        CookieInput { mode: 2, ..base },
    ];
    for (k, input) in cases.iter().enumerate() {
        assert_eq!(
            jar.verify(secs(55), &cookie, input),
            Err(CookieError::Invalid),
            "case {k}"
        );
    }
    assert_eq!(jar.verify(secs(55), &cookie, &base), Ok(()));
    // Another jar (another responder secret) refuses it too.
    let mut other = CookieJar::new(default_provider(), secs(10)).unwrap();
    let mut calls2 = 7;
    let _ = other.issue(secs(55), &base, secret_source(&mut calls2));
    assert_eq!(
        other.verify(secs(55), &cookie, &base),
        Err(CookieError::Invalid)
    );
}

#[test]
fn addresses_encode_unambiguously() {
    let a = CookieAddress::socket("192.0.2.1:443".parse().unwrap());
    assert_eq!(a.as_bytes(), &[4, 192, 0, 2, 1, 0x01, 0xbb]);
    let b = CookieAddress::ip("192.0.2.1".parse().unwrap());
    assert_eq!(b.as_bytes(), &[0x14, 192, 0, 2, 1]);
    let c = CookieAddress::socket("[2001:db8::1]:443".parse().unwrap());
    assert_eq!(c.as_bytes().len(), 19);
    assert_eq!(c.as_bytes()[0], 6);
    let d = CookieAddress::ip("2001:db8::1".parse().unwrap());
    assert_eq!(d.as_bytes().len(), 17);
    assert_eq!(d.as_bytes()[0], 0x16);
    assert!(CookieJar::new(default_provider(), Duration::from_millis(500)).is_err());
}
