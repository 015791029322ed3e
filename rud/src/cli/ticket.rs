//! `post --ticket FILE`: redeem the ticket kept in FILE, and keep the one the responder sends
//! (SPEC 7.10). The file holds the ticket's psk and the identity it is bound to: mode 0600.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::CliError;
use rud::crypto::x448::X448Secret;
use rud::handshake::ticket_file::StoredTicket;
use rud::handshake::{Entropy, OsEntropy};
use rud::udp::EventStream;

pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The ticket in `path`, if the file exists and the ticket has not expired (then a note says
/// a full key exchange runs instead).
pub fn load(path: &Path) -> Result<Option<StoredTicket>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::Setup(format!("--ticket {}: {e}", path.display()))),
    };
    let stored = StoredTicket::from_pem(&text, unix_now())
        .map_err(|e| CliError::Setup(format!("--ticket {}: {e}", path.display())))?;
    if stored.expired(unix_now()) {
        eprintln!(
            "rud: the ticket in {} expired; a full key exchange instead",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(stored))
}

/// The identity a connection that may receive a ticket uses: the one given, or a fresh one
/// (kept, since the ticket is bound to it).
pub fn identity(given: Option<X448Secret>) -> X448Secret {
    given.unwrap_or_else(|| X448Secret::generate(|b| OsEntropy.fill(b)))
}

/// Waits up to `wait` for the responder's ticket and writes it to `path` (replacing the file,
/// mode 0600). Returns whether one came.
pub async fn keep(
    events: Option<EventStream>,
    identity: X448Secret,
    path: &Path,
    wait: Duration,
) -> Result<bool, CliError> {
    let Some(mut events) = events else {
        return Ok(false);
    };
    let Some(ticket) = events.ticket(wait).await else {
        return Ok(false);
    };
    let lifetime = ticket.lifetime;
    let stored = StoredTicket::new(ticket, identity, unix_now());
    write_secret(path, stored.to_pem().as_bytes())?;
    eprintln!(
        "rud: kept the responder's ticket in {} (good for {} s)",
        path.display(),
        lifetime.as_secs()
    );
    Ok(true)
}

/// Replaces `path` with `bytes`: written to a new 0600 file beside it, then renamed.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let err = |e: std::io::Error| CliError::Setup(format!("--ticket {}: {e}", path.display()));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&tmp).map_err(err)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
