//! RTCP (RFC 3550 §6): compound-packet walking, SR/RR parse and build, and in-place sender-SSRC rewriting.
//!
//! Only what a relay needs: recognise RTCP (see [`crate::media::rtp::classify`]), read sender and receiver
//! reports for statistics, build a report, and keep the sender SSRC consistent with rewritten RTP.

use std::fmt;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
pub const PT_APP: u8 = 204;
/// Report blocks in one SR/RR (5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;
const REPORT_BLOCK_LEN: usize = 24;

/// Why bytes are not valid RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpError {
    TooShort {
        len: usize,
    },
    BadVersion(u8),
    /// The length field points past the end of the datagram.
    BadLength {
        declared: usize,
        available: usize,
    },
    /// Not the packet type the caller asked for.
    WrongType(u8),
    /// More report blocks declared than fit in the packet.
    TruncatedReports,
    BufferTooSmall {
        needed: usize,
        len: usize,
    },
    TooManyReports(usize),
}

impl fmt::Display for RtcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtcpError::TooShort { len } => write!(f, "RTCP packet too short: {len} bytes"),
            RtcpError::BadVersion(v) => write!(f, "RTCP version {v}, expected 2"),
            RtcpError::BadLength {
                declared,
                available,
            } => write!(
                f,
                "RTCP length {declared} exceeds the {available} bytes left"
            ),
            RtcpError::WrongType(pt) => write!(f, "unexpected RTCP packet type {pt}"),
            RtcpError::TruncatedReports => write!(f, "RTCP report blocks truncated"),
            RtcpError::BufferTooSmall { needed, len } => {
                write!(f, "buffer of {len} bytes too small, need {needed}")
            }
            RtcpError::TooManyReports(n) => write!(f, "{n} report blocks, at most 31 allowed"),
        }
    }
}

impl std::error::Error for RtcpError {}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    /// Reception report count / subtype (5 bits).
    pub count: u8,
    pub packet_type: u8,
    /// Bytes after the 4-byte common header, padding removed.
    pub body: &'a [u8],
}

/// Walks the packets of a compound RTCP datagram; stops at the first error.
pub struct CompoundIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Iterates the packets of a compound RTCP datagram.
pub fn packets(buf: &[u8]) -> CompoundIter<'_> {
    CompoundIter {
        rest: buf,
        failed: false,
    }
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let r = split_one(self.rest);
        match r {
            Ok((pkt, total)) => {
                self.rest = self.rest.get(total..).unwrap_or(&[]);
                Some(Ok(pkt))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn split_one(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    if buf.len() < 4 {
        return Err(RtcpError::TooShort { len: buf.len() });
    }
    let v = buf[0] >> 6;
    if v != 2 {
        return Err(RtcpError::BadVersion(v));
    }
    let total = (u16::from_be_bytes([buf[2], buf[3]]) as usize + 1) * 4;
    if total > buf.len() {
        return Err(RtcpError::BadLength {
            declared: total,
            available: buf.len(),
        });
    }
    let mut end = total;
    if buf[0] & 0x20 != 0 {
        let pad = buf[total - 1] as usize;
        if pad == 0 || pad > total - 4 {
            return Err(RtcpError::BadLength {
                declared: pad,
                available: total - 4,
            });
        }
        end -= pad;
    }
    Ok((
        RtcpPacket {
            count: buf[0] & 0x1f,
            packet_type: buf[1],
            body: &buf[4..end],
        },
        total,
    ))
}

/// A reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire).
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    pub jitter: u32,
    pub last_sr: u32,
    pub delay_since_last_sr: u32,
}

fn be32(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

impl ReportBlock {
    fn parse(b: &[u8]) -> Self {
        let lost_raw = be32(b, 4) & 0x00ff_ffff;
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((lost_raw << 8) as i32) >> 8;
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: b.get(4).copied().unwrap_or(0),
            cumulative_lost,
            highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }
    fn write(&self, out: &mut [u8]) {
        let lost = (self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..8].copy_from_slice(&(((self.fraction_lost as u32) << 24) | lost).to_be_bytes());
        out[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

fn parse_blocks(body: &[u8], count: u8) -> Result<Vec<ReportBlock>, RtcpError> {
    let n = count as usize;
    let bytes = body
        .get(..n * REPORT_BLOCK_LEN)
        .ok_or(RtcpError::TruncatedReports)?;
    Ok(bytes
        .chunks_exact(REPORT_BLOCK_LEN)
        .map(ReportBlock::parse)
        .collect())
}

/// Sender report (PT 200).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    pub ssrc: u32,
    /// 64-bit NTP timestamp (seconds << 32 | fraction).
    pub ntp_time: u64,
    pub rtp_time: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    pub reports: Vec<ReportBlock>,
}

impl SenderReport {
    pub fn parse(p: &RtcpPacket<'_>) -> Result<Self, RtcpError> {
        if p.packet_type != PT_SR {
            return Err(RtcpError::WrongType(p.packet_type));
        }
        if p.body.len() < 24 {
            return Err(RtcpError::TooShort { len: p.body.len() });
        }
        Ok(SenderReport {
            ssrc: be32(p.body, 0),
            ntp_time: ((be32(p.body, 4) as u64) << 32) | be32(p.body, 8) as u64,
            rtp_time: be32(p.body, 12),
            packet_count: be32(p.body, 16),
            octet_count: be32(p.body, 20),
            reports: parse_blocks(&p.body[24..], p.count)?,
        })
    }

    /// Writes the SR into `out`, returning its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtcpError> {
        let n = self.reports.len();
        if n > MAX_REPORT_BLOCKS {
            return Err(RtcpError::TooManyReports(n));
        }
        let len = 28 + n * REPORT_BLOCK_LEN;
        let have = out.len();
        let o = out.get_mut(..len).ok_or(RtcpError::BufferTooSmall {
            needed: len,
            len: have,
        })?;
        write_common(o, n as u8, PT_SR, len);
        o[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        o[8..16].copy_from_slice(&self.ntp_time.to_be_bytes());
        o[16..20].copy_from_slice(&self.rtp_time.to_be_bytes());
        o[20..24].copy_from_slice(&self.packet_count.to_be_bytes());
        o[24..28].copy_from_slice(&self.octet_count.to_be_bytes());
        for (i, r) in self.reports.iter().enumerate() {
            r.write(&mut o[28 + i * REPORT_BLOCK_LEN..28 + (i + 1) * REPORT_BLOCK_LEN]);
        }
        Ok(len)
    }
}

/// Receiver report (PT 201).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    pub ssrc: u32,
    pub reports: Vec<ReportBlock>,
}

impl ReceiverReport {
    pub fn parse(p: &RtcpPacket<'_>) -> Result<Self, RtcpError> {
        if p.packet_type != PT_RR {
            return Err(RtcpError::WrongType(p.packet_type));
        }
        if p.body.len() < 4 {
            return Err(RtcpError::TooShort { len: p.body.len() });
        }
        Ok(ReceiverReport {
            ssrc: be32(p.body, 0),
            reports: parse_blocks(&p.body[4..], p.count)?,
        })
    }

    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtcpError> {
        let n = self.reports.len();
        if n > MAX_REPORT_BLOCKS {
            return Err(RtcpError::TooManyReports(n));
        }
        let len = 8 + n * REPORT_BLOCK_LEN;
        let have = out.len();
        let o = out.get_mut(..len).ok_or(RtcpError::BufferTooSmall {
            needed: len,
            len: have,
        })?;
        write_common(o, n as u8, PT_RR, len);
        o[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        for (i, r) in self.reports.iter().enumerate() {
            r.write(&mut o[8 + i * REPORT_BLOCK_LEN..8 + (i + 1) * REPORT_BLOCK_LEN]);
        }
        Ok(len)
    }
}

fn write_common(o: &mut [u8], count: u8, pt: u8, len: usize) {
    o[0] = 0x80 | (count & 0x1f);
    o[1] = pt;
    o[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

/// Rewrites the sender SSRC of every SR and RR in a compound datagram from `from` to `to`, so RTCP stays
/// consistent with RTP whose SSRC the relay rewrote. Returns how many packets were changed; stops at the
/// first malformed packet.
pub fn rewrite_sender_ssrc(buf: &mut [u8], from: u32, to: u32) -> usize {
    let mut off = 0;
    let mut changed = 0;
    // Bounded: each step advances at least 4 bytes.
    while off < buf.len() {
        let Some(rest) = buf.get(off..) else { break };
        let Ok((pkt, total)) = split_one(rest) else {
            break;
        };
        if matches!(pkt.packet_type, PT_SR | PT_RR)
            && pkt.body.len() >= 4
            && be32(pkt.body, 0) == from
        {
            if let Some(s) = buf.get_mut(off + 4..off + 8) {
                s.copy_from_slice(&to.to_be_bytes());
                changed += 1;
            }
        }
        off += total;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: lost,
            highest_seq: 0x0001_0203,
            jitter: 17,
            last_sr: 0xaabb_ccdd,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn sr_round_trip() {
        let sr = SenderReport {
            ssrc: 0x1111_2222,
            ntp_time: 0x0102_0304_0506_0708,
            rtp_time: 160_000,
            packet_count: 1000,
            octet_count: 160_000,
            reports: vec![block(5, 3), block(6, -2)],
        };
        let mut buf = [0u8; 128];
        let n = sr.write(&mut buf).unwrap();
        assert_eq!(n, 28 + 48);
        assert_eq!(buf[1], 200);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]) as usize, n / 4 - 1);
        assert_eq!(
            crate::media::rtp::classify(&buf[..n]),
            crate::media::rtp::PacketKind::Rtcp
        );
        let pkts: Vec<_> = packets(&buf[..n]).collect();
        assert_eq!(pkts.len(), 1);
        let parsed = SenderReport::parse(pkts[0].as_ref().unwrap()).unwrap();
        assert_eq!(parsed, sr);
    }

    #[test]
    fn compound_rr_then_sdes() {
        let rr = ReceiverReport {
            ssrc: 9,
            reports: vec![block(1, 70000)],
        };
        let mut buf = [0u8; 128];
        let n = rr.write(&mut buf).unwrap();
        // A minimal SDES chunk: one item-less chunk (ssrc + end + pad).
        let sdes = [0x81, PT_SDES, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0];
        buf[n..n + 12].copy_from_slice(&sdes);
        let pkts: Vec<_> = packets(&buf[..n + 12]).map(|p| p.unwrap()).collect();
        assert_eq!(pkts.len(), 2);
        assert_eq!(pkts[1].packet_type, PT_SDES);
        let parsed = ReceiverReport::parse(&pkts[0]).unwrap();
        assert_eq!(parsed, rr);
        assert_eq!(
            SenderReport::parse(&pkts[0]),
            Err(RtcpError::WrongType(PT_RR))
        );
    }

    #[test]
    fn malformed_rtcp() {
        assert!(matches!(
            packets(&[0x80, 200]).next(),
            Some(Err(RtcpError::TooShort { .. }))
        ));
        assert!(matches!(
            packets(&[0x80, 200, 0, 9, 0, 0, 0, 0]).next(),
            Some(Err(RtcpError::BadLength { .. }))
        ));
        assert!(matches!(
            packets(&[0x40, 200, 0, 0]).next(),
            Some(Err(RtcpError::BadVersion(1)))
        ));
        // RR claiming 2 report blocks with none present.
        let p = RtcpPacket {
            count: 2,
            packet_type: PT_RR,
            body: &[0, 0, 0, 1],
        };
        assert_eq!(ReceiverReport::parse(&p), Err(RtcpError::TruncatedReports));
        let too_many = ReceiverReport {
            ssrc: 1,
            reports: vec![ReportBlock::default(); 32],
        };
        assert_eq!(
            too_many.write(&mut [0u8; 2048]),
            Err(RtcpError::TooManyReports(32))
        );
        assert!(matches!(
            ReceiverReport::default().write(&mut [0u8; 4]),
            Err(RtcpError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn rewrite_sender_ssrc_in_compound() {
        let mut buf = [0u8; 128];
        let n = SenderReport {
            ssrc: 7,
            ..Default::default()
        }
        .write(&mut buf)
        .unwrap();
        let m = ReceiverReport {
            ssrc: 7,
            reports: vec![block(7, 0)],
        }
        .write(&mut buf[n..])
        .unwrap();
        assert_eq!(rewrite_sender_ssrc(&mut buf[..n + m], 7, 99), 2);
        let pkts: Vec<_> = packets(&buf[..n + m]).map(|p| p.unwrap()).collect();
        assert_eq!(SenderReport::parse(&pkts[0]).unwrap().ssrc, 99);
        let rr = ReceiverReport::parse(&pkts[1]).unwrap();
        assert_eq!(rr.ssrc, 99);
        assert_eq!(
            rr.reports[0].ssrc, 7,
            "report blocks describe the other side; untouched"
        );
    }

    proptest::proptest! {
        #[test]
        fn rtcp_never_panics(mut data in proptest::collection::vec(proptest::num::u8::ANY, 0..96)) {
            for p in packets(&data).take(64).flatten() {
                let _ = SenderReport::parse(&p);
                let _ = ReceiverReport::parse(&p);
            }
            let _ = rewrite_sender_ssrc(&mut data, 0, 1);
        }
    }
}
