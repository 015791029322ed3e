//! A pcapng writer (draft-ietf-opsawg-pcapng): one section, one interface, Enhanced Packet
//! Blocks with the caller's timestamps, and Decryption Secrets Blocks carrying RUD key-log text.
//!
//! Layout choices, each fixed for the file:
//!
//! - **Little-endian** blocks (byte-order magic 0x1A2B3C4D written little-endian), as on every
//!   machine this toolkit targets; readers handle either order.
//! - **`LINKTYPE_RAW` (101)**: packets start with the IP header, IPv4 or IPv6 by its version
//!   nibble. The drivers see socket payloads and addresses, never link headers, so an Ethernet
//!   header would have to invent MAC addresses; raw IP invents nothing and carries both IP
//!   versions on one interface. Wireshark and tshark decode it natively.
//! - **Nanosecond timestamps** (`if_tsresol` = 9): a `Duration` keeps nanoseconds, simulated
//!   runs put events microseconds apart, and 64 bits of nanoseconds last until the year 2554.
//! - **Snap length 0** (no limit): packets are written whole.
//!
//! Each block is built in memory and handed to the writer with one `write_all`, with its total
//! length at both ends and its body padded to 32 bits. If a write fails the output may end in
//! a partial block, so the writer refuses every later block ([`PcapngError::Poisoned`]).
use std::io::Write;
use std::time::Duration;

use zeroize::Zeroizing;

use super::error::PcapngError;

/// Block type of the Section Header Block.
pub const BLOCK_SECTION_HEADER: u32 = 0x0A0D_0D0A;
/// Block type of the Interface Description Block.
pub const BLOCK_INTERFACE_DESCRIPTION: u32 = 0x0000_0001;
/// Block type of the Enhanced Packet Block.
pub const BLOCK_ENHANCED_PACKET: u32 = 0x0000_0006;
/// Block type of the Decryption Secrets Block.
pub const BLOCK_DECRYPTION_SECRETS: u32 = 0x0000_000A;
/// The byte-order magic of the Section Header Block.
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Link type of the one interface: raw IPv4 or IPv6 packets.
pub const LINKTYPE_RAW: u16 = 101;
/// `if_tsresol` value: 10^-9 seconds.
pub const TSRESOL_NANOSECONDS: u8 = 9;
/// Secrets type of RUD key logs in a Decryption Secrets Block: "RUDK" (docs/SPEC.md 7.8).
pub const SECRETS_TYPE_RUD_KEYLOG: u32 = 0x5255_444B;

const OPT_ENDOFOPT: u16 = 0;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
/// Block type, total length and the trailing total length.
const BLOCK_OVERHEAD: usize = 12;

/// Octets of padding that bring `len` to a multiple of four.
fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// A block under construction: type and a length placeholder, then the body, then
/// [`BlockBuf::finish`] writes the length at both ends.
struct BlockBuf(Zeroizing<Vec<u8>>);

impl BlockBuf {
    /// `body_capacity` is the exact body size when known: the buffer never reallocates, so a
    /// secrets block leaves no unwiped copy of the key log behind in freed memory.
    fn new(block_type: u32, body_capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(BLOCK_OVERHEAD.saturating_add(body_capacity));
        buf.extend_from_slice(&block_type.to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        Self(Zeroizing::new(buf))
    }

    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// Bytes followed by zero padding to 32 bits.
    fn padded(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        self.0.extend(std::iter::repeat_n(0, pad_len(bytes.len())));
    }

    fn option(&mut self, code: u16, value: &[u8]) -> Result<(), PcapngError> {
        let len = u16::try_from(value.len()).map_err(|_| PcapngError::TooLong {
            what: "option",
            len: value.len(),
        })?;
        self.u16(code);
        self.u16(len);
        self.padded(value);
        Ok(())
    }

    fn end_of_options(&mut self) {
        self.u16(OPT_ENDOFOPT);
        self.u16(0);
    }

    fn finish(mut self, what: &'static str) -> Result<Zeroizing<Vec<u8>>, PcapngError> {
        let total = self.0.len() + 4;
        let total32 =
            u32::try_from(total).map_err(|_| PcapngError::TooLong { what, len: total })?;
        self.u32(total32);
        if let Some(slot) = self.0.get_mut(4..8) {
            for (dst, src) in slot.iter_mut().zip(total32.to_le_bytes()) {
                *dst = src;
            }
        }
        Ok(self.0)
    }
}

/// Writes a pcapng file to any [`Write`]: the section and interface headers on creation, then
/// packets and secrets in the order given. Timestamps come from the caller (time since the
/// Unix epoch); the writer never reads a clock.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: W,
    poisoned: bool,
    packets: u64,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block (with `shb_userappl` naming this crate) and the one
    /// Interface Description Block (`LINKTYPE_RAW`, nanosecond timestamps).
    ///
    /// # Errors
    /// [`PcapngError::Io`] if the writer fails.
    pub fn new(out: W) -> Result<Self, PcapngError> {
        let mut w = Self {
            out,
            poisoned: false,
            packets: 0,
        };
        let mut shb = BlockBuf::new(BLOCK_SECTION_HEADER, 64);
        shb.u32(BYTE_ORDER_MAGIC);
        shb.u16(1); // major version
        shb.u16(0); // minor version
        shb.0.extend_from_slice(&(-1_i64).to_le_bytes()); // section length: not given
        shb.option(
            OPT_SHB_USERAPPL,
            concat!("rud ", env!("CARGO_PKG_VERSION")).as_bytes(),
        )?;
        shb.end_of_options();
        w.emit(&shb.finish("section header")?)?;

        let mut idb = BlockBuf::new(BLOCK_INTERFACE_DESCRIPTION, 32);
        idb.u16(LINKTYPE_RAW);
        idb.u16(0); // reserved
        idb.u32(0); // snap length: no limit
        idb.option(OPT_IF_NAME, b"rud")?;
        idb.option(OPT_IF_TSRESOL, &[TSRESOL_NANOSECONDS])?;
        idb.end_of_options();
        w.emit(&idb.finish("interface description")?)?;
        Ok(w)
    }

    fn emit(&mut self, block: &[u8]) -> Result<(), PcapngError> {
        if self.poisoned {
            return Err(PcapngError::Poisoned);
        }
        self.out.write_all(block).map_err(|e| {
            self.poisoned = true;
            PcapngError::Io(e)
        })
    }

    /// An Enhanced Packet Block on interface 0: `ip_packet` (an IPv4 or IPv6 packet, for
    /// example from [`super::frame::udp_packet`]) captured whole at `timestamp` since the Unix
    /// epoch.
    ///
    /// # Errors
    /// [`PcapngError::Timestamp`] past the year 2554, [`PcapngError::TooLong`] for a packet
    /// over 4 GiB, [`PcapngError::Io`] / [`PcapngError::Poisoned`] on write failures.
    pub fn packet(&mut self, timestamp: Duration, ip_packet: &[u8]) -> Result<(), PcapngError> {
        let nanos = timestamp.as_nanos();
        let ts = u64::try_from(nanos).map_err(|_| PcapngError::Timestamp { nanos })?;
        let too_long = || PcapngError::TooLong {
            what: "packet",
            len: ip_packet.len(),
        };
        let len = u32::try_from(ip_packet.len()).map_err(|_| too_long())?;
        let body = 20usize
            .checked_add(ip_packet.len() + pad_len(ip_packet.len()))
            .ok_or_else(too_long)?;
        let mut epb = BlockBuf::new(BLOCK_ENHANCED_PACKET, body);
        epb.u32(0); // interface id
        epb.u32((ts >> 32) as u32); // timestamp, high 32 bits
        epb.u32(ts as u32); // timestamp, low 32 bits (truncation intended)
        epb.u32(len); // captured length
        epb.u32(len); // original length: never truncated
        epb.padded(ip_packet);
        self.emit(&epb.finish("packet")?)?;
        self.packets += 1;
        Ok(())
    }

    /// A Decryption Secrets Block of secrets type "RUDK" carrying `keylog_text` (RUD key-log
    /// lines, docs/SPEC.md 7.8) exactly. Write it before the packets it decrypts, so that a
    /// reader going through the file once has the keys when it needs them; write another after
    /// a rekey for the new secrets. The block is built in a buffer wiped after writing (a
    /// `BufWriter` below may still hold a copy until it flushes).
    ///
    /// # Errors
    /// [`PcapngError::TooLong`] for text over 4 GiB, [`PcapngError::Io`] /
    /// [`PcapngError::Poisoned`] on write failures.
    pub fn secrets(&mut self, keylog_text: &str) -> Result<(), PcapngError> {
        let data = keylog_text.as_bytes();
        let too_long = || PcapngError::TooLong {
            what: "secrets",
            len: data.len(),
        };
        let len = u32::try_from(data.len()).map_err(|_| too_long())?;
        let body = 8usize
            .checked_add(data.len() + pad_len(data.len()))
            .ok_or_else(too_long)?;
        let mut dsb = BlockBuf::new(BLOCK_DECRYPTION_SECRETS, body);
        dsb.u32(SECRETS_TYPE_RUD_KEYLOG);
        dsb.u32(len); // secrets length, without the padding
        dsb.padded(data);
        self.emit(&dsb.finish("secrets")?)
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    /// [`PcapngError::Io`] if flushing fails.
    pub fn flush(&mut self) -> Result<(), PcapngError> {
        self.out.flush().map_err(PcapngError::Io)
    }

    /// Enhanced Packet Blocks written so far.
    #[must_use]
    pub fn packets_written(&self) -> u64 {
        self.packets
    }

    /// The underlying writer.
    #[must_use]
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Gives the underlying writer back (unflushed).
    #[must_use]
    pub fn into_inner(self) -> W {
        self.out
    }
}
