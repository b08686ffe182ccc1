//! A trunk's `codecs` list limits what hotline offers on calls from and to that trunk.

use super::harness::*;
use crate::sip::message::Method;

#[test]
fn an_inbound_trunk_limited_to_pcma_offers_only_pcma_to_the_agent() {
    let mut b = Bench::with_profiles(&PROFILES.replace(
        "channels = 1\n",
        "channels = 1\ncodecs = [\"PCMA\", \"telephone-event\"]\n",
    ));
    b.recv_text(&carrier_invite("codec-1", "12345"), CARRIER);
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    let body = inv.body();
    let m = body
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .expect("an audio line");
    assert!(m.ends_with(" RTP/AVP 8 101"), "{m}");
    assert!(!body.contains("PCMU"), "{body}");
}

#[test]
fn a_trunk_with_no_common_codec_refuses_with_488() {
    let mut b = Bench::with_profiles(&PROFILES.replace(
        "channels = 1\n",
        "channels = 1\ncodecs = [\"telephone-event\"]\n",
    ));
    b.recv_text(&carrier_invite("codec-2", "12345"), CARRIER);
    b.expect_response(488, Method::Invite, CARRIER);
}
