//! URIs: a zero-copy SIP/SIPS URI (user, password, host incl. IPv6, port, params, headers) and an
//! opaque form for every other scheme (`tel:`, `urn:`, ...), so the application can answer 416 itself.

use super::error::{err, ErrorKind, ParseError};
use super::text::{is_host_char, Params};
use std::fmt;

/// A parsed URI borrowing from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    Sip(SipUri<'a>),
    /// Any non-sip scheme, kept opaque.
    Other(OtherUri<'a>),
}

/// `sip:` / `sips:` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    raw: &'a str,
    /// `sip` or `sips` as written.
    pub scheme: &'a str,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// Host without brackets (for IPv6 see `ipv6`).
    pub host: &'a str,
    pub ipv6: bool,
    pub port: Option<u16>,
    pub params: Params<'a>,
    /// Raw `?h=v&...` part without the `?`.
    pub headers: Option<&'a str>,
}

/// A URI of any other scheme: `scheme:opaque`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherUri<'a> {
    raw: &'a str,
    pub scheme: &'a str,
    pub opaque: &'a str,
}

fn uri_err(reason: &'static str) -> ParseError {
    err(ErrorKind::Uri, reason)
}

/// Byte kinds for the one pass over a URI after its scheme.
const OK: u8 = 0;
/// Never allowed anywhere in a URI.
const FORBIDDEN: u8 = 1;
/// `@`: ends the userinfo of a SIP URI.
const AT: u8 = 2;
/// `%`: starts an escape that must be checked.
const PCT: u8 = 3;

const URI_BYTE: [u8; 256] = {
    let mut t = [OK; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'<' | b'>' | b'"' | b'\\' | b'{' | b'}' | b'|' | b'^' | b'`'
            ) {
            FORBIDDEN
        } else if b == b'@' {
            AT
        } else if b == b'%' {
            PCT
        } else {
            OK
        };
        i += 1;
    }
    t
};

/// Where the first `@` and the first `%` of `s` are, in the same pass that rejects forbidden
/// bytes (each URI used to be scanned once per question).
struct Marks {
    at: Option<usize>,
    pct: Option<usize>,
}

fn scan(s: &str) -> Result<Marks, ParseError> {
    let mut m = Marks {
        at: None,
        pct: None,
    };
    for (i, &b) in s.as_bytes().iter().enumerate() {
        match URI_BYTE[b as usize] {
            OK => {}
            FORBIDDEN => return Err(uri_err("bad character in URI")),
            AT => {
                m.at.get_or_insert(i);
            }
            _ => {
                m.pct.get_or_insert(i);
            }
        }
    }
    Ok(m)
}

/// Check every `%` escape from the first one (at `from`) on.
fn check_escapes(s: &str, from: Option<usize>) -> Result<(), ParseError> {
    let b = s.as_bytes();
    let Some(mut i) = from else {
        return Ok(());
    };
    // Jump from `%` to `%`.
    loop {
        let ok = matches!((b.get(i + 1), b.get(i + 2)), (Some(x), Some(y)) if x.is_ascii_hexdigit() && y.is_ascii_hexdigit());
        if !ok {
            return Err(uri_err("bad % escape"));
        }
        match memchr::memchr(b'%', b.get(i + 3..).unwrap_or(&[])) {
            Some(j) => i += 3 + j,
            None => return Ok(()),
        }
    }
}

/// First `c` in `s`. URI pieces are short: a plain loop beats a SIMD call's set-up here.
#[inline]
fn find(s: &str, c: u8) -> Option<usize> {
    s.bytes().position(|b| b == c)
}

/// Parse `host[:port]` where host may be `[v6]`. Returns (host, ipv6, port, rest-after-hostport).
pub(crate) fn parse_hostport(s: &str) -> Result<(&str, bool, Option<u16>, &str), ParseError> {
    let b = s.as_bytes();
    let (host, ipv6, after) = if b.first() == Some(&b'[') {
        let close = find(s, b']').ok_or(uri_err("unterminated IPv6 reference"))?;
        let h = &s[1..close];
        if h.is_empty()
            || !h
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
            || !h.contains(':')
        {
            return Err(uri_err("bad IPv6 reference"));
        }
        (h, true, &s[close + 1..])
    } else {
        let end = b.iter().position(|&c| !is_host_char(c)).unwrap_or(b.len());
        let h = &s[..end];
        if h.is_empty() {
            return Err(uri_err("empty host"));
        }
        (h, false, &s[end..])
    };
    if let Some(p) = after.strip_prefix(':') {
        let end = p
            .bytes()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(p.len());
        let digits = &p[..end];
        if digits.is_empty() || digits.len() > 5 {
            return Err(uri_err("bad port"));
        }
        // 1 to 5 ASCII digits: cannot overflow u32.
        let port = digits
            .bytes()
            .fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
        let port = u16::try_from(port).map_err(|_| uri_err("port out of range"))?;
        Ok((host, ipv6, Some(port), &p[end..]))
    } else {
        Ok((host, ipv6, None, after))
    }
}

impl<'a> Uri<'a> {
    /// Parse a URI (no surrounding whitespace or angle brackets allowed).
    pub fn parse(s: &'a str) -> Result<Uri<'a>, ParseError> {
        let colon = find(s, b':').ok_or(uri_err("no scheme"))?;
        let scheme = &s[..colon];
        let sb = scheme.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(uri_err("bad scheme"));
        }
        let rest = &s[colon + 1..];
        if rest.is_empty() {
            return Err(uri_err("bad character in URI"));
        }
        let marks = scan(rest)?;
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_after_scheme(s, scheme, rest, marks).map(Uri::Sip)
        } else {
            Ok(Uri::Other(OtherUri {
                raw: s,
                scheme,
                opaque: rest,
            }))
        }
    }

    /// The URI exactly as written.
    pub fn as_str(&self) -> &'a str {
        match self {
            Uri::Sip(u) => u.raw,
            Uri::Other(u) => u.raw,
        }
    }

    pub fn scheme(&self) -> &'a str {
        match self {
            Uri::Sip(u) => u.scheme,
            Uri::Other(u) => u.scheme,
        }
    }

    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other(_) => None,
        }
    }
}

impl<'a> SipUri<'a> {
    fn parse_after_scheme(
        raw: &'a str,
        scheme: &'a str,
        rest: &'a str,
        marks: Marks,
    ) -> Result<SipUri<'a>, ParseError> {
        check_escapes(rest, marks.pct)?;
        let (user, password, hostpart) = match marks.at {
            Some(at) => {
                let userinfo = &rest[..at];
                let (u, p) = match find(userinfo, b':') {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if u.is_empty() {
                    return Err(uri_err("empty user"));
                }
                (Some(u), p, &rest[at + 1..])
            }
            None => (None, None, rest),
        };
        let (host, ipv6, port, after) = parse_hostport(hostpart)?;
        let has_params = after.starts_with(';');
        let (params, headers) = match after.as_bytes().first() {
            None => ("", None),
            Some(b';') => {
                let a = &after[1..];
                match find(a, b'?') {
                    Some(q) => (&a[..q], Some(&a[q + 1..])),
                    None => (a, None),
                }
            }
            Some(b'?') => ("", Some(&after[1..])),
            Some(_) => return Err(uri_err("junk after host")),
        };
        let params = Params::new(params);
        if has_params {
            params
                .validate()
                .map_err(|_| uri_err("bad URI parameter"))?;
        }
        Ok(SipUri {
            raw,
            scheme,
            user,
            password,
            host,
            ipv6,
            port,
            params,
            headers,
        })
    }

    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    pub fn is_sips(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("sips")
    }

    /// `transport=` parameter.
    pub fn transport(&self) -> Option<&'a str> {
        self.params.get("transport")
    }

    /// Loose-routing flag `;lr`.
    pub fn lr(&self) -> bool {
        self.params.contains("lr")
    }

    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr")
    }

    /// `host[:port]` with brackets around IPv6, as for a Via sent-by or a socket address.
    pub fn host_port(&self) -> String {
        let mut s = String::with_capacity(self.host.len() + 8);
        if self.ipv6 {
            s.push('[');
            s.push_str(self.host);
            s.push(']');
        } else {
            s.push_str(self.host);
        }
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn sip_uri_parts() {
        let u = sip("sip:alice:secret@example.com:5070;transport=tcp;lr?subject=hi&x=y");
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, "example.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.headers, Some("subject=hi&x=y"));
        assert_eq!(u.host_port(), "example.com:5070");
    }

    #[test]
    fn ipv6_and_semicolon_user() {
        let u = sip("sip:bob@[2001:db8::1]:5060");
        assert!(u.ipv6);
        assert_eq!(u.host, "2001:db8::1");
        assert_eq!(u.port, Some(5060));
        assert_eq!(u.host_port(), "[2001:db8::1]:5060");
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        let u = sip("SIPS:[::1]");
        assert!(u.is_sips() && u.ipv6 && u.user.is_none());
    }

    #[test]
    fn opaque_schemes() {
        for s in [
            "tel:+15551234567",
            "urn:service:sos",
            "mailto:a@b.c",
            "x-foo:bar",
        ] {
            match Uri::parse(s) {
                Ok(Uri::Other(o)) => assert_eq!(o.as_str_for_test(), s),
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn rejects() {
        for s in [
            "sip:u@[2001:db8::1",
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:",
            "sip:@host",
            "sip:u@host:99999",
            "sip:u@host:",
            "sip:u@ho st",
            "nocolon",
            "1sip:x",
            "sip:u@host;;",
            "sip:u%4@host",
            "sip:u@host#frag",
        ] {
            assert!(Uri::parse(s).is_err(), "{s} should fail");
        }
    }

    impl OtherUri<'_> {
        fn as_str_for_test(&self) -> &str {
            self.raw
        }
    }
}
