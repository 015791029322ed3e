//! Synthesised IP, UDP and TCP headers around a payload, so that datagrams a RUD endpoint
//! sent or received through a socket (which hands over only the payload) appear in a capture
//! as the packets that were on the wire.
//!
//! The output is a bare IP packet (IPv4 or IPv6 by the version nibble), to be written on an
//! interface of link type `LINKTYPE_RAW` (see [`super::pcapng`]): there is no link header to
//! invent. Headers are written by hand: they are a few fixed fields, and doing so keeps the
//! checksum rules (RFC 768, RFC 793, RFC 8200 section 8.1) in view and adds no dependency to
//! the library. Every checksum is computed, including the optional IPv4 UDP one, so
//! Wireshark's checksum validation (when enabled) shows them as good.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::FrameError;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// TTL / hop limit of synthesised packets (a common default; nothing reads it).
const HOP_LIMIT: u8 = 64;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;
/// TCP header length without options.
pub const TCP_HEADER_LEN: usize = 20;
/// The IPv4 total length and the IPv6 payload length are 16-bit fields.
const MAX_IP_FIELD: usize = u16::MAX as usize;

/// The source and destination of one packet, both of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPair {
    /// IPv4 source and destination.
    V4(Ipv4Addr, Ipv4Addr),
    /// IPv6 source and destination.
    V6(Ipv6Addr, Ipv6Addr),
}

impl IpPair {
    /// The pair for two socket addresses. A dual-stack socket reports IPv4 peers as
    /// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`); mixed with a plain IPv4 address they are
    /// unmapped, so the packet is the IPv4 packet that was on the wire.
    ///
    /// # Errors
    /// [`FrameError::AddressFamilyMismatch`] for an IPv4 and a (non-mapped) IPv6 address.
    pub fn new(from: SocketAddr, to: SocketAddr) -> Result<Self, FrameError> {
        let mismatch = || FrameError::AddressFamilyMismatch { from, to };
        Ok(match (from.ip(), to.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Self::V4(a, b),
            (IpAddr::V6(a), IpAddr::V6(b)) => Self::V6(a, b),
            (IpAddr::V4(a), IpAddr::V6(b)) => Self::V4(a, b.to_ipv4_mapped().ok_or_else(mismatch)?),
            (IpAddr::V6(a), IpAddr::V4(b)) => Self::V4(a.to_ipv4_mapped().ok_or_else(mismatch)?, b),
        })
    }

    /// Octets of the IP header.
    #[must_use]
    pub fn header_len(&self) -> usize {
        match self {
            Self::V4(..) => IPV4_HEADER_LEN,
            Self::V6(..) => IPV6_HEADER_LEN,
        }
    }

    /// The largest transport segment (transport header included) one packet carries.
    #[must_use]
    pub fn max_segment(&self) -> usize {
        match self {
            // The total length counts the IPv4 header.
            Self::V4(..) => MAX_IP_FIELD - IPV4_HEADER_LEN,
            // The payload length does not count the fixed IPv6 header.
            Self::V6(..) => MAX_IP_FIELD,
        }
    }

    /// The pseudo-header of the transport checksum (RFC 768 / RFC 793 for IPv4, RFC 8200
    /// section 8.1 for IPv6).
    fn pseudo_header(&self, protocol: u8, segment_len: u32) -> Vec<u8> {
        let mut p = Vec::with_capacity(40);
        match self {
            Self::V4(s, d) => {
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.push(0);
                p.push(protocol);
                // Fits: segments are at most max_segment() octets.
                p.extend_from_slice(&(segment_len as u16).to_be_bytes());
            }
            Self::V6(s, d) => {
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.extend_from_slice(&segment_len.to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, protocol]);
            }
        }
        p
    }
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`: the ones' complement of
/// the ones' complement sum of its 16-bit big-endian words, an odd last octet padded with zero.
#[must_use]
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    // An odd octet left over from one part pairs with the first octet of the next.
    let mut pending: Option<u8> = None;
    for part in parts {
        for &byte in *part {
            match pending.take() {
                Some(high) => sum += u64::from(u16::from_be_bytes([high, byte])),
                None => pending = Some(byte),
            }
        }
    }
    if let Some(high) = pending {
        sum += u64::from(u16::from_be_bytes([high, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes `value` big-endian at `at` (two octets). Offsets are constants inside headers this
/// module built, so the slot always exists; `get_mut` keeps even a mistake from panicking.
fn patch_u16(buf: &mut [u8], at: usize, value: u16) {
    if let Some(slot) = buf.get_mut(at..at + 2) {
        for (dst, src) in slot.iter_mut().zip(value.to_be_bytes()) {
            *dst = src;
        }
    }
}

/// Prepends the IP header to a transport segment whose checksum field (at `checksum_at`) is
/// zero, filling in that checksum. `zero_as` replaces a computed zero (UDP sends 0xffff,
/// because zero means "no checksum").
fn ip_packet(
    ips: IpPair,
    protocol: u8,
    mut segment: Vec<u8>,
    checksum_at: usize,
    zero_as: u16,
) -> Vec<u8> {
    // Callers checked segment.len() <= max_segment() <= u16::MAX.
    let seg_len = segment.len() as u32;
    let pseudo = ips.pseudo_header(protocol, seg_len);
    let sum = match internet_checksum(&[&pseudo, &segment]) {
        0 => zero_as,
        s => s,
    };
    patch_u16(&mut segment, checksum_at, sum);
    let mut packet = Vec::with_capacity(ips.header_len() + segment.len());
    match ips {
        IpPair::V4(s, d) => {
            let total = (IPV4_HEADER_LEN + segment.len()) as u16;
            packet.extend_from_slice(&[0x45, 0]); // version 4, IHL 5; DSCP/ECN 0
            packet.extend_from_slice(&total.to_be_bytes());
            // Identification 0 with DF set: an atomic datagram (RFC 6864 section 4.1).
            packet.extend_from_slice(&[0, 0, 0x40, 0]);
            packet.extend_from_slice(&[HOP_LIMIT, protocol, 0, 0]);
            packet.extend_from_slice(&s.octets());
            packet.extend_from_slice(&d.octets());
            let hsum = internet_checksum(&[&packet]);
            patch_u16(&mut packet, 10, hsum);
        }
        IpPair::V6(s, d) => {
            packet.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, class 0, flow label 0
            packet.extend_from_slice(&(segment.len() as u16).to_be_bytes());
            packet.extend_from_slice(&[protocol, HOP_LIMIT]);
            packet.extend_from_slice(&s.octets());
            packet.extend_from_slice(&d.octets());
        }
    }
    packet.extend_from_slice(&segment);
    packet
}

/// The largest UDP payload one packet between these addresses carries.
///
/// # Errors
/// As [`IpPair::new`].
pub fn max_udp_payload(from: SocketAddr, to: SocketAddr) -> Result<usize, FrameError> {
    Ok(IpPair::new(from, to)?.max_segment() - UDP_HEADER_LEN)
}

/// One UDP datagram from `from` to `to` as an IP packet, with correct IP and UDP checksums.
///
/// # Errors
/// [`FrameError::AddressFamilyMismatch`], or [`FrameError::PayloadTooLarge`] past 65507
/// (IPv4) or 65527 (IPv6) octets.
pub fn udp_packet(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let ips = IpPair::new(from, to)?;
    let max = ips.max_segment() - UDP_HEADER_LEN;
    if payload.len() > max {
        return Err(FrameError::PayloadTooLarge {
            protocol: "UDP",
            len: payload.len(),
            max,
        });
    }
    let mut seg = Vec::with_capacity(UDP_HEADER_LEN + payload.len());
    seg.extend_from_slice(&from.port().to_be_bytes());
    seg.extend_from_slice(&to.port().to_be_bytes());
    seg.extend_from_slice(&((UDP_HEADER_LEN + payload.len()) as u16).to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(payload);
    Ok(ip_packet(ips, IPPROTO_UDP, seg, 6, 0xffff))
}

/// TCP header flags (RFC 9293 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: Self = Self(0x01);
    /// Synchronise sequence numbers.
    pub const SYN: Self = Self(0x02);
    /// Push: deliver the data so far (set on the last segment of a write).
    pub const PSH: Self = Self(0x08);
    /// The acknowledgment number is valid.
    pub const ACK: Self = Self(0x10);

    /// Both sets of flags.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The fields of one synthesised TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`TcpFlags::ACK`]).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Receive window.
    pub window: u16,
    /// The MSS option, sent on SYN segments so that Wireshark knows the segment size.
    pub mss_option: Option<u16>,
}

/// One TCP segment from `from` to `to` as an IP packet, with correct IP and TCP checksums.
///
/// # Errors
/// [`FrameError::AddressFamilyMismatch`], or [`FrameError::PayloadTooLarge`] when header and
/// payload do not fit one packet.
pub fn tcp_packet(
    from: SocketAddr,
    to: SocketAddr,
    seg: &TcpSegment,
    payload: &[u8],
) -> Result<Vec<u8>, FrameError> {
    let ips = IpPair::new(from, to)?;
    let header_len = TCP_HEADER_LEN + if seg.mss_option.is_some() { 4 } else { 0 };
    let max = ips.max_segment() - header_len;
    if payload.len() > max {
        return Err(FrameError::PayloadTooLarge {
            protocol: "TCP",
            len: payload.len(),
            max,
        });
    }
    let mut out = Vec::with_capacity(header_len + payload.len());
    out.extend_from_slice(&from.port().to_be_bytes());
    out.extend_from_slice(&to.port().to_be_bytes());
    out.extend_from_slice(&seg.seq.to_be_bytes());
    out.extend_from_slice(&seg.ack.to_be_bytes());
    // Data offset in 32-bit words in the high nibble; the reserved bits stay zero.
    out.push(((header_len / 4) as u8) << 4);
    out.push(seg.flags.0);
    out.extend_from_slice(&seg.window.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // checksum (filled in below), urgent pointer
    if let Some(mss) = seg.mss_option {
        out.extend_from_slice(&[2, 4]); // kind 2 (MSS), length 4
        out.extend_from_slice(&mss.to_be_bytes());
    }
    out.extend_from_slice(payload);
    // A computed TCP checksum of zero is sent as zero (TCP has no "no checksum" value).
    Ok(ip_packet(ips, IPPROTO_TCP, out, 16, 0))
}
