//! Stateless challenge cookies for the Deferred handshake.
//!
//! A responder under load answers an Exchange with a challenge carrying a cookie and keeps no
//! state; the initiator echoes the cookie in its Complete, and the responder checks it before
//! any X448 operation (as the CCNx key exchange's SourceCookie and the DTLS cookie do):
//!
//! ```text
//! cookie = version (1 byte, = 1) || epoch (be32)
//!       || HMAC-SHA-256(K_epoch, "rud1 cookie" || mode || len(address) || address
//!                       || initiator ephemeral || responder key id || transcript hash)[0..16]
//! ```
//!
//! 21 bytes in all. The address is length-prefixed (one byte) so that addresses of different
//! families cannot run into the fields after them. The transcript hash is the hash of what the
//! initiator saw (it can also cover the responder's ephemeral key set and its epoch).
//!
//! `K_epoch` is a random secret supplied by the caller for each epoch (the jar holds no random
//! generator and no clock: time is a parameter). Cookies of the current and the previous epoch
//! verify, so with the default 30 s epoch a cookie lives between 30 s and 60 s. The tag is
//! compared in constant time.
//!
//! Cookie secrets must never be written to a key log; this type has no way to read them out.

use core::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;
use thiserror::Error;

use super::SecretBytes;
use super::provider::CryptoProvider;

/// Cookie format version.
pub const COOKIE_VERSION: u8 = 1;
/// Cookie length on the wire: version, be32 epoch, 16-byte truncated HMAC.
pub const COOKIE_LEN: usize = 21;
/// Label at the start of the HMAC input.
pub const COOKIE_LABEL: &[u8] = b"rud1 cookie";
/// Default epoch length.
pub const DEFAULT_EPOCH: Duration = Duration::from_secs(30);

/// A cookie as sent on the wire.
pub type Cookie = [u8; COOKIE_LEN];

/// Why a cookie was refused. For local diagnostics only: the peer must not learn which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CookieError {
    /// Not 21 bytes.
    #[error("cookie must be {COOKIE_LEN} bytes, got {len}")]
    Length {
        /// Length received.
        len: usize,
    },
    /// Unknown version byte.
    #[error("unknown cookie version {version}")]
    Version {
        /// Version received.
        version: u8,
    },
    /// The epoch is neither the current nor the previous one (or its secret is gone).
    #[error("cookie epoch {epoch} has expired or is not yet valid")]
    Expired {
        /// Epoch received (low 32 bits).
        epoch: u32,
    },
    /// The MAC did not match: garbled, forged, or bound to other inputs.
    #[error("cookie does not verify")]
    Invalid,
    /// The epoch length was zero.
    #[error("cookie epoch length must be at least one second")]
    EpochLength,
}

/// Address bytes bound into a cookie (at most 18 bytes plus a family byte).
///
/// Over UDP use [`CookieAddress::socket`] (IP and port); over HTTP the port of the client is
/// not meaningful, so use [`CookieAddress::ip`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieAddress {
    buf: [u8; 19],
    len: u8,
}

impl CookieAddress {
    fn build(family: u8, ip: &[u8], port: Option<u16>) -> Self {
        let mut buf = [0u8; 19];
        buf[0] = family;
        let mut len = 1;
        for (dst, src) in buf[1..].iter_mut().zip(ip) {
            *dst = *src;
            len += 1;
        }
        if let Some(port) = port {
            for (dst, src) in buf[len..].iter_mut().zip(port.to_be_bytes()) {
                *dst = src;
                len += 1;
            }
        }
        Self {
            buf,
            len: u8::try_from(len).unwrap_or(19),
        }
    }

    /// IP address and port: family byte 4 or 6, address, be16 port.
    #[must_use]
    pub fn socket(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => Self::build(4, &a.ip().octets(), Some(a.port())),
            SocketAddr::V6(a) => Self::build(6, &a.ip().octets(), Some(a.port())),
        }
    }

    /// IP address only: family byte 0x14 or 0x16, address.
    #[must_use]
    pub fn ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::build(0x14, &a.octets(), None),
            IpAddr::V6(a) => Self::build(0x16, &a.octets(), None),
        }
    }

    /// The encoded bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&self.buf)
    }
}

impl fmt::Debug for CookieAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CookieAddress({})", hex::encode(self.as_bytes()))
    }
}

/// Everything a cookie binds.
#[derive(Debug, Clone, Copy)]
pub struct CookieInput<'a> {
    /// Handshake mode code.
    pub mode: u8,
    /// Where the Exchange came from.
    pub address: &'a CookieAddress,
    /// The initiator's ephemeral public key.
    pub initiator_ephemeral: &'a [u8; 56],
    /// The responder key identifier the initiator addressed.
    pub responder_key_id: &'a [u8; 16],
    /// Transcript hash of what the initiator saw.
    pub transcript_hash: &'a [u8; 64],
}

struct EpochSecret {
    epoch: u64,
    key: SecretBytes<32>,
}

/// Issues and verifies cookies under a rotating secret; keeps no per-initiator state.
pub struct CookieJar {
    provider: Arc<dyn CryptoProvider>,
    epoch_secs: u64,
    current: Option<EpochSecret>,
    previous: Option<EpochSecret>,
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("epoch_secs", &self.epoch_secs)
            .field("current_epoch", &self.current.as_ref().map(|s| s.epoch))
            .field("previous_epoch", &self.previous.as_ref().map(|s| s.epoch))
            .finish_non_exhaustive()
    }
}

impl CookieJar {
    /// A jar with the given epoch length (whole seconds; at least one).
    ///
    /// # Errors
    /// [`CookieError::EpochLength`] if the length is under one second.
    pub fn new(
        provider: Arc<dyn CryptoProvider>,
        epoch_length: Duration,
    ) -> Result<Self, CookieError> {
        let epoch_secs = epoch_length.as_secs();
        if epoch_secs == 0 {
            return Err(CookieError::EpochLength);
        }
        Ok(Self {
            provider,
            epoch_secs,
            current: None,
            previous: None,
        })
    }

    /// A jar with the default 30-second epoch.
    #[must_use]
    pub fn with_default_epoch(provider: Arc<dyn CryptoProvider>) -> Self {
        Self {
            provider,
            epoch_secs: DEFAULT_EPOCH.as_secs(),
            current: None,
            previous: None,
        }
    }

    /// The epoch number at time `now` (any fixed origin, the caller's choice).
    #[must_use]
    pub fn epoch_at(&self, now: Duration) -> u64 {
        now.as_secs() / self.epoch_secs
    }

    /// Whether [`CookieJar::issue`] at `now` will ask for a fresh secret.
    #[must_use]
    pub fn needs_secret(&self, now: Duration) -> bool {
        let e = self.epoch_at(now);
        !matches!(&self.current, Some(s) if s.epoch == e)
    }

    /// Installs the secret for the epoch of `now`. The secret of the epoch just before stays
    /// valid; any older one is wiped. If time went backwards, every older secret is dropped
    /// (the jar fails closed: outstanding cookies stop verifying).
    pub fn install_secret(&mut self, now: Duration, secret: SecretBytes<32>) {
        let e = self.epoch_at(now);
        let old = self.current.take();
        self.previous = match old {
            Some(s) if e.checked_sub(1) == Some(s.epoch) => Some(s),
            Some(s) if s.epoch == e => self.previous.take(),
            _ => None,
        };
        self.current = Some(EpochSecret {
            epoch: e,
            key: secret,
        });
    }

    fn mac(&self, key: &SecretBytes<32>, input: &CookieInput<'_>) -> [u8; 32] {
        let addr = input.address.as_bytes();
        let addr_len = [u8::try_from(addr.len()).unwrap_or(u8::MAX)];
        let mut out = [0u8; 32];
        self.provider.hmac_sha256(
            key.expose(),
            &[
                COOKIE_LABEL,
                &[input.mode],
                &addr_len,
                addr,
                input.initiator_ephemeral,
                input.responder_key_id,
                input.transcript_hash,
            ],
            &mut out,
        );
        out
    }

    /// Issues a cookie at `now`. If the epoch has moved on, `fresh_secret` is called once to
    /// fill the new epoch's secret with random bytes; otherwise it is not called.
    pub fn issue(
        &mut self,
        now: Duration,
        input: &CookieInput<'_>,
        fresh_secret: impl FnOnce(&mut [u8; 32]),
    ) -> Cookie {
        if self.needs_secret(now) {
            let mut s = SecretBytes::zero();
            fresh_secret(s.expose_mut());
            self.install_secret(now, s);
        }
        let mut cookie = [0u8; COOKIE_LEN];
        cookie[0] = COOKIE_VERSION;
        // Wire epochs are the low 32 bits of the epoch number.
        let epoch = self.current.as_ref().map_or(0, |s| s.epoch);
        cookie[1..5].copy_from_slice(&(epoch as u32).to_be_bytes());
        if let Some(s) = &self.current {
            let tag = self.mac(&s.key, input);
            cookie[5..].copy_from_slice(&tag[..16]);
        }
        cookie
    }

    /// Verifies a cookie at `now` against the inputs it must be bound to. Costs one
    /// HMAC-SHA-256 at most; no X448.
    ///
    /// # Errors
    /// Any [`CookieError`]; all of them must look the same to the peer.
    pub fn verify(
        &self,
        now: Duration,
        cookie: &[u8],
        input: &CookieInput<'_>,
    ) -> Result<(), CookieError> {
        let cookie: &Cookie = cookie
            .try_into()
            .map_err(|_| CookieError::Length { len: cookie.len() })?;
        if cookie[0] != COOKIE_VERSION {
            return Err(CookieError::Version { version: cookie[0] });
        }
        let wire_epoch = u32::from_be_bytes([cookie[1], cookie[2], cookie[3], cookie[4]]);
        let now_epoch = self.epoch_at(now);
        let secret = [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find(|s| {
                (s.epoch == now_epoch || Some(s.epoch) == now_epoch.checked_sub(1))
                    && s.epoch as u32 == wire_epoch
            })
            .ok_or(CookieError::Expired { epoch: wire_epoch })?;
        let tag = self.mac(&secret.key, input);
        if bool::from(tag[..16].ct_eq(&cookie[5..])) {
            Ok(())
        } else {
            Err(CookieError::Invalid)
        }
    }
}
