//! A test SIP user agent over a plain UDP socket (hotline's own message layer and digest client):
//! send requests as text or messages, wait for the next message matching a predicate.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hotline::sip::auth::DigestClient;
use hotline::sip::message::SipMessage;

pub struct Ua {
    pub sock: UdpSocket,
    pub addr: SocketAddr,
}

impl Ua {
    pub fn new() -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        Ua { sock, addr }
    }

    pub fn send(&self, to: SocketAddr, text: &str) {
        self.sock.send_to(text.as_bytes(), to).unwrap();
    }

    pub fn send_msg(&self, to: SocketAddr, m: &SipMessage) {
        self.sock.send_to(&m.to_bytes(), to).unwrap();
    }

    /// The next message for which `want` is true (others are skipped), within 10 s.
    pub fn expect(
        &self,
        what: &str,
        want: impl Fn(&SipMessage) -> bool,
    ) -> (SipMessage, SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(10);
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

    /// Registers `ext` with digest authentication; returns the challenge values hotline sent
    /// (in its order) and the 200 OK.
    pub fn register(
        &self,
        sip: SocketAddr,
        ext: &str,
        password: &str,
    ) -> (Vec<String>, SipMessage) {
        let reg = |cseq: u32, auth: Option<String>| {
            let mut m = SipMessage::parse(format!(
                "REGISTER sip:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{ext}@hotline.local>;tag=ph\r\nTo: <sip:{ext}@hotline.local>\r\nCall-ID: reg-{ext}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{ext}@{me}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
                me = self.addr
            ).into_bytes())
            .unwrap();
            if let Some(a) = auth {
                m.push_header("Authorization", a);
            }
            m
        };
        self.send_msg(sip, &reg(1, None));
        let (challenge, _) = self.expect("401", status(401));
        let values: Vec<String> = challenge
            .headers("WWW-Authenticate")
            .map(|v| String::from_utf8_lossy(v).to_string())
            .collect();
        let mut client = DigestClient::new(ext, password);
        client
            .handle_challenge(401, values.iter().map(String::as_str), false)
            .unwrap();
        let (_, creds) = client
            .credentials("REGISTER", &format!("sip:{sip}"), b"", "cn0nce")
            .unwrap();
        self.send_msg(sip, &reg(2, Some(creds.to_header_value())));
        let (ok, _) = self.expect("200 to REGISTER", status(200));
        (values, ok)
    }
}

pub fn status(code: u16) -> impl Fn(&SipMessage) -> bool {
    move |m| m.status_code() == Some(code)
}

pub fn request(method: &'static str) -> impl Fn(&SipMessage) -> bool {
    move |m| m.method().is_some_and(|x| x.as_str() == method)
}

/// The audio address of an SDP body.
pub fn sdp_media(body: &[u8]) -> SocketAddr {
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

/// An offer or answer for audio at `rtp` with PCMU and telephone-event.
pub fn sdp(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=ua 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}
