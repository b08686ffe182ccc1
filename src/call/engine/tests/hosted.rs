//! Hosted calls in virtual time: hotline answers, the shipped 12345 flow plays and takes digits,
//! the caller waits in a queue with music, the ACD's offer rings the agent with auto-answer, the
//! agent hangs up and the caller rates the call.

use std::time::Duration;

use super::harness::*;
use crate::acd::event::{Action as AcdAction, CallOp, Event as AcdEvent, OfferFailure};
use crate::acd::Endpoint;
use crate::call::engine::MediaLeg;
use crate::media::relay::{BridgeEvent, Leg, RelayEvent};
use crate::sip::message::Method;

const HOSTED_PROFILES: &str = r#"
[[trunk]]
name = "carrier"
peer = "192.0.2.10:5060"
inbound_sources = ["192.0.2.10"]
channels = 4
[trunk.keepalive]
interval_secs = 0
[[trunk.did]]
number = "12345"
route = "flow:main"
[[trunk.did]]
number = "12315"
route = "queue:consumer"
[[trunk.did]]
number = "12399"
route = "flow:missing"

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@192.0.2.50:5060"
"#;

fn bench(acd: bool) -> Bench {
    Bench::with_services(HOSTED_PROFILES, acd)
}

fn plays(b: &Bench) -> Vec<(u64, Vec<String>, bool)> {
    b.media_log()
        .into_iter()
        .filter_map(|c| match c {
            MediaCall::Play {
                play,
                prompts,
                looping,
                leg: MediaLeg::A,
                ..
            } => Some((play, prompts, looping)),
            _ => None,
        })
        .collect()
}

fn media_event(b: &mut Bench, event: BridgeEvent) {
    let bridge = b.bridge();
    b.e.handle_media_event(RelayEvent { bridge, event }, b.now);
    b.drain();
}

fn play_done(b: &mut Bench, id: u64) {
    media_event(b, BridgeEvent::PlayDone { leg: Leg::A, id });
}

fn digit(b: &mut Bench, d: char) {
    media_event(
        b,
        BridgeEvent::Digit {
            leg: Leg::A,
            digit: d,
            duration_ms: 100,
        },
    );
}

/// Answers the carrier call; returns hotline's To tag.
fn answered(b: &mut Bench, call_id: &str, did: &str) -> String {
    b.recv_text(&carrier_invite(call_id, did), CARRIER);
    let ok = b.expect_response(200, Method::Invite, CARRIER);
    let body = ok.body();
    assert_eq!(ok.sdp_port(), Some(40000), "hotline's own A-side port");
    assert!(body.contains("c=IN IP4 10.0.0.1"), "{body}");
    assert!(
        body.contains("m=audio 40000 RTP/AVP 0 101"),
        "one codec (the caller's first) plus telephone-event: {body}"
    );
    let tag = ok.tag_to();
    b.recv_text(&a_in_dialog("ACK", call_id, &tag, 1, "ack1"), CARRIER);
    tag
}

/// Plays every prompt to its end, pressing `keys` when a menu prompt starts, until the ACD hears
/// of the call.
fn walk_ivr_to_queue(b: &mut Bench, keys: &[(&str, char)]) {
    let mut done = std::collections::HashSet::new();
    for _ in 0..40 {
        if !b.acd.is_empty() {
            return;
        }
        let Some((id, prompts, _)) = plays(b)
            .into_iter()
            .rev()
            .find(|(id, _, _)| !done.contains(id))
        else {
            panic!("the IVR stopped playing: {:?}", plays(b));
        };
        done.insert(id);
        if let Some((_, k)) = keys.iter().find(|(p, _)| prompts.iter().any(|x| x == p)) {
            digit(b, *k);
        } else {
            play_done(b, id);
        }
    }
    panic!("never queued: {:?}", plays(b));
}

#[test]
fn ivr_menu_queue_agent_and_post_call_survey() {
    let mut b = bench(true);
    answered(&mut b, "hosted-1", "12345");
    let log = b.media_log();
    assert!(log.contains(&MediaCall::Format {
        id: 1,
        leg: MediaLeg::A,
        pt: 0,
        dtmf: Some(101)
    }));
    assert_eq!(
        plays(&b)[0].1,
        vec!["welcome".to_string()],
        "the flow greets first"
    );

    walk_ivr_to_queue(&mut b, &[("main_menu", '1')]);
    let AcdEvent::CallArrived(call) = &b.acd[0] else {
        panic!("{:?}", b.acd)
    };
    assert_eq!(call.call, "hosted-1");
    assert_eq!(call.group.as_deref(), Some("12345-general"));
    assert_eq!(
        (call.caller.as_str(), call.did.as_str()),
        ("13800138000", "12345")
    );
    assert!(
        call.ivr_path.contains(&"main_menu".to_string()),
        "{:?}",
        call.ivr_path
    );
    let music = plays(&b).last().cloned().unwrap();
    assert_eq!((music.1, music.2), (vec!["queue_music".to_string()], true));

    // The ACD announces the position, then offers the call to agent A1 on extension 1001.
    b.e.handle_acd_action(
        AcdAction::Announce {
            call: "hosted-1".into(),
            position: 3,
            expected_wait_ms: 90_000,
        },
        b.now,
    );
    b.drain();
    let ann = plays(&b).last().cloned().unwrap();
    assert_eq!(
        ann.1,
        [
            "queue_ahead",
            "say/2",
            "queue_people",
            "queue_wait",
            "say/2",
            "queue_minutes"
        ]
        .map(String::from)
        .to_vec(),
        "两位 ahead, about two minutes"
    );
    play_done(&mut b, ann.0);
    assert_eq!(
        plays(&b).last().unwrap().1,
        vec!["queue_music".to_string()],
        "music resumes"
    );

    b.offer_to_a1("hosted-1");
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    assert!(
        inv.hdr("Call-Info").contains("answer-after=0"),
        "auto-answer"
    );
    assert!(
        inv.body().contains("m=audio 40002 RTP/AVP 0 101"),
        "{}",
        inv.body()
    );
    assert!(
        inv.hdr("From").contains("13800138000"),
        "the citizen's number shows"
    );
    b.recv(answer(&inv, 180, "Ringing", Some("ag"), ""), PHONE_1001);
    assert_eq!(
        b.count(|s| s.code() == Some(180)),
        0,
        "the caller is not re-rung"
    );
    b.recv(
        answer(&inv, 200, "OK", Some("ag"), &sdp("192.0.2.50", 20000, "")),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::CallAnswered {
            call: "hosted-1".into(),
            agent_no: "A1".into()
        })
    );
    assert!(b.media_log().contains(&MediaCall::StopPlay {
        id: 1,
        leg: MediaLeg::A,
        play: None
    }));
    assert!(b.media_log().contains(&MediaCall::Update {
        id: 1,
        leg: MediaLeg::B,
        addr: addr("192.0.2.50:20000")
    }));
    assert_eq!(
        b.count(|s| s.code() == Some(200) && s.cseq_method() == Some(Method::Invite)),
        0
    );
    let rec = b
        .media_log()
        .into_iter()
        .find_map(|c| match c {
            MediaCall::Record { meta, .. } => Some(meta),
            _ => None,
        })
        .expect("the conversation is recorded");
    assert_eq!(
        (
            rec.call_id.as_str(),
            rec.agent.as_str(),
            rec.skill_group.as_str()
        ),
        ("hosted-1", "A1", "12345-general")
    );

    // The agent hangs up: the ACD hears the call is over for the agent; the caller is asked to rate.
    b.advance(Duration::from_secs(60));
    let bye = request(
        "BYE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "agbye",
        &format!("{};tag=ag", inv.hdr("To").split(";tag").next().unwrap()),
        &inv.hdr("From"),
        &inv.call_id(),
        2,
        "",
        "",
    );
    b.recv_text(&bye, PHONE_1001);
    b.expect_response(200, Method::Bye, PHONE_1001);
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::CallEnded {
            call: "hosted-1".into()
        })
    );
    assert!(
        b.media_log().contains(&MediaCall::StopRecord { id: 1 }),
        "the survey is not recorded"
    );
    let survey = plays(&b).last().cloned().unwrap();
    assert_eq!(survey.1, vec!["survey_prompt".to_string()]);
    play_done(&mut b, survey.0);
    digit(&mut b, '5');
    assert_eq!(b.ratings, vec![("hosted-1".to_string(), 5, 5)]);
    let thanks = plays(&b).last().cloned().unwrap();
    assert_eq!(thanks.1, vec!["survey_thanks".to_string()]);
    play_done(&mut b, thanks.0);
    answer_bye_to(&mut b, CARRIER);
    let cdr = b.cdrs.last().expect("a CDR");
    assert_eq!(cdr.call.did, "12345");
    assert_eq!(cdr.call.sip_code, 200);
    assert!(
        cdr.legs
            .iter()
            .any(|l| l.peer == "1001" && l.answer_ms.is_some()),
        "the agent's leg is recorded: {:?}",
        cdr.legs
    );
}

fn answer_bye_to(b: &mut Bench, to: &str) {
    let bye = b.expect_request(Method::Bye, to);
    b.recv(answer(&bye, 200, "OK", None, ""), to);
}

#[test]
fn queue_route_offer_failure_resumes_music_and_caller_hangup_tells_the_acd() {
    let mut b = bench(true);
    let tag = answered(&mut b, "hosted-2", "12315");
    assert!(matches!(
        &b.acd[0],
        AcdEvent::CallArrived(c) if c.group.as_deref() == Some("consumer")
    ));
    let offer = |b: &mut Bench| {
        b.e.handle_acd_action(
            AcdAction::OfferCall {
                call: "hosted-2".into(),
                agent_no: "A1".into(),
                endpoint: Some(Endpoint::Sip {
                    extension: "1001".into(),
                }),
                auto_answer: false,
                ring_timeout_ms: 15_000,
                callback: None,
            },
            b.now,
        );
        b.drain();
    };
    offer(&mut b);
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    assert!(
        inv.hdr("Call-Info").is_empty(),
        "ring the human when auto-answer is off"
    );
    b.recv(answer(&inv, 486, "Busy Here", Some("ag"), ""), PHONE_1001);
    b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::OfferFailed {
            call: "hosted-2".into(),
            agent_no: "A1".into(),
            cause: OfferFailure::Rejected
        })
    );
    let musics = plays(&b).iter().filter(|p| p.1 == ["queue_music"]).count();
    assert_eq!(musics, 2, "music again after the failed offer");

    // Ring-no-answer: the call core's ring timer reports it.
    offer(&mut b);
    let inv2 = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(answer(&inv2, 180, "Ringing", Some("ag2"), ""), PHONE_1001);
    b.advance(Duration::from_secs(15));
    let cancel = b.expect_request(Method::Cancel, PHONE_1001);
    b.recv(answer(&cancel, 200, "OK", None, ""), PHONE_1001);
    assert!(b.acd.contains(&AcdEvent::OfferFailed {
        call: "hosted-2".into(),
        agent_no: "A1".into(),
        cause: OfferFailure::NoAnswer
    }));

    // Withdrawn offer: no failure reported for it.
    offer(&mut b);
    let inv3 = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(answer(&inv3, 180, "Ringing", Some("ag3"), ""), PHONE_1001);
    b.e.handle_acd_action(
        AcdAction::CancelOffer {
            call: "hosted-2".into(),
            agent_no: "A1".into(),
        },
        b.now,
    );
    b.drain();
    let c3 = b.expect_request(Method::Cancel, PHONE_1001);
    b.recv(answer(&c3, 200, "OK", None, ""), PHONE_1001);
    b.recv(
        answer(&inv2, 487, "Request Terminated", Some("ag2"), ""),
        PHONE_1001,
    );
    b.recv(
        answer(&inv3, 487, "Request Terminated", Some("ag3"), ""),
        PHONE_1001,
    );
    let failures = b
        .acd
        .iter()
        .filter(|e| matches!(e, AcdEvent::OfferFailed { .. }))
        .count();
    assert_eq!(
        failures, 2,
        "a withdrawn offer is not a failure: {:?}",
        b.acd
    );

    // Refused on the desktop (拒接): the phone stops ringing at once, not at the ring timeout.
    offer(&mut b);
    let inv4 = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(answer(&inv4, 180, "Ringing", Some("ag4"), ""), PHONE_1001);
    b.e.handle_acd_action(
        AcdAction::CallControl {
            call: "hosted-2".into(),
            agent_no: "A1".into(),
            op: CallOp::Reject,
        },
        b.now,
    );
    b.drain();
    let c4 = b.expect_request(Method::Cancel, PHONE_1001);
    b.recv(answer(&c4, 200, "OK", None, ""), PHONE_1001);
    b.recv(
        answer(&inv4, 487, "Request Terminated", Some("ag4"), ""),
        PHONE_1001,
    );

    b.recv_text(&a_in_dialog("BYE", "hosted-2", &tag, 2, "abye"), CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::CallEnded {
            call: "hosted-2".into()
        })
    );
    assert_eq!(b.cdrs.len(), 1);
}

#[test]
fn agent_hangup_via_cti_and_hold_with_music() {
    let mut b = bench(true);
    answered(&mut b, "hosted-3", "12315");
    b.offer_to_a1("hosted-3");
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(
        answer(&inv, 200, "OK", Some("ag"), &sdp("192.0.2.50", 20000, "")),
        PHONE_1001,
    );
    let control = |b: &mut Bench, op: CallOp| {
        b.e.handle_acd_action(
            AcdAction::CallControl {
                call: "hosted-3".into(),
                agent_no: "A1".into(),
                op,
            },
            b.now,
        );
        b.drain();
    };
    control(&mut b, CallOp::Hold);
    assert_eq!(plays(&b).last().unwrap().1, vec!["queue_music".to_string()]);
    assert!(b.media_log().contains(&MediaCall::Direction {
        id: 1,
        leg: MediaLeg::A,
        sends: false,
        receives: true
    }));
    control(&mut b, CallOp::Retrieve);
    assert!(matches!(
        b.media_log().last(),
        Some(MediaCall::Direction {
            leg: MediaLeg::A,
            sends: true,
            receives: true,
            ..
        })
    ));
    // Hangup from the desktop: the agent's phone gets BYE; with no flow the caller is released too.
    control(&mut b, CallOp::Hangup);
    answer_bye_to(&mut b, PHONE_1001);
    assert!(b.acd.contains(&AcdEvent::CallEnded {
        call: "hosted-3".into()
    }));
    b.expect_request(Method::Bye, CARRIER);
    assert_eq!(b.cdrs.len(), 1, "the call is over");
}

#[test]
fn hosted_routes_without_their_service_are_refused_clearly() {
    let mut b = bench(false);
    b.recv_text(&carrier_invite("hosted-4", "12399"), CARRIER);
    let r = b.expect_response(480, Method::Invite, CARRIER);
    assert!(r.msg.reason_lossy().unwrap_or_default().contains("missing"));
    b.recv_text(&carrier_invite("hosted-5", "12315"), CARRIER);
    let r = b.expect_response(480, Method::Invite, CARRIER);
    assert!(r.msg.reason_lossy().unwrap_or_default().contains("ACD"));
    // A flow whose queue has no ACD behind it takes its fallback branch instead of hanging:
    // the caller leaves a voice message, which is recorded and becomes a ticket.
    let tag = answered(&mut b, "hosted-6", "12345");
    walk_ivr_to_fail(&mut b);
    let fail = plays(&b).last().unwrap().0;
    play_done(&mut b, fail);
    let prompt = plays(&b).last().cloned().unwrap();
    assert_eq!(prompt.1, vec!["message_prompt".to_string()]);
    play_done(&mut b, prompt.0);
    assert_eq!(plays(&b).last().unwrap().1, vec!["beep".to_string()]);
    let rec = b
        .media_log()
        .into_iter()
        .find_map(|c| match c {
            MediaCall::Record { meta, .. } => Some(meta),
            _ => None,
        })
        .expect("the message is recorded");
    assert_eq!(rec.skill_group, "voicemail");
    b.advance(Duration::from_secs(5));
    // The caller hangs up mid-message: it is kept all the same.
    b.recv_text(&a_in_dialog("BYE", "hosted-6", &tag, 2, "abye6"), CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    assert!(b
        .media_log()
        .iter()
        .any(|c| matches!(c, MediaCall::StopRecord { .. })));
    assert_eq!(
        b.messages,
        vec![("hosted-6".to_string(), "rec-1".to_string())]
    );
}

fn walk_ivr_to_fail(b: &mut Bench) {
    let mut done = std::collections::HashSet::new();
    for _ in 0..40 {
        let Some((id, prompts, _)) = plays(b)
            .into_iter()
            .rev()
            .find(|(id, _, _)| !done.contains(id))
        else {
            break;
        };
        done.insert(id);
        if prompts.iter().any(|p| p == "queue_fail") {
            return;
        }
        if prompts.iter().any(|p| p == "main_menu") {
            digit(b, '1');
        } else {
            play_done(b, id);
        }
    }
    panic!("the flow never took its queue fallback: {:?}", plays(b));
}

#[test]
fn sip_info_digits_drive_the_flow_and_bad_ones_are_refused() {
    let mut b = bench(true);
    let tag = answered(&mut b, "hosted-7", "12345");
    let welcome = plays(&b)[0].0;
    play_done(&mut b, welcome);
    let info = |b: &mut Bench, cseq: u32, ctype: &str, body: &str| {
        let text = request(
            "INFO",
            &format!("sip:hotline@{US}"),
            CARRIER,
            &format!("info{cseq}"),
            "<sip:13800138000@192.0.2.10>;tag=a-tag",
            &format!("<sip:12345@{US}>;tag={tag}"),
            "hosted-7",
            cseq,
            &format!("Content-Type: {ctype}\r\n"),
            body,
        )
        .replace("Content-Type: application/sdp\r\n", "");
        b.recv_text(&text, CARRIER);
    };
    info(
        &mut b,
        2,
        "application/dtmf-relay",
        "Signal=0\r\nDuration=160\r\n",
    );
    b.expect_response(200, Method::Info, CARRIER);
    // 0 on the main menu goes to a human: the flow heads for the queue.
    for _ in 0..5 {
        if !b.acd.is_empty() {
            break;
        }
        let last = plays(&b).last().unwrap().0;
        play_done(&mut b, last);
    }
    assert!(
        matches!(&b.acd[0], AcdEvent::CallArrived(c) if c.group.as_deref() == Some("12345-general")),
        "{:?} / {:?}",
        b.acd,
        plays(&b)
    );
    info(&mut b, 3, "application/dtmf-relay", "Signal=Z\r\n");
    let r = b.expect_response(400, Method::Info, CARRIER);
    assert!(r.msg.reason_lossy().unwrap_or_default().contains("DTMF"));
}

/// The ACD gave up on A1's offer (its backstop) while A1's answer was on its way, and re-offered
/// the call to A2: the engine keeps A1 on the call, rings nobody else, blames nobody, and says
/// again who answered, so the ACD releases A2.
#[test]
fn a_reoffer_that_crossed_the_answer_is_not_rung_and_the_answer_is_repeated() {
    let mut b = bench(true);
    answered(&mut b, "hosted-3", "12315");
    b.offer_to_a1("hosted-3");
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(
        answer(&inv, 200, "OK", Some("ag"), &sdp("192.0.2.50", 20000, "")),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    let answered_a1 = AcdEvent::CallAnswered {
        call: "hosted-3".into(),
        agent_no: "A1".into(),
    };
    assert_eq!(b.acd.last(), Some(&answered_a1));
    b.e.handle_acd_action(
        AcdAction::CancelOffer {
            call: "hosted-3".into(),
            agent_no: "A1".into(),
        },
        b.now,
    );
    b.e.handle_acd_action(
        AcdAction::OfferCall {
            call: "hosted-3".into(),
            agent_no: "A2".into(),
            endpoint: Some(Endpoint::Sip {
                extension: "1002".into(),
            }),
            auto_answer: true,
            ring_timeout_ms: 15_000,
            callback: None,
        },
        b.now,
    );
    b.drain();
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye) || s.method() == Some(&Method::Invite)),
        0,
        "A1 stays on the call and nobody else is rung: {}",
        b.dump()
    );
    assert_eq!(b.acd.last(), Some(&answered_a1), "the answer is said again");
    assert!(
        !b.acd
            .iter()
            .any(|e| matches!(e, AcdEvent::OfferFailed { .. })),
        "nobody is blamed: {:?}",
        b.acd
    );
}

/// The caller's history is asked for as the call comes in; it rides on the ACD's arrival when it
/// is back by then, or follows as its own event.
#[test]
fn the_callers_history_is_looked_up_at_once_and_reaches_the_acd() {
    let mut b = bench(true);
    let history = crate::acd::event::CallerHistory {
        calls: 20,
        open_tickets: 2,
        repeat_requests: 1,
        flagged: true,
        last_agent: Some("A1".into()),
    };
    // 12315 goes straight to a queue: the arrival is told at once, the history follows.
    answered(&mut b, "hist-1", "12315");
    let (call, caller) = b.history_lookups.last().cloned().expect("asked for");
    assert_eq!(caller, "13800138000");
    assert!(matches!(&b.acd[0], AcdEvent::CallArrived(c) if c.history.is_none()));
    b.e.handle_caller_history(call, history.clone());
    b.drain();
    assert_eq!(
        b.acd.last(),
        Some(&AcdEvent::CallerHistory {
            call: "hist-1".into(),
            history: history.clone()
        })
    );

    // 12345 greets with the IVR first: the history is back before the caller reaches a queue.
    let mut b = bench(true);
    answered(&mut b, "hist-2", "12345");
    let (call, _) = b.history_lookups.last().cloned().expect("asked for");
    b.e.handle_caller_history(call, history.clone());
    b.drain();
    assert!(b.acd.is_empty(), "nothing for the ACD yet: {:?}", b.acd);
    walk_ivr_to_queue(&mut b, &[("main_menu", '1')]);
    assert!(
        matches!(&b.acd[0], AcdEvent::CallArrived(c) if c.history.as_ref() == Some(&history)),
        "{:?}",
        b.acd
    );
}
