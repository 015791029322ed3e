//! Key data of a connection (SPEC section 5.4): the traffic secrets of each direction, and the
//! forward-secrecy rekey that replaces them.
//!
//! ```text
//! epoch 0:  ts_i2r, ts_r2i, rk        from the handshake (SPEC 7.2.1)
//! rekey:    ms' = X(rk, ee' || es')   es' only in the connection rekey (the responder's device
//!           TH' = H("rud1 rekey transcript" || be32(epoch') || E_a || E_b)           key)
//!           ts_i2r', ts_r2i', rk' = E(ms', label, TH')
//! stream:   sk = E(ts_dir, "rud1 stream" || be64(g))   for each generation g (SPEC 7.3)
//! ```
use std::sync::Arc;

use crate::crypto::datagram_key::{DatagramOpener, DatagramSealer};
use crate::crypto::hkdf::ChainingKey;
use crate::crypto::keylog::{KeyLog, labels};
use crate::crypto::stream_key::{TrafficSecret, derive_stream_key};
use crate::crypto::{CryptoError, CryptoProvider, SecretBytes};
use crate::handshake::{Role, TrafficSecrets};

/// Generations of acknowledgement-only key spaces have this bit set; stream generations stay
/// below it.
pub const ACK_GENERATION_BIT: u64 = 1 << 32;

/// The four stream keys of one generation.
pub(crate) struct HalfKeys {
    pub sealer: DatagramSealer,
    pub opener: DatagramOpener,
    pub ack_sealer: DatagramSealer,
    pub ack_opener: DatagramOpener,
}

/// Prefix of the rekey transcript hash.
pub const REKEY_TRANSCRIPT_LABEL: &[u8] = b"rud1 rekey transcript";

/// One set of traffic secrets. Streams keyed from it derive their keys with their generation.
pub(crate) struct KeyData {
    pub epoch: u32,
    i2r: TrafficSecret,
    r2i: TrafficSecret,
    rekey: SecretBytes<64>,
}

impl std::fmt::Debug for KeyData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyData")
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl KeyData {
    /// Epoch 0: the handshake's secrets.
    pub fn from_handshake(secrets: &TrafficSecrets) -> Self {
        Self {
            epoch: 0,
            i2r: TrafficSecret::new(secrets.i2r.clone()),
            r2i: TrafficSecret::new(secrets.r2i.clone()),
            rekey: secrets.rekey.clone(),
        }
    }

    /// The keys of generation `g` for this endpoint's `role`: the data counter space under
    /// generation g, the acknowledgement-only space under g + 2^32.
    //= docs/SPEC.md#stream-generation
    //# Both directions of a stream use the same generation, each under its own direction's traffic secret.
    pub fn stream_keys(
        &self,
        provider: &Arc<dyn CryptoProvider>,
        role: Role,
        g: u64,
    ) -> Result<HalfKeys, CryptoError> {
        let (send, recv) = match role {
            Role::Initiator => (&self.i2r, &self.r2i),
            Role::Responder => (&self.r2i, &self.i2r),
        };
        //= docs/SPEC.md#ack-space
        //# Acknowledgement-only datagrams of generation g MUST be sealed under the stream key of generation g + 2^32, in their own counter space.
        let ack_g = g | ACK_GENERATION_BIT;
        Ok(HalfKeys {
            sealer: DatagramSealer::new(derive_stream_key(provider.clone(), send, g)?),
            opener: DatagramOpener::new(derive_stream_key(provider.clone(), recv, g)?),
            ack_sealer: DatagramSealer::new(derive_stream_key(provider.clone(), send, ack_g)?),
            ack_opener: DatagramOpener::new(derive_stream_key(provider.clone(), recv, ack_g)?),
        })
    }

    /// The key data after a rekey: `ee` (and `es` in a connection rekey) mixed into the rekey
    /// secret, bound to both ephemeral keys. `initiator_key` is the KeyExchange key of the side
    /// that sent the Restart, `responder_key` that of the side that accepted it.
    //= docs/SPEC.md#rekey-derivation
    //# The new key data MUST be derived from the rekey secret of the key data being replaced, the fresh ephemeral-ephemeral DH output and, in a connection rekey, the DH of the initiator's fresh ephemeral with the responder's device key.
    pub fn next(
        &self,
        provider: &dyn CryptoProvider,
        ee: &[u8; 56],
        es: Option<&[u8; 56]>,
        initiator_key: &[u8; 56],
        responder_key: &[u8; 56],
    ) -> Result<Self, CryptoError> {
        let epoch = self
            .epoch
            .checked_add(1)
            .ok_or(CryptoError::CountersExhausted)?;
        let ck = ChainingKey::from_secret(self.rekey.clone());
        let ms = match es {
            Some(es) => ck.mix(provider, &[ee, es]),
            None => ck.mix(provider, &[ee]),
        };
        let th = provider.sha512_digest(&[
            REKEY_TRANSCRIPT_LABEL,
            &epoch.to_be_bytes(),
            initiator_key,
            responder_key,
        ]);
        let s = TrafficSecrets::derive(provider, &ms, &th)?;
        Ok(Self {
            epoch,
            i2r: TrafficSecret::new(s.i2r),
            r2i: TrafficSecret::new(s.r2i),
            rekey: s.rekey,
        })
    }

    /// Logs the traffic secrets so a dissector keeps decrypting after a rekey.
    //= docs/SPEC.md#rekey-keylog
    //# Each new key data MUST be written to the key log, if any, under the connection's context.
    pub fn log(&self, log: &dyn KeyLog, context: &[u8]) {
        log.log(labels::TRAFFIC_I2R, context, self.i2r.expose());
        log.log(labels::TRAFFIC_R2I, context, self.r2i.expose());
    }
}
