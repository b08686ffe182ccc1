//! The transaction layer's cost per SIP exchange, as the B2BUA pays it on every call:
//! - server INVITE: INVITE in, 100 and 200 out, the transaction ends (per call on the A-leg);
//! - client INVITE: INVITE out, 180 and 200 in (per call on the B-leg);
//! - server non-INVITE: BYE in, 200 out;
//! - a retransmitted INVITE absorbed by an existing transaction.
//!
//! Requests are built in the loop (as the engine does); virtual time advances 1 ms per call and
//! timers run, so finished transactions leave as they would in service.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use hotline::sip::message::SipMessage;
use hotline::sip::transaction::{
    new_branch, Output, Peer, TimerConfig, TransactionLayer, TryingPolicy, TxEvent,
};

fn invite(branch: &str, call: u64) -> SipMessage {
    SipMessage::parse(format!(
        "INVITE sip:12345@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch={branch}\r\nMax-Forwards: 70\r\nFrom: <sip:138@10.0.0.9>;tag=f{call}\r\nTo: <sip:12345@10.0.0.1>\r\nCall-ID: c{call}@10.0.0.9\r\nCSeq: 1 INVITE\r\nContact: <sip:138@10.0.0.9>\r\nContent-Length: 0\r\n\r\n"
    ).into_bytes())
    .expect("valid INVITE")
}

fn drain(tx: &mut TransactionLayer) -> usize {
    let mut n = 0;
    while let Some(o) = tx.poll_output() {
        black_box(&o);
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let peer = Peer::udp("10.0.0.9:5060".parse::<SocketAddr>().unwrap());
    let cfg = TimerConfig {
        trying: TryingPolicy::Immediate,
        ..TimerConfig::default()
    };
    let start = Instant::now();

    c.bench_function("server INVITE: INVITE in, 100 + 200 out", |b| {
        let mut tx = TransactionLayer::new(cfg);
        let mut call = 0u64;
        b.iter(|| {
            call += 1;
            let now = start + std::time::Duration::from_millis(call);
            tx.handle_timeout(now);
            tx.handle_incoming(invite(&new_branch(), call), peer, now)
                .unwrap();
            let mut key = None;
            while let Some(o) = tx.poll_output() {
                if let Output::Event(TxEvent::Request {
                    key: k, request, ..
                }) = o
                {
                    key = Some((k, request));
                }
            }
            let (key, req) = key.expect("request event");
            let ok = SipMessage::response_to(&req, 200, "OK", Some("t"));
            tx.send_response(&key, &ok, now).unwrap();
            drain(&mut tx);
        })
    });

    c.bench_function("server INVITE: retransmission absorbed", |b| {
        let mut tx = TransactionLayer::new(cfg);
        let now = start;
        let msg = invite("z9hG4bKretransmitted", 1);
        tx.handle_incoming(msg.clone(), peer, now).unwrap();
        drain(&mut tx);
        b.iter(|| {
            tx.handle_incoming(msg.clone(), peer, now).unwrap();
            drain(&mut tx)
        })
    });

    c.bench_function("client INVITE: INVITE out, 180 + 200 in", |b| {
        let mut tx = TransactionLayer::new(cfg);
        let mut call = 0u64;
        b.iter(|| {
            call += 1;
            let now = start + std::time::Duration::from_millis(call);
            tx.handle_timeout(now);
            let req = invite(&new_branch(), call);
            let ringing = SipMessage::response_to(&req, 180, "Ringing", Some("b")).to_bytes();
            let ok = SipMessage::response_to(&req, 200, "OK", Some("b")).to_bytes();
            tx.send_request(req, peer, now).unwrap();
            drain(&mut tx);
            tx.handle_incoming(SipMessage::parse(ringing).unwrap(), peer, now)
                .unwrap();
            tx.handle_incoming(SipMessage::parse(ok).unwrap(), peer, now)
                .unwrap();
            drain(&mut tx)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
