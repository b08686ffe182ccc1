//! Building and editing messages: requests/responses from parts, `response_to` (RFC 3261 §8.2.6),
//! header add/insert/remove/replace, Via and Max-Forwards handling, body, and serialisation.

use super::error::{err, ErrorKind, ParseError};
use super::method::Method;
use super::msg::{Header, SipMessage, Start, Text};
use super::name::HeaderName;
use super::text::{is_token_char, split_top, trim};
use super::uri::Uri;
use bytes::{BufMut, Bytes, BytesMut};

/// Header values must not smuggle line breaks: CR, LF and NUL become spaces.
fn clean_value(v: &[u8]) -> Text {
    if v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        let cleaned: Vec<u8> = v
            .iter()
            .map(|&b| {
                if matches!(b, b'\r' | b'\n' | 0) {
                    b' '
                } else {
                    b
                }
            })
            .collect();
        Text::Own(Bytes::from(cleaned))
    } else {
        Text::own(v)
    }
}

/// Header names are tokens: other characters are dropped.
fn clean_name(n: &str) -> Text {
    if n.bytes().all(is_token_char) && !n.is_empty() {
        Text::own(n.as_bytes())
    } else {
        let c: Vec<u8> = n.bytes().filter(|&b| is_token_char(b)).collect();
        Text::Own(Bytes::from(if c.is_empty() {
            b"X-Invalid".to_vec()
        } else {
            c
        }))
    }
}

fn new_header(name: &str, value: &[u8]) -> Header {
    Header {
        id: HeaderName::from_bytes(name.as_bytes()),
        name: clean_name(name),
        value: clean_value(value),
    }
}

impl SipMessage {
    /// A new request `METHOD uri SIP/2.0` with no headers. The URI is checked.
    pub fn request(method: Method, uri: &str) -> Result<SipMessage, ParseError> {
        Uri::parse(uri)?;
        Ok(SipMessage {
            buf: Bytes::new(),
            start: Start::Request {
                method,
                uri: Text::own(uri.as_bytes()),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        })
    }

    /// A new response `SIP/2.0 code reason` with no headers. `code` should be 100..=699.
    pub fn response(code: u16, reason: &str) -> SipMessage {
        SipMessage {
            buf: Bytes::new(),
            start: Start::Response {
                code,
                reason: clean_value(reason.as_bytes()),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A response to `req` per RFC 3261 §8.2.6: all Vias (in order), From, To, Call-ID, CSeq copied;
    /// `to_tag` is added to To when To has no tag yet; Timestamp is echoed on 100.
    /// Copies share the request's buffer (no byte copies).
    pub fn response_to(
        req: &SipMessage,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
    ) -> SipMessage {
        let mut resp = SipMessage::response(code, reason);
        resp.buf = req.buf.clone();
        let has_tag = req.to().map(|t| t.tag().is_some()).unwrap_or(false);
        for h in &req.headers {
            match h.id {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    resp.headers.push(h.clone())
                }
                HeaderName::Timestamp if code == 100 => resp.headers.push(h.clone()),
                HeaderName::To => match to_tag {
                    Some(tag) if !has_tag => {
                        let mut v = h.value.get(&req.buf).to_vec();
                        v.extend_from_slice(b";tag=");
                        v.extend_from_slice(tag.as_bytes());
                        resp.headers.push(Header {
                            id: h.id,
                            name: h.name.clone(),
                            value: clean_value(&v),
                        });
                    }
                    _ => resp.headers.push(h.clone()),
                },
                _ => {}
            }
        }
        resp
    }

    /// Replace the Request-URI (requests only; checked).
    pub fn set_request_uri(&mut self, uri: &str) -> Result<&mut Self, ParseError> {
        Uri::parse(uri)?;
        match &mut self.start {
            Start::Request { uri: u, .. } => {
                *u = Text::own(uri.as_bytes());
                Ok(self)
            }
            Start::Response { .. } => Err(err(ErrorKind::StartLine, "not a request")),
        }
    }

    /// Replace the reason phrase (responses only).
    pub fn set_reason(&mut self, reason: &str) -> &mut Self {
        if let Start::Response { reason: r, .. } = &mut self.start {
            *r = clean_value(reason.as_bytes());
        }
        self
    }

    /// Append a header at the end.
    pub fn push_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.headers.push(new_header(name, value.as_ref()));
        self
    }

    /// Insert a header at position `index` (clamped to the end).
    pub fn insert_header(
        &mut self,
        index: usize,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> &mut Self {
        let i = index.min(self.headers.len());
        self.headers.insert(i, new_header(name, value.as_ref()));
        self
    }

    /// Remove every header called `name`; returns how many were removed.
    pub fn remove_headers(&mut self, name: &str) -> usize {
        let id = HeaderName::from_bytes(name.as_bytes());
        let before = self.headers.len();
        let buf = self.buf.clone();
        self.headers.retain(|h| {
            !(if id == HeaderName::Other {
                h.id == HeaderName::Other && h.name.get(&buf).eq_ignore_ascii_case(name.as_bytes())
            } else {
                h.id == id
            })
        });
        before - self.headers.len()
    }

    /// Set `name` to a single value: the first occurrence is replaced in place, later ones removed;
    /// appended if absent.
    pub fn replace_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let id = HeaderName::from_bytes(name.as_bytes());
        let pos = self
            .headers
            .iter()
            .position(|h| self.name_matches(h, id, name.as_bytes()));
        match pos {
            None => {
                self.push_header(name, value);
            }
            Some(p) => {
                let h = new_header(name, value.as_ref());
                let keep_name = self.headers.get(p).map(|old| old.name.clone());
                self.remove_headers(name);
                let mut h = h;
                if let Some(n) = keep_name {
                    h.name = n;
                }
                let p = p.min(self.headers.len());
                self.headers.insert(p, h);
            }
        }
        self
    }

    /// Add a Via value on top (before the first Via, or first header if none).
    pub fn prepend_via(&mut self, value: &str) -> &mut Self {
        let pos = self
            .headers
            .iter()
            .position(|h| h.id == HeaderName::Via)
            .unwrap_or(0);
        self.headers
            .insert(pos, new_header("Via", value.as_bytes()));
        self
    }

    /// Remove the topmost Via value (only the first element of a comma list). Returns false if none.
    pub fn remove_top_via(&mut self) -> bool {
        let Some(pos) = self.headers.iter().position(|h| h.id == HeaderName::Via) else {
            return false;
        };
        let v = self.headers[pos].value.get(&self.buf).to_vec();
        let s = String::from_utf8_lossy(&v);
        let mut parts = split_top(&s, b',');
        let _first = parts.next();
        let rest: Vec<&str> = parts.map(trim).collect();
        if rest.is_empty() {
            self.headers.remove(pos);
        } else {
            let joined = rest.join(", ");
            self.headers[pos].value = clean_value(joined.as_bytes());
        }
        true
    }

    /// Server transport rule on receipt (RFC 3261 §18.2.1, RFC 3581): on the top Via, add
    /// `received=<src_ip>` when it differs from the sent-by host (or when rport was asked for), and
    /// fill a bare `;rport` with `src_port`. Returns false if there is no parsable top Via.
    pub fn stamp_received(&mut self, src_ip: &str, src_port: u16) -> bool {
        let Some(pos) = self.headers.iter().position(|h| h.id == HeaderName::Via) else {
            return false;
        };
        let value = self.headers[pos].value.get(&self.buf).to_vec();
        let Ok(s) = std::str::from_utf8(&value) else {
            return false;
        };
        let mut parts = split_top(s, b',');
        let first = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        let Ok(via) = super::typed::Via::parse(first) else {
            return false;
        };
        let want_rport = via.params.get("rport") == Some("");
        let host_differs = via.host.trim_start_matches('[').trim_end_matches(']')
            != src_ip.trim_start_matches('[').trim_end_matches(']');
        let add_received = (host_differs || want_rport) && via.received().is_none();
        if !add_received && !want_rport {
            return true;
        }
        // Rebuild the first value: everything up to the params, then params with our edits.
        let first_trim = trim(first);
        let params_raw = via.params.as_str();
        let head_len = first_trim.len().saturating_sub(params_raw.len());
        let mut out = String::with_capacity(first_trim.len() + 48);
        out.push_str(
            first_trim
                .get(..head_len)
                .unwrap_or(first_trim)
                .trim_end_matches(';')
                .trim_end(),
        );
        for (n, v) in via.params.iter() {
            out.push(';');
            out.push_str(n);
            if n.eq_ignore_ascii_case("rport") && want_rport {
                out.push('=');
                out.push_str(&src_port.to_string());
            } else if let Some(v) = v {
                out.push('=');
                out.push_str(v);
            }
        }
        if add_received {
            out.push_str(";received=");
            out.push_str(src_ip);
        }
        for r in rest {
            out.push(',');
            out.push_str(r);
        }
        self.headers[pos].value = clean_value(out.as_bytes());
        true
    }

    /// Proxy rule (RFC 3261 §16.6/§16.3): 0 gives `TooManyHops` (answer 483); otherwise decrement
    /// and return the new value. Absent: set to 70.
    pub fn decrement_max_forwards(&mut self) -> Result<u8, ParseError> {
        let cur = self.max_forwards()?;
        let new = match cur {
            None => 70,
            Some(0) => {
                return Err(err(ErrorKind::TooManyHops, "Max-Forwards is zero")
                    .in_header(Some("Max-Forwards")))
            }
            Some(n) => n - 1,
        };
        self.replace_header("Max-Forwards", new.to_string());
        Ok(new)
    }

    /// Set the body (raw bytes, never re-encoded) and Content-Type (`None` removes it when the body is
    /// empty, keeps it otherwise). Content-Length follows the body automatically.
    pub fn set_body(&mut self, body: impl Into<Bytes>, content_type: Option<&str>) -> &mut Self {
        self.body = body.into();
        match content_type {
            Some(ct) => {
                self.replace_header("Content-Type", ct);
            }
            None if self.body.is_empty() => {
                self.remove_headers("Content-Type");
            }
            None => {}
        }
        let len = self.body.len().to_string();
        self.replace_header("Content-Length", len);
        self
    }

    /// Size of `to_bytes()` output.
    pub fn encoded_len(&self) -> usize {
        let mut n = match &self.start {
            Start::Request { method, uri } => method.as_str().len() + uri.get(&self.buf).len() + 11,
            Start::Response { reason, .. } => 14 + reason.get(&self.buf).len(),
        };
        for h in &self.headers {
            n += h.name.get(&self.buf).len() + h.value.get(&self.buf).len() + 4 + 10;
        }
        n + 24 + self.body.len()
    }

    /// Append the wire form to `out`. Content-Length always states the real body length (added if
    /// absent); the body is copied byte for byte.
    pub fn write_to(&self, out: &mut impl BufMut) {
        match &self.start {
            Start::Request { method, uri } => {
                out.put_slice(method.as_str().as_bytes());
                out.put_u8(b' ');
                out.put_slice(uri.get(&self.buf));
                out.put_slice(b" SIP/2.0\r\n");
            }
            Start::Response { code, reason } => {
                out.put_slice(b"SIP/2.0 ");
                let c = (*code).min(999);
                out.put_slice(&[
                    b'0' + (c / 100) as u8,
                    b'0' + (c / 10 % 10) as u8,
                    b'0' + (c % 10) as u8,
                    b' ',
                ]);
                out.put_slice(reason.get(&self.buf));
                out.put_slice(b"\r\n");
            }
        }
        let mut wrote_cl = false;
        let len = self.body.len().to_string();
        for h in &self.headers {
            if h.id == HeaderName::ContentLength && wrote_cl {
                continue;
            }
            out.put_slice(h.name.get(&self.buf));
            out.put_slice(b": ");
            if h.id == HeaderName::ContentLength {
                wrote_cl = true;
                out.put_slice(len.as_bytes());
            } else {
                out.put_slice(h.value.get(&self.buf));
            }
            out.put_slice(b"\r\n");
        }
        if !wrote_cl {
            out.put_slice(b"Content-Length: ");
            out.put_slice(len.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
    }

    /// Serialise to bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out.freeze()
    }
}
