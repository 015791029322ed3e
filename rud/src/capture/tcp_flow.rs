//! A synthesised TCP connection for the HTTP binding: the driver sees only request and
//! response bytes (hyper owns the socket), so the capture rebuilds a TCP stream around them
//! that Wireshark accepts and reassembles: a three-way handshake, data segments of at most one
//! MSS with sequence and acknowledgment numbers that account for every octet, and FINs.
//!
//! Every segment acknowledges everything the peer has sent so far, so no separate pure ACKs
//! are needed for the stream to reassemble; the peer's ACK of a FIN is emitted with it.
use std::fmt;
use std::net::SocketAddr;

use super::error::FrameError;
use super::frame::{IpPair, TCP_HEADER_LEN, TcpFlags, TcpSegment, tcp_packet};

/// Which end of the TCP connection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The end that sent the SYN (the HTTP client, the RUD initiator's side).
    Client,
    /// The end that accepted (the HTTP server).
    Server,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "client",
            Self::Server => "server",
        })
    }
}

/// Parameters of a synthesised flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlowConfig {
    /// Maximum segment size: data is split into segments of at most this many octets. It is
    /// also announced in the SYN and SYN-ACK.
    pub mss: u16,
    /// The client's initial sequence number.
    pub client_isn: u32,
    /// The server's initial sequence number.
    pub server_isn: u32,
    /// The receive window both sides announce.
    pub window: u16,
}

impl Default for TcpFlowConfig {
    /// MSS 1460 (Ethernet MTU less IPv4 and TCP headers); fixed ISNs, so captures of the same
    /// run are identical; the largest unscaled window.
    fn default() -> Self {
        Self {
            mss: 1460,
            client_isn: 0x5255_0000,
            server_isn: 0x4854_0000,
            window: u16::MAX,
        }
    }
}

/// One step of a flow, for callers that dispatch on a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpStep<'a> {
    /// SYN, SYN-ACK, ACK.
    Open,
    /// Data from one side, split at the MSS.
    Send(Side, &'a [u8]),
    /// FIN from one side and the other side's ACK of it.
    Close(Side),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Direction {
    /// Sequence number of the next octet (or SYN/FIN) this side sends.
    next: u32,
    fin_sent: bool,
}

/// The state of one synthesised TCP connection: addresses, sequence numbers in each
/// direction, and which steps are still allowed. Every method returns the IP packets to write,
/// in order; on error the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpFlow {
    client: SocketAddr,
    server: SocketAddr,
    config: TcpFlowConfig,
    open: bool,
    from_client: Direction,
    from_server: Direction,
}

impl TcpFlow {
    /// A flow between `client` and `server`, not yet opened.
    ///
    /// # Errors
    /// [`FrameError::AddressFamilyMismatch`], or [`FrameError::BadMss`] for an MSS of zero or
    /// one that would not fit a packet with its TCP header.
    pub fn new(
        client: SocketAddr,
        server: SocketAddr,
        config: TcpFlowConfig,
    ) -> Result<Self, FrameError> {
        let ips = IpPair::new(client, server)?;
        // Room for the largest header this module writes (20 octets plus the MSS option).
        let max = u16::try_from(ips.max_segment() - TCP_HEADER_LEN - 4).unwrap_or(u16::MAX);
        if config.mss == 0 || config.mss > max {
            return Err(FrameError::BadMss {
                mss: config.mss,
                max,
            });
        }
        Ok(Self {
            client,
            server,
            config,
            open: false,
            from_client: Direction {
                next: config.client_isn,
                fin_sent: false,
            },
            from_server: Direction {
                next: config.server_isn,
                fin_sent: false,
            },
        })
    }

    /// The client's address.
    #[must_use]
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// The server's address.
    #[must_use]
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The sequence number of the next octet `side` would send.
    #[must_use]
    pub fn next_seq(&self, side: Side) -> u32 {
        self.dir(side).next
    }

    fn dir(&self, side: Side) -> &Direction {
        match side {
            Side::Client => &self.from_client,
            Side::Server => &self.from_server,
        }
    }

    fn dir_mut(&mut self, side: Side) -> &mut Direction {
        match side {
            Side::Client => &mut self.from_client,
            Side::Server => &mut self.from_server,
        }
    }

    fn addrs(&self, side: Side) -> (SocketAddr, SocketAddr) {
        match side {
            Side::Client => (self.client, self.server),
            Side::Server => (self.server, self.client),
        }
    }

    fn peer(side: Side) -> Side {
        match side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    /// One segment from `side`. `ack` is `None` only on the first SYN.
    fn packet(
        &self,
        side: Side,
        seq: u32,
        ack: Option<u32>,
        flags: TcpFlags,
        payload: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        let (from, to) = self.addrs(side);
        let seg = TcpSegment {
            seq,
            ack: ack.unwrap_or(0),
            flags: match ack {
                Some(_) => flags.with(TcpFlags::ACK),
                None => flags,
            },
            window: self.config.window,
            mss_option: flags.contains(TcpFlags::SYN).then_some(self.config.mss),
        };
        tcp_packet(from, to, &seg, payload)
    }

    /// The three-way handshake: SYN, SYN-ACK, ACK.
    ///
    /// # Errors
    /// [`FrameError::TcpState`] if the flow is already open.
    pub fn open(&mut self) -> Result<Vec<Vec<u8>>, FrameError> {
        if self.open {
            return Err(FrameError::TcpState {
                action: "open",
                state: "a flow that is already open",
            });
        }
        // SYN and FIN each take one sequence number.
        let (c_isn, s_isn) = (self.config.client_isn, self.config.server_isn);
        let (c_next, s_next) = (c_isn.wrapping_add(1), s_isn.wrapping_add(1));
        let packets = vec![
            self.packet(Side::Client, c_isn, None, TcpFlags::SYN, &[])?,
            self.packet(Side::Server, s_isn, Some(c_next), TcpFlags::SYN, &[])?,
            self.packet(Side::Client, c_next, Some(s_next), TcpFlags::default(), &[])?,
        ];
        self.from_client.next = c_next;
        self.from_server.next = s_next;
        self.open = true;
        Ok(packets)
    }

    fn check_can_send(&self, side: Side, action: &'static str) -> Result<(), FrameError> {
        if !self.open {
            return Err(FrameError::TcpState {
                action,
                state: "before the flow is open",
            });
        }
        if self.dir(side).fin_sent {
            return Err(FrameError::TcpClosed { side });
        }
        Ok(())
    }

    /// `data` from `side` as segments of at most one MSS, each acknowledging everything the
    /// peer sent; the last has PSH set. Empty data gives no segment.
    ///
    /// # Errors
    /// [`FrameError::TcpState`] before [`TcpFlow::open`], [`FrameError::TcpClosed`] after
    /// `side`'s FIN.
    pub fn send(&mut self, side: Side, data: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        self.check_can_send(side, "send data")?;
        let ack = self.dir(Self::peer(side)).next;
        let mut packets = Vec::new();
        let mut seq = self.dir(side).next;
        let mut chunks = data.chunks(usize::from(self.config.mss)).peekable();
        while let Some(chunk) = chunks.next() {
            let flags = if chunks.peek().is_none() {
                TcpFlags::PSH
            } else {
                TcpFlags::default()
            };
            packets.push(self.packet(side, seq, Some(ack), flags, chunk)?);
            // A chunk is at most one MSS (u16), so the cast is exact.
            seq = seq.wrapping_add(chunk.len() as u32);
        }
        self.dir_mut(side).next = seq;
        Ok(packets)
    }

    /// `side`'s FIN (with ACK) and the peer's ACK of it.
    ///
    /// # Errors
    /// [`FrameError::TcpState`] before [`TcpFlow::open`], [`FrameError::TcpClosed`] after a
    /// FIN from `side` already.
    pub fn close(&mut self, side: Side) -> Result<Vec<Vec<u8>>, FrameError> {
        self.check_can_send(side, "close")?;
        let peer = Self::peer(side);
        let (seq, peer_next) = (self.dir(side).next, self.dir(peer).next);
        let after_fin = seq.wrapping_add(1);
        let packets = vec![
            self.packet(side, seq, Some(peer_next), TcpFlags::FIN, &[])?,
            self.packet(peer, peer_next, Some(after_fin), TcpFlags::default(), &[])?,
        ];
        let d = self.dir_mut(side);
        d.next = after_fin;
        d.fin_sent = true;
        Ok(packets)
    }

    /// Dispatches one [`TcpStep`].
    ///
    /// # Errors
    /// As the method the step names.
    pub fn step(&mut self, step: TcpStep<'_>) -> Result<Vec<Vec<u8>>, FrameError> {
        match step {
            TcpStep::Open => self.open(),
            TcpStep::Send(side, data) => self.send(side, data),
            TcpStep::Close(side) => self.close(side),
        }
    }
}
