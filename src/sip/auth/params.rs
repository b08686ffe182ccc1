//! The `auth-param` grammar shared by challenges and credentials (RFC 7235 §2.1, RFC 3261 §25):
//! `Scheme name=token, name="quoted \"string\"", ...`, with bounded sizes.

use super::AuthError;

/// Longest header value we agree to parse; real ones are a few hundred bytes.
pub const MAX_VALUE_LEN: usize = 8 * 1024;
/// Most parameters in one value; a digest challenge or credential has about ten.
pub const MAX_PARAMS: usize = 64;

/// One `name=value` pair; `name` is lower-cased, `value` unquoted and unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: String,
    /// Whether the value was a quoted-string on the wire (kept to re-serialize unknown params faithfully).
    pub quoted: bool,
}

/// A parsed `Scheme param, param, ...` header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthValue {
    /// The scheme as written (compare case-insensitively).
    pub scheme: String,
    pub params: Vec<Param>,
}

impl AuthValue {
    /// The value of the first parameter called `name` (lower-case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while self.s.get(self.pos).is_some_and(|b| is_ws(*b)) {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
    /// A quoted-string starting at the opening quote; returns the unescaped content.
    fn quoted(&mut self) -> Result<Vec<u8>, AuthError> {
        self.pos += 1; // opening quote, checked by the caller
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(AuthError::Syntax("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let escaped = self
                        .s
                        .get(self.pos + 1)
                        .copied()
                        .ok_or(AuthError::Syntax("dangling escape in quoted string"))?;
                    // quoted-pair excludes CR and LF (RFC 3261 §25.1)
                    if escaped == b'\r' || escaped == b'\n' {
                        return Err(AuthError::Syntax("escaped line break in quoted string"));
                    }
                    out.push(escaped);
                    self.pos += 2;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Parses `Scheme name=value, ...`. Names are lower-cased; empty list elements (`a=1,,b=2`) are allowed.
pub fn parse_auth_value(input: &str) -> Result<AuthValue, AuthError> {
    if input.len() > MAX_VALUE_LEN {
        return Err(AuthError::TooLong);
    }
    let mut c = Cursor {
        s: input.as_bytes(),
        pos: 0,
    };
    c.skip_ws();
    let scheme = c.token();
    if scheme.is_empty() {
        return Err(AuthError::Syntax("missing auth scheme"));
    }
    let scheme = String::from_utf8_lossy(scheme).into_owned();
    if c.peek().is_some_and(|b| !is_ws(b)) {
        return Err(AuthError::Syntax("bad character after auth scheme"));
    }
    let mut params = Vec::new();
    loop {
        c.skip_ws();
        match c.peek() {
            None => break,
            Some(b',') => {
                c.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        if params.len() >= MAX_PARAMS {
            return Err(AuthError::TooManyParams);
        }
        let name = c.token();
        if name.is_empty() {
            return Err(AuthError::Syntax("expected a parameter name"));
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        c.skip_ws();
        if c.peek() != Some(b'=') {
            return Err(AuthError::Syntax("expected '=' after parameter name"));
        }
        c.pos += 1;
        c.skip_ws();
        let (value, quoted) = if c.peek() == Some(b'"') {
            (c.quoted()?, true)
        } else {
            let v = c.token();
            if v.is_empty() {
                return Err(AuthError::Syntax("empty parameter value"));
            }
            (v.to_vec(), false)
        };
        let value = String::from_utf8(value).map_err(|_| AuthError::Syntax("non-UTF-8 value"))?;
        params.push(Param {
            name,
            value,
            quoted,
        });
        c.skip_ws();
        match c.peek() {
            None => break,
            Some(b',') => c.pos += 1,
            Some(_) => return Err(AuthError::Syntax("expected ',' between parameters")),
        }
    }
    Ok(AuthValue { scheme, params })
}

/// Writes `value` as a quoted-string, escaping `"` and `\`.
pub fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// Appends `, name=value` (or `name=value` when `out` ends with the scheme) with optional quoting.
pub fn push_param(out: &mut String, name: &str, value: &str, quoted: bool) {
    if !out.ends_with(' ') {
        out.push_str(", ");
    }
    out.push_str(name);
    out.push('=');
    if quoted {
        push_quoted(out, value);
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_and_token_values_case_insensitive_names() {
        let v = parse_auth_value(
            "Digest REALM=\"a \\\"b\\\" \\\\c\",\r\n\tNonce=\"n1\" , algorithm=SHA-256,qop=\"auth,auth-int\"",
        )
        .unwrap();
        assert_eq!(v.scheme, "Digest");
        assert_eq!(v.get("realm"), Some("a \"b\" \\c"));
        assert_eq!(v.get("nonce"), Some("n1"));
        assert_eq!(v.get("algorithm"), Some("SHA-256"));
        assert_eq!(v.get("qop"), Some("auth,auth-int"));
        assert!(!v.params[2].quoted);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "Digest realm=\"unterminated",
            "Digest realm",
            "Digest realm=",
            "Digest realm=\"a\" nonce=\"b\"",
            "Digest realm=\"a\\",
            "Digest, =x",
            "Dig\"est realm=a",
        ] {
            assert!(parse_auth_value(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn bounds_size_and_param_count() {
        let long = format!("Digest realm=\"{}\"", "a".repeat(MAX_VALUE_LEN));
        assert_eq!(parse_auth_value(&long), Err(AuthError::TooLong));
        let many = format!("Digest {}", vec!["a=b"; MAX_PARAMS + 1].join(","));
        assert_eq!(parse_auth_value(&many), Err(AuthError::TooManyParams));
    }

    #[test]
    fn quoting_round_trips() {
        let mut s = String::from("Digest ");
        push_param(&mut s, "realm", "x\"y\\z", true);
        push_param(&mut s, "algorithm", "MD5", false);
        assert_eq!(s, "Digest realm=\"x\\\"y\\\\z\", algorithm=MD5");
        assert_eq!(parse_auth_value(&s).unwrap().get("realm"), Some("x\"y\\z"));
    }
}

#[cfg(test)]
mod proptests {
    use super::super::digest::{Challenge, Credentials};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = parse_auth_value(&s);
            let _ = Challenge::parse(&s);
            let _ = Credentials::parse(&s);
        }

        #[test]
        fn digest_like_text_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("Digest ".to_owned()), Just("realm=".to_owned()), Just("\"".to_owned()),
                    Just("\\".to_owned()), Just(",".to_owned()), Just("nc=".to_owned()),
                    Just("qop=auth".to_owned()), Just("algorithm=".to_owned()), Just(" ".to_owned()),
                    "[a-zA-Z0-9\\-]{0,8}",
                ],
                0..40,
            )
        ) {
            let s = parts.concat();
            let _ = Challenge::parse(&s);
            let _ = Credentials::parse(&s);
        }

        #[test]
        fn quoted_values_round_trip(v in "\\PC{0,40}") {
            let mut s = String::from("Digest ");
            push_param(&mut s, "realm", &v, true);
            let parsed = parse_auth_value(&s).unwrap();
            prop_assert_eq!(parsed.get("realm"), Some(v.as_str()));
        }
    }
}
