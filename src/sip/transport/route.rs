//! Where a response goes (RFC 3261 §18.2.2 with RFC 3581 rport) and how a received request's top Via is
//! stamped (RFC 3581 §4). Pure functions over the few Via fields that matter; no sockets.

use std::net::{IpAddr, SocketAddr};

use super::{ConnectionId, TransportKind};

/// The top Via fields that decide response routing, borrowed from a parsed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViaFields<'a> {
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `WS`, ...), any case.
    pub transport: &'a str,
    /// sent-by host: a name, an IPv4 address or a bracketed IPv6 reference.
    pub host: &'a str,
    pub port: Option<u16>,
    pub received: Option<&'a str>,
    /// `Some(None)` for a bare `rport` flag, `Some(Some(p))` once filled in.
    pub rport: Option<Option<u16>>,
    pub maddr: Option<&'a str>,
}

/// Where to send a response: first try `connection` (reliable transports), else `host:port` over `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRoute {
    pub kind: TransportKind,
    pub connection: Option<ConnectionId>,
    /// An IP literal (brackets removed) or a host name the shell must resolve.
    pub host: String,
    pub port: u16,
}

impl ResponseRoute {
    /// The destination as a socket address when `host` is an IP literal.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        parse_ip(&self.host).map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// RFC 3261 §18.1.1: a request larger than this (path MTU unknown) must go over a congestion-controlled
/// transport (TCP/TLS) instead of UDP.
pub const UDP_REQUEST_LIMIT: usize = 1300;

/// Whether a request of `len` bytes to be sent over UDP must switch to TCP (RFC 3261 §18.1.1).
pub fn request_too_big_for_udp(len: usize) -> bool {
    len > UDP_REQUEST_LIMIT
}

/// Parses an IP literal, accepting IPv6 with or without brackets.
pub fn parse_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// RFC 3261 §18.2.2 + RFC 3581 §4: the route for a response whose top Via is `via`.
///
/// `connection` is the connection the request arrived on (from `Incoming`), if any. Returns `None`
/// for a Via transport we do not speak.
pub fn response_route(
    via: &ViaFields<'_>,
    connection: Option<ConnectionId>,
) -> Option<ResponseRoute> {
    let kind = TransportKind::from_via(via.transport)?;
    let default_port = kind.default_port();
    let sent_by_port = via.port.unwrap_or(default_port);
    if kind.is_reliable() {
        // Same connection if still open; otherwise open one to received (or sent-by) at the sent-by port.
        let host = via.received.unwrap_or(via.host);
        return Some(ResponseRoute {
            kind,
            connection,
            host: unbracket(host).to_owned(),
            port: sent_by_port,
        });
    }
    if let Some(maddr) = via.maddr {
        return Some(ResponseRoute {
            kind,
            connection,
            host: unbracket(maddr).to_owned(),
            port: sent_by_port,
        });
    }
    if let Some(received) = via.received {
        // RFC 3581: a filled rport overrides the sent-by port.
        let port = match via.rport {
            Some(Some(p)) => p,
            _ => sent_by_port,
        };
        return Some(ResponseRoute {
            kind,
            connection,
            host: unbracket(received).to_owned(),
            port,
        });
    }
    Some(ResponseRoute {
        kind,
        connection,
        host: unbracket(via.host).to_owned(),
        port: sent_by_port,
    })
}

/// What RFC 3581 §4 says to add to a received request's top Via.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaStamp {
    /// Value for `received=` (the source IP, without brackets), if it must be set.
    pub received: Option<String>,
    /// Value for `rport=` (the source port), if the Via carried `rport`.
    pub rport: Option<u16>,
}

impl ViaStamp {
    pub fn is_empty(&self) -> bool {
        self.received.is_none() && self.rport.is_none()
    }
}

/// Decides the `received`/`rport` stamp for a request from `source` whose top Via is `via`.
///
/// `received` is added when sent-by differs from the source IP, and always when `rport` is present
/// (RFC 3581 §4: "even if it is identical"). `rport` is filled with the source port when present.
///
/// A `received` the sender wrote itself that is not its source IP is overwritten too: left alone it
/// would steer our responses (UDP) to an address of the sender's choosing.
pub fn via_stamp(via: &ViaFields<'_>, source: SocketAddr) -> ViaStamp {
    let wants_rport = via.rport.is_some();
    let same_ip = parse_ip(via.host) == Some(source.ip());
    let forged = via
        .received
        .is_some_and(|r| parse_ip(r) != Some(source.ip()));
    ViaStamp {
        received: (wants_rport || !same_ip || forged).then(|| source.ip().to_string()),
        rport: wants_rport.then_some(source.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via<'a>(transport: &'a str, host: &'a str, port: Option<u16>) -> ViaFields<'a> {
        ViaFields {
            transport,
            host,
            port,
            received: None,
            rport: None,
            maddr: None,
        }
    }

    #[test]
    fn udp_without_received_goes_to_sent_by_or_default_port() {
        let r = response_route(&via("UDP", "192.0.2.4", None), None).unwrap();
        assert_eq!(r.socket_addr(), Some("192.0.2.4:5060".parse().unwrap()));
        let r = response_route(&via("udp", "pc.example.com", Some(5070)), None).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.socket_addr()),
            ("pc.example.com", 5070, None)
        );
    }

    #[test]
    fn udp_received_with_rport_uses_source_port() {
        let mut v = via("UDP", "10.1.1.1", Some(5060));
        v.received = Some("203.0.113.9");
        v.rport = Some(Some(40000));
        let r = response_route(&v, None).unwrap();
        assert_eq!(r.socket_addr(), Some("203.0.113.9:40000".parse().unwrap()));
        // received without rport keeps the sent-by port.
        v.rport = None;
        assert_eq!(response_route(&v, None).unwrap().port, 5060);
    }

    #[test]
    fn maddr_wins_over_received_for_unreliable() {
        let mut v = via("UDP", "10.1.1.1", Some(5080));
        v.received = Some("203.0.113.9");
        v.maddr = Some("239.255.255.1");
        let r = response_route(&v, None).unwrap();
        assert_eq!(r.socket_addr(), Some("239.255.255.1:5080".parse().unwrap()));
    }

    #[test]
    fn reliable_keeps_the_connection_and_falls_back_to_received_at_sent_by_port() {
        let mut v = via("TLS", "[2001:db8::1]", None);
        v.received = Some("2001:db8::99");
        v.rport = Some(Some(40000));
        let r = response_route(&v, Some(ConnectionId(7))).unwrap();
        assert_eq!(r.kind, TransportKind::Tls);
        assert_eq!(r.connection, Some(ConnectionId(7)));
        assert_eq!(
            r.socket_addr(),
            Some("[2001:db8::99]:5061".parse().unwrap())
        );
    }

    #[test]
    fn requests_over_1300_bytes_leave_udp() {
        assert!(!request_too_big_for_udp(1300));
        assert!(request_too_big_for_udp(1301));
    }

    #[test]
    fn unknown_transport_has_no_route() {
        assert!(response_route(&via("SCTP", "a", None), None).is_none());
    }

    #[test]
    fn stamp_adds_received_only_when_host_differs_without_rport() {
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert!(via_stamp(&via("UDP", "192.0.2.1", Some(5060)), src).is_empty());
        let s = via_stamp(&via("UDP", "phone.example.com", None), src);
        assert_eq!(s.received.as_deref(), Some("192.0.2.1"));
        assert_eq!(s.rport, None);
    }

    #[test]
    fn stamp_overwrites_a_received_that_is_not_the_source() {
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let mut v = via("UDP", "192.0.2.1", Some(5060));
        v.received = Some("203.0.113.66");
        assert_eq!(via_stamp(&v, src).received.as_deref(), Some("192.0.2.1"));
        v.received = Some("192.0.2.1");
        assert!(via_stamp(&v, src).is_empty());
    }

    #[test]
    fn stamp_with_rport_always_sets_both() {
        let src: SocketAddr = "[2001:db8::5]:40001".parse().unwrap();
        let mut v = via("UDP", "[2001:db8::5]", Some(5060));
        v.rport = Some(None);
        let s = via_stamp(&v, src);
        assert_eq!(s.received.as_deref(), Some("2001:db8::5"));
        assert_eq!(s.rport, Some(40001));
    }
}
