//! Parse speed of our SIP message layer against rsip 0.4 on the same bytes:
//! an 888-byte INVITE with SDP, a 200 OK, and "parse + top-Via branch + CSeq + From tag".
//! Run: cargo bench --bench sip_parse -- --warm-up-time 1 --measurement-time 3

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hotline::sip::message::SipMessage;
use rsip::prelude::*;

const INVITE: &[u8] = include_bytes!("../tests/corpus/real-invite-sdp-888.sip");
const OK200: &[u8] = include_bytes!("../tests/corpus/real-200-ok.sip");

fn ours_parse(b: &Bytes) -> SipMessage {
    SipMessage::parse(b.clone()).expect("our parser accepts the bench message")
}

fn rsip_parse(b: &[u8]) -> rsip::SipMessage {
    rsip::SipMessage::try_from(b).expect("rsip accepts the bench message")
}

fn bench(c: &mut Criterion) {
    assert_eq!(INVITE.len(), 888);
    let inv = Bytes::from_static(INVITE);
    let ok = Bytes::from_static(OK200);

    let mut g = c.benchmark_group("parse_invite_888");
    g.bench_function("hotline", |b| b.iter(|| ours_parse(black_box(&inv))));
    g.bench_function("rsip", |b| b.iter(|| rsip_parse(black_box(INVITE))));
    g.finish();

    let mut g = c.benchmark_group("parse_200_ok");
    g.bench_function("hotline", |b| b.iter(|| ours_parse(black_box(&ok))));
    g.bench_function("rsip", |b| b.iter(|| rsip_parse(black_box(OK200))));
    g.finish();

    let mut g = c.benchmark_group("parse_branch_cseq_fromtag");
    g.bench_function("hotline", |b| {
        b.iter(|| {
            let m = ours_parse(black_box(&inv));
            let via = m.top_via().expect("via");
            let branch_len = via.branch().map_or(0, str::len);
            let cseq = m.cseq().expect("cseq");
            let from = m.from().expect("from");
            black_box((branch_len, cseq.seq, from.tag().map(str::len)))
        })
    });
    g.bench_function("rsip", |b| {
        b.iter(|| {
            let m = rsip_parse(black_box(INVITE));
            let via = m.via_header().expect("via").typed().expect("typed via");
            let branch_len = via.branch().map_or(0, |b| b.to_string().len());
            let cseq = m.cseq_header().expect("cseq").typed().expect("typed cseq");
            let tag = m.from_header().expect("from").tag().expect("tag");
            black_box((branch_len, cseq.seq, tag.map(|t| t.to_string().len())))
        })
    });
    g.finish();

    let m = ours_parse(&inv);
    let r = rsip_parse(INVITE);
    let mut g = c.benchmark_group("serialize_invite");
    g.bench_function("hotline", |b| b.iter(|| black_box(&m).to_bytes()));
    g.bench_function("rsip", |b| b.iter(|| black_box(&r).to_string()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
