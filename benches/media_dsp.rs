//! Media DSP benches: in-band DTMF detection per 20 ms frame, tone generation per frame, jitter
//! buffer push + pop per frame, a prompt-cache hit, and a cold prompt decode (WAV and resampled).

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hotline::media::dtmf::inband::{generate, InbandDetector};
use hotline::media::jitter::{JitterBuffer, JitterConfig};
use hotline::media::prompt::{decode_file, PromptCache};
use hotline::media::tone::{ToneGenerator, TonePlan};

fn dtmf(c: &mut Criterion) {
    // One second of audio: a press, then speech-band noise, cycled frame by frame.
    let mut audio = generate('5', 100, -10.0).unwrap();
    let mut x = 12345u32;
    audio.extend((0..7200).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ((x >> 16) as i16) >> 4
    }));
    let frames: Vec<&[i16]> = audio.chunks(160).collect();
    let mut d = InbandDetector::default();
    let now = Instant::now();
    let mut i = 0;
    c.bench_function("dtmf in-band: detector per 20 ms frame", |b| {
        b.iter(|| {
            d.push(black_box(frames[i % frames.len()]), now);
            i += 1;
            black_box(d.poll_digit())
        })
    });
}

fn tones(c: &mut Criterion) {
    let mut g = ToneGenerator::new(&TonePlan::default().ringback).unwrap();
    c.bench_function("tone: ringback 20 ms frame", |b| {
        b.iter(|| black_box(g.next_frame()))
    });
}

fn jitter(c: &mut Criterion) {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let frame = [100i16; 160];
    let t0 = Instant::now();
    let mut n: u32 = 0;
    // Prime to the target depth, then one push and one pop per 20 ms.
    for _ in 0..2 {
        jb.push(1, n as u16, n * 160, &frame, t0).unwrap();
        n += 1;
    }
    c.bench_function("jitter buffer: push + pop per 20 ms frame", |b| {
        b.iter(|| {
            let t = t0 + Duration::from_millis(20 * n as u64);
            jb.push(1, n as u16, n.wrapping_mul(160), black_box(&frame), t)
                .unwrap();
            n = n.wrapping_add(1);
            black_box(jb.pop(t))
        })
    });
}

fn prompts(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts");
    let cache = PromptCache::new(&root);
    cache.get("zh-CN", "welcome", false).unwrap();
    c.bench_function("prompt cache: hit (zh-CN/welcome)", |b| {
        b.iter(|| black_box(cache.get("zh-CN", "welcome", false).unwrap()))
    });
    let wav = root.join("zh-CN/welcome.wav");
    c.bench_function("prompt: cold decode of an 8 kHz WAV (zh-CN/welcome)", |b| {
        b.iter(|| black_box(decode_file(&wav).unwrap()))
    });
    // The same audio at 44.1 kHz stereo, so the resampler is in the path.
    let dir = std::env::temp_dir().join(format!("hotline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hi = dir.join("welcome44.wav");
    let samples: Vec<i16> = decode_file(&wav).unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&hi, spec).unwrap();
    for i in 0..samples.len() * 44_100 / 8000 {
        let s = samples[i * 8000 / 44_100];
        w.write_sample(s).unwrap();
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    let secs = samples.len() as f64 / 8000.0;
    c.bench_function(
        &format!("prompt: cold decode of a 44.1 kHz stereo WAV ({secs:.1} s), resampled to 8 kHz"),
        |b| b.iter(|| black_box(decode_file(&hi).unwrap())),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, dtmf, tones, jitter, prompts);
criterion_main!(benches);
