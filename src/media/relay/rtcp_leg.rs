//! Per-leg RTCP and call quality of a bridge (sans-IO, owned by [`super::bridge::BridgeCore`]):
//! where the leg's RTCP goes (the odd port above its RTP port, latched like RTP), what its
//! endpoint reports in SR/RR report blocks, the round trip from its LSR/DLSR, and the jitter of
//! what it sends (RFC 3550 A.8). Loss comes from the bridge's own sequence tracking.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::media::quality::{leg_score, LegQualityReport, QualityMeter};
use crate::media::rtcp::{self, ReceiverReport, ReportBlock, SenderReport};

/// Sender reports remembered per leg for matching the LSR of its reports (a few report
/// intervals' worth: one SR per ~5 s per source).
const SR_MEMORY: usize = 8;
/// RTT samples above this are discarded as clock confusion (a stale or foreign LSR).
const MAX_RTT: Duration = Duration::from_secs(10);

/// RTCP counters of one leg's RTCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpPortStats {
    /// Datagrams received on the leg's RTCP socket and accepted.
    pub rx_packets: u64,
    /// Datagrams relayed to the leg's RTCP address.
    pub tx_packets: u64,
    pub dropped_hijack: u64,
    pub dropped_malformed: u64,
    /// Nowhere to send it yet (the other leg has no RTCP address).
    pub dropped_no_destination: u64,
}

/// The RTCP address for an RTP address: the next port up (RFC 3550 §11), unless none fits.
pub fn rtcp_of(rtp: SocketAddr) -> Option<SocketAddr> {
    match rtp.port() {
        0 | u16::MAX => None,
        p => Some(SocketAddr::new(rtp.ip(), p + 1)),
    }
}

#[derive(Debug)]
pub struct RtcpLeg {
    /// From the SDP (RTP port + 1); `a=rtcp:` is not kept by the SDP layer, latching corrects it.
    pub(super) hint: Option<SocketAddr>,
    pub(super) dest: Option<SocketAddr>,
    pub(super) latched: Option<SocketAddr>,
    pub(super) last_rx: Option<Instant>,
    pub(super) port: RtcpPortStats,
    /// RTCP from the leg on either port.
    rtcp_packets: u64,
    meter: QualityMeter,
    meter_ssrc: Option<u32>,
    reports: u64,
    /// Sum of the reported fractions lost (1/256 units), for the mean.
    fraction_sum: u64,
    remote_jitter: Option<u32>,
    rtt: Option<Duration>,
    /// Sender reports relayed to this leg: the middle 32 bits of their NTP time and when.
    sent_sr: [(u32, Option<Instant>); SR_MEMORY],
    sr_next: usize,
    clock_rate: u32,
}

impl RtcpLeg {
    pub fn new(rtp_hint: Option<SocketAddr>, clock_rate: u32) -> Self {
        let hint = rtp_hint.and_then(rtcp_of);
        RtcpLeg {
            hint,
            dest: hint,
            latched: None,
            last_rx: None,
            port: RtcpPortStats::default(),
            rtcp_packets: 0,
            meter: QualityMeter::new(clock_rate),
            meter_ssrc: None,
            reports: 0,
            fraction_sum: 0,
            remote_jitter: None,
            rtt: None,
            sent_sr: [(0, None); SR_MEMORY],
            sr_next: 0,
            clock_rate: clock_rate.max(1),
        }
    }

    /// A re-INVITE moved the leg: RTCP goes to the new address until the leg's RTCP latches again.
    pub fn set_hint(&mut self, rtp: SocketAddr) {
        self.hint = rtcp_of(rtp);
        self.dest = self.hint;
        self.latched = None;
    }

    /// An audio packet from the leg (telephone-events excluded: their timestamps stand still).
    pub fn on_audio(&mut self, ssrc: u32, seq: u16, ts: u32, now: Instant) {
        // Jitter is per source: a new source starts a new estimate (its timestamps are unrelated).
        if self.meter_ssrc != Some(ssrc) {
            self.meter = QualityMeter::new(self.clock_rate);
            self.meter_ssrc = Some(ssrc);
        }
        self.meter.on_packet(seq, ts, now);
    }

    /// Reads the reports in an RTCP datagram the leg sent; returns the NTP middle bits of a
    /// sender report in it, which the caller notes on the leg it is relayed to.
    pub fn on_rtcp(&mut self, buf: &[u8], now: Instant) -> Option<u32> {
        self.rtcp_packets += 1;
        let mut sr_mid = None;
        // A malformed tail ends the walk; what came before still counts.
        for p in rtcp::packets(buf).map_while(Result::ok) {
            let blocks = match p.packet_type {
                rtcp::PT_SR => match SenderReport::parse(&p) {
                    Ok(sr) => {
                        sr_mid = Some((sr.ntp_time >> 16) as u32);
                        sr.reports
                    }
                    Err(_) => continue,
                },
                rtcp::PT_RR => match ReceiverReport::parse(&p) {
                    Ok(rr) => rr.reports,
                    Err(_) => continue,
                },
                _ => continue,
            };
            for b in blocks {
                self.on_block(&b, now);
            }
        }
        sr_mid
    }

    fn on_block(&mut self, b: &ReportBlock, now: Instant) {
        self.reports += 1;
        self.fraction_sum += u64::from(b.fraction_lost);
        self.remote_jitter = Some(b.jitter);
        if b.last_sr == 0 {
            return;
        }
        let Some(sent) = self
            .sent_sr
            .iter()
            .find(|(mid, at)| *mid == b.last_sr && at.is_some())
            .and_then(|(_, at)| *at)
        else {
            return;
        };
        // DLSR is in 1/65536 s: the time the endpoint held the SR before reporting.
        let held = Duration::from_secs_f64(f64::from(b.delay_since_last_sr) / 65536.0);
        let rtt = now.saturating_duration_since(sent).saturating_sub(held);
        if rtt <= MAX_RTT {
            // Smoothed like TCP's SRTT so one odd sample does not swing the score.
            self.rtt = Some(match self.rtt {
                None => rtt,
                Some(old) => (old * 7 + rtt) / 8,
            });
        }
    }

    /// A sender report (NTP middle bits `mid`) was relayed to this leg now.
    pub fn note_sr_relayed(&mut self, mid: u32, now: Instant) {
        self.sent_sr[self.sr_next] = (mid, Some(now));
        self.sr_next = (self.sr_next + 1) % SR_MEMORY;
    }

    pub fn port_stats(&self) -> RtcpPortStats {
        self.port
    }

    /// The leg's quality, given the bridge's loss figures for it.
    pub fn report(&self, rtp_packets: u64, expected: u64, lost: u64) -> LegQualityReport {
        let loss_pct = if expected == 0 {
            0.0
        } else {
            100.0 * lost as f64 / expected as f64
        };
        let jitter_ms = self.meter.jitter_ms();
        let remote_loss_pct = (self.reports > 0)
            .then(|| 100.0 * self.fraction_sum as f64 / 256.0 / self.reports as f64);
        let remote_jitter_ms = self
            .remote_jitter
            .map(|j| f64::from(j) * 1000.0 / f64::from(self.clock_rate));
        let rtt_ms = self.rtt.map(|d| d.as_secs_f64() * 1000.0);
        let (r_factor, mos) = leg_score(
            loss_pct,
            jitter_ms,
            remote_loss_pct,
            remote_jitter_ms,
            rtt_ms,
        );
        LegQualityReport {
            rtp_packets,
            rtp_lost: lost,
            loss_pct,
            jitter_ms,
            rtcp_packets: self.rtcp_packets,
            rtcp_reports: self.reports,
            remote_loss_pct,
            remote_jitter_ms,
            rtt_ms,
            r_factor,
            mos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr(fraction: u8, jitter: u32, lsr: u32, dlsr: u32) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = ReceiverReport {
            ssrc: 7,
            reports: vec![ReportBlock {
                ssrc: 9,
                fraction_lost: fraction,
                cumulative_lost: 3,
                highest_seq: 100,
                jitter,
                last_sr: lsr,
                delay_since_last_sr: dlsr,
            }],
        }
        .write(&mut buf)
        .unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn reports_give_remote_loss_jitter_and_rtt() {
        let t0 = Instant::now();
        let mut l = RtcpLeg::new(Some("10.0.0.1:4000".parse().unwrap()), 8000);
        assert_eq!(l.dest, Some("10.0.0.1:4001".parse().unwrap()));
        // An SR with NTP middle bits 0x1234_5678 went to this leg at t0; the leg answers 150 ms
        // later having held it 50 ms (3276.8 in 1/65536 s): RTT 100 ms.
        l.note_sr_relayed(0x1234_5678, t0);
        let buf = rr(64, 160, 0x1234_5678, 3277);
        assert_eq!(l.on_rtcp(&buf, t0 + Duration::from_millis(150)), None);
        let buf = rr(0, 80, 0, 0);
        l.on_rtcp(&buf, t0 + Duration::from_secs(5));
        let q = l.report(100, 100, 0);
        assert_eq!((q.rtcp_packets, q.rtcp_reports), (2, 2));
        assert!((q.remote_loss_pct.unwrap() - 12.5).abs() < 1e-9); // (25 % + 0 %) / 2
        assert!((q.remote_jitter_ms.unwrap() - 10.0).abs() < 1e-9); // 80 / 8 kHz
        assert!((q.rtt_ms.unwrap() - 100.0).abs() < 0.1, "{:?}", q.rtt_ms);
        assert!(q.mos < 4.0, "12.5 % loss hurts: {}", q.mos);
    }

    #[test]
    fn a_sender_report_is_returned_for_the_other_leg_and_garbage_is_harmless() {
        let mut buf = [0u8; 64];
        let n = SenderReport {
            ssrc: 1,
            ntp_time: 0xaaaa_bbbb_cccc_dddd,
            ..SenderReport::default()
        }
        .write(&mut buf)
        .unwrap();
        let mut l = RtcpLeg::new(None, 8000);
        assert_eq!(l.on_rtcp(&buf[..n], Instant::now()), Some(0xbbbb_cccc));
        assert_eq!(l.on_rtcp(&[0x80, 201, 0, 40, 1, 2], Instant::now()), None);
        assert_eq!(l.on_rtcp(&[], Instant::now()), None);
        let q = l.report(0, 0, 0);
        assert_eq!(
            (q.rtcp_packets, q.rtcp_reports, q.remote_loss_pct),
            (3, 0, None)
        );
    }
}
