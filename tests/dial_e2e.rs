//! An agent calls a citizen from the desktop on the real server: the desktop's `dial` rings the
//! agent's registered phone first; once the phone answers, hotline dials the number through the
//! carrier trunk by the dial plan, and the agent and the citizen hear each other through hotline's
//! relay. The citizen hangs up: the agent's phone gets BYE and the agent is back in not-ready.

mod common;

use std::time::Duration;

use common::audio::Tone;
use common::cti::{command, desktop, ws_until, ACD_CONSUMER_1001};
use common::phone::{self, bye, pick_up, rtp_socket};
use common::ua::{request, Ua};
use common::{Hotline, HotlineSetup};
use hotline::sip::message::SipMessage;
use serde_json::json;

const AGENT_HZ: f64 = 1000.0;
const CITIZEN_HZ: f64 = 1500.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_dial_connects_the_agents_phone_to_the_citizen_through_the_trunk() {
    let citizen = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: common::carrier_and_agent_1001(citizen.addr, Some("12345")),
        acd: Some(ACD_CONSUMER_1001.into()),
        ..HotlineSetup::default()
    });
    let mut ws = desktop(&h, "1001", "agent").await;
    command(&mut ws, 1, json!({"cmd":"login"})).await;
    let agent_phone = Ua::new();
    agent_phone.register(h.sip, "1001", "s3cret");

    // Outbound calls start from not-ready, where login leaves the agent.
    command(&mut ws, 2, json!({"cmd":"dial","number":"013800138000"})).await;
    let agent_rtp = rtp_socket();
    let (agent_inv, to_agent_side) = pick_up(&agent_phone, h.sip, "1001", &agent_rtp);
    assert!(
        agent_inv
            .header_str("From")
            .unwrap()
            .contains("013800138000"),
        "the agent's phone shows whom it calls: {}",
        agent_inv.header_str("From").unwrap()
    );
    let _agent = Tone::start(&agent_rtp, to_agent_side, AGENT_HZ);
    // While the number rings the agent hears ringback (450 Hz), not silence.
    let citizen_rtp = rtp_socket();
    let (far_inv, to_citizen_side) = {
        let (invite, _) = citizen.expect("INVITE to the number", request("INVITE"));
        assert!(
            phone::hears_within(&agent_rtp, 450.0, Duration::from_millis(5_200)),
            "ringback while the number rings"
        );
        phone::answer_invite(&citizen, h.sip, &invite, "cit", &citizen_rtp)
    };
    assert!(far_inv.request_uri_str().unwrap().contains("13800138000"));
    assert!(
        far_inv.header_str("From").unwrap().contains("sip:12345@"),
        "the trunk's caller ID is presented: {}",
        far_inv.header_str("From").unwrap()
    );
    let _citizen = Tone::start(&citizen_rtp, to_citizen_side, CITIZEN_HZ);
    phone::hear_each_other(&agent_rtp, AGENT_HZ, &citizen_rtp, CITIZEN_HZ);

    // The citizen hangs up: the agent's phone is let go, the agent is not-ready again.
    bye(&citizen, h.sip, &far_inv, "cit");
    let (agent_bye, _) = agent_phone.expect("BYE to the agent", request("BYE"));
    agent_phone.send_msg(h.sip, &SipMessage::response_to(&agent_bye, 200, "OK", None));
    ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "agent_state"
            && v["event"]["state"]["state"] == "not_ready"
            && v["event"]["reason"] == "outbound_ended"
    })
    .await;
}
