//! Interop of the IVR with sipp: sipp calls the DID routed to the shipped main flow, hears the
//! prompts, and presses keys as RFC 4733 telephone-events replayed from sipp's own captures
//! (`dtmf_2833_N.pcap`, shipped with sip-tester). The caller types 1 ahead during the welcome,
//! the main menu sends the call to the general queue, the ACD offers it to an agent logged in
//! over the CTI WebSocket whose phone is a second sipp (answers, then hangs up), and the caller's
//! rating given to the post-call survey is stored in `call_ratings`.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{free_port, sipp_available, Hotline, HotlineSetup, SippRun};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

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

fn http_post(addr: SocketAddr, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_until(ws: &mut Ws, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a matching CTI frame in time");
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if pred(&v) {
                    return v;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("CTI socket ended: {other:?}"),
        }
    }
}

async fn command(ws: &mut Ws, id: u64, cmd: Value) {
    ws.send(Message::Text(
        json!({"type":"command","id":id,"command":cmd})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let r = ws_until(ws, Duration::from_secs(10), |v| {
        v["type"] == "result" && v["id"] == id
    })
    .await;
    assert_eq!(r["ok"], true, "{r}");
}

/// Logs agent 1001 in over /ws/cti and makes them ready; the socket stays open for events.
async fn ready_agent(h: &Hotline) -> Ws {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--config")
        .arg(h.path().join("hotline.toml"))
        .args([
            "user",
            "add",
            "1001",
            "--roles",
            "agent",
            "--password",
            "Agent-1001-pw",
        ])
        .current_dir(h.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = http_post(
        h.http,
        "/api/v1/auth/login",
        r#"{"username":"1001","password":"Agent-1001-pw"}"#,
    );
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
    let token = serde_json::from_str::<Value>(body).unwrap_or_default()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login: {resp}"))
        .to_string();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/cti", h.http))
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"type":"hello","version":1,"token":token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws_until(&mut ws, Duration::from_secs(10), |v| v["type"] == "welcome").await;
    command(&mut ws, 1, json!({"cmd":"login"})).await;
    command(&mut ws, 2, json!({"cmd":"set_ready"})).await;
    ws
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
