//! What a flow's branches ask the outside world without I/O: is it working time, and is
//! the caller on a named number list. The tickets core supplies the real holiday calendar;
//! the config/blacklist code supplies the lists. Both are in-memory snapshots.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDateTime, NaiveTime, Timelike, Weekday};

/// The working calendar (工作日 with holidays and swapped workdays), in local time.
pub trait WorkingCalendar: Send + Sync {
    fn is_working_time(&self, t: NaiveDateTime) -> bool;
}

/// A simple calendar: Monday to Friday within daily hours, no holidays.
#[derive(Debug, Clone)]
pub struct WeekdayCalendar {
    pub open: NaiveTime,
    pub close: NaiveTime,
}

impl Default for WeekdayCalendar {
    fn default() -> Self {
        WeekdayCalendar {
            open: NaiveTime::from_hms_opt(8, 30, 0).unwrap_or(NaiveTime::MIN),
            close: NaiveTime::from_hms_opt(17, 30, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

impl WorkingCalendar for WeekdayCalendar {
    fn is_working_time(&self, t: NaiveDateTime) -> bool {
        !matches!(t.weekday(), Weekday::Sat | Weekday::Sun)
            && t.time() >= self.open
            && t.time() < self.close
    }
}

/// Always working time (a 24-hour line).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOpen;

impl WorkingCalendar for AlwaysOpen {
    fn is_working_time(&self, _t: NaiveDateTime) -> bool {
        true
    }
}

/// Named lists of caller numbers (elderly, red list, …).
pub trait CallerLists: Send + Sync {
    fn contains(&self, list: &str, number: &str) -> bool;
}

/// Lists held in memory.
#[derive(Debug, Clone, Default)]
pub struct StaticLists {
    lists: BTreeMap<String, BTreeSet<String>>,
}

impl StaticLists {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with(mut self, list: &str, numbers: &[&str]) -> Self {
        self.lists
            .entry(list.to_string())
            .or_default()
            .extend(numbers.iter().map(|s| s.to_string()));
        self
    }
}

impl CallerLists for StaticLists {
    fn contains(&self, list: &str, number: &str) -> bool {
        self.lists.get(list).is_some_and(|l| l.contains(number))
    }
}

/// Minutes after midnight, and weekday with Monday = 0.
pub(crate) fn minute_of_day(t: NaiveDateTime) -> u16 {
    (t.hour() * 60 + t.minute()) as u16
}

pub(crate) fn weekday0(t: NaiveDateTime) -> u8 {
    t.weekday().num_days_from_monday() as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    #[test]
    fn weekday_calendar() {
        let c = WeekdayCalendar::default();
        // 2026-11-23 is a Monday.
        assert!(c.is_working_time(at(2026, 11, 23, 8, 30)));
        assert!(!c.is_working_time(at(2026, 11, 23, 8, 29)));
        assert!(!c.is_working_time(at(2026, 11, 23, 17, 30)));
        assert!(!c.is_working_time(at(2026, 11, 22, 10, 0)));
        assert_eq!(weekday0(at(2026, 11, 23, 0, 0)), 0);
        assert_eq!(minute_of_day(at(2026, 11, 23, 1, 2)), 62);
    }

    #[test]
    fn lists() {
        let l = StaticLists::new().with("elderly", &["13800000000"]);
        assert!(l.contains("elderly", "13800000000"));
        assert!(!l.contains("elderly", "13900000000"));
        assert!(!l.contains("red", "13800000000"));
    }
}
