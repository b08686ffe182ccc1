//! Jitter buffer for decoded legs (mixing, recording, in-band detection): 20 ms frames of 8 kHz
//! audio pushed as packets arrive, popped every 20 ms on the media clock. Sans-IO: arrival times
//! come in with the packets, and the caller's 20 ms tick drives [`JitterBuffer::pop`].
//!
//! Frames are ordered by RTP timestamp, so reordering is undone and duplicates are dropped; a frame
//! whose slot has already played is dropped as late. The depth adapts between a minimum and a
//! maximum: a late frame deepens it by one (the next gap is held instead of played), and after
//! ten seconds without one it shallows by one (a frame is skipped when the buffer runs deeper than
//! needed). A lost frame is concealed by the last frame at half level, then a quarter, then
//! silence. A new SSRC or a timestamp/sequence jump (the sender restarted) resynchronises.

use std::collections::BTreeMap;
use std::time::Instant;

/// Samples per frame (20 ms at 8 kHz) and RTP timestamp units per frame.
pub const FRAME: usize = 160;
const FRAME_TS: u32 = FRAME as u32;
/// Frames of concealment (attenuated repeats) before silence.
const CONCEAL_FRAMES: u32 = 2;
/// Missing frames in a row after which the buffer re-buffers to its target depth.
const REBUFFER_AFTER: u32 = 10;
/// Pops without a late frame before the depth may shrink by one (10 s).
const SHRINK_AFTER_POPS: u32 = 500;
/// Pops the buffer must run deeper than target + 1 before one frame is skipped (0.5 s).
const SKIP_AFTER_POPS: u32 = 25;
/// A timestamp more than this far from the playout point (2 s) is a restart, not jitter.
const MAX_TS_JUMP: i64 = 16_000;
/// A sequence jump this large is a restart too.
const MAX_SEQ_JUMP: u16 = 3000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitterError {
    #[error("jitter buffer takes {FRAME}-sample frames, got {0}")]
    FrameSize(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest and largest depth, in frames.
    pub min_frames: u32,
    pub max_frames: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_frames: 2,
            max_frames: 10,
        }
    }
}

/// What one pop produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopKind {
    /// The frame that was sent.
    Played,
    /// A lost or late frame replaced by an attenuated repeat of the last one.
    Concealed,
    /// Nothing to play: before the first frame, while (re-)buffering, or after concealment ran out.
    Silence,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub pushed: u64,
    pub played: u64,
    pub concealed: u64,
    pub late: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub resyncs: u64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    ssrc: Option<u32>,
    last_seq: Option<u16>,
    /// Timestamp of the next frame to play; `None` while buffering.
    next_ts: Option<u32>,
    /// Frames keyed by their offset from `base` (the stream's first timestamp), so a timestamp
    /// wrap does not break the order.
    base: u32,
    frames: BTreeMap<i64, [i16; FRAME]>,
    target: u32,
    last: [i16; FRAME],
    misses: u32,
    pops_since_late: u32,
    deep_pops: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(cfg: JitterConfig) -> Self {
        let min = cfg.min_frames.max(1);
        let cfg = JitterConfig {
            min_frames: min,
            max_frames: cfg.max_frames.max(min),
        };
        JitterBuffer {
            cfg,
            ssrc: None,
            last_seq: None,
            next_ts: None,
            base: 0,
            frames: BTreeMap::new(),
            target: min,
            last: [0; FRAME],
            misses: 0,
            pops_since_late: 0,
            deep_pops: 0,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Current target depth in frames.
    pub fn target_frames(&self) -> u32 {
        self.target
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// One decoded packet. Ordering and lateness use `ts` against the playout point, so `arrival`
    /// is not needed here (interarrival jitter is measured by `media::quality`); it stays in the
    /// signature so a time-based policy can use it without changing callers.
    pub fn push(
        &mut self,
        ssrc: u32,
        seq: u16,
        ts: u32,
        payload: &[i16],
        _arrival: Instant,
    ) -> Result<(), JitterError> {
        let frame: [i16; FRAME] = payload
            .try_into()
            .map_err(|_| JitterError::FrameSize(payload.len()))?;
        self.stats.pushed += 1;
        let seq_jump = self
            .last_seq
            .map(|l| seq.wrapping_sub(l).min(l.wrapping_sub(seq)) > MAX_SEQ_JUMP)
            .unwrap_or(false);
        let ts_jump = self.offset(ts).is_some_and(|o| {
            let play = self.next_ts.map_or(0, |n| self.offset(n).unwrap_or(0));
            (o - play).abs() > MAX_TS_JUMP
        });
        if self.ssrc.is_some_and(|s| s != ssrc) || seq_jump || ts_jump {
            self.resync();
        }
        if self.ssrc.is_none() {
            self.ssrc = Some(ssrc);
            self.base = ts;
        }
        self.last_seq = Some(seq);
        let key = self.offset(ts).unwrap_or(0);
        if let Some(next) = self.next_ts {
            if key < self.offset(next).unwrap_or(0) {
                self.stats.late += 1;
                self.pops_since_late = 0;
                self.target = (self.target + 1).min(self.cfg.max_frames);
                return Ok(());
            }
        }
        if self.frames.contains_key(&key) {
            self.stats.duplicates += 1;
            return Ok(());
        }
        self.frames.insert(key, frame);
        // Bounded: a sender far ahead of the clock loses its oldest frames, not our memory.
        while self.frames.len() > (self.cfg.max_frames as usize) * 2 {
            self.frames.pop_first();
            self.stats.skipped += 1;
            if self.next_ts.is_some() {
                if let Some((&k, _)) = self.frames.first_key_value() {
                    self.next_ts = Some(self.base.wrapping_add(k as u32));
                }
            }
        }
        Ok(())
    }

    /// The next 20 ms of audio: call once per 20 ms tick (the buffer counts ticks, not time).
    pub fn pop(&mut self, _now: Instant) -> ([i16; FRAME], PopKind) {
        self.pops_since_late = self.pops_since_late.saturating_add(1);
        if self.pops_since_late >= SHRINK_AFTER_POPS && self.target > self.cfg.min_frames {
            self.target -= 1;
            self.pops_since_late = 0;
        }
        let next = match self.next_ts {
            Some(n) => n,
            // Buffering: start once the target depth is held.
            None => match self.frames.first_key_value() {
                Some((&k, _)) if self.depth_from_first() >= self.target as i64 => {
                    let n = self.base.wrapping_add(k as u32);
                    self.next_ts = Some(n);
                    n
                }
                _ => return ([0; FRAME], PopKind::Silence),
            },
        };
        let key = self.offset(next).unwrap_or(0);
        if let Some(frame) = self.frames.remove(&key) {
            self.next_ts = Some(next.wrapping_add(FRAME_TS));
            self.last = frame;
            self.misses = 0;
            self.stats.played += 1;
            self.maybe_skip();
            return (frame, PopKind::Played);
        }
        // Missing. If the buffer is shallower than the target, hold the playout point (deepening
        // the buffer by one frame) instead of giving the slot up.
        let ahead = self
            .frames
            .last_key_value()
            .map_or(0, |(&k, _)| (k - key) / FRAME_TS as i64 + 1);
        if ahead > 0 && ahead < self.target as i64 && self.misses == 0 {
            self.misses = 1;
            return self.conceal();
        }
        self.next_ts = Some(next.wrapping_add(FRAME_TS));
        self.misses += 1;
        if self.misses >= REBUFFER_AFTER && self.frames.is_empty() {
            self.next_ts = None; // the stream paused: build the depth up again
        }
        self.conceal()
    }

    fn conceal(&mut self) -> ([i16; FRAME], PopKind) {
        if self.misses > CONCEAL_FRAMES {
            return ([0; FRAME], PopKind::Silence);
        }
        let shift = self.misses; // 1/2, then 1/4
        let frame = self.last.map(|s| s >> shift);
        self.stats.concealed += 1;
        (frame, PopKind::Concealed)
    }

    /// Skips one frame when the buffer has run deeper than needed for a while.
    fn maybe_skip(&mut self) {
        if self.depth_from_next() > self.target as i64 + 1 {
            self.deep_pops += 1;
            if self.deep_pops >= SKIP_AFTER_POPS {
                self.deep_pops = 0;
                if let Some(next) = self.next_ts {
                    self.frames.remove(&self.offset(next).unwrap_or(0));
                    self.next_ts = Some(next.wrapping_add(FRAME_TS));
                    self.stats.skipped += 1;
                }
            }
        } else {
            self.deep_pops = 0;
        }
    }

    fn depth_from_first(&self) -> i64 {
        match (self.frames.first_key_value(), self.frames.last_key_value()) {
            (Some((&a, _)), Some((&b, _))) => (b - a) / FRAME_TS as i64 + 1,
            _ => 0,
        }
    }

    fn depth_from_next(&self) -> i64 {
        match (self.next_ts, self.frames.last_key_value()) {
            (Some(n), Some((&b, _))) => (b - self.offset(n).unwrap_or(0)) / FRAME_TS as i64 + 1,
            _ => 0,
        }
    }

    /// `ts` relative to the stream's first timestamp, unwrapped around the playout point.
    fn offset(&self, ts: u32) -> Option<i64> {
        self.ssrc?;
        Some(ts.wrapping_sub(self.base) as i32 as i64)
    }

    fn resync(&mut self) {
        self.frames.clear();
        self.next_ts = None;
        self.ssrc = None;
        self.last_seq = None;
        self.misses = 0;
        self.stats.resyncs += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(n: u32) -> [i16; FRAME] {
        [(n % 1000) as i16 * 10 + 1; FRAME]
    }

    /// Frame `n` of a stream: seq 100+n, ts 5000+160n.
    fn push(jb: &mut JitterBuffer, ssrc: u32, n: u32, t: Instant) {
        jb.push(
            ssrc,
            100u16.wrapping_add(n as u16),
            5000u32.wrapping_add(n * FRAME_TS),
            &frame(n),
            t,
        )
        .unwrap();
    }

    fn which(f: &[i16; FRAME]) -> Option<u32> {
        (f[0] > 0).then(|| (f[0] as u32 - 1) / 10)
    }

    #[test]
    fn in_order_stream_plays_after_prebuffering() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t0 = Instant::now();
        let mut out = Vec::new();
        for n in 0..50 {
            let t = t0 + Duration::from_millis(20 * n as u64);
            push(&mut jb, 1, n, t);
            out.push(jb.pop(t));
        }
        assert_eq!(out[0].1, PopKind::Silence); // one frame held, target is two
        let played: Vec<u32> = out.iter().filter_map(|(f, _)| which(f)).collect();
        assert_eq!(played, (0..49).collect::<Vec<_>>());
        assert!(out[1..].iter().all(|(_, k)| *k == PopKind::Played));
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn reordered_and_duplicate_packets() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t = Instant::now();
        for n in [0, 2, 1, 1, 3, 2, 5, 4] {
            push(&mut jb, 1, n, t);
        }
        assert_eq!(jb.stats().duplicates, 2);
        let played: Vec<u32> = (0..6).filter_map(|_| which(&jb.pop(t).0)).collect();
        assert_eq!(played, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn loss_is_concealed_then_silent() {
        let mut jb = JitterBuffer::new(JitterConfig {
            min_frames: 1,
            max_frames: 4,
        });
        let t = Instant::now();
        push(&mut jb, 1, 0, t);
        assert_eq!(jb.pop(t).1, PopKind::Played);
        let last = frame(0)[0];
        // Frames 1..=4 lost, 5 arrives in time for its slot.
        let (f, k) = jb.pop(t);
        assert_eq!((k, f[0]), (PopKind::Concealed, last / 2));
        let (f, k) = jb.pop(t);
        assert_eq!((k, f[0]), (PopKind::Concealed, last / 4));
        assert_eq!(jb.pop(t).1, PopKind::Silence);
        assert_eq!(jb.pop(t).1, PopKind::Silence);
        push(&mut jb, 1, 5, t);
        let (f, k) = jb.pop(t);
        assert_eq!((k, which(&f)), (PopKind::Played, Some(5)));
    }

    #[test]
    fn late_packets_are_dropped_and_deepen_the_buffer() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t = Instant::now();
        push(&mut jb, 1, 0, t);
        push(&mut jb, 1, 1, t);
        assert_eq!(which(&jb.pop(t).0), Some(0));
        assert_eq!(which(&jb.pop(t).0), Some(1));
        // Slot 2 passes empty (concealed), then frame 2 arrives late.
        push(&mut jb, 1, 3, t);
        assert_eq!(jb.pop(t).1, PopKind::Concealed);
        push(&mut jb, 1, 2, t);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(jb.target_frames(), 3);
        assert_eq!(which(&jb.pop(t).0), Some(3));
    }

    #[test]
    fn depth_adapts_to_jitter_and_back() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t0 = Instant::now();
        // Packets sent every 20 ms; every 10th is delayed by 70 ms (3.5 frames).
        let mut arrivals: Vec<(u64, u32)> = (0..600u32)
            .map(|n| {
                let d = if n % 10 == 5 { 70 } else { 0 };
                (20 * n as u64 + d, n)
            })
            .collect();
        arrivals.sort();
        let mut i = 0;
        let mut late_first_half = 0;
        for tick in 0..600u64 {
            let now = tick * 20;
            while i < arrivals.len() && arrivals[i].0 <= now {
                push(&mut jb, 7, arrivals[i].1, t0 + Duration::from_millis(now));
                i += 1;
            }
            jb.pop(t0 + Duration::from_millis(now));
            if tick == 300 {
                late_first_half = jb.stats().late;
            }
        }
        let s = jb.stats();
        assert!(jb.target_frames() >= 4, "target {}", jb.target_frames());
        assert!(late_first_half <= 3, "{s:?}");
        assert_eq!(s.late, late_first_half, "no late frames once deep enough");
        // Calm stream: the depth comes back down after 10 s without late frames.
        for n in 600..1800u32 {
            let now = n as u64 * 20;
            push(&mut jb, 7, n, t0 + Duration::from_millis(now));
            jb.pop(t0 + Duration::from_millis(now));
        }
        assert!(jb.target_frames() <= 3, "target {}", jb.target_frames());
        assert!(jb.len() <= jb.target_frames() as usize + 2);
    }

    #[test]
    fn ssrc_change_and_jumps_resync() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t = Instant::now();
        for n in 0..4 {
            push(&mut jb, 1, n, t);
        }
        jb.pop(t);
        // New SSRC, unrelated numbering.
        jb.push(2, 9, 900_000, &frame(500), t).unwrap();
        jb.push(2, 10, 900_160, &frame(501), t).unwrap();
        assert_eq!(jb.stats().resyncs, 1);
        assert_eq!(which(&jb.pop(t).0), Some(500));
        // Same SSRC, timestamp leaps 10 s ahead: a restart.
        jb.push(2, 11, 900_160 + 80_000, &frame(600), t).unwrap();
        jb.push(2, 12, 900_320 + 80_000, &frame(601), t).unwrap();
        assert_eq!(jb.stats().resyncs, 2);
        assert_eq!(which(&jb.pop(t).0), Some(600));
    }

    #[test]
    fn timestamp_and_sequence_wrap() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t = Instant::now();
        let ts0 = u32::MAX - 2 * FRAME_TS + 1;
        for n in 0..6u32 {
            jb.push(
                3,
                65534u16.wrapping_add(n as u16),
                ts0.wrapping_add(n * FRAME_TS),
                &frame(n),
                t,
            )
            .unwrap();
        }
        let played: Vec<u32> = (0..6).filter_map(|_| which(&jb.pop(t).0)).collect();
        assert_eq!(played, [0, 1, 2, 3, 4, 5]);
        assert_eq!(jb.stats().resyncs, 0);
    }

    #[test]
    fn a_flood_is_bounded_and_bad_frames_rejected() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t = Instant::now();
        for n in 0..500 {
            push(&mut jb, 1, n, t);
        }
        assert!(jb.len() <= 20);
        assert_eq!(
            jb.push(1, 1, 1, &[0; 80], t),
            Err(JitterError::FrameSize(80))
        );
        // Plays on from what it kept.
        assert_eq!(jb.pop(t).1, PopKind::Played);
    }
}
