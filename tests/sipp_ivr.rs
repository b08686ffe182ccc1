//! Interop of the IVR with sipp: sipp calls the DID routed to the shipped main flow, hears the
//! prompts, and presses keys as RFC 4733 telephone-events replayed from sipp's own captures
//! (`dtmf_2833_N.pcap`, shipped with sip-tester). The caller types 1 ahead during the welcome,
//! the main menu sends the call to the general queue, the ACD offers it to an agent logged in
//! over the CTI WebSocket whose phone is a second sipp (answers, then hangs up), and the caller's
//! rating given to the post-call survey is stored in `call_ratings`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cti::{ready_agent, ws_until};
use common::{free_port, sipp_available, Hotline, HotlineSetup, SippRun};

const ACD: &str = r#"
[[groups]]
id = "12345-general"
name = "12345 政务服务"
ring_timeout_ms = 10000

[[agent]]
agent_no = "1001"
name = "坐席 1001"
groups = [{ group = "12345-general", level = 5 }]
endpoints = [{ kind = "sip", extension = "1001" }]
"#;

/// Where sip-tester keeps its telephone-event captures (Debian: /usr/share/sip-tester).
fn dtmf_pcap(key: char) -> Option<PathBuf> {
    [
        "/usr/share/sip-tester",
        "/usr/share/sipp",
        "/usr/local/share/sipp",
    ]
    .iter()
    .map(|d| PathBuf::from(d).join(format!("dtmf_2833_{key}.pcap")))
    .find(|p| p.exists())
}

/// The log without its colour escapes (`ESC [ ... m`).
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_caller_walks_the_main_menu_to_the_queue_and_rates_the_call() {
    let test = "sipp_caller_walks_the_main_menu_to_the_queue_and_rates_the_call";
    if !sipp_available(test) {
        return;
    }
    let (Some(one), Some(five)) = (dtmf_pcap('1'), dtmf_pcap('5')) else {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: sipp's dtmf_2833_*.pcap files are missing");
        }
        eprintln!("SKIPPED {test}: sipp's dtmf_2833_*.pcap files are missing");
        return;
    };
    let agent_port = free_port();
    let h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            format!(
                "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 4\n\
                 [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"flow:main\"\n\n\
                 [agents]\nrealm = \"hotline.local\"\n[[agents.extension]]\nnumber = \"1001\"\npassword = \"pw1001\"\n\
                 contact = \"sip:1001@127.0.0.1:{agent_port}\"\n"
            ),
        )],
        acd: Some(ACD.into()),
        ..HotlineSetup::default()
    });
    let mut ws = ready_agent(&h).await;

    let workdir = h.path().to_path_buf();
    let sip = h.sip;
    let agent = SippRun {
        hold_ms: 2_000,
        timeout_s: 60,
        ..SippRun::new("agent_answer_hangup.xml", agent_port)
    }
    .spawn(&workdir);
    let carrier = SippRun {
        remote: Some(sip),
        timeout_s: 75,
        subst: vec![
            ("@DTMF_MENU@".into(), one.display().to_string()),
            ("@DTMF_RATING@".into(), five.display().to_string()),
            // Welcome 6.3 s + key correction 9.6 s + 2 s talk ≈ the survey at ~18 s after the
            // menu key; pressing at ~28 s lands in its prompt (barge-in) or its first timeout.
            ("@RATING_AFTER_MS@".into(), "27000".into()),
        ],
        // sipp matches responses to calls by Call-ID, so it keeps [call_id]; this names it.
        extra: vec!["-cid_str".into(), "sipp-ivr-%u@%s".into()],
        ..SippRun::new("ivr_dtmf.xml", free_port())
    }
    .spawn(&workdir);

    // The call reached the general queue and was offered to the agent.
    let ringing = ws_until(&mut ws, Duration::from_secs(40), |v| {
        v["event"]["event"] == "call_ringing"
    })
    .await;
    assert_eq!(ringing["event"]["caller"], "13800138000", "{ringing}");
    assert_eq!(ringing["event"]["group"], "12345-general", "{ringing}");
    ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "call_answered"
    })
    .await;
    ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "call_ended"
    })
    .await;

    let (c, a) = tokio::task::spawn_blocking(move || (carrier.wait(), agent.wait()))
        .await
        .unwrap();
    c.unwrap_or_else(|e| panic!("{e}\n{}", h.log()));
    a.unwrap_or_else(|e| panic!("{e}\n{}", h.log()));
    let log = plain(&h.log());
    assert!(log.contains("digit=1"), "hotline heard the menu key\n{log}");
    assert!(log.contains("digit=5"), "hotline heard the rating\n{log}");

    // The survey stored the rating against sipp's Call-ID.
    let db =
        hotline::store::Db::connect(&format!("sqlite:{}", h.path().join("hotline.db").display()))
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(r) = hotline::call::services::rating_of(&db, "sipp-ivr-1@127.0.0.1")
            .await
            .unwrap()
        {
            assert_eq!(r, (5, 5));
            break;
        }
        assert!(Instant::now() < deadline, "no rating stored\n{}", h.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
