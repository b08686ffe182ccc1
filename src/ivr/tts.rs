//! Text-to-speech behind an interface: the media shell turns `PromptRef::Tts` into audio
//! with a [`TtsEngine`]. [`EspeakNg`] uses the espeak-ng program when a machine has it
//! (optional: hotline runs without it, and flows can stick to recorded prompts).
//! Synthesis is blocking; call it from a blocking task.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rubato::{FftFixedIn, Resampler};

/// Longest text synthesised at once.
pub const MAX_TTS_CHARS: usize = 500;
/// Longest a synthesis may take.
pub const TTS_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest engine output read (about 60 s of 22 kHz audio).
const MAX_WAV_BYTES: usize = 3 << 20;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TtsError {
    #[error("TTS engine not available: {0}")]
    Unavailable(String),
    #[error("TTS has no voice for language `{0}`")]
    Language(String),
    #[error("text of {0} characters is too long for TTS (at most {MAX_TTS_CHARS})")]
    TooLong(usize),
    #[error("TTS engine failed: {0}")]
    Failed(String),
}

/// Speech for a text.
pub trait TtsEngine: Send + Sync {
    /// 8 kHz mono 16-bit samples for `text` in `language`, at `rate` (0.7 = 30 % slower).
    fn synthesize(&self, text: &str, language: &str, rate: f32) -> Result<Vec<i16>, TtsError>;
}

/// The espeak-ng program (Debian package `espeak-ng`).
#[derive(Debug, Clone)]
pub struct EspeakNg {
    pub program: PathBuf,
    /// Words per minute at rate 1.0.
    pub base_wpm: u32,
}

impl EspeakNg {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        EspeakNg {
            program: program.into(),
            base_wpm: 185,
        }
    }

    /// `espeak-ng` from PATH, if it runs.
    pub fn detect() -> Option<Self> {
        let ok = Command::new("espeak-ng")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| EspeakNg::new("espeak-ng"))
    }

    fn voice(language: &str) -> Option<&'static str> {
        match language {
            "zh-CN" | "zh" | "cmn" => Some("cmn"),
            "en" | "en-US" | "en-GB" => Some("en"),
            _ => None,
        }
    }
}

impl TtsEngine for EspeakNg {
    fn synthesize(&self, text: &str, language: &str, rate: f32) -> Result<Vec<i16>, TtsError> {
        let n = text.chars().count();
        if n > MAX_TTS_CHARS {
            return Err(TtsError::TooLong(n));
        }
        let voice = Self::voice(language).ok_or_else(|| TtsError::Language(language.into()))?;
        let rate = if rate.is_finite() {
            rate.clamp(0.5, 2.0)
        } else {
            1.0
        };
        let wpm = ((self.base_wpm as f32) * rate).round() as u32;
        // The text goes through stdin so that it can never be read as an option.
        let mut child = Command::new(&self.program)
            .args(["-v", voice, "-s", &wpm.to_string(), "--stdout"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TtsError::Unavailable(format!("{}: {e}", self.program.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| TtsError::Failed(e.to_string()))?;
        }
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| TtsError::Failed("no output pipe".into()))?;
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut stdout)
                .take(MAX_WAV_BYTES as u64)
                .read_to_end(&mut buf);
            buf
        });
        let deadline = Instant::now() + TTS_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TtsError::Failed("timed out".into()));
                }
            }
        }
        let wav = reader
            .join()
            .map_err(|_| TtsError::Failed("reader thread failed".into()))?;
        let (rate_in, samples) = parse_wav(&wav).map_err(TtsError::Failed)?;
        resample_to_8k(&samples, rate_in).map_err(TtsError::Failed)
    }
}

/// Mono 16-bit PCM from a WAV byte stream (tolerates streaming headers with bogus sizes).
pub fn parse_wav(b: &[u8]) -> Result<(u32, Vec<i16>), String> {
    let u16_at = |i: usize| b.get(i..i + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32_at = |i: usize| {
        b.get(i..i + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    if b.get(0..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WAVE") {
        return Err("not a WAV file".into());
    }
    let mut i = 12;
    let mut rate = None;
    for _ in 0..32 {
        let id = b.get(i..i + 4).ok_or("no data chunk")?;
        let len = u32_at(i + 4).ok_or("truncated chunk")? as usize;
        if id == b"fmt " {
            let format = u16_at(i + 8).ok_or("truncated fmt")?;
            let channels = u16_at(i + 10).ok_or("truncated fmt")?;
            let bits = u16_at(i + 22).ok_or("truncated fmt")?;
            if format != 1 || channels != 1 || bits != 16 {
                return Err(format!(
                    "unsupported WAV: format {format}, {channels} channels, {bits} bits"
                ));
            }
            rate = Some(u32_at(i + 12).ok_or("truncated fmt")?);
        } else if id == b"data" {
            let rate = rate.ok_or("data before fmt")?;
            let data = &b[(i + 8).min(b.len())..];
            let data = &data[..data.len().min(len)];
            let samples = data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok((rate, samples));
        }
        i = i.saturating_add(8).saturating_add(len + (len & 1));
    }
    Err("no data chunk".into())
}

/// Resamples mono audio to 8 kHz.
pub fn resample_to_8k(samples: &[i16], rate_in: u32) -> Result<Vec<i16>, String> {
    if rate_in == 8000 {
        return Ok(samples.to_vec());
    }
    if !(4000..=192_000).contains(&rate_in) {
        return Err(format!("unsupported sample rate {rate_in}"));
    }
    let mut r =
        FftFixedIn::<f32>::new(rate_in as usize, 8000, 1024, 2, 1).map_err(|e| e.to_string())?;
    let input: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
    let mut out: Vec<f32> = Vec::with_capacity(input.len() * 8000 / rate_in as usize + 1024);
    let mut pos = 0;
    while input.len() - pos >= r.input_frames_next() {
        let n = r.input_frames_next();
        let o = r
            .process(&[&input[pos..pos + n]], None)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&o[0]);
        pos += n;
    }
    let o = r
        .process_partial(Some(&[&input[pos..]]), None)
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(&o[0]);
    let o = r
        .process_partial::<&[f32]>(None, None)
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(&o[0]);
    // Drop the resampler's delay and its zero padding.
    let delay = r.output_delay();
    let want = (samples.len() as u64 * 8000 / rate_in as u64) as usize;
    Ok(out
        .iter()
        .skip(delay)
        .take(want)
        .map(|&x| (x * 32768.0).clamp(-32768.0, 32767.0) as i16)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
        let mut c = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut c, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
        c.into_inner()
    }

    #[test]
    fn parses_and_resamples_a_tone() {
        // 1 s of 440 Hz at 22050 Hz → 8000 samples, still a 440 Hz tone.
        let tone: Vec<i16> = (0..22050)
            .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 22050.0).sin() * 12000.0) as i16)
            .collect();
        let (rate, s) = parse_wav(&wav(22050, &tone)).unwrap();
        assert_eq!((rate, s.len()), (22050, 22050));
        let out = resample_to_8k(&s, rate).unwrap();
        assert_eq!(out.len(), 8000);
        let crossings = out
            .windows(2)
            .skip(100)
            .take(7800)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        // 440 Hz has 880 zero crossings a second; 7800 samples ≈ 0.975 s.
        assert!((850..=866).contains(&crossings), "{crossings}");
        let peak = out.iter().map(|x| x.unsigned_abs()).max().unwrap();
        assert!((11000..=13000).contains(&peak), "{peak}");
    }

    #[test]
    fn rejects_bad_wavs() {
        assert!(parse_wav(b"").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEfmt ").is_err());
        let mut stereo = wav(8000, &[1, 2, 3, 4]);
        stereo[22] = 2;
        assert!(parse_wav(&stereo).is_err());
        assert!(resample_to_8k(&[0; 10], 100).is_err());
    }

    #[test]
    fn espeak_ng_when_installed_otherwise_a_clear_error() {
        match EspeakNg::detect() {
            Some(e) => {
                let normal = e.synthesize("您好，欢迎致电", "zh-CN", 1.0).unwrap();
                let slow = e.synthesize("您好，欢迎致电", "zh-CN", 0.7).unwrap();
                assert!(
                    normal.len() > 4000 && normal.len() < 80_000,
                    "{}",
                    normal.len()
                );
                assert!(
                    slow.len() > normal.len() * 12 / 10,
                    "{} vs {}",
                    slow.len(),
                    normal.len()
                );
                assert_eq!(
                    e.synthesize("x", "ug", 1.0),
                    Err(TtsError::Language("ug".into()))
                );
            }
            None => {
                let e = EspeakNg::new("/nonexistent/espeak-ng");
                assert!(matches!(
                    e.synthesize("您好", "zh-CN", 1.0),
                    Err(TtsError::Unavailable(_))
                ));
            }
        }
        let e = EspeakNg::new("/nonexistent/espeak-ng");
        assert!(matches!(
            e.synthesize(&"长".repeat(501), "zh-CN", 1.0),
            Err(TtsError::TooLong(501))
        ));
    }
}
