//! UDP transport over real sockets on 127.0.0.1: delivery with RFC 3581 stamping, response routing,
//! stateless error answers, drops and keepalives.

#[path = "transport_support/mod.rs"]
mod support;

use std::time::Duration;

use hotline::sip::message::SipMessage;
use hotline::sip::transport::{Outgoing, TransportKind};
use support::*;
use tokio::net::UdpSocket;

async fn client() -> UdpSocket {
    UdpSocket::bind(local0()).await.unwrap()
}

async fn recv_text(sock: &UdpSocket, within: Duration) -> Option<String> {
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(within, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn udp_request_is_delivered_with_received_and_rport_and_answered_there() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    let me = c.local_addr().unwrap();
    // The Via claims a private address and port the response could never reach.
    let req = options(
        "SIP/2.0/UDP 10.9.9.9:5090;rport;branch=z9hG4bKudp1",
        "udp-1@test",
    );
    c.send_to(req.as_bytes(), server).await.unwrap();

    let inc = next(&mut rx).await;
    assert_eq!(inc.transport, TransportKind::Udp);
    assert_eq!(inc.source, me);
    assert_eq!(inc.local, server);
    assert_eq!(inc.message.call_id().unwrap(), "udp-1@test");
    let via = inc.message.top_via().unwrap();
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(me.port())));
    assert_eq!(via.branch(), Some("z9hG4bKudp1"));

    // The core answers; routing follows received/rport back to the client's real port.
    let resp = SipMessage::response_to(&inc.message, 200, "OK", Some("srv1"));
    h.send_response(&resp, Some(inc.connection)).await.unwrap();
    let text = recv_text(&c, WAIT)
        .await
        .expect("response arrives at the rport");
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert!(text.contains("udp-1@test"));
    let snap = h.counters().snapshot();
    assert_eq!((snap.datagrams_in, snap.datagrams_out), (1, 1));
    assert_eq!(t.shutdown(WAIT).await, 0);
}

#[tokio::test]
async fn via_matching_source_without_rport_is_not_stamped() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let server = t.handle().local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    let me = c.local_addr().unwrap();
    let req = options(
        &format!("SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKudp2", me.port()),
        "udp-2",
    );
    c.send_to(req.as_bytes(), server).await.unwrap();
    let inc = next(&mut rx).await;
    let via = inc.message.top_via().unwrap();
    assert_eq!((via.received(), via.rport()), (None, None));
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn malformed_udp_request_is_answered_400_with_a_reason_and_not_delivered() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    // CSeq method does not match the request method: parseable enough to address, not valid.
    let req = options(
        "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKbad1",
        "bad-1@test",
    )
    .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    c.send_to(req.as_bytes(), server).await.unwrap();
    let text = recv_text(&c, WAIT).await.expect("a 400 comes back");
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("SIP/2.0 400 Bad Request ("), "{first}");
    assert!(
        first.len() > "SIP/2.0 400 Bad Request ()".len(),
        "reason is not empty: {first}"
    );
    assert!(text.contains("Call-ID: bad-1@test\r\n"));
    assert!(text.contains("branch=z9hG4bKbad1"));
    assert!(
        text.contains(";tag="),
        "the error response carries a To tag: {text}"
    );
    nothing(&mut rx, Duration::from_millis(100)).await;
    let snap = h.counters().snapshot();
    assert_eq!(
        (snap.parse_errors, snap.error_responses, snap.dropped),
        (1, 1, 0)
    );
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn wrong_sip_version_is_answered_505() {
    let (t, _rx) = start(udp_tcp_config()).await;
    let server = t.handle().local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    let req = options("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKv3", "v3@test").replacen(
        "SIP/2.0\r\n",
        "SIP/3.0\r\n",
        1,
    );
    c.send_to(req.as_bytes(), server).await.unwrap();
    let text = recv_text(&c, WAIT).await.expect("a 505 comes back");
    assert!(text.starts_with("SIP/2.0 505 "), "{text}");
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn garbage_is_dropped_and_counted_without_an_answer() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    c.send_to(b"\x16\x03\x01 hello? not sip at all \xff\xfe", server)
        .await
        .unwrap();
    // A malformed response is unaddressable too: never answered.
    c.send_to(b"SIP/2.0 2000 OK\r\nCall-ID: r\r\n\r\n", server)
        .await
        .unwrap();
    assert_eq!(recv_text(&c, Duration::from_millis(300)).await, None);
    nothing(&mut rx, Duration::from_millis(50)).await;
    let snap = h.counters().snapshot();
    assert_eq!(snap.datagrams_in, 2);
    assert_eq!(
        (snap.parse_errors, snap.dropped, snap.error_responses),
        (2, 2, 0)
    );
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn crlf_keepalives_are_ignored_and_counted() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    c.send_to(b"\r\n\r\n", server).await.unwrap();
    c.send_to(
        options("SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKk", "after-ka").as_bytes(),
        server,
    )
    .await
    .unwrap();
    // The request after the keepalive arrives; the keepalive itself produced nothing.
    assert_eq!(next(&mut rx).await.message.call_id().unwrap(), "after-ka");
    assert_eq!(recv_text(&c, Duration::from_millis(100)).await, None);
    let snap = h.counters().snapshot();
    assert_eq!(
        (snap.keepalives, snap.parse_errors, snap.dropped),
        (1, 0, 0)
    );
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn outgoing_datagram_and_responses_are_delivered_to_the_core() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let peer = client().await;
    let req = options("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout", "out-1");
    let id = h
        .send(Outgoing::new(
            req.clone().into(),
            peer.local_addr().unwrap(),
            TransportKind::Udp,
        ))
        .await
        .unwrap();
    let got = recv_text(&peer, WAIT).await.unwrap();
    assert_eq!(got, req);
    // The peer answers; the response is delivered as-is (responses are never stamped).
    let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout\r\n\
                From: <sip:tester@example.com>;tag=t1\r\nTo: <sip:hotline@example.com>;tag=p\r\n\
                Call-ID: out-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    peer.send_to(resp.as_bytes(), h.local_addr(TransportKind::Udp).unwrap())
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    assert_eq!(inc.connection, id);
    assert_eq!(inc.message.status_code(), Some(200));
    assert_eq!(inc.message.top_via().unwrap().received(), None);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn shutdown_stops_receiving_and_rejects_sends() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Udp).unwrap();
    assert_eq!(t.shutdown(WAIT).await, 0);
    let c = client().await;
    let _ = c
        .send_to(
            options("SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKs", "late").as_bytes(),
            server,
        )
        .await;
    nothing(&mut rx, Duration::from_millis(200)).await;
    let err = h
        .send(Outgoing::new("x".into(), server, TransportKind::Udp))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("shutting down"), "{err}");
}

#[tokio::test]
async fn stun_binding_keepalive_is_answered_with_the_mapped_address() {
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    let me = c.local_addr().unwrap();
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    req.extend_from_slice(b"tx-id-012345");
    c.send_to(&req, server).await.unwrap();
    let mut buf = [0u8; 128];
    let (n, _) = tokio::time::timeout(WAIT, c.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = &buf[..n];
    assert_eq!(&r[0..2], &[0x01, 0x01], "Binding success response");
    assert_eq!(&r[8..20], b"tx-id-012345");
    assert_eq!(u16::from_be_bytes([r[26], r[27]]) ^ 0x2112, me.port());
    nothing(&mut rx, Duration::from_millis(50)).await;
    assert_eq!(h.counters().snapshot().keepalives, 1);
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn shutdown_releases_the_udp_port() {
    let (t, _rx) = start(udp_tcp_config()).await;
    let server = t.handle().local_addr(TransportKind::Udp).unwrap();
    assert!(
        UdpSocket::bind(server).await.is_err(),
        "port is held while running"
    );
    assert_eq!(t.shutdown(WAIT).await, 0);
    UdpSocket::bind(server)
        .await
        .expect("port is free after shutdown");
}

#[tokio::test]
async fn ipv6_request_is_stamped_and_answered_over_ipv6() {
    let mut cfg = hotline::sip::transport::TransportConfig::empty();
    cfg.udp = vec!["[::1]:0".parse().unwrap(), local0()];
    let (t, mut rx) = start(cfg).await;
    let h = t.handle();
    let server6 = h.local_addrs(TransportKind::Udp)[0];
    assert!(server6.is_ipv6());
    let c = UdpSocket::bind("[::1]:0").await.unwrap();
    let me = c.local_addr().unwrap();
    let req = options(
        "SIP/2.0/UDP [2001:db8::7]:5060;rport;branch=z9hG4bKv6",
        "v6-1",
    );
    c.send_to(req.as_bytes(), server6).await.unwrap();
    let inc = next(&mut rx).await;
    let via = inc.message.top_via().unwrap();
    assert_eq!(via.received(), Some("::1"));
    assert_eq!(via.rport(), Some(Some(me.port())));
    let resp = SipMessage::response_to(&inc.message, 200, "OK", Some("v6"));
    // No connection hint: the IPv6 socket is picked by address family.
    h.send_response(&resp, None).await.unwrap();
    let text = recv_text(&c, WAIT).await.expect("response over IPv6");
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn datagram_over_the_configured_size_is_answered_513() {
    let mut cfg = udp_tcp_config();
    cfg.limits.max_message_size = 1500;
    let (t, mut rx) = start(cfg).await;
    let h = t.handle();
    let c = client().await;
    let req = message_with_body(
        "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKbig",
        "big-udp",
        3000,
    );
    c.send_to(req.as_bytes(), h.local_addr(TransportKind::Udp).unwrap())
        .await
        .unwrap();
    let text = recv_text(&c, WAIT).await.expect("a 513 comes back");
    assert!(text.starts_with("SIP/2.0 513 Message Too Large"), "{text}");
    assert!(text.contains("Call-ID: big-udp\r\n"));
    nothing(&mut rx, Duration::from_millis(50)).await;
    t.shutdown(WAIT).await;
}

#[tokio::test]
async fn mutated_datagrams_are_all_accounted_for_and_the_socket_keeps_working() {
    use rand::{Rng, SeedableRng};
    let (t, mut rx) = start(udp_tcp_config()).await;
    let h = t.handle();
    let server = h.local_addr(TransportKind::Udp).unwrap();
    let c = client().await;
    let base = options("SIP/2.0/UDP 127.0.0.1:5099;rport;branch=z9hG4bKfz", "fuzz");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    const N: u64 = 300;
    let mut delivered = 0u64;
    for _ in 0..N {
        let mut d = base.clone().into_bytes();
        for _ in 0..rng.gen_range(1..8) {
            let i = rng.gen_range(0..d.len());
            match rng.gen_range(0..3) {
                0 => d[i] = rng.gen(),
                1 => {
                    d.remove(i);
                }
                _ => {
                    let pick = b"\r\n:;<>\"[]0 ";
                    d.insert(i, pick[rng.gen_range(0..pick.len())])
                }
            }
        }
        c.send_to(&d, server).await.unwrap();
        // Drain as we go so the core queue never overflows.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(2), rx.recv()).await {
            delivered += 1;
        }
    }
    c.send_to(base.as_bytes(), server).await.unwrap();
    loop {
        let m = next(&mut rx).await;
        if m.message.call_id().ok() == Some("fuzz") && m.message.source() == base.as_bytes() {
            break;
        }
        delivered += 1;
    }
    let s = h.counters().snapshot();
    assert_eq!(s.datagrams_in, N + 1);
    assert_eq!(
        delivered + 1 + s.keepalives + s.parse_errors,
        s.datagrams_in,
        "{s:?}"
    );
    assert_eq!(s.dropped + s.error_responses, s.parse_errors, "{s:?}");
    assert!(
        s.parse_errors > 0 && delivered > 0,
        "both outcomes exercised: {s:?}"
    );
    t.shutdown(WAIT).await;
}
