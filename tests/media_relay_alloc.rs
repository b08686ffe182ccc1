//! The relay's packet path does not allocate: a counting global allocator watches the whole process while
//! RTP flows both ways through a bridge over 127.0.0.1 (this file holds a single test so nothing else runs;
//! it checks the epoll backend, then the io_uring one).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline::media::relay::{BridgeConfig, IoMode, MediaRelay, RelayConfig};
use hotline::media::rtp::RtpHeader;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Sends `count` packets each way and waits until all arrived; allocates nothing itself.
fn exchange(
    ea: &UdpSocket,
    eb: &UdpSocket,
    to_a: SocketAddr,
    to_b: SocketAddr,
    first_seq: u16,
    count: u16,
) -> usize {
    let mut pkt = [0u8; 172];
    let mut buf = [0u8; 2048];
    let mut got = 0;
    for i in 0..count {
        let seq = first_seq.wrapping_add(i);
        let h = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: seq as u32 * 160,
            ssrc: 1,
        };
        h.write_packet(&[0xd5; 160], &mut pkt).unwrap();
        ea.send_to(&pkt, to_a).unwrap();
        let h = RtpHeader { ssrc: 2, ..h };
        h.write_packet(&[0xd5; 160], &mut pkt).unwrap();
        eb.send_to(&pkt, to_b).unwrap();
        for s in [eb, ea] {
            if s.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
    }
    got
}

#[test]
fn packet_path_does_not_allocate() {
    packet_path_does_not_allocate_on(IoMode::Epoll, 25000);
    packet_path_does_not_allocate_on(IoMode::Uring, 25100);
}

fn packet_path_does_not_allocate_on(io: IoMode, port_min: u16) {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let relay = MediaRelay::start(RelayConfig {
        bind_ip: localhost,
        port_min,
        port_max: port_min + 15,
        workers: 1,
        bridge: BridgeConfig {
            rtp_timeout: Duration::from_secs(60),
            ..Default::default()
        },
        coalesce: Duration::ZERO,
        io,
    })
    .unwrap();
    assert_eq!(relay.io(), io);
    let ea = UdpSocket::bind((localhost, 0)).unwrap();
    let eb = UdpSocket::bind((localhost, 0)).unwrap();
    for s in [&ea, &eb] {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    }
    let info = relay
        .create_bridge(
            Some(ea.local_addr().unwrap()),
            Some(eb.local_addr().unwrap()),
            None,
        )
        .unwrap();
    let (to_a, to_b) = (
        SocketAddr::new(localhost, info.port_a),
        SocketAddr::new(localhost, info.port_b),
    );
    // Warm-up: bridge creation, latching and first-use allocations happen here.
    assert_eq!(exchange(&ea, &eb, to_a, to_b, 0, 20), 40);
    std::thread::sleep(Duration::from_millis(250));
    let before = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    let got = exchange(&ea, &eb, to_a, to_b, 20, 500);
    let during = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(got, 1000, "all packets relayed");
    assert_eq!(
        during,
        0,
        "{during} allocations while relaying 1000 packets in {:?} ({io})",
        t.elapsed()
    );
    relay.destroy_nowait(info.id).unwrap();
}
