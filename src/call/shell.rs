//! The engine's async shell: one task that feeds SIP messages from the transport, timers, media
//! events and the shutdown signal into the [`Engine`], and carries its outputs out (datagrams and
//! stream writes, registration bindings to the database, CDRs to the batching writer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::call::cdr::CdrWriter;
use crate::call::core::CallPolicy;
use crate::config::{Config, HotlineConfig};
use crate::media::relay::{BridgeConfig, BridgeEvent, MediaRelay, RelayConfig};
use crate::sip::registrar::{self, persist};
use crate::sip::sdp::DEFAULT_CODECS;
use crate::sip::transaction::{Peer, TimerConfig, TryingPolicy};
use crate::sip::transport::{
    self, ConnectionId, Outgoing, Transport, TransportConfig, TransportKind,
};
use crate::store::{accounts, Db};
use crate::web::Metrics;

use super::engine::{Engine, EngineConfig, Output, RelayMedia};

/// The running SIP side of a node.
pub struct SipService {
    pub transport: Transport,
    pub task: tokio::task::JoinHandle<()>,
    pub udp: Vec<std::net::SocketAddr>,
}

/// Binds SIP and RTP, loads accounts and bindings, and starts the engine task. The task ends
/// once `stop` turned true and every call has ended (or the drain time is over).
pub async fn start(
    config: &Config,
    db: Db,
    metrics: Arc<Metrics>,
    cdr: CdrWriter,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<SipService> {
    let h: &HotlineConfig = &config.hotline;
    let resolved = h.resolve("hotline.toml", "").context("configuration")?;
    let tconf = TransportConfig {
        udp: resolved.udp.clone(),
        tcp: resolved.tcp.clone(),
        tls: resolved.tls.clone(),
        tls_cert: h.sip.tls_files.as_ref().map(|t| t.cert.clone()),
        tls_key: h.sip.tls_files.as_ref().map(|t| t.key.clone()),
        limits: transport::Limits {
            max_message_size: h.sip.max_message_bytes,
            tcp_idle_timeout: Duration::from_secs(h.sip.tcp_idle_secs),
            tls_idle_timeout: Duration::from_secs(h.sip.tcp_idle_secs),
            ..transport::Limits::default()
        },
        ..TransportConfig::default()
    };
    let (transport, mut incoming) = Transport::start(tconf, 16_384)
        .await
        .context("starting SIP transport")?;
    let udp = transport.handle().local_addrs(TransportKind::Udp);
    let counters = transport.handle();
    metrics.add_exporter(Box::new(move || counters.metrics_text()));
    let sip_port = udp
        .first()
        .or(resolved.tcp.first())
        .map(|a| a.port())
        .unwrap_or(5060);

    let relay = MediaRelay::start(RelayConfig {
        bind_ip: resolved.rtp_address,
        port_min: h.rtp.port_min,
        port_max: h.rtp.port_max,
        workers: 1,
        bridge: BridgeConfig {
            rtp_timeout: Duration::from_secs(h.rtp.timeout_secs),
            ..BridgeConfig::default()
        },
        ..RelayConfig::default()
    })
    .context("starting the media relay")?;
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();

    let agents = config.profiles.agents.as_ref();
    let ecfg = EngineConfig {
        advertise: resolved.advertise,
        sip_port,
        realm: agents
            .map(|a| a.realm.clone())
            .unwrap_or_else(|| "hotline.local".into()),
        profiles: config.profiles.clone(),
        timers: TimerConfig {
            t1: Duration::from_millis(h.sip.timers.t1_ms),
            t2: Duration::from_millis(h.sip.timers.t2_ms),
            t4: Duration::from_millis(h.sip.timers.t4_ms),
            trying: TryingPolicy::Immediate,
            ..TimerConfig::default()
        },
        call: CallPolicy::default(),
        codecs: DEFAULT_CODECS.to_vec(),
        registrar: registrar::Limits {
            min_expires: agents.map_or(60, |a| a.min_expires_secs),
            max_expires: agents.map_or(3600, |a| a.max_expires_secs),
            ..registrar::Limits::default()
        },
        nonce_secret: rand::random::<[u8; 32]>().to_vec(),
        linger: Duration::from_secs(32),
    };
    let now = Instant::now();
    let mut engine = Engine::new(
        ecfg,
        RelayMedia {
            relay,
            events: media_tx,
            metrics: metrics.clone(),
        },
        metrics.clone(),
        now,
    );
    engine.set_accounts(accounts::all(&db).await?);
    let now_ms = crate::store::now_ms();
    let restored = persist::load_rows(&db, now_ms).await?;
    info!(bindings = restored.len(), "registrations restored");
    for (ext, b) in restored {
        engine.restore_binding(&ext, b, now_ms);
    }

    // Registration changes are written in order by one task so a crash never reorders them.
    let (bind_tx, mut bind_rx) = mpsc::unbounded_channel::<Vec<registrar::Change>>();
    let bind_db = db.clone();
    tokio::spawn(async move {
        while let Some(changes) = bind_rx.recv().await {
            if let Err(e) = persist::write(&bind_db, &changes).await {
                warn!(error = %e, "registration bindings not persisted");
            }
        }
    });
    // Accounts provisioned with `hotline agent add` while running are picked up here.
    let (acct_tx, mut acct_rx) = mpsc::channel(1);
    let acct_db = db.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(30)).await;
            match accounts::all(&acct_db).await {
                Ok(a) => {
                    if acct_tx.send(a).await.is_err() {
                        break;
                    }
                }
                Err(e) => warn!(error = %e, "accounts not reloaded"),
            }
        }
    });

    let handle = transport.handle();
    let drain = Duration::from_secs(h.shutdown.drain_secs);
    let mut stop = stop;
    let task = tokio::spawn(async move {
        let mut stopping = false;
        loop {
            let deadline = engine.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                m = incoming.recv() => match m {
                    Some(m) => {
                        let peer = Peer { addr: m.source, transport: m.transport, connection: Some(m.connection.0) };
                        engine.handle_message(m.message, peer, Instant::now());
                    }
                    None => break,
                },
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                    engine.handle_timeout(Instant::now());
                }
                Some(ev) = media_rx.recv() => {
                    if let BridgeEvent::RtpTimeout { .. } = ev.event {
                        engine.handle_media_timeout(ev.bridge, Instant::now());
                    }
                }
                Some(a) = acct_rx.recv() => engine.set_accounts(a),
                r = stop.changed(), if !stopping => {
                    if r.is_err() || *stop.borrow() {
                        stopping = true;
                        engine.begin_shutdown(drain, Instant::now());
                    }
                }
            }
            while let Some(o) = engine.poll_output() {
                match o {
                    Output::Transmit { bytes, peer } => {
                        let mut out = Outgoing::new(bytes, peer.addr, peer.transport);
                        if let Some(c) = peer.connection {
                            out = out.via_connection(ConnectionId(c));
                        }
                        if let Err(e) = handle.send(out).await {
                            tracing::debug!(dest = %peer.addr, error = %e, "SIP message not sent");
                        }
                    }
                    Output::Bindings(changes) => {
                        let _ = bind_tx.send(changes);
                    }
                    Output::Cdr(c) => cdr.record(*c),
                }
            }
            if stopping && engine.active_calls() == 0 {
                break;
            }
        }
        cdr.flush().await;
        info!("SIP engine stopped");
    });
    Ok(SipService {
        transport,
        task,
        udp,
    })
}
