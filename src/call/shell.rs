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
use crate::media::relay::{BridgeConfig, IoMode, MediaRelay, RelayConfig};
use crate::sip::registrar::{self, persist};
use crate::sip::sdp::DEFAULT_CODECS;
use crate::sip::transaction::{Peer, TimerConfig, TryingPolicy};
use crate::sip::transport::{
    self, ConnectionId, Outgoing, Transport, TransportConfig, TransportKind,
};
use crate::store::{accounts, Db};
use crate::web::Metrics;

use super::engine::{Engine, EngineConfig, Output, RelayMedia, Services};
use crate::ivr::flow::LookupSource;
use crate::ivr::interp::Env;
use crate::ivr::{AlwaysOpen, FlowRegistry, StaticLists};
use crate::media::prompt::PromptCache;

/// The running SIP side of a node.
pub struct SipService {
    pub transport: Transport,
    pub task: tokio::task::JoinHandle<()>,
    pub udp: Vec<std::net::SocketAddr>,
}

/// The ACD as the engine sees it: where call events go and where its decisions come from.
pub struct AcdLink {
    pub handle: crate::acd::shell::AcdHandle,
    pub actions: mpsc::UnboundedReceiver<crate::acd::Action>,
}

/// Binds SIP and RTP, loads accounts and bindings, and starts the engine task. The task ends
/// once `stop` turned true and every call has ended (or the drain time is over). With `acd`,
/// `queue:` routes and IVR queue nodes reach agents; IVR flows load from the configured folder.
pub async fn start(
    config: &Config,
    db: Db,
    metrics: Arc<Metrics>,
    cdr: CdrWriter,
    stop: watch::Receiver<bool>,
    acd: Option<AcdLink>,
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
        workers: h.rtp.workers,
        bridge: BridgeConfig {
            rtp_timeout: Duration::from_secs(h.rtp.timeout_secs),
            ..BridgeConfig::default()
        },
        coalesce: Duration::from_micros(h.rtp.coalesce_us.min(5_000)),
        io: match h.rtp.io {
            crate::config::RtpIo::Auto => IoMode::Auto,
            crate::config::RtpIo::Uring => IoMode::Uring,
            crate::config::RtpIo::Epoll => IoMode::Epoll,
        },
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
        session_timer: h.sip.session_timer.engine_config(),
    };
    // IVR flows and their prompts: flows refused by the checker are reported and not served.
    let flows_dir = h.paths.ivr_flows.clone();
    let (mut registry, outcome) = FlowRegistry::open(&flows_dir);
    if outcome.report.errors() + outcome.report.warnings() > 0 {
        warn!(dir = %flows_dir.display(), "IVR flow problems:\n{}", outcome.report);
    }
    let flows = registry.current();
    info!(flows = flows.flows.len(), version = flows.version, dir = %flows_dir.display(), "IVR flows loaded");
    let prompts = PromptCache::new(flows_dir.join("prompts"));
    let loaded = {
        let p = prompts.clone();
        tokio::task::spawn_blocking(move || p.preload())
            .await
            .unwrap_or(0)
    };
    info!(prompts = loaded, "prompts decoded");
    let env = Env {
        calendar: Arc::new(AlwaysOpen),
        lists: Arc::new(StaticLists::new()),
    };
    // Call recordings: files left half-written by a crash are repaired before new ones start.
    let rec_root = h.paths.recordings.clone();
    match crate::media::recorder::store::reconcile_after_crash(
        &db,
        &rec_root,
        crate::store::now_ms(),
    )
    .await
    {
        Ok(r) => info!(report = ?r, "recordings checked after start"),
        Err(e) => warn!(error = %e, "recordings not checked after start"),
    }
    let (rec_tx, mut rec_rx) = mpsc::unbounded_channel();
    let recorder = crate::media::recorder::Recorder::spawn(
        crate::media::recorder::RecorderConfig::new(&rec_root),
        rec_tx,
    )
    .with_context(|| format!("starting the recorder under {}", rec_root.display()))?;
    let rec_db = db.clone();
    tokio::spawn(async move {
        while let Some(ev) = rec_rx.recv().await {
            if let Err(e) =
                crate::media::recorder::store::apply_event(&rec_db, &ev, crate::store::now_ms())
                    .await
            {
                warn!(error = %e, "recording row not updated");
            }
        }
    });
    info!(root = %rec_root.display(), "recording calls");
    let now = Instant::now();
    let mut engine = Engine::new(
        ecfg,
        RelayMedia {
            relay,
            events: media_tx,
            metrics: metrics.clone(),
            prompts,
            recorder: Some((recorder.handle(), db.clone())),
        },
        metrics.clone(),
        now,
    );
    let (acd_handle, mut acd_actions) = match acd {
        Some(l) => (Some(l.handle), Some(l.actions)),
        None => (None, None),
    };
    // What hosted calls are served with; rebuilt with the new flows on every reload.
    let has_acd = acd_handle.is_some();
    let services = move |flows| Services {
        flows,
        env: env.clone(),
        acd: has_acd,
        language: "zh-CN".into(),
    };
    engine.set_services(services(flows));
    // Events for the ACD go out in order through one task, stamped when the engine emitted them:
    // the ACD handles each as of that time, so a backlog cannot make a ring timeout overtake the
    // answer. Nobody waits for the verdict: the engine does not stall on the ACD.
    let (acd_tx, mut acd_rx) = mpsc::unbounded_channel::<(crate::acd::Event, crate::acd::Ms)>();
    if let Some(handle) = acd_handle.clone() {
        tokio::spawn(async move {
            while let Some((ev, at)) = acd_rx.recv().await {
                if handle.notify(ev, at).await.is_err() {
                    break;
                }
            }
        });
    }
    // Callers' histories come back to the engine task.
    let (history_tx, mut history_rx) =
        mpsc::unbounded_channel::<(u64, crate::acd::event::CallerHistory)>();
    // Lookup answers come back to the engine task.
    let (lookup_tx, mut lookup_rx) =
        mpsc::unbounded_channel::<(u64, u64, crate::ivr::interp::LookupOutcome)>();
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

    let lookup_db = db.clone();
    // One HTTP client (one connection pool) for every call's IVR lookups.
    let http_lookups = crate::call::http_lookup::HttpLookups::new()
        .context("building the HTTP client for IVR lookups")?;
    let (stream_tx, mut stream_rx) = mpsc::unbounded_channel::<Outgoing>();
    let stream_handle = transport.handle();
    tokio::spawn(async move {
        while let Some(out) = stream_rx.recv().await {
            let dest = out.dest;
            if let Err(e) = stream_handle.send(out).await {
                tracing::debug!(%dest, error = %e, "SIP message not sent");
            }
        }
    });
    let message_tickets = crate::tickets::store::TicketStore::new(
        db.clone(),
        crate::tickets::store::Rules::default(),
    );
    let handle = transport.handle();
    let drain = Duration::from_secs(h.shutdown.drain_secs);
    let mut stop = stop;
    let task = tokio::spawn(async move {
        let mut stopping = false;
        let mut flow_check = tokio::time::interval(Duration::from_secs(2));
        flow_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // `kill -HUP` reloads the IVR flows on command (a designer's "publish now").
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
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
                Some(ev) = media_rx.recv() => engine.handle_media_event(ev, Instant::now()),
                Some(a) = async { match acd_actions.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => {
                    engine.handle_acd_action(a, Instant::now());
                }
                Some((call, history)) = history_rx.recv() => engine.handle_caller_history(call, history),
                Some((call, id, outcome)) = lookup_rx.recv() => {
                    engine.handle_lookup_result(call, id, outcome, Instant::now());
                }
                _ = flow_check.tick() => {
                    // Edited flows are checked and swapped in; a broken edit keeps the old version.
                    if let Some(outcome) = registry.poll_changes() {
                        if outcome.report.errors() + outcome.report.warnings() > 0 {
                            warn!("IVR flow reload problems:\n{}", outcome.report);
                        }
                        info!(version = outcome.version, updated = ?outcome.updated, removed = ?outcome.removed, "IVR flows reloaded");
                        engine.set_services(services(registry.current()));
                    }
                }
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    let outcome = registry.reload();
                    if outcome.report.errors() + outcome.report.warnings() > 0 {
                        warn!("IVR flow reload problems:\n{}", outcome.report);
                    }
                    info!(trigger = "SIGHUP", version = outcome.version, updated = ?outcome.updated, refused = ?outcome.refused, "IVR flows reloaded");
                    engine.set_services(services(registry.current()));
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
                        if peer.transport.is_reliable() {
                            // A stream may need connecting (TLS handshake) or be slow to drain:
                            // its writes queue for their own task, in order, and the engine
                            // goes on serving every other call.
                            let _ = stream_tx.send(out);
                        } else if let Err(e) = handle.send(out).await {
                            tracing::debug!(dest = %peer.addr, error = %e, "SIP message not sent");
                        }
                    }
                    Output::Bindings(changes) => {
                        let _ = bind_tx.send(changes);
                    }
                    Output::Cdr(c) => cdr.record(*c),
                    Output::Acd(ev) => {
                        let at = u64::try_from(crate::store::now_ms()).unwrap_or(0);
                        let _ = acd_tx.send((ev, at));
                    }
                    Output::CallerHistory { call, caller } => {
                        // Beside the call, never in its way: a slow database only means a
                        // screen pop completed a moment later (by a `caller_history` event).
                        let db = lookup_db.clone();
                        let tx = history_tx.clone();
                        tokio::spawn(async move {
                            match crate::call::services::caller_history(&db, &caller).await {
                                Ok(history) => {
                                    let _ = tx.send((call, history));
                                }
                                Err(e) => {
                                    warn!(%caller, error = %e, "caller history not looked up")
                                }
                            }
                        });
                    }
                    Output::Lookup {
                        call,
                        id,
                        source,
                        args,
                        timeout_ms,
                        call_id,
                    } => {
                        let db = lookup_db.clone();
                        let http = http_lookups.clone();
                        let tx = lookup_tx.clone();
                        tokio::spawn(async move {
                            let outcome = match source {
                                LookupSource::Internal(name) => {
                                    crate::call::services::internal_lookup(&db, &name, &args).await
                                }
                                LookupSource::Http { url, method } => {
                                    let timeout = Duration::from_millis(timeout_ms);
                                    http.run(&call_id, method, &url, &args, timeout).await
                                }
                            };
                            let _ = tx.send((call, id, outcome));
                        });
                    }
                    Output::MessageTicket {
                        call_id,
                        caller,
                        did,
                        recording,
                        duration_ms,
                    } => {
                        let tickets = message_tickets.clone();
                        tokio::spawn(async move {
                            let now = crate::store::now_ms();
                            match crate::call::services::message_ticket(
                                &tickets,
                                &call_id,
                                &caller,
                                &did,
                                &recording,
                                duration_ms,
                                now,
                            )
                            .await
                            {
                                Ok(number) => {
                                    info!(%call_id, ticket = %number, "voice message became a draft ticket")
                                }
                                Err(e) => {
                                    warn!(%call_id, error = %e, "voice message ticket not created")
                                }
                            }
                        });
                    }
                    Output::Rating {
                        call_id,
                        ticket,
                        rating,
                        scale,
                    } => {
                        let db = lookup_db.clone();
                        tokio::spawn(async move {
                            let at = crate::store::now_ms();
                            if let Err(e) = crate::call::services::store_rating(
                                &db,
                                &call_id,
                                ticket.as_deref(),
                                rating,
                                scale,
                                at,
                            )
                            .await
                            {
                                warn!(%call_id, error = %e, "rating not stored");
                            }
                        });
                    }
                }
            }
            if stopping && engine.active_calls() == 0 {
                break;
            }
        }
        cdr.flush().await;
        // Open recordings are finalised and hashed before the node stops.
        drop(engine);
        tokio::task::spawn_blocking(move || drop(recorder))
            .await
            .ok();
        info!("SIP engine stopped");
    });
    Ok(SipService {
        transport,
        task,
        udp,
    })
}
