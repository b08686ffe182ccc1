//! The transfer key of an agent's phone on a plain call, on the real server: a carrier call to a
//! DID routed straight to extension 1001 (no IVR, no ACD) is transferred by 1001's REFER to
//! extension 1002. The citizen hears ringback while 1002 rings, 1001 hears the outcome in
//! NOTIFYs and is let go, and the citizen and 1002 then hear each other through the same relay
//! port the citizen had from the start (the carrier gets no re-INVITE). The CDR keeps one record
//! with 1002's leg added and 1001's leg marked `transferred`.

mod common;

use std::time::{Duration, Instant};

use common::audio::Tone;
use common::phone::{self, answer_invite, rtp_socket};
use common::ua::{request, sdp, sdp_media, status, Ua};
use common::{Hotline, HotlineSetup};
use hotline::sip::message::SipMessage;

const CALLER_HZ: f64 = 700.0;
const AGENT_HZ: f64 = 1100.0;
const COLLEAGUE_HZ: f64 = 1500.0;
/// hotline's ringback (China: 450 Hz, 1 s on, 4 s off).
const RINGBACK_HZ: f64 = 450.0;

fn profiles(carrier: std::net::SocketAddr) -> Vec<(String, String)> {
    vec![(
        "test.toml".into(),
        format!(
            "[[trunk]]\nname = \"carrier\"\npeer = \"{carrier}\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 4\n\
             [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"extension:1001\"\n\n\
             [agents]\nrealm = \"hotline.local\"\n\
             [[agents.extension]]\nnumber = \"1001\"\npassword = \"s3cret\"\n\
             [[agents.extension]]\nnumber = \"1002\"\npassword = \"s3cret2\"\n"
        ),
    )]
}

/// `ua` answers an in-dialog request from hotline with 200.
fn ok_to(ua: &Ua, sip: std::net::SocketAddr, req: &SipMessage) {
    ua.send_msg(sip, &SipMessage::response_to(req, 200, "OK", None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_phone_transfers_a_did_call_to_another_extension() {
    let carrier = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: profiles(carrier.addr),
        ..HotlineSetup::default()
    });
    let agent = Ua::new();
    agent.register(h.sip, "1001", "s3cret");
    let colleague = Ua::new();
    colleague.register(h.sip, "1002", "s3cret2");

    // The citizen calls 12345, which rings 1001 directly.
    let caller_rtp = rtp_socket();
    let offer = sdp(caller_rtp.local_addr().unwrap());
    let call_id = "xfer-1@carrier";
    carrier.send(
        h.sip,
        &format!(
            "INVITE sip:12345@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKxfer1\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: <sip:12345@{sip}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{offer}",
            sip = h.sip,
            me = carrier.addr,
            len = offer.len()
        ),
    );
    let agent_rtp = rtp_socket();
    let (agent_inv, _) = agent.expect("INVITE for 1001", request("INVITE"));
    let (agent_inv, to_agent_side) = answer_invite(&agent, h.sip, &agent_inv, "1001", &agent_rtp);
    let (ok, _) = carrier.expect("200 for the citizen", status(200));
    let to_caller_side = sdp_media(ok.body());
    let a_to = ok.header_str("To").unwrap().to_string();
    carrier.send(
        h.sip,
        &format!(
            "ACK sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKxferack\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: {a_to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = carrier.addr
        ),
    );
    let caller_tone = Tone::start(&caller_rtp, to_caller_side, CALLER_HZ);
    let agent_tone = Tone::start(&agent_rtp, to_agent_side, AGENT_HZ);
    phone::hear_each_other(&caller_rtp, CALLER_HZ, &agent_rtp, AGENT_HZ);

    // The agent presses transfer and dials 1002: a REFER in the agent's dialog.
    agent.send(
        h.sip,
        &format!(
            "REFER sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKrefer1\r\nMax-Forwards: 70\r\nFrom: {from};tag=1001\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 1 REFER\r\nContact: <sip:1001@{me}>\r\nRefer-To: <sip:1002@{sip}>\r\nReferred-By: <sip:1001@hotline.local>\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = agent.addr,
            from = agent_inv.header_str("To").unwrap(),
            to = agent_inv.header_str("From").unwrap(),
            cid = agent_inv.header_str("Call-ID").unwrap(),
        ),
    );
    agent.expect("202 to the REFER", status(202));
    let (trying, _) = agent.expect("NOTIFY 100", request("NOTIFY"));
    assert!(
        String::from_utf8_lossy(trying.body()).starts_with("SIP/2.0 100"),
        "{trying:?}"
    );
    ok_to(&agent, h.sip, &trying);

    // 1002 rings; the citizen hears ringback instead of the agent meanwhile.
    let (colleague_inv, _) = colleague.expect("INVITE for 1002", request("INVITE"));
    assert!(
        colleague_inv
            .header_str("From")
            .unwrap()
            .contains("13800138000"),
        "1002 sees the citizen's number"
    );
    assert!(
        phone::hears_within(&caller_rtp, RINGBACK_HZ, Duration::from_millis(1500)),
        "the citizen hears ringback while 1002 rings"
    );
    let colleague_rtp = rtp_socket();
    let (colleague_inv, to_colleague_side) =
        answer_invite(&colleague, h.sip, &colleague_inv, "1002", &colleague_rtp);
    let colleague_tone = Tone::start(&colleague_rtp, to_colleague_side, COLLEAGUE_HZ);

    // The agent's phone hears that it worked, and is let go.
    let (done, _) = agent.expect("NOTIFY 200", request("NOTIFY"));
    assert!(
        String::from_utf8_lossy(done.body()).starts_with("SIP/2.0 200"),
        "{done:?}"
    );
    assert!(done
        .header_str("Subscription-State")
        .unwrap()
        .starts_with("terminated"));
    ok_to(&agent, h.sip, &done);
    let (bye, _) = agent.expect("BYE for 1001", request("BYE"));
    ok_to(&agent, h.sip, &bye);
    drop(agent_tone);

    // The citizen and 1002 hear each other, through the citizen's same relay port.
    phone::hear_each_other(&caller_rtp, CALLER_HZ, &colleague_rtp, COLLEAGUE_HZ);

    // The citizen hangs up: 1002 gets BYE; the carrier never got a re-INVITE.
    carrier.send(
        h.sip,
        &format!(
            "BYE sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKxferbye\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: {a_to}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = carrier.addr
        ),
    );
    let (bye_ok, _) = carrier.expect("200 to the BYE", |m| {
        m.status_code().is_some() || m.method().is_some_and(|m| m.as_str() == "INVITE")
    });
    assert_eq!(bye_ok.status_code(), Some(200), "{bye_ok:?}");
    let (bye2, _) = colleague.expect("BYE for 1002", request("BYE"));
    assert_eq!(
        bye2.header_str("Call-ID"),
        colleague_inv.header_str("Call-ID")
    );
    ok_to(&colleague, h.sip, &bye2);
    drop((caller_tone, colleague_tone));

    // One CDR: 1001's leg transferred, 1002's added.
    let db =
        hotline::store::Db::connect(&format!("sqlite:{}", h.path().join("hotline.db").display()))
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let legs: Vec<(String, String, i64, String)> = loop {
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT leg, peer, sip_code, hangup_cause FROM cdr_legs WHERE call_id = $1 ORDER BY leg",
        )
        .bind(call_id)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        if !rows.is_empty() {
            break rows;
        }
        assert!(Instant::now() < deadline, "no CDR\n{}", h.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let legs: Vec<(&str, &str, i64, &str)> = legs
        .iter()
        .map(|(l, p, c, h)| (l.as_str(), p.as_str(), *c, h.as_str()))
        .collect();
    assert_eq!(
        legs,
        vec![
            ("a", "carrier", 200, ""),
            ("b1", "1001", 200, "transferred"),
            ("b2", "1002", 200, ""),
        ]
    );
    let (calls, side): (i64, String) =
        sqlx::query_as("SELECT COUNT(*), MIN(hangup_side) FROM cdr_calls WHERE call_id = $1")
            .bind(call_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((calls, side.as_str()), (1, "caller"));
}
