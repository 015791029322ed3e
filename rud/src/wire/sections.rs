//! Plaintexts of encrypted sections (draft 3.5.3, 3.7; SPEC sections 3.5.3 and 3.7). The codec
//! decodes them after the key schedule has opened the section; the dissector does the same with
//! keys from a key log.
//!
//! ```text
//! DataPlaintext:               extensions | payload (binary) | zero padding
//! InnerSection:                extensions | payload (binary)                 (never padded)
//! ExchangeMezzanine:           credential (public key) | timestamp (vi, seconds) |
//!                              extensions | early section (binary: sealed, or empty) | zeros
//! CompleteMezzanine:           credential (public key) | extensions |
//!                              inner section (binary: sealed) | zero padding
//! ResponderCompleteMezzanine:  initiator key id (binary) | responder ephemeral (public key) |
//!                              early data accepted (1 octet: 0 or 1) | responder sid (binary) |
//!                              extensions | inner section (binary: sealed) | zero padding
//! ```
use super::error::{EncodeError, ErrorKind};
use super::exchange::put_sealed;
use super::extension::ExtensionList;
use super::limits::{MAX_KEY_ID_LEN, MAX_PAYLOAD, TAG_LEN};
use super::parse::{self, PResult, fail};
use super::public_key::PublicKey;
use super::sealed::Sealed;
use super::stream_id::{StreamId, binary_len, put_binary};
use super::varint;

/// Decrypted content of a data datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPlaintext<'a> {
    pub extensions: ExtensionList<'a>,
    pub payload: &'a [u8],
    pub padding: usize,
}

impl<'a> DataPlaintext<'a> {
    //= docs/SPEC.md#data-plaintext
    //# The plaintext of a data datagram MUST be an extension list, the payload as binary data, then zero padding.
    pub fn decode(i: &'a [u8]) -> PResult<'a, Self> {
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, payload) = parse::binary(i, MAX_PAYLOAD, "payload")?;
        let (i, padding) = parse::zero_padding(i, "padding")?;
        Ok((
            i,
            DataPlaintext {
                extensions,
                payload,
                padding,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        self.extensions.encoded_len() + binary_len(self.payload) + self.padding
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.extensions.encode(out)?;
        put_binary(out, self.payload, MAX_PAYLOAD, "payload")?;
        out.resize(out.len() + self.padding, 0);
        Ok(())
    }
}

/// The innermost (mutually keyed or early-data) section: never padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerSection<'a> {
    pub extensions: ExtensionList<'a>,
    pub payload: &'a [u8],
}

impl<'a> InnerSection<'a> {
    //= docs/SPEC.md#inner-section
    //# A ciphertext section's plaintext MUST be an extension list and the payload, with nothing after it.
    pub fn decode(i: &'a [u8]) -> PResult<'a, Self> {
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, payload) = parse::binary(i, MAX_PAYLOAD, "payload")?;
        Ok((
            i,
            InnerSection {
                extensions,
                payload,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        self.extensions.encoded_len() + binary_len(self.payload)
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.extensions.encode(out)?;
        put_binary(out, self.payload, MAX_PAYLOAD, "payload")
    }
}

fn sealed_binary<'a>(
    i: &'a [u8],
    allow_empty: bool,
    field: &'static str,
) -> PResult<'a, Sealed<'a>> {
    let (rest, s) = parse::binary(i, MAX_PAYLOAD, field)?;
    if s.len() < TAG_LEN && !(allow_empty && s.is_empty()) {
        return fail(
            i,
            field,
            ErrorKind::InvalidValue("sealed section shorter than its tag"),
        );
    }
    Ok((rest, Sealed(s)))
}

fn put_sealed_binary(
    out: &mut Vec<u8>,
    s: Sealed<'_>,
    allow_empty: bool,
    field: &'static str,
) -> Result<(), EncodeError> {
    if !(allow_empty && s.0.is_empty()) && s.0.len() < TAG_LEN {
        return Err(EncodeError::InvalidValue {
            field,
            why: "shorter than its 16-octet tag",
        });
    }
    varint::write_len(out, s.0.len(), field)?;
    if s.0.is_empty() {
        Ok(())
    } else {
        put_sealed(out, s, field)
    }
}

/// Mezzanine plaintext of an InitiatorExchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeMezzanine<'a> {
    pub credential: PublicKey<'a>,
    /// Initiator clock, seconds since the Unix epoch (anti-replay window for early data).
    pub timestamp: u64,
    pub extensions: ExtensionList<'a>,
    /// Early data section, or an empty slice when there is none.
    pub early: Sealed<'a>,
    pub padding: usize,
}

impl<'a> ExchangeMezzanine<'a> {
    pub fn decode(i: &'a [u8]) -> PResult<'a, Self> {
        let (i, credential) = PublicKey::decode(i, "initiator credential")?;
        //= docs/SPEC.md#exchange-mezzanine
        //# The mezzanine plaintext of an InitiatorExchange MUST be credential, timestamp, extensions, early-data section, padding.
        let (i, timestamp) = parse::varint(i, "timestamp")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, early) = sealed_binary(i, true, "early data section")?;
        let (i, padding) = parse::zero_padding(i, "padding")?;
        Ok((
            i,
            ExchangeMezzanine {
                credential,
                timestamp,
                extensions,
                early,
                padding,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        self.credential.encoded_len()
            + varint::len(self.timestamp)
            + self.extensions.encoded_len()
            + binary_len(self.early.0)
            + self.padding
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.credential.encode(out, "initiator credential")?;
        varint::write(out, self.timestamp, "timestamp")?;
        self.extensions.encode(out)?;
        put_sealed_binary(out, self.early, true, "early data section")?;
        out.resize(out.len() + self.padding, 0);
        Ok(())
    }
}

/// Mezzanine plaintext of an InitiatorComplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMezzanine<'a> {
    pub credential: PublicKey<'a>,
    pub extensions: ExtensionList<'a>,
    pub inner: Sealed<'a>,
    pub padding: usize,
}

impl<'a> CompleteMezzanine<'a> {
    //= docs/SPEC.md#complete-mezzanine
    //# The mezzanine plaintext of an InitiatorComplete MUST be credential, extensions, ciphertext section, padding.
    pub fn decode(i: &'a [u8]) -> PResult<'a, Self> {
        let (i, credential) = PublicKey::decode(i, "initiator credential")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, inner) = sealed_binary(i, false, "ciphertext section")?;
        let (i, padding) = parse::zero_padding(i, "padding")?;
        Ok((
            i,
            CompleteMezzanine {
                credential,
                extensions,
                inner,
                padding,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        self.credential.encoded_len()
            + self.extensions.encoded_len()
            + binary_len(self.inner.0)
            + self.padding
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.credential.encode(out, "initiator credential")?;
        self.extensions.encode(out)?;
        put_sealed_binary(out, self.inner, false, "ciphertext section")?;
        out.resize(out.len() + self.padding, 0);
        Ok(())
    }
}

/// Mezzanine plaintext of a ResponderComplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderCompleteMezzanine<'a> {
    pub initiator_key_id: &'a [u8],
    pub responder_ephemeral: PublicKey<'a>,
    pub early_data_accepted: bool,
    pub responder_stream_id: StreamId<'a>,
    pub extensions: ExtensionList<'a>,
    pub inner: Sealed<'a>,
    pub padding: usize,
}

impl<'a> ResponderCompleteMezzanine<'a> {
    pub fn decode(i: &'a [u8]) -> PResult<'a, Self> {
        //= docs/SPEC.md#responder-complete-mezzanine
        //# The early-data octet MUST be 0 or 1.
        let (i, initiator_key_id) = parse::binary(i, MAX_KEY_ID_LEN, "initiator key id")?;
        let (i, responder_ephemeral) = PublicKey::decode(i, "responder ephemeral key")?;
        let (after, accepted) = parse::u8(i, "early data accepted")?;
        let early_data_accepted = match accepted {
            0 => false,
            1 => true,
            _ => {
                return fail(
                    i,
                    "early data accepted",
                    ErrorKind::InvalidValue("not 0 or 1"),
                );
            }
        };
        let (i, responder_stream_id) = StreamId::decode(after, "responder stream identifier")?;
        let (i, extensions) = ExtensionList::decode(i)?;
        let (i, inner) = sealed_binary(i, false, "ciphertext section")?;
        let (i, padding) = parse::zero_padding(i, "padding")?;
        Ok((
            i,
            ResponderCompleteMezzanine {
                initiator_key_id,
                responder_ephemeral,
                early_data_accepted,
                responder_stream_id,
                extensions,
                inner,
                padding,
            },
        ))
    }

    pub fn encoded_len(&self) -> usize {
        binary_len(self.initiator_key_id)
            + self.responder_ephemeral.encoded_len()
            + 1
            + self.responder_stream_id.encoded_len()
            + self.extensions.encoded_len()
            + binary_len(self.inner.0)
            + self.padding
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_binary(
            out,
            self.initiator_key_id,
            MAX_KEY_ID_LEN,
            "initiator key id",
        )?;
        self.responder_ephemeral
            .encode(out, "responder ephemeral key")?;
        out.push(u8::from(self.early_data_accepted));
        self.responder_stream_id
            .encode(out, "responder stream identifier")?;
        self.extensions.encode(out)?;
        put_sealed_binary(out, self.inner, false, "ciphertext section")?;
        out.resize(out.len() + self.padding, 0);
        Ok(())
    }
}
