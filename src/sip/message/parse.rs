//! Framing and parsing: bytes in, `SipMessage` (ranges over the same `Bytes`) or `ParseError` out.
//! UDP: one datagram, body framed by Content-Length when present (extra bytes ignored).
//! Streams: `frame_stream` says how many bytes the next message takes; Content-Length is required.

use super::error::{err, ErrorKind, ParseError};
use super::method::Method;
use super::msg::{Header, SipMessage, Start, Text};
use super::name::HeaderName;
use super::quick;
use super::text::{is_token, is_token_char, parse_u64, split_top, trim, trim_bytes, Params};
use super::typed::{CSeq, NameAddr, Via};
use super::uri::Uri;
use bytes::Bytes;

/// Largest message (datagram, or head + body on a stream) we accept.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most header lines (after unfolding) in one message.
pub const MAX_HEADERS: usize = 256;
/// Longest header line (a folded header counts as one line).
pub const MAX_LINE: usize = 8 * 1024;

/// What `frame_stream` found at the start of a stream buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Not a whole message yet: read more and call again.
    NeedMore,
    /// This many bytes of CRLF keep-alive (RFC 5626 ping/pong) lead the buffer: consume them.
    KeepAlive(usize),
    /// One message of this many bytes starts the buffer: split it off and `parse_stream` it.
    Message(usize),
    /// The stream cannot be framed (close the connection, after a 400/513 if addressable).
    Error(ParseError),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Datagram,
    Stream,
}

/// Parse one UDP datagram.
pub fn parse_datagram(data: Bytes) -> Result<SipMessage, ParseError> {
    parse(data, Mode::Datagram)
}

/// Parse one message framed by `frame_stream` (Content-Length required, body must fit exactly).
pub fn parse_stream(data: Bytes) -> Result<SipMessage, ParseError> {
    parse(data, Mode::Stream)
}

impl SipMessage {
    /// Parse a datagram (same as [`parse_datagram`]).
    pub fn parse(data: impl Into<Bytes>) -> Result<SipMessage, ParseError> {
        parse_datagram(data.into())
    }
}

/// Index of the first `\r\n\r\n` in `d` (what `memmem::find` gives), hopping from LF to LF: a
/// head has a few dozen lines, and this needs no searcher built per call.
#[inline]
fn find_blank_line(d: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', d).find_map(|i| {
        (i >= 1 && d[i - 1] == b'\r' && d.get(i + 1..i + 3) == Some(b"\r\n")).then(|| i - 1)
    })
}

fn leading_crlf(d: &[u8]) -> usize {
    let mut n = 0;
    while d.get(n) == Some(&b'\r') && d.get(n + 1) == Some(&b'\n') {
        n += 2;
    }
    n
}

/// Frame the next message in a stream buffer.
pub fn frame_stream(buf: &[u8]) -> Frame {
    let ka = leading_crlf(buf);
    if ka > 0 {
        return Frame::KeepAlive(ka);
    }
    if buf.is_empty() || buf == b"\r" {
        return Frame::NeedMore;
    }
    let window = &buf[..buf.len().min(MAX_MESSAGE)];
    let Some(he) = find_blank_line(window) else {
        return if buf.len() >= MAX_MESSAGE {
            Frame::Error(err(ErrorKind::TooLarge, "head over 64 KiB"))
        } else {
            Frame::NeedMore
        };
    };
    let head = &buf[..he];
    let mut cl: Option<u64> = None;
    // Skip the start line; look at each header line's name.
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = trim_bytes(&line[..colon]);
        if HeaderName::from_bytes(name) == HeaderName::ContentLength {
            let v = std::str::from_utf8(&line[colon + 1..])
                .map(trim)
                .unwrap_or("");
            let Some(n) = parse_u64(v, MAX_MESSAGE as u64) else {
                return Frame::Error(
                    err(ErrorKind::Framing, "bad Content-Length").in_header(Some("Content-Length")),
                );
            };
            if cl.is_some() {
                return Frame::Error(
                    err(ErrorKind::Semantic, "duplicate single-value header")
                        .in_header(Some("Content-Length")),
                );
            }
            cl = Some(n);
        }
    }
    let Some(cl) = cl else {
        return Frame::Error(err(
            ErrorKind::Framing,
            "Content-Length required on streams",
        ));
    };
    let total = he + 4 + cl as usize;
    if total > MAX_MESSAGE {
        return Frame::Error(err(ErrorKind::TooLarge, "message over 64 KiB"));
    }
    if buf.len() < total {
        Frame::NeedMore
    } else {
        Frame::Message(total)
    }
}

/// End of the line starting at `from` (index of its CR), never past `limit`. Bare CR or LF is an error.
#[inline]
fn line_end(d: &[u8], from: usize, limit: usize) -> Result<usize, ParseError> {
    let hay = d.get(from..limit).unwrap_or(&[]);
    match memchr::memchr2(b'\r', b'\n', hay) {
        None => Ok(limit),
        Some(j) => {
            let idx = from + j;
            if d.get(idx) == Some(&b'\r') && d.get(idx + 1) == Some(&b'\n') {
                Ok(idx)
            } else {
                Err(err(ErrorKind::Framing, "bare CR or LF"))
            }
        }
    }
}

/// The head in one walk, for the common case: every line ends in CRLF, no NUL, no folding, every
/// line well formed. Returns `None` at the first thing that is not plainly fine (a bare CR or LF,
/// a NUL, a continuation line, an over-long line, a bad start line or header name, no blank line,
/// too many headers); `slow_head` then walks again and gives the verdict or the exact error. When
/// it returns `Some`, the result is what `slow_head` gives: the first `\r\n\r\n` is the first
/// empty line (every CR and LF before it ended a line), and each line's ranges are computed the
/// same way. One `memchr3` per line finds its end and any NUL in it, where `slow_head` looks for
/// the blank line, for NULs, and then for each line's end, in three walks.
#[inline]
fn fast_head(d: &[u8], pos: usize) -> Option<(usize, Start, Vec<Header>)> {
    let end_of = |from: usize| -> Option<usize> {
        let j = from + memchr::memchr3(b'\r', b'\n', 0, d.get(from..)?)?;
        (d.get(j) == Some(&b'\r') && d.get(j + 1) == Some(&b'\n')).then_some(j)
    };
    let sl_end = end_of(pos)?;
    if sl_end - pos > MAX_LINE || sl_end == pos {
        return None;
    }
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    let mut i = sl_end + 2;
    loop {
        let le = end_of(i)?;
        if le == i {
            // The blank line: the head ends at the CRLF before it.
            let start = parse_start_line(d, pos, sl_end).ok()?;
            return Some((i - 2, start, headers));
        }
        if le - i > MAX_LINE || headers.len() >= MAX_HEADERS {
            return None;
        }
        let line = d.get(i..le)?;
        let name_len = line.iter().position(|&b| !is_token_char(b))?;
        if name_len == 0 {
            return None;
        }
        let mut j = name_len;
        while matches!(line.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if line.get(j) != Some(&b':') {
            return None;
        }
        j += 1;
        while matches!(line.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        let mut e = line.len();
        while e > j && matches!(line.get(e - 1), Some(b' ' | b'\t')) {
            e -= 1;
        }
        // A continuation line next: leave folding to `slow_head`.
        if matches!(d.get(le + 2), Some(b' ' | b'\t')) {
            return None;
        }
        headers.push(Header {
            id: HeaderName::from_bytes(line.get(..name_len)?),
            name: Text::Buf(i as u32, (i + name_len) as u32),
            value: Text::Buf((i + j) as u32, (i + e) as u32),
        });
        i = le + 2;
    }
}

fn parse(buf: Bytes, mode: Mode) -> Result<SipMessage, ParseError> {
    let d: &[u8] = &buf;
    if d.len() > MAX_MESSAGE {
        return Err(err(ErrorKind::TooLarge, "message over 64 KiB"));
    }
    let pos = leading_crlf(d);
    if pos >= d.len() {
        return Err(err(ErrorKind::Empty, "no message"));
    }
    let (head_end, start, headers) = match fast_head(d, pos) {
        Some(h) => h,
        None => slow_head(d, pos)?,
    };
    let cl = validate(d, &start, &headers)?;

    // Body.
    let body_start = head_end + 4;
    let avail = d.len() - body_start.min(d.len());
    let body = match (mode, cl) {
        (Mode::Stream, None) => {
            return Err(err(
                ErrorKind::Framing,
                "Content-Length required on streams",
            ))
        }
        (Mode::Stream, Some(n)) if n != avail => {
            return Err(err(
                ErrorKind::Framing,
                "body length differs from Content-Length",
            ))
        }
        (_, Some(n)) if n > avail => {
            return Err(err(
                ErrorKind::Incomplete,
                "body shorter than Content-Length",
            ))
        }
        (_, Some(n)) => buf.slice(body_start..body_start + n),
        (Mode::Datagram, None) => buf.slice(body_start.min(d.len())..),
    };
    Ok(SipMessage {
        buf,
        start,
        headers,
        body,
    })
}

/// The head in separate walks, for every input (`fast_head` defers here when unsure): the blank
/// line, NUL bytes, the start line, then the header lines with folding. Gives the exact error.
fn slow_head(d: &[u8], pos: usize) -> Result<(usize, Start, Vec<Header>), ParseError> {
    let head_end = find_blank_line(d.get(pos..).unwrap_or(&[]))
        .map(|i| pos + i)
        .ok_or(err(ErrorKind::Incomplete, "no blank line after headers"))?;

    // NUL is only legal as a quoted-pair (`\` NUL) inside a quoted string (RFC 4475 intmeth).
    for z in memchr::memchr_iter(0, d.get(pos..head_end).unwrap_or(&[])) {
        if z == 0 || d.get(pos + z - 1) != Some(&b'\\') {
            return Err(err(ErrorKind::Header, "NUL byte in head"));
        }
    }

    // Start line.
    let sl_end = line_end(d, pos, head_end)?;
    if sl_end - pos > MAX_LINE {
        return Err(err(ErrorKind::TooLarge, "start line too long"));
    }
    let start = parse_start_line(d, pos, sl_end)?;

    // Header lines.
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    let mut folded: Vec<usize> = Vec::new();
    let mut i = sl_end + 2;
    while i < head_end {
        let le = line_end(d, i, head_end)?;
        if le - i > MAX_LINE {
            return Err(err(ErrorKind::TooLarge, "header line too long"));
        }
        let first = d.get(i).copied().unwrap_or(b'\r');
        if first == b' ' || first == b'\t' {
            let Some(last) = headers.last_mut() else {
                return Err(err(
                    ErrorKind::Header,
                    "continuation line before any header",
                ));
            };
            if let Text::Buf(vs, _) = last.value {
                if le - vs as usize > MAX_LINE {
                    return Err(err(ErrorKind::TooLarge, "header line too long"));
                }
                last.value = Text::Buf(vs, le as u32);
            }
            if folded.last() != Some(&(headers.len() - 1)) {
                folded.push(headers.len() - 1);
            }
        } else {
            let line = d.get(i..le).unwrap_or(&[]);
            let name_len = line
                .iter()
                .position(|&b| !is_token_char(b))
                .unwrap_or(line.len());
            if name_len == 0 {
                return Err(err(ErrorKind::Header, "bad header name"));
            }
            let mut j = name_len;
            while matches!(line.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            if line.get(j) != Some(&b':') {
                return Err(err(ErrorKind::Header, "header line without colon"));
            }
            j += 1;
            while matches!(line.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            if headers.len() >= MAX_HEADERS {
                return Err(err(ErrorKind::TooLarge, "too many headers"));
            }
            let id = HeaderName::from_bytes(line.get(..name_len).unwrap_or(&[]));
            headers.push(Header {
                id,
                name: Text::Buf(i as u32, (i + name_len) as u32),
                value: Text::Buf((i + j) as u32, le as u32),
            });
        }
        i = le + 2;
    }
    // Trim trailing whitespace; unfold folded values into owned text.
    for h in headers.iter_mut() {
        if let Text::Buf(s, e) = h.value {
            let (s, mut e) = (s as usize, e as usize);
            while e > s && matches!(d.get(e - 1), Some(b' ' | b'\t')) {
                e -= 1;
            }
            h.value = Text::Buf(s as u32, e as u32);
        }
    }
    for &k in &folded {
        if let Some(h) = headers.get_mut(k) {
            let v = h.value.get(d);
            let un = unfold(v);
            h.value = Text::Own(Bytes::from(un));
        }
    }
    Ok((head_end, start, headers))
}

/// Replace each `*WSP CRLF 1*WSP` with one SP and trim the ends.
fn unfold(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\r' && v.get(i + 1) == Some(&b'\n') {
            while matches!(out.last(), Some(b' ' | b'\t')) {
                out.pop();
            }
            i += 2;
            while matches!(v.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
            if !out.is_empty() {
                out.push(b' ');
            }
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    while matches!(out.last(), Some(b' ' | b'\t')) {
        out.pop();
    }
    out
}

fn version_kind(v: &[u8]) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    // "SIP/x.y" with digits is a real other version: 505. Anything else is garbage: 400.
    let looks = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|&b| b.is_ascii_digit() || b == b'.')
        && v[4..].contains(&b'.');
    if looks {
        Err(err(ErrorKind::Version, "unsupported SIP version"))
    } else {
        Err(err(ErrorKind::StartLine, "malformed SIP version"))
    }
}

fn parse_start_line(d: &[u8], s: usize, e: usize) -> Result<Start, ParseError> {
    let line = d.get(s..e).unwrap_or(&[]);
    let sp1 =
        memchr::memchr(b' ', line).ok_or(err(ErrorKind::StartLine, "malformed start line"))?;
    let first = &line[..sp1];
    if first.len() >= 4 && first[..4].eq_ignore_ascii_case(b"SIP/") {
        version_kind(first)?;
        let rest = &line[sp1 + 1..];
        let code = rest
            .get(..3)
            .ok_or(err(ErrorKind::StartLine, "malformed status code"))?;
        if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
            return Err(err(ErrorKind::StartLine, "malformed status code"));
        }
        let code = code.iter().fold(0u16, |a, &b| a * 10 + u16::from(b - b'0'));
        if !(100..=699).contains(&code) {
            return Err(err(ErrorKind::StartLine, "status code out of range"));
        }
        let rs = (s + sp1 + 1 + 4).min(e);
        return Ok(Start::Response {
            code,
            reason: Text::Buf(rs as u32, e as u32),
        });
    }
    let rest = &line[sp1 + 1..];
    let sp2 =
        memchr::memchr(b' ', rest).ok_or(err(ErrorKind::StartLine, "malformed request line"))?;
    let uri = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    if uri.is_empty() || memchr::memchr(b' ', version).is_some() {
        return Err(err(
            ErrorKind::StartLine,
            "extra whitespace in request line",
        ));
    }
    version_kind(version)?;
    let method = Method::from_bytes(first)?;
    let uri_s =
        std::str::from_utf8(uri).map_err(|_| err(ErrorKind::Uri, "non-ASCII Request-URI"))?;
    Uri::parse(uri_s).map_err(|e| ParseError {
        reason: e.reason,
        ..err(ErrorKind::Uri, "bad Request-URI")
    })?;
    let us = s + sp1 + 1;
    Ok(Start::Request {
        method,
        uri: Text::Buf(us as u32, (us + sp2) as u32),
    })
}

fn hdr_err(reason: &'static str, id: HeaderName) -> ParseError {
    err(ErrorKind::Header, reason).in_header(id.canonical())
}

fn utf8(v: &[u8], id: HeaderName) -> Result<&str, ParseError> {
    std::str::from_utf8(v).map_err(|_| hdr_err("non-UTF-8 bytes where text is required", id))
}

/// Check one name-addr list element: the quick check first, the full parser when it is unsure.
fn name_addr(part: &str) -> Result<(), ParseError> {
    if quick::name_addr_ok(part.as_bytes()) {
        return Ok(());
    }
    NameAddr::parse_str(part).map(|_| ())
}

/// Semantic checks on the parsed head. Returns the Content-Length, if present.
fn validate(d: &[u8], start: &Start, headers: &[Header]) -> Result<Option<usize>, ParseError> {
    let mut seen: u64 = 0;
    let mut have = [false; 5]; // Via, From, To, Call-ID, CSeq
    let mut cl = None;
    for h in headers {
        let id = h.id;
        if id == HeaderName::Other {
            continue;
        }
        if id.is_single() {
            let bit = 1u64 << (id as u32 & 63);
            if seen & bit != 0 {
                return Err(err(ErrorKind::Semantic, "duplicate single-value header")
                    .in_header(id.canonical()));
            }
            seen |= bit;
        }
        let v = h.value.get(d);
        let tag = |e: ParseError| e.in_header(id.canonical());
        match id {
            HeaderName::Via => {
                have[0] = true;
                if quick::via_list_ok(v) {
                    continue;
                }
                for part in split_top(utf8(v, id)?, b',') {
                    if !quick::via_ok(part.as_bytes()) {
                        Via::parse(part).map_err(tag)?;
                    }
                }
            }
            HeaderName::From | HeaderName::To => {
                have[if id == HeaderName::From { 1 } else { 2 }] = true;
                if !quick::name_addr_ok(v) {
                    NameAddr::parse(v).map_err(tag)?;
                }
            }
            HeaderName::CallId => {
                have[3] = true;
                let s = trim_bytes(v);
                if s.is_empty() || s.iter().any(|&b| b <= b' ' || b >= 0x7f) {
                    return Err(hdr_err("bad Call-ID", id));
                }
            }
            HeaderName::CSeq => {
                have[4] = true;
                let c = CSeq::parse(v).map_err(tag)?;
                if let Start::Request { method, .. } = start {
                    if &c.method != method {
                        return Err(err(
                            ErrorKind::Semantic,
                            "CSeq method differs from request method",
                        )
                        .in_header(Some("CSeq")));
                    }
                }
            }
            HeaderName::Contact => {
                if quick::name_addr_list_ok(v) {
                    continue;
                }
                let s = utf8(v, id).unwrap_or("");
                if trim(s) == "*" {
                    continue;
                }
                if s.is_empty() && !v.is_empty() {
                    // non-UTF-8 contact: must still be one well-formed value
                    NameAddr::parse(v).map_err(tag)?;
                    continue;
                }
                for part in split_top(s, b',') {
                    if trim(part) == "*" {
                        return Err(hdr_err("Contact * mixed with addresses", id));
                    }
                    name_addr(part).map_err(tag)?;
                }
            }
            HeaderName::Route | HeaderName::RecordRoute => {
                if quick::name_addr_list_ok(v) {
                    continue;
                }
                for part in split_top(utf8(v, id)?, b',') {
                    name_addr(part).map_err(tag)?;
                }
            }
            HeaderName::MaxForwards => {
                parse_u64(trim(utf8(v, id)?), 255).ok_or(hdr_err("bad Max-Forwards", id))?;
            }
            HeaderName::ContentLength => {
                let n = parse_u64(trim(utf8(v, id)?), MAX_MESSAGE as u64).ok_or(
                    err(ErrorKind::Framing, "bad Content-Length").in_header(Some("Content-Length")),
                )?;
                cl = Some(n as usize);
            }
            HeaderName::Expires => {
                let s = trim(utf8(v, id)?);
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(hdr_err("bad Expires", id));
                }
            }
            HeaderName::ContentType => {
                let s = trim(utf8(v, id)?);
                let (mt, params) = match s.find(';') {
                    Some(i) => (&s[..i], Some(&s[i + 1..])),
                    None => (s, None),
                };
                let ok = match mt.split_once('/') {
                    Some((t, st)) => is_token(trim(t).as_bytes()) && is_token(trim(st).as_bytes()),
                    None => false,
                };
                if !ok {
                    return Err(hdr_err("bad Content-Type", id));
                }
                if let Some(p) = params {
                    Params::new(p).validate().map_err(tag)?;
                }
            }
            _ => {}
        }
    }
    if have.iter().any(|h| !h) {
        return Err(err(
            ErrorKind::Semantic,
            "missing mandatory header (Via, From, To, Call-ID or CSeq)",
        ));
    }
    Ok(cl)
}
