//! Blind transfer by REFER on plain calls (a DID routed to an extension, an agent's own dial-out):
//! the transferee stays on its leg and port, the target rings on a new leg on the transferor's
//! side of the bridge, the transferor hears the outcome in NOTIFYs and gets BYE once the target
//! answers; a failed target gives the transferee back to the transferor.

use super::calls::{answer_bye, connect, Connected};
use super::harness::*;
use crate::call::cdr::HangupSide;
use crate::call::engine::MediaLeg;
use crate::sip::message::Method;

/// 12345 rings 1001; 1002 is a desk phone on a fixed address; outside numbers go out with 9
/// through `carrier`, then `backup`.
const PROFILES: &str = r#"
[[trunk]]
name = "carrier"
peer = "192.0.2.10:5060"
inbound_sources = ["192.0.2.10"]
channels = 4
caller_id = "12345"
priority = 1
[trunk.keepalive]
interval_secs = 0
[[trunk.did]]
number = "12345"
route = "extension:1001"

[[trunk]]
name = "backup"
peer = "192.0.2.20:5060"
inbound_sources = ["192.0.2.20"]
channels = 4
priority = 2
[trunk.keepalive]
interval_secs = 0

[agents]
realm = "hotline.local"
digest_algorithms = ["MD5", "SHA-256"]
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@192.0.2.50:5060"
[[agents.extension]]
number = "1002"
password = "pw1002"
contact = "sip:1002@192.0.2.51:5060"

[[dial]]
prefix = "9"
trunks = ["carrier", "backup"]
strip = 1
"#;

const PHONE_1002: &str = "192.0.2.51:5060";
const BACKUP: &str = "192.0.2.20:5060";

fn bench() -> Bench {
    Bench::with_profiles(PROFILES)
}

/// A REFER from agent 1001's phone in the B-leg dialog of a carrier call.
fn refer_from_b(c: &Connected, cseq: u32, headers: &str) -> String {
    request(
        "REFER",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        &format!("refer-b{cseq}"),
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &c.b_invite.hdr("From"),
        &c.b_invite.call_id(),
        cseq,
        headers,
        "",
    )
}

fn refer_to(target: &str) -> String {
    format!("Refer-To: <sip:{target}@10.0.0.1>\r\nReferred-By: <sip:1001@192.0.2.50>\r\n")
}

/// The NOTIFY hotline sent to `to`, answered 200; its sipfrag body.
fn notify(b: &mut Bench, to: &str) -> Sent {
    let n = b.expect_request(Method::Notify, to);
    assert_eq!(n.hdr("Event"), "refer");
    assert!(
        n.hdr("Content-Type").starts_with("message/sipfrag"),
        "{}",
        n.hdr("Content-Type")
    );
    b.recv(answer(&n, 200, "OK", None, ""), to);
    n
}

fn ringback_to(b: &Bench, leg: MediaLeg) -> bool {
    b.media_log().iter().any(|c| {
        matches!(c, MediaCall::Play { leg: l, play, .. }
            if *l == leg && *play == crate::call::engine::originate::RINGBACK)
    })
}

fn ringback_stopped(b: &Bench, leg: MediaLeg) -> bool {
    b.media_log().iter().any(|c| {
        matches!(c, MediaCall::StopPlay { leg: l, play: Some(p), .. }
            if *l == leg && *p == crate::call::engine::originate::RINGBACK)
    })
}

/// A carrier call to 1001 whose agent asked for a transfer to 1002 (202, NOTIFY 100 answered):
/// the INVITE that rings 1002.
fn transfer_to_1002(b: &mut Bench, call_id: &str) -> (Connected, Sent) {
    let c = connect(b, call_id, true);
    b.recv_text(&refer_from_b(&c, 1, &refer_to("1002")), PHONE_1001);
    let accepted = b.expect_response(202, Method::Refer, PHONE_1001);
    assert_eq!(
        accepted.tag_to(),
        c.b_invite.tag_from(),
        "in the B-leg dialog"
    );
    let trying = notify(b, PHONE_1001);
    assert_eq!(trying.call_id(), c.b_invite.call_id());
    assert!(
        trying.body().starts_with("SIP/2.0 100 Trying"),
        "{}",
        trying.body()
    );
    assert!(trying.hdr("Subscription-State").starts_with("active"));
    let inv = b.expect_request(Method::Invite, PHONE_1002);
    (c, inv)
}

#[test]
fn blind_transfer_to_an_extension_on_a_did_call() {
    let mut b = bench();
    let (c, inv) = transfer_to_1002(&mut b, "x-1");
    let bridge = b.bridge();
    // The target is offered the transferor's port on the bridge, in the codec the caller talks.
    assert_eq!(inv.sdp_port(), Some(40002), "{}", inv.body());
    assert!(inv.body().contains("RTP/AVP 0 101"), "{}", inv.body());
    assert!(inv.msg.request_uri_str().unwrap().starts_with("sip:1002@"));
    assert!(
        inv.hdr("From").contains("13800138000"),
        "the caller's number is shown"
    );
    // The citizen hears ringback meanwhile.
    assert!(ringback_to(&b, MediaLeg::A), "{:?}", b.media_log());

    b.recv(answer(&inv, 180, "Ringing", Some("t2"), ""), PHONE_1002);
    let ringing = notify(&mut b, PHONE_1001);
    assert!(
        ringing.body().starts_with("SIP/2.0 180"),
        "{}",
        ringing.body()
    );
    b.advance(std::time::Duration::from_secs(3));
    b.recv(
        answer(&inv, 200, "OK", Some("t2"), &sdp("192.0.2.51", 22000, "")),
        PHONE_1002,
    );
    b.expect_request(Method::Ack, PHONE_1002);
    let done = notify(&mut b, PHONE_1001);
    assert!(done.body().starts_with("SIP/2.0 200 OK"), "{}", done.body());
    assert!(done.hdr("Subscription-State").starts_with("terminated"));
    // The transferor is let go; the carrier never hears of it.
    let bye = answer_bye(&mut b, PHONE_1001);
    assert_eq!(bye.call_id(), c.b_invite.call_id());
    assert_eq!(b.count(|s| s.peer == peer(CARRIER)), 0, "{}", b.dump());
    assert!(ringback_stopped(&b, MediaLeg::A));
    assert!(
        b.media_log().contains(&MediaCall::Update {
            id: bridge,
            leg: MediaLeg::B,
            addr: addr("192.0.2.51:22000"),
        }),
        "{:?}",
        b.media_log()
    );

    // The citizen and 1002 talk until the citizen hangs up: one CDR with the new leg.
    b.advance(std::time::Duration::from_secs(10));
    b.recv_text(
        &a_in_dialog("BYE", "x-1", &c.our_a_tag, 2, "bye-a"),
        CARRIER,
    );
    b.expect_response(200, Method::Bye, CARRIER);
    let bye2 = answer_bye(&mut b, PHONE_1002);
    assert_eq!(bye2.call_id(), inv.call_id());
    assert_eq!(b.cdrs.len(), 1);
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.call.agent, "1001", "the agent who answered");
    assert_eq!(cdr.call.hangup_side, HangupSide::Caller);
    assert_eq!(cdr.call.sip_code, 200);
    let legs: Vec<(&str, &str, u16, &str)> = cdr
        .legs
        .iter()
        .map(|l| {
            (
                l.leg.as_str(),
                l.peer.as_str(),
                l.sip_code,
                l.hangup_cause.as_str(),
            )
        })
        .collect();
    assert_eq!(
        legs,
        vec![
            ("a", "carrier", 200, ""),
            ("b1", "1001", 200, "transferred"),
            ("b2", "1002", 200, ""),
        ]
    );
    let (b1, b2) = (&cdr.legs[1], &cdr.legs[2]);
    assert_eq!(
        b1.end_ms,
        b2.answer_ms.unwrap(),
        "1001 left when 1002 answered"
    );
    assert_eq!(b2.answer_ms.unwrap() - b2.start_ms, 3000);
    assert_eq!(b2.codec, "PCMU");
    assert!(b2.end_ms > b1.end_ms);
    assert_eq!(b.e.active_calls(), 0);
}

#[test]
fn a_busy_target_gives_the_caller_back_to_the_transferor() {
    let mut b = bench();
    let (c, inv) = transfer_to_1002(&mut b, "x-busy");
    let bridge = b.bridge();
    b.recv(answer(&inv, 486, "Busy Here", Some("t2"), ""), PHONE_1002);
    b.expect_ack_of_failure(PHONE_1002);
    let failed = notify(&mut b, PHONE_1001);
    assert!(
        failed.body().starts_with("SIP/2.0 486 Busy Here"),
        "{}",
        failed.body()
    );
    assert!(failed.hdr("Subscription-State").starts_with("terminated"));
    assert!(ringback_stopped(&b, MediaLeg::A));
    // Back to the agent's phone: the relay re-latches to where 1001's media comes from.
    assert!(
        b.media_log().contains(&MediaCall::Update {
            id: bridge,
            leg: MediaLeg::B,
            addr: addr("192.0.2.50:20000"),
        }),
        "{:?}",
        b.media_log()
    );
    assert!(
        b.take(|s| s.method() == Some(&Method::Bye)).is_none(),
        "{}",
        b.dump()
    );
    assert_eq!(b.e.active_calls(), 1);

    // The agent may try again, then the caller ends the call with the agent.
    b.recv_text(&refer_from_b(&c, 2, &refer_to("1002")), PHONE_1001);
    b.expect_response(202, Method::Refer, PHONE_1001);
    notify(&mut b, PHONE_1001);
    let again = b.expect_request(Method::Invite, PHONE_1002);
    b.recv(answer(&again, 603, "Decline", Some("t3"), ""), PHONE_1002);
    let declined = notify(&mut b, PHONE_1001);
    assert!(
        declined.body().starts_with("SIP/2.0 603"),
        "{}",
        declined.body()
    );

    b.recv_text(
        &a_in_dialog("BYE", "x-busy", &c.our_a_tag, 2, "bye-a"),
        CARRIER,
    );
    answer_bye(&mut b, PHONE_1001);
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.call.hangup_side, HangupSide::Caller);
    let legs: Vec<(&str, u16, &str)> = cdr
        .legs
        .iter()
        .map(|l| (l.leg.as_str(), l.sip_code, l.hangup_cause.as_str()))
        .collect();
    assert_eq!(
        legs,
        vec![
            ("a", 200, ""),
            ("b1", 200, ""),
            ("b2", 486, ""),
            ("b3", 603, "")
        ]
    );
}

#[test]
fn the_transferor_may_hang_up_before_the_target_answers() {
    let mut b = bench();
    let (c, inv) = transfer_to_1002(&mut b, "x-gone");
    // The phone hangs up right after the 202 (a pure blind transfer).
    let bye = request(
        "BYE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "b-bye",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &c.b_invite.hdr("From"),
        &c.b_invite.call_id(),
        2,
        "",
        "",
    );
    b.recv_text(&bye, PHONE_1001);
    b.expect_response(200, Method::Bye, PHONE_1001);
    assert_eq!(b.e.active_calls(), 1, "the caller waits for the target");
    assert_eq!(b.count(|s| s.peer == peer(CARRIER)), 0, "{}", b.dump());
    b.recv(
        answer(&inv, 200, "OK", Some("t2"), &sdp("192.0.2.51", 22000, "")),
        PHONE_1002,
    );
    b.expect_request(Method::Ack, PHONE_1002);
    // The phone's BYE ended its dialog: no NOTIFY and no second BYE go to it.
    assert_eq!(b.count(|s| s.peer == peer(PHONE_1001)), 0, "{}", b.dump());
    assert_eq!(b.count(|s| s.peer == peer(CARRIER)), 0, "{}", b.dump());

    // 1002 hangs up: the caller gets BYE.
    let bye2 = request(
        "BYE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1002,
        "t-bye",
        &format!("{};tag=t2", inv.hdr("To")),
        &inv.hdr("From"),
        &inv.call_id(),
        1,
        "",
        "",
    );
    b.recv_text(&bye2, PHONE_1002);
    b.expect_response(200, Method::Bye, PHONE_1002);
    answer_bye(&mut b, CARRIER);
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.call.hangup_side, HangupSide::Callee);
    assert_eq!(cdr.legs[1].hangup_cause, "transferred");
    assert_eq!(cdr.legs[2].peer, "1002");
    assert_eq!(cdr.legs[2].sip_code, 200);
}

#[test]
fn a_failed_transfer_after_the_transferor_left_ends_the_call_cleanly() {
    let mut b = bench();
    let (c, inv) = transfer_to_1002(&mut b, "x-fail");
    let bye = request(
        "BYE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "b-bye",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &c.b_invite.hdr("From"),
        &c.b_invite.call_id(),
        2,
        "",
        "",
    );
    b.recv_text(&bye, PHONE_1001);
    b.expect_response(200, Method::Bye, PHONE_1001);
    b.recv(answer(&inv, 486, "Busy Here", Some("t2"), ""), PHONE_1002);
    b.expect_ack_of_failure(PHONE_1002);
    // Nobody left for the caller: hotline ends the call.
    let to_caller = answer_bye(&mut b, CARRIER);
    assert_eq!(to_caller.call_id(), "x-fail");
    assert_eq!(b.e.active_calls(), 0);
    assert_eq!(b.count(|s| s.peer == peer(PHONE_1001)), 0, "{}", b.dump());
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.call.hangup_side, HangupSide::System);
    assert!(
        cdr.call.hangup_cause.contains("transfer failed: 486"),
        "{}",
        cdr.call.hangup_cause
    );
    assert_eq!(cdr.legs[1].hangup_cause, "transferred");
}

#[test]
fn the_target_rings_out_and_the_caller_goes_back_to_the_agent() {
    let mut b = bench();
    let (_c, inv) = transfer_to_1002(&mut b, "x-ring");
    b.recv(answer(&inv, 180, "Ringing", Some("t2"), ""), PHONE_1002);
    notify(&mut b, PHONE_1001);
    b.advance(std::time::Duration::from_secs(61));
    let cancel = b.expect_request(Method::Cancel, PHONE_1002);
    b.recv(answer(&cancel, 200, "OK", None, ""), PHONE_1002);
    let failed = notify(&mut b, PHONE_1001);
    assert!(
        failed.body().starts_with("SIP/2.0 480"),
        "{}",
        failed.body()
    );
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn transfer_to_an_outside_number_on_an_inbound_call() {
    let mut b = bench();
    let c = connect(&mut b, "x-out", true);
    b.recv_text(&refer_from_b(&c, 1, &refer_to("907712345678")), PHONE_1001);
    b.expect_response(202, Method::Refer, PHONE_1001);
    notify(&mut b, PHONE_1001);
    let out = b.expect_request(Method::Invite, CARRIER);
    assert_eq!(
        out.msg.request_uri_str(),
        Some("sip:07712345678@192.0.2.10:5060"),
        "the dial plan strips the 9"
    );
    assert!(
        out.hdr("From").contains("sip:12345@"),
        "{}",
        out.hdr("From")
    );
    assert_eq!(out.sdp_port(), Some(40002), "{}", out.body());
    // The carrier's ringback replaces hotline's.
    b.recv(
        answer(
            &out,
            183,
            "Session Progress",
            Some("o1"),
            &sdp("192.0.2.10", 31000, ""),
        ),
        CARRIER,
    );
    assert!(ringback_stopped(&b, MediaLeg::A));
    let early = notify(&mut b, PHONE_1001);
    assert!(early.body().starts_with("SIP/2.0 183"), "{}", early.body());
    b.recv(
        answer(&out, 200, "OK", Some("o1"), &sdp("192.0.2.10", 31000, "")),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    let done = notify(&mut b, PHONE_1001);
    assert!(done.body().starts_with("SIP/2.0 200"), "{}", done.body());
    answer_bye(&mut b, PHONE_1001);
    assert_eq!(
        b.metrics
            .trunk("carrier")
            .channels_in_use
            .load(std::sync::atomic::Ordering::Relaxed),
        2,
        "the call in and the transfer out"
    );
    b.recv_text(
        &a_in_dialog("BYE", "x-out", &c.our_a_tag, 2, "bye-a"),
        CARRIER,
    );
    b.expect_response(200, Method::Bye, CARRIER);
    let bye = answer_bye(&mut b, CARRIER);
    assert_eq!(bye.call_id(), out.call_id());
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.legs.len(), 3);
    assert_eq!(cdr.legs[2].peer, "carrier");
    assert_eq!(cdr.legs[2].remote_uri, "sip:07712345678@192.0.2.10:5060");
    assert_eq!(
        b.metrics
            .trunk("carrier")
            .channels_in_use
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn an_agents_dial_out_is_transferred_to_another_number_with_trunk_failover() {
    let mut b = bench();
    b.e.set_accounts(vec![account("1001", "pw1001"), account("1002", "pw1002")]);
    let first = agent_dial(&mut b, "x-dial", "9010555");
    b.recv(
        answer(&first, 200, "OK", Some("c1"), &sdp("192.0.2.10", 30000, "")),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    let ok = b.expect_response(200, Method::Invite, PHONE_1001);
    let our_tag = ok.tag_to();
    let bridge = b.bridge();
    let ack = request(
        "ACK",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "x-dial-ack",
        "<sip:1001@hotline.local>;tag=ag",
        &format!("<sip:9010555@{US}>;tag={our_tag}"),
        "x-dial",
        2,
        "",
        "",
    );
    b.recv_text(&ack, PHONE_1001);
    // The agent (the A-leg) transfers the number it called to another outside number.
    let refer = request(
        "REFER",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "x-dial-refer",
        "<sip:1001@hotline.local>;tag=ag",
        &format!("<sip:9010555@{US}>;tag={our_tag}"),
        "x-dial",
        3,
        &refer_to("907712345678"),
        "",
    );
    b.recv_text(&refer, PHONE_1001);
    b.expect_response(202, Method::Refer, PHONE_1001);
    let trying = notify(&mut b, PHONE_1001);
    assert_eq!(trying.call_id(), "x-dial", "in the agent's own dialog");
    // The target takes the agent's side of the bridge (port_a); the number called hears ringback.
    let out = b.expect_request(Method::Invite, CARRIER);
    assert_eq!(out.sdp_port(), Some(40000), "{}", out.body());
    assert!(ringback_to(&b, MediaLeg::B), "{:?}", b.media_log());
    // The first trunk is out of order: the next one carries it.
    b.recv(
        answer(&out, 503, "Service Unavailable", Some("o1"), ""),
        CARRIER,
    );
    b.expect_ack_of_failure(CARRIER);
    let out2 = b.expect_request(Method::Invite, BACKUP);
    assert_eq!(out2.sdp_port(), Some(40000));
    b.recv(
        answer(&out2, 200, "OK", Some("o2"), &sdp("192.0.2.20", 32000, "")),
        BACKUP,
    );
    b.expect_request(Method::Ack, BACKUP);
    let done = notify(&mut b, PHONE_1001);
    assert!(done.body().starts_with("SIP/2.0 200"), "{}", done.body());
    let bye = answer_bye(&mut b, PHONE_1001);
    assert_eq!(bye.call_id(), "x-dial");
    assert!(
        b.media_log().contains(&MediaCall::Update {
            id: bridge,
            leg: MediaLeg::A,
            addr: addr("192.0.2.20:32000"),
        }),
        "{:?}",
        b.media_log()
    );
    assert!(ringback_stopped(&b, MediaLeg::B));
    assert_eq!(b.e.active_calls(), 1);

    // The number first called hangs up: the transfer target gets BYE.
    b.advance(std::time::Duration::from_secs(5));
    let quality = |mos: f64| crate::media::quality::LegQualityReport {
        rtp_packets: 250,
        mos,
        ..Default::default()
    };
    *b.media.quality.borrow_mut() = Some([quality(4.1), quality(4.3)]);
    let bye_c = request(
        "BYE",
        "sip:hotline@10.0.0.1:5060",
        CARRIER,
        "c-bye",
        &format!("{};tag=c1", first.hdr("To")),
        &first.hdr("From"),
        &first.call_id(),
        1,
        "",
        "",
    );
    b.recv_text(&bye_c, CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    let bye_t = answer_bye(&mut b, BACKUP);
    assert_eq!(bye_t.call_id(), out2.call_id());
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.call.direction, "outbound");
    assert_eq!(cdr.call.agent, "1001");
    let legs: Vec<(&str, &str, u16, &str)> = cdr
        .legs
        .iter()
        .map(|l| {
            (
                l.leg.as_str(),
                l.peer.as_str(),
                l.sip_code,
                l.hangup_cause.as_str(),
            )
        })
        .collect();
    assert_eq!(
        legs,
        vec![
            ("a", "1001", 200, "transferred"),
            ("b1", "carrier", 200, ""),
            ("b2", "carrier", 503, ""),
            ("b3", "backup", 200, ""),
        ]
    );
    assert_eq!(
        cdr.legs[0].end_ms,
        cdr.legs[3].answer_ms.unwrap(),
        "the agent left when the target answered"
    );
    assert_eq!(cdr.call.end_ms - cdr.legs[0].end_ms, 5000);
    // The bridge's A side was the target's at the end, its B side the number first called.
    let mos: Vec<Option<f64>> = cdr.legs.iter().map(|l| l.quality.map(|q| q.mos)).collect();
    assert_eq!(mos, vec![None, Some(4.3), None, Some(4.1)]);
}

#[test]
fn a_transferee_on_hold_is_taken_off_hold_when_the_target_answers() {
    let mut b = bench();
    let c = connect(&mut b, "x-hold", true);
    // The phone puts the caller on hold before transferring (as desk phones do).
    let hold = request(
        "INVITE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "b-hold",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &c.b_invite.hdr("From"),
        &c.b_invite.call_id(),
        1,
        "Contact: <sip:1001@192.0.2.50:5060>\r\n",
        &sdp("192.0.2.50", 20000, "a=sendonly\r\n"),
    );
    b.recv_text(&hold, PHONE_1001);
    let to_a = b.expect_request(Method::Invite, CARRIER);
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
    b.expect_request(Method::Ack, CARRIER);
    let ok = b.expect_response(200, Method::Invite, PHONE_1001);
    let ack = request(
        "ACK",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "b-hold-ack",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &ok.hdr("To"),
        &c.b_invite.call_id(),
        1,
        "",
        "",
    );
    b.recv_text(&ack, PHONE_1001);

    b.recv_text(&refer_from_b(&c, 2, &refer_to("1002")), PHONE_1001);
    b.expect_response(202, Method::Refer, PHONE_1001);
    notify(&mut b, PHONE_1001);
    let inv = b.expect_request(Method::Invite, PHONE_1002);
    assert!(!inv.body().contains("sendonly"), "{}", inv.body());
    b.recv(
        answer(&inv, 200, "OK", Some("t2"), &sdp("192.0.2.51", 22000, "")),
        PHONE_1002,
    );
    b.expect_request(Method::Ack, PHONE_1002);
    notify(&mut b, PHONE_1001);
    answer_bye(&mut b, PHONE_1001);
    // The one re-INVITE the carrier gets: off hold, on the same port, our own session.
    let unhold = b.expect_request(Method::Invite, CARRIER);
    assert_eq!(unhold.call_id(), "x-hold");
    assert_eq!(unhold.sdp_port(), Some(40000), "{}", unhold.body());
    assert!(unhold.body().contains("a=sendrecv"), "{}", unhold.body());
    assert!(!unhold.body().contains("192.0.2.51"), "{}", unhold.body());
    b.recv(
        answer(
            &unhold,
            200,
            "OK",
            Some("a-tag"),
            &sdp("192.0.2.10", 30000, ""),
        ),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    assert_eq!(b.count(|s| s.peer == peer(PHONE_1002)), 0, "{}", b.dump());
}

#[test]
fn bad_refers_are_refused_with_a_reason() {
    let mut b = bench();
    let c = connect(&mut b, "x-bad", true);
    let mut seq = 0;
    let mut send = |b: &mut Bench, headers: &str| {
        seq += 1;
        b.recv_text(&refer_from_b(&c, seq, headers), PHONE_1001);
    };
    let reason = |s: &Sent| s.msg.reason_lossy().unwrap_or_default().to_string();

    send(&mut b, "");
    let r = b.expect_response(400, Method::Refer, PHONE_1001);
    assert!(reason(&r).contains("no Refer-To"), "{}", reason(&r));

    send(
        &mut b,
        "Refer-To: <sip:1002@10.0.0.1>\r\nRefer-To: <sip:1003@10.0.0.1>\r\n",
    );
    let r = b.expect_response(400, Method::Refer, PHONE_1001);
    assert!(reason(&r).contains("more than one"), "{}", reason(&r));

    send(&mut b, "Refer-To: <sip:alice@10.0.0.1>\r\n");
    b.expect_response(400, Method::Refer, PHONE_1001);

    // Not an extension and not allowed by the dial plan (outside numbers start with 9).
    send(&mut b, &refer_to("5551234"));
    let r = b.expect_response(403, Method::Refer, PHONE_1001);
    assert!(reason(&r).contains("dial plan"), "{}", reason(&r));

    send(
        &mut b,
        "Refer-To: <sip:1002@10.0.0.1?Replaces=x%3Bto-tag%3Da%3Bfrom-tag%3Db>\r\n",
    );
    let r = b.expect_response(501, Method::Refer, PHONE_1001);
    assert!(reason(&r).contains("Replaces"), "{}", reason(&r));

    // One transfer at a time.
    send(&mut b, &refer_to("1002"));
    b.expect_response(202, Method::Refer, PHONE_1001);
    notify(&mut b, PHONE_1001);
    b.expect_request(Method::Invite, PHONE_1002);
    send(&mut b, &refer_to("1002"));
    b.expect_response(491, Method::Refer, PHONE_1001);

    // Outside any dialog, and in a dialog hotline does not know.
    let stray = request(
        "REFER",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "stray",
        "<sip:1001@192.0.2.50:5060>;tag=zz",
        "<sip:hotline@10.0.0.1>",
        "no-such-call",
        1,
        &refer_to("1002"),
        "",
    );
    b.recv_text(&stray, PHONE_1001);
    b.expect_response(403, Method::Refer, PHONE_1001);
    let unknown = request(
        "REFER",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "unknown",
        "<sip:1001@192.0.2.50:5060>;tag=zz",
        "<sip:hotline@10.0.0.1>;tag=yy",
        "no-such-call",
        1,
        &refer_to("1002"),
        "",
    );
    b.recv_text(&unknown, PHONE_1001);
    b.expect_response(481, Method::Refer, PHONE_1001);
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn the_transferee_hanging_up_during_the_transfer_ends_everything() {
    let mut b = bench();
    let (c, inv) = transfer_to_1002(&mut b, "x-hup");
    b.recv(answer(&inv, 180, "Ringing", Some("t2"), ""), PHONE_1002);
    notify(&mut b, PHONE_1001);
    b.recv_text(
        &a_in_dialog("BYE", "x-hup", &c.our_a_tag, 2, "bye-a"),
        CARRIER,
    );
    b.expect_response(200, Method::Bye, CARRIER);
    let cancel = b.expect_request(Method::Cancel, PHONE_1002);
    b.recv(answer(&cancel, 200, "OK", None, ""), PHONE_1002);
    let n = notify(&mut b, PHONE_1001);
    assert!(n.body().starts_with("SIP/2.0 487"), "{}", n.body());
    answer_bye(&mut b, PHONE_1001);
    assert_eq!(b.e.active_calls(), 0);
    assert_eq!(b.cdrs[0].call.hangup_side, HangupSide::Caller);
}

#[test]
fn a_far_end_reached_through_a_trunk_may_transfer_too_and_frees_its_channel() {
    let mut b = bench();
    let first = agent_dial(&mut b, "x-far", "9010555");
    b.recv(
        answer(&first, 200, "OK", Some("c1"), &sdp("192.0.2.10", 30000, "")),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    b.expect_response(200, Method::Invite, PHONE_1001);
    let channels = |b: &Bench| {
        b.metrics
            .trunk("carrier")
            .channels_in_use
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(channels(&b), 1);
    // The number called (say a department's switchboard) transfers the agent to extension 1002.
    let refer = request(
        "REFER",
        "sip:hotline@10.0.0.1:5060",
        CARRIER,
        "far-refer",
        &format!("{};tag=c1", first.hdr("To")),
        &first.hdr("From"),
        &first.call_id(),
        1,
        &refer_to("1002"),
        "",
    );
    b.recv_text(&refer, CARRIER);
    b.expect_response(202, Method::Refer, CARRIER);
    notify(&mut b, CARRIER);
    let inv = b.expect_request(Method::Invite, PHONE_1002);
    assert_eq!(
        inv.sdp_port(),
        Some(40002),
        "the far end's side of the bridge"
    );
    assert!(ringback_to(&b, MediaLeg::A), "the agent hears ringback");
    b.recv(
        answer(&inv, 200, "OK", Some("t2"), &sdp("192.0.2.51", 22000, "")),
        PHONE_1002,
    );
    notify(&mut b, CARRIER);
    let bye = answer_bye(&mut b, CARRIER);
    assert_eq!(bye.call_id(), first.call_id());
    assert_eq!(
        channels(&b),
        0,
        "the trunk channel is free once its party left"
    );
    assert_eq!(b.e.active_calls(), 1);
}
