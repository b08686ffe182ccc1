//! Calls from the carrier to an agent: set-up, answer, tear-down, the 2xx/ACK dance on both
//! sides, cancellation, channel limits, hold, media timeout and shutdown.

use std::time::Duration;

use super::harness::*;
use crate::call::cdr::HangupSide;
use crate::call::engine::MediaLeg;
use crate::sip::message::Method;

/// A call that is ringing at 1001: the B-leg INVITE as sent.
pub(super) struct Ringing {
    pub call_id: String,
    pub b_invite: Sent,
}

pub(super) fn ring(b: &mut Bench, call_id: &str) -> Ringing {
    b.recv_text(&carrier_invite(call_id, "12345"), CARRIER);
    b.expect_response(100, Method::Invite, CARRIER);
    let b_invite = b.expect_request(Method::Invite, PHONE_1001);
    Ringing {
        call_id: call_id.into(),
        b_invite,
    }
}

/// A connected call: B answered, A got 200 and (unless `ack` is false) sent its ACK.
pub(super) struct Connected {
    pub call_id: String,
    pub b_invite: Sent,
    pub a_200: Sent,
    /// hotline's tag in the caller's dialog.
    pub our_a_tag: String,
    pub b_ack: Sent,
}

pub(super) fn connect(b: &mut Bench, call_id: &str, ack: bool) -> Connected {
    let r = ring(b, call_id);
    b.recv(
        answer(&r.b_invite, 180, "Ringing", Some("b-tag"), ""),
        PHONE_1001,
    );
    b.expect_response(180, Method::Invite, CARRIER);
    b.recv(
        answer(
            &r.b_invite,
            200,
            "OK",
            Some("b-tag"),
            &sdp("192.0.2.50", 20000, ""),
        ),
        PHONE_1001,
    );
    let b_ack = b.expect_request(Method::Ack, PHONE_1001);
    let a_200 = b.expect_response(200, Method::Invite, CARRIER);
    let our_a_tag = a_200.tag_to();
    if ack {
        b.recv_text(&a_in_dialog("ACK", call_id, &our_a_tag, 1, "ack1"), CARRIER);
    }
    Connected {
        call_id: r.call_id,
        b_invite: r.b_invite,
        a_200,
        our_a_tag,
        b_ack,
    }
}

/// A BYE the engine sent, answered 200 so its transaction ends.
pub(super) fn answer_bye(b: &mut Bench, to: &str) -> Sent {
    let bye = b.expect_request(Method::Bye, to);
    b.recv(answer(&bye, 200, "OK", None, ""), to);
    bye
}

#[test]
fn inbound_call_is_set_up_anchored_and_torn_down_with_a_cdr() {
    let mut b = Bench::new();
    let r = ring(&mut b, "call-1");
    let inv = &r.b_invite;
    // The B-leg INVITE: to the extension's contact, its own Call-ID, the offer anchored on port_b.
    assert_eq!(inv.msg.request_uri_str(), Some("sip:1001@192.0.2.50:5060"));
    assert_ne!(inv.call_id(), "call-1", "the B-leg is a dialog of its own");
    assert!(
        inv.hdr("From").contains("13800138000"),
        "{}",
        inv.hdr("From")
    );
    assert_eq!(
        inv.sdp_port(),
        Some(40002),
        "offer to B on port_b:\n{}",
        inv.body()
    );
    assert!(inv.body().contains("c=IN IP4 10.0.0.1"), "{}", inv.body());
    assert!(
        !inv.body().contains("192.0.2.10"),
        "caller's address leaked:\n{}",
        inv.body()
    );
    assert!(matches!(
        b.media_log().first(),
        Some(MediaCall::Create { hint_a: Some(a), hint_b: None, .. }) if *a == addr("192.0.2.10:30000")
    ));
    assert_eq!(b.e.active_calls(), 1);

    b.recv(answer(inv, 180, "Ringing", Some("b-tag"), ""), PHONE_1001);
    let ringing = b.expect_response(180, Method::Invite, CARRIER);
    assert_eq!(ringing.call_id(), "call-1");
    let our_tag = ringing.tag_to();
    assert!(!our_tag.is_empty(), "180 must carry our tag");

    b.advance(Duration::from_secs(2));
    b.recv(
        answer(inv, 200, "OK", Some("b-tag"), &sdp("192.0.2.50", 20000, "")),
        PHONE_1001,
    );
    let ack = b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(ack.call_id(), inv.call_id());
    assert_eq!(ack.tag_to(), "b-tag");
    let ok = b.expect_response(200, Method::Invite, CARRIER);
    assert_eq!(ok.tag_to(), our_tag, "one dialog with the caller");
    assert_eq!(
        ok.sdp_port(),
        Some(40000),
        "answer to A on port_a:\n{}",
        ok.body()
    );
    assert!(ok.body().contains("c=IN IP4 10.0.0.1"), "{}", ok.body());
    assert!(
        !ok.body().contains("192.0.2.50"),
        "callee's address leaked:\n{}",
        ok.body()
    );
    let bridge = b.bridge();
    assert!(
        b.media_log().contains(&MediaCall::Update {
            id: bridge,
            leg: MediaLeg::B,
            addr: addr("192.0.2.50:20000")
        }),
        "{:?}",
        b.media_log()
    );

    b.recv_text(&a_in_dialog("ACK", "call-1", &our_tag, 1, "ack1"), CARRIER);
    b.advance(Duration::from_secs(30));
    // The ACK stopped our 200's retransmissions.
    assert_eq!(
        b.count(|s| s.code() == Some(200) && s.peer == peer(CARRIER)),
        0,
        "{}",
        b.dump()
    );
    assert!(b.cdrs.is_empty());
    // The relay's figures for the two sides go to the A-leg and the answered B-leg.
    let qa = crate::media::quality::LegQualityReport {
        rtp_packets: 1500,
        rtp_lost: 15,
        loss_pct: 1.0,
        mos: 4.2,
        ..Default::default()
    };
    let qb = crate::media::quality::LegQualityReport {
        rtp_packets: 1490,
        mos: 4.4,
        ..Default::default()
    };
    *b.media.quality.borrow_mut() = Some([qa, qb]);

    b.recv_text(&a_in_dialog("BYE", "call-1", &our_tag, 2, "bye1"), CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    let bye = answer_bye(&mut b, PHONE_1001);
    assert_eq!(bye.call_id(), inv.call_id());
    assert_eq!(bye.tag_to(), "b-tag");
    assert_eq!(bye.tag_from(), inv.tag_from());
    assert!(b.media_log().contains(&MediaCall::Destroy { id: bridge }));
    assert_eq!(b.e.active_calls(), 0);

    assert_eq!(b.cdrs.len(), 1, "one CDR");
    let cdr = &b.cdrs[0];
    let c = &cdr.call;
    assert_eq!(c.call_id, "call-1");
    assert_eq!(c.direction, "inbound");
    assert_eq!(c.caller, "13800138000");
    assert_eq!(c.callee, "12345");
    assert_eq!(c.did, "12345");
    assert_eq!(c.trunk, "carrier");
    assert_eq!(c.agent, "1001");
    assert_eq!(c.sip_code, 200);
    assert_eq!(c.hangup_side, HangupSide::Caller);
    let answer_ms = c.answer_ms.expect("answered");
    assert_eq!(
        answer_ms - c.start_ms,
        2_000,
        "answered 2 s in (virtual time)"
    );
    assert_eq!(c.end_ms - answer_ms, 30_000, "talked 30 s");
    assert_eq!(cdr.legs.len(), 2, "{:?}", cdr.legs);
    let bleg = &cdr.legs[1];
    assert_eq!(bleg.peer, "1001");
    assert_eq!(bleg.sip_code, 200);
    assert_eq!(bleg.sip_call_id, inv.call_id());
    assert_eq!(bleg.codec, "PCMU");
    assert_eq!(bleg.quality, Some(qb));
    assert_eq!(cdr.legs[0].peer, "carrier");
    assert_eq!(cdr.legs[0].quality, Some(qa));
    assert_eq!(
        b.metrics
            .trunk("carrier")
            .channels_in_use
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn callee_hangs_up_bye_goes_to_the_caller() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-2", true);
    let bye_from_b = request(
        "BYE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "b-bye",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &format!(
            "{};tag={}",
            c.b_invite.hdr("From").split(';').next().unwrap_or_default(),
            c.b_invite.tag_from()
        ),
        &c.b_invite.call_id(),
        1,
        "",
        "",
    );
    b.recv_text(&bye_from_b, PHONE_1001);
    b.expect_response(200, Method::Bye, PHONE_1001);
    let bye = answer_bye(&mut b, CARRIER);
    assert_eq!(bye.call_id(), c.call_id);
    assert_eq!(bye.tag_from(), c.our_a_tag);
    assert_eq!(bye.tag_to(), "a-tag");
    assert_eq!(b.cdrs.len(), 1);
    assert_eq!(b.cdrs[0].call.hangup_side, HangupSide::Callee);
}

#[test]
fn our_200_is_retransmitted_with_backoff_until_the_ack() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-3", false);
    let answered_at = c.a_200.at;
    b.advance(Duration::from_millis(12_000));
    let times: Vec<u128> = b
        .sent
        .iter()
        .filter(|s| s.code() == Some(200) && s.peer == peer(CARRIER))
        .map(|s| s.at.duration_since(answered_at).as_millis())
        .collect();
    // T1 = 500 ms, doubling, capped at T2 = 4 s: +0.5, +1.5, +3.5, +7.5, +11.5.
    assert_eq!(
        times,
        vec![500, 1_500, 3_500, 7_500, 11_500],
        "{}",
        b.dump()
    );
    for s in b.sent.iter().filter(|s| s.code() == Some(200)) {
        assert_eq!(s.bytes, c.a_200.bytes, "a retransmission is the same 200");
    }
    b.sent.clear();
    b.recv_text(
        &a_in_dialog("ACK", &c.call_id, &c.our_a_tag, 1, "ack-late"),
        CARRIER,
    );
    b.advance(Duration::from_secs(40));
    assert_eq!(b.count(|s| s.code() == Some(200)), 0, "{}", b.dump());
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn no_ack_ends_the_call_toward_b() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-4", false);
    b.advance(Duration::from_millis(31_000));
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(b.e.active_calls(), 1);
    // 64*T1 = 32 s, noticed at the next retransmission tick (at most T2 = 4 s later).
    b.advance(Duration::from_millis(5_000));
    let bye_b = answer_bye(&mut b, PHONE_1001);
    assert_eq!(bye_b.call_id(), c.b_invite.call_id());
    assert_eq!(bye_b.tag_to(), "b-tag");
    assert_eq!(b.e.active_calls(), 0);
    assert_eq!(b.cdrs.len(), 1);
    // No 200 after giving up.
    b.sent.retain(|s| s.code() != Some(200));
    b.advance(Duration::from_secs(10));
    assert_eq!(b.count(|s| s.code() == Some(200)), 0, "{}", b.dump());
}

#[test]
fn no_ack_sends_bye_to_the_caller_too() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-4a", false);
    b.advance(Duration::from_secs(40));
    let bye_a = answer_bye(&mut b, CARRIER);
    assert_eq!(bye_a.call_id(), c.call_id);
    assert_eq!(bye_a.tag_from(), c.our_a_tag);
    answer_bye(&mut b, PHONE_1001);
    assert_eq!(b.cdrs.len(), 1);
    assert_eq!(b.cdrs[0].call.hangup_side, HangupSide::System);
}

#[test]
fn no_ack_ends_the_call_at_64_t1() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-4b", false);
    b.advance(Duration::from_millis(33_000));
    let bye_b = b.expect_request(Method::Bye, PHONE_1001);
    let waited = bye_b.at.duration_since(c.a_200.at);
    assert!(
        waited >= Duration::from_secs(32) && waited < Duration::from_secs(33),
        "BYE after {waited:?}"
    );
}

#[test]
fn b_retransmits_its_200_and_gets_the_same_ack_again() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-5", true);
    // B did not see our ACK and resends its 200.
    b.advance(Duration::from_millis(500));
    b.recv(
        answer(
            &c.b_invite,
            200,
            "OK",
            Some("b-tag"),
            &sdp("192.0.2.50", 20000, ""),
        ),
        PHONE_1001,
    );
    let again = b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(again.bytes, c.b_ack.bytes, "the same ACK is re-sent");
    // Only the ACK: no second answer to the caller, no new call state.
    assert_eq!(b.count(|s| s.peer == peer(CARRIER)), 0, "{}", b.dump());
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn caller_cancels_while_ringing() {
    let mut b = Bench::new();
    let r = ring(&mut b, "call-6");
    b.recv(
        answer(&r.b_invite, 180, "Ringing", Some("b-tag"), ""),
        PHONE_1001,
    );
    b.expect_response(180, Method::Invite, CARRIER);
    // CANCEL matches the INVITE's branch (RFC 3261 §9.1).
    b.recv_text(
        &request(
            "CANCEL",
            "sip:12345@10.0.0.1:5060",
            CARRIER,
            "inv-call-6",
            "<sip:13800138000@192.0.2.10>;tag=a-tag",
            "<sip:12345@10.0.0.1:5060>",
            "call-6",
            1,
            "",
            "",
        ),
        CARRIER,
    );
    b.expect_response(200, Method::Cancel, CARRIER);
    let term = b.expect_response(487, Method::Invite, CARRIER);
    let cancel = b.expect_request(Method::Cancel, PHONE_1001);
    assert_eq!(cancel.call_id(), r.b_invite.call_id());
    assert_eq!(
        cancel
            .msg
            .top_via()
            .map(|v| v.branch().map(str::to_owned))
            .ok()
            .flatten(),
        r.b_invite
            .msg
            .top_via()
            .map(|v| v.branch().map(str::to_owned))
            .ok()
            .flatten(),
        "CANCEL carries the INVITE's branch"
    );
    // The caller ACKs the 487 (absorbed by the transaction layer).
    b.recv_text(
        &request(
            "ACK",
            "sip:12345@10.0.0.1:5060",
            CARRIER,
            "inv-call-6",
            "<sip:13800138000@192.0.2.10>;tag=a-tag",
            &format!("<sip:12345@10.0.0.1:5060>;tag={}", term.tag_to()),
            "call-6",
            1,
            "",
            "",
        ),
        CARRIER,
    );
    // B confirms: 200 to the CANCEL, 487 to the INVITE, which the layer ACKs.
    b.recv(answer(&cancel, 200, "OK", Some("b-tag"), ""), PHONE_1001);
    b.recv(
        answer(&r.b_invite, 487, "Request Terminated", Some("b-tag"), ""),
        PHONE_1001,
    );
    let ack = b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(ack.call_id(), r.b_invite.call_id());
    assert_eq!(ack.tag_to(), "b-tag");
    b.advance(Duration::from_secs(40));
    assert_eq!(
        b.count(|s| s.code() == Some(487)),
        0,
        "487 retransmitted after ACK:\n{}",
        b.dump()
    );
    assert_eq!(b.e.active_calls(), 0);
    assert_eq!(b.cdrs.len(), 1);
    let c = &b.cdrs[0].call;
    assert_eq!((c.sip_code, c.hangup_side), (487, HangupSide::Caller));
    assert_eq!(c.answer_ms, None);
    assert!(b
        .media_log()
        .iter()
        .any(|m| matches!(m, MediaCall::Destroy { .. })));
}

#[test]
fn trunk_channel_limit_refuses_the_second_call_until_the_first_ends() {
    let mut b = Bench::new();
    let first = ring(&mut b, "call-7a");
    b.recv_text(&carrier_invite("call-7b", "12345"), CARRIER);
    let busy = b.expect("503 to the second INVITE", |s| {
        s.code() == Some(503) && s.call_id() == "call-7b"
    });
    let reason = busy.msg.reason_lossy().unwrap_or_default().to_string();
    assert!(reason.contains("channel"), "503 says why: {reason}");
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Invite)),
        0,
        "no B-leg for a refused call"
    );
    assert_eq!(b.e.active_calls(), 1);
    // The agent is busy: the first call ends.
    b.recv(
        answer(&first.b_invite, 486, "Busy Here", Some("b-tag"), ""),
        PHONE_1001,
    );
    b.expect_response(486, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 0);
    let third = ring(&mut b, "call-7c");
    assert_eq!(
        third.b_invite.sdp_port(),
        Some(40006),
        "a new bridge for the new call"
    );
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn media_timeout_ends_a_connected_call() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-8", true);
    let bridge = b.bridge();
    b.advance(Duration::from_secs(10));
    b.e.handle_media_timeout(bridge, b.now);
    b.drain();
    let bye_a = answer_bye(&mut b, CARRIER);
    let bye_b = answer_bye(&mut b, PHONE_1001);
    assert_eq!(bye_a.call_id(), c.call_id);
    assert_eq!(bye_b.call_id(), c.b_invite.call_id());
    assert!(b.media_log().contains(&MediaCall::Destroy { id: bridge }));
    assert_eq!(b.cdrs.len(), 1);
    let call = &b.cdrs[0].call;
    assert_eq!(call.hangup_cause, "no media");
    assert_eq!(call.hangup_side, HangupSide::System);
    // A second report for the same bridge changes nothing.
    b.e.handle_media_timeout(bridge, b.now);
    b.drain();
    assert_eq!(b.cdrs.len(), 1);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "{}",
        b.dump()
    );
}

#[test]
fn hold_from_b_is_relayed_to_a_and_the_answer_back_with_our_ports() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-9", true);
    let bridge = b.bridge();
    let b_from = c.b_invite.hdr("From");
    let reinvite = request(
        "INVITE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "b-hold",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &b_from,
        &c.b_invite.call_id(),
        2,
        "Contact: <sip:1001@192.0.2.50:5060>\r\n",
        &sdp("192.0.2.50", 20000, "a=sendonly\r\n"),
    );
    b.recv_text(&reinvite, PHONE_1001);
    let to_a = b.expect_request(Method::Invite, CARRIER);
    assert_eq!(to_a.call_id(), c.call_id);
    assert_eq!(to_a.tag_from(), c.our_a_tag);
    assert_eq!(to_a.tag_to(), "a-tag");
    assert_eq!(
        to_a.sdp_port(),
        Some(40000),
        "re-offer to A on port_a:\n{}",
        to_a.body()
    );
    assert!(to_a.body().contains("a=sendonly"), "{}", to_a.body());
    assert!(to_a.body().contains("c=IN IP4 10.0.0.1"), "{}", to_a.body());
    assert!(
        b.media_log().contains(&MediaCall::Direction {
            id: bridge,
            leg: MediaLeg::B,
            sends: true,
            receives: false
        }),
        "{:?}",
        b.media_log()
    );
    // A accepts the hold.
    b.recv(
        answer(
            &to_a,
            200,
            "OK",
            Some("a-tag"),
            &sdp("192.0.2.10", 30000, "a=recvonly\r\n"),
        ),
        CARRIER,
    );
    let ack_a = b.expect_request(Method::Ack, CARRIER);
    assert_eq!(ack_a.call_id(), c.call_id);
    let to_b = b.expect_response(200, Method::Invite, PHONE_1001);
    assert_eq!(to_b.call_id(), c.b_invite.call_id());
    assert_eq!(
        to_b.sdp_port(),
        Some(40002),
        "answer to B on port_b:\n{}",
        to_b.body()
    );
    assert!(to_b.body().contains("a=recvonly"), "{}", to_b.body());
    assert!(!to_b.body().contains("192.0.2.10"), "{}", to_b.body());
    assert!(
        b.media_log().contains(&MediaCall::Direction {
            id: bridge,
            leg: MediaLeg::A,
            sends: false,
            receives: true
        }),
        "{:?}",
        b.media_log()
    );
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn shutdown_refuses_new_calls_and_ends_active_ones_after_the_drain() {
    let mut b = Bench::new();
    let c = connect(&mut b, "call-10", true);
    b.e.begin_shutdown(Duration::from_secs(20), b.now);
    b.drain();
    b.recv_text(&carrier_invite("call-10b", "12345"), CARRIER);
    let refused = b.expect("503 to a new INVITE while draining", |s| {
        s.code() == Some(503) && s.call_id() == "call-10b"
    });
    assert!(
        refused
            .msg
            .reason_lossy()
            .unwrap_or_default()
            .contains("shutting down"),
        "{}",
        refused.hdr("CSeq")
    );
    b.advance(Duration::from_secs(19));
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(b.e.active_calls(), 1);
    b.advance(Duration::from_secs(1));
    let bye_a = answer_bye(&mut b, CARRIER);
    let bye_b = answer_bye(&mut b, PHONE_1001);
    assert_eq!(bye_a.call_id(), c.call_id);
    assert_eq!(bye_b.call_id(), c.b_invite.call_id());
    assert_eq!(b.e.active_calls(), 0);
    assert_eq!(b.cdrs.len(), 1);
    assert_eq!(b.cdrs[0].call.hangup_cause, "shutdown");
}

#[test]
fn over_a_reliable_transport_our_200_is_not_retransmitted() {
    use crate::sip::transaction::{Peer, TransportKind};
    let mut b = Bench::new();
    let tcp = Peer {
        addr: addr(CARRIER),
        transport: TransportKind::Tcp,
        connection: Some(7),
    };
    let inv = carrier_invite("tcp-call", "12345").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let msg = crate::sip::message::SipMessage::parse(inv.into_bytes()).expect("parses");
    b.e.handle_message(msg, tcp, b.now);
    b.drain();
    let b_inv = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(
        answer(
            &b_inv,
            200,
            "OK",
            Some("b-tag"),
            &sdp("192.0.2.50", 20000, ""),
        ),
        PHONE_1001,
    );
    let ok = b.expect("200 to the caller over TCP", |s| {
        s.code() == Some(200) && s.peer == tcp
    });
    assert_eq!(ok.peer.connection, Some(7), "on the INVITE's connection");
    b.sent.clear();
    b.advance(Duration::from_secs(10));
    assert_eq!(b.count(|s| s.code() == Some(200)), 0, "{}", b.dump());
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn busy_callee_gives_the_caller_486_and_a_cdr() {
    let mut b = Bench::new();
    let r = ring(&mut b, "busy");
    b.recv(
        answer(&r.b_invite, 486, "Busy Here", Some("b-tag"), ""),
        PHONE_1001,
    );
    let ack = b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(ack.call_id(), r.b_invite.call_id());
    b.expect_response(486, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 0);
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.call.sip_code, 486);
    assert_eq!(cdr.call.answer_ms, None);
    assert_eq!(cdr.legs[1].sip_code, 486);
    assert_eq!(
        b.metrics
            .active_calls
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        b.metrics
            .calls_failed_total
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
