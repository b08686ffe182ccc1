//! One two-party bridge as a sans-IO state machine: a datagram in (which leg, from where, the bytes, now),
//! a verdict out (forward to this address from the other leg's socket, or drop and why).
//!
//! Symmetric RTP latching: the SDP address is only a hint. The first RTP packet a leg receives sets where that
//! leg's media goes (agents behind NAT). After that, another source is refused (hijack) unless the latched
//! source has been silent for `relatch_after_silence`, or a re-INVITE ([`BridgeCore::update_remote`]) armed
//! a re-latch and the newcomer brings a different SSRC (or comes from the new SDP address).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::local::{build_packet, LegFormat, Playback, FRAME_SAMPLES, PTIME};
use super::rtcp_leg::{RtcpLeg, RtcpPortStats};
use super::seq::SeqTracker;
use super::stream::{OutStream, SourceId};
use crate::media::codec::g711;
use crate::media::dtmf::inband::InbandDetector;
use crate::media::dtmf::DtmfDetector;
use crate::media::jitter::{JitterBuffer, JitterConfig, PopKind};
use crate::media::quality::LegQualityReport;
use crate::media::recorder::Frame as RecordFrame;
use crate::media::rtcp;
use crate::media::rtp::{classify, PacketKind, RtpPacketMut};

/// A side of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    A,
    B,
}

impl Leg {
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }
    pub fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// The SDP direction a leg's endpoint declared (RFC 3264 §6.1), from that endpoint's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaDirection {
    #[default]
    SendRecv,
    /// The endpoint sends only (it holds us): we forward what it sends, and send it nothing.
    SendOnly,
    /// The endpoint only receives: we drop what it sends and do not expect media from it.
    RecvOnly,
    /// Neither way (full hold).
    Inactive,
}

impl MediaDirection {
    pub fn endpoint_sends(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::SendOnly)
    }
    pub fn endpoint_receives(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::RecvOnly)
    }
}

/// Tunables of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeConfig {
    /// No RTP from a sending leg for this long raises [`BridgeEvent::RtpTimeout`].
    pub rtp_timeout: Duration,
    /// A latched source silent this long may be replaced by a new source.
    pub relatch_after_silence: Duration,
    /// RTP clock rate, to turn a source-switch gap into timestamp units.
    pub clock_rate: u32,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            rtp_timeout: Duration::from_secs(30),
            relatch_after_silence: Duration::from_secs(2),
            clock_rate: 8000,
        }
    }
}

/// What to do with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (possibly rewritten) bytes from the other leg's socket to `to`.
    Forward {
        to: SocketAddr,
    },
    Drop(DropReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not RTP/RTCP (or a malformed RTP header).
    Malformed,
    /// From a source other than the latched one, with no right to re-latch.
    Hijack,
    /// Held: the direction forbids forwarding.
    Held,
    /// The other leg has neither an SDP hint nor a latched address yet.
    NoDestination,
    /// Hotline is playing a prompt or music to the destination leg; its stream takes the place.
    Playing,
    /// A leg of the pair is in a conference: its audio goes through the mixer instead.
    Mixed,
}

/// Something the call should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEvent {
    /// A leg's media destination was (re)set from received packets.
    Latched { leg: Leg, addr: SocketAddr },
    /// No media from a leg for the configured time: the call should hang up.
    RtpTimeout { leg: Leg, silent_for: Duration },
    /// A key press the leg sent as RFC 4733 telephone-events, reported once when it ends.
    Digit {
        leg: Leg,
        digit: char,
        duration_ms: u32,
    },
    /// A playback to the leg played to its end (not reported when stopped or replaced).
    PlayDone { leg: Leg, id: u64 },
}

/// Per-leg counters. `rx_*` count what the leg's endpoint sent us (accepted), `tx_*` what we sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rtcp_packets: u64,
    /// Estimated RTP packets lost on the way to us (RFC 3550 A.1).
    pub lost: u64,
    pub expected: u64,
    pub dropped_hijack: u64,
    pub dropped_malformed: u64,
    pub dropped_held: u64,
    pub last_rx: Option<Instant>,
    pub latched: Option<SocketAddr>,
    /// Times the stream sent to this leg switched source (SSRC/seq/ts rewritten from then on).
    pub source_switches: u32,
}

#[derive(Debug)]
struct LegState {
    hint: Option<SocketAddr>,
    /// Where this leg's media goes: the hint until a packet latches.
    dest: Option<SocketAddr>,
    /// The accepted source of this leg's packets.
    latched: Option<SocketAddr>,
    latched_ssrc: Option<u32>,
    generation: u32,
    relatch_armed: bool,
    direction: MediaDirection,
    /// Start of the current timeout window (creation, direction change, re-INVITE).
    timeout_base: Instant,
    timed_out: bool,
    seq: SeqTracker,
    stats: LegStats,
    /// The stream we send to this leg.
    out: OutStream,
    format: LegFormat,
    /// What hotline plays to this leg (replaces relayed audio while it lasts).
    play: Option<Playback>,
    /// The leg's telephone-events, when it negotiated them.
    dtmf: DtmfDetector,
    /// Decoded audio from this leg, kept while the call is recorded.
    decoded: Option<Box<JitterBuffer>>,
    /// Tones in the audio, for legs that did not negotiate telephone-events (old gateways).
    inband: Option<Box<InbandDetector>>,
    /// Decoded audio from this leg for its conference, while it is in one.
    mix_in: Option<Box<JitterBuffer>>,
    /// Our own numbering of the mixed stream sent to this leg (mapped into `out` like playback).
    mix_out: MixOut,
    /// The last mix this leg was given: what it hears, for the recording of a conference.
    mix_heard: Option<Box<[i16; FRAME_SAMPLES]>>,
}

/// Sequence, timestamp and SSRC of the mixer's stream toward a leg.
#[derive(Debug, Default, Clone, Copy)]
struct MixOut {
    seq: u16,
    ts: u32,
    ssrc: u32,
}

impl LegState {
    fn new(hint: Option<SocketAddr>, now: Instant) -> Self {
        LegState {
            hint,
            dest: hint,
            latched: None,
            latched_ssrc: None,
            generation: 0,
            relatch_armed: false,
            direction: MediaDirection::SendRecv,
            timeout_base: now,
            timed_out: false,
            seq: SeqTracker::default(),
            stats: LegStats::default(),
            out: OutStream::default(),
            format: LegFormat::default(),
            play: None,
            dtmf: DtmfDetector::new(8000, DTMF_END_TIMEOUT),
            decoded: None,
            inband: None,
            mix_in: None,
            mix_out: MixOut::default(),
            mix_heard: None,
        }
    }
}

/// At most this many undelivered events are kept; older ones are dropped.
const MAX_EVENTS: usize = 64;
/// A key press whose end packets were all lost is reported after this much quiet.
const DTMF_END_TIMEOUT: Duration = Duration::from_millis(300);
/// The latch generation that marks hotline's own playback as a source of a leg's out-stream.
const PLAYBACK_GENERATION: u32 = u32::MAX;
/// The latch generation that marks the conference mixer as a source of a leg's out-stream.
const MIX_GENERATION: u32 = u32::MAX - 1;

/// The state of one two-party bridge.
#[derive(Debug)]
pub struct BridgeCore {
    cfg: BridgeConfig,
    legs: [LegState; 2],
    events: VecDeque<BridgeEvent>,
    /// When the next recorded 20 ms frame is due, while the call is recorded.
    record_due: Option<Instant>,
    /// Each leg's RTCP address, reports and receive quality.
    rtcp: [RtcpLeg; 2],
}

impl BridgeCore {
    /// A bridge whose legs' SDP addresses are `hint_a` and `hint_b` (None when not yet known).
    pub fn new(
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
        cfg: BridgeConfig,
        now: Instant,
    ) -> Self {
        BridgeCore {
            cfg,
            legs: [LegState::new(hint_a, now), LegState::new(hint_b, now)],
            events: VecDeque::with_capacity(MAX_EVENTS),
            record_due: None,
            rtcp: [
                RtcpLeg::new(hint_a, cfg.clock_rate),
                RtcpLeg::new(hint_b, cfg.clock_rate),
            ],
        }
    }

    fn leg(&self, l: Leg) -> &LegState {
        &self.legs[l.index()]
    }
    fn leg_mut(&mut self, l: Leg) -> &mut LegState {
        &mut self.legs[l.index()]
    }

    fn push_event(&mut self, e: BridgeEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// Handles a datagram that arrived on `leg`'s socket from `src`. On [`Verdict::Forward`], `buf` has been
    /// rewritten in place and must be sent from the other leg's socket.
    pub fn on_packet(
        &mut self,
        leg: Leg,
        src: SocketAddr,
        buf: &mut [u8],
        now: Instant,
    ) -> Verdict {
        let kind = classify(buf);
        let (ssrc, seq, ts) = match kind {
            PacketKind::Rtp => match RtpPacketMut::parse(buf) {
                Ok(p) => {
                    let v = p.view();
                    (v.ssrc(), v.sequence(), v.timestamp())
                }
                Err(_) => return self.drop_malformed(leg),
            },
            PacketKind::Rtcp => (0, 0, 0),
            PacketKind::Other => return self.drop_malformed(leg),
        };
        let relatch_after = self.cfg.relatch_after_silence;
        let st = self.leg_mut(leg);
        if st.latched != Some(src) {
            let may_latch = kind == PacketKind::Rtp
                && match st.latched {
                    None => true,
                    Some(_) => {
                        let silent = st
                            .stats
                            .last_rx
                            .is_none_or(|t| now.saturating_duration_since(t) >= relatch_after);
                        let rearmed = st.relatch_armed
                            && (st.latched_ssrc != Some(ssrc) || st.hint == Some(src));
                        silent || rearmed
                    }
                };
            if !may_latch {
                st.stats.dropped_hijack += 1;
                return Verdict::Drop(DropReason::Hijack);
            }
            st.latched = Some(src);
            st.dest = Some(src);
            st.generation = st.generation.wrapping_add(1);
            st.relatch_armed = false;
            st.stats.latched = Some(src);
            self.push_event(BridgeEvent::Latched { leg, addr: src });
        }
        let st = &mut self.legs[leg.index()];
        st.stats.last_rx = Some(now);
        st.timed_out = false;
        st.stats.rx_packets += 1;
        st.stats.rx_bytes += buf.len() as u64;
        let generation = st.generation;
        if kind == PacketKind::Rtp {
            st.latched_ssrc = Some(ssrc);
            st.seq.update(ssrc, seq);
            if Some(buf[1] & 0x7f) != st.format.dtmf_payload_type {
                self.rtcp[leg.index()].on_audio(ssrc, seq, ts, now);
            }
            let taps = st.decoded.is_some() || st.inband.is_some() || st.mix_in.is_some();
            if taps || st.format.dtmf_payload_type.is_some() {
                if let Ok(p) = RtpPacketMut::parse(buf) {
                    let v = p.view();
                    let (pt, payload) = (v.payload_type(), v.payload());
                    if Some(pt) == st.format.dtmf_payload_type {
                        // A malformed event is the sender's problem; the packet is still relayed.
                        let _ = st.dtmf.on_packet(ts, v.marker(), payload, now);
                    } else if taps {
                        // Events, comfort noise, other packet times: not audio to decode.
                        let decode: Option<fn(u8) -> i16> = match (pt, payload.len()) {
                            (0, FRAME_SAMPLES) => Some(g711::ulaw_decode),
                            (8, FRAME_SAMPLES) => Some(g711::alaw_decode),
                            _ => None,
                        };
                        if let Some(d) = decode {
                            let mut pcm = [0i16; FRAME_SAMPLES];
                            for (o, &b) in pcm.iter_mut().zip(payload) {
                                *o = d(b);
                            }
                            if let Some(jb) = st.decoded.as_mut() {
                                let _ = jb.push(ssrc, seq, ts, &pcm, now);
                            }
                            // A held leg is heard by nobody in its conference.
                            if st.direction.endpoint_sends() {
                                if let Some(jb) = st.mix_in.as_mut() {
                                    let _ = jb.push(ssrc, seq, ts, &pcm, now);
                                }
                            }
                            if let Some(det) = st.inband.as_mut() {
                                det.push(&pcm, now);
                            }
                        }
                    }
                }
                self.drain_digits(leg);
            }
        } else {
            self.leg_mut(leg).stats.rtcp_packets += 1;
            // rtcp-mux (RFC 5761): reports arrive on the RTP port.
            self.read_rtcp(leg, buf, now);
        }
        if self.legs.iter().any(|l| l.mix_in.is_some()) {
            // Conference legs hear the mixer, not each other's packets (RTCP included: its reports
            // would describe streams the far end never gets).
            return Verdict::Drop(DropReason::Mixed);
        }
        let st = self.leg_mut(leg);
        // Hold stops RTP only: RTCP keeps flowing in every direction (RFC 3264 §5.1).
        let is_rtp = kind == PacketKind::Rtp;
        if is_rtp && !st.direction.endpoint_sends() {
            st.stats.dropped_held += 1;
            return Verdict::Drop(DropReason::Held);
        }
        let clock_rate = self.cfg.clock_rate;
        let dst = self.leg_mut(leg.other());
        if is_rtp && !dst.direction.endpoint_receives() {
            self.leg_mut(leg).stats.dropped_held += 1;
            return Verdict::Drop(DropReason::Held);
        }
        if is_rtp && dst.play.is_some() {
            return Verdict::Drop(DropReason::Playing);
        }
        let Some(to) = dst.dest else {
            return Verdict::Drop(DropReason::NoDestination);
        };
        match kind {
            PacketKind::Rtp => {
                let r = dst
                    .out
                    .map(SourceId { ssrc, generation }, seq, ts, now, clock_rate);
                if r.changed {
                    if let Ok(mut p) = RtpPacketMut::parse(buf) {
                        p.set_ssrc(r.ssrc);
                        p.set_sequence(r.seq);
                        p.set_timestamp(r.ts);
                        if r.force_marker {
                            p.set_marker(true);
                        }
                    }
                }
            }
            _ => {
                // Keep RTCP's sender SSRC consistent with the rewritten RTP.
                if let (Some(i), Some(o)) = (dst.out.in_ssrc(), dst.out.out_ssrc()) {
                    if i != o {
                        rtcp::rewrite_sender_ssrc(buf, i, o);
                    }
                }
            }
        }
        dst.stats.tx_packets += 1;
        dst.stats.tx_bytes += buf.len() as u64;
        Verdict::Forward { to }
    }

    fn drop_malformed(&mut self, leg: Leg) -> Verdict {
        self.leg_mut(leg).stats.dropped_malformed += 1;
        Verdict::Drop(DropReason::Malformed)
    }

    /// A re-INVITE gave `leg` a new SDP address: send there now, and let a new source with a new SSRC (or
    /// from exactly this address) re-latch.
    pub fn update_remote(&mut self, leg: Leg, addr: SocketAddr, now: Instant) {
        self.rtcp[leg.index()].set_hint(addr);
        let st = self.leg_mut(leg);
        st.hint = Some(addr);
        st.dest = Some(addr);
        st.relatch_armed = true;
        st.timeout_base = now;
        st.timed_out = false;
    }

    /// Sets the direction `leg`'s endpoint declared (hold / retrieve).
    pub fn set_direction(&mut self, leg: Leg, dir: MediaDirection, now: Instant) {
        let st = self.leg_mut(leg);
        st.direction = dir;
        st.timeout_base = now;
        st.timed_out = false;
    }

    pub fn direction(&self, leg: Leg) -> MediaDirection {
        self.leg(leg).direction
    }

    /// Where `leg`'s media currently goes.
    pub fn destination(&self, leg: Leg) -> Option<SocketAddr> {
        self.leg(leg).dest
    }

    /// Counters of `leg`.
    pub fn stats(&self, leg: Leg) -> LegStats {
        let st = self.leg(leg);
        let mut s = st.stats;
        s.lost = st.seq.lost();
        s.expected = st.seq.expected();
        s.source_switches = st.out.switches();
        s
    }

    /// Checks the RTP timeout and digits left without end packets; call at least every second or so.
    /// Raises at most one timeout event per silence.
    pub fn handle_timeout(&mut self, now: Instant) {
        for leg in [Leg::A, Leg::B] {
            let st = self.leg_mut(leg);
            st.dtmf.handle_timeout(now);
            if let Some(det) = st.inband.as_mut() {
                det.handle_timeout(now);
            }
            self.drain_digits(leg);
        }
        let limit = self.cfg.rtp_timeout;
        for leg in [Leg::A, Leg::B] {
            let st = self.leg_mut(leg);
            if st.timed_out || !st.direction.endpoint_sends() {
                continue;
            }
            let since = st
                .stats
                .last_rx
                .map_or(st.timeout_base, |t| t.max(st.timeout_base));
            let silent_for = now.saturating_duration_since(since);
            if silent_for >= limit {
                st.timed_out = true;
                self.push_event(BridgeEvent::RtpTimeout { leg, silent_for });
            }
        }
    }

    /// The next instant at which [`Self::handle_timeout`] could raise an event.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .iter()
            .filter(|st| !st.timed_out && st.direction.endpoint_sends())
            .map(|st| {
                st.stats
                    .last_rx
                    .map_or(st.timeout_base, |t| t.max(st.timeout_base))
                    + self.cfg.rtp_timeout
            })
            .min()
    }

    /// Sets what `leg` negotiated (the codec of played audio, the telephone-event type to detect).
    pub fn set_format(&mut self, leg: Leg, format: LegFormat) {
        let st = self.leg_mut(leg);
        st.format = format;
        // No telephone-events negotiated: listen for the tones in the audio instead.
        st.inband = match format.dtmf_payload_type {
            None => Some(Box::default()),
            Some(_) => None,
        };
    }

    /// Plays `playback` to `leg` from now on, replacing whatever played there before.
    pub fn play(&mut self, leg: Leg, mut playback: Playback, now: Instant) {
        playback.next_due = now;
        self.leg_mut(leg).play = Some(playback);
    }

    /// Stops the playback to `leg`, if it is `id` (or any, with `None`); relayed audio resumes.
    pub fn stop_play(&mut self, leg: Leg, id: Option<u64>) -> bool {
        let st = self.leg_mut(leg);
        if st
            .play
            .as_ref()
            .is_some_and(|p| id.is_none_or(|i| p.id == i))
        {
            st.play = None;
            return true;
        }
        false
    }

    /// Starts assembling recorded frames (caller = leg A on the left, callee = leg B on the right).
    pub fn start_recording(&mut self, now: Instant) {
        for st in &mut self.legs {
            st.decoded = Some(Box::new(JitterBuffer::new(JitterConfig::default())));
        }
        self.record_due = Some(now + PTIME);
    }

    pub fn stop_recording(&mut self) {
        for st in &mut self.legs {
            st.decoded = None;
        }
        self.record_due = None;
    }

    pub fn is_recording(&self) -> bool {
        self.record_due.is_some()
    }

    /// The next recorded frame, when one is due (call until `None`); a leg with nothing to
    /// play out gives silence so both channels keep the call's timeline.
    pub fn poll_record(&mut self, now: Instant) -> Option<RecordFrame> {
        let due = self.record_due?;
        if due > now {
            return None;
        }
        // A stalled worker catches up by at most a second; the recorder keeps time by frames.
        self.record_due = Some(
            if now.saturating_duration_since(due) > Duration::from_secs(1) {
                now + PTIME
            } else {
                due + PTIME
            },
        );
        let mut side = |leg: Leg| {
            let jb = self.legs[leg.index()].decoded.as_mut()?;
            match jb.pop(now) {
                (pcm, PopKind::Played | PopKind::Concealed) => Some(pcm),
                (_, PopKind::Silence) => None,
            }
        };
        let left = side(Leg::A);
        let mut right = side(Leg::B);
        // In a conference the caller hears more than the agent (a consulted party, a barging
        // supervisor): the right channel is then everything the caller hears.
        if self.legs[Leg::A.index()].mix_in.is_some() {
            right = self.legs[Leg::A.index()].mix_heard.as_deref().copied();
        }
        Some(RecordFrame { left, right })
    }

    /// When the next recorded frame is due.
    pub fn next_record_due(&self) -> Option<Instant> {
        self.record_due
    }

    /// Puts `leg` into a conference: its decoded audio is kept for the mixer ([`Self::mix_pop`]) and
    /// what it hears comes from [`Self::mix_transmit`]; nothing is relayed between this bridge's legs
    /// while either of them is mixed.
    pub fn join_mix(&mut self, leg: Leg) {
        let st = self.leg_mut(leg);
        if st.mix_in.is_none() {
            st.mix_in = Some(Box::new(JitterBuffer::new(JitterConfig::default())));
            st.mix_out = MixOut {
                seq: rand::random(),
                ts: rand::random(),
                ssrc: rand::random(),
            };
        }
    }

    /// Takes `leg` out of its conference; relaying resumes once neither leg is mixed.
    pub fn leave_mix(&mut self, leg: Leg) {
        let st = self.leg_mut(leg);
        st.mix_in = None;
        st.mix_heard = None;
    }

    pub fn in_mix(&self, leg: Leg) -> bool {
        self.leg(leg).mix_in.is_some()
    }

    /// The mixer's input from `leg` for the frame due now (None: silence, nothing arrived).
    pub fn mix_pop(&mut self, leg: Leg, now: Instant) -> Option<[i16; FRAME_SAMPLES]> {
        let jb = self.leg_mut(leg).mix_in.as_mut()?;
        match jb.pop(now) {
            (pcm, PopKind::Played | PopKind::Concealed) => Some(pcm),
            (_, PopKind::Silence) => None,
        }
    }

    /// Encodes the mixer's frame for `leg` into `out`, to be sent from `leg`'s socket to the address
    /// returned. Nothing goes out while a playback (music on hold, a prompt) has the leg, or while
    /// the leg's endpoint does not receive.
    pub fn mix_transmit(
        &mut self,
        leg: Leg,
        pcm: &[i16; FRAME_SAMPLES],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<SocketAddr> {
        let clock_rate = self.cfg.clock_rate;
        let st = &mut self.legs[leg.index()];
        st.mix_in.as_ref()?;
        match st.mix_heard.as_mut() {
            Some(h) => **h = *pcm,
            None => st.mix_heard = Some(Box::new(*pcm)),
        }
        let m = st.mix_out;
        st.mix_out.seq = m.seq.wrapping_add(1);
        st.mix_out.ts = m.ts.wrapping_add(FRAME_SAMPLES as u32);
        if st.play.is_some() || !st.direction.endpoint_receives() {
            return None;
        }
        let to = st.dest?;
        let src = SourceId {
            ssrc: m.ssrc,
            generation: MIX_GENERATION,
        };
        let r = st.out.map(src, m.seq, m.ts, now, clock_rate);
        build_packet(out, &st.format, r.force_marker, r.seq, r.ts, r.ssrc, pcm);
        st.stats.tx_packets += 1;
        st.stats.tx_bytes += out.len() as u64;
        Some(to)
    }

    /// Whether hotline is playing to any leg.
    pub fn is_playing(&self) -> bool {
        self.legs.iter().any(|l| l.play.is_some())
    }

    /// When the next played frame is due.
    pub fn next_frame_due(&self) -> Option<Instant> {
        self.legs
            .iter()
            .filter_map(|l| l.play.as_ref().map(|p| p.next_due))
            .min()
    }

    /// The next played packet due at `now`: written into `out`, to be sent from `leg`'s own socket to
    /// the address returned. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<(Leg, SocketAddr)> {
        let clock_rate = self.cfg.clock_rate;
        for leg in [Leg::A, Leg::B] {
            loop {
                let st = &mut self.legs[leg.index()];
                let Some(p) = st.play.as_mut() else { break };
                if p.next_due > now {
                    break;
                }
                p.catch_up(now);
                let mut pcm = [0i16; FRAME_SAMPLES];
                if !p.next_frame(&mut pcm) {
                    let id = p.id;
                    st.play = None;
                    self.push_event(BridgeEvent::PlayDone { leg, id });
                    break;
                }
                let (seq, ts, ssrc) = (p.seq, p.ts, p.ssrc);
                p.seq = p.seq.wrapping_add(1);
                p.ts = p.ts.wrapping_add(FRAME_SAMPLES as u32);
                p.next_due += PTIME;
                p.frames += 1;
                // Held by the far end (it only sends): nothing goes out, but time moves on.
                let Some(to) = st.dest.filter(|_| st.direction.endpoint_receives()) else {
                    continue;
                };
                let src = SourceId {
                    ssrc,
                    generation: PLAYBACK_GENERATION,
                };
                let r = st.out.map(src, seq, ts, now, clock_rate);
                build_packet(out, &st.format, r.force_marker, r.seq, r.ts, r.ssrc, &pcm);
                st.stats.tx_packets += 1;
                st.stats.tx_bytes += out.len() as u64;
                return Some((leg, to));
            }
        }
        None
    }

    /// Reports the key presses the leg's detectors completed (RFC 4733 and in-band alike).
    fn drain_digits(&mut self, leg: Leg) {
        while let Some(d) = self.leg_mut(leg).dtmf.poll_digit() {
            if let Some(digit) = d.key {
                self.push_event(BridgeEvent::Digit {
                    leg,
                    digit,
                    duration_ms: d.duration_ms,
                });
            }
        }
        while let Some(d) = self
            .leg_mut(leg)
            .inband
            .as_mut()
            .and_then(|det| det.poll_digit())
        {
            self.push_event(BridgeEvent::Digit {
                leg,
                digit: d.digit,
                duration_ms: d.duration_ms,
            });
        }
    }

    /// Reads the reports of RTCP `leg` sent; a sender report in it is noted on the other leg,
    /// where it is relayed, to time that leg's answer to it.
    fn read_rtcp(&mut self, leg: Leg, buf: &[u8], now: Instant) {
        if let Some(mid) = self.rtcp[leg.index()].on_rtcp(buf, now) {
            self.rtcp[leg.other().index()].note_sr_relayed(mid, now);
        }
    }

    /// Handles a datagram that arrived on `leg`'s RTCP socket (the odd port) from `src`. On
    /// [`Verdict::Forward`], `buf` has been rewritten in place and must be sent from the other
    /// leg's RTCP socket. RTCP latches like RTP, but only from the host the leg's RTP comes
    /// from (or its SDP host before RTP latched), so a stranger cannot take it.
    pub fn on_rtcp_packet(
        &mut self,
        leg: Leg,
        src: SocketAddr,
        buf: &mut [u8],
        now: Instant,
    ) -> Verdict {
        let i = leg.index();
        if classify(buf) != PacketKind::Rtcp || rtcp::packets(buf).next().is_none_or(|p| p.is_err())
        {
            self.rtcp[i].port.dropped_malformed += 1;
            return Verdict::Drop(DropReason::Malformed);
        }
        let host = self.legs[i].latched.or(self.legs[i].hint).map(|a| a.ip());
        let relatch_after = self.cfg.relatch_after_silence;
        let r = &mut self.rtcp[i];
        if r.latched != Some(src) {
            let silent = r
                .last_rx
                .is_none_or(|t| now.saturating_duration_since(t) >= relatch_after);
            if host.is_some_and(|h| h != src.ip()) || (r.latched.is_some() && !silent) {
                r.port.dropped_hijack += 1;
                return Verdict::Drop(DropReason::Hijack);
            }
            r.latched = Some(src);
            r.dest = Some(src);
        }
        r.last_rx = Some(now);
        r.port.rx_packets += 1;
        self.legs[i].stats.rtcp_packets += 1;
        self.read_rtcp(leg, buf, now);
        if self.legs.iter().any(|l| l.mix_in.is_some()) {
            // In a conference the other leg hears the mixer, not this leg's stream: its reports
            // would describe a stream it never got. They still count for this leg's quality.
            return Verdict::Drop(DropReason::Mixed);
        }
        let o = leg.other().index();
        let Some(to) = self.rtcp[o].dest else {
            self.rtcp[o].port.dropped_no_destination += 1;
            return Verdict::Drop(DropReason::NoDestination);
        };
        // Keep the sender SSRC consistent with the RTP the other leg receives (source switches).
        let out = &self.legs[o].out;
        if let (Some(from), Some(to_ssrc)) = (out.in_ssrc(), out.out_ssrc()) {
            if from != to_ssrc {
                rtcp::rewrite_sender_ssrc(buf, from, to_ssrc);
            }
        }
        self.rtcp[o].port.tx_packets += 1;
        Verdict::Forward { to }
    }

    /// Where `leg`'s RTCP goes (its latched RTCP source, else its SDP address's port + 1).
    pub fn rtcp_destination(&self, leg: Leg) -> Option<SocketAddr> {
        self.rtcp[leg.index()].dest
    }

    /// Counters of `leg`'s RTCP port.
    pub fn rtcp_stats(&self, leg: Leg) -> RtcpPortStats {
        self.rtcp[leg.index()].port_stats()
    }

    /// `leg`'s quality so far: loss and jitter of what it sent, what its endpoint reported.
    pub fn quality(&self, leg: Leg) -> LegQualityReport {
        let seq = &self.leg(leg).seq;
        self.rtcp[leg.index()].report(seq.received(), seq.expected(), seq.lost())
    }

    /// Next event for the call, if any.
    pub fn poll_event(&mut self) -> Option<BridgeEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::{RtpHeader, RtpPacket};

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], p))
    }

    fn pkt(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
        .to_vec(&[0xd5; 160])
    }

    fn cfg() -> BridgeConfig {
        BridgeConfig {
            rtp_timeout: Duration::from_secs(5),
            relatch_after_silence: Duration::from_secs(2),
            clock_rate: 8000,
        }
    }

    #[test]
    fn forwards_to_hint_then_to_latched_source() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(Some(addr(1000)), Some(addr(2000)), cfg(), t0);
        let mut p = pkt(1, 1, 0);
        assert_eq!(
            b.on_packet(Leg::A, addr(1000), &mut p, t0),
            Verdict::Forward { to: addr(2000) }
        );
        // B is behind NAT: it sends from 2222, which latches B's destination.
        let mut q = pkt(2, 1, 0);
        assert_eq!(
            b.on_packet(Leg::B, addr(2222), &mut q, t0),
            Verdict::Forward { to: addr(1000) }
        );
        let mut p = pkt(1, 2, 160);
        assert_eq!(
            b.on_packet(Leg::A, addr(1000), &mut p, t0),
            Verdict::Forward { to: addr(2222) }
        );
        assert_eq!(
            b.poll_event(),
            Some(BridgeEvent::Latched {
                leg: Leg::A,
                addr: addr(1000)
            })
        );
        assert_eq!(
            b.poll_event(),
            Some(BridgeEvent::Latched {
                leg: Leg::B,
                addr: addr(2222)
            })
        );
        assert_eq!(b.poll_event(), None);
        let sa = b.stats(Leg::A);
        assert_eq!((sa.rx_packets, sa.tx_packets, sa.rx_bytes), (2, 1, 2 * 172));
    }

    #[test]
    fn hijack_refused_until_silence() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(None, Some(addr(2000)), cfg(), t0);
        b.on_packet(Leg::A, addr(1000), &mut pkt(1, 1, 0), t0);
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(
            b.on_packet(Leg::A, addr(6666), &mut pkt(99, 1, 0), t1),
            Verdict::Drop(DropReason::Hijack)
        );
        // RTCP never latches either.
        let mut rr = [0x80, 201, 0, 1, 0, 0, 0, 99];
        assert_eq!(
            b.on_packet(Leg::A, addr(6666), &mut rr, t1),
            Verdict::Drop(DropReason::Hijack)
        );
        assert_eq!(b.stats(Leg::A).dropped_hijack, 2);
        assert_eq!(b.stats(Leg::A).latched, Some(addr(1000)));
        // After 2 s of silence from the latched source, a new one may take over.
        let t2 = t0 + Duration::from_millis(2100);
        assert!(matches!(
            b.on_packet(Leg::A, addr(6666), &mut pkt(99, 2, 0), t2),
            Verdict::Forward { .. }
        ));
        assert_eq!(b.stats(Leg::A).latched, Some(addr(6666)));
    }

    #[test]
    fn reinvite_relatches_on_new_ssrc_only() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(Some(addr(1000)), Some(addr(2000)), cfg(), t0);
        b.on_packet(Leg::B, addr(2000), &mut pkt(7, 1, 0), t0);
        b.update_remote(Leg::B, addr(3000), t0);
        assert_eq!(
            b.destination(Leg::B),
            Some(addr(3000)),
            "sends to the new SDP address at once"
        );
        // Same SSRC from a stranger: still refused.
        assert_eq!(
            b.on_packet(Leg::B, addr(4000), &mut pkt(7, 2, 160), t0),
            Verdict::Drop(DropReason::Hijack)
        );
        // The old source keeps working meanwhile.
        assert!(matches!(
            b.on_packet(Leg::B, addr(2000), &mut pkt(7, 3, 320), t0),
            Verdict::Forward { .. }
        ));
        // A new SSRC from a new port (the new endpoint behind NAT) latches.
        assert!(matches!(
            b.on_packet(Leg::B, addr(3001), &mut pkt(8, 100, 0), t0),
            Verdict::Forward { .. }
        ));
        assert_eq!(b.destination(Leg::B), Some(addr(3001)));
        // And the re-latch right is used up.
        assert_eq!(
            b.on_packet(Leg::B, addr(5000), &mut pkt(9, 1, 0), t0),
            Verdict::Drop(DropReason::Hijack)
        );
    }

    #[test]
    fn source_switch_is_rewritten_continuous() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(Some(addr(1000)), Some(addr(2000)), cfg(), t0);
        let mut last = None;
        for i in 0..5u16 {
            let mut p = pkt(0xaaaa, 100 + i, 8000 + 160 * i as u32);
            b.on_packet(
                Leg::A,
                addr(1000),
                &mut p,
                t0 + Duration::from_millis(20 * i as u64),
            );
            last = Some(p);
        }
        let last = last.unwrap();
        let lp = RtpPacket::parse(&last).unwrap();
        // Music on hold replaces A's source: new SSRC, unrelated seq/ts, same address.
        let mut p = pkt(0xbbbb, 9, 777);
        b.on_packet(Leg::A, addr(1000), &mut p, t0 + Duration::from_millis(100));
        let np = RtpPacket::parse(&p).unwrap();
        assert_eq!(np.ssrc(), 0xaaaa);
        assert_eq!(np.sequence(), lp.sequence() + 1);
        assert_eq!(np.timestamp(), lp.timestamp() + 160);
        assert!(np.marker());
        assert_eq!(np.payload(), &[0xd5; 160][..]);
        assert_eq!(b.stats(Leg::B).source_switches, 1);
    }

    #[test]
    fn hold_directions() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(Some(addr(1000)), Some(addr(2000)), cfg(), t0);
        b.set_direction(Leg::B, MediaDirection::SendOnly, t0);
        assert_eq!(
            b.on_packet(Leg::A, addr(1000), &mut pkt(1, 1, 0), t0),
            Verdict::Drop(DropReason::Held)
        );
        assert!(matches!(
            b.on_packet(Leg::B, addr(2000), &mut pkt(2, 1, 0), t0),
            Verdict::Forward { .. }
        ));
        b.set_direction(Leg::B, MediaDirection::Inactive, t0);
        assert_eq!(
            b.on_packet(Leg::B, addr(2000), &mut pkt(2, 2, 0), t0),
            Verdict::Drop(DropReason::Held)
        );
        let mut rr = [0x80, 201, 0, 1, 0, 0, 0, 2];
        assert!(
            matches!(
                b.on_packet(Leg::B, addr(2000), &mut rr, t0),
                Verdict::Forward { .. }
            ),
            "RTCP still flows while inactive"
        );
        b.set_direction(Leg::B, MediaDirection::SendRecv, t0);
        assert!(matches!(
            b.on_packet(Leg::A, addr(1000), &mut pkt(1, 2, 160), t0),
            Verdict::Forward { .. }
        ));
        assert_eq!(b.stats(Leg::A).dropped_held, 1);
        assert_eq!(b.stats(Leg::B).dropped_held, 1);
    }

    #[test]
    fn timeout_fires_once_and_not_while_held() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(Some(addr(1000)), Some(addr(2000)), cfg(), t0);
        b.set_direction(Leg::B, MediaDirection::RecvOnly, t0);
        b.on_packet(
            Leg::A,
            addr(1000),
            &mut pkt(1, 1, 0),
            t0 + Duration::from_secs(1),
        );
        while b.poll_event().is_some() {}
        assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(6)));
        b.handle_timeout(t0 + Duration::from_millis(5900));
        assert_eq!(b.poll_event(), None);
        b.handle_timeout(t0 + Duration::from_secs(6));
        assert_eq!(
            b.poll_event(),
            Some(BridgeEvent::RtpTimeout {
                leg: Leg::A,
                silent_for: Duration::from_secs(5)
            })
        );
        b.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(
            b.poll_event(),
            None,
            "B is recvonly (on hold) and A already reported"
        );
        // Media resumes: the timeout re-arms.
        b.on_packet(
            Leg::A,
            addr(1000),
            &mut pkt(1, 2, 160),
            t0 + Duration::from_secs(61),
        );
        b.handle_timeout(t0 + Duration::from_secs(70));
        assert!(matches!(
            b.poll_event(),
            Some(BridgeEvent::RtpTimeout { leg: Leg::A, .. })
        ));
    }

    #[test]
    fn malformed_and_no_destination() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(None, None, cfg(), t0);
        assert_eq!(
            b.on_packet(Leg::A, addr(1), &mut [0u8; 3], t0),
            Verdict::Drop(DropReason::Malformed)
        );
        let mut bad = pkt(1, 1, 0);
        bad[0] = 0x8f; // claims 15 CSRCs
        bad.truncate(20);
        assert_eq!(
            b.on_packet(Leg::A, addr(1), &mut bad, t0),
            Verdict::Drop(DropReason::Malformed)
        );
        assert_eq!(
            b.on_packet(Leg::A, addr(1), &mut pkt(1, 1, 0), t0),
            Verdict::Drop(DropReason::NoDestination)
        );
        assert_eq!(b.stats(Leg::A).dropped_malformed, 2);
    }

    #[test]
    fn loss_estimate_from_gaps() {
        let t0 = Instant::now();
        let mut b = BridgeCore::new(None, Some(addr(2)), cfg(), t0);
        for s in [1u16, 2, 5, 6, 10] {
            b.on_packet(Leg::A, addr(1), &mut pkt(3, s, 0), t0);
        }
        let s = b.stats(Leg::A);
        assert_eq!((s.expected, s.lost), (10, 5));
    }
}
