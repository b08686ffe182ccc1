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

#[cfg(test)]
mod tests {
    use super::*;

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
