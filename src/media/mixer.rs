//! A sans-IO N-party audio mixer on 20 ms frames (160 samples at 8 kHz): three-way calls (caller, agent,
//! department staff), supervisor monitor / whisper / barge, agent mute, conferences.
//!
//! Each tick the owner hands in the frames that arrived ([`Mixer::input`]; a party with none is silent)
//! and calls [`Mixer::mix`]; each party's output is the mix-minus of everyone it may hear, never itself,
//! added in 32 bits and saturated to 16. Who hears whom follows from the speakers' [`Mode`]s: every mode
//! hears everyone; it is how a party is *heard* that differs.
//!
//! Every listener–speaker pair has a gain (0 or 1 today) that moves linearly over one frame when modes
//! change, a party joins or leaves: a hard switch would cut a waveform mid-swing and click, and a gap
//! would drop syllables. No allocation and no locks on the tick, so it can run on a media thread.

use thiserror::Error;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

/// Unity gain in Q15 fixed point: `(sample * UNITY) >> 15 == sample` exactly.
const UNITY: i32 = 1 << 15;

/// How a party takes part. Every mode hears everyone; the mode says who hears *it*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Hears all, heard by all.
    Normal,
    /// A supervisor listening in: hears all, heard by none.
    Monitor,
    /// A supervisor coaching one party (the agent): hears all, heard only by `to`.
    Whisper { to: PartyId },
    /// A supervisor joining the call: as `Normal`, named apart for the CDR and the wallboard.
    Barge,
    /// Hears all, heard by none (the agent's mute; the caller may get a "请稍候" prompt from a player
    /// party meanwhile).
    Muted,
}

/// A party of one mixer; never reused within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartyId(pub u32);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MixerError {
    #[error("mixer: no party {0:?}")]
    UnknownParty(PartyId),
    #[error("mixer: a frame must hold {FRAME} samples, not {0}")]
    FrameLength(usize),
    #[error("mixer: a party cannot whisper to itself")]
    WhisperToSelf,
    #[error("mixer: at most {0} parties")]
    Full(usize),
}

/// The most parties one mixer takes: beyond that a conference belongs to a dedicated bridge, and the
/// pair matrix (N² gains) stays small.
pub const MAX_PARTIES: usize = 32;

struct Slot {
    id: PartyId,
    mode: Mode,
    /// Removed: its contribution ramps to zero on the next tick, then the slot frees.
    leaving: bool,
    input: [i16; FRAME],
    has_input: bool,
    output: [i16; FRAME],
}

/// The mixer of one call or conference.
pub struct Mixer {
    slots: Vec<Option<Slot>>,
    /// `cur[l * MAX_PARTIES + s]`: the gain (Q15) from speaker slot `s` to listener slot `l` at the end of
    /// the last tick; `tgt` what it should be. They differ only until the next tick.
    cur: Vec<i32>,
    tgt: Vec<i32>,
    next_id: u32,
    acc: [i32; FRAME],
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mixer {
    pub fn new() -> Self {
        Mixer {
            slots: Vec::new(),
            cur: vec![0; MAX_PARTIES * MAX_PARTIES],
            tgt: vec![0; MAX_PARTIES * MAX_PARTIES],
            next_id: 0,
            acc: [0; FRAME],
        }
    }

    /// Parties taking part (not counting those leaving on the next tick).
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().filter(|s| !s.leaving).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot_of(&self, id: PartyId) -> Result<usize, MixerError> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == id && !s.leaving))
            .ok_or(MixerError::UnknownParty(id))
    }

    /// Adds a party; its audio fades in over the next frame.
    pub fn add(&mut self, mode: Mode) -> Result<PartyId, MixerError> {
        if let Mode::Whisper { to } = mode {
            self.slot_of(to)?;
        }
        let free = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < MAX_PARTIES => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(MixerError::Full(MAX_PARTIES)),
        };
        let id = PartyId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        // Gains to and from a fresh slot start at 0 so it ramps in.
        for other in 0..MAX_PARTIES {
            self.cur[free * MAX_PARTIES + other] = 0;
            self.cur[other * MAX_PARTIES + free] = 0;
        }
        self.slots[free] = Some(Slot {
            id,
            mode,
            leaving: false,
            input: [0; FRAME],
            has_input: false,
            output: [0; FRAME],
        });
        self.retarget();
        Ok(id)
    }

    /// Removes a party: what others hear of it fades out over the next frame.
    pub fn remove(&mut self, id: PartyId) -> Result<(), MixerError> {
        let i = self.slot_of(id)?;
        if let Some(s) = self.slots[i].as_mut() {
            s.leaving = true;
        }
        // A whisper to the leaver now reaches nobody.
        self.retarget();
        Ok(())
    }

    pub fn mode(&self, id: PartyId) -> Result<Mode, MixerError> {
        let i = self.slot_of(id)?;
        Ok(self.slots[i].as_ref().map_or(Mode::Normal, |s| s.mode))
    }

    /// Changes a party's mode; the gains move over the next frame.
    pub fn set_mode(&mut self, id: PartyId, mode: Mode) -> Result<(), MixerError> {
        let i = self.slot_of(id)?;
        if let Mode::Whisper { to } = mode {
            if to == id {
                return Err(MixerError::WhisperToSelf);
            }
            self.slot_of(to)?;
        }
        if let Some(s) = self.slots[i].as_mut() {
            s.mode = mode;
        }
        self.retarget();
        Ok(())
    }

    /// Whether `listener` hears `speaker` (once the current ramp is over).
    pub fn hears(&self, listener: PartyId, speaker: PartyId) -> Result<bool, MixerError> {
        let (l, s) = (self.slot_of(listener)?, self.slot_of(speaker)?);
        Ok(self.tgt[l * MAX_PARTIES + s] != 0)
    }

    /// This tick's frame from a party (20 ms, 160 samples). Parties without one this tick are silent.
    pub fn input(&mut self, id: PartyId, frame: &[i16]) -> Result<(), MixerError> {
        if frame.len() != FRAME {
            return Err(MixerError::FrameLength(frame.len()));
        }
        let i = self.slot_of(id)?;
        if let Some(s) = self.slots[i].as_mut() {
            s.input.copy_from_slice(frame);
            s.has_input = true;
        }
        Ok(())
    }

    /// A party's output of the last [`Mixer::mix`].
    pub fn output(&self, id: PartyId) -> Result<&[i16; FRAME], MixerError> {
        let i = self.slot_of(id)?;
        self.slots[i]
            .as_ref()
            .map(|s| &s.output)
            .ok_or(MixerError::UnknownParty(id))
    }

    /// Every party and its output of the last [`Mixer::mix`].
    pub fn outputs(&self) -> impl Iterator<Item = (PartyId, &[i16; FRAME])> {
        self.slots
            .iter()
            .flatten()
            .filter(|s| !s.leaving)
            .map(|s| (s.id, &s.output))
    }

    /// Recomputes the target gains from the modes.
    fn retarget(&mut self) {
        for l in 0..self.slots.len() {
            for s in 0..self.slots.len() {
                let heard = match (&self.slots[l], &self.slots[s]) {
                    (Some(lp), Some(sp)) if l != s && !lp.leaving && !sp.leaving => match sp.mode {
                        Mode::Normal | Mode::Barge => true,
                        Mode::Monitor | Mode::Muted => false,
                        Mode::Whisper { to } => to == lp.id,
                    },
                    _ => false,
                };
                self.tgt[l * MAX_PARTIES + s] = if heard { UNITY } else { 0 };
            }
        }
    }

    /// Mixes this tick: every party's output from the inputs handed in since the last tick, which are
    /// then cleared (a party that sends nothing next tick is silent, not repeated).
    pub fn mix(&mut self) {
        let n = self.slots.len();
        for l in 0..n {
            if self.slots[l].as_ref().is_none_or(|s| s.leaving) {
                continue;
            }
            self.acc = [0; FRAME];
            for s in 0..n {
                if s == l {
                    continue;
                }
                let Some(sp) = self.slots[s].as_ref() else {
                    continue;
                };
                let k = l * MAX_PARTIES + s;
                let (from, to) = (self.cur[k], self.tgt[k]);
                if !sp.has_input || (from == 0 && to == 0) {
                    continue;
                }
                add_scaled(&mut self.acc, &sp.input, from, to);
            }
            if let Some(lp) = self.slots[l].as_mut() {
                for (o, a) in lp.output.iter_mut().zip(self.acc.iter()) {
                    *o = (*a).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                }
            }
        }
        // The ramps are done: targets become the current gains, leavers free their slots.
        for l in 0..n {
            for s in 0..n {
                let k = l * MAX_PARTIES + s;
                self.cur[k] = self.tgt[k];
            }
        }
        for slot in self.slots.iter_mut() {
            if slot.as_ref().is_some_and(|s| s.leaving) {
                *slot = None;
            } else if let Some(s) = slot.as_mut() {
                s.has_input = false;
            }
        }
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
    }
}

/// `acc += input × gain`, the gain going linearly from `from` to `to` across the frame (reaching `to` at
/// the last sample). Q15; unity and steady gains take the plain paths.
fn add_scaled(acc: &mut [i32; FRAME], input: &[i16; FRAME], from: i32, to: i32) {
    if from == to {
        if from == UNITY {
            for (a, x) in acc.iter_mut().zip(input.iter()) {
                *a += *x as i32;
            }
        } else {
            for (a, x) in acc.iter_mut().zip(input.iter()) {
                *a += (*x as i32 * from) >> 15;
            }
        }
        return;
    }
    let step = to - from;
    for (i, (a, x)) in acc.iter_mut().zip(input.iter()).enumerate() {
        let g = from + step * (i as i32 + 1) / FRAME as i32;
        *a += (*x as i32 * g) >> 15;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1 kHz tone of amplitude `amp`, frame `n` of a continuous signal.
    fn tone(amp: f64, n: usize) -> [i16; FRAME] {
        let mut f = [0i16; FRAME];
        for (i, s) in f.iter_mut().enumerate() {
            let t = (n * FRAME + i) as f64 / 8000.0;
            *s = (amp * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()).round() as i16;
        }
        f
    }

    /// Runs one tick with `speaker` sending `frame` and everyone else silent (no frame at all).
    fn tick_one(m: &mut Mixer, speaker: PartyId, frame: &[i16; FRAME]) {
        m.input(speaker, frame).unwrap();
        m.mix();
    }

    /// Injects a tone on `speaker` (after the join ramps are over) and checks that exactly `hearers`
    /// receive it, at the level sent, and every other party gets pure silence.
    fn assert_heard_by(m: &mut Mixer, speaker: PartyId, hearers: &[PartyId], what: &str) {
        // Settle any pending ramp with a silent tick.
        m.mix();
        for n in 0..5 {
            let t = tone(8000.0, n);
            tick_one(m, speaker, &t);
            for (id, out) in m.outputs() {
                if hearers.contains(&id) {
                    assert_eq!(
                        out, &t,
                        "{what}: {id:?} should hear {speaker:?} at the level sent"
                    );
                } else {
                    assert!(
                        out.iter().all(|&s| s == 0),
                        "{what}: {id:?} must not hear {speaker:?}"
                    );
                }
            }
        }
    }

    struct Call {
        m: Mixer,
        caller: PartyId,
        agent: PartyId,
        sup: PartyId,
    }

    fn call_with_supervisor(mode: impl FnOnce(PartyId) -> Mode) -> Call {
        let mut m = Mixer::new();
        let caller = m.add(Mode::Normal).unwrap();
        let agent = m.add(Mode::Normal).unwrap();
        let sup = m.add(mode(agent)).unwrap();
        Call {
            m,
            caller,
            agent,
            sup,
        }
    }

    #[test]
    fn monitor_hears_both_and_is_heard_by_none() {
        let Call {
            mut m,
            caller,
            agent,
            sup,
        } = call_with_supervisor(|_| Mode::Monitor);
        assert_heard_by(&mut m, caller, &[agent, sup], "monitor, caller speaks");
        assert_heard_by(&mut m, agent, &[caller, sup], "monitor, agent speaks");
        assert_heard_by(&mut m, sup, &[], "monitor, supervisor speaks");
    }

    #[test]
    fn whisper_is_heard_by_the_agent_only() {
        let Call {
            mut m,
            caller,
            agent,
            sup,
        } = call_with_supervisor(|agent| Mode::Whisper { to: agent });
        assert_heard_by(&mut m, sup, &[agent], "whisper, supervisor speaks");
        assert_heard_by(&mut m, caller, &[agent, sup], "whisper, caller speaks");
        assert_heard_by(&mut m, agent, &[caller, sup], "whisper, agent speaks");
    }

    #[test]
    fn barge_is_heard_by_all() {
        let Call {
            mut m,
            caller,
            agent,
            sup,
        } = call_with_supervisor(|_| Mode::Barge);
        assert_heard_by(&mut m, sup, &[caller, agent], "barge, supervisor speaks");
        assert_heard_by(&mut m, caller, &[agent, sup], "barge, caller speaks");
        assert_heard_by(&mut m, agent, &[caller, sup], "barge, agent speaks");
    }

    #[test]
    fn a_muted_agent_still_hears_the_caller_but_is_not_heard() {
        let mut m = Mixer::new();
        let caller = m.add(Mode::Normal).unwrap();
        let agent = m.add(Mode::Muted).unwrap();
        assert_heard_by(&mut m, agent, &[], "muted agent speaks");
        assert_heard_by(&mut m, caller, &[agent], "caller speaks to a muted agent");
        m.set_mode(agent, Mode::Normal).unwrap();
        assert_heard_by(&mut m, agent, &[caller], "unmuted agent speaks");
    }

    #[test]
    fn three_way_call_is_mix_minus_for_each_party() {
        let mut m = Mixer::new();
        let caller = m.add(Mode::Normal).unwrap();
        let agent = m.add(Mode::Normal).unwrap();
        let dept = m.add(Mode::Normal).unwrap();
        assert_heard_by(&mut m, caller, &[agent, dept], "caller speaks");
        assert_heard_by(&mut m, agent, &[caller, dept], "agent speaks");
        assert_heard_by(&mut m, dept, &[caller, agent], "department speaks");
        // All three at once: each hears the sum of the other two, never itself.
        let (a, b, c) = (tone(3000.0, 0), [1000i16; FRAME], [-700i16; FRAME]);
        m.input(caller, &a).unwrap();
        m.input(agent, &b).unwrap();
        m.input(dept, &c).unwrap();
        m.mix();
        for (i, &ai) in a.iter().enumerate() {
            assert_eq!(m.output(caller).unwrap()[i], 1000 - 700);
            assert_eq!(m.output(agent).unwrap()[i], ai - 700);
            assert_eq!(m.output(dept).unwrap()[i], ai + 1000);
        }
        // The caller hangs up, the agent keeps the department on the line.
        m.remove(caller).unwrap();
        m.mix();
        assert_heard_by(&mut m, agent, &[dept], "after the caller left");
        assert_eq!(m.len(), 2);
        assert_eq!(m.output(caller), Err(MixerError::UnknownParty(caller)));
    }

    #[test]
    fn a_party_without_a_frame_this_tick_is_silent_not_repeated() {
        let mut m = Mixer::new();
        let a = m.add(Mode::Normal).unwrap();
        let b = m.add(Mode::Normal).unwrap();
        m.mix();
        m.input(a, &[500; FRAME]).unwrap();
        m.mix();
        assert_eq!(m.output(b).unwrap(), &[500; FRAME]);
        m.mix();
        assert_eq!(
            m.output(b).unwrap(),
            &[0; FRAME],
            "a lost packet is silence"
        );
    }

    /// Largest step between consecutive output samples across the given frames.
    fn max_step(frames: &[[i16; FRAME]]) -> i32 {
        let all: Vec<i32> = frames.iter().flatten().map(|&s| s as i32).collect();
        all.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn switching_modes_mid_call_ramps_over_one_frame_without_clicks_or_gaps() {
        let Call {
            mut m,
            caller,
            agent,
            sup,
        } = call_with_supervisor(|_| Mode::Monitor);
        // The supervisor's line carries a constant level: any switch shows up undiluted by the signal.
        const LEVEL: i16 = 20_000;
        let dc = [LEVEL; FRAME];
        let mut heard_by_caller = Vec::new();
        let mut heard_by_agent = Vec::new();
        let script = [
            (3, Mode::Whisper { to: agent }),
            (6, Mode::Barge),
            (9, Mode::Whisper { to: agent }),
            (12, Mode::Muted),
            (15, Mode::Barge),
            (18, Mode::Monitor),
        ];
        for n in 0..21 {
            if let Some((_, mode)) = script.iter().find(|(at, _)| *at == n) {
                m.set_mode(sup, *mode).unwrap();
            }
            tick_one(&mut m, sup, &dc);
            heard_by_caller.push(*m.output(caller).unwrap());
            heard_by_agent.push(*m.output(agent).unwrap());
        }
        // A one-frame linear ramp moves at most LEVEL/160 per sample (plus rounding); a hard switch would
        // jump by LEVEL.
        let allowed = LEVEL as i32 / FRAME as i32 + 1;
        assert!(
            max_step(&heard_by_caller) <= allowed,
            "caller: {}",
            max_step(&heard_by_caller)
        );
        assert!(
            max_step(&heard_by_agent) <= allowed,
            "agent: {}",
            max_step(&heard_by_agent)
        );
        // The agent hears the supervisor through whisper → barge → whisper without a dip (no gap).
        for (n, f) in heard_by_agent.iter().enumerate().take(12).skip(4) {
            assert!(f.iter().all(|&s| s == LEVEL), "frame {n}: {:?}", &f[..4]);
        }
        // Each switch completes within its own frame: the frame after it is at the new level.
        let at = |v: &Vec<[i16; FRAME]>, n: usize| (v[n][0], v[n][FRAME - 1]);
        assert_eq!(
            at(&heard_by_caller, 5),
            (0, 0),
            "whisper is not heard by the caller"
        );
        // Barge ramps in over frame 6: first sample one step up (Q15 rounds down by at most 1), last at level.
        let (first, last) = at(&heard_by_caller, 6);
        assert!(
            (LEVEL / 160 - first).abs() <= 1 && last == LEVEL,
            "{first} {last}"
        );
        assert_eq!(at(&heard_by_caller, 7), (LEVEL, LEVEL));
        assert_eq!(
            at(&heard_by_caller, 9).1,
            0,
            "back to whisper ramps out within frame 9"
        );
        assert_eq!(
            at(&heard_by_agent, 12).1,
            0,
            "mute ramps out within frame 12"
        );
        assert_eq!(
            at(&heard_by_agent, 18).1,
            0,
            "monitor ramps out within frame 18"
        );
        assert!(heard_by_agent[20]
            .iter()
            .chain(&heard_by_caller[20])
            .all(|&s| s == 0));
    }

    #[test]
    fn joining_and_leaving_fade_in_and_out() {
        let mut m = Mixer::new();
        let a = m.add(Mode::Normal).unwrap();
        m.mix();
        let b = m.add(Mode::Normal).unwrap();
        tick_one(&mut m, b, &[16_000; FRAME]);
        let first = *m.output(a).unwrap();
        assert!(
            (99..=100).contains(&first[0]) && first[FRAME - 1] == 16_000,
            "{:?}",
            (first[0], first[FRAME - 1])
        );
        tick_one(&mut m, b, &[16_000; FRAME]);
        // Leaving after this tick's frame was handed in: it fades out rather than cutting.
        m.input(b, &[16_000; FRAME]).unwrap();
        m.remove(b).unwrap();
        m.mix();
        let last = *m.output(a).unwrap();
        assert!(
            (16_000 - last[0] - 100).abs() <= 1 && last[FRAME - 1] == 0,
            "{:?}",
            (last[0], last[FRAME - 1])
        );
        assert!(max_step(&[first, last]) <= 101);
        assert_eq!(m.len(), 1);
        assert_eq!(m.input(b, &[0; FRAME]), Err(MixerError::UnknownParty(b)));
    }

    #[test]
    fn ten_parties_at_full_scale_saturate_without_overflow() {
        let mut m = Mixer::new();
        let ids: Vec<PartyId> = (0..10).map(|_| m.add(Mode::Normal).unwrap()).collect();
        m.mix();
        for (k, extreme) in [(0, i16::MAX), (1, i16::MIN)] {
            for &id in &ids {
                m.input(id, &[extreme; FRAME]).unwrap();
            }
            m.mix();
            for &id in &ids {
                assert_eq!(m.output(id).unwrap(), &[extreme; FRAME], "round {k}");
            }
        }
        // Mixed signs cancel before saturating: 9 listeners' sum, not a clipped partial sum.
        for (i, &id) in ids.iter().enumerate() {
            let v = if i % 2 == 0 { i16::MAX } else { i16::MIN };
            m.input(id, &[v; FRAME]).unwrap();
        }
        m.mix();
        // Party 0 hears 4 × MAX and 5 × MIN = -32772 → clamps to MIN.
        assert_eq!(m.output(ids[0]).unwrap()[0], i16::MIN);
        // Party 1 hears 5 × MAX and 4 × MIN = 32763.
        assert_eq!(m.output(ids[1]).unwrap()[0], 32_763);
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let mut m = Mixer::new();
        let a = m.add(Mode::Normal).unwrap();
        assert_eq!(m.input(a, &[0; 80]), Err(MixerError::FrameLength(80)));
        assert_eq!(
            m.set_mode(a, Mode::Whisper { to: a }),
            Err(MixerError::WhisperToSelf)
        );
        assert_eq!(
            m.set_mode(a, Mode::Whisper { to: PartyId(99) }),
            Err(MixerError::UnknownParty(PartyId(99)))
        );
        assert_eq!(
            m.add(Mode::Whisper { to: PartyId(99) }),
            Err(MixerError::UnknownParty(PartyId(99)))
        );
        assert_eq!(
            m.remove(PartyId(99)),
            Err(MixerError::UnknownParty(PartyId(99)))
        );
        for _ in 1..MAX_PARTIES {
            m.add(Mode::Monitor).unwrap();
        }
        assert_eq!(m.add(Mode::Normal), Err(MixerError::Full(MAX_PARTIES)));
        // A freed slot is reused under a new id.
        m.remove(a).unwrap();
        m.mix();
        let b = m.add(Mode::Normal).unwrap();
        assert_ne!(a, b);
        assert_eq!(m.len(), MAX_PARTIES);
    }

    #[test]
    fn whispering_to_a_party_that_left_reaches_nobody() {
        let mut m = Mixer::new();
        let caller = m.add(Mode::Normal).unwrap();
        let agent = m.add(Mode::Normal).unwrap();
        let sup = m.add(Mode::Whisper { to: agent }).unwrap();
        m.remove(agent).unwrap();
        m.mix();
        assert_heard_by(&mut m, sup, &[], "whisper to a party that left");
        assert_eq!(m.mode(sup), Ok(Mode::Whisper { to: agent }));
        assert!(!m.hears(caller, sup).unwrap());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn mode_of(code: u8, whisper_to: PartyId) -> Mode {
            match code % 5 {
                0 => Mode::Normal,
                1 => Mode::Monitor,
                2 => Mode::Whisper { to: whisper_to },
                3 => Mode::Barge,
                _ => Mode::Muted,
            }
        }

        proptest! {
            /// Once the ramps are over, each output is exactly the sum of the inputs of the parties it may
            /// hear (a reference model of the mode rules), for any mix of modes and signals.
            #[test]
            fn steady_state_matches_the_reference_model(
                codes in proptest::collection::vec(any::<u8>(), 2..8),
                targets in proptest::collection::vec(any::<usize>(), 8),
                levels in proptest::collection::vec(-3000i16..3000, 8),
                present in proptest::collection::vec(any::<bool>(), 8),
            ) {
                let mut m = Mixer::new();
                let ids: Vec<PartyId> = codes.iter().map(|_| m.add(Mode::Normal).unwrap()).collect();
                let n = ids.len();
                let mut modes = Vec::new();
                for (i, &c) in codes.iter().enumerate() {
                    let to = ids[(i + 1 + targets[i] % (n - 1)) % n]; // never itself
                    let mode = mode_of(c, to);
                    m.set_mode(ids[i], mode).unwrap();
                    modes.push(mode);
                }
                m.mix(); // ramps
                for i in 0..n {
                    if present[i] {
                        m.input(ids[i], &[levels[i]; FRAME]).unwrap();
                    }
                }
                m.mix();
                for (l, &listener) in ids.iter().enumerate() {
                    let want: i32 = (0..n)
                        .filter(|&s| s != l && present[s])
                        .filter(|&s| match modes[s] {
                            Mode::Normal | Mode::Barge => true,
                            Mode::Monitor | Mode::Muted => false,
                            Mode::Whisper { to } => to == listener,
                        })
                        .map(|s| levels[s] as i32)
                        .sum();
                    let want = want.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                    prop_assert_eq!(m.output(listener).unwrap(), &[want; FRAME]);
                }
            }
        }
    }
}
