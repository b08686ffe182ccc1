use super::*;
use std::f64::consts::TAU;

fn tone(freq: f64, rate: u32, secs: f64, amp: f64) -> Vec<i16> {
    let n = (rate as f64 * secs) as usize;
    (0..n)
        .map(|i| (amp * (TAU * freq * i as f64 / rate as f64).sin()).round() as i16)
        .collect()
}

fn write_wav(path: &Path, rate: u32, channels: &[Vec<i16>]) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..channels[0].len() {
        for ch in channels {
            w.write_sample(ch[i]).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// Rising zero crossings in `s` (one per period of a pure tone).
fn rising_crossings(s: &[i16]) -> usize {
    s.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count()
}

fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

/// A minimal FLAC writer (STREAMINFO + frames of VERBATIM subframes), so the FLAC path is tested on a
/// file made here rather than on a tool the machine may lack. `total_samples = false` writes 0
/// ("unknown") in STREAMINFO, as a streaming encoder does.
fn write_flac(path: &Path, rate: u32, channels: &[Vec<i16>], total_samples: bool) {
    const BLOCK: usize = 4096;
    let nch = channels.len();
    let n = channels[0].len();
    let mut out = b"fLaC".to_vec();
    out.push(0x80); // last metadata block, type 0 = STREAMINFO
    out.extend_from_slice(&[0, 0, 34]);
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    out.extend_from_slice(&[0; 6]); // min/max frame size unknown
    let total = if total_samples { n as u64 } else { 0 };
    // 20 bits rate | 3 bits channels-1 | 5 bits bps-1 | 36 bits total samples
    let packed: u64 = ((rate as u64) << 44) | (((nch as u64) - 1) << 41) | (15u64 << 36) | total;
    out.extend_from_slice(&packed.to_be_bytes());
    out.extend_from_slice(&[0; 16]); // MD5 unknown
    for (frame_no, start) in (0..n).step_by(BLOCK).enumerate() {
        let len = BLOCK.min(n - start);
        let mut f = vec![0xFF, 0xF8, 0x70, (((nch - 1) as u8) << 4) | 0b1000];
        f.extend_from_slice(&utf8_number(frame_no as u32));
        f.extend_from_slice(&((len - 1) as u16).to_be_bytes());
        f.push(crc8(&f));
        for ch in channels {
            f.push(0x02); // VERBATIM, no wasted bits
            for s in &ch[start..start + len] {
                f.extend_from_slice(&s.to_be_bytes());
            }
        }
        let crc = crc16(&f);
        f.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&f);
    }
    std::fs::write(path, out).unwrap();
}

fn utf8_number(v: u32) -> Vec<u8> {
    char::from_u32(v)
        .map(|c| c.to_string().into_bytes())
        .expect("frame numbers in these tests are small")
}

fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in data {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Checks a decoded 1 kHz tone of `secs` seconds: length, frequency by zero crossings, level.
fn assert_1khz(out: &[i16], secs: f64, amp: f64) {
    let want_len = (secs * 8000.0) as usize;
    assert!(
        out.len().abs_diff(want_len) <= 8,
        "length {} want {want_len}",
        out.len()
    );
    // Skip the filter's edges: 0.1 s each side.
    let mid = &out[800..out.len() - 800];
    let secs_mid = mid.len() as f64 / 8000.0;
    let hz = rising_crossings(mid) as f64 / secs_mid;
    assert!((hz - 1000.0).abs() <= 2.0 / secs_mid, "frequency {hz} Hz");
    let level = rms(mid);
    let want = amp / 2f64.sqrt();
    assert!(
        (level / want - 1.0).abs() < 0.02,
        "rms {level}, want {want}"
    );
}

#[test]
fn wav_8k_mono_comes_back_sample_for_sample() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.wav");
    let t = tone(1000.0, 8000, 0.5, 8000.0);
    write_wav(&p, 8000, std::slice::from_ref(&t));
    assert_eq!(decode_file(&p).unwrap(), t);
}

#[test]
fn wav_16k_stereo_is_resampled_to_8k_and_keeps_1khz() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.wav");
    let t = tone(1000.0, 16000, 1.0, 10000.0);
    write_wav(&p, 16000, &[t.clone(), t]);
    assert_1khz(&decode_file(&p).unwrap(), 1.0, 10000.0);
}

#[test]
fn wav_44k1_stereo_is_resampled_to_8k_and_keeps_1khz() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.wav");
    let t = tone(1000.0, 44100, 2.0, 12000.0);
    write_wav(&p, 44100, &[t.clone(), t]);
    assert_1khz(&decode_file(&p).unwrap(), 2.0, 12000.0);
}

#[test]
fn downmix_is_the_mean_of_the_channels() {
    let dir = tempfile::tempdir().unwrap();
    // Opposite channels cancel; one silent channel halves the level.
    let p = dir.path().join("opposite.wav");
    let t = tone(1000.0, 8000, 0.5, 10000.0);
    let neg: Vec<i16> = t.iter().map(|&x| -x).collect();
    write_wav(&p, 8000, &[t.clone(), neg]);
    assert!(decode_file(&p).unwrap().iter().all(|&x| x.abs() <= 1));
    let p = dir.path().join("left_only.wav");
    write_wav(&p, 8000, &[t.clone(), vec![0; t.len()]]);
    let out = decode_file(&p).unwrap();
    assert!((rms(&out) / (rms(&t) / 2.0) - 1.0).abs() < 0.01);
}

#[test]
fn resampling_removes_content_above_the_8k_nyquist() {
    // A 6 kHz tone at 44.1 kHz cannot exist at 8 kHz: it must be filtered out, not aliased to 2 kHz.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hi.wav");
    write_wav(&p, 44100, &[tone(6000.0, 44100, 1.0, 16000.0)]);
    let out = decode_file(&p).unwrap();
    assert!(rms(&out[800..out.len() - 800]) < 16000.0 / 2f64.sqrt() * 0.01);
}

#[test]
fn flac_made_in_the_test_decodes_and_keeps_1khz() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.flac");
    let t = tone(1000.0, 44100, 1.5, 9000.0);
    write_flac(&p, 44100, &[t.clone(), t], true);
    assert_1khz(&decode_file(&p).unwrap(), 1.5, 9000.0);
}

#[test]
fn flac_8k_mono_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.flac");
    let t = tone(700.0, 8000, 0.7, 20000.0);
    write_flac(&p, 8000, std::slice::from_ref(&t), false);
    assert_eq!(decode_file(&p).unwrap(), t);
}

#[test]
fn too_long_is_refused_from_the_header_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.wav");
    // 601 s at 1 kHz: a small file whose header says it is over the 10-minute limit.
    write_wav(&p, 1000, &[vec![0; 601_000]]);
    match decode_file(&p) {
        Err(PromptError::TooLong { secs, .. }) => assert_eq!(secs, 601),
        other => panic!("{other:?}"),
    }
    // Exactly at the limit is accepted.
    write_wav(&p, 1000, &[vec![0; 600_000]]);
    assert_eq!(decode_file(&p).unwrap().len(), 4_800_000);
}

#[test]
fn too_long_is_refused_while_decoding_when_the_length_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("stream.flac");
    write_flac(&p, 8000, &[vec![0; 8000 * 3]], false);
    match decode_limited(&p, 2) {
        Err(PromptError::TooLong { secs, .. }) => assert_eq!(secs, 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(decode_limited(&p, 3).unwrap().len(), 24000);
}

#[test]
fn corrupt_files_give_decode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = 0x1234_5678u32;
    let garbage: Vec<u8> = (0..20_000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    for name in ["g.wav", "g.mp3", "g.flac", "g.ogg", "empty.wav"] {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            if name == "empty.wav" {
                &[][..]
            } else {
                &garbage
            },
        )
        .unwrap();
        assert!(
            matches!(decode_file(&p), Err(PromptError::Decode { .. })),
            "{name}: {:?}",
            decode_file(&p)
        );
    }
    // A WAV cut inside its header.
    let p = dir.path().join("cut.wav");
    write_wav(&p, 8000, &[vec![100; 800]]);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..30]).unwrap();
    assert!(matches!(decode_file(&p), Err(PromptError::Decode { .. })));
    // A FLAC whose frames fail their CRC.
    let p = dir.path().join("bad_crc.flac");
    write_flac(&p, 8000, &[vec![5; 8000]], true);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    for b in &mut bytes[42..n] {
        *b ^= 0x5a;
    }
    std::fs::write(&p, &bytes).unwrap();
    assert!(matches!(decode_file(&p), Err(PromptError::Decode { .. })));
    // A directory is not a prompt.
    assert!(matches!(
        decode_file(dir.path()),
        Err(PromptError::Decode { .. })
    ));
}

#[test]
fn a_missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.wav");
    match decode_file(&p) {
        Err(PromptError::NotFound(q)) => assert_eq!(q, p),
        other => panic!("{other:?}"),
    }
}

#[test]
fn shipped_prompts_decode_to_their_samples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts");
    let p = root.join("zh-CN/goodbye.wav");
    let want: Vec<i16> = hound::WavReader::open(&p)
        .unwrap()
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(decode_file(&p).unwrap(), want);
}

#[test]
fn preload_decodes_every_shipped_prompt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts");
    let mut files = Vec::new();
    collect_audio_files(&root, 0, &mut files);
    assert!(files.len() > 50, "{} files", files.len());
    let cache = PromptCache::new(&root);
    assert_eq!(cache.preload(), files.len());
    // After preload, a look-up is served from memory: the same Arc every time.
    let a = cache.get("zh-CN", "welcome", false).unwrap();
    let b = cache.get("zh-CN", "welcome", false).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(a.len() > 8000);
}

fn cache_dir() -> (tempfile::TempDir, PromptCache) {
    let dir = tempfile::tempdir().unwrap();
    let zh = dir.path().join("zh-CN");
    std::fs::create_dir_all(zh.join("slow/say")).unwrap();
    std::fs::create_dir_all(zh.join("say")).unwrap();
    write_wav(&zh.join("hello.wav"), 8000, &[vec![1; 80]]);
    write_wav(&zh.join("slow/hello.wav"), 8000, &[vec![2; 120]]);
    write_wav(&zh.join("bye.wav"), 8000, &[vec![3; 80]]);
    write_flac(&zh.join("music.flac"), 8000, &[vec![4; 160]], true);
    write_wav(&zh.join("say/3.wav"), 8000, &[vec![5; 40]]);
    write_wav(&zh.join("slow/say/3.wav"), 8000, &[vec![6; 60]]);
    let cache = PromptCache::new(dir.path());
    (dir, cache)
}

#[test]
fn cache_prefers_slow_copies_and_falls_back() {
    let (_dir, cache) = cache_dir();
    assert_eq!(&*cache.get("zh-CN", "hello", false).unwrap(), &[1; 80][..]);
    assert_eq!(&*cache.get("zh-CN", "hello", true).unwrap(), &[2; 120][..]);
    // No slow copy: the normal one.
    assert_eq!(&*cache.get("zh-CN", "bye", true).unwrap(), &[3; 80][..]);
    // Other extensions and sub-directories.
    assert_eq!(&*cache.get("zh-CN", "music", false).unwrap(), &[4; 160][..]);
    assert_eq!(&*cache.get("zh-CN", "say/3", false).unwrap(), &[5; 40][..]);
    assert_eq!(&*cache.get("zh-CN", "say/3", true).unwrap(), &[6; 60][..]);
    // The normal and slow-fallback look-ups of one file share one copy.
    let a = cache.get("zh-CN", "bye", false).unwrap();
    let b = cache.get("zh-CN", "bye", true).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn cache_serves_hits_from_memory_and_clones_share_it() {
    let (dir, cache) = cache_dir();
    let a = cache.get("zh-CN", "hello", false).unwrap();
    // Gone from disk: still served, and by a clone too (one cache shared across calls).
    std::fs::remove_file(dir.path().join("zh-CN/hello.wav")).unwrap();
    let clone = cache.clone();
    let b = std::thread::spawn(move || clone.get("zh-CN", "hello", false).unwrap())
        .join()
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn cache_refuses_names_that_leave_the_root() {
    let (dir, cache) = cache_dir();
    // A real file outside the language directory.
    write_wav(&dir.path().join("secret.wav"), 8000, &[vec![9; 8]]);
    for (lang, name) in [
        ("zh-CN", "../secret"),
        ("..", "secret"),
        ("zh-CN", "/etc/passwd"),
        ("zh-CN", "say//3"),
        ("zh-CN", "./hello"),
        ("zh-CN", ""),
        ("", "hello"),
        ("zh-CN/say", "3"),
        ("zh-CN", "say\\3"),
    ] {
        assert!(
            matches!(cache.get(lang, name, false), Err(PromptError::NotFound(_))),
            "{lang:?} {name:?}"
        );
    }
}

#[test]
fn cache_reports_missing_and_broken_prompts_and_retries_after_a_fix() {
    let (dir, cache) = cache_dir();
    assert!(matches!(
        cache.get("zh-CN", "nothing", true),
        Err(PromptError::NotFound(_))
    ));
    assert!(matches!(
        cache.get("en", "hello", false),
        Err(PromptError::NotFound(_))
    ));
    let p = dir.path().join("zh-CN/broken.wav");
    std::fs::write(&p, b"RIFF....WAVEjunk").unwrap();
    assert!(matches!(
        cache.get("zh-CN", "broken", false),
        Err(PromptError::Decode { .. })
    ));
    // preload counts the good files and skips the broken one.
    assert_eq!(cache.preload(), 6);
    write_wav(&p, 8000, &[vec![7; 16]]);
    assert_eq!(&*cache.get("zh-CN", "broken", false).unwrap(), &[7; 16][..]);
}

#[test]
fn cache_is_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<PromptCache>();
}
