//! Mixer and recorder costs: one mixer tick (20 ms of audio for every party) of a three-way call and of a
//! three-way call with a monitoring supervisor, and how many frames per second one recorder writer thread
//! puts into WAV files for many concurrent recordings (÷ 50 = the concurrent recorded calls it sustains).
//!
//! Run: `cargo bench --bench media_mix -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hotline::media::mixer::{Mixer, Mode, FRAME};
use hotline::media::recorder::{Frame, Recorder, RecorderConfig, FRAME_SAMPLES};

fn voice(seed: i32) -> [i16; FRAME] {
    let mut f = [0i16; FRAME];
    for (i, s) in f.iter_mut().enumerate() {
        *s = (((i as i32 * 37 + seed * 101) % 2001) - 1000) as i16 * 8;
    }
    f
}

fn mixer(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixer");
    g.throughput(Throughput::Elements(1));
    let frames = [voice(1), voice(2), voice(3), voice(4)];

    let mut m = Mixer::new();
    let three: Vec<_> = (0..3).map(|_| m.add(Mode::Normal).unwrap()).collect();
    m.mix();
    g.bench_function("three_way_tick", |b| {
        b.iter(|| {
            for (id, f) in three.iter().zip(&frames) {
                m.input(*id, black_box(f)).unwrap();
            }
            m.mix();
            black_box(m.output(three[0]).unwrap()[0])
        })
    });

    let mut m = Mixer::new();
    let mut four: Vec<_> = (0..3).map(|_| m.add(Mode::Normal).unwrap()).collect();
    four.push(m.add(Mode::Monitor).unwrap());
    m.mix();
    g.bench_function("three_way_plus_monitor_tick", |b| {
        b.iter(|| {
            for (id, f) in four.iter().zip(&frames) {
                m.input(*id, black_box(f)).unwrap();
            }
            m.mix();
            black_box(m.output(four[3]).unwrap()[0])
        })
    });

    // Worst case: the supervisor switches between whisper and barge every frame, so every tick ramps.
    let mut whisper = true;
    g.bench_function("three_way_plus_supervisor_switching_every_tick", |b| {
        b.iter(|| {
            let mode = if whisper {
                Mode::Whisper { to: four[1] }
            } else {
                Mode::Barge
            };
            whisper = !whisper;
            m.set_mode(four[3], mode).unwrap();
            for (id, f) in four.iter().zip(&frames) {
                m.input(*id, black_box(f)).unwrap();
            }
            m.mix();
            black_box(m.output(four[0]).unwrap()[0])
        })
    });
    g.finish();
}

fn recorder(c: &mut Criterion) {
    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(1));
    let (left, right) = (voice(5), voice(6));
    let mut l = [0i16; FRAME_SAMPLES];
    let mut r = [0i16; FRAME_SAMPLES];
    l.copy_from_slice(&left);
    r.copy_from_slice(&right);
    for calls in [100usize, 1000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let config = RecorderConfig::new(dir.path());
        let cap = config.queue_frames;
        let rec = Recorder::spawn(config, tx).expect("recorder");
        let handle = rec.handle();
        let mut taps: Vec<_> = (0..calls)
            .map(|_| handle.start(1_795_000_000_000).expect("start"))
            .collect();
        let stats = handle.stats().clone();
        // Frames per second into files, all stereo with audio on both sides. The pushing thread waits
        // for room rather than dropping, so every frame counted is one the writer really wrote.
        g.bench_with_input(BenchmarkId::new("frames_to_disk", calls), &calls, |b, _| {
            b.iter_custom(|iters| {
                let target = stats.frames_written.load(Ordering::Acquire) + iters;
                let t0 = Instant::now();
                for i in 0..iters {
                    while handle.queued() + 1 >= cap {
                        std::thread::yield_now();
                    }
                    let tap = &mut taps[i as usize % calls];
                    tap.push(Frame {
                        left: Some(l),
                        right: Some(r),
                    })
                    .expect("room was waited for");
                }
                while stats.frames_written.load(Ordering::Acquire) < target {
                    std::thread::sleep(Duration::from_micros(50));
                }
                t0.elapsed()
            })
        });
        assert_eq!(stats.frames_dropped.load(Ordering::Relaxed), 0);
        for tap in taps {
            tap.stop(1_795_000_000_000).expect("stop");
        }
        rec.shutdown();
    }
    g.finish();
}

criterion_group!(benches, mixer, recorder);
criterion_main!(benches);
