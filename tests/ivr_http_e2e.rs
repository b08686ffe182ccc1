//! End to end on the real server: a citizen calls the housing-fund line (12329), whose flow asks
//! a web service (axum on 127.0.0.1:0) for the caller's balance with a `lookup` node's `url`.
//! With an answer the flow waits in a menu; when the service fails, the flow hangs up at once.
//! The first call also sends RTP with loss and an RTCP receiver report to hotline's odd port,
//! and its CDR leg carries the quality figures.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::ua::{request, sdp, sdp_media, status, Ua};
use common::{Hotline, HotlineSetup};
use hotline::media::rtcp::{ReceiverReport, ReportBlock};
use hotline::media::rtp::RtpHeader;
use hotline::sip::message::SipMessage;

const FLOW: &str = r#"
[flow]
description = "12329 housing fund: balance by caller number"
start = "balance"

[nodes.balance]
kind = "lookup"
url = "http://{service}/fund/balance"
args = { caller = "{caller}" }
timeout = 2
result = "fund"
next = "check"
not_found = "bye"
error = "bye"

[nodes.check]
kind = "branch"
cases = [{ var = "fund.balance", equals = "12345", goto = "menu" }]
else = "bye"

[nodes.menu]
kind = "menu"
text = "您的公积金余额为 {fund.balance} 元"
timeout = 30
no_input = "bye"
options = { "1" = "bye" }

[nodes.bye]
kind = "hangup"
"#;

/// The fund service: the balance for 13800138000, HTTP 500 for anyone else.
async fn service() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/fund/balance",
        post(move |Json(body): Json<HashMap<String, String>>| {
            let seen = s.clone();
            async move {
                let caller = body.get("caller").cloned().unwrap_or_default();
                seen.lock().unwrap().push(caller.clone());
                if caller == "13800138000" {
                    Ok(Json(serde_json::json!({ "balance": "12345" })))
                } else {
                    Err(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

/// An RTP socket on an even port with its RTCP socket on the port above.
fn endpoint_pair() -> (UdpSocket, UdpSocket) {
    for _ in 0..200 {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = rtp.local_addr().unwrap().port();
        if p % 2 != 0 || p == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", p + 1)) {
            for s in [&rtp, &rtcp] {
                s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            }
            return (rtp, rtcp);
        }
    }
    panic!("no free even/odd port pair");
}

struct Call<'a> {
    h: &'a Hotline,
    ua: Ua,
    call_id: String,
    caller: String,
    to: String,
    hotline_rtp: SocketAddr,
}

impl Call<'_> {
    fn in_dialog(&self, method: &str, cseq: u32) -> SipMessage {
        SipMessage::parse(format!(
            "{method} sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq}{cid}\r\nMax-Forwards: 70\r\nFrom: <sip:{caller}@{me}>;tag=car\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            sip = self.h.sip,
            me = self.ua.addr,
            caller = self.caller,
            to = self.to,
            cid = self.call_id,
        ).into_bytes())
        .unwrap()
    }
}

/// Calls 12329 from `caller` with media at `rtp`; answered by hotline, ACKed.
fn call<'a>(h: &'a Hotline, caller: &str, call_id: &str, rtp: SocketAddr) -> Call<'a> {
    let ua = Ua::new();
    let offer = sdp(rtp);
    let invite = SipMessage::parse(format!(
        "INVITE sip:12329@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:{caller}@{me}>;tag=car\r\nTo: <sip:12329@{sip}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{caller}@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{offer}",
        sip = h.sip,
        me = ua.addr,
        len = offer.len()
    ).into_bytes())
    .unwrap();
    ua.send_msg(h.sip, &invite);
    let (ok, _) = ua.expect("200 from hotline", status(200));
    let c = Call {
        h,
        hotline_rtp: sdp_media(ok.body()),
        to: ok.header_str("To").unwrap().to_string(),
        ua,
        call_id: call_id.into(),
        caller: caller.into(),
    };
    c.ua.send_msg(h.sip, &c.in_dialog("ACK", 1));
    c
}

/// Whether hotline sends a BYE within `within`.
fn hangs_up_within(c: &Call<'_>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 65_535];
    while Instant::now() < deadline {
        if let Ok((n, _)) = c.ua.sock.recv_from(&mut buf) {
            if let Ok(m) = SipMessage::parse(buf[..n].to_vec()) {
                if request("BYE")(&m) {
                    let ok = SipMessage::response_to(&m, 200, "OK", None);
                    c.ua.send_msg(c.h.sip, &ok);
                    return true;
                }
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_lookup_drives_the_flow_and_the_cdr_keeps_the_legs_quality() {
    let (svc, seen) = service().await;
    let flows = tempfile::tempdir().unwrap();
    std::fs::write(
        flows.path().join("fund.toml"),
        FLOW.replace("{service}", &svc.to_string()),
    )
    .unwrap();
    // The shipped prompts (the menu's default invalid-key prompt must exist).
    std::os::unix::fs::symlink(
        concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/prompts"),
        flows.path().join("prompts"),
    )
    .unwrap();
    let h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 4\n\
             [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12329\"\nroute = \"flow:fund\"\n"
                .into(),
        )],
        ivr_flows: Some(flows.path().to_path_buf()),
        ..HotlineSetup::default()
    });

    // The citizen the service knows: the flow gets the balance and waits in its menu.
    let (rtp, rtcp) = endpoint_pair();
    let c = call(
        &h,
        "13800138000",
        "fund-1@carrier",
        rtp.local_addr().unwrap(),
    );
    let hotline_rtcp = SocketAddr::new(c.hotline_rtp.ip(), c.hotline_rtp.port() + 1);
    // 100 packets at 20 ms, every 10th lost on the way; an RTCP report halfway.
    for seq in 0..100u16 {
        if seq % 10 != 3 {
            let pkt = RtpHeader {
                marker: seq == 0,
                payload_type: 0,
                sequence: seq,
                timestamp: u32::from(seq) * 160,
                ssrc: 0xca11,
            }
            .to_vec(&[0xff; 160]);
            rtp.send_to(&pkt, c.hotline_rtp).unwrap();
        }
        if seq == 50 {
            let mut buf = [0u8; 64];
            let n = ReceiverReport {
                ssrc: 0xca11,
                reports: vec![ReportBlock {
                    ssrc: 1,
                    fraction_lost: 13, // 5 %
                    jitter: 160,       // 20 ms
                    ..ReportBlock::default()
                }],
            }
            .write(&mut buf)
            .unwrap();
            rtcp.send_to(&buf[..n], hotline_rtcp).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(*seen.lock().unwrap(), vec!["13800138000".to_string()]);
    assert!(
        !hangs_up_within(&c, Duration::from_millis(300)),
        "the balance came back, so the flow waits in its menu\n{}",
        h.log()
    );
    c.ua.send_msg(h.sip, &c.in_dialog("BYE", 2));
    c.ua.expect("200 to BYE", status(200));

    // A caller the service fails for: the flow takes its error branch and hangs up at once.
    let (rtp2, _rtcp2) = endpoint_pair();
    let c2 = call(
        &h,
        "13900000000",
        "fund-2@carrier",
        rtp2.local_addr().unwrap(),
    );
    assert!(
        hangs_up_within(&c2, Duration::from_secs(3)),
        "error branch hangs up\n{}",
        h.log()
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
    let log = h.log();
    assert!(
        log.contains("IVR HTTP lookup failed") && log.contains("fund-2@carrier"),
        "the failure is logged with the Call-ID\n{log}"
    );

    // The first call's A-leg carries its quality in the CDR.
    let db =
        hotline::store::Db::connect(&format!("sqlite:{}", h.path().join("hotline.db").display()))
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    type Row = (
        Option<i64>,
        Option<i64>,
        Option<f64>,
        Option<i64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );
    let row: Row = loop {
        let r: Option<Row> = sqlx::query_as(
            "SELECT rtp_packets, rtp_lost, loss_pct, rtcp_reports, remote_loss_pct, remote_jitter_ms, mos
             FROM cdr_legs WHERE call_id = $1 AND leg = 'a'",
        )
        .bind("fund-1@carrier")
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        if let Some(r) = r {
            break r;
        }
        assert!(Instant::now() < deadline, "no CDR leg\n{}", h.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (packets, lost, loss, reports, remote_loss, remote_jitter, mos) = row;
    // Published about once a second: the last second's packets may not be in yet.
    let packets = packets.expect("quality stored");
    assert!((40..=90).contains(&packets), "{row:?}");
    let loss = loss.unwrap();
    assert!(
        lost.unwrap() >= 4 && (5.0..=15.0).contains(&loss),
        "{row:?}"
    );
    assert_eq!(reports, Some(1), "{row:?}");
    assert!(
        (remote_loss.unwrap() - 100.0 * 13.0 / 256.0).abs() < 1e-6,
        "{row:?}"
    );
    assert!((remote_jitter.unwrap() - 20.0).abs() < 1e-6, "{row:?}");
    let mos = mos.unwrap();
    assert!(
        (1.0..4.2).contains(&mos),
        "10 % loss lowers the MOS: {row:?}"
    );
}
