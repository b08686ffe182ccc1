//! Raw extractor: when the full parse fails, pull the start line and Via/From/To/Call-ID/CSeq lines
//! out of the bytes (leniently, bounded) so a 400/505/513 can still be addressed to the sender.

use super::error::ParseError;
use super::name::HeaderName;
use super::parse::{MAX_HEADERS, MAX_MESSAGE};
use super::text::trim_bytes;
use bytes::{BufMut, Bytes, BytesMut};

/// The five headers a response needs, as raw bytes (first physical line of each; all Via lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRequest<'a> {
    /// Request method token as written (empty for responses).
    pub method: &'a [u8],
    pub is_response: bool,
    pub vias: Vec<&'a [u8]>,
    pub from: Option<&'a [u8]>,
    pub to: Option<&'a [u8]>,
    pub call_id: Option<&'a [u8]>,
    pub cseq: Option<&'a [u8]>,
}

impl RawRequest<'_> {
    /// Can a response be built? Requests (with a token method) other than ACK, with all five
    /// headers present.
    pub fn addressable(&self) -> bool {
        !self.is_response
            && !self.method.is_empty()
            && self.method != b"ACK"
            && !self.vias.is_empty()
            && self.from.is_some()
            && self.to.is_some()
            && self.call_id.is_some()
            && self.cseq.is_some()
    }
}

fn clean(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|&b| b >= b' ' || b == b'\t') && v.len() <= 1024
}

/// Extract what we can. Never fails; missing parts stay empty.
pub fn extract_raw(buf: &[u8]) -> RawRequest<'_> {
    let buf = &buf[..buf.len().min(MAX_MESSAGE)];
    let mut out = RawRequest::default();
    let mut lines = buf
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let Some(first) = lines.next() else {
        return out;
    };
    let tok = first.split(|&b| b == b' ').next().unwrap_or(&[]);
    if tok.len() >= 4 && tok[..4].eq_ignore_ascii_case(b"SIP/") {
        out.is_response = true;
    } else if tok.iter().all(|&b| super::text::is_token_char(b)) {
        out.method = tok;
    }
    for line in lines.take(MAX_HEADERS * 2) {
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = trim_bytes(&line[..colon]);
        let value = trim_bytes(&line[colon + 1..]);
        if !clean(value) {
            continue;
        }
        match HeaderName::from_bytes(name) {
            HeaderName::Via if out.vias.len() < 64 => out.vias.push(value),
            HeaderName::From if out.from.is_none() => out.from = Some(value),
            HeaderName::To if out.to.is_none() => out.to = Some(value),
            HeaderName::CallId if out.call_id.is_none() => out.call_id = Some(value),
            HeaderName::CSeq if out.cseq.is_none() => out.cseq = Some(value),
            _ => {}
        }
    }
    out
}

/// Build `SIP/2.0 code reason` from raw parts (with a To tag if `to_tag` and To has none).
/// `None` if the request is not addressable (a response, an ACK, or a missing header).
pub fn response_from_raw(
    raw: &RawRequest<'_>,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
) -> Option<Bytes> {
    if !raw.addressable() {
        return None;
    }
    let mut out = BytesMut::with_capacity(512);
    out.put_slice(
        format!(
            "SIP/2.0 {} {}\r\n",
            code.clamp(100, 699),
            reason.replace(['\r', '\n'], " ")
        )
        .as_bytes(),
    );
    for v in &raw.vias {
        out.put_slice(b"Via: ");
        out.put_slice(v);
        out.put_slice(b"\r\n");
    }
    let to = raw.to?;
    let put = |out: &mut BytesMut, n: &[u8], v: &[u8]| {
        out.put_slice(n);
        out.put_slice(v);
        out.put_slice(b"\r\n");
    };
    put(&mut out, b"From: ", raw.from?);
    out.put_slice(b"To: ");
    out.put_slice(to);
    if let Some(tag) = to_tag {
        if !to.windows(5).any(|w| w.eq_ignore_ascii_case(b";tag=")) {
            out.put_slice(b";tag=");
            out.put_slice(tag.as_bytes());
        }
    }
    out.put_slice(b"\r\n");
    put(&mut out, b"Call-ID: ", raw.call_id?);
    put(&mut out, b"CSeq: ", raw.cseq?);
    out.put_slice(b"Content-Length: 0\r\n\r\n");
    Some(out.freeze())
}

/// The error response for bytes that failed to parse, if it can be addressed.
pub fn error_response(buf: &[u8], error: &ParseError, to_tag: Option<&str>) -> Option<Bytes> {
    response_from_raw(
        &extract_raw(buf),
        error.status_code(),
        error.reason_phrase(),
        to_tag,
    )
}
