//! The SLA engine: time limits per category × request type × urgency × handling type, and the
//! deadline clock a ticket carries (start, pause for suspension, extend, warn yellow/red, overdue).
//!
//! Pure values: a [`Deadline`] is moved only by calls that pass the calendar and the time in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::calendar::{Basis, Calendar, CalendarError, DAY_MS, HOUR_MS, MINUTE_MS};
use super::model::{HandlingType, RequestType, Urgency};

/// A time limit such as `10wd` (working days), `4wh` (working hours), `24h`, `60m` (natural).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Limit {
    pub amount: u32,
    pub basis: Basis,
    /// Natural limits may be given in minutes; counted limits use days/hours.
    pub minutes: bool,
}

impl Limit {
    pub const fn working_days(n: u32) -> Limit {
        Limit {
            amount: n,
            basis: Basis::WorkingDays,
            minutes: false,
        }
    }
    pub const fn working_hours(n: u32) -> Limit {
        Limit {
            amount: n,
            basis: Basis::WorkingHours,
            minutes: false,
        }
    }
    pub const fn hours(n: u32) -> Limit {
        Limit {
            amount: n,
            basis: Basis::Natural,
            minutes: false,
        }
    }
    pub const fn minutes(n: u32) -> Limit {
        Limit {
            amount: n,
            basis: Basis::Natural,
            minutes: true,
        }
    }
    /// The limit as counted milliseconds in its basis.
    pub fn ms(&self) -> i64 {
        let unit = match (self.basis, self.minutes) {
            (_, true) => MINUTE_MS,
            (Basis::WorkingDays, _) => DAY_MS,
            _ => HOUR_MS,
        };
        self.amount as i64 * unit
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match (self.basis, self.minutes) {
            (_, true) => "m",
            (Basis::WorkingDays, _) => "wd",
            (Basis::WorkingHours, _) => "wh",
            (Basis::Natural, _) => "h",
        };
        write!(f, "{}{}", self.amount, unit)
    }
}

impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Limit, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let amount: u32 = num
            .parse()
            .map_err(|_| format!("`{s}`: expected a number then wd, wh, h or m"))?;
        if amount > 3650 * 24 {
            return Err(format!("`{s}`: limit too large"));
        }
        match unit {
            "wd" => Ok(Limit::working_days(amount)),
            "wh" => Ok(Limit::working_hours(amount)),
            "h" => Ok(Limit::hours(amount)),
            "m" => Ok(Limit::minutes(amount)),
            _ => Err(format!(
                "`{s}`: unit must be wd (working days), wh (working hours), h or m"
            )),
        }
    }
}

impl TryFrom<String> for Limit {
    type Error = String;
    fn try_from(s: String) -> Result<Limit, String> {
        s.parse()
    }
}

impl From<Limit> for String {
    fn from(l: Limit) -> String {
        l.to_string()
    }
}

/// One row of the SLA table. Empty/absent selectors match anything; the most specific match wins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaRule {
    /// Category code prefix (the tree is coded so a prefix selects a subtree); "" = any.
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub request_type: Option<RequestType>,
    #[serde(default)]
    pub urgency: Option<Urgency>,
    #[serde(default)]
    pub handling: Option<HandlingType>,
    /// Time for the department to sign for (签收).
    pub sign_for: Limit,
    /// Time to handle and reply (办结).
    pub handle: Limit,
}

/// The limits and warning leads that apply to one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub sign_for: Limit,
    pub handle: Limit,
}

/// The SLA table plus warning lead times (natural time before the deadline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    pub yellow_lead: Limit,
    pub red_lead: Limit,
    #[serde(rename = "rule")]
    pub rules: Vec<SlaRule>,
}

impl Default for SlaPolicy {
    /// The shipped table (`data-seed/sla.toml`), or a built-in fallback when it fails to parse.
    fn default() -> Self {
        SlaPolicy::from_toml(include_str!("../../data-seed/sla.toml")).unwrap_or(SlaPolicy {
            yellow_lead: Limit::hours(24),
            red_lead: Limit::minutes(60),
            rules: vec![SlaRule {
                category: String::new(),
                request_type: None,
                urgency: None,
                handling: None,
                sign_for: Limit::working_hours(4),
                handle: Limit::working_days(10),
            }],
        })
    }
}

impl SlaPolicy {
    pub fn from_toml(text: &str) -> Result<SlaPolicy, String> {
        let p: SlaPolicy = toml::from_str(text).map_err(|e| e.to_string())?;
        if !p.rules.iter().any(|r| {
            r.category.is_empty()
                && r.request_type.is_none()
                && r.urgency.is_none()
                && r.handling.is_none()
        }) {
            return Err("the SLA table needs a catch-all rule (no selectors)".into());
        }
        if p.red_lead.basis != Basis::Natural || p.yellow_lead.basis != Basis::Natural {
            return Err("warning leads are natural time (h or m)".into());
        }
        Ok(p)
    }

    /// The limits for a ticket: the most specific matching rule (handling type first, then
    /// category prefix length, urgency, request type); earlier rules win ties.
    pub fn limits(
        &self,
        category: &str,
        request_type: RequestType,
        urgency: Urgency,
        handling: HandlingType,
    ) -> Limits {
        let mut best: Option<(usize, &SlaRule)> = None;
        for r in &self.rules {
            let matches = category.starts_with(&r.category)
                && r.request_type.is_none_or(|t| t == request_type)
                && r.urgency.is_none_or(|u| u == urgency)
                && r.handling.is_none_or(|h| h == handling);
            if !matches {
                continue;
            }
            // A handling type (reopen, escalated) fixes the limit whatever the category.
            let score = usize::from(r.handling.is_some()) * 10_000
                + r.category.len() * 8
                + usize::from(r.urgency.is_some()) * 2
                + usize::from(r.request_type.is_some());
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, r));
            }
        }
        match best {
            Some((_, r)) => Limits {
                sign_for: r.sign_for,
                handle: r.handle,
            },
            None => Limits {
                sign_for: Limit::working_hours(4),
                handle: Limit::working_days(10),
            },
        }
    }
}

/// Where a running deadline stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    Normal,
    Yellow,
    Red,
    Overdue,
}

/// A deadline clock: counted in one basis, pausable, extendable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub basis: Basis,
    pub started_ms: i64,
    /// The limit first granted, in counted ms.
    pub limit_ms: i64,
    /// Extra counted ms granted by an approved extension.
    pub extended_ms: i64,
    pub due_ms: i64,
    /// Set while suspended: counted ms that were left at the pause.
    pub paused: Option<Paused>,
    /// The highest warning already emitted (so each fires once).
    pub warned: SlaState,
    /// Paused counted time so far (for the suspension statistics).
    pub paused_total_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub at_ms: i64,
    pub remaining_ms: i64,
}

impl Deadline {
    pub fn start(cal: &Calendar, limit: Limit, now_ms: i64) -> Result<Deadline, CalendarError> {
        let due_ms = cal.add(now_ms, limit.ms(), limit.basis)?;
        Ok(Deadline {
            basis: limit.basis,
            started_ms: now_ms,
            limit_ms: limit.ms(),
            extended_ms: 0,
            due_ms,
            paused: None,
            warned: SlaState::Normal,
            paused_total_ms: 0,
        })
    }

    /// Counted ms left at `now` (0 when overdue; frozen while paused).
    pub fn remaining(&self, cal: &Calendar, now_ms: i64) -> Result<i64, CalendarError> {
        match self.paused {
            Some(p) => Ok(p.remaining_ms),
            None => cal.between(now_ms, self.due_ms, self.basis),
        }
    }

    /// Counted ms used so far (the whole grant minus what is left).
    pub fn elapsed(&self, cal: &Calendar, now_ms: i64) -> Result<i64, CalendarError> {
        Ok((self.limit_ms + self.extended_ms - self.remaining(cal, now_ms)?).max(0))
    }

    /// Stops the clock (an approved suspension). No-op when already paused.
    pub fn pause(&mut self, cal: &Calendar, now_ms: i64) -> Result<(), CalendarError> {
        if self.paused.is_none() {
            let remaining_ms = cal.between(now_ms, self.due_ms, self.basis)?;
            self.paused = Some(Paused {
                at_ms: now_ms,
                remaining_ms,
            });
        }
        Ok(())
    }

    /// Restarts the clock: the deadline moves by the time spent paused, counted in its basis.
    pub fn resume(&mut self, cal: &Calendar, now_ms: i64) -> Result<(), CalendarError> {
        if let Some(p) = self.paused {
            let was_due = self.due_ms;
            self.due_ms = cal.add(now_ms.max(p.at_ms), p.remaining_ms, self.basis)?;
            self.paused_total_ms += cal.between(p.at_ms, now_ms, self.basis)?;
            self.paused = None;
            if self.due_ms > was_due && self.warned != SlaState::Overdue {
                // A moved deadline earns its warnings again.
                self.warned = SlaState::Normal;
            }
        }
        Ok(())
    }

    /// Moves the deadline by `extra` (an approved extension), counted from the current deadline.
    pub fn extend(&mut self, cal: &Calendar, extra: Limit) -> Result<(), CalendarError> {
        let extra_ms = if extra.basis == self.basis {
            extra.ms()
        } else {
            // Convert via the same duration of natural time; rare (mixed units in a request).
            extra.ms().min(self.limit_ms)
        };
        self.extended_ms += extra_ms;
        match &mut self.paused {
            Some(p) => p.remaining_ms += extra_ms,
            None => self.due_ms = cal.add(self.due_ms, extra_ms, self.basis)?,
        }
        if self.warned != SlaState::Overdue {
            self.warned = SlaState::Normal;
        }
        Ok(())
    }

    /// The state at `now`, given the warning leads (natural time before the deadline).
    pub fn state(&self, policy: &SlaPolicy, now_ms: i64) -> SlaState {
        if self.paused.is_some() {
            return if self.warned == SlaState::Overdue {
                SlaState::Overdue
            } else {
                SlaState::Normal
            };
        }
        if now_ms >= self.due_ms {
            SlaState::Overdue
        } else if now_ms >= self.due_ms - policy.red_lead.ms() {
            SlaState::Red
        } else if now_ms >= self.due_ms - policy.yellow_lead.ms() {
            SlaState::Yellow
        } else {
            SlaState::Normal
        }
    }

    /// The next instant at which the state changes (None while paused or once overdue).
    pub fn next_change(&self, policy: &SlaPolicy, now_ms: i64) -> Option<i64> {
        if self.paused.is_some() {
            return None;
        }
        [
            self.due_ms - policy.yellow_lead.ms(),
            self.due_ms - policy.red_lead.ms(),
            self.due_ms,
        ]
        .into_iter()
        .find(|&t| t > now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(cal: &Calendar, date: &str, h: i64, m: i64) -> i64 {
        cal.midnight(NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap())
            + h * HOUR_MS
            + m * MINUTE_MS
    }

    fn policy() -> SlaPolicy {
        SlaPolicy::from_toml(
            r#"
yellow_lead = "24h"
red_lead = "60m"
[[rule]]
sign_for = "4wh"
handle = "10wd"
[[rule]]
urgency = "urgent"
sign_for = "1wh"
handle = "2wd"
[[rule]]
category = "03"
sign_for = "2wh"
handle = "5wd"
[[rule]]
category = "0301"
urgency = "urgent"
sign_for = "30m"
handle = "24h"
[[rule]]
handling = "reopen"
sign_for = "4wh"
handle = "15wd"
"#,
        )
        .unwrap()
    }

    #[test]
    fn limit_strings_parse_and_print() {
        assert_eq!("10wd".parse::<Limit>(), Ok(Limit::working_days(10)));
        assert_eq!("4wh".parse::<Limit>(), Ok(Limit::working_hours(4)));
        assert_eq!("24h".parse::<Limit>(), Ok(Limit::hours(24)));
        assert_eq!("60m".parse::<Limit>().map(|l| l.ms()), Ok(60 * MINUTE_MS));
        assert!("10".parse::<Limit>().is_err());
        assert!("wd".parse::<Limit>().is_err());
        assert!("10 days".parse::<Limit>().is_err());
        assert!("99999999wd".parse::<Limit>().is_err());
        assert_eq!(Limit::working_days(3).to_string(), "3wd");
    }

    #[test]
    fn most_specific_rule_wins() {
        let p = policy();
        let l = |c: &str, u, h| p.limits(c, RequestType::Complaint, u, h);
        assert_eq!(
            l("0101", Urgency::Normal, HandlingType::Regular).handle,
            Limit::working_days(10)
        );
        assert_eq!(
            l("0101", Urgency::Urgent, HandlingType::Regular).handle,
            Limit::working_days(2)
        );
        assert_eq!(
            l("030201", Urgency::Urgent, HandlingType::Regular).handle,
            Limit::working_days(5)
        );
        assert_eq!(
            l("030101", Urgency::Urgent, HandlingType::Regular).handle,
            Limit::hours(24)
        );
        assert_eq!(
            l("030101", Urgency::Urgent, HandlingType::Regular).sign_for,
            Limit::minutes(30)
        );
        assert_eq!(
            l("0101", Urgency::Normal, HandlingType::Reopen).handle,
            Limit::working_days(15)
        );
    }

    #[test]
    fn a_table_without_catch_all_is_refused() {
        let err = SlaPolicy::from_toml("yellow_lead = \"24h\"\nred_lead = \"1h\"\n[[rule]]\ncategory = \"01\"\nsign_for = \"1wh\"\nhandle = \"1wd\"\n");
        assert!(err.unwrap_err().contains("catch-all"));
        assert!(SlaPolicy::from_toml("yellow_lead = \"1wd\"\nred_lead = \"1h\"\n[[rule]]\nsign_for = \"1wh\"\nhandle = \"1wd\"\n").is_err());
        assert!(SlaPolicy::from_toml("yellow_lead = \"soon\"").is_err());
    }

    #[test]
    fn shipped_table_parses() {
        let p = SlaPolicy::from_toml(include_str!("../../data-seed/sla.toml")).unwrap();
        assert!(!p.rules.is_empty());
        assert_eq!(SlaPolicy::default(), p);
    }

    #[test]
    fn warnings_come_in_order_then_overdue() {
        let cal = Calendar::default();
        let p = policy();
        let start = at(&cal, "2026-03-02", 9, 0);
        let dl = Deadline::start(&cal, Limit::working_days(10), start).unwrap();
        let due = at(&cal, "2026-03-16", 9, 0);
        assert_eq!(dl.due_ms, due);
        assert_eq!(dl.state(&p, start), SlaState::Normal);
        assert_eq!(dl.next_change(&p, start), Some(due - 24 * HOUR_MS));
        assert_eq!(dl.state(&p, due - 24 * HOUR_MS), SlaState::Yellow);
        assert_eq!(dl.next_change(&p, due - 24 * HOUR_MS), Some(due - HOUR_MS));
        assert_eq!(dl.state(&p, due - HOUR_MS), SlaState::Red);
        assert_eq!(dl.state(&p, due), SlaState::Overdue);
        assert_eq!(dl.next_change(&p, due), None);
    }

    #[test]
    fn suspension_pauses_the_clock() {
        let cal = Calendar::default();
        let p = policy();
        let start = at(&cal, "2026-03-02", 9, 0); // Monday
        let mut dl = Deadline::start(&cal, Limit::working_days(10), start).unwrap();
        // Suspended Wednesday 09:00 (2 wd used) until Monday 2026-03-09 09:00 (3 wd paused).
        dl.pause(&cal, at(&cal, "2026-03-04", 9, 0)).unwrap();
        assert_eq!(
            dl.remaining(&cal, at(&cal, "2026-03-20", 9, 0)),
            Ok(8 * DAY_MS)
        );
        assert_eq!(dl.state(&p, at(&cal, "2026-03-30", 9, 0)), SlaState::Normal);
        assert_eq!(dl.next_change(&p, at(&cal, "2026-03-05", 9, 0)), None);
        dl.resume(&cal, at(&cal, "2026-03-09", 9, 0)).unwrap();
        // 8 wd from Monday 03-09 09:00 = Thursday 03-19 09:00: the original 03-16 moved by 3 wd.
        assert_eq!(dl.due_ms, at(&cal, "2026-03-19", 9, 0));
        assert_eq!(dl.paused_total_ms, 3 * DAY_MS);
        assert_eq!(
            dl.elapsed(&cal, at(&cal, "2026-03-09", 9, 0)),
            Ok(2 * DAY_MS)
        );
    }

    #[test]
    fn suspension_over_a_holiday_costs_nothing_extra() {
        let cal = Calendar::default();
        let start = at(&cal, "2026-09-28", 10, 0); // Monday before 国庆
        let mut dl = Deadline::start(&cal, Limit::working_days(5), start).unwrap();
        // 09-29 (1), 09-30 (2), 10-08 (3), 10-09 (4), swapped Saturday 10-10 (5).
        assert_eq!(dl.due_ms, at(&cal, "2026-10-10", 10, 0));
        dl.pause(&cal, at(&cal, "2026-09-30", 10, 0)).unwrap();
        dl.resume(&cal, at(&cal, "2026-10-08", 10, 0)).unwrap();
        // Paused 09-30 10:00 .. 10-08 10:00 = 1 working day (the holiday is free): the deadline
        // moves past Sunday 10-11 to Monday 10-12.
        assert_eq!(dl.paused_total_ms, DAY_MS);
        assert_eq!(dl.due_ms, at(&cal, "2026-10-12", 10, 0));
    }

    #[test]
    fn extension_moves_the_deadline_and_rearms_warnings() {
        let cal = Calendar::default();
        let p = policy();
        let start = at(&cal, "2026-03-02", 9, 0);
        let mut dl = Deadline::start(&cal, Limit::working_days(10), start).unwrap();
        dl.warned = SlaState::Yellow;
        dl.extend(&cal, Limit::working_days(5)).unwrap();
        assert_eq!(dl.due_ms, at(&cal, "2026-03-23", 9, 0));
        assert_eq!(dl.warned, SlaState::Normal);
        assert_eq!(dl.state(&p, at(&cal, "2026-03-16", 9, 0)), SlaState::Normal);
        // While paused, an extension adds to the remaining time.
        let mut dl2 = Deadline::start(&cal, Limit::working_days(10), start).unwrap();
        dl2.pause(&cal, start).unwrap();
        dl2.extend(&cal, Limit::working_days(2)).unwrap();
        dl2.resume(&cal, start).unwrap();
        assert_eq!(dl2.due_ms, at(&cal, "2026-03-18", 9, 0));
    }

    #[test]
    fn working_hour_sign_for_deadline() {
        let cal = Calendar::default();
        // Dispatched Friday 16:00 with 4 working hours to sign: 1.5 h Friday, 2.5 h Monday → 11:30.
        let dl =
            Deadline::start(&cal, Limit::working_hours(4), at(&cal, "2026-03-06", 16, 0)).unwrap();
        assert_eq!(dl.due_ms, at(&cal, "2026-03-09", 11, 30));
    }
}
