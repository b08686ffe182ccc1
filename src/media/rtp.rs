//! RTP fixed header (RFC 3550 §5.1): a zero-copy view over a datagram, in-place field rewriting, and a writer.
//!
//! The relay's hot path parses every packet, so parsing borrows the buffer, never allocates, and returns a
//! clear [`RtpError`] for anything malformed instead of panicking.

use std::fmt;

/// Length of the fixed RTP header (without CSRCs or extension).
pub const RTP_HEADER_LEN: usize = 12;
/// Highest CSRC count the 4-bit field can hold.
pub const MAX_CSRC: usize = 15;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    TooShort { len: usize },
    /// Version field is not 2.
    BadVersion(u8),
    /// CSRC list runs past the end of the datagram.
    TruncatedCsrc { needed: usize, len: usize },
    /// Header extension runs past the end of the datagram.
    TruncatedExtension { needed: usize, len: usize },
    /// Padding count is zero or larger than the payload.
    BadPadding { pad: usize, available: usize },
    /// A buffer given to the writer is too small.
    BufferTooSmall { needed: usize, len: usize },
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::TooShort { len } => write!(f, "RTP packet too short: {len} bytes, need 12"),
            RtpError::BadVersion(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::TruncatedCsrc { needed, len } => {
                write!(f, "RTP CSRC list needs {needed} bytes, packet has {len}")
            }
            RtpError::TruncatedExtension { needed, len } => {
                write!(
                    f,
                    "RTP header extension needs {needed} bytes, packet has {len}"
                )
            }
            RtpError::BadPadding { pad, available } => {
                write!(f, "RTP padding {pad} invalid for {available} payload bytes")
            }
            RtpError::BufferTooSmall { needed, len } => {
                write!(f, "buffer of {len} bytes too small, need {needed}")
            }
        }
    }
}

impl std::error::Error for RtpError {}

/// A validated RTP packet borrowed from a byte buffer.
#[derive(Clone, Copy)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    payload_start: usize,
    payload_end: usize,
}

impl fmt::Debug for RtpPacket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtpPacket")
            .field("pt", &self.payload_type())
            .field("seq", &self.sequence())
            .field("ts", &self.timestamp())
            .field("ssrc", &format_args!("{:#010x}", self.ssrc()))
            .field("marker", &self.marker())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates the header, CSRC list, extension and padding.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let (payload_start, payload_end) = header_bounds(buf)?;
        Ok(RtpPacket {
            buf,
            payload_start,
            payload_end,
        })
    }

    fn b(&self, i: usize) -> u8 {
        // Offsets below 12 are guaranteed by `parse`.
        self.buf.get(i).copied().unwrap_or(0)
    }

    pub fn version(&self) -> u8 {
        self.b(0) >> 6
    }
    pub fn padding(&self) -> bool {
        self.b(0) & 0x20 != 0
    }
    pub fn has_extension(&self) -> bool {
        self.b(0) & 0x10 != 0
    }
    pub fn csrc_count(&self) -> usize {
        (self.b(0) & 0x0f) as usize
    }
    pub fn marker(&self) -> bool {
        self.b(1) & 0x80 != 0
    }
    pub fn payload_type(&self) -> u8 {
        self.b(1) & 0x7f
    }
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.b(2), self.b(3)])
    }
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.b(4), self.b(5), self.b(6), self.b(7)])
    }
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.b(8), self.b(9), self.b(10), self.b(11)])
    }
    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let buf = self.buf;
        (0..self.csrc_count()).filter_map(move |i| {
            let o = RTP_HEADER_LEN + 4 * i;
            buf.get(o..o + 4)
                .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        })
    }
    /// The header extension: (profile-defined 16 bits, data), if present.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        if !self.has_extension() {
            return None;
        }
        let o = RTP_HEADER_LEN + 4 * self.csrc_count();
        let head = self.buf.get(o..o + 4)?;
        let profile = u16::from_be_bytes([head[0], head[1]]);
        let words = u16::from_be_bytes([head[2], head[3]]) as usize;
        self.buf.get(o + 4..o + 4 + 4 * words).map(|d| (profile, d))
    }
    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        self.buf
            .get(self.payload_start..self.payload_end)
            .unwrap_or(&[])
    }
    /// Offset of the payload in the datagram (header length including CSRCs and extension).
    pub fn header_len(&self) -> usize {
        self.payload_start
    }
    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Validates an RTP datagram and returns (payload start, payload end).
fn header_bounds(buf: &[u8]) -> Result<(usize, usize), RtpError> {
    let len = buf.len();
    let first = match buf.first() {
        Some(b) if len >= RTP_HEADER_LEN => *b,
        _ => return Err(RtpError::TooShort { len }),
    };
    let version = first >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let cc = (first & 0x0f) as usize;
    let mut off = RTP_HEADER_LEN + 4 * cc;
    if off > len {
        return Err(RtpError::TruncatedCsrc { needed: off, len });
    }
    if first & 0x10 != 0 {
        let head = buf.get(off..off + 4).ok_or(RtpError::TruncatedExtension {
            needed: off + 4,
            len,
        })?;
        let words = u16::from_be_bytes([head[2], head[3]]) as usize;
        let needed = off + 4 + 4 * words;
        if needed > len {
            return Err(RtpError::TruncatedExtension { needed, len });
        }
        off = needed;
    }
    let mut end = len;
    if first & 0x20 != 0 {
        let pad = buf.last().copied().unwrap_or(0) as usize;
        let available = len - off;
        if pad == 0 || pad > available {
            return Err(RtpError::BadPadding { pad, available });
        }
        end -= pad;
    }
    Ok((off, end))
}

/// In-place field access on an RTP datagram, for the relay's rewriting without copying.
pub struct RtpPacketMut<'a> {
    buf: &'a mut [u8],
}

impl<'a> RtpPacketMut<'a> {
    /// Validates like [`RtpPacket::parse`], then allows rewriting header fields.
    pub fn parse(buf: &'a mut [u8]) -> Result<Self, RtpError> {
        header_bounds(buf)?;
        Ok(RtpPacketMut { buf })
    }
    /// A read-only view of the same packet.
    pub fn view(&self) -> RtpPacket<'_> {
        // Already validated; re-deriving bounds is cheap and keeps one code path.
        let (payload_start, payload_end) = header_bounds(self.buf).unwrap_or((0, 0));
        RtpPacket {
            buf: self.buf,
            payload_start,
            payload_end,
        }
    }
    pub fn set_marker(&mut self, marker: bool) {
        if let Some(b) = self.buf.get_mut(1) {
            *b = (*b & 0x7f) | if marker { 0x80 } else { 0 };
        }
    }
    pub fn set_payload_type(&mut self, pt: u8) {
        if let Some(b) = self.buf.get_mut(1) {
            *b = (*b & 0x80) | (pt & 0x7f);
        }
    }
    pub fn set_sequence(&mut self, seq: u16) {
        if let Some(s) = self.buf.get_mut(2..4) {
            s.copy_from_slice(&seq.to_be_bytes());
        }
    }
    pub fn set_timestamp(&mut self, ts: u32) {
        if let Some(s) = self.buf.get_mut(4..8) {
            s.copy_from_slice(&ts.to_be_bytes());
        }
    }
    pub fn set_ssrc(&mut self, ssrc: u32) {
        if let Some(s) = self.buf.get_mut(8..12) {
            s.copy_from_slice(&ssrc.to_be_bytes());
        }
    }
}

/// Fields for writing a fresh RTP header (no CSRCs, no extension, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes the 12-byte header into `out`, returning its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let len = out.len();
        let dst = out
            .get_mut(..RTP_HEADER_LEN)
            .ok_or(RtpError::BufferTooSmall {
                needed: RTP_HEADER_LEN,
                len,
            })?;
        dst[0] = 0x80;
        dst[1] = (self.payload_type & 0x7f) | if self.marker { 0x80 } else { 0 };
        dst[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        dst[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        dst[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Ok(RTP_HEADER_LEN)
    }

    /// Writes header + payload into `out`, returning the datagram length.
    pub fn write_packet(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let needed = RTP_HEADER_LEN + payload.len();
        if out.len() < needed {
            return Err(RtpError::BufferTooSmall {
                needed,
                len: out.len(),
            });
        }
        self.write(out)?;
        out[RTP_HEADER_LEN..needed].copy_from_slice(payload);
        Ok(needed)
    }

    /// Convenience for tests and tone/DTMF senders: header + payload as a new vector.
    pub fn to_vec(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; RTP_HEADER_LEN + payload.len()];
        // Cannot fail: the vector is sized exactly.
        let _ = self.write_packet(payload, &mut v);
        v
    }
}

/// What a datagram on an RTP port is, by RFC 5761 §4 demultiplexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Rtp,
    Rtcp,
    /// Not version 2 or too short: STUN, garbage, etc.
    Other,
}

/// Classifies a datagram received on a (possibly rtcp-muxed) RTP port: version 2 with the second byte in
/// 192..=223 (RTCP PT 192–223 range, which covers SR 200 .. 207) is RTCP, other version-2 packets are RTP.
pub fn classify(buf: &[u8]) -> PacketKind {
    match (buf.first(), buf.get(1)) {
        (Some(b0), Some(b1)) if b0 >> 6 == 2 && buf.len() >= 4 => {
            if (192..=223).contains(b1) {
                PacketKind::Rtcp
            } else if buf.len() >= RTP_HEADER_LEN {
                PacketKind::Rtp
            } else {
                PacketKind::Other
            }
        }
        _ => PacketKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: 0x1234_5678,
        }
        .to_vec(&[1, 2, 3, 4])
    }

    #[test]
    fn parse_fixed_header_fields() {
        let b = sample();
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.version(), 2);
        assert!(p.marker());
        assert!(!p.padding());
        assert!(!p.has_extension());
        assert_eq!(p.payload_type(), 8);
        assert_eq!(p.sequence(), 0xfffe);
        assert_eq!(p.timestamp(), 0xdead_beef);
        assert_eq!(p.ssrc(), 0x1234_5678);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(p.header_len(), 12);
    }

    #[test]
    fn parse_known_wire_bytes() {
        // Captured-style G.711 packet: V=2, PT=0, seq=1, ts=160, ssrc=0xaabbccdd.
        let b = [
            0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xa0, 0xaa, 0xbb, 0xcc, 0xdd, 0xff, 0xff,
        ];
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(
            (p.payload_type(), p.sequence(), p.timestamp(), p.ssrc()),
            (0, 1, 160, 0xaabb_ccdd)
        );
        assert_eq!(p.payload(), &[0xff, 0xff]);
    }

    #[test]
    fn csrc_extension_padding() {
        let mut b = vec![0xb2, 0x60, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1];
        b.extend_from_slice(&[0, 0, 0, 0x11, 0, 0, 0, 0x22]); // 2 CSRCs
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]); // extension, 1 word
        b.extend_from_slice(&[5, 6, 7]); // payload
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert!(p.padding() && p.has_extension());
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![0x11, 0x22]);
        assert_eq!(p.extension(), Some((0xbede, &[9u8, 9, 9, 9][..])));
        assert_eq!(p.payload(), &[5, 6, 7]);
        assert_eq!(p.payload_type(), 0x60);
    }

    #[test]
    fn malformed_input_gives_errors() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 5]).unwrap_err(),
            RtpError::TooShort { len: 5 }
        );
        assert_eq!(
            RtpPacket::parse(&[]).unwrap_err(),
            RtpError::TooShort { len: 0 }
        );
        let mut b = sample();
        b[0] = 0x40;
        assert_eq!(RtpPacket::parse(&b).unwrap_err(), RtpError::BadVersion(1));
        let mut b = sample();
        b[0] = 0x8f; // 15 CSRCs, not present
        assert!(matches!(
            RtpPacket::parse(&b),
            Err(RtpError::TruncatedCsrc { .. })
        ));
        let mut b = sample();
        b[0] = 0x90;
        b[12..16].copy_from_slice(&[0, 0, 0xff, 0xff]);
        assert!(matches!(
            RtpPacket::parse(&b),
            Err(RtpError::TruncatedExtension { .. })
        ));
        let mut b = sample();
        b[0] = 0xa0;
        *b.last_mut().unwrap() = 200;
        assert!(matches!(
            RtpPacket::parse(&b),
            Err(RtpError::BadPadding { .. })
        ));
        *b.last_mut().unwrap() = 0;
        assert!(matches!(
            RtpPacket::parse(&b),
            Err(RtpError::BadPadding { .. })
        ));
    }

    #[test]
    fn rewrite_in_place() {
        let mut b = sample();
        let mut m = RtpPacketMut::parse(&mut b).unwrap();
        m.set_sequence(42);
        m.set_timestamp(4242);
        m.set_ssrc(7);
        m.set_marker(false);
        m.set_payload_type(0);
        let p = m.view();
        assert_eq!(
            (
                p.sequence(),
                p.timestamp(),
                p.ssrc(),
                p.marker(),
                p.payload_type()
            ),
            (42, 4242, 7, false, 0)
        );
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn writer_checks_buffer() {
        let h = RtpHeader::default();
        let mut small = [0u8; 13];
        assert!(matches!(
            h.write_packet(&[0; 4], &mut small),
            Err(RtpError::BufferTooSmall { needed: 16, .. })
        ));
        assert!(h.write(&mut small[..4]).is_err());
    }

    #[test]
    fn classify_rtp_rtcp_other() {
        assert_eq!(classify(&sample()), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 200, 0, 6, 0, 0, 0, 1]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x81, 201, 0, 7]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x00, 0x01, 0, 0]), PacketKind::Other); // STUN-like
        assert_eq!(classify(&[0x80]), PacketKind::Other);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(p) = RtpPacket::parse(&data) {
                let _ = (p.payload(), p.csrcs().count(), p.extension());
                proptest::prop_assert!(p.header_len() <= data.len());
            }
            let _ = classify(&data);
        }
    }
}
