//! Virtual-time tests for every transaction timer path, retransmission absorption and CANCEL.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::message::{Method, SipMessage};

const PEER_ADDR: &str = "192.0.2.7:5060";

fn udp() -> Peer {
    Peer::udp(PEER_ADDR.parse().unwrap())
}

fn tcp() -> Peer {
    Peer {
        addr: PEER_ADDR.parse().unwrap(),
        transport: TransportKind::Tcp,
        connection: Some(9),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn parse(text: &str) -> SipMessage {
    SipMessage::parse(text.as_bytes().to_vec()).unwrap()
}

fn request(method: &str, branch: &str, cseq: u32) -> SipMessage {
    let cseq_method = if method == "ACK" { "ACK" } else { method };
    parse(&format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.7:5060;branch={branch}\r\n\
Max-Forwards: 70\r\n\
Route: <sip:proxy.example.com;lr>\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=fa\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call-1@example.com\r\n\
CSeq: {cseq} {cseq_method}\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

fn response_to(req: &SipMessage, code: u16) -> SipMessage {
    SipMessage::response_to(req, code, "Whatever", (code > 100).then_some("tb"))
}

/// A test harness: a layer plus a virtual clock and collected outputs.
struct Net {
    layer: TransactionLayer,
    start: Instant,
    now: Instant,
    sent: Vec<(Duration, SipMessage, Peer)>,
    events: Vec<(Duration, TxEvent)>,
}

impl Net {
    fn new(cfg: TimerConfig) -> Self {
        let now = Instant::now();
        Net {
            layer: TransactionLayer::new(cfg),
            start: now,
            now,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        let at = self.now - self.start;
        while let Some(o) = self.layer.poll_output() {
            match o {
                Output::Transmit(t) => {
                    self.sent
                        .push((at, SipMessage::parse(t.bytes).unwrap(), t.peer))
                }
                Output::Event(e) => self.events.push((at, e)),
            }
        }
    }

    /// Runs timers until `until` after start (virtual time), stepping to each deadline.
    fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        for _ in 0..10_000 {
            match self.layer.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.layer.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    fn incoming(&mut self, msg: SipMessage, peer: Peer) {
        self.layer.handle_incoming(msg, peer, self.now).unwrap();
        self.drain();
    }

    fn send(&mut self, req: SipMessage, peer: Peer) -> TxKey {
        let k = self.layer.send_request(req, peer, self.now).unwrap();
        self.drain();
        k
    }

    fn respond(&mut self, key: &TxKey, resp: &SipMessage) {
        self.layer.send_response(key, resp, self.now).unwrap();
        self.drain();
    }

    fn take_sent(&mut self) -> Vec<(Duration, SipMessage, Peer)> {
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<TxEvent> {
        std::mem::take(&mut self.events)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    fn times(&self) -> Vec<u64> {
        self.sent
            .iter()
            .map(|(t, _, _)| t.as_millis() as u64)
            .collect()
    }
}

fn is_terminated(e: &TxEvent) -> bool {
    matches!(e, TxEvent::Terminated { .. })
}

// ---------- INVITE client ----------

#[test]
fn invite_client_timer_a_doubles_and_timer_b_times_out() {
    let mut n = Net::new(TimerConfig::default());
    let key = n.send(request("INVITE", "z9hG4bKa1", 1), udp());
    n.run_until(Duration::from_secs(40));
    // Timer A: T1, 2T1, 4T1... no T2 cap for INVITE; Timer B at 64*T1 = 32 s stops it.
    assert_eq!(n.times(), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    let ev: Vec<_> = n.events.iter().map(|(t, e)| (t.as_millis(), e)).collect();
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[0], (32000, TxEvent::Timeout { key: k }) if *k == key));
    assert!(is_terminated(ev[1].1));
    assert!(n.layer.is_empty());
    assert_eq!(n.layer.poll_timeout(), None);
}

#[test]
fn invite_client_reliable_does_not_retransmit_but_times_out() {
    let mut n = Net::new(TimerConfig::default());
    n.send(request("INVITE", "z9hG4bKa2", 1), tcp());
    n.run_until(Duration::from_secs(40));
    assert_eq!(n.times(), [0]);
    assert!(matches!(n.events[0], (t, TxEvent::Timeout { .. }) if t == Duration::from_secs(32)));
}

#[test]
fn invite_client_provisional_stops_retransmissions_and_timer_b() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKa3", 1);
    let key = n.send(inv.clone(), udp());
    n.run_until(ms(600));
    n.incoming(response_to(&inv, 180), udp());
    n.run_until(Duration::from_secs(120));
    assert_eq!(n.times(), [0, 500]);
    let ev = n.take_events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(
        matches!(&ev[0], TxEvent::Response { key: k, response } if *k == key && response.status_code() == Some(180))
    );
    assert_eq!(n.layer.len(), (1, 0), "still waiting for a final response");
}

#[test]
fn invite_client_non_2xx_generates_ack_absorbs_retransmissions_then_timer_d() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKa4", 5);
    let key = n.send(inv.clone(), udp());
    n.take_sent();
    n.run_until(ms(100));
    let busy = response_to(&inv, 486);
    n.incoming(busy.clone(), udp());
    let sent = n.take_sent();
    assert_eq!(sent.len(), 1);
    let ack = &sent[0].1;
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri_str(), Some("sip:bob@example.com"));
    assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKa4"));
    assert_eq!(ack.cseq().unwrap().seq, 5);
    assert_eq!(ack.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.to().unwrap().tag(), Some("tb"));
    assert_eq!(ack.from().unwrap().tag(), Some("fa"));
    assert_eq!(ack.call_id().unwrap(), "call-1@example.com");
    assert_eq!(ack.routes().unwrap().len(), 1);
    let ev = n.take_events();
    assert!(
        matches!(&ev[..], [TxEvent::Response { key: k, response }] if *k == key && response.status_code() == Some(486))
    );
    // A retransmitted 486 gets the ACK again and is not passed up.
    n.run_until(Duration::from_secs(10));
    n.incoming(busy.clone(), udp());
    assert_eq!(n.take_sent().len(), 1);
    assert!(n.take_events().is_empty());
    // Timer D: 32 s after the final.
    n.run_until(ms(32_099));
    assert!(n.take_events().is_empty());
    n.run_until(ms(32_100));
    assert!(matches!(&n.take_events()[..], [TxEvent::Terminated { .. }]));
    // Afterwards the 486 is stray.
    n.incoming(busy, udp());
    assert!(matches!(
        &n.take_events()[..],
        [TxEvent::StrayResponse { .. }]
    ));
}

#[test]
fn invite_client_reliable_timer_d_is_zero() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKa5", 1);
    n.send(inv.clone(), tcp());
    n.incoming(response_to(&inv, 603), tcp());
    n.run_until(ms(0));
    let ev = n.take_events();
    assert!(
        matches!(
            &ev[..],
            [TxEvent::Response { .. }, TxEvent::Terminated { .. }]
        ),
        "{ev:?}"
    );
}

#[test]
fn invite_client_2xx_terminates_and_retransmitted_2xx_is_stray() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKa6", 1);
    n.send(inv.clone(), udp());
    n.take_sent();
    let ok = response_to(&inv, 200);
    n.incoming(ok.clone(), udp());
    let ev = n.take_events();
    assert!(
        matches!(
            &ev[..],
            [TxEvent::Response { .. }, TxEvent::Terminated { .. }]
        ),
        "{ev:?}"
    );
    assert!(
        n.take_sent().is_empty(),
        "the TU ACKs a 2xx, not the transaction"
    );
    n.incoming(ok, udp());
    assert!(
        matches!(&n.take_events()[..], [TxEvent::StrayResponse { response, .. }] if response.status_code() == Some(200))
    );
    n.run_until(Duration::from_secs(60));
    assert!(n.take_sent().is_empty());
}

// ---------- non-INVITE client ----------

#[test]
fn non_invite_client_timer_e_caps_at_t2_and_timer_f_times_out() {
    let mut n = Net::new(TimerConfig::default());
    let key = n.send(request("OPTIONS", "z9hG4bKb1", 1), udp());
    n.run_until(Duration::from_secs(40));
    let expected: Vec<u64> = [0, 500, 1500, 3500, 7500]
        .into_iter()
        .chain((1..=6).map(|k| 7500 + 4000 * k))
        .collect();
    assert_eq!(n.times(), expected);
    let ev = n.take_events();
    assert!(matches!(&ev[0], TxEvent::Timeout { key: k } if *k == key));
    assert!(is_terminated(&ev[1]));
    assert_eq!(n.events.len(), 0);
}

#[test]
fn non_invite_client_proceeding_retransmits_every_t2() {
    let mut n = Net::new(TimerConfig::default());
    let req = request("REGISTER", "z9hG4bKb2", 1);
    n.send(req.clone(), udp());
    n.run_until(ms(600)); // sent at 0 and 500
    n.incoming(response_to(&req, 100), udp());
    n.run_until(ms(13_000));
    // Next retransmission keeps the pending deadline (1500), then every T2.
    assert_eq!(n.times(), [0, 500, 1500, 5500, 9500]);
}

#[test]
fn non_invite_client_final_then_timer_k_absorbs_retransmissions() {
    let mut n = Net::new(TimerConfig::default());
    let req = request("BYE", "z9hG4bKb3", 2);
    n.send(req.clone(), udp());
    let ok = response_to(&req, 200);
    n.incoming(ok.clone(), udp());
    assert!(matches!(&n.take_events()[..], [TxEvent::Response { .. }]));
    n.take_sent();
    n.run_until(Duration::from_secs(3));
    n.incoming(ok.clone(), udp());
    assert!(n.take_events().is_empty(), "absorbed");
    assert!(
        n.take_sent().is_empty(),
        "no request retransmission in Completed"
    );
    n.run_until(ms(4_999));
    assert!(n.take_events().is_empty());
    n.run_until(ms(5_000)); // Timer K = T4
    assert!(matches!(&n.take_events()[..], [TxEvent::Terminated { .. }]));
}

#[test]
fn non_invite_client_reliable_timer_k_zero_and_no_retransmit() {
    let mut n = Net::new(TimerConfig::default());
    let req = request("OPTIONS", "z9hG4bKb4", 1);
    n.send(req.clone(), tcp());
    n.run_until(ms(5000));
    assert_eq!(n.times(), [0]);
    n.incoming(response_to(&req, 404), tcp());
    n.run_until(ms(5000));
    assert!(matches!(
        &n.take_events()[..],
        [TxEvent::Response { .. }, TxEvent::Terminated { .. }]
    ));
}

#[test]
fn custom_timer_values_are_used() {
    let cfg = TimerConfig {
        t1: ms(100),
        t2: ms(300),
        ..TimerConfig::default()
    };
    let mut n = Net::new(cfg);
    n.send(request("OPTIONS", "z9hG4bKb5", 1), udp());
    n.run_until(ms(7000));
    // E: 100, 200, 300 (cap), 300...; F at 6.4 s.
    assert_eq!(&n.times()[..6], [0, 100, 300, 600, 900, 1200]);
    assert!(matches!(n.events[0], (t, TxEvent::Timeout { .. }) if t == ms(6400)));
}

// ---------- INVITE server ----------

#[test]
fn invite_server_sends_100_trying_after_200ms_if_tu_silent() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc1", 1);
    n.incoming(inv, udp());
    let ev = n.take_events();
    assert!(
        matches!(&ev[..], [TxEvent::Request { request, .. }] if request.method() == Some(&Method::Invite))
    );
    assert!(n.sent.is_empty());
    n.run_until(ms(199));
    assert!(n.sent.is_empty());
    n.run_until(ms(200));
    let sent = n.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.status_code(), Some(100));
    assert_eq!(sent[0].1.to().unwrap().tag(), None, "100 carries no To tag");
    assert_eq!(sent[0].2, udp());
}

#[test]
fn invite_server_no_trying_when_tu_answers_first_and_immediate_policy() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc2", 1);
    n.incoming(inv.clone(), udp());
    let key = match &n.take_events()[0] {
        TxEvent::Request { key, .. } => key.clone(),
        e => panic!("{e:?}"),
    };
    n.run_until(ms(50));
    n.respond(&key, &response_to(&inv, 180));
    n.run_until(ms(1000));
    assert_eq!(
        n.take_sent()
            .iter()
            .map(|s| s.1.status_code())
            .collect::<Vec<_>>(),
        [Some(180)]
    );

    let mut n = Net::new(TimerConfig {
        trying: TryingPolicy::Immediate,
        ..TimerConfig::default()
    });
    n.incoming(request("INVITE", "z9hG4bKc3", 1), udp());
    assert_eq!(n.take_sent()[0].1.status_code(), Some(100));

    let mut n = Net::new(TimerConfig {
        trying: TryingPolicy::Never,
        ..TimerConfig::default()
    });
    n.incoming(request("INVITE", "z9hG4bKc3", 1), udp());
    n.run_until(ms(1000));
    assert!(n.take_sent().is_empty());
}

#[test]
fn invite_server_retransmission_resends_last_provisional() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc4", 1);
    n.incoming(inv.clone(), udp());
    let key = server_key_of(&mut n);
    // Retransmission before anything was sent: answered with 100 Trying at once.
    n.incoming(inv.clone(), udp());
    assert_eq!(n.take_sent()[0].1.status_code(), Some(100));
    n.respond(&key, &response_to(&inv, 180));
    n.take_sent();
    n.incoming(inv.clone(), udp());
    let sent = n.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.status_code(), Some(180));
    assert!(
        n.take_events().is_empty(),
        "retransmission is not a new request"
    );
}

fn server_key_of(n: &mut Net) -> TxKey {
    match n.take_events().into_iter().next() {
        Some(TxEvent::Request { key, .. }) => key,
        e => panic!("{e:?}"),
    }
}

#[test]
fn invite_server_non_2xx_timer_g_retransmits_and_timer_h_times_out() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc5", 1);
    n.incoming(inv.clone(), udp());
    let key = server_key_of(&mut n);
    n.respond(&key, &response_to(&inv, 486));
    n.run_until(Duration::from_secs(40));
    // G: T1, 2T1, 4T1, then capped at T2 = 4 s; H at 32 s.
    let expected: Vec<u64> = [0, 500, 1500, 3500, 7500]
        .into_iter()
        .chain((1..=6).map(|k| 7500 + 4000 * k))
        .collect();
    assert_eq!(n.times(), expected);
    assert!(n.sent.iter().all(|s| s.1.status_code() == Some(486)));
    let ev: Vec<_> = n.events.iter().map(|(t, e)| (t.as_millis(), e)).collect();
    assert!(matches!(ev[0], (32000, TxEvent::Timeout { key: k }) if *k == key));
    assert!(is_terminated(ev[1].1));
}

#[test]
fn invite_server_ack_confirms_absorbs_and_timer_i_ends() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc6", 1);
    n.incoming(inv.clone(), udp());
    let key = server_key_of(&mut n);
    let busy = response_to(&inv, 486);
    n.respond(&key, &busy);
    n.run_until(ms(700)); // one G retransmission at 500
    let ack = request("ACK", "z9hG4bKc6", 1);
    n.incoming(ack.clone(), udp());
    assert!(n.take_events().is_empty(), "ACK for a non-2xx is absorbed");
    n.take_sent();
    n.run_until(ms(3000));
    assert!(n.take_sent().is_empty(), "G stopped");
    n.incoming(ack.clone(), udp());
    n.incoming(inv.clone(), udp());
    assert!(n.take_events().is_empty());
    assert!(n.take_sent().is_empty(), "Confirmed absorbs INVITE and ACK");
    n.run_until(ms(5699));
    assert!(n.take_events().is_empty());
    n.run_until(ms(5700)); // Timer I = T4 after the ACK at 700 ms
    assert!(matches!(&n.take_events()[..], [TxEvent::Terminated { .. }]));
}

#[test]
fn invite_server_completed_resends_final_on_invite_retransmission() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc7", 1);
    n.incoming(inv.clone(), tcp());
    let key = server_key_of(&mut n);
    n.respond(&key, &response_to(&inv, 404));
    n.take_sent();
    n.run_until(ms(10_000));
    assert!(
        n.take_sent().is_empty(),
        "no Timer G on reliable transports"
    );
    n.incoming(inv, tcp());
    assert_eq!(n.take_sent()[0].1.status_code(), Some(404));
    n.incoming(request("ACK", "z9hG4bKc7", 1), tcp());
    n.run_until(ms(10_000)); // Timer I = 0 on TCP
    assert!(matches!(&n.take_events()[..], [TxEvent::Terminated { .. }]));
}

#[test]
fn invite_server_2xx_accepted_absorbs_invites_and_passes_acks_until_timer_l() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc8", 1);
    n.incoming(inv.clone(), udp());
    let key = server_key_of(&mut n);
    let ok = response_to(&inv, 200);
    n.respond(&key, &ok);
    n.take_sent();
    n.incoming(inv.clone(), udp());
    assert!(
        n.take_events().is_empty(),
        "INVITE retransmission after 2xx absorbed"
    );
    assert!(
        n.take_sent().is_empty(),
        "the TU retransmits the 2xx, not the transaction"
    );
    // The TU's 2xx retransmission still goes through; a non-2xx is refused.
    n.respond(&key, &ok);
    assert_eq!(n.take_sent().len(), 1);
    assert!(n
        .layer
        .send_response(&key, &response_to(&inv, 486), n.now)
        .is_err());
    let ack = request("ACK", "z9hG4bKc8", 1);
    n.incoming(ack.clone(), udp());
    assert!(matches!(&n.take_events()[..], [TxEvent::Ack { key: Some(k), .. }] if *k == key));
    n.run_until(ms(31_999));
    assert!(n.take_events().is_empty());
    n.run_until(ms(32_000)); // Timer L = 64*T1
    assert!(matches!(&n.take_events()[..], [TxEvent::Terminated { .. }]));
    n.incoming(ack, udp());
    assert!(
        matches!(&n.take_events()[..], [TxEvent::Ack { key: None, .. }]),
        "stray ACK to the TU"
    );
}

// ---------- non-INVITE server ----------

#[test]
fn non_invite_server_absorbs_resends_and_timer_j() {
    let mut n = Net::new(TimerConfig::default());
    let req = request("OPTIONS", "z9hG4bKd1", 1);
    n.incoming(req.clone(), udp());
    let key = server_key_of(&mut n);
    n.incoming(req.clone(), udp());
    assert!(
        n.take_sent().is_empty(),
        "Trying absorbs retransmissions silently"
    );
    assert!(n.take_events().is_empty());
    n.run_until(Duration::from_secs(1));
    assert!(n.take_sent().is_empty(), "no 100 Trying for non-INVITE");
    n.respond(&key, &response_to(&req, 100));
    n.incoming(req.clone(), udp());
    let s = n.take_sent();
    assert_eq!(
        s.iter().map(|s| s.1.status_code()).collect::<Vec<_>>(),
        [Some(100), Some(100)]
    );
    n.respond(&key, &response_to(&req, 200));
    n.run_until(ms(2000));
    n.incoming(req.clone(), udp());
    let s = n.take_sent();
    assert_eq!(
        s.iter().map(|s| s.1.status_code()).collect::<Vec<_>>(),
        [Some(200), Some(200)]
    );
    assert!(n
        .layer
        .send_response(&key, &response_to(&req, 500), n.now)
        .is_err());
    n.run_until(ms(32_999)); // J = 64*T1 after the final at 1000 ms
    assert!(n.take_events().is_empty());
    n.run_until(ms(33_000));
    assert!(matches!(&n.take_events()[..], [TxEvent::Terminated { .. }]));
    // Now the same request is new again.
    n.incoming(req, udp());
    assert!(matches!(&n.take_events()[..], [TxEvent::Request { .. }]));
}

#[test]
fn non_invite_server_reliable_timer_j_zero() {
    let mut n = Net::new(TimerConfig::default());
    let req = request("REGISTER", "z9hG4bKd2", 1);
    n.incoming(req.clone(), tcp());
    let key = server_key_of(&mut n);
    n.respond(&key, &response_to(&req, 200));
    assert_eq!(
        n.take_sent()[0].2,
        tcp(),
        "response goes back on the request's connection"
    );
    n.run_until(ms(0));
    assert!(matches!(&n.take_events()[..], [TxEvent::Terminated { .. }]));
}

// ---------- CANCEL ----------

#[test]
fn cancel_matches_invite_server_transaction() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKe1", 1);
    n.incoming(inv.clone(), udp());
    let inv_key = server_key_of(&mut n);
    n.respond(&inv_key, &response_to(&inv, 180));
    n.take_sent();
    let cancel = request("CANCEL", "z9hG4bKe1", 1);
    n.incoming(cancel.clone(), udp());
    let ev = n.take_events();
    let cancel_key = match &ev[..] {
        [TxEvent::Cancel {
            cancel,
            invite: Some(i),
            answered: false,
            ..
        }] => {
            assert_eq!(*i, inv_key);
            assert_ne!(*cancel, inv_key);
            cancel.clone()
        }
        e => panic!("{e:?}"),
    };
    // TU: 200 to the CANCEL, 487 to the INVITE.
    n.respond(&cancel_key, &response_to(&cancel, 200));
    n.respond(&inv_key, &response_to(&inv, 487));
    let codes: Vec<_> = n
        .take_sent()
        .iter()
        .map(|s| (s.1.status_code(), s.1.cseq().unwrap().method))
        .collect();
    assert_eq!(
        codes,
        [(Some(200), Method::Cancel), (Some(487), Method::Invite)]
    );
    // A retransmitted CANCEL gets the 200 again, no new event.
    n.incoming(cancel, udp());
    assert!(n.take_events().is_empty());
    assert_eq!(n.take_sent()[0].1.status_code(), Some(200));
}

#[test]
fn cancel_without_matching_or_live_invite() {
    let mut n = Net::new(TimerConfig::default());
    n.incoming(request("CANCEL", "z9hG4bKe2", 1), udp());
    assert!(matches!(
        &n.take_events()[..],
        [TxEvent::Cancel {
            invite: None,
            answered: false,
            ..
        }]
    ));
    // INVITE already answered with a final: nothing to cancel, but the CANCEL gets 200.
    let inv = request("INVITE", "z9hG4bKe3", 1);
    n.incoming(inv.clone(), udp());
    let k = server_key_of(&mut n);
    n.respond(&k, &response_to(&inv, 200));
    n.incoming(request("CANCEL", "z9hG4bKe3", 1), udp());
    assert!(matches!(
        &n.take_events()[..],
        [TxEvent::Cancel {
            invite: None,
            answered: true,
            ..
        }]
    ));
    assert_eq!(
        n.layer.send_response(&k, &response_to(&inv, 487), n.now),
        Err(TxError::State("final response already sent"))
    );
}

#[test]
fn client_cancel_waits_for_provisional_then_sends() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKe4", 3);
    let key = n.send(inv.clone(), udp());
    n.take_sent();
    assert_eq!(n.layer.cancel(&key, n.now), Ok(CancelOutcome::Pending));
    n.drain();
    assert!(
        n.take_sent().is_empty(),
        "no CANCEL before a provisional (§9.1)"
    );
    n.incoming(response_to(&inv, 183), udp());
    let sent = n.take_sent();
    assert_eq!(sent.len(), 1);
    let c = &sent[0].1;
    assert_eq!(c.method(), Some(&Method::Cancel));
    assert_eq!(c.top_via().unwrap().branch(), Some("z9hG4bKe4"));
    assert_eq!(c.cseq().unwrap().seq, 3);
    assert_eq!(c.to().unwrap().tag(), None, "CANCEL's To is the INVITE's");
    assert_eq!(c.routes().unwrap().len(), 1);
    // A second cancel now sends another (its own transaction key already exists: duplicate).
    assert_eq!(n.layer.cancel(&key, n.now), Err(TxError::Duplicate));
}

#[test]
fn client_cancel_in_proceeding_and_after_final() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKe5", 1);
    let key = n.send(inv.clone(), udp());
    n.incoming(response_to(&inv, 180), udp());
    let out = n.layer.cancel(&key, n.now).unwrap();
    let CancelOutcome::Sent(ck) = out else {
        panic!()
    };
    assert_eq!(ck.method, Method::Cancel);
    n.incoming(response_to(&inv, 487), udp());
    assert!(n.layer.cancel(&key, n.now).is_err());
    // Pending cancel dropped when a final arrives first.
    let inv2 = request("INVITE", "z9hG4bKe6", 1);
    let k2 = n.send(inv2.clone(), udp());
    n.layer.cancel(&k2, n.now).unwrap();
    n.take_sent();
    n.incoming(response_to(&inv2, 486), udp());
    let sent = n.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.method(), Some(&Method::Ack));
}

// ---------- RFC 2543, errors, limits ----------

#[test]
fn rfc2543_requests_match_by_fields() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "old1", 1);
    n.incoming(inv.clone(), udp());
    let key = server_key_of(&mut n);
    assert!(key.branch.starts_with("2543|"));
    n.incoming(inv.clone(), udp());
    assert!(
        n.take_events().is_empty(),
        "retransmission matched without a cookie"
    );
    n.respond(&key, &response_to(&inv, 486));
    // ACK with our To tag matches; the transaction absorbs it.
    let ack = parse(
        &String::from_utf8_lossy(&request("ACK", "old1", 1).to_bytes()).replace(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=tb",
        ),
    );
    n.incoming(ack.clone(), udp());
    assert!(n.take_events().is_empty());
    // An ACK with another To tag is not ours: passed up.
    let other = parse(&String::from_utf8_lossy(&ack.to_bytes()).replace("tag=tb", "tag=zz"));
    n.incoming(other, udp());
    assert!(matches!(
        &n.take_events()[..],
        [TxEvent::Ack { key: None, .. }]
    ));
}

#[test]
fn transport_error_ends_the_transaction() {
    let mut n = Net::new(TimerConfig::default());
    let key = n.send(request("OPTIONS", "z9hG4bKf1", 1), udp());
    n.layer.handle_transport_error(&key);
    n.drain();
    let ev = n.take_events();
    assert!(
        matches!(&ev[..], [TxEvent::TransportError { key: k }, TxEvent::Terminated { .. }] if *k == key)
    );
    n.run_until(Duration::from_secs(60));
    assert_eq!(n.times(), [0]);
}

#[test]
fn bad_input_and_api_misuse_are_errors() {
    let mut n = Net::new(TimerConfig {
        max_transactions: 2,
        ..TimerConfig::default()
    });
    // The message layer refuses a Via-less message; a response whose Via has no branch parses
    // but belongs to no transaction we could have made.
    let no_branch = parse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nCSeq: 1 OPTIONS\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nContent-Length: 0\r\n\r\n");
    assert!(matches!(
        n.layer.handle_incoming(no_branch, udp(), n.now),
        Err(TxError::Key(_))
    ));
    assert_eq!(
        n.layer
            .send_request(request("ACK", "z9hG4bKg1", 1), udp(), n.now),
        Err(TxError::AckNotTransaction)
    );
    assert!(matches!(
        n.layer
            .send_request(request("OPTIONS", "nocookie", 1), udp(), n.now),
        Err(TxError::Key(KeyError::Branch))
    ));
    let k = n.send(request("OPTIONS", "z9hG4bKg2", 1), udp());
    assert_eq!(
        n.layer
            .send_request(request("OPTIONS", "z9hG4bKg2", 1), udp(), n.now),
        Err(TxError::Duplicate)
    );
    assert_eq!(
        n.layer
            .send_response(&k, &SipMessage::response(200, "OK"), n.now),
        Err(TxError::NoTransaction)
    );
    n.send(request("OPTIONS", "z9hG4bKg3", 1), udp());
    assert_eq!(
        n.layer
            .send_request(request("OPTIONS", "z9hG4bKg4", 1), udp(), n.now),
        Err(TxError::Overload)
    );
    assert_eq!(
        n.layer
            .handle_incoming(request("OPTIONS", "z9hG4bKg5", 1), udp(), n.now),
        Err(TxError::Overload)
    );
}

#[test]
fn retransmission_flood_does_not_grow_the_timer_heap() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKflood", 1);
    n.incoming(inv.clone(), udp());
    let key = server_key_of(&mut n);
    n.respond(&key, &response_to(&inv, 486));
    let before = n.layer.timer_entries();
    for _ in 0..10_000 {
        n.layer.handle_incoming(inv.clone(), udp(), n.now).unwrap();
    }
    assert!(
        n.layer.timer_entries() <= before + 1,
        "{} entries",
        n.layer.timer_entries()
    );
    while n.layer.poll_output().is_some() {}
}

#[test]
fn many_transactions_share_one_timer_heap() {
    let mut n = Net::new(TimerConfig::default());
    for i in 0..200 {
        n.send(request("OPTIONS", &format!("z9hG4bKh{i}"), 1), udp());
    }
    n.run_until(Duration::from_secs(40));
    assert_eq!(n.sent.len(), 200 * 11);
    assert_eq!(
        n.events
            .iter()
            .filter(|(_, e)| matches!(e, TxEvent::Timeout { .. }))
            .count(),
        200
    );
    assert!(n.layer.is_empty());
    assert_eq!(n.layer.poll_timeout(), None);
}

// ---------- random operation sequences ----------

mod random_ops {
    use super::*;
    use proptest::prelude::*;

    const METHODS: [&str; 6] = ["INVITE", "OPTIONS", "BYE", "ACK", "CANCEL", "REGISTER"];

    #[derive(Clone, Debug)]
    enum Op {
        Send(usize, u8, bool),
        Response(u8, usize, u16),
        Request(usize, u8, bool),
        Respond(usize, u16),
        Cancel(usize),
        TransportError(usize),
        Advance(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..6usize, 0..4u8, any::<bool>()).prop_map(|(m, b, r)| Op::Send(m, b, r)),
            (0..4u8, 0..6usize, 100..700u16).prop_map(|(b, m, c)| Op::Response(b, m, c)),
            (0..6usize, 0..4u8, any::<bool>()).prop_map(|(m, b, r)| Op::Request(m, b, r)),
            (0..8usize, 100..700u16).prop_map(|(i, c)| Op::Respond(i, c)),
            (0..8usize).prop_map(Op::Cancel),
            (0..8usize).prop_map(Op::TransportError),
            (0..40_000u32).prop_map(Op::Advance),
        ]
    }

    fn response_for(branch: u8, method: &str, code: u16) -> SipMessage {
        // Nobody answers an ACK: use INVITE for that slot.
        let m = if method == "ACK" { "INVITE" } else { method };
        response_to(&request(m, &format!("z9hG4bKp{branch}"), 1), code)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn never_panics_and_always_goes_quiet(ops in proptest::collection::vec(op(), 1..60)) {
            let mut n = Net::new(TimerConfig::default());
            let mut clients: Vec<TxKey> = Vec::new();
            let mut servers: Vec<TxKey> = Vec::new();
            for op in ops {
                match op {
                    Op::Send(m, b, reliable) => {
                        let peer = if reliable { tcp() } else { udp() };
                        if let Ok(k) = n.layer.send_request(request(METHODS[m], &format!("z9hG4bKp{b}"), 1), peer, n.now) {
                            clients.push(k);
                        }
                    }
                    Op::Response(b, m, code) => {
                        let _ = n.layer.handle_incoming(response_for(b, METHODS[m], code), udp(), n.now);
                    }
                    Op::Request(m, b, reliable) => {
                        let peer = if reliable { tcp() } else { udp() };
                        let _ = n.layer.handle_incoming(request(METHODS[m], &format!("z9hG4bKq{b}"), 1), peer, n.now);
                    }
                    Op::Respond(i, code) => {
                        if let Some(k) = servers.get(i).cloned() {
                            if let Some(req) = n.layer.request(&k).cloned() {
                                let _ = n.layer.send_response(&k, &response_to(&req, code), n.now);
                            }
                        }
                    }
                    Op::Cancel(i) => {
                        if let Some(k) = clients.get(i).cloned() {
                            let _ = n.layer.cancel(&k, n.now);
                        }
                    }
                    Op::TransportError(i) => {
                        if let Some(k) = clients.get(i).or(servers.get(i)).cloned() {
                            n.layer.handle_transport_error(&k);
                        }
                    }
                    Op::Advance(ms_) => {
                        let until = n.now - n.start + ms(u64::from(ms_));
                        n.run_until(until);
                    }
                }
                n.drain();
                for (_, e) in &n.events {
                    match e {
                        TxEvent::Request { key, .. } => servers.push(key.clone()),
                        TxEvent::Cancel { cancel, .. } => servers.push(cancel.clone()),
                        _ => {}
                    }
                }
            }
            // With no more input, everything that can time out does, and the wire goes quiet.
            let t = n.now - n.start;
            n.run_until(t + Duration::from_secs(200));
            let sent_before = n.sent.len();
            n.run_until(t + Duration::from_secs(400));
            prop_assert_eq!(n.sent.len(), sent_before, "retransmissions never stopped");
            prop_assert!(n.layer.poll_timeout().is_none_or(|d| d > n.now));
        }
    }
}

#[test]
fn rfc2543_ack_for_2xx_is_matched_while_accepted() {
    let mut n = Net::new(TimerConfig::default());
    let inv = request("INVITE", "old9", 1);
    n.incoming(inv.clone(), udp());
    let key = server_key_of(&mut n);
    n.respond(&key, &response_to(&inv, 200));
    let ack = parse(
        &String::from_utf8_lossy(&request("ACK", "old9", 1).to_bytes()).replace(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=tb",
        ),
    );
    n.incoming(ack, udp());
    assert!(matches!(&n.take_events()[..], [TxEvent::Ack { key: Some(k), .. }] if *k == key));
}
