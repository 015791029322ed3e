//! The `crypto` vector set (docs/SPEC.md section 7): the key schedule of each successful
//! handshake transcript (the private keys are those the seeded entropy drew), stream and
//! per-datagram keys under its traffic secrets, seals of data datagrams, and the cookies the
//! responder put in its Challenge and Defer.
//!
//! Every value comes from the reference: key schedule outputs are checked against the secrets
//! the reference endpoints wrote to their key logs and kept in their sessions, datagram keys and
//! seals come from the reference's stream keys and sealer, cookies from its cookie jar (and
//! must equal the octets on the wire). Then the vector is run through the checker, which
//! recomputes everything from the inputs with the SPEC formulas, so the file, the formulas and
//! the implementation agree before anything is written.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rud::crypto::cookie::{CookieAddress, CookieInput, CookieJar};
use rud::crypto::datagram_key::DatagramSealer;
use rud::crypto::keyfile::KeyId;
use rud::crypto::keylog::{MemoryKeyLog, labels};
use rud::crypto::stream_key::{TrafficSecret, derive_stream_key, stream_key_bytes};
use rud::crypto::x448::{X448PublicKey, X448Secret};
use rud::crypto::{CryptoProvider, SecretBytes, default_provider};
use rud::wire::{
    DataPlaintext, Datagram, ExtensionList, ResponderCompleteMezzanine, StreamId, parse, varint,
};

use super::GenerateError;
use super::handshake::{INITIATOR, Recorder, SUCCESS, T0, success};
use crate::check;
use crate::vectors::{
    CookieCase, CookieInputs, CryptoKind, CryptoVector, DatagramKeyCase, DatagramKeyInputs,
    DatagramKeyOutputs, DatagramKeyRow, HandshakeMode, KeySchedule, KeyScheduleInputs, SealCase,
    SealInputs, SealOutputs, VectorFile, Vectors,
};

fn fail(id: &str, message: impl Into<String>) -> GenerateError {
    GenerateError {
        id: id.to_owned(),
        message: message.into(),
    }
}

/// Collects the vectors of one crypto file; every vector is run through the checker first.
struct CryptoFile {
    section: &'static str,
    title: &'static str,
    vectors: Vec<CryptoVector>,
}

impl CryptoFile {
    fn new(section: &'static str, title: &'static str) -> Self {
        CryptoFile {
            section,
            title,
            vectors: Vec::new(),
        }
    }

    fn next_id(&self) -> String {
        format!("rud/crypto/{}/{}", self.section, self.vectors.len() + 1)
    }

    fn push(&mut self, v: CryptoVector) -> Result<(), GenerateError> {
        check::crypto::run(&v).map_err(|e| fail(&v.id, format!("the checker disagrees: {e}")))?;
        self.vectors.push(v);
        Ok(())
    }

    fn vector(&self, kind: CryptoKind, anchor: &str, comment: &str) -> CryptoVector {
        CryptoVector {
            id: self.next_id(),
            anchor: anchor.into(),
            comment: comment.into(),
            kind,
            key_schedule: None,
            datagram_key: None,
            seal: None,
            cookie: None,
        }
    }

    fn finish(self) -> VectorFile {
        VectorFile::new(self.section, self.title, Vectors::Crypto(self.vectors))
    }
}

fn step_bytes(r: &Recorder, k: usize) -> Result<Vec<u8>, GenerateError> {
    let s = r
        .steps
        .get(k)
        .ok_or_else(|| fail(&r.id, format!("no step {}", k + 1)))?;
    hex::decode(&s.hex).map_err(|e| fail(&r.id, e.to_string()))
}

/// The octets of a connection datagram before its mezzanine.
fn header(id: &str, bytes: &[u8]) -> Result<Vec<u8>, GenerateError> {
    let d = Datagram::decode(bytes).map_err(|e| fail(id, e.to_string()))?;
    let mz = match &d {
        Datagram::InitiatorComplete(c) => c.mezzanine.0,
        Datagram::InitiatorExchange(x) => x.mezzanine.0,
        Datagram::ResponderComplete(c) => c.mezzanine.0,
        _ => return Err(fail(id, "no mezzanine")),
    };
    Ok(bytes[..parse::offset_in(bytes, mz)].to_vec())
}

/// The one secret a key log holds under `label`.
fn logged(id: &str, log: &MemoryKeyLog, label: &str) -> Result<Vec<u8>, GenerateError> {
    let mut found: Vec<Vec<u8>> = log
        .entries()
        .into_iter()
        .filter(|e| e.label == label)
        .map(|e| e.secret.to_vec())
        .collect();
    match (found.pop(), found.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(fail(
            id,
            format!("expected one {label} line in the key log"),
        )),
    }
}

/// The private key among `draws` whose public key is `public`.
fn drawn_key(
    id: &str,
    p: &dyn CryptoProvider,
    draws: &[Vec<u8>],
    public: &[u8],
) -> Result<X448Secret, GenerateError> {
    draws
        .iter()
        .filter_map(|d| X448Secret::from_slice(d).ok())
        .find(|k| k.public_key(p).as_bytes().as_slice() == public)
        .ok_or_else(|| fail(id, "no drawn key matches the ephemeral on the wire"))
}

fn draws(r: &Recorder, initiator: bool) -> Vec<Vec<u8>> {
    let d = if initiator {
        &r.initiator_draws
    } else {
        &r.responder_draws
    };
    d.lock().map(|d| d.clone()).unwrap_or_default()
}

/// The key schedule of one successful transcript, checked against the reference's key logs and
/// sessions.
fn key_schedule_of(
    f: &CryptoFile,
    mode: HandshakeMode,
    r: &Recorder,
) -> Result<CryptoVector, GenerateError> {
    let p = default_provider();
    let p = &*p;
    let id = f.next_id();
    let first = step_bytes(r, 0)?;
    let second = step_bytes(r, 1)?;
    let (e_i_pub, e_r_pub, mut inputs) = match mode {
        HandshakeMode::FirstContact | HandshakeMode::Deferred => {
            let complete = step_bytes(r, 2)?;
            let Ok(Datagram::InitiatorComplete(c)) = Datagram::decode(&complete) else {
                return Err(fail(&id, "step 3 is not a Complete"));
            };
            let e_i = c.initiator_ephemeral.key.to_vec();
            let e_r = match Datagram::decode(&second) {
                Ok(Datagram::ResponderChallenge(ch) | Datagram::ResponderDefer(ch)) => ch
                    .ephemerals
                    .first()
                    .map(|k| k.key.to_vec())
                    .ok_or_else(|| fail(&id, "no ephemeral offered"))?,
                _ => return Err(fail(&id, "step 2 is not a Challenge or Defer")),
            };
            let inputs = KeyScheduleInputs {
                initiator_static_private: String::new(),
                responder_static_private: String::new(),
                initiator_ephemeral_private: String::new(),
                responder_ephemeral_private: String::new(),
                request: Some(hex::encode(&first)),
                reply: Some(hex::encode(&second)),
                complete_header: Some(hex::encode(header(&id, &complete)?)),
                exchange_header: None,
                responder_complete_header: None,
            };
            (e_i, e_r, inputs)
        }
        HandshakeMode::Immediate => {
            let Ok(Datagram::InitiatorExchange(x)) = Datagram::decode(&first) else {
                return Err(fail(&id, "step 1 is not an Exchange"));
            };
            let e_i = x.initiator_ephemeral.key.to_vec();
            // E_r travels inside the ResponderComplete's mezzanine: open it with the key the
            // responder logged.
            let rc_header = header(&id, &second)?;
            let k = logged(&id, &r.responder_log, labels::MEZZANINE_R2I)?;
            let k: [u8; 32] = k.try_into().map_err(|_| fail(&id, "key length"))?;
            let sealed = &second[rc_header.len()..];
            let (ct, tag) = sealed.split_at(sealed.len().saturating_sub(16));
            let tag: [u8; 16] = tag.try_into().map_err(|_| fail(&id, "tag length"))?;
            let mut plain = ct.to_vec();
            p.aes256_gcm_open(&k, &[0; 12], &rc_header, &mut plain, &tag)
                .map_err(|e| fail(&id, e.to_string()))?;
            let rcm = parse::all(&plain, ResponderCompleteMezzanine::decode)
                .map_err(|e| fail(&id, e.to_string()))?;
            let e_r = rcm.responder_ephemeral.key.to_vec();
            let inputs = KeyScheduleInputs {
                initiator_static_private: String::new(),
                responder_static_private: String::new(),
                initiator_ephemeral_private: String::new(),
                responder_ephemeral_private: String::new(),
                request: None,
                reply: None,
                complete_header: None,
                exchange_header: Some(hex::encode(header(&id, &first)?)),
                responder_complete_header: Some(hex::encode(rc_header)),
            };
            (e_i, e_r, inputs)
        }
    };
    let e_i = drawn_key(&id, p, &draws(r, true), &e_i_pub)?;
    let e_r = drawn_key(&id, p, &draws(r, false), &e_r_pub)?;
    inputs.initiator_static_private = r.setup.initiator_static_private.clone();
    inputs.responder_static_private = r
        .setup
        .responder_static_private
        .first()
        .cloned()
        .ok_or_else(|| fail(&id, "no responder key"))?;
    inputs.initiator_ephemeral_private = hex::encode(e_i.expose());
    inputs.responder_ephemeral_private = hex::encode(e_r.expose());
    let outputs = check::crypto::key_schedule(p, mode, &inputs).map_err(|e| fail(&id, e))?;

    // The reference must have used exactly these keys.
    let session = r
        .replay
        .initiator_session()
        .ok_or_else(|| fail(&id, "the initiator did not establish"))?;
    let responder = r
        .replay
        .responder_sessions()
        .first()
        .ok_or_else(|| fail(&id, "the responder did not establish"))?;
    let mut reference = vec![
        (
            "k_mz_i2r",
            Some(outputs.k_mz_i2r.clone()),
            logged(&id, &r.responder_log, labels::MEZZANINE_I2R)?,
        ),
        (
            "ts_i2r",
            Some(outputs.ts_i2r.clone()),
            logged(&id, &r.responder_log, labels::TRAFFIC_I2R)?,
        ),
        (
            "ts_r2i",
            Some(outputs.ts_r2i.clone()),
            logged(&id, &r.initiator_log, labels::TRAFFIC_R2I)?,
        ),
        (
            "exporter",
            Some(outputs.exporter.clone()),
            session.secrets.exporter.expose().to_vec(),
        ),
        (
            "resumption",
            Some(outputs.resumption.clone()),
            responder.secrets.resumption.expose().to_vec(),
        ),
        (
            "ts_i2r (session)",
            Some(outputs.ts_i2r.clone()),
            session.secrets.i2r.expose().to_vec(),
        ),
    ];
    match mode {
        HandshakeMode::Immediate => {
            for (name, value, label) in [
                ("k_early_i2r", &outputs.k_early_i2r, labels::EARLY_I2R),
                ("k_mz_r2i", &outputs.k_mz_r2i, labels::MEZZANINE_R2I),
                ("k_hs_r2i", &outputs.k_hs_r2i, labels::HANDSHAKE_R2I),
            ] {
                let logged = logged(&id, &r.initiator_log, label)?;
                reference.push((name, value.clone(), logged));
            }
        }
        _ => reference.push((
            "k_hs_i2r",
            outputs.k_hs_i2r.clone(),
            logged(&id, &r.responder_log, labels::HANDSHAKE_I2R)?,
        )),
    }
    for (name, computed, reference) in reference {
        if computed.as_deref() != Some(hex::encode(&reference).as_str()) {
            return Err(fail(
                &id,
                format!("{name}: the SPEC formula and the reference implementation disagree"),
            ));
        }
    }
    let mut v = f.vector(
        CryptoKind::KeySchedule,
        "transcript-binding",
        &format!(
            "{}: the key schedule of transcript {} (its private keys, and the octets its \
             transcript hash absorbs)",
            mode.name(),
            r.id
        ),
    );
    v.key_schedule = Some(KeySchedule {
        mode,
        inputs,
        outputs,
    });
    Ok(v)
}

fn key_schedule() -> Result<(VectorFile, Vec<Recorder>), GenerateError> {
    let mut f = CryptoFile::new("7.2", "Handshake key schedule of each mode");
    let mut runs = Vec::new();
    for (mode, id) in SUCCESS {
        let r = success(mode, id)?;
        let v = key_schedule_of(&f, mode, &r)?;
        f.push(v)?;
        runs.push(r);
    }
    Ok((f.finish(), runs))
}

/// The frozen prefix of a one-packet final data datagram: stream id, type, n, packet count 1,
/// flags 0x01 (docs/SPEC.md section 3.6.1).
fn data_aad(sid: &[u8], msg_type: u8, n: u64) -> Result<Vec<u8>, GenerateError> {
    let mut out = Vec::new();
    StreamId(sid)
        .encode(&mut out, "stream identifier")
        .map_err(GenerateError::from)?;
    out.push(msg_type);
    varint::write(&mut out, n, "nonce").map_err(GenerateError::from)?;
    varint::write(&mut out, 1, "packet count").map_err(GenerateError::from)?;
    out.push(0x01);
    Ok(out)
}

fn data_plaintext(payload: &[u8]) -> Result<Vec<u8>, GenerateError> {
    let mut out = Vec::new();
    DataPlaintext {
        extensions: ExtensionList::default(),
        payload,
        padding: 0,
    }
    .encode(&mut out)?;
    Ok(out)
}

fn unhex64(id: &str, s: &str) -> Result<[u8; 64], GenerateError> {
    hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| fail(id, "a 64-octet secret"))
}

fn datagram_keys(runs: &[Recorder]) -> Result<VectorFile, GenerateError> {
    let p = default_provider();
    let mut f = CryptoFile::new("7.3", "Stream keys, per-datagram keys and seals");
    let fc = runs
        .first()
        .and_then(|r| r.replay.outcome().session)
        .ok_or_else(|| fail("rud/crypto/7.3", "no First Contact session"))?;
    let cases: [(&str, &str, u64, Vec<u64>); 3] = [
        (
            "initiator to responder",
            &fc.ts_i2r,
            0,
            vec![0, 1, 2, 255, 65_536, 1 << 32, (1 << 62) - 1],
        ),
        ("responder to initiator", &fc.ts_r2i, 0, vec![0, 1]),
        ("initiator to responder", &fc.ts_i2r, 1, vec![0, 1]),
    ];
    for (direction, ts, generation, counters) in cases {
        let id = f.next_id();
        let ts = unhex64(&id, ts)?;
        let secret = TrafficSecret::new(SecretBytes::new(ts));
        let sk =
            stream_key_bytes(&*p, &secret, generation).map_err(|e| fail(&id, e.to_string()))?;
        let key = derive_stream_key(p.clone(), &secret, generation)
            .map_err(|e| fail(&id, e.to_string()))?;
        let mut rows = Vec::new();
        for &n in &counters {
            let k = key.datagram_key(n).map_err(|e| fail(&id, e.to_string()))?;
            rows.push(DatagramKeyRow {
                n,
                key: hex::encode(k.key()),
                nonce: hex::encode(k.nonce()),
            });
        }
        let mut v = f.vector(
            CryptoKind::DatagramKey,
            if counters.contains(&((1 << 62) - 1)) {
                "per-datagram-key"
            } else {
                "stream-key"
            },
            &format!(
                "{direction}, generation {generation}: the stream key from the traffic secret of \
                 rud/handshake/4/1, and K_n, N_n for each counter (the last below 2^62 included)"
            ),
        );
        v.datagram_key = Some(DatagramKeyCase {
            inputs: DatagramKeyInputs {
                traffic_secret: hex::encode(ts),
                generation,
                counters,
            },
            outputs: DatagramKeyOutputs {
                stream_key: hex::encode(sk.expose()),
                datagrams: rows,
            },
        });
        f.push(v)?;
    }
    // Seals, through the reference sealer (which allocates n itself).
    let sid = hex::decode(&fc.responder_stream_id).map_err(|e| fail("seal", e.to_string()))?;
    for (n, payload, comment) in [
        (
            0u64,
            &b"GET /status"[..],
            "the first data datagram of the stream",
        ),
        (
            3,
            &b""[..],
            "datagram 3, an empty payload (an ack-only datagram carries its Ack extension the same way)",
        ),
    ] {
        let id = f.next_id();
        let ts = unhex64(&id, &fc.ts_i2r)?;
        let secret = TrafficSecret::new(SecretBytes::new(ts));
        let sk = stream_key_bytes(&*p, &secret, 0).map_err(|e| fail(&id, e.to_string()))?;
        let mut sealer = DatagramSealer::new(
            derive_stream_key(p.clone(), &secret, 0).map_err(|e| fail(&id, e.to_string()))?,
        );
        let aad = data_aad(&sid, rud::wire::MessageType::INITIATOR_DATA.0, n)?;
        let plaintext = data_plaintext(payload)?;
        // Counters below n are spent on other datagrams.
        for _ in 0..n {
            sealer.reserve().map_err(|e| fail(&id, e.to_string()))?;
        }
        let slot = sealer.reserve().map_err(|e| fail(&id, e.to_string()))?;
        if slot.counter() != n {
            return Err(fail(&id, "the sealer allocated another counter"));
        }
        let mut buf = plaintext.clone();
        let tag = slot
            .seal(&aad, &mut buf)
            .map_err(|e| fail(&id, e.to_string()))?;
        buf.extend_from_slice(&tag);
        let k = derive_stream_key(p.clone(), &secret, 0)
            .and_then(|k| k.datagram_key(n))
            .map_err(|e| fail(&id, e.to_string()))?;
        let mut v = f.vector(
            CryptoKind::Seal,
            "per-datagram-key",
            &format!(
                "AES-256-GCM(K_n, N_n, frozen prefix) of a DataPlaintext, initiator to \
                 responder on the first stream of rud/handshake/4/1: {comment}"
            ),
        );
        v.seal = Some(SealCase {
            inputs: SealInputs {
                stream_key: hex::encode(sk.expose()),
                n,
                aad: hex::encode(&aad),
                plaintext: hex::encode(&plaintext),
            },
            outputs: SealOutputs {
                key: hex::encode(k.key()),
                nonce: hex::encode(k.nonce()),
                sealed: hex::encode(&buf),
            },
        });
        f.push(v)?;
    }
    Ok(f.finish())
}

/// The cookie the responder issued in a successful transcript, rebuilt from the secret it drew.
fn cookie_of(
    f: &CryptoFile,
    mode: HandshakeMode,
    r: &Recorder,
) -> Result<CryptoVector, GenerateError> {
    let p: Arc<dyn CryptoProvider> = default_provider();
    let id = f.next_id();
    let first = step_bytes(r, 0)?;
    let reply = step_bytes(r, 1)?;
    let Ok(Datagram::ResponderChallenge(c) | Datagram::ResponderDefer(c)) =
        Datagram::decode(&reply)
    else {
        return Err(fail(&id, "step 2 is not a Challenge or Defer"));
    };
    let e_i: [u8; 56] = match mode {
        HandshakeMode::FirstContact => [0; 56],
        _ => match Datagram::decode(&first) {
            Ok(Datagram::InitiatorExchange(x)) => x
                .initiator_ephemeral
                .key
                .try_into()
                .map_err(|_| fail(&id, "E_i length"))?,
            _ => return Err(fail(&id, "step 1 is not an Exchange")),
        },
    };
    let s_r = X448PublicKey::from_bytes(c.credential.key).map_err(|e| fail(&id, e.to_string()))?;
    let e_r = c
        .ephemerals
        .first()
        .map(|k| k.key.to_vec())
        .ok_or_else(|| fail(&id, "no ephemeral"))?;
    let field = c.cookie;
    let offer = field
        .get(21..)
        .ok_or_else(|| fail(&id, "short cookie field"))?;
    // The responder drew one 32-octet secret: the epoch's cookie key.
    let secret: [u8; 32] = draws(r, false)
        .into_iter()
        .filter(|d| d.len() == 32)
        .map(|d| <[u8; 32]>::try_from(d.as_slice()))
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| fail(&id, "no cookie secret drawn"))?;
    let key_id = KeyId::of(&*p, &s_r);
    let address: SocketAddr = INITIATOR.parse().map_err(|_| fail(&id, "address"))?;
    let sid = c.responder_stream_id.0;
    let offer_hash = p.sha512_digest(&[
        b"rud1 offer",
        &[mode.code()],
        &[u8::try_from(sid.len()).map_err(|_| fail(&id, "sid"))?],
        sid,
        s_r.as_bytes(),
        &e_r,
        offer,
    ]);
    let now = Duration::from_secs(T0);
    let mut jar = CookieJar::new(p.clone(), Duration::from_secs(r.setup.cookie_epoch))
        .map_err(|e| fail(&id, e.to_string()))?;
    jar.install_secret(now, SecretBytes::new(secret));
    let ca = CookieAddress::socket(address);
    let cookie = jar.issue(
        now,
        &CookieInput {
            mode: mode.code(),
            address: &ca,
            initiator_ephemeral: &e_i,
            responder_key_id: &key_id.0,
            transcript_hash: &offer_hash,
        },
        |_| {},
    );
    if [cookie.as_slice(), offer].concat() != field {
        return Err(fail(
            &id,
            "the rebuilt cookie field differs from the one on the wire",
        ));
    }
    let mut v = f.vector(
        CryptoKind::Cookie,
        "cookie-before-x448",
        &format!(
            "{}: the cookie field of the {} in transcript {} (the 21-octet cookie, then the \
             offer transcript)",
            mode.name(),
            if mode == HandshakeMode::FirstContact {
                "ResponderChallenge"
            } else {
                "ResponderDefer"
            },
            r.id
        ),
    );
    v.cookie = Some(CookieCase {
        inputs: CookieInputs {
            secret: hex::encode(secret),
            time: T0,
            epoch_length: r.setup.cookie_epoch,
            mode,
            address: address.to_string(),
            initiator_ephemeral: hex::encode(e_i),
            responder_key_id: hex::encode(key_id.0),
            responder_stream_id: hex::encode(sid),
            responder_static_public: hex::encode(s_r.as_bytes()),
            responder_ephemeral_public: hex::encode(&e_r),
            offer: hex::encode(offer),
        },
        outputs: crate::vectors::CookieOutputs {
            epoch: T0 / r.setup.cookie_epoch,
            offer_hash: hex::encode(offer_hash),
            cookie: hex::encode(cookie),
            cookie_field: hex::encode(field),
        },
    });
    Ok(v)
}

fn cookies(runs: &[Recorder]) -> Result<VectorFile, GenerateError> {
    let mut f = CryptoFile::new("7.4", "Challenge cookies");
    for r in runs.iter().filter(|r| r.mode != HandshakeMode::Immediate) {
        let v = cookie_of(&f, r.mode, r)?;
        f.push(v)?;
    }
    Ok(f.finish())
}

/// Every crypto vector file.
pub fn crypto_files() -> Result<Vec<(String, VectorFile)>, GenerateError> {
    let (schedule, runs) = key_schedule()?;
    Ok(vec![
        ("crypto/key-schedule.yaml".into(), schedule),
        ("crypto/datagram-keys.yaml".into(), datagram_keys(&runs)?),
        ("crypto/cookie.yaml".into(), cookies(&runs)?),
    ])
}
