//! RFC 4028 session timers on the engine's legs, in virtual time: negotiation and 422 on the
//! caller's side, the offer and 422 retry on B-legs, refreshes at half the interval (UPDATE when
//! the peer allows it, else a re-INVITE repeating our SDP), and a session that expires ending the
//! call with BYE both ways and the CDR cause "session expired".

use std::time::Duration;

use super::harness::*;
use crate::call::cdr::HangupSide;
use crate::sip::message::{Method, SipMessage};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The carrier's INVITE for DID 12345 with extra header lines.
fn carrier_invite_with(call_id: &str, headers: &str) -> String {
    request(
        "INVITE",
        &format!("sip:12345@{US}"),
        CARRIER,
        &format!("inv-{call_id}"),
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>"),
        call_id,
        1,
        &format!("Contact: <sip:13800138000@192.0.2.10:5060>\r\n{headers}"),
        &sdp("192.0.2.10", 30000, ""),
    )
}

/// `msg` with these headers added (parsed again, as a far end's message would be).
fn with_headers(mut msg: SipMessage, headers: &[(&str, &str)]) -> SipMessage {
    for (n, v) in headers {
        msg.push_header(n, v);
    }
    SipMessage::parse(msg.to_bytes()).expect("test message parses")
}

/// A connected call: carrier INVITE with `a_headers`, 1001 answers 200 with `b_headers`, the
/// caller ACKs. Returns (the B-leg INVITE, our 200 to the caller).
fn connect_with(
    b: &mut Bench,
    call_id: &str,
    a_headers: &str,
    b_headers: &[(&str, &str)],
) -> (Sent, Sent) {
    b.recv_text(&carrier_invite_with(call_id, a_headers), CARRIER);
    b.expect_response(100, Method::Invite, CARRIER);
    let b_invite = b.expect_request(Method::Invite, PHONE_1001);
    let ok = answer(
        &b_invite,
        200,
        "OK",
        Some("b-tag"),
        &sdp("192.0.2.50", 20000, ""),
    );
    b.recv(with_headers(ok, b_headers), PHONE_1001);
    b.expect_request(Method::Ack, PHONE_1001);
    let a_200 = b.expect_response(200, Method::Invite, CARRIER);
    b.recv_text(
        &a_in_dialog("ACK", call_id, &a_200.tag_to(), 1, "ack1"),
        CARRIER,
    );
    (b_invite, a_200)
}

/// The caller's in-dialog request with extra headers.
fn a_request(method: &str, call_id: &str, our_tag: &str, cseq: u32, headers: &str) -> String {
    request(
        method,
        &format!("sip:hotline@{US}"),
        CARRIER,
        &format!("{method}-{cseq}"),
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={our_tag}"),
        call_id,
        cseq,
        headers,
        "",
    )
}

fn assert_ended_by_expiry(b: &mut Bench) {
    answer_bye_to(b, CARRIER);
    answer_bye_to(b, PHONE_1001);
    assert_eq!(b.e.active_calls(), 0);
    let cdr = b.cdrs.last().expect("a CDR");
    assert_eq!(cdr.call.hangup_cause, "session expired");
    assert_eq!(cdr.call.hangup_side, HangupSide::System);
}

fn answer_bye_to(b: &mut Bench, to: &str) {
    let bye = b.expect_request(Method::Bye, to);
    b.recv(answer(&bye, 200, "OK", None, ""), to);
}

#[test]
fn b_leg_invite_offers_session_timers_from_the_config() {
    let mut b = Bench::new();
    b.recv_text(&carrier_invite("st-offer", "12345"), CARRIER);
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    assert!(
        inv.hdr("Supported").contains("timer"),
        "{}",
        inv.hdr("Supported")
    );
    assert_eq!(inv.hdr("Session-Expires"), "1800");
    assert_eq!(inv.hdr("Min-SE"), "90");
}

#[test]
fn caller_asking_for_too_short_an_interval_gets_422_with_our_min_se() {
    let mut b = Bench::new();
    b.recv_text(
        &carrier_invite_with("st-422", "Supported: timer\r\nSession-Expires: 60\r\n"),
        CARRIER,
    );
    let r = b.expect_response(422, Method::Invite, CARRIER);
    assert_eq!(r.hdr("Min-SE"), "90");
    assert_eq!(b.count(|s| s.method() == Some(&Method::Invite)), 0);
    assert_eq!(b.e.active_calls(), 0);
    assert!(b.media_log().is_empty(), "no media for a refused call");
    ack_final(&mut b, &r, CARRIER);
    // The caller retries with our minimum (a new INVITE, RFC 4028 §7.3) and the call rings; the
    // refused one did not keep the trunk's only channel.
    b.recv_text(
        &carrier_invite_with("st-422b", "Supported: timer\r\nSession-Expires: 90\r\n"),
        CARRIER,
    );
    b.expect_request(Method::Invite, PHONE_1001);
}

#[test]
fn malformed_session_expires_gets_400() {
    let mut b = Bench::new();
    b.recv_text(
        &carrier_invite_with("st-bad", "Session-Expires: soon\r\n"),
        CARRIER,
    );
    let r = b.expect_response(400, Method::Invite, CARRIER);
    assert!(
        r.msg
            .reason_lossy()
            .unwrap_or_default()
            .contains("Session-Expires"),
        "{:?}",
        r.msg.reason_lossy()
    );
    assert_eq!(b.e.active_calls(), 0);
}

#[test]
fn caller_refreshing_with_update_keeps_the_call_and_silence_ends_it_both_ways() {
    let mut b = Bench::new();
    let (_, a_200) = connect_with(
        &mut b,
        "st-a",
        "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
        &[],
    );
    assert_eq!(a_200.hdr("Session-Expires"), "120;refresher=uac");
    assert_eq!(a_200.hdr("Require"), "timer");
    let tag = a_200.tag_to();
    // The caller refreshes at half the interval, three times: the call stays up well past 120 s.
    for (i, cseq) in [2u32, 3, 4].into_iter().enumerate() {
        b.advance(SECS(60));
        b.recv_text(
            &a_request(
                "UPDATE",
                "st-a",
                &tag,
                cseq,
                "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
            ),
            CARRIER,
        );
        let ok = b.expect_response(200, Method::Update, CARRIER);
        assert_eq!(
            ok.hdr("Session-Expires"),
            "120;refresher=uac",
            "refresh {i}"
        );
        assert_eq!(b.count(|s| s.method() == Some(&Method::Bye)), 0);
    }
    assert_eq!(b.e.active_calls(), 1);
    // Then nothing: hotline is not the refresher toward the caller, so it only waits; the session
    // ends min(32, 120/3) = 32 s before the interval runs out (§10): 88 s after the last refresh.
    b.advance(SECS(87));
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(b.count(|s| s.method() == Some(&Method::Update)), 0);
    b.advance(SECS(1));
    assert_ended_by_expiry(&mut b);
}

#[test]
fn update_with_too_short_an_interval_gets_422_and_changes_nothing() {
    let mut b = Bench::new();
    let (_, a_200) = connect_with(
        &mut b,
        "st-u422",
        "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
        &[],
    );
    b.advance(SECS(60));
    b.recv_text(
        &a_request(
            "UPDATE",
            "st-u422",
            &a_200.tag_to(),
            2,
            "Supported: timer\r\nSession-Expires: 30\r\n",
        ),
        CARRIER,
    );
    let r = b.expect_response(422, Method::Update, CARRIER);
    assert_eq!(r.hdr("Min-SE"), "90");
    // Not a refresh: the session still ends 88 s after the 200.
    b.advance(SECS(28));
    assert_ended_by_expiry(&mut b);
}

#[test]
fn hotline_refreshes_each_leg_at_half_the_interval() {
    let mut b = Bench::new();
    // The caller did not ask (hotline runs one and refreshes it itself, by re-INVITE since the
    // caller lists no UPDATE); 1001 accepts hotline's offer and leaves the refreshing to hotline,
    // which it allows UPDATE for.
    let (b_invite, a_200) = connect_with(
        &mut b,
        "st-ref",
        "",
        &[
            ("Session-Expires", "1800;refresher=uac"),
            ("Require", "timer"),
            ("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE"),
        ],
    );
    assert_eq!(a_200.hdr("Session-Expires"), "1800;refresher=uas");
    assert_eq!(
        a_200.hdr("Require"),
        "",
        "the caller did not say it supports timer"
    );
    for round in 0..3 {
        b.advance(SECS(899));
        assert!(b.sent.is_empty(), "round {round}: early:\n{}", b.dump());
        b.advance(SECS(1));
        // Toward 1001: UPDATE without a body in its dialog.
        let up = b.expect_request(Method::Update, PHONE_1001);
        assert_eq!(up.call_id(), b_invite.call_id());
        assert_eq!(up.tag_to(), "b-tag");
        assert_eq!(up.hdr("Session-Expires"), "1800;refresher=uac");
        assert!(up.body().is_empty());
        b.recv(
            with_headers(
                answer(&up, 200, "OK", None, ""),
                &[
                    ("Session-Expires", "1800;refresher=uac"),
                    ("Require", "timer"),
                ],
            ),
            PHONE_1001,
        );
        // Toward the caller: a re-INVITE repeating the SDP of our 200 (our port_a), then ACK.
        let re = b.expect_request(Method::Invite, CARRIER);
        assert_eq!(re.call_id(), "st-ref");
        assert_eq!(re.tag_to(), "a-tag");
        assert_eq!(re.sdp_port(), Some(40000), "{}", re.body());
        assert_eq!(
            re.body(),
            a_200.body(),
            "a refresh does not change the session"
        );
        assert_eq!(re.hdr("Session-Expires"), "1800;refresher=uac");
        b.recv(
            answer(&re, 200, "OK", Some("a-tag"), &sdp("192.0.2.10", 30000, "")),
            CARRIER,
        );
        let ack = b.expect_request(Method::Ack, CARRIER);
        assert_eq!(ack.msg.cseq().unwrap().seq, re.msg.cseq().unwrap().seq);
        // The refreshes are not relayed: the other side sees nothing.
        assert!(b.sent.is_empty(), "round {round}:\n{}", b.dump());
    }
    assert_eq!(b.e.active_calls(), 1);
    assert!(b.cdrs.is_empty());
}

#[test]
fn a_b_leg_whose_refresher_goes_silent_ends_the_call() {
    let mut b = Bench::new();
    // 1001 takes the refreshing (refresher=uas) and never does it.
    let (_, a_200) = connect_with(
        &mut b,
        "st-bsilent",
        "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
        &[
            ("Session-Expires", "600;refresher=uas"),
            ("Require", "timer"),
        ],
    );
    assert_eq!(a_200.hdr("Session-Expires"), "1800;refresher=uac");
    // 600 - min(32, 200) = 568 s.
    b.advance(SECS(567));
    assert!(b.sent.is_empty(), "{}", b.dump());
    b.advance(SECS(1));
    assert_ended_by_expiry(&mut b);
}

#[test]
fn b_leg_422_is_retried_with_the_callees_min_se() {
    let mut b = Bench::new();
    b.recv_text(&carrier_invite("st-b422", "12345"), CARRIER);
    let inv = b.expect_request(Method::Invite, PHONE_1001);
    let r422 = with_headers(
        answer(&inv, 422, "Session Interval Too Small", Some("x"), ""),
        &[("Min-SE", "2400")],
    );
    b.recv(r422, PHONE_1001);
    b.expect_ack_of_failure(PHONE_1001);
    let again = b.expect_request(Method::Invite, PHONE_1001);
    assert_eq!(again.call_id(), inv.call_id(), "same call, new transaction");
    assert_eq!(again.tag_from(), inv.tag_from());
    assert_eq!(again.msg.cseq().unwrap().seq, 2);
    assert_eq!(again.hdr("Session-Expires"), "2400");
    assert_eq!(again.hdr("Min-SE"), "2400");
    assert_eq!(again.body(), inv.body());
    // The caller heard nothing of it.
    assert_eq!(
        b.count(|s| s.peer == peer(CARRIER) && s.code() != Some(100)),
        0
    );
    // A second 422 that asks for nothing more is a failure like any other.
    b.recv(
        with_headers(
            answer(&again, 422, "Session Interval Too Small", Some("x"), ""),
            &[("Min-SE", "2400")],
        ),
        PHONE_1001,
    );
    let to_a = b.expect("a final failure to the caller", |s| {
        s.peer == peer(CARRIER) && s.code().is_some_and(|c| c >= 400)
    });
    assert_eq!(to_a.code(), Some(422), "{}", b.dump());
}

#[test]
fn a_refresh_answered_481_ends_the_call() {
    let mut b = Bench::new();
    let _ = connect_with(
        &mut b,
        "st-481",
        "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
        &[
            ("Session-Expires", "300;refresher=uac"),
            ("Allow", "INVITE, ACK, BYE, UPDATE"),
        ],
    );
    b.advance(SECS(150));
    let up = b.expect_request(Method::Update, PHONE_1001);
    b.recv(
        answer(&up, 481, "Call/Transaction Does Not Exist", None, ""),
        PHONE_1001,
    );
    assert_ended_by_expiry(&mut b);
}

#[test]
fn an_unanswered_refresh_ends_the_call() {
    let mut b = Bench::new();
    let _ = connect_with(
        &mut b,
        "st-lost",
        "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
        &[
            ("Session-Expires", "1800;refresher=uac"),
            ("Allow", "INVITE, ACK, BYE, UPDATE"),
        ],
    );
    b.advance(SECS(900));
    b.expect_request(Method::Update, PHONE_1001);
    // Timer F (64*T1 = 32 s): the far end is gone.
    b.advance(SECS(33));
    b.sent
        .retain(|s| !(s.method() == Some(&Method::Update) && s.peer == peer(PHONE_1001)));
    assert_ended_by_expiry(&mut b);
}

#[test]
fn a_relayed_re_invite_is_a_refresh_on_both_legs() {
    let mut b = Bench::new();
    let (b_invite, a_200) = connect_with(
        &mut b,
        "st-hold",
        "Supported: timer\r\nSession-Expires: 300;refresher=uac\r\n",
        &[
            ("Session-Expires", "300;refresher=uas"),
            ("Require", "timer"),
        ],
    );
    // At 200 s the caller puts 1001 on hold with a re-INVITE carrying its session timer.
    b.advance(SECS(200));
    let hold = request(
        "INVITE",
        &format!("sip:hotline@{US}"),
        CARRIER,
        "hold",
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={}", a_200.tag_to()),
        "st-hold",
        2,
        "Supported: timer\r\nSession-Expires: 300;refresher=uac\r\n",
        &sdp("192.0.2.10", 30000, "a=sendonly\r\n"),
    );
    b.recv_text(&hold, CARRIER);
    b.expect_response(100, Method::Invite, CARRIER);
    let to_b = b.expect_request(Method::Invite, PHONE_1001);
    assert_eq!(to_b.call_id(), b_invite.call_id());
    // 1001 refreshes: the relayed re-INVITE keeps it the refresher.
    assert_eq!(to_b.hdr("Session-Expires"), "300;refresher=uas");
    b.recv(
        with_headers(
            answer(
                &to_b,
                200,
                "OK",
                None,
                &sdp("192.0.2.50", 20000, "a=recvonly\r\n"),
            ),
            &[
                ("Session-Expires", "300;refresher=uas"),
                ("Require", "timer"),
            ],
        ),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    let ok = b.expect_response(200, Method::Invite, CARRIER);
    assert_eq!(ok.hdr("Session-Expires"), "300;refresher=uac");
    // Both sessions now run from 200 s: nothing at 200 + 267, the end at 200 + 268.
    b.advance(SECS(267));
    assert!(b.sent.is_empty(), "{}", b.dump());
    b.advance(SECS(1));
    assert_ended_by_expiry(&mut b);
}

#[test]
fn a_call_ended_by_bye_sends_nothing_when_its_timers_come_due() {
    let mut b = Bench::new();
    let (b_invite, _) = connect_with(
        &mut b,
        "st-bye",
        "",
        &[
            ("Session-Expires", "120;refresher=uas"),
            ("Require", "timer"),
        ],
    );
    let bye = request(
        "BYE",
        &format!("sip:hotline@{US}"),
        PHONE_1001,
        "b-bye",
        "<sip:1001@192.0.2.50:5060>;tag=b-tag",
        &b_invite.hdr("From"),
        &b_invite.call_id(),
        2,
        "",
        "",
    );
    b.recv_text(&bye, PHONE_1001);
    b.expect_response(200, Method::Bye, PHONE_1001);
    answer_bye_to(&mut b, CARRIER);
    assert_eq!(b.cdrs.last().unwrap().call.hangup_cause, "callee hung up");
    b.advance(SECS(3600));
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Bye)),
        0,
        "{}",
        b.dump()
    );
    assert_eq!(b.cdrs.len(), 1);
}

/// DID 12345 rings 1001 and 1003 together (both desk phones with fixed contacts).
const GROUP_PROFILES: &str = r#"
[[trunk]]
name = "carrier"
peer = "192.0.2.10:5060"
inbound_sources = ["192.0.2.10"]
channels = 1
[trunk.keepalive]
interval_secs = 0
[[trunk.did]]
number = "12345"
route = "group:1001,1003"

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@192.0.2.50:5060"
[[agents.extension]]
number = "1003"
password = "pw1003"
contact = "sip:1003@192.0.2.53:5060"
"#;

const PHONE_1003: &str = "192.0.2.53:5060";

#[test]
fn a_fork_that_answers_too_late_and_is_let_go_does_not_end_the_call_later() {
    let mut b = Bench::with_profiles(GROUP_PROFILES);
    b.recv_text(&carrier_invite("st-fork", "12345"), CARRIER);
    let first = b.expect_request(Method::Invite, PHONE_1001);
    let late = b.expect_request(Method::Invite, PHONE_1003);
    let b_ok = |inv: &Sent, tag: &str, port: u16| {
        with_headers(
            answer(inv, 200, "OK", Some(tag), &sdp("192.0.2.50", port, "")),
            &[
                ("Session-Expires", "120;refresher=uas"),
                ("Require", "timer"),
            ],
        )
    };
    b.recv(b_ok(&first, "t1", 20000), PHONE_1001);
    b.expect_request(Method::Ack, PHONE_1001);
    let a_200 = b.expect_response(200, Method::Invite, CARRIER);
    b.recv_text(
        &a_in_dialog("ACK", "st-fork", &a_200.tag_to(), 1, "ack1"),
        CARRIER,
    );
    // 1003 answers at the same moment: hotline ACKs and lets it go with BYE.
    b.recv(b_ok(&late, "t3", 22000), PHONE_1003);
    b.expect_request(Method::Ack, PHONE_1003);
    answer_bye_to(&mut b, PHONE_1003);
    b.sent
        .retain(|s| s.code() != Some(100) && s.method() != Some(&Method::Ack));
    // 1001 refreshes its session (UPDATE at half of 120 s); 1003's is over with its BYE and must
    // not end the call at 88 s.
    let upd = |cseq: u32| {
        request(
            "UPDATE",
            "sip:hotline@10.0.0.1:5060",
            PHONE_1001,
            &format!("upd{cseq}"),
            "<sip:1001@192.0.2.50:5060>;tag=t1",
            &first.hdr("From"),
            &first.call_id(),
            cseq,
            "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
            "",
        )
    };
    for cseq in [2, 3] {
        b.advance(SECS(60));
        b.recv_text(&upd(cseq), PHONE_1001);
        b.expect_response(200, Method::Update, PHONE_1001);
    }
    assert!(b.sent.is_empty(), "{}", b.dump());
    assert_eq!(b.e.active_calls(), 1);
    assert!(b.cdrs.is_empty());
    // When 1001 stops refreshing, its own expiry ends the call.
    b.advance(SECS(88));
    answer_bye_to(&mut b, CARRIER);
    answer_bye_to(&mut b, PHONE_1001);
    assert_eq!(b.cdrs.last().unwrap().call.hangup_cause, "session expired");
}

#[test]
fn a_refresh_answered_422_is_sent_again_with_the_larger_interval() {
    let mut b = Bench::new();
    let _ = connect_with(
        &mut b,
        "st-r422",
        "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
        &[
            ("Session-Expires", "300;refresher=uac"),
            ("Allow", "INVITE, ACK, BYE, UPDATE"),
        ],
    );
    b.advance(SECS(150));
    let up = b.expect_request(Method::Update, PHONE_1001);
    assert_eq!(up.hdr("Session-Expires"), "300;refresher=uac");
    b.recv(
        with_headers(
            answer(&up, 422, "Session Interval Too Small", None, ""),
            &[("Min-SE", "1200")],
        ),
        PHONE_1001,
    );
    let again = b.expect_request(Method::Update, PHONE_1001);
    assert_eq!(again.hdr("Session-Expires"), "1200;refresher=uac");
    assert!(again.msg.cseq().unwrap().seq > up.msg.cseq().unwrap().seq);
    b.recv(
        with_headers(
            answer(&again, 200, "OK", None, ""),
            &[("Session-Expires", "1200;refresher=uac")],
        ),
        PHONE_1001,
    );
    // The next refresh comes at half the new interval, not at 150 s.
    b.advance(SECS(599));
    assert_eq!(
        b.count(|s| s.method() == Some(&Method::Update)),
        0,
        "{}",
        b.dump()
    );
    b.advance(SECS(1));
    b.expect_request(Method::Update, PHONE_1001);
    assert_eq!(b.e.active_calls(), 1);
}
