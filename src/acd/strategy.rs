//! Routing strategies: which ready agent of a group gets the call.
//!
//! Each strategy is a sort key over the ready members; the smallest key wins. Keys are computed while
//! scanning the group's members once, with no allocation, because this runs on every routing decision.

use super::config::Strategy;
use super::Ms;

/// What the strategies look at for one ready member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Position in the group's member list (for round-robin).
    pub member_pos: usize,
    /// When the agent last became ready.
    pub idle_since: Ms,
    /// Calls answered since login.
    pub calls: u32,
    /// Talk time since login.
    pub talk_ms: u64,
    /// Membership level in this group.
    pub level: u8,
}

/// The sort key of `c` under `strategy`. `rr_last` is the member position offered last in this group
/// and `members` the group's size (round-robin continues after the last one, wrapping).
pub fn key(strategy: Strategy, c: &Candidate, rr_last: usize, members: usize) -> (u64, u64, u64) {
    let pos = c.member_pos as u64;
    match strategy {
        Strategy::LongestIdle | Strategy::RingAll => (c.idle_since, pos, 0),
        Strategy::RoundRobin => {
            let n = members.max(1);
            // Nobody offered yet (`rr_last` out of range): start at the first member.
            let dist = if rr_last >= n {
                c.member_pos % n
            } else {
                (c.member_pos + n - rr_last - 1) % n
            };
            (dist as u64, 0, 0)
        }
        Strategy::FewestCalls => (u64::from(c.calls), c.idle_since, pos),
        Strategy::LeastTalkTime => (c.talk_ms, c.idle_since, pos),
        Strategy::SkillTiers => (u64::from(u8::MAX - c.level), c.idle_since, pos),
    }
}

/// The index in `cands` of the agent to offer, or `None` when there is no candidate.
pub fn pick(
    strategy: Strategy,
    cands: &[Candidate],
    rr_last: usize,
    members: usize,
) -> Option<usize> {
    cands
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| key(strategy, c, rr_last, members))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(pos: usize, idle: Ms, calls: u32, talk: u64, level: u8) -> Candidate {
        Candidate {
            member_pos: pos,
            idle_since: idle,
            calls,
            talk_ms: talk,
            level,
        }
    }

    fn set() -> Vec<Candidate> {
        vec![
            c(0, 500, 3, 9_000, 1),
            c(2, 100, 7, 1_000, 2),
            c(5, 300, 1, 5_000, 3),
            c(7, 200, 1, 3_000, 3),
        ]
    }

    #[test]
    fn longest_idle_picks_earliest_ready() {
        assert_eq!(pick(Strategy::LongestIdle, &set(), 0, 8), Some(1));
    }

    #[test]
    fn fewest_calls_ties_broken_by_idle() {
        assert_eq!(pick(Strategy::FewestCalls, &set(), 0, 8), Some(3));
    }

    #[test]
    fn least_talk_time() {
        assert_eq!(pick(Strategy::LeastTalkTime, &set(), 0, 8), Some(1));
    }

    #[test]
    fn skill_tiers_highest_level_then_idle() {
        assert_eq!(pick(Strategy::SkillTiers, &set(), 0, 8), Some(3));
    }

    #[test]
    fn round_robin_continues_after_last_and_wraps() {
        let s = set();
        assert_eq!(
            pick(Strategy::RoundRobin, &s, 0, 8),
            Some(1),
            "after 0 comes 2"
        );
        assert_eq!(
            pick(Strategy::RoundRobin, &s, 2, 8),
            Some(2),
            "after 2 comes 5"
        );
        assert_eq!(pick(Strategy::RoundRobin, &s, 5, 8), Some(3));
        assert_eq!(pick(Strategy::RoundRobin, &s, 7, 8), Some(0), "wraps");
    }

    #[test]
    fn empty_has_no_pick() {
        assert_eq!(pick(Strategy::LongestIdle, &[], 0, 0), None);
    }
}
