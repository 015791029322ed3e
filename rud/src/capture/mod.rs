//! Packet captures of RUD traffic, for Wireshark: the `rud --pcap FILE` option and the UDP and
//! HTTP drivers write what they send and receive as a pcapng file.
//!
//! A socket hands a driver only payloads and addresses, so [`frame`] synthesises the IP and
//! UDP headers around each datagram (and, for the HTTP binding, a whole TCP stream around the
//! request and response bytes with [`TcpFlow`]); [`PcapngWriter`] writes them with the
//! timestamps the driver passes in (nothing here reads a clock, in keeping with the sans-IO
//! core), and [`CaptureFile`] ties both to a file.
//!
//! What a Wireshark user does with the output: open the file (`wireshark FILE`,
//! `tshark -r FILE`). Packets appear on one raw-IP interface with correct IP, UDP and TCP
//! checksums; RUD datagrams are UDP to or from port 21077 (docs/SPEC.md 3.2), or HTTP POSTs to
//! `/.well-known/rud` in a reassembled TCP stream. The key log of the run travels inside the
//! file in Decryption Secrets Blocks of secrets type 0x5255444B ("RUDK", docs/SPEC.md 7.8),
//! written before the packets they decrypt, so a RUD dissector that reads them can decrypt the
//! capture without a separate key log file (`editcap --discard-all-secrets` removes them
//! before sharing a capture). Because of those secrets the file is created with mode 0600.
pub mod error;
pub mod file;
pub mod frame;
pub mod pcapng;
pub mod tcp_flow;

pub use error::{CaptureError, FrameError, PcapngError};
pub use file::{CaptureFile, Overwrite};
pub use frame::{IpPair, internet_checksum, tcp_packet, udp_packet};
pub use pcapng::{PcapngWriter, SECRETS_TYPE_RUD_KEYLOG};
pub use tcp_flow::{Side, TcpFlow, TcpFlowConfig, TcpStep};
