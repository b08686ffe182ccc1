//! Interop with sipp, a real SIP implementation: carrier calls through hotline to agents' phones,
//! cancellations, busy agents, digest registration, outbound calls through a challenging trunk,
//! hold/unhold, and malformed traffic beside a live call. Each test starts its own hotline.

mod common;

use std::time::Duration;

use common::{free_port, sipp_available, tone_wav, Hotline, HotlineSetup, SippRun};

/// A carrier trunk on 127.0.0.1 whose DID 12345 rings extension 1001, a phone at `agent_port`.
fn setup(agent_port: u16, extra: &str) -> HotlineSetup {
    HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            format!(
                r#"
[[trunk]]
name = "carrier"
peer = "127.0.0.1:9"
inbound_sources = ["127.0.0.1"]
channels = 10
[trunk.keepalive]
interval_secs = 0
[[trunk.did]]
number = "12345"
route = "extension:1001"

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@127.0.0.1:{agent_port}"
{extra}
"#
            ),
        )],
        ..HotlineSetup::default()
    }
}

#[test]
fn carrier_call_reaches_the_agent_with_rtp_both_ways() {
    if !sipp_available("carrier_call_reaches_the_agent_with_rtp_both_ways") {
        return;
    }
    let agent_port = free_port();
    let h = Hotline::start(setup(agent_port, ""));
    let wav = tone_wav(h.path());
    let agent = SippRun {
        wav: Some(wav.clone()),
        ..SippRun::new("agent_answer_rtp.xml", agent_port)
    }
    .spawn(h.path());
    std::thread::sleep(Duration::from_millis(300));
    let carrier = SippRun {
        remote: Some(h.sip),
        wav: Some(wav),
        hold_ms: 2_000,
        ..SippRun::new("carrier_call_rtp.xml", free_port())
    }
    .spawn(h.path());
    carrier.wait().unwrap();
    agent.wait().unwrap();
    // The bridge's counters are added when it closes, just after the BYE.
    std::thread::sleep(Duration::from_millis(300));
    let a_to_b = h
        .metric("hotline_rtp_packets_relayed_total{direction=\"a_to_b\"}")
        .unwrap_or(0.0);
    let b_to_a = h
        .metric("hotline_rtp_packets_relayed_total{direction=\"b_to_a\"}")
        .unwrap_or(0.0);
    // 2 s of 20 ms packets is 100 each way; allow for call set-up and tear-down.
    assert!(
        a_to_b >= 60.0 && b_to_a >= 60.0,
        "RTP relayed a→b {a_to_b}, b→a {b_to_a}\n{}",
        h.log()
    );
    assert_eq!(h.metric("hotline_calls_total"), Some(1.0));
    assert_eq!(h.metric("hotline_active_calls"), Some(0.0));
}

#[test]
fn caller_cancels_while_the_agent_rings() {
    if !sipp_available("caller_cancels_while_the_agent_rings") {
        return;
    }
    let agent_port = free_port();
    let h = Hotline::start(setup(agent_port, ""));
    let agent = SippRun::new("agent_ring_cancelled.xml", agent_port).spawn(h.path());
    std::thread::sleep(Duration::from_millis(300));
    let carrier = SippRun {
        remote: Some(h.sip),
        ..SippRun::new("carrier_cancel.xml", free_port())
    }
    .spawn(h.path());
    carrier.wait().unwrap();
    agent.wait().unwrap();
    assert_eq!(h.metric("hotline_active_calls"), Some(0.0));
}

#[test]
fn busy_agent_gives_the_carrier_486() {
    if !sipp_available("busy_agent_gives_the_carrier_486") {
        return;
    }
    let agent_port = free_port();
    let h = Hotline::start(setup(agent_port, ""));
    let agent = SippRun::new("agent_busy.xml", agent_port).spawn(h.path());
    std::thread::sleep(Duration::from_millis(300));
    let carrier = SippRun {
        remote: Some(h.sip),
        ..SippRun::new("carrier_expect_busy.xml", free_port())
    }
    .spawn(h.path());
    carrier.wait().unwrap();
    agent.wait().unwrap();
    assert_eq!(h.metric("hotline_calls_failed_total"), Some(1.0));
}
