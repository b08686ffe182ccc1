//! Per-packet cost of the relay's hot path, without sockets: parse + latch check + counters + rewrite.
//!
//! Run: `cargo bench --bench rtp_relay`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotline::media::codec::g711;
use hotline::media::relay::{BridgeConfig, BridgeCore, Leg};
use hotline::media::rtp::{RtpHeader, RtpPacket};

fn packet(ssrc: u32) -> Vec<u8> {
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 1,
        timestamp: 160,
        ssrc,
    }
    .to_vec(&[0xd5; 160])
}

fn bench(c: &mut Criterion) {
    let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let mut g = c.benchmark_group("rtp_relay");
    g.throughput(Throughput::Elements(1));

    let buf = packet(7);
    g.bench_function("rtp_parse", |bench| {
        bench.iter(|| {
            let p = RtpPacket::parse(black_box(&buf)).unwrap();
            black_box((p.sequence(), p.timestamp(), p.ssrc(), p.payload().len()))
        })
    });

    // Plain pass-through: latched source, no rewriting needed.
    let t0 = Instant::now();
    let mut core = BridgeCore::new(Some(a), Some(b), BridgeConfig::default(), t0);
    let mut buf = packet(7);
    let mut seq = 0u16;
    g.bench_function("bridge_forward_passthrough", |bench| {
        bench.iter(|| {
            seq = seq.wrapping_add(1);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            black_box(core.on_packet(Leg::A, a, black_box(&mut buf), t0))
        })
    });

    // After a source switch every packet gets SSRC/seq/ts rewritten.
    let mut core = BridgeCore::new(Some(a), Some(b), BridgeConfig::default(), t0);
    core.on_packet(Leg::A, a, &mut packet(7), t0);
    let mut buf = packet(8);
    core.on_packet(Leg::A, a, &mut buf, t0 + Duration::from_millis(20));
    g.bench_function("bridge_forward_rewriting", |bench| {
        bench.iter(|| {
            seq = seq.wrapping_add(1);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            buf[8..12].copy_from_slice(&8u32.to_be_bytes());
            black_box(core.on_packet(Leg::A, a, black_box(&mut buf), t0))
        })
    });

    let stranger: SocketAddr = "10.6.6.6:666".parse().unwrap();
    g.bench_function("bridge_drop_hijack", |bench| {
        bench.iter(|| black_box(core.on_packet(Leg::A, stranger, black_box(&mut buf), t0)))
    });

    let mut payload = [0x55u8; 160];
    g.bench_function("g711_ulaw_to_alaw_160", |bench| {
        bench.iter(|| g711::ulaw_to_alaw_in_place(black_box(&mut payload)))
    });
    let pcm: Vec<i16> = (0..160).map(|i| (i * 200 - 16000) as i16).collect();
    g.bench_function("g711_ulaw_encode_160", |bench| {
        bench.iter(|| {
            let mut out = [0u8; 160];
            for (o, s) in out.iter_mut().zip(black_box(&pcm)) {
                *o = g711::ulaw_encode(*s);
            }
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
