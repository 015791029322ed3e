//! Proof of authentication: values that change a sender's behaviour come only from datagrams
//! whose tag verified.
use std::ops::Deref;

use super::RecoveryError;
use crate::crypto::CryptoError;
use crate::crypto::datagram_key::DatagramOpener;
use crate::wire::parse;
use crate::wire::{Ack, DataPlaintext, ExtensionValue, Metrics};

/// A data datagram whose tag verified under the stream key, with its plaintext.
///
/// The only constructor is [`OpenedDatagram::open`], so holding one proves that the stream's
/// peer sealed these octets under counter [`OpenedDatagram::counter`] (the counter selects the
/// key, so it is authenticated even though the caller reads it from the wire).
#[derive(Debug)]
pub struct OpenedDatagram<'a> {
    n: u64,
    plaintext: &'a [u8],
}

impl<'a> OpenedDatagram<'a> {
    /// Verifies and decrypts datagram `n` in place (see [`DatagramOpener::open`]).
    ///
    /// # Errors
    /// The opener's errors; `in_out` is then zeroed and no proof exists.
    //= docs/SPEC.md#ack-authenticated
    //# a sender MUST act on an Ack (free a send buffer, take an RTT sample, declare a loss, change its congestion state) only when the Ack arrived in a datagram whose tag verified.
    pub fn open(
        opener: &DatagramOpener,
        n: u64,
        aad: &[u8],
        in_out: &'a mut [u8],
        tag: &[u8; 16],
    ) -> Result<Self, CryptoError> {
        opener.open(n, aad, in_out, tag)?;
        Ok(Self {
            n,
            plaintext: in_out,
        })
    }

    /// A datagram the reassembler released: it opened under the stream key before any
    /// octet of it left the reassembler.
    pub(crate) fn from_delivered(d: &'a crate::connection::reassembly::Delivered) -> Self {
        Self {
            n: d.nonce(),
            plaintext: d.plaintext(),
        }
    }

    /// The datagram counter n.
    #[must_use]
    pub fn counter(&self) -> u64 {
        self.n
    }

    /// The decrypted DataPlaintext octets.
    #[must_use]
    pub fn plaintext(&self) -> &'a [u8] {
        self.plaintext
    }

    /// Decodes the plaintext and lifts its Ack and Metrics extensions into [`Authenticated`]
    /// values.
    ///
    /// # Errors
    /// [`RecoveryError::Malformed`] when the plaintext does not decode, and
    /// [`RecoveryError::RepeatedExtension`] when Ack or Metrics appears twice.
    pub fn decode(&self) -> Result<DecodedDatagram<'a>, RecoveryError> {
        let plaintext = parse::all(self.plaintext, DataPlaintext::decode)?;
        let mut ack = None;
        let mut metrics = None;
        for ext in plaintext.extensions.iter() {
            match ext.parse_value().map_err(|e| e.at(self.plaintext))? {
                ExtensionValue::Ack(a) => {
                    if ack.is_some() {
                        return Err(RecoveryError::RepeatedExtension("Ack"));
                    }
                    ack = Some(Authenticated::new(a, self.n));
                }
                ExtensionValue::Metrics(m) => {
                    if metrics.is_some() {
                        return Err(RecoveryError::RepeatedExtension("Metrics"));
                    }
                    metrics = Some(Authenticated::new(m, self.n));
                }
                _ => {}
            }
        }
        Ok(DecodedDatagram {
            n: self.n,
            plaintext,
            ack,
            metrics,
        })
    }
}

/// The decoded content of an [`OpenedDatagram`].
#[derive(Debug, Clone)]
pub struct DecodedDatagram<'a> {
    n: u64,
    plaintext: DataPlaintext<'a>,
    ack: Option<Authenticated<Ack<'a>>>,
    metrics: Option<Authenticated<Metrics>>,
}

impl<'a> DecodedDatagram<'a> {
    /// The datagram counter n.
    #[must_use]
    pub fn counter(&self) -> u64 {
        self.n
    }

    /// Extensions, payload and padding.
    #[must_use]
    pub fn plaintext(&self) -> &DataPlaintext<'a> {
        &self.plaintext
    }

    /// The Ack extension, if the datagram carries one.
    #[must_use]
    pub fn ack(&self) -> Option<&Authenticated<Ack<'a>>> {
        self.ack.as_ref()
    }

    /// The Metrics extension, if the datagram carries one.
    #[must_use]
    pub fn metrics(&self) -> Option<&Authenticated<Metrics>> {
        self.metrics.as_ref()
    }
}

/// A value carried by a datagram whose tag verified. It cannot be built outside this module:
/// it comes from [`OpenedDatagram::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated<T> {
    value: T,
    carried_by: u64,
}

impl<T> Authenticated<T> {
    fn new(value: T, carried_by: u64) -> Self {
        Self { value, carried_by }
    }

    /// The counter of the datagram that carried the value.
    #[must_use]
    pub fn carried_by(&self) -> u64 {
        self.carried_by
    }

    /// The value, giving up the proof.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Authenticated<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}
