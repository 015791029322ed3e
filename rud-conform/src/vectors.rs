//! The vector file schema (docs/VECTORS.md). Every struct denies unknown keys: a misspelt key in
//! a hand-edited file is an error, never silently ignored.
use std::path::{Path, PathBuf};

use rud::wire::element::Element;
use serde::{Deserialize, Serialize};

/// Version of the vector file schema.
pub const VECTOR_SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    pub schema_version: u64,
    /// The set: `codec`, later `crypto`, `handshake`, ...
    pub set: String,
    /// SPEC section the file exercises.
    pub section: String,
    pub title: String,
    pub vectors: Vec<Vector>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Decodes and breaks no rule.
    Valid,
    /// Rejected: by the codec (malformed) or by validation (well-formed, breaks a rule).
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    Codec,
    Validation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// Stable error kind name (`truncated`, `length-over-limit`, ...).
    pub kind: String,
    /// Offset of the offending octet from the start of `hex`.
    pub offset: usize,
    /// SPEC's name of the field being read.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// `rud/<set>/<spec-section>/<n>`: stable, assigned by the generator.
    pub id: String,
    /// The docs/SPEC.md anchor of the requirement exercised.
    pub anchor: String,
    pub comment: String,
    pub element: Element,
    pub hex: String,
    pub result: Outcome,
    /// Which layer rejects an invalid vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
    /// The decoded structure (valid vectors and validation-layer rejections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<serde_json::Value>,
    /// The codec error (codec-layer rejections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExpectedError>,
    /// SPEC anchors of the rules broken (validation-layer rejections).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
}

/// A load failure names the file and, where the YAML parser knows it, the line and column.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: schema_version {found} is not supported (this tool reads {VECTOR_SCHEMA_VERSION})"
    )]
    Version { path: PathBuf, found: u64 },
    #[error("{path}: vector {index} ({id}): {message}")]
    Vector {
        path: PathBuf,
        index: usize,
        id: String,
        message: String,
    },
}

/// Parses one vector file's text, strictly.
pub fn parse(path: &Path, text: &str) -> Result<VectorFile, LoadError> {
    let file: VectorFile = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        LoadError::Yaml {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    if file.schema_version != VECTOR_SCHEMA_VERSION {
        return Err(LoadError::Version {
            path: path.to_owned(),
            found: file.schema_version,
        });
    }
    for (index, v) in file.vectors.iter().enumerate() {
        let bad = |message: &str| LoadError::Vector {
            path: path.to_owned(),
            index,
            id: v.id.clone(),
            message: message.to_owned(),
        };
        if hex::decode(&v.hex).is_err() {
            return Err(bad("hex is not an even-length hexadecimal string"));
        }
        let consistent = match (v.result, v.layer) {
            (Outcome::Valid, None) => v.decoded.is_some() && v.error.is_none(),
            (Outcome::Invalid, Some(Layer::Codec)) => v.error.is_some() && v.decoded.is_none(),
            (Outcome::Invalid, Some(Layer::Validation)) => {
                v.decoded.is_some() && !v.violations.is_empty()
            }
            _ => false,
        };
        if !consistent {
            return Err(bad(
                "result/layer/decoded/error/violations do not fit together (see docs/VECTORS.md)",
            ));
        }
    }
    Ok(file)
}

/// Loads one file.
pub fn load(path: &Path) -> Result<VectorFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Every `*.yaml` file below `dir`, sorted by path.
pub fn files_below(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| LoadError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LoadError::Io {
                path: d.clone(),
                source,
            })?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Renders a vector file as the generator writes it.
pub fn render(file: &VectorFile) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(file)?;
    Ok(format!(
        "# Generated by `rud-conform generate` from the reference implementation; do not edit.\n\
         # Schema: docs/VECTORS.md. Requirements: docs/SPEC.md (anchors).\n{body}"
    ))
}
