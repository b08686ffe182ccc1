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

#[test]
fn agent_puts_the_caller_on_hold_and_back() {
    if !sipp_available("agent_puts_the_caller_on_hold_and_back") {
        return;
    }
    let agent_port = free_port();
    let h = Hotline::start(setup(agent_port, ""));
    let agent = SippRun::new("agent_hold_unhold.xml", agent_port).spawn(h.path());
    std::thread::sleep(Duration::from_millis(300));
    let carrier = SippRun {
        remote: Some(h.sip),
        ..SippRun::new("carrier_held.xml", free_port())
    }
    .spawn(h.path());
    carrier.wait().unwrap();
    agent.wait().unwrap();
}

/// Extension 1002 has no fixed contact: it is reachable only once its softphone registered.
fn registering_setup(extra: &str) -> HotlineSetup {
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
route = "extension:1002"

[agents]
realm = "hotline.local"
digest_algorithms = ["MD5", "SHA-256"]  # sipp answers the first challenge and knows only MD5
[[agents.extension]]
number = "1002"
password = "pw1002"
{extra}
"#
            ),
        )],
        ..HotlineSetup::default()
    }
}

#[test]
fn agent_registers_with_digest_then_gets_the_call() {
    if !sipp_available("agent_registers_with_digest_then_gets_the_call") {
        return;
    }
    let h = Hotline::start(registering_setup(""));
    // Before registering, the extension cannot be reached: the carrier hears 480.
    let early = SippRun {
        remote: Some(h.sip),
        ..SippRun::new("carrier_call.xml", free_port())
    }
    .spawn(h.path());
    assert!(
        early.wait().is_err(),
        "no device registered yet: the call must fail"
    );
    assert_eq!(h.metric("hotline_registrations"), Some(0.0));

    let phone_port = free_port();
    let register = SippRun {
        remote: Some(h.sip),
        fields: Some(format!("agent;1002;pw1002;{phone_port}")),
        ..SippRun::new("agent_register.xml", free_port())
    }
    .spawn(h.path());
    register.wait().unwrap();
    assert_eq!(h.metric("hotline_registrations"), Some(1.0));

    let phone = SippRun::new("agent_answer.xml", phone_port).spawn(h.path());
    std::thread::sleep(Duration::from_millis(200));
    let call = SippRun {
        remote: Some(h.sip),
        ..SippRun::new("carrier_call.xml", free_port())
    }
    .spawn(h.path());
    call.wait().unwrap();
    phone.wait().unwrap();
}

#[test]
fn wrong_password_is_refused() {
    if !sipp_available("wrong_password_is_refused") {
        return;
    }
    let h = Hotline::start(registering_setup(""));
    let register = SippRun {
        remote: Some(h.sip),
        fields: Some(format!("agent;1002;not-the-password;{}", free_port())),
        ..SippRun::new("agent_register.xml", free_port())
    }
    .spawn(h.path());
    assert!(
        register.wait().is_err(),
        "a wrong password must not register"
    );
    assert_eq!(h.metric("hotline_registrations"), Some(0.0));
}

#[test]
fn agent_dials_out_through_a_trunk_that_challenges() {
    if !sipp_available("agent_dials_out_through_a_trunk_that_challenges") {
        return;
    }
    let carrier_port = free_port();
    // The carrier is not an inbound source here, so the agent's INVITE from 127.0.0.1 is an
    // agent's call: hotline asks for the agent's credentials, then answers the carrier's challenge.
    let h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            format!(
                r#"
[[trunk]]
name = "carrier"
peer = "127.0.0.1:{carrier_port}"
inbound_sources = []
channels = 10
caller_id = "12345"
[trunk.auth]
username = "hotline-trunk"
password = "trunk-secret"
[trunk.keepalive]
interval_secs = 0

[[dial]]
prefix = "0"
trunks = ["carrier"]

[agents]
realm = "hotline.local"
digest_algorithms = ["MD5", "SHA-256"]  # sipp answers the first challenge and knows only MD5
[[agents.extension]]
number = "1001"
password = "pw1001"
"#
            ),
        )],
        ..HotlineSetup::default()
    });
    let carrier = SippRun::new("carrier_challenge_answer.xml", carrier_port).spawn(h.path());
    std::thread::sleep(Duration::from_millis(200));
    let agent = SippRun {
        remote: Some(h.sip),
        service: "013800138000".into(),
        fields: Some("agent;1001;pw1001".into()),
        ..SippRun::new("agent_dial_out.xml", free_port())
    }
    .spawn(h.path());
    agent.wait().unwrap();
    carrier.wait().unwrap();
}

#[test]
fn malformed_burst_is_answered_or_dropped_while_a_call_goes_on() {
    if !sipp_available("malformed_burst_is_answered_or_dropped_while_a_call_goes_on") {
        return;
    }
    let agent_port = free_port();
    let h = Hotline::start(setup(agent_port, ""));
    let agent = SippRun::new("agent_answer.xml", agent_port).spawn(h.path());
    std::thread::sleep(Duration::from_millis(200));
    let call = SippRun {
        remote: Some(h.sip),
        hold_ms: 3_000,
        ..SippRun::new("carrier_call.xml", free_port())
    }
    .spawn(h.path());
    std::thread::sleep(Duration::from_millis(500));

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let me = sock.local_addr().unwrap();
    let addressable = |i: usize, bad: &str| {
        format!(
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad{i}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: bad{i}\r\n{bad}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut sent_addressable = 0;
    for i in 0..200 {
        let msg: Vec<u8> = match i % 5 {
            0 => addressable(i, "CSeq: 1 INVITE").into_bytes(), // method mismatch
            1 => addressable(i, "CSeq: notanumber OPTIONS").into_bytes(),
            2 => (0..300).map(|b| (b * 7 + i) as u8).collect(), // garbage
            3 => addressable(i, "CSeq: 1 OPTIONS\r\nContent-Length: 99").into_bytes(), // two CLs, body short
            _ => b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP".to_vec(),                 // truncated
        };
        if i % 5 != 2 && i % 5 != 4 {
            sent_addressable += 1;
        }
        sock.send_to(&msg, h.sip).unwrap();
    }
    let mut answered_400 = 0;
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 400") {
                answered_400 += 1;
            }
        }
    }
    assert_eq!(
        answered_400, sent_addressable,
        "every addressable malformed request gets a 400"
    );
    call.wait().unwrap();
    agent.wait().unwrap();
}

#[test]
fn hotline_registers_to_a_carrier_that_challenges() {
    if !sipp_available("hotline_registers_to_a_carrier_that_challenges") {
        return;
    }
    let carrier_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // The carrier's registrar listens before hotline starts, as a carrier's would.
    let registrar = SippRun::new("carrier_registrar.xml", carrier_port).spawn(dir.path());
    std::thread::sleep(Duration::from_millis(200));
    let h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            format!(
                "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:{carrier_port}\"\nchannels = 10\n\
                 [trunk.auth]\nusername = \"hotline-trunk\"\npassword = \"secret\"\nregister = true\nexpires_secs = 600\n\
                 [trunk.keepalive]\ninterval_secs = 0\n"
            ),
        )],
        ..HotlineSetup::default()
    });
    registrar.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.metric("hotline_trunk_registered{trunk=\"carrier\"}") != Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "not registered\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
