//! A supervisor steers a live call on the real server: a citizen's call to a queue reaches agent
//! 1001 (desktop on /ws/cti, phone on SIP); the supervisor's desktop sends `supervise`, their
//! phone (extension 2001) is called with auto-answer and joins the call's conference. Each phone
//! sends a tone of its own, and what each one hears shows monitor, whisper and barge at work;
//! `stop_supervise` lets the supervisor's phone go and the call carries on.

mod common;

use std::time::Duration;

use common::audio::{listen, Tone};
use common::cti::{command, desktop, ready_agent, ws_until, ACD_CONSUMER_1001};
use common::phone::{self, carrier_call, rtp_socket};
use common::ua::{request, Ua};
use common::{Hotline, HotlineSetup};
use hotline::sip::message::SipMessage;
use serde_json::json;

const CALLER_HZ: f64 = 500.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 1500.0;

fn hears(sock: &std::net::UdpSocket) -> Vec<bool> {
    phone::hears(sock, &[CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ])
}

/// Hotline calls with auto-answer (agents and supervisors alike).
fn pick_up(
    phone: &Ua,
    sip: std::net::SocketAddr,
    user: &str,
    rtp: &std::net::UdpSocket,
) -> (SipMessage, std::net::SocketAddr) {
    let (invite, to) = phone::pick_up(phone, sip, user, rtp);
    assert!(
        invite
            .header_str("Call-Info")
            .unwrap_or_default()
            .contains("answer-after=0"),
        "auto-answer"
    );
    (invite, to)
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
        acd: Some(ACD_CONSUMER_1001.into()),
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
    let to_caller_side = carrier_call(&carrier, h.sip, "12315", "sup-1@carrier", &caller_rtp);
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
