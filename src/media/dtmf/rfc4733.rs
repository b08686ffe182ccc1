//! RFC 4733 telephone-event payloads: parse/build, a sans-IO receive-side detector that reports each key
//! press exactly once with its duration, and the packet sequence a sender emits for one digit.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// The 4-byte telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9, 10 `*`, 11 `#`, 12–15 A–D, others (e.g. 32 ANS) per RFC 4734.
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Duration so far in RTP timestamp units.
    pub duration: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfError {
    /// Payload shorter than 4 bytes.
    TooShort(usize),
    /// Not a DTMF key character.
    UnknownDigit(char),
    /// Sender arguments out of range (zero packet time, over-long press).
    BadParameters(&'static str),
}

impl fmt::Display for DtmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtmfError::TooShort(n) => write!(f, "telephone-event payload of {n} bytes, need 4"),
            DtmfError::UnknownDigit(c) => write!(f, "{c:?} is not a DTMF key"),
            DtmfError::BadParameters(what) => write!(f, "DTMF sender: {what}"),
        }
    }
}

impl std::error::Error for DtmfError {}

impl TelephoneEvent {
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(TelephoneEvent {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3f,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(DtmfError::TooShort(payload.len())),
        }
    }

    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// The key for an event code, if it is one of the 16 DTMF keys.
pub fn event_to_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// The event code for a DTMF key (`0-9 * # A-D`, case-insensitive letters).
pub fn char_to_event(c: char) -> Result<u8, DtmfError> {
    match c {
        '0'..='9' => Ok(c as u8 - b'0'),
        '*' => Ok(10),
        '#' => Ok(11),
        'A'..='D' => Ok(c as u8 - b'A' + 12),
        'a'..='d' => Ok(c as u8 - b'a' + 12),
        _ => Err(DtmfError::UnknownDigit(c)),
    }
}

/// How a reported press ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEnd {
    /// An end packet arrived.
    EndPacket,
    /// No end packet: the event went quiet for the detector's end timeout.
    Timeout,
    /// No end packet: a new event started.
    Superseded,
}

/// One key press, reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    pub event: u8,
    /// The key, for the 16 DTMF events.
    pub key: Option<char>,
    /// Total duration in RTP timestamp units (long presses summed across segments).
    pub duration: u32,
    /// The same in milliseconds at the detector's clock rate.
    pub duration_ms: u32,
    /// RTP timestamp of the event's start.
    pub start_ts: u32,
    pub ended_by: DtmfEnd,
}

#[derive(Debug, Clone)]
struct Current {
    event: u8,
    first_ts: u32,
    seg_ts: u32,
    seg_duration: u16,
    last_seen: Instant,
    ended: bool,
}

impl Current {
    fn total(&self) -> u32 {
        self.seg_ts
            .wrapping_sub(self.first_ts)
            .wrapping_add(self.seg_duration as u32)
    }
}

/// Receive side: feed every telephone-event RTP packet, then drain [`DtmfDetector::poll_digit`].
///
/// Packets of one event share an RTP timestamp; the three end packets and any retransmission after the end
/// are de-duplicated by it. A press longer than the 16-bit duration field continues in a new segment (new
/// timestamp, no marker, RFC 4733 §2.5.1.3) and is summed into one digit.
#[derive(Debug)]
pub struct DtmfDetector {
    clock_rate: u32,
    end_timeout: Duration,
    current: Option<Current>,
    out: VecDeque<DtmfDigit>,
}

const MAX_QUEUED: usize = 64;

impl DtmfDetector {
    /// `end_timeout`: how long an event may go without packets before it is reported without an end packet.
    pub fn new(clock_rate: u32, end_timeout: Duration) -> Self {
        DtmfDetector {
            clock_rate: clock_rate.max(1),
            end_timeout,
            current: None,
            out: VecDeque::new(),
        }
    }

    /// Handles one telephone-event packet: its RTP timestamp, marker bit and payload.
    pub fn on_packet(
        &mut self,
        ts: u32,
        marker: bool,
        payload: &[u8],
        now: Instant,
    ) -> Result<(), DtmfError> {
        let ev = TelephoneEvent::parse(payload)?;
        if let Some(c) = &mut self.current {
            if c.seg_ts == ts && c.event == ev.event {
                if c.ended {
                    return Ok(()); // repeated end packet or a late retransmission
                }
                c.seg_duration = c.seg_duration.max(ev.duration);
                c.last_seen = now;
                if ev.end {
                    self.finish(DtmfEnd::EndPacket);
                }
                return Ok(());
            }
            let ahead = ts.wrapping_sub(c.seg_ts);
            if c.event == ev.event && !c.ended && !marker && ahead > 0 && ahead <= 0x1_0000 {
                // Long press: the next segment of the same event.
                c.seg_ts = ts;
                c.seg_duration = ev.duration;
                c.last_seen = now;
                if ev.end {
                    self.finish(DtmfEnd::EndPacket);
                }
                return Ok(());
            }
            if ahead >= 0x8000_0000 {
                return Ok(()); // older than the current event: a stray late packet
            }
            if !c.ended {
                self.finish(DtmfEnd::Superseded);
            }
        }
        self.current = Some(Current {
            event: ev.event,
            first_ts: ts,
            seg_ts: ts,
            seg_duration: ev.duration,
            last_seen: now,
            ended: false,
        });
        if ev.end {
            self.finish(DtmfEnd::EndPacket);
        }
        Ok(())
    }

    fn finish(&mut self, how: DtmfEnd) {
        let Some(c) = &mut self.current else { return };
        c.ended = true;
        let duration = c.total();
        let digit = DtmfDigit {
            event: c.event,
            key: event_to_char(c.event),
            duration,
            duration_ms: (duration as u64 * 1000 / self.clock_rate as u64) as u32,
            start_ts: c.first_ts,
            ended_by: how,
        };
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
        }
        self.out.push_back(digit);
    }

    /// Reports an event whose end packets were all lost, once it has been quiet for the end timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(c) = &self.current {
            if !c.ended && now.saturating_duration_since(c.last_seen) >= self.end_timeout {
                self.finish(DtmfEnd::Timeout);
            }
        }
    }

    /// When [`Self::handle_timeout`] next needs calling, if an event is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current
            .as_ref()
            .filter(|c| !c.ended)
            .map(|c| c.last_seen + self.end_timeout)
    }

    /// The next completed press.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.out.pop_front()
    }
}

/// One packet of an outgoing digit: send it `at` after the start, with RTP timestamp = start timestamp +
/// `ts_offset`, the marker bit as given, and its own next sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    pub at: Duration,
    pub marker: bool,
    pub ts_offset: u32,
    pub payload: TelephoneEvent,
}

/// Longest press the sender generates.
pub const MAX_PRESS: Duration = Duration::from_secs(60);

/// The packets for one key press: one per `ptime` with growing duration (marker on the first), long presses
/// split into segments of at most 0xFFFF units, then the final duration three times with the E bit.
pub fn digit_packets(
    key: char,
    duration: Duration,
    volume: u8,
    ptime: Duration,
    clock_rate: u32,
) -> Result<Vec<DtmfPacket>, DtmfError> {
    let event = char_to_event(key)?;
    if ptime.is_zero() || clock_rate == 0 {
        return Err(DtmfError::BadParameters(
            "packet time and clock rate must be positive",
        ));
    }
    if duration > MAX_PRESS || duration < ptime {
        return Err(DtmfError::BadParameters(
            "duration must be between one packet time and 60 s",
        ));
    }
    let step = (ptime.as_micros() as u64 * clock_rate as u64 / 1_000_000) as u32;
    let total = (duration.as_micros() as u64 * clock_rate as u64 / 1_000_000) as u32;
    if step == 0 || step > 0xffff {
        return Err(DtmfError::BadParameters(
            "packet time out of range for the clock rate",
        ));
    }
    // Longest segment that is a whole number of steps and fits the 16-bit duration.
    let seg_len = (0xffff / step) * step;
    let mut out = Vec::with_capacity((total / step) as usize + 4);
    let mut elapsed = 0u32; // units since the start, of the packet being built
    let mut k = 0u32;
    while elapsed < total {
        elapsed = (elapsed + step).min(total);
        let seg_start = ((elapsed - 1) / seg_len) * seg_len;
        out.push(DtmfPacket {
            at: ptime * k,
            marker: k == 0,
            ts_offset: seg_start,
            payload: TelephoneEvent {
                event,
                end: false,
                volume: volume & 0x3f,
                duration: (elapsed - seg_start) as u16,
            },
        });
        k += 1;
    }
    let last = out
        .last()
        .copied()
        .ok_or(DtmfError::BadParameters("empty press"))?;
    for i in 0..3 {
        out.push(DtmfPacket {
            at: ptime * (k + i),
            marker: false,
            payload: TelephoneEvent {
                end: true,
                ..last.payload
            },
            ..last
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn payload_round_trip_and_wire_bytes() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.to_bytes(), [11, 0x8a, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()).unwrap(), e);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort(3))
        );
        // The R bit (0x40) is reserved and ignored.
        assert_eq!(
            TelephoneEvent::parse(&[5, 0x40 | 7, 0, 1]).unwrap().volume,
            7
        );
    }

    #[test]
    fn key_mapping() {
        let keys = "0123456789*#ABCD";
        for (i, k) in keys.chars().enumerate() {
            assert_eq!(char_to_event(k).unwrap(), i as u8);
            assert_eq!(event_to_char(i as u8), Some(k));
        }
        assert_eq!(char_to_event('d').unwrap(), 15);
        assert_eq!(char_to_event('x'), Err(DtmfError::UnknownDigit('x')));
        assert_eq!(event_to_char(16), None);
    }

    #[test]
    fn three_end_packets_report_once() {
        let t0 = Instant::now();
        let mut d = DtmfDetector::new(8000, Duration::from_millis(500));
        d.on_packet(1000, true, &ev(5, false, 160), t0).unwrap();
        d.on_packet(1000, false, &ev(5, false, 320), t0).unwrap();
        d.on_packet(1000, false, &ev(5, false, 480), t0).unwrap();
        for _ in 0..3 {
            d.on_packet(1000, false, &ev(5, true, 800), t0).unwrap();
        }
        let digit = d.poll_digit().unwrap();
        assert_eq!(digit.key, Some('5'));
        assert_eq!((digit.duration, digit.duration_ms), (800, 100));
        assert_eq!(digit.ended_by, DtmfEnd::EndPacket);
        assert_eq!(d.poll_digit(), None);
        d.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(d.poll_digit(), None);
    }

    #[test]
    fn same_key_twice_is_two_digits() {
        let t0 = Instant::now();
        let mut d = DtmfDetector::new(8000, Duration::from_millis(500));
        for ts in [1000u32, 3000] {
            d.on_packet(ts, true, &ev(1, false, 160), t0).unwrap();
            for _ in 0..3 {
                d.on_packet(ts, false, &ev(1, true, 640), t0).unwrap();
            }
        }
        assert_eq!(d.poll_digit().unwrap().start_ts, 1000);
        assert_eq!(d.poll_digit().unwrap().start_ts, 3000);
        assert_eq!(d.poll_digit(), None);
    }

    #[test]
    fn lost_end_packets_report_by_timeout_or_next_event() {
        let t0 = Instant::now();
        let mut d = DtmfDetector::new(8000, Duration::from_millis(500));
        d.on_packet(0, true, &ev(9, false, 400), t0).unwrap();
        assert_eq!(d.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        d.handle_timeout(t0 + Duration::from_millis(499));
        assert_eq!(d.poll_digit(), None);
        d.handle_timeout(t0 + Duration::from_millis(500));
        let g = d.poll_digit().unwrap();
        assert_eq!(
            (g.key, g.duration, g.ended_by),
            (Some('9'), 400, DtmfEnd::Timeout)
        );
        // A late end packet for the same event does not report it again.
        d.on_packet(0, false, &ev(9, true, 480), t0).unwrap();
        assert_eq!(d.poll_digit(), None);

        d.on_packet(10_000, true, &ev(2, false, 160), t0).unwrap();
        d.on_packet(12_000, true, &ev(3, false, 160), t0).unwrap();
        let g = d.poll_digit().unwrap();
        assert_eq!((g.key, g.ended_by), (Some('2'), DtmfEnd::Superseded));
        assert_eq!(d.poll_digit(), None);
    }

    #[test]
    fn stray_old_packet_is_ignored() {
        let t0 = Instant::now();
        let mut d = DtmfDetector::new(8000, Duration::from_millis(500));
        d.on_packet(50_000, true, &ev(4, false, 160), t0).unwrap();
        d.on_packet(40_000, false, &ev(7, false, 160), t0).unwrap();
        d.on_packet(50_000, false, &ev(4, true, 320), t0).unwrap();
        let g = d.poll_digit().unwrap();
        assert_eq!(g.key, Some('4'));
        assert_eq!(d.poll_digit(), None);
    }

    #[test]
    fn sender_short_press_sequence() {
        let p = digit_packets(
            '#',
            Duration::from_millis(100),
            10,
            Duration::from_millis(20),
            8000,
        )
        .unwrap();
        assert_eq!(p.len(), 5 + 3);
        assert!(p[0].marker && p[1..].iter().all(|x| !x.marker));
        assert_eq!(
            p.iter().map(|x| x.payload.duration).collect::<Vec<_>>(),
            vec![160, 320, 480, 640, 800, 800, 800, 800]
        );
        assert!(p[5..]
            .iter()
            .all(|x| x.payload.end && x.payload.event == 11));
        assert!(p.iter().all(|x| x.ts_offset == 0));
        assert_eq!(p[7].at, Duration::from_millis(140));
    }

    #[test]
    fn sender_and_detector_agree_on_long_press() {
        // 10 s at 8 kHz = 80,000 units: more than one 16-bit segment.
        let dur = Duration::from_secs(10);
        let p = digit_packets('7', dur, 10, Duration::from_millis(20), 8000).unwrap();
        assert!(
            p.iter().any(|x| x.ts_offset > 0),
            "long press uses a second segment"
        );
        assert!(p.iter().all(|x| x.payload.duration as u32 <= 0xffff));
        let t0 = Instant::now();
        let mut d = DtmfDetector::new(8000, Duration::from_millis(500));
        let base = 0xffff_0000u32; // also crosses the timestamp wrap
        for x in &p {
            d.on_packet(
                base.wrapping_add(x.ts_offset),
                x.marker,
                &x.payload.to_bytes(),
                t0 + x.at,
            )
            .unwrap();
        }
        let g = d.poll_digit().unwrap();
        assert_eq!(
            (g.key, g.duration, g.duration_ms, g.start_ts),
            (Some('7'), 80_000, 10_000, base)
        );
        assert_eq!(d.poll_digit(), None);
    }

    #[test]
    fn sender_rejects_bad_parameters() {
        let ms = Duration::from_millis;
        assert!(digit_packets('x', ms(100), 10, ms(20), 8000).is_err());
        assert!(digit_packets('1', ms(100), 10, ms(0), 8000).is_err());
        assert!(digit_packets('1', ms(10), 10, ms(20), 8000).is_err());
        assert!(digit_packets('1', Duration::from_secs(61), 10, ms(20), 8000).is_err());
    }

    proptest::proptest! {
        #[test]
        fn detector_never_panics(pkts in proptest::collection::vec((proptest::num::u32::ANY, proptest::bool::ANY, proptest::collection::vec(proptest::num::u8::ANY, 0..6)), 0..50)) {
            let t0 = Instant::now();
            let mut d = DtmfDetector::new(8000, Duration::from_millis(100));
            for (i, (ts, m, p)) in pkts.iter().enumerate() {
                let _ = d.on_packet(*ts, *m, p, t0 + Duration::from_millis(i as u64 * 20));
                d.handle_timeout(t0 + Duration::from_millis(i as u64 * 20));
            }
            let mut n = 0;
            while d.poll_digit().is_some() { n += 1; }
            proptest::prop_assert!(n <= pkts.len());
        }
    }
}
