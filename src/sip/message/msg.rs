//! `SipMessage`: the received bytes plus ranges for start line and headers, with typed accessors.

use super::error::{err, ErrorKind, ParseError};
use super::method::Method;
use super::name::HeaderName;
use super::text::{parse_u64, trim};
use super::typed::{
    parse_contact_list, parse_name_addr_list, parse_via_list, CSeq, ContactValue, NameAddr, Via,
};
use super::uri::Uri;
use bytes::Bytes;
use std::borrow::Cow;

/// A piece of text: a range of the message buffer, or owned bytes set by the builder / unfolding.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Buf(u32, u32),
    Own(Bytes),
}

impl Text {
    #[inline]
    pub(crate) fn get<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        match self {
            Text::Buf(s, e) => buf.get(*s as usize..*e as usize).unwrap_or(&[]),
            Text::Own(b) => b,
        }
    }

    pub(crate) fn own(s: &[u8]) -> Text {
        Text::Own(Bytes::copy_from_slice(s))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) id: HeaderName,
    pub(crate) name: Text,
    pub(crate) value: Text,
}

#[derive(Debug, Clone)]
pub(crate) enum Start {
    Request { method: Method, uri: Text },
    Response { code: u16, reason: Text },
}

/// A SIP request or response. Parsed messages borrow from the received `Bytes` (no copies);
/// the builder methods (see `builder.rs`) add owned pieces. Header order and unknown headers are kept.
#[derive(Clone)]
pub struct SipMessage {
    pub(crate) buf: Bytes,
    pub(crate) start: Start,
    pub(crate) headers: Vec<Header>,
    pub(crate) body: Bytes,
}

/// A header as stored: recognised name, name as written, raw value (trimmed, unfolded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    pub id: HeaderName,
    pub name: &'a str,
    pub value: &'a [u8],
}

impl<'a> HeaderRef<'a> {
    /// The value as `&str` if it is valid UTF-8.
    pub fn value_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }
    pub fn value_lossy(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.value)
    }
}

fn missing(h: &'static str) -> ParseError {
    err(ErrorKind::Missing, "header missing").in_header(Some(h))
}

impl SipMessage {
    // ---- start line ----

    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    pub fn is_response(&self) -> bool {
        matches!(self.start, Start::Response { .. })
    }

    /// Request method (`None` for responses).
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            Start::Request { method, .. } => Some(method),
            Start::Response { .. } => None,
        }
    }

    /// Request-URI text (`None` for responses).
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.start {
            Start::Request { uri, .. } => std::str::from_utf8(uri.get(&self.buf)).ok(),
            Start::Response { .. } => None,
        }
    }

    /// Parsed Request-URI (`None` for responses or if unparsable).
    pub fn request_uri(&self) -> Option<Uri<'_>> {
        self.request_uri_str().and_then(|s| Uri::parse(s).ok())
    }

    /// Status code (`None` for requests).
    pub fn status_code(&self) -> Option<u16> {
        match &self.start {
            Start::Response { code, .. } => Some(*code),
            Start::Request { .. } => None,
        }
    }

    /// Reason phrase bytes as received (may be empty or non-UTF-8).
    pub fn reason(&self) -> Option<&[u8]> {
        match &self.start {
            Start::Response { reason, .. } => Some(reason.get(&self.buf)),
            Start::Request { .. } => None,
        }
    }

    pub fn reason_lossy(&self) -> Option<Cow<'_, str>> {
        self.reason().map(String::from_utf8_lossy)
    }

    // ---- generic headers ----

    /// All headers in order.
    pub fn iter_headers(&self) -> impl Iterator<Item = HeaderRef<'_>> + '_ {
        self.headers.iter().map(move |h| self.href(h))
    }

    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    fn href<'a>(&'a self, h: &'a Header) -> HeaderRef<'a> {
        HeaderRef {
            id: h.id,
            // Names are validated tokens (parser) or sanitised (builder): always ASCII.
            name: std::str::from_utf8(h.name.get(&self.buf)).unwrap_or(""),
            value: h.value.get(&self.buf),
        }
    }

    pub(crate) fn name_matches(&self, h: &Header, id: HeaderName, name: &[u8]) -> bool {
        if id == HeaderName::Other {
            h.id == HeaderName::Other && h.name.get(&self.buf).eq_ignore_ascii_case(name)
        } else {
            h.id == id
        }
    }

    /// Raw values of every header called `name` (case-insensitive, compact-aware), in order.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let id = HeaderName::from_bytes(name.as_bytes());
        self.headers
            .iter()
            .filter(move |h| self.name_matches(h, id, name.as_bytes()))
            .map(move |h| h.value.get(&self.buf))
    }

    /// Raw value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let id = HeaderName::from_bytes(name.as_bytes());
        self.headers
            .iter()
            .find(|h| self.name_matches(h, id, name.as_bytes()))
            .map(|h| h.value.get(&self.buf))
    }

    /// First header called `name` as `&str` (if UTF-8).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub(crate) fn by_id(&self, id: HeaderName) -> impl Iterator<Item = &[u8]> + '_ {
        self.headers
            .iter()
            .filter(move |h| h.id == id)
            .map(move |h| h.value.get(&self.buf))
    }

    pub(crate) fn first_id(&self, id: HeaderName) -> Option<&[u8]> {
        self.by_id(id).next()
    }

    // ---- typed headers ----

    /// Every Via value, across all Via lines and comma lists, top first.
    pub fn vias(&self) -> Result<Vec<Via<'_>>, ParseError> {
        let mut out = Vec::with_capacity(4);
        for v in self.by_id(HeaderName::Via) {
            parse_via_list(v, &mut out).map_err(|e| e.in_header(Some("Via")))?;
        }
        Ok(out)
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        let v = self.first_id(HeaderName::Via).ok_or(missing("Via"))?;
        let s = std::str::from_utf8(v)
            .map_err(|_| err(ErrorKind::Header, "non-UTF-8 Via").in_header(Some("Via")))?;
        let first = super::text::split_top(s, b',').next().unwrap_or("");
        Via::parse(first).map_err(|e| e.in_header(Some("Via")))
    }

    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        let v = self.first_id(HeaderName::From).ok_or(missing("From"))?;
        NameAddr::parse(v).map_err(|e| e.in_header(Some("From")))
    }

    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        let v = self.first_id(HeaderName::To).ok_or(missing("To"))?;
        NameAddr::parse(v).map_err(|e| e.in_header(Some("To")))
    }

    /// Call-ID, trimmed.
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = self
            .first_id(HeaderName::CallId)
            .ok_or(missing("Call-ID"))?;
        let s = std::str::from_utf8(v)
            .map_err(|_| err(ErrorKind::Header, "non-UTF-8 Call-ID").in_header(Some("Call-ID")))?;
        Ok(trim(s))
    }

    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        let v = self.first_id(HeaderName::CSeq).ok_or(missing("CSeq"))?;
        CSeq::parse(v).map_err(|e| e.in_header(Some("CSeq")))
    }

    /// All Contact values (`*` included), across lines and comma lists. Empty if none.
    pub fn contacts(&self) -> Result<Vec<ContactValue<'_>>, ParseError> {
        let mut out = Vec::new();
        for v in self.by_id(HeaderName::Contact) {
            parse_contact_list(v, &mut out).map_err(|e| e.in_header(Some("Contact")))?;
        }
        Ok(out)
    }

    /// All Route values in order. Empty if none.
    pub fn routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addr_list(HeaderName::Route, "Route")
    }

    /// All Record-Route values in order. Empty if none.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>, ParseError> {
        self.addr_list(HeaderName::RecordRoute, "Record-Route")
    }

    fn addr_list(
        &self,
        id: HeaderName,
        name: &'static str,
    ) -> Result<Vec<NameAddr<'_>>, ParseError> {
        let mut out = Vec::new();
        for v in self.by_id(id) {
            parse_name_addr_list(v, &mut out).map_err(|e| e.in_header(Some(name)))?;
        }
        Ok(out)
    }

    fn number(
        &self,
        id: HeaderName,
        name: &'static str,
        max: u64,
    ) -> Result<Option<u64>, ParseError> {
        match self.first_id(id) {
            None => Ok(None),
            Some(v) => {
                let s = std::str::from_utf8(v).map(trim).unwrap_or("");
                parse_u64(s, max)
                    .map(Some)
                    .ok_or(err(ErrorKind::Header, "bad number").in_header(Some(name)))
            }
        }
    }

    /// Max-Forwards (`None` if absent).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        Ok(self
            .number(HeaderName::MaxForwards, "Max-Forwards", 255)?
            .map(|v| v as u8))
    }

    /// Content-Length header value (`None` if absent). The body is always `body().len()` bytes.
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        Ok(self
            .number(
                HeaderName::ContentLength,
                "Content-Length",
                u64::from(u32::MAX),
            )?
            .map(|v| v as usize))
    }

    /// Content-Type, trimmed (`None` if absent).
    pub fn content_type(&self) -> Option<&str> {
        self.first_id(HeaderName::ContentType)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(trim)
    }

    /// Expires in seconds (`None` if absent; values beyond u32 saturate, RFC 4475 §3.1.2.4).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        match self.first_id(HeaderName::Expires) {
            None => Ok(None),
            Some(v) => {
                let s = std::str::from_utf8(v).map(trim).unwrap_or("");
                if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(ErrorKind::Header, "bad number").in_header(Some("Expires")));
                }
                Ok(Some(
                    parse_u64(s, u64::from(u32::MAX)).map_or(u32::MAX, |x| x as u32),
                ))
            }
        }
    }

    /// The body (exactly Content-Length bytes when the header was present).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The buffer the message was parsed from (empty for built messages).
    pub fn source(&self) -> &Bytes {
        &self.buf
    }
}

impl std::fmt::Debug for SipMessage {
    /// Readable form for test failures and debugging: start line, headers (lossy), body size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let start = match &self.start {
            Start::Request { method, uri } => {
                format!("{} {}", method, String::from_utf8_lossy(uri.get(&self.buf)))
            }
            Start::Response { code, reason } => format!(
                "{} {}",
                code,
                String::from_utf8_lossy(reason.get(&self.buf))
            ),
        };
        let headers: Vec<String> = self
            .iter_headers()
            .map(|h| format!("{}: {}", h.name, h.value_lossy()))
            .collect();
        f.debug_struct("SipMessage")
            .field("start", &start)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}
