//! An agent consults a department on the real server, joins all three, then transfers: a citizen's
//! queue call reaches agent 1001; the agent's desktop consults an outside number (the department's
//! phone, reached through the carrier trunk by the dial plan) while the caller waits with music,
//! makes it a three-way call, and transfers the caller to the department and leaves. Each phone
//! sends a tone of its own; what each hears shows who is connected at every step.

mod common;

use std::time::Duration;

use common::audio::Tone;
use common::cti::{command, ready_agent, ws_until, ACD_CONSUMER_1001};
use common::phone::{self, bye, carrier_call, pick_up, rtp_socket};
use common::ua::{request, Ua};
use common::{Hotline, HotlineSetup};
use hotline::sip::message::SipMessage;
use serde_json::json;

const CALLER_HZ: f64 = 500.0;
const AGENT_HZ: f64 = 1000.0;
const DEPT_HZ: f64 = 1500.0;

fn hears(sock: &std::net::UdpSocket) -> Vec<bool> {
    phone::hears(sock, &[CALLER_HZ, AGENT_HZ, DEPT_HZ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_consults_a_department_joins_all_three_and_transfers() {
    let department = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: common::carrier_and_agent_1001(department.addr, None),
        acd: Some(ACD_CONSUMER_1001.into()),
        ..HotlineSetup::default()
    });
    let mut ws = ready_agent(&h).await;
    let agent_phone = Ua::new();
    agent_phone.register(h.sip, "1001", "s3cret");

    // The citizen's call reaches the agent.
    let carrier = Ua::new();
    let caller_rtp = rtp_socket();
    let to_caller_side = carrier_call(&carrier, h.sip, "12315", "con-1@carrier", &caller_rtp);
    let _caller = Tone::start(&caller_rtp, to_caller_side, CALLER_HZ);
    let agent_rtp = rtp_socket();
    let (agent_inv, to_agent_side) = pick_up(&agent_phone, h.sip, "1001", &agent_rtp);
    let _agent = Tone::start(&agent_rtp, to_agent_side, AGENT_HZ);
    ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "call_answered"
    })
    .await;

    // Consult the department: the caller waits with music, the agent talks to the department.
    command(
        &mut ws,
        10,
        json!({"cmd":"consult","target":{"kind":"department","number":"07712345678"}}),
    )
    .await;
    let dept_rtp = rtp_socket();
    let (dept_inv, to_dept_side) = pick_up(&department, h.sip, "dept", &dept_rtp);
    assert!(
        dept_inv.request_uri_str().unwrap().contains("07712345678"),
        "{}",
        dept_inv.request_uri_str().unwrap()
    );
    let _dept = Tone::start(&dept_rtp, to_dept_side, DEPT_HZ);
    let joined = ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "party" && v["event"]["status"] == "joined"
    })
    .await;
    assert_eq!(joined["event"]["role"], "consult");
    assert_eq!(
        hears(&agent_rtp),
        [false, false, true],
        "consulting: the agent hears the department, not the held caller\n{}",
        h.log()
    );
    assert_eq!(
        hears(&dept_rtp),
        [false, true, false],
        "the department hears the agent only"
    );

    // Three-way: everyone hears the other two.
    command(&mut ws, 11, json!({"cmd":"three_way"})).await;
    assert_eq!(hears(&agent_rtp), [true, false, true], "three-way: agent");
    assert_eq!(
        hears(&dept_rtp),
        [true, true, false],
        "three-way: department"
    );
    assert_eq!(hears(&caller_rtp), [false, true, true], "three-way: caller");

    // Transfer to the department: the agent's phone is let go, caller and department go on.
    command(
        &mut ws,
        12,
        json!({"cmd":"transfer","target":{"kind":"department","number":"07712345678"}}),
    )
    .await;
    let (agent_bye, _) = agent_phone.expect("BYE to the agent", request("BYE"));
    assert_eq!(
        agent_bye.header_str("Call-ID").unwrap(),
        agent_inv.header_str("Call-ID").unwrap()
    );
    agent_phone.send_msg(h.sip, &SipMessage::response_to(&agent_bye, 200, "OK", None));
    ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "call_transferred"
    })
    .await;
    assert_eq!(
        hears(&caller_rtp),
        [false, false, true],
        "the caller talks to the department"
    );
    assert_eq!(
        hears(&dept_rtp),
        [true, false, false],
        "and the department to the caller"
    );

    // The department hangs up: the citizen's call ends.
    bye(&department, h.sip, &dept_inv, "dept");
    let (caller_bye, _) = carrier.expect("BYE to the caller", request("BYE"));
    carrier.send_msg(
        h.sip,
        &SipMessage::response_to(&caller_bye, 200, "OK", None),
    );
}
