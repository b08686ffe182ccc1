//! Helpers shared by the transport integration tests: start a transport on 127.0.0.1 ephemeral ports,
//! build request text, wait for deliveries with a bound.
#![allow(dead_code)]

use std::time::Duration;

use hotline::sip::transport::{Incoming, Transport, TransportConfig};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(5);

pub fn local0() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A config listening on UDP and TCP at ephemeral ports of 127.0.0.1.
pub fn udp_tcp_config() -> TransportConfig {
    let mut c = TransportConfig::empty();
    c.udp = vec![local0()];
    c.tcp = vec![local0()];
    c.udp_recv_buffer = 256 * 1024;
    c
}

pub async fn start(config: TransportConfig) -> (Transport, mpsc::Receiver<Incoming>) {
    Transport::start(config, 64)
        .await
        .expect("transport starts")
}

/// An OPTIONS request with the given top Via value and Call-ID.
pub fn options(via: &str, call_id: &str) -> String {
    format!(
        "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@example.com>;tag=t1\r\n\
         To: <sip:hotline@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A MESSAGE request with a body of `body_len` bytes.
pub fn message_with_body(via: &str, call_id: &str, body_len: usize) -> String {
    let body = "x".repeat(body_len);
    format!(
        "MESSAGE sip:hotline@127.0.0.1 SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@example.com>;tag=t1\r\n\
         To: <sip:hotline@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {body_len}\r\n\r\n{body}"
    )
}

pub async fn next(rx: &mut mpsc::Receiver<Incoming>) -> Incoming {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a message is delivered in time")
        .expect("channel open")
}

/// Asserts nothing is delivered within `d`.
pub async fn nothing(rx: &mut mpsc::Receiver<Incoming>, d: Duration) {
    if let Ok(Some(m)) = tokio::time::timeout(d, rx.recv()).await {
        panic!("unexpected delivery: {:?}", m.message.call_id());
    }
}

/// Polls `f` every 10 ms until it holds or `WAIT` passes.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
