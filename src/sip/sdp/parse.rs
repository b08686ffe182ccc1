//! Parsing SDP text into [`SessionDescription`], with bounded input and line-numbered errors.
//!
//! Strict where a mistake would mislead media handling (v=0 first, o=, m= and c= syntax, ports),
//! lenient where carriers are sloppy (LF-only line ends, a missing `s=` or `t=`, trailing blanks).

use super::model::{Attribute, Connection, Media, Origin, SdpLine, SessionDescription};

/// Largest SDP body we parse.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Most lines, and most media sections.
pub const MAX_LINES: usize = 1024;
pub const MAX_MEDIA: usize = 32;

/// Why an SDP body was refused; `line` is 1-based (0 for whole-body problems).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad SDP at line {line}: {reason}")]
pub struct SdpError {
    pub line: usize,
    pub reason: &'static str,
}

fn err(line: usize, reason: &'static str) -> SdpError {
    SdpError { line, reason }
}

impl SessionDescription {
    /// Parses an SDP body (bytes as received; must be UTF-8).
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        if body.len() > MAX_SDP_LEN {
            return Err(err(0, "SDP too large"));
        }
        let text = std::str::from_utf8(body).map_err(|_| err(0, "SDP is not UTF-8"))?;
        let mut origin = None;
        let mut session_name = None;
        let mut lines = Vec::new();
        let mut media: Vec<Media> = Vec::new();
        let mut saw_version = false;
        for (idx, raw) in text.split('\n').enumerate() {
            let n = idx + 1;
            if n > MAX_LINES {
                return Err(err(n, "too many SDP lines"));
            }
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
                return Err(err(n, "expected <type>=<value>"));
            }
            let kind = bytes[0] as char;
            let value = &line[2..];
            if !saw_version {
                if kind != 'v' || value.trim() != "0" {
                    return Err(err(n, "SDP must start with v=0"));
                }
                saw_version = true;
                continue;
            }
            match kind {
                'v' => return Err(err(n, "duplicate v=")),
                'o' => {
                    if origin.is_some() || !media.is_empty() {
                        return Err(err(n, "misplaced o="));
                    }
                    origin = Some(parse_origin(value).ok_or(err(n, "bad o= line"))?);
                }
                's' if media.is_empty() && session_name.is_none() => {
                    session_name = Some(value.to_owned());
                }
                'm' => {
                    if origin.is_none() {
                        return Err(err(n, "m= before o="));
                    }
                    if media.len() >= MAX_MEDIA {
                        return Err(err(n, "too many m= lines"));
                    }
                    media.push(parse_media(value).ok_or(err(n, "bad m= line"))?);
                }
                _ => {
                    let l = match kind {
                        'c' => SdpLine::Connection(
                            parse_connection(value).ok_or(err(n, "bad c= line"))?,
                        ),
                        'a' => SdpLine::Attribute(parse_attribute(value)),
                        other => SdpLine::Other(other, value.to_owned()),
                    };
                    match media.last_mut() {
                        Some(m) => m.lines.push(l),
                        None => lines.push(l),
                    }
                }
            }
        }
        if !saw_version {
            return Err(err(0, "empty SDP"));
        }
        let origin = origin.ok_or(err(0, "missing o= line"))?;
        Ok(SessionDescription {
            origin,
            session_name: session_name.unwrap_or_else(|| "-".into()),
            lines,
            media,
        })
    }
}

fn parse_origin(v: &str) -> Option<Origin> {
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let [username, session_id, version, net_type, addr_type, address] = f.as_slice() else {
        return None;
    };
    Some(Origin {
        username: (*username).into(),
        session_id: (*session_id).into(),
        // Some stacks send versions beyond u64 or with junk; RFC says digits only.
        session_version: version.parse().ok()?,
        net_type: (*net_type).into(),
        addr_type: (*addr_type).into(),
        address: (*address).into(),
    })
}

fn parse_connection(v: &str) -> Option<Connection> {
    let f: Vec<&str> = v.split_ascii_whitespace().collect();
    let [net_type, addr_type, address] = f.as_slice() else {
        return None;
    };
    let c = Connection {
        net_type: (*net_type).into(),
        addr_type: (*addr_type).into(),
        address: (*address).into(),
    };
    // An IN IP4/IP6 address that is not a multicast `/ttl` form nor a name must be an IP.
    let host = c.address.split('/').next().unwrap_or("");
    if host.is_empty() {
        return None;
    }
    let ok = match c.addr_type.as_str() {
        "IP4" => host.parse::<std::net::Ipv4Addr>().is_ok() || is_fqdn(host),
        "IP6" => host.parse::<std::net::Ipv6Addr>().is_ok() || is_fqdn(host),
        _ => true,
    };
    ok.then_some(c)
}

fn is_fqdn(h: &str) -> bool {
    h.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && h.bytes().any(|b| b.is_ascii_alphabetic())
}

fn parse_media(v: &str) -> Option<Media> {
    let mut f = v.split_ascii_whitespace();
    let media = f.next()?.to_owned();
    let port_field = f.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    let proto = f.next()?.to_owned();
    let formats: Vec<String> = f.map(str::to_owned).collect();
    if formats.is_empty() {
        return None;
    }
    if proto.contains("RTP")
        && formats
            .iter()
            .any(|f| f.parse::<u8>().map_or(true, |pt| pt > 127))
    {
        return None;
    }
    Some(Media {
        media,
        port,
        port_count,
        proto,
        formats,
        lines: Vec::new(),
    })
}

fn parse_attribute(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((name, value)) => Attribute::new(name, value),
        None => Attribute::flag(v),
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{Direction, RtpMap};
    use super::*;

    pub(crate) const OFFER: &str = "v=0\r\n\
o=carrier 123456 654321 IN IP4 198.51.100.7\r\n\
s=SBC call\r\n\
i=session info kept\r\n\
c=IN IP4 198.51.100.7\r\n\
b=AS:84\r\n\
t=0 0\r\n\
a=X-vendor:thing\r\n\
m=audio 40000 RTP/AVP 18 8 0 101\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

    #[test]
    fn parses_and_round_trips_byte_exact() {
        let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.origin.session_version, 654321);
        assert_eq!(sdp.session_name, "SBC call");
        assert_eq!(sdp.media.len(), 1);
        let m = &sdp.media[0];
        assert_eq!((m.port, m.proto.as_str()), (40000, "RTP/AVP"));
        assert_eq!(m.formats, ["18", "8", "0", "101"]);
        assert_eq!(
            m.rtpmap(101),
            Some(RtpMap {
                payload_type: 101,
                encoding: "telephone-event".into(),
                clock_rate: 8000,
                channels: None
            })
        );
        assert_eq!(sdp.direction(0), Direction::SendRecv);
        assert_eq!(sdp.to_sdp_string(), OFFER);
    }

    #[test]
    fn lf_only_and_missing_s_are_tolerated() {
        let sdp = SessionDescription::parse(
            b"v=0\no=- 1 1 IN IP4 10.0.0.1\nc=IN IP4 10.0.0.1\nm=audio 5004 RTP/AVP 0\n\n",
        )
        .unwrap();
        assert_eq!(sdp.session_name, "-");
        assert!(sdp.to_sdp_string().contains("m=audio 5004 RTP/AVP 0\r\n"));
    }

    #[test]
    fn unknown_lines_keep_their_place() {
        let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(
            sdp.lines[0],
            SdpLine::Other('i', "session info kept".into())
        );
        assert_eq!(sdp.lines[2], SdpLine::Other('b', "AS:84".into()));
        assert!(matches!(&sdp.lines[4], SdpLine::Attribute(a) if a.name == "X-vendor"));
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("o=- 1 1 IN IP4 1.2.3.4\r\n", 1),
            ("v=1\r\n", 1),
            ("v=0\r\nno equals\r\n", 2),
            ("v=0\r\no=- 1 IN IP4 1.2.3.4\r\n", 2),
            ("v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n", 2),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3\r\n",
                4,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n",
                4,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4000 RTP/AVP\r\n",
                4,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4000 RTP/AVP 300\r\n",
                4,
            ),
            ("v=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n", 3),
            ("v=0\r\ns=-\r\n", 0),
            ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", 3),
        ];
        for (text, line) in cases {
            let e = SessionDescription::parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line, *line, "{text:?}: {e}");
        }
        assert!(SessionDescription::parse(&[b'v', b'=', b'0', b'\n', 0xff]).is_err());
        let huge = vec![b'a'; MAX_SDP_LEN + 1];
        assert_eq!(SessionDescription::parse(&huge).unwrap_err().line, 0);
        let many = format!(
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n{}",
            "a=x\r\n".repeat(MAX_LINES)
        );
        assert!(SessionDescription::parse(many.as_bytes()).is_err());
    }

    #[test]
    fn ipv6_fqdn_and_port_count() {
        let sdp = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\n\
m=audio 4000/2 RTP/AVP 0\r\nc=IN IP4 media.example.com\r\nm=video 0 RTP/AVP 96\r\n",
        )
        .unwrap();
        assert_eq!(sdp.media[0].port_count, Some(2));
        assert_eq!(
            sdp.media_connection(0).unwrap().address,
            "media.example.com"
        );
        assert_eq!(sdp.media_connection(1).unwrap().address, "2001:db8::1");
        assert!(sdp.media[1].is_rejected());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    const BASE: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SessionDescription::parse(&b);
        }

        #[test]
        fn mutated_sdp_never_panics_and_reparses_stably(
            pos in 0usize..BASE.len(), byte in any::<u8>(), cut in 0usize..BASE.len()
        ) {
            let mut b = BASE.as_bytes().to_vec();
            b[pos] = byte;
            b.truncate(cut.max(pos + 1));
            if let Ok(sdp) = SessionDescription::parse(&b) {
                // Whatever we accept, we write out in a form we read back identically.
                let text = sdp.to_sdp_string();
                let again = SessionDescription::parse(text.as_bytes());
                prop_assert_eq!(again.as_ref(), Ok(&sdp));
                let _ = super::super::offer_answer::negotiate_formats(
                    sdp.media.first().unwrap_or(&super::super::model::Media {
                        media: "audio".into(), port: 0, port_count: None,
                        proto: "RTP/AVP".into(), formats: vec![], lines: vec![],
                    }),
                    &super::super::offer_answer::DEFAULT_CODECS,
                );
                let _ = sdp.is_hold();
            }
        }
    }
}
