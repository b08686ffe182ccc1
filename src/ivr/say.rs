//! Mandarin readings of numbers, digit strings and dates as sequences of prompt
//! fragments (files under `prompts/<language>/say/`), e.g. 105 → 一 百 零 五.
//!
//! Rules: four-digit sections (个, 万, 亿, 万亿); one 零 for any run of zeros between
//! non-zero digits or sections; a leading 一十 is said 十 (12 → 十二, but 110 → 一百一十);
//! 2 before 百/千/万/亿 is 两 (200 → 两百, 2000 → 两千, 20000 → 两万).

/// Fragment names (prompt files `say/<name>.wav`).
pub const DIGITS: [&str; 10] = [
    "say/0", "say/1", "say/2", "say/3", "say/4", "say/5", "say/6", "say/7", "say/8", "say/9",
];
pub const LIANG: &str = "say/liang";
pub const SHI: &str = "say/shi";
pub const BAI: &str = "say/bai";
pub const QIAN: &str = "say/qian";
pub const WAN: &str = "say/wan";
pub const YI: &str = "say/yi";
pub const NIAN: &str = "say/nian";
pub const YUE: &str = "say/yue";
pub const RI: &str = "say/ri";
/// The letter X (last character of some ID numbers).
pub const X: &str = "say/x";

/// Every fragment a number or digit reading can use (plus date words when `dates`).
pub fn fragments_needed(dates: bool) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = DIGITS.to_vec();
    v.extend([LIANG, SHI, BAI, QIAN, WAN, YI, X]);
    if dates {
        v.extend([NIAN, YUE, RI]);
    }
    v
}

/// Reads a non-negative integer below 10^16.
pub fn number(n: u64) -> Option<Vec<&'static str>> {
    if n >= 10_000_000_000_000_000 {
        return None;
    }
    if n == 0 {
        return Some(vec![DIGITS[0]]);
    }
    // Sections of four digits, most significant first, with their unit.
    let units: [&[&str]; 4] = [&[], &[WAN], &[YI], &[WAN, YI]];
    let mut sections = Vec::new();
    let mut m = n;
    while m > 0 {
        sections.push((m % 10_000) as u16);
        m /= 10_000;
    }
    let mut out: Vec<&'static str> = Vec::new();
    let mut zero_pending = false;
    for (i, &sec) in sections.iter().enumerate().rev() {
        if sec == 0 {
            zero_pending = !out.is_empty();
            continue;
        }
        // Zero between sections: a gap after a non-zero section, or this section
        // lacks its thousands digit while a higher section was spoken.
        if !out.is_empty() && (zero_pending || sec < 1000) {
            out.push(DIGITS[0]);
        }
        zero_pending = false;
        section(sec, out.is_empty(), i > 0, &mut out);
        out.extend_from_slice(units[i]);
    }
    Some(out)
}

/// One section 1..=9999. `leading`: nothing spoken before it. `before_unit`: a 万/亿 follows.
fn section(sec: u16, leading: bool, before_unit: bool, out: &mut Vec<&'static str>) {
    let d = [sec / 1000, sec / 100 % 10, sec / 10 % 10, sec % 10];
    let place = [Some(QIAN), Some(BAI), Some(SHI), None];
    let mut spoken = false;
    let mut zero = false;
    for (i, (&digit, p)) in d.iter().zip(place).enumerate() {
        let x = digit as usize;
        if x == 0 {
            zero = spoken;
            continue;
        }
        if zero {
            out.push(DIGITS[0]);
            zero = false;
        }
        let spoken_digit = if x == 2 && (i <= 1 || (i == 3 && before_unit && !spoken && sec == 2)) {
            LIANG
        } else {
            DIGITS[x]
        };
        // 一十 at the very start is said 十.
        let skip_one = i == 2 && x == 1 && leading && !spoken;
        if !skip_one {
            out.push(spoken_digit);
        }
        if let Some(p) = p {
            out.push(p);
        }
        spoken = true;
    }
}

/// Reads a string of digits one by one (ticket numbers, phone numbers); `X`/`x` allowed.
pub fn digits(s: &str) -> Option<Vec<&'static str>> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    s.chars()
        .map(|c| match c {
            '0'..='9' => Some(DIGITS[(c as u8 - b'0') as usize]),
            'X' | 'x' => Some(X),
            _ => None,
        })
        .collect()
}

/// Reads a date `YYYY-MM-DD` (a time part after it is ignored): 2026年11月22日.
pub fn date(s: &str) -> Option<Vec<&'static str>> {
    let s = s.trim();
    let date_part = s.get(..10)?;
    let mut it = date_part.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let m: u64 = m.parse().ok()?;
    let d: u64 = d.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut out = digits(y)?;
    out.push(NIAN);
    out.extend(number(m)?);
    out.push(YUE);
    out.extend(number(d)?);
    out.push(RI);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders fragments as Chinese characters, to write tests readably.
    fn han(v: &[&str]) -> String {
        v.iter()
            .map(|f| match *f {
                "say/0" => "零",
                "say/1" => "一",
                "say/2" => "二",
                "say/3" => "三",
                "say/4" => "四",
                "say/5" => "五",
                "say/6" => "六",
                "say/7" => "七",
                "say/8" => "八",
                "say/9" => "九",
                "say/liang" => "两",
                "say/shi" => "十",
                "say/bai" => "百",
                "say/qian" => "千",
                "say/wan" => "万",
                "say/yi" => "亿",
                "say/nian" => "年",
                "say/yue" => "月",
                "say/ri" => "日",
                "say/x" => "X",
                _ => "?",
            })
            .collect()
    }

    fn n(x: u64) -> String {
        han(&number(x).unwrap())
    }

    #[test]
    fn brief_examples() {
        assert_eq!(n(10), "十");
        assert_eq!(n(12), "十二");
        assert_eq!(n(105), "一百零五");
        assert_eq!(n(1000), "一千");
        assert_eq!(n(10010), "一万零一十");
    }

    #[test]
    fn more_numbers() {
        assert_eq!(n(0), "零");
        assert_eq!(n(7), "七");
        assert_eq!(n(2), "二");
        assert_eq!(n(20), "二十");
        assert_eq!(n(22), "二十二");
        assert_eq!(n(110), "一百一十");
        assert_eq!(n(200), "两百");
        assert_eq!(n(1010), "一千零一十");
        assert_eq!(n(1001), "一千零一");
        assert_eq!(n(2000), "两千");
        assert_eq!(n(2222), "两千两百二十二");
        assert_eq!(n(12345), "一万两千三百四十五");
        assert_eq!(n(20000), "两万");
        assert_eq!(n(100000), "十万");
        assert_eq!(n(100010), "十万零一十");
        assert_eq!(n(1000001), "一百万零一");
        assert_eq!(n(10000000), "一千万");
        assert_eq!(n(100000000), "一亿");
        assert_eq!(n(100001000), "一亿零一千");
        assert_eq!(n(105000000), "一亿零五百万");
        assert_eq!(n(1_0000_0000_0000), "一万亿");
        assert!(number(10_000_000_000_000_000).is_none());
    }

    #[test]
    fn digit_strings_and_dates() {
        assert_eq!(
            han(&digits("2026110100x").unwrap()),
            "二零二六一一零一零零X"
        );
        assert!(digits("12a").is_none());
        assert!(digits("").is_none());
        assert_eq!(
            han(&date("2026-11-22").unwrap()),
            "二零二六年十一月二十二日"
        );
        assert_eq!(
            han(&date("2026-01-05 08:00").unwrap()),
            "二零二六年一月五日"
        );
        assert!(date("2026-13-01").is_none());
        assert!(date("26-1-1").is_none());
    }

    #[test]
    fn every_reading_uses_known_fragments() {
        let known = fragments_needed(true);
        for x in (0..20_000u64).chain([99_999_999, 1_234_567_890_123]) {
            for f in number(x).unwrap() {
                assert!(known.contains(&f), "{x}: {f}");
            }
        }
    }
}
