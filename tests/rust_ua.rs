//! hotline driven by a test SIP user agent written in Rust (hotline's own message layer and digest
//! client over plain UDP sockets): an agent's softphone registers with digest, a carrier call for
//! its DID reaches it, and RTP payloads cross the relay intact in both directions.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::ua::{request, sdp, sdp_media, status, Ua};
use common::{Hotline, HotlineSetup};
use hotline::media::rtp::{RtpHeader, RtpPacket};
use hotline::sip::message::SipMessage;

fn rtp_packet(seq: u16, payload: &[u8]) -> Vec<u8> {
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 0x1234_5678,
    }
    .to_vec(payload)
}

#[test]
fn registered_softphone_takes_a_carrier_call_with_rtp_intact_both_ways() {
    let h = Hotline::start(HotlineSetup {
        profiles: vec![(
            "test.toml".into(),
            "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 4\n\
             [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"extension:1001\"\n\n\
             [agents]\nrealm = \"hotline.local\"\n[[agents.extension]]\nnumber = \"1001\"\npassword = \"s3cret\"\n"
                .into(),
        )],
        ..HotlineSetup::default()
    });
    let phone = Ua::new();
    let carrier = Ua::new();

    // The softphone registers; hotline challenges, the phone answers with SHA-256 (offered first).
    let (values, ok) = phone.register(h.sip, "1001", "s3cret");
    assert!(
        values[0].contains("algorithm=SHA-256"),
        "SHA-256 offered first: {values:?}"
    );
    assert!(
        ok.header_str("Contact").unwrap().contains("expires="),
        "{ok:?}"
    );

    // The carrier calls 12345 with its RTP socket in the offer.
    let carrier_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    carrier_rtp
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let offer = sdp(carrier_rtp.local_addr().unwrap());
    carrier.send(
        h.sip,
        &format!(
            "INVITE sip:12345@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKinv1\r\nMax-Forwards: 70\r\nFrom: \"市民\" <sip:13800138000@{me}>;tag=car\r\nTo: <sip:12345@{sip}>\r\nCall-ID: call-1@carrier\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{offer}",
            sip = h.sip,
            me = carrier.addr,
            len = offer.len()
        ),
    );

    // The phone rings with hotline's anchored offer, shows the citizen's number, and answers.
    let (invite, _) = phone.expect("INVITE", request("INVITE"));
    assert!(
        invite.header_str("From").unwrap().contains("13800138000"),
        "caller id shown to the agent"
    );
    let toward_phone = sdp_media(invite.body());
    assert_eq!(toward_phone.ip().to_string(), "127.0.0.1");
    assert_ne!(
        toward_phone,
        carrier_rtp.local_addr().unwrap(),
        "media is anchored, not passed through"
    );
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone_rtp
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let answer = sdp(phone_rtp.local_addr().unwrap());
    let mut ringing = SipMessage::response_to(&invite, 180, "Ringing", Some("phone"));
    ringing.push_header("Contact", format!("<sip:1001@{}>", phone.addr));
    phone.send_msg(h.sip, &ringing);
    let mut ok = SipMessage::response_to(&invite, 200, "OK", Some("phone"));
    ok.push_header("Contact", format!("<sip:1001@{}>", phone.addr));
    ok.set_body(answer.into_bytes(), Some("application/sdp"));
    phone.send_msg(h.sip, &ok);

    carrier.expect("180", status(180));
    let (answered, _) = carrier.expect("200", status(200));
    let toward_carrier = sdp_media(answered.body());
    assert_ne!(toward_carrier, phone_rtp.local_addr().unwrap());
    phone.expect("ACK from hotline", request("ACK"));
    let to = answered.header_str("To").unwrap().to_string();
    carrier.send(
        h.sip,
        &format!(
            "ACK sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKack1\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: {to}\r\nCall-ID: call-1@carrier\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = carrier.addr
        ),
    );

    // RTP both ways: every payload arrives unchanged on the far side.
    let mut buf = [0u8; 2048];
    for seq in 0..20u16 {
        let citizen: Vec<u8> = (0..160).map(|i| (i as u16 * 3 + seq) as u8).collect();
        carrier_rtp
            .send_to(&rtp_packet(seq, &citizen), toward_carrier)
            .unwrap();
        let (n, _) = phone_rtp.recv_from(&mut buf).expect("RTP carrier → phone");
        assert_eq!(
            RtpPacket::parse(&buf[..n]).unwrap().payload(),
            &citizen[..],
            "packet {seq} carrier → phone"
        );

        let agent: Vec<u8> = (0..160).map(|i| (i as u16 * 5 + seq + 7) as u8).collect();
        phone_rtp
            .send_to(&rtp_packet(seq, &agent), toward_phone)
            .unwrap();
        let (n, _) = carrier_rtp
            .recv_from(&mut buf)
            .expect("RTP phone → carrier");
        assert_eq!(
            RtpPacket::parse(&buf[..n]).unwrap().payload(),
            &agent[..],
            "packet {seq} phone → carrier"
        );
    }

    // The citizen hangs up: hotline ends the agent's leg and answers the carrier's BYE.
    carrier.send(
        h.sip,
        &format!(
            "BYE sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: {to}\r\nCall-ID: call-1@carrier\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = carrier.addr
        ),
    );
    carrier.expect("200 to BYE", status(200));
    let (bye, _) = phone.expect("BYE", request("BYE"));
    phone.send_msg(h.sip, &SipMessage::response_to(&bye, 200, "OK", None));
    let deadline = Instant::now() + Duration::from_secs(3);
    while h.metric("hotline_active_calls") != Some(0.0) {
        assert!(Instant::now() < deadline, "call still active\n{}", h.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}
