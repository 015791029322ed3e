//! Produces the vector sets from the reference implementation. Each vector states an intent
//! (valid, or rejected by a named error kind or rule); the generator asks the reference codec
//! for the decoded structure or the exact error offset, and fails if the codec's answer does not
//! match the intent, so a generator bug cannot write a wrong vector silently.
mod codec;
mod crypto;
pub mod examples;
mod handshake;

use rud::wire::element::{self, Element};

use crate::vectors::{ExpectedError, Layer, Outcome, Vector, VectorFile, Vectors};

pub use codec::codec_files;
pub use crypto::crypto_files;
pub use handshake::handshake_files;

/// The generator's intent did not match what the reference codec does.
#[derive(Debug, thiserror::Error)]
#[error("{id}: {message}")]
pub struct GenerateError {
    pub id: String,
    pub message: String,
}

impl From<rud::wire::EncodeError> for GenerateError {
    fn from(e: rud::wire::EncodeError) -> Self {
        GenerateError {
            id: "(building)".into(),
            message: e.to_string(),
        }
    }
}

/// Every vector file of every set, as (path relative to `vectors/`, file).
pub fn all_files() -> Result<Vec<(String, VectorFile)>, GenerateError> {
    let mut files = codec_files()?;
    files.extend(crypto_files()?);
    files.extend(handshake_files()?);
    Ok(files)
}

/// Collects the vectors of one file, numbering their ids.
pub(crate) struct FileBuilder {
    set: &'static str,
    section: &'static str,
    title: &'static str,
    vectors: Vec<Vector>,
}

impl FileBuilder {
    pub(crate) fn new(set: &'static str, section: &'static str, title: &'static str) -> Self {
        FileBuilder {
            set,
            section,
            title,
            vectors: Vec::new(),
        }
    }

    fn next_id(&self) -> String {
        format!(
            "rud/{}/{}/{}",
            self.set,
            self.section,
            self.vectors.len() + 1
        )
    }

    fn fail(&self, message: String) -> GenerateError {
        GenerateError {
            id: self.next_id(),
            message,
        }
    }

    /// A valid encoding: decodes and breaks no rule.
    pub(crate) fn valid(
        &mut self,
        anchor: &str,
        comment: &str,
        el: Element,
        bytes: &[u8],
    ) -> Result<(), GenerateError> {
        let d =
            element::decode(el, bytes).map_err(|e| self.fail(format!("expected valid: {e}")))?;
        if !d.violations.is_empty() {
            return Err(self.fail(format!("expected valid, violations: {:?}", d.violations)));
        }
        self.push(
            anchor,
            comment,
            el,
            bytes,
            Outcome::Valid,
            None,
            Some(d.description),
            None,
            vec![],
        );
        Ok(())
    }

    /// Malformed: the codec must reject it with error kind `kind`.
    pub(crate) fn malformed(
        &mut self,
        anchor: &str,
        comment: &str,
        el: Element,
        bytes: &[u8],
        kind: &str,
    ) -> Result<(), GenerateError> {
        match element::decode(el, bytes) {
            Err(e) if e.kind.name() == kind => {
                let err = ExpectedError {
                    kind: kind.to_owned(),
                    offset: e.offset,
                    field: e.field.to_owned(),
                };
                self.push(
                    anchor,
                    comment,
                    el,
                    bytes,
                    Outcome::Invalid,
                    Some(Layer::Codec),
                    None,
                    Some(err),
                    vec![],
                );
                Ok(())
            }
            Err(e) => Err(self.fail(format!("expected {kind}, codec said {e}"))),
            Ok(_) => Err(self.fail(format!("expected {kind}, but it decoded"))),
        }
    }

    /// Well-formed but breaking rule `rule` (and only rules listed in `rule`).
    pub(crate) fn breaks(
        &mut self,
        anchor: &str,
        comment: &str,
        el: Element,
        bytes: &[u8],
    ) -> Result<(), GenerateError> {
        let d = element::decode(el, bytes)
            .map_err(|e| self.fail(format!("expected well-formed: {e}")))?;
        let mut rules: Vec<String> = d.violations.iter().map(|v| v.rule.to_owned()).collect();
        rules.dedup();
        if rules != [anchor] {
            return Err(self.fail(format!("expected exactly rule {anchor}, got {rules:?}")));
        }
        self.push(
            anchor,
            comment,
            el,
            bytes,
            Outcome::Invalid,
            Some(Layer::Validation),
            Some(d.description),
            None,
            rules,
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        anchor: &str,
        comment: &str,
        element: Element,
        bytes: &[u8],
        result: Outcome,
        layer: Option<Layer>,
        decoded: Option<serde_json::Value>,
        error: Option<ExpectedError>,
        violations: Vec<String>,
    ) {
        self.vectors.push(Vector {
            id: self.next_id(),
            anchor: anchor.to_owned(),
            comment: comment.to_owned(),
            element,
            hex: hex::encode(bytes),
            result,
            layer,
            decoded,
            error,
            violations,
        });
    }

    pub(crate) fn finish(self) -> VectorFile {
        VectorFile::new(self.section, self.title, Vectors::Codec(self.vectors))
    }
}

/// Writes encodings by hand for malformed inputs no encoder would produce.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bytes(pub Vec<u8>);

impl Bytes {
    pub(crate) fn u8(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }
    pub(crate) fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub(crate) fn varint(self, v: u64) -> Self {
        self.varint_len(v, rud::wire::varint::len(v))
    }
    pub(crate) fn varint_len(mut self, v: u64, n: usize) -> Self {
        rud::wire::varint::write_with_len(&mut self.0, v, n);
        self
    }
    pub(crate) fn binary(self, b: &[u8]) -> Self {
        self.varint(b.len() as u64).raw(b)
    }
    pub(crate) fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}
