//! Conferences in the media relay over real UDP on 127.0.0.1: a caller, an agent and a supervisor
//! each send a tone of their own; what each of them hears shows who the mixer lets hear whom in
//! monitor, whisper and barge, and that leaving the conference gives the plain relay back.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::audio::{heard, level, listen, tone_ssrc, Tone, HEARD, QUIET};
use hotline::media::relay::{
    BridgeConfig, BridgeInfo, IoMode, Leg, MediaRelay, MixMode, RelayConfig,
};
use hotline::media::rtp::RtpPacket;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const CALLER_HZ: f64 = 500.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 1500.0;

/// The io_uring run of a test uses the port range 400 above its epoll run.
fn relay(io: IoMode, base: u16, workers: usize) -> MediaRelay {
    let base = if io == IoMode::Uring {
        base + 400
    } else {
        base
    };
    let r = MediaRelay::start(RelayConfig {
        bind_ip: LOCALHOST,
        port_min: base,
        port_max: base + 2 * 8 - 1,
        workers,
        bridge: BridgeConfig {
            rtp_timeout: Duration::from_secs(30),
            relatch_after_silence: Duration::from_secs(2),
            clock_rate: 8000,
        },
        coalesce: Duration::ZERO,
        io,
    })
    .expect("relay starts");
    assert_eq!(r.io(), io, "the backend asked for");
    r
}

/// A phone: a socket that sends a tone to the relay port it was given and listens.
struct Phone {
    sock: UdpSocket,
    tone: Option<Tone>,
}

impl Phone {
    fn new() -> Phone {
        let sock = UdpSocket::bind((LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        Phone { sock, tone: None }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn talk(&mut self, to_port: u16, hz: f64) {
        self.tone = Some(Tone::start(
            &self.sock,
            SocketAddr::new(LOCALHOST, to_port),
            hz,
        ));
    }

    fn listen(&self, for_: Duration) -> (Vec<i16>, Vec<Vec<u8>>) {
        listen(&self.sock, for_)
    }

    /// Drops what queued up while nobody listened (audio of the mode before).
    fn drain(&self) {
        let _ = self.listen(Duration::from_millis(300));
    }
}

/// Caller and agent on one bridge, a third phone on a bridge beside it (same worker).
fn three_phones(r: &MediaRelay) -> (Phone, Phone, Phone, BridgeInfo, BridgeInfo) {
    let (caller, agent, third) = (Phone::new(), Phone::new(), Phone::new());
    let call = r
        .create_bridge(Some(caller.addr()), Some(agent.addr()), None)
        .unwrap();
    let side = r
        .create_bridge_near(call.id, Some(third.addr()), None, None)
        .unwrap();
    (caller, agent, third, call, side)
}

/// Which of the three tones `phone` hears, as (caller, agent, supervisor).
fn hears(phone: &Phone) -> (bool, bool, bool) {
    let (pcm, _) = phone.listen(Duration::from_millis(600));
    assert!(
        pcm.len() >= 160 * 15,
        "a conference member gets a steady stream ({} samples)",
        pcm.len()
    );
    let h = heard(&pcm, &[CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ]);
    (h[0], h[1], h[2])
}

fn monitor_whisper_and_barge_route_each_voice_to_the_right_ears(io: IoMode) {
    // Two workers: the supervisor's bridge must be created on the call's worker to share its mixer.
    let r = relay(io, 26200, 2);
    let (mut caller, mut agent, mut supervisor, call, sup) = three_phones(&r);
    caller.talk(call.port_a, CALLER_HZ);
    agent.talk(call.port_b, AGENT_HZ);
    supervisor.talk(sup.port_a, SUPERVISOR_HZ);

    // Before any conference: a plain two-party relay, the supervisor hears nothing.
    std::thread::sleep(Duration::from_millis(200));
    let (_, raw) = agent.listen(Duration::from_millis(300));
    assert!(
        !raw.is_empty(),
        "the agent hears the caller through the relay"
    );
    assert_eq!(
        RtpPacket::parse(&raw[0]).unwrap().ssrc(),
        tone_ssrc(CALLER_HZ),
        "relayed as sent, not mixed"
    );
    let (quiet, _) = supervisor.listen(Duration::from_millis(100));
    assert!(quiet.is_empty());

    let conf = call.id;
    r.mix_join(conf, call.id, Leg::A, MixMode::Normal).unwrap();
    r.mix_join(conf, call.id, Leg::B, MixMode::Normal).unwrap();
    r.mix_join(conf, sup.id, Leg::A, MixMode::Monitor).unwrap();
    for p in [&caller, &agent, &supervisor] {
        p.drain();
    }
    // Monitor: the supervisor hears both, nobody hears the supervisor.
    assert_eq!(hears(&caller), (false, true, false), "caller, monitor");
    assert_eq!(hears(&agent), (true, false, false), "agent, monitor");
    assert_eq!(
        hears(&supervisor),
        (true, true, false),
        "supervisor, monitor"
    );

    // Whisper to the agent: only the agent hears the supervisor.
    r.mix_join(
        conf,
        sup.id,
        Leg::A,
        MixMode::Whisper {
            to: (call.id, Leg::B),
        },
    )
    .unwrap();
    for p in [&caller, &agent, &supervisor] {
        p.drain();
    }
    assert_eq!(hears(&caller), (false, true, false), "caller, whisper");
    assert_eq!(hears(&agent), (true, false, true), "agent, whisper");
    assert_eq!(
        hears(&supervisor),
        (true, true, false),
        "supervisor, whisper"
    );

    // Barge: all three talk.
    r.mix_join(conf, sup.id, Leg::A, MixMode::Barge).unwrap();
    for p in [&caller, &agent, &supervisor] {
        p.drain();
    }
    assert_eq!(hears(&caller), (false, true, true), "caller, barge");
    assert_eq!(hears(&agent), (true, false, true), "agent, barge");
    assert_eq!(hears(&supervisor), (true, true, false), "supervisor, barge");

    // A caller put on hold inside the conference (heard by none) still hears the others.
    r.mix_join(conf, call.id, Leg::A, MixMode::Monitor).unwrap();
    for p in [&caller, &agent, &supervisor] {
        p.drain();
    }
    assert_eq!(hears(&agent), (false, false, true), "agent, caller muted");
    assert_eq!(
        hears(&caller),
        (false, true, true),
        "muted caller still hears"
    );

    // Everyone leaves: the call is a plain relay again and the supervisor's leg hears nothing.
    r.mix_leave(conf, sup.id, Leg::A).unwrap();
    r.mix_leave(conf, call.id, Leg::A).unwrap();
    r.mix_leave(conf, call.id, Leg::B).unwrap();
    for p in [&caller, &agent, &supervisor] {
        p.drain();
    }
    let (_, raw) = agent.listen(Duration::from_millis(300));
    assert!(!raw.is_empty());
    assert!(
        raw.iter()
            .all(|p| RtpPacket::parse(p).unwrap().ssrc() != tone_ssrc(SUPERVISOR_HZ)),
        "nothing of the supervisor reaches the agent"
    );
    let (pcm, _) = agent.listen(Duration::from_millis(400));
    assert!(
        level(&pcm, CALLER_HZ) >= HEARD,
        "the relay carries the caller again"
    );
    assert!(level(&pcm, SUPERVISOR_HZ) < QUIET);
    let (quiet, _) = supervisor.listen(Duration::from_millis(200));
    assert!(quiet.is_empty(), "the supervisor's leg is out of the call");
}

fn a_destroyed_bridge_leaves_its_conference(io: IoMode) {
    let r = relay(io, 26240, 1);
    let (mut caller, mut agent, mut third, call, side) = three_phones(&r);
    caller.talk(call.port_a, CALLER_HZ);
    agent.talk(call.port_b, AGENT_HZ);
    third.talk(side.port_a, SUPERVISOR_HZ);
    for (id, leg) in [(call.id, Leg::A), (call.id, Leg::B), (side.id, Leg::A)] {
        r.mix_join(7, id, leg, MixMode::Normal).unwrap();
    }
    agent.drain();
    assert_eq!(hears(&agent), (true, false, true), "three-way call");
    r.destroy_nowait(side.id).unwrap();
    agent.drain();
    caller.drain();
    assert_eq!(
        hears(&agent),
        (true, false, false),
        "the third party has gone"
    );
    assert_eq!(hears(&caller), (false, true, false));
}

async fn a_recorded_three_way_call_keeps_the_third_party_on_the_agent_channel(io: IoMode) {
    use hotline::media::recorder::{Recorder, RecorderConfig, RecorderEvent};
    let dir = tempfile::tempdir().unwrap();
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Recorder::spawn(RecorderConfig::new(dir.path()), ev_tx).unwrap();
    let r = relay(io, 26280, 1);
    let (mut caller, mut agent, mut third, call, side) = three_phones(&r);
    r.record(
        call.id,
        recorder.handle().start(hotline::store::now_ms()).unwrap(),
    )
    .unwrap();
    caller.talk(call.port_a, CALLER_HZ);
    agent.talk(call.port_b, AGENT_HZ);
    third.talk(side.port_a, SUPERVISOR_HZ);
    for (id, leg) in [(call.id, Leg::A), (call.id, Leg::B), (side.id, Leg::A)] {
        r.mix_join(call.id, id, leg, MixMode::Normal).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    r.stop_recording(call.id).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), ev_rx.recv())
        .await
        .expect("the recording completes")
        .unwrap();
    let RecorderEvent::Completed(c) = done else {
        panic!("{done:?}")
    };
    let mut wav = hound::WavReader::open(dir.path().join(&c.rel_path)).unwrap();
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    // The last second: well after the conference started.
    let tail = &samples[samples.len().saturating_sub(2 * 8000)..];
    let left: Vec<i16> = tail.iter().step_by(2).copied().collect();
    let right: Vec<i16> = tail.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(
        heard(&left, &[CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ]),
        [true, false, false],
        "the caller alone on the left"
    );
    assert_eq!(
        heard(&right, &[CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ]),
        [false, true, true],
        "on the right, everything the caller hears: the agent and the third party"
    );
}

async fn a_paused_recording_holds_silence_for_the_paused_stretch(io: IoMode) {
    use hotline::media::recorder::{Recorder, RecorderConfig, RecorderEvent};
    let dir = tempfile::tempdir().unwrap();
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Recorder::spawn(RecorderConfig::new(dir.path()), ev_tx).unwrap();
    let r = relay(io, 26320, 1);
    let (mut caller, mut agent) = (Phone::new(), Phone::new());
    let call = r
        .create_bridge(Some(caller.addr()), Some(agent.addr()), None)
        .unwrap();
    r.record(
        call.id,
        recorder.handle().start(hotline::store::now_ms()).unwrap(),
    )
    .unwrap();
    caller.talk(call.port_a, CALLER_HZ);
    agent.talk(call.port_b, AGENT_HZ);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    r.pause_recording(call.id, true).unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    r.pause_recording(call.id, false).unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    r.stop_recording(call.id).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), ev_rx.recv())
        .await
        .expect("the recording completes")
        .unwrap();
    let RecorderEvent::Completed(c) = done else {
        panic!("{done:?}")
    };
    let mut wav = hound::WavReader::open(dir.path().join(&c.rel_path)).unwrap();
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let secs = samples.len() / 2 / 8000;
    assert!(
        secs >= 2,
        "the paused stretch keeps its place in time: {secs} s"
    );
    // 200 ms windows: sound, then silence, then sound again.
    let window = |from_ms: usize| -> Vec<i16> {
        let a = from_ms * 16;
        samples[a..a + 200 * 16]
            .iter()
            .step_by(2)
            .copied()
            .collect()
    };
    let loud = |w: &[i16]| level(w, CALLER_HZ) >= HEARD;
    let total_ms = samples.len() / 16;
    assert!(loud(&window(500)), "recorded before the pause");
    assert!(
        window(total_ms / 2 - 100).iter().all(|&s| s == 0),
        "silence while paused"
    );
    assert!(loud(&window(total_ms - 400)), "recorded after the resume");
}

// Every test above runs on both backends: `epoll::name` and `uring::name`.
mod epoll {
    #[test]
    fn monitor_whisper_and_barge_route_each_voice_to_the_right_ears() {
        super::monitor_whisper_and_barge_route_each_voice_to_the_right_ears(super::IoMode::Epoll)
    }
    #[test]
    fn a_destroyed_bridge_leaves_its_conference() {
        super::a_destroyed_bridge_leaves_its_conference(super::IoMode::Epoll)
    }
    #[tokio::test]
    async fn a_recorded_three_way_call_keeps_the_third_party_on_the_agent_channel() {
        super::a_recorded_three_way_call_keeps_the_third_party_on_the_agent_channel(
            super::IoMode::Epoll,
        )
        .await
    }
    #[tokio::test]
    async fn a_paused_recording_holds_silence_for_the_paused_stretch() {
        super::a_paused_recording_holds_silence_for_the_paused_stretch(super::IoMode::Epoll).await
    }
}
mod uring {
    #[test]
    fn monitor_whisper_and_barge_route_each_voice_to_the_right_ears() {
        super::monitor_whisper_and_barge_route_each_voice_to_the_right_ears(super::IoMode::Uring)
    }
    #[test]
    fn a_destroyed_bridge_leaves_its_conference() {
        super::a_destroyed_bridge_leaves_its_conference(super::IoMode::Uring)
    }
    #[tokio::test]
    async fn a_recorded_three_way_call_keeps_the_third_party_on_the_agent_channel() {
        super::a_recorded_three_way_call_keeps_the_third_party_on_the_agent_channel(
            super::IoMode::Uring,
        )
        .await
    }
    #[tokio::test]
    async fn a_paused_recording_holds_silence_for_the_paused_stretch() {
        super::a_paused_recording_holds_silence_for_the_paused_stretch(super::IoMode::Uring).await
    }
}
