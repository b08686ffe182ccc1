//! Working calendar (工作日): which dates are working days (weekends, public holidays, swapped
//! workdays 调休, loaded from yearly data files) and arithmetic in working time.
//!
//! Times are unix milliseconds; dates are taken at a fixed UTC offset (China: +08:00, no DST).
//! Three measures of elapsed time ([`Basis`]): natural time; working days, where every working
//! date counts whole (so "1 working day" from Friday 10:00 is Monday 10:00); and working hours,
//! where only office-hour segments of working dates count. Both directions (`add`, `between`)
//! use the same measure, so a deadline can be paused and resumed by the remaining working time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// How far arithmetic looks ahead before giving up (bad data must not loop forever).
const MAX_SPAN_DAYS: i64 = 3_660;

/// The 2026 calendar shipped with the binary.
pub const SEED_2026: &str = include_str!("../../data-seed/holidays/2026.toml");

/// Which time counts towards a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Every millisecond counts (e.g. the 24-hour auto-close, warning lead times).
    Natural,
    /// Whole working dates count, 24 h each.
    WorkingDays,
    /// Only office hours of working dates count.
    WorkingHours,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("holiday file: {0}")]
    Parse(String),
    #[error("holiday file for {year}: {what}")]
    Invalid { year: i32, what: String },
    #[error("time out of the calendar's range")]
    OutOfRange,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    #[serde(default)]
    holiday: Vec<HolidayEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    name: String,
    off: Vec<NaiveDate>,
    #[serde(default)]
    work: Vec<NaiveDate>,
}

/// One named holiday of a loaded year, as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub off: Vec<NaiveDate>,
    pub work: Vec<NaiveDate>,
}

/// The working calendar. Years without a data file count weekends only.
#[derive(Clone, Debug)]
pub struct Calendar {
    offset_ms: i64,
    off: BTreeSet<NaiveDate>,
    work: BTreeSet<NaiveDate>,
    holidays: BTreeMap<i32, Vec<Holiday>>,
    /// Office-hour segments as (start, end) milliseconds after local midnight, sorted, disjoint.
    office: Vec<(i64, i64)>,
}

impl Default for Calendar {
    /// UTC+8, office hours 09:00–12:00 and 13:30–17:30, with the shipped 2026 holidays.
    fn default() -> Self {
        let mut cal = Calendar::new(
            8 * HOUR_MS,
            &[(9 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30)],
        )
        .unwrap_or_else(|_| Calendar::empty());
        // The shipped file is checked by a unit test; a failure here would leave weekends only.
        let _ = cal.load_year(SEED_2026);
        cal
    }
}

impl Calendar {
    fn empty() -> Calendar {
        Calendar {
            offset_ms: 8 * HOUR_MS,
            off: BTreeSet::new(),
            work: BTreeSet::new(),
            holidays: BTreeMap::new(),
            office: vec![(9 * HOUR_MS, 17 * HOUR_MS)],
        }
    }

    /// A calendar at `offset_ms` from UTC with office hours given as (start, end) minutes after
    /// midnight. Segments must be non-empty, ordered, disjoint and within the day.
    pub fn new(offset_ms: i64, office_minutes: &[(u32, u32)]) -> Result<Calendar, CalendarError> {
        let bad = |what: &str| CalendarError::Invalid {
            year: 0,
            what: what.to_string(),
        };
        if offset_ms.abs() > 14 * HOUR_MS {
            return Err(bad("UTC offset beyond ±14 h"));
        }
        if office_minutes.is_empty() {
            return Err(bad("no office hours"));
        }
        let mut office = Vec::with_capacity(office_minutes.len());
        let mut last_end = 0i64;
        for &(s, e) in office_minutes {
            let (s, e) = (s as i64 * MINUTE_MS, e as i64 * MINUTE_MS);
            if s >= e || e > DAY_MS || s < last_end {
                return Err(bad(
                    "office hours must be ordered, disjoint, non-empty segments within a day",
                ));
            }
            last_end = e;
            office.push((s, e));
        }
        Ok(Calendar {
            offset_ms,
            off: BTreeSet::new(),
            work: BTreeSet::new(),
            holidays: BTreeMap::new(),
            office,
        })
    }

    /// Loads one year's holiday file (TOML, see `data-seed/holidays/2026.toml`), replacing any
    /// earlier load of the same year. Returns the year.
    pub fn load_year(&mut self, toml_text: &str) -> Result<i32, CalendarError> {
        let file: YearFile =
            toml::from_str(toml_text).map_err(|e| CalendarError::Parse(e.to_string()))?;
        let year = file.year;
        let invalid = |what: String| CalendarError::Invalid { year, what };
        if !(1970..=2200).contains(&year) {
            return Err(invalid("year out of range".into()));
        }
        let mut off = BTreeSet::new();
        let mut work = BTreeSet::new();
        for h in &file.holiday {
            if h.off.is_empty() {
                return Err(invalid(format!("{}: no days off", h.name)));
            }
            for d in &h.off {
                // A holiday may start in the previous year's last days (e.g. 元旦 on a Monday).
                if (d.year() - year).abs() > 1 {
                    return Err(invalid(format!("{}: {d} is not near {year}", h.name)));
                }
                if !off.insert(*d) {
                    return Err(invalid(format!("{}: {d} listed twice", h.name)));
                }
            }
            for d in &h.work {
                if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                    return Err(invalid(format!(
                        "{}: swapped workday {d} is not a weekend day",
                        h.name
                    )));
                }
                if off.contains(d) || !work.insert(*d) {
                    return Err(invalid(format!(
                        "{}: {d} is both off and a workday, or listed twice",
                        h.name
                    )));
                }
            }
        }
        if let Some(old) = self.holidays.remove(&year) {
            for h in old {
                h.off.iter().for_each(|d| {
                    self.off.remove(d);
                });
                h.work.iter().for_each(|d| {
                    self.work.remove(d);
                });
            }
        }
        self.off.extend(off);
        self.work.extend(work);
        let list = file
            .holiday
            .into_iter()
            .map(|h| Holiday {
                name: h.name,
                off: h.off,
                work: h.work,
            })
            .collect();
        self.holidays.insert(year, list);
        Ok(year)
    }

    /// The holidays loaded for `year` (empty when none).
    pub fn holidays(&self, year: i32) -> &[Holiday] {
        self.holidays.get(&year).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Years with a loaded holiday file.
    pub fn years(&self) -> Vec<i32> {
        self.holidays.keys().copied().collect()
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.work.contains(&date) {
            return true;
        }
        if self.off.contains(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The local date of an instant.
    pub fn date_of(&self, t_ms: i64) -> Option<NaiveDate> {
        let local = t_ms.checked_add(self.offset_ms)?;
        let days = local.div_euclid(DAY_MS);
        NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).ok()?)
    }

    /// Unix ms of local midnight starting `date`.
    pub fn midnight(&self, date: NaiveDate) -> i64 {
        (date.num_days_from_ce() as i64 - 719_163) * DAY_MS - self.offset_ms
    }

    /// Counting segments of a date, as absolute (start, end) ms.
    fn segments(&self, date: NaiveDate, basis: Basis) -> Vec<(i64, i64)> {
        let m = self.midnight(date);
        match basis {
            Basis::Natural => vec![(m, m + DAY_MS)],
            Basis::WorkingDays if self.is_working_day(date) => vec![(m, m + DAY_MS)],
            Basis::WorkingHours if self.is_working_day(date) => {
                self.office.iter().map(|&(s, e)| (m + s, m + e)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The instant reached after `amount_ms` of counted time from `from_ms`. `amount_ms` of 0
    /// gives `from_ms` itself; negative amounts are refused.
    pub fn add(&self, from_ms: i64, amount_ms: i64, basis: Basis) -> Result<i64, CalendarError> {
        if amount_ms < 0 {
            return Err(CalendarError::OutOfRange);
        }
        if amount_ms == 0 {
            return Ok(from_ms);
        }
        if basis == Basis::Natural {
            return from_ms
                .checked_add(amount_ms)
                .ok_or(CalendarError::OutOfRange);
        }
        let mut left = amount_ms;
        let mut date = self.date_of(from_ms).ok_or(CalendarError::OutOfRange)?;
        for _ in 0..MAX_SPAN_DAYS * 4 {
            for (s, e) in self.segments(date, basis) {
                let start = s.max(from_ms);
                if start >= e {
                    continue;
                }
                let avail = e - start;
                if left <= avail {
                    return Ok(start + left);
                }
                left -= avail;
            }
            date = date.succ_opt().ok_or(CalendarError::OutOfRange)?;
        }
        Err(CalendarError::OutOfRange)
    }

    /// Counted time in `[from_ms, to_ms)`; 0 when `to_ms <= from_ms`.
    pub fn between(&self, from_ms: i64, to_ms: i64, basis: Basis) -> Result<i64, CalendarError> {
        if to_ms <= from_ms {
            return Ok(0);
        }
        if basis == Basis::Natural {
            return Ok(to_ms - from_ms);
        }
        if (to_ms - from_ms) / DAY_MS > MAX_SPAN_DAYS * 4 {
            return Err(CalendarError::OutOfRange);
        }
        let mut total = 0i64;
        let mut date = self.date_of(from_ms).ok_or(CalendarError::OutOfRange)?;
        let last = self.date_of(to_ms).ok_or(CalendarError::OutOfRange)?;
        while date <= last {
            for (s, e) in self.segments(date, basis) {
                let (a, b) = (s.max(from_ms), e.min(to_ms));
                if b > a {
                    total += b - a;
                }
            }
            date = date.succ_opt().ok_or(CalendarError::OutOfRange)?;
        }
        Ok(total)
    }

    /// Adds `n` working days (whole dates) to `from_ms`.
    pub fn add_working_days(&self, from_ms: i64, n: u32) -> Result<i64, CalendarError> {
        self.add(from_ms, n as i64 * DAY_MS, Basis::WorkingDays)
    }

    /// Adds `n` working hours (office hours of working dates) to `from_ms`.
    pub fn add_working_hours(&self, from_ms: i64, n: u32) -> Result<i64, CalendarError> {
        self.add(from_ms, n as i64 * HOUR_MS, Basis::WorkingHours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Unix ms of a local (UTC+8) time.
    fn at(cal: &Calendar, date: &str, h: i64, m: i64) -> i64 {
        cal.midnight(d(date)) + h * HOUR_MS + m * MINUTE_MS
    }

    #[test]
    fn shipped_2026_file_loads() {
        let mut cal = Calendar::new(8 * HOUR_MS, &[(540, 720), (810, 1050)]).unwrap();
        assert_eq!(cal.load_year(SEED_2026), Ok(2026));
        assert_eq!(cal.holidays(2026).len(), 7);
        assert_eq!(Calendar::default().years(), vec![2026]);
    }

    #[test]
    fn weekends_holidays_and_swapped_workdays() {
        let cal = Calendar::default();
        assert!(cal.is_working_day(d("2026-03-02"))); // a Monday
        assert!(!cal.is_working_day(d("2026-03-07"))); // a Saturday
        assert!(!cal.is_working_day(d("2026-01-01"))); // 元旦, a Thursday
        assert!(cal.is_working_day(d("2026-01-04"))); // swapped Sunday
        assert!(!cal.is_working_day(d("2026-02-23"))); // 春节 Monday
        assert!(cal.is_working_day(d("2026-02-14"))); // swapped Saturday
        assert!(cal.is_working_day(d("2026-10-10"))); // swapped Saturday after 国庆
        assert!(!cal.is_working_day(d("2026-10-05")));
        // No file for 2027: weekends only.
        assert!(cal.is_working_day(d("2027-01-01")));
    }

    #[test]
    fn working_days_skip_weekends() {
        let cal = Calendar::default();
        // Friday 10:00 + 1 working day = Monday 10:00.
        let fri = at(&cal, "2026-03-06", 10, 0);
        assert_eq!(
            cal.add_working_days(fri, 1),
            Ok(at(&cal, "2026-03-09", 10, 0))
        );
        // Saturday 10:00 + 1 working day = the end of Monday.
        let sat = at(&cal, "2026-03-07", 10, 0);
        assert_eq!(
            cal.add_working_days(sat, 1),
            Ok(at(&cal, "2026-03-10", 0, 0))
        );
        // Complaint: 10 working days from Monday 2026-03-02 09:00 = Monday 2026-03-16 09:00.
        assert_eq!(
            cal.add_working_days(at(&cal, "2026-03-02", 9, 0), 10),
            Ok(at(&cal, "2026-03-16", 9, 0))
        );
    }

    #[test]
    fn working_days_across_spring_festival_and_swaps() {
        let cal = Calendar::default();
        // Friday 2026-02-13 09:00 + 1 wd: Saturday 02-14 is a swapped workday.
        assert_eq!(
            cal.add_working_days(at(&cal, "2026-02-13", 9, 0), 1),
            Ok(at(&cal, "2026-02-14", 9, 0))
        );
        // + 2 wd: 02-15..02-23 are off, so Tuesday 02-24.
        assert_eq!(
            cal.add_working_days(at(&cal, "2026-02-13", 9, 0), 2),
            Ok(at(&cal, "2026-02-24", 9, 0))
        );
        // 国庆: Tuesday 09-29 12:00 + 3 wd = Wednesday 09-30 (1), Thursday 10-08 (2), Friday 10-09 (3).
        assert_eq!(
            cal.add_working_days(at(&cal, "2026-09-29", 12, 0), 3),
            Ok(at(&cal, "2026-10-09", 12, 0))
        );
        // + 4 wd lands on the swapped Saturday 10-10.
        assert_eq!(
            cal.add_working_days(at(&cal, "2026-09-29", 12, 0), 4),
            Ok(at(&cal, "2026-10-10", 12, 0))
        );
        // 元旦: Wednesday 2025-12-31 15:00 + 1 wd: 01-01..03 off, Sunday 01-04 works.
        assert_eq!(
            cal.add_working_days(at(&cal, "2025-12-31", 15, 0), 1),
            Ok(at(&cal, "2026-01-04", 15, 0))
        );
    }

    #[test]
    fn working_hours_follow_office_segments() {
        let cal = Calendar::default(); // 09:00-12:00, 13:30-17:30
        let mon = at(&cal, "2026-03-02", 11, 0);
        // 1 h from 11:00 reaches 12:00 exactly.
        assert_eq!(
            cal.add_working_hours(mon, 1),
            Ok(at(&cal, "2026-03-02", 12, 0))
        );
        // 2 h from 11:00: 1 h before lunch, 1 h after 13:30.
        assert_eq!(
            cal.add_working_hours(mon, 2),
            Ok(at(&cal, "2026-03-02", 14, 30))
        );
        // Friday 17:00 + 1 h: half an hour on Friday, half on Monday morning.
        let fri = at(&cal, "2026-03-06", 17, 0);
        assert_eq!(
            cal.add_working_hours(fri, 1),
            Ok(at(&cal, "2026-03-09", 9, 30))
        );
        // Before office hours, counting starts at 09:00.
        assert_eq!(
            cal.add_working_hours(at(&cal, "2026-03-02", 6, 0), 1),
            Ok(at(&cal, "2026-03-02", 10, 0))
        );
        // A working day has 7 office hours.
        let m = cal.midnight(d("2026-03-02"));
        assert_eq!(
            cal.between(m, m + DAY_MS, Basis::WorkingHours),
            Ok(7 * HOUR_MS)
        );
        assert_eq!(cal.between(m, m + DAY_MS, Basis::WorkingDays), Ok(DAY_MS));
    }

    #[test]
    fn between_counts_only_working_time() {
        let cal = Calendar::default();
        let fri = at(&cal, "2026-03-06", 10, 0);
        let mon = at(&cal, "2026-03-09", 10, 0);
        assert_eq!(cal.between(fri, mon, Basis::WorkingDays), Ok(DAY_MS));
        assert_eq!(cal.between(fri, mon, Basis::Natural), Ok(3 * DAY_MS));
        assert_eq!(cal.between(mon, fri, Basis::WorkingDays), Ok(0));
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let mut cal = Calendar::default();
        assert!(matches!(
            cal.load_year("year = "),
            Err(CalendarError::Parse(_))
        ));
        let not_weekend = "year = 2026\n[[holiday]]\nname = \"x\"\noff = [\"2026-03-02\"]\nwork = [\"2026-03-03\"]\n";
        let err = cal.load_year(not_weekend).unwrap_err();
        assert!(err.to_string().contains("not a weekend day"), "{err}");
        let twice =
            "year = 2026\n[[holiday]]\nname = \"x\"\noff = [\"2026-03-02\", \"2026-03-02\"]\n";
        assert!(cal
            .load_year(twice)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(Calendar::new(0, &[(600, 500)]).is_err());
        assert!(Calendar::new(0, &[]).is_err());
        assert_eq!(
            cal.add(0, -1, Basis::WorkingDays),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            cal.add(i64::MAX - 5, 10, Basis::Natural),
            Err(CalendarError::OutOfRange)
        );
    }

    #[test]
    fn reloading_a_year_replaces_it() {
        let mut cal = Calendar::default();
        let only_may_day = "year = 2026\n[[holiday]]\nname = \"劳动节\"\noff = [\"2026-05-01\"]\n";
        cal.load_year(only_may_day).unwrap();
        assert!(cal.is_working_day(d("2026-01-01")));
        assert!(!cal.is_working_day(d("2026-05-01")));
        assert!(!cal.is_working_day(d("2026-01-04"))); // no longer a swapped workday
    }

    fn basis() -> impl Strategy<Value = Basis> {
        prop_oneof![
            Just(Basis::Natural),
            Just(Basis::WorkingDays),
            Just(Basis::WorkingHours)
        ]
    }

    // 2025-06-01 .. 2027-06-01, covering the loaded year and both neighbours.
    const T0: i64 = 1_748_707_200_000;
    const SPAN: i64 = 730 * DAY_MS;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn add_then_between_round_trips(t in T0..T0 + SPAN, x in 0i64..40 * DAY_MS, b in basis()) {
            let cal = Calendar::default();
            let end = cal.add(t, x, b).unwrap();
            prop_assert!(end >= t);
            prop_assert_eq!(cal.between(t, end, b).unwrap(), x);
        }

        #[test]
        fn add_is_additive(t in T0..T0 + SPAN, x in 0i64..20 * DAY_MS, y in 0i64..20 * DAY_MS, b in basis()) {
            let cal = Calendar::default();
            let once = cal.add(t, x + y, b).unwrap();
            let twice = cal.add(cal.add(t, x, b).unwrap(), y, b).unwrap();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn add_is_monotonic(t in T0..T0 + SPAN, x in 0i64..20 * DAY_MS, y in 0i64..20 * DAY_MS, b in basis()) {
            let cal = Calendar::default();
            let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
            prop_assert!(cal.add(t, lo, b).unwrap() <= cal.add(t, hi, b).unwrap());
        }

        #[test]
        fn between_is_additive_and_bounded(a in T0..T0 + SPAN, m in 0i64..30 * DAY_MS, n in 0i64..30 * DAY_MS, b in basis()) {
            let cal = Calendar::default();
            let (mid, end) = (a + m, a + m + n);
            let whole = cal.between(a, end, b).unwrap();
            prop_assert_eq!(whole, cal.between(a, mid, b).unwrap() + cal.between(mid, end, b).unwrap());
            prop_assert!(whole <= end - a);
        }

        #[test]
        fn working_day_results_land_on_working_dates(t in T0..T0 + SPAN, n in 1u32..30) {
            let cal = Calendar::default();
            let end = cal.add_working_days(t, n).unwrap();
            // The instant just before the deadline lies on a working date.
            prop_assert!(cal.is_working_day(cal.date_of(end - 1).unwrap()));
            // n working days span at least n natural days.
            prop_assert!(end - t >= n as i64 * DAY_MS);
        }

        #[test]
        fn working_hour_results_land_in_office_hours(t in T0..T0 + SPAN, n in 1u32..60) {
            let cal = Calendar::default();
            let end = cal.add_working_hours(t, n).unwrap();
            let date = cal.date_of(end - 1).unwrap();
            prop_assert!(cal.is_working_day(date));
            let in_day = end - cal.midnight(date);
            prop_assert!((9 * HOUR_MS < in_day && in_day <= 12 * HOUR_MS) || (13 * HOUR_MS + 30 * MINUTE_MS < in_day && in_day <= 17 * HOUR_MS + 30 * MINUTE_MS));
        }
    }
}
