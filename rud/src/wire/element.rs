//! Decoding by element name: the entry point the dissector's `hex` command, the vector files
//! and the fuzz targets share. An element is anything SPEC gives a layout: a whole datagram, the
//! plaintext of an encrypted section, an extension list, or a single varint.
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::datagram::Datagram;
use super::error::DecodeError;
use super::extension::ExtensionList;
use super::parse;
use super::sections::{
    CompleteMezzanine, DataPlaintext, ExchangeMezzanine, InnerSection, ResponderCompleteMezzanine,
};
use super::validate::{self, Violation};
use super::{describe, varint};

/// The elements SPEC defines a layout for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Element {
    Datagram,
    DataPlaintext,
    InnerSection,
    ExchangeMezzanine,
    CompleteMezzanine,
    ResponderCompleteMezzanine,
    ExtensionList,
    Varint,
}

impl Element {
    pub const ALL: [Element; 8] = [
        Element::Datagram,
        Element::DataPlaintext,
        Element::InnerSection,
        Element::ExchangeMezzanine,
        Element::CompleteMezzanine,
        Element::ResponderCompleteMezzanine,
        Element::ExtensionList,
        Element::Varint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Element::Datagram => "datagram",
            Element::DataPlaintext => "data-plaintext",
            Element::InnerSection => "inner-section",
            Element::ExchangeMezzanine => "exchange-mezzanine",
            Element::CompleteMezzanine => "complete-mezzanine",
            Element::ResponderCompleteMezzanine => "responder-complete-mezzanine",
            Element::ExtensionList => "extension-list",
            Element::Varint => "varint",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == s)
    }
}

/// A decoded element: its description and the protocol rules it breaks (empty when valid).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub description: Value,
    pub violations: Vec<Violation>,
}

/// Decodes `bytes` as `element` (rejecting trailing bytes), describes it and validates it.
pub fn decode(element: Element, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let (description, violations) = match element {
        Element::Datagram => {
            let d = Datagram::decode(bytes)?;
            (
                describe::datagram(&d, bytes.len()),
                validate::datagram(&d, bytes),
            )
        }
        Element::DataPlaintext => {
            let p = parse::all(bytes, DataPlaintext::decode)?;
            (
                describe::data_plaintext(&p),
                validate::data_extensions(&[&p.extensions], bytes),
            )
        }
        Element::InnerSection => {
            let p = parse::all(bytes, InnerSection::decode)?;
            (
                describe::inner_section(&p),
                validate::extension_lists(&[&p.extensions], bytes),
            )
        }
        Element::ExchangeMezzanine => {
            let p = parse::all(bytes, ExchangeMezzanine::decode)?;
            let mut v = Vec::new();
            validate::public_key(&p.credential, bytes, &mut v);
            (describe::exchange_mezzanine(&p), v)
        }
        Element::CompleteMezzanine => {
            let p = parse::all(bytes, CompleteMezzanine::decode)?;
            let mut v = Vec::new();
            validate::public_key(&p.credential, bytes, &mut v);
            (describe::complete_mezzanine(&p), v)
        }
        Element::ResponderCompleteMezzanine => {
            let p = parse::all(bytes, ResponderCompleteMezzanine::decode)?;
            let mut v = Vec::new();
            validate::public_key(&p.responder_ephemeral, bytes, &mut v);
            (describe::responder_complete_mezzanine(&p), v)
        }
        Element::ExtensionList => {
            // Structure only: the stream creation rules speak of whole datagrams.
            let l = parse::all(bytes, ExtensionList::decode)?;
            (
                json!({ "extensions": describe::extensions(&l) }),
                Vec::new(),
            )
        }
        Element::Varint => {
            let v = parse::all(bytes, |i| parse::varint(i, "varint"))?;
            let minimal = varint::len(v) == bytes.len();
            (json!({ "value": v, "minimal": minimal }), Vec::new())
        }
    };
    Ok(Decoded {
        description,
        violations,
    })
}
