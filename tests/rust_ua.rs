//! hotline driven by a test SIP user agent written in Rust (hotline's own message layer and digest
//! client over plain UDP sockets): an agent's softphone registers with digest, a carrier call for
//! its DID reaches it, and RTP payloads cross the relay intact in both directions.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{Hotline, HotlineSetup};
use hotline::media::rtp::{RtpHeader, RtpPacket};
use hotline::sip::auth::DigestClient;
use hotline::sip::message::SipMessage;

/// A UDP SIP endpoint: sends text requests, waits for messages matching a predicate.
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

    fn send(&self, to: SocketAddr, text: &str) {
        self.sock.send_to(text.as_bytes(), to).unwrap();
    }

    fn send_msg(&self, to: SocketAddr, m: &SipMessage) {
        self.sock.send_to(&m.to_bytes(), to).unwrap();
    }

    /// The next message for which `want` is true (others are skipped), within 5 s.
    fn expect(&self, what: &str, want: impl Fn(&SipMessage) -> bool) -> (SipMessage, SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = vec![0u8; 65_535];
        while Instant::now() < deadline {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                if let Ok(m) = SipMessage::parse(buf[..n].to_vec()) {
                    if want(&m) {
                        return (m, from);
                    }
                }
            }
        }
        panic!("{} did not receive {what}", self.addr);
    }
}

fn status(code: u16) -> impl Fn(&SipMessage) -> bool {
    move |m| m.status_code() == Some(code)
}

fn request(method: &'static str) -> impl Fn(&SipMessage) -> bool {
    move |m| m.method().is_some_and(|x| x.as_str() == method)
}

/// The audio address of an SDP body.
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
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    format!("{ip}:{port}").parse().unwrap()
}

fn sdp(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=ua 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

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
    phone.send_msg(h.sip, &reg(1, None));
    let (challenge, _) = phone.expect("401", status(401));
    let values: Vec<String> = challenge
        .headers("WWW-Authenticate")
        .map(|v| String::from_utf8_lossy(v).to_string())
        .collect();
    assert!(
        values[0].contains("algorithm=SHA-256"),
        "SHA-256 offered first: {values:?}"
    );
    let mut client = DigestClient::new("1001", "s3cret");
    client
        .handle_challenge(401, values.iter().map(String::as_str), false)
        .unwrap();
    let (_, creds) = client
        .credentials("REGISTER", &format!("sip:{}", h.sip), b"", "cn0nce")
        .unwrap();
    phone.send_msg(h.sip, &reg(2, Some(creds.to_header_value())));
    let (ok, _) = phone.expect("200 to REGISTER", status(200));
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
