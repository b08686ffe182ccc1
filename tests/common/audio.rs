//! Phones' audio for tests: a thread that sends a μ-law tone as paced RTP, what a socket hears
//! decoded, and how loud one frequency is in it (Goertzel).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hotline::media::codec::g711;
use hotline::media::rtp::{RtpHeader, RtpPacket};

/// Sends a tone of `hz` every 20 ms from a clone of a socket until dropped.
pub struct Tone {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The SSRC a tone of `hz` is sent with (so a test can tell relayed packets from mixed ones).
pub fn tone_ssrc(hz: f64) -> u32 {
    0x1000_0000 | hz as u32
}

impl Tone {
    pub fn start(sock: &UdpSocket, to: SocketAddr, hz: f64) -> Tone {
        let sock = sock.try_clone().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut n: u32 = 0;
            while !flag.load(Ordering::Relaxed) {
                let payload: Vec<u8> = (0..160)
                    .map(|i| {
                        let t = (n * 160 + i) as f64 / 8000.0;
                        let s = 4000.0 * (2.0 * std::f64::consts::PI * hz * t).sin();
                        g711::ulaw_encode(s as i16)
                    })
                    .collect();
                let pkt = RtpHeader {
                    marker: n == 0,
                    payload_type: 0,
                    sequence: n as u16,
                    timestamp: n * 160,
                    ssrc: tone_ssrc(hz),
                }
                .to_vec(&payload);
                let _ = sock.send_to(&pkt, to);
                n += 1;
                let next = start + Duration::from_millis(20 * n as u64);
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        });
        Tone {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Tone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything `sock` hears during `for_` (its read timeout must be short): decoded μ-law samples,
/// and the raw packets.
pub fn listen(sock: &UdpSocket, for_: Duration) -> (Vec<i16>, Vec<Vec<u8>>) {
    let end = Instant::now() + for_;
    let mut pcm = Vec::new();
    let mut raw = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((len, _)) = sock.recv_from(&mut buf) {
            if let Ok(p) = RtpPacket::parse(&buf[..len]) {
                if p.payload_type() == 0 {
                    pcm.extend(p.payload().iter().map(|&b| g711::ulaw_decode(b)));
                }
                raw.push(buf[..len].to_vec());
            }
        }
    }
    (pcm, raw)
}

/// The amplitude of the `hz` component of `pcm` at 8 kHz (Goertzel).
pub fn level(pcm: &[i16], hz: f64) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in pcm {
        let s = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.sqrt() / pcm.len() as f64
}

/// A tone this loud or louder is heard; below [`QUIET`] it is absent; between is a test failure.
pub const HEARD: f64 = 2000.0;
pub const QUIET: f64 = 200.0;

/// Which of `tones` are heard in `pcm` (panics on an ambiguous level).
pub fn heard(pcm: &[i16], tones: &[f64]) -> Vec<bool> {
    tones
        .iter()
        .map(|&hz| {
            let l = level(pcm, hz);
            assert!(
                !(QUIET..HEARD).contains(&l),
                "tone {hz} Hz neither clearly there nor clearly absent: level {l:.0}"
            );
            l >= HEARD
        })
        .collect()
}
