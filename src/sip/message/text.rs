//! Lexical helpers shared by the parsers: token checks, whitespace trimming, quote-aware splitting
//! and the zero-copy parameter list.

use super::error::{err, ErrorKind, ParseError};

/// Byte classes as one table lookup each (the parser asks these questions for nearly every byte).
const TOKEN: u8 = 1;
/// Unquoted parameter value: token or `: [ ] / & $ @ ?`.
const PVALUE: u8 = 2;
/// SP, HT, CR, LF.
const WS: u8 = 4;
/// Host name characters: ALPHA / DIGIT / `-` / `.` / `_`.
const HOST: u8 = 8;
/// Bytes that move the parameter scanner's state: `=` `;` `"` `\` `<` `>`. Every other byte
/// leaves it unchanged, so the scanner skips runs of them with one lookup per byte.
const PSTOP: u8 = 16;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let token = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        let pvalue = token || matches!(b, b':' | b'[' | b']' | b'/' | b'&' | b'$' | b'@' | b'?');
        let ws = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let host = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        let pstop = matches!(b, b'=' | b';' | b'"' | b'\\' | b'<' | b'>');
        t[i] = (token as u8 * TOKEN)
            | (pvalue as u8 * PVALUE)
            | (ws as u8 * WS)
            | (host as u8 * HOST)
            | (pstop as u8 * PSTOP);
        i += 1;
    }
    t
};

/// RFC 3261 `token` characters.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    CLASS[b as usize] & TOKEN != 0
}

#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

/// Host name character (see [`HOST`]).
#[inline]
pub(crate) fn is_host_char(b: u8) -> bool {
    CLASS[b as usize] & HOST != 0
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    CLASS[b as usize] & WS != 0
}

/// Trim linear white space (SP, HT and any CR/LF left by folding) from both ends.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    // Bytewise: the trimmed bytes are ASCII, so the cut points are char boundaries.
    let b = s.as_bytes();
    let (mut i, mut j) = (0, b.len());
    while i < j && is_ws(b[i]) {
        i += 1;
    }
    while j > i && is_ws(b[j - 1]) {
        j -= 1;
    }
    s.get(i..j).unwrap_or("")
}

pub(crate) fn trim_bytes(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ws(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Split `s` at `sep` bytes that are outside quoted strings and `<...>`.
/// Yields untrimmed pieces. Unbalanced input simply yields the rest as one piece.
pub(crate) struct SplitTop<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

pub(crate) fn split_top(s: &str, sep: u8) -> SplitTop<'_> {
    SplitTop { rest: Some(s), sep }
}

impl<'a> Iterator for SplitTop<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let b = s.as_bytes();
        let mut i = 0;
        // Three states; in each only a few bytes matter, so jump between them (a Via or a
        // Route list is mostly bytes that change nothing):
        // - outside: `"` opens a quote, `<` an angle, `sep` splits (a stray `>` changes nothing);
        // - in `<...>`: `"` opens a quote, `>` closes (`<` and `sep` change nothing);
        // - in a quote: `\` escapes the next byte, `"` closes (back to the state before it).
        let mut in_angle = false;
        loop {
            let hay = b.get(i..).unwrap_or(&[]);
            let found = if in_angle {
                memchr::memchr2(b'"', b'>', hay)
            } else {
                memchr::memchr3(b'"', b'<', self.sep, hay)
            };
            let Some(j) = found else { break };
            i += j;
            match b[i] {
                b'"' => match skip_quoted(b, i + 1) {
                    Some(end) => i = end,
                    None => break,
                },
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                _ => {
                    self.rest = s.get(i + 1..);
                    return s.get(..i);
                }
            }
            i += 1;
        }
        self.rest = None;
        Some(s)
    }
}

/// Index of the `"` closing a quoted string whose body starts at `i` (`\` escapes one byte);
/// `None` if it never closes.
#[inline]
fn skip_quoted(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let j = memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        i += j;
        if b[i] == b'"' {
            return Some(i);
        }
        i += 2;
    }
}

/// A `;`-separated parameter list, kept as the raw text after the first `;` (zero-copy).
/// Names compare case-insensitively; values are returned as written (quoted values keep quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The raw text (without the leading `;`).
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        trim(self.raw).is_empty()
    }

    /// `(name, value)` pairs in order; `value` is `None` for a flag like `lr`.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        let raw = self.raw;
        split_top(raw, b';')
            .filter(|p| !trim(p).is_empty())
            .map(|p| match p.bytes().position(|b| b == b'=') {
                Some(eq) => (trim(&p[..eq]), Some(trim(&p[eq + 1..]))),
                None => (trim(p), None),
            })
    }

    /// The parameter's value: `Some("")` for a flag, `None` if absent.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }

    /// Is the parameter present (flag or with value)?
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Check the grammar: non-empty token names, values that are tokens, hosts or quoted strings.
    pub(crate) fn validate(&self) -> Result<(), ParseError> {
        self.validate_with(|_, _| Ok(()))
    }

    /// [`Params::validate`] in one pass, also handing each `(name, value)` (trimmed, as
    /// [`Params::iter`] gives them) to `check`. Errors come in the order of separate passes would
    /// give them: unbalanced quotes first, then the first grammar error, then the first `check` error.
    pub(crate) fn validate_with(
        &self,
        mut check: impl FnMut(&'a str, Option<&'a str>) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        let raw = self.raw;
        let b = raw.as_bytes();
        let mut grammar: Option<ParseError> = None;
        let mut checked: Option<ParseError> = None;
        let mut piece = |start: usize, end: usize, eq: Option<usize>| {
            if grammar.is_some() {
                return;
            }
            let p = raw.get(start..end).unwrap_or("");
            let (n, v) = match eq {
                Some(e) => (
                    trim(raw.get(start..e).unwrap_or("")),
                    Some(trim(raw.get(e + 1..end).unwrap_or(""))),
                ),
                None => (trim(p), None),
            };
            if let Err(e) = check_param(n, v) {
                grammar = Some(e);
            } else if checked.is_none() {
                if let Err(e) = check(n, v) {
                    checked = Some(e);
                }
            }
        };
        // The same state machine as `split_top(raw, b';')` and `quotes_balanced`, fused.
        let (mut in_q, mut in_angle) = (false, false);
        let (mut start, mut eq) = (0usize, None);
        let mut i = 0;
        loop {
            // Bytes outside PSTOP change no state in any mode: skip them.
            while b.get(i).is_some_and(|&c| CLASS[c as usize] & PSTOP == 0) {
                i += 1;
            }
            let Some(&c) = b.get(i) else { break };
            if c == b'=' && eq.is_none() {
                eq = Some(i);
            }
            if in_q {
                if c == b'\\' {
                    i += 1;
                    if b.get(i) == Some(&b'=') && eq.is_none() {
                        eq = Some(i);
                    }
                } else if c == b'"' {
                    in_q = false;
                }
            } else if c == b'"' {
                in_q = true;
            } else if c == b'<' {
                in_angle = true;
            } else if c == b'>' {
                in_angle = false;
            } else if c == b';' && !in_angle {
                piece(start, i, eq);
                start = i + 1;
                eq = None;
            }
            i += 1;
        }
        if in_q {
            return Err(err(ErrorKind::Header, "unbalanced quotes in parameters"));
        }
        piece(start.min(b.len()), b.len(), eq);
        match (grammar, checked) {
            (Some(e), _) | (None, Some(e)) => Err(e),
            (None, None) => Ok(()),
        }
    }
}

/// One parameter's grammar: a token name, and a token/host-ish or quoted value.
fn check_param(n: &str, v: Option<&str>) -> Result<(), ParseError> {
    if !is_token(n.as_bytes()) {
        return Err(err(ErrorKind::Header, "bad parameter name"));
    }
    if let Some(v) = v {
        let vb = v.as_bytes();
        let ok = if vb.first() == Some(&b'"') {
            vb.len() >= 2 && vb.last() == Some(&b'"')
        } else {
            !vb.is_empty() && vb.iter().all(|&b| CLASS[b as usize] & PVALUE != 0)
        };
        if !ok {
            return Err(err(ErrorKind::Header, "bad parameter value"));
        }
    }
    Ok(())
}

/// Strip the quotes of a quoted-string and undo `\` escapes. Returns the input if not quoted.
pub fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        let inner = &s[1..s.len() - 1];
        if !inner.contains('\\') {
            return std::borrow::Cow::Borrowed(inner);
        }
        let mut out = String::with_capacity(inner.len());
        let mut esc = false;
        for c in inner.chars() {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else {
                out.push(c);
            }
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Parse an unsigned decimal with at most `max` as value; rejects empty, signs and overflow.
pub(crate) fn parse_u64(s: &str, max: u64) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    (v <= max).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_iter_and_get() {
        let p = Params::new("branch=z9hG4bK1 ; rport ;received = 10.0.0.1;x=\"a;b\"");
        let v: Vec<_> = p.iter().collect();
        assert_eq!(
            v,
            vec![
                ("branch", Some("z9hG4bK1")),
                ("rport", None),
                ("received", Some("10.0.0.1")),
                ("x", Some("\"a;b\""))
            ]
        );
        assert_eq!(p.get("BRANCH"), Some("z9hG4bK1"));
        assert_eq!(p.get("rport"), Some(""));
        assert_eq!(p.get("maddr"), None);
        assert!(p.validate().is_ok());
        assert!(Params::new(";;").validate().is_err());
        assert!(Params::new("a=\"x").validate().is_err());
        assert!(Params::new("a=").validate().is_err());
    }

    #[test]
    fn split_respects_quotes_and_angles() {
        let v: Vec<_> = split_top("\"a,b\" <sip:x,y@h>, <sip:z@h>", b',').collect();
        assert_eq!(v, vec!["\"a,b\" <sip:x,y@h>", " <sip:z@h>"]);
        let v: Vec<_> = split_top("\"unterminated, x", b',').collect();
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn numbers_and_unquote() {
        assert_eq!(parse_u64("70", 255), Some(70));
        assert_eq!(parse_u64("300", 255), None);
        assert_eq!(parse_u64("-1", 255), None);
        assert_eq!(parse_u64("36893488147419103232", u64::MAX), None);
        assert_eq!(parse_u64("", 1), None);
        assert_eq!(unquote("\"a\\\"b\""), "a\"b");
        assert_eq!(unquote("tok"), "tok");
    }
}
