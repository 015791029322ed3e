//! Runs vectors against the reference and reports each outcome: codec vectors through the
//! decoder and validator, crypto vectors by recomputing every value from the inputs (section 7
//! formulas over the reference primitives) and comparing, handshake vectors by replaying the
//! transcript through a reference Initiator and Responder built from the same seeds.
pub mod crypto;
pub mod handshake;

use rud::wire::element;

use crate::vectors::{AnyVector, Layer, Outcome, Vector, VectorFile};

/// Result of one vector of any set: `Ok` or what differed.
pub fn run_any(v: AnyVector<'_>) -> Result<(), String> {
    match v {
        AnyVector::Codec(v) => run(v),
        AnyVector::Crypto(v) => crypto::run(v),
        AnyVector::Handshake(v) => handshake::run(v),
    }
}

/// Result of one codec vector: `Ok` or what differed.
pub fn run(v: &Vector) -> Result<(), String> {
    let bytes = hex::decode(&v.hex).map_err(|e| format!("bad hex: {e}"))?;
    let got = element::decode(v.element, &bytes);
    match (v.result, v.layer, got) {
        (Outcome::Valid, _, Ok(d)) => {
            if !d.violations.is_empty() {
                return Err(format!(
                    "expected valid, validation reports: {:?}",
                    d.violations
                ));
            }
            same(v.decoded.as_ref(), &d.description)
        }
        (Outcome::Invalid, Some(Layer::Validation), Ok(d)) => {
            let mut rules: Vec<String> = d.violations.iter().map(|x| x.rule.to_owned()).collect();
            rules.dedup();
            if rules != v.violations {
                return Err(format!(
                    "expected violations {:?}, got {rules:?}",
                    v.violations
                ));
            }
            same(v.decoded.as_ref(), &d.description)
        }
        (Outcome::Invalid, Some(Layer::Codec), Err(e)) => {
            let Some(want) = &v.error else {
                return Err("vector lacks `error`".into());
            };
            if e.kind.name() == want.kind && e.offset == want.offset && e.field == want.field {
                Ok(())
            } else {
                Err(format!(
                    "expected {} at {} ({}), got {} at {} ({})",
                    want.kind,
                    want.offset,
                    want.field,
                    e.kind.name(),
                    e.offset,
                    e.field
                ))
            }
        }
        (_, _, Err(e)) => Err(format!("unexpected decode error: {e}")),
        (_, _, Ok(d)) => Err(format!(
            "expected a codec error, decoded instead (violations: {:?})",
            d.violations
        )),
    }
}

fn same(want: Option<&serde_json::Value>, got: &serde_json::Value) -> Result<(), String> {
    match want {
        Some(w) if w == got => Ok(()),
        Some(w) => Err(format!(
            "decoded structure differs:\n  expected {w}\n  got      {got}"
        )),
        None => Err("vector lacks `decoded`".into()),
    }
}

/// Pass / fail counts over many vectors, with every failure kept for the report.
#[derive(Debug, Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: Vec<(String, String)>,
}

impl Tally {
    /// Runs one codec vector.
    pub fn add(&mut self, v: &Vector) {
        self.add_any(AnyVector::Codec(v));
    }

    /// Runs one vector of any set.
    pub fn add_any(&mut self, v: AnyVector<'_>) {
        match run_any(v) {
            Ok(()) => self.passed += 1,
            Err(why) => self.failed.push((v.id().to_owned(), why)),
        }
    }

    /// Runs every vector of a file.
    pub fn add_file(&mut self, file: &VectorFile) {
        for v in file.vectors.all() {
            self.add_any(v);
        }
    }
}
