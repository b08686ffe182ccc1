//! Queue order: the priority class of a waiting call and where a new call enters a queue.
//!
//! Order is positional, not a re-sorted score, because the rules are positional: emergency calls go
//! first, red-list numbers next, enterprise/VIP lines enter within the first 3 places (B1 L3405), the
//! rest wait in arrival order (which is waiting-time order). A call keeps its place while it is being
//! offered, so a ring-no-answer puts it back exactly where it was.

use serde::{Deserialize, Serialize};

use super::Ms;

/// The priority class of a call, highest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Normal = 0,
    /// Enterprise / VIP line: enters within the first 3 places.
    Vip = 1,
    /// Red-list caller (A L1348): queued ahead of everyone but emergencies.
    RedList = 2,
    /// Emergency flag (119/120 linkage line, keyword): first in line.
    Emergency = 3,
}

impl Priority {
    pub fn of(emergency: bool, red_list: bool, vip: bool) -> Priority {
        if emergency {
            Priority::Emergency
        } else if red_list {
            Priority::RedList
        } else if vip {
            Priority::Vip
        } else {
            Priority::Normal
        }
    }
}

/// VIP calls enter at this index at the latest (0-based, so "within the first 3").
pub const VIP_TOP: usize = 2;

/// The index at which a call of class `p` enters a queue whose calls have the classes `existing`
/// (in queue order).
pub fn entry_index(existing: &[Priority], p: Priority) -> usize {
    // After every call of the same or a higher class: FIFO within a class.
    let after_peers = existing
        .iter()
        .rposition(|&q| q >= p)
        .map(|i| i + 1)
        .unwrap_or(0);
    match p {
        Priority::Vip => after_peers.max(VIP_TOP.min(existing.len())),
        Priority::Normal => existing.len(),
        _ => after_peers,
    }
}

/// Sort key for the head calls of different queues when one agent serves several: higher class
/// first, then the longest-waiting call (earliest arrival), then arrival sequence.
pub fn cross_queue_key(
    p: Priority,
    arrived_ms: Ms,
    seq: u64,
) -> (std::cmp::Reverse<Priority>, Ms, u64) {
    (std::cmp::Reverse(p), arrived_ms, seq)
}

#[cfg(test)]
mod tests {
    use super::Priority::*;
    use super::*;

    fn insert(q: &mut Vec<Priority>, p: Priority) -> usize {
        let i = entry_index(q, p);
        q.insert(i, p);
        i
    }

    #[test]
    fn normal_calls_wait_in_arrival_order() {
        let mut q = vec![];
        assert_eq!(insert(&mut q, Normal), 0);
        assert_eq!(insert(&mut q, Normal), 1);
        assert_eq!(insert(&mut q, Normal), 2);
    }

    #[test]
    fn emergency_goes_first_red_list_second() {
        let mut q = vec![Normal, Normal, Normal];
        assert_eq!(insert(&mut q, RedList), 0);
        assert_eq!(insert(&mut q, Emergency), 0);
        assert_eq!(insert(&mut q, RedList), 2);
        assert_eq!(q, vec![Emergency, RedList, RedList, Normal, Normal, Normal]);
    }

    #[test]
    fn vip_enters_top_three_but_not_ahead_of_higher_classes() {
        let mut q = vec![Normal; 10];
        assert_eq!(insert(&mut q, Vip), 2, "third place");
        assert_eq!(insert(&mut q, Vip), 3, "behind the earlier VIP");
        let mut short = vec![Normal];
        assert_eq!(insert(&mut short, Vip), 1);
        let mut empty = vec![];
        assert_eq!(insert(&mut empty, Vip), 0);
        let mut reds = vec![RedList, RedList, RedList, Normal];
        assert_eq!(insert(&mut reds, Vip), 3, "behind the red list");
    }

    #[test]
    fn cross_queue_prefers_class_then_wait() {
        assert!(cross_queue_key(RedList, 100, 5) < cross_queue_key(Normal, 1, 1));
        assert!(cross_queue_key(Normal, 1, 9) < cross_queue_key(Normal, 2, 1));
    }
}
