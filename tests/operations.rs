//! Operations as an operator meets them: a broken config file stops hotline with its place named;
//! SIGTERM refuses new calls with 503 while calls in progress finish; /metrics answers.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{free_port, sipp_available, Hotline, HotlineSetup, SippRun};

#[test]
fn config_error_names_file_line_column_and_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hotline.toml");
    std::fs::write(
        &cfg,
        "[sip]\nudp = [\"127.0.0.1:5060\"]\n\n[rtp]\nport_min = \"low\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:5:12:", cfg.display())), "{err}");

    // A broken profile is named the same way, in its own file.
    std::fs::write(&cfg, "[sip]\nudp = [\"127.0.0.1:5060\"]\n").unwrap();
    std::fs::create_dir_all(dir.path().join("sip-profiles")).unwrap();
    std::fs::write(
        dir.path().join("sip-profiles/trunks.toml"),
        "[[trunk]]\nname = \"c\"\npeer = \"nowhere\"\nchannels = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("trunks.toml:3:8:") && err.contains("`nowhere`"),
        "{err}"
    );
}

#[test]
fn metrics_are_served_in_prometheus_text() {
    let h = Hotline::start(HotlineSetup::default());
    let text = common::http_get(h.http, "/metrics").unwrap();
    for name in [
        "hotline_active_calls",
        "hotline_calls_total",
        "hotline_registrations",
        "hotline_trunk_channels_in_use",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
}

#[test]
fn sigterm_refuses_new_calls_and_lets_active_ones_finish() {
    if !sipp_available("sigterm_refuses_new_calls_and_lets_active_ones_finish") {
        return;
    }
    let agent_port = free_port();
    let mut h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            format!(
                "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 10\n[trunk.keepalive]\ninterval_secs = 0\n\
                 [[trunk.did]]\nnumber = \"12345\"\nroute = \"extension:1001\"\n\n[agents]\nrealm = \"hotline.local\"\n\
                 [[agents.extension]]\nnumber = \"1001\"\npassword = \"x\"\ncontact = \"sip:1001@127.0.0.1:{agent_port}\"\n"
            ),
        )],
        extra_toml: String::new(),
        ..HotlineSetup::default()
    });
    let agent = SippRun::new("agent_answer.xml", agent_port).spawn(h.path());
    std::thread::sleep(Duration::from_millis(200));
    let call = SippRun {
        remote: Some(h.sip),
        hold_ms: 1_500,
        ..SippRun::new("carrier_call.xml", free_port())
    }
    .spawn(h.path());
    // The call is up once the agent answered (give a loaded machine a few seconds).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.metric("hotline_active_calls") != Some(1.0) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(h.metric("hotline_active_calls"), Some(1.0));

    let pid = h.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(200));
    // A new call during the drain is refused with 503.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let me = sock.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:12345@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKdrain\r\nFrom: <sip:139@{me}>;tag=d\r\nTo: <sip:12345@{sip}>\r\nCall-ID: drain@test\r\nCSeq: 1 INVITE\r\nContact: <sip:139@{me}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
        sip = h.sip
    );
    sock.send_to(invite.as_bytes(), h.sip).unwrap();
    let mut buf = [0u8; 2048];
    let mut final_line = String::new();
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let line = String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        if !line.starts_with("SIP/2.0 1") {
            final_line = line;
            break;
        }
    }
    assert!(final_line.starts_with("SIP/2.0 503"), "got {final_line:?}");
    // The call that was up goes on to its normal end, then hotline exits by itself.
    call.wait().unwrap();
    agent.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = h.child.try_wait().unwrap() {
            assert!(
                status.success(),
                "hotline exited with {status}\n{}",
                h.log()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "hotline did not exit after draining\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_reloads_the_ivr_flows_and_the_server_keeps_running() {
    let mut h = Hotline::start(HotlineSetup::default());
    let pid = h.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let reloaded = |log: &str| {
        log.lines()
            .any(|l| l.contains("IVR flows reloaded") && l.contains("SIGHUP"))
    };
    while !reloaded(&h.log()) {
        assert!(
            std::time::Instant::now() < deadline,
            "no reload logged after SIGHUP\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        h.child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop hotline\n{}",
        h.log()
    );
    assert!(common::http_get(h.http, "/healthz").unwrap().contains("ok"));
}
