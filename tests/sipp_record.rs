//! A recorded call with sipp on both sides: the carrier's sipp streams a 440 Hz tone, the agent's
//! sipp a 1000 Hz tone (rtp_stream from WAV files); hotline records the answered call, and the
//! stereo recording has the caller's audio on the left and the agent's on the right, each alone.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::audio::heard;
use common::{free_port, sipp_available, tone_wav_hz, Hotline, HotlineSetup, SippRun};

fn wavs_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(wavs_under(&p));
        } else if p.extension().is_some_and(|x| x == "wav") {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_sipp_call_is_recorded_with_each_side_on_its_own_channel_epoll() {
    a_sipp_call_is_recorded_with_each_side_on_its_own_channel("epoll");
}

#[test]
fn a_sipp_call_is_recorded_with_each_side_on_its_own_channel_uring() {
    a_sipp_call_is_recorded_with_each_side_on_its_own_channel("uring");
}

/// The relay on `io` ("epoll" or "uring").
fn a_sipp_call_is_recorded_with_each_side_on_its_own_channel(io: &'static str) {
    if !sipp_available("a_sipp_call_is_recorded_with_each_side_on_its_own_channel") {
        return;
    }
    let agent_port = free_port();
    let h = Hotline::start(HotlineSetup {
        rtp_io: Some(io),
        profiles: vec![(
            "test.toml".into(),
            format!(
                "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 10\n\
                 [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"extension:1001\"\n\n\
                 [agents]\nrealm = \"hotline.local\"\n[[agents.extension]]\nnumber = \"1001\"\npassword = \"pw1001\"\n\
                 contact = \"sip:1001@127.0.0.1:{agent_port}\"\n"
            ),
        )],
        ..HotlineSetup::default()
    });
    let agent = SippRun {
        wav: Some(tone_wav_hz(h.path(), 1000)),
        ..SippRun::new("agent_answer_rtp.xml", agent_port)
    }
    .spawn(h.path());
    std::thread::sleep(Duration::from_millis(300));
    let carrier = SippRun {
        remote: Some(h.sip),
        wav: Some(tone_wav_hz(h.path(), 440)),
        hold_ms: 3_000,
        ..SippRun::new("carrier_call_rtp.xml", free_port())
    }
    .spawn(h.path());
    carrier.wait().unwrap();
    agent.wait().unwrap();

    // The recorder finishes the file once the call has ended.
    let dir = h.path().join("recordings");
    let deadline = Instant::now() + Duration::from_secs(10);
    let samples: Vec<i16> = loop {
        let wavs = wavs_under(&dir);
        if let Some(w) = wavs.first() {
            if let Ok(mut r) = hound::WavReader::open(w) {
                let s: Vec<i16> = r.samples::<i16>().filter_map(Result::ok).collect();
                if s.len() >= 2 * 8000 * 2 {
                    assert_eq!(wavs.len(), 1, "one call, one recording: {wavs:?}");
                    break s;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no complete recording under {}\n{}",
            dir.display(),
            h.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The middle of the call: both streams running.
    let mid = samples.len() / 2;
    let part = &samples[mid - 8000..mid + 8000];
    let left: Vec<i16> = part.iter().step_by(2).copied().collect();
    let right: Vec<i16> = part.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(
        heard(&left, &[440.0, 1000.0]),
        [true, false],
        "the caller's 440 Hz alone on the left"
    );
    assert_eq!(
        heard(&right, &[440.0, 1000.0]),
        [false, true],
        "the agent's 1000 Hz alone on the right"
    );
}
