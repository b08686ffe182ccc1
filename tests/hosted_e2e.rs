//! The whole 12345 path against the real server: a carrier call to 12345 is answered by hotline,
//! the shipped IVR flow plays its prompts as RTP, the caller presses 1 (RFC 4733), waits in the
//! general queue, an agent logged in over the CTI WebSocket is offered the call on their SIP
//! phone (auto-answer), they talk (RTP both ways), the agent hangs up, and the caller's rating
//! given to the post-call survey is stored.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{Hotline, HotlineSetup};
use futures::{SinkExt, StreamExt};
use hotline::media::dtmf::rfc4733::TelephoneEvent;
use hotline::media::rtp::{RtpHeader, RtpPacket};
use hotline::sip::auth::DigestClient;
use hotline::sip::message::SipMessage;
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

struct Ua {
    sock: UdpSocket,
    addr: SocketAddr,
}

impl Ua {
    fn new() -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        Ua { sock, addr }
    }

    fn send(&self, to: SocketAddr, m: &SipMessage) {
        self.sock.send_to(&m.to_bytes(), to).unwrap();
    }

    fn expect(&self, what: &str, want: impl Fn(&SipMessage) -> bool) -> SipMessage {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                if let Ok(m) = SipMessage::parse(buf[..n].to_vec()) {
                    if want(&m) {
                        return m;
                    }
                }
            }
        }
        panic!("no {what} within 10 s");
    }
}

fn status(code: u16) -> impl Fn(&SipMessage) -> bool {
    move |m| m.status_code() == Some(code)
}

fn sdp(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        rtp.port()
    )
}

fn sdp_media(body: &[u8]) -> SocketAddr {
    let text = String::from_utf8_lossy(body);
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap()
        .trim();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .unwrap();
    format!("{ip}:{port}").parse().unwrap()
}

/// Receives RTP on `sock` for up to `within`; returns how many packets carried sound.
fn audible_packets(sock: &UdpSocket, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while Instant::now() < deadline {
        if let Ok(len) = sock.recv(&mut buf) {
            if let Ok(p) = RtpPacket::parse(&buf[..len]) {
                // μ-law silence is 0xff/0x7f; a prompt has other bytes.
                if p.payload().iter().any(|&b| b != 0xff && b != 0x7f) {
                    n += 1;
                }
            }
        }
    }
    n
}

/// Presses `key` as RFC 4733 events (three updates, three end packets).
fn press(sock: &UdpSocket, to: SocketAddr, key: u8, seq: &mut u16, ts: &mut u32) {
    *ts += 8000;
    for k in 0..6u16 {
        let ev = TelephoneEvent {
            event: key,
            end: k >= 3,
            volume: 10,
            duration: 160 * (k.min(3) + 1),
        };
        let pkt = RtpHeader {
            marker: k == 0,
            payload_type: 101,
            sequence: *seq,
            timestamp: *ts,
            ssrc: 0xca11,
        }
        .to_vec(&ev.to_bytes());
        *seq = seq.wrapping_add(1);
        sock.send_to(&pkt, to).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
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

async fn ws_until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a CTI frame within 10 s");
        if let Some(Ok(Message::Text(t))) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if pred(&v) {
                return v;
            }
        }
    }
    panic!("no matching CTI frame");
}

async fn command(ws: &mut Ws, id: u64, cmd: Value) {
    ws.send(Message::Text(
        json!({"type":"command","id":id,"command":cmd})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let r = ws_until(ws, |v| v["type"] == "result" && v["id"] == id).await;
    assert_eq!(r["ok"], true, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizen_reaches_an_agent_through_the_ivr_and_rates_the_call() {
    let h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 4\n\
             [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"flow:main\"\n\n\
             [agents]\nrealm = \"hotline.local\"\n[[agents.extension]]\nnumber = \"1001\"\npassword = \"s3cret\"\n"
                .into(),
        )],
        acd: Some(ACD.into()),
        ..HotlineSetup::default()
    });

    // The agent's desktop user, then a CTI login and "ready".
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
    ws_until(&mut ws, |v| v["type"] == "welcome").await;
    command(&mut ws, 1, json!({"cmd":"login"})).await;
    command(&mut ws, 2, json!({"cmd":"set_ready"})).await;

    // The agent's phone registers.
    let phone = Ua::new();
    let reg = |cseq: u32, auth: Option<String>| {
        let mut m = SipMessage::parse(format!(
            "REGISTER sip:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@hotline.local>;tag=ph\r\nTo: <sip:1001@hotline.local>\r\nCall-ID: reg-1001\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:1001@{me}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = phone.addr
        ).into_bytes())
        .unwrap();
        if let Some(a) = auth {
            m.push_header("Authorization", a);
        }
        m
    };
    phone.send(h.sip, &reg(1, None));
    let challenge = phone.expect("401", status(401));
    let mut client = DigestClient::new("1001", "s3cret");
    client
        .handle_challenge(
            401,
            challenge
                .headers("WWW-Authenticate")
                .map(|v| std::str::from_utf8(v).unwrap()),
            false,
        )
        .unwrap();
    let (_, creds) = client
        .credentials("REGISTER", &format!("sip:{}", h.sip), b"", "cn0nce")
        .unwrap();
    phone.send(h.sip, &reg(2, Some(creds.to_header_value())));
    phone.expect("200 to REGISTER", status(200));

    // The citizen calls 12345: hotline answers and greets.
    let carrier = Ua::new();
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    caller_rtp
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let offer = sdp(caller_rtp.local_addr().unwrap());
    let invite = SipMessage::parse(format!(
        "INVITE sip:12345@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKinv1\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: <sip:12345@{sip}>\r\nCall-ID: e2e-1@carrier\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{offer}",
        sip = h.sip,
        me = carrier.addr,
        len = offer.len()
    ).into_bytes())
    .unwrap();
    carrier.send(h.sip, &invite);
    let ok = carrier.expect("200 from hotline", status(200));
    let hotline_rtp = sdp_media(ok.body());
    let to = ok.header_str("To").unwrap().to_string();
    let in_dialog = |method: &str, cseq: u32| {
        SipMessage::parse(format!(
            "{method} sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: {to}\r\nCall-ID: e2e-1@carrier\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = carrier.addr,
        ).into_bytes())
        .unwrap()
    };
    carrier.send(h.sip, &in_dialog("ACK", 1));
    // Latch our RTP address and hear the welcome prompt.
    caller_rtp
        .send_to(
            &RtpHeader {
                marker: true,
                payload_type: 0,
                sequence: 1,
                timestamp: 0,
                ssrc: 0xca11,
            }
            .to_vec(&[0xff; 160]),
            hotline_rtp,
        )
        .unwrap();
    let heard = audible_packets(&caller_rtp, Duration::from_secs(2));
    assert!(
        heard > 50,
        "the welcome prompt plays ({heard} audible packets)\n{}",
        h.log()
    );

    // Keep pressing 1 until the call is offered (the menu may still be playing its prompt).
    let (mut seq, mut ts) = (2u16, 0u32);
    let mut offered = None;
    for _ in 0..30 {
        press(&caller_rtp, hotline_rtp, 1, &mut seq, &mut ts);
        let deadline = Instant::now() + Duration::from_millis(700);
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline && offered.is_none() {
            if let Ok((n, _)) = phone.sock.recv_from(&mut buf) {
                if let Ok(m) = SipMessage::parse(buf[..n].to_vec()) {
                    if m.method().map(|x| x.as_str()) == Some("INVITE") {
                        offered = Some(m);
                    }
                }
            }
            // Drop the prompt audio that queued up meanwhile (bounded: it never stops coming).
            for _ in 0..100 {
                if caller_rtp.recv(&mut [0u8; 2048]).is_err() {
                    break;
                }
            }
        }
        if offered.is_some() {
            break;
        }
    }
    let offered =
        offered.unwrap_or_else(|| panic!("the agent was never offered the call\n{}", h.log()));
    assert!(
        offered
            .header_str("Call-Info")
            .unwrap_or_default()
            .contains("answer-after=0"),
        "auto-answer requested"
    );

    let ringing = ws_until(&mut ws, |v| v["event"]["event"] == "call_ringing").await;
    assert_eq!(ringing["event"]["caller"], "13800138000");
    assert_eq!(ringing["event"]["group"], "12345-general");

    // The phone answers; audio crosses both ways.
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone_rtp
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let toward_phone = sdp_media(offered.body());
    let mut ok = SipMessage::response_to(&offered, 200, "OK", Some("phone"));
    ok.push_header("Contact", format!("<sip:1001@{}>", phone.addr));
    ok.set_body(
        sdp(phone_rtp.local_addr().unwrap()).into_bytes(),
        Some("application/sdp"),
    );
    phone.send(h.sip, &ok);
    phone.expect("ACK", |m| m.method().map(|x| x.as_str()) == Some("ACK"));
    ws_until(&mut ws, |v| v["event"]["event"] == "call_answered").await;
    let mut got_caller = 0;
    let mut got_agent = 0;
    let mut buf = [0u8; 2048];
    for i in 0..50u16 {
        let p = |ssrc: u32, fill: u8| {
            RtpHeader {
                marker: false,
                payload_type: 0,
                sequence: 100 + i,
                timestamp: 160 * u32::from(i),
                ssrc,
            }
            .to_vec(&[fill; 160])
        };
        phone_rtp.send_to(&p(0xa6e7, 0x42), toward_phone).unwrap();
        caller_rtp.send_to(&p(0xca11, 0x24), hotline_rtp).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        while let Ok(n) = caller_rtp.recv(&mut buf) {
            if RtpPacket::parse(&buf[..n]).is_ok_and(|p| p.payload() == [0x42; 160]) {
                got_caller += 1;
            }
            if got_caller > 0 {
                break;
            }
        }
        while let Ok(n) = phone_rtp.recv(&mut buf) {
            if RtpPacket::parse(&buf[..n]).is_ok_and(|p| p.payload() == [0x24; 160]) {
                got_agent += 1;
            }
            if got_agent > 0 {
                break;
            }
        }
    }
    assert!(got_caller > 0, "the caller hears the agent\n{}", h.log());
    assert!(got_agent > 0, "the agent hears the caller\n{}", h.log());

    // The agent hangs up; the caller hears the survey and presses 5.
    let bye = SipMessage::parse(
        format!(
            "BYE sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKpbye\r\nMax-Forwards: 70\r\nFrom: {to};tag=phone\r\nTo: {from}\r\nCall-ID: {cid}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = phone.addr,
            to = offered.header_str("To").unwrap(),
            from = offered.header_str("From").unwrap(),
            cid = offered.header_str("Call-ID").unwrap(),
        )
        .into_bytes(),
    )
    .unwrap();
    phone.send(h.sip, &bye);
    phone.expect("200 to BYE", status(200));
    ws_until(&mut ws, |v| v["event"]["event"] == "call_ended").await;
    assert!(
        audible_packets(&caller_rtp, Duration::from_secs(2)) > 20,
        "the survey prompt plays"
    );
    press(&caller_rtp, hotline_rtp, 5, &mut seq, &mut ts);
    let hangup = carrier.expect("BYE after the thanks", |m| {
        m.method().map(|x| x.as_str()) == Some("BYE")
    });
    carrier.send(h.sip, &SipMessage::response_to(&hangup, 200, "OK", None));

    // The rating is stored against the call.
    let db =
        hotline::store::Db::connect(&format!("sqlite:{}", h.path().join("hotline.db").display()))
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(r) = hotline::call::services::rating_of(&db, "e2e-1@carrier")
            .await
            .unwrap()
        {
            assert_eq!(r, (5, 5));
            break;
        }
        assert!(Instant::now() < deadline, "no rating stored\n{}", h.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The conversation was recorded: a complete row for the call and its stereo file.
    let deadline = Instant::now() + Duration::from_secs(5);
    let row = loop {
        let rows = hotline::media::recorder::store::list_by_call(&db, "e2e-1@carrier")
            .await
            .unwrap();
        if let Some(r) = rows.into_iter().find(|r| r.state.as_str() == "complete") {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no complete recording\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(row.meta.agent, "1001");
    assert_eq!(row.meta.skill_group, "12345-general");
    assert!(
        !row.path.contains("13800138000"),
        "files are never named by phone number"
    );
    let wav = hound::WavReader::open(h.path().join("recordings").join(&row.path)).unwrap();
    assert_eq!(wav.spec().channels, 2);
    assert!(
        wav.duration() >= 8000 / 2,
        "about a second of talk: {}",
        wav.duration()
    );
}
