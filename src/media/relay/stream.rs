//! Outbound stream continuity: when the source feeding a leg changes (re-INVITE, music-on-hold switch, new
//! latch), rewrite SSRC, sequence number and timestamp so the far side sees one continuous stream.

use std::time::Instant;

/// Identifies the input stream: its SSRC and the latch generation of the leg it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceId {
    pub ssrc: u32,
    pub generation: u32,
}

/// Rewriting state for the packets sent to one leg.
#[derive(Debug, Clone, Default)]
pub struct OutStream {
    out_ssrc: u32,
    source: Option<SourceId>,
    seq_off: u16,
    ts_off: u32,
    last_seq: u16,
    last_ts: u32,
    last_at: Option<Instant>,
    mark_next: bool,
    switches: u32,
}

/// The header fields to put on the wire for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    /// Set the marker bit (first packet after a source switch).
    pub force_marker: bool,
    /// False when the packet can go out unchanged.
    pub changed: bool,
}

impl OutStream {
    /// Maps one input packet's fields to output fields; `clock_rate` converts the gap between sources into
    /// timestamp units.
    pub fn map(
        &mut self,
        src: SourceId,
        seq: u16,
        ts: u32,
        now: Instant,
        clock_rate: u32,
    ) -> Rewrite {
        match self.source {
            None => {
                // First stream: pass through untouched and adopt its SSRC for good.
                self.out_ssrc = src.ssrc;
                self.source = Some(src);
            }
            Some(cur) if cur != src => {
                let gap_samples = self.last_at.map_or(0, |t| {
                    let ms = now
                        .saturating_duration_since(t)
                        .as_millis()
                        .min(u32::MAX as u128) as u64;
                    (ms * clock_rate as u64 / 1000).min(u32::MAX as u64 / 2) as u32
                });
                // Continue right after the last packet sent, advancing time by the real gap (at least 1).
                self.seq_off = self.last_seq.wrapping_add(1).wrapping_sub(seq);
                self.ts_off = self
                    .last_ts
                    .wrapping_add(gap_samples.max(1))
                    .wrapping_sub(ts);
                self.source = Some(src);
                self.mark_next = true;
                self.switches += 1;
            }
            Some(_) => {}
        }
        let out_seq = seq.wrapping_add(self.seq_off);
        let out_ts = ts.wrapping_add(self.ts_off);
        // Only packets newer than the last one move the reference point; late ones keep their place.
        if self.last_at.is_none() || out_seq.wrapping_sub(self.last_seq) < 0x8000 {
            self.last_seq = out_seq;
            self.last_ts = out_ts;
            self.last_at = Some(now);
        }
        let force_marker = std::mem::take(&mut self.mark_next);
        Rewrite {
            ssrc: self.out_ssrc,
            seq: out_seq,
            ts: out_ts,
            force_marker,
            changed: force_marker
                || self.seq_off != 0
                || self.ts_off != 0
                || self.out_ssrc != src.ssrc,
        }
    }

    /// The SSRC the far side sees, once a stream has started.
    pub fn out_ssrc(&self) -> Option<u32> {
        self.source.map(|_| self.out_ssrc)
    }

    /// The SSRC of the stream currently feeding this leg.
    pub fn in_ssrc(&self) -> Option<u32> {
        self.source.map(|s| s.ssrc)
    }

    /// How many times the feeding stream changed.
    pub fn switches(&self) -> u32 {
        self.switches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_stream_passes_through() {
        let mut o = OutStream::default();
        let t0 = Instant::now();
        let s = SourceId {
            ssrc: 5,
            generation: 0,
        };
        for i in 0..5u16 {
            let r = o.map(s, 100 + i, 1000 + 160 * i as u32, t0, 8000);
            assert_eq!(
                (r.ssrc, r.seq, r.ts, r.changed),
                (5, 100 + i, 1000 + 160 * i as u32, false)
            );
        }
    }

    #[test]
    fn switch_keeps_ssrc_seq_and_timestamp_continuous() {
        let mut o = OutStream::default();
        let t0 = Instant::now();
        let a = SourceId {
            ssrc: 5,
            generation: 0,
        };
        let b = SourceId {
            ssrc: 9,
            generation: 0,
        };
        for i in 0..10u16 {
            o.map(
                a,
                65530u16.wrapping_add(i),
                4_294_967_000u32.wrapping_add(160 * i as u32),
                t0 + Duration::from_millis(20 * i as u64),
                8000,
            );
        }
        // Last out: seq 65530+9 = 3 (wrapped), ts = ...+1440, at t0+180ms. New source arrives 40 ms later.
        let r = o.map(b, 7, 123, t0 + Duration::from_millis(220), 8000);
        assert_eq!(r.ssrc, 5);
        assert_eq!(r.seq, 4);
        assert_eq!(r.ts, 4_294_967_000u32.wrapping_add(1440 + 320));
        assert!(r.force_marker && r.changed);
        let r2 = o.map(b, 8, 283, t0 + Duration::from_millis(240), 8000);
        assert_eq!((r2.ssrc, r2.seq, r2.ts.wrapping_sub(r.ts)), (5, 5, 160));
        assert!(!r2.force_marker);
        assert_eq!(o.switches(), 1);
    }

    #[test]
    fn same_ssrc_new_generation_is_a_switch() {
        let mut o = OutStream::default();
        let t0 = Instant::now();
        o.map(
            SourceId {
                ssrc: 1,
                generation: 0,
            },
            500,
            0,
            t0,
            8000,
        );
        let r = o.map(
            SourceId {
                ssrc: 1,
                generation: 1,
            },
            10,
            0,
            t0,
            8000,
        );
        assert_eq!(r.seq, 501);
        assert_eq!(r.ts, 1, "timestamp advances by at least one");
    }
}
