//! A supervisor steers a live call on the real server: a citizen's call to a queue reaches agent
//! 1001 (desktop on /ws/cti, phone on SIP); the supervisor's desktop sends `supervise`, their
//! phone (extension 2001) is called with auto-answer and joins the call's conference. Each phone
//! sends a tone of its own, and what each one hears shows monitor, whisper and barge at work;
//! `stop_supervise` lets the supervisor's phone go and the call carries on.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::audio::{heard, listen, Tone};
use common::cti::{command, desktop, ready_agent, ws_until};
use common::ua::{request, sdp, sdp_media, status, Ua};
use common::{Hotline, HotlineSetup};
use hotline::sip::message::SipMessage;
use serde_json::json;

const ACD: &str = r#"
[[groups]]
id = "consumer"
name = "12315 消费维权"
ring_timeout_ms = 10000

[[agent]]
agent_no = "1001"
name = "坐席 1001"
groups = [{ group = "consumer", level = 5 }]
endpoints = [{ kind = "sip", extension = "1001" }]
"#;

const CALLER_HZ: f64 = 500.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 1500.0;

fn rtp_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

/// A phone answers hotline's INVITE with its RTP socket; returns where hotline wants its RTP.
fn pick_up(phone: &Ua, sip: SocketAddr, user: &str, rtp: &UdpSocket) -> (SipMessage, SocketAddr) {
    let (invite, _) = phone.expect("INVITE from hotline", request("INVITE"));
    assert!(
        invite
            .header_str("Call-Info")
            .unwrap_or_default()
            .contains("answer-after=0"),
        "auto-answer"
    );
    let mut ok = SipMessage::response_to(&invite, 200, "OK", Some(user));
    ok.push_header("Contact", format!("<sip:{user}@{}>", phone.addr));
    ok.set_body(
        sdp(rtp.local_addr().unwrap()).into_bytes(),
        Some("application/sdp"),
    );
    phone.send_msg(sip, &ok);
    phone.expect("ACK", request("ACK"));
    let to = sdp_media(invite.body());
    (invite, to)
}

/// Which of caller / agent / supervisor tones `sock` hears now (after the audio of the mode
/// before has drained).
fn hears(sock: &UdpSocket) -> Vec<bool> {
    let _ = listen(sock, Duration::from_millis(400));
    let (pcm, _) = listen(sock, Duration::from_millis(600));
    assert!(
        pcm.len() >= 160 * 15,
        "a steady stream ({} samples)",
        pcm.len()
    );
    heard(&pcm, &[CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_monitors_whispers_and_barges_a_live_call() {
    let h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 4\n\
             [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12315\"\nroute = \"queue:consumer\"\n\n\
             [agents]\nrealm = \"hotline.local\"\n[[agents.extension]]\nnumber = \"1001\"\npassword = \"s3cret\"\n\
             [[agents.extension]]\nnumber = \"2001\"\npassword = \"leader\"\n"
                .into(),
        )],
        acd: Some(ACD.into()),
        ..HotlineSetup::default()
    });
    let mut agent_ws = ready_agent(&h).await;
    let mut sup_ws = desktop(&h, "2001", "supervisor").await;
    let (agent_phone, sup_phone) = (Ua::new(), Ua::new());
    agent_phone.register(h.sip, "1001", "s3cret");
    sup_phone.register(h.sip, "2001", "leader");

    // The citizen's call goes straight into the queue and to agent 1001.
    let carrier = Ua::new();
    let caller_rtp = rtp_socket();
    let offer = sdp(caller_rtp.local_addr().unwrap());
    let invite = SipMessage::parse(format!(
        "INVITE sip:12315@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKsinv\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: <sip:12315@{sip}>\r\nCall-ID: sup-1@carrier\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{offer}",
        sip = h.sip,
        me = carrier.addr,
        len = offer.len()
    ).into_bytes())
    .unwrap();
    carrier.send_msg(h.sip, &invite);
    let (ok, _) = carrier.expect("200 from hotline", status(200));
    let to_caller_side = sdp_media(ok.body());
    let to_tag = ok.header_str("To").unwrap().to_string();
    carrier.send_msg(
        h.sip,
        &SipMessage::parse(format!(
            "ACK sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKsack\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: {to_tag}\r\nCall-ID: sup-1@carrier\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = carrier.addr,
        ).into_bytes())
        .unwrap(),
    );
    let _caller = Tone::start(&caller_rtp, to_caller_side, CALLER_HZ);

    let agent_rtp = rtp_socket();
    let (_, to_agent_side) = pick_up(&agent_phone, h.sip, "1001", &agent_rtp);
    let _agent = Tone::start(&agent_rtp, to_agent_side, AGENT_HZ);
    ws_until(&mut agent_ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "call_answered"
    })
    .await;
    assert_eq!(
        hears(&agent_rtp),
        [true, false, false],
        "caller and agent talk\n{}",
        h.log()
    );

    // Monitor: the supervisor's phone is called and hears both sides; nobody hears it.
    command(
        &mut sup_ws,
        10,
        json!({"cmd":"supervise","agent_no":"1001","mode":"monitor"}),
    )
    .await;
    let sup_rtp = rtp_socket();
    let (sup_invite, to_sup_side) = pick_up(&sup_phone, h.sip, "2001", &sup_rtp);
    let _sup = Tone::start(&sup_rtp, to_sup_side, SUPERVISOR_HZ);
    let joined = ws_until(&mut agent_ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "party" && v["event"]["status"] == "joined"
    })
    .await;
    assert_eq!(joined["event"]["role"], "supervisor");
    assert_eq!(joined["event"]["party"], "2001");
    assert_eq!(
        hears(&sup_rtp),
        [true, true, false],
        "monitor: the supervisor hears both\n{}",
        h.log()
    );
    assert_eq!(
        hears(&agent_rtp),
        [true, false, false],
        "monitor: the agent does not hear the supervisor"
    );
    assert_eq!(
        hears(&caller_rtp),
        [false, true, false],
        "monitor: neither does the caller"
    );

    // Whisper: only the agent hears the supervisor.
    command(
        &mut sup_ws,
        11,
        json!({"cmd":"supervise","agent_no":"1001","mode":"whisper"}),
    )
    .await;
    assert_eq!(
        hears(&agent_rtp),
        [true, false, true],
        "whisper reaches the agent"
    );
    assert_eq!(
        hears(&caller_rtp),
        [false, true, false],
        "the caller does not hear a whisper"
    );

    // Barge: all three talk (the agent at once; the caller after the notice prompt).
    command(
        &mut sup_ws,
        12,
        json!({"cmd":"supervise","agent_no":"1001","mode":"barge"}),
    )
    .await;
    assert_eq!(
        hears(&agent_rtp),
        [true, false, true],
        "barge: the agent hears the supervisor"
    );
    let _ = listen(&caller_rtp, Duration::from_secs(6));
    assert_eq!(
        hears(&caller_rtp),
        [false, true, true],
        "barge: the caller hears both"
    );

    // Stop: the supervisor's phone is let go; caller and agent go on as before.
    command(
        &mut sup_ws,
        13,
        json!({"cmd":"stop_supervise","agent_no":"1001"}),
    )
    .await;
    let (bye, _) = sup_phone.expect("BYE to the supervisor", request("BYE"));
    assert_eq!(
        bye.header_str("Call-ID").unwrap(),
        sup_invite.header_str("Call-ID").unwrap()
    );
    sup_phone.send_msg(h.sip, &SipMessage::response_to(&bye, 200, "OK", None));
    assert_eq!(
        hears(&agent_rtp),
        [true, false, false],
        "back to a two-party call"
    );
    assert_eq!(hears(&caller_rtp), [false, true, false]);
}
