//! Keepalives and stray line breaks before a message: RFC 5626 §3.5.1 CRLF ping/pong on streams and
//! RFC 3261 §7.5 ("ignore CRLFs preceding the start line"). Pure byte inspection.

/// What the front of a stream buffer holds before the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leading {
    /// Bytes to discard from the front.
    pub skip: usize,
    /// Double-CRLF pings seen; each is answered with one CRLF pong.
    pub pings: usize,
}

/// The CRLF pong sent for each ping.
pub const PONG: &[u8] = b"\r\n";

/// Scans the leading CRLFs of a stream buffer (bounded by the buffer).
///
/// A `\r\n\r\n` is a ping. A single `\r\n` followed by a message byte is a pong or stray line break and is
/// skipped. A trailing partial (`\r`, `\r\n`, `\r\n\r`) is left in place until more bytes show what it is.
pub fn scan_stream(buf: &[u8]) -> Leading {
    let mut out = Leading::default();
    let mut rest = buf;
    loop {
        if rest.starts_with(b"\r\n\r\n") {
            out.skip += 4;
            out.pings += 1;
            rest = &rest[4..];
        } else if rest.len() > 2 && rest.starts_with(b"\r\n") && rest[2] != b'\r' {
            out.skip += 2;
            rest = &rest[2..];
        } else if rest.first() == Some(&b'\n') {
            // A bare LF from a sloppy peer: harmless, skip it.
            out.skip += 1;
            rest = &rest[1..];
        } else {
            return out;
        }
    }
}

/// True for a datagram that carries no message: only CR/LF/space/tab (a UDP CRLF keepalive), or empty.
pub fn is_blank_datagram(d: &[u8]) -> bool {
    d.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
}

/// True for a STUN message (RFC 5389 magic cookie): the RFC 5626 UDP keepalive; never a SIP message.
pub fn is_stun(d: &[u8]) -> bool {
    d.len() >= 20 && d[0] & 0xC0 == 0 && d[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

const STUN_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// The Binding success response to a STUN Binding request (RFC 5389 §7.3, XOR-MAPPED-ADDRESS only),
/// as RFC 5626 §4.4.2 UDP keepalives expect. `None` for any other STUN message or a malformed one.
pub fn stun_binding_response(req: &[u8], source: std::net::SocketAddr) -> Option<Vec<u8>> {
    if !is_stun(req) || req[0..2] != [0x00, 0x01] {
        return None;
    }
    let declared = u16::from_be_bytes([req[2], req[3]]) as usize;
    if declared % 4 != 0 || 20 + declared != req.len() {
        return None;
    }
    let txid = &req[8..20];
    let mut attr = Vec::with_capacity(20);
    let xport = source.port() ^ 0x2112;
    match source.ip() {
        std::net::IpAddr::V4(ip) => {
            attr.extend_from_slice(&[0x00, 0x01]);
            attr.extend_from_slice(&xport.to_be_bytes());
            attr.extend(ip.octets().iter().zip(STUN_COOKIE).map(|(a, k)| a ^ k));
        }
        std::net::IpAddr::V6(ip) => {
            attr.extend_from_slice(&[0x00, 0x02]);
            attr.extend_from_slice(&xport.to_be_bytes());
            let key = STUN_COOKIE.iter().chain(txid.iter());
            attr.extend(ip.octets().iter().zip(key).map(|(a, k)| a ^ k));
        }
    }
    let mut out = Vec::with_capacity(24 + attr.len());
    out.extend_from_slice(&[0x01, 0x01]);
    out.extend_from_slice(&((4 + attr.len()) as u16).to_be_bytes());
    out.extend_from_slice(&STUN_COOKIE);
    out.extend_from_slice(txid);
    out.extend_from_slice(&[0x00, 0x20]); // XOR-MAPPED-ADDRESS
    out.extend_from_slice(&(attr.len() as u16).to_be_bytes());
    out.extend_from_slice(&attr);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(txid: [u8; 12]) -> Vec<u8> {
        let mut r = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        r.extend_from_slice(&txid);
        r
    }

    #[test]
    fn stun_binding_response_carries_the_xor_mapped_source() {
        let txid = [7u8; 12];
        let src: std::net::SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let r = stun_binding_response(&binding_request(txid), src).unwrap();
        assert_eq!(&r[0..2], &[0x01, 0x01]);
        assert_eq!(u16::from_be_bytes([r[2], r[3]]) as usize, r.len() - 20);
        assert_eq!(&r[8..20], &txid);
        // Attribute: type, length 8, family 1, port and address XORed with the cookie.
        assert_eq!(&r[20..24], &[0x00, 0x20, 0x00, 0x08]);
        assert_eq!(u16::from_be_bytes([r[26], r[27]]) ^ 0x2112, 32853);
        let ip: Vec<u8> = r[28..32]
            .iter()
            .zip(STUN_COOKIE)
            .map(|(a, k)| a ^ k)
            .collect();
        assert_eq!(ip, vec![192, 0, 2, 1]);
    }

    #[test]
    fn stun_ipv6_uses_the_transaction_id_in_the_xor_key() {
        let txid = [0xAB; 12];
        let src: std::net::SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        let r = stun_binding_response(&binding_request(txid), src).unwrap();
        assert_eq!(r.len(), 20 + 4 + 20);
        let key: Vec<u8> = STUN_COOKIE.iter().chain(txid.iter()).copied().collect();
        let ip: Vec<u8> = r[28..44].iter().zip(key).map(|(a, k)| a ^ k).collect();
        let want: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip, want.octets().to_vec());
    }

    #[test]
    fn stun_non_requests_and_bad_lengths_get_no_answer() {
        let src: std::net::SocketAddr = "192.0.2.1:1".parse().unwrap();
        let mut resp = binding_request([1; 12]);
        resp[1] = 0x01;
        resp[0] = 0x01; // a Binding success response: never answered
        assert!(stun_binding_response(&resp, src).is_none());
        let mut bad = binding_request([1; 12]);
        bad[3] = 4; // declares 4 attribute bytes that are not there
        assert!(stun_binding_response(&bad, src).is_none());
        assert!(stun_binding_response(b"short", src).is_none());
    }

    #[test]
    fn double_crlf_is_a_ping_and_message_follows() {
        let l = scan_stream(b"\r\n\r\n\r\n\r\nOPTIONS sip:a SIP/2.0\r\n");
        assert_eq!(l, Leading { skip: 8, pings: 2 });
    }

    #[test]
    fn single_crlf_before_a_message_is_skipped_without_a_pong() {
        assert_eq!(scan_stream(b"\r\nINVITE"), Leading { skip: 2, pings: 0 });
    }

    #[test]
    fn partial_keepalives_wait_for_more() {
        for b in [&b"\r"[..], b"\r\n", b"\r\n\r", b""] {
            assert_eq!(scan_stream(b), Leading::default(), "{b:?}");
        }
        assert_eq!(scan_stream(b"\r\n\r\n\r\n"), Leading { skip: 4, pings: 1 });
    }

    #[test]
    fn message_start_is_untouched() {
        assert_eq!(scan_stream(b"SIP/2.0 200 OK\r\n"), Leading::default());
    }

    #[test]
    fn blank_and_stun_datagrams() {
        assert!(is_blank_datagram(b"\r\n\r\n"));
        assert!(!is_blank_datagram(b"\r\nX"));
        let mut stun = [0u8; 20];
        stun[1] = 1;
        stun[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        assert!(is_stun(&stun));
        assert!(!is_stun(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"));
    }
}
