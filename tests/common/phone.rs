//! Phones for end-to-end call tests: an RTP socket, a carrier's call into hotline, a phone that
//! picks up hotline's INVITE, a BYE in a dialog hotline started, and which tones a phone hears.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use hotline::sip::message::SipMessage;

use super::audio::{heard, level, listen, HEARD};
use super::ua::{request, sdp, sdp_media, status, Ua};

/// A loopback RTP socket with a short read timeout.
pub fn rtp_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

/// The carrier calls `did` from 13800138000 with media at `rtp`; hotline answers (the call is
/// hosted) and is ACKed. Returns where hotline wants the caller's RTP.
pub fn carrier_call(
    carrier: &Ua,
    sip: SocketAddr,
    did: &str,
    call_id: &str,
    rtp: &UdpSocket,
) -> SocketAddr {
    let offer = sdp(rtp.local_addr().unwrap());
    carrier.send_msg(
        sip,
        &SipMessage::parse(format!(
            "INVITE sip:{did}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKinv{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: <sip:{did}@{sip}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{offer}",
            me = carrier.addr,
            len = offer.len()
        ).into_bytes())
        .unwrap(),
    );
    let (ok, _) = carrier.expect("200 from hotline", status(200));
    let to_tag = ok.header_str("To").unwrap().to_string();
    carrier.send_msg(
        sip,
        &SipMessage::parse(format!(
            "ACK sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKack{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=car\r\nTo: {to_tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            me = carrier.addr,
        ).into_bytes())
        .unwrap(),
    );
    sdp_media(ok.body())
}

/// `phone` answers hotline's next INVITE with its RTP socket; returns the INVITE and where hotline
/// wants the phone's RTP.
pub fn pick_up(
    phone: &Ua,
    sip: SocketAddr,
    user: &str,
    rtp: &UdpSocket,
) -> (SipMessage, SocketAddr) {
    let (invite, _) = phone.expect("INVITE from hotline", request("INVITE"));
    answer_invite(phone, sip, &invite, user, rtp)
}

/// `phone` answers hotline's `invite` (already received) with its RTP socket and tag `user`.
pub fn answer_invite(
    phone: &Ua,
    sip: SocketAddr,
    invite: &SipMessage,
    user: &str,
    rtp: &UdpSocket,
) -> (SipMessage, SocketAddr) {
    let invite = invite.clone();
    let mut ok = SipMessage::response_to(&invite, 200, "OK", Some(user));
    ok.push_header("Contact", format!("<sip:{user}@{}>", phone.addr));
    ok.set_body(
        sdp(rtp.local_addr().unwrap()).into_bytes(),
        Some("application/sdp"),
    );
    phone.send_msg(sip, &ok);
    phone.expect("ACK", request("ACK"));
    let to = sdp_media(invite.body());
    (invite, to)
}

/// A BYE from `ua` in the dialog of hotline's INVITE `inv`, which `ua` answered with tag `tag`.
pub fn bye(ua: &Ua, sip: SocketAddr, inv: &SipMessage, tag: &str) {
    let m = SipMessage::parse(
        format!(
            "BYE sip:hotline@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbye{tag}\r\nMax-Forwards: 70\r\nFrom: {to};tag={tag}\r\nTo: {from}\r\nCall-ID: {cid}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            me = ua.addr,
            to = inv.header_str("To").unwrap(),
            from = inv.header_str("From").unwrap(),
            cid = inv.header_str("Call-ID").unwrap(),
        )
        .into_bytes(),
    )
    .unwrap();
    ua.send_msg(sip, &m);
    ua.expect("200 to BYE", status(200));
}

/// Which of `tones` the phone on `sock` hears now (the audio queued before is dropped first).
pub fn hears(sock: &UdpSocket, tones: &[f64]) -> Vec<bool> {
    let _ = listen(sock, Duration::from_millis(400));
    let (pcm, _) = listen(sock, Duration::from_millis(600));
    assert!(
        pcm.len() >= 160 * 15,
        "a steady stream ({} samples)",
        pcm.len()
    );
    heard(&pcm, tones)
}

/// Whether the phone on `sock` hears `hz` at some point within `within` (a tone with a cadence,
/// like ringback: 1 s on, 4 s off), judged over 200 ms slices.
pub fn hears_within(sock: &UdpSocket, hz: f64, within: Duration) -> bool {
    let (pcm, _) = listen(sock, within);
    pcm.chunks(1600)
        .any(|c| c.len() == 1600 && level(c, hz) >= HEARD)
}

/// Two phones in a call, each sending its own tone (`a_hz`, `b_hz`): each hears the other's tone
/// and not its own (hotline's relay connects them both ways).
pub fn hear_each_other(a: &UdpSocket, a_hz: f64, b: &UdpSocket, b_hz: f64) {
    assert_eq!(
        hears(a, &[a_hz, b_hz]),
        [false, true],
        "the first phone hears the second"
    );
    assert_eq!(
        hears(b, &[a_hz, b_hz]),
        [true, false],
        "the second phone hears the first"
    );
}
