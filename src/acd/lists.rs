//! Caller number lists: the blacklist (refused, instant or time-limited, audited with who and why) and
//! the red list (queued first, and the agent screen shows priority-service mode).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Ms;

/// One blacklisted number. `until_ms = None` blocks until removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlacklistEntry {
    pub number: String,
    pub until_ms: Option<Ms>,
    pub reason: String,
    /// Operator's agent number (A L1354: record the operator's agent ID and IP).
    pub added_by: String,
    pub added_ip: String,
    pub added_ms: Ms,
}

impl BlacklistEntry {
    pub fn blocks_at(&self, now: Ms) -> bool {
        self.until_ms.is_none_or(|u| now < u)
    }
}

/// One red-list number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedListEntry {
    pub number: String,
    pub note: String,
    pub added_by: String,
    pub added_ip: String,
    pub added_ms: Ms,
}

/// Caller numbers are compared after dropping everything but digits and a leading `+`,
/// so `010-1234 5678` and `01012345678` are one number.
pub fn normalise(number: &str) -> String {
    let mut out = String::with_capacity(number.len());
    for (i, c) in number.trim().chars().enumerate() {
        if c.is_ascii_digit() || (i == 0 && c == '+') {
            out.push(c);
        }
    }
    out
}

#[derive(Clone, Debug, Default)]
pub struct Lists {
    black: HashMap<String, BlacklistEntry>,
    red: HashMap<String, RedListEntry>,
}

impl Lists {
    /// The entry blocking `number` at `now`, if any. Expired entries stay until removed, for audit.
    pub fn blocked(&self, number: &str, now: Ms) -> Option<&BlacklistEntry> {
        self.black
            .get(&normalise(number))
            .filter(|e| e.blocks_at(now))
    }

    pub fn red(&self, number: &str) -> Option<&RedListEntry> {
        self.red.get(&normalise(number))
    }

    pub fn add_black(&mut self, mut e: BlacklistEntry) -> BlacklistEntry {
        e.number = normalise(&e.number);
        self.black.insert(e.number.clone(), e.clone());
        e
    }

    pub fn remove_black(&mut self, number: &str) -> Option<BlacklistEntry> {
        self.black.remove(&normalise(number))
    }

    pub fn add_red(&mut self, mut e: RedListEntry) -> RedListEntry {
        e.number = normalise(&e.number);
        self.red.insert(e.number.clone(), e.clone());
        e
    }

    pub fn remove_red(&mut self, number: &str) -> Option<RedListEntry> {
        self.red.remove(&normalise(number))
    }

    pub fn blacklist(&self) -> impl Iterator<Item = &BlacklistEntry> {
        self.black.values()
    }

    pub fn red_list(&self) -> impl Iterator<Item = &RedListEntry> {
        self.red.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn black(number: &str, until: Option<Ms>) -> BlacklistEntry {
        BlacklistEntry {
            number: number.into(),
            until_ms: until,
            reason: "harassing".into(),
            added_by: "1001".into(),
            added_ip: "10.0.0.1".into(),
            added_ms: 0,
        }
    }

    #[test]
    fn instant_blacklist_blocks_until_removed() {
        let mut l = Lists::default();
        l.add_black(black("138-0000 1111", None));
        assert!(l.blocked("13800001111", u64::MAX - 1).is_some());
        assert!(l.remove_black("13800001111").is_some());
        assert!(l.blocked("13800001111", 0).is_none());
    }

    #[test]
    fn time_limited_blacklist_expires() {
        let mut l = Lists::default();
        l.add_black(black("139", Some(1_000)));
        assert!(l.blocked("139", 999).is_some());
        assert!(l.blocked("139", 1_000).is_none());
    }

    #[test]
    fn red_list_matches_normalised_numbers() {
        let mut l = Lists::default();
        l.add_red(RedListEntry {
            number: "+86 138 0000".into(),
            note: "elderly".into(),
            added_by: "1".into(),
            added_ip: "".into(),
            added_ms: 0,
        });
        assert!(l.red("+861380000").is_some());
        assert!(l.red("861380000").is_none());
    }
}
