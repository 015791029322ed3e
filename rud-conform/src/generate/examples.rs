//! docs/EXAMPLES.md: a worked example of each key exchange, generated from the successful
//! handshake transcripts (`rud/handshake/4/*`) and their key schedule vectors
//! (`rud/crypto/7.2/*`). Every octet of every datagram is listed field by field (offset, length,
//! field, value); encrypted sections are opened with the derived keys and listed the same way.
//! The field walker here follows the layouts of docs/SPEC.md section 3.7 on its own, and every
//! datagram must also decode with the reference codec, so the two cannot drift apart silently.
use std::fmt::Write as _;

use rud::crypto::default_provider;
use rud::wire::{Datagram, ExtensionCode};

use super::GenerateError;
use super::crypto::crypto_files;
use super::handshake::handshake_files;
use crate::check::crypto::{exchange_keys, unhex};
use crate::vectors::{
    CookieCase, CryptoVector, Direction, HandshakeMode, HandshakeVector, KeySchedule,
    KeyScheduleOutputs, Vectors,
};

fn fail(message: impl Into<String>) -> GenerateError {
    GenerateError {
        id: "docs/EXAMPLES.md".into(),
        message: message.into(),
    }
}

/// One line of a field table.
struct Row {
    offset: usize,
    len: usize,
    field: String,
    value: String,
}

/// Shows octets in full up to 64, else the first 16 and the count.
fn show(b: &[u8]) -> String {
    match b.len() {
        0 => "(empty)".into(),
        n if n <= 64 => format!("`{}`", hex::encode(b)),
        n => format!(
            "`{}`… ({n} octets, see the dump)",
            hex::encode(b.get(..16).unwrap_or(b))
        ),
    }
}

fn message_name(t: u8) -> &'static str {
    match t {
        0x01 => "InitiatorHello",
        0x02 => "InitiatorExchange",
        0x03 => "InitiatorComplete",
        0x05 => "InitiatorError",
        0x81 => "ResponderChallenge",
        0x82 => "ResponderDefer",
        0x83 => "ResponderComplete",
        0x85 => "ResponderError",
        _ => "other",
    }
}

/// Reads an element front to back, writing a row per field.
struct Walk<'a> {
    b: &'a [u8],
    pos: usize,
    rows: Vec<Row>,
}

impl<'a> Walk<'a> {
    fn new(b: &'a [u8]) -> Self {
        Walk {
            b,
            pos: 0,
            rows: Vec::new(),
        }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], String> {
        let s = self
            .b
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or_else(|| format!("{field}: truncated at offset {}", self.pos))?;
        self.pos += n;
        Ok(s)
    }

    fn row(&mut self, offset: usize, len: usize, field: &str, value: String) {
        self.rows.push(Row {
            offset,
            len,
            field: field.into(),
            value,
        });
    }

    /// A QUIC variable-length integer.
    fn varint_value(&mut self, field: &str) -> Result<(usize, usize, u64), String> {
        let at = self.pos;
        let first = *self.take(1, field)?.first().ok_or("empty")?;
        let len = 1usize << (first >> 6);
        let mut v = u64::from(first & 0x3f);
        for b in self.take(len - 1, field)? {
            v = (v << 8) | u64::from(*b);
        }
        Ok((at, len, v))
    }

    fn varint(&mut self, field: &str, note: &str) -> Result<u64, String> {
        let (at, len, v) = self.varint_value(field)?;
        let value = if note.is_empty() {
            v.to_string()
        } else {
            format!("{v} ({note})")
        };
        self.row(at, len, field, value);
        Ok(v)
    }

    fn octets(&mut self, n: usize, field: &str, note: &str) -> Result<&'a [u8], String> {
        let at = self.pos;
        let b = self.take(n, field)?;
        let value = if note.is_empty() {
            show(b)
        } else {
            format!("{} ({note})", show(b))
        };
        self.row(at, n, field, value);
        Ok(b)
    }

    fn octet(&mut self, field: &str, note: impl Fn(u8) -> String) -> Result<u8, String> {
        let at = self.pos;
        let b = *self.take(1, field)?.first().ok_or("empty")?;
        self.row(at, 1, field, format!("`{b:02x}` ({})", note(b)));
        Ok(b)
    }

    /// Binary data: a length, then the octets.
    fn binary(&mut self, field: &str, note: &str) -> Result<&'a [u8], String> {
        let n = self.varint(&format!("{field}: length"), "")?;
        let n = usize::try_from(n).map_err(|_| "length")?;
        if n == 0 {
            return Ok(&[]);
        }
        self.octets(n, field, note)
    }

    fn stream_id(&mut self, field: &str) -> Result<&'a [u8], String> {
        let at = self.pos;
        let (_, len, n) = self.varint_value(field)?;
        self.row(at, len, &format!("{field}: length"), n.to_string());
        let n = usize::try_from(n).map_err(|_| "length")?;
        let id_at = self.pos;
        let id = self.take(n, field)?;
        if n > 0 {
            let note = if id.iter().all(|b| *b == 0) && n == 16 {
                " (the connection stream identifier)"
            } else {
                ""
            };
            self.row(id_at, n, field, format!("{}{note}", show(id)));
        }
        Ok(id)
    }

    fn public_key(&mut self, field: &str) -> Result<&'a [u8], String> {
        let alg = self.varint(&format!("{field}: algorithm"), "X448")?;
        if alg != 1 {
            return Err(format!("{field}: algorithm {alg}"));
        }
        self.binary(field, "")
    }

    fn extensions(&mut self, field: &str) -> Result<(), String> {
        loop {
            let at = self.pos;
            let mut tag = Vec::new();
            loop {
                let b = *self.take(1, field)?.first().ok_or("empty")?;
                tag.push(b);
                if b >= 0x80 || tag.len() == 16 {
                    break;
                }
            }
            if tag == [0xff] {
                self.row(at, 1, &format!("{field}: end"), "`ff` (end of list)".into());
                return Ok(());
            }
            let code = if tag.len() == 1 {
                tag.first().copied().map(ExtensionCode)
            } else {
                None
            };
            let name = code.and_then(ExtensionCode::name).unwrap_or("unknown");
            self.row(
                at,
                tag.len(),
                &format!("{field}: tag"),
                format!("`{}` ({name})", hex::encode(&tag)),
            );
            let n = self.varint(&format!("{field}: {name} length"), "")?;
            let n = usize::try_from(n).map_err(|_| "length")?;
            let v_at = self.pos;
            let v = self.take(n, field)?;
            let value = match code {
                Some(ExtensionCode::STREAM_CLIENT | ExtensionCode::STREAM_RECEIVER) => {
                    // A string: length, then UTF-8.
                    let s = v.get(1..).unwrap_or_default();
                    format!(
                        "{} (service \"{}\", a string of {} octets)",
                        show(v),
                        String::from_utf8_lossy(s),
                        s.len()
                    )
                }
                Some(ExtensionCode::STREAM_ID) => {
                    format!(
                        "{} (the identifier the peer uses on the new stream)",
                        show(v)
                    )
                }
                _ => show(v),
            };
            if n > 0 {
                self.row(v_at, n, &format!("{field}: {name} value"), value);
            }
        }
    }

    fn payload(&mut self, field: &str) -> Result<&'a [u8], String> {
        let b = self.binary(field, "")?;
        if let (Some(last), false, Ok(text)) =
            (self.rows.last_mut(), b.is_empty(), std::str::from_utf8(b))
        {
            last.value = format!("{} (\"{text}\")", last.value);
        }
        Ok(b)
    }

    fn padding(&mut self) -> Result<(), String> {
        let at = self.pos;
        let rest = self.b.get(at..).unwrap_or_default();
        if rest.iter().any(|b| *b != 0) {
            return Err(format!("non-zero padding at {at}"));
        }
        self.pos = self.b.len();
        if !rest.is_empty() {
            self.row(
                at,
                rest.len(),
                "zero padding",
                format!("{} zero octets", rest.len()),
            );
        }
        Ok(())
    }

    /// ciphertext || tag to the end.
    fn sealed_rest(&mut self, field: &str) -> Result<&'a [u8], String> {
        let at = self.pos;
        let rest = self.b.get(at..).unwrap_or_default();
        let n = rest
            .len()
            .checked_sub(16)
            .ok_or("sealed section shorter than a tag")?;
        self.octets(n, &format!("{field}: ciphertext"), "")?;
        self.octets(16, &format!("{field}: tag"), "")?;
        Ok(rest)
    }

    /// Binary data holding ciphertext || tag.
    fn sealed_binary(&mut self, field: &str) -> Result<&'a [u8], String> {
        let n = self.varint(&format!("{field}: length"), "")?;
        let n = usize::try_from(n).map_err(|_| "length")?;
        let ct = n
            .checked_sub(16)
            .ok_or("sealed section shorter than a tag")?;
        let start = self.pos;
        self.octets(ct, &format!("{field}: ciphertext"), "")?;
        self.octets(16, &format!("{field}: tag"), "")?;
        Ok(self.b.get(start..start + n).unwrap_or_default())
    }

    fn cookie(&mut self) -> Result<(), String> {
        let n = self.varint("cookie: length", "")?;
        if n != 53 {
            self.octets(usize::try_from(n).map_err(|_| "length")?, "cookie", "")?;
            return Ok(());
        }
        self.octet("cookie: version", |_| "cookie format 1".into())?;
        let at = self.pos;
        let e = self.take(4, "cookie: epoch")?;
        let epoch = u32::from_be_bytes(e.try_into().map_err(|_| "epoch")?);
        self.row(
            at,
            4,
            "cookie: epoch",
            format!(
                "`{}` (epoch {epoch}: 30 s epochs since the Unix epoch)",
                hex::encode(e)
            ),
        );
        self.octets(16, "cookie: MAC", "HMAC-SHA-256(K_epoch, ...)[0..16]")?;
        self.octets(
            32,
            "cookie: offer transcript",
            "carried for the stateless responder",
        )?;
        Ok(())
    }

    fn done(self) -> Result<Vec<Row>, String> {
        if self.pos != self.b.len() {
            return Err(format!(
                "{} octets left after the last field",
                self.b.len() - self.pos
            ));
        }
        Ok(self.rows)
    }
}

/// The fields of a connection datagram; returns the rows and, for datagrams with a mezzanine,
/// the length of the octets before it (the mezzanine's associated data).
fn datagram_rows(b: &[u8]) -> Result<(Vec<Row>, Option<usize>), String> {
    Datagram::decode(b).map_err(|e| format!("the reference codec refuses it: {e}"))?;
    let mut w = Walk::new(b);
    w.stream_id("stream identifier")?;
    let t = w.octet("message type", |t| message_name(t).into())?;
    let mut aad = None;
    match t {
        0x01 => {
            w.varint("version", "profile 1")?;
            w.binary("initiator stream identifier", "replies carry it")?;
            w.extensions("extensions")?;
            w.payload("payload (plaintext query)")?;
            w.padding()?;
        }
        0x02 => {
            w.varint("version", "profile 1")?;
            w.binary("initiator stream identifier", "replies carry it")?;
            w.binary("responder key id", "")?;
            w.public_key("initiator ephemeral E_i")?;
            w.extensions("extensions")?;
            aad = Some(w.pos);
            w.sealed_rest("mezzanine")?;
        }
        0x03 => {
            w.binary("responder key id", "")?;
            w.public_key("initiator ephemeral E_i")?;
            w.varint("ephemeral index", "the first offered E_r")?;
            w.cookie()?;
            w.extensions("extensions")?;
            aad = Some(w.pos);
            w.sealed_rest("mezzanine")?;
        }
        0x81 | 0x82 => {
            w.varint("version", "profile 1")?;
            w.public_key("responder credential S_r")?;
            let n = w.varint("ephemeral key count", "")?;
            for _ in 0..n {
                w.public_key("responder ephemeral E_r")?;
            }
            w.cookie()?;
            w.binary("responder stream identifier", "the Complete carries it")?;
            w.extensions("extensions")?;
            w.payload("payload (plaintext answer)")?;
            w.padding()?;
        }
        0x83 => {
            w.extensions("extensions")?;
            aad = Some(w.pos);
            w.sealed_rest("mezzanine")?;
        }
        0x05 | 0x85 => {
            w.varint("error code", "")?;
            w.extensions("extensions")?;
            w.padding()?;
        }
        t => return Err(format!("no layout for message type {t:#04x}")),
    }
    Ok((w.done()?, aad))
}

/// Which encrypted section a plaintext is.
#[derive(Clone, Copy)]
enum Section {
    ExchangeMezzanine,
    CompleteMezzanine,
    ResponderCompleteMezzanine,
    Inner,
}

/// The fields of a decrypted section; returns the rows and the sealed inner section it holds.
fn section_rows(s: Section, b: &[u8]) -> Result<(Vec<Row>, Option<Vec<u8>>), String> {
    let mut w = Walk::new(b);
    let mut inner = None;
    match s {
        Section::ExchangeMezzanine => {
            w.public_key("initiator credential S_i")?;
            w.varint("timestamp", "Unix seconds")?;
            w.extensions("extensions")?;
            inner = Some(w.sealed_binary("early-data section")?.to_vec());
            w.padding()?;
        }
        Section::CompleteMezzanine => {
            w.public_key("initiator credential S_i")?;
            w.extensions("extensions")?;
            inner = Some(w.sealed_binary("ciphertext section")?.to_vec());
            w.padding()?;
        }
        Section::ResponderCompleteMezzanine => {
            w.binary("initiator key id", "")?;
            w.public_key("responder ephemeral E_r")?;
            w.octet("early data accepted", |b| {
                if b == 1 { "yes" } else { "no" }.into()
            })?;
            w.binary("responder stream identifier", "")?;
            w.extensions("extensions")?;
            inner = Some(w.sealed_binary("ciphertext section")?.to_vec());
            w.padding()?;
        }
        Section::Inner => {
            w.extensions("extensions")?;
            w.payload("payload")?;
        }
    }
    Ok((w.done()?, inner))
}

fn open(key_hex: &str, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
    let p = default_provider();
    let key: [u8; 32] = unhex("key", key_hex)?
        .try_into()
        .map_err(|_| "a 32-octet key")?;
    let split = sealed.len().checked_sub(16).ok_or("short section")?;
    let (ct, tag) = sealed.split_at(split);
    let tag: [u8; 16] = tag.try_into().map_err(|_| "tag")?;
    let mut buf = ct.to_vec();
    p.aes256_gcm_open(&key, &[0; 12], aad, &mut buf, &tag)
        .map_err(|e| format!("the derived key does not open the section: {e}"))?;
    Ok(buf)
}

fn table(out: &mut String, rows: &[Row]) {
    out.push_str("| offset | length | field | value |\n|---:|---:|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.offset, r.len, r.field, r.value
        );
    }
    out.push('\n');
}

/// A hex dump, 16 octets a line; `*` stands for lines equal to the one above (as in hexdump).
fn dump(out: &mut String, b: &[u8]) {
    out.push_str("```text\n");
    let lines = b.len().div_ceil(16);
    let mut prev: Option<&[u8]> = None;
    let mut starred = false;
    for (k, chunk) in b.chunks(16).enumerate() {
        if prev == Some(chunk) && k + 1 < lines {
            if !starred {
                out.push_str("*\n");
                starred = true;
            }
            continue;
        }
        starred = false;
        prev = Some(chunk);
        let line: Vec<String> = chunk.iter().map(|x| format!("{x:02x}")).collect();
        let _ = writeln!(out, "{:04x}  {}", k * 16, line.join(" "));
    }
    out.push_str("```\n\n");
}

/// Opens `sealed` with `key` and lists its plaintext; returns the sealed inner section.
fn opened(
    out: &mut String,
    what: &str,
    key_name: &str,
    key: &str,
    aad: &[u8],
    sealed: &[u8],
    s: Section,
) -> Result<Option<Vec<u8>>, String> {
    let plain = open(key, aad, sealed)?;
    let aad_text = if aad.is_empty() {
        "empty".to_owned()
    } else {
        format!("the {} octets before the mezzanine", aad.len())
    };
    let _ = writeln!(
        out,
        "{what}, opened with {key_name} (AES-256-GCM, nonce twelve zero octets, associated data \
         {aad_text}): {} octets of plaintext. Offsets are from the first octet of the plaintext.\n",
        plain.len()
    );
    let (rows, inner) = section_rows(s, &plain)?;
    table(out, &rows);
    Ok(inner)
}

fn formula(mode: HandshakeMode, name: &str) -> &'static str {
    let fc = mode != HandshakeMode::Immediate;
    match name {
        "initiator_static_public" => "S_i = X448(s_i, 5)",
        "responder_static_public" => "S_r = X448(s_r, 5)",
        "initiator_ephemeral_public" => "E_i = X448(e_i, 5)",
        "responder_ephemeral_public" => "E_r = X448(e_r, 5)",
        "es" => "X448(e_i, S_r) = X448(s_r, E_i)",
        "ss" => "X448(s_i, S_r) = X448(s_r, S_i)",
        "ee" => "X448(e_i, E_r) = X448(e_r, E_i)",
        "se" => "X448(s_i, E_r) = X448(e_r, S_i)",
        "offer" => {
            "H(\"rud1 offer transcript\" \\|\\| request \\|\\| reply without the cookie field's content)[0..32]"
        }
        "ck0" => "H(PROTOCOL_NAME)",
        "ck1" => "X(ck0, es)",
        "ck2" if fc => "X(ck1, ee)",
        "ck2" => "X(ck1, ss)",
        "ck2_ee" => "X(ck2, ee)",
        "ck3" if fc => "X(ck2, se) = ms",
        "ck3" => "X(X(ck2, ee), se) = ms",
        "th0" if fc => {
            "H(PROTOCOL_NAME \\|\\| mode \\|\\| S_r \\|\\| offer \\|\\| E_r \\|\\| Complete before its mezzanine)"
        }
        "th0" => "H(PROTOCOL_NAME \\|\\| mode \\|\\| S_r \\|\\| Exchange before its mezzanine)",
        "th1" => "TH0 state, then S_i",
        "th2" => "TH1 state, then the ResponderComplete before its mezzanine",
        "th3" => "TH2 state, then E_r",
        "k_mz_i2r" if fc => "E(ck2, \"rud1 mz i2r\", TH0), 32 octets",
        "k_mz_i2r" => "E(ck1, \"rud1 mz i2r\", TH0), 32 octets",
        "k_hs_i2r" => "E(ck3, \"rud1 hs i2r\", TH1), 32 octets",
        "k_early_i2r" => "E(ck2, \"rud1 early i2r\", TH1), 32 octets",
        "k_mz_r2i" => "E(ck2, \"rud1 mz r2i\", TH2), 32 octets",
        "k_hs_r2i" => "E(ck3, \"rud1 hs r2i\", TH3), 32 octets",
        "ts_i2r" => "E(ms, \"rud1 ts i2r\", TH), 64 octets",
        "ts_r2i" => "E(ms, \"rud1 ts r2i\", TH), 64 octets",
        "exporter" => "E(ms, \"rud1 exporter\", TH), 64 octets",
        "resumption" => "E(ms, \"rud1 resumption\", TH), 64 octets",
        _ => "",
    }
}

fn key_table(out: &mut String, k: &KeySchedule) -> Result<(), String> {
    let th = if k.mode == HandshakeMode::Immediate {
        "TH3"
    } else {
        "TH1"
    };
    let _ = writeln!(
        out,
        "X is HKDF-SHA-512-Extract (salt first), E is HKDF-SHA-512-Expand with info label || \
         TH, H is SHA-512, PROTOCOL_NAME is `RUD-1 X448 HKDF-SHA512 AES-256-GCM`, mode is {} \
         and TH in the traffic secrets is {th} (docs/SPEC.md section 7.2).\n",
        k.mode.code()
    );
    out.push_str("| value | derivation | octets (hex) |\n|---|---|---|\n");
    let v = serde_json::to_value(&k.outputs).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("outputs")?;
    for (name, value) in obj {
        if let Some(h) = value.as_str() {
            let _ = writeln!(out, "| {name} | {} | `{h}` |", formula(k.mode, name));
        }
    }
    out.push('\n');
    Ok(())
}

struct Example<'a> {
    number: usize,
    title: &'static str,
    transcript: &'a HandshakeVector,
    schedule: &'a CryptoVector,
    cookie: Option<&'a CryptoVector>,
}

fn write_example(out: &mut String, ex: &Example<'_>) -> Result<(), String> {
    let v = ex.transcript;
    let k = ex.schedule.key_schedule.as_ref().ok_or("no key schedule")?;
    let o: &KeyScheduleOutputs = &k.outputs;
    let _ = writeln!(
        out,
        "## {}. {}\n\nTranscript `{}` (vectors/handshake/modes.yaml): {}. Keys: `{}` \
         (vectors/crypto/key-schedule.yaml).\n",
        ex.number, ex.title, v.id, v.comment, ex.schedule.id
    );
    out.push_str("| key | private (hex) | public (hex) |\n|---|---|---|\n");
    for (name, private, public) in [
        (
            "initiator device key s_i, S_i",
            &k.inputs.initiator_static_private,
            &o.initiator_static_public,
        ),
        (
            "responder device key s_r, S_r",
            &k.inputs.responder_static_private,
            &o.responder_static_public,
        ),
        (
            "initiator ephemeral e_i, E_i",
            &k.inputs.initiator_ephemeral_private,
            &o.initiator_ephemeral_public,
        ),
        (
            "responder ephemeral e_r, E_r",
            &k.inputs.responder_ephemeral_private,
            &o.responder_ephemeral_public,
        ),
    ] {
        let _ = writeln!(out, "| {name} | `{private}` | `{public}` |");
    }
    let _ = writeln!(
        out,
        "\nThe ephemeral keys and issued identifiers come from seeded entropy (setup \
         `initiator_seed`, `responder_seed`); the initiator starts at Unix time {} from {} to {}.\n",
        v.setup.time, v.setup.initiator_address, v.setup.responder_address
    );
    for (n, step) in v.steps.iter().enumerate() {
        let b = unhex("step", &step.hex)?;
        let arrow = match step.direction {
            Direction::I2r => "initiator → responder",
            Direction::R2i => "responder → initiator",
        };
        let _ = writeln!(
            out,
            "### {}.{} {}, {arrow}, {} octets, t = {} ms\n",
            ex.number,
            n + 1,
            step.message,
            b.len(),
            step.time_ms
        );
        dump(out, &b);
        let (rows, aad) = datagram_rows(&b)?;
        table(out, &rows);
        let Some(aad_len) = aad else {
            continue;
        };
        let (header, sealed) = b.split_at(aad_len);
        match (k.mode, step.message.as_str()) {
            (HandshakeMode::Immediate, "InitiatorExchange") => {
                let inner = opened(
                    out,
                    "The mezzanine",
                    "k_mz_i2r",
                    &o.k_mz_i2r,
                    header,
                    sealed,
                    Section::ExchangeMezzanine,
                )?
                .ok_or("no early data")?;
                opened(
                    out,
                    "The early-data section",
                    "k_early_i2r",
                    o.k_early_i2r.as_deref().ok_or("k_early_i2r")?,
                    &[],
                    &inner,
                    Section::Inner,
                )?;
            }
            (HandshakeMode::Deferred, "InitiatorExchange") => {
                // Keyed as in Immediate: the initiator did not know it would be deferred.
                let (k_mz, k_early) = exchange_keys(&*default_provider(), &k.inputs, header)?;
                let _ = writeln!(
                    out,
                    "The initiator keyed this Exchange as in Immediate (it cannot know it will \
                     be deferred): k_mz = `{k_mz}`, k_early = `{k_early}` (section 2's formulas \
                     with mode 2 and this Exchange). A deferring responder never opens it.\n"
                );
                let inner = opened(
                    out,
                    "The mezzanine",
                    "k_mz",
                    &k_mz,
                    header,
                    sealed,
                    Section::ExchangeMezzanine,
                )?
                .ok_or("no early data")?;
                opened(
                    out,
                    "The early-data section",
                    "k_early",
                    &k_early,
                    &[],
                    &inner,
                    Section::Inner,
                )?;
            }
            (_, "InitiatorComplete") => {
                let inner = opened(
                    out,
                    "The mezzanine",
                    "k_mz_i2r",
                    &o.k_mz_i2r,
                    header,
                    sealed,
                    Section::CompleteMezzanine,
                )?
                .ok_or("no ciphertext section")?;
                opened(
                    out,
                    "The ciphertext section",
                    "k_hs_i2r",
                    o.k_hs_i2r.as_deref().ok_or("k_hs_i2r")?,
                    &[],
                    &inner,
                    Section::Inner,
                )?;
            }
            (_, "ResponderComplete") => {
                let inner = opened(
                    out,
                    "The mezzanine",
                    "k_mz_r2i",
                    o.k_mz_r2i.as_deref().ok_or("k_mz_r2i")?,
                    header,
                    sealed,
                    Section::ResponderCompleteMezzanine,
                )?
                .ok_or("no ciphertext section")?;
                opened(
                    out,
                    "The ciphertext section",
                    "k_hs_r2i",
                    o.k_hs_r2i.as_deref().ok_or("k_hs_r2i")?,
                    &[],
                    &inner,
                    Section::Inner,
                )?;
            }
            (_, m) => return Err(format!("no keys for the mezzanine of a {m}")),
        }
    }
    if let Some(CookieCase { inputs, outputs }) = ex.cookie.and_then(|c| c.cookie.as_ref()) {
        let _ = writeln!(
            out,
            "### {}.{} The cookie\n\nVector `{}` (vectors/crypto/cookie.yaml). The responder \
             drew K_epoch = `{}` for epoch {} and bound the Challenge to the initiator's address \
             (`{}`, bound as the family octet, the IP octets and the port), E_i ({}), the key \
             id `{}` and the offer hash H(\"rud1 offer\" || mode || len(sid) || sid || S_r || E_r \
             || offer) = `{}`. Cookie = `{}`; the field carries it and then the offer \
             transcript.\n",
            ex.number,
            v.steps.len() + 1,
            ex.cookie.map(|c| c.id.as_str()).unwrap_or_default(),
            inputs.secret,
            outputs.epoch,
            inputs.address,
            if inputs.initiator_ephemeral.bytes().all(|c| c == b'0') {
                "56 zero octets: in First Contact the initiator has no ephemeral yet".to_owned()
            } else {
                format!("`{}`", inputs.initiator_ephemeral)
            },
            inputs.responder_key_id,
            outputs.offer_hash,
            outputs.cookie,
        );
    }
    let _ = writeln!(
        out,
        "### {}.{} Key schedule\n",
        ex.number,
        v.steps.len() + 2
    );
    key_table(out, k)?;
    let Some(s) = &v.outcome.session else {
        return Err("the transcript does not establish".into());
    };
    let _ = writeln!(
        out,
        "Both sides end with the traffic secrets above (the initiator's session: confirmed \
         {}, responder authenticated {}, early data {}); the first stream is `{}` toward the \
         initiator and `{}` toward the responder.\n",
        s.confirmed,
        s.responder_authenticated,
        s.early_data,
        s.initiator_stream_id,
        s.responder_stream_id
    );
    Ok(())
}

/// The whole of docs/EXAMPLES.md.
pub fn examples_markdown() -> Result<String, GenerateError> {
    let hs = handshake_files()?;
    let cr = crypto_files()?;
    let transcripts: Vec<&HandshakeVector> = hs
        .iter()
        .filter(|(path, _)| path == "handshake/modes.yaml")
        .flat_map(|(_, f)| match &f.vectors {
            Vectors::Handshake(v) => v.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    let crypto: Vec<&CryptoVector> = cr
        .iter()
        .flat_map(|(_, f)| match &f.vectors {
            Vectors::Crypto(v) => v.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    let mut out = String::from(
        "# Worked examples of the RUD key exchanges\n\n\
         <!-- Generated by `rud-conform generate` (rud-conform/src/generate/examples.rs) from the \
         handshake and crypto vectors; do not edit. -->\n\n\
         These examples take the place of the draft's \"Key exchange example TBS\". Each shows one \
         successful transcript of the reference implementation, datagram by datagram: a hex \
         dump, then every field with its offset and length in octets (offsets count from the \
         first octet of the datagram, or of the decrypted section), its value in hex (values \
         longer than 64 octets show their first 16 octets; the dump has them all, with `*` for \
         lines that repeat the line above) and what it means. Encrypted sections are opened with the keys the key schedule derives and listed \
         the same way. Layouts: docs/SPEC.md section 3.7; keys: section 7. The transcripts and \
         keys are the test vectors `rud/handshake/4/1-3` and `rud/crypto/7.2/1-3`, which \
         `rud-conform vectors` checks against the reference.\n\n",
    );
    let titles = [
        (HandshakeMode::FirstContact, "First Contact (2 RTT)"),
        (HandshakeMode::Immediate, "Immediate (1 RTT, early data)"),
        (
            HandshakeMode::Deferred,
            "Deferred (2 RTT, stateless responder)",
        ),
    ];
    for (number, (mode, title)) in titles.into_iter().enumerate() {
        let transcript = transcripts
            .iter()
            .find(|v| v.mode == mode)
            .ok_or_else(|| fail(format!("no {} transcript", mode.name())))?;
        let schedule = crypto
            .iter()
            .find(|v| v.key_schedule.as_ref().is_some_and(|k| k.mode == mode))
            .ok_or_else(|| fail(format!("no {} key schedule", mode.name())))?;
        let cookie = crypto
            .iter()
            .find(|v| v.cookie.as_ref().is_some_and(|c| c.inputs.mode == mode))
            .copied();
        let ex = Example {
            number: number + 1,
            title,
            transcript,
            schedule,
            cookie,
        };
        write_example(&mut out, &ex).map_err(|e| fail(format!("{}: {e}", mode.name())))?;
    }
    Ok(out.trim_end().to_owned() + "\n")
}
