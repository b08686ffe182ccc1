//! Prompt audio: files in WAV, MP3, FLAC or Ogg Vorbis decoded once with symphonia, downmixed to mono,
//! resampled with rubato to 8 kHz 16-bit, and kept in a [`PromptCache`] shared by every call, so a
//! prompt starts without touching the disk after its first use (or after [`PromptCache::preload`]).
//!
//! Decoding is blocking and bounded: a file longer than [`MAX_PROMPT_SECS`] is refused, both from the
//! length its header announces (before decoding anything) and while decoding streams whose length is
//! unknown, and resampling runs chunk by chunk so memory stays at the size of the 8 kHz result.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Output sample rate of every decoded prompt.
pub const PROMPT_RATE: u32 = 8000;
/// Longest prompt accepted (music on hold included), in seconds.
pub const MAX_PROMPT_SECS: u64 = 600;
/// File extensions tried, in this order, for a prompt name.
pub const PROMPT_EXTENSIONS: [&str; 4] = ["wav", "mp3", "flac", "ogg"];

/// Source rates accepted; outside this the file is almost certainly damaged.
const MIN_RATE: u32 = 1000;
const MAX_RATE: u32 = 384_000;
/// Packets that fail to decode are skipped (a damaged MP3 frame should not lose the whole prompt),
/// but this many in a row means the file is not audio we can use.
const MAX_BAD_PACKETS_IN_A_ROW: u32 = 16;
/// Input frames per resampler call.
const RESAMPLE_CHUNK: usize = 1024;
/// How deep [`PromptCache::preload`] descends below the root (`<lang>/slow/say/x.wav` is 3).
const MAX_PRELOAD_DEPTH: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// No such file (or no file for the prompt name with any of [`PROMPT_EXTENSIONS`]).
    #[error("prompt not found: {}", .0.display())]
    NotFound(PathBuf),
    /// The file exists but is not audio symphonia can decode, or is damaged.
    #[error("cannot decode prompt {}: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    /// Longer than [`MAX_PROMPT_SECS`]; `secs` is its length (or the length decoded before stopping).
    #[error("prompt {} is {secs} s long, the limit is {MAX_PROMPT_SECS} s", path.display())]
    TooLong { path: PathBuf, secs: u64 },
}

/// Any of WAV/MP3/FLAC/Ogg-Vorbis, decoded with symphonia, downmixed to mono, resampled with rubato to 8 kHz.
pub fn decode_file(path: &Path) -> Result<Vec<i16>, PromptError> {
    decode_limited(path, MAX_PROMPT_SECS)
}

/// [`decode_file`] with the length limit as a parameter (tests use a short one).
fn decode_limited(path: &Path, max_secs: u64) -> Result<Vec<i16>, PromptError> {
    let bad = |reason: String| PromptError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PromptError::NotFound(path.to_path_buf()))
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(bad("is a directory".into()));
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| bad(format!("unrecognised format: {e}")))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| bad("no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let rate = params
        .sample_rate
        .ok_or_else(|| bad("no sample rate".into()))?;
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(bad(format!("sample rate {rate} Hz out of range")));
    }
    let max_frames = max_secs * rate as u64;
    // Refuse from the header when it tells the length: nothing is decoded.
    if let Some(n) = params.n_frames {
        if n > max_frames {
            return Err(PromptError::TooLong {
                path: path.to_path_buf(),
                secs: n.div_ceil(rate as u64),
            });
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| bad(format!("unsupported codec: {e}")))?;

    let mut resampler = MonoTo8k::new(rate).map_err(bad)?;
    let mut sample_buf: Option<SampleBuffer<f32>> = None;
    let mut mono: Vec<f32> = Vec::new();
    let mut frames_in: u64 = 0;
    let mut bad_in_a_row = 0u32;
    let mut last_error = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            // A chained stream (new Ogg logical stream): play the first one only.
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(bad(format!("reading: {e}"))),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(e)) => {
                bad_in_a_row += 1;
                last_error = e.to_string();
                if bad_in_a_row >= MAX_BAD_PACKETS_IN_A_ROW {
                    return Err(bad(format!("{bad_in_a_row} bad packets in a row: {e}")));
                }
                continue;
            }
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(bad(format!("decoding: {e}"))),
        };
        bad_in_a_row = 0;
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let frames = decoded.frames();
        if frames == 0 {
            continue;
        }
        if spec.rate != rate {
            return Err(bad(format!(
                "sample rate changes from {rate} to {} Hz",
                spec.rate
            )));
        }
        frames_in += frames as u64;
        if frames_in > max_frames {
            return Err(PromptError::TooLong {
                path: path.to_path_buf(),
                secs: frames_in.div_ceil(rate as u64),
            });
        }
        let buf = match &mut sample_buf {
            Some(b) if b.capacity() >= frames * channels => b,
            _ => sample_buf.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        // Downmix: the mean of the channels keeps a centred source at its level and cannot clip.
        let scale = 1.0 / channels as f32;
        mono.clear();
        mono.extend(
            buf.samples()
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() * scale),
        );
        resampler.push(&mono).map_err(bad)?;
    }
    if frames_in == 0 {
        return Err(bad(if last_error.is_empty() {
            "no audio in file".into()
        } else {
            format!("no packet decoded: {last_error}")
        }));
    }
    resampler.finish().map_err(bad)
}

/// Streaming mono resampler to 8 kHz i16: input arrives packet by packet, output is kept whole.
struct MonoTo8k {
    rate_in: u32,
    /// `None` when the input is already 8 kHz.
    fft: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    out: Vec<f32>,
    frames_in: u64,
}

impl MonoTo8k {
    fn new(rate_in: u32) -> Result<Self, String> {
        let fft = if rate_in == PROMPT_RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(
                    rate_in as usize,
                    PROMPT_RATE as usize,
                    RESAMPLE_CHUNK,
                    2,
                    1,
                )
                .map_err(|e| format!("resampler: {e}"))?,
            )
        };
        Ok(MonoTo8k {
            rate_in,
            fft,
            pending: Vec::new(),
            out: Vec::new(),
            frames_in: 0,
        })
    }

    fn push(&mut self, samples: &[f32]) -> Result<(), String> {
        self.frames_in += samples.len() as u64;
        let Some(fft) = &mut self.fft else {
            self.out.extend_from_slice(samples);
            return Ok(());
        };
        self.pending.extend_from_slice(samples);
        let mut pos = 0;
        while self.pending.len() - pos >= fft.input_frames_next() {
            let n = fft.input_frames_next();
            let o = fft
                .process(&[&self.pending[pos..pos + n]], None)
                .map_err(|e| format!("resampler: {e}"))?;
            self.out.extend_from_slice(&o[0]);
            pos += n;
        }
        self.pending.drain(..pos);
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<i16>, String> {
        if let Some(fft) = &mut self.fft {
            let o = fft
                .process_partial(Some(&[&self.pending[..]]), None)
                .map_err(|e| format!("resampler: {e}"))?;
            self.out.extend_from_slice(&o[0]);
            // Flush what the filter still holds.
            let o = fft
                .process_partial::<&[f32]>(None, None)
                .map_err(|e| format!("resampler: {e}"))?;
            self.out.extend_from_slice(&o[0]);
            // Drop the filter's delay at the start and its zero padding at the end.
            let delay = fft.output_delay().min(self.out.len());
            self.out.drain(..delay);
            let want = (self.frames_in * PROMPT_RATE as u64 / self.rate_in as u64) as usize;
            self.out.truncate(want);
        }
        Ok(self
            .out
            .iter()
            .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
            .collect())
    }
}

/// Cache of decoded prompts under `root` (= the ivr-flows/prompts dir), shared across calls.
#[derive(Clone)]
pub struct PromptCache {
    inner: Arc<CacheInner>,
}

/// `(language, name, slow)` as asked of [`PromptCache::get`].
type RequestKey = (String, String, bool);

struct CacheInner {
    root: PathBuf,
    /// `(language, name, slow)` → audio: a hit costs one map look-up, no file-system call.
    by_request: Mutex<HashMap<RequestKey, Arc<[i16]>>>,
    /// Resolved file → audio: the normal and slow look-ups of one file, and preload, share one copy.
    by_path: Mutex<HashMap<PathBuf, Arc<[i16]>>>,
}

impl PromptCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PromptCache {
            inner: Arc::new(CacheInner {
                root: root.into(),
                by_request: Mutex::new(HashMap::new()),
                by_path: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The directory prompts are looked up under.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// `<root>/<language>/<name>.{wav,mp3,flac,ogg}`; with `slow`, `<root>/<language>/slow/<name>.*` first.
    ///
    /// `name` may have `/`-separated parts (`say/3`); a language or name that could leave the root
    /// (`..`, an absolute path, an empty part) is reported as not found. A file that fails to
    /// decode is not cached, so a fixed file is picked up on the next call.
    pub fn get(&self, language: &str, name: &str, slow: bool) -> Result<Arc<[i16]>, PromptError> {
        let key = (language.to_owned(), name.to_owned(), slow);
        if let Some(hit) = lock(&self.inner.by_request).get(&key) {
            return Ok(hit.clone());
        }
        let base = self.inner.root.join(language).join(name);
        if !is_plain_relative(language) || !is_plain_relative(name) || language.contains('/') {
            return Err(PromptError::NotFound(base));
        }
        let mut dirs = Vec::with_capacity(2);
        if slow {
            dirs.push(self.inner.root.join(language).join("slow"));
        }
        dirs.push(self.inner.root.join(language));
        let file = dirs
            .iter()
            .flat_map(|d| {
                PROMPT_EXTENSIONS
                    .iter()
                    .map(move |ext| d.join(format!("{name}.{ext}")))
            })
            .find(|p| p.is_file())
            .ok_or(PromptError::NotFound(base))?;
        let audio = self.load_path(&file)?;
        lock(&self.inner.by_request).insert(key, audio.clone());
        Ok(audio)
    }

    /// Decodes every audio file under root now; returns how many, logs (tracing::warn) the ones that fail.
    pub fn preload(&self) -> usize {
        let mut files = Vec::new();
        collect_audio_files(&self.inner.root, 0, &mut files);
        files.sort();
        let mut ok = 0;
        for f in files {
            match self.load_path(&f) {
                Ok(_) => ok += 1,
                Err(e) => tracing::warn!(file = %f.display(), error = %e, "prompt not preloaded"),
            }
        }
        ok
    }

    /// The decoded audio of one file, decoding it on first use. Decoding runs without the lock held
    /// so one slow file does not stall other calls; two first uses at once may both decode, and the
    /// first result kept wins.
    fn load_path(&self, file: &Path) -> Result<Arc<[i16]>, PromptError> {
        if let Some(hit) = lock(&self.inner.by_path).get(file) {
            return Ok(hit.clone());
        }
        let audio: Arc<[i16]> = decode_file(file)?.into();
        Ok(lock(&self.inner.by_path)
            .entry(file.to_path_buf())
            .or_insert(audio)
            .clone())
    }
}

/// The maps hold only finished values, so one left by a panicking thread is still consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Only normal parts: no `..`, root, prefix, `.` or empty part (`a//b`), no backslash.
fn is_plain_relative(s: &str) -> bool {
    !s.is_empty()
        && !s.contains('\\')
        && !s.contains('\0')
        && s.split('/').all(|part| !part.is_empty())
        && Path::new(s)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn collect_audio_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "prompt directory not readable");
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // `file_type` does not follow symlinks: a link loop cannot make this recurse forever.
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if depth < MAX_PRELOAD_DEPTH {
                collect_audio_files(&path, depth + 1, out);
            }
        } else if (ft.is_file() || path.is_file())
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| PROMPT_EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests;
