//! Applying the RFC 3581 stamp to a parsed request, and routing a response from its own top Via:
//! the message-layer side of `route`.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::sip::message::{ParseError, SipMessage, Via};

use super::route::{response_route, via_stamp, ResponseRoute, ViaFields, ViaStamp};
use super::ConnectionId;

/// The routing fields of a parsed Via.
pub fn via_fields<'a>(via: &Via<'a>) -> ViaFields<'a> {
    ViaFields {
        transport: via.transport,
        host: via.host,
        port: via.port,
        received: via.received(),
        rport: via.rport(),
        maddr: via.maddr(),
    }
}

/// Writes `via` back as text with `stamp` applied: `received` replaced or appended, `rport` filled.
pub fn stamped_via_text(via: &Via<'_>, stamp: &ViaStamp) -> String {
    let mut s = String::with_capacity(96);
    let _ = write!(s, "{}/{}/{} ", via.protocol, via.version, via.transport);
    if via.ipv6 {
        let _ = write!(s, "[{}]", via.host);
    } else {
        s.push_str(via.host);
    }
    if let Some(p) = via.port {
        let _ = write!(s, ":{p}");
    }
    let mut received_done = false;
    for (name, value) in via.params.iter() {
        if name.eq_ignore_ascii_case("received") {
            if let Some(r) = &stamp.received {
                if !received_done {
                    let _ = write!(s, ";received={r}");
                    received_done = true;
                }
                continue;
            }
        } else if name.eq_ignore_ascii_case("rport") {
            if let Some(p) = stamp.rport {
                let _ = write!(s, ";rport={p}");
                continue;
            }
        }
        s.push(';');
        s.push_str(name);
        if let Some(v) = value {
            s.push('=');
            s.push_str(v);
        }
    }
    if let (false, Some(r)) = (received_done, &stamp.received) {
        let _ = write!(s, ";received={r}");
    }
    s
}

/// RFC 3581 §4 on a received request: adds `received`/fills `rport` in the top Via when due.
/// Returns whether the message changed. An unparseable top Via is an error (answer 400).
pub fn stamp_request(msg: &mut SipMessage, source: SocketAddr) -> Result<bool, ParseError> {
    let text = {
        let via = msg.top_via()?;
        let stamp = via_stamp(&via_fields(&via), source);
        if stamp.is_empty() {
            return Ok(false);
        }
        stamped_via_text(&via, &stamp)
    };
    msg.remove_top_via();
    msg.prepend_via(&text);
    Ok(true)
}

/// Where a response goes, from its top Via (as copied from the request we stamped) and the
/// connection the request came on. `None` if the Via is unparseable or names a transport we lack.
pub fn route_response(
    response: &SipMessage,
    connection: Option<ConnectionId>,
) -> Option<ResponseRoute> {
    let via = response.top_via().ok()?;
    response_route(&via_fields(&via), connection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(via: &str) -> SipMessage {
        let text = format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: {via}\r\nFrom: <sip:b@example.com>;tag=1\r\n\
             To: <sip:a@example.com>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        );
        SipMessage::parse(Bytes::from(text)).unwrap()
    }

    #[test]
    fn rport_flag_is_filled_and_received_added_in_place() {
        let mut m = req("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKa1, SIP/2.0/UDP p.example;branch=z9hG4bKb");
        let src: SocketAddr = "203.0.113.7:40123".parse().unwrap();
        assert!(stamp_request(&mut m, src).unwrap());
        let vias = m.vias().unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].received(), Some("203.0.113.7"));
        assert_eq!(vias[0].rport(), Some(Some(40123)));
        assert_eq!(vias[0].branch(), Some("z9hG4bKa1"));
        assert_eq!(vias[1].host, "p.example");
        // The edited message serialises with the stamped Via first.
        let wire = String::from_utf8(m.to_bytes().to_vec()).unwrap();
        assert!(wire.contains("Via: SIP/2.0/UDP 10.0.0.5:5060;rport=40123;branch=z9hG4bKa1;received=203.0.113.7\r\n"), "{wire}");
    }

    #[test]
    fn matching_host_without_rport_is_left_alone() {
        let mut m = req("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKa1");
        assert!(!stamp_request(&mut m, "192.0.2.1:33333".parse().unwrap()).unwrap());
        assert_eq!(m.top_via().unwrap().received(), None);
    }

    #[test]
    fn stale_received_is_replaced_and_ipv6_kept_bracketed() {
        let mut m = req("SIP/2.0/UDP [2001:db8::1]:5060;received=198.51.100.1;branch=z9hG4bKa1");
        stamp_request(&mut m, "[2001:db8::2]:5060".parse().unwrap()).unwrap();
        let v = m.top_via().unwrap();
        assert!(v.ipv6);
        assert_eq!(v.host, "2001:db8::1");
        assert_eq!(v.received(), Some("2001:db8::2"));
        assert_eq!(v.params.iter().filter(|(n, _)| *n == "received").count(), 1);
    }

    #[test]
    fn response_route_follows_the_stamped_via() {
        let mut m = req("SIP/2.0/UDP phone.example:5062;rport;branch=z9hG4bKa1");
        stamp_request(&mut m, "198.51.100.20:6000".parse().unwrap()).unwrap();
        let resp = SipMessage::response_to(&m, 200, "OK", None);
        let r = route_response(&resp, None).unwrap();
        assert_eq!(r.socket_addr(), Some("198.51.100.20:6000".parse().unwrap()));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn host() -> impl Strategy<Value = (String, Option<std::net::IpAddr>)> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(|o| {
                    let ip = std::net::IpAddr::from(o);
                    (ip.to_string(), Some(ip))
                }),
                any::<[u16; 8]>().prop_map(|s| {
                    let ip = std::net::IpAddr::from(s);
                    (format!("[{ip}]"), Some(ip))
                }),
                "[a-z]{1,10}(\\.[a-z]{2,5}){0,2}".prop_map(|h| (h, None)),
            ]
        }

        proptest! {
            #[test]
            fn stamping_keeps_the_via_valid_and_follows_rfc_3581(
                (host, host_ip) in host(),
                port in proptest::option::of(1u16..),
                rport in 0u8..3,
                stale_received in any::<bool>(),
                src_ip in prop_oneof![Just(None), any::<[u8; 4]>().prop_map(Some)],
                src_port in 1u16..,
            ) {
                let mut via = format!("SIP/2.0/UDP {host}");
                if let Some(p) = port { via.push_str(&format!(":{p}")); }
                via.push_str(";branch=z9hG4bKprop");
                match rport { 1 => via.push_str(";rport"), 2 => via.push_str(";rport=1"), _ => {} }
                if stale_received { via.push_str(";received=198.51.100.99"); }
                via.push_str(";x-extra=1");
                // Source: the Via host itself when it is an IP (and no random one), else random.
                let ip = match (src_ip, host_ip) {
                    (Some(o), _) => std::net::IpAddr::from(o),
                    (None, Some(h)) => h,
                    (None, None) => std::net::IpAddr::from([192, 0, 2, 1]),
                };
                let src = SocketAddr::new(ip, src_port);
                let mut m = req(&format!("{via}, SIP/2.0/UDP second.example;branch=z9hG4bK2"));
                stamp_request(&mut m, src).unwrap();
                let vias = m.vias().unwrap();
                prop_assert_eq!(vias.len(), 2);
                let top = vias[0];
                prop_assert_eq!(top.branch(), Some("z9hG4bKprop"));
                prop_assert_eq!(top.port, port);
                prop_assert_eq!(top.params.get("x-extra"), Some("1"));
                prop_assert!(top.params.iter().filter(|(n, _)| *n == "received").count() <= 1);
                let src_ip_text = ip.to_string();
                if rport > 0 {
                    prop_assert_eq!(top.rport(), Some(Some(src_port)));
                }
                if rport > 0 || host_ip != Some(ip) || stale_received {
                    // A received that is not the source IP never survives.
                    prop_assert_eq!(top.received(), Some(src_ip_text.as_str()));
                } else {
                    prop_assert_eq!(top.received(), None);
                }
                // The response routes to the source when the stamp says so.
                let resp = SipMessage::response_to(&m, 200, "OK", None);
                let r = route_response(&resp, None).unwrap();
                if rport > 0 {
                    prop_assert_eq!(r.socket_addr(), Some(src));
                }
            }
        }
    }
}
