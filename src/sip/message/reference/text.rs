//! Frozen pre-speed-work copy of `../text.rs` (test-only reference; do not edit).

use super::error::{err, ErrorKind, ParseError};

/// RFC 3261 `token` characters.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trim linear white space (SP, HT and any CR/LF left by folding) from both ends.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n')
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

/// Are the double quotes in `s` balanced (honouring backslash escapes)?
pub(crate) fn quotes_balanced(s: &[u8]) -> bool {
    let mut in_q = false;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' if in_q => i += 1,
            b'"' => in_q = !in_q,
            _ => {}
        }
        i += 1;
    }
    !in_q
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
        let mut in_q = false;
        let mut in_angle = false;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if in_q {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    in_q = false;
                }
            } else if c == b'"' {
                in_q = true;
            } else if c == b'<' {
                in_angle = true;
            } else if c == b'>' {
                in_angle = false;
            } else if c == self.sep && !in_angle {
                self.rest = s.get(i + 1..);
                return s.get(..i);
            }
            i += 1;
        }
        self.rest = None;
        Some(s)
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
            .map(|p| match p.find('=') {
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
        if !quotes_balanced(self.raw.as_bytes()) {
            return Err(err(ErrorKind::Header, "unbalanced quotes in parameters"));
        }
        for p in split_top(self.raw, b';') {
            let (n, v) = match p.find('=') {
                Some(eq) => (trim(&p[..eq]), Some(trim(&p[eq + 1..]))),
                None => (trim(p), None),
            };
            if !is_token(n.as_bytes()) {
                return Err(err(ErrorKind::Header, "bad parameter name"));
            }
            if let Some(v) = v {
                let vb = v.as_bytes();
                let ok = if vb.first() == Some(&b'"') {
                    vb.len() >= 2 && vb.last() == Some(&b'"')
                } else {
                    !vb.is_empty()
                        && vb.iter().all(|&b| {
                            is_token_char(b)
                                || matches!(
                                    b,
                                    b':' | b'[' | b']' | b'/' | b'&' | b'$' | b'@' | b'?'
                                )
                        })
                };
                if !ok {
                    return Err(err(ErrorKind::Header, "bad parameter value"));
                }
            }
        }
        Ok(())
    }
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
