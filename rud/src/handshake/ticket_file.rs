//! A ticket as an initiator keeps it between runs (`rud post --ticket FILE`): the ticket, the
//! issuer's credential, the psk and the initiator identity it is bound to, in one PEM block
//! labelled `RUD TICKET`. The file holds secrets (the psk and the identity): write it 0600.
//!
//! ```text
//! version (1) = 1 || identity secret (56) || issuer public key (56) || psk (64)
//!   || expiry, Unix seconds (be64) || ticket length (be16) || ticket
//! ```
use std::time::Duration;

use zeroize::Zeroizing;

use crate::connection::IssuedTicket;
use crate::crypto::SecretBytes;
use crate::crypto::keyfile::{KeyFileError, pem_decode, pem_encode};
use crate::crypto::x448::{X448PublicKey, X448Secret};

const LABEL: &str = "RUD TICKET";
const VERSION: u8 = 1;
/// Longest ticket kept (a sealed ticket is about 250 octets).
const MAX_TICKET: usize = 1024;

/// A ticket file's contents.
pub struct StoredTicket {
    pub ticket: IssuedTicket,
    /// The initiator identity the ticket is bound to (its S_i).
    pub identity: X448Secret,
    /// When the issuer said it expires, in Unix seconds.
    pub expires_unix_s: u64,
}

impl std::fmt::Debug for StoredTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTicket")
            .field("ticket", &self.ticket)
            .field("expires_unix_s", &self.expires_unix_s)
            .finish_non_exhaustive()
    }
}

/// Why a ticket file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketFileError {
    #[error(transparent)]
    Pem(#[from] KeyFileError),
    #[error("ticket file version {0}, expected 1")]
    Version(u8),
    #[error("ticket file ends at octet {at}, inside the {field}")]
    Truncated { at: usize, field: &'static str },
    #[error("{extra} octets after the ticket")]
    Trailing { extra: usize },
    #[error("the issuer's public key is not a valid X448 key")]
    IssuerKey,
    #[error("a ticket of {0} octets (at most 1024)")]
    TicketLength(usize),
}

impl StoredTicket {
    /// The issued `ticket`, bound to `identity`, received at `unix_now`.
    pub fn new(ticket: IssuedTicket, identity: X448Secret, unix_now: Duration) -> Self {
        let expires_unix_s = unix_now.saturating_add(ticket.lifetime).as_secs();
        Self {
            ticket,
            identity,
            expires_unix_s,
        }
    }

    /// Whether the issuer's lifetime has passed at `unix_now`.
    pub fn expired(&self, unix_now: Duration) -> bool {
        unix_now.as_secs() >= self.expires_unix_s
    }

    /// The PEM text of the file.
    pub fn to_pem(&self) -> Zeroizing<String> {
        let t = &self.ticket;
        let len = t.ticket.len().min(MAX_TICKET);
        let mut raw = Zeroizing::new(Vec::with_capacity(187 + len));
        raw.push(VERSION);
        raw.extend_from_slice(self.identity.expose());
        raw.extend_from_slice(t.issuer.as_bytes());
        raw.extend_from_slice(t.psk.expose());
        raw.extend_from_slice(&self.expires_unix_s.to_be_bytes());
        raw.extend_from_slice(&(len as u16).to_be_bytes());
        raw.extend_from_slice(&t.ticket[..len]);
        pem_encode(LABEL, &raw)
    }

    /// Reads the PEM text of a ticket file; `unix_now` sets the lifetime left.
    ///
    /// # Errors
    /// A [`TicketFileError`] naming what is wrong and where.
    pub fn from_pem(text: &str, unix_now: Duration) -> Result<Self, TicketFileError> {
        let raw = pem_decode(text, LABEL)?;
        let mut r = Reader { raw: &raw, at: 0 };
        let [version] = r.array("version")?;
        if version != VERSION {
            return Err(TicketFileError::Version(version));
        }
        // Secrets go straight from the decoded file into wiped storage, with no stack copy.
        let identity =
            X448Secret::from_slice(r.take(56, "identity")?).map_err(|_| r.truncated("identity"))?;
        let issuer = X448PublicKey::from_bytes(r.take(56, "issuer key")?)
            .map_err(|_| TicketFileError::IssuerKey)?;
        let psk = SecretBytes::from_slice(r.take(64, "psk")?).ok_or(r.truncated("psk"))?;
        let expires_unix_s = u64::from_be_bytes(r.array("expiry")?);
        let len = usize::from(u16::from_be_bytes(r.array("ticket length")?));
        if len == 0 || len > MAX_TICKET {
            return Err(TicketFileError::TicketLength(len));
        }
        let ticket = r.take(len, "ticket")?.to_vec();
        if r.at != raw.len() {
            return Err(TicketFileError::Trailing {
                extra: raw.len() - r.at,
            });
        }
        let left = Duration::from_secs(expires_unix_s.saturating_sub(unix_now.as_secs()));
        Ok(Self {
            ticket: IssuedTicket {
                ticket,
                issuer,
                psk,
                lifetime: left,
            },
            identity,
            expires_unix_s,
        })
    }
}

/// Reads the fields of a ticket file in order; running short names the field.
struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn truncated(&self, field: &'static str) -> TicketFileError {
        TicketFileError::Truncated {
            at: self.raw.len(),
            field,
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], TicketFileError> {
        let bytes = self
            .raw
            .get(self.at..self.at + n)
            .ok_or(self.truncated(field))?;
        self.at += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], TicketFileError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::default_provider;

    fn stored() -> StoredTicket {
        let p = default_provider();
        let issuer = X448Secret::from_bytes([9; 56]).public_key(&*p);
        let ticket = IssuedTicket {
            ticket: vec![1; 250],
            issuer,
            psk: SecretBytes::new([7; 64]),
            lifetime: Duration::from_secs(600),
        };
        StoredTicket::new(
            ticket,
            X448Secret::from_bytes([3; 56]),
            Duration::from_secs(1000),
        )
    }

    #[test]
    fn a_ticket_file_reads_back_and_bad_ones_say_where() {
        let s = stored();
        let pem = s.to_pem();
        assert!(pem.starts_with("-----BEGIN RUD TICKET-----\n"));
        let back = StoredTicket::from_pem(&pem, Duration::from_secs(1100)).unwrap();
        assert_eq!(back.ticket.ticket, s.ticket.ticket);
        assert_eq!(back.ticket.issuer, s.ticket.issuer);
        assert_eq!(back.ticket.psk, s.ticket.psk);
        assert_eq!(back.identity, s.identity);
        assert_eq!(back.expires_unix_s, 1600);
        assert_eq!(back.ticket.lifetime, Duration::from_secs(500));
        assert!(!back.expired(Duration::from_secs(1599)));
        assert!(back.expired(Duration::from_secs(1600)));
        // Cut short, another version, octets after the ticket.
        let raw = pem_decode(&pem, LABEL).unwrap();
        let read = |bytes: &[u8]| StoredTicket::from_pem(&pem_encode(LABEL, bytes), Duration::ZERO);
        assert_eq!(
            read(&raw[..100]).unwrap_err(),
            TicketFileError::Truncated {
                at: 100,
                field: "issuer key"
            }
        );
        let mut v2 = raw.to_vec();
        v2[0] = 2;
        assert_eq!(read(&v2).unwrap_err(), TicketFileError::Version(2));
        let mut long = raw.to_vec();
        long.push(0);
        assert_eq!(
            read(&long).unwrap_err(),
            TicketFileError::Trailing { extra: 1 }
        );
        assert!(matches!(
            StoredTicket::from_pem("no pem here", Duration::ZERO),
            Err(TicketFileError::Pem(_))
        ));
    }
}
