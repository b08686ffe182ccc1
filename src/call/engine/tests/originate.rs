//! Calls hotline places itself, in virtual time: an agent's dial from the desktop and a callback
//! promise. The agent's phone rings first; once it answers, the agent hears ringback while the
//! number is dialled through the trunks (the next trunk when one fails); the number's answer is
//! relayed to the agent on the call bridge; either side's BYE ends it with one CDR.

use std::time::Duration;

use super::harness::*;
use crate::acd::event::{
    Action as AcdAction, CallOp, Event as AcdEvent, OfferFailure, PartyRole, PartyStatus,
};
use crate::acd::Endpoint;
use crate::call::engine::MediaLeg;
use crate::sip::message::Method;

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
number = "12315"
route = "queue:consumer"

[[trunk]]
name = "backup"
peer = "192.0.2.20:5060"
inbound_sources = ["192.0.2.20"]
channels = 4
caller_id = "12345"
priority = 2
[trunk.keepalive]
interval_secs = 0

[[dial]]
prefix = "0"
trunks = ["carrier", "backup"]

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@192.0.2.50:5060"
"#;

const BACKUP: &str = "192.0.2.20:5060";
const CALL: &str = "o-1";
const NUMBER: &str = "013800138000";

fn bench() -> Bench {
    Bench::with_services(PROFILES, true)
}

/// The ACD passes on agent A1's call control for the call.
fn control(b: &mut Bench, op: CallOp) {
    b.e.handle_acd_action(
        AcdAction::CallControl {
            call: CALL.into(),
            agent_no: "A1".into(),
            op,
        },
        b.now,
    );
    b.drain();
}

fn dial(b: &mut Bench) {
    control(
        b,
        CallOp::Dial {
            number: NUMBER.into(),
            endpoint: Some(Endpoint::Sip {
                extension: "1001".into(),
            }),
            auto_answer: true,
        },
    );
}

fn offer_callback(b: &mut Bench) {
    offer_callback_to(b, NUMBER);
}

/// The ACD offers agent A1 the callback promise `CALL` to `number`.
fn offer_callback_to(b: &mut Bench, number: &str) {
    b.e.handle_acd_action(
        AcdAction::OfferCall {
            call: CALL.into(),
            agent_no: "A1".into(),
            endpoint: Some(Endpoint::Sip {
                extension: "1001".into(),
            }),
            auto_answer: true,
            ring_timeout_ms: 15_000,
            callback: Some(number.into()),
        },
        b.now,
    );
    b.drain();
}

/// The agent's phone answers hotline's INVITE; returns that INVITE.
fn agent_answers(b: &mut Bench) -> Sent {
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(
        answer(&inv, 200, "OK", Some("ag"), &sdp("192.0.2.50", 20000, "")),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    inv
}

fn far_answers(b: &mut Bench, at: &str) -> Sent {
    let inv = b.expect_request(Method::Invite, at);
    b.recv(answer(&inv, 180, "Ringing", Some("far"), ""), at);
    b.recv(
        answer(&inv, 200, "OK", Some("far"), &sdp("192.0.2.99", 40000, "")),
        at,
    );
    b.expect_request(Method::Ack, at);
    inv
}

fn ringback_played(b: &Bench) -> bool {
    b.media_log().iter().any(|m| {
        matches!(m, MediaCall::Play { leg: MediaLeg::B, looping: true, prompts, .. }
            if prompts.iter().any(|p| p.starts_with("samples:")))
    })
}

#[test]
fn desktop_dial_rings_the_agent_then_the_number_and_bridges_them() {
    let mut b = bench();
    dial(&mut b);
    let agent_inv = agent_answers(&mut b);
    assert!(
        agent_inv.hdr("Call-Info").contains("answer-after=0"),
        "an auto-answer agent's phone picks up by itself"
    );
    assert!(
        agent_inv.hdr("From").contains(NUMBER),
        "the agent's phone shows the number being called: {}",
        agent_inv.hdr("From")
    );
    assert!(
        ringback_played(&b),
        "the agent hears ringback while the number rings"
    );
    let far = far_answers(&mut b, CARRIER);
    assert!(
        far.hdr("From").contains("sip:12345@"),
        "the trunk presents its outbound caller ID: {}",
        far.hdr("From")
    );
    assert!(far
        .msg
        .request_uri_str()
        .is_some_and(|u| u.contains("13800138000")));
    let (pa, pb) = (far.sdp_port(), agent_inv.sdp_port());
    assert!(
        pa.is_some() && pb.is_some() && pa != pb,
        "each side has its own relay port"
    );
    let log = b.media_log();
    assert!(
        log.iter().any(
            |m| matches!(m, MediaCall::Update { leg: MediaLeg::A, addr, .. }
            if addr.to_string() == "192.0.2.99:40000")
        ),
        "the number's media goes to the bridge's A side"
    );
    assert!(log.iter().any(|m| matches!(
        m,
        MediaCall::StopPlay {
            leg: MediaLeg::B,
            ..
        }
    )));
    assert!(
        log.iter().any(|m| matches!(m, MediaCall::Record { .. })),
        "the conversation is recorded once the number answers"
    );
    assert!(
        !b.acd
            .iter()
            .any(|e| matches!(e, AcdEvent::CallAnswered { .. })),
        "the ACD knows its agent's own dial already"
    );
    // The number hangs up: the agent's phone gets BYE, the ACD hears the call ended.
    b.advance(Duration::from_secs(30));
    b.recv_text(&far_bye(&far, "far", 2), CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
    let desktop: Vec<PartyStatus> = b
        .acd
        .iter()
        .filter_map(|e| match e {
            AcdEvent::Party {
                role: PartyRole::Callee,
                party,
                status,
                ..
            } if party == NUMBER => Some(status.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        desktop,
        [PartyStatus::Ringing, PartyStatus::Joined, PartyStatus::Left],
        "the desktop follows the number"
    );
    assert_eq!(b.cdrs.len(), 1);
    let cdr = &b.cdrs[0].call;
    assert_eq!(cdr.direction, "outbound");
    assert_eq!(cdr.callee, NUMBER);
    assert_eq!(cdr.agent, "A1");
    assert_eq!(cdr.trunk, "carrier");
    assert_eq!(cdr.sip_code, 200);
    assert!(cdr.answer_ms.is_some());
    assert_eq!(
        cdr.hangup_side,
        crate::call::cdr::HangupSide::Callee,
        "the number hung up"
    );
}

/// The BYE the far end sends in its dialog with hotline (hotline's INVITE `inv`).
fn far_bye(inv: &Sent, far_tag: &str, cseq: u32) -> String {
    fix_length(&format!(
        "BYE sip:hotline@{US} SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKfarbye{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: <{}>;tag={far_tag}\r\nTo: {}\r\nCall-ID: {}\r\n\
         CSeq: {cseq} BYE\r\nContent-Length: 0\r\n\r\n",
        inv.msg.request_uri_str().unwrap_or_default(),
        inv.hdr("From"),
        inv.call_id()
    ))
}

#[test]
fn a_failing_trunk_hands_the_number_to_the_next() {
    let mut b = bench();
    dial(&mut b);
    agent_answers(&mut b);
    let first = b.expect_request(Method::Invite, CARRIER);
    b.recv(
        answer(&first, 503, "Service Unavailable", Some("x"), ""),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    far_answers(&mut b, BACKUP);
    assert!(b.cdrs.is_empty(), "the call goes on over the backup trunk");
}

#[test]
fn a_busy_number_ends_the_dial_without_trying_other_trunks() {
    let mut b = bench();
    dial(&mut b);
    agent_answers(&mut b);
    let inv = b.expect_request(Method::Invite, CARRIER);
    b.recv(answer(&inv, 486, "Busy Here", Some("x"), ""), CARRIER);
    b.expect_request(Method::Ack, CARRIER);
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Invite) && s.peer == peer(BACKUP)),
        0,
        "busy is the number's answer, not the trunk's failure"
    );
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
    assert!(
        b.acd.iter().any(|e| matches!(
            e,
            AcdEvent::Party {
                role: PartyRole::Callee,
                status: PartyStatus::Failed { code: 486, .. },
                ..
            }
        )),
        "the desktop shows why: busy"
    );
    assert_eq!(b.cdrs.len(), 1);
    assert_eq!(b.cdrs[0].call.sip_code, 486);
    assert_eq!(b.cdrs[0].call.answer_ms, None);
}

#[test]
fn the_agent_hanging_up_while_the_number_rings_cancels_it() {
    let mut b = bench();
    dial(&mut b);
    agent_answers(&mut b);
    let inv = b.expect_request(Method::Invite, CARRIER);
    b.recv(answer(&inv, 180, "Ringing", Some("far"), ""), CARRIER);
    // The agent hangs up from the desktop.
    control(&mut b, CallOp::Hangup);
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    b.expect_request(Method::Cancel, CARRIER);
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
}

#[test]
fn an_agent_phone_that_does_not_answer_ends_the_dial() {
    let mut b = bench();
    dial(&mut b);
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(answer(&inv, 486, "Busy Here", Some("ag"), ""), PHONE_1001);
    b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Invite) && s.peer == peer(CARRIER)),
        0,
        "nobody outside is called for an agent who is not there"
    );
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
    assert_eq!(b.cdrs.len(), 1, "the attempt is in the CDRs");
}

#[test]
fn a_callback_reports_reaching_the_citizen_to_the_acd() {
    let mut b = bench();
    offer_callback(&mut b);
    let agent_inv = agent_answers(&mut b);
    assert!(
        b.acd.contains(&AcdEvent::CallAnswered {
            call: CALL.into(),
            agent_no: "A1".into()
        }),
        "the agent took the promise"
    );
    far_answers(&mut b, CARRIER);
    assert!(b.acd.iter().any(|e| matches!(e,
        AcdEvent::CallbackResult { call, reached: true, .. } if call == CALL)));
    // The agent's phone hangs up: the call ends, the ACD hears of it once.
    let bye = a_bye_from_agent(&agent_inv);
    b.recv_text(&bye, PHONE_1001);
    b.expect_response(200, Method::Bye, PHONE_1001);
    let far_bye = b.expect_request(Method::Bye, CARRIER);
    b.recv(answer(&far_bye, 200, "OK", None, ""), CARRIER);
    let ended = b
        .acd
        .iter()
        .filter(|e| **e == AcdEvent::CallEnded { call: CALL.into() })
        .count();
    assert_eq!(ended, 1);
    assert_eq!(b.cdrs[0].call.direction, "callback");
}

#[test]
fn a_callback_the_citizen_does_not_answer_is_reported_as_not_reached() {
    let mut b = bench();
    offer_callback(&mut b);
    agent_answers(&mut b);
    let inv = b.expect_request(Method::Invite, CARRIER);
    b.recv(answer(&inv, 180, "Ringing", Some("far"), ""), CARRIER);
    // Nobody answers within the minute hotline lets the number ring.
    b.advance(Duration::from_secs(61));
    assert!(b.acd.iter().any(|e| matches!(e,
        AcdEvent::CallbackResult { call, reached: false, .. } if call == CALL)));
    b.expect_request(Method::Cancel, CARRIER);
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
}

#[test]
fn a_callback_offer_the_agent_misses_fails_like_any_offer() {
    let mut b = bench();
    offer_callback(&mut b);
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(
        answer(&inv, 480, "Temporarily Unavailable", Some("ag"), ""),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    assert!(b.acd.iter().any(|e| matches!(e,
        AcdEvent::OfferFailed { call, cause: OfferFailure::NoAnswer, .. } if call == CALL)));
    assert!(
        !b.acd
            .iter()
            .any(|e| matches!(e, AcdEvent::CallEnded { .. })),
        "the promise keeps waiting: the ACD must not hear the call ended"
    );
    assert_eq!(b.e.active_calls(), 0);
}

#[test]
fn a_callback_to_a_number_no_trunk_reaches_is_not_the_agents_fault() {
    let mut b = bench();
    offer_callback_to(&mut b, "99999");
    assert!(b
        .acd
        .iter()
        .any(|e| matches!(e, AcdEvent::CallbackResult { reached: false, .. })));
    assert!(!b
        .acd
        .iter()
        .any(|e| matches!(e, AcdEvent::OfferFailed { .. })));
    assert_eq!(b.count(|s| s.method() == Some(&Method::Invite)), 0);
}

/// A BYE from agent 1001's phone in its dialog with hotline (hotline's INVITE `inv`).
fn a_bye_from_agent(inv: &Sent) -> String {
    fix_length(&format!(
        "BYE sip:hotline@{US} SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE_1001};branch=z9hG4bKagbye\r\n\
         Max-Forwards: 70\r\nFrom: <sip:1001@192.0.2.50>;tag=ag\r\nTo: {}\r\n\
         Call-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        inv.hdr("From"),
        inv.call_id()
    ))
}

#[test]
fn the_agent_transfers_an_outbound_call_and_the_citizen_stays_on() {
    let mut b = bench();
    dial(&mut b);
    agent_answers(&mut b);
    let far = far_answers(&mut b, CARRIER);
    control(
        &mut b,
        CallOp::Transfer {
            target: crate::acd::event::Target::Department {
                number: "07712345678".into(),
            },
        },
    );
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye) && s.peer == peer(CARRIER)),
        0,
        "the citizen stays on while the department is called"
    );
    let dept = b.expect("the department's INVITE", |s| {
        s.method() == Some(&Method::Invite) && s.call_id() != far.call_id()
    });
    assert!(dept
        .msg
        .request_uri_str()
        .unwrap_or_default()
        .contains("7712345678"));
    b.recv(
        answer(
            &dept,
            200,
            "OK",
            Some("dept"),
            &sdp("192.0.2.77", 42000, ""),
        ),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    assert!(b.cdrs.is_empty(), "citizen and department talk");
    // The department hangs up: the citizen is let go, one CDR.
    b.recv_text(&far_bye(&dept, "dept", 2), CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    let bye = b.expect_request(Method::Bye, CARRIER);
    assert_eq!(bye.call_id(), far.call_id());
    b.recv(answer(&bye, 200, "OK", None, ""), CARRIER);
    assert_eq!(b.cdrs.len(), 1);
}

#[test]
fn a_desktop_hangup_ends_an_answered_outbound_call_for_both() {
    let mut b = bench();
    dial(&mut b);
    agent_answers(&mut b);
    let far = far_answers(&mut b, CARRIER);
    control(&mut b, CallOp::Hangup);
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    let bye = b.expect_request(Method::Bye, CARRIER);
    assert_eq!(bye.call_id(), far.call_id());
    b.recv(answer(&bye, 200, "OK", None, ""), CARRIER);
    assert_eq!(b.cdrs.len(), 1);
    assert_eq!(
        b.cdrs[0].call.hangup_side,
        crate::call::cdr::HangupSide::Caller,
        "the agent, the calling side, hung up"
    );
}

#[test]
fn the_agent_hears_the_carriers_early_media_instead_of_local_ringback() {
    let mut b = bench();
    dial(&mut b);
    agent_answers(&mut b);
    let inv = b.expect_request(Method::Invite, CARRIER);
    // "您拨打的电话已关机": the carrier's announcement comes as early media.
    b.recv(
        answer(
            &inv,
            183,
            "Session Progress",
            Some("far"),
            &sdp("192.0.2.99", 40002, ""),
        ),
        CARRIER,
    );
    let log = b.media_log();
    assert!(log.iter().any(|m| matches!(m,
        MediaCall::StopPlay { leg: MediaLeg::B, play: Some(p), .. }
            if *p == crate::call::engine::originate::RINGBACK)));
    assert!(log.iter().any(
        |m| matches!(m, MediaCall::Update { leg: MediaLeg::A, addr, .. }
        if addr.to_string() == "192.0.2.99:40002")
    ));
    assert!(
        log.contains(&MediaCall::Direction {
            id: 1,
            leg: MediaLeg::A,
            sends: true,
            receives: false
        }),
        "the agent hears the announcement; the number does not hear the agent yet"
    );
    b.recv(
        answer(&inv, 480, "Temporarily Unavailable", Some("far"), ""),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    assert_eq!(b.cdrs[0].call.sip_code, 480);
}

#[test]
fn no_call_is_placed_while_the_node_shuts_down() {
    let mut b = bench();
    let now = b.now;
    b.e.begin_shutdown(Duration::from_secs(10), now);
    b.drain();
    dial(&mut b);
    assert_eq!(b.count(|s| s.method() == Some(&Method::Invite)), 0);
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
}
