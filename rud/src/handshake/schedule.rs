//! The handshake key schedule (docs/SPEC.md section 7.2). HKDF-SHA-512 throughout:
//! X = HKDF-Extract (salt = chaining key), E = HKDF-Expand(chaining key, label || TH).
//! Each formula is written on the comment line above the step that computes it.
use crate::crypto::hkdf::ChainingKey;
use crate::crypto::keylog::{KeyLog, labels};
use crate::crypto::{CryptoError, CryptoProvider, SecretBytes, TranscriptHash};

/// Protocol name and suite; ck0 = SHA-512(PROTOCOL_NAME).
pub const PROTOCOL_NAME: &[u8] = b"RUD-1 X448 HKDF-SHA512 AES-256-GCM";

pub const LABEL_MZ_I2R: &[u8] = b"rud1 mz i2r";
pub const LABEL_MZ_R2I: &[u8] = b"rud1 mz r2i";
pub const LABEL_HS_I2R: &[u8] = b"rud1 hs i2r";
pub const LABEL_HS_R2I: &[u8] = b"rud1 hs r2i";
pub const LABEL_EARLY_I2R: &[u8] = b"rud1 early i2r";
pub const LABEL_TS_I2R: &[u8] = b"rud1 ts i2r";
pub const LABEL_TS_R2I: &[u8] = b"rud1 ts r2i";
pub const LABEL_EXPORTER: &[u8] = b"rud1 exporter";
pub const LABEL_RESUMPTION: &[u8] = b"rud1 resumption";
/// The secret a forward-secrecy rekey (SPEC section 5.4) extracts fresh DH outputs into.
pub const LABEL_REKEY: &[u8] = b"rud1 rekey";

/// Handshake modes, as the octet mixed into the transcript and the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    FirstContact = 1,
    Immediate = 2,
    Deferred = 3,
    /// An Exchange presenting a ticket (docs/SPEC.md section 7.10).
    Ticket = 4,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::FirstContact => "first-contact",
            Mode::Immediate => "immediate",
            Mode::Deferred => "deferred",
            Mode::Ticket => "ticket",
        }
    }
}

/// The running transcript hash TH: the crypto layer's [`TranscriptHash`], started with what
/// every transcript of this profile begins with.
#[derive(Clone)]
pub struct Transcript(TranscriptHash);

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transcript(..)")
    }
}

impl Transcript {
    /// TH starts as SHA-512 over PROTOCOL_NAME || mode || S_r.
    //= docs/SPEC.md#transcript-binding
    //# Every handshake key MUST be derived with the transcript hash TH of the exchange so far,
    //# and with a label that names the message section and direction.
    pub fn start(p: &dyn CryptoProvider, mode: Mode, responder_static: &[u8; 56]) -> Self {
        let mut h = TranscriptHash::new(p);
        h.absorb(PROTOCOL_NAME);
        h.absorb(&[mode as u8]);
        h.absorb(responder_static);
        Transcript(h)
    }

    pub fn absorb(&mut self, bytes: &[u8]) {
        self.0.absorb(bytes);
    }

    pub fn hash(&self) -> [u8; 64] {
        self.0.current()
    }
}

/// Secrets that outlive the handshake: per-direction traffic secrets, exporter, resumption.
pub struct TrafficSecrets {
    pub i2r: SecretBytes<64>,
    pub r2i: SecretBytes<64>,
    pub exporter: SecretBytes<64>,
    pub resumption: SecretBytes<64>,
    /// rk = E(ms, "rud1 rekey", TH): the chaining key of the next forward-secrecy rekey.
    pub rekey: SecretBytes<64>,
}

impl std::fmt::Debug for TrafficSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrafficSecrets(..)")
    }
}

impl TrafficSecrets {
    /// ts_i2r = E(ms, "rud1 ts i2r" || TH); ts_r2i likewise; exporter and resumption likewise.
    pub fn derive(
        p: &dyn CryptoProvider,
        ms: &ChainingKey,
        th: &[u8; 64],
    ) -> Result<Self, CryptoError> {
        Ok(TrafficSecrets {
            i2r: ms.expand(p, LABEL_TS_I2R, th)?,
            r2i: ms.expand(p, LABEL_TS_R2I, th)?,
            exporter: ms.expand(p, LABEL_EXPORTER, th)?,
            resumption: ms.expand(p, LABEL_RESUMPTION, th)?,
            rekey: ms.expand(p, LABEL_REKEY, th)?,
        })
    }

    /// Writes the secrets a dissector needs to decrypt the connection's data.
    pub fn log(&self, log: &dyn KeyLog, context: &[u8]) {
        log.log(labels::TRAFFIC_I2R, context, self.i2r.expose());
        log.log(labels::TRAFFIC_R2I, context, self.r2i.expose());
        log.log(labels::EXPORTER, context, self.exporter.expose());
    }
}

/// A 32-octet AEAD key used for exactly one handshake section, with a zero nonce.
pub fn section_key(
    p: &dyn CryptoProvider,
    ck: &ChainingKey,
    label: &[u8],
    th: &[u8; 64],
) -> Result<SecretBytes<32>, CryptoError> {
    ck.expand(p, label, th)
}

/// The zero nonce of handshake sections: each key protects one section only.
pub const ZERO_NONCE: [u8; 12] = [0; 12];

/// Seals `plaintext` into `out` as ciphertext || tag.
pub fn seal_section(
    p: &dyn CryptoProvider,
    key: &SecretBytes<32>,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = p.aes256_gcm_seal(key.expose(), &ZERO_NONCE, aad, out.split_at_mut(start).1)?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Opens ciphertext || tag; the plaintext is returned only when the tag verifies.
pub fn open_section(
    p: &dyn CryptoProvider,
    key: &SecretBytes<32>,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let split = sealed
        .len()
        .checked_sub(16)
        .ok_or(CryptoError::AuthenticationFailed)?;
    let (ct, tag) = sealed.split_at(split);
    let tag: [u8; 16] = tag
        .try_into()
        .map_err(|_| CryptoError::AuthenticationFailed)?;
    let mut buf = ct.to_vec();
    p.aes256_gcm_open(key.expose(), &ZERO_NONCE, aad, &mut buf, &tag)?;
    Ok(buf)
}

/// Key log lines for a set of handshake section keys and the traffic secrets that follow.
pub fn log_keys(
    log: &dyn KeyLog,
    context: &[u8],
    sections: &[(&str, &SecretBytes<32>)],
    secrets: &TrafficSecrets,
) {
    for (label, key) in sections {
        log.log(label, context, key.expose());
    }
    secrets.log(log, context);
}

/// Seals an initiator's mezzanine after `header`, padding its plaintext so the datagram is at
/// least 1200 octets. `encode(padding, out)` writes the plaintext with that much padding;
/// `unpadded` is its length without padding.
pub fn seal_padded_mezzanine(
    p: &dyn CryptoProvider,
    k_mz: &SecretBytes<32>,
    header: &[u8],
    unpadded: usize,
    encode: impl FnOnce(usize, &mut Vec<u8>) -> Result<(), crate::wire::EncodeError>,
) -> Result<Vec<u8>, super::HandshakeError> {
    let padding = crate::wire::limits::MIN_INITIATOR_DATAGRAM
        .saturating_sub(header.len() + unpadded + crate::wire::limits::TAG_LEN);
    let mut plain = Vec::new();
    encode(padding, &mut plain)?;
    let mut bytes = header.to_vec();
    seal_section(p, k_mz, header, &plain, &mut bytes)?;
    Ok(bytes)
}
