//! Errors of the capture writers, one enum per layer: building headers ([`FrameError`]),
//! writing blocks ([`PcapngError`]) and the file as a whole ([`CaptureError`], which names the
//! file).
use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

use super::tcp_flow::Side;

/// Why a packet could not be synthesised.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// One address is IPv4 and the other IPv6 (and not IPv4-mapped).
    #[error("{from} and {to} are not of the same address family")]
    AddressFamilyMismatch {
        /// Source address.
        from: SocketAddr,
        /// Destination address.
        to: SocketAddr,
    },
    /// The payload does not fit one IP packet (the length fields are 16 bits).
    #[error("{protocol} payload of {len} octets is over the {max} octets one packet can carry")]
    PayloadTooLarge {
        /// "UDP" or "TCP".
        protocol: &'static str,
        /// Payload length.
        len: usize,
        /// Largest payload for this protocol and address family.
        max: usize,
    },
    /// The TCP maximum segment size is zero or too large for one packet.
    #[error("TCP maximum segment size {mss} is outside 1..={max}")]
    BadMss {
        /// Segment size asked for.
        mss: u16,
        /// Largest segment size for the flow's address family.
        max: u16,
    },
    /// A TCP step that the flow's state does not allow (data before the handshake, a second
    /// handshake, data or a FIN after that side's FIN).
    #[error("TCP flow: cannot {action} {state}")]
    TcpState {
        /// What was asked for.
        action: &'static str,
        /// Why not.
        state: &'static str,
    },
    /// Data or a FIN from a side that has already sent its FIN.
    #[error("TCP flow: the {side} has already closed its direction")]
    TcpClosed {
        /// The side that closed.
        side: Side,
    },
}

/// Why a pcapng block could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PcapngError {
    /// The underlying writer failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// An earlier write failed: the output may end in a partial block, after which every
    /// further block would be misframed, so nothing more is written.
    #[error("an earlier write failed; refusing to append to a possibly truncated block")]
    Poisoned,
    /// The timestamp does not fit the 64-bit nanosecond counter (after the year 2554).
    #[error("timestamp of {nanos} ns since the Unix epoch does not fit 64 bits")]
    Timestamp {
        /// Nanoseconds since the epoch.
        nanos: u128,
    },
    /// A packet, secret or option too long for its 32-bit (or 16-bit) length field.
    #[error("{what} of {len} octets is too long for a pcapng block")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Why a capture file operation failed; every variant names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file exists and overwriting was not asked for.
    #[error("capture {path}: already exists (pass an explicit overwrite to replace it)")]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// The path is not a regular file (a symbolic link, a directory, a FIFO, a device).
    #[error("capture {path}: not a regular file")]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The file could not be created or opened.
    #[error("capture {path}: cannot create: {source}")]
    Create {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A block could not be written.
    #[error("capture {path}: writing {what}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// What was being written ("header", "UDP packet", "TCP segment", "secrets").
        what: &'static str,
        /// The error.
        source: PcapngError,
    },
    /// A packet could not be synthesised.
    #[error("capture {path}: building {what}: {source}")]
    Frame {
        /// The path.
        path: PathBuf,
        /// What was being built.
        what: &'static str,
        /// The error.
        source: FrameError,
    },
}
