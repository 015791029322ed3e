//! rud::capture: a capture with IPv4 and IPv6 UDP, secrets blocks and TCP flows, read back
//! three ways that share no code with the writer: a minimal block walker written here,
//! pcap-file's PcapNgReader, and etherparse for the IP/UDP/TCP headers. Checksums are verified
//! with a ones'-complement sum written here and compared with etherparse's. If tshark is on
//! PATH, it reads the file too.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use rud::capture::{
    CaptureError, CaptureFile, FrameError, Overwrite, PcapngError, PcapngWriter, Side, TcpFlow,
    TcpFlowConfig, TcpStep, udp_packet,
};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const DSB: u32 = 0x0A;
const RUDK: u32 = 0x5255_444B;

const KEYLOG_1: &str = "# RUD key log, schema_version 1\n\
    RUD_TRAFFIC_I2R 0011 aabbccdd\nRUD_TRAFFIC_R2I 0011 eeff\n";
// 4n + 1 octets, so its block needs padding.
const KEYLOG_2: &str = "RUD_EXPORTER 0011 0123456789abcdef\n#\n";

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("rud-capture-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn t(ms: u64) -> Duration {
    // A realistic epoch time with sub-microsecond digits, so a writer that dropped
    // nanoseconds (or wrote microseconds) would be caught.
    Duration::new(1_700_000_000, 123_456_789) + Duration::from_micros(ms * 1000 + 1)
}

// ---- an independent minimal pcapng block walker ----

struct RawBlock {
    ty: u32,
    total_len: u32,
    body: Vec<u8>,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

/// Splits the file into blocks, checking that both length fields agree, are multiples of 4
/// and that the blocks exactly cover the file.
fn walk(file: &[u8]) -> Vec<RawBlock> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < file.len() {
        let ty = le32(file, at);
        let total_len = le32(file, at + 4);
        assert_eq!(
            total_len % 4,
            0,
            "block at {at}: length {total_len} not 32-bit aligned"
        );
        assert!(total_len >= 12, "block at {at}: length {total_len}");
        let end = at + total_len as usize;
        assert!(end <= file.len(), "block at {at} runs past the end");
        assert_eq!(
            le32(file, end - 4),
            total_len,
            "block at {at}: trailing length differs"
        );
        out.push(RawBlock {
            ty,
            total_len,
            body: file[at + 8..end - 4].to_vec(),
        });
        at = end;
    }
    assert_eq!(at, file.len());
    out
}

/// Options as (code, value), checking padding is zero and that opt_endofopt ends them.
fn options(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let (code, len) = (le16(b, 0), le16(b, 2) as usize);
        if code == 0 {
            assert_eq!(len, 0);
            assert_eq!(b.len(), 4, "octets after opt_endofopt");
            return out;
        }
        let padded = len.div_ceil(4) * 4;
        assert!(
            b[4 + len..4 + padded].iter().all(|&x| x == 0),
            "option padding"
        );
        out.push((code, b[4..4 + len].to_vec()));
        b = &b[4 + padded..];
    }
}

// ---- independent checksum verification ----

/// Ones'-complement sum of 16-bit words, folded: 0xffff when the checksummed data including
/// its checksum field is correct.
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u32 = 0;
    for w in bytes.chunks(2) {
        sum += u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn pseudo(net: &NetSlice<'_>, proto: u8, len: usize) -> Vec<u8> {
    match net {
        NetSlice::Ipv4(v4) => {
            let h = v4.header();
            [
                &h.source()[..],
                &h.destination(),
                &[0, proto],
                &(len as u16).to_be_bytes(),
            ]
            .concat()
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header();
            [
                &h.source()[..],
                &h.destination(),
                &(len as u32).to_be_bytes(),
                &[0, 0, 0, proto],
            ]
            .concat()
        }
        _ => panic!("not IP"),
    }
}

/// What a packet decoded to.
#[derive(Debug)]
struct Decoded {
    src: SocketAddr,
    dst: SocketAddr,
    payload: Vec<u8>,
    tcp: Option<TcpInfo>,
}

#[derive(Debug, Clone, Copy)]
struct TcpInfo {
    seq: u32,
    ack: u32,
    syn: bool,
    ack_flag: bool,
    fin: bool,
    psh: bool,
    mss: Option<u16>,
}

/// Decodes an IP packet with etherparse and checks every checksum and length field.
fn decode(packet: &[u8]) -> Decoded {
    let sliced = SlicedPacket::from_ip(packet).expect("etherparse decodes the packet");
    let net = sliced.net.clone().expect("IP header");
    let (src_ip, dst_ip): (std::net::IpAddr, std::net::IpAddr) = match &net {
        NetSlice::Ipv4(v4) => {
            let h = v4.header();
            assert_eq!(h.total_len() as usize, packet.len(), "IPv4 total length");
            assert_eq!(ones_sum(&[h.slice()]), 0xffff, "IPv4 header checksum");
            assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
            assert!(h.dont_fragment() && !h.more_fragments());
            (h.source_addr().into(), h.destination_addr().into())
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header();
            assert_eq!(
                h.payload_length() as usize + 40,
                packet.len(),
                "IPv6 payload length"
            );
            (h.source_addr().into(), h.destination_addr().into())
        }
        _ => panic!("not IP"),
    };
    match sliced.transport.expect("transport header") {
        TransportSlice::Udp(udp) => {
            let seg = udp.slice();
            assert_eq!(udp.length() as usize, seg.len(), "UDP length");
            assert_ne!(udp.checksum(), 0, "the UDP checksum is always computed");
            let ps = pseudo(&net, 17, seg.len());
            assert_eq!(ones_sum(&[&ps, seg]), 0xffff, "UDP checksum");
            let h = udp.to_header();
            let theirs = match &net {
                NetSlice::Ipv4(v4) => {
                    let ih = v4.header();
                    h.calc_checksum_ipv4_raw(ih.source(), ih.destination(), udp.payload())
                }
                NetSlice::Ipv6(v6) => {
                    let ih = v6.header();
                    h.calc_checksum_ipv6_raw(ih.source(), ih.destination(), udp.payload())
                }
                _ => unreachable!(),
            };
            assert_eq!(
                udp.checksum(),
                theirs.unwrap(),
                "UDP checksum per etherparse"
            );
            Decoded {
                src: SocketAddr::new(src_ip, udp.source_port()),
                dst: SocketAddr::new(dst_ip, udp.destination_port()),
                payload: udp.payload().to_vec(),
                tcp: None,
            }
        }
        TransportSlice::Tcp(tcp) => {
            let seg = tcp.slice();
            let ps = pseudo(&net, 6, seg.len());
            assert_eq!(ones_sum(&[&ps, seg]), 0xffff, "TCP checksum");
            let theirs = match &net {
                NetSlice::Ipv4(v4) => {
                    let ih = v4.header();
                    tcp.calc_checksum_ipv4(ih.source(), ih.destination())
                }
                NetSlice::Ipv6(v6) => {
                    let ih = v6.header();
                    tcp.calc_checksum_ipv6(ih.source(), ih.destination())
                }
                _ => unreachable!(),
            };
            assert_eq!(
                tcp.checksum(),
                theirs.unwrap(),
                "TCP checksum per etherparse"
            );
            let opts = tcp.options();
            let mss = (!opts.is_empty()).then(|| {
                assert_eq!(&opts[..2], &[2, 4], "MSS option");
                u16::from_be_bytes([opts[2], opts[3]])
            });
            Decoded {
                src: SocketAddr::new(src_ip, tcp.source_port()),
                dst: SocketAddr::new(dst_ip, tcp.destination_port()),
                payload: tcp.payload().to_vec(),
                tcp: Some(TcpInfo {
                    seq: tcp.sequence_number(),
                    ack: tcp.acknowledgment_number(),
                    syn: tcp.syn(),
                    ack_flag: tcp.ack(),
                    fin: tcp.fin(),
                    psh: tcp.psh(),
                    mss,
                }),
            }
        }
        other => panic!("unexpected transport {other:?}"),
    }
}

// ---- the scenario ----

/// What the test wrote, in order.
#[derive(Debug, Clone, PartialEq)]
enum Written {
    Secrets(String),
    Packet { ts: Duration },
}

struct Scenario {
    written: Vec<Written>,
    request: Vec<u8>,
    response: Vec<u8>,
    udp: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
}

const MSS: u16 = 100;
const ISN_C: u32 = 0xffff_ffc0; // wraps during the request
const ISN_S: u32 = 7;

fn write_scenario(path: &Path) -> Scenario {
    let mut cap = CaptureFile::create(path, Overwrite::Refuse).unwrap();
    let mut written = Vec::new();
    cap.secrets(KEYLOG_1).unwrap();
    written.push(Written::Secrets(KEYLOG_1.into()));

    let v4c = addr("192.0.2.1:40000");
    let v4s = addr("198.51.100.7:21077");
    let v6c = addr("[2001:db8::1]:40001");
    let v6s = addr("[2001:db8::2]:21077");
    let udp = vec![
        (v4c, v4s, (0..37u8).collect::<Vec<u8>>()), // odd length
        (v6c, v6s, (0..1200u32).map(|i| (i * 7) as u8).collect()),
        (v4s, v4c, Vec::new()), // empty datagram
        (v6s, v6c, vec![0xff; 3]),
    ];
    for (i, (from, to, payload)) in udp.iter().enumerate() {
        let ts = t(i as u64);
        cap.udp(ts, *from, *to, payload).unwrap();
        written.push(Written::Packet { ts });
    }
    cap.secrets(KEYLOG_2).unwrap();
    written.push(Written::Secrets(KEYLOG_2.into()));

    let request: Vec<u8> =
        b"POST /.well-known/rud HTTP/1.1\r\ncontent-type: application/rud\r\n\r\n"
            .iter()
            .copied()
            .chain((0..200u32).map(|i| i as u8))
            .collect();
    let response: Vec<u8> = b"HTTP/1.1 200 OK\r\n\r\n"
        .iter()
        .copied()
        .chain([9u8; 130])
        .collect();
    let config = TcpFlowConfig {
        mss: MSS,
        client_isn: ISN_C,
        server_isn: ISN_S,
        ..TcpFlowConfig::default()
    };
    let mut flow = TcpFlow::new(addr("192.0.2.1:50000"), addr("198.51.100.7:80"), config).unwrap();
    let steps = [
        (TcpStep::Open, 3),
        (
            TcpStep::Send(Side::Client, &request),
            request.len().div_ceil(MSS as usize),
        ),
        (
            TcpStep::Send(Side::Server, &response),
            response.len().div_ceil(MSS as usize),
        ),
        (TcpStep::Close(Side::Client), 2),
        (TcpStep::Close(Side::Server), 2),
    ];
    for (i, (step, packets)) in steps.into_iter().enumerate() {
        let ts = t(10 + i as u64);
        cap.tcp_flow(ts, &mut flow, step).unwrap();
        written.extend(std::iter::repeat_n(Written::Packet { ts }, packets));
    }
    cap.finish().unwrap();
    Scenario {
        written,
        request,
        response,
        udp,
    }
}

#[test]
fn every_block_reads_back() {
    let path = scratch("blocks.pcapng");
    let sc = write_scenario(&path);
    let file = std::fs::read(&path).unwrap();
    let blocks = walk(&file);

    // Section header: little-endian magic, version 1.0, unknown section length, the
    // application named, options terminated.
    let shb = &blocks[0];
    assert_eq!(shb.ty, SHB);
    assert_eq!(&shb.body[..4], &[0x4d, 0x3c, 0x2b, 0x1a]);
    assert_eq!((le16(&shb.body, 4), le16(&shb.body, 6)), (1, 0));
    assert_eq!(&shb.body[8..16], &[0xff; 8]);
    let shb_opts = options(&shb.body[16..]);
    assert_eq!(shb_opts[0].0, 4);
    assert!(
        String::from_utf8(shb_opts[0].1.clone())
            .unwrap()
            .starts_with("rud ")
    );

    // Interface: raw IP, no snap length, nanosecond timestamps.
    let idb = &blocks[1];
    assert_eq!(idb.ty, IDB);
    assert_eq!(le16(&idb.body, 0), 101);
    assert_eq!(le32(&idb.body, 4), 0);
    let idb_opts = options(&idb.body[8..]);
    assert!(
        idb_opts.contains(&(9, vec![9])),
        "if_tsresol = 9: {idb_opts:?}"
    );

    // Then exactly what was written, in order.
    assert_eq!(blocks.len(), 2 + sc.written.len());
    let mut packets = Vec::new();
    for (b, w) in blocks[2..].iter().zip(&sc.written) {
        match w {
            Written::Secrets(text) => {
                assert_eq!(b.ty, DSB);
                assert_eq!(le32(&b.body, 0), RUDK);
                let len = le32(&b.body, 4) as usize;
                assert_eq!(len, text.len());
                assert_eq!(&b.body[8..8 + len], text.as_bytes());
                assert!(b.body[8 + len..].iter().all(|&x| x == 0));
                assert_eq!(b.body.len(), 8 + len.div_ceil(4) * 4, "DSB has no options");
                assert_eq!(b.total_len as usize, 12 + b.body.len());
            }
            Written::Packet { ts } => {
                assert_eq!(b.ty, EPB);
                assert_eq!(le32(&b.body, 0), 0, "interface 0");
                let raw_ts = u64::from(le32(&b.body, 4)) << 32 | u64::from(le32(&b.body, 8));
                assert_eq!(
                    u128::from(raw_ts),
                    ts.as_nanos(),
                    "timestamp in nanoseconds"
                );
                let (cap_len, orig_len) = (le32(&b.body, 12) as usize, le32(&b.body, 16));
                assert_eq!(cap_len as u32, orig_len);
                let data = &b.body[20..20 + cap_len];
                assert!(
                    b.body[20 + cap_len..].iter().all(|&x| x == 0),
                    "EPB padding"
                );
                assert_eq!(
                    b.body.len(),
                    20 + cap_len.div_ceil(4) * 4,
                    "EPB has no options"
                );
                packets.push(data.to_vec());
            }
        }
    }

    // UDP: addresses, ports, payloads, checksums.
    for ((from, to, payload), packet) in sc.udp.iter().zip(&packets) {
        let d = decode(packet);
        assert_eq!((d.src, d.dst), (*from, *to));
        assert_eq!(&d.payload, payload);
        assert_eq!(packet, &udp_packet(*from, *to, payload).unwrap());
    }

    // TCP: handshake, segments, reassembly, FINs.
    let tcp: Vec<Decoded> = packets[sc.udp.len()..].iter().map(|p| decode(p)).collect();
    check_tcp(&tcp, &sc.request, &sc.response);
    std::fs::remove_file(&path).unwrap();
}

fn check_tcp(seg: &[Decoded], request: &[u8], response: &[u8]) {
    let c = addr("192.0.2.1:50000");
    let info: Vec<TcpInfo> = seg.iter().map(|d| d.tcp.unwrap()).collect();
    // SYN, SYN-ACK, ACK.
    assert!(info[0].syn && !info[0].ack_flag && info[0].seq == ISN_C && info[0].mss == Some(MSS));
    assert!(info[1].syn && info[1].ack_flag && info[1].seq == ISN_S);
    assert_eq!(info[1].ack, ISN_C.wrapping_add(1));
    assert_eq!(info[1].mss, Some(MSS));
    assert!(!info[2].syn && info[2].ack_flag && info[2].mss.is_none());
    assert_eq!(
        (info[2].seq, info[2].ack),
        (ISN_C.wrapping_add(1), ISN_S + 1)
    );

    // Replay the conversation: every segment's seq is the sender's next octet and its ack
    // everything the other side sent; the data reassembles to what was sent.
    let mut next = [ISN_C.wrapping_add(1), ISN_S + 1]; // [client, server]
    let mut streams = [Vec::new(), Vec::new()];
    let mut fins = [false, false];
    for (d, i) in seg[3..].iter().zip(&info[3..]) {
        let s = usize::from(d.src != c);
        assert!(!i.syn && i.ack_flag, "every later segment has ACK");
        assert_eq!(i.seq, next[s], "seq of segment from side {s}");
        assert_eq!(i.ack, next[1 - s], "ack of segment from side {s}");
        assert!(d.payload.len() <= MSS as usize);
        if fins[s] {
            assert!(d.payload.is_empty() && !i.fin, "only ACKs after a FIN");
        }
        streams[s].extend_from_slice(&d.payload);
        next[s] = next[s].wrapping_add(d.payload.len() as u32 + u32::from(i.fin));
        fins[s] |= i.fin;
    }
    assert_eq!(streams[0], request);
    assert_eq!(streams[1], response);
    assert_eq!(fins, [true, true]);
    // PSH exactly on the last data segment of each write.
    let psh: Vec<bool> = info[3..].iter().map(|i| i.psh).collect();
    let r = request.len().div_ceil(MSS as usize);
    let q = response.len().div_ceil(MSS as usize);
    let mut want = vec![false; psh.len()];
    want[r - 1] = true;
    want[r + q - 1] = true;
    assert_eq!(psh, want);
    // Close: FIN|ACK from the client, the server's ACK, then the same the other way.
    let tail: Vec<(bool, bool)> = info[3 + r + q..]
        .iter()
        .map(|i| (i.fin, i.ack_flag))
        .collect();
    assert_eq!(
        tail,
        [(true, true), (false, true), (true, true), (false, true)]
    );
}

#[test]
fn pcap_file_reads_it() {
    let path = scratch("pcapfile.pcapng");
    let sc = write_scenario(&path);
    let mut reader = PcapNgReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let section = reader.section().clone();
    assert_eq!(section.endianness, pcap_file::Endianness::Little);
    assert_eq!((section.major_version, section.minor_version), (1, 0));
    assert_eq!(section.section_length, -1);
    assert!(
        matches!(&section.options[..], [SectionHeaderOption::UserApplication(a)] if a.starts_with("rud "))
    );

    let mut seen = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.unwrap() {
            Block::InterfaceDescription(idb) => {
                assert_eq!(idb.linktype, DataLink::RAW);
                assert_eq!(idb.snaplen, 0);
                assert!(
                    idb.options
                        .contains(&InterfaceDescriptionOption::IfTsResol(9))
                );
            }
            Block::EnhancedPacket(epb) => {
                assert_eq!(epb.interface_id, 0);
                assert_eq!(epb.original_len as usize, epb.data.len());
                decode(&epb.data);
                // pcap-file 2.0 reads the timestamp as nanoseconds whatever if_tsresol says,
                // which is right for this file's resolution.
                seen.push(Written::Packet { ts: epb.timestamp });
            }
            Block::Unknown(b) => {
                assert_eq!(b.type_, DSB);
                assert_eq!(u32::from_le_bytes(b.value[..4].try_into().unwrap()), RUDK);
                let len = u32::from_le_bytes(b.value[4..8].try_into().unwrap()) as usize;
                seen.push(Written::Secrets(
                    String::from_utf8(b.value[8..8 + len].to_vec()).unwrap(),
                ));
            }
            other => panic!("unexpected block {other:?}"),
        }
    }
    assert_eq!(seen, sc.written);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn tshark_reads_it() {
    if Command::new("tshark").arg("--version").output().is_err() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "CI=true but tshark is not installed (.ci/run installs it)"
        );
        println!("SKIPPED (not in CI): tshark not installed");
        return;
    }
    let path = scratch("tshark.pcapng");
    let sc = write_scenario(&path);
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args([
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args(["-o", "ip.check_checksum:TRUE"])
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "udp.srcport",
            "-e",
            "udp.payload",
            "-e",
            "ip.checksum.status",
        ])
        .args(["-e", "udp.checksum.status", "-e", "tcp.checksum.status"])
        .args(["-e", "_ws.expert.severity"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    let packets = sc
        .written
        .iter()
        .filter(|w| matches!(w, Written::Packet { .. }))
        .count();
    assert_eq!(lines.len(), packets, "tshark output:\n{text}");
    for ((from, _, payload), line) in sc.udp.iter().zip(&lines) {
        assert_eq!(line[0], from.port().to_string());
        assert_eq!(line[1], hex::encode(payload), "udp.payload");
    }
    for (i, line) in lines.iter().enumerate() {
        // Checksum status 1 is "good"; IPv6 has no header checksum, so that field is empty.
        let statuses: Vec<&str> = line[2..5]
            .iter()
            .copied()
            .filter(|s| !s.is_empty())
            .collect();
        assert!(
            !statuses.is_empty() && statuses.iter().all(|s| *s == "1"),
            "packet {i}: {line:?}"
        );
        // Expert infos: 2097152 is chat and 4194304 note (connection setup and close); a
        // warning (6291456) or an error (8388608) means tshark saw something wrong.
        for sev in line[5].split(',').filter(|s| !s.is_empty()) {
            assert!(
                ["2097152", "4194304"].contains(&sev),
                "packet {i}: expert {sev}\n{text}"
            );
        }
    }

    // The TCP stream as tshark reassembles it.
    let follow = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-q", "-z", "follow,tcp,raw,0"])
        .output()
        .unwrap();
    let text = String::from_utf8(follow.stdout).unwrap();
    let chunks: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    assert_eq!(
        chunks.concat(),
        hex::encode([&sc.request[..], &sc.response].concat()),
        "{text}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn refuses_to_overwrite_unless_told() {
    let path = scratch("exists.pcapng");
    std::fs::write(&path, b"precious").unwrap();
    let err = CaptureFile::create(&path, Overwrite::Refuse).unwrap_err();
    assert!(
        matches!(&err, CaptureError::Exists { path: p } if p == &path),
        "{err}"
    );
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");

    let cap = CaptureFile::create(&path, Overwrite::Replace).unwrap();
    cap.finish().unwrap();
    let file = std::fs::read(&path).unwrap();
    assert_eq!(
        walk(&file).len(),
        2,
        "only the two header blocks: the old content is gone"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "captures carry secrets");
    }
    std::fs::remove_file(&path).unwrap();
}

#[cfg(unix)]
#[test]
fn never_writes_through_a_symlink_or_to_a_directory() {
    let target = scratch("target");
    let link = scratch("link.pcapng");
    std::fs::write(&target, b"not yours").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for overwrite in [Overwrite::Refuse, Overwrite::Replace] {
        let err = CaptureFile::create(&link, overwrite).unwrap_err();
        assert!(
            matches!(
                err,
                CaptureError::Exists { .. } | CaptureError::NotRegularFile { .. }
            ),
            "{err}"
        );
    }
    assert_eq!(std::fs::read(&target).unwrap(), b"not yours");
    let err = CaptureFile::create(&std::env::temp_dir(), Overwrite::Replace).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::NotRegularFile { .. } | CaptureError::Create { .. }
        ),
        "{err}"
    );
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(&target).unwrap();
}

#[test]
fn frame_limits_and_address_families() {
    let (v4a, v4b) = (addr("10.0.0.1:1"), addr("10.0.0.2:2"));
    let (v6a, v6b) = (addr("[2001:db8::1]:1"), addr("[2001:db8::2]:2"));
    assert!(matches!(
        udp_packet(v4a, v6b, b"x"),
        Err(FrameError::AddressFamilyMismatch { .. })
    ));
    // A dual-stack socket's IPv4-mapped peer next to an IPv4 local address is IPv4.
    let mapped = addr("[::ffff:10.0.0.2]:2");
    let p = udp_packet(v4a, mapped, b"x").unwrap();
    assert_eq!(p, udp_packet(v4a, v4b, b"x").unwrap());
    // The 16-bit length fields bound the payload.
    assert_eq!(
        decode(&udp_packet(v4a, v4b, &vec![1; 65507]).unwrap())
            .payload
            .len(),
        65507
    );
    assert!(matches!(
        udp_packet(v4a, v4b, &vec![1; 65508]),
        Err(FrameError::PayloadTooLarge { max: 65507, .. })
    ));
    assert_eq!(
        decode(&udp_packet(v6a, v6b, &vec![1; 65527]).unwrap())
            .payload
            .len(),
        65527
    );
    assert!(matches!(
        udp_packet(v6a, v6b, &vec![1; 65528]),
        Err(FrameError::PayloadTooLarge { max: 65527, .. })
    ));
}

#[test]
fn udp_checksum_of_zero_is_sent_as_ffff() {
    let (a, b) = (addr("192.0.2.1:1000"), addr("192.0.2.2:2000"));
    // With a trailing zero word the checksum is C; putting C in that word makes the sum
    // 0xffff, whose complement 0 must go on the wire as 0xffff (RFC 768).
    let first = udp_packet(a, b, &[0, 0]).unwrap();
    let c = u16::from_be_bytes([first[26], first[27]]);
    let p = udp_packet(a, b, &c.to_be_bytes()).unwrap();
    assert_eq!(&p[26..28], &[0xff, 0xff]);
    decode(&p);
}

#[test]
fn tcp_flow_refuses_steps_out_of_order() {
    let (c, s) = (addr("[2001:db8::1]:5000"), addr("[2001:db8::2]:80"));
    for mss in [0, 65512] {
        let cfg = TcpFlowConfig {
            mss,
            ..TcpFlowConfig::default()
        };
        assert!(matches!(
            TcpFlow::new(c, s, cfg),
            Err(FrameError::BadMss { .. })
        ));
    }
    let cfg = TcpFlowConfig {
        mss: 65511,
        ..TcpFlowConfig::default()
    };
    let mut big = TcpFlow::new(c, s, cfg).unwrap();
    big.open().unwrap();
    let segs = big.send(Side::Server, &vec![5; 65512]).unwrap();
    assert_eq!(
        segs.iter()
            .map(|p| decode(p).payload.len())
            .collect::<Vec<_>>(),
        [65511, 1]
    );

    let mut flow = TcpFlow::new(c, s, TcpFlowConfig::default()).unwrap();
    assert!(matches!(
        flow.send(Side::Client, b"x"),
        Err(FrameError::TcpState { .. })
    ));
    assert!(matches!(
        flow.close(Side::Client),
        Err(FrameError::TcpState { .. })
    ));
    flow.open().unwrap();
    assert!(matches!(flow.open(), Err(FrameError::TcpState { .. })));
    assert!(flow.send(Side::Client, b"").unwrap().is_empty());
    flow.close(Side::Client).unwrap();
    let before = flow.clone();
    assert!(matches!(
        flow.send(Side::Client, b"x"),
        Err(FrameError::TcpClosed { side: Side::Client })
    ));
    assert!(matches!(
        flow.close(Side::Client),
        Err(FrameError::TcpClosed { .. })
    ));
    assert_eq!(flow, before, "a refused step leaves the flow as it was");
    // Half-close: the server may still send, acknowledging the client's FIN.
    let seg = flow.send(Side::Server, b"late").unwrap();
    let d = decode(&seg[0]);
    assert_eq!(d.tcp.unwrap().ack, flow.next_seq(Side::Client));
}

/// A writer that fails after `left` octets.
struct Failing {
    left: usize,
}

impl std::io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_are_typed_and_stop_the_writer() {
    assert!(matches!(
        PcapngWriter::new(Failing { left: 10 }),
        Err(PcapngError::Io(_))
    ));
    let mut w = PcapngWriter::new(Failing { left: 200 }).unwrap();
    let packet = udp_packet(addr("10.0.0.1:1"), addr("10.0.0.2:2"), &[0; 200]).unwrap();
    assert!(matches!(w.packet(t(0), &packet), Err(PcapngError::Io(_))));
    // The first block was cut short: nothing may follow it.
    assert!(matches!(
        w.packet(t(1), &packet),
        Err(PcapngError::Poisoned)
    ));
    assert!(matches!(w.secrets(KEYLOG_1), Err(PcapngError::Poisoned)));

    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let len = w.get_ref().len();
    assert!(matches!(
        w.packet(Duration::MAX, &packet),
        Err(PcapngError::Timestamp { .. })
    ));
    assert_eq!(
        w.get_ref().len(),
        len,
        "nothing written for a refused packet"
    );
    // The largest timestamp that fits: 2^64 - 1 ns.
    w.packet(Duration::from_nanos(u64::MAX), &packet).unwrap();
    assert_eq!(w.packets_written(), 1);
}
