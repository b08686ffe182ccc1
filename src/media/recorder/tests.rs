//! Recorder tests: what each side sent is what each channel holds, pauses and lost frames keep the
//! timeline, the once-a-second flush bounds a crash's loss, repair makes cut files readable, and the
//! table behaves the same on SQLite and PostgreSQL.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::TimeZone;
use uuid::Uuid;

use super::store::{self, RecordingState};
use super::writer::{complete, CoreOutput, Msg, RecorderStats, WriterCore};
use super::*;

/// Deterministic audio, different per side and per frame, covering the whole i16 range.
fn signal(side: u64, frame: u64) -> [i16; FRAME_SAMPLES] {
    let mut x = side
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(frame.wrapping_mul(0xD1B5_4A32_D192_ED03))
        | 1;
    let mut out = [0i16; FRAME_SAMPLES];
    for s in out.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *s = (x >> 48) as i16;
    }
    out
}

fn read_channels(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("readable WAV");
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let left = all.iter().step_by(2).copied().collect();
    let right = all.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

fn events() -> (
    tokio::sync::mpsc::UnboundedSender<RecorderEvent>,
    tokio::sync::mpsc::UnboundedReceiver<RecorderEvent>,
) {
    tokio::sync::mpsc::unbounded_channel()
}

#[test]
fn paths_are_dated_in_china_time_and_named_by_the_id_only() {
    let id = Uuid::parse_str("6f1c2f4e-8a3b-4c1d-9e2f-0a1b2c3d4e5f").unwrap();
    // 2026-11-21 17:30 UTC is already 2026-11-22 01:30 in Beijing.
    let ms = chrono::Utc
        .with_ymd_and_hms(2026, 11, 21, 17, 30, 0)
        .unwrap()
        .timestamp_millis();
    assert_eq!(
        relative_path(id, ms, 8 * 3600).unwrap(),
        "2026/11/22/6f1c2f4e-8a3b-4c1d-9e2f-0a1b2c3d4e5f.wav"
    );
    assert_eq!(
        relative_path(id, ms, 0).unwrap(),
        "2026/11/21/6f1c2f4e-8a3b-4c1d-9e2f-0a1b2c3d4e5f.wav"
    );
    assert!(matches!(
        relative_path(id, ms, 90_000),
        Err(RecorderError::BadOffset(90_000))
    ));
    assert_eq!(
        id_from_path(Path::new(
            "/x/2026/11/22/6f1c2f4e-8a3b-4c1d-9e2f-0a1b2c3d4e5f.wav"
        )),
        Some(id)
    );
    assert_eq!(id_from_path(Path::new("/x/13800138000.wav")), None);
}

#[test]
fn channels_hold_exactly_what_each_side_sent_and_missing_sides_are_silence() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = events();
    let rec = Recorder::spawn(RecorderConfig::new(dir.path()), tx).unwrap();
    let started = 1_795_000_000_000;
    let mut tap = rec.handle().start(started).unwrap();
    let id = tap.id();
    assert!(
        tap.rel_path().ends_with(&format!("{id}.wav")),
        "{}",
        tap.rel_path()
    );
    let frames = 250u64; // 5 s
    let (mut want_l, mut want_r) = (Vec::new(), Vec::new());
    for f in 0..frames {
        // The caller is silent (no packet) every 7th frame, the agent every 5th.
        let left = (f % 7 != 3).then(|| signal(1, f));
        let right = (f % 5 != 0).then(|| signal(2, f));
        want_l.extend_from_slice(&left.unwrap_or([0; FRAME_SAMPLES]));
        want_r.extend_from_slice(&right.unwrap_or([0; FRAME_SAMPLES]));
        // The queue (4,096 frames) holds the whole call, so nothing may be dropped.
        tap.push(Frame { left, right }).unwrap();
    }
    tap.stop(started + 5_000).unwrap();
    rec.shutdown();

    let Some(RecorderEvent::Completed(c)) = rx.blocking_recv() else {
        panic!("no completion")
    };
    assert_eq!(c.id, id);
    assert_eq!(
        (c.duration_ms, c.dropped_frames, c.paused_frames),
        (5_000, 0, 0)
    );
    let path = dir.path().join(&c.rel_path);
    let (l, r) = read_channels(&path);
    assert_eq!(l, want_l, "left channel = caller, sample-exact");
    assert_eq!(r, want_r, "right channel = agent, sample-exact");
    let (sha, len) = writer::file_sha256(&path).unwrap();
    assert_eq!((c.sha256, c.size_bytes), (sha, len as i64));
    assert_eq!(len, 44 + frames * 640);
}

#[test]
fn pause_writes_silence_and_keeps_the_time_axis() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = events();
    let rec = Recorder::spawn(RecorderConfig::new(dir.path()), tx).unwrap();
    let mut tap = rec.handle().start(0).unwrap();
    let control = tap.control();
    for f in 0..150u64 {
        // The caller reads an ID number during frames 50..100.
        match f {
            50 => control.pause(),
            100 => control.resume(),
            _ => {}
        }
        tap.push(Frame {
            left: Some(signal(1, f)),
            right: Some(signal(2, f)),
        })
        .unwrap();
    }
    tap.stop(3_000).unwrap();
    rec.shutdown();
    let Some(RecorderEvent::Completed(c)) = rx.blocking_recv() else {
        panic!("no completion")
    };
    assert_eq!(
        (c.duration_ms, c.paused_frames),
        (3_000, 50),
        "the pause keeps its 1 s"
    );
    let (l, r) = read_channels(&dir.path().join(&c.rel_path));
    assert_eq!(l.len(), 150 * FRAME_SAMPLES);
    for f in 0..150u64 {
        let range = f as usize * FRAME_SAMPLES..(f as usize + 1) * FRAME_SAMPLES;
        if (50..100).contains(&f) {
            assert!(
                l[range.clone()].iter().chain(&r[range]).all(|&s| s == 0),
                "frame {f} paused"
            );
        } else {
            assert_eq!(&l[range.clone()], &signal(1, f)[..], "frame {f} left");
            assert_eq!(&r[range], &signal(2, f)[..], "frame {f} right");
        }
    }
}

/// Feeds every message the detached handle's taps sent into a core.
fn drain(core: &mut WriterCore, rx: &std::sync::mpsc::Receiver<Msg>, now_ms: u64) {
    while let Ok(m) = rx.try_recv() {
        core.handle(m, now_ms);
    }
}

#[test]
fn a_full_queue_drops_without_blocking_and_the_hole_becomes_silence() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, rx) = RecorderHandle::detached(dir.path(), 10);
    let stats = Arc::new(RecorderStats::default());
    let mut core = WriterCore::new(1000, stats.clone());
    let mut tap = handle.start(0).unwrap();
    // Nothing drains the queue while 15 frames are pushed: the last 5 are refused at once.
    let mut refused = 0;
    for f in 0..15u64 {
        if let Err(e) = tap.push(Frame {
            left: Some(signal(1, f)),
            right: None,
        }) {
            assert_eq!(e, PushError::Full);
            refused += 1;
        }
    }
    assert_eq!((refused, tap.dropped(), tap.frames()), (5, 5, 15));
    assert_eq!(handle.stats().frames_dropped.load(Ordering::Relaxed), 5);
    drain(&mut core, &rx, 0);
    // The writer caught up; in the real shell it decrements the bound. Here we do it by hand.
    handle.queued_reset_for_test();
    for f in 15..20u64 {
        tap.push(Frame {
            left: Some(signal(1, f)),
            right: None,
        })
        .unwrap();
    }
    // Two more frames are lost at the very end: the stop still counts them.
    tap.queued_fill_for_test();
    for f in 20..22u64 {
        assert!(tap
            .push(Frame {
                left: Some(signal(1, f)),
                right: None
            })
            .is_err());
    }
    tap.stop(440).unwrap();
    drain(&mut core, &rx, 0);
    let out = core.take_outputs();
    let [CoreOutput::Finished(f)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!((f.frames, f.dropped_frames), (22, 7));
    let (l, r) = read_channels(&f.path);
    assert_eq!(l.len(), 22 * FRAME_SAMPLES, "timeline kept: 22 frames");
    assert!(r.iter().all(|&s| s == 0));
    for fr in 0..22u64 {
        let got = &l[fr as usize * FRAME_SAMPLES..(fr as usize + 1) * FRAME_SAMPLES];
        if (10..15).contains(&fr) || fr >= 20 {
            assert!(got.iter().all(|&s| s == 0), "dropped frame {fr} is silence");
        } else {
            assert_eq!(got, &signal(1, fr)[..], "frame {fr}");
        }
    }
}

fn start_msg(dir: &Path, id: Uuid) -> (Msg, PathBuf) {
    let rel = relative_path(id, 0, 8 * 3600).unwrap();
    let path = dir.join(&rel);
    (
        Msg::Start {
            id,
            path: path.clone(),
            rel_path: rel,
            started_ms: 0,
        },
        path,
    )
}

fn frame_msg(id: Uuid, seq: u64) -> Msg {
    Msg::Frame {
        id,
        seq,
        frame: Frame {
            left: Some(signal(1, seq)),
            right: Some(signal(2, seq)),
        },
        paused: false,
    }
}

#[test]
fn headers_reach_the_disk_once_a_second_so_a_crash_loses_at_most_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut core = WriterCore::new(1000, Arc::new(RecorderStats::default()));
    let id = Uuid::new_v4();
    let (start, path) = start_msg(dir.path(), id);
    core.handle(start, 0);
    // Just started: the header is on disk already, an empty but valid WAV.
    assert_eq!(read_channels(&path).0.len(), 0);
    for seq in 0..50 {
        core.handle(frame_msg(id, seq), seq * 20);
    }
    core.tick(999);
    assert_eq!(
        hound::WavReader::open(&path).unwrap().duration(),
        0,
        "not due yet"
    );
    core.tick(1000);
    // What a crash right now would leave: the file as the disk holds it.
    let (l, r) = read_channels(&path);
    assert_eq!(l.len(), 50 * FRAME_SAMPLES);
    assert_eq!(&l[49 * FRAME_SAMPLES..], &signal(1, 49)[..]);
    assert_eq!(&r[..FRAME_SAMPLES], &signal(2, 0)[..]);
    for seq in 50..100 {
        core.handle(frame_msg(id, seq), 1000 + (seq - 50) * 20);
    }
    core.tick(1999);
    core.tick(2000);
    assert_eq!(read_channels(&path).0.len(), 100 * FRAME_SAMPLES);
}

#[test]
fn a_crashed_recording_is_repaired_to_every_whole_sample_frame_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut core = WriterCore::new(1000, Arc::new(RecorderStats::default()));
    let id = Uuid::new_v4();
    let (start, path) = start_msg(dir.path(), id);
    core.handle(start, 0);
    for seq in 0..50 {
        core.handle(frame_msg(id, seq), seq * 20);
    }
    core.tick(1000);
    // 450 more frames (288 KB) without a flush: the 64 KiB buffer spills most of them to the file, but
    // the header still says 50 frames.
    for seq in 50..500 {
        core.handle(frame_msg(id, seq), 1000);
    }
    // The crash: copy what is on disk now (the writer is never finalised), and cut it mid-sample.
    let crashed = dir.path().join("crashed.wav");
    fs::copy(&path, &crashed).unwrap();
    let on_disk = fs::metadata(&crashed).unwrap().len();
    assert!(
        on_disk > 44 + 50 * 640,
        "the buffer spilled: {on_disk} bytes"
    );
    let cut = on_disk - 3;
    fs::OpenOptions::new()
        .write(true)
        .open(&crashed)
        .unwrap()
        .set_len(cut)
        .unwrap();
    assert_eq!(
        hound::WavReader::open(&crashed).unwrap().duration(),
        50 * 160,
        "before repair the header hides everything after the last flush"
    );

    let RepairOutcome::Repaired(r) = repair_file(&crashed).unwrap() else {
        panic!("should need repair")
    };
    let whole = (cut - 44) / 4 * 4;
    assert_eq!(
        (r.claimed_data_bytes, r.data_bytes, r.trimmed_bytes),
        (50 * 640, whole, (cut - 44) % 4)
    );
    assert_eq!(r.size_bytes, 44 + whole);
    assert_eq!(r.duration_ms, (whole / 4 * 1000 / 8000) as i64);
    let (l, rr) = read_channels(&crashed);
    assert_eq!(
        l.len() as u64,
        whole / 4,
        "every whole sample frame readable"
    );
    // Each sample that survived is the one sent.
    let mut want_l: Vec<i16> = (0..500).flat_map(|f| signal(1, f)).collect();
    let mut want_r: Vec<i16> = (0..500).flat_map(|f| signal(2, f)).collect();
    want_l.truncate(l.len());
    want_r.truncate(rr.len());
    assert_eq!((l, rr), (want_l, want_r));
    // A second pass finds it whole and leaves it alone.
    assert!(matches!(
        repair_file(&crashed).unwrap(),
        RepairOutcome::Intact(_)
    ));
    // The live recording still finalises normally.
    core.handle(
        Msg::Stop {
            id,
            frames: 500,
            ended_ms: 10_000,
        },
        1000,
    );
    let out = core.take_outputs();
    let [CoreOutput::Finished(f)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(read_channels(&f.path).0.len(), 500 * FRAME_SAMPLES);
}

#[test]
fn repair_dir_reports_repaired_intact_and_hopeless_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut core = WriterCore::new(1000, Arc::new(RecorderStats::default()));
    let (ok_id, cut_id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut paths = Vec::new();
    for id in [ok_id, cut_id] {
        let (start, path) = start_msg(dir.path(), id);
        core.handle(start, 0);
        for seq in 0..100 {
            core.handle(frame_msg(id, seq), 0);
        }
        core.handle(
            Msg::Stop {
                id,
                frames: 100,
                ended_ms: 2000,
            },
            0,
        );
        paths.push(path);
    }
    // A finalised file cut by 1,001 bytes (a disk-full write): the header over-states the data.
    let f = fs::OpenOptions::new().write(true).open(&paths[1]).unwrap();
    f.set_len(44 + 100 * 640 - 1001).unwrap();
    drop(f);
    let day = paths[0].parent().unwrap();
    fs::write(day.join("garbage.wav"), b"not a wav at all").unwrap();
    fs::write(day.join("header-only.wav"), b"RIFF\0\0\0\0WAVE").unwrap();
    fs::write(day.join("notes.txt"), b"ignored").unwrap();

    let report = repair_dir(dir.path()).unwrap();
    assert_eq!(report.intact, 1);
    assert_eq!(report.repaired.len(), 1);
    let r = &report.repaired[0];
    assert_eq!(r.id, Some(cut_id));
    assert_eq!(r.claimed_data_bytes, 100 * 640);
    assert_eq!(r.data_bytes, (100 * 640 - 1001) / 4 * 4);
    assert_eq!(r.trimmed_bytes, (100 * 640 - 1001) % 4);
    assert_eq!(read_channels(&paths[1]).0.len() as u64, r.data_bytes / 4);
    let mut failed: Vec<String> = report
        .failed
        .iter()
        .map(|(p, e)| format!("{}: {e}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            "garbage.wav: not a RIFF/WAVE file".to_string(),
            "header-only.wav: shorter than a WAV header (12 bytes)".to_string()
        ]
    );
    assert!(repair_dir(&dir.path().join("missing")).is_err());
}

#[test]
fn frames_past_what_a_wav_header_can_describe_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut core = WriterCore::new(1000, Arc::new(RecorderStats::default()));
    let id = Uuid::new_v4();
    let (start, path) = start_msg(dir.path(), id);
    core.handle(start, 0);
    core.handle(frame_msg(id, 0), 0);
    // A frame numbered past 37 hours would need gigabytes of silence and overflow the 32-bit sizes.
    core.handle(frame_msg(id, writer::MAX_FRAMES), 0);
    core.handle(frame_msg(id, 1), 0);
    core.handle(
        Msg::Stop {
            id,
            frames: 2,
            ended_ms: 40,
        },
        0,
    );
    assert_eq!(read_channels(&path).0.len(), 2 * FRAME_SAMPLES);
}

#[test]
fn a_file_that_cannot_be_created_is_reported_failed_and_its_frames_ignored() {
    let dir = tempfile::tempdir().unwrap();
    // A plain file where the dated folder should be.
    fs::write(dir.path().join("2026"), b"").unwrap();
    let stats = Arc::new(RecorderStats::default());
    let mut core = WriterCore::new(1000, stats.clone());
    let id = Uuid::new_v4();
    core.handle(
        Msg::Start {
            id,
            path: dir.path().join("2026/11/22/x.wav"),
            rel_path: "2026/11/22/x.wav".into(),
            started_ms: 0,
        },
        0,
    );
    core.handle(frame_msg(id, 0), 0);
    core.handle(
        Msg::Stop {
            id,
            frames: 1,
            ended_ms: 20,
        },
        0,
    );
    let out = core.take_outputs();
    assert!(
        matches!(&out[..], [CoreOutput::Failed { id: i, .. }] if *i == id),
        "{out:?}"
    );
    assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
    assert_eq!(core.open_count(), 0);
}

#[test]
fn dropping_a_tap_stops_its_recording_and_shutdown_finalises_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = events();
    let rec = Recorder::spawn(RecorderConfig::new(dir.path()), tx).unwrap();
    let handle = rec.handle();
    let mut dropped = handle.start(0).unwrap();
    let mut open = handle.start(0).unwrap();
    for f in 0..10 {
        dropped.push(Frame::default()).unwrap();
        open.push(Frame {
            left: Some(signal(1, f)),
            right: None,
        })
        .unwrap();
    }
    drop(dropped);
    rec.shutdown();
    let mut got = Vec::new();
    while let Ok(e) = rx.try_recv() {
        let RecorderEvent::Completed(c) = e else {
            panic!("{e:?}")
        };
        got.push(c.duration_ms);
    }
    assert_eq!(got, vec![200, 200]);
    // After shutdown nothing blocks: pushes are refused and counted.
    assert_eq!(open.push(Frame::default()), Err(PushError::Stopped));
    assert_eq!(
        handle.start(0).err().map(|e| e.to_string()),
        Some("recorder: the writer thread has stopped".into())
    );
    // The open tap's drop after shutdown must not panic either.
    drop(open);
}

#[test]
fn complete_hashes_the_file_or_reports_it_missing() {
    let f = writer::Finished {
        id: Uuid::new_v4(),
        path: PathBuf::from("/nonexistent/x.wav"),
        rel_path: "x.wav".into(),
        started_ms: 0,
        ended_ms: 0,
        frames: 1,
        dropped_frames: 0,
        paused_frames: 0,
    };
    assert!(matches!(complete(f), RecorderEvent::Failed { .. }));
}

async fn table_roundtrip(db: &crate::store::Db) {
    let dir = tempfile::tempdir().unwrap();
    let meta = RecordingMeta {
        call_id: "call-1".into(),
        a_leg: "leg-a".into(),
        b_leg: "leg-b".into(),
        agent: "1001".into(),
        skill_group: "g-housing".into(),
    };
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    store::insert_started(db, a, &meta, 1_000, "2026/11/22/a.wav")
        .await
        .unwrap();
    store::insert_started(db, b, &meta, 2_000, "2026/11/22/b.wav")
        .await
        .unwrap();
    let other = RecordingMeta {
        call_id: "call-2".into(),
        ..meta.clone()
    };
    store::insert_started(db, c, &other, 3_000, "2026/11/22/c.wav")
        .await
        .unwrap();

    let row = store::get(db, &a.to_string()).await.unwrap().unwrap();
    assert_eq!(row.state, RecordingState::Recording);
    assert_eq!(
        (row.meta.clone(), row.ended_ms, row.sha256.clone()),
        (meta.clone(), None, None)
    );

    let done = Completed {
        id: a,
        rel_path: "2026/11/22/a.wav".into(),
        started_ms: 1_000,
        ended_ms: 61_000,
        duration_ms: 60_000,
        size_bytes: 1_920_044,
        sha256: "ab".repeat(32),
        dropped_frames: 0,
        paused_frames: 0,
    };
    assert!(
        store::apply_event(db, &RecorderEvent::Completed(done.clone()), 0)
            .await
            .unwrap()
    );
    assert!(
        !store::complete(db, &done).await.unwrap(),
        "a completed row is not completed twice"
    );
    let row = store::get(db, &a.to_string()).await.unwrap().unwrap();
    assert_eq!(
        (
            row.state,
            row.ended_ms,
            row.duration_ms,
            row.size_bytes,
            row.sha256.as_deref()
        ),
        (
            RecordingState::Complete,
            Some(61_000),
            Some(60_000),
            Some(1_920_044),
            Some("ab".repeat(32).as_str())
        )
    );
    let failed = RecorderEvent::Failed {
        id: c,
        error: "disk full".into(),
    };
    assert!(store::apply_event(db, &failed, 9_000).await.unwrap());
    let row = store::get(db, &c.to_string()).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.error.as_str(), row.ended_ms),
        (RecordingState::Failed, "disk full", Some(9_000))
    );

    let listed = store::list_by_call(db, "call-1").await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![a.to_string(), b.to_string()]
    );
    assert!(store::get(db, "nope").await.unwrap().is_none());

    // b was cut off by a crash: its file holds 1.5 s and a stale header.
    let b_path = dir.path().join("2026/11/22/b.wav");
    fs::create_dir_all(b_path.parent().unwrap()).unwrap();
    {
        let mut w = hound::WavWriter::create(&b_path, writer::wav_spec()).unwrap();
        for i in 0..(12_000 * 2) {
            w.write_sample((i % 100) as i16).unwrap();
        }
        w.finalize().unwrap();
    }
    let f = fs::OpenOptions::new().write(true).open(&b_path).unwrap();
    f.set_len(44 + 12_000 * 4 - 2).unwrap();
    drop(f);
    // And a row whose file vanished.
    let d = Uuid::new_v4();
    store::insert_started(db, d, &meta, 4_000, "2026/11/22/gone.wav")
        .await
        .unwrap();
    let report = store::reconcile_after_crash(db, dir.path(), 50_000)
        .await
        .unwrap();
    assert_eq!(report.repaired, vec![b.to_string()]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, d.to_string());
    let row = store::get(db, &b.to_string()).await.unwrap().unwrap();
    let (sha, len) = writer::file_sha256(&b_path).unwrap();
    assert_eq!(
        (
            row.state,
            row.duration_ms,
            row.ended_ms,
            row.size_bytes,
            row.sha256
        ),
        (
            RecordingState::Repaired,
            Some(1_499),
            Some(2_000 + 1_499),
            Some(len as i64),
            Some(sha)
        )
    );
    assert_eq!(
        store::get(db, &d.to_string()).await.unwrap().unwrap().state,
        RecordingState::Failed
    );
    assert!(store::list_in_state(db, RecordingState::Recording)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn recordings_table_on_sqlite() {
    table_roundtrip(&crate::store::testing::sqlite().await).await;
}

#[tokio::test]
async fn recordings_table_on_postgres() {
    if let Some(db) = crate::store::testing::postgres("recordings").await {
        table_roundtrip(&db).await;
    }
}

use std::sync::atomic::Ordering;
