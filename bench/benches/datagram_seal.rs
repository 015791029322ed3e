//! Cost of RUD's per-datagram keys against raw AES-256-GCM, measured side by side.
//!
//! RUD derives a fresh AES-256-GCM key for every datagram (draft section 3.5.2). The design
//! target is that sealing and opening a 1200-byte single-packet datagram costs at most 1.5
//! times a raw AES-256-GCM seal and open of the same bytes under a pre-built key. This
//! benchmark measures, in one run:
//!
//! - `datagram_seal/raw_aes256gcm`: seal + open with an `aes_gcm::Aes256Gcm` built once;
//! - `datagram_seal/rud_datagram`: `DatagramSealer` + `DatagramOpener`, i.e. derive K_n on
//!   each side (four AES blocks under the stream key, then the GCM key setup), seal, open;
//! - `kdf/hkdf_sha512_extract_expand`, `x448/dh` and `x448/public_key`, for reference.
//!
//! At the end it prints the ratio rud/raw from criterion's estimates, and from a plain
//! interleaved loop of its own (less precise, but independent of criterion's files).
//!
//! Run with `cargo bench -p rud-bench`.

// A benchmark is not library code: failing loudly on a broken setup is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{Criterion, Throughput};
use rud::connection::packetize::SealedDatagram;
use rud::connection::reassembly::{Reassembler, ReassemblyConfig};
use rud::crypto::datagram_key::{DatagramOpener, DatagramSealer};
use rud::crypto::hkdf;
use rud::crypto::stream_key::{TrafficSecret, derive_stream_key};
use rud::crypto::x448::X448Secret;
use rud::crypto::{CryptoProvider, SecretBytes, default_provider};
use rud::wire::{
    DataPlaintext, Datagram, DatagramFlags, ExtensionList, MessageType, StreamId, split_aad,
};

const SIZE: usize = 1200;
const AAD: &[u8] = b"\x01\x02\x03\x04\x05\x06\x07\x08\x40\x2a";

/// Raw AES-256-GCM with a key built once: seal then open, nonce advancing.
struct Raw {
    cipher: aes_gcm::Aes256Gcm,
    n: u64,
    buf: Vec<u8>,
}

impl Raw {
    fn new() -> Self {
        Self {
            cipher: aes_gcm::Aes256Gcm::new(&[0x11u8; 32].into()),
            n: 0,
            buf: vec![0x5a; SIZE],
        }
    }

    fn round(&mut self) {
        self.n += 1;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.n.to_be_bytes());
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce.into(), AAD, self.buf.as_mut_slice().into())
            .unwrap();
        self.cipher
            .decrypt_inout_detached(&nonce.into(), AAD, self.buf.as_mut_slice().into(), &tag)
            .unwrap();
        black_box(&self.buf);
    }
}

/// RUD: the sealer allocates n and derives K_n, the opener derives K_n again and opens.
struct Rud {
    sealer: DatagramSealer,
    opener: DatagramOpener,
    buf: Vec<u8>,
}

impl Rud {
    fn new(provider: &Arc<dyn CryptoProvider>) -> Self {
        let ts = TrafficSecret::new(SecretBytes::new([0x22; 64]));
        Self {
            sealer: DatagramSealer::new(derive_stream_key(provider.clone(), &ts, 1).unwrap()),
            opener: DatagramOpener::new(derive_stream_key(provider.clone(), &ts, 1).unwrap()),
            buf: vec![0x5a; SIZE],
        }
    }

    fn round(&mut self) {
        let slot = self.sealer.reserve().unwrap();
        let n = slot.counter();
        let tag = slot.seal(AAD, &mut self.buf).unwrap();
        self.opener.open(n, AAD, &mut self.buf, &tag).unwrap();
        black_box(&self.buf);
    }
}

/// RUD's whole packet path: encode and seal a 1200-octet DataPlaintext as one packet
/// (`SealedDatagram`), then decode, reassemble, open and check the replay window
/// (`Reassembler`), as the connection does for every single-packet datagram.
struct RudPacket {
    sealer: DatagramSealer,
    reassembler: Reassembler,
    plaintext: Vec<u8>,
}

impl RudPacket {
    fn new(provider: &Arc<dyn CryptoProvider>) -> Self {
        let ts = TrafficSecret::new(SecretBytes::new([0x33; 64]));
        let opener = DatagramOpener::new(derive_stream_key(provider.clone(), &ts, 1).unwrap());
        let mut plaintext = Vec::new();
        DataPlaintext {
            extensions: ExtensionList::default(),
            payload: &[0x5a; SIZE - 3],
            padding: 0,
        }
        .encode(&mut plaintext)
        .unwrap();
        assert_eq!(plaintext.len(), SIZE);
        Self {
            sealer: DatagramSealer::new(derive_stream_key(provider.clone(), &ts, 1).unwrap()),
            reassembler: Reassembler::with_config(
                opener,
                MessageType::INITIATOR_DATA,
                ReassemblyConfig::default(),
            ),
            plaintext,
        }
    }

    fn round(&mut self) {
        let d = SealedDatagram::seal(
            &mut self.sealer,
            StreamId(&[7; 16]),
            MessageType::INITIATOR_DATA,
            DatagramFlags(DatagramFlags::FINAL),
            &self.plaintext,
            1260,
        )
        .unwrap();
        let packet = d.packet(0, 0, 0).unwrap();
        let Datagram::Data(pkt) = Datagram::decode(&packet).unwrap() else {
            panic!("not a data packet")
        };
        let (aad, _) = split_aad(&packet).unwrap();
        black_box(self.reassembler.receive(&pkt, aad).unwrap().unwrap());
    }
}

fn bench_datagram(c: &mut Criterion, provider: &Arc<dyn CryptoProvider>) {
    let mut g = c.benchmark_group("datagram_seal");
    g.throughput(Throughput::Bytes(SIZE as u64));
    let mut raw = Raw::new();
    g.bench_function("raw_aes256gcm", |b| b.iter(|| raw.round()));
    let mut rud = Rud::new(provider);
    g.bench_function("rud_datagram", |b| b.iter(|| rud.round()));
    let mut packet = RudPacket::new(provider);
    g.bench_function("rud_packet_path", |b| b.iter(|| packet.round()));
    g.finish();
}

fn bench_reference(c: &mut Criterion, provider: &Arc<dyn CryptoProvider>) {
    let p = &**provider;
    let mut g = c.benchmark_group("kdf");
    g.bench_function("hkdf_sha512_extract_expand", |b| {
        b.iter(|| {
            let prk = hkdf::extract(p, black_box(b"salt"), &[black_box(&[7u8; 56])]);
            let mut okm = [0u8; 32];
            hkdf::expand(p, &prk, &[b"rud1 stream", &[0; 8]], &mut okm).unwrap();
            black_box(okm)
        });
    });
    g.finish();
    let a = X448Secret::from_bytes([0x31; 56]);
    let peer = X448Secret::from_bytes([0x47; 56]).public_key(p);
    let mut g = c.benchmark_group("x448");
    g.bench_function("dh", |b| {
        b.iter(|| black_box(a.diffie_hellman(p, black_box(&peer)).unwrap()));
    });
    g.bench_function("public_key", |b| {
        b.iter(|| black_box(black_box(&a).public_key(p)));
    });
    g.finish();
}

/// Where criterion writes its estimates (the same rule as criterion's own default).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// Median estimate in nanoseconds of one benchmark, if criterion wrote it.
fn median_ns(id: &str) -> Option<f64> {
    let path = criterion_dir().join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Interleaved timing of both variants, independent of criterion: alternate short batches so
/// that frequency changes and other load hit both alike, and take the median batch of each so
/// that preemptions do not count.
fn side_by_side(provider: &Arc<dyn CryptoProvider>) -> (f64, f64, f64) {
    let mut raw = Raw::new();
    let mut rud = Rud::new(provider);
    let mut packet = RudPacket::new(provider);
    let batch = 200u32;
    let (mut t_raw, mut t_rud, mut t_packet) = (Vec::new(), Vec::new(), Vec::new());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        for _ in 0..batch {
            raw.round();
        }
        t_raw.push(t.elapsed().as_nanos() as f64 / f64::from(batch));
        let t = Instant::now();
        for _ in 0..batch {
            rud.round();
        }
        t_rud.push(t.elapsed().as_nanos() as f64 / f64::from(batch));
        let t = Instant::now();
        for _ in 0..batch {
            packet.round();
        }
        t_packet.push(t.elapsed().as_nanos() as f64 / f64::from(batch));
    }
    (
        median(&mut t_raw),
        median(&mut t_rud),
        median(&mut t_packet),
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let provider = default_provider();
    let mut c = Criterion::default().configure_from_args();
    bench_datagram(&mut c, &provider);
    bench_reference(&mut c, &provider);
    c.final_summary();

    // Only report when benchmarks actually ran (not under `cargo test --benches`).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("\n== RUD per-datagram key cost (1200-byte seal + open) ==");
    match (
        median_ns("datagram_seal/raw_aes256gcm"),
        median_ns("datagram_seal/rud_datagram"),
    ) {
        (Some(raw), Some(rud)) => println!(
            "criterion medians: raw {raw:.0} ns, rud {rud:.0} ns, ratio {:.3} (target <= 1.5)",
            rud / raw
        ),
        _ => println!(
            "criterion estimates not found under {}",
            criterion_dir().display()
        ),
    }
    if let (Some(raw), Some(packet)) = (
        median_ns("datagram_seal/raw_aes256gcm"),
        median_ns("datagram_seal/rud_packet_path"),
    ) {
        println!(
            "criterion medians: raw {raw:.0} ns, whole packet path {packet:.0} ns, ratio {:.3}",
            packet / raw
        );
    }
    let (raw, rud, packet) = side_by_side(&provider);
    println!(
        "interleaved loop (median of 200-round batches): raw {raw:.0} ns, rud {rud:.0} ns, ratio {:.3} (target <= 1.5)",
        rud / raw
    );
    println!(
        "interleaved loop: whole packet path (encode, seal, decode, reassemble, open) {packet:.0} ns, ratio {:.3}",
        packet / raw
    );
    for id in [
        "kdf/hkdf_sha512_extract_expand",
        "x448/dh",
        "x448/public_key",
    ] {
        if let Some(ns) = median_ns(id) {
            println!("{id}: {:.2} us", ns / 1000.0);
        }
    }
}
