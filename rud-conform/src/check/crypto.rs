//! The `crypto` set: every output is recomputed from the vector's inputs with the formulas of
//! docs/SPEC.md section 7, written out here from the SPEC (labels and all) over the reference
//! primitives (X448, SHA-512, HKDF-SHA-512, HMAC-SHA-256, AES-256, AES-256-GCM), and where the
//! reference has an API for the value (stream keys, datagram keys, sealing, cookies) it must
//! agree too.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rud::crypto::cookie::{CookieAddress, CookieInput, CookieJar};
use rud::crypto::datagram_key::{DatagramOpener, StreamKey};
use rud::crypto::stream_key::{TrafficSecret, derive_stream_key};
use rud::crypto::x448::{X448PublicKey, X448Secret, X448SharedSecret};
use rud::crypto::{CryptoProvider, SecretBytes, default_provider, hkdf};
use rud::wire::Datagram;

use crate::vectors::{
    CookieInputs, CookieOutputs, CryptoKind, CryptoVector, DatagramKeyInputs, DatagramKeyOutputs,
    DatagramKeyRow, HandshakeMode, KeyScheduleInputs, KeyScheduleOutputs, SealInputs, SealOutputs,
};

/// docs/SPEC.md section 7.2.
pub const PROTOCOL_NAME: &[u8] = b"RUD-1 X448 HKDF-SHA512 AES-256-GCM";

pub(crate) fn unhex(what: &str, s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| format!("{what}: {e}"))
}

fn unhex_n<const N: usize>(what: &str, s: &str) -> Result<[u8; N], String> {
    let v = unhex(what, s)?;
    v.as_slice()
        .try_into()
        .map_err(|_| format!("{what}: {} octets, expected {N}", v.len()))
}

fn need<'a>(what: &str, v: &'a Option<String>) -> Result<&'a str, String> {
    v.as_deref()
        .ok_or_else(|| format!("input `{what}` is missing for this mode"))
}

/// Runs one crypto vector.
pub fn run(v: &CryptoVector) -> Result<(), String> {
    let p = default_provider();
    match v.kind {
        CryptoKind::KeySchedule => {
            let k = v.key_schedule.as_ref().ok_or("no key_schedule block")?;
            let got = key_schedule(&*p, k.mode, &k.inputs)?;
            same("key schedule", &k.outputs, &got)
        }
        CryptoKind::DatagramKey => {
            let d = v.datagram_key.as_ref().ok_or("no datagram_key block")?;
            same("datagram keys", &d.outputs, &datagram_keys(&p, &d.inputs)?)
        }
        CryptoKind::Seal => {
            let s = v.seal.as_ref().ok_or("no seal block")?;
            same("seal", &s.outputs, &seal(&p, &s.inputs)?)
        }
        CryptoKind::Cookie => {
            let c = v.cookie.as_ref().ok_or("no cookie block")?;
            same("cookie", &c.outputs, &cookie(&p, &c.inputs)?)
        }
    }
}

/// Compares whole structures, naming the fields that differ.
fn same<T: serde::Serialize + PartialEq>(what: &str, want: &T, got: &T) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    let (w, g) = (
        serde_json::to_value(want).unwrap_or_default(),
        serde_json::to_value(got).unwrap_or_default(),
    );
    let mut diffs = Vec::new();
    if let (Some(w), Some(g)) = (w.as_object(), g.as_object()) {
        for (k, wv) in w {
            let gv = g.get(k).cloned().unwrap_or_default();
            if *wv != gv {
                diffs.push(format!("{k}: expected {wv}, computed {gv}"));
            }
        }
        for k in g.keys().filter(|k| !w.contains_key(*k)) {
            diffs.push(format!("{k}: computed but absent from the vector"));
        }
    }
    Err(format!("{what} differs: {}", diffs.join("; ")))
}

/// A running SHA-512 transcript hash.
struct Th(Box<dyn rud::crypto::Sha512Hasher>);

impl Th {
    fn start(p: &dyn CryptoProvider, mode: HandshakeMode, s_r: &[u8]) -> Self {
        let mut h = p.sha512();
        h.update(PROTOCOL_NAME);
        h.update(&[mode.code()]);
        h.update(s_r);
        Th(h)
    }
    fn absorb(&mut self, b: &[u8]) -> &mut Self {
        self.0.update(b);
        self
    }
    fn hash(&self) -> [u8; 64] {
        self.0.snapshot()
    }
}

/// X(ck, ikm): HKDF-SHA-512-Extract with salt ck.
fn x(p: &dyn CryptoProvider, ck: &[u8], ikm: &[u8]) -> SecretBytes<64> {
    hkdf::extract(p, ck, &[ikm])
}

/// E(ck, label, TH): HKDF-SHA-512-Expand with info label || TH, `n` octets.
fn e(
    p: &dyn CryptoProvider,
    ck: &SecretBytes<64>,
    label: &[u8],
    th: &[u8],
    n: usize,
) -> Result<String, String> {
    let mut out = vec![0u8; n];
    hkdf::expand(p, ck, &[label, th], &mut out).map_err(|e| e.to_string())?;
    Ok(hex::encode(out))
}

fn private(what: &str, s: &str) -> Result<X448Secret, String> {
    X448Secret::from_slice(&unhex(what, s)?).map_err(|e| format!("{what}: {e}"))
}

/// Both sides' view of one DH must agree.
fn dh(
    p: &dyn CryptoProvider,
    what: &str,
    (a, a_pub): (&X448Secret, &X448PublicKey),
    (b, b_pub): (&X448Secret, &X448PublicKey),
) -> Result<X448SharedSecret, String> {
    let one = a
        .diffie_hellman(p, b_pub)
        .map_err(|e| format!("{what}: {e}"))?;
    let other = b
        .diffie_hellman(p, a_pub)
        .map_err(|e| format!("{what}: {e}"))?;
    if one.expose() != other.expose() {
        return Err(format!("{what}: the two sides disagree"));
    }
    Ok(one)
}

/// The offer transcript: H("rud1 offer transcript" || request || reply without the content
/// of its cookie field)[0..32] (docs/SPEC.md section 7.2).
pub fn offer_transcript(
    p: &dyn CryptoProvider,
    request: &[u8],
    reply: &[u8],
) -> Result<[u8; 32], String> {
    let d = Datagram::decode(reply).map_err(|e| format!("reply: {e}"))?;
    let (Datagram::ResponderChallenge(c) | Datagram::ResponderDefer(c)) = &d else {
        return Err("reply is not a ResponderChallenge or ResponderDefer".into());
    };
    let start = rud::wire::parse::offset_in(reply, c.cookie);
    let before = reply.get(..start).ok_or("cookie offset")?;
    let after = reply.get(start + c.cookie.len()..).ok_or("cookie offset")?;
    let full = p.sha512_digest(&[b"rud1 offer transcript", request, before, after]);
    let mut out = [0u8; 32];
    out.copy_from_slice(&full[..32]);
    Ok(out)
}

/// Recomputes the key schedule of docs/SPEC.md section 7.2 from private keys and transcript
/// octets.
pub fn key_schedule(
    p: &dyn CryptoProvider,
    mode: HandshakeMode,
    i: &KeyScheduleInputs,
) -> Result<KeyScheduleOutputs, String> {
    let s_i = private("initiator_static_private", &i.initiator_static_private)?;
    let s_r = private("responder_static_private", &i.responder_static_private)?;
    let e_i = private(
        "initiator_ephemeral_private",
        &i.initiator_ephemeral_private,
    )?;
    let e_r = private(
        "responder_ephemeral_private",
        &i.responder_ephemeral_private,
    )?;
    let (ps_i, ps_r, pe_i, pe_r) = (
        s_i.public_key(p),
        s_r.public_key(p),
        e_i.public_key(p),
        e_r.public_key(p),
    );
    let es = dh(p, "es", (&e_i, &pe_i), (&s_r, &ps_r))?;
    let ee = dh(p, "ee", (&e_i, &pe_i), (&e_r, &pe_r))?;
    let se = dh(p, "se", (&s_i, &ps_i), (&e_r, &pe_r))?;
    let ck0 = SecretBytes::new(p.sha512_digest(&[PROTOCOL_NAME]));
    let ck1 = x(p, ck0.expose(), es.expose());
    let mut o = KeyScheduleOutputs {
        initiator_static_public: hex::encode(ps_i.as_bytes()),
        responder_static_public: hex::encode(ps_r.as_bytes()),
        initiator_ephemeral_public: hex::encode(pe_i.as_bytes()),
        responder_ephemeral_public: hex::encode(pe_r.as_bytes()),
        es: hex::encode(es.expose()),
        ee: hex::encode(ee.expose()),
        se: hex::encode(se.expose()),
        ck0: hex::encode(ck0.expose()),
        ck1: hex::encode(ck1.expose()),
        ..KeyScheduleOutputs::default()
    };
    let mut th = Th::start(p, mode, ps_r.as_bytes());
    let (ck3, th_final) = match mode {
        HandshakeMode::FirstContact | HandshakeMode::Deferred => {
            let request = unhex("request", need("request", &i.request)?)?;
            let reply = unhex("reply", need("reply", &i.reply)?)?;
            let header = unhex(
                "complete_header",
                need("complete_header", &i.complete_header)?,
            )?;
            let offer = offer_transcript(p, &request, &reply)?;
            o.offer = Some(hex::encode(offer));
            // TH0 = TH after offer || E_r || Complete octets before the mezzanine
            let th0 = th
                .absorb(&offer)
                .absorb(pe_r.as_bytes())
                .absorb(&header)
                .hash();
            // ck2 = X(ck1, ee); k_mz = E(ck2, "rud1 mz i2r", TH0)
            let ck2 = x(p, ck1.expose(), ee.expose());
            o.k_mz_i2r = e(p, &ck2, b"rud1 mz i2r", &th0, 32)?;
            // TH1 = TH0-state after S_i; ck3 = X(ck2, se); k_hs = E(ck3, "rud1 hs i2r", TH1)
            let th1 = th.absorb(ps_i.as_bytes()).hash();
            let ck3 = x(p, ck2.expose(), se.expose());
            o.k_hs_i2r = Some(e(p, &ck3, b"rud1 hs i2r", &th1, 32)?);
            o.ck2 = hex::encode(ck2.expose());
            o.th0 = hex::encode(th0);
            o.th1 = hex::encode(th1);
            (ck3, th1)
        }
        HandshakeMode::Immediate => {
            let xh = unhex(
                "exchange_header",
                need("exchange_header", &i.exchange_header)?,
            )?;
            let rch = unhex(
                "responder_complete_header",
                need("responder_complete_header", &i.responder_complete_header)?,
            )?;
            let ss = dh(p, "ss", (&s_i, &ps_i), (&s_r, &ps_r))?;
            o.ss = Some(hex::encode(ss.expose()));
            // TH0 = TH after Exchange octets before the mezzanine; k_mz = E(ck1, .., TH0)
            let th0 = th.absorb(&xh).hash();
            o.k_mz_i2r = e(p, &ck1, b"rud1 mz i2r", &th0, 32)?;
            // TH1 after S_i; ck2 = X(ck1, ss); k_early = E(ck2, "rud1 early i2r", TH1)
            let th1 = th.absorb(ps_i.as_bytes()).hash();
            let ck2 = x(p, ck1.expose(), ss.expose());
            o.k_early_i2r = Some(e(p, &ck2, b"rud1 early i2r", &th1, 32)?);
            // TH2 after the ResponderComplete octets before the mezzanine
            let th2 = th.absorb(&rch).hash();
            o.k_mz_r2i = Some(e(p, &ck2, b"rud1 mz r2i", &th2, 32)?);
            // TH3 after E_r; ck3 = X(X(ck2, ee), se)
            let th3 = th.absorb(pe_r.as_bytes()).hash();
            let ck2_ee = x(p, ck2.expose(), ee.expose());
            let ck3 = x(p, ck2_ee.expose(), se.expose());
            o.k_hs_r2i = Some(e(p, &ck3, b"rud1 hs r2i", &th3, 32)?);
            o.ck2 = hex::encode(ck2.expose());
            o.ck2_ee = Some(hex::encode(ck2_ee.expose()));
            o.th0 = hex::encode(th0);
            o.th1 = hex::encode(th1);
            o.th2 = Some(hex::encode(th2));
            o.th3 = Some(hex::encode(th3));
            (ck3, th3)
        }
    };
    o.ck3 = hex::encode(ck3.expose());
    // 7.2.1: ms = ck3; secrets from (ms, TH)
    o.ts_i2r = e(p, &ck3, b"rud1 ts i2r", &th_final, 64)?;
    o.ts_r2i = e(p, &ck3, b"rud1 ts r2i", &th_final, 64)?;
    o.exporter = e(p, &ck3, b"rud1 exporter", &th_final, 64)?;
    o.resumption = e(p, &ck3, b"rud1 resumption", &th_final, 64)?;
    Ok(o)
}

/// The section keys of an InitiatorExchange, `(k_mz, k_early)`, keyed as in Immediate (an
/// initiator that is then deferred did not know it would be): ck1 = X(ck0, es),
/// k_mz = E(ck1, "rud1 mz i2r", TH0), ck2 = X(ck1, ss), k_early = E(ck2, "rud1 early i2r", TH1).
pub fn exchange_keys(
    p: &dyn CryptoProvider,
    i: &KeyScheduleInputs,
    exchange_header: &[u8],
) -> Result<(String, String), String> {
    let s_i = private("initiator_static_private", &i.initiator_static_private)?;
    let s_r = private("responder_static_private", &i.responder_static_private)?;
    let e_i = private(
        "initiator_ephemeral_private",
        &i.initiator_ephemeral_private,
    )?;
    let (ps_i, ps_r, pe_i) = (s_i.public_key(p), s_r.public_key(p), e_i.public_key(p));
    let es = dh(p, "es", (&e_i, &pe_i), (&s_r, &ps_r))?;
    let ss = dh(p, "ss", (&s_i, &ps_i), (&s_r, &ps_r))?;
    let ck0 = SecretBytes::new(p.sha512_digest(&[PROTOCOL_NAME]));
    let ck1 = x(p, ck0.expose(), es.expose());
    let mut th = Th::start(p, HandshakeMode::Immediate, ps_r.as_bytes());
    let th0 = th.absorb(exchange_header).hash();
    let th1 = th.absorb(ps_i.as_bytes()).hash();
    let ck2 = x(p, ck1.expose(), ss.expose());
    Ok((
        e(p, &ck1, b"rud1 mz i2r", &th0, 32)?,
        e(p, &ck2, b"rud1 early i2r", &th1, 32)?,
    ))
}

/// sk = E(ts, "rud1 stream" || be64(g), 32); K_n from four AES-256 blocks under sk; N_n
/// (docs/SPEC.md section 7.3). The reference's stream and datagram keys must agree.
pub fn datagram_keys(
    p: &Arc<dyn CryptoProvider>,
    i: &DatagramKeyInputs,
) -> Result<DatagramKeyOutputs, String> {
    let ts = unhex_n::<64>("traffic_secret", &i.traffic_secret)?;
    let sk = stream_key(&**p, &ts, i.generation)?;
    let reference = derive_stream_key(
        p.clone(),
        &TrafficSecret::new(SecretBytes::new(ts)),
        i.generation,
    )
    .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for &n in &i.counters {
        let (key, nonce) = datagram_key(&**p, &sk, n);
        let r = reference
            .datagram_key(n)
            .map_err(|e| format!("n = {n}: {e}"))?;
        if r.key() != &key || r.nonce() != &nonce {
            return Err(format!(
                "n = {n}: the reference derives another key or nonce"
            ));
        }
        rows.push(DatagramKeyRow {
            n,
            key: hex::encode(key),
            nonce: hex::encode(nonce),
        });
    }
    Ok(DatagramKeyOutputs {
        stream_key: hex::encode(sk),
        datagrams: rows,
    })
}

fn stream_key(p: &dyn CryptoProvider, ts: &[u8; 64], g: u64) -> Result<[u8; 32], String> {
    let mut sk = [0u8; 32];
    p.hkdf_sha512_expand(ts, &[b"rud1 stream", &g.to_be_bytes()], &mut sk)
        .map_err(|e| e.to_string())?;
    Ok(sk)
}

/// block_j = be32(j) || be32(0) || be64(n); K_n = AES(sk, block_0..3)[0..8] each;
/// N_n = be32(0) || be64(n).
fn datagram_key(p: &dyn CryptoProvider, sk: &[u8; 32], n: u64) -> ([u8; 32], [u8; 12]) {
    let aes = p.aes256_block_key(sk);
    let mut blocks = [[0u8; 16]; 4];
    for (j, b) in (0u32..).zip(blocks.iter_mut()) {
        b[..4].copy_from_slice(&j.to_be_bytes());
        b[8..].copy_from_slice(&n.to_be_bytes());
    }
    aes.encrypt_blocks(&mut blocks);
    let mut key = [0u8; 32];
    for (dst, src) in key.chunks_exact_mut(8).zip(blocks.iter()) {
        dst.copy_from_slice(&src[..8]);
    }
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_be_bytes());
    (key, nonce)
}

/// AES-256-GCM(K_n, N_n, AAD) of the plaintext; the reference opener must open it.
pub fn seal(p: &Arc<dyn CryptoProvider>, i: &SealInputs) -> Result<SealOutputs, String> {
    let sk = unhex_n::<32>("stream_key", &i.stream_key)?;
    let aad = unhex("aad", &i.aad)?;
    let plaintext = unhex("plaintext", &i.plaintext)?;
    let (key, nonce) = datagram_key(&**p, &sk, i.n);
    let mut buf = plaintext.clone();
    let tag = p
        .aes256_gcm_seal(&key, &nonce, &aad, &mut buf)
        .map_err(|e| e.to_string())?;
    let sealed = [buf.as_slice(), &tag].concat();
    let opener = DatagramOpener::new(StreamKey::new(p.clone(), &SecretBytes::new(sk)));
    opener
        .open(i.n, &aad, &mut buf, &tag)
        .map_err(|e| format!("the reference cannot open it: {e}"))?;
    if buf != plaintext {
        return Err("the reference opens it to another plaintext".into());
    }
    Ok(SealOutputs {
        key: hex::encode(key),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
    })
}

/// The address as the cookie binds it: family octet (4 or 6), the IP octets, be16 port.
fn cookie_address(a: SocketAddr) -> Vec<u8> {
    let mut out = Vec::new();
    match a {
        SocketAddr::V4(v) => {
            out.push(4);
            out.extend_from_slice(&v.ip().octets());
        }
        SocketAddr::V6(v) => {
            out.push(6);
            out.extend_from_slice(&v.ip().octets());
        }
    }
    out.extend_from_slice(&a.port().to_be_bytes());
    out
}

/// The cookie of docs/SPEC.md section 7.4; the reference jar must issue and verify the same.
pub fn cookie(p: &Arc<dyn CryptoProvider>, i: &CookieInputs) -> Result<CookieOutputs, String> {
    let secret = unhex_n::<32>("secret", &i.secret)?;
    let address: SocketAddr = i.address.parse().map_err(|e| format!("address: {e}"))?;
    let e_i = unhex_n::<56>("initiator_ephemeral", &i.initiator_ephemeral)?;
    let key_id = unhex_n::<16>("responder_key_id", &i.responder_key_id)?;
    let sid = unhex("responder_stream_id", &i.responder_stream_id)?;
    let s_r = unhex_n::<56>("responder_static_public", &i.responder_static_public)?;
    let e_r = unhex_n::<56>("responder_ephemeral_public", &i.responder_ephemeral_public)?;
    let offer = unhex_n::<32>("offer", &i.offer)?;
    if i.epoch_length == 0 {
        return Err("epoch_length must be positive".into());
    }
    let epoch = i.time / i.epoch_length;
    let sid_len = u8::try_from(sid.len()).map_err(|_| "responder_stream_id too long")?;
    let mode = [i.mode.code()];
    let offer_hash = p.sha512_digest(&[b"rud1 offer", &mode, &[sid_len], &sid, &s_r, &e_r, &offer]);
    let addr = cookie_address(address);
    let addr_len = u8::try_from(addr.len()).map_err(|_| "address too long")?;
    let mut mac = [0u8; 32];
    p.hmac_sha256(
        &secret,
        &[
            b"rud1 cookie",
            &mode,
            &[addr_len],
            &addr,
            &e_i,
            &key_id,
            &offer_hash,
        ],
        &mut mac,
    );
    let wire_epoch = u32::try_from(epoch & u64::from(u32::MAX)).map_err(|_| "epoch")?;
    let mut c = vec![1u8];
    c.extend_from_slice(&wire_epoch.to_be_bytes());
    c.extend_from_slice(&mac[..16]);

    // The reference jar, given the same secret, issues and verifies the same cookie.
    let now = Duration::from_secs(i.time);
    let mut jar = CookieJar::new(p.clone(), Duration::from_secs(i.epoch_length))
        .map_err(|e| e.to_string())?;
    jar.install_secret(now, SecretBytes::new(secret));
    let ca = CookieAddress::socket(address);
    let input = CookieInput {
        mode: i.mode.code(),
        address: &ca,
        initiator_ephemeral: &e_i,
        responder_key_id: &key_id,
        transcript_hash: &offer_hash,
    };
    let issued = jar.issue(now, &input, |_| {});
    if issued.as_slice() != c.as_slice() {
        return Err(format!(
            "the reference jar issues {}, the formula gives {}",
            hex::encode(issued),
            hex::encode(&c)
        ));
    }
    jar.verify(now, &c, &input)
        .map_err(|e| format!("the reference jar refuses it: {e}"))?;
    let field = [c.as_slice(), &offer].concat();
    Ok(CookieOutputs {
        epoch,
        offer_hash: hex::encode(offer_hash),
        cookie: hex::encode(&c),
        cookie_field: hex::encode(field),
    })
}
