//! Dialog and session-timer tests, driven with hand-written messages and virtual time.

use std::time::{Duration, Instant};

use super::session_timer::{request_headers, uac_on_2xx, uac_on_422, uas_negotiate};
use super::*;
use crate::sip::message::{Method, SipMessage};

fn parse(text: &str) -> SipMessage {
    SipMessage::parse(text.as_bytes().to_vec()).unwrap()
}

/// The INVITE hotline sends to a carrier.
fn our_invite(extra: &str) -> SipMessage {
    parse(&format!(
        "INVITE sip:+8612345@carrier.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1\r\n\
Max-Forwards: 70\r\n\
From: \"12345\" <sip:12345@hotline.example>;tag=ours1\r\n\
To: <sip:+8612345@carrier.example.com>\r\n\
Call-ID: dlg-1@hotline\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:b2bua@203.0.113.10:5060>\r\n\
{extra}Content-Length: 0\r\n\r\n"
    ))
}

fn their_response(code: u16, extra: &str) -> SipMessage {
    parse(&format!(
        "SIP/2.0 {code} Whatever\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1\r\n\
Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n\
From: \"12345\" <sip:12345@hotline.example>;tag=ours1\r\n\
To: <sip:+8612345@carrier.example.com>;tag=theirs1\r\n\
Call-ID: dlg-1@hotline\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:gw@198.51.100.7:5070>\r\n\
{extra}Content-Length: 0\r\n\r\n"
    ))
}

/// An INVITE a caller sends us, with two Record-Routes.
fn their_invite(extra: &str) -> SipMessage {
    parse(&format!(
        "INVITE sip:12345@hotline.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKin1\r\n\
Record-Route: <sip:p1.example.com;lr>\r\n\
Record-Route: <sip:p2.example.com;lr>\r\n\
Max-Forwards: 69\r\n\
From: <sip:13800000000@carrier.example.com>;tag=caller1\r\n\
To: <sip:12345@hotline.example>\r\n\
Call-ID: dlg-2@carrier\r\n\
CSeq: 100 INVITE\r\n\
Contact: <sip:13800000000@198.51.100.7:5060>\r\n\
{extra}Content-Length: 0\r\n\r\n"
    ))
}

fn uas_dialog() -> Dialog {
    let inv = their_invite("");
    let ok = SipMessage::response_to(&inv, 200, "OK", Some("ourtag"));
    Dialog::uas(&inv, &ok, "<sip:hotline@203.0.113.10>").unwrap()
}

fn in_dialog_request(method: &str, cseq: u32, extra: &str) -> SipMessage {
    parse(&format!(
        "{method} sip:hotline@203.0.113.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKr{cseq}\r\n\
Max-Forwards: 70\r\n\
From: <sip:13800000000@carrier.example.com>;tag=caller1\r\n\
To: <sip:12345@hotline.example>;tag=ourtag\r\n\
Call-ID: dlg-2@carrier\r\n\
CSeq: {cseq} {method}\r\n\
{extra}Content-Length: 0\r\n\r\n"
    ))
}

const VIA: &str = "SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKnew";

#[test]
fn uac_dialog_from_2xx_reverses_record_route() {
    let d = Dialog::uac(&our_invite(""), &their_response(200, "")).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.role, DialogRole::Uac);
    assert_eq!(
        d.id,
        DialogId {
            call_id: "dlg-1@hotline".into(),
            local_tag: "ours1".into(),
            remote_tag: "theirs1".into()
        }
    );
    assert_eq!(
        d.route_set,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(d.remote_target, "sip:gw@198.51.100.7:5070");
    assert_eq!(d.local_seq, Some(10));
    assert_eq!(d.remote_seq, None);
}

#[test]
fn uac_early_dialog_confirmed_by_2xx_or_ended_by_error() {
    let inv = our_invite("");
    let ringing = parse(
        &String::from_utf8_lossy(&their_response(180, "").to_bytes()).replace(
            "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n",
            "",
        ),
    );
    let mut d = Dialog::uac(&inv, &ringing).unwrap();
    assert_eq!(d.state, DialogState::Early);
    assert!(d.route_set.is_empty());
    d.on_invite_response(&their_response(200, "")).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.route_set.len(), 2, "route set recomputed from the 2xx");

    let mut early = Dialog::uac(&inv, &their_response(183, "")).unwrap();
    early.on_invite_response(&their_response(486, "")).unwrap();
    assert_eq!(early.state, DialogState::Terminated);

    // A response from another fork (other To tag) is not this dialog.
    let other = parse(
        &String::from_utf8_lossy(&their_response(200, "").to_bytes()).replace("theirs1", "fork2"),
    );
    assert_eq!(
        Dialog::uac(&inv, &their_response(183, ""))
            .unwrap()
            .on_invite_response(&other),
        Err(DialogError::WrongDialog)
    );
}

#[test]
fn dialog_creation_errors() {
    let inv = our_invite("");
    assert_eq!(
        Dialog::uac(&inv, &their_response(486, "")).unwrap_err(),
        DialogError::NotDialogCreating
    );
    assert_eq!(
        Dialog::uac(&inv, &their_response(100, "")).unwrap_err(),
        DialogError::NotDialogCreating
    );
    let no_tag = parse(
        &String::from_utf8_lossy(&their_response(200, "").to_bytes()).replace(";tag=theirs1", ""),
    );
    assert_eq!(
        Dialog::uac(&inv, &no_tag).unwrap_err(),
        DialogError::Missing("To tag")
    );
    let no_contact = parse(
        &String::from_utf8_lossy(&their_response(200, "").to_bytes())
            .replace("Contact: <sip:gw@198.51.100.7:5070>\r\n", ""),
    );
    assert_eq!(
        Dialog::uac(&inv, &no_contact).unwrap_err(),
        DialogError::Missing("Contact")
    );
}

#[test]
fn uas_dialog_keeps_record_route_order() {
    let d = uas_dialog();
    assert_eq!(d.role, DialogRole::Uas);
    assert_eq!(
        d.route_set,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(d.id.local_tag, "ourtag");
    assert_eq!(d.id.remote_tag, "caller1");
    assert_eq!(d.remote_seq, Some(100));
    assert_eq!(d.local_seq, None);
    assert!(d.local.contains("tag=ourtag"));
    assert!(d.remote.contains("tag=caller1"));
}

#[test]
fn uas_early_dialog_confirmed_or_ended_by_our_final() {
    let inv = their_invite("");
    let ringing = SipMessage::response_to(&inv, 180, "Ringing", Some("ourtag"));
    let mut d = Dialog::uas(&inv, &ringing, "<sip:hotline@203.0.113.10>").unwrap();
    assert_eq!(d.state, DialogState::Early);
    d.on_sent_response(&SipMessage::response_to(&inv, 200, "OK", Some("ourtag")));
    assert_eq!(d.state, DialogState::Confirmed);
    let mut e = Dialog::uas(&inv, &ringing, "<sip:hotline@203.0.113.10>").unwrap();
    e.on_sent_response(&SipMessage::response_to(
        &inv,
        487,
        "Request Terminated",
        Some("ourtag"),
    ));
    assert_eq!(e.state, DialogState::Terminated);
    // A final after confirmation changes nothing.
    d.on_sent_response(&SipMessage::response_to(&inv, 500, "x", Some("ourtag")));
    assert_eq!(d.state, DialogState::Confirmed);
}

#[test]
fn responses_481_and_408_end_the_dialog() {
    for code in [481, 408] {
        let mut d = Dialog::uac(&our_invite(""), &their_response(200, "")).unwrap();
        let info = d.request(Method::Info, VIA).unwrap();
        d.on_response(&SipMessage::response_to(&info, 200, "OK", None));
        assert_eq!(d.state, DialogState::Confirmed);
        d.on_response(&SipMessage::response_to(&info, 486, "Busy", None));
        assert_eq!(
            d.state,
            DialogState::Confirmed,
            "other errors keep the dialog"
        );
        d.on_response(&SipMessage::response_to(&info, code, "Gone", None));
        assert_eq!(d.state, DialogState::Terminated, "{code}");
    }
}

#[test]
fn in_dialog_request_validation() {
    let mut d = uas_dialog();
    d.on_request(&in_dialog_request("INFO", 101, "")).unwrap();
    assert_eq!(d.remote_seq, Some(101));
    let lower = d
        .on_request(&in_dialog_request("INFO", 100, ""))
        .unwrap_err();
    assert_eq!(
        (lower.clone(), lower.status_code()),
        (DialogError::LowerCSeq, 500)
    );
    assert_eq!(
        d.remote_seq,
        Some(101),
        "a refused request does not move the CSeq"
    );
    // ACK for the initial INVITE carries the INVITE's (lower) number and is fine.
    d.on_request(&in_dialog_request("ACK", 100, "")).unwrap();
    // Gaps are allowed (§12.2.2: only lower is refused).
    d.on_request(&in_dialog_request("OPTIONS", 150, ""))
        .unwrap();
    // A request for another dialog.
    let other = parse(
        &String::from_utf8_lossy(&in_dialog_request("INFO", 200, "").to_bytes())
            .replace("tag=ourtag", "tag=nope"),
    );
    let e = d.on_request(&other).unwrap_err();
    assert_eq!(
        (e.clone(), e.status_code()),
        (DialogError::WrongDialog, 481)
    );
    // BYE ends it; later requests get 481.
    d.on_request(&in_dialog_request("BYE", 151, "")).unwrap();
    assert_eq!(d.state, DialogState::Terminated);
    assert_eq!(
        d.on_request(&in_dialog_request("INFO", 152, ""))
            .unwrap_err()
            .status_code(),
        481
    );
}

#[test]
fn target_refresh_updates_remote_target() {
    let mut d = uas_dialog();
    d.on_request(&in_dialog_request(
        "INFO",
        101,
        "Contact: <sip:elsewhere@192.0.2.1>\r\n",
    ))
    .unwrap();
    assert_eq!(
        d.remote_target, "sip:13800000000@198.51.100.7:5060",
        "INFO is no target refresh"
    );
    d.on_request(&in_dialog_request(
        "INVITE",
        102,
        "Contact: <sip:moved@192.0.2.1:5080>\r\n",
    ))
    .unwrap();
    assert_eq!(d.remote_target, "sip:moved@192.0.2.1:5080");
    d.on_request(&in_dialog_request(
        "UPDATE",
        103,
        "Contact: <sip:again@192.0.2.2>\r\n",
    ))
    .unwrap();
    assert_eq!(d.remote_target, "sip:again@192.0.2.2");
    // A 2xx to our own re-INVITE refreshes too.
    let mut uac = Dialog::uac(&our_invite(""), &their_response(200, "")).unwrap();
    let ok = parse(
        &String::from_utf8_lossy(&their_response(200, "").to_bytes())
            .replace("sip:gw@198.51.100.7:5070", "sip:gw2@198.51.100.8"),
    );
    uac.on_refresh_response(&ok);
    assert_eq!(uac.remote_target, "sip:gw2@198.51.100.8");
}

#[test]
fn builds_loose_routed_requests_with_increasing_cseq() {
    let mut d = Dialog::uac(&our_invite(""), &their_response(200, "")).unwrap();
    let bye = d.request(Method::Bye, VIA).unwrap();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.request_uri_str(), Some("sip:gw@198.51.100.7:5070"));
    let routes: Vec<String> = bye
        .routes()
        .unwrap()
        .iter()
        .map(|r| r.uri.as_str().to_owned())
        .collect();
    assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert_eq!(bye.cseq().unwrap().seq, 11);
    assert_eq!(bye.from().unwrap().tag(), Some("ours1"));
    assert_eq!(bye.to().unwrap().tag(), Some("theirs1"));
    assert_eq!(bye.call_id().unwrap(), "dlg-1@hotline");
    assert_eq!(bye.top_via().unwrap().branch(), Some("z9hG4bKnew"));
    assert!(bye.header("Contact").is_none(), "BYE is no target refresh");
    assert_eq!(d.next_hop(), "sip:p1.example.com;lr");
    for (m, seq) in [
        (Method::Invite, 12),
        (Method::Update, 13),
        (Method::Info, 14),
        (Method::Options, 15),
        (Method::Refer, 16),
    ] {
        let r = d.request(m.clone(), VIA).unwrap();
        assert_eq!(
            r.cseq().unwrap(),
            crate::sip::message::CSeq {
                seq,
                method: m.clone()
            }
        );
        assert_eq!(r.header("Contact").is_some(), is_target_refresh(&m), "{m}");
    }
    assert!(d.request(Method::Ack, VIA).is_err());
    assert!(d.request(Method::Cancel, VIA).is_err());
    // A UAS that never sent a request starts at 1.
    assert_eq!(
        uas_dialog()
            .request(Method::Bye, VIA)
            .unwrap()
            .cseq()
            .unwrap()
            .seq,
        1
    );
}

#[test]
fn strict_route_puts_first_hop_in_request_uri() {
    let resp = parse(
        &String::from_utf8_lossy(&their_response(200, "").to_bytes()).replace(
            "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
            "Record-Route: <sip:p2.example.com;lr>, <sip:strict.example.com>",
        ),
    );
    let mut d = Dialog::uac(&our_invite(""), &resp).unwrap();
    let bye = d.request(Method::Bye, VIA).unwrap();
    assert_eq!(bye.request_uri_str(), Some("sip:strict.example.com"));
    let routes: Vec<String> = bye
        .routes()
        .unwrap()
        .iter()
        .map(|r| r.uri.as_str().to_owned())
        .collect();
    assert_eq!(
        routes,
        ["sip:p2.example.com;lr", "sip:gw@198.51.100.7:5070"]
    );
    assert_eq!(d.next_hop(), "sip:strict.example.com");
}

#[test]
fn no_route_set_targets_contact_directly() {
    let resp = parse(
        &String::from_utf8_lossy(&their_response(200, "").to_bytes()).replace(
            "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n",
            "",
        ),
    );
    let mut d = Dialog::uac(&our_invite(""), &resp).unwrap();
    let r = d.request(Method::Options, VIA).unwrap();
    assert_eq!(r.request_uri_str(), Some("sip:gw@198.51.100.7:5070"));
    assert!(r.header("Route").is_none());
    assert_eq!(d.next_hop(), "sip:gw@198.51.100.7:5070");
}

#[test]
fn ack_for_2xx_reuses_invite_cseq() {
    let mut d = Dialog::uac(&our_invite(""), &their_response(200, "")).unwrap();
    let ack = d.ack(10, VIA).unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, 10);
    assert_eq!(ack.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.request_uri_str(), Some("sip:gw@198.51.100.7:5070"));
    assert_eq!(ack.routes().unwrap().len(), 2);
    // Building the ACK does not consume a CSeq.
    assert_eq!(d.request(Method::Bye, VIA).unwrap().cseq().unwrap().seq, 11);
    d.terminate();
    assert_eq!(
        d.request(Method::Bye, VIA).unwrap_err(),
        DialogError::Terminated
    );
}

// ---------- session timers ----------

#[test]
fn session_expires_and_min_se_parsing() {
    assert_eq!(
        SessionExpires::parse("1800;refresher=UAS").unwrap(),
        SessionExpires {
            delta: 1800,
            refresher: Some(Refresher::Uas)
        }
    );
    assert_eq!(SessionExpires::parse(" 90 ").unwrap().refresher, None);
    for bad in ["", "x", "-5", "1800;refresher=me", "99999999999"] {
        assert!(SessionExpires::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(session_timer::parse_min_se("120;x=y").unwrap(), 120);
    assert!(session_timer::parse_min_se("abc").is_err());
    assert_eq!(
        SessionExpires {
            delta: 600,
            refresher: Some(Refresher::Uac)
        }
        .to_header_value(),
        "600;refresher=uac"
    );
}

#[test]
fn uac_request_headers_and_2xx_and_422() {
    let cfg = SessionTimerConfig::default();
    let h = request_headers(&cfg, None);
    assert_eq!(
        h,
        [
            ("Supported", "timer".to_owned()),
            ("Session-Expires", "1800".to_owned()),
            ("Min-SE", "90".to_owned())
        ]
    );
    // 422 from the carrier: retry with its Min-SE.
    let tiny = SessionTimerConfig {
        session_expires: 90,
        ..cfg
    };
    let r422 = their_response(422, "Min-SE: 300\r\n");
    let retry = uac_on_422(&r422, tiny.session_expires).unwrap();
    assert_eq!(retry, 300);
    assert_eq!(request_headers(&tiny, Some(retry))[1].1, "300");
    assert!(uac_on_422(&their_response(422, ""), 90).is_err());
    // 2xx with refresher=uac: we refresh; uas: they do; absent header: no timer.
    assert_eq!(
        uac_on_2xx(&their_response(
            200,
            "Session-Expires: 900;refresher=uac\r\n"
        ))
        .unwrap(),
        Some(Negotiated {
            delta: 900,
            local_refresher: true
        })
    );
    assert_eq!(
        uac_on_2xx(&their_response(200, "x: 900;refresher=uas\r\n")).unwrap(),
        Some(Negotiated {
            delta: 900,
            local_refresher: false
        }),
        "compact form"
    );
    assert_eq!(uac_on_2xx(&their_response(200, "")).unwrap(), None);
    assert!(uac_on_2xx(&their_response(200, "Session-Expires: soon\r\n")).is_err());
}

#[test]
fn uas_negotiation_cases() {
    let cfg = SessionTimerConfig::default();
    // Too small → 422 with our Min-SE.
    let small = their_invite("Supported: timer\r\nSession-Expires: 60\r\n");
    assert_eq!(
        uas_negotiate(&small, &cfg).unwrap(),
        UasDecision::TooSmall { min_se: 90 }
    );
    // Their refresher choice is kept; Require: timer since they support it.
    let theirs = their_invite("Supported: timer\r\nSession-Expires: 600;refresher=uac\r\n");
    assert_eq!(
        uas_negotiate(&theirs, &cfg).unwrap(),
        UasDecision::Accept {
            headers: vec![
                ("Session-Expires", "600;refresher=uac".into()),
                ("Require", "timer".into())
            ],
            timer: Some(Negotiated {
                delta: 600,
                local_refresher: false
            })
        }
    );
    // Larger than our maximum: shortened; we pick ourselves as refresher.
    let long = their_invite("Supported: timer\r\nSession-Expires: 7200\r\n");
    match uas_negotiate(&long, &cfg).unwrap() {
        UasDecision::Accept { headers, timer } => {
            assert_eq!(headers[0].1, "1800;refresher=uas");
            assert_eq!(
                timer,
                Some(Negotiated {
                    delta: 1800,
                    local_refresher: true
                })
            );
        }
        d => panic!("{d:?}"),
    }
    // ... but never below the UAC's Min-SE.
    let min = their_invite("Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 3600\r\n");
    match uas_negotiate(&min, &cfg).unwrap() {
        UasDecision::Accept { timer, .. } => assert_eq!(timer.unwrap().delta, 3600),
        d => panic!("{d:?}"),
    }
    // No timer support at the UAC, no header: we still refresh ourselves, without Require.
    match uas_negotiate(&their_invite(""), &cfg).unwrap() {
        UasDecision::Accept { headers, timer } => {
            assert_eq!(
                headers,
                vec![("Session-Expires", "1800;refresher=uas".to_owned())]
            );
            assert!(timer.unwrap().local_refresher);
        }
        d => panic!("{d:?}"),
    }
    // Disabled and not asked: nothing.
    let off = SessionTimerConfig {
        enabled: false,
        ..cfg
    };
    assert_eq!(
        uas_negotiate(&their_invite(""), &off).unwrap(),
        UasDecision::Accept {
            headers: vec![],
            timer: None
        }
    );
    assert!(uas_negotiate(&their_invite("Session-Expires: nope\r\n"), &cfg).is_err());
}

#[test]
fn session_timer_refresher_refreshes_at_half_and_expires_without_refresh() {
    let t0 = Instant::now();
    let mut t = SessionTimer::new(
        Negotiated {
            delta: 1800,
            local_refresher: true,
        },
        t0,
    );
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(900)));
    assert_eq!(t.handle_timeout(t0 + Duration::from_secs(899)), None);
    assert_eq!(
        t.handle_timeout(t0 + Duration::from_secs(900)),
        Some(SessionTimerEvent::RefreshDue)
    );
    assert_eq!(t.handle_timeout(t0 + Duration::from_secs(900)), None);
    // The refresh got no answer: expiry at SE - min(32, SE/3).
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(1768)));
    assert_eq!(
        t.handle_timeout(t0 + Duration::from_secs(1768)),
        Some(SessionTimerEvent::Expired)
    );
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn session_timer_refresh_restarts_and_non_refresher_only_expires() {
    let t0 = Instant::now();
    let mut t = SessionTimer::new(
        Negotiated {
            delta: 90,
            local_refresher: false,
        },
        t0,
    );
    // 90 - min(32, 30) = 60 s.
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    // The peer refreshed at 40 s: the deadline moves.
    t.refreshed(
        Negotiated {
            delta: 90,
            local_refresher: false,
        },
        t0 + Duration::from_secs(40),
    );
    assert_eq!(t.handle_timeout(t0 + Duration::from_secs(60)), None);
    assert_eq!(
        t.handle_timeout(t0 + Duration::from_secs(100)),
        Some(SessionTimerEvent::Expired)
    );
    let mut s = SessionTimer::new(
        Negotiated {
            delta: 600,
            local_refresher: true,
        },
        t0,
    );
    s.stop();
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn record_route_header_params_are_kept() {
    let inv = parse(
        &String::from_utf8_lossy(&their_invite("").to_bytes()).replace(
            "Record-Route: <sip:p1.example.com;lr>\r\n",
            "Record-Route: \"edge\" <sip:p1.example.com;lr;transport=tcp>;ftag=abc\r\n",
        ),
    );
    let ok = SipMessage::response_to(&inv, 200, "OK", Some("ourtag"));
    let mut d = Dialog::uas(&inv, &ok, "<sip:hotline@203.0.113.10>").unwrap();
    assert_eq!(
        d.route_set,
        [
            "<sip:p1.example.com;lr;transport=tcp>;ftag=abc",
            "<sip:p2.example.com;lr>"
        ]
    );
    let bye = d.request(Method::Bye, VIA).unwrap();
    let routes = bye.routes().unwrap();
    assert_eq!(
        routes[0].uri.as_str(),
        "sip:p1.example.com;lr;transport=tcp"
    );
    assert_eq!(routes[0].params.get("ftag"), Some("abc"));
    assert_eq!(d.next_hop(), "sip:p1.example.com;lr;transport=tcp");
}
