//! The registrar: REGISTER bindings per extension (RFC 3261 §10.3), several contacts each (a desk
//! phone and a softphone), with expiry. A sans-IO table: the SIP shell authenticates the request,
//! turns it into a [`Register`], applies it here with the current time, answers with the bindings
//! this returns, and writes the [`Change`]s through to the database so a restart keeps them.

use std::collections::HashMap;
use std::time::Duration;

/// One contact binding of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub contact_uri: String,
    /// Where the REGISTER actually came from (`ip:port`): the address to reach a device behind NAT.
    pub received: String,
    pub transport: String,
    pub call_id: String,
    pub cseq: u32,
    /// Preference 0..=1000 (q=0.5 is 500).
    pub q_milli: u16,
    /// Expiry in unix milliseconds.
    pub expires_ms: i64,
    pub user_agent: String,
}

/// A contact as the REGISTER asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRequest {
    pub uri: String,
    /// The contact's own `expires` parameter, if any.
    pub expires: Option<u32>,
    pub q_milli: u16,
}

/// A REGISTER after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub extension: String,
    /// Empty for a query (no Contact header).
    pub contacts: Vec<ContactRequest>,
    /// `Contact: *` (remove every binding; only with `Expires: 0`).
    pub wildcard: bool,
    /// The `Expires` header, if any.
    pub expires: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub received: String,
    pub transport: String,
    pub user_agent: String,
}

/// What the registrar refuses, with the response the shell sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("400 Contact * needs Expires: 0 and no other contact")]
    BadWildcard,
    /// RFC 3261 §10.3 step 7: the shell answers 423 with a Min-Expires header.
    #[error("423 Interval Too Brief (Min-Expires {min})")]
    TooBrief { min: u32 },
    /// An older or repeated REGISTER from the same Call-ID (retransmission or reordering).
    #[error("500 out-of-order REGISTER (CSeq not above the binding's)")]
    OutOfOrder,
    #[error("403 too many contacts for one extension (at most {max})")]
    TooManyContacts { max: usize },
}

/// A change to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Upsert {
        extension: String,
        binding: Binding,
    },
    Remove {
        extension: String,
        contact_uri: String,
    },
}

/// Registrar limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub default_expires: u32,
    pub min_expires: u32,
    pub max_expires: u32,
    pub max_contacts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 3600,
            max_contacts: 10,
        }
    }
}

/// All bindings of all extensions.
#[derive(Debug, Default)]
pub struct Registrar {
    limits: Limits,
    bindings: HashMap<String, Vec<Binding>>,
}

impl Registrar {
    pub fn new(limits: Limits) -> Registrar {
        Registrar {
            limits,
            bindings: HashMap::new(),
        }
    }

    /// Loads bindings read back from the database at start-up (expired ones are skipped).
    pub fn restore(&mut self, extension: &str, binding: Binding, now_ms: i64) {
        if binding.expires_ms > now_ms {
            self.bindings
                .entry(extension.to_string())
                .or_default()
                .push(binding);
        }
    }

    /// Applies a REGISTER; returns the extension's bindings afterwards (for the 200's Contact
    /// headers) and the changes to persist. Nothing changes when an error is returned.
    pub fn apply(
        &mut self,
        req: &Register,
        now_ms: i64,
    ) -> Result<(Vec<Binding>, Vec<Change>), RegisterError> {
        self.expire_extension(&req.extension, now_ms);
        let current = self
            .bindings
            .get(&req.extension)
            .cloned()
            .unwrap_or_default();
        let mut changes = Vec::new();
        if req.wildcard {
            if req.expires != Some(0) || !req.contacts.is_empty() {
                return Err(RegisterError::BadWildcard);
            }
            for b in &current {
                if b.call_id == req.call_id && req.cseq <= b.cseq {
                    return Err(RegisterError::OutOfOrder);
                }
            }
            for b in current {
                changes.push(Change::Remove {
                    extension: req.extension.clone(),
                    contact_uri: b.contact_uri,
                });
            }
            self.bindings.remove(&req.extension);
            return Ok((Vec::new(), changes));
        }
        let mut next = current;
        for c in &req.contacts {
            let asked = c
                .expires
                .or(req.expires)
                .unwrap_or(self.limits.default_expires);
            if asked != 0 && asked < self.limits.min_expires {
                return Err(RegisterError::TooBrief {
                    min: self.limits.min_expires,
                });
            }
            let expires = asked.min(self.limits.max_expires);
            let existing = next
                .iter()
                .position(|b| same_contact(&b.contact_uri, &c.uri));
            if let Some(i) = existing {
                let b = &next[i];
                if b.call_id == req.call_id && req.cseq <= b.cseq {
                    return Err(RegisterError::OutOfOrder);
                }
            }
            if expires == 0 {
                if let Some(i) = existing {
                    let b = next.remove(i);
                    changes.push(Change::Remove {
                        extension: req.extension.clone(),
                        contact_uri: b.contact_uri,
                    });
                }
                continue;
            }
            let binding = Binding {
                contact_uri: c.uri.clone(),
                received: req.received.clone(),
                transport: req.transport.clone(),
                call_id: req.call_id.clone(),
                cseq: req.cseq,
                q_milli: c.q_milli.min(1000),
                expires_ms: now_ms + i64::from(expires) * 1000,
                user_agent: req.user_agent.clone(),
            };
            match existing {
                Some(i) => next[i] = binding.clone(),
                None => next.push(binding.clone()),
            }
            changes.push(Change::Upsert {
                extension: req.extension.clone(),
                binding,
            });
        }
        if next.len() > self.limits.max_contacts {
            return Err(RegisterError::TooManyContacts {
                max: self.limits.max_contacts,
            });
        }
        if next.is_empty() {
            self.bindings.remove(&req.extension);
        } else {
            self.bindings.insert(req.extension.clone(), next.clone());
        }
        Ok((next, changes))
    }

    /// The live bindings of `extension`, highest q first.
    pub fn lookup(&self, extension: &str, now_ms: i64) -> Vec<Binding> {
        let mut v: Vec<Binding> = self
            .bindings
            .get(extension)
            .map(|bs| {
                bs.iter()
                    .filter(|b| b.expires_ms > now_ms)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|b| std::cmp::Reverse(b.q_milli));
        v
    }

    /// Drops expired bindings everywhere; returns what to delete from the database.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Change> {
        let mut changes = Vec::new();
        self.bindings.retain(|ext, bs| {
            bs.retain(|b| {
                let live = b.expires_ms > now_ms;
                if !live {
                    changes.push(Change::Remove {
                        extension: ext.clone(),
                        contact_uri: b.contact_uri.clone(),
                    });
                }
                live
            });
            !bs.is_empty()
        });
        changes
    }

    fn expire_extension(&mut self, extension: &str, now_ms: i64) {
        if let Some(bs) = self.bindings.get_mut(extension) {
            bs.retain(|b| b.expires_ms > now_ms);
        }
    }

    /// Number of live bindings (the `/metrics` gauge).
    pub fn count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    /// Seconds left on a binding, for the 200's `expires` parameters.
    pub fn remaining(binding: &Binding, now_ms: i64) -> Duration {
        Duration::from_millis(binding.expires_ms.saturating_sub(now_ms).max(0) as u64)
    }
}

/// RFC 3261 §10.3 compares contact URIs by URI equality; devices resend the same text, so a
/// case-insensitive comparison of scheme and host parts is what matters in practice.
fn same_contact(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

pub mod persist;

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(
        ext: &str,
        contacts: &[(&str, Option<u32>)],
        expires: Option<u32>,
        call_id: &str,
        cseq: u32,
    ) -> Register {
        Register {
            extension: ext.into(),
            contacts: contacts
                .iter()
                .map(|(u, e)| ContactRequest {
                    uri: u.to_string(),
                    expires: *e,
                    q_milli: 1000,
                })
                .collect(),
            wildcard: false,
            expires,
            call_id: call_id.into(),
            cseq,
            received: "192.0.2.7:40000".into(),
            transport: "udp".into(),
            user_agent: "Linphone".into(),
        }
    }

    #[test]
    fn binds_several_contacts_and_looks_them_up() {
        let mut r = Registrar::new(Limits::default());
        let (b, ch) = r
            .apply(
                &reg(
                    "1001",
                    &[("sip:1001@10.0.0.2:5060", None)],
                    Some(600),
                    "desk",
                    1,
                ),
                0,
            )
            .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].expires_ms, 600_000);
        assert_eq!(ch.len(), 1);
        let (b, _) = r
            .apply(
                &reg(
                    "1001",
                    &[("sip:1001@10.0.0.3:5062", None)],
                    Some(600),
                    "soft",
                    1,
                ),
                1000,
            )
            .unwrap();
        assert_eq!(b.len(), 2, "a second device adds a binding");
        assert_eq!(r.lookup("1001", 2000).len(), 2);
        assert_eq!(r.count(), 2);
        assert!(r.lookup("1002", 0).is_empty());
    }

    #[test]
    fn refresh_replaces_and_expiry_removes() {
        let mut r = Registrar::new(Limits::default());
        r.apply(&reg("1001", &[("sip:1001@h", None)], Some(120), "c", 1), 0)
            .unwrap();
        r.apply(
            &reg("1001", &[("sip:1001@h", None)], Some(120), "c", 2),
            60_000,
        )
        .unwrap();
        assert_eq!(
            r.lookup("1001", 150_000).len(),
            1,
            "the refresh moved the expiry to 180 s"
        );
        assert!(r.lookup("1001", 180_000).is_empty());
        let gone = r.expire(180_000);
        assert_eq!(
            gone,
            vec![Change::Remove {
                extension: "1001".into(),
                contact_uri: "sip:1001@h".into()
            }]
        );
        assert_eq!(r.count(), 0);
    }

    #[test]
    fn expires_zero_unregisters_one_contact() {
        let mut r = Registrar::new(Limits::default());
        r.apply(
            &reg(
                "1001",
                &[("sip:a@h", None), ("sip:b@h", None)],
                Some(300),
                "c",
                1,
            ),
            0,
        )
        .unwrap();
        let (b, ch) = r
            .apply(&reg("1001", &[("sip:a@h", Some(0))], None, "c", 2), 0)
            .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].contact_uri, "sip:b@h");
        assert_eq!(
            ch,
            vec![Change::Remove {
                extension: "1001".into(),
                contact_uri: "sip:a@h".into()
            }]
        );
    }

    #[test]
    fn wildcard_removes_all_but_only_with_expires_zero() {
        let mut r = Registrar::new(Limits::default());
        r.apply(
            &reg(
                "1001",
                &[("sip:a@h", None), ("sip:b@h", None)],
                Some(300),
                "c",
                1,
            ),
            0,
        )
        .unwrap();
        let mut w = reg("1001", &[], Some(3600), "c", 2);
        w.wildcard = true;
        assert_eq!(r.apply(&w, 0).unwrap_err(), RegisterError::BadWildcard);
        w.expires = Some(0);
        let (b, ch) = r.apply(&w, 0).unwrap();
        assert!(b.is_empty());
        assert_eq!(ch.len(), 2);
        assert_eq!(r.count(), 0);
    }

    #[test]
    fn too_brief_interval_gets_423_and_long_ones_are_capped() {
        let mut r = Registrar::new(Limits {
            min_expires: 60,
            max_expires: 3600,
            ..Limits::default()
        });
        assert_eq!(
            r.apply(&reg("1001", &[("sip:a@h", None)], Some(30), "c", 1), 0)
                .unwrap_err(),
            RegisterError::TooBrief { min: 60 }
        );
        assert_eq!(r.count(), 0, "nothing changed");
        let (b, _) = r
            .apply(&reg("1001", &[("sip:a@h", Some(86_400))], None, "c", 2), 0)
            .unwrap();
        assert_eq!(b[0].expires_ms, 3_600_000);
    }

    #[test]
    fn reordered_register_is_refused() {
        let mut r = Registrar::new(Limits::default());
        r.apply(&reg("1001", &[("sip:a@h", None)], Some(300), "c", 5), 0)
            .unwrap();
        assert_eq!(
            r.apply(&reg("1001", &[("sip:a@h", None)], Some(0), "c", 4), 0)
                .unwrap_err(),
            RegisterError::OutOfOrder
        );
        assert_eq!(
            r.lookup("1001", 1).len(),
            1,
            "the stale unregister did not remove the binding"
        );
        // A new Call-ID (the phone rebooted) may start from any CSeq.
        r.apply(&reg("1001", &[("sip:a@h", None)], Some(300), "c2", 1), 0)
            .unwrap();
    }

    #[test]
    fn contact_count_is_bounded() {
        let mut r = Registrar::new(Limits {
            max_contacts: 2,
            ..Limits::default()
        });
        let err = r.apply(
            &reg(
                "1001",
                &[("sip:a@h", None), ("sip:b@h", None), ("sip:c@h", None)],
                Some(300),
                "c",
                1,
            ),
            0,
        );
        assert_eq!(err.unwrap_err(), RegisterError::TooManyContacts { max: 2 });
        assert_eq!(r.count(), 0);
    }

    #[test]
    fn query_without_contacts_returns_current_bindings() {
        let mut r = Registrar::new(Limits::default());
        r.apply(&reg("1001", &[("sip:a@h", None)], Some(300), "c", 1), 0)
            .unwrap();
        let (b, ch) = r.apply(&reg("1001", &[], None, "c", 2), 1).unwrap();
        assert_eq!(b.len(), 1);
        assert!(ch.is_empty());
    }

    #[test]
    fn lookup_orders_by_q_and_restore_skips_expired() {
        let mut r = Registrar::new(Limits::default());
        let mut req = reg(
            "1001",
            &[("sip:low@h", None), ("sip:high@h", None)],
            Some(300),
            "c",
            1,
        );
        req.contacts[0].q_milli = 100;
        req.contacts[1].q_milli = 900;
        r.apply(&req, 0).unwrap();
        assert_eq!(r.lookup("1001", 0)[0].contact_uri, "sip:high@h");
        let mut fresh = Registrar::new(Limits::default());
        let old = r.lookup("1001", 0)[0].clone();
        fresh.restore(
            "1001",
            Binding {
                expires_ms: 10,
                ..old.clone()
            },
            100,
        );
        fresh.restore("1001", old, 100);
        assert_eq!(fresh.count(), 1);
    }
}
