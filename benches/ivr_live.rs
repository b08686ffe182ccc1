//! The IVR measured on the real server (issue 6): a release `hotline` on 127.0.0.1 serving the
//! shipped main flow, driven by Rust callers that time RTP packets, and by sipp for load.
//!
//! - `latency [CALLS]`: each caller waits for the main-menu prompt (the first packet carrying the
//!   RTP marker after the welcome: every playback is a new source, so hotline marks its first
//!   packet), presses 1 as RFC 4733 events, and times from sending the first end packet (the one
//!   that completes the digit) to the first packet of the next prompt (the next marker: the key
//!   correction "您选择的是…"). Callers start 300 ms apart so a few overlap.
//! - `load N [HOLD_S] [RATE]`: sipp places N calls (PCMU streaming from the caller all along) that
//!   sit in the welcome and the main menu for HOLD_S seconds; on the plateau, a few Rust probe
//!   callers record every prompt packet's arrival (pacing: gaps between packets, ideal 20 ms),
//!   then press 1 and time the next prompt as above. hotline's CPU is read from /proc on the
//!   plateau. sipp's own CPU is reported too: it shares the same two cores.
//!
//! Run: `RUST_LOG=warn cargo bench --bench ivr_live -- latency 30` and
//! `RUST_LOG=warn cargo bench --bench ivr_live -- load 1000 60 50`. This is a live measurement
//! (seconds of real calls), not a criterion statistic; figures go to benches/RESULTS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{free_port, tone_wav, Hotline, HotlineSetup, SippRun};
use hotline::media::dtmf::rfc4733::TelephoneEvent;
use hotline::media::rtp::{RtpHeader, RtpPacket};
use hotline::sip::message::SipMessage;

/// hotline's RTP ports, and where sipp's start: both below the kernel's ephemeral range (32768+) where the
/// probes' own sockets land.
const HOTLINE_RTP: (u16, u16) = (10_000, 19_999);
const SIPP_RTP_BASE: u16 = 24_000;

fn start() -> Hotline {
    Hotline::start(HotlineSetup {
        profiles: vec![(
            "bench.toml".into(),
            "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 5000\n\
             [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"flow:main\"\n"
                .into(),
        )],
        rtp_ports: Some(HOTLINE_RTP),
        ..HotlineSetup::default()
    })
}

/// One caller: a SIP socket and an RTP socket of its own.
struct Caller {
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
    call_id: String,
    to: String,
    media: SocketAddr,
    seq: u16,
    ts: u32,
}

fn expect(
    sock: &UdpSocket,
    within: Duration,
    want: impl Fn(&SipMessage) -> bool,
) -> Result<SipMessage, String> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Ok(m) = SipMessage::parse(buf[..n].to_vec()) {
                if want(&m) {
                    return Ok(m);
                }
            }
        }
    }
    Err("no expected SIP message in time".into())
}

fn sdp_media(body: &[u8]) -> Option<SocketAddr> {
    let text = String::from_utf8_lossy(body);
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim()
        .to_string();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())?
        .to_string();
    format!("{ip}:{port}").parse().ok()
}

impl Caller {
    /// Calls 12345 and latches hotline's media to our RTP socket.
    fn call(server: SocketAddr, tag: &str) -> Result<Caller, String> {
        let sip = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sip.set_read_timeout(Some(Duration::from_millis(100))).ok();
        let rtp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        rtp.set_read_timeout(Some(Duration::from_millis(100))).ok();
        let me = sip.local_addr().map_err(|e| e.to_string())?;
        let call_id = format!("bench-{tag}@probe");
        let offer = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            rtp.local_addr().map_err(|e| e.to_string())?.port()
        );
        let invite = SipMessage::parse(format!(
            "INVITE sip:12345@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{tag}\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=probe\r\nTo: <sip:12345@{server}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
            offer.len()
        ).into_bytes()).map_err(|e| format!("{e:?}"))?;
        sip.send_to(&invite.to_bytes(), server)
            .map_err(|e| e.to_string())?;
        let ok = expect(&sip, Duration::from_secs(10), |m| {
            m.status_code().is_some_and(|c| c >= 200)
        })?;
        if ok.status_code() != Some(200) {
            return Err(format!("INVITE answered {:?}", ok.status_code()));
        }
        let media = sdp_media(ok.body()).ok_or("no media in the answer")?;
        let to = ok.header_str("To").unwrap_or_default().to_string();
        let c = Caller {
            sip,
            rtp,
            server,
            call_id,
            to,
            media,
            seq: 1,
            ts: 0,
        };
        c.sip
            .send_to(&c.in_dialog("ACK", 1).to_bytes(), server)
            .map_err(|e| e.to_string())?;
        let latch = RtpHeader {
            marker: true,
            payload_type: 0,
            sequence: 0,
            timestamp: 0,
            ssrc: 0xca11,
        }
        .to_vec(&[0xff; 160]);
        c.rtp.send_to(&latch, c.media).map_err(|e| e.to_string())?;
        Ok(c)
    }

    fn in_dialog(&self, method: &str, cseq: u32) -> SipMessage {
        let me = self.sip.local_addr().expect("bound");
        SipMessage::parse(format!(
            "{method} sip:hotline@{sv} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq}{id}\r\nMax-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=probe\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            sv = self.server, id = self.call_id.len(), to = self.to, cid = self.call_id,
        ).into_bytes()).expect("well-formed")
    }

    fn hang_up(&self) {
        let _ = self
            .sip
            .send_to(&self.in_dialog("BYE", 2).to_bytes(), self.server);
        let _ = expect(&self.sip, Duration::from_secs(2), |m| {
            m.status_code() == Some(200)
        });
    }

    /// Waits for the next prompt's first packet (marker bit); returns when it arrived.
    fn next_prompt(&self, within: Duration) -> Result<Instant, String> {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            if let Ok(n) = self.rtp.recv(&mut buf) {
                let at = Instant::now();
                if RtpPacket::parse(&buf[..n]).is_ok_and(|p| p.marker()) {
                    return Ok(at);
                }
            }
        }
        Err("no new prompt in time".into())
    }

    /// Records the arrival of every packet for `secs`: the prompt's pacing as the caller hears it.
    fn arrivals(&self, secs: Duration) -> Vec<Instant> {
        let deadline = Instant::now() + secs;
        let mut buf = [0u8; 2048];
        let mut v = Vec::new();
        while Instant::now() < deadline {
            if let Ok(n) = self.rtp.recv(&mut buf) {
                if RtpPacket::parse(&buf[..n]).is_ok() {
                    v.push(Instant::now());
                }
            }
        }
        v
    }

    /// Drops whatever audio is queued, so the next read is fresh.
    fn drain(&self) {
        self.rtp.set_nonblocking(true).ok();
        let mut buf = [0u8; 2048];
        while self.rtp.recv(&mut buf).is_ok() {}
        self.rtp.set_nonblocking(false).ok();
    }

    /// Presses `key`: three updates 20 ms apart, then the three end packets back to back (the
    /// first completes the digit). Returns when the first end packet left.
    fn press(&mut self, key: u8) -> Instant {
        self.ts = self.ts.wrapping_add(8000);
        let mut sent = None;
        for k in 0..6u16 {
            let ev = TelephoneEvent {
                event: key,
                end: k >= 3,
                volume: 10,
                duration: 160 * (k.min(3) + 1),
            };
            let pkt = RtpHeader {
                marker: k == 0,
                payload_type: 101,
                sequence: self.seq,
                timestamp: self.ts,
                ssrc: 0xca11,
            }
            .to_vec(&ev.to_bytes());
            self.seq = self.seq.wrapping_add(1);
            if k == 3 {
                sent = Some(Instant::now());
            }
            let _ = self.rtp.send_to(&pkt, self.media);
            if k < 3 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        sent.expect("k == 3 ran")
    }
}

/// One latency sample: wait for the main menu, press 1, time the key-correction prompt.
fn sample(server: SocketAddr, tag: &str) -> Result<Duration, String> {
    let mut c = Caller::call(server, tag)?;
    let r = (|| {
        c.next_prompt(Duration::from_secs(15))?; // the main menu starts after the welcome
        std::thread::sleep(Duration::from_millis(300));
        c.drain();
        let pressed = c.press(1);
        let heard = c.next_prompt(Duration::from_secs(5))?;
        Ok(heard.saturating_duration_since(pressed))
    })();
    c.hang_up();
    r
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report_latency(label: &str, mut ms: Vec<f64>, failed: usize) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label}: n={} failed={failed} min {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        percentile(&ms, 0.0),
        percentile(&ms, 0.5),
        percentile(&ms, 0.9),
        percentile(&ms, 0.99),
        percentile(&ms, 1.0)
    );
}

fn latency(calls: usize) {
    let h = start();
    let server = h.sip;
    let threads: Vec<_> = (0..calls)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(300));
            std::thread::spawn(move || sample(server, &format!("lat{i}")))
        })
        .collect();
    let (mut ok, mut failed) = (Vec::new(), 0);
    for t in threads {
        match t.join().unwrap_or_else(|_| Err("panicked".into())) {
            Ok(d) => ok.push(d.as_secs_f64() * 1000.0),
            Err(e) => {
                failed += 1;
                eprintln!("sample failed: {e}");
            }
        }
    }
    report_latency(
        "last digit → first RTP packet of the next prompt",
        ok,
        failed,
    );
}

/// CPU time (user + system) of a process in clock ticks, from /proc/PID/stat.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn rss_mb(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn load(n: u32, hold_s: u32, rate: u32) {
    const PROBES: usize = 8;
    let h = start();
    let hl_pid = h.child.id();
    let wav = tone_wav(h.path());
    let ramp = Duration::from_secs_f64(f64::from(n) / f64::from(rate));
    let mut sipp = SippRun {
        remote: Some(h.sip),
        wav: Some(wav),
        calls: n,
        rate,
        hold_ms: hold_s * 1000,
        timeout_s: hold_s + ramp.as_secs() as u32 + 60,
        extra: vec![
            "-l".into(),
            n.to_string(),
            "-trace_stat".into(),
            "-fd".into(),
            "5".into(),
        ],
        // sipp 3.6 takes each call's rtp_stream port upward from -mp.
        media_port: SIPP_RTP_BASE,
        ..SippRun::new("carrier_call_rtp.xml", free_port())
    }
    .spawn(h.path());
    let sipp_pid = sipp.child.id();
    std::thread::sleep(ramp + Duration::from_secs(3));
    if let Ok(Some(_)) = sipp.child.try_wait() {
        panic!("sipp ended before the plateau: {:?}", sipp.wait().err());
    }
    // sipp runs under `timeout`; its CPU is that of the child process.
    let sipp_real = std::fs::read_to_string(format!("/proc/{sipp_pid}/task/{sipp_pid}/children"))
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u32>().ok())
        });
    let active = h.metric("hotline_active_calls");
    println!("plateau: hotline_active_calls = {active:?} (offered {n})");

    // On the plateau: CPU over a window, and probes timing prompt pacing and a digit each.
    let tick = 100.0; // USER_HZ on Linux
    let window = Duration::from_secs(10);
    let (hl0, sp0, t0) = (
        cpu_ticks(hl_pid),
        sipp_real.and_then(cpu_ticks),
        Instant::now(),
    );
    let server = h.sip;
    let probes: Vec<_> = (0..PROBES)
        .map(|i| {
            std::thread::spawn(move || -> Result<(Vec<f64>, Duration), String> {
                let mut c = Caller::call(server, &format!("probe{i}"))?;
                let r = (|| {
                    // Pacing inside the welcome prompt (6.3 s long, no gaps of its own).
                    std::thread::sleep(Duration::from_millis(500));
                    c.drain();
                    let at = c.arrivals(Duration::from_secs(4));
                    let gaps: Vec<f64> = at
                        .windows(2)
                        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
                        .collect();
                    c.next_prompt(Duration::from_secs(15))?;
                    std::thread::sleep(Duration::from_millis(300));
                    c.drain();
                    let pressed = c.press(1);
                    let heard = c.next_prompt(Duration::from_secs(5))?;
                    Ok((gaps, heard.saturating_duration_since(pressed)))
                })();
                c.hang_up();
                r
            })
        })
        .collect();
    std::thread::sleep(window);
    let (hl1, sp1, t1) = (
        cpu_ticks(hl_pid),
        sipp_real.and_then(cpu_ticks),
        Instant::now(),
    );
    let secs = (t1 - t0).as_secs_f64();
    let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.1} %", (b - a) as f64 / tick / secs * 100.0),
        _ => "n/a".into(),
    };
    println!(
        "plateau CPU over {secs:.1} s: hotline {} of a core (RSS {:.0} MB), sipp {} of a core",
        pct(hl0, hl1),
        rss_mb(hl_pid).unwrap_or(f64::NAN),
        pct(sp0, sp1)
    );
    let (mut gaps, mut lat, mut failed) = (Vec::new(), Vec::new(), 0);
    for p in probes {
        match p.join().unwrap_or_else(|_| Err("panicked".into())) {
            Ok((g, l)) => {
                gaps.extend(g);
                lat.push(l.as_secs_f64() * 1000.0);
            }
            Err(e) => {
                failed += 1;
                eprintln!("probe failed: {e}");
            }
        }
    }
    println!(
        "plateau after probes: hotline_active_calls = {:?}",
        h.metric("hotline_active_calls")
    );
    gaps.sort_by(|a, b| a.total_cmp(b));
    let late = gaps.iter().filter(|&&g| g > 30.0).count();
    println!(
        "prompt pacing at the probes: {} gaps, p1 {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {late} gaps > 30 ms",
        gaps.len(),
        percentile(&gaps, 0.01),
        percentile(&gaps, 0.5),
        percentile(&gaps, 0.99),
        percentile(&gaps, 1.0)
    );
    report_latency("under load: last digit → next prompt", lat, failed);
    let res = sipp.wait();
    println!(
        "sipp: {}",
        match &res {
            Ok(()) => "all calls completed".to_string(),
            Err(e) => e.lines().take(3).collect::<Vec<_>>().join(" | "),
        }
    );
    println!(
        "hotline counters: calls_total {:?}, calls_failed_total {:?}",
        h.metric("hotline_calls_total"),
        h.metric("hotline_calls_failed_total")
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let num = |i: usize, d: u32| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("latency") => latency(num(1, 30) as usize),
        Some("load") => load(num(1, 1000), num(2, 60), num(3, 50)),
        _ => {
            // `cargo bench` with no arguments: the quick latency run only (loads are explicit).
            latency(10);
        }
    }
}
