//! Call recording: stereo 8 kHz 16-bit WAV files (caller left, agent right) written by one dedicated thread
//! that serves every recording, so the media threads that feed it never touch the disk.
//!
//! - [`writer`]: the writer core (messages and a clock in, files out) and its thread shell; the media side
//!   holds a [`RecordingTap`] per recorded call whose `push` never blocks (bounded queue, drops counted,
//!   dropped frames become silence so both channels keep the call's timeline).
//! - [`repair`]: start-up repair of WAVs a crash left with stale header sizes.
//! - [`store`]: the `recordings` table (one row per recording, state recording → complete/repaired/failed).
//!
//! Files are named by an opaque uuid v4 (never a phone number: the file name leaks into logs, backups and
//! URLs) under `root/YYYY/MM/DD/`, dated at a fixed UTC offset (China: +08:00) so the folders match the
//! centre's working days.

pub mod repair;
pub mod store;
pub mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use chrono::{Datelike, FixedOffset, TimeZone};
use uuid::Uuid;

pub use repair::{repair_dir, repair_file, RepairError, RepairOutcome, RepairReport, Repaired};
pub use writer::{
    Completed, Recorder, RecorderEvent, RecorderHandle, RecorderStats, RecordingControl,
    RecordingTap, WriterCore,
};

/// Samples per channel in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Recording sample rate.
pub const SAMPLE_RATE: u32 = 8000;
/// Milliseconds per frame.
pub const FRAME_MS: i64 = 20;
/// Bytes per stereo sample frame on disk (2 channels × 16 bit).
pub const BLOCK_ALIGN: u64 = 4;

/// One 20 ms tick of a recorded call. A missing side (no packet arrived, the leg is on hold) is written as
/// silence so both channels stay aligned in time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// The caller.
    pub left: Option<[i16; FRAME_SAMPLES]>,
    /// The agent.
    pub right: Option<[i16; FRAME_SAMPLES]>,
}

/// Identifies a recording: also its file name and its row id.
pub type RecId = Uuid;

/// What the call layer knows when a recording starts; stored in its row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordingMeta {
    pub call_id: String,
    /// The caller's leg id (not a number).
    pub a_leg: String,
    /// The agent's leg id.
    pub b_leg: String,
    /// Agent number, empty when no agent (e.g. IVR-only recording).
    pub agent: String,
    pub skill_group: String,
}

/// How the recorder runs.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// Store root; files go under `root/YYYY/MM/DD/<uuid>.wav`.
    pub root: PathBuf,
    /// Frames that may wait for the writer across all recordings; beyond this, pushes are dropped.
    /// 4,096 frames is ~80 ms of 1,000 calls: enough to ride out a slow disk write, small enough
    /// (~2.7 MB) to bound memory.
    pub queue_frames: usize,
    /// Header sizes and buffered data reach the file at least this often: a crash loses at most this much.
    pub flush_interval_ms: u64,
    /// UTC offset of the dated folders, in seconds (China: 8 × 3600).
    pub utc_offset_secs: i32,
}

impl RecorderConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RecorderConfig {
            root: root.into(),
            queue_frames: 4096,
            flush_interval_ms: 1000,
            utc_offset_secs: 8 * 3600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("recorder: the writer thread has stopped")]
    Stopped,
    #[error("recorder: UTC offset {0} s is out of range")]
    BadOffset(i32),
    #[error("recorder: cannot start the writer thread: {0}")]
    Spawn(std::io::Error),
    #[error("recorder: cannot create the store root {path}: {source}")]
    Root {
        path: String,
        source: std::io::Error,
    },
}

/// Why a frame was not queued. Never fatal for the call: the frame becomes silence in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("recorder queue full: frame dropped")]
    Full,
    #[error("recorder stopped: frame dropped")]
    Stopped,
}

/// The path of a recording relative to the store root: `YYYY/MM/DD/<uuid>.wav`, dated at `started_ms`
/// in the given UTC offset. Relative so the store can move without rewriting rows.
pub fn relative_path(
    id: RecId,
    started_ms: i64,
    utc_offset_secs: i32,
) -> Result<String, RecorderError> {
    let tz =
        FixedOffset::east_opt(utc_offset_secs).ok_or(RecorderError::BadOffset(utc_offset_secs))?;
    // A clock before 1970 or past year 9999 is clamped: it still gets a folder rather than an error.
    let clamped = started_ms.clamp(0, 253_402_300_799_000);
    let Some(when) = tz.timestamp_millis_opt(clamped).single() else {
        return Err(RecorderError::BadOffset(utc_offset_secs));
    };
    Ok(format!(
        "{:04}/{:02}/{:02}/{}.wav",
        when.year(),
        when.month(),
        when.day(),
        id.hyphenated()
    ))
}

/// The recording id a file name carries, if it is one of ours.
pub fn id_from_path(path: &Path) -> Option<RecId> {
    let stem = path.file_stem()?.to_str()?;
    Uuid::parse_str(stem).ok()
}
