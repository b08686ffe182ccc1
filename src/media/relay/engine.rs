//! The relay engine: a fixed number of worker threads, each owning many bridges and their sockets, driven by
//! io_uring (multishot receives into provided buffers, sends queued and submitted once per round) or by
//! epoll with recvmmsg/sendmmsg ([`IoMode`]), and the [`MediaRelay`] control handle the call layer uses.
//! Everything but the wait-and-read loop is shared by the two: commands, bridges, playback, mixing, ticks.
//!
//! Why threads and not tokio tasks: a tokio task per socket costs a wakeup and a syscall per packet plus
//! scheduler overhead; a worker that owns its sockets outright needs no locks on the packet path, reads every
//! waiting datagram of a socket with one recvmmsg and forwards them with one sendmmsg from the receive buffers.
//! Both legs of a bridge live on the same worker, so forwarding is local. Control commands arrive over a
//! channel plus an eventfd wakeup; events go out on the bridge's own tokio channel.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc as tmpsc, oneshot};

use super::bridge::{
    BridgeConfig, BridgeCore, BridgeEvent, Leg, LegStats, MediaDirection, Verdict,
};
use super::local::{LegFormat, Playback, PTIME};
use super::rtcp_leg::RtcpPortStats;
use super::sys::{Batch, Epoll, EventFd, BATCH};
use super::uring::{Completion, Uring};
use crate::media::mixer::{Mixer, Mode, PartyId};
use crate::media::port_pool::{PortPair, PortPool, PortPoolError};
use crate::media::quality::LegQualityReport;
use crate::media::recorder::RecordingTap;

/// Identifies a bridge for the life of the relay.
pub type BridgeId = u64;

/// Identifies a conference (a mixer and the legs in it) on the worker of its bridges.
pub type ConfId = u64;

/// How a leg takes part in a conference (see [`crate::media::mixer::Mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixMode {
    /// Hears all, heard by all (caller, agent, a consulted or third party, a barging supervisor).
    Normal,
    /// Hears all, heard by none (a monitoring supervisor, a muted agent, a caller on hold).
    Monitor,
    /// Hears all, heard only by that leg (a supervisor coaching the agent).
    Whisper { to: (BridgeId, Leg) },
    /// A supervisor who joined the call: as `Normal`, named apart.
    Barge,
}

/// Which kernel interface the relay workers wait and move packets with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoMode {
    /// io_uring where the kernel offers it (Linux 6.0 and up, not blocked by a seccomp filter), else
    /// epoll with a logged warning.
    #[default]
    Auto,
    /// io_uring or fail to start.
    Uring,
    /// epoll with recvmmsg/sendmmsg (two system calls per relayed packet at telephony rates).
    Epoll,
}

impl IoMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IoMode::Auto => "auto",
            IoMode::Uring => "uring",
            IoMode::Epoll => "epoll",
        }
    }
}

impl fmt::Display for IoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IoMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "auto" => Ok(IoMode::Auto),
            "uring" => Ok(IoMode::Uring),
            "epoll" => Ok(IoMode::Epoll),
            _ => Err(()),
        }
    }
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Local address the RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// RTP port range (inclusive); RTP on even ports, RTCP on the odd port above.
    pub port_min: u16,
    pub port_max: u16,
    /// Worker threads; each owns a share of the bridges. 1 is enough for thousands of calls (about 3,000
    /// per core on io_uring, measured in benches/RESULTS.md).
    pub workers: usize,
    pub bridge: BridgeConfig,
    /// After each epoll round, sleep this long so more sockets are ready per round (fewer syscalls per
    /// packet, at most this much added latency). Zero disables.
    pub coalesce: Duration,
    /// io_uring or epoll.
    pub io: IoMode,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_min: 20000,
            port_max: 29999,
            workers: 1,
            bridge: BridgeConfig::default(),
            coalesce: Duration::ZERO,
            io: IoMode::default(),
        }
    }
}

#[derive(Debug)]
pub enum RelayError {
    Pool(PortPoolError),
    Io(io::Error),
    /// No such bridge (never created, or destroyed).
    UnknownBridge(BridgeId),
    /// The worker threads are gone.
    Stopped,
    Config(&'static str),
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::Pool(e) => write!(f, "media relay: {e}"),
            RelayError::Io(e) => write!(f, "media relay I/O: {e}"),
            RelayError::UnknownBridge(id) => write!(f, "media relay: no bridge {id}"),
            RelayError::Stopped => write!(f, "media relay stopped"),
            RelayError::Config(what) => write!(f, "media relay config: {what}"),
        }
    }
}

impl std::error::Error for RelayError {}

impl From<PortPoolError> for RelayError {
    fn from(e: PortPoolError) -> Self {
        RelayError::Pool(e)
    }
}
impl From<io::Error> for RelayError {
    fn from(e: io::Error) -> Self {
        RelayError::Io(e)
    }
}

/// What [`MediaRelay::create_bridge`] hands back: the local ports to put in each leg's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeInfo {
    pub id: BridgeId,
    /// Local RTP port facing leg A (put in the SDP sent to A).
    pub port_a: u16,
    /// Local RTP port facing leg B.
    pub port_b: u16,
}

/// Counters of both legs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BridgeStats {
    pub a: LegStats,
    pub b: LegStats,
    /// Datagrams the kernel refused to send (socket buffer full, ICMP errors).
    pub send_errors: u64,
    /// Per-leg quality (leg A, leg B): loss, jitter, RTCP reports, R and MOS.
    pub quality: [LegQualityReport; 2],
    /// Per-leg RTCP port counters (leg A, leg B).
    pub rtcp: [RtcpPortStats; 2],
}

/// The latest per-leg quality of every bridge, published by the workers about once a second
/// so the call layer can read it without waiting (e.g. into the CDR as the call ends).
/// (None until the first publication.)
type QualityBoard = Arc<Mutex<HashMap<BridgeId, Option<[LegQualityReport; 2]>>>>;

/// An event of one bridge, delivered on the channel given at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayEvent {
    pub bridge: BridgeId,
    pub event: BridgeEvent,
}

enum Command {
    Create {
        id: BridgeId,
        socks: [UdpSocket; 2],
        ports: [PortPair; 2],
        hints: [Option<SocketAddr>; 2],
        events: Option<tmpsc::UnboundedSender<RelayEvent>>,
        /// Each leg's RTCP socket on the odd port (None: that port was taken by another program).
        rtcp: [Option<UdpSocket>; 2],
    },
    UpdateRemote {
        id: BridgeId,
        leg: Leg,
        addr: SocketAddr,
    },
    SetDirection {
        id: BridgeId,
        leg: Leg,
        dir: MediaDirection,
    },
    SetFormat {
        id: BridgeId,
        leg: Leg,
        format: LegFormat,
    },
    Play {
        id: BridgeId,
        leg: Leg,
        playback: Box<Playback>,
    },
    StopPlay {
        id: BridgeId,
        leg: Leg,
        play: Option<u64>,
    },
    Record {
        id: BridgeId,
        tap: Box<RecordingTap>,
    },
    StopRecord {
        id: BridgeId,
    },
    PauseRecord {
        id: BridgeId,
        paused: bool,
    },
    Stats {
        id: BridgeId,
        reply: oneshot::Sender<Option<BridgeStats>>,
    },
    /// Adds the leg to the conference (created on its first member), or changes its mode.
    MixJoin {
        conf: ConfId,
        id: BridgeId,
        leg: Leg,
        mode: MixMode,
    },
    MixLeave {
        conf: ConfId,
        id: BridgeId,
        leg: Leg,
    },
    Destroy {
        id: BridgeId,
        reply: Option<oneshot::Sender<Option<BridgeStats>>>,
    },
    Stop,
}

struct WorkerLink {
    tx: mpsc::Sender<Command>,
    wake: Arc<EventFd>,
}

struct Inner {
    cfg: RelayConfig,
    pool: Arc<Mutex<PortPool>>,
    workers: Vec<WorkerLink>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    quality: QualityBoard,
    /// What the workers run on (never `Auto`).
    io: IoMode,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.tx.send(Command::Stop);
            w.wake.notify();
        }
        if let Ok(mut threads) = self.threads.lock() {
            for t in threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

/// The control handle of the relay; cheap to clone. Dropping the last clone stops the workers.
#[derive(Clone)]
pub struct MediaRelay {
    inner: Arc<Inner>,
}

impl MediaRelay {
    /// Starts the worker threads.
    pub fn start(cfg: RelayConfig) -> Result<Self, RelayError> {
        if cfg.workers == 0 || cfg.workers > 64 {
            return Err(RelayError::Config("workers must be 1..=64"));
        }
        let pool = Arc::new(Mutex::new(PortPool::new(cfg.port_min, cfg.port_max)?));
        let mut workers = Vec::with_capacity(cfg.workers);
        let mut threads = Vec::with_capacity(cfg.workers);
        let quality = QualityBoard::default();
        let mut io_used = IoMode::Epoll;
        for i in 0..cfg.workers {
            let (tx, rx) = mpsc::channel();
            let wake = Arc::new(EventFd::new()?);
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let (wake2, pool2, quality2, mode) =
                (wake.clone(), pool.clone(), quality.clone(), cfg.io);
            let (bridge_cfg, coalesce) = (cfg.bridge, cfg.coalesce);
            let spawned = std::thread::Builder::new()
                .name(format!("media-relay-{i}"))
                .spawn(move || {
                    // The ring is single-issuer: made on the thread that uses it.
                    let io = match Io::open(mode, &wake2) {
                        Ok(io) => {
                            let _ = ready_tx.send(Ok(io.mode()));
                            io
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    Worker {
                        io,
                        wake: wake2,
                        rx,
                        pool: pool2,
                        slots: Vec::new(),
                        free: Vec::new(),
                        by_id: HashMap::new(),
                        playing: Vec::new(),
                        confs: HashMap::new(),
                        out_buf: Vec::with_capacity(256),
                        cfg: bridge_cfg,
                        coalesce,
                        quality: quality2,
                        ticks: 0,
                        next_gen: 0,
                    }
                    .run()
                });
            let ready = spawned
                .map_err(RelayError::Io)
                .and_then(|t| match ready_rx.recv() {
                    Ok(Ok(m)) => Ok((t, m)),
                    Ok(Err(e)) => Err(RelayError::Io(e)),
                    Err(_) => Err(RelayError::Stopped),
                });
            match ready {
                Ok((t, m)) => {
                    io_used = m;
                    workers.push(WorkerLink { tx, wake });
                    threads.push(t);
                }
                Err(e) => {
                    for (w, t) in workers.iter().zip(threads) {
                        let _ = w.tx.send(Command::Stop);
                        w.wake.notify();
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        tracing::info!(
            workers = cfg.workers,
            port_min = cfg.port_min,
            port_max = cfg.port_max,
            io = %io_used,
            "media relay started"
        );
        Ok(MediaRelay {
            inner: Arc::new(Inner {
                cfg,
                pool,
                workers,
                threads: Mutex::new(threads),
                next_id: AtomicU64::new(1),
                quality,
                io: io_used,
            }),
        })
    }

    fn link(&self, id: BridgeId) -> &WorkerLink {
        let n = self.inner.workers.len() as u64;
        // `start` guarantees at least one worker.
        &self.inner.workers[(id % n) as usize]
    }

    fn send(&self, id: BridgeId, cmd: Command) -> Result<(), RelayError> {
        let link = self.link(id);
        link.tx.send(cmd).map_err(|_| RelayError::Stopped)?;
        link.wake.notify();
        Ok(())
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, PortPool> {
        // A poisoned pool only means another thread panicked mid-update of plain counters; keep going.
        self.inner.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Allocates a port pair and binds its RTP socket; ports another program holds are skipped.
    fn bind_one(&self) -> Result<(PortPair, UdpSocket), RelayError> {
        let attempts = self.lock_pool().capacity().min(32);
        let mut last_err = None;
        for _ in 0..attempts {
            let pair = self.lock_pool().allocate()?;
            match UdpSocket::bind(SocketAddr::new(self.inner.cfg.bind_ip, pair.rtp)) {
                Ok(s) => {
                    if let Err(e) = s.set_nonblocking(true) {
                        let _ = self.lock_pool().release(pair);
                        return Err(e.into());
                    }
                    return Ok((pair, s));
                }
                Err(e) => {
                    tracing::debug!(port = pair.rtp, error = %e, "RTP port busy, skipping");
                    let _ = self.lock_pool().release(pair);
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.map_or(
            RelayError::Pool(PortPoolError::Exhausted { pairs: 0 }),
            RelayError::Io,
        ))
    }

    /// Binds the RTCP socket of a pair (the odd port the pool reserved with it). RTCP is an
    /// extra: a port held by another program leaves the leg without it, the call goes on.
    fn bind_rtcp(&self, pair: PortPair) -> Option<UdpSocket> {
        let addr = SocketAddr::new(self.inner.cfg.bind_ip, pair.rtcp());
        match UdpSocket::bind(addr).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(port = pair.rtcp(), error = %e, "RTCP port busy: leg without RTCP");
                None
            }
        }
    }

    /// Creates a bridge. `hint_a`/`hint_b` are the legs' SDP addresses (None if not known yet); `events`
    /// receives this bridge's latch and RTP-timeout events.
    pub fn create_bridge(
        &self,
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
        events: Option<tmpsc::UnboundedSender<RelayEvent>>,
    ) -> Result<BridgeInfo, RelayError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.create_with_id(id, hint_a, hint_b, events)
    }

    /// Creates a bridge on the same worker as `near`, so that their legs can share a conference
    /// (a supervisor's or a third party's leg beside the call's own bridge).
    pub fn create_bridge_near(
        &self,
        near: BridgeId,
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
        events: Option<tmpsc::UnboundedSender<RelayEvent>>,
    ) -> Result<BridgeInfo, RelayError> {
        let n = self.inner.workers.len() as u64;
        // Ids pick the worker (id % n): skip at most n-1 ids to land on `near`'s worker.
        let id = loop {
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            if id % n == near % n {
                break id;
            }
        };
        self.create_with_id(id, hint_a, hint_b, events)
    }

    fn create_with_id(
        &self,
        id: BridgeId,
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
        events: Option<tmpsc::UnboundedSender<RelayEvent>>,
    ) -> Result<BridgeInfo, RelayError> {
        let (pa, sa) = self.bind_one()?;
        let (pb, sb) = match self.bind_one() {
            Ok(x) => x,
            Err(e) => {
                drop(sa);
                let _ = self.lock_pool().release(pa);
                return Err(e);
            }
        };
        let cmd = Command::Create {
            id,
            socks: [sa, sb],
            ports: [pa, pb],
            hints: [hint_a, hint_b],
            events,
            rtcp: [self.bind_rtcp(pa), self.bind_rtcp(pb)],
        };
        if let Err(e) = self.send(id, cmd) {
            let mut pool = self.lock_pool();
            let _ = pool.release(pa);
            let _ = pool.release(pb);
            return Err(e);
        }
        tracing::debug!(
            bridge = id,
            port_a = pa.rtp,
            port_b = pb.rtp,
            "bridge created"
        );
        Ok(BridgeInfo {
            id,
            port_a: pa.rtp,
            port_b: pb.rtp,
        })
    }

    /// A re-INVITE changed `leg`'s SDP address.
    pub fn update_remote(
        &self,
        id: BridgeId,
        leg: Leg,
        addr: SocketAddr,
    ) -> Result<(), RelayError> {
        self.send(id, Command::UpdateRemote { id, leg, addr })
    }

    /// Hold / retrieve: the SDP direction `leg`'s endpoint declared.
    pub fn set_direction(
        &self,
        id: BridgeId,
        leg: Leg,
        dir: MediaDirection,
    ) -> Result<(), RelayError> {
        self.send(id, Command::SetDirection { id, leg, dir })
    }

    /// What `leg` negotiated: the codec hotline's own audio is encoded in, the telephone-event type.
    pub fn set_format(&self, id: BridgeId, leg: Leg, format: LegFormat) -> Result<(), RelayError> {
        self.send(id, Command::SetFormat { id, leg, format })
    }

    /// Plays clips (8 kHz mono) to `leg`, replacing relayed audio until done, stopped or replaced;
    /// [`BridgeEvent::PlayDone`] reports the end of a playback that ran its course.
    pub fn play(
        &self,
        id: BridgeId,
        leg: Leg,
        play: u64,
        clips: Vec<std::sync::Arc<[i16]>>,
        looping: bool,
    ) -> Result<(), RelayError> {
        let playback = Box::new(Playback::new(play, clips, looping, Instant::now()));
        self.send(id, Command::Play { id, leg, playback })
    }

    /// Stops playback `play` (or whatever plays, with `None`) to `leg`.
    pub fn stop_play(&self, id: BridgeId, leg: Leg, play: Option<u64>) -> Result<(), RelayError> {
        self.send(id, Command::StopPlay { id, leg, play })
    }

    /// Records the bridge from now on into `tap` (caller left, callee right), until
    /// [`MediaRelay::stop_recording`] or the bridge is destroyed.
    pub fn record(&self, id: BridgeId, tap: RecordingTap) -> Result<(), RelayError> {
        self.send(
            id,
            Command::Record {
                id,
                tap: Box::new(tap),
            },
        )
    }

    pub fn stop_recording(&self, id: BridgeId) -> Result<(), RelayError> {
        self.send(id, Command::StopRecord { id })
    }

    /// Pauses (silence is written, so the file keeps the call's timeline) or resumes the recording
    /// of bridge `id`: while a caller reads out an ID number, for instance.
    pub fn pause_recording(&self, id: BridgeId, paused: bool) -> Result<(), RelayError> {
        self.send(id, Command::PauseRecord { id, paused })
    }

    /// Puts `leg` of bridge `id` into conference `conf` in `mode` (or changes its mode there). Every
    /// bridge of one conference must live on one worker: create the others with
    /// [`MediaRelay::create_bridge_near`]. A bridge's legs stop relaying to each other while either
    /// is in a conference; the mixer sends each member the mix of those it may hear.
    pub fn mix_join(
        &self,
        conf: ConfId,
        id: BridgeId,
        leg: Leg,
        mode: MixMode,
    ) -> Result<(), RelayError> {
        self.send(
            id,
            Command::MixJoin {
                conf,
                id,
                leg,
                mode,
            },
        )
    }

    /// Takes `leg` of bridge `id` out of conference `conf`; the conference ends with its last member.
    pub fn mix_leave(&self, conf: ConfId, id: BridgeId, leg: Leg) -> Result<(), RelayError> {
        self.send(id, Command::MixLeave { conf, id, leg })
    }

    /// Current counters of a bridge (None if it does not exist).
    pub async fn stats(&self, id: BridgeId) -> Result<Option<BridgeStats>, RelayError> {
        let (reply, rx) = oneshot::channel();
        self.send(id, Command::Stats { id, reply })?;
        rx.await.map_err(|_| RelayError::Stopped)
    }

    /// Destroys a bridge, closing its sockets and returning its ports to the pool; resolves to its final
    /// counters (None if it did not exist).
    pub async fn destroy(&self, id: BridgeId) -> Result<Option<BridgeStats>, RelayError> {
        let (reply, rx) = oneshot::channel();
        self.send(
            id,
            Command::Destroy {
                id,
                reply: Some(reply),
            },
        )?;
        rx.await.map_err(|_| RelayError::Stopped)
    }

    /// Destroys a bridge without waiting for it (for Drop paths).
    pub fn destroy_nowait(&self, id: BridgeId) -> Result<(), RelayError> {
        self.send(id, Command::Destroy { id, reply: None })
    }

    /// The bridge's per-leg quality (leg A, leg B) as last published by its worker (about once
    /// a second; None before the first publication or after the bridge is gone). For exact
    /// figures, [`MediaRelay::stats`].
    pub fn quality(&self, id: BridgeId) -> Option<[LegQualityReport; 2]> {
        let board = self.inner.quality.lock().unwrap_or_else(|e| e.into_inner());
        board.get(&id).copied().flatten()
    }

    /// What the workers run on: [`IoMode::Uring`] or [`IoMode::Epoll`] (what `Auto` chose).
    pub fn io(&self) -> IoMode {
        self.inner.io
    }

    /// Free port pairs (each bridge takes two).
    pub fn ports_available(&self) -> usize {
        self.lock_pool().available()
    }
}

// A socket's token (epoll data, io_uring user_data): leg in bit 0, slot in bits 1-31, the slot's
// generation in bits 32-61 (so a completion of a destroyed bridge never reaches the next one in its
// slot), RTCP in bit 62; bit 63 stays clear (the io_uring backend's own completions).
const WAKE_TOKEN: u64 = u64::MAX;
/// Marks a token as a leg's RTCP socket (slot and leg in the low bits, as for RTP).
const RTCP_TOKEN: u64 = 1 << 62;
const SLOT_MASK: u64 = (1 << 31) - 1;
const GEN_SHIFT: u32 = 32;
const GEN_MASK: u32 = (1 << 30) - 1;
/// Quality is published to the board every this many ticks (1 s).
const QUALITY_EVERY: u32 = 10;
/// How often RTP timeouts are checked.
const TICK: Duration = Duration::from_millis(100);
/// A conference more than this late (a stalled worker) skips ahead instead of bursting.
const MIX_MAX_LAG: Duration = Duration::from_millis(200);
/// Rounds of recvmmsg per readiness event, so one flooded socket cannot starve the others.
const MAX_ROUNDS: usize = 4;

struct Slot {
    id: BridgeId,
    /// Told apart from earlier bridges in the same slot (see the token layout).
    gen: u32,
    core: BridgeCore,
    socks: [UdpSocket; 2],
    ports: [PortPair; 2],
    events: Option<tmpsc::UnboundedSender<RelayEvent>>,
    send_errors: u64,
    /// Where this call's recorded frames go.
    rec: Option<RecordingTap>,
    /// Recorded frames are written as silence.
    rec_paused: bool,
    /// Each leg's RTCP socket (the odd port above its RTP port), when it could be bound.
    rtcp: [Option<UdpSocket>; 2],
}

impl Slot {
    fn stop_recording(&mut self) {
        self.core.stop_recording();
        if let Some(tap) = self.rec.take() {
            if let Err(e) = tap.stop(crate::store::now_ms()) {
                tracing::warn!(bridge = self.id, error = %e, "recording not finalised");
            }
        }
    }

    fn stats(&self) -> BridgeStats {
        BridgeStats {
            a: self.core.stats(Leg::A),
            b: self.core.stats(Leg::B),
            send_errors: self.send_errors,
            quality: [self.core.quality(Leg::A), self.core.quality(Leg::B)],
            rtcp: [self.core.rtcp_stats(Leg::A), self.core.rtcp_stats(Leg::B)],
        }
    }

    fn deliver_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            if let Some(tx) = &self.events {
                if let BridgeEvent::RtpTimeout { leg, silent_for } = event {
                    tracing::info!(bridge = self.id, ?leg, ?silent_for, "RTP timeout");
                }
                // A closed receiver means the call is gone; it will destroy the bridge.
                let _ = tx.send(RelayEvent {
                    bridge: self.id,
                    event,
                });
            }
        }
    }
}

/// The wait-and-read part of a worker, the only part that differs between the backends.
enum Io {
    Epoll(Epoll),
    Uring(Box<Uring>),
}

impl Io {
    fn open(mode: IoMode, wake: &EventFd) -> io::Result<Io> {
        let epoll = || -> io::Result<Io> {
            let epoll = Epoll::new()?;
            epoll.add(wake.fd(), WAKE_TOKEN)?;
            Ok(Io::Epoll(epoll))
        };
        match mode {
            IoMode::Epoll => epoll(),
            IoMode::Uring => Ok(Io::Uring(Box::new(Uring::new(wake.fd())?))),
            IoMode::Auto => match Uring::new(wake.fd()) {
                Ok(u) => Ok(Io::Uring(Box::new(u))),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "io_uring unavailable (old kernel or blocked by seccomp): the media relay uses epoll"
                    );
                    epoll()
                }
            },
        }
    }

    fn mode(&self) -> IoMode {
        match self {
            Io::Epoll(_) => IoMode::Epoll,
            Io::Uring(_) => IoMode::Uring,
        }
    }

    /// Starts reading `fd`; its packets carry `tok`.
    fn watch(&mut self, fd: std::os::fd::RawFd, tok: u64) -> io::Result<()> {
        match self {
            Io::Epoll(e) => e.add(fd, tok),
            Io::Uring(u) => u.watch(fd, tok),
        }
    }

    /// Stops reading each `(fd, tok)` socket (before they are closed).
    fn unwatch(&mut self, socks: &[(std::os::fd::RawFd, u64)]) {
        match self {
            Io::Epoll(e) => {
                for &(fd, _) in socks {
                    let _ = e.delete(fd);
                }
            }
            Io::Uring(u) => {
                let mut tokens = [0u64; 4];
                for chunk in socks.chunks(tokens.len()) {
                    for (t, &(_, tok)) in tokens.iter_mut().zip(chunk) {
                        *t = tok;
                    }
                    u.unwatch_all(&tokens[..chunk.len()]);
                }
            }
        }
    }
}

struct Worker {
    io: Io,
    wake: Arc<EventFd>,
    rx: mpsc::Receiver<Command>,
    pool: Arc<Mutex<PortPool>>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<BridgeId, usize>,
    /// Slots playing something to a leg: visited every 20 ms.
    playing: Vec<usize>,
    /// Conferences of this worker's bridges, mixed every 20 ms.
    confs: HashMap<ConfId, Conf>,
    out_buf: Vec<u8>,
    cfg: BridgeConfig,
    coalesce: Duration,
    quality: QualityBoard,
    ticks: u32,
    next_gen: u32,
}

/// A leg in a conference.
struct Member {
    bridge: BridgeId,
    slot: usize,
    leg: Leg,
    party: PartyId,
}

/// One conference: its mixer and the legs in it.
struct Conf {
    mixer: Mixer,
    members: Vec<Member>,
    next_due: Instant,
}

impl Conf {
    fn member(&self, bridge: BridgeId, leg: Leg) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.bridge == bridge && m.leg == leg)
    }

    fn mixer_mode(&self, mode: MixMode) -> Mode {
        match mode {
            MixMode::Normal => Mode::Normal,
            MixMode::Barge => Mode::Barge,
            MixMode::Monitor => Mode::Monitor,
            MixMode::Whisper { to } => match self.member(to.0, to.1) {
                Some(m) => Mode::Whisper { to: m.party },
                // Whispering to a leg that is not here: heard by nobody rather than by all.
                None => Mode::Monitor,
            },
        }
    }
}

fn token(slot: usize, leg: Leg, gen: u32) -> u64 {
    ((gen & GEN_MASK) as u64) << GEN_SHIFT | ((slot as u64) & SLOT_MASK) << 1 | leg.index() as u64
}

/// The live slot a token names, and its leg (None for a freed slot or one reused since).
fn slot_of(slots: &mut [Option<Slot>], tok: u64) -> Option<(&mut Slot, Leg)> {
    let leg = if tok & 1 == 0 { Leg::A } else { Leg::B };
    let gen = (tok >> GEN_SHIFT) as u32 & GEN_MASK;
    let slot = slots.get_mut(((tok >> 1) & SLOT_MASK) as usize)?.as_mut()?;
    (slot.gen == gen).then_some((slot, leg))
}

impl Worker {
    fn run(self) {
        match self.io {
            Io::Epoll(_) => self.run_epoll(),
            Io::Uring(_) => self.run_uring(),
        }
    }

    /// How long the next wait may last: until the next tick, played or mixed frame (at most 1 s).
    fn wait_for(&self, next_tick: Instant) -> Duration {
        let wake_at = self
            .next_frame_due()
            .map_or(next_tick, |t| t.min(next_tick));
        wake_at
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1))
    }

    /// The wake-up eventfd fired: applies the queued commands; false on Stop (after shutting down).
    fn on_wake(&mut self, now: Instant) -> bool {
        self.wake.drain();
        if !self.drain_commands(now) {
            self.shutdown();
            return false;
        }
        true
    }

    /// What every round ends with, whatever the backend: played and mixed frames, the tick, coalescing.
    fn end_round(&mut self, now: Instant, next_tick: &mut Instant) {
        self.send_playback(now);
        self.send_mixes(now);
        if now >= *next_tick {
            self.tick(now);
            *next_tick = now + TICK;
        }
        if !self.coalesce.is_zero() {
            std::thread::sleep(self.coalesce);
        }
    }

    fn run_epoll(mut self) {
        let mut batch = Batch::new();
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut next_tick = Instant::now() + TICK;
        loop {
            // Rounded up: waking early for a frame due in 0.4 ms would spin.
            let wait_ms = self.wait_for(next_tick).as_micros().div_ceil(1000) as i32;
            let Io::Epoll(epoll) = &self.io else {
                return;
            };
            let n = match epoll.wait(&mut events, wait_ms) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "media relay epoll failed; worker stopping");
                    return;
                }
            };
            let now = Instant::now();
            // Commands first, so a re-INVITE or hold queued before these packets applies to them. A readiness
            // entry for a slot freed (or reused) by a command is skipped: its token's generation is stale.
            if events.iter().take(n).any(|ev| ev.u64 == WAKE_TOKEN) && !self.on_wake(now) {
                return;
            }
            for ev in events.iter().take(n) {
                if ev.u64 == WAKE_TOKEN {
                    continue;
                }
                if ev.u64 & RTCP_TOKEN != 0 {
                    self.on_rtcp_readable(&mut batch, ev.u64, now);
                } else {
                    self.on_readable(&mut batch, ev.u64, now);
                }
            }
            self.end_round(now, &mut next_tick);
        }
    }

    fn run_uring(mut self) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = self.wait_for(next_tick);
            let Io::Uring(u) = &mut self.io else {
                return;
            };
            // One system call: the sends and re-arms queued last round go in, completions come out.
            let n = match u.submit_and_wait(wait) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "media relay io_uring failed; worker stopping");
                    return;
                }
            };
            let woken = u.woken();
            let now = Instant::now();
            // Commands first, as on the epoll path; completions of a bridge they destroyed are skipped.
            if woken && !self.on_wake(now) {
                return;
            }
            for i in 0..n {
                self.on_completion(i, now);
            }
            self.end_round(now, &mut next_tick);
        }
    }

    /// Completion `i` of this io_uring round: a datagram to relay, a send done, a receive to re-arm.
    fn on_completion(&mut self, i: usize, now: Instant) {
        let Worker {
            io, slots, wake, ..
        } = self;
        let Io::Uring(u) = io else {
            return;
        };
        let (c, offset) = u.completion(i, wake.fd());
        let (tok, rearm) = match c {
            Completion::Wake | Completion::None => return,
            Completion::Sent { token, ok } => {
                if !ok {
                    if let Some((slot, _)) = slot_of(slots, token) {
                        slot.send_errors += 1;
                    }
                }
                return;
            }
            Completion::Stopped { token, cancelled } => (token, !cancelled),
            Completion::Packet {
                token,
                buf,
                data,
                rearm,
            } => {
                let fwd = match (data, slot_of(slots, token)) {
                    (Some((bytes, src)), Some((slot, leg))) => {
                        let rtcp = token & RTCP_TOKEN != 0;
                        let verdict = if rtcp {
                            slot.core.on_rtcp_packet(leg, src, bytes, now)
                        } else {
                            slot.core.on_packet(leg, src, bytes, now)
                        };
                        let len = bytes.len();
                        slot.deliver_events();
                        match verdict {
                            Verdict::Forward { to } => {
                                let other = leg.other().index();
                                // The other leg without an RTCP socket: read, not relayed.
                                let fd = if rtcp {
                                    slot.rtcp[other].as_ref().map(|s| s.as_raw_fd())
                                } else {
                                    Some(slot.socks[other].as_raw_fd())
                                };
                                fd.map(|fd| (fd, to, len))
                            }
                            Verdict::Drop(_) => None,
                        }
                    }
                    _ => None,
                };
                match fwd {
                    Some((fd, to, len)) => u.send(fd, buf, offset, len, to, token),
                    None => u.recycle(buf),
                }
                (token, rearm)
            }
        };
        // A multishot receive that stopped (buffers ran out, an error) is armed again while its
        // bridge lives; a cancelled one belonged to a destroyed bridge.
        if rearm {
            if let Some((slot, leg)) = slot_of(slots, tok) {
                let fd = if tok & RTCP_TOKEN != 0 {
                    slot.rtcp[leg.index()].as_ref().map(|s| s.as_raw_fd())
                } else {
                    Some(slot.socks[leg.index()].as_raw_fd())
                };
                if let Some(fd) = fd {
                    if let Err(e) = u.watch(fd, tok) {
                        tracing::warn!(bridge = slot.id, ?leg, error = %e, "cannot re-arm a receive");
                    }
                }
            }
        }
    }

    fn on_readable(&mut self, batch: &mut Batch, tok: u64, now: Instant) {
        let Some((slot, leg)) = slot_of(&mut self.slots, tok) else {
            return;
        };
        let rx_fd = slot.socks[leg.index()].as_raw_fd();
        let tx_fd = slot.socks[leg.other().index()].as_raw_fd();
        for _ in 0..MAX_ROUNDS {
            // ICMP errors (e.g. port unreachable from a gone peer) surface here; nothing to do.
            let n = batch.recv(rx_fd).unwrap_or_default();
            for i in 0..n {
                let Some((buf, src)) = batch.packet(i) else {
                    continue;
                };
                if let Verdict::Forward { to } = slot.core.on_packet(leg, src, buf, now) {
                    let len = buf.len();
                    batch.queue_send(i, len, to);
                }
            }
            let (_, dropped) = batch.flush(tx_fd);
            slot.send_errors += dropped as u64;
            if n < BATCH {
                break;
            }
        }
        slot.deliver_events();
    }

    /// RTCP on a leg's odd port: relayed from the other leg's RTCP socket, its reports read.
    fn on_rtcp_readable(&mut self, batch: &mut Batch, tok: u64, now: Instant) {
        let Some((slot, leg)) = slot_of(&mut self.slots, tok) else {
            return;
        };
        let Some(rx_fd) = slot.rtcp[leg.index()].as_ref().map(|s| s.as_raw_fd()) else {
            return;
        };
        let tx_fd = slot.rtcp[leg.other().index()]
            .as_ref()
            .map(|s| s.as_raw_fd());
        for _ in 0..MAX_ROUNDS {
            let n = batch.recv(rx_fd).unwrap_or_default();
            for i in 0..n {
                let Some((buf, src)) = batch.packet(i) else {
                    continue;
                };
                if let Verdict::Forward { to } = slot.core.on_rtcp_packet(leg, src, buf, now) {
                    // The other leg without an RTCP socket: read, not relayed.
                    if tx_fd.is_some() {
                        let len = buf.len();
                        batch.queue_send(i, len, to);
                    }
                }
            }
            if let Some(fd) = tx_fd {
                let (_, dropped) = batch.flush(fd);
                slot.send_errors += dropped as u64;
            }
            if n < BATCH {
                break;
            }
        }
    }

    /// Publishes every slot's quality to the board the call layer reads. Each bridge's entry
    /// was made at creation, so this only overwrites: nothing allocates on the worker's tick.
    fn publish_quality(&mut self) {
        let mut board = self.quality.lock().unwrap_or_else(|e| e.into_inner());
        for s in self.slots.iter().flatten() {
            if let Some(q) = board.get_mut(&s.id) {
                *q = Some([s.core.quality(Leg::A), s.core.quality(Leg::B)]);
            }
        }
    }

    /// When the earliest playing or recording slot's, or conference's, next frame is due.
    fn next_frame_due(&self) -> Option<Instant> {
        let slots = self.playing.iter().filter_map(|&i| {
            let core = &self.slots.get(i)?.as_ref()?.core;
            match (core.next_frame_due(), core.next_record_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        });
        slots.chain(self.confs.values().map(|c| c.next_due)).min()
    }

    /// Mixes every conference whose frame is due and sends each member its mix.
    fn send_mixes(&mut self, now: Instant) {
        let Worker {
            confs,
            slots,
            out_buf,
            ..
        } = self;
        for conf in confs.values_mut() {
            if conf.next_due > now {
                continue;
            }
            // A stalled worker skips ahead rather than bursting frames at the listeners.
            conf.next_due = if now.saturating_duration_since(conf.next_due) > MIX_MAX_LAG {
                now + PTIME
            } else {
                conf.next_due + PTIME
            };
            for m in &conf.members {
                if let Some(Some(slot)) = slots.get_mut(m.slot) {
                    if let Some(pcm) = slot.core.mix_pop(m.leg, now) {
                        let _ = conf.mixer.input(m.party, &pcm);
                    }
                }
            }
            conf.mixer.mix();
            for m in &conf.members {
                let (Some(Some(slot)), Ok(pcm)) =
                    (slots.get_mut(m.slot), conf.mixer.output(m.party))
                else {
                    continue;
                };
                if let Some(to) = slot.core.mix_transmit(m.leg, pcm, now, out_buf) {
                    if slot.socks[m.leg.index()].send_to(out_buf, to).is_err() {
                        slot.send_errors += 1;
                    }
                }
            }
        }
    }

    fn mix_join(&mut self, conf_id: ConfId, id: BridgeId, leg: Leg, mode: MixMode, now: Instant) {
        let Some(&idx) = self.by_id.get(&id) else {
            tracing::warn!(
                bridge = id,
                conf = conf_id,
                "mix: no such bridge on this worker"
            );
            return;
        };
        let conf = self.confs.entry(conf_id).or_insert_with(|| Conf {
            mixer: Mixer::new(),
            members: Vec::new(),
            next_due: now + PTIME,
        });
        let mode_now = conf.mixer_mode(mode);
        if let Some(m) = conf.member(id, leg) {
            let party = m.party;
            if let Err(e) = conf.mixer.set_mode(party, mode_now) {
                tracing::warn!(bridge = id, conf = conf_id, error = %e, "mix: mode not changed");
            }
            tracing::debug!(bridge = id, ?leg, conf = conf_id, ?mode, "mix mode changed");
            return;
        }
        match conf.mixer.add(mode_now) {
            Ok(party) => {
                conf.members.push(Member {
                    bridge: id,
                    slot: idx,
                    leg,
                    party,
                });
                if let Some(Some(s)) = self.slots.get_mut(idx) {
                    s.core.join_mix(leg);
                }
                tracing::debug!(
                    bridge = id,
                    ?leg,
                    conf = conf_id,
                    ?mode,
                    "leg joined the mix"
                );
            }
            Err(e) => {
                tracing::warn!(bridge = id, conf = conf_id, error = %e, "mix: leg not added");
                if conf.members.is_empty() {
                    self.confs.remove(&conf_id);
                }
            }
        }
    }

    fn mix_leave(&mut self, conf_id: ConfId, id: BridgeId, leg: Leg) {
        let Some(conf) = self.confs.get_mut(&conf_id) else {
            return;
        };
        if let Some(i) = conf
            .members
            .iter()
            .position(|m| m.bridge == id && m.leg == leg)
        {
            let m = conf.members.swap_remove(i);
            let _ = conf.mixer.remove(m.party);
            if let Some(Some(s)) = self.slots.get_mut(m.slot) {
                s.core.leave_mix(leg);
            }
            tracing::debug!(bridge = id, ?leg, conf = conf_id, "leg left the mix");
        }
        if conf.members.is_empty() {
            self.confs.remove(&conf_id);
        }
    }

    /// Sends every played frame that is due, from the socket of the leg it goes to.
    fn send_playback(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.playing.len() {
            let idx = self.playing[i];
            let Some(Some(slot)) = self.slots.get_mut(idx) else {
                self.playing.swap_remove(i);
                continue;
            };
            while let Some((leg, to)) = slot.core.poll_transmit(now, &mut self.out_buf) {
                if slot.socks[leg.index()].send_to(&self.out_buf, to).is_err() {
                    slot.send_errors += 1;
                }
            }
            while let Some(mut frame) = slot.core.poll_record(now) {
                if slot.rec_paused {
                    frame.left = None;
                    frame.right = None;
                }
                if let Some(tap) = slot.rec.as_mut() {
                    // A full recorder queue drops the frame (counted; written as silence).
                    let _ = tap.push(frame);
                }
            }
            slot.deliver_events();
            if slot.core.is_playing() || slot.core.is_recording() {
                i += 1;
            } else {
                self.playing.swap_remove(i);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        for slot in self.slots.iter_mut().flatten() {
            slot.core.handle_timeout(now);
            slot.deliver_events();
        }
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % QUALITY_EVERY == 0 {
            self.publish_quality();
        }
    }

    /// Applies queued commands; false on Stop.
    fn drain_commands(&mut self, now: Instant) -> bool {
        // Bounded per round so a command flood cannot starve the packet path.
        for _ in 0..4096 {
            let cmd = match self.rx.try_recv() {
                Ok(c) => c,
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            };
            match cmd {
                Command::Create {
                    id,
                    socks,
                    ports,
                    hints,
                    events,
                    rtcp,
                } => {
                    self.create(id, socks, ports, hints, events, now);
                    self.add_rtcp(id, rtcp);
                    if self.by_id.contains_key(&id) {
                        self.quality
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id, None);
                    }
                }
                Command::UpdateRemote { id, leg, addr } => {
                    if let Some(s) = self.slot_mut(id) {
                        s.core.update_remote(leg, addr, now);
                        tracing::debug!(bridge = id, ?leg, %addr, "remote updated");
                    }
                }
                Command::SetDirection { id, leg, dir } => {
                    if let Some(s) = self.slot_mut(id) {
                        s.core.set_direction(leg, dir, now);
                        tracing::debug!(bridge = id, ?leg, ?dir, "direction set");
                    }
                }
                Command::SetFormat { id, leg, format } => {
                    if let Some(s) = self.slot_mut(id) {
                        s.core.set_format(leg, format);
                    }
                }
                Command::Play { id, leg, playback } => {
                    if let Some(&idx) = self.by_id.get(&id) {
                        if let Some(Some(s)) = self.slots.get_mut(idx) {
                            tracing::debug!(
                                bridge = id,
                                ?leg,
                                play = playback.id,
                                "playback started"
                            );
                            s.core.play(leg, *playback, now);
                            if !self.playing.contains(&idx) {
                                self.playing.push(idx);
                            }
                        }
                    }
                }
                Command::Record { id, tap } => {
                    if let Some(&idx) = self.by_id.get(&id) {
                        if let Some(Some(s)) = self.slots.get_mut(idx) {
                            s.stop_recording();
                            tracing::debug!(bridge = id, recording = %tap.id(), "recording started");
                            s.core.start_recording(now);
                            s.rec = Some(*tap);
                            s.rec_paused = false;
                            if !self.playing.contains(&idx) {
                                self.playing.push(idx);
                            }
                        }
                    }
                }
                Command::StopRecord { id } => {
                    if let Some(s) = self.slot_mut(id) {
                        s.stop_recording();
                    }
                }
                Command::PauseRecord { id, paused } => {
                    if let Some(s) = self.slot_mut(id) {
                        tracing::debug!(bridge = id, paused, "recording paused/resumed");
                        s.rec_paused = paused;
                    }
                }
                Command::StopPlay { id, leg, play } => {
                    if let Some(s) = self.slot_mut(id) {
                        s.core.stop_play(leg, play);
                    }
                }
                Command::MixJoin {
                    conf,
                    id,
                    leg,
                    mode,
                } => self.mix_join(conf, id, leg, mode, now),
                Command::MixLeave { conf, id, leg } => self.mix_leave(conf, id, leg),
                Command::Stats { id, reply } => {
                    let _ = reply.send(self.slot_mut(id).map(|s| s.stats()));
                }
                Command::Destroy { id, reply } => {
                    let stats = self.destroy(id);
                    if let Some(r) = reply {
                        let _ = r.send(stats);
                    }
                }
                Command::Stop => return false,
            }
        }
        // More commands remain: make sure the next epoll round comes back for them.
        self.wake.notify();
        true
    }

    fn slot_mut(&mut self, id: BridgeId) -> Option<&mut Slot> {
        let i = *self.by_id.get(&id)?;
        self.slots.get_mut(i)?.as_mut()
    }

    fn create(
        &mut self,
        id: BridgeId,
        socks: [UdpSocket; 2],
        ports: [PortPair; 2],
        hints: [Option<SocketAddr>; 2],
        events: Option<tmpsc::UnboundedSender<RelayEvent>>,
        now: Instant,
    ) {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        self.next_gen = self.next_gen.wrapping_add(1) & GEN_MASK;
        let gen = self.next_gen;
        let reg = self
            .io
            .watch(socks[0].as_raw_fd(), token(idx, Leg::A, gen))
            .and_then(|_| self.io.watch(socks[1].as_raw_fd(), token(idx, Leg::B, gen)));
        if let Err(e) = reg {
            tracing::error!(bridge = id, error = %e, "cannot register RTP sockets");
            self.io.unwatch(&[
                (socks[0].as_raw_fd(), token(idx, Leg::A, gen)),
                (socks[1].as_raw_fd(), token(idx, Leg::B, gen)),
            ]);
            drop(socks);
            self.release_ports(ports);
            self.free.push(idx);
            return;
        }
        self.slots[idx] = Some(Slot {
            id,
            gen,
            core: BridgeCore::new(hints[0], hints[1], self.cfg, now),
            socks,
            ports,
            events,
            send_errors: 0,
            rec: None,
            rec_paused: false,
            rtcp: [None, None],
        });
        self.by_id.insert(id, idx);
    }

    /// Registers a new bridge's RTCP sockets (after [`Self::create`]); a socket that cannot be
    /// registered is closed and its leg goes without RTCP.
    fn add_rtcp(&mut self, id: BridgeId, rtcp: [Option<UdpSocket>; 2]) {
        let Some(&idx) = self.by_id.get(&id) else {
            return; // creation failed; the sockets close here
        };
        let Some(gen) = self.slots.get(idx).and_then(|s| s.as_ref()).map(|s| s.gen) else {
            return;
        };
        for (leg, sock) in [Leg::A, Leg::B].into_iter().zip(rtcp) {
            let Some(sock) = sock else { continue };
            let tok = RTCP_TOKEN | token(idx, leg, gen);
            if let Err(e) = self.io.watch(sock.as_raw_fd(), tok) {
                tracing::warn!(bridge = id, ?leg, error = %e, "cannot register RTCP socket");
                continue;
            }
            if let Some(Some(slot)) = self.slots.get_mut(idx) {
                slot.rtcp[leg.index()] = Some(sock);
            }
        }
    }

    fn destroy(&mut self, id: BridgeId) -> Option<BridgeStats> {
        // Its legs leave their conferences first (a slot index is reused after this).
        let confs: Vec<(ConfId, Leg)> = self
            .confs
            .iter()
            .flat_map(|(&c, conf)| {
                conf.members
                    .iter()
                    .filter(|m| m.bridge == id)
                    .map(move |m| (c, m.leg))
            })
            .collect();
        for (c, leg) in confs {
            self.mix_leave(c, id, leg);
        }
        let idx = self.by_id.remove(&id)?;
        let mut slot = self.slots.get_mut(idx)?.take()?;
        slot.stop_recording();
        // The bridge's sockets are let go together (one round trip to the kernel on io_uring).
        let mut socks = [(0, 0); 4];
        let mut n = 0;
        for (leg, s) in [Leg::A, Leg::B].into_iter().zip(&slot.socks) {
            socks[n] = (s.as_raw_fd(), token(idx, leg, slot.gen));
            n += 1;
        }
        for (leg, s) in [Leg::A, Leg::B].into_iter().zip(&slot.rtcp) {
            if let Some(s) = s {
                socks[n] = (s.as_raw_fd(), RTCP_TOKEN | token(idx, leg, slot.gen));
                n += 1;
            }
        }
        self.io.unwatch(&socks[..n]);
        self.quality
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let stats = slot.stats();
        let ports = slot.ports;
        // Close the sockets before the ports go back to the pool.
        drop(slot);
        self.release_ports(ports);
        self.free.push(idx);
        tracing::debug!(bridge = id, "bridge destroyed");
        Some(stats)
    }

    fn release_ports(&self, ports: [PortPair; 2]) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        for p in ports {
            let _ = pool.release(p);
        }
    }

    fn shutdown(&mut self) {
        let ids: Vec<BridgeId> = self.by_id.keys().copied().collect();
        for id in ids {
            self.destroy(id);
        }
    }
}
