//! Requests the engine refuses or answers on its own: unknown numbers, strangers, stray in-dialog
//! requests, unknown methods, OPTIONS, missing media ports.

use super::harness::*;
use crate::sip::message::Method;

const STRANGER: &str = "198.51.100.99:5060";

#[test]
fn unknown_did_gets_404() {
    let mut b = Bench::new();
    b.recv_text(&carrier_invite("nodid", "99999"), CARRIER);
    let r = b.expect_response(404, Method::Invite, CARRIER);
    assert_eq!(r.call_id(), "nodid");
    assert!(!r.tag_to().is_empty());
    assert_eq!(b.count(|s| s.method() == Some(&Method::Invite)), 0);
    assert_eq!(b.e.active_calls(), 0);
    // The refused call gave its trunk channel back (channels = 1): the next call still rings.
    b.recv_text(&carrier_invite("okdid", "12345"), CARRIER);
    b.expect_request(Method::Invite, PHONE_1001);
}

#[test]
fn invite_from_a_stranger_without_credentials_is_challenged() {
    let mut b = Bench::new();
    let inv = request(
        "INVITE",
        "sip:12345@10.0.0.1:5060",
        STRANGER,
        "stranger1",
        "<sip:666@198.51.100.99>;tag=s1",
        "<sip:12345@10.0.0.1:5060>",
        "stranger-call",
        1,
        "Contact: <sip:666@198.51.100.99:5060>\r\n",
        &sdp("198.51.100.99", 30000, ""),
    );
    b.recv_text(&inv, STRANGER);
    let r = b.expect_response(407, Method::Invite, STRANGER);
    let challenges: Vec<&[u8]> = r.msg.headers("Proxy-Authenticate").collect();
    assert!(!challenges.is_empty(), "407 without Proxy-Authenticate");
    let first = String::from_utf8_lossy(challenges[0]).to_string();
    assert!(
        first.starts_with("Digest") && first.contains("realm=\"hotline.local\""),
        "{first}"
    );
    assert_eq!(b.count(|s| s.method() == Some(&Method::Invite)), 0);
    assert!(
        b.media_log().is_empty(),
        "no media for an unauthenticated call"
    );
}

#[test]
fn bye_for_an_unknown_dialog_gets_481() {
    let mut b = Bench::new();
    b.recv_text(
        &a_in_dialog("BYE", "never-existed", "x", 2, "bye-x"),
        CARRIER,
    );
    let r = b.expect_response(481, Method::Bye, CARRIER);
    assert_eq!(r.call_id(), "never-existed");
    // An in-dialog INFO the same.
    b.recv_text(
        &a_in_dialog("INFO", "never-existed", "x", 3, "info-x"),
        CARRIER,
    );
    b.expect_response(481, Method::Info, CARRIER);
    // An ACK for nothing is dropped silently.
    b.recv_text(
        &a_in_dialog("ACK", "never-existed", "x", 1, "ack-x"),
        CARRIER,
    );
    assert!(b.sent.is_empty(), "{}", b.dump());
}

#[test]
fn unknown_method_gets_501() {
    let mut b = Bench::new();
    let req = request(
        "FROBNICATE",
        "sip:12345@10.0.0.1:5060",
        CARRIER,
        "frob",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        "<sip:12345@10.0.0.1:5060>",
        "frob-1",
        1,
        "",
        "",
    );
    b.recv_text(&req, CARRIER);
    let r = b.expect("501 to FROBNICATE", |s| s.code() == Some(501));
    assert_eq!(r.call_id(), "frob-1");
    assert_eq!(r.peer, peer(CARRIER));
}

#[test]
fn options_is_answered_with_allow() {
    let mut b = Bench::new();
    let req = request(
        "OPTIONS",
        "sip:10.0.0.1:5060",
        CARRIER,
        "opt1",
        "<sip:ping@192.0.2.10>;tag=p1",
        "<sip:10.0.0.1:5060>",
        "opt-1",
        1,
        "",
        "",
    );
    b.recv_text(&req, CARRIER);
    let r = b.expect_response(200, Method::Options, CARRIER);
    let allow = r.hdr("Allow");
    for m in ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"] {
        assert!(allow.contains(m), "Allow lacks {m}: {allow}");
    }
    assert_eq!(r.hdr("Accept"), "application/sdp");
}

#[test]
fn subscribe_is_not_allowed_with_405_and_allow() {
    let mut b = Bench::new();
    let req = request(
        "SUBSCRIBE",
        "sip:12345@10.0.0.1:5060",
        CARRIER,
        "sub1",
        "<sip:x@192.0.2.10>;tag=s1",
        "<sip:12345@10.0.0.1:5060>",
        "sub-1",
        1,
        "Event: presence\r\n",
        "",
    );
    b.recv_text(&req, CARRIER);
    let r = b.expect_response(405, Method::Subscribe, CARRIER);
    assert!(r.hdr("Allow").contains("INVITE"));
}

#[test]
fn invite_without_sdp_gets_488_and_frees_the_channel() {
    let mut b = Bench::new();
    let inv = request(
        "INVITE",
        "sip:12345@10.0.0.1:5060",
        CARRIER,
        "nosdp",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        "<sip:12345@10.0.0.1:5060>",
        "nosdp-1",
        1,
        "",
        "",
    );
    b.recv_text(&inv, CARRIER);
    b.expect_response(488, Method::Invite, CARRIER);
    b.recv_text(&carrier_invite("after-488", "12345"), CARRIER);
    b.expect_request(Method::Invite, PHONE_1001);
}

#[test]
fn no_media_ports_gives_503_and_frees_the_channel() {
    let mut b = Bench::new();
    *b.media.exhausted.borrow_mut() = true;
    b.recv_text(&carrier_invite("noports", "12345"), CARRIER);
    let r = b.expect_response(503, Method::Invite, CARRIER);
    assert!(
        r.msg.reason_lossy().unwrap_or_default().contains("media"),
        "{:?}",
        r.msg.reason_lossy()
    );
    *b.media.exhausted.borrow_mut() = false;
    b.recv_text(&carrier_invite("ports-back", "12345"), CARRIER);
    b.expect_request(Method::Invite, PHONE_1001);
}

#[test]
fn a_repeated_call_id_without_tag_is_a_loop() {
    let mut b = Bench::new();
    b.recv_text(&carrier_invite("dup", "12345"), CARRIER);
    b.expect_request(Method::Invite, PHONE_1001);
    // Same Call-ID, another branch: a merged request (RFC 3261 §8.2.2.2).
    let again =
        carrier_invite("dup", "12345").replace("branch=z9hG4bKinv-dup", "branch=z9hG4bKother");
    b.recv_text(&again, CARRIER);
    b.expect_response(482, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn an_unparsable_sdp_offer_gets_488() {
    let mut b = Bench::new();
    let inv = carrier_invite("badsdp", "12345").replace("m=audio 30000 RTP/AVP 0 8 101", "m=audio");
    b.recv_text(&fix_length(&inv), CARRIER);
    let r = b.expect("a 4xx to the bad offer", |s| {
        s.call_id() == "badsdp" && s.code().is_some_and(|c| c >= 400)
    });
    assert_eq!(r.code(), Some(488), "{}", b.dump());
    assert_eq!(b.e.active_calls(), 0);
    assert!(b.media_log().is_empty());
}

#[test]
fn an_offer_without_a_common_codec_gets_488() {
    let mut b = Bench::new();
    let inv = carrier_invite("g729", "12345")
        .replace("m=audio 30000 RTP/AVP 0 8 101", "m=audio 30000 RTP/AVP 18")
        .replace(
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            "a=rtpmap:18 G729/8000\r\n",
        );
    b.recv_text(&fix_length(&inv), CARRIER);
    b.expect_response(488, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 0);
    // The channel came back.
    b.recv_text(&carrier_invite("pcmu", "12345"), CARRIER);
    b.expect_request(Method::Invite, PHONE_1001);
}

#[test]
fn cancel_for_nothing_gets_481() {
    let mut b = Bench::new();
    let req = request(
        "CANCEL",
        "sip:12345@10.0.0.1:5060",
        CARRIER,
        "no-such-invite",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        "<sip:12345@10.0.0.1:5060>",
        "no-such-call",
        1,
        "",
        "",
    );
    b.recv_text(&req, CARRIER);
    b.expect_response(481, Method::Cancel, CARRIER);
    assert!(b.cdrs.is_empty());
}
