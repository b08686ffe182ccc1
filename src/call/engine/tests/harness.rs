//! The test bench: an engine over a recording fake media, driven in virtual time, with helpers to
//! build SIP requests as text and to pull the transmitted messages out.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::cdr::Cdr;
use crate::call::core::CallPolicy;
use crate::call::engine::{BridgeInfo, Engine, EngineConfig, MediaControl, MediaLeg, Output};
use crate::config::Profiles;
use crate::media::relay::BridgeId;
use crate::sip::message::{Method, SipMessage};
use crate::sip::registrar;
use crate::sip::sdp::DEFAULT_CODECS;
use crate::sip::transaction::{Peer, TimerConfig, TryingPolicy};
use crate::store::accounts::SipAccount;
use crate::web::Metrics;

pub const REALM: &str = "hotline.local";
/// Where hotline says it is.
pub const US: &str = "10.0.0.1:5060";
/// The carrier (trunk `carrier`): INVITEs from here are inbound trunk calls.
pub const CARRIER: &str = "192.0.2.10:5060";
/// Extension 1001's desk phone (a fixed contact in the profiles).
pub const PHONE_1001: &str = "192.0.2.50:5060";

/// A carrier with one channel whose DID 12345 rings 1001 (fixed contact) and DID 12346 rings
/// 1002 (which must register first); agents offer MD5 before SHA-256; agents dial out with 9.
pub const PROFILES: &str = r#"
[[trunk]]
name = "carrier"
peer = "192.0.2.10:5060"
inbound_sources = ["192.0.2.10"]
channels = 1
[trunk.keepalive]
interval_secs = 0
[[trunk.did]]
number = "12345"
route = "extension:1001"
[[trunk.did]]
number = "12346"
route = "extension:1002"

[agents]
realm = "hotline.local"
min_expires_secs = 60
max_expires_secs = 3600
digest_algorithms = ["MD5", "SHA-256"]
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@192.0.2.50:5060"
[[agents.extension]]
number = "1002"
password = "pw1002"

[[dial]]
prefix = "9"
trunks = ["carrier"]
strip = 1
"#;

/// Everything the fake media was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCall {
    Create {
        id: BridgeId,
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
    },
    Update {
        id: BridgeId,
        leg: MediaLeg,
        addr: SocketAddr,
    },
    Direction {
        id: BridgeId,
        leg: MediaLeg,
        sends: bool,
        receives: bool,
    },
    Destroy {
        id: BridgeId,
    },
    Format {
        id: BridgeId,
        leg: MediaLeg,
        pt: u8,
        dtmf: Option<u8>,
    },
    Play {
        id: BridgeId,
        leg: MediaLeg,
        play: u64,
        prompts: Vec<String>,
        looping: bool,
    },
    StopPlay {
        id: BridgeId,
        leg: MediaLeg,
        play: Option<u64>,
    },
    Record {
        id: BridgeId,
        meta: crate::media::recorder::RecordingMeta,
    },
    StopRecord {
        id: BridgeId,
    },
    PauseRecord {
        id: BridgeId,
        paused: bool,
    },
    Mix {
        conf: u64,
        id: BridgeId,
        leg: MediaLeg,
        mode: Option<crate::media::relay::MixMode>,
    },
}

/// Hands out bridges with ports 40000/40002, 40004/40006, ... and records every call.
#[derive(Clone, Default)]
pub struct FakeMedia {
    pub log: Rc<RefCell<Vec<MediaCall>>>,
    next: Rc<RefCell<u64>>,
    /// Refuse new bridges (no free ports).
    pub exhausted: Rc<RefCell<bool>>,
    /// What every bridge reports as its legs' quality.
    pub quality: Rc<RefCell<Option<[crate::media::quality::LegQualityReport; 2]>>>,
}

impl MediaControl for FakeMedia {
    fn create_bridge(
        &mut self,
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
    ) -> Result<BridgeInfo, String> {
        if *self.exhausted.borrow() {
            return Err("port pool exhausted".into());
        }
        let mut n = self.next.borrow_mut();
        let id = *n + 1;
        *n += 1;
        self.log
            .borrow_mut()
            .push(MediaCall::Create { id, hint_a, hint_b });
        let base = 40000 + (id as u16 - 1) * 4;
        Ok(BridgeInfo {
            id,
            port_a: base,
            port_b: base + 2,
        })
    }

    fn create_bridge_near(
        &mut self,
        _near: BridgeId,
        hint_a: Option<SocketAddr>,
    ) -> Result<BridgeInfo, String> {
        self.create_bridge(hint_a, None)
    }

    fn mix(
        &mut self,
        conf: u64,
        id: BridgeId,
        leg: MediaLeg,
        mode: Option<crate::media::relay::MixMode>,
    ) {
        self.log.borrow_mut().push(MediaCall::Mix {
            conf,
            id,
            leg,
            mode,
        });
    }

    fn update_remote(&mut self, id: BridgeId, leg: MediaLeg, addr: SocketAddr) {
        self.log
            .borrow_mut()
            .push(MediaCall::Update { id, leg, addr });
    }

    fn set_direction(&mut self, id: BridgeId, leg: MediaLeg, sends: bool, receives: bool) {
        self.log.borrow_mut().push(MediaCall::Direction {
            id,
            leg,
            sends,
            receives,
        });
    }

    fn destroy(&mut self, id: BridgeId) {
        self.log.borrow_mut().push(MediaCall::Destroy { id });
    }

    fn set_format(&mut self, id: BridgeId, leg: MediaLeg, pt: u8, dtmf: Option<u8>) {
        self.log
            .borrow_mut()
            .push(MediaCall::Format { id, leg, pt, dtmf });
    }

    fn play(
        &mut self,
        id: BridgeId,
        leg: MediaLeg,
        play: u64,
        prompts: &[crate::ivr::interp::PromptRef],
        _rate: f32,
        looping: bool,
    ) {
        let prompts = prompts
            .iter()
            .map(|p| match p {
                crate::ivr::interp::PromptRef::File { name, .. } => name.clone(),
                crate::ivr::interp::PromptRef::Tts { text, .. } => format!("tts:{text}"),
            })
            .collect();
        self.log.borrow_mut().push(MediaCall::Play {
            id,
            leg,
            play,
            prompts,
            looping,
        });
    }

    fn start_recording(
        &mut self,
        id: BridgeId,
        meta: crate::media::recorder::RecordingMeta,
    ) -> Option<String> {
        self.log.borrow_mut().push(MediaCall::Record { id, meta });
        Some(format!("rec-{id}"))
    }

    fn stop_recording(&mut self, id: BridgeId) {
        self.log.borrow_mut().push(MediaCall::StopRecord { id });
    }

    fn pause_recording(&mut self, id: BridgeId, paused: bool) {
        self.log
            .borrow_mut()
            .push(MediaCall::PauseRecord { id, paused });
    }

    fn quality(&mut self, _id: BridgeId) -> Option<[crate::media::quality::LegQualityReport; 2]> {
        *self.quality.borrow()
    }

    fn play_samples(
        &mut self,
        id: BridgeId,
        leg: MediaLeg,
        play: u64,
        samples: Vec<i16>,
        looping: bool,
    ) {
        self.log.borrow_mut().push(MediaCall::Play {
            id,
            leg,
            play,
            prompts: vec![format!("samples:{}", samples.len())],
            looping,
        });
    }

    fn stop_play(&mut self, id: BridgeId, leg: MediaLeg, play: Option<u64>) {
        self.log
            .borrow_mut()
            .push(MediaCall::StopPlay { id, leg, play });
    }
}

/// A message the engine transmitted, parsed, with where and when it went.
#[derive(Debug, Clone)]
pub struct Sent {
    pub msg: SipMessage,
    pub peer: Peer,
    pub at: Instant,
    pub bytes: bytes::Bytes,
}

impl Sent {
    pub fn code(&self) -> Option<u16> {
        self.msg.status_code()
    }
    pub fn method(&self) -> Option<&Method> {
        self.msg.method()
    }
    pub fn hdr(&self, name: &str) -> String {
        self.msg.header_str(name).unwrap_or_default().to_string()
    }
    pub fn body(&self) -> String {
        String::from_utf8_lossy(self.msg.body()).into_owned()
    }
    pub fn call_id(&self) -> String {
        self.msg.call_id().unwrap_or_default().to_string()
    }
    pub fn cseq_method(&self) -> Option<Method> {
        self.msg.cseq().ok().map(|c| c.method)
    }
    pub fn tag_to(&self) -> String {
        self.msg
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default()
    }
    pub fn tag_from(&self) -> String {
        self.msg
            .from()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default()
    }
    /// The `m=audio` port of the SDP body.
    pub fn sdp_port(&self) -> Option<u16> {
        sdp_audio_port(&self.body())
    }
}

pub fn sdp_audio_port(body: &str) -> Option<u16> {
    body.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

pub fn peer(s: &str) -> Peer {
    Peer::udp(addr(s))
}

/// A lookup the engine asked for: call, lookup id, source, arguments.
pub type Lookup = (
    u64,
    u64,
    crate::ivr::flow::LookupSource,
    Vec<(String, String)>,
);

pub struct Bench {
    pub e: Engine<FakeMedia>,
    pub media: FakeMedia,
    pub metrics: Arc<Metrics>,
    pub t0: Instant,
    pub now: Instant,
    pub sent: VecDeque<Sent>,
    pub cdrs: Vec<Cdr>,
    pub bindings: Vec<Vec<registrar::Change>>,
    /// Events the engine sent to the ACD.
    pub acd: Vec<crate::acd::Event>,
    pub lookups: Vec<Lookup>,
    pub ratings: Vec<(String, u8, u8)>,
    /// Voice messages to turn into tickets: (call, recording).
    pub messages: Vec<(String, String)>,
    /// Callers' histories the engine asked the shell to look up: (call, caller).
    pub history_lookups: Vec<(u64, String)>,
}

pub fn timers() -> TimerConfig {
    TimerConfig {
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
        trying: TryingPolicy::Immediate,
        ..TimerConfig::default()
    }
}

pub fn account(ext: &str, pw: &str) -> SipAccount {
    let (md5, sha) = crate::store::accounts::ha1(ext, REALM, pw);
    SipAccount {
        extension: ext.into(),
        realm: REALM.into(),
        ha1_md5: md5,
        ha1_sha256: sha,
        display_name: String::new(),
        enabled: true,
    }
}

impl Bench {
    pub fn new() -> Bench {
        Bench::with_profiles(PROFILES)
    }

    /// A bench whose engine serves the shipped IVR flows (always open) and, with `acd`, queues.
    pub fn with_services(toml: &str, acd: bool) -> Bench {
        let mut b = Bench::with_profiles(toml);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
        let (reg, outcome) = crate::ivr::FlowRegistry::open(dir);
        assert!(!outcome.report.has_errors(), "{}", outcome.report);
        b.e.set_services(crate::call::engine::Services {
            flows: reg.current(),
            env: crate::ivr::interp::Env {
                calendar: std::sync::Arc::new(crate::ivr::AlwaysOpen),
                lists: std::sync::Arc::new(crate::ivr::StaticLists::new()),
            },
            acd,
            language: "zh-CN".into(),
        });
        b
    }

    /// The ACD offers `call` to agent A1 on extension 1001 with auto-answer.
    pub fn offer_to_a1(&mut self, call: &str) {
        self.e.handle_acd_action(
            crate::acd::event::Action::OfferCall {
                call: call.into(),
                agent_no: "A1".into(),
                endpoint: Some(crate::acd::Endpoint::Sip {
                    extension: "1001".into(),
                }),
                auto_answer: true,
                ring_timeout_ms: 15_000,
                callback: None,
            },
            self.now,
        );
        self.drain();
    }

    pub fn with_profiles(toml: &str) -> Bench {
        let profiles = Profiles::parse_all([("test.toml", toml)]).expect("test profiles are valid");
        let cfg = EngineConfig {
            advertise: "10.0.0.1".parse().expect("ip"),
            sip_port: 5060,
            realm: REALM.into(),
            profiles,
            timers: timers(),
            call: CallPolicy::default(),
            codecs: DEFAULT_CODECS.to_vec(),
            registrar: registrar::Limits {
                min_expires: 60,
                max_expires: 3600,
                ..registrar::Limits::default()
            },
            nonce_secret: b"engine-tests-secret".to_vec(),
            linger: Duration::from_secs(32),
            session_timer: crate::sip::dialog::SessionTimerConfig::default(),
        };
        let media = FakeMedia::default();
        let metrics = Metrics::new();
        let t0 = Instant::now();
        let mut e = Engine::new(cfg, media.clone(), metrics.clone(), t0);
        e.set_accounts(vec![account("1001", "pw1001"), account("1002", "pw1002")]);
        let mut b = Bench {
            e,
            media,
            metrics,
            t0,
            now: t0,
            sent: VecDeque::new(),
            cdrs: Vec::new(),
            bindings: Vec::new(),
            acd: Vec::new(),
            lookups: Vec::new(),
            ratings: Vec::new(),
            messages: Vec::new(),
            history_lookups: Vec::new(),
        };
        b.drain();
        b
    }

    /// Collects everything the engine has to output.
    pub fn drain(&mut self) {
        let mut guard = 0;
        while let Some(o) = self.e.poll_output() {
            guard += 1;
            assert!(guard < 10_000, "the engine keeps producing output");
            match o {
                Output::Transmit { bytes, peer } => {
                    let msg = SipMessage::parse(bytes.clone()).unwrap_or_else(|e| {
                        panic!(
                            "engine sent an unparsable message ({e}):\n{}",
                            String::from_utf8_lossy(&bytes)
                        )
                    });
                    self.sent.push_back(Sent {
                        msg,
                        peer,
                        at: self.now,
                        bytes,
                    });
                }
                Output::Bindings(c) => self.bindings.push(c),
                Output::Cdr(c) => self.cdrs.push(*c),
                Output::Acd(ev) => self.acd.push(ev),
                Output::Lookup {
                    call,
                    id,
                    source,
                    args,
                    ..
                } => self.lookups.push((call, id, source, args)),
                Output::Rating {
                    call_id,
                    rating,
                    scale,
                    ..
                } => self.ratings.push((call_id, rating, scale)),
                Output::MessageTicket {
                    call_id, recording, ..
                } => self.messages.push((call_id, recording)),
                Output::CallerHistory { call, caller } => self.history_lookups.push((call, caller)),
            }
        }
    }

    /// Feeds a message as text from `from`.
    pub fn recv_text(&mut self, text: &str, from: &str) {
        let msg = SipMessage::parse(text.as_bytes().to_vec())
            .unwrap_or_else(|e| panic!("test message does not parse ({e}):\n{text}"));
        self.recv(msg, from);
    }

    pub fn recv(&mut self, msg: SipMessage, from: &str) {
        self.e.handle_message(msg, peer(from), self.now);
        self.drain();
    }

    /// Moves virtual time forward by `d`, firing every timer due on the way at its own time.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        let mut guard = 0;
        while let Some(t) = self.e.poll_timeout() {
            if t > target {
                break;
            }
            guard += 1;
            assert!(guard < 100_000, "timers do not settle");
            self.now = self.now.max(t);
            self.e.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
        self.e.handle_timeout(self.now);
        self.drain();
    }

    /// Milliseconds since the bench started.
    pub fn ms(&self, at: Instant) -> u128 {
        at.duration_since(self.t0).as_millis()
    }

    /// Removes and returns the first transmitted message matching `pred`.
    pub fn take(&mut self, pred: impl Fn(&Sent) -> bool) -> Option<Sent> {
        let i = self.sent.iter().position(pred)?;
        self.sent.remove(i)
    }

    /// Like [`Bench::take`], failing the test with everything sent when nothing matches.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&Sent) -> bool) -> Sent {
        match self.take(pred) {
            Some(s) => s,
            None => panic!("expected {what}; sent were:\n{}", self.dump()),
        }
    }

    pub fn expect_response(&mut self, code: u16, method: Method, to: &str) -> Sent {
        let to = peer(to);
        self.expect(&format!("{code} to {method:?} sent to {}", to.addr), |s| {
            s.code() == Some(code) && s.cseq_method() == Some(method.clone()) && s.peer == to
        })
    }

    pub fn expect_request(&mut self, method: Method, to: &str) -> Sent {
        let to = peer(to);
        self.expect(&format!("{method:?} sent to {}", to.addr), |s| {
            s.method() == Some(&method) && s.peer == to
        })
    }

    /// The transaction layer's ACK for a non-2xx final response a far end sent to our INVITE.
    pub fn expect_ack_of_failure(&mut self, to: &str) -> Sent {
        self.expect_request(Method::Ack, to)
    }

    pub fn count(&self, pred: impl Fn(&Sent) -> bool) -> usize {
        self.sent.iter().filter(|s| pred(s)).count()
    }

    pub fn dump(&self) -> String {
        self.sent
            .iter()
            .map(|s| {
                let first = s.bytes.split(|&b| b == b'\r').next().unwrap_or_default();
                format!(
                    "  +{}ms -> {}: {} [{}]",
                    self.ms(s.at),
                    s.peer.addr,
                    String::from_utf8_lossy(first),
                    s.hdr("CSeq")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn media_log(&self) -> Vec<MediaCall> {
        self.media.log.borrow().clone()
    }

    /// The one bridge created so far.
    pub fn bridge(&self) -> BridgeId {
        self.media_log()
            .iter()
            .find_map(|c| match c {
                MediaCall::Create { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a bridge was created")
    }
}

/// An SDP offer/answer for audio at `ip:port` with PCMU, PCMA and DTMF events.
pub fn sdp(ip: &str, port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n{extra}"
    )
}

/// A request as text; `headers` are extra header lines (each ending in CRLF).
#[allow(clippy::too_many_arguments)]
pub fn request(
    method: &str,
    uri: &str,
    via_host: &str,
    branch: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    headers: &str,
    body: &str,
) -> String {
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_string()
    };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via_host};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
         {headers}{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The carrier's INVITE for `did` from caller 13800138000, media at 192.0.2.10:30000.
pub fn carrier_invite(call_id: &str, did: &str) -> String {
    request(
        "INVITE",
        &format!("sip:{did}@{US}"),
        CARRIER,
        &format!("inv-{call_id}"),
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:{did}@{US}>"),
        call_id,
        1,
        "Contact: <sip:13800138000@192.0.2.10:5060>\r\n",
        &sdp("192.0.2.10", 30000, ""),
    )
}

/// A response from the far end to a request hotline sent, as text that goes through the parser.
pub fn answer(req: &Sent, code: u16, reason: &str, to_tag: Option<&str>, body: &str) -> SipMessage {
    let mut r = SipMessage::response_to(&req.msg, code, reason, to_tag);
    if (101..300).contains(&code) && req.method() == Some(&Method::Invite) {
        r.push_header("Contact", format!("<sip:far@{}>", req.peer.addr));
    }
    if !body.is_empty() {
        r.set_body(body.as_bytes().to_vec(), Some("application/sdp"));
    }
    SipMessage::parse(r.to_bytes()).expect("our response parses")
}

/// An in-dialog request from the caller (the carrier) toward hotline, in the dialog our 200 made.
pub fn a_in_dialog(method: &str, call_id: &str, our_tag: &str, cseq: u32, branch: &str) -> String {
    request(
        method,
        &format!("sip:hotline@{US}"),
        CARRIER,
        branch,
        "<sip:13800138000@192.0.2.10>;tag=a-tag",
        &format!("<sip:12345@{US}>;tag={our_tag}"),
        call_id,
        cseq,
        "",
        "",
    )
}

/// Agent 1001 (at [`PHONE_1001`]) dials `number`: the INVITE is challenged, the 407 ACKed, and
/// the INVITE resent with `Proxy-Authorization`. Returns the B-leg INVITE hotline sent.
pub fn agent_dial(b: &mut Bench, call_id: &str, number: &str) -> Sent {
    let invite = |auth: &str, cseq: u32| {
        request(
            "INVITE",
            &format!("sip:{number}@{US}"),
            PHONE_1001,
            &format!("{call_id}-{cseq}"),
            "<sip:1001@hotline.local>;tag=ag",
            &format!("<sip:{number}@{US}>"),
            call_id,
            cseq,
            &format!("Contact: <sip:1001@{PHONE_1001}>\r\n{auth}"),
            &sdp("192.0.2.50", 20000, ""),
        )
    };
    b.recv_text(&invite("", 1), PHONE_1001);
    let challenge = b.expect("the 407 for this call", |s| {
        s.code() == Some(407) && s.call_id() == call_id
    });
    ack_final(b, &challenge, PHONE_1001);
    let values: Vec<String> = challenge
        .msg
        .headers("Proxy-Authenticate")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let mut client = crate::sip::auth::DigestClient::new("1001", "pw1001");
    client
        .handle_challenge(407, values.iter().map(String::as_str), false)
        .expect("a usable challenge");
    let (name, creds) = client
        .credentials("INVITE", &format!("sip:{number}@{US}"), b"", "c0ffee")
        .expect("credentials");
    let auth = format!("{name}: {}\r\n", creds.to_header_value());
    b.recv_text(&invite(&auth, 2), PHONE_1001);
    b.expect(&format!("the B-leg INVITE for {number}"), |s| {
        s.method() == Some(&Method::Invite) && s.peer != peer(PHONE_1001)
    })
}

/// The caller's ACK for a non-2xx final response hotline sent (same branch and CSeq number as
/// the INVITE, RFC 3261 §17.1.1.3).
pub fn ack_final(b: &mut Bench, resp: &Sent, from: &str) {
    let via = resp.hdr("Via");
    let branch = via
        .split(";branch=z9hG4bK")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_default()
        .to_string();
    let seq = resp.msg.cseq().map(|c| c.seq).unwrap_or(1);
    let ruri = resp
        .msg
        .to()
        .map(|t| t.uri.as_str().to_string())
        .unwrap_or_default();
    let ack = request(
        "ACK",
        &ruri,
        from,
        &branch,
        &resp.hdr("From"),
        &resp.hdr("To"),
        &resp.call_id(),
        seq,
        "",
        "",
    );
    b.recv_text(&ack, from);
}

/// Sets Content-Length to the body's real length (after a test edited the body).
pub fn fix_length(text: &str) -> String {
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return text.to_string();
    };
    let head = head
        .split("\r\n")
        .map(|l| {
            if l.starts_with("Content-Length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{head}\r\n\r\n{body}")
}
