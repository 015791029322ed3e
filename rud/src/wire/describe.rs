//! One description of decoded wire elements, as JSON values, shared by `rud-dissect` (tree and
//! JSON output), the vector files (`decoded:`) and the snapshot tests. Keys keep wire order;
//! repeated things are arrays (never duplicate keys); byte strings are lowercase hex.
use serde_json::{Map, Value, json};

use super::challenge::Challenge;
use super::datagram::Datagram;
use super::ext::{ExtensionCode, ExtensionValue};
use super::extension::ExtensionList;
use super::public_key::PublicKey;
use super::sealed::Sealed;
use super::sections::{
    CompleteMezzanine, DataPlaintext, ExchangeMezzanine, InnerSection, ResponderCompleteMezzanine,
};

fn hex(b: &[u8]) -> Value {
    Value::String(hex::encode(b))
}

fn key(k: &PublicKey<'_>) -> Value {
    json!({
        "algorithm": k.algorithm.name().map_or_else(|| json!(k.algorithm.0), |n| json!(n)),
        "key": hex(k.key),
    })
}

fn sealed(s: &Sealed<'_>) -> Value {
    if s.0.is_empty() {
        return Value::Null;
    }
    json!({
        "encrypted": true,
        "ciphertext_length": s.ciphertext().len(),
        "tag": hex(s.tag()),
    })
}

/// Describes an extension list: one object per entry, in wire order.
pub fn extensions(list: &ExtensionList<'_>) -> Value {
    Value::Array(
        list.iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("tag".into(), hex(e.tag.0));
                let code = e.tag.code().map(ExtensionCode);
                m.insert(
                    "name".into(),
                    json!(code.and_then(ExtensionCode::name).unwrap_or("Unknown")),
                );
                match e.parse_value() {
                    Ok(ExtensionValue::Unknown) => {
                        m.insert("value".into(), hex(e.value));
                    }
                    Ok(v) => {
                        m.insert("value".into(), extension_value(&v));
                    }
                    Err(err) => {
                        m.insert("value".into(), hex(e.value));
                        m.insert("malformed".into(), json!(err.kind.to_string()));
                    }
                }
                Value::Object(m)
            })
            .collect(),
    )
}

fn extension_value(v: &ExtensionValue<'_>) -> Value {
    match v {
        ExtensionValue::StreamId(id) => json!({ "stream_id": hex(id) }),
        ExtensionValue::UseKeyOf(id) => json!({ "stream_id": hex(id) }),
        ExtensionValue::OneTimeIds(ids) => {
            json!({ "ids": ids.iter().map(|i| hex(i)).collect::<Vec<_>>() })
        }
        ExtensionValue::StreamClient { service } | ExtensionValue::StreamReceiver { service } => {
            json!({ "service": service })
        }
        ExtensionValue::Restart | ExtensionValue::Unknown => json!({}),
        ExtensionValue::Credential {
            credential_type,
            data,
        } => {
            json!({ "credential_type": credential_type, "data": hex(data) })
        }
        ExtensionValue::KeyExchange(k) => json!({ "public_key": key(k) }),
        ExtensionValue::EncryptionParameters { suite, generation } => {
            json!({ "suite": suite, "generation": generation })
        }
        ExtensionValue::Ack(a) => json!({
            "largest": a.largest,
            "delay_us": a.delay_us,
            "first_range": a.first_range,
            "ranges": a.ranges.iter().map(|(g, l)| json!({"gap": g, "length": l})).collect::<Vec<_>>(),
            "partials": a.partials.iter().map(|p| json!({"nonce": p.nonce, "bitmap": hex(p.bitmap)})).collect::<Vec<_>>(),
        }),
        ExtensionValue::Close { code, reason } => json!({ "code": code, "reason": reason }),
        ExtensionValue::Ticket { lifetime_s, ticket } => {
            json!({ "lifetime_s": lifetime_s, "ticket": hex(ticket) })
        }
        ExtensionValue::Error { code } => json!({ "code": code }),
        ExtensionValue::Metrics(m) => json!({
            "psn_this": m.psn_this,
            "psn_last_received": m.psn_last_received,
            "scale_dtlr": m.scale_dtlr,
            "delta_last_received": m.delta_last_received,
            "scale_dtls": m.scale_dtls,
            "delta_last_sent": m.delta_last_sent,
        }),
        ExtensionValue::SupportedVersions(vs) => json!({ "versions": vs }),
        ExtensionValue::Credit { stream, connection } => {
            json!({ "stream": stream, "connection": connection })
        }
    }
}

fn challenge(m: &Challenge<'_>, obj: &mut Map<String, Value>) {
    obj.insert("version".into(), json!(m.version));
    obj.insert("credential".into(), key(&m.credential));
    obj.insert(
        "ephemerals".into(),
        Value::Array(m.ephemerals.iter().map(key).collect()),
    );
    obj.insert("cookie".into(), hex(m.cookie));
    obj.insert("responder_stream_id".into(), hex(m.responder_stream_id.0));
    obj.insert("extensions".into(), extensions(&m.extensions));
    obj.insert("payload".into(), hex(m.payload));
    obj.insert("padding".into(), json!(m.padding));
}

/// Describes a decoded datagram. `length` is the number of octets it was decoded from.
pub fn datagram(d: &Datagram<'_>, length: usize) -> Value {
    let t = d.msg_type();
    let mut o = Map::new();
    o.insert("type".into(), json!(t.name().unwrap_or("Unknown")));
    o.insert("type_code".into(), json!(t.0));
    o.insert(
        "sender".into(),
        json!(if t.is_responder() {
            "responder"
        } else {
            "initiator"
        }),
    );
    o.insert("length".into(), json!(length));
    o.insert("stream_id".into(), hex(d.stream_id().0));
    match d {
        Datagram::InitiatorHello(m) => {
            o.insert("version".into(), json!(m.version));
            o.insert("initiator_stream_id".into(), hex(m.initiator_stream_id.0));
            o.insert("extensions".into(), extensions(&m.extensions));
            o.insert("payload".into(), hex(m.payload));
            o.insert("padding".into(), json!(m.padding));
        }
        Datagram::ResponderChallenge(m) | Datagram::ResponderDefer(m) => challenge(m, &mut o),
        Datagram::InitiatorExchange(m) => {
            o.insert("version".into(), json!(m.version));
            o.insert("initiator_stream_id".into(), hex(m.initiator_stream_id.0));
            o.insert("responder_key_id".into(), hex(m.responder_key_id));
            o.insert("initiator_ephemeral".into(), key(&m.initiator_ephemeral));
            o.insert("extensions".into(), extensions(&m.extensions));
            o.insert("mezzanine".into(), sealed(&m.mezzanine));
        }
        Datagram::InitiatorComplete(m) => {
            o.insert("responder_key_id".into(), hex(m.responder_key_id));
            o.insert("initiator_ephemeral".into(), key(&m.initiator_ephemeral));
            o.insert("ephemeral_index".into(), json!(m.ephemeral_index));
            o.insert("cookie".into(), hex(m.cookie));
            o.insert("extensions".into(), extensions(&m.extensions));
            o.insert("mezzanine".into(), sealed(&m.mezzanine));
        }
        Datagram::ResponderComplete(m) => {
            o.insert("extensions".into(), extensions(&m.extensions));
            o.insert("mezzanine".into(), sealed(&m.mezzanine));
        }
        Datagram::Data(m) => {
            o.insert("nonce".into(), json!(m.nonce));
            o.insert("packet_count".into(), json!(m.packet_count));
            o.insert(
                "flags".into(),
                json!({ "raw": m.flags.0, "final": m.flags.is_final(), "control": m.flags.is_control(), "abort": m.flags.is_abort(), "ack_only": m.flags.is_ack_only() }),
            );
            o.insert("packet_index".into(), json!(m.packet_index));
            o.insert("sent_index".into(), json!(m.sent_index));
            o.insert("retransmit".into(), json!(m.retransmit));
            o.insert(
                "fragment".into(),
                json!({
                    "encrypted": true,
                    "length": m.fragment.len(),
                    "carries_tag": m.is_last(),
                }),
            );
        }
        Datagram::Error(m) => {
            o.insert("code".into(), json!(m.code.0));
            o.insert(
                "code_name".into(),
                json!(m.code.name().unwrap_or("Unknown")),
            );
            o.insert("extensions".into(), extensions(&m.extensions));
            o.insert("padding".into(), json!(m.padding));
        }
        Datagram::Unknown(m) => {
            o.insert("body".into(), hex(m.body));
        }
    }
    Value::Object(o)
}

pub fn data_plaintext(p: &DataPlaintext<'_>) -> Value {
    json!({ "extensions": extensions(&p.extensions), "payload": hex(p.payload), "padding": p.padding })
}

pub fn inner_section(p: &InnerSection<'_>) -> Value {
    json!({ "extensions": extensions(&p.extensions), "payload": hex(p.payload) })
}

pub fn exchange_mezzanine(p: &ExchangeMezzanine<'_>) -> Value {
    json!({
        "credential": key(&p.credential),
        "timestamp": p.timestamp,
        "extensions": extensions(&p.extensions),
        "early_data": sealed(&p.early),
        "padding": p.padding,
    })
}

pub fn complete_mezzanine(p: &CompleteMezzanine<'_>) -> Value {
    json!({
        "credential": key(&p.credential),
        "extensions": extensions(&p.extensions),
        "ciphertext_section": sealed(&p.inner),
        "padding": p.padding,
    })
}

pub fn responder_complete_mezzanine(p: &ResponderCompleteMezzanine<'_>) -> Value {
    json!({
        "initiator_key_id": hex(p.initiator_key_id),
        "responder_ephemeral": key(&p.responder_ephemeral),
        "early_data_accepted": p.early_data_accepted,
        "responder_stream_id": hex(p.responder_stream_id.0),
        "extensions": extensions(&p.extensions),
        "ciphertext_section": sealed(&p.inner),
        "padding": p.padding,
    })
}

/// Renders a description as an indented text tree (the dissector's default output).
pub fn render_tree(v: &Value, out: &mut String) {
    render(v, 0, out);
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("(none)".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if s.is_empty() => Some("(empty)".into()),
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.is_empty() => Some("(none)".into()),
        Value::Object(o) if o.is_empty() => Some("(empty)".into()),
        _ => None,
    }
}

fn render(v: &Value, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                match scalar(val) {
                    Some(s) => out.push_str(&format!("{pad}{k}: {s}\n")),
                    None => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        render(val, depth + 1, out);
                    }
                }
            }
        }
        Value::Array(a) => {
            for (n, val) in a.iter().enumerate() {
                match scalar(val) {
                    Some(s) => out.push_str(&format!("{pad}[{n}] {s}\n")),
                    None => {
                        out.push_str(&format!("{pad}[{n}]\n"));
                        render(val, depth + 1, out);
                    }
                }
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push_str(&format!("{pad}{s}\n"));
            }
        }
    }
}
