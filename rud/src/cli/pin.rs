//! `--pin FILE`: responder keys learned by First Contact, one `PEER HEX` line each. A pinned
//! key is then required of that peer (a Challenge with another key aborts the handshake).
use std::io::Write;
use std::path::Path;

use super::CliError;
use rud::crypto::keyfile::parse_public_key;
use rud::crypto::x448::X448PublicKey;

/// The key pinned for `peer`, if any.
pub fn lookup(file: &Path, peer: &str) -> Result<Option<X448PublicKey>, CliError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::Setup(format!("--pin {}: {e}", file.display()))),
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(who), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CliError::Setup(format!(
                "--pin {} line {}: expected PEER HEX",
                file.display(),
                n + 1
            )));
        };
        if who == peer {
            return parse_public_key(key).map(Some).map_err(|e| {
                CliError::Setup(format!("--pin {} line {}: {e}", file.display(), n + 1))
            });
        }
    }
    Ok(None)
}

/// Adds `peer`'s key to the file (created with mode 0600 if missing).
pub fn store(file: &Path, peer: &str, key: &X448PublicKey) -> Result<(), CliError> {
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(file)
        .map_err(|e| CliError::Setup(format!("--pin {}: {e}", file.display())))?;
    writeln!(f, "{peer} {}", hex::encode(key.as_bytes()))
        .map_err(|e| CliError::Setup(format!("--pin {}: {e}", file.display())))
}
