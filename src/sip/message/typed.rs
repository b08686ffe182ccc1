//! Typed header values borrowing from the message: Via, name-addr (From/To/Contact/Route), CSeq.

use super::error::{err, ErrorKind, ParseError};
use super::method::Method;
use super::text::{is_token_char, is_ws, parse_u64, split_top, trim, trim_bytes, Params};
use super::uri::{parse_hostport, Uri};
use std::borrow::Cow;

fn herr(reason: &'static str) -> ParseError {
    err(ErrorKind::Header, reason)
}

fn as_str(b: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(b).map_err(|_| herr("non-UTF-8 bytes where text is required"))
}

/// `b` as text. When `b` lies inside `whole` (already checked UTF-8) it is cut from `whole` by
/// position, a check of two boundaries instead of a scan; otherwise it is checked.
fn text_of<'a>(b: &'a [u8], whole: Option<&'a str>) -> Result<&'a str, ParseError> {
    let cut = whole.and_then(|w| {
        let off = (b.as_ptr() as usize).checked_sub(w.as_ptr() as usize)?;
        w.get(off..off.checked_add(b.len())?)
    });
    match cut {
        Some(s) => Ok(s),
        None => as_str(b),
    }
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// `SIP` normally.
    pub protocol: &'a str,
    /// `2.0` normally.
    pub version: &'a str,
    /// As written: `UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP` or any token.
    pub transport: &'a str,
    /// sent-by host without brackets.
    pub host: &'a str,
    pub ipv6: bool,
    pub port: Option<u16>,
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// Parse one Via value (not a comma list).
    pub fn parse(s: &'a str) -> Result<Via<'a>, ParseError> {
        let mut c = Cursor::new(trim(s));
        let protocol = c.token().ok_or(herr("Via: bad protocol name"))?;
        c.ws();
        c.expect(b'/').ok_or(herr("Via: expected /"))?;
        c.ws();
        let version = c.token().ok_or(herr("Via: bad protocol version"))?;
        c.ws();
        c.expect(b'/').ok_or(herr("Via: expected /"))?;
        c.ws();
        let transport = c.token().ok_or(herr("Via: bad transport"))?;
        if c.ws() == 0 {
            return Err(herr("Via: expected space before sent-by"));
        }
        let rest = c.rest();
        // sent-by may have SWS around the colon; normalise by parsing host then optional ws ':' ws port.
        let (host, ipv6, port, after) =
            parse_hostport(rest).map_err(|_| herr("Via: bad sent-by"))?;
        let mut c = Cursor::new(after);
        c.ws();
        let port = if port.is_none() && c.peek() == Some(b':') {
            c.expect(b':');
            c.ws();
            let d = c.take_while(|b| b.is_ascii_digit());
            let p = parse_u64(d, 65535).ok_or(herr("Via: bad port"))?;
            c.ws();
            Some(p as u16)
        } else {
            port
        };
        let params = match c.peek() {
            None => Params::new(""),
            Some(b';') => {
                c.expect(b';');
                let p = Params::new(c.rest());
                // One pass: the grammar, and the numeric params we must trust later. A grammar
                // error anywhere wins over a bad rport/ttl, as in two separate passes.
                p.validate_with(|n, v| {
                    if n.eq_ignore_ascii_case("rport")
                        && v.is_some_and(|r| parse_u64(r, 65535).is_none())
                    {
                        return Err(herr("Via: bad rport"));
                    }
                    if n.eq_ignore_ascii_case("ttl") && v.and_then(|t| parse_u64(t, 255)).is_none()
                    {
                        return Err(herr("Via: bad ttl"));
                    }
                    Ok(())
                })
                .map_err(|e| {
                    // Keep our own rport/ttl reasons; any grammar error reads as before.
                    if e.reason == "Via: bad rport" || e.reason == "Via: bad ttl" {
                        e
                    } else {
                        herr("Via: bad parameters")
                    }
                })?;
                p
            }
            Some(_) => return Err(herr("Via: junk after sent-by")),
        };
        Ok(Via {
            protocol,
            version,
            transport,
            host,
            ipv6,
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch")
    }

    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received")
    }

    /// `None`: no rport; `Some(None)`: bare `;rport` flag; `Some(Some(p))`: `;rport=p`.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| parse_u64(v, 65535).map(|p| p as u16))
    }

    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr")
    }

    pub fn ttl(&self) -> Option<u8> {
        self.params
            .get("ttl")
            .and_then(|t| parse_u64(t, 255))
            .map(|t| t as u8)
    }

    /// `host[:port]` with brackets for IPv6.
    pub fn sent_by(&self) -> String {
        let mut s = String::new();
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

/// `[display-name] <uri>;params` or `uri;params` (From, To, Contact, Route, Record-Route, Refer-To...).
/// In the addr-spec form (no `<>`) everything after the first `;` is a header parameter (RFC 3261 §20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name bytes without quotes (escapes not undone); may be non-UTF-8.
    pub display_name: Option<&'a [u8]>,
    /// Was the display name a quoted-string?
    pub quoted: bool,
    pub uri: Uri<'a>,
    /// Was the URI enclosed in `<>`?
    pub angle: bool,
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parse one name-addr / addr-spec value (not a comma list).
    pub fn parse(v: &'a [u8]) -> Result<NameAddr<'a>, ParseError> {
        Self::parse_in(v, None)
    }

    /// [`NameAddr::parse`] on a piece of a value already known to be UTF-8 (a comma-list
    /// element): the same result, without checking the encoding again.
    pub(crate) fn parse_str(v: &'a str) -> Result<NameAddr<'a>, ParseError> {
        Self::parse_in(v.as_bytes(), Some(v))
    }

    /// `whole`, when given, is `v` as text: sub-slices of `v` are then cut from it.
    fn parse_in(v: &'a [u8], whole: Option<&'a str>) -> Result<NameAddr<'a>, ParseError> {
        let as_str = |b: &'a [u8]| text_of(b, whole);
        let v = trim_bytes(v);
        if v.is_empty() {
            return Err(herr("empty address"));
        }
        let (display, quoted, after_disp) = if v[0] == b'"' {
            let mut i = 1;
            let mut close = None;
            while i < v.len() {
                match v[i] {
                    b'\\' => i += 1,
                    b'"' => {
                        close = Some(i);
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            let close = close.ok_or(herr("unbalanced quotes in display name"))?;
            let rest = trim_bytes(v.get(close + 1..).unwrap_or(&[]));
            if rest.first() != Some(&b'<') {
                return Err(herr("quoted display name without <uri>"));
            }
            (v.get(1..close), true, rest)
        } else if let Some(lt) = memchr::memchr(b'<', v) {
            let disp = trim_bytes(&v[..lt]);
            // token *(LWS token)
            if !disp.iter().all(|&b| is_token_char(b) || is_ws(b)) {
                return Err(herr("bad character in display name"));
            }
            ((!disp.is_empty()).then_some(disp), false, &v[lt..])
        } else {
            // addr-spec form: uri up to the first ';', then header params.
            let s = as_str(v)?;
            if s.contains('"') {
                return Err(herr("unbalanced quotes"));
            }
            let (u, p) = match s.find(';') {
                Some(i) => (&s[..i], Some(&s[i + 1..])),
                None => (s, None),
            };
            let u = trim(u);
            if u.bytes()
                .any(|b| matches!(b, b',' | b'?' | b' ' | b'\t' | b'>'))
            {
                return Err(herr("addr-spec with , ? or space must be in <>"));
            }
            let uri = Uri::parse(u)?;
            let params = Params::new(p.unwrap_or(""));
            if p.is_some() {
                params.validate()?;
            }
            return Ok(NameAddr {
                display_name: None,
                quoted: false,
                uri,
                angle: false,
                params,
            });
        };
        // after_disp starts with '<'
        let s = as_str(after_disp)?;
        let gt = memchr::memchr(b'>', s.as_bytes()).ok_or(herr("missing >"))?;
        let u = &s[1..gt];
        if u.bytes().next().is_some_and(is_ws) || u.bytes().last().is_some_and(is_ws) {
            return Err(herr("whitespace inside <>"));
        }
        let uri = Uri::parse(u)?;
        let after = trim(&s[gt + 1..]);
        let params = match after.as_bytes().first() {
            None => Params::new(""),
            Some(b';') => {
                let p = Params::new(&after[1..]);
                p.validate()?;
                p
            }
            Some(_) => return Err(herr("junk after >")),
        };
        Ok(NameAddr {
            display_name: display,
            quoted,
            uri,
            angle: true,
            params,
        })
    }

    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag")
    }

    /// Display name as text: `None` if absent, lossy if not UTF-8, quoted-pair escapes undone.
    pub fn display_name_text(&self) -> Option<Cow<'a, str>> {
        let d = self.display_name?;
        let text = String::from_utf8_lossy(d);
        if self.quoted && text.contains('\\') {
            let mut out = String::with_capacity(text.len());
            let mut esc = false;
            for ch in text.chars() {
                if esc || ch != '\\' {
                    out.push(ch);
                    esc = false;
                } else {
                    esc = true;
                }
            }
            return Some(Cow::Owned(out));
        }
        Some(text)
    }

    /// Contact `expires` parameter (saturating at u32::MAX).
    pub fn expires(&self) -> Option<u32> {
        let v = self.params.get("expires")?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(parse_u64(v, u64::from(u32::MAX)).map_or(u32::MAX, |x| x as u32))
    }

    /// Contact `q` parameter in thousandths (0..=1000), e.g. `q=0.5` gives 500.
    pub fn q(&self) -> Option<u16> {
        let v = self.params.get("q")?;
        let (int, frac) = match v.find('.') {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, ""),
        };
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let i = parse_u64(int, 1)?;
        let mut f = 0u64;
        for k in 0..3 {
            f = f * 10 + frac.as_bytes().get(k).map_or(0, |d| u64::from(d - b'0'));
        }
        let q = i * 1000 + f;
        (q <= 1000).then_some(q as u16)
    }
}

/// One Contact value: `*` or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactValue<'a> {
    Star,
    Addr(NameAddr<'a>),
}

/// CSeq: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    /// Parse `1*DIGIT LWS Method`; the number must be below 2^31 (RFC 3261 §8.1.1.5).
    pub fn parse(v: &[u8]) -> Result<CSeq, ParseError> {
        let s = trim(as_str(v)?);
        // The first SP, HT, CR or LF (a byte-class lookup, not a char-pattern search).
        let sp = s
            .bytes()
            .position(is_ws)
            .ok_or(herr("CSeq: expected number and method"))?;
        let seq =
            parse_u64(&s[..sp], (1 << 31) - 1).ok_or(herr("CSeq: bad or too large number"))?;
        let method = Method::parse(trim(&s[sp..])).map_err(|_| herr("CSeq: bad method"))?;
        Ok(CSeq {
            seq: seq as u32,
            method,
        })
    }
}

/// Parse a comma list of name-addrs (Route, Record-Route, ...).
pub(crate) fn parse_name_addr_list<'a>(
    v: &'a [u8],
    out: &mut Vec<NameAddr<'a>>,
) -> Result<(), ParseError> {
    let s = as_str(v)?;
    for part in split_top(s, b',') {
        out.push(NameAddr::parse_str(part)?);
    }
    Ok(())
}

/// Parse a Contact value (comma list or `*`).
pub(crate) fn parse_contact_list<'a>(
    v: &'a [u8],
    out: &mut Vec<ContactValue<'a>>,
) -> Result<(), ParseError> {
    if trim_bytes(v) == b"*" {
        out.push(ContactValue::Star);
        return Ok(());
    }
    // Display names may be non-UTF-8: split on bytes, but commas only matter outside quotes/<>,
    // which split_top handles on a lossless str when valid, else treat as one value.
    match std::str::from_utf8(v) {
        Ok(s) => {
            for part in split_top(s, b',') {
                out.push(ContactValue::Addr(NameAddr::parse_str(part)?));
            }
        }
        Err(_) => out.push(ContactValue::Addr(NameAddr::parse(v)?)),
    }
    Ok(())
}

/// Parse a Via value that may be a comma list.
pub(crate) fn parse_via_list<'a>(v: &'a [u8], out: &mut Vec<Via<'a>>) -> Result<(), ParseError> {
    let s = as_str(v)?;
    for part in split_top(s, b',') {
        out.push(Via::parse(part)?);
    }
    Ok(())
}

/// Minimal byte cursor for the Via grammar.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, i: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn ws(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
        self.i - start
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or("")
    }
    fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token_char);
        (!t.is_empty()).then_some(t)
    }
    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.i += 1)
    }
    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_forms() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK77;rport;received=10.1.1.1")
            .unwrap();
        assert_eq!(
            (v.transport, v.host, v.port),
            ("UDP", "192.0.2.1", Some(5060))
        );
        assert_eq!(v.branch(), Some("z9hG4bK77"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("10.1.1.1"));
        let v = Via::parse("SIP  /   2.0\r\n  /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(
            (v.version, v.transport, v.host),
            ("2.0", "UDP", "192.0.2.2")
        );
        let v = Via::parse(
            "SIP/2.0/TCP [2001:db8::1]:5061 ;branch=z9hG4bK1;received=2001:db8::99;rport=999",
        )
        .unwrap();
        assert!(v.ipv6);
        assert_eq!(v.sent_by(), "[2001:db8::1]:5061");
        assert_eq!(v.received(), Some("2001:db8::99"));
        assert_eq!(v.rport(), Some(Some(999)));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        let v = Via::parse("SIP/2.0/UNKNOWN t.example.com : 5060 ; branch = z9hG4bK2").unwrap();
        assert_eq!(
            (v.transport, v.port, v.branch()),
            ("UNKNOWN", Some(5060), Some("z9hG4bK2"))
        );
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0 host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP h;rport=x",
            "SIP/2.0/UDPhost",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(b"\"Alice \\\"A\\\"\" <sip:alice@example.com>;tag=1928").unwrap();
        assert_eq!(a.display_name_text().as_deref(), Some("Alice \"A\""));
        assert_eq!(a.tag(), Some("1928"));
        let a = NameAddr::parse(b"sip:x@y;tag=t").unwrap();
        assert_eq!(a.tag(), Some("t"));
        assert_eq!(a.uri.as_str(), "sip:x@y");
        assert!(a.uri.as_sip().is_some_and(|u| u.params.is_empty()));
        let a = NameAddr::parse(b"Bob Smith <sip:bob@[2001:db8::1]>").unwrap();
        assert_eq!(a.display_name, Some(&b"Bob Smith"[..]));
        let a = NameAddr::parse(b"\"J\xe9r\xf4me\" <sip:j@h>;tag=9").unwrap();
        assert_eq!(a.tag(), Some("9"));
        assert!(a.display_name_text().is_some());
        let a = NameAddr::parse(b"<tel:+15551234567>").unwrap();
        assert_eq!(a.uri.scheme(), "tel");
        for bad in [
            &b"\"Mr. J. User <sip:j.user@example.com>"[..],
            b"Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43",
            b"\"Watson, Thomas\" < sip:t.watson@example.org >",
            b"sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            b"<sip:a@b",
            b"",
        ] {
            assert!(
                NameAddr::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn contact_expires_q() {
        let mut v = Vec::new();
        parse_contact_list(b"<sip:a@h>;expires=60;q=0.5, <sip:b@h2>", &mut v).unwrap();
        assert_eq!(v.len(), 2);
        let ContactValue::Addr(a) = v[0] else {
            panic!()
        };
        assert_eq!(a.expires(), Some(60));
        assert_eq!(a.q(), Some(500));
        v.clear();
        parse_contact_list(b" * ", &mut v).unwrap();
        assert_eq!(v, vec![ContactValue::Star]);
        v.clear();
        parse_contact_list(b"<sips:a@h>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1", &mut v)
            .unwrap();
        let ContactValue::Addr(a) = v[0] else {
            panic!()
        };
        assert_eq!(a.params.get("reg-id"), Some("1"));
    }

    #[test]
    fn cseq() {
        assert_eq!(
            CSeq::parse(b"  4711 INVITE ").unwrap(),
            CSeq {
                seq: 4711,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse(b"36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse(b"-1 INVITE").is_err());
        assert!(CSeq::parse(b"1").is_err());
        assert!(CSeq::parse(b"2147483648 INVITE").is_err());
        assert_eq!(
            CSeq::parse(b"1 NEWMETHOD").unwrap().method,
            Method::Other("NEWMETHOD".into())
        );
    }
}
