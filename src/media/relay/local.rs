//! Media that hotline itself sends to a leg or hears from it: prompts and music paced at 20 ms, and
//! the RFC 4733 digits the leg sends. It lives inside the bridge so that a prompt and the relayed
//! stream share one outbound sequence: the far end sees one continuous stream whichever is playing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::codec::g711;

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The packet interval of everything hotline sends.
pub const PTIME: Duration = Duration::from_millis(20);
/// A playback more than this late (a stalled worker) skips ahead instead of bursting.
const MAX_LAG: Duration = Duration::from_millis(200);

/// What a leg negotiated: its audio payload type (0 PCMU or 8 PCMA) and its telephone-event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegFormat {
    pub payload_type: u8,
    pub dtmf_payload_type: Option<u8>,
}

impl Default for LegFormat {
    fn default() -> Self {
        LegFormat {
            payload_type: 0,
            dtmf_payload_type: Some(101),
        }
    }
}

impl LegFormat {
    fn encode(&self, pcm: &[i16; FRAME_SAMPLES], out: &mut Vec<u8>) {
        if self.payload_type == 8 {
            out.extend(pcm.iter().map(|&s| g711::alaw_encode(s)));
        } else {
            out.extend(pcm.iter().map(|&s| g711::ulaw_encode(s)));
        }
    }
}

/// A queue of clips (8 kHz mono) played back to back, once or in a loop.
#[derive(Debug)]
pub struct Playback {
    pub id: u64,
    clips: Vec<Arc<[i16]>>,
    looping: bool,
    clip: usize,
    pos: usize,
    pub(super) next_due: Instant,
    /// Our own sequence and timestamp; the leg's out-stream maps them into its continuous stream.
    pub(super) seq: u16,
    pub(super) ts: u32,
    pub(super) ssrc: u32,
    /// Frames sent so far.
    pub frames: u64,
}

impl Playback {
    pub fn new(id: u64, clips: Vec<Arc<[i16]>>, looping: bool, now: Instant) -> Self {
        Playback {
            id,
            clips: clips.into_iter().filter(|c| !c.is_empty()).collect(),
            looping,
            clip: 0,
            pos: 0,
            next_due: now,
            seq: rand::random(),
            ts: rand::random(),
            ssrc: rand::random(),
            frames: 0,
        }
    }

    /// Fills the next frame (the tail of the last clip padded with silence); false when done.
    pub fn next_frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> bool {
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            let Some(clip) = self.clips.get(self.clip) else {
                if self.looping && !self.clips.is_empty() {
                    self.clip = 0;
                    self.pos = 0;
                    continue;
                }
                break;
            };
            let take = (clip.len() - self.pos).min(FRAME_SAMPLES - filled);
            out[filled..filled + take].copy_from_slice(&clip[self.pos..self.pos + take]);
            filled += take;
            self.pos += take;
            if self.pos >= clip.len() {
                self.clip += 1;
                self.pos = 0;
                // A clip boundary inside a frame is fine for prompts; a loop restarts at frame start
                // only when the clip list is exhausted.
            }
        }
        if filled == 0 {
            return false;
        }
        out[filled..].fill(0);
        true
    }

    /// Whether the frame due `now` is late enough to skip ahead to the present.
    pub(super) fn catch_up(&mut self, now: Instant) {
        if now.saturating_duration_since(self.next_due) > MAX_LAG {
            self.next_due = now;
        }
    }
}

/// Builds an RTP packet of one encoded frame into `out`.
pub fn build_packet(
    out: &mut Vec<u8>,
    format: &LegFormat,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    pcm: &[i16; FRAME_SAMPLES],
) {
    out.clear();
    out.push(0x80);
    out.push((format.payload_type & 0x7f) | if marker { 0x80 } else { 0 });
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    format.encode(pcm, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(n: usize, v: i16) -> Arc<[i16]> {
        vec![v; n].into()
    }

    #[test]
    fn clips_play_back_to_back_and_the_tail_is_padded() {
        let now = Instant::now();
        let mut p = Playback::new(1, vec![clip(200, 7), clip(100, 9)], false, now);
        let mut f = [0i16; FRAME_SAMPLES];
        assert!(p.next_frame(&mut f));
        assert!(f.iter().all(|&s| s == 7));
        assert!(p.next_frame(&mut f));
        assert!(f[..40].iter().all(|&s| s == 7));
        assert!(f[40..140].iter().all(|&s| s == 9));
        assert!(f[140..].iter().all(|&s| s == 0));
        assert!(!p.next_frame(&mut f));
    }

    #[test]
    fn looping_never_ends_and_empty_clips_are_skipped() {
        let now = Instant::now();
        let mut p = Playback::new(1, vec![clip(0, 1), clip(100, 3)], true, now);
        let mut f = [0i16; FRAME_SAMPLES];
        for _ in 0..50 {
            assert!(p.next_frame(&mut f));
            assert!(f.iter().all(|&s| s == 3));
        }
        let mut empty = Playback::new(2, vec![clip(0, 1)], true, now);
        assert!(!empty.next_frame(&mut f), "nothing to loop ends at once");
    }

    #[test]
    fn packets_carry_the_negotiated_codec() {
        let pcm = [1000i16; FRAME_SAMPLES];
        let mut out = Vec::new();
        let f = LegFormat {
            payload_type: 8,
            dtmf_payload_type: None,
        };
        build_packet(&mut out, &f, true, 7, 160, 0xabcd, &pcm);
        let p = crate::media::rtp::RtpPacket::parse(&out).unwrap();
        assert_eq!(p.payload_type(), 8);
        assert!(p.marker());
        assert_eq!(p.sequence(), 7);
        assert_eq!(p.payload().len(), FRAME_SAMPLES);
        assert_eq!(p.payload()[0], g711::alaw_encode(1000));
    }
}
