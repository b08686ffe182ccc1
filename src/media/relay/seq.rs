//! Inbound sequence tracking for a loss estimate (RFC 3550 Appendix A.1, without probation).

/// Tracks extended sequence numbers of one inbound leg across SSRC changes.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    current: Option<Source>,
    expected_prior: u64,
    received_prior: u64,
}

#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    base: u64,
    max_seq: u16,
    cycles: u64,
    received: u64,
}

/// A jump larger than this (RFC 3550's MAX_DROPOUT) restarts the count instead of counting as loss.
const MAX_DROPOUT: u16 = 3000;
/// Packets this far behind the highest seen are late or duplicate (RFC 3550's MAX_MISORDER).
const MAX_MISORDER: u16 = 100;

impl Source {
    fn new(ssrc: u32, seq: u16) -> Self {
        Source {
            ssrc,
            base: seq as u64,
            max_seq: seq,
            cycles: 0,
            received: 1,
        }
    }
    fn expected(&self) -> u64 {
        (self.cycles + self.max_seq as u64 + 1).saturating_sub(self.base)
    }
}

impl SeqTracker {
    /// Records one received packet.
    pub fn update(&mut self, ssrc: u32, seq: u16) {
        let src = match &mut self.current {
            Some(s) if s.ssrc == ssrc => s,
            _ => {
                self.fold();
                self.current = Some(Source::new(ssrc, seq));
                return;
            }
        };
        let delta = seq.wrapping_sub(src.max_seq);
        if delta == 0 {
            // Duplicate of the newest packet.
        } else if delta < MAX_DROPOUT {
            if seq < src.max_seq {
                src.cycles += 1 << 16;
            }
            src.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A big jump: the sender restarted; count afresh.
            self.fold();
            self.current = Some(Source::new(ssrc, seq));
            return;
        }
        src.received += 1;
    }

    fn fold(&mut self) {
        if let Some(s) = self.current.take() {
            self.expected_prior += s.expected();
            self.received_prior += s.received;
        }
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        self.expected_prior + self.current.as_ref().map_or(0, Source::expected)
    }

    /// Packets received (including duplicates and late ones).
    pub fn received(&self) -> u64 {
        self.received_prior + self.current.as_ref().map_or(0, |s| s.received)
    }

    /// Estimated packets lost: expected minus received, never negative.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_loss_across_wrap() {
        let mut t = SeqTracker::default();
        for i in 0..200u16 {
            t.update(1, 65500u16.wrapping_add(i));
        }
        assert_eq!(t.expected(), 200);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn gaps_count_as_loss() {
        let mut t = SeqTracker::default();
        for s in [10u16, 11, 14, 15, 20] {
            t.update(1, s);
        }
        assert_eq!(t.expected(), 11);
        assert_eq!(t.lost(), 6);
    }

    #[test]
    fn reorder_and_duplicates_do_not_inflate_loss() {
        let mut t = SeqTracker::default();
        for s in [1u16, 3, 2, 4, 4, 5] {
            t.update(7, s);
        }
        assert_eq!(t.expected(), 5);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn ssrc_change_and_restart_fold_counts() {
        let mut t = SeqTracker::default();
        for s in 0..10u16 {
            if s != 5 {
                t.update(1, s);
            }
        }
        for s in 1000..1010u16 {
            t.update(2, s);
        }
        t.update(2, 40000); // restart
        t.update(2, 40002);
        assert_eq!(t.expected(), 10 + 10 + 3);
        assert_eq!(t.lost(), 2);
    }
}
