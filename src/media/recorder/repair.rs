//! Start-up repair of recordings a crash left unfinished: the writer rewrites the WAV header sizes only
//! once a second, so after a crash the header under-states the data (or the file ends in the middle of a
//! sample frame). Repair recomputes the RIFF and data sizes from the file length, cuts a partial last
//! sample frame, and reports what it changed so the database rows can follow.
//!
//! Run it before the writer starts: it must not race a file being written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::writer::file_sha256;
use super::{id_from_path, RecId};

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("shorter than a WAV header ({0} bytes)")]
    TooShort(u64),
    #[error("not a RIFF/WAVE file")]
    NotWav,
    #[error("no fmt chunk before the data")]
    NoFmt,
    #[error("fmt chunk is malformed (block align 0 or sample rate 0)")]
    BadFmt,
    #[error("no data chunk")]
    NoData,
}

/// A file's audio after repair (or as found, when intact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repaired {
    pub path: PathBuf,
    /// The recording id its name carries, if it is one of ours.
    pub id: Option<RecId>,
    /// Data bytes the header claimed before repair.
    pub claimed_data_bytes: u64,
    /// Data bytes now (whole sample frames only).
    pub data_bytes: u64,
    /// Bytes of a partial last sample frame that were cut.
    pub trimmed_bytes: u64,
    pub duration_ms: i64,
    pub size_bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepairOutcome {
    /// Header and length agreed: nothing written.
    Intact(Repaired),
    /// Header rewritten (and the file cut to whole sample frames).
    Repaired(Repaired),
}

impl RepairOutcome {
    pub fn info(&self) -> &Repaired {
        match self {
            RepairOutcome::Intact(r) | RepairOutcome::Repaired(r) => r,
        }
    }
}

/// What [`repair_dir`] found.
#[derive(Debug, Default)]
pub struct RepairReport {
    pub intact: usize,
    pub repaired: Vec<Repaired>,
    /// Files that could not be repaired (not WAV, header cut short), with why.
    pub failed: Vec<(PathBuf, RepairError)>,
}

struct Layout {
    riff_size: u32,
    data_size_offset: u64,
    data_start: u64,
    claimed_data: u32,
    block_align: u64,
    byte_rate: u64,
}

fn read_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn read_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

/// Walks the chunks up to `data` (which our writer always puts last).
fn layout(file: &mut File, len: u64) -> Result<Layout, RepairError> {
    if len < 12 {
        return Err(RepairError::TooShort(len));
    }
    let mut head = [0u8; 12];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut head)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(RepairError::NotWav);
    }
    let riff_size = read_u32(&head[4..8]);
    let mut pos = 12u64;
    let mut fmt: Option<(u64, u64)> = None;
    loop {
        if pos + 8 > len {
            return Err(if fmt.is_some() {
                RepairError::NoData
            } else {
                RepairError::TooShort(len)
            });
        }
        let mut ch = [0u8; 8];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut ch)?;
        let size = u64::from(read_u32(&ch[4..8]));
        match &ch[0..4] {
            b"fmt " => {
                if size < 16 || pos + 8 + 16 > len {
                    return Err(RepairError::BadFmt);
                }
                let mut f = [0u8; 16];
                file.read_exact(&mut f)?;
                let byte_rate = u64::from(read_u32(&f[8..12]));
                let block_align = u64::from(read_u16(&f[12..14]));
                if block_align == 0 || byte_rate == 0 {
                    return Err(RepairError::BadFmt);
                }
                fmt = Some((block_align, byte_rate));
            }
            b"data" => {
                let (block_align, byte_rate) = fmt.ok_or(RepairError::NoFmt)?;
                return Ok(Layout {
                    riff_size,
                    data_size_offset: pos + 4,
                    data_start: pos + 8,
                    claimed_data: read_u32(&ch[4..8]),
                    block_align,
                    byte_rate,
                });
            }
            _ => {}
        }
        // Chunks are padded to even sizes.
        pos = pos + 8 + size + (size & 1);
    }
}

/// Repairs one file in place when its header disagrees with its length.
pub fn repair_file(path: &Path) -> Result<RepairOutcome, RepairError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let l = layout(&mut file, len)?;
    let present = len - l.data_start;
    // WAV sizes are 32-bit: anything past 4 GiB cannot be described, keep what can.
    let max_data = u64::from(u32::MAX) - (l.data_start - 8);
    let data = (present.min(max_data) / l.block_align) * l.block_align;
    let trimmed = present - data;
    let riff = l.data_start - 8 + data;
    let intact =
        trimmed == 0 && u64::from(l.claimed_data) == data && u64::from(l.riff_size) == riff;
    if !intact {
        file.set_len(l.data_start + data)?;
        file.seek(SeekFrom::Start(4))?;
        file.write_all(&(riff as u32).to_le_bytes())?;
        file.seek(SeekFrom::Start(l.data_size_offset))?;
        file.write_all(&(data as u32).to_le_bytes())?;
        file.sync_all()?;
    }
    drop(file);
    let (sha256, size_bytes) = file_sha256(path)?;
    let info = Repaired {
        path: path.to_path_buf(),
        id: id_from_path(path),
        claimed_data_bytes: u64::from(l.claimed_data),
        data_bytes: data,
        trimmed_bytes: trimmed,
        duration_ms: i64::try_from(data.saturating_mul(1000) / l.byte_rate).unwrap_or(i64::MAX),
        size_bytes,
        sha256,
    };
    Ok(if intact {
        RepairOutcome::Intact(info)
    } else {
        RepairOutcome::Repaired(info)
    })
}

/// Repairs every `*.wav` under `dir` (recursively, not following symlinks) and reports them.
/// Only an unreadable `dir` itself is an error; a bad file goes into the report.
pub fn repair_dir(dir: &Path) -> io::Result<RepairReport> {
    let mut report = RepairReport::default();
    let mut stack = vec![dir.to_path_buf()];
    let mut first = true;
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if first => return Err(e),
            Err(e) => {
                report.failed.push((d, RepairError::Io(e)));
                continue;
            }
        };
        first = false;
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    report.failed.push((d.clone(), RepairError::Io(e)));
                    continue;
                }
            };
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                match repair_file(&path) {
                    Ok(RepairOutcome::Intact(_)) => report.intact += 1,
                    Ok(RepairOutcome::Repaired(r)) => {
                        tracing::warn!(path = %r.path.display(), claimed = r.claimed_data_bytes,
                            data = r.data_bytes, trimmed = r.trimmed_bytes, "repaired a truncated recording");
                        report.repaired.push(r)
                    }
                    Err(e) => report.failed.push((path, e)),
                }
            }
        }
    }
    report.repaired.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}
