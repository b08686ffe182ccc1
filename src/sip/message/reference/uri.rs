//! Frozen pre-speed-work copy of `../uri.rs` (test-only reference; do not edit).

use super::error::{err, ErrorKind, ParseError};
use super::text::Params;
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

/// Bytes never allowed anywhere in a URI.
#[inline]
fn forbidden(b: u8) -> bool {
    b <= b' '
        || b >= 0x7f
        || matches!(
            b,
            b'<' | b'>' | b'"' | b'\\' | b'{' | b'}' | b'|' | b'^' | b'`'
        )
}

fn check_escapes(s: &str) -> Result<(), ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = matches!((b.get(i + 1), b.get(i + 2)), (Some(x), Some(y)) if x.is_ascii_hexdigit() && y.is_ascii_hexdigit());
            if !ok {
                return Err(uri_err("bad % escape"));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Parse `host[:port]` where host may be `[v6]`. Returns (host, ipv6, port, rest-after-hostport).
pub(crate) fn parse_hostport(s: &str) -> Result<(&str, bool, Option<u16>, &str), ParseError> {
    let b = s.as_bytes();
    let (host, ipv6, after) = if b.first() == Some(&b'[') {
        let close = s.find(']').ok_or(uri_err("unterminated IPv6 reference"))?;
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
        let end = b
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_'))
            .unwrap_or(b.len());
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
        let port: u32 = digits.parse().map_err(|_| uri_err("bad port"))?;
        let port = u16::try_from(port).map_err(|_| uri_err("port out of range"))?;
        Ok((host, ipv6, Some(port), &p[end..]))
    } else {
        Ok((host, ipv6, None, after))
    }
}

impl<'a> Uri<'a> {
    /// Parse a URI (no surrounding whitespace or angle brackets allowed).
    pub fn parse(s: &'a str) -> Result<Uri<'a>, ParseError> {
        let colon = s.find(':').ok_or(uri_err("no scheme"))?;
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
        if rest.is_empty() || rest.bytes().any(forbidden) {
            return Err(uri_err("bad character in URI"));
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_after_scheme(s, scheme, rest).map(Uri::Sip)
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
    ) -> Result<SipUri<'a>, ParseError> {
        check_escapes(rest)?;
        let (user, password, hostpart) = match rest.find('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let (u, p) = match userinfo.find(':') {
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
                match a.find('?') {
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
