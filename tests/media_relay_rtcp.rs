//! RTCP through the relay over real UDP sockets on 127.0.0.1: each leg's RTCP socket on the odd
//! port relays sender and receiver reports to the other leg (latched like RTP), and the bridge's
//! per-leg quality reflects the loss and jitter injected on the RTP and what the reports say.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hotline::media::relay::{BridgeConfig, IoMode, MediaRelay, RelayConfig};
use hotline::media::rtcp::{ReceiverReport, ReportBlock, SenderReport};
use hotline::media::rtp::RtpHeader;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The io_uring run of a test uses the port range 1000 above its epoll run.
fn relay(io: IoMode, base: u16, pairs: u16) -> MediaRelay {
    let base = if io == IoMode::Uring {
        base + 1000
    } else {
        base
    };
    let r = MediaRelay::start(RelayConfig {
        bind_ip: LOCALHOST,
        port_min: base,
        port_max: base + 2 * pairs - 1,
        workers: 1,
        bridge: BridgeConfig {
            rtp_timeout: Duration::from_secs(30),
            relatch_after_silence: Duration::from_secs(2),
            clock_rate: 8000,
        },
        coalesce: Duration::ZERO,
        io,
    })
    .expect("relay starts");
    assert_eq!(r.io(), io, "the backend asked for");
    r
}

fn at(port: u16) -> SocketAddr {
    SocketAddr::new(LOCALHOST, port)
}

/// An endpoint's RTP socket on an even port and its RTCP socket on the port above.
fn endpoint_pair() -> (UdpSocket, UdpSocket) {
    for _ in 0..200 {
        let rtp = UdpSocket::bind((LOCALHOST, 0)).unwrap();
        let p = rtp.local_addr().unwrap().port();
        if p % 2 != 0 || p == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind((LOCALHOST, p + 1)) {
            for s in [&rtp, &rtcp] {
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            }
            return (rtp, rtcp);
        }
    }
    panic!("no free even/odd port pair on 127.0.0.1");
}

/// The next datagram within `within`, with its sender.
fn recv_one(s: &UdpSocket, within: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            return Some((buf[..n].to_vec(), from));
        }
    }
    None
}

fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc,
    }
    .to_vec(&[0xd5; 160])
}

fn sr(ssrc: u32, ntp: u64) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let n = SenderReport {
        ssrc,
        ntp_time: ntp,
        rtp_time: 8000,
        packet_count: 50,
        octet_count: 8000,
        reports: vec![],
    }
    .write(&mut buf)
    .unwrap();
    buf[..n].to_vec()
}

fn rr(ssrc: u32, about: u32, fraction: u8, jitter: u32, lsr: u32, dlsr: u32) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let n = ReceiverReport {
        ssrc,
        reports: vec![ReportBlock {
            ssrc: about,
            fraction_lost: fraction,
            cumulative_lost: 12,
            highest_seq: 50,
            jitter,
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        }],
    }
    .write(&mut buf)
    .unwrap();
    buf[..n].to_vec()
}

async fn rtcp_crosses_on_the_odd_ports_and_quality_reflects_loss_jitter_and_reports(io: IoMode) {
    let r = relay(io, 26000, 8);
    let (a_rtp, a_rtcp) = endpoint_pair();
    let (b_rtp, b_rtcp) = endpoint_pair();
    let info = r
        .create_bridge(
            Some(a_rtp.local_addr().unwrap()),
            Some(b_rtp.local_addr().unwrap()),
            None,
        )
        .unwrap();
    let (a_side, b_side) = (at(info.port_a + 1), at(info.port_b + 1));

    // A talks for a second: every 10th packet lost on the way, sent unevenly (5 ms, 35 ms gaps)
    // while its timestamps advance a steady 20 ms.
    for seq in 0..50u16 {
        if seq % 10 != 5 {
            a_rtp.send_to(&rtp(0xa, seq), at(info.port_a)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(if seq % 2 == 0 { 5 } else { 35 }));
    }

    // A's sender report reaches B's RTCP port (its SDP port + 1) from the relay's odd port.
    let ntp = 0x0000_1111_2222_0000u64;
    let a_sr = sr(0xa, ntp);
    a_rtcp.send_to(&a_sr, a_side).unwrap();
    let (got, from) = recv_one(&b_rtcp, Duration::from_secs(2)).expect("B gets A's SR");
    assert_eq!((got, from), (a_sr.clone(), b_side));

    // B answers with a receiver report on A's audio: 25 % lost, jitter 80 (10 ms), its LSR the
    // middle of A's SR and 20 ms held. It reaches A's RTCP port.
    let b_rr = rr(0xb, 0xa, 64, 80, (ntp >> 16) as u32, 1311);
    b_rtcp.send_to(&b_rr, b_side).unwrap();
    let (got, from) = recv_one(&a_rtcp, Duration::from_secs(2)).expect("A gets B's RR");
    assert_eq!((got, from), (b_rr, a_side));

    // A stranger (another port on the same host) is refused while A's RTCP is fresh.
    let stranger = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    stranger.send_to(&sr(0x666, 1), a_side).unwrap();
    // Neither RTP nor garbage passes on an RTCP port.
    a_rtcp.send_to(&rtp(0xa, 99), a_side).unwrap();
    a_rtcp.send_to(b"\x00\x01garbage", a_side).unwrap();
    // A's next report still goes through (and nothing else came first).
    let a_sr2 = sr(0xa, ntp + (1 << 32));
    a_rtcp.send_to(&a_sr2, a_side).unwrap();
    let (got, _) = recv_one(&b_rtcp, Duration::from_secs(2)).expect("A's second SR");
    assert_eq!(got, a_sr2);

    let s = r.stats(info.id).await.unwrap().unwrap();
    let [qa, qb] = s.quality;
    // Leg A as hotline received it: 45 of 50, 10 % loss, the uneven sending as jitter.
    assert_eq!((qa.rtp_packets, qa.rtp_lost), (45, 5), "{qa:?}");
    assert!((qa.loss_pct - 10.0).abs() < 1e-9, "{qa:?}");
    assert!(qa.jitter_ms > 5.0, "uneven sending shows as jitter: {qa:?}");
    assert_eq!((qa.rtcp_packets, qa.rtcp_reports), (2, 0), "{qa:?}");
    assert!(qa.mos < 4.0 && qa.r_factor < 80.0, "10 % loss: {qa:?}");
    // Leg B by its report: 25 % loss, 10 ms jitter, a round trip from the LSR it echoed.
    assert_eq!((qb.rtcp_packets, qb.rtcp_reports), (1, 1), "{qb:?}");
    assert!((qb.remote_loss_pct.unwrap() - 25.0).abs() < 1e-9, "{qb:?}");
    assert!((qb.remote_jitter_ms.unwrap() - 10.0).abs() < 1e-9, "{qb:?}");
    let rtt = qb.rtt_ms.expect("round trip from LSR/DLSR");
    assert!((0.0..1000.0).contains(&rtt), "{rtt}");
    assert!(
        qb.mos < qa.mos,
        "25 % loss is worse than 10 %: {qb:?} {qa:?}"
    );
    assert_eq!(s.rtcp[0].rx_packets, 2);
    assert_eq!(
        (s.rtcp[0].dropped_hijack, s.rtcp[0].dropped_malformed),
        (1, 2)
    );
    assert_eq!((s.rtcp[1].tx_packets, s.rtcp[0].tx_packets), (2, 1));

    // The call layer's no-wait view catches up within about a second.
    let deadline = Instant::now() + Duration::from_secs(3);
    let snap = loop {
        if let Some(q) = r.quality(info.id).filter(|q| q[1].rtcp_reports == 1) {
            break q;
        }
        assert!(Instant::now() < deadline, "quality never published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((snap[0].rtp_packets, snap[0].rtp_lost), (45, 5));

    // Destroying the bridge closes the RTCP sockets and forgets its quality.
    r.destroy(info.id).await.unwrap().unwrap();
    assert!(r.quality(info.id).is_none());
    drop(UdpSocket::bind(a_side).expect("RTCP port free after destroy"));
    drop(UdpSocket::bind(b_side).expect("RTCP port free after destroy"));
}

async fn rtcp_latches_to_a_nat_port_and_follows_a_reinvite(io: IoMode) {
    let r = relay(io, 26100, 8);
    let (a_rtp, _a_rtcp) = endpoint_pair();
    let (b_rtp, b_rtcp) = endpoint_pair();
    let info = r
        .create_bridge(
            Some(a_rtp.local_addr().unwrap()),
            Some(b_rtp.local_addr().unwrap()),
            None,
        )
        .unwrap();
    let (a_side, b_side) = (at(info.port_a + 1), at(info.port_b + 1));
    // A is behind NAT: its RTCP comes from some other port, which latches.
    let a_nat = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    a_nat
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    a_nat.send_to(&sr(0xa, 1 << 32), a_side).unwrap();
    assert!(recv_one(&b_rtcp, Duration::from_secs(2)).is_some());
    let b_rr = rr(0xb, 0xa, 0, 0, 0, 0);
    b_rtcp.send_to(&b_rr, b_side).unwrap();
    let (got, _) = recv_one(&a_nat, Duration::from_secs(2)).expect("to A's latched RTCP port");
    assert_eq!(got, b_rr);

    // A re-INVITE moves B: its RTCP now goes to the new SDP port + 1.
    let (b2_rtp, b2_rtcp) = endpoint_pair();
    r.update_remote(
        info.id,
        hotline::media::relay::Leg::B,
        b2_rtp.local_addr().unwrap(),
    )
    .unwrap();
    let a_sr = sr(0xa, 2 << 32);
    a_nat.send_to(&a_sr, a_side).unwrap();
    let (got, from) = recv_one(&b2_rtcp, Duration::from_secs(2)).expect("to B's new RTCP port");
    assert_eq!((got, from), (a_sr, b_side));
    r.destroy(info.id).await.unwrap();
}

async fn multiplexed_rtcp_reports_count_too(io: IoMode) {
    let r = relay(io, 26200, 8);
    let (a_rtp, _) = endpoint_pair();
    let (b_rtp, _) = endpoint_pair();
    let info = r
        .create_bridge(
            Some(a_rtp.local_addr().unwrap()),
            Some(b_rtp.local_addr().unwrap()),
            None,
        )
        .unwrap();
    // rtcp-mux (RFC 5761): B's report comes on its RTP port and reaches A's RTP port.
    b_rtp.send_to(&rtp(0xb, 1), at(info.port_b)).unwrap();
    let b_rr = rr(0xb, 0xa, 128, 40, 0, 0);
    b_rtp.send_to(&b_rr, at(info.port_b)).unwrap();
    let mut got = Vec::new();
    while let Some((p, _)) = recv_one(&a_rtp, Duration::from_millis(500)) {
        got.push(p);
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], b_rr);
    let s = r.destroy(info.id).await.unwrap().unwrap();
    let qb = s.quality[1];
    assert_eq!(qb.rtcp_reports, 1);
    assert!((qb.remote_loss_pct.unwrap() - 50.0).abs() < 1e-9, "{qb:?}");
    assert!((qb.remote_jitter_ms.unwrap() - 5.0).abs() < 1e-9, "{qb:?}");
}

// Every test above runs on both backends: `epoll::name` and `uring::name`.
mod epoll {
    #[tokio::test]
    async fn rtcp_crosses_on_the_odd_ports_and_quality_reflects_loss_jitter_and_reports() {
        super::rtcp_crosses_on_the_odd_ports_and_quality_reflects_loss_jitter_and_reports(
            super::IoMode::Epoll,
        )
        .await
    }
    #[tokio::test]
    async fn rtcp_latches_to_a_nat_port_and_follows_a_reinvite() {
        super::rtcp_latches_to_a_nat_port_and_follows_a_reinvite(super::IoMode::Epoll).await
    }
    #[tokio::test]
    async fn multiplexed_rtcp_reports_count_too() {
        super::multiplexed_rtcp_reports_count_too(super::IoMode::Epoll).await
    }
}
mod uring {
    #[tokio::test]
    async fn rtcp_crosses_on_the_odd_ports_and_quality_reflects_loss_jitter_and_reports() {
        super::rtcp_crosses_on_the_odd_ports_and_quality_reflects_loss_jitter_and_reports(
            super::IoMode::Uring,
        )
        .await
    }
    #[tokio::test]
    async fn rtcp_latches_to_a_nat_port_and_follows_a_reinvite() {
        super::rtcp_latches_to_a_nat_port_and_follows_a_reinvite(super::IoMode::Uring).await
    }
    #[tokio::test]
    async fn multiplexed_rtcp_reports_count_too() {
        super::multiplexed_rtcp_reports_count_too(super::IoMode::Uring).await
    }
}
