//! Two SIP endpoints built from hotline's sans-IO cores (transactions, dialogs, digest auth, SDP)
//! talking over an in-memory lossy network in virtual time, quinn-proto style: a full outbound call
//! with a 407 challenge, lost packets, ringing, answer with SDP negotiation, ACK and BYE.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline::sip::auth::{ha1, Credentials, DigestClient, DigestServer, DigestServerConfig};
use hotline::sip::dialog::{Dialog, DialogState};
use hotline::sip::message::{Method, SipMessage};
use hotline::sip::sdp::{self, AnswerParams, Direction, Origin, SessionDescription};
use hotline::sip::transaction::{
    new_branch, Output, Peer, TimerConfig, TransactionLayer, TxEvent, TxKey,
};

const A: &str = "10.0.0.1:5060"; // hotline
const B: &str = "10.0.0.2:5060"; // carrier
const LATENCY: Duration = Duration::from_millis(20);

struct Packet {
    at: Instant,
    to: usize,
    from: SocketAddr,
    bytes: bytes::Bytes,
}

/// Two layers, a wire with latency and a drop rule, and each side's received events.
struct World {
    now: Instant,
    start: Instant,
    layers: [TransactionLayer; 2],
    addrs: [SocketAddr; 2],
    wire: Vec<Packet>,
    events: [VecDeque<TxEvent>; 2],
    sent_count: usize,
    /// Packet numbers (in send order, from 0) that the network loses.
    drop: Vec<usize>,
    log: Vec<String>,
}

impl World {
    fn new(drop: Vec<usize>) -> Self {
        let now = Instant::now();
        World {
            now,
            start: now,
            layers: [
                TransactionLayer::new(TimerConfig::default()),
                TransactionLayer::new(TimerConfig::default()),
            ],
            addrs: [A.parse().unwrap(), B.parse().unwrap()],
            wire: Vec::new(),
            events: [VecDeque::new(), VecDeque::new()],
            sent_count: 0,
            drop,
            log: Vec::new(),
        }
    }

    fn peer_of(&self, side: usize) -> Peer {
        Peer::udp(self.addrs[side])
    }

    fn flush(&mut self) {
        for side in 0..2 {
            while let Some(o) = self.layers[side].poll_output() {
                match o {
                    Output::Transmit(t) => {
                        let to = if t.peer.addr == self.addrs[0] { 0 } else { 1 };
                        let n = self.sent_count;
                        self.sent_count += 1;
                        let first = String::from_utf8_lossy(&t.bytes)
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_owned();
                        let lost = self.drop.contains(&n);
                        self.log.push(format!(
                            "{:>6}ms #{n} {side}->{to} {first}{}",
                            (self.now - self.start).as_millis(),
                            if lost { " (lost)" } else { "" }
                        ));
                        if !lost {
                            self.wire.push(Packet {
                                at: self.now + LATENCY,
                                to,
                                from: self.addrs[side],
                                bytes: t.bytes,
                            });
                        }
                    }
                    Output::Event(e) => self.events[side].push_back(e),
                }
            }
        }
    }

    /// Advances to the next packet or timer; false when nothing is left to happen before `limit`.
    fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let next_packet = self.wire.iter().map(|p| p.at).min();
        let next_timer = self
            .layers
            .iter_mut()
            .filter_map(|l| l.poll_timeout())
            .min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let (due, rest): (Vec<Packet>, Vec<Packet>) =
            self.wire.drain(..).partition(|p| p.at <= now);
        self.wire = rest;
        for p in due {
            let msg = SipMessage::parse(p.bytes).expect("our own output parses");
            self.layers[p.to]
                .handle_incoming(msg, Peer::udp(p.from), now)
                .expect("keyable");
        }
        for l in &mut self.layers {
            l.handle_timeout(now);
        }
        self.flush();
        true
    }

    /// Runs until `side` has an event matching `want` (returned), bounded in virtual time.
    fn until<T>(&mut self, side: usize, mut want: impl FnMut(&TxEvent) -> Option<T>) -> T {
        let limit = self.now + Duration::from_secs(120);
        for _ in 0..100_000 {
            while let Some(e) = self.events[side].pop_front() {
                if let Some(t) = want(&e) {
                    return t;
                }
            }
            if !self.step(limit) {
                break;
            }
        }
        panic!(
            "side {side} never saw the event; log:\n{}",
            self.log.join("\n")
        );
    }

    fn ms(&self) -> u128 {
        (self.now - self.start).as_millis()
    }
}

fn via(addr: &str) -> String {
    format!("SIP/2.0/UDP {addr};branch={}", new_branch())
}

const OFFER: &str = "v=0\r\no=hotline 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0 8 18 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\na=sendrecv\r\n";

fn invite(cseq: u32, auth: Option<&Credentials>) -> SipMessage {
    let mut m = SipMessage::request(Method::Invite, "sip:+8613800000000@10.0.0.2").unwrap();
    m.push_header("Via", via(A))
        .push_header("Max-Forwards", "70")
        .push_header("From", "<sip:12345@10.0.0.1>;tag=hl1")
        .push_header("To", "<sip:+8613800000000@10.0.0.2>")
        .push_header("Call-ID", "net-call-1")
        .push_header("CSeq", format!("{cseq} INVITE"))
        .push_header("Contact", "<sip:hotline@10.0.0.1:5060>");
    if let Some(c) = auth {
        m.push_header("Proxy-Authorization", c.to_header_value());
    }
    m.set_body(OFFER.as_bytes().to_vec(), Some("application/sdp"));
    m
}

#[test]
fn outbound_call_with_auth_loss_answer_and_bye() {
    // Lose #0 (the first INVITE: Timer A resends it) and #5 (the 180: the 200 still confirms).
    let mut w = World::new(vec![0, 5]);
    let (ua, carrier) = (0usize, 1usize);
    let t0 = 1_700_000_000_000u64;
    let mut digest_server = DigestServer::new("carrier", b"k", DigestServerConfig::default());
    let stored = ha1(
        hotline::sip::auth::Algorithm::Sha256,
        "trunk1",
        "carrier",
        "pw",
    );

    // 1. INVITE without credentials; its first copy is lost, Timer A resends it at 500 ms.
    let first = invite(1, None);
    let peer_b = w.peer_of(carrier);
    w.layers[ua].send_request(first, peer_b, w.now).unwrap();
    let (skey, req) = w.until(carrier, |e| match e {
        TxEvent::Request { key, request, .. } => Some((key.clone(), request.clone())),
        _ => None,
    });
    assert!(
        w.ms() >= 500,
        "arrived only via retransmission at {} ms",
        w.ms()
    );
    assert!(req.header("Proxy-Authorization").is_none());
    let mut challenge =
        SipMessage::response_to(&req, 407, "Proxy Authentication Required", Some("c1"));
    for h in digest_server.challenge_headers(t0, false) {
        challenge.push_header("Proxy-Authenticate", h);
    }
    w.layers[carrier]
        .send_response(&skey, &challenge, w.now)
        .unwrap();

    // 2. The UA's transaction ACKs the 407 by itself; the TU answers the challenge.
    let resp = w.until(ua, |e| match e {
        TxEvent::Response { response, .. } if response.status_code() == Some(407) => {
            Some(response.clone())
        }
        _ => None,
    });
    let mut client = DigestClient::new("trunk1", "pw");
    client
        .handle_challenge(
            407,
            resp.headers("Proxy-Authenticate")
                .map(|v| std::str::from_utf8(v).unwrap()),
            false,
        )
        .unwrap();
    let (hdr, creds) = client
        .credentials("INVITE", "sip:+8613800000000@10.0.0.2", b"", "cn1")
        .unwrap();
    assert_eq!(hdr, "Proxy-Authorization");
    let second = invite(2, Some(&creds));
    let second_copy = second.clone();
    let ckey = w.layers[ua].send_request(second, peer_b, w.now).unwrap();

    // 3. Carrier: the first transaction got its ACK (absorbed); the new INVITE verifies.
    let (skey2, req2) = w.until(carrier, |e| match e {
        TxEvent::Request { key, request, .. } => Some((key.clone(), request.clone())),
        _ => None,
    });
    assert_ne!(skey2, skey);
    let creds_in = Credentials::parse(req2.header_str("Proxy-Authorization").unwrap()).unwrap();
    let now_ms = t0 + w.ms() as u64;
    digest_server
        .verify(
            &creds_in,
            "INVITE",
            Some("sip:+8613800000000@10.0.0.2"),
            &stored,
            now_ms,
        )
        .unwrap();

    // Ringing (lost once, then the 200 arrives and confirms), answered with negotiated SDP.
    let ringing = SipMessage::response_to(&req2, 180, "Ringing", Some("gw9"));
    w.layers[carrier]
        .send_response(&skey2, &ringing, w.now)
        .unwrap();
    let offer = SessionDescription::parse(req2.body()).unwrap();
    let ports = [Some(40000)];
    let answer = sdp::answer(
        &offer,
        &AnswerParams {
            addr: "10.0.0.2".parse().unwrap(),
            ports: &ports,
            allowed: &sdp::DEFAULT_CODECS,
            direction: Direction::SendRecv,
            origin: Origin {
                username: "gw".into(),
                session_id: "9".into(),
                session_version: 1,
                net_type: "IN".into(),
                addr_type: "IP4".into(),
                address: "10.0.0.2".into(),
            },
            session_name: "gw",
        },
    )
    .unwrap();
    assert_eq!(answer.media[0].formats, ["0", "8", "101"]);
    let mut ok = SipMessage::response_to(&req2, 200, "OK", Some("gw9"));
    ok.push_header("Contact", "<sip:gw@10.0.0.2:5060>");
    ok.set_body(answer.to_sdp_string().into_bytes(), Some("application/sdp"));
    w.layers[carrier].send_response(&skey2, &ok, w.now).unwrap();
    let uas_dialog_req = req2.clone();

    // 4. UA: 200 arrives on the client transaction; the dialog ACKs it.
    let ok_in = w.until(ua, |e| match e {
        TxEvent::Response { key, response }
            if *key == ckey && response.status_code() == Some(200) =>
        {
            Some(response.clone())
        }
        _ => None,
    });
    let mut uac = Dialog::uac(&second_copy, &ok_in).unwrap();
    assert_eq!(uac.state, DialogState::Confirmed);
    let remote_sdp = SessionDescription::parse(ok_in.body()).unwrap();
    assert!(!remote_sdp.is_hold());
    let ack = uac.ack(2, &via(A)).unwrap();
    w.layers[ua].send_stateless(&ack, peer_b);

    // 5. Carrier: the ACK for the 2xx reaches the TU via the Accepted state.
    let got_ack = w.until(carrier, |e| match e {
        TxEvent::Ack { key, request, .. } => Some((key.clone(), request.clone())),
        _ => None,
    });
    // An ACK for a 2xx is its own transaction (new branch): the TU matches it by dialog.
    assert_eq!(got_ack.0, None);
    assert_eq!(got_ack.1.cseq().unwrap().seq, 2);
    let mut uas = Dialog::uas(&uas_dialog_req, &ok, "<sip:gw@10.0.0.2:5060>").unwrap();
    uas.on_request(&got_ack.1).unwrap();

    // 6. BYE from the UA in the dialog, answered 200.
    let bye = uac.request(Method::Bye, &via(A)).unwrap();
    assert_eq!(bye.cseq().unwrap().seq, 3);
    let bkey = w.layers[ua].send_request(bye, peer_b, w.now).unwrap();
    let (bskey, bye_in) = w.until(carrier, |e| match e {
        TxEvent::Request { key, request, .. } if request.method() == Some(&Method::Bye) => {
            Some((key.clone(), request.clone()))
        }
        _ => None,
    });
    uas.on_request(&bye_in).unwrap();
    assert_eq!(uas.state, DialogState::Terminated);
    let bye_ok = SipMessage::response_to(&bye_in, 200, "OK", None);
    w.layers[carrier]
        .send_response(&bskey, &bye_ok, w.now)
        .unwrap();
    let done: TxKey = w.until(ua, |e| match e {
        TxEvent::Response { key, response } if response.status_code() == Some(200) => {
            Some(key.clone())
        }
        _ => None,
    });
    assert_eq!(done, bkey);
    uac.terminate();

    // 7. Everything drains: all transactions end within 64*T1 of the last message.
    let limit = w.now + Duration::from_secs(40);
    while w.step(limit) {}
    assert!(w.layers[0].is_empty(), "{:?}", w.layers[0].len());
    assert!(w.layers[1].is_empty(), "{:?}", w.layers[1].len());
    let lost: Vec<_> = w.log.iter().filter(|l| l.contains("(lost)")).collect();
    assert_eq!(lost.len(), 2, "{}", w.log.join("\n"));
}

#[test]
fn retransmitted_2xx_is_reacked_by_the_tu_when_the_ack_is_lost() {
    // #0 INVITE, #1 200 OK, #2 ACK (lost) → the UAS TU retransmits the 2xx; the UA sees a stray
    // 200 and sends the same ACK again.
    let mut w = World::new(vec![2]);
    let (ua, gw) = (0usize, 1usize);
    let inv = invite(1, None);
    let inv_copy = inv.clone();
    let peer_b = w.peer_of(gw);
    w.layers[ua].send_request(inv, peer_b, w.now).unwrap();
    let (skey, req) = w.until(gw, |e| match e {
        TxEvent::Request { key, request, .. } => Some((key.clone(), request.clone())),
        _ => None,
    });
    let mut ok = SipMessage::response_to(&req, 200, "OK", Some("t2"));
    ok.push_header("Contact", "<sip:gw@10.0.0.2>");
    w.layers[gw].send_response(&skey, &ok, w.now).unwrap();
    let ok_in = w.until(ua, |e| match e {
        TxEvent::Response { response, .. } if response.status_code() == Some(200) => {
            Some(response.clone())
        }
        _ => None,
    });
    let dialog = Dialog::uac(&inv_copy, &ok_in).unwrap();
    let ack = dialog.ack(1, &via(A)).unwrap();
    w.layers[ua].send_stateless(&ack, peer_b);
    w.flush();
    // UAS TU: no ACK after T1 → retransmit the 2xx (§13.3.1.4) through the Accepted transaction.
    let limit = w.now + Duration::from_millis(500);
    while w.step(limit) {}
    w.now = limit;
    w.layers[gw].send_response(&skey, &ok, w.now).unwrap();
    w.until(ua, |e| {
        matches!(e, TxEvent::StrayResponse { response, .. } if response.status_code() == Some(200))
            .then_some(())
    });
    w.layers[ua].send_stateless(&ack, peer_b);
    let (key, _) = w.until(gw, |e| match e {
        TxEvent::Ack { key, request, .. } => Some((key.clone(), request.clone())),
        _ => None,
    });
    assert_eq!(key, None, "matched by dialog, not by transaction");
    assert_ne!(skey.branch, ack.top_via().unwrap().branch().unwrap());
}

#[test]
fn caller_cancels_while_ringing_and_lost_487_is_retransmitted() {
    // Side 1 (carrier) calls side 0 (hotline), then cancels. Packet order:
    // #0 INVITE, #1 180, #2 CANCEL, #3 200 (CANCEL), #4 487 (lost), then G resends 487, the
    // carrier's INVITE transaction ACKs it by itself.
    let mut w = World::new(vec![4]);
    let (hotline, carrier) = (0usize, 1usize);
    let mut inv = SipMessage::request(Method::Invite, "sip:12345@10.0.0.1").unwrap();
    inv.push_header("Via", via(B))
        .push_header("Max-Forwards", "70")
        .push_header("From", "<sip:13800000000@10.0.0.2>;tag=c1")
        .push_header("To", "<sip:12345@10.0.0.1>")
        .push_header("Call-ID", "net-call-2")
        .push_header("CSeq", "1 INVITE")
        .push_header("Contact", "<sip:13800000000@10.0.0.2>");
    let peer_a = w.peer_of(hotline);
    let ckey = w.layers[carrier].send_request(inv, peer_a, w.now).unwrap();
    let (skey, req) = w.until(hotline, |e| match e {
        TxEvent::Request { key, request, .. } => Some((key.clone(), request.clone())),
        _ => None,
    });
    let ringing = SipMessage::response_to(&req, 180, "Ringing", Some("h1"));
    w.layers[hotline]
        .send_response(&skey, &ringing, w.now)
        .unwrap();
    w.until(carrier, |e| {
        matches!(e, TxEvent::Response { response, .. } if response.status_code() == Some(180))
            .then_some(())
    });
    let out = w.layers[carrier].cancel(&ckey, w.now).unwrap();
    assert!(matches!(
        out,
        hotline::sip::transaction::CancelOutcome::Sent(_)
    ));
    let (cancel_key, invite_key, cancel_req) = w.until(hotline, |e| match e {
        TxEvent::Cancel {
            cancel,
            invite,
            answered: false,
            request,
            ..
        } => Some((cancel.clone(), invite.clone(), request.clone())),
        _ => None,
    });
    assert_eq!(invite_key.as_ref(), Some(&skey));
    let ok = SipMessage::response_to(&cancel_req, 200, "OK", Some("h1"));
    w.layers[hotline]
        .send_response(&cancel_key, &ok, w.now)
        .unwrap();
    let terminated = SipMessage::response_to(&req, 487, "Request Terminated", Some("h1"));
    w.layers[hotline]
        .send_response(&skey, &terminated, w.now)
        .unwrap();
    // The carrier hears 487 once (from the retransmission) and its transaction sends the ACK.
    w.until(carrier, |e| {
        matches!(e, TxEvent::Response { key, response } if *key == ckey && response.status_code() == Some(487))
            .then_some(())
    });
    let limit = w.now + Duration::from_secs(40);
    while w.step(limit) {}
    assert!(w.layers[0].is_empty() && w.layers[1].is_empty());
    let acks = w
        .log
        .iter()
        .filter(|l| l.contains("0->") && l.contains("487"))
        .count();
    assert!(
        acks >= 2,
        "487 sent and retransmitted:\n{}",
        w.log.join("\n")
    );
    assert!(
        w.log.iter().any(|l| l.contains("1->0 ACK")),
        "{}",
        w.log.join("\n")
    );
    // Nothing reached the hotline TU after the CANCEL: the ACK for 487 is absorbed.
    assert!(w.events[hotline]
        .iter()
        .all(|e| matches!(e, TxEvent::Terminated { .. })));
}
