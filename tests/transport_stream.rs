//! TCP and TLS transport over real sockets on 127.0.0.1: Content-Length framing, limits, idle
//! timeout, connection reuse for responses and requests, CRLF ping/pong, TLS round trip, shutdown.

#[path = "transport_support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hotline::sip::message::SipMessage;
use hotline::sip::transport::{tls, Outgoing, Transport, TransportConfig, TransportKind};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until `n` complete messages (by Content-Length 0 blank line) or EOF or `WAIT`.
async fn read_until(s: &mut TcpStream, needle: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = tokio::time::Instant::now() + WAIT;
    while !String::from_utf8_lossy(&out).contains(needle) {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True if the peer closes the connection within `WAIT` (after any bytes it still sends).
async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let end = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

fn tcp_via(tag: &str) -> String {
    format!("SIP/2.0/TCP client.example.com:5060;branch=z9hG4bK{tag}")
}

#[tokio::test]
async fn two_messages_in_one_segment_are_both_delivered_in_order() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let server = t.handle().local_addr(TransportKind::Tcp).unwrap();
    let mut s = connect(server).await;
    let both = format!(
        "{}{}",
        message_with_body(&tcp_via("a"), "seg-1", 10),
        options(&tcp_via("b"), "seg-2")
    );
    s.write_all(both.as_bytes()).await.unwrap();
    let a = next(&mut rx).await;
    let b = next(&mut rx).await;
    assert_eq!(a.message.call_id().unwrap(), "seg-1");
    assert_eq!(a.message.body().as_ref(), b"xxxxxxxxxx");
    assert_eq!(b.message.call_id().unwrap(), "seg-2");
    assert_eq!(a.connection, b.connection);
    assert_eq!(a.transport, TransportKind::Tcp);
    assert_eq!(a.source, s.local_addr().unwrap());
    // The sent-by host is a name, so received= is stamped with the source IP.
    assert_eq!(a.message.top_via().unwrap().received(), Some("127.0.0.1"));
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn one_message_split_across_many_writes_is_reassembled() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let server = t.handle().local_addr(TransportKind::Tcp).unwrap();
    let mut s = connect(server).await;
    let msg = message_with_body(&tcp_via("split"), "split-1", 300);
    // Leading CRLF (RFC 3261 §7.5) then 7-byte pieces with pauses so each arrives as its own segment.
    s.write_all(b"\r\n").await.unwrap();
    for chunk in msg.as_bytes().chunks(7) {
        s.write_all(chunk).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let inc = next(&mut rx).await;
    assert_eq!(inc.message.call_id().unwrap(), "split-1");
    assert_eq!(inc.message.body().len(), 300);
    nothing(&mut rx, Duration::from_millis(50)).await;
    assert_eq!(t.handle().counters().snapshot().stream_messages_in, 1);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn oversize_message_is_answered_513_and_the_connection_closed() {
    let mut cfg = udp_tcp_config();
    cfg.limits.max_message_size = 2048;
    let (t, mut rx) = start(cfg).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Tcp).unwrap();
    let mut s = connect(server).await;
    s.write_all(message_with_body(&tcp_via("big"), "big-1", 4000).as_bytes())
        .await
        .unwrap();
    let text = read_until(&mut s, "\r\n\r\n").await;
    assert!(
        text.starts_with("SIP/2.0 513 Message Too Large"),
        "{text:?}"
    );
    assert!(closed_by_peer(&mut s).await);
    nothing(&mut rx, Duration::from_millis(50)).await;
    eventually("connection forgotten", || h.connection_count() == 0).await;
    assert_eq!(h.counters().snapshot().connections_open, 0);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn unframeable_stream_closes_with_400_but_a_bad_framed_message_does_not() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let server = t.handle().local_addr(TransportKind::Tcp).unwrap();
    let mut s = connect(server).await;
    // Framed (Content-Length present) but invalid: answered, connection stays.
    let bad = options(&tcp_via("m1"), "bad-framed").replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS");
    s.write_all(bad.as_bytes()).await.unwrap();
    let text = read_until(&mut s, "\r\n\r\n").await;
    assert!(text.starts_with("SIP/2.0 400 "), "{text:?}");
    s.write_all(options(&tcp_via("m2"), "good-after").as_bytes())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.message.call_id().unwrap(), "good-after");
    // No Content-Length on a stream: cannot find the next message, so 400 and close.
    let no_cl = options(&tcp_via("m3"), "no-cl").replace("Content-Length: 0\r\n", "");
    s.write_all(no_cl.as_bytes()).await.unwrap();
    let text = read_until(&mut s, "\r\n\r\n").await;
    assert!(text.starts_with("SIP/2.0 400 "), "{text:?}");
    assert!(closed_by_peer(&mut s).await);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn idle_connection_is_closed_after_the_timeout() {
    let mut cfg = udp_tcp_config();
    cfg.limits.tcp_idle_timeout = Duration::from_millis(300);
    let (t, mut rx) = start(cfg).await;
    let h = t.handle();
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    s.write_all(options(&tcp_via("idle"), "idle-1").as_bytes())
        .await
        .unwrap();
    next(&mut rx).await;
    eventually("connection registered", || h.connection_count() == 1).await;
    let t0 = tokio::time::Instant::now();
    assert!(closed_by_peer(&mut s).await);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "closed too early: {waited:?}"
    );
    eventually("connection forgotten", || h.connection_count() == 0).await;
    assert_eq!(h.counters().snapshot().idle_closed, 1);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn response_goes_back_over_the_same_tcp_connection() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    // sent-by names a port nobody listens on: only the open connection can carry the response.
    s.write_all(options("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKsame", "same-1").as_bytes())
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    let resp = SipMessage::response_to(&inc.message, 200, "OK", Some("x"));
    let used = h.send_response(&resp, Some(inc.connection)).await.unwrap();
    assert_eq!(used, inc.connection);
    let text = read_until(&mut s, "\r\n\r\n").await;
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text:?}");
    assert!(text.contains("Call-ID: same-1\r\n"));
    assert_eq!(h.connection_count(), 1, "no new connection was opened");
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn outgoing_requests_reuse_an_open_connection_or_connect() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    // Reuse: a peer that connected to us gets our request on its own connection.
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    s.write_all(options(&tcp_via("r1"), "reuse-in").as_bytes())
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    let req = options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKr2", "reuse-out");
    let id = h
        .send(Outgoing::new(
            req.clone().into(),
            s.local_addr().unwrap(),
            TransportKind::Tcp,
        ))
        .await
        .unwrap();
    assert_eq!(id, inc.connection);
    assert_eq!(read_until(&mut s, "\r\n\r\n").await, req);

    // Connect: nothing open to this listener yet, so one connection is made and then reused.
    let l = TcpListener::bind(local0()).await.unwrap();
    let dest = l.local_addr().unwrap();
    let first = h
        .send(Outgoing::new(
            options(&tcp_via("c1"), "c-1").into(),
            dest,
            TransportKind::Tcp,
        ))
        .await
        .unwrap();
    let (mut peer, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let second = h
        .send(Outgoing::new(
            options(&tcp_via("c2"), "c-2").into(),
            dest,
            TransportKind::Tcp,
        ))
        .await
        .unwrap();
    assert_eq!(first, second);
    let got = read_until(&mut peer, "Call-ID: c-2").await;
    assert!(got.contains("Call-ID: c-1") && got.contains("Call-ID: c-2"));
    assert_eq!(h.connection_count(), 2);
    // The peer answers on that connection; the core gets it with the same connection id.
    peer.write_all(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP client.example.com:5060;branch=z9hG4bKc1\r\n\
          From: <sip:tester@example.com>;tag=t1\r\nTo: <sip:hotline@example.com>;tag=p\r\n\
          Call-ID: c-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let inc = next(&mut rx).await;
    assert_eq!(
        (inc.connection, inc.message.status_code()),
        (first, Some(200))
    );
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn crlf_ping_gets_a_pong() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    s.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, s.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    nothing(&mut rx, Duration::from_millis(50)).await;
    assert_eq!(h.counters().snapshot().keepalives, 1);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn connections_per_ip_are_limited() {
    let mut cfg = udp_tcp_config();
    cfg.limits.max_connections_per_ip = 2;
    let (t, mut rx) = start(cfg).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Tcp).unwrap();
    let mut a = connect(server).await;
    let _b = connect(server).await;
    eventually("two connections admitted", || h.connection_count() == 2).await;
    let mut c = connect(server).await;
    assert!(
        closed_by_peer(&mut c).await,
        "third connection from one IP is closed"
    );
    assert_eq!(h.counters().snapshot().connections_refused, 1);
    // The admitted ones still work.
    a.write_all(options(&tcp_via("lim"), "lim-1").as_bytes())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.message.call_id().unwrap(), "lim-1");
    // Closing one frees a slot.
    drop(a);
    eventually("slot freed", || h.connection_count() == 1).await;
    let mut d = connect(server).await;
    d.write_all(options(&tcp_via("lim2"), "lim-2").as_bytes())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.message.call_id().unwrap(), "lim-2");
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn shutdown_closes_connections_and_listeners() {
    let (t, _rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Tcp).unwrap();
    let mut s = connect(server).await;
    eventually("admitted", || h.connection_count() == 1).await;
    assert_eq!(t.shutdown(WAIT).await, 0, "every task finished");
    assert!(closed_by_peer(&mut s).await);
    assert!(
        TcpStream::connect(server).await.is_err(),
        "listener is closed"
    );
    assert_eq!(h.counters().snapshot().connections_open, 0);
}

/// A self-signed certificate for 127.0.0.1, written as PEM files.
fn self_signed(dir: &tempfile::TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".into()])
        .unwrap();
    let cert = dir.path().join("sip.pem");
    let key = dir.path().join("sip.key");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test]
async fn tls_round_trip_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(&dir);
    // Server: a TLS listener from PEM files.
    let mut scfg = TransportConfig::empty();
    scfg.tls = vec![local0()];
    scfg.tls_cert = Some(cert.clone());
    scfg.tls_key = Some(key);
    let (server, mut srx) = start(scfg).await;
    let sh = server.handle();
    let tls_addr = sh.local_addr(TransportKind::Tls).unwrap();
    // Client: no listeners, trusts the self-signed certificate as its CA.
    let mut ccfg = TransportConfig::empty();
    ccfg.tls_ca = vec![cert];
    let (client, mut crx) = start(ccfg).await;
    let ch = client.handle();

    let req = options(
        "SIP/2.0/TLS client.invalid:5061;rport;branch=z9hG4bKtls",
        "tls-1",
    );
    let cid = ch
        .send(Outgoing::new(req.into(), tls_addr, TransportKind::Tls))
        .await
        .unwrap();
    let inc = next(&mut srx).await;
    assert_eq!(inc.transport, TransportKind::Tls);
    assert_eq!(inc.local, tls_addr);
    assert_eq!(inc.message.call_id().unwrap(), "tls-1");
    assert_eq!(
        inc.message.top_via().unwrap().rport(),
        Some(Some(inc.source.port()))
    );
    let resp = SipMessage::response_to(&inc.message, 200, "OK", Some("tls"));
    sh.send_response(&resp, Some(inc.connection)).await.unwrap();
    let back = next(&mut crx).await;
    assert_eq!((back.transport, back.connection), (TransportKind::Tls, cid));
    assert_eq!(back.message.status_code(), Some(200));
    assert_eq!(back.message.call_id().unwrap(), "tls-1");
    client.shutdown(WAIT).await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn tls_to_an_untrusted_server_fails_and_leaves_nothing_open() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(&dir);
    let server_cfg = tls::server_config(&cert, &key).unwrap();
    let mut scfg = TransportConfig::empty();
    scfg.tls = vec![local0()];
    let (server, _srx) =
        Transport::start_with(scfg, 8, Some(server_cfg), tls::client_config(&[]).unwrap())
            .await
            .unwrap();
    let tls_addr = server.handle().local_addr(TransportKind::Tls).unwrap();
    // A client that trusts no CA at all.
    let (client, _crx) = Transport::start_with(
        TransportConfig::empty(),
        8,
        None,
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        ),
    )
    .await
    .unwrap();
    let ch = client.handle();
    let err = ch
        .send(Outgoing::new(
            options(&tcp_via("u"), "u").into(),
            tls_addr,
            TransportKind::Tls,
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("TLS to"), "{err}");
    assert_eq!(ch.connection_count(), 0);
    assert_eq!(ch.counters().snapshot().send_errors, 1);
    client.shutdown(WAIT).await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn full_write_queue_pushes_back_then_fails_the_send() {
    let mut cfg = udp_tcp_config();
    cfg.limits.write_queue_len = 2;
    cfg.limits.write_timeout = Duration::from_millis(200);
    let (t, _rx) = start(cfg).await;
    let h = t.handle();
    // A peer that accepts but never reads: kernel buffers fill, then our queue, then sends fail.
    let l = TcpListener::bind(local0()).await.unwrap();
    let dest = l.local_addr().unwrap();
    let big = message_with_body(&tcp_via("bp"), "bp", 60_000);
    let mut failed_after = None;
    for i in 0..2_000 {
        let r = h
            .send(Outgoing::new(big.clone().into(), dest, TransportKind::Tcp))
            .await;
        if let Err(e) = r {
            assert!(e.to_string().contains("write queue full"), "{e}");
            failed_after = Some(i);
            break;
        }
    }
    let _peer = l.accept().await.unwrap();
    assert!(
        failed_after.is_some(),
        "a stalled peer eventually makes sends fail"
    );
    assert_eq!(h.counters().snapshot().send_errors, 1);
    t.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn concurrent_sends_to_a_new_destination_share_one_connection() {
    let (t, _rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let l = TcpListener::bind(local0()).await.unwrap();
    let dest = l.local_addr().unwrap();
    let sends = (0..8).map(|i| {
        let h = h.clone();
        let msg = options(&tcp_via(&format!("cc{i}")), &format!("cc-{i}"));
        tokio::spawn(async move {
            h.send(Outgoing::new(msg.into(), dest, TransportKind::Tcp))
                .await
                .unwrap()
        })
    });
    let ids: Vec<_> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let (mut peer, _) = l.accept().await.unwrap();
    let got = read_until(&mut peer, "Call-ID: cc-7").await;
    assert_eq!(got.matches("OPTIONS sip:").count(), 8);
    assert_eq!(h.connection_count(), 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), l.accept())
            .await
            .is_err(),
        "no second connection"
    );
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn response_after_the_connection_closed_opens_one_to_received_and_sent_by_port() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    // The client's own listener, named as sent-by port in its Via (RFC 3261 §18.2.2 fallback).
    let l = TcpListener::bind(local0()).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    let via = format!("SIP/2.0/TCP client.example.com:{port};branch=z9hG4bKfb");
    s.write_all(options(&via, "fallback-1").as_bytes())
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    drop(s);
    eventually("old connection gone", || !h.is_open(inc.connection)).await;
    let resp = SipMessage::response_to(&inc.message, 200, "OK", Some("fb"));
    let used = h.send_response(&resp, Some(inc.connection)).await.unwrap();
    assert_ne!(used, inc.connection);
    let (mut peer, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .unwrap()
        .unwrap();
    let text = read_until(&mut peer, "\r\n\r\n").await;
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text:?}");
    assert!(text.contains("Call-ID: fallback-1\r\n"));
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn total_connection_limit_is_enforced() {
    let mut cfg = udp_tcp_config();
    cfg.limits.max_connections = 1;
    let (t, _rx) = start(cfg).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Tcp).unwrap();
    let _a = connect(server).await;
    eventually("first admitted", || h.connection_count() == 1).await;
    let mut b = connect(server).await;
    assert!(closed_by_peer(&mut b).await);
    // Our own outbound connects are refused by the same limit.
    let l = TcpListener::bind(local0()).await.unwrap();
    let err = h
        .send(Outgoing::new(
            options(&tcp_via("tl"), "tl").into(),
            l.local_addr().unwrap(),
            TransportKind::Tcp,
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    assert_eq!(h.counters().snapshot().connections_refused, 1);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn tls_by_server_name_and_idle_close_on_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(&dir);
    let mut scfg = TransportConfig::empty();
    scfg.tls = vec![local0()];
    scfg.tls_cert = Some(cert.clone());
    scfg.tls_key = Some(key);
    scfg.limits.tls_idle_timeout = Duration::from_millis(300);
    let (server, mut srx) = start(scfg).await;
    let sh = server.handle();
    let mut ccfg = TransportConfig::empty();
    ccfg.tls_ca = vec![cert];
    let (client, _crx) = start(ccfg).await;
    let ch = client.handle();
    let mut out = Outgoing::new(
        options("SIP/2.0/TLS client.invalid;branch=z9hG4bKsn", "sn-1").into(),
        sh.local_addr(TransportKind::Tls).unwrap(),
        TransportKind::Tls,
    );
    out.server_name = Some("localhost".into());
    ch.send(out.clone()).await.unwrap();
    assert_eq!(next(&mut srx).await.message.call_id().unwrap(), "sn-1");
    // A name the certificate does not carry is refused.
    out.server_name = Some("other.example".into());
    let mut fresh = out.clone();
    fresh.dest = sh.local_addr(TransportKind::Tls).unwrap();
    let (client2, _c2) = start({
        let mut c = TransportConfig::empty();
        c.tls_ca = vec![dir.path().join("sip.pem")];
        c
    })
    .await;
    let err = client2.handle().send(fresh).await.unwrap_err();
    assert!(err.to_string().starts_with("TLS to"), "{err}");
    // Idle: the server closes after 300 ms without traffic; the client side notices and forgets it.
    eventually("server closed idle TLS", || sh.connection_count() == 0).await;
    eventually("client saw the close", || ch.connection_count() == 0).await;
    assert!(sh.counters().snapshot().idle_closed >= 1);
    client2.shutdown(WAIT).await;
    client.shutdown(WAIT).await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_message_trickled_slower_than_the_message_timeout_closes_the_connection() {
    let mut cfg = udp_tcp_config();
    cfg.limits.message_timeout = Duration::from_millis(400);
    let (t, mut rx) = start(cfg).await;
    let h = t.handle();
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    // A whole message in time is fine, even when split.
    let ok = options(&tcp_via("in-time"), "in-time");
    let (a, b) = ok.split_at(40);
    s.write_all(a.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b.as_bytes()).await.unwrap();
    assert_eq!(next(&mut rx).await.message.call_id().unwrap(), "in-time");
    // One byte every 100 ms keeps the idle timer fresh but never completes within 400 ms.
    let slow = options(&tcp_via("slow"), "slow");
    let t0 = tokio::time::Instant::now();
    let mut closed = false;
    for byte in slow.as_bytes().iter().take(40) {
        if s.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if h.connection_count() == 0 {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "connection was closed while the message trickled in"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "closed too late: {waited:?}"
    );
    nothing(&mut rx, Duration::from_millis(50)).await;
    assert_eq!(h.counters().snapshot().idle_closed, 0, "not an idle close");
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn start_errors_name_what_is_wrong() {
    let mut cfg = TransportConfig::empty();
    cfg.tls = vec![local0()];
    let err = Transport::start(cfg, 8)
        .await
        .err()
        .expect("no certificate");
    assert!(err.to_string().contains("tls_cert"), "{err}");
    let (t, _rx) = start(udp_tcp_config()).await;
    let taken = t.handle().local_addr(TransportKind::Tcp).unwrap();
    let mut cfg = TransportConfig::empty();
    cfg.tcp = vec![taken];
    let err = Transport::start(cfg, 8).await.err().expect("port in use");
    assert!(err.to_string().contains(&taken.to_string()), "{err}");
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn dropping_the_transport_stops_it() {
    let (t, _rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    eventually("admitted", || h.connection_count() == 1).await;
    drop(t);
    assert!(closed_by_peer(&mut s).await);
    let err = h
        .send(Outgoing::new(
            "x".into(),
            h.local_addr(TransportKind::Udp).unwrap(),
            TransportKind::Udp,
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("shutting down"), "{err}");
}

#[tokio::test]
async fn request_on_tcp_with_a_udp_via_is_still_answered_on_the_connection() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let mut s = connect(h.local_addr(TransportKind::Tcp).unwrap()).await;
    s.write_all(options("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKmis", "mis-1").as_bytes())
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    let resp = SipMessage::response_to(&inc.message, 200, "OK", Some("m"));
    assert_eq!(
        h.send_response(&resp, Some(inc.connection)).await.unwrap(),
        inc.connection
    );
    let text = read_until(&mut s, "\r\n\r\n").await;
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text:?}");
    assert_eq!(h.counters().snapshot().datagrams_out, 0);
    t.shutdown(WAIT).await;
}
