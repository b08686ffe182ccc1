//! Call-progress tones: a tone plan (frequencies, level, on/off cadence, repeat) with China's
//! defaults (YD/T 1970: 450 Hz at −10 dBm0), overridable from a `[tones]` config table, and a
//! sans-IO generator producing 20 ms frames of 8 kHz 16-bit audio.
//!
//! The oscillators run on through silent steps, so the phase is continuous across frames and
//! cadence steps, and each burst ramps in and out over 2 ms so cadence edges do not click.

use serde::Deserialize;
use std::f64::consts::TAU;

/// Samples per frame (20 ms at 8 kHz).
pub const FRAME: usize = 160;
const RATE: f64 = 8000.0;
/// Amplitude of a 0 dBm0 sine in 16-bit audio (a full-scale sine is +3.14 dBm0).
const DBM0_AMPLITUDE: f64 = 22_826.0;
/// Ramp at each end of a burst, in samples (2 ms).
const RAMP: u64 = 16;
const MAX_FREQS: usize = 4;
const MAX_STEP_MS: u32 = 60_000;
const MAX_STEPS: usize = 16;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToneError {
    #[error("a tone needs 1 to {MAX_FREQS} frequencies, got {0}")]
    FreqCount(usize),
    #[error("tone frequency {0} Hz is outside 20..3900 Hz")]
    Freq(f32),
    #[error("tone level {0} dBm0 is outside -60..=-3 dBm0 (or clips with several frequencies)")]
    Level(f32),
    #[error("tone cadence: {0}")]
    Cadence(&'static str),
}

/// One tone: each frequency at `level_dbm0`; `cadence_ms` alternates on, off, on, off... (empty =
/// continuous); with `repeat` the cadence loops, without it the tone ends after its last step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tone {
    pub freqs: Vec<f32>,
    #[serde(default = "default_level")]
    pub level_dbm0: f32,
    #[serde(default)]
    pub cadence_ms: Vec<u32>,
    #[serde(default = "yes")]
    pub repeat: bool,
}

fn default_level() -> f32 {
    -10.0
}

fn yes() -> bool {
    true
}

impl Tone {
    fn china(freq: f32, cadence_ms: &[u32], repeat: bool) -> Tone {
        Tone {
            freqs: vec![freq],
            level_dbm0: default_level(),
            cadence_ms: cadence_ms.to_vec(),
            repeat,
        }
    }

    pub fn validate(&self) -> Result<(), ToneError> {
        if self.freqs.is_empty() || self.freqs.len() > MAX_FREQS {
            return Err(ToneError::FreqCount(self.freqs.len()));
        }
        if let Some(&f) = self.freqs.iter().find(|f| !(20.0..=3900.0).contains(*f)) {
            return Err(ToneError::Freq(f));
        }
        // The frequencies add up: their peak sum must stay below full scale.
        let peak = self.freqs.len() as f64 * amplitude(self.level_dbm0);
        if !(-60.0..=-3.0).contains(&self.level_dbm0) || peak > 32767.0 {
            return Err(ToneError::Level(self.level_dbm0));
        }
        if self.cadence_ms.len() > MAX_STEPS {
            return Err(ToneError::Cadence("more than 16 steps"));
        }
        if self.cadence_ms.iter().any(|&ms| ms > MAX_STEP_MS) {
            return Err(ToneError::Cadence("a step longer than 60 s"));
        }
        if !self.cadence_ms.is_empty() && self.cadence_ms.iter().all(|&ms| ms == 0) {
            return Err(ToneError::Cadence("all steps are 0 ms"));
        }
        Ok(())
    }
}

fn amplitude(dbm0: f32) -> f64 {
    DBM0_AMPLITUDE * 10f64.powf(dbm0 as f64 / 20.0)
}

/// The tones hotline plays; a `[tones]` table overrides any of them, the rest keep China's values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TonePlan {
    pub dial: Tone,
    pub ringback: Tone,
    pub busy: Tone,
    pub congestion: Tone,
    pub call_waiting: Tone,
    pub beep: Tone,
}

impl Default for TonePlan {
    fn default() -> Self {
        TonePlan {
            dial: Tone::china(450.0, &[], true),
            ringback: Tone::china(450.0, &[1000, 4000], true),
            busy: Tone::china(450.0, &[350, 350], true),
            congestion: Tone::china(450.0, &[700, 700], true),
            call_waiting: Tone::china(450.0, &[400, 4000], true),
            beep: Tone::china(1000.0, &[250], false),
        }
    }
}

impl TonePlan {
    /// Checks every tone (call after deserialising a config).
    pub fn validate(&self) -> Result<(), (&'static str, ToneError)> {
        for (name, t) in [
            ("dial", &self.dial),
            ("ringback", &self.ringback),
            ("busy", &self.busy),
            ("congestion", &self.congestion),
            ("call_waiting", &self.call_waiting),
            ("beep", &self.beep),
        ] {
            t.validate().map_err(|e| (name, e))?;
        }
        Ok(())
    }
}

/// Plays one [`Tone`] frame by frame.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    /// Phase increment per sample, per frequency.
    steps: Vec<f64>,
    phases: Vec<f64>,
    amp: f64,
    /// Cadence in samples; empty = continuous.
    cadence: Vec<u64>,
    repeat: bool,
    /// Current cadence step and position in it.
    step: usize,
    pos: u64,
    done: bool,
}

impl ToneGenerator {
    pub fn new(tone: &Tone) -> Result<Self, ToneError> {
        tone.validate()?;
        let mut g = ToneGenerator {
            steps: tone.freqs.iter().map(|&f| TAU * f as f64 / RATE).collect(),
            phases: vec![0.0; tone.freqs.len()],
            amp: amplitude(tone.level_dbm0),
            cadence: tone.cadence_ms.iter().map(|&ms| ms as u64 * 8).collect(),
            repeat: tone.repeat,
            step: 0,
            pos: 0,
            done: false,
        };
        g.skip_finished_steps();
        Ok(g)
    }

    /// Whether a non-repeating tone has played out.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next 20 ms; `None` once a non-repeating tone has ended (the last frame is padded with silence).
    pub fn next_frame(&mut self) -> Option<[i16; FRAME]> {
        if self.done {
            return None;
        }
        let mut out = [0i16; FRAME];
        for o in out.iter_mut() {
            let gain = self.gain();
            let s: f64 = self.phases.iter().map(|p| p.sin()).sum();
            *o = (self.amp * gain * s).round().clamp(-32768.0, 32767.0) as i16;
            for (p, d) in self.phases.iter_mut().zip(&self.steps) {
                *p = (*p + d) % TAU;
            }
            self.advance();
        }
        Some(out)
    }

    /// Envelope at the current position: 0 in off steps and after the end, ramps at burst edges.
    fn gain(&self) -> f64 {
        if self.done {
            return 0.0;
        }
        if self.cadence.is_empty() {
            return 1.0;
        }
        if self.step % 2 == 1 {
            return 0.0;
        }
        let len = self.cadence[self.step];
        let edge = self.pos.min(len - 1 - self.pos.min(len - 1));
        if edge < RAMP {
            (edge as f64 + 0.5) / RAMP as f64
        } else {
            1.0
        }
    }

    fn advance(&mut self) {
        if self.cadence.is_empty() || self.done {
            return;
        }
        self.pos += 1;
        self.skip_finished_steps();
    }

    /// Moves past the steps played out, and 0 ms steps (validation ensures one is not 0).
    fn skip_finished_steps(&mut self) {
        if self.cadence.is_empty() {
            return;
        }
        while self.pos >= self.cadence[self.step] {
            self.pos = 0;
            self.step += 1;
            if self.step == self.cadence.len() {
                if !self.repeat {
                    self.done = true;
                    return;
                }
                self.step = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(t: &Tone, frames: usize) -> Vec<i16> {
        let mut g = ToneGenerator::new(t).unwrap();
        (0..frames)
            .map_while(|_| g.next_frame())
            .flatten()
            .collect()
    }

    /// On/off runs measured in 5 ms blocks: (on, length ms) alternating.
    fn runs(s: &[i16]) -> Vec<(bool, u32)> {
        let mut out: Vec<(bool, u32)> = Vec::new();
        for b in s.chunks(40) {
            let on = b.iter().any(|&x| x.abs() > 100);
            match out.last_mut() {
                Some((o, n)) if *o == on => *n += 5,
                _ => out.push((on, 5)),
            }
        }
        out
    }

    #[test]
    fn china_defaults() {
        let p = TonePlan::default();
        p.validate().unwrap();
        assert_eq!(p.ringback.cadence_ms, [1000, 4000]);
        assert_eq!(p.busy.cadence_ms, [350, 350]);
        assert_eq!(p.congestion.cadence_ms, [700, 700]);
        assert_eq!(p.call_waiting.cadence_ms, [400, 4000]);
        assert_eq!((p.beep.freqs[0], p.beep.repeat), (1000.0, false));
        assert!(p.dial.cadence_ms.is_empty());
    }

    #[test]
    fn frequency_and_level() {
        let s = play(&TonePlan::default().dial, 50); // 1 s
        let rising = s.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        assert!(rising.abs_diff(450) <= 1, "{rising}");
        let rms = (s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        let want = amplitude(-10.0) / 2f64.sqrt();
        assert!((rms / want - 1.0).abs() < 0.01, "{rms} {want}");
        let beep = play(&TonePlan::default().beep, 50);
        let rising = beep.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        assert_eq!(rising, 250);
    }

    #[test]
    fn cadences() {
        let p = TonePlan::default();
        let busy = runs(&play(&p.busy, 140)); // 2.8 s = 4 cycles
        assert_eq!(&busy[..8], &[(true, 350), (false, 350)].repeat(4)[..]);
        let ring = runs(&play(&p.ringback, 500)); // 10 s = 2 cycles
        assert_eq!(ring, [(true, 1000), (false, 4000)].repeat(2));
        let cw = runs(&play(&p.call_waiting, 220));
        assert_eq!(&cw[..2], &[(true, 400), (false, 4000)]);
        let cong = runs(&play(&p.congestion, 70));
        assert_eq!(cong, [(true, 700), (false, 700)]);
    }

    #[test]
    fn a_non_repeating_tone_ends() {
        let mut g = ToneGenerator::new(&TonePlan::default().beep).unwrap();
        let frames: Vec<_> = std::iter::from_fn(|| g.next_frame()).take(100).collect();
        assert_eq!(frames.len(), 13); // 250 ms in 20 ms frames, the last padded
        assert!(g.is_done());
        assert!(frames[12][80..].iter().all(|&x| x == 0));
        assert!(frames[12][..60].iter().any(|&x| x != 0));
    }

    #[test]
    fn zero_length_steps_are_skipped() {
        // Starts in the off step; a leading 0 ms burst must not underflow anything.
        let t = Tone {
            freqs: vec![600.0],
            level_dbm0: -10.0,
            cadence_ms: vec![0, 100, 200, 0],
            repeat: false,
        };
        assert_eq!(runs(&play(&t, 100)), [(false, 100), (true, 200)]);
    }

    #[test]
    fn phase_is_continuous_across_frames_and_steps() {
        // Steps that do not fit whole frames: away from the ramps every sample equals one global sine.
        let t = Tone {
            freqs: vec![450.0],
            level_dbm0: -10.0,
            cadence_ms: vec![30, 17, 45, 8],
            repeat: true,
        };
        let s = play(&t, 30);
        let a = amplitude(-10.0);
        let mut start = 0u64;
        let mut checked = 0;
        'outer: for _ in 0..20 {
            for (i, &ms) in t.cadence_ms.iter().enumerate() {
                let len = ms as u64 * 8;
                if i % 2 == 0 {
                    for n in start + RAMP..start + len - RAMP {
                        if n as usize >= s.len() {
                            break 'outer;
                        }
                        let want = a * (TAU * 450.0 * n as f64 / RATE).sin();
                        assert!((s[n as usize] as f64 - want).abs() <= 1.5, "sample {n}");
                        checked += 1;
                    }
                }
                start += len;
            }
        }
        assert!(checked > 2000);
        // Ramps: no step larger than the sine's own slope at a burst edge.
        let max_step = s
            .windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max();
        assert!(max_step.unwrap() as f64 <= a * TAU * 450.0 / RATE + 2.0);
    }

    #[test]
    fn config_overrides_and_errors() {
        #[derive(Deserialize)]
        struct Cfg {
            tones: TonePlan,
        }
        let c: Cfg = toml::from_str(
            "[tones]\nbusy = { freqs = [480, 620], level_dbm0 = -13, cadence_ms = [500, 500] }\n\
             beep = { freqs = [1400], cadence_ms = [100], repeat = false }\n",
        )
        .unwrap();
        assert_eq!(c.tones.busy.freqs, [480.0, 620.0]);
        assert_eq!(c.tones.beep.level_dbm0, -10.0);
        assert_eq!(c.tones.ringback, TonePlan::default().ringback);
        c.tones.validate().unwrap();
        assert!(toml::from_str::<Cfg>("[tones]\nbusy = { freq = [1] }").is_err());
        let bad = |f: &dyn Fn(&mut Tone)| {
            let mut t = TonePlan::default().busy;
            f(&mut t);
            ToneGenerator::new(&t).err().unwrap()
        };
        assert_eq!(bad(&|t| t.freqs.clear()), ToneError::FreqCount(0));
        assert_eq!(bad(&|t| t.freqs[0] = 5000.0), ToneError::Freq(5000.0));
        assert_eq!(bad(&|t| t.level_dbm0 = 0.0), ToneError::Level(0.0));
        assert_eq!(
            bad(&|t| {
                t.freqs = vec![400.0; 4];
                t.level_dbm0 = -4.0
            }),
            ToneError::Level(-4.0)
        );
        assert!(matches!(
            bad(&|t| t.cadence_ms = vec![0, 0]),
            ToneError::Cadence(_)
        ));
        assert!(matches!(
            bad(&|t| t.cadence_ms = vec![70_000]),
            ToneError::Cadence(_)
        ));
        assert!(matches!(
            bad(&|t| t.level_dbm0 = f32::NAN),
            ToneError::Level(_)
        ));
        let mut p = TonePlan::default();
        p.congestion.freqs.clear();
        assert_eq!(p.validate(), Err(("congestion", ToneError::FreqCount(0))));
    }
}
