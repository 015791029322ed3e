//! Renders one decoded element as text (an indented tree, like `tshark -V`) or as a JSON
//! document carrying `schema_version`.
use rud::wire::element::{Decoded, Element};
use rud::wire::{SCHEMA_VERSION, describe};
use serde_json::json;

/// Text tree: a header line, the fields, then any protocol violations.
pub fn text(element: Element, bytes: &[u8], d: &Decoded) -> String {
    let mut out = String::new();
    let what = d
        .description
        .get("type")
        .and_then(|t| t.as_str())
        .map_or_else(|| element.name().to_owned(), str::to_owned);
    out.push_str(&format!("{what}: {} octets\n", bytes.len()));
    let mut body = String::new();
    describe::render_tree(&d.description, &mut body);
    for line in body.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    for v in &d.violations {
        out.push_str(&format!("[Protocol violation] {v}\n"));
    }
    out
}

/// JSON document.
pub fn json(element: Element, bytes: &[u8], d: &Decoded) -> serde_json::Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "element": element.name(),
        "length": bytes.len(),
        "decoded": d.description,
        "violations": d.violations,
    })
}

/// JSON document for input that does not decode.
pub fn json_error(element: Element, bytes: &[u8], e: &rud::wire::DecodeError) -> serde_json::Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "element": element.name(),
        "length": bytes.len(),
        "error": { "kind": e.kind.name(), "offset": e.offset, "field": e.field, "message": e.to_string() },
    })
}
