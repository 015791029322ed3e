//! Key logs: secrets written as text so that captures can be decrypted later.
//!
//! The format follows the NSS key log format that Wireshark reads: one line per secret,
//!
//! ```text
//! LABEL <hex context> <hex secret>
//! ```
//!
//! with lines starting with `#` being comments. Labels are upper-case ASCII letters, digits
//! and `_`; the context (normally the initiator's ephemeral public key) identifies the
//! connection; an empty context is written as `-`. The file starts with a comment naming the
//! format version.
//!
//! Only handshake and traffic secrets are logged. Cookie, one-time-id and ticket-encryption
//! keys are never logged (their types offer no way to read them out): a key log must not let
//! its reader forge cookies or tickets for other clients.
//!
//! A file sink is created with `O_CREAT | O_EXCL | O_NOFOLLOW` and mode 0600, or appends to an
//! existing file only if it is a regular file (not a symbolic link), owned by the effective
//! user, with mode exactly 0600. Anything else is refused: a key log in a world-readable file
//! or behind an attacker's symbolic link would give the traffic away.

use core::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;
use zeroize::Zeroizing;

/// Environment variable naming a key log file. Read only by [`keylog_path_from_env`], which
/// the command-line tools call; the protocol core never reads the environment.
pub const KEYLOG_ENV: &str = "RUDKEYLOGFILE";

/// First line written to a new key log file.
pub const KEYLOG_HEADER: &str = "# RUD key log, schema_version 1 (draft-hallambaker-mesh-rud-00): LABEL <hex context> <hex secret>\n";

/// Labels of the secrets the reference key schedule logs. A reader given other labels reports
/// them as warnings (an older or newer writer), not as errors.
pub mod labels {
    /// Initiator-to-responder mezzanine key.
    pub const MEZZANINE_I2R: &str = "RUD_MEZZANINE_I2R";
    /// Responder-to-initiator mezzanine key.
    pub const MEZZANINE_R2I: &str = "RUD_MEZZANINE_R2I";
    /// Early (0-RTT) data key, initiator to responder.
    pub const EARLY_I2R: &str = "RUD_EARLY_I2R";
    /// Handshake ciphertext key, initiator to responder.
    pub const HANDSHAKE_I2R: &str = "RUD_HANDSHAKE_I2R";
    /// Handshake ciphertext key, responder to initiator.
    pub const HANDSHAKE_R2I: &str = "RUD_HANDSHAKE_R2I";
    /// Traffic secret, initiator to responder.
    pub const TRAFFIC_I2R: &str = "RUD_TRAFFIC_I2R";
    /// Traffic secret, responder to initiator.
    pub const TRAFFIC_R2I: &str = "RUD_TRAFFIC_R2I";
    /// Exporter secret.
    pub const EXPORTER: &str = "RUD_EXPORTER";

    /// Every label above.
    pub const ALL: &[&str] = &[
        MEZZANINE_I2R,
        MEZZANINE_R2I,
        EARLY_I2R,
        HANDSHAKE_I2R,
        HANDSHAKE_R2I,
        TRAFFIC_I2R,
        TRAFFIC_R2I,
        EXPORTER,
    ];
}

/// A key log sink.
pub trait KeyLog: Send + Sync + fmt::Debug {
    /// Records one secret. Must not fail the protocol: a sink that cannot write records the
    /// failure itself.
    fn log(&self, label: &str, context: &[u8], secret: &[u8]);
}

/// A sink that drops everything (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoKeyLog;

impl KeyLog for NoKeyLog {
    fn log(&self, _label: &str, _context: &[u8], _secret: &[u8]) {}
}

/// One key log line.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyLogEntry {
    /// Label.
    pub label: String,
    /// Context bytes.
    pub context: Vec<u8>,
    /// Secret bytes, wiped on drop.
    pub secret: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for KeyLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogEntry")
            .field("label", &self.label)
            .field("context", &hex::encode(&self.context))
            .field("secret_len", &self.secret.len())
            .finish()
    }
}

/// Formats one key log line (with its newline).
#[must_use]
pub fn format_line(label: &str, context: &[u8], secret: &[u8]) -> Zeroizing<String> {
    let ctx = if context.is_empty() {
        "-".to_owned()
    } else {
        hex::encode(context)
    };
    let sec = Zeroizing::new(hex::encode(secret));
    Zeroizing::new(format!("{label} {ctx} {}\n", sec.as_str()))
}

/// An in-memory sink, for tests.
#[derive(Debug, Default)]
pub struct MemoryKeyLog {
    entries: Mutex<Vec<KeyLogEntry>>,
}

impl MemoryKeyLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every entry so far.
    #[must_use]
    pub fn entries(&self) -> Vec<KeyLogEntry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The log as text, in the file format (header included).
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::from(KEYLOG_HEADER));
        for e in self.entries() {
            s.push_str(&format_line(&e.label, &e.context, &e.secret));
        }
        s
    }
}

impl KeyLog for MemoryKeyLog {
    fn log(&self, label: &str, context: &[u8], secret: &[u8]) {
        if let Ok(mut e) = self.entries.lock() {
            e.push(KeyLogEntry {
                label: label.to_owned(),
                context: context.to_vec(),
                secret: Zeroizing::new(secret.to_vec()),
            });
        }
    }
}

/// Why a key log file was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyLogError {
    /// The path is a symbolic link.
    #[error("key log {path}: refusing a symbolic link")]
    Symlink {
        /// The path.
        path: PathBuf,
    },
    /// The path exists but is not a regular file.
    #[error("key log {path}: not a regular file")]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The file belongs to another user.
    #[error("key log {path}: owned by uid {owner}, not by this user ({user})")]
    WrongOwner {
        /// The path.
        path: PathBuf,
        /// Owner of the file.
        owner: u32,
        /// Effective user id of this process.
        user: u32,
    },
    /// The file's permissions are not exactly 0600.
    #[error("key log {path}: mode {mode:04o}, must be 0600")]
    WrongMode {
        /// The path.
        path: PathBuf,
        /// Permission bits found.
        mode: u32,
    },
    /// Any other I/O error.
    #[error("key log {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Key log files are only supported on Unix-like systems.
    #[error("key log {path}: key log files are only supported on Unix")]
    Unsupported {
        /// The path.
        path: PathBuf,
    },
}

/// A sink appending to a file, one `write` per line (the file is opened with `O_APPEND`, so
/// lines from several processes do not interleave).
#[derive(Debug)]
pub struct FileKeyLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    write_errors: AtomicU64,
}

impl FileKeyLog {
    /// Creates the file with mode 0600, or opens an existing one that passes the checks in the
    /// module documentation.
    ///
    /// # Errors
    /// A [`KeyLogError`] saying why the file was refused.
    //= docs/SPEC.md#keylog-file-safe
    //# A key log MUST be created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, or appended to only when it is a 0600 regular file owned by the user.
    pub fn open(path: &Path) -> Result<Self, KeyLogError> {
        let file = open_secure(path)?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
            write_errors: AtomicU64::new(0),
        })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many lines could not be written.
    #[must_use]
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

impl KeyLog for FileKeyLog {
    fn log(&self, label: &str, context: &[u8], secret: &[u8]) {
        let line = format_line(label, context, secret);
        let ok = match self.file.lock() {
            Ok(mut f) => f.write_all(line.as_bytes()).is_ok(),
            Err(_) => false,
        };
        if !ok {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(unix)]
fn open_secure(path: &Path) -> Result<std::fs::File, KeyLogError> {
    use rustix::fs::{FileType, Mode, OFlags};
    use rustix::io::Errno;

    let io = |e: Errno| KeyLogError::Io {
        path: path.to_owned(),
        source: std::io::Error::from(e),
    };
    let base = OFlags::WRONLY | OFlags::APPEND | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let mode = Mode::RUSR | Mode::WUSR;
    match rustix::fs::open(path, base | OFlags::CREATE | OFlags::EXCL, mode) {
        Ok(fd) => {
            let mut file = std::fs::File::from(fd);
            file.write_all(KEYLOG_HEADER.as_bytes())
                .map_err(|source| KeyLogError::Io {
                    path: path.to_owned(),
                    source,
                })?;
            return Ok(file);
        }
        Err(e) if e == Errno::EXIST => {}
        Err(e) => return Err(io(e)),
    }
    // NONBLOCK so that opening a FIFO cannot hang (with no reader it fails with ENXIO).
    let fd = match rustix::fs::open(path, base | OFlags::NONBLOCK, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) if e == Errno::LOOP || e == Errno::MLINK => {
            return Err(KeyLogError::Symlink {
                path: path.to_owned(),
            });
        }
        Err(e) if e == Errno::NXIO || e == Errno::ISDIR => {
            return Err(KeyLogError::NotRegularFile {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(io)?;
    #[allow(
        clippy::useless_conversion,
        reason = "st_mode is narrower than u32 on some Unix systems"
    )]
    let raw_mode = u32::from(st.st_mode);
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(KeyLogError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    let user = rustix::process::geteuid().as_raw();
    if st.st_uid != user {
        return Err(KeyLogError::WrongOwner {
            path: path.to_owned(),
            owner: st.st_uid,
            user,
        });
    }
    if raw_mode & 0o7777 != 0o600 {
        return Err(KeyLogError::WrongMode {
            path: path.to_owned(),
            mode: raw_mode & 0o7777,
        });
    }
    // Back to blocking writes for a regular file (NONBLOCK has no effect on them anyway).
    rustix::fs::fcntl_setfl(&fd, OFlags::APPEND).map_err(io)?;
    Ok(std::fs::File::from(fd))
}

#[cfg(not(unix))]
fn open_secure(path: &Path) -> Result<std::fs::File, KeyLogError> {
    Err(KeyLogError::Unsupported {
        path: path.to_owned(),
    })
}

/// The key log path named by `RUDKEYLOGFILE`, if set and not empty. For the command-line
/// tools; the protocol core takes a [`KeyLog`] and never reads the environment.
#[must_use]
pub fn keylog_path_from_env() -> Option<PathBuf> {
    keylog_path_from_value(std::env::var_os(KEYLOG_ENV))
}

/// The rule behind [`keylog_path_from_env`]: an unset or empty value means no key log.
#[must_use]
pub fn keylog_path_from_value(value: Option<std::ffi::OsString>) -> Option<PathBuf> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Which field of a key log line was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLogField {
    /// The label.
    Label,
    /// The hex context.
    Context,
    /// The hex secret.
    Secret,
    /// The line as a whole (too many fields).
    Line,
}

impl fmt::Display for KeyLogField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Label => "label",
            Self::Context => "context",
            Self::Secret => "secret",
            Self::Line => "line",
        })
    }
}

/// What was wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyLogProblem {
    /// The field is missing.
    #[error("missing")]
    Missing,
    /// The label has characters other than A-Z, 0-9 and `_`.
    #[error("label must be A-Z, 0-9 and _")]
    BadLabel,
    /// A character that is not a hex digit, at this character offset in the field.
    #[error("not a hex digit at character {position}")]
    BadHex {
        /// Offset in the field.
        position: usize,
    },
    /// An odd number of hex digits.
    #[error("odd number of hex digits")]
    OddLength,
    /// An empty secret.
    #[error("empty secret")]
    Empty,
    /// More than three fields.
    #[error("extra field after the secret")]
    ExtraField,
}

/// A malformed key log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("key log line {line}: {field}: {problem}")]
pub struct KeyLogParseError {
    /// 1-based line number.
    pub line: usize,
    /// Which field.
    pub field: KeyLogField,
    /// What was wrong.
    pub problem: KeyLogProblem,
}

/// A line with a label the reader does not know. Not an error: tools show these so users can
/// tell why some traffic does not decrypt (a writer of another version, for instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLogWarning {
    /// 1-based line number.
    pub line: usize,
    /// The unknown label.
    pub label: String,
}

impl fmt::Display for KeyLogWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key log line {}: unknown label {}",
            self.line, self.label
        )
    }
}

/// A parsed key log.
#[derive(Debug, Clone, Default)]
pub struct ParsedKeyLog {
    /// Lines with known labels, in file order.
    pub entries: Vec<KeyLogEntry>,
    /// Lines with unknown labels (skipped).
    pub warnings: Vec<KeyLogWarning>,
}

fn parse_hex(s: &str) -> Result<Vec<u8>, KeyLogProblem> {
    let bytes = s.as_bytes();
    if let Some(position) = bytes.iter().position(|b| !b.is_ascii_hexdigit()) {
        return Err(KeyLogProblem::BadHex { position });
    }
    if !bytes.len().is_multiple_of(2) {
        return Err(KeyLogProblem::OddLength);
    }
    hex::decode(s).map_err(|_| KeyLogProblem::BadHex { position: 0 })
}

/// Parses key log text. `known_labels` are kept; other labels are reported as warnings.
/// Blank lines and lines starting with `#` are skipped.
///
/// # Errors
/// The first malformed line, with its number and field.
pub fn parse(text: &str, known_labels: &[&str]) -> Result<ParsedKeyLog, KeyLogParseError> {
    let mut out = ParsedKeyLog::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |field, problem| KeyLogParseError {
            line,
            field,
            problem,
        };
        let mut fields = trimmed.split_ascii_whitespace();
        let label = fields
            .next()
            .ok_or(err(KeyLogField::Label, KeyLogProblem::Missing))?;
        if !label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(err(KeyLogField::Label, KeyLogProblem::BadLabel));
        }
        let context = fields
            .next()
            .ok_or(err(KeyLogField::Context, KeyLogProblem::Missing))?;
        let context = if context == "-" {
            Vec::new()
        } else {
            parse_hex(context).map_err(|p| err(KeyLogField::Context, p))?
        };
        let secret_hex = fields
            .next()
            .ok_or(err(KeyLogField::Secret, KeyLogProblem::Missing))?;
        let secret =
            Zeroizing::new(parse_hex(secret_hex).map_err(|p| err(KeyLogField::Secret, p))?);
        if secret.is_empty() {
            return Err(err(KeyLogField::Secret, KeyLogProblem::Empty));
        }
        if fields.next().is_some() {
            return Err(err(KeyLogField::Line, KeyLogProblem::ExtraField));
        }
        if known_labels.contains(&label) {
            out.entries.push(KeyLogEntry {
                label: label.to_owned(),
                context,
                secret,
            });
        } else {
            out.warnings.push(KeyLogWarning {
                line,
                label: label.to_owned(),
            });
        }
    }
    Ok(out)
}
