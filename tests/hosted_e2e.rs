//! The whole 12345 path against the real server: a carrier call to 12345 is answered by hotline,
//! the shipped IVR flow plays its prompts as RTP, the caller presses 1 (RFC 4733), waits in the
//! general queue, an agent logged in over the CTI WebSocket is offered the call on their SIP
//! phone (auto-answer), they talk (RTP both ways), the agent hangs up, and the caller's rating
//! given to the post-call survey is stored.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::cti::{ready_agent, ws_until};
use common::ua::{request, sdp, sdp_media, status, Ua};
use common::{Hotline, HotlineSetup};
use hotline::media::dtmf::rfc4733::TelephoneEvent;
use hotline::media::rtp::{RtpHeader, RtpPacket};
use hotline::sip::message::SipMessage;

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

    // The citizen has called 20 times before (the last time served by 1003): the screen pop
    // flags them.
    let db =
        hotline::store::Db::connect(&format!("sqlite:{}", h.path().join("hotline.db").display()))
            .await
            .unwrap();
    for i in 0..20i64 {
        sqlx::query(
            "INSERT INTO cdr_calls (call_id, direction, caller, callee, agent, start_ms, end_ms, sip_code, hangup_side, hangup_cause)
             VALUES ($1, 'inbound', '13800138000', '12345', '1003', $2, $2, 200, 'caller', 'bye')",
        )
        .bind(format!("earlier-{i}"))
        .bind(1_000 + i)
        .execute(&db.pool)
        .await
        .unwrap();
    }

    // The agent's desktop is logged in and ready; their phone registers.
    let mut ws = ready_agent(&h).await;
    let phone = Ua::new();
    phone.register(h.sip, "1001", "s3cret");

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
    carrier.send_msg(h.sip, &invite);
    let (ok, _) = carrier.expect("200 from hotline", status(200));
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
    carrier.send_msg(h.sip, &in_dialog("ACK", 1));
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

    let ringing = ws_until(&mut ws, Duration::from_secs(20), |v| {
        v["event"]["event"] == "call_ringing"
    })
    .await;
    assert_eq!(ringing["event"]["caller"], "13800138000");
    assert_eq!(ringing["event"]["group"], "12345-general");
    assert_eq!(
        ringing["event"]["history"]["calls"], 20,
        "the caller's history rides on the ringing event: {ringing}"
    );
    assert_eq!(ringing["event"]["history"]["flagged"], true);
    assert_eq!(ringing["event"]["history"]["last_agent"], "1003");

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
    phone.send_msg(h.sip, &ok);
    phone.expect("ACK", request("ACK"));
    ws_until(&mut ws, Duration::from_secs(20), |v| {
        v["event"]["event"] == "call_answered"
    })
    .await;
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
    phone.send_msg(h.sip, &bye);
    phone.expect("200 to BYE", status(200));
    ws_until(&mut ws, Duration::from_secs(20), |v| {
        v["event"]["event"] == "call_ended"
    })
    .await;
    assert!(
        audible_packets(&caller_rtp, Duration::from_secs(2)) > 20,
        "the survey prompt plays"
    );
    press(&caller_rtp, hotline_rtp, 5, &mut seq, &mut ts);
    let (hangup, _) = carrier.expect("BYE after the thanks", request("BYE"));
    carrier.send_msg(h.sip, &SipMessage::response_to(&hangup, 200, "OK", None));

    // The rating is stored against the call.
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
