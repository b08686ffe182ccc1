//! Parties beside the caller and the agent, in virtual time: a supervisor monitors, whispers,
//! barges and leaves; the agent consults a colleague, joins all three, and leaves the caller with
//! them; a consult that fails gives the caller back; a blind transfer hands the caller to an
//! outside number.

use std::time::Duration;

use super::harness::*;
use crate::acd::event::{
    Action as AcdAction, CallOp, Event as AcdEvent, PartyRole, PartyStatus, SuperviseMode,
    Target as AcdTarget,
};
use crate::call::engine::MediaLeg;
use crate::media::relay::{Leg, MixMode};
use crate::sip::message::Method;

const PROFILES: &str = r#"
[[trunk]]
name = "carrier"
peer = "192.0.2.10:5060"
inbound_sources = ["192.0.2.10"]
channels = 4
[trunk.keepalive]
interval_secs = 0
[[trunk.did]]
number = "12315"
route = "queue:consumer"
[[trunk.did]]
number = "12399"
route = "queue:consumer"
record = false

[[dial]]
prefix = "0"
trunks = ["carrier"]

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@192.0.2.50:5060"
[[agents.extension]]
number = "1002"
password = "pw1002"
contact = "sip:1002@192.0.2.51:5060"
[[agents.extension]]
number = "2001"
password = "pw2001"
contact = "sip:2001@192.0.2.60:5060"
"#;

const COLLEAGUE: &str = "192.0.2.51:5060";
const SUPERVISOR: &str = "192.0.2.60:5060";
const CALL: &str = "p-1";

fn bench() -> Bench {
    Bench::with_services(PROFILES, true)
}

/// A queue call answered by agent A1 on extension 1001; returns the agent's INVITE.
fn talking(b: &mut Bench) -> Sent {
    talking_on(b, "12315")
}

fn talking_on(b: &mut Bench, did: &str) -> Sent {
    talking_tagged(b, did).0
}

/// As [`talking_on`], also returning hotline's tag in the caller's dialog.
fn talking_tagged(b: &mut Bench, did: &str) -> (Sent, String) {
    b.recv_text(&carrier_invite(CALL, did), CARRIER);
    let ok = b.expect_response(200, Method::Invite, CARRIER);
    let tag = ok.tag_to();
    b.recv_text(&a_in_dialog("ACK", CALL, &tag, 1, "ack1"), CARRIER);
    b.offer_to_a1(CALL);
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(
        answer(&inv, 200, "OK", Some("ag"), &sdp("192.0.2.50", 20000, "")),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    (inv, tag)
}

/// The agent consults colleague 1002, who answers; returns hotline's INVITE to them.
fn consult_colleague(b: &mut Bench) -> Sent {
    control(
        b,
        CallOp::Consult {
            target: AcdTarget::Agent {
                agent_no: "1002".into(),
            },
        },
    );
    let inv = b.expect_request(Method::Invite, COLLEAGUE);
    b.recv(
        answer(&inv, 200, "OK", Some("co"), &sdp("192.0.2.51", 32000, "")),
        COLLEAGUE,
    );
    b.expect_request(Method::Ack, COLLEAGUE);
    inv
}

fn acd(b: &mut Bench, action: AcdAction) {
    b.e.handle_acd_action(action, b.now);
    b.drain();
}

fn control(b: &mut Bench, op: CallOp) {
    acd(
        b,
        AcdAction::CallControl {
            call: CALL.into(),
            agent_no: "A1".into(),
            op,
        },
    );
}

fn supervise(b: &mut Bench, mode: Option<SuperviseMode>) {
    acd(
        b,
        AcdAction::Supervise {
            supervisor: "2001".into(),
            agent_no: "A1".into(),
            call: CALL.into(),
            mode,
        },
    );
}

fn mixes(b: &Bench) -> Vec<(u64, Leg, Option<MixMode>)> {
    b.media_log()
        .into_iter()
        .filter_map(|c| match c {
            MediaCall::Mix { id, leg, mode, .. } => Some((
                id,
                match leg {
                    MediaLeg::A => Leg::A,
                    MediaLeg::B => Leg::B,
                },
                mode,
            )),
            _ => None,
        })
        .collect()
}

fn party_statuses(b: &Bench) -> Vec<(String, PartyRole, PartyStatus)> {
    b.acd
        .iter()
        .filter_map(|e| match e {
            AcdEvent::Party {
                party,
                role,
                status,
                ..
            } => Some((party.clone(), *role, status.clone())),
            _ => None,
        })
        .collect()
}

/// A BYE from a party's phone in the dialog of hotline's INVITE `inv` (answered with tag `tag`).
fn bye_from(b: &mut Bench, inv: &Sent, tag: &str, from: &str) {
    let bye = request(
        "BYE",
        "sip:hotline@10.0.0.1:5060",
        from,
        &format!("bye-{tag}"),
        &format!("{};tag={tag}", inv.hdr("To").split(";tag").next().unwrap()),
        &inv.hdr("From"),
        &inv.call_id(),
        2,
        "",
        "",
    );
    b.recv_text(&bye, from);
    b.expect_response(200, Method::Bye, from);
}

#[test]
fn supervisor_monitors_whispers_barges_and_leaves() {
    let mut b = bench();
    talking(&mut b);
    supervise(&mut b, Some(SuperviseMode::Monitor));
    let inv = b.expect_request(Method::Invite, SUPERVISOR);
    assert!(
        inv.body().contains("m=audio 40004 RTP/AVP 0 101"),
        "the supervisor gets the caller's codec on a port of their own: {}",
        inv.body()
    );
    assert!(
        inv.hdr("Call-Info").contains("answer-after=0"),
        "auto-answer"
    );
    assert_eq!(
        party_statuses(&b),
        vec![("2001".into(), PartyRole::Supervisor, PartyStatus::Ringing)]
    );
    assert!(mixes(&b).is_empty(), "no conference before anyone joins");

    b.recv(
        answer(&inv, 200, "OK", Some("sv"), &sdp("192.0.2.60", 31000, "")),
        SUPERVISOR,
    );
    b.expect_request(Method::Ack, SUPERVISOR);
    assert!(b.media_log().contains(&MediaCall::Update {
        id: 2,
        leg: MediaLeg::A,
        addr: addr("192.0.2.60:31000")
    }));
    assert_eq!(
        mixes(&b),
        vec![
            (1, Leg::A, Some(MixMode::Normal)),
            (1, Leg::B, Some(MixMode::Normal)),
            (2, Leg::A, Some(MixMode::Monitor)),
        ],
        "caller and agent talk, the supervisor only listens"
    );
    assert_eq!(party_statuses(&b).last().unwrap().2, PartyStatus::Joined);

    supervise(&mut b, Some(SuperviseMode::Whisper));
    assert_eq!(
        mixes(&b).last(),
        Some(&(2, Leg::A, Some(MixMode::Whisper { to: (1, Leg::B) }))),
        "whisper reaches the agent's leg only"
    );
    assert_eq!(b.count(|s| s.method() == Some(&Method::Invite)), 0);

    supervise(&mut b, Some(SuperviseMode::Barge));
    assert_eq!(mixes(&b).last(), Some(&(2, Leg::A, Some(MixMode::Barge))));
    assert!(
        b.media_log().iter().any(|c| matches!(c,
            MediaCall::Play { id: 1, leg: MediaLeg::A, prompts, .. } if prompts == &["supervisor_joins"])),
        "the citizen is told a supervisor joins (B1 L3396)"
    );

    supervise(&mut b, None);
    let bye = b.expect_request(Method::Bye, SUPERVISOR);
    b.recv(answer(&bye, 200, "OK", None, ""), SUPERVISOR);
    let log = b.media_log();
    assert!(log.contains(&MediaCall::Destroy { id: 2 }));
    assert_eq!(
        mixes(&b)[mixes(&b).len() - 3..],
        [(2, Leg::A, None), (1, Leg::A, None), (1, Leg::B, None)],
        "the supervisor leaves, then the call is a plain relay again"
    );
    assert_eq!(party_statuses(&b).last().unwrap().2, PartyStatus::Left);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "caller and agent stay"
    );
}

#[test]
fn consult_three_way_then_the_agent_leaves_the_caller_with_the_colleague() {
    let mut b = bench();
    let agent_inv = talking(&mut b);
    control(
        &mut b,
        CallOp::Consult {
            target: AcdTarget::Agent {
                agent_no: "1002".into(),
            },
        },
    );
    let log = b.media_log();
    assert!(
        log.iter().any(|c| matches!(c,
            MediaCall::Play { id: 1, leg: MediaLeg::A, prompts, looping: true, .. } if prompts == &["queue_music"])),
        "the caller waits with music"
    );
    assert!(log.contains(&MediaCall::Direction {
        id: 1,
        leg: MediaLeg::A,
        sends: false,
        receives: true
    }));
    let inv = b.expect_request(Method::Invite, COLLEAGUE);
    b.recv(answer(&inv, 180, "Ringing", Some("co"), ""), COLLEAGUE);
    b.recv(
        answer(&inv, 200, "OK", Some("co"), &sdp("192.0.2.51", 32000, "")),
        COLLEAGUE,
    );
    b.expect_request(Method::Ack, COLLEAGUE);
    assert_eq!(mixes(&b).last(), Some(&(2, Leg::A, Some(MixMode::Normal))));
    assert_eq!(
        party_statuses(&b),
        vec![
            ("1002".into(), PartyRole::Consult, PartyStatus::Ringing),
            ("1002".into(), PartyRole::Consult, PartyStatus::Joined),
        ]
    );

    control(&mut b, CallOp::ThreeWay);
    let log = b.media_log();
    assert!(log.contains(&MediaCall::StopPlay {
        id: 1,
        leg: MediaLeg::A,
        play: Some(crate::call::engine::hosted::MUSIC)
    }));
    assert_eq!(
        log.last(),
        Some(&MediaCall::Direction {
            id: 1,
            leg: MediaLeg::A,
            sends: true,
            receives: true
        }),
        "the caller is heard again: all three talk"
    );

    // The agent hangs up: the caller stays with the colleague, no survey, no hang-up.
    b.advance(Duration::from_secs(30));
    bye_from(&mut b, &agent_inv, "ag", PHONE_1001);
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::CallEnded { call: CALL.into() }),
        "the agent's part is over (wrap-up)"
    );
    assert_eq!(b.count(|s| s.method() == Some(&Method::Bye)), 0);
    assert_eq!(mixes(&b).last(), Some(&(1, Leg::B, None)));

    // The colleague hangs up: the conversation is over, the caller is let go.
    bye_from(&mut b, &inv, "co", COLLEAGUE);
    let bye = b.expect_request(Method::Bye, CARRIER);
    b.recv(answer(&bye, 200, "OK", None, ""), CARRIER);
    assert!(b.media_log().contains(&MediaCall::Destroy { id: 2 }));
    let cdr = b.cdrs.last().expect("a CDR");
    assert!(
        cdr.legs
            .iter()
            .any(|l| l.peer == "1002" && l.answer_ms.is_some()),
        "the consulted leg is in the CDR: {:?}",
        cdr.legs
    );
}

#[test]
fn a_busy_consult_gives_the_caller_back_to_the_agent() {
    let mut b = bench();
    talking(&mut b);
    control(
        &mut b,
        CallOp::Consult {
            target: AcdTarget::Agent {
                agent_no: "1002".into(),
            },
        },
    );
    let inv = b.expect_request(Method::Invite, COLLEAGUE);
    b.recv(answer(&inv, 486, "Busy Here", Some("co"), ""), COLLEAGUE);
    b.expect_request(Method::Ack, COLLEAGUE);
    assert!(matches!(
        party_statuses(&b).last(),
        Some((_, PartyRole::Consult, PartyStatus::Failed { code: 486, .. }))
    ));
    assert_eq!(
        b.media_log().last(),
        Some(&MediaCall::Direction {
            id: 1,
            leg: MediaLeg::A,
            sends: true,
            receives: true
        }),
        "the caller is off hold"
    );
    assert!(mixes(&b).is_empty(), "nobody joined: no conference at all");

    // A consult to an unregistered extension fails at once, with the reason.
    control(
        &mut b,
        CallOp::Consult {
            target: AcdTarget::Agent {
                agent_no: "3999".into(),
            },
        },
    );
    match party_statuses(&b).last() {
        Some((who, _, PartyStatus::Failed { code: 404, reason })) => {
            assert_eq!(who, "3999");
            assert!(reason.contains("not registered"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn blind_transfer_hands_the_caller_to_an_outside_number() {
    let mut b = bench();
    let agent_inv = talking(&mut b);
    control(
        &mut b,
        CallOp::Transfer {
            target: AcdTarget::Department {
                number: "07712345678".into(),
            },
        },
    );
    // The agent's leg ends at once; the caller waits with music while the department rings.
    let bye = b.expect_request(Method::Bye, PHONE_1001);
    assert_eq!(bye.call_id(), agent_inv.call_id());
    b.recv(answer(&bye, 200, "OK", None, ""), PHONE_1001);
    let inv = b.expect_request(Method::Invite, CARRIER);
    assert!(
        inv.msg.request_uri_str().unwrap().contains("07712345678"),
        "{}",
        inv.msg.request_uri_str().unwrap()
    );
    assert!(inv.body().contains("m=audio 40004"), "{}", inv.body());
    assert!(!b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
    b.recv(
        answer(&inv, 200, "OK", Some("dp"), &sdp("192.0.2.10", 33000, "")),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    assert_eq!(
        mixes(&b),
        vec![
            (1, Leg::A, Some(MixMode::Normal)),
            (2, Leg::A, Some(MixMode::Normal)),
        ],
        "caller and department talk through the conference; the agent is not in it"
    );
    assert!(b.media_log().contains(&MediaCall::StopPlay {
        id: 1,
        leg: MediaLeg::A,
        play: Some(crate::call::engine::hosted::MUSIC)
    }));
    // The department hangs up: the caller is let go.
    bye_from(&mut b, &inv, "dp", CARRIER);
    let bye = b.expect_request(Method::Bye, CARRIER);
    assert_eq!(bye.call_id(), CALL);
}

#[test]
fn the_agent_pauses_and_resumes_the_recording_and_unrecorded_lines_stay_so() {
    let mut b = bench();
    talking(&mut b);
    assert!(b
        .media_log()
        .iter()
        .any(|c| matches!(c, MediaCall::Record { id: 1, .. })));
    control(&mut b, CallOp::PauseRecording { on: true });
    assert_eq!(
        b.media_log().last(),
        Some(&MediaCall::PauseRecord {
            id: 1,
            paused: true
        })
    );
    control(&mut b, CallOp::PauseRecording { on: false });
    assert_eq!(
        b.media_log().last(),
        Some(&MediaCall::PauseRecord {
            id: 1,
            paused: false
        })
    );
    // Another agent's command does nothing to this call.
    acd(
        &mut b,
        AcdAction::CallControl {
            call: CALL.into(),
            agent_no: "A9".into(),
            op: CallOp::PauseRecording { on: true },
        },
    );
    assert_eq!(
        b.media_log()
            .iter()
            .filter(|c| matches!(c, MediaCall::PauseRecord { .. }))
            .count(),
        2
    );

    // A line configured with `record = false` is not recorded.
    let mut b = bench();
    talking_on(&mut b, "12399");
    assert!(
        !b.media_log()
            .iter()
            .any(|c| matches!(c, MediaCall::Record { .. })),
        "{:?}",
        b.media_log()
    );
}

#[test]
fn the_agent_phone_transfers_by_refer_through_the_acd() {
    let mut b = bench();
    let inv = talking(&mut b);
    let refer = |b: &mut Bench, refer_to: &str, cseq: u32| {
        let text = request(
            "REFER",
            "sip:hotline@10.0.0.1:5060",
            PHONE_1001,
            &format!("refer{cseq}"),
            &format!("{};tag=ag", inv.hdr("To").split(";tag").next().unwrap()),
            &inv.hdr("From"),
            &inv.call_id(),
            cseq,
            &format!("Refer-To: {refer_to}\r\nReferred-By: <sip:1001@192.0.2.50>\r\n"),
            "",
        );
        b.recv_text(&text, PHONE_1001);
    };
    // Attended transfer by REFER is refused with a reason; a name is not a number.
    refer(
        &mut b,
        "<sip:1002@10.0.0.1?Replaces=x%3Bto-tag%3Da%3Bfrom-tag%3Db>",
        2,
    );
    let r = b.expect_response(501, Method::Refer, PHONE_1001);
    assert!(r.msg.reason_lossy().unwrap().contains("desktop"));
    refer(&mut b, "<sip:alice@10.0.0.1>", 3);
    b.expect_response(400, Method::Refer, PHONE_1001);

    refer(&mut b, "<sip:07712345678@10.0.0.1>", 4);
    b.expect_response(202, Method::Refer, PHONE_1001);
    let trying = b.expect_request(Method::Notify, PHONE_1001);
    assert_eq!(trying.hdr("Event"), "refer");
    assert!(trying.body().starts_with("SIP/2.0 100"));
    b.recv(answer(&trying, 200, "OK", None, ""), PHONE_1001);
    // The ACD decides, as if the agent had pressed transfer on the desktop.
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::Agent {
            agent_no: "A1".into(),
            cmd: crate::acd::event::AgentCommand::Transfer {
                target: AcdTarget::External {
                    number: "07712345678".into()
                }
            }
        })
    );
    control(
        &mut b,
        CallOp::Transfer {
            target: AcdTarget::External {
                number: "07712345678".into(),
            },
        },
    );
    let done = b.expect_request(Method::Notify, PHONE_1001);
    assert!(done.body().starts_with("SIP/2.0 200"));
    assert!(done.hdr("Subscription-State").starts_with("terminated"));
    b.expect_request(Method::Bye, PHONE_1001);
    let out = b.expect_request(Method::Invite, CARRIER);
    assert!(out.msg.request_uri_str().unwrap().contains("07712345678"));
}

#[test]
fn attended_transfer_to_a_consulted_colleague_keeps_them_on_the_line() {
    let mut b = bench();
    talking(&mut b);
    let inv = consult_colleague(&mut b);
    control(
        &mut b,
        CallOp::Transfer {
            target: AcdTarget::Agent {
                agent_no: "1002".into(),
            },
        },
    );
    // A1 leaves; the caller talks to 1002 at once (no music, no new INVITE).
    b.expect_request(Method::Bye, PHONE_1001);
    assert!(b.media_log().contains(&MediaCall::Direction {
        id: 1,
        leg: MediaLeg::A,
        sends: true,
        receives: true
    }));
    assert!(
        b.media_log().contains(&MediaCall::StopPlay {
            id: 1,
            leg: MediaLeg::A,
            play: Some(crate::call::engine::hosted::MUSIC)
        }),
        "the caller leaves the consult's music"
    );
    // The ACD gives the call to 1002, who is already on the line.
    b.e.handle_acd_action(
        AcdAction::OfferCall {
            call: CALL.into(),
            agent_no: "1002".into(),
            endpoint: Some(crate::acd::Endpoint::Sip {
                extension: "1002".into(),
            }),
            auto_answer: true,
            ring_timeout_ms: 15_000,
            callback: None,
        },
        b.now,
    );
    b.drain();
    assert_eq!(b.count(|s| s.method() == Some(&Method::Invite)), 0);
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::CallAnswered {
            call: CALL.into(),
            agent_no: "1002".into()
        })
    );
    // 1002 mutes: their own party leg stops sending (not the gone agent's leg of the call
    // bridge), and the caller hears the please-wait prompt.
    let party_bridge = b
        .media_log()
        .iter()
        .rev()
        .find_map(|m| match m {
            MediaCall::Create { id, .. } => Some(*id),
            _ => None,
        })
        .expect("the colleague's bridge");
    assert_ne!(party_bridge, 1);
    acd(
        &mut b,
        AcdAction::CallControl {
            call: CALL.into(),
            agent_no: "1002".into(),
            op: CallOp::Mute { on: true },
        },
    );
    assert!(b.media_log().contains(&MediaCall::Direction {
        id: party_bridge,
        leg: MediaLeg::A,
        sends: false,
        receives: true
    }));
    assert!(!b.media_log().contains(&MediaCall::Direction {
        id: 1,
        leg: MediaLeg::B,
        sends: false,
        receives: true
    }));
    // 1002 hangs up from the desktop: their leg ends, the ACD hears it, the caller is let go.
    acd(
        &mut b,
        AcdAction::CallControl {
            call: CALL.into(),
            agent_no: "1002".into(),
            op: CallOp::Hangup,
        },
    );
    let bye = b.expect_request(Method::Bye, COLLEAGUE);
    assert_eq!(bye.call_id(), inv.call_id());
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
    b.expect_request(Method::Bye, CARRIER);
}

#[test]
fn the_agent_keys_digits_into_a_consulted_departments_menu() {
    let mut b = bench();
    talking(&mut b);
    // Without a consulted party the tones go to the caller.
    control(
        &mut b,
        CallOp::Dtmf {
            digits: "1#".into(),
        },
    );
    assert!(matches!(
        b.media_log().last(),
        Some(MediaCall::Play { id: 1, leg: MediaLeg::A, prompts, .. }) if prompts == &["samples:2560"]
    ));
    control(
        &mut b,
        CallOp::Consult {
            target: AcdTarget::Department {
                number: "07712345678".into(),
            },
        },
    );
    let inv = b.expect_request(Method::Invite, CARRIER);
    b.recv(
        answer(&inv, 200, "OK", Some("dp"), &sdp("192.0.2.10", 33000, "")),
        CARRIER,
    );
    control(
        &mut b,
        CallOp::Dtmf {
            digits: "203".into(),
        },
    );
    assert!(
        matches!(
            b.media_log().last(),
            Some(MediaCall::Play { id: 2, leg: MediaLeg::A, prompts, .. }) if prompts == &["samples:3840"]
        ),
        "three keys of 160 ms to the department's leg: {:?}",
        b.media_log().last()
    );
}

#[test]
fn a_three_way_call_goes_on_when_the_caller_hangs_up_until_the_agent_does() {
    let mut b = bench();
    let (agent_inv, tag) = talking_tagged(&mut b, "12315");
    let inv = consult_colleague(&mut b);
    control(&mut b, CallOp::ThreeWay);
    // The caller hangs up: agent and colleague talk on.
    b.recv_text(&a_in_dialog("BYE", CALL, &tag, 2, "cbye"), CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "nobody else is hung up"
    );
    assert!(b.cdrs.is_empty(), "the call is not over");
    assert_eq!(
        mixes(&b).last(),
        Some(&(1, Leg::A, None)),
        "the caller's leg leaves the mix"
    );
    // The agent hangs up: the colleague is let go and the call ends, without a BYE to the caller.
    b.advance(Duration::from_secs(20));
    bye_from(&mut b, &agent_inv, "ag", PHONE_1001);
    let bye = b.expect_request(Method::Bye, COLLEAGUE);
    assert_eq!(bye.call_id(), inv.call_id());
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye) && s.peer.addr == addr(CARRIER)),
        0
    );
    b.recv(answer(&bye, 200, "OK", None, ""), COLLEAGUE);
    assert_eq!(b.cdrs.len(), 1, "one CDR for the whole call");
    assert!(b.acd.contains(&AcdEvent::CallEnded { call: CALL.into() }));
}

/// Mid-consult, the agent transfers the caller into a skill group instead: the consulted colleague
/// is let go (BYE, and the ACD hears they left, so they are free again), the agent's leg ends, and
/// the caller waits with music.
#[test]
fn a_transfer_into_a_queue_mid_consult_lets_the_consulted_colleague_go() {
    let mut b = bench();
    talking(&mut b);
    consult_colleague(&mut b);
    let before = b.media_log().len();
    control(
        &mut b,
        CallOp::Transfer {
            target: AcdTarget::Group {
                group: "consumer".into(),
            },
        },
    );
    b.expect_request(Method::Bye, COLLEAGUE);
    b.expect_request(Method::Bye, PHONE_1001);
    assert!(
        party_statuses(&b).contains(&("1002".into(), PartyRole::Consult, PartyStatus::Left)),
        "the ACD hears the colleague left: {:?}",
        party_statuses(&b)
    );
    let musics = b.media_log()[before..]
        .iter()
        .filter(|c| {
            matches!(c, MediaCall::Play { id: 1, leg: MediaLeg::A, prompts, .. }
                if prompts.iter().any(|p| p.contains("queue_music")))
        })
        .count();
    assert_eq!(musics, 1, "the caller waits with music again: {}", b.dump());
}
