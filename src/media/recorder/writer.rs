//! The recording writer: [`WriterCore`] turns messages (start, frame, stop) and a monotonic clock into WAV
//! files; [`Recorder`] runs it on one dedicated thread for every recording, plus a second thread that hashes
//! finished files so a long SHA-256 never delays the frames queued behind it.
//!
//! The media side never blocks: a [`RecordingTap`] numbers its frames and hands them to an unbounded
//! channel guarded by a shared counter (the bound), so `push` is one atomic add and one lock-free send.
//! A frame refused because the queue is full still has its number, and the writer fills the hole with
//! silence: the file keeps the call's timeline even when frames are lost. Start and stop go through the
//! same channel, so they are never dropped and stay in order with the tap's frames.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc as tmpsc;
use uuid::Uuid;

use super::{
    relative_path, Frame, PushError, RecId, RecorderConfig, RecorderError, FRAME_MS, FRAME_SAMPLES,
    SAMPLE_RATE,
};

/// The WAV format of every recording: stereo (caller left, agent right), 8 kHz, 16-bit PCM.
pub fn wav_spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// The most frames a WAV file can describe (its sizes are 32-bit): about 37 hours. Frames past it are
/// not written, so a call left up for days cannot overflow the header.
pub const MAX_FRAMES: u64 = (u32::MAX as u64 - 36) / (FRAME_SAMPLES as u64 * 4);

/// What reaches the writer. Public so the core can be driven directly in tests and tools.
// A frame is ~650 bytes; boxing it would put an allocation on the media path for every push, and the
// channel's slots hold the variant by value anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Msg {
    Start {
        id: RecId,
        /// Absolute path of the new file.
        path: PathBuf,
        rel_path: String,
        started_ms: i64,
    },
    Frame {
        id: RecId,
        /// The tap's frame number, from 0; holes (dropped frames) are filled with silence.
        seq: u64,
        frame: Frame,
        /// Pushed while paused: written as silence whatever `frame` holds.
        paused: bool,
    },
    Stop {
        id: RecId,
        /// Frames the tap numbered in total: the file is padded with silence up to this.
        frames: u64,
        ended_ms: i64,
    },
    Shutdown,
}

/// Counters shared by the writer and every handle (for metrics and the benchmark).
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Frames written to files, including silence that filled holes.
    pub frames_written: AtomicU64,
    /// Frames refused by `push` (queue full or recorder stopped).
    pub frames_dropped: AtomicU64,
    /// Recordings that failed (cannot create, write or hash the file).
    pub failed: AtomicU64,
    /// Recordings open right now.
    pub open: AtomicU64,
}

/// A finished recording as the database wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    pub id: RecId,
    pub rel_path: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    /// Frames × 20 ms: the length of the file's timeline.
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub sha256: String,
    /// Frames lost before the writer (queue full) and written as silence.
    pub dropped_frames: u64,
    /// Frames written as silence because the recording was paused.
    pub paused_frames: u64,
}

/// What the recorder tells the call layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecorderEvent {
    Completed(Completed),
    Failed { id: RecId, error: String },
}

/// A recording whose file is finalised and waits to be hashed.
#[derive(Debug)]
pub struct Finished {
    pub id: RecId,
    pub path: PathBuf,
    pub rel_path: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub frames: u64,
    pub dropped_frames: u64,
    pub paused_frames: u64,
}

/// What the core hands to its shell.
#[derive(Debug)]
pub enum CoreOutput {
    /// Hash it ([`complete`]) and report it.
    Finished(Finished),
    Failed {
        id: RecId,
        error: String,
    },
}

struct Open {
    wav: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    rel_path: String,
    started_ms: i64,
    frames: u64,
    dropped: u64,
    paused: u64,
    last_flush_ms: u64,
}

/// The writer's state: open files and what to do with each message. Time comes in as monotonic
/// milliseconds, so flushing is tested without waiting.
pub struct WriterCore {
    flush_interval_ms: u64,
    open: HashMap<RecId, Open>,
    stats: Arc<RecorderStats>,
    out: Vec<CoreOutput>,
    silence: [i16; FRAME_SAMPLES],
}

impl WriterCore {
    pub fn new(flush_interval_ms: u64, stats: Arc<RecorderStats>) -> Self {
        WriterCore {
            flush_interval_ms,
            open: HashMap::new(),
            stats,
            out: Vec::new(),
            silence: [0; FRAME_SAMPLES],
        }
    }

    /// Recordings open right now.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Outputs produced since the last call.
    pub fn take_outputs(&mut self) -> Vec<CoreOutput> {
        std::mem::take(&mut self.out)
    }

    /// Handles one message at monotonic time `now_ms`. Returns false for [`Msg::Shutdown`].
    pub fn handle(&mut self, msg: Msg, now_ms: u64) -> bool {
        match msg {
            Msg::Start {
                id,
                path,
                rel_path,
                started_ms,
            } => self.start(id, path, rel_path, started_ms, now_ms),
            Msg::Frame {
                id,
                seq,
                frame,
                paused,
            } => self.frame(id, seq, &frame, paused),
            Msg::Stop {
                id,
                frames,
                ended_ms,
            } => self.stop(id, frames, ended_ms),
            Msg::Shutdown => return false,
        }
        true
    }

    /// Flushes every recording whose last flush is `flush_interval_ms` old: its data reaches the file and
    /// its header sizes are rewritten, so a crash from here on loses only what came later.
    pub fn tick(&mut self, now_ms: u64) {
        let mut failed = Vec::new();
        for (id, rec) in self.open.iter_mut() {
            if now_ms.saturating_sub(rec.last_flush_ms) >= self.flush_interval_ms {
                rec.last_flush_ms = now_ms;
                if let Err(e) = rec.wav.flush() {
                    failed.push((*id, format!("flush: {e}")));
                }
            }
        }
        for (id, error) in failed {
            self.fail(id, error);
        }
    }

    /// Finalises every open recording (at shutdown), each ending at `ended_ms`.
    pub fn stop_all(&mut self, ended_ms: i64) {
        let ids: Vec<(RecId, u64)> = self.open.iter().map(|(id, r)| (*id, r.frames)).collect();
        for (id, frames) in ids {
            self.stop(id, frames, ended_ms);
        }
    }

    fn start(&mut self, id: RecId, path: PathBuf, rel_path: String, started_ms: i64, now_ms: u64) {
        if self.open.contains_key(&id) {
            self.out.push(CoreOutput::Failed {
                id,
                error: "started twice".into(),
            });
            return;
        }
        match create_wav(&path) {
            Ok(wav) => {
                self.open.insert(
                    id,
                    Open {
                        wav,
                        path,
                        rel_path,
                        started_ms,
                        frames: 0,
                        dropped: 0,
                        paused: 0,
                        last_flush_ms: now_ms,
                    },
                );
                self.stats.open.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                self.out.push(CoreOutput::Failed {
                    id,
                    error: format!("create {}: {e}", path.display()),
                });
            }
        }
    }

    fn frame(&mut self, id: RecId, seq: u64, frame: &Frame, paused: bool) {
        let Some(rec) = self.open.get_mut(&id) else {
            // Its start failed (already reported) or it was stopped: nothing to write to.
            return;
        };
        if seq < rec.frames || seq >= MAX_FRAMES {
            // Out of order cannot happen (a tap numbers frames in order over a FIFO channel): ignore rather
            // than write the timeline twice. Past MAX_FRAMES the file cannot say how long it is.
            return;
        }
        let result = (|| {
            let gap = seq - rec.frames;
            for _ in 0..gap {
                write_frame(&mut rec.wav, &self.silence, &self.silence)?;
            }
            rec.dropped += gap;
            // While paused the audio (an ID number being read out) must not reach the disk, but the time
            // must: the recording's timeline has to match the CDR so a reviewer can find a moment by clock.
            let (left, right) = if paused {
                rec.paused += 1;
                (&self.silence, &self.silence)
            } else {
                (
                    frame.left.as_ref().unwrap_or(&self.silence),
                    frame.right.as_ref().unwrap_or(&self.silence),
                )
            };
            write_frame(&mut rec.wav, left, right)?;
            rec.frames = seq + 1;
            self.stats
                .frames_written
                .fetch_add(gap + 1, Ordering::Relaxed);
            Ok::<(), hound::Error>(())
        })();
        if let Err(e) = result {
            self.fail(id, format!("write: {e}"));
        }
    }

    fn stop(&mut self, id: RecId, frames: u64, ended_ms: i64) {
        let Some(mut rec) = self.open.remove(&id) else {
            return;
        };
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
        let result = (|| {
            // Frames dropped at the very end still belong to the call's time.
            let gap = frames.min(MAX_FRAMES).saturating_sub(rec.frames);
            for _ in 0..gap {
                write_frame(&mut rec.wav, &self.silence, &self.silence)?;
            }
            rec.dropped += gap;
            rec.frames += gap;
            self.stats.frames_written.fetch_add(gap, Ordering::Relaxed);
            rec.wav.finalize()
        })();
        match result {
            Ok(()) => self.out.push(CoreOutput::Finished(Finished {
                id,
                path: rec.path,
                rel_path: rec.rel_path,
                started_ms: rec.started_ms,
                ended_ms,
                frames: rec.frames,
                dropped_frames: rec.dropped,
                paused_frames: rec.paused,
            })),
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                self.out.push(CoreOutput::Failed {
                    id,
                    error: format!("finalize: {e}"),
                });
            }
        }
    }

    fn fail(&mut self, id: RecId, error: String) {
        if self.open.remove(&id).is_some() {
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        self.out.push(CoreOutput::Failed { id, error });
    }
}

fn create_wav(path: &Path) -> io::Result<hound::WavWriter<BufWriter<File>>> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    // create_new: an id is never reused, so an existing file means something is wrong; never overwrite.
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    // 64 KiB holds two seconds of a call: with the one-second flush, about one write per second per file.
    let mut wav = hound::WavWriter::new(BufWriter::with_capacity(64 * 1024, file), wav_spec())
        .map_err(hound_to_io)?;
    // The header reaches the disk now, so even a crash in the first second leaves a repairable file.
    wav.flush().map_err(hound_to_io)?;
    Ok(wav)
}

fn hound_to_io(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

fn write_frame(
    wav: &mut hound::WavWriter<BufWriter<File>>,
    left: &[i16; FRAME_SAMPLES],
    right: &[i16; FRAME_SAMPLES],
) -> Result<(), hound::Error> {
    let mut w = wav.get_i16_writer((2 * FRAME_SAMPLES) as u32);
    for (l, r) in left.iter().zip(right.iter()) {
        w.write_sample(*l);
        w.write_sample(*r);
    }
    w.flush()
}

/// SHA-256 (lowercase hex) and length of a file, read in 64 KiB blocks.
pub fn file_sha256(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// Hashes a finished file and says what to store for it.
pub fn complete(f: Finished) -> RecorderEvent {
    match file_sha256(&f.path) {
        Ok((sha256, len)) => RecorderEvent::Completed(Completed {
            id: f.id,
            rel_path: f.rel_path,
            started_ms: f.started_ms,
            ended_ms: f.ended_ms,
            duration_ms: i64::try_from(f.frames)
                .unwrap_or(i64::MAX / FRAME_MS)
                .saturating_mul(FRAME_MS),
            size_bytes: i64::try_from(len).unwrap_or(i64::MAX),
            sha256,
            dropped_frames: f.dropped_frames,
            paused_frames: f.paused_frames,
        }),
        Err(e) => RecorderEvent::Failed {
            id: f.id,
            error: format!("hash {}: {e}", f.path.display()),
        },
    }
}

/// Pause and resume for one recording, shared between the call layer and the tap. An atomic flag, so
/// the call task never waits for the media thread.
#[derive(Clone, Debug, Default)]
pub struct RecordingControl {
    paused: Arc<AtomicBool>,
}

impl RecordingControl {
    /// From the next pushed frame on, the file gets silence (the timeline goes on).
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Release);
    }
    pub fn resume(&self) {
        self.paused.store(false, Ordering::Release);
    }
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }
}

/// Where new recordings start. Cheap to clone; one per recorder.
#[derive(Clone, Debug)]
pub struct RecorderHandle {
    tx: mpsc::Sender<Msg>,
    queued: Arc<AtomicUsize>,
    cap: usize,
    stats: Arc<RecorderStats>,
    root: PathBuf,
    utc_offset_secs: i32,
}

impl RecorderHandle {
    /// Starts a recording at `started_ms` (wall clock, for the dated folder): a new id and file.
    /// Never blocks; the file is created on the writer thread (a failure arrives as an event).
    pub fn start(&self, started_ms: i64) -> Result<RecordingTap, RecorderError> {
        let id = Uuid::new_v4();
        let rel_path = relative_path(id, started_ms, self.utc_offset_secs)?;
        let path = self.root.join(&rel_path);
        self.tx
            .send(Msg::Start {
                id,
                path,
                rel_path: rel_path.clone(),
                started_ms,
            })
            .map_err(|_| RecorderError::Stopped)?;
        Ok(RecordingTap {
            id,
            rel_path,
            tx: self.tx.clone(),
            queued: self.queued.clone(),
            cap: self.cap,
            stats: self.stats.clone(),
            control: RecordingControl::default(),
            seq: 0,
            dropped: 0,
            stopped: false,
        })
    }

    pub fn stats(&self) -> &Arc<RecorderStats> {
        &self.stats
    }

    /// Frames waiting for the writer right now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// The media side's end of one recording: owned by the thread that assembles the call's 20 ms frames.
/// Dropping it without [`RecordingTap::stop`] stops the recording at the current wall clock.
#[derive(Debug)]
pub struct RecordingTap {
    id: RecId,
    rel_path: String,
    tx: mpsc::Sender<Msg>,
    queued: Arc<AtomicUsize>,
    cap: usize,
    stats: Arc<RecorderStats>,
    control: RecordingControl,
    seq: u64,
    dropped: u64,
    stopped: bool,
}

impl RecordingTap {
    pub fn id(&self) -> RecId {
        self.id
    }

    /// `YYYY/MM/DD/<uuid>.wav` under the store root.
    pub fn rel_path(&self) -> &str {
        &self.rel_path
    }

    /// Pause/resume for the call layer.
    pub fn control(&self) -> RecordingControl {
        self.control.clone()
    }

    /// Frames pushed so far, queued or not: the recording's timeline in 20 ms steps.
    pub fn frames(&self) -> u64 {
        self.seq
    }

    /// Frames this tap could not queue (written as silence).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Queues one 20 ms frame; never blocks. Call once per tick of the call, with `None` sides for
    /// silence. A refused frame still advances the timeline (the writer fills it with silence).
    pub fn push(&mut self, frame: Frame) -> Result<(), PushError> {
        let seq = self.seq;
        self.seq += 1;
        let paused = self.control.is_paused();
        // Paused audio is not even copied towards the disk.
        let frame = if paused { Frame::default() } else { frame };
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refused(PushError::Full));
        }
        let msg = Msg::Frame {
            id: self.id,
            seq,
            frame,
            paused,
        };
        if self.tx.send(msg).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refused(PushError::Stopped));
        }
        Ok(())
    }

    fn refused(&mut self, e: PushError) -> PushError {
        self.dropped += 1;
        self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
        e
    }

    /// Ends the recording at `ended_ms` (wall clock); the file is finalised and hashed on the recorder's
    /// threads and reported as [`RecorderEvent::Completed`].
    pub fn stop(mut self, ended_ms: i64) -> Result<(), RecorderError> {
        self.send_stop(ended_ms)
    }

    fn send_stop(&mut self, ended_ms: i64) -> Result<(), RecorderError> {
        self.stopped = true;
        self.tx
            .send(Msg::Stop {
                id: self.id,
                frames: self.seq,
                ended_ms,
            })
            .map_err(|_| RecorderError::Stopped)
    }
}

impl Drop for RecordingTap {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.send_stop(crate::store::now_ms());
        }
    }
}

/// The running recorder: a writer thread and a hashing thread. Dropping it (or [`Recorder::shutdown`])
/// finalises every open recording and joins both threads.
pub struct Recorder {
    handle: RecorderHandle,
    writer: Option<JoinHandle<()>>,
    hasher: Option<JoinHandle<()>>,
}

/// How often the writer wakes up with nothing to do, to flush files that are due.
const TICK: Duration = Duration::from_millis(100);

impl Recorder {
    /// Starts the threads. Events (completed / failed recordings) go to `events`.
    pub fn spawn(
        config: RecorderConfig,
        events: tmpsc::UnboundedSender<RecorderEvent>,
    ) -> Result<Recorder, RecorderError> {
        fs::create_dir_all(&config.root).map_err(|source| RecorderError::Root {
            path: config.root.display().to_string(),
            source,
        })?;
        // Validate the offset now rather than at the first call.
        relative_path(Uuid::nil(), 0, config.utc_offset_secs)?;
        let stats = Arc::new(RecorderStats::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<Msg>();
        let (done_tx, done_rx) = mpsc::channel::<Finished>();

        let hasher_events = events.clone();
        let hasher = std::thread::Builder::new()
            .name("rec-hash".into())
            .spawn(move || {
                for f in done_rx {
                    let _ = hasher_events.send(complete(f));
                }
            })
            .map_err(RecorderError::Spawn)?;

        let core = WriterCore::new(config.flush_interval_ms, stats.clone());
        let writer_queued = queued.clone();
        let writer = std::thread::Builder::new()
            .name("rec-write".into())
            .spawn(move || writer_loop(core, rx, writer_queued, done_tx, events))
            .map_err(RecorderError::Spawn)?;

        Ok(Recorder {
            handle: RecorderHandle {
                tx,
                queued,
                cap: config.queue_frames.max(1),
                stats,
                root: config.root,
                utc_offset_secs: config.utc_offset_secs,
            },
            writer: Some(writer),
            hasher: Some(hasher),
        })
    }

    pub fn handle(&self) -> RecorderHandle {
        self.handle.clone()
    }

    /// Finalises open recordings, waits until every finished file is hashed and reported.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        let _ = self.handle.tx.send(Msg::Shutdown);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some(h) = self.hasher.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn writer_loop(
    mut core: WriterCore,
    rx: mpsc::Receiver<Msg>,
    queued: Arc<AtomicUsize>,
    done: mpsc::Sender<Finished>,
    events: tmpsc::UnboundedSender<RecorderEvent>,
) {
    let epoch = Instant::now();
    let now_ms = || epoch.elapsed().as_millis() as u64;
    let mut next_tick = epoch + TICK;
    let mut running = true;
    while running {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(msg) => {
                if matches!(msg, Msg::Frame { .. }) {
                    queued.fetch_sub(1, Ordering::AcqRel);
                }
                running = core.handle(msg, now_ms());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => running = false,
        }
        let now = Instant::now();
        if now >= next_tick {
            core.tick(now_ms());
            next_tick = now + TICK;
        }
        forward(&mut core, &done, &events);
    }
    core.stop_all(crate::store::now_ms());
    forward(&mut core, &done, &events);
}

fn forward(
    core: &mut WriterCore,
    done: &mpsc::Sender<Finished>,
    events: &tmpsc::UnboundedSender<RecorderEvent>,
) {
    for out in core.take_outputs() {
        match out {
            CoreOutput::Finished(f) => {
                if let Err(mpsc::SendError(f)) = done.send(f) {
                    // The hashing thread is gone (it panicked): hash here rather than lose the report.
                    let _ = events.send(complete(f));
                }
            }
            CoreOutput::Failed { id, error } => {
                tracing::warn!(%id, %error, "recording failed");
                let _ = events.send(RecorderEvent::Failed { id, error });
            }
        }
    }
}

#[cfg(test)]
impl RecorderHandle {
    /// A handle whose messages the test reads itself (no writer thread), with a queue bound of `cap`.
    pub(crate) fn detached(root: &Path, cap: usize) -> (RecorderHandle, mpsc::Receiver<Msg>) {
        let (tx, rx) = mpsc::channel();
        (
            RecorderHandle {
                tx,
                queued: Arc::new(AtomicUsize::new(0)),
                cap,
                stats: Arc::new(RecorderStats::default()),
                root: root.to_path_buf(),
                utc_offset_secs: 8 * 3600,
            },
            rx,
        )
    }
}

#[cfg(test)]
impl RecorderHandle {
    /// Stands in for the writer having taken every queued frame.
    pub(crate) fn queued_reset_for_test(&self) {
        self.queued.store(0, Ordering::Release);
    }
}

#[cfg(test)]
impl RecordingTap {
    /// Stands in for a writer that has fallen behind: the queue is at its bound.
    pub(crate) fn queued_fill_for_test(&self) {
        self.queued.store(self.cap, Ordering::Release);
    }
}
