//! The SDP value (RFC 4566): typed where hotline needs it (origin, connection, media, attributes,
//! direction, rtpmap) and every other line kept verbatim and in order, so a relayed or rewritten
//! description loses nothing it did not mean to change. Serializes with CRLF.

use std::fmt::Write as _;
use std::net::IpAddr;

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: u64,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

/// `c=<nettype> <addrtype> <connection-address>`; `address` may carry `/ttl` for multicast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Connection {
    /// An `IN IP4`/`IN IP6` connection for `ip`.
    pub fn for_ip(ip: IpAddr) -> Self {
        Connection {
            net_type: "IN".into(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP when it is one (no multicast `/ttl`, not an FQDN).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    /// RFC 2543 hold: `c=IN IP4 0.0.0.0` (RFC 3264 §8.4 still asks us to understand it).
    pub fn is_zero(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// `a=<name>[:<value>]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    pub fn flag(name: &str) -> Self {
        Attribute {
            name: name.into(),
            value: None,
        }
    }
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// A line other than v/o/s/m: connection and attributes typed, the rest verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdpLine {
    Connection(Connection),
    Attribute(Attribute),
    /// Any other `<type>=<value>` line (i, u, e, p, b, t, r, z, k, ...), kept as written.
    Other(char, String),
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...` and the lines under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub media: String,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    /// Format descriptions; for RTP these are payload type numbers, in the sender's preference order.
    pub formats: Vec<String>,
    pub lines: Vec<SdpLine>,
}

/// Media direction (RFC 3264 §5.1), from the point of view of the description's author.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_attr(name: &str) -> Option<Self> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    pub fn from_flags(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The direction an answer takes for an offered direction, given what we want (RFC 3264 §6.1).
    pub fn answer_to(self, ours: Direction) -> Direction {
        Direction::from_flags(
            self.receives() && ours.sends(),
            self.sends() && ours.receives(),
        )
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

impl RtpMap {
    pub fn parse(value: &str) -> Option<Self> {
        let (pt, rest) = value.trim().split_once(' ')?;
        let mut parts = rest.trim().split('/');
        let encoding = parts.next()?.to_owned();
        let clock_rate = parts.next()?.trim().parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.trim().parse().ok()?),
            None => None,
        };
        Some(RtpMap {
            payload_type: pt.parse().ok()?,
            encoding,
            clock_rate,
            channels,
        })
    }

    pub fn to_value(&self) -> String {
        let mut s = format!(
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        );
        if let Some(c) = self.channels {
            let _ = write!(s, "/{c}");
        }
        s
    }
}

impl Media {
    /// The first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.lines.iter().find_map(|l| match l {
            SdpLine::Attribute(a) if a.name == name => Some(a),
            _ => None,
        })
    }

    /// The media-level `c=` line, if any.
    pub fn connection(&self) -> Option<&Connection> {
        self.lines.iter().find_map(|l| match l {
            SdpLine::Connection(c) => Some(c),
            _ => None,
        })
    }

    /// The `rtpmap` for a payload type, if given.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.lines.iter().find_map(|l| match l {
            SdpLine::Attribute(a) if a.name == "rtpmap" => a
                .value
                .as_deref()
                .and_then(RtpMap::parse)
                .filter(|m| m.payload_type == pt),
            _ => None,
        })
    }

    /// The explicit media-level direction attribute, if any.
    pub fn direction_attr(&self) -> Option<Direction> {
        self.lines.iter().find_map(|l| match l {
            SdpLine::Attribute(a) if a.value.is_none() => Direction::from_attr(&a.name),
            _ => None,
        })
    }

    /// Replaces any direction attribute with `dir` (written explicitly, even for sendrecv).
    pub fn set_direction(&mut self, dir: Direction) {
        self.lines.retain(
            |l| !matches!(l, SdpLine::Attribute(a) if a.value.is_none() && Direction::from_attr(&a.name).is_some()),
        );
        self.lines
            .push(SdpLine::Attribute(Attribute::flag(dir.as_str())));
    }

    /// Payload types as numbers (non-numeric formats are skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    /// Whether the stream is rejected/disabled (port 0).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }
}

/// A whole session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: String,
    /// Session-level lines after `s=` and before the first `m=`, in order.
    pub lines: Vec<SdpLine>,
    pub media: Vec<Media>,
}

impl SessionDescription {
    /// The session-level `c=` line, if any.
    pub fn connection(&self) -> Option<&Connection> {
        self.lines.iter().find_map(|l| match l {
            SdpLine::Connection(c) => Some(c),
            _ => None,
        })
    }

    /// The connection that applies to media `i`: its own `c=` or the session's.
    pub fn media_connection(&self, i: usize) -> Option<&Connection> {
        self.media
            .get(i)
            .and_then(Media::connection)
            .or_else(|| self.connection())
    }

    fn session_direction_attr(&self) -> Option<Direction> {
        self.lines.iter().find_map(|l| match l {
            SdpLine::Attribute(a) if a.value.is_none() => Direction::from_attr(&a.name),
            _ => None,
        })
    }

    /// Effective direction of media `i`: media attribute, else session attribute, else sendrecv;
    /// then a `0.0.0.0` connection (old-style hold) removes the receive half.
    pub fn direction(&self, i: usize) -> Direction {
        let Some(m) = self.media.get(i) else {
            return Direction::Inactive;
        };
        let dir = m
            .direction_attr()
            .or_else(|| self.session_direction_attr())
            .unwrap_or(Direction::SendRecv);
        if self.media_connection(i).is_some_and(Connection::is_zero) {
            Direction::from_flags(dir.sends(), false)
        } else {
            dir
        }
    }

    /// Whether the author puts us on hold: every active audio stream is one it will not receive on
    /// (sendonly/inactive or `c=0.0.0.0`). A description without active audio is not a hold.
    pub fn is_hold(&self) -> bool {
        let mut any = false;
        for (i, m) in self.media.iter().enumerate() {
            if m.media != "audio" || m.is_rejected() {
                continue;
            }
            any = true;
            if self.direction(i).receives() {
                return false;
            }
        }
        any
    }

    /// Increments `o=` session version, as every changed offer/answer must (RFC 3264 §8).
    pub fn bump_version(&mut self) {
        self.origin.session_version = self.origin.session_version.wrapping_add(1);
    }

    /// Serializes with CRLF line ends.
    pub fn to_sdp_string(&self) -> String {
        let mut s = String::with_capacity(256);
        let o = &self.origin;
        s.push_str("v=0\r\n");
        let _ = write!(
            s,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
        );
        let _ = write!(s, "s={}\r\n", self.session_name);
        for l in &self.lines {
            write_line(&mut s, l);
        }
        for m in &self.media {
            let _ = write!(s, "m={} {}", m.media, m.port);
            if let Some(n) = m.port_count {
                let _ = write!(s, "/{n}");
            }
            let _ = write!(s, " {}", m.proto);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            for l in &m.lines {
                write_line(&mut s, l);
            }
        }
        s
    }
}

impl std::fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_sdp_string())
    }
}

fn write_line(s: &mut String, l: &SdpLine) {
    match l {
        SdpLine::Connection(c) => {
            let _ = write!(s, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address);
        }
        SdpLine::Attribute(Attribute { name, value: None }) => {
            let _ = write!(s, "a={name}\r\n");
        }
        SdpLine::Attribute(Attribute {
            name,
            value: Some(v),
        }) => {
            let _ = write!(s, "a={name}:{v}\r\n");
        }
        SdpLine::Other(t, v) => {
            let _ = write!(s, "{t}={v}\r\n");
        }
    }
}
