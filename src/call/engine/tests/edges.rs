//! Edge cases around a call: ring timeout, a silent callee, early media, a 200 crossing the
//! CANCEL, shutdown while ringing, retransmitted and looping INVITEs, late BYEs, re-INVITEs from
//! the caller and glare, and an agent's outbound call.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::calls::{answer_bye, connect, ring};
use super::harness::*;
use crate::call::cdr::HangupSide;
use crate::call::engine::MediaLeg;
use crate::sip::message::Method;

fn cancel_from_a(b: &mut Bench, call_id: &str) {
    b.recv_text(
        &request(
            "CANCEL",
            "sip:12345@10.0.0.1:5060",
            CARRIER,
            &format!("inv-{call_id}"),
            "<sip:13800138000@192.0.2.10>;tag=a-tag",
            "<sip:12345@10.0.0.1:5060>",
            call_id,
            1,
            "",
            "",
        ),
        CARRIER,
    );
}

#[test]
fn ring_timeout_cancels_b_and_gives_the_caller_480() {
    let mut b = Bench::new();
    let r = ring(&mut b, "rt");
    b.recv(
        answer(&r.b_invite, 180, "Ringing", Some("b-tag"), ""),
        PHONE_1001,
    );
    b.expect_response(180, Method::Invite, CARRIER);
    b.advance(Duration::from_millis(59_900));
    assert!(b.sent.is_empty(), "{}", b.dump());
    b.advance(Duration::from_millis(200));
    let cancel = b.expect_request(Method::Cancel, PHONE_1001);
    assert_eq!(cancel.call_id(), r.b_invite.call_id());
    let refused = b.expect_response(480, Method::Invite, CARRIER);
    assert_eq!(
        b.ms(refused.at),
        60_000,
        "CallPolicy::default().ring_timeout is 60 s"
    );
    assert_eq!(b.cdrs.len(), 1);
    let c = &b.cdrs[0].call;
    assert_eq!((c.sip_code, c.hangup_side), (480, HangupSide::System));
    assert_eq!(c.hangup_cause, "no answer");
}

#[test]
fn a_callee_that_never_answers_times_out_into_480() {
    let mut b = Bench::new();
    let r = ring(&mut b, "silent");
    b.advance(Duration::from_millis(31_000));
    assert_eq!(b.count(|s| s.peer == peer(CARRIER)), 0, "{}", b.dump());
    // The B-leg INVITE was retransmitted meanwhile (Timer A, UDP).
    assert!(
        b.count(|s| s.method() == Some(&Method::Invite) && s.call_id() == r.b_invite.call_id())
            >= 5,
        "{}",
        b.dump()
    );
    b.advance(Duration::from_millis(2_000)); // Timer B = 64*T1 = 32 s
    b.expect_response(480, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 0);
    let cdr = &b.cdrs[0];
    assert_eq!(cdr.call.sip_code, 480);
    assert_eq!(
        cdr.legs[1].sip_code, 408,
        "the B-leg timed out: {:?}",
        cdr.legs
    );
    assert_eq!(
        b.metrics.calls_failed_total.load(Ordering::Relaxed),
        1,
        "a failed call is counted once"
    );
}

#[test]
fn early_media_from_b_reaches_the_caller_on_port_a() {
    let mut b = Bench::new();
    let r = ring(&mut b, "early");
    b.recv(
        answer(
            &r.b_invite,
            183,
            "Session Progress",
            Some("b-tag"),
            &sdp("192.0.2.50", 20000, ""),
        ),
        PHONE_1001,
    );
    let p = b.expect_response(183, Method::Invite, CARRIER);
    assert_eq!(p.sdp_port(), Some(40000), "{}", p.body());
    assert!(p.body().contains("c=IN IP4 10.0.0.1"), "{}", p.body());
    assert!(b.media_log().contains(&MediaCall::Update {
        id: b.bridge(),
        leg: MediaLeg::B,
        addr: addr("192.0.2.50:20000")
    }));
}

#[test]
fn a_200_crossing_the_cancel_is_acked_and_hung_up() {
    let mut b = Bench::new();
    let r = ring(&mut b, "cross");
    b.recv(
        answer(&r.b_invite, 180, "Ringing", Some("b-tag"), ""),
        PHONE_1001,
    );
    cancel_from_a(&mut b, "cross");
    b.expect_response(487, Method::Invite, CARRIER);
    b.expect_request(Method::Cancel, PHONE_1001);
    b.sent.clear();
    // B answered before it saw the CANCEL.
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
    let ack = b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(ack.tag_to(), "b-tag");
    let bye = answer_bye(&mut b, PHONE_1001);
    assert_eq!(bye.call_id(), r.b_invite.call_id());
    assert_eq!(b.count(|s| s.peer == peer(CARRIER)), 0, "{}", b.dump());
    assert_eq!(b.cdrs.len(), 1, "still one CDR");
    assert_eq!(b.cdrs[0].call.sip_code, 487);
}

#[test]
fn cancel_toward_b_waits_for_its_first_provisional_response() {
    let mut b = Bench::new();
    let r = ring(&mut b, "early-cancel");
    cancel_from_a(&mut b, "early-cancel");
    b.expect_response(200, Method::Cancel, CARRIER);
    b.expect_response(487, Method::Invite, CARRIER);
    // RFC 3261 §9.1: no CANCEL before a provisional response.
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Cancel)),
        0,
        "{}",
        b.dump()
    );
    b.recv(answer(&r.b_invite, 100, "Trying", None, ""), PHONE_1001);
    let cancel = b.expect_request(Method::Cancel, PHONE_1001);
    assert_eq!(cancel.call_id(), r.b_invite.call_id());
    assert_eq!(b.count(|s| s.peer == peer(CARRIER)), 0, "{}", b.dump());
}

#[test]
fn shutdown_while_ringing_cancels_b_and_refuses_the_caller() {
    let mut b = Bench::new();
    let r = ring(&mut b, "sd-ring");
    b.recv(
        answer(&r.b_invite, 180, "Ringing", Some("b-tag"), ""),
        PHONE_1001,
    );
    b.sent.clear();
    b.e.begin_shutdown(Duration::from_secs(5), b.now);
    b.advance(Duration::from_secs(5));
    b.expect_request(Method::Cancel, PHONE_1001);
    b.expect_response(503, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 0);
    assert_eq!(b.cdrs.len(), 1);
}

#[test]
fn a_retransmitted_invite_does_not_ring_twice() {
    let mut b = Bench::new();
    ring(&mut b, "rtx");
    b.recv_text(&carrier_invite("rtx", "12345"), CARRIER);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Invite)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(
        b.count(|s| s.code().is_some_and(|c| c >= 300)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(b.e.active_calls(), 1);
    assert_eq!(b.metrics.calls_total.load(Ordering::Relaxed), 1);
}

#[test]
fn max_forwards_zero_is_refused_with_483() {
    let mut b = Bench::new();
    let inv = carrier_invite("hops", "12345").replace("Max-Forwards: 70", "Max-Forwards: 0");
    b.recv_text(&inv, CARRIER);
    b.expect_response(483, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 0);
}

#[test]
fn a_bye_after_the_call_is_forgotten_gets_481() {
    let mut b = Bench::new();
    let c = connect(&mut b, "late", true);
    let bye = a_in_dialog("BYE", "late", &c.our_a_tag, 2, "bye-late");
    b.recv_text(&bye, CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    answer_bye(&mut b, PHONE_1001);
    // The same BYE again (our 200 was lost): the transaction answers it once more.
    b.recv_text(&bye, CARRIER);
    b.expect_response(200, Method::Bye, CARRIER);
    assert_eq!(b.cdrs.len(), 1);
    b.advance(Duration::from_secs(40));
    b.recv_text(
        &a_in_dialog("BYE", "late", &c.our_a_tag, 3, "bye-later"),
        CARRIER,
    );
    b.expect_response(481, Method::Bye, CARRIER);
    assert_eq!(b.cdrs.len(), 1);
}

#[test]
fn hold_from_the_caller_is_relayed_to_b_and_the_answer_back_to_a() {
    let mut b = Bench::new();
    let c = connect(&mut b, "a-hold", true);
    let bridge = b.bridge();
    let reinvite = request(
        "INVITE",
        "sip:hotline@10.0.0.1:5060",
        CARRIER,
        "a-hold-2",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={}", c.our_a_tag),
        "a-hold",
        2,
        "Contact: <sip:13800138000@192.0.2.10:5060>\r\n",
        &sdp("192.0.2.10", 30000, "a=sendonly\r\n"),
    );
    b.recv_text(&reinvite, CARRIER);
    let to_b = b.expect_request(Method::Invite, PHONE_1001);
    assert_eq!(to_b.call_id(), c.b_invite.call_id());
    assert_eq!(to_b.tag_to(), "b-tag");
    assert_eq!(to_b.sdp_port(), Some(40002), "{}", to_b.body());
    assert!(to_b.body().contains("a=sendonly"), "{}", to_b.body());
    assert!(b.media_log().contains(&MediaCall::Direction {
        id: bridge,
        leg: MediaLeg::A,
        sends: true,
        receives: false
    }));
    b.recv(
        answer(
            &to_b,
            200,
            "OK",
            Some("b-tag"),
            &sdp("192.0.2.50", 20000, "a=recvonly\r\n"),
        ),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    let to_a = b.expect_response(200, Method::Invite, CARRIER);
    assert_eq!(to_a.sdp_port(), Some(40000), "{}", to_a.body());
    assert!(to_a.body().contains("a=recvonly"), "{}", to_a.body());
    assert_eq!(to_a.tag_to(), c.our_a_tag);
}

#[test]
fn a_reinvite_while_another_is_pending_gets_491() {
    let mut b = Bench::new();
    let c = connect(&mut b, "glare", true);
    let from_b = request(
        "INVITE",
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        "b-reinv",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &c.b_invite.hdr("From"),
        &c.b_invite.call_id(),
        2,
        "",
        &sdp("192.0.2.50", 20000, "a=sendonly\r\n"),
    );
    b.recv_text(&from_b, PHONE_1001);
    b.expect_request(Method::Invite, CARRIER);
    let from_a = request(
        "INVITE",
        "sip:hotline@10.0.0.1:5060",
        CARRIER,
        "a-reinv",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={}", c.our_a_tag),
        "glare",
        2,
        "",
        &sdp("192.0.2.10", 30000, "a=sendonly\r\n"),
    );
    b.recv_text(&from_a, CARRIER);
    b.expect_response(491, Method::Invite, CARRIER);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Invite)),
        0,
        "nothing relayed to B: {}",
        b.dump()
    );
}

/// An in-dialog request from agent 1001 in the dialog of an outbound call.
fn agent_in_dialog(method: &str, call_id: &str, number: &str, our_tag: &str, cseq: u32) -> String {
    request(
        method,
        "sip:hotline@10.0.0.1:5060",
        PHONE_1001,
        &format!("{call_id}-{method}-{cseq}"),
        "<sip:1001@hotline.local>;tag=ag",
        &format!("<sip:{number}@{US}>;tag={our_tag}"),
        call_id,
        cseq,
        "",
        "",
    )
}

#[test]
fn an_agents_outbound_call_goes_through_the_trunk_with_an_outbound_cdr() {
    let mut b = Bench::new();
    let inv = agent_dial(&mut b, "out-1", "9010555");
    assert_eq!(inv.peer, peer(CARRIER));
    assert_eq!(
        inv.msg.request_uri_str(),
        Some("sip:010555@192.0.2.10:5060"),
        "the dial rule strips the 9"
    );
    assert_eq!(inv.sdp_port(), Some(40002), "{}", inv.body());
    assert_eq!(
        b.metrics
            .trunk("carrier")
            .channels_in_use
            .load(Ordering::Relaxed),
        1
    );
    b.recv(
        answer(
            &inv,
            200,
            "OK",
            Some("c-tag"),
            &sdp("192.0.2.10", 30000, ""),
        ),
        CARRIER,
    );
    b.expect_request(Method::Ack, CARRIER);
    let ok = b.expect_response(200, Method::Invite, PHONE_1001);
    assert_eq!(ok.sdp_port(), Some(40000), "{}", ok.body());
    let tag = ok.tag_to();
    b.recv_text(
        &agent_in_dialog("ACK", "out-1", "9010555", &tag, 2),
        PHONE_1001,
    );
    b.advance(Duration::from_secs(5));
    b.recv_text(
        &agent_in_dialog("BYE", "out-1", "9010555", &tag, 3),
        PHONE_1001,
    );
    b.expect_response(200, Method::Bye, PHONE_1001);
    answer_bye(&mut b, CARRIER);
    assert_eq!(
        b.metrics
            .trunk("carrier")
            .channels_in_use
            .load(Ordering::Relaxed),
        0
    );
    let c = &b.cdrs[0].call;
    assert_eq!(c.direction, "outbound");
    assert_eq!(c.agent, "1001");
    assert_eq!(c.trunk, "carrier");
    assert_eq!(c.callee, "9010555");
    assert_eq!(c.caller, "1001");
    assert_eq!(c.hangup_side, HangupSide::Caller);
    assert_eq!(c.end_ms - c.answer_ms.unwrap_or_default(), 5_000);
}

#[test]
fn bye_without_ack_still_ends_the_call() {
    let mut b = Bench::new();
    let c = connect(&mut b, "bye-no-ack", false);
    b.recv_text(
        &a_in_dialog("BYE", "bye-no-ack", &c.our_a_tag, 2, "bye-na"),
        CARRIER,
    );
    b.expect_response(200, Method::Bye, CARRIER);
    answer_bye(&mut b, PHONE_1001);
    assert_eq!(b.e.active_calls(), 0);
    assert_eq!(b.cdrs.len(), 1);
}

#[test]
fn bye_without_ack_stops_our_200_retransmissions() {
    let mut b = Bench::new();
    let c = connect(&mut b, "bye-no-ack-2", false);
    b.recv_text(
        &a_in_dialog("BYE", "bye-no-ack-2", &c.our_a_tag, 2, "bye-na2"),
        CARRIER,
    );
    b.sent.clear();
    b.advance(Duration::from_secs(40));
    assert_eq!(
        b.count(|s| s.code() == Some(200) && s.cseq_method() == Some(Method::Invite)),
        0,
        "{}",
        b.dump()
    );
}

#[test]
fn a_reinvite_refused_by_b_is_refused_to_a_and_the_call_stays_up() {
    let mut b = Bench::new();
    let c = connect(&mut b, "reinv-488", true);
    let reinvite = request(
        "INVITE",
        "sip:hotline@10.0.0.1:5060",
        CARRIER,
        "a-reinv-488",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={}", c.our_a_tag),
        "reinv-488",
        2,
        "",
        &sdp("192.0.2.10", 30000, "a=sendonly\r\n"),
    );
    b.recv_text(&reinvite, CARRIER);
    let to_b = b.expect_request(Method::Invite, PHONE_1001);
    b.recv(
        answer(&to_b, 488, "Not Acceptable Here", Some("b-tag"), ""),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    b.expect_response(488, Method::Invite, CARRIER);
    assert_eq!(b.e.active_calls(), 1);
    assert!(b.cdrs.is_empty());
}

#[test]
fn info_in_a_dialog_is_answered_200() {
    let mut b = Bench::new();
    let c = connect(&mut b, "info", true);
    b.recv_text(
        &a_in_dialog("INFO", "info", &c.our_a_tag, 2, "info-1"),
        CARRIER,
    );
    b.expect_response(200, Method::Info, CARRIER);
    assert_eq!(b.e.active_calls(), 1);
}

#[test]
fn a_cancel_after_the_answer_changes_nothing() {
    let mut b = Bench::new();
    let c = connect(&mut b, "late-cancel", true);
    cancel_from_a(&mut b, "late-cancel");
    let r = b.expect("an answer to the CANCEL", |s| {
        s.cseq_method() == Some(Method::Cancel)
    });
    assert!(matches!(r.code(), Some(200) | Some(481)), "{:?}", r.code());
    b.advance(Duration::from_secs(1));
    assert_eq!(b.count(|s| s.code() == Some(487)), 0, "{}", b.dump());
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Cancel)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(b.e.active_calls(), 1);
    assert_eq!(c.b_ack.call_id(), c.b_invite.call_id());
}

#[test]
fn an_inbound_call_shows_its_trunk_channel_in_use() {
    let mut b = Bench::new();
    ring(&mut b, "gauge");
    assert_eq!(
        b.metrics
            .trunk("carrier")
            .channels_in_use
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn metrics_count_calls_and_active_calls() {
    let mut b = Bench::new();
    let c = connect(&mut b, "metrics", true);
    assert_eq!(b.metrics.calls_total.load(Ordering::Relaxed), 1);
    assert_eq!(b.metrics.active_calls.load(Ordering::Relaxed), 1);
    b.recv_text(
        &a_in_dialog("BYE", "metrics", &c.our_a_tag, 2, "bye-m"),
        CARRIER,
    );
    answer_bye(&mut b, PHONE_1001);
    assert_eq!(b.metrics.active_calls.load(Ordering::Relaxed), 0);
    assert_eq!(b.metrics.calls_failed_total.load(Ordering::Relaxed), 0);
    assert!(b.metrics.sip_messages_in.load(Ordering::Relaxed) >= 5);
    assert!(b.metrics.sip_messages_out.load(Ordering::Relaxed) >= 4);
}

/// The base profiles with credentials for the carrier's challenges.
fn with_trunk_auth() -> Bench {
    let profiles = PROFILES.replace(
        "[trunk.keepalive]\ninterval_secs = 0\n",
        "[trunk.keepalive]\ninterval_secs = 0\n[trunk.auth]\nusername = \"hl\"\npassword = \"carrier-pw\"\n",
    );
    assert_ne!(profiles, PROFILES, "the test profile changed shape");
    Bench::with_profiles(&profiles)
}

#[test]
fn a_carriers_challenge_is_answered_once_and_not_in_a_loop() {
    let mut b = with_trunk_auth();
    let inv = agent_dial(&mut b, "chal", "9010555");
    let challenge = "Digest realm=\"carrier\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"";
    let mut r = crate::sip::message::SipMessage::response_to(
        &inv.msg,
        407,
        "Proxy Authentication Required",
        Some("c1"),
    );
    r.push_header("Proxy-Authenticate", challenge);
    b.recv(r.clone(), CARRIER);
    b.expect_ack_of_failure(CARRIER);
    let again = b.expect_request(Method::Invite, CARRIER);
    assert_eq!(again.call_id(), inv.call_id(), "same B-leg dialog");
    assert_eq!(again.msg.cseq().map(|c| c.seq).ok(), Some(2));
    let creds = crate::sip::auth::Credentials::parse(&again.hdr("Proxy-Authorization"))
        .expect("credentials");
    assert_eq!(
        (creds.username.as_str(), creds.realm.as_str()),
        ("hl", "carrier")
    );
    let ha1 = crate::sip::auth::ha1(
        crate::sip::auth::Algorithm::Md5,
        "hl",
        "carrier",
        "carrier-pw",
    );
    assert_eq!(
        creds.response,
        creds.expected_response(&ha1, "INVITE", b""),
        "a correct digest for the trunk password"
    );
    // The carrier challenges the answered request again (wrong password): give up, no loop.
    let mut r2 = crate::sip::message::SipMessage::response_to(
        &again.msg,
        407,
        "Proxy Authentication Required",
        Some("c2"),
    );
    r2.push_header("Proxy-Authenticate", challenge);
    b.recv(r2, CARRIER);
    b.expect_ack_of_failure(CARRIER);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Invite)),
        0,
        "{}",
        b.dump()
    );
    b.expect("a final failure to the agent", |s| {
        s.call_id() == "chal" && s.code().is_some_and(|c| c >= 400)
    });
    assert_eq!(b.e.active_calls(), 0);
}

#[test]
fn a_carriers_final_challenge_is_not_relayed_as_407() {
    let mut b = with_trunk_auth();
    let inv = agent_dial(&mut b, "chal2", "9010555");
    let challenge = "Digest realm=\"carrier\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"";
    let mut r = crate::sip::message::SipMessage::response_to(
        &inv.msg,
        407,
        "Proxy Authentication Required",
        Some("c1"),
    );
    r.push_header("Proxy-Authenticate", challenge);
    b.recv(r, CARRIER);
    let again = b.expect_request(Method::Invite, CARRIER);
    let mut r2 = crate::sip::message::SipMessage::response_to(
        &again.msg,
        407,
        "Proxy Authentication Required",
        Some("c2"),
    );
    r2.push_header("Proxy-Authenticate", challenge);
    b.recv(r2, CARRIER);
    let refused = b.expect("a final failure to the agent", |s| {
        s.call_id() == "chal2" && s.code().is_some_and(|c| c >= 400)
    });
    // The agent's phone would try to authenticate to hotline with a challenge it never got.
    assert!(
        !matches!(refused.code(), Some(401) | Some(407)),
        "{:?}",
        refused.code()
    );
}

#[test]
fn an_update_with_an_offer_from_the_caller_is_relayed_and_answered_with_b_s_answer() {
    let mut b = Bench::new();
    let c = connect(&mut b, "a-upd", true);
    let update = request(
        "UPDATE",
        "sip:hotline@10.0.0.1:5060",
        CARRIER,
        "a-upd-2",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={}", c.our_a_tag),
        "a-upd",
        2,
        "Contact: <sip:13800138000@192.0.2.10:5060>\r\n",
        &sdp("192.0.2.10", 30002, "a=sendrecv\r\n"),
    );
    b.recv_text(&update, CARRIER);
    let to_b = b.expect_request(Method::Invite, PHONE_1001);
    assert_eq!(to_b.sdp_port(), Some(40002), "{}", to_b.body());
    b.recv(
        answer(
            &to_b,
            200,
            "OK",
            Some("b-tag"),
            &sdp("192.0.2.50", 20000, "a=sendrecv\r\n"),
        ),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    let to_a = b.expect_response(200, Method::Update, CARRIER);
    assert_eq!(to_a.sdp_port(), Some(40000), "{}", to_a.body());
}

#[test]
fn an_update_without_a_body_is_a_refresh_answered_at_once() {
    let mut b = Bench::new();
    let c = connect(&mut b, "a-ref", true);
    let update = request(
        "UPDATE",
        "sip:hotline@10.0.0.1:5060",
        CARRIER,
        "a-ref-2",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={}", c.our_a_tag),
        "a-ref",
        2,
        "",
        "",
    );
    b.recv_text(&update, CARRIER);
    b.expect_response(200, Method::Update, CARRIER);
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Invite) && s.peer == peer(PHONE_1001)),
        0,
        "no re-INVITE toward B"
    );
}
