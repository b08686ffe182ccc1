//! Per-leg voice quality, stored with the CDR: RFC 3550 interarrival jitter and loss (expected
//! from the extended highest sequence number, so 16-bit wrap is counted), and a simplified ITU-T
//! G.107 E-model (R-factor from codec impairment, packet loss and delay) mapped to a MOS.
//! Sans-IO: packets come in with their arrival time.

use serde::Serialize;
use std::time::Instant;

/// Sequence jumps up to this are in-order packets after a loss (RFC 3550 A.1 MAX_DROPOUT).
const MAX_DROPOUT: u16 = 3000;
/// Jumps back by up to this are late or duplicate packets (RFC 3550 A.1 MAX_MISORDER).
const MAX_MISORDER: u16 = 100;

/// Codec impairment for the E-model (ITU-T G.113 Appendix I).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EModelCodec {
    /// Equipment impairment at zero loss.
    pub ie: f64,
    /// Packet-loss robustness.
    pub bpl: f64,
}

/// G.711 with packet-loss concealment (G.711 Appendix I): Ie 0, Bpl 25.1.
pub const G711_PLC: EModelCodec = EModelCodec { ie: 0.0, bpl: 25.1 };
/// G.711 without concealment: Ie 0, Bpl 4.3.
pub const G711_NO_PLC: EModelCodec = EModelCodec { ie: 0.0, bpl: 4.3 };

/// G.107's R for default parameters and no impairment (R0 − Is).
pub const R_DEFAULT: f64 = 93.2;

/// A leg's quality as stored with its CDR.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LegQuality {
    /// Packets received (duplicates included, as RFC 3550 counts them).
    pub packets: u64,
    /// Expected minus received, never below 0.
    pub lost: u64,
    pub loss_pct: f64,
    pub jitter_ms: f64,
    pub r_factor: f64,
    pub mos: f64,
}

/// R-factor for a codec at a packet-loss percentage (random loss) and one-way mouth-to-ear delay.
pub fn r_factor(codec: EModelCodec, loss_pct: f64, delay_ms: f64) -> f64 {
    let ppl = loss_pct.clamp(0.0, 100.0);
    // Effective equipment impairment, BurstR = 1 (random loss).
    let ie_eff = codec.ie + (95.0 - codec.ie) * ppl / (ppl + codec.bpl);
    // Delay impairment (Cole & Rosenbluth's fit of G.107's Id).
    let d = delay_ms.max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    R_DEFAULT - id - ie_eff
}

/// G.107 Annex B: R to estimated MOS (conversational quality).
pub fn mos_from_r(r: f64) -> f64 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    }
}

/// A leg's quality as the relay reports it (bridge stats) and the CDR stores it: what hotline
/// measured on the RTP it received from the leg, what the leg's endpoint said in its RTCP
/// reports about the audio it received, and one E-model score for the leg.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LegQualityReport {
    /// RTP packets received from the leg (RFC 3550 A.1, across source changes).
    pub rtp_packets: u64,
    pub rtp_lost: u64,
    pub loss_pct: f64,
    /// RFC 3550 A.8 interarrival jitter of the leg's current source.
    pub jitter_ms: f64,
    /// RTCP packets received from the leg (on its RTCP port or multiplexed on RTP).
    pub rtcp_packets: u64,
    /// Reception report blocks in them: the endpoint's view of the audio it receives.
    pub rtcp_reports: u64,
    /// Mean of the reported fractions lost (None: the endpoint sent no report).
    pub remote_loss_pct: Option<f64>,
    /// The last reported interarrival jitter.
    pub remote_jitter_ms: Option<f64>,
    /// Round trip between hotline and the endpoint, from the LSR/DLSR of its reports on the
    /// sender reports hotline relayed to it (RFC 3550 §6.4.1).
    pub rtt_ms: Option<f64>,
    /// E-model R and MOS of the leg's worse direction (see [`leg_score`]).
    pub r_factor: f64,
    pub mos: f64,
}

/// One score for a leg: the worse of the loss hotline measured and the loss the endpoint
/// reported, and a mouth-to-ear delay of half the round trip (when known) plus a jitter
/// buffer twice the worse jitter; G.711 with concealment.
pub fn leg_score(
    loss_pct: f64,
    jitter_ms: f64,
    remote_loss_pct: Option<f64>,
    remote_jitter_ms: Option<f64>,
    rtt_ms: Option<f64>,
) -> (f64, f64) {
    let loss = loss_pct.max(remote_loss_pct.unwrap_or(0.0));
    let jitter = jitter_ms.max(remote_jitter_ms.unwrap_or(0.0));
    let delay = rtt_ms.unwrap_or(0.0) / 2.0 + 2.0 * jitter;
    let r = r_factor(G711_PLC, loss, delay);
    (r, mos_from_r(r))
}

/// Per-leg meter: feed every RTP packet of the leg.
#[derive(Debug, Clone)]
pub struct QualityMeter {
    clock_rate: f64,
    started: Option<Instant>,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    bad_seq: Option<u16>,
    received: u64,
    /// Previous transit time, in timestamp units.
    transit: Option<f64>,
    /// RFC 3550 jitter estimate, in timestamp units.
    jitter: f64,
}

impl QualityMeter {
    pub fn new(clock_rate: u32) -> Self {
        QualityMeter {
            clock_rate: clock_rate.max(1) as f64,
            started: None,
            base_seq: 0,
            max_seq: 0,
            cycles: 0,
            bad_seq: None,
            received: 0,
            transit: None,
            jitter: 0.0,
        }
    }

    pub fn on_packet(&mut self, seq: u16, ts: u32, arrival: Instant) {
        if self.started.is_none() {
            self.restart(seq, arrival);
            self.received = 1;
            self.jitter_sample(ts, arrival);
            return;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
            self.bad_seq = None;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A big jump: the sender restarted if the next packet follows it (RFC 3550 A.1).
            if self.bad_seq == Some(seq) {
                self.restart(seq, arrival);
                self.transit = None;
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                return;
            }
        }
        // else: late or duplicate, counted as received.
        self.received += 1;
        self.jitter_sample(ts, arrival);
    }

    fn restart(&mut self, seq: u16, arrival: Instant) {
        self.started.get_or_insert(arrival);
        self.base_seq = seq as u32;
        self.max_seq = seq;
        self.cycles = 0;
        self.bad_seq = None;
        self.received = 0;
    }

    /// RFC 3550 A.8: J += (|D| − J) / 16, D the change in transit time.
    fn jitter_sample(&mut self, ts: u32, arrival: Instant) {
        let t0 = *self.started.get_or_insert(arrival);
        let arrival_ts = arrival.saturating_duration_since(t0).as_secs_f64() * self.clock_rate;
        let transit = arrival_ts - ts as f64;
        if let Some(prev) = self.transit {
            let mut d = (transit - prev).abs();
            // A timestamp wrap shows up as a 2^32 jump in transit: unwrap it.
            if d > 2f64.powi(31) {
                d = (d - 2f64.powi(32)).abs();
            }
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    pub fn expected(&self) -> u64 {
        if self.started.is_none() {
            return 0;
        }
        let ext_max = self.cycles as u64 + self.max_seq as u64;
        ext_max + 1 - self.base_seq as u64
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / self.clock_rate
    }

    /// The leg's quality, given its one-way delay (network + jitter buffer + packetisation).
    pub fn quality(&self, codec: EModelCodec, delay_ms: f64) -> LegQuality {
        let expected = self.expected();
        let lost = expected.saturating_sub(self.received);
        let loss_pct = if expected == 0 {
            0.0
        } else {
            100.0 * lost as f64 / expected as f64
        };
        let r = r_factor(codec, loss_pct, delay_ms);
        LegQuality {
            packets: self.received,
            lost,
            loss_pct,
            jitter_ms: self.jitter_ms(),
            r_factor: r,
            mos: mos_from_r(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn e_model_reference_values() {
        assert!(close(mos_from_r(93.2), 4.41, 0.005), "{}", mos_from_r(93.2));
        assert!(close(r_factor(G711_PLC, 0.0, 0.0), 93.2, 1e-9));
        // 0 loss, 20 ms delay: R ≈ 93.
        assert!(close(r_factor(G711_PLC, 0.0, 20.0), 92.72, 0.01));
        // 1 % random loss with PLC: Ie,eff = 95 · 1 / 26.1 = 3.64.
        assert!(close(r_factor(G711_PLC, 1.0, 0.0), 89.56, 0.01));
        // 5 % without PLC: Ie,eff = 95 · 5 / 9.3 = 51.08.
        assert!(close(r_factor(G711_NO_PLC, 5.0, 0.0), 42.12, 0.01));
        // 200 ms: Id = 4.8 + 0.11 · 22.7 = 7.30.
        assert!(close(r_factor(G711_PLC, 0.0, 200.0), 85.90, 0.01));
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        assert!(close(mos_from_r(50.0), 2.58, 0.01));
    }

    fn stream(
        m: &mut QualityMeter,
        seqs: impl IntoIterator<Item = u16>,
        jitter_ms: impl Fn(u16) -> u64,
    ) {
        let t0 = Instant::now();
        for s in seqs {
            let n = s.wrapping_sub(65_500) as u64; // send time index
            let at = t0 + Duration::from_millis(20 * n + jitter_ms(s));
            m.on_packet(s, 1000u32.wrapping_add(160 * n as u32), at);
        }
    }

    #[test]
    fn constant_transit_has_no_jitter_and_alternating_has_its_swing() {
        let mut m = QualityMeter::new(8000);
        stream(&mut m, (0..200).map(|i| 65_500u16.wrapping_add(i)), |_| 5);
        assert!(m.jitter_ms() < 0.01);
        let q = m.quality(G711_PLC, 0.0);
        assert_eq!((q.packets, q.lost), (200, 0));
        assert!(close(q.r_factor, 93.2, 1e-9) && close(q.mos, 4.41, 0.005));
        let mut m = QualityMeter::new(8000);
        stream(&mut m, (0..400).map(|i| 65_500u16.wrapping_add(i)), |s| {
            if s % 2 == 0 {
                10
            } else {
                0
            }
        });
        assert!(close(m.jitter_ms(), 10.0, 0.1), "{}", m.jitter_ms());
    }

    #[test]
    fn loss_across_the_sequence_wrap() {
        let mut m = QualityMeter::new(8000);
        // 65500 .. 65500+99 (wraps at 36), minus 4 lost, one reordered, one duplicated.
        let mut seqs: Vec<u16> = (0..100u16)
            .map(|i| 65_500u16.wrapping_add(i))
            .filter(|s| ![65_530, 65_535, 0, 40].contains(s))
            .collect();
        seqs.swap(10, 11);
        seqs.push(20);
        stream(&mut m, seqs, |_| 0);
        assert_eq!(m.expected(), 100);
        let q = m.quality(G711_PLC, 0.0);
        assert_eq!((q.packets, q.lost), (97, 3)); // the duplicate hides one loss, as RFC 3550 counts
        assert!(close(q.loss_pct, 3.0, 1e-9));
        assert!(q.r_factor < 93.2 && q.mos < 4.41);
    }

    #[test]
    fn duplicates_never_make_loss_negative_and_a_restart_is_followed() {
        let mut m = QualityMeter::new(8000);
        stream(&mut m, [65_500, 65_501, 65_501, 65_501, 65_502], |_| 0);
        assert_eq!(m.quality(G711_PLC, 0.0).lost, 0);
        // Sender restarts at a far sequence number: one stray packet is ignored, two in a row restart.
        let mut m = QualityMeter::new(8000);
        stream(&mut m, [65_500, 65_501, 20_000], |_| 0);
        assert_eq!(m.expected(), 2);
        stream(&mut m, [20_001, 20_002], |_| 0);
        assert_eq!(m.expected(), 2);
        assert_eq!(m.quality(G711_PLC, 0.0).lost, 0);
    }

    #[test]
    fn empty_meter_and_serialisation() {
        let q = QualityMeter::new(8000).quality(G711_PLC, 0.0);
        assert_eq!((q.packets, q.lost, q.loss_pct), (0, 0, 0.0));
        let v = serde_json::to_value(q).unwrap();
        for k in [
            "packets",
            "lost",
            "loss_pct",
            "jitter_ms",
            "r_factor",
            "mos",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
    }
}
