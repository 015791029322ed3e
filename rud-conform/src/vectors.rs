//! The vector file schema (docs/VECTORS.md). Every struct denies unknown keys: a misspelt key in
//! a hand-edited file is an error, never silently ignored. Each set has its own vector shape:
//! the loader reads the file's `set` first, then parses the whole file strictly as that set.
use std::path::{Path, PathBuf};

use rud::wire::element::Element;
use serde::{Deserialize, Serialize};

/// Version of the vector file schema.
pub const VECTOR_SCHEMA_VERSION: u64 = 1;

/// One vector file: a header and the vectors of one set.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorFile {
    pub schema_version: u64,
    /// The set (`codec`, `crypto`, `handshake`); always the set of `vectors`.
    pub set: String,
    /// SPEC section the file exercises.
    pub section: String,
    pub title: String,
    /// The vectors, typed by set (`codec`, `crypto`, `handshake`).
    pub vectors: Vectors,
}

/// The vectors of a file, in the shape of its set.
#[derive(Debug, Clone, PartialEq)]
pub enum Vectors {
    Codec(Vec<Vector>),
    Crypto(Vec<CryptoVector>),
    Handshake(Vec<HandshakeVector>),
}

/// One vector of any set.
#[derive(Debug, Clone, Copy)]
pub enum AnyVector<'a> {
    Codec(&'a Vector),
    Crypto(&'a CryptoVector),
    Handshake(&'a HandshakeVector),
}

impl AnyVector<'_> {
    pub fn id(&self) -> &str {
        match self {
            AnyVector::Codec(v) => &v.id,
            AnyVector::Crypto(v) => &v.id,
            AnyVector::Handshake(v) => &v.id,
        }
    }

    pub fn anchor(&self) -> &str {
        match self {
            AnyVector::Codec(v) => &v.anchor,
            AnyVector::Crypto(v) => &v.anchor,
            AnyVector::Handshake(v) => &v.anchor,
        }
    }
}

impl Vectors {
    /// The set name, as written in the file.
    pub fn set(&self) -> &'static str {
        match self {
            Vectors::Codec(_) => "codec",
            Vectors::Crypto(_) => "crypto",
            Vectors::Handshake(_) => "handshake",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Vectors::Codec(v) => v.len(),
            Vectors::Crypto(v) => v.len(),
            Vectors::Handshake(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `n` vectors.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Vectors::Codec(v) => v.truncate(n),
            Vectors::Crypto(v) => v.truncate(n),
            Vectors::Handshake(v) => v.truncate(n),
        }
    }

    /// Every vector, in file order.
    pub fn all(&self) -> Vec<AnyVector<'_>> {
        match self {
            Vectors::Codec(v) => v.iter().map(AnyVector::Codec).collect(),
            Vectors::Crypto(v) => v.iter().map(AnyVector::Crypto).collect(),
            Vectors::Handshake(v) => v.iter().map(AnyVector::Handshake).collect(),
        }
    }
}

impl VectorFile {
    /// A file of `vectors` (its `set` follows from them).
    pub fn new(section: &str, title: &str, vectors: Vectors) -> Self {
        VectorFile {
            schema_version: VECTOR_SCHEMA_VERSION,
            set: vectors.set().to_owned(),
            section: section.to_owned(),
            title: title.to_owned(),
            vectors,
        }
    }
}

/// The codec vectors of a file (none for the other sets, whose vectors [`Vectors::all`]
/// reaches): what the codec tools and the fuzzers read.
impl<'a> IntoIterator for &'a Vectors {
    type Item = &'a Vector;
    type IntoIter = std::slice::Iter<'a, Vector>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Vectors::Codec(v) => v.iter(),
            Vectors::Crypto(_) | Vectors::Handshake(_) => [].iter(),
        }
    }
}

/// The file as written: a header, then the vectors of one set.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedFile<C> {
    schema_version: u64,
    set: String,
    section: String,
    title: String,
    vectors: C,
}

/// What the loader reads first: the version and the set (other keys are checked afterwards).
#[derive(Deserialize)]
struct Header {
    schema_version: u64,
    set: String,
}

// ---------------------------------------------------------------------------------------------
// The `codec` set.

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

// ---------------------------------------------------------------------------------------------
// The `crypto` set (docs/SPEC.md section 7). Octet strings are lowercase hex.

/// What a crypto vector computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CryptoKind {
    /// The handshake key schedule of one mode (7.2): DH outputs, chaining keys, transcript
    /// hashes, section keys, traffic secrets.
    KeySchedule,
    /// A stream key and the per-datagram keys and nonces under it (7.3).
    DatagramKey,
    /// AES-256-GCM under a per-datagram key (7.3).
    Seal,
    /// A challenge cookie (7.4).
    Cookie,
}

impl CryptoKind {
    pub fn name(self) -> &'static str {
        match self {
            CryptoKind::KeySchedule => "key-schedule",
            CryptoKind::DatagramKey => "datagram-key",
            CryptoKind::Seal => "seal",
            CryptoKind::Cookie => "cookie",
        }
    }
}

/// A handshake mode, as vectors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandshakeMode {
    FirstContact,
    Immediate,
    Deferred,
}

impl HandshakeMode {
    pub fn name(self) -> &'static str {
        match self {
            HandshakeMode::FirstContact => "first-contact",
            HandshakeMode::Immediate => "immediate",
            HandshakeMode::Deferred => "deferred",
        }
    }

    /// The mode octet of docs/SPEC.md section 7.2.
    pub fn code(self) -> u8 {
        match self {
            HandshakeMode::FirstContact => 1,
            HandshakeMode::Immediate => 2,
            HandshakeMode::Deferred => 3,
        }
    }
}

/// A `crypto` vector: `kind` says which one of the four blocks it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoVector {
    pub id: String,
    pub anchor: String,
    pub comment: String,
    pub kind: CryptoKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_schedule: Option<KeySchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datagram_key: Option<DatagramKeyCase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<SealCase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<CookieCase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySchedule {
    pub mode: HandshakeMode,
    pub inputs: KeyScheduleInputs,
    pub outputs: KeyScheduleOutputs,
}

/// Private keys and the octets the transcript absorbs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyScheduleInputs {
    pub initiator_static_private: String,
    pub responder_static_private: String,
    pub initiator_ephemeral_private: String,
    pub responder_ephemeral_private: String,
    /// First Contact, Deferred: the InitiatorHello or InitiatorExchange as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// First Contact, Deferred: the ResponderChallenge or ResponderDefer as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// First Contact, Deferred: the InitiatorComplete up to its mezzanine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_header: Option<String>,
    /// Immediate: the InitiatorExchange up to its mezzanine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_header: Option<String>,
    /// Immediate: the ResponderComplete up to its mezzanine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder_complete_header: Option<String>,
}

/// Every value the schedule derives, in the order of docs/SPEC.md section 7.2.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyScheduleOutputs {
    pub initiator_static_public: String,
    pub responder_static_public: String,
    pub initiator_ephemeral_public: String,
    pub responder_ephemeral_public: String,
    /// X448(e_i, S_r).
    pub es: String,
    /// Immediate only: X448(s_i, S_r).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ss: Option<String>,
    /// X448(e_i, E_r).
    pub ee: String,
    /// X448(s_i, E_r).
    pub se: String,
    /// First Contact, Deferred: the 32-octet offer transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    pub ck0: String,
    pub ck1: String,
    pub ck2: String,
    /// Immediate only: X(ck2, ee), between ck2 and ck3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ck2_ee: Option<String>,
    pub ck3: String,
    pub th0: String,
    pub th1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub th2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub th3: Option<String>,
    /// Mezzanine key of the InitiatorComplete (First Contact, Deferred) or Exchange (Immediate).
    pub k_mz_i2r: String,
    /// First Contact, Deferred: the Complete's ciphertext section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_hs_i2r: Option<String>,
    /// Immediate: early data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_early_i2r: Option<String>,
    /// Immediate: mezzanine of the ResponderComplete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_mz_r2i: Option<String>,
    /// Immediate: ciphertext section of the ResponderComplete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_hs_r2i: Option<String>,
    pub ts_i2r: String,
    pub ts_r2i: String,
    pub exporter: String,
    pub resumption: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatagramKeyCase {
    pub inputs: DatagramKeyInputs,
    pub outputs: DatagramKeyOutputs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatagramKeyInputs {
    /// The 64-octet traffic secret of the sending direction.
    pub traffic_secret: String,
    pub generation: u64,
    /// Datagram counters.
    pub counters: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatagramKeyOutputs {
    /// sk.
    pub stream_key: String,
    /// K_n and N_n for each counter, in order.
    pub datagrams: Vec<DatagramKeyRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatagramKeyRow {
    pub n: u64,
    pub key: String,
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealCase {
    pub inputs: SealInputs,
    pub outputs: SealOutputs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealInputs {
    /// sk (32 octets).
    pub stream_key: String,
    pub n: u64,
    /// The frozen prefix of the data datagram.
    pub aad: String,
    /// The DataPlaintext.
    pub plaintext: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealOutputs {
    pub key: String,
    pub nonce: String,
    /// ciphertext || tag.
    pub sealed: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieCase {
    pub inputs: CookieInputs,
    pub outputs: CookieOutputs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieInputs {
    /// K_epoch (32 octets).
    pub secret: String,
    /// Unix seconds at issue.
    pub time: u64,
    /// Epoch length in seconds.
    pub epoch_length: u64,
    pub mode: HandshakeMode,
    /// The initiator's IP address and port.
    pub address: String,
    /// E_i (56 zero octets in First Contact).
    pub initiator_ephemeral: String,
    pub responder_key_id: String,
    /// The identifier the Challenge or Defer issues.
    pub responder_stream_id: String,
    pub responder_static_public: String,
    pub responder_ephemeral_public: String,
    /// The 32-octet offer transcript.
    pub offer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieOutputs {
    pub epoch: u64,
    /// The cookie's transcript input: H("rud1 offer" || mode || len(sid) || sid || S_r || E_r
    /// || offer).
    pub offer_hash: String,
    /// The 21-octet stateless cookie.
    pub cookie: String,
    /// The 53-octet cookie field: cookie || offer.
    pub cookie_field: String,
}

// ---------------------------------------------------------------------------------------------
// The `handshake` set (docs/SPEC.md sections 4 and 7): byte-exact transcripts.

/// A transcript between a reference initiator and responder built from `setup`, with every
/// datagram delivered in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeVector {
    pub id: String,
    pub anchor: String,
    pub comment: String,
    pub mode: HandshakeMode,
    pub setup: HandshakeSetup,
    pub steps: Vec<Step>,
    pub outcome: HandshakeOutcome,
}

/// Everything the two endpoints are built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeSetup {
    /// Unix seconds when the initiator starts; step times are offsets from it.
    pub time: u64,
    pub initiator_address: String,
    pub responder_address: String,
    pub initiator_static_private: String,
    /// The responder's device keys; the first is presented, all are accepted by key id.
    pub responder_static_private: Vec<String>,
    /// The responder key the initiator pins (absent: First Contact learns it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_responder_public: Option<String>,
    /// Seeds of the two endpoints' deterministic entropy (SeededEntropy: SHA-512(seed ||
    /// be64(counter)) blocks).
    pub initiator_seed: String,
    pub responder_seed: String,
    /// Unix seconds when the responder's strike register started.
    pub responder_started: u64,
    /// The responder answers every Exchange with a ResponderDefer.
    pub defer: bool,
    pub cookie_epoch: u64,
    pub early_window: u64,
    /// The responder's plaintext answer to a Hello.
    pub hello_payload: String,
    /// First Contact: the Hello's plaintext query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The first encrypted request (the Complete's ciphertext section, or early data).
    pub request: String,
    pub service: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Delivered to the responder.
    I2r,
    /// Delivered to the initiator.
    R2i,
}

/// Who produced a step's octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The reference initiator's next datagram, in the order it sent them.
    Initiator,
    /// The reference responder's next reply, in the order it sent them.
    Responder,
    /// Forged, tampered or replayed: only the octets in `hex` are known.
    Attacker,
}

/// What the receiver of a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepResult {
    /// Responder: answered with a Challenge, Defer or VersionMismatch, keeping no state.
    Reply,
    /// Responder: established a session (Immediate: and replied with a ResponderComplete).
    /// Initiator: established its session (and sent the Complete, in First Contact and Deferred).
    Established,
    /// Responder: refused the handshake, replying HandshakeFailed.
    Refused,
    /// Responder: dropped the datagram silently.
    Dropped,
    /// Responder: dropped a Complete it had already accepted.
    Duplicate,
    /// Initiator: took the datagram and answered it without establishing.
    Accepted,
    /// Initiator: kept an Error as a hint.
    Hint,
    /// Initiator: refused the datagram and kept waiting.
    Ignored,
    /// Initiator: aborted the handshake.
    Aborted,
    /// Delivered to nobody: taken off the path (an attacker steps in with another datagram).
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub direction: Direction,
    pub origin: Origin,
    /// Milliseconds after `setup.time`.
    pub time_ms: u64,
    /// The source address the receiver sees.
    pub from: String,
    /// The datagram's message type name.
    pub message: String,
    pub hex: String,
    pub result: StepResult,
    /// What the attacker changed (attacker steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Responder `established` steps: the request handed to the application (hex), and whether
    /// it arrived as early data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_data: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitiatorState {
    Established,
    Failed,
    Waiting,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeOutcome {
    pub initiator: InitiatorState,
    /// Why the initiator failed (`wrong-responder-key`, `timeout`, `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator_error: Option<String>,
    /// Sessions the responder established over the whole transcript.
    pub responder_sessions: u64,
    /// The initiator's session, when established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSummary {
    pub mode: HandshakeMode,
    /// A responder session has the same traffic secrets.
    pub confirmed: bool,
    pub responder_authenticated: bool,
    /// Immediate: the responder accepted the early data.
    pub early_data: bool,
    pub initiator_stream_id: String,
    pub responder_stream_id: String,
    pub ts_i2r: String,
    pub ts_r2i: String,
    pub exporter: String,
}

// ---------------------------------------------------------------------------------------------
// Loading and writing.

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
    #[error("{path}: unknown set `{set}` (known: codec, crypto, handshake)")]
    Set { path: PathBuf, set: String },
    #[error("{path}: vector {index} ({id}): {message}")]
    Vector {
        path: PathBuf,
        index: usize,
        id: String,
        message: String,
    },
}

fn yaml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        LoadError::Yaml {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
        }
    })
}

fn is_hex(s: &str) -> bool {
    hex::decode(s).is_ok()
}

/// The hex strings of a crypto vector's block, for the well-formedness check.
fn crypto_hex(v: &CryptoVector) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    if let Some(k) = &v.key_schedule {
        let i = &k.inputs;
        out.extend([
            i.initiator_static_private.as_str(),
            &i.responder_static_private,
            &i.initiator_ephemeral_private,
            &i.responder_ephemeral_private,
        ]);
        out.extend(
            [
                &i.request,
                &i.reply,
                &i.complete_header,
                &i.exchange_header,
                &i.responder_complete_header,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
    }
    if let Some(d) = &v.datagram_key {
        out.push(&d.inputs.traffic_secret);
    }
    if let Some(s) = &v.seal {
        out.extend([
            s.inputs.stream_key.as_str(),
            &s.inputs.aad,
            &s.inputs.plaintext,
        ]);
    }
    if let Some(c) = &v.cookie {
        out.extend([
            c.inputs.secret.as_str(),
            &c.inputs.initiator_ephemeral,
            &c.inputs.responder_key_id,
            &c.inputs.responder_stream_id,
            &c.inputs.responder_static_public,
            &c.inputs.responder_ephemeral_public,
            &c.inputs.offer,
        ]);
    }
    out
}

fn check_codec(v: &Vector) -> Result<(), &'static str> {
    if !is_hex(&v.hex) {
        return Err("hex is not an even-length hexadecimal string");
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
        return Err(
            "result/layer/decoded/error/violations do not fit together (see docs/VECTORS.md)",
        );
    }
    Ok(())
}

fn check_crypto(v: &CryptoVector) -> Result<(), &'static str> {
    let blocks = [
        (CryptoKind::KeySchedule, v.key_schedule.is_some()),
        (CryptoKind::DatagramKey, v.datagram_key.is_some()),
        (CryptoKind::Seal, v.seal.is_some()),
        (CryptoKind::Cookie, v.cookie.is_some()),
    ];
    if blocks.iter().any(|(k, present)| *present != (*k == v.kind)) {
        return Err(
            "a crypto vector carries exactly the block its `kind` names (see docs/VECTORS.md)",
        );
    }
    if !crypto_hex(v).into_iter().all(is_hex) {
        return Err("an input is not an even-length hexadecimal string");
    }
    Ok(())
}

fn check_handshake(v: &HandshakeVector) -> Result<(), &'static str> {
    if v.steps.is_empty() {
        return Err("a transcript has at least one step");
    }
    if !v.steps.iter().all(|s| is_hex(&s.hex)) {
        return Err("a step's hex is not an even-length hexadecimal string");
    }
    for s in &v.steps {
        let attacker = s.origin == Origin::Attacker;
        if attacker != s.note.is_some() {
            return Err("attacker steps, and only they, carry a `note`");
        }
        let delivers = s.direction == Direction::I2r && s.result == StepResult::Established;
        if delivers != (s.delivered.is_some() && s.early_data.is_some()) {
            return Err(
                "responder `established` steps, and only they, carry `delivered` and `early_data`",
            );
        }
    }
    if (v.outcome.initiator == InitiatorState::Failed) != v.outcome.initiator_error.is_some() {
        return Err("`initiator_error` is present exactly when the initiator failed");
    }
    if (v.outcome.initiator == InitiatorState::Established) != v.outcome.session.is_some() {
        return Err("`session` is present exactly when the initiator established");
    }
    Ok(())
}

fn typed<V: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    check: impl Fn(&V) -> Result<(), &'static str>,
    id: impl Fn(&V) -> &str,
) -> Result<TypedFile<Vec<V>>, LoadError> {
    let file: TypedFile<Vec<V>> = yaml(path, text)?;
    for (index, v) in file.vectors.iter().enumerate() {
        check(v).map_err(|message| LoadError::Vector {
            path: path.to_owned(),
            index,
            id: id(v).to_owned(),
            message: message.to_owned(),
        })?;
    }
    Ok(file)
}

/// Parses one vector file's text, strictly: the header names the set, and the whole file must
/// then have that set's shape.
pub fn parse(path: &Path, text: &str) -> Result<VectorFile, LoadError> {
    let header: Header = yaml(path, text)?;
    if header.schema_version != VECTOR_SCHEMA_VERSION {
        return Err(LoadError::Version {
            path: path.to_owned(),
            found: header.schema_version,
        });
    }
    let wrap = |schema_version, section, title, vectors: Vectors| VectorFile {
        schema_version,
        set: vectors.set().to_owned(),
        section,
        title,
        vectors,
    };
    Ok(match header.set.as_str() {
        "codec" => {
            let f = typed(path, text, check_codec, |v: &Vector| &v.id)?;
            wrap(
                f.schema_version,
                f.section,
                f.title,
                Vectors::Codec(f.vectors),
            )
        }
        "crypto" => {
            let f = typed(path, text, check_crypto, |v: &CryptoVector| &v.id)?;
            wrap(
                f.schema_version,
                f.section,
                f.title,
                Vectors::Crypto(f.vectors),
            )
        }
        "handshake" => {
            let f = typed(path, text, check_handshake, |v: &HandshakeVector| &v.id)?;
            wrap(
                f.schema_version,
                f.section,
                f.title,
                Vectors::Handshake(f.vectors),
            )
        }
        other => {
            return Err(LoadError::Set {
                path: path.to_owned(),
                set: other.to_owned(),
            });
        }
    })
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

fn body<V: Serialize>(file: &VectorFile, vectors: &[V]) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&TypedFile {
        schema_version: file.schema_version,
        set: file.vectors.set().to_owned(),
        section: file.section.clone(),
        title: file.title.clone(),
        vectors,
    })
}

/// Renders a vector file as the generator writes it.
pub fn render(file: &VectorFile) -> Result<String, serde_yaml::Error> {
    let body = match &file.vectors {
        Vectors::Codec(v) => body(file, v)?,
        Vectors::Crypto(v) => body(file, v)?,
        Vectors::Handshake(v) => body(file, v)?,
    };
    Ok(format!(
        "# Generated by `rud-conform generate` from the reference implementation; do not edit.\n\
         # Schema: docs/VECTORS.md. Requirements: docs/SPEC.md (anchors).\n{body}"
    ))
}
