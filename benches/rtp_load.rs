//! Bounded load run of the media relay over 127.0.0.1: N bridges, 50 packets/s each way per bridge (20 ms
//! G.711 frames, 172-byte datagrams), for a few seconds; reports the relay worker threads' CPU time read from
//! /proc/self/task/*/schedstat, per call and per packet.
//!
//! Run: `cargo bench --bench rtp_load -- [--secs 5] [--workers 1] [--coalesce-us 0] [--io auto|uring|epoll] [--gen-threads 1] [--port-min 10000] [--port-max 19999] [--record DIR] [--three-way] [--rtcp] 500 1000 2000`
//! (`--io`: the relay workers' backend, io_uring or epoll with recvmmsg/sendmmsg; default auto;
//! `--gen-threads T`: T generator threads share the calls, for when one cannot offer the full rate);
//! (`--record DIR`: every call is also recorded to stereo WAVs under DIR, emptied before each run;
//! `--three-way`: every call has a third party and all three talk through the relay's mixer, so each
//! call decodes three streams, mixes three mix-minus frames and encodes three every 20 ms;
//! `--rtcp`: each leg also sends an RTCP receiver report every 5 s to the relay's odd port, which
//! the relay reads for the call's quality and relays to the other leg).
//!
//! The generator uses two sockets (all A legs latch to one, all B legs to the other) and sendmmsg/recvmmsg,
//! so it costs far less than the relay it drives. On loopback the kernel's delivery into the receiving
//! socket runs in the sender's context, so the relay's figure includes delivering its output.
//!
//! Recorded 2026-11-22 on the shared 2-core dev VM (load average ~15 from other builds, so the generator
//! could not offer the full rate; the per-packet figure is the one to read):
//! N=500: 6.9 us/packet, N=1000: 6.3 us/packet, N=2000: 7.9 us/packet => ~1,300-1,600 calls per core
//! (100 packets/s per call). The sans-IO part is ~70 ns (pass-through) to ~110 ns (rewriting) per packet
//! (`cargo bench --bench rtp_relay`); the rest is recvmmsg/sendmmsg and loopback delivery.
//!
//! 2026-12-06, same VM at load 3–7: `--io uring` 3.1–3.9 µs per packet (2,000 calls at the full
//! 200,000 pkt/s on 63 % of a core, ~3,000 calls per core) against 4.4–7.6 µs on epoll; the generator
//! tops out near 200,000 pkt/s here. benches/RESULTS.md, "Media relay", has the runs.

use std::fs;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::media::relay::{BridgeConfig, IoMode, Leg, MediaRelay, MixMode, RelayConfig};
use hotline::media::rtcp::{ReceiverReport, ReportBlock};
use hotline::media::rtp::RtpHeader;

const PKT_LEN: usize = 172;
const BATCH: usize = 64;
const FRAME: Duration = Duration::from_millis(20);
const SLICES: usize = 20; // the 20 ms frame is spread over 1 ms ticks

/// CPU nanoseconds used so far by the relay's worker threads.
fn relay_cpu_ns() -> u64 {
    threads_cpu_ns("media-relay")
}

/// CPU nanoseconds used so far by this process's threads whose name starts with `prefix`.
fn threads_cpu_ns(prefix: &str) -> u64 {
    let mut total = 0;
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for e in dir.flatten() {
        let p = e.path();
        let comm = fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.trim().starts_with(prefix) {
            let s = fs::read_to_string(p.join("schedstat")).unwrap_or_default();
            total += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

fn process_cpu_ns() -> u64 {
    // SAFETY: getrusage fills a plain struct.
    let mut ru: libc::rusage = unsafe { mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn set_bufs(s: &UdpSocket, bytes: libc::c_int) {
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: setsockopt with a valid int option.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &bytes as *const _ as *const libc::c_void,
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}

/// A sendmmsg batch of fixed-size RTP packets to 127.0.0.1 ports.
struct SendBatch {
    bufs: Vec<[u8; PKT_LEN]>,
    names: Vec<libc::sockaddr_in>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    len: usize,
}

impl SendBatch {
    fn new() -> Self {
        // SAFETY: all-zero is valid for these C structs.
        let (name, hdr) = unsafe {
            (
                mem::zeroed::<libc::sockaddr_in>(),
                mem::zeroed::<libc::mmsghdr>(),
            )
        };
        SendBatch {
            bufs: vec![[0u8; PKT_LEN]; BATCH],
            names: vec![name; BATCH],
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            hdrs: vec![hdr; BATCH],
            len: 0,
        }
    }
    fn push(&mut self, fd: i32, port: u16, h: RtpHeader) -> u64 {
        let k = self.len;
        let _ = h.write_packet(&[0xd5; PKT_LEN - 12], &mut self.bufs[k]);
        self.names[k].sin_family = libc::AF_INET as libc::sa_family_t;
        self.names[k].sin_port = port.to_be();
        self.names[k].sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
        self.len += 1;
        if self.len == BATCH {
            self.flush(fd)
        } else {
            0
        }
    }
    fn flush(&mut self, fd: i32) -> u64 {
        for k in 0..self.len {
            self.iov[k] = libc::iovec {
                iov_base: self.bufs[k].as_mut_ptr() as *mut _,
                iov_len: PKT_LEN,
            };
            self.hdrs[k].msg_hdr.msg_iov = &mut self.iov[k];
            self.hdrs[k].msg_hdr.msg_iovlen = 1;
            self.hdrs[k].msg_hdr.msg_name = &mut self.names[k] as *mut _ as *mut libc::c_void;
            self.hdrs[k].msg_hdr.msg_namelen =
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        }
        let mut sent = 0usize;
        let mut guard = 0;
        while sent < self.len && guard < 1000 {
            guard += 1;
            // SAFETY: headers point at live buffers owned by self.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[sent..].as_mut_ptr(),
                    (self.len - sent) as u32,
                    0,
                )
            };
            if r <= 0 {
                sent += 1; // skip a refused datagram
            } else {
                sent += r as usize;
            }
        }
        let n = self.len as u64;
        self.len = 0;
        n
    }
}

fn receiver(sock: UdpSocket, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut bufs = vec![[0u8; 256]; BATCH];
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut _,
            iov_len: 256,
        })
        .collect();
    // SAFETY: zeroed mmsghdr is valid; pointers set below point into live vectors.
    let mut hdrs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
    }
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: as above.
        let r = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r > 0 {
            count.fetch_add(r as u64, Ordering::Relaxed);
        }
    }
}

struct Outcome {
    n: usize,
    io: IoMode,
    secs: f64,
    sent_pps: f64,
    recv_pps: f64,
    relay_core: f64,
    process_core: f64,
    /// The busiest generator thread's share of a core (near 100 %: the generator is the limit).
    gen_core: f64,
}

/// How the relay under load runs.
struct RelayOpts {
    workers: usize,
    coalesce: Duration,
    io: IoMode,
    /// Generator threads (each sends for every T-th call from clones of the same sockets).
    gen_threads: usize,
    /// The relay's port range (each call takes four ports: RTP and RTCP of two legs).
    ports: (u16, u16),
}

fn run(
    n: usize,
    secs: u64,
    RelayOpts {
        workers,
        coalesce,
        io,
        gen_threads,
        ports: (port_min, port_max),
    }: RelayOpts,
    record: Option<&std::path::Path>,
    three_way: bool,
    rtcp: bool,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    // With --record, every bridge is also recorded (decode, jitter buffer, stereo WAV on disk).
    let (rec_tx, _rec_rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = match record {
        Some(dir) => Some(hotline::media::recorder::Recorder::spawn(
            hotline::media::recorder::RecorderConfig::new(dir),
            rec_tx,
        )?),
        None => None,
    };
    let relay = MediaRelay::start(RelayConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port_min,
        port_max,
        workers,
        bridge: BridgeConfig {
            rtp_timeout: Duration::from_secs(120),
            ..Default::default()
        },
        coalesce,
        io,
    })?;
    let io = relay.io();
    let ga = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let gb = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let gc = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    set_bufs(&ga, 4 << 20);
    set_bufs(&gb, 4 << 20);
    set_bufs(&gc, 4 << 20);
    let (addr_a, addr_b, addr_c): (SocketAddr, SocketAddr, SocketAddr) =
        (ga.local_addr()?, gb.local_addr()?, gc.local_addr()?);
    // RTCP from every A leg comes from one socket, from every B leg from another (they latch);
    // what the relay sends back piles up in their buffers unread (the kernel drops the excess).
    let (rtcp_a, rtcp_b) = (
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?,
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?,
    );
    let mut report = [0u8; 64];
    let report_len = ReceiverReport {
        ssrc: 1,
        reports: vec![ReportBlock {
            ssrc: 2,
            fraction_lost: 3,
            jitter: 40,
            ..ReportBlock::default()
        }],
    }
    .write(&mut report)?;
    let mut ports = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let info = relay.create_bridge(Some(addr_a), Some(addr_b), None)?;
        let mut pc = None;
        if three_way {
            let third = relay.create_bridge_near(info.id, Some(addr_c), None, None)?;
            for (id, leg) in [(info.id, Leg::A), (info.id, Leg::B), (third.id, Leg::A)] {
                relay.mix_join(info.id, id, leg, MixMode::Normal)?;
            }
            pc = Some(third.port_a);
            ids.push(third.id);
        }
        ports.push((info.port_a, info.port_b, pc));
        ids.push(info.id);
        if let Some(r) = &recorder {
            relay.record(info.id, r.handle().start(hotline::store::now_ms())?)?;
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let got = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let rx = [ga.try_clone()?, gb.try_clone()?, gc.try_clone()?].map(|s| {
        let (stop, got) = (stop.clone(), got.clone());
        std::thread::spawn(move || receiver(s, stop, got))
    });
    let gen_threads = gen_threads.clamp(1, 8);
    let mut tx = Vec::with_capacity(gen_threads);
    for t in 0..gen_threads {
        let (stop, sent) = (stop.clone(), sent.clone());
        let (ga, gb, gc) = (ga.try_clone()?, gb.try_clone()?, gc.try_clone()?);
        let (rtcp_a, rtcp_b) = (rtcp_a.try_clone()?, rtcp_b.try_clone()?);
        let ports = ports.clone();
        tx.push(
            std::thread::Builder::new()
                .name(format!("load-gen-{t}"))
                .spawn(move || {
                    let (fa, fb, fc) = (ga.as_raw_fd(), gb.as_raw_fd(), gc.as_raw_fd());
                    let mut ba = SendBatch::new();
                    let mut bb = SendBatch::new();
                    let mut bc = SendBatch::new();
                    let start = Instant::now();
                    let tick = FRAME / SLICES as u32;
                    let mut k: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let slice = (k % SLICES as u64) as usize;
                        let frame = (k / SLICES as u64) as u32;
                        let mut s = 0;
                        for i in (slice..n)
                            .step_by(SLICES)
                            .filter(|i| (i / SLICES) % gen_threads == t)
                        {
                            let (pa, pb, pc) = ports[i];
                            let h = RtpHeader {
                                marker: false,
                                payload_type: 0,
                                sequence: frame as u16,
                                timestamp: frame.wrapping_mul(160),
                                ssrc: i as u32,
                            };
                            s += ba.push(fa, pa, h);
                            s += bb.push(
                                fb,
                                pb,
                                RtpHeader {
                                    ssrc: 0x8000_0000 | i as u32,
                                    ..h
                                },
                            );
                            if let Some(pc) = pc {
                                s += bc.push(
                                    fc,
                                    pc,
                                    RtpHeader {
                                        ssrc: 0x4000_0000 | i as u32,
                                        ..h
                                    },
                                );
                            }
                            // One report per leg every 250 frames (5 s), spread over the calls.
                            if rtcp && frame % 250 == (i / SLICES) as u32 % 250 {
                                let r = &report[..report_len];
                                let _ = rtcp_a.send_to(r, (Ipv4Addr::LOCALHOST, pa + 1));
                                let _ = rtcp_b.send_to(r, (Ipv4Addr::LOCALHOST, pb + 1));
                            }
                        }
                        s += ba.flush(fa) + bb.flush(fb) + bc.flush(fc);
                        sent.fetch_add(s, Ordering::Relaxed);
                        k += 1;
                        let next = start + tick * k as u32;
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                    }
                })?,
        );
    }
    std::thread::sleep(Duration::from_secs(1)); // warm-up: latching, caches
    let gen_cpu = || {
        (0..gen_threads)
            .map(|t| threads_cpu_ns(&format!("load-gen-{t}")))
            .collect::<Vec<_>>()
    };
    let gen0 = gen_cpu();
    let (c0, p0, s0, g0, t0) = (
        relay_cpu_ns(),
        process_cpu_ns(),
        sent.load(Ordering::Relaxed),
        got.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, p1, s1, g1, t1) = (
        relay_cpu_ns(),
        process_cpu_ns(),
        sent.load(Ordering::Relaxed),
        got.load(Ordering::Relaxed),
        Instant::now(),
    );
    let gen1 = gen_cpu();
    stop.store(true, Ordering::Relaxed);
    for h in tx {
        let _ = h.join();
    }
    for h in rx {
        let _ = h.join();
    }
    for id in ids {
        let _ = relay.destroy_nowait(id);
    }
    drop(relay);
    drop(recorder);
    let wall = (t1 - t0).as_secs_f64();
    Ok(Outcome {
        n,
        io,
        secs: wall,
        sent_pps: (s1 - s0) as f64 / wall,
        recv_pps: (g1 - g0) as f64 / wall,
        relay_core: (c1 - c0) as f64 / 1e9 / wall,
        process_core: (p1 - p0) as f64 / 1e9 / wall,
        gen_core: gen1
            .iter()
            .zip(&gen0)
            .map(|(b, a)| (b - a) as f64 / 1e9 / wall)
            .fold(0.0, f64::max),
    })
}

fn main() {
    let mut secs = 5u64;
    let mut workers = 1usize;
    let mut coalesce_us = 0u64;
    let mut record: Option<std::path::PathBuf> = None;
    let mut three_way = false;
    let mut rtcp = false;
    let mut io = IoMode::Auto;
    let mut gen_threads = 1usize;
    let (mut port_min, mut port_max) = (10000u16, 19999u16);
    let mut ns = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => {
                secs = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(5)
                    .clamp(1, 60)
            }
            "--workers" => workers = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            "--coalesce-us" => coalesce_us = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--record" => record = args.next().map(Into::into),
            "--three-way" => three_way = true,
            "--rtcp" => rtcp = true,
            "--port-min" => port_min = args.next().and_then(|v| v.parse().ok()).unwrap_or(port_min),
            "--port-max" => port_max = args.next().and_then(|v| v.parse().ok()).unwrap_or(port_max),
            "--gen-threads" => gen_threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            "--io" => {
                io = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("--io takes auto, uring or epoll"))
            }
            "--bench" => {}
            other => {
                if let Ok(n) = other.parse::<usize>() {
                    ns.push(n.min(if three_way { 1200 } else { 3000 }));
                }
            }
        }
    }
    if ns.is_empty() {
        ns = vec![500, 1000, 2000];
    }
    let parties = if three_way { 3 } else { 2 };
    println!(
        "media relay load: {secs} s per run, {workers} worker(s), io {io}, coalesce {coalesce_us} us, {parties} parties per call{}, 50 pkt/s from and to each{}",
        if three_way { " (mixed)" } else { "" },
        if rtcp { ", an RTCP report per leg every 5 s" } else { "" }
    );
    for n in ns {
        if let Some(dir) = &record {
            // Each run starts with an empty store, so the disk holds one run's files at most.
            let _ = fs::remove_dir_all(dir);
        }
        match run(
            n,
            secs,
            RelayOpts {
                workers,
                coalesce: Duration::from_micros(coalesce_us),
                io,
                gen_threads,
                ports: (port_min, port_max),
            },
            record.as_deref(),
            three_way,
            rtcp,
        ) {
            Ok(o) => {
                let per_call_us = o.relay_core * 1e6 / o.n as f64; // µs of CPU per second per call
                let per_pkt_ns = o.relay_core * 1e9 / o.recv_pps.max(1.0);
                println!(
                    "N={:5} calls ({}) | offered {:7.0} pkt/s, relayed {:7.0} pkt/s ({:.2}% lost) | relay CPU {:5.1}% of a core \
                     ({:.1} us/s per call, {:.0} ns per packet) | whole process {:5.1}%, busiest generator thread {:5.1}% | projected calls per core ~{:.0} | {:.1} s",
                    o.n,
                    o.io,
                    o.sent_pps,
                    o.recv_pps,
                    100.0 * (1.0 - o.recv_pps / o.sent_pps.max(1.0)),
                    o.relay_core * 100.0,
                    per_call_us,
                    per_pkt_ns,
                    o.process_core * 100.0,
                    o.gen_core * 100.0,
                    // A call sends 50 packets/s to each party: project from the measured cost per
                    // packet, which stays honest when the generator could not offer the full rate.
                    1e9 / (per_pkt_ns.max(1.0) * 50.0 * parties as f64),
                    o.secs
                );
            }
            Err(e) => println!("N={n}: failed: {e}"),
        }
    }
}
