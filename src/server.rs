//! The node: starts every shell (database, HTTP, SIP, media) from a [`Config`], and on
//! shutdown refuses new calls, lets active ones drain for the configured time, then stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::call::cdr::{BatchPolicy, CdrWriter};
use crate::call::shell;
use crate::config::Config;
use crate::store::{accounts, Db};
use crate::tickets::api::ApiState;
use crate::tickets::attachments::AttachmentConfig;
use crate::tickets::sms::{FileSink, SmsSender};
use crate::tickets::store::{Rules, TicketStore};
use crate::web::auth::{Auth, AuthConfig};
use crate::web::{self, Metrics};

/// Logs to stderr; `RUST_LOG` chooses the level (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A one-screen description of the configuration (for `hotline check`).
pub fn describe(config: &Config) -> String {
    let h = &config.hotline;
    let mut s = String::new();
    s.push_str(&format!(
        "config: {}\n",
        config
            .source
            .as_ref()
            .map_or("embedded default".to_string(), |p| p.display().to_string())
    ));
    let list = |v: &[toml::Spanned<String>]| {
        v.iter()
            .map(|a| a.get_ref().clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    s.push_str(&format!(
        "sip udp: {}\nsip tcp: {}\nsip tls: {}\n",
        list(&h.sip.udp),
        list(&h.sip.tcp),
        list(&h.sip.tls)
    ));
    s.push_str(&format!(
        "rtp: {} ports {}-{}\n",
        h.rtp.address.get_ref(),
        h.rtp.port_min,
        h.rtp.port_max
    ));
    s.push_str(&format!(
        "http: {}\ndatabase: {}\n",
        h.http.listen.get_ref(),
        h.database.url.get_ref()
    ));
    for t in &config.profiles.trunks {
        s.push_str(&format!(
            "trunk {}: peer {} channels {} priority {}\n",
            t.name, t.peer, t.channels, t.priority
        ));
    }
    let mut dids: Vec<_> = config.profiles.dids.values().collect();
    dids.sort_by(|a, b| a.number.cmp(&b.number));
    for d in dids {
        s.push_str(&format!(
            "did {} (trunk {}) -> {:?}\n",
            d.number, d.trunk, d.target
        ));
    }
    if let Some(a) = &config.profiles.agents {
        s.push_str(&format!(
            "agents: realm {} with {} provisioned extensions\n",
            a.realm,
            a.extension.len()
        ));
    }
    s
}

/// What a running node hands to its shells.
pub struct Node {
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub http_addr: SocketAddr,
    /// Flips to `true` when shutdown begins.
    pub shutting_down: watch::Receiver<bool>,
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested: refusing new calls and draining");
        let _ = stop_tx.send(true);
    });
    run(config, stop_rx, |_| {}).await
}

/// Starts everything, calls `ready` with the bound addresses, and runs until `stop` turns true.
pub async fn run(
    config: Config,
    mut stop: watch::Receiver<bool>,
    ready: impl FnOnce(&Node),
) -> anyhow::Result<()> {
    let h = &config.hotline;
    let resolved = h.resolve("hotline.toml", "").context("configuration")?;
    let db = Db::connect(h.database.url.get_ref())
        .await
        .context("opening the database")?;
    db.migrate().await.context("migrating the database")?;
    if let Some(agents) = &config.profiles.agents {
        for e in &agents.extension {
            accounts::upsert(&db, &e.number, &agents.realm, &e.password, &e.name).await?;
        }
    }
    let metrics = Metrics::new();
    for t in &config.profiles.trunks {
        let g = metrics.trunk(&t.name);
        g.channels
            .store(i64::from(t.channels), std::sync::atomic::Ordering::Relaxed);
        // Trunks start up; keepalives mark them down when the carrier stops answering.
        g.up.store(1, std::sync::atomic::Ordering::Relaxed);
    }

    let listener = TcpListener::bind(resolved.http)
        .await
        .with_context(|| format!("binding HTTP on {}", resolved.http))?;
    let http_addr = listener.local_addr()?;
    // Work orders: the sample catalogue (idempotent), the REST API and its background worker.
    crate::tickets::catalogue::load_seed(&db)
        .await
        .context("loading the sample catalogue")?;
    let store = TicketStore::new(db.clone(), Rules::default());
    let auth = Auth::new(db.clone(), AuthConfig::default());
    let data_dir = h
        .paths
        .recordings
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| "data".into());
    let api = ApiState {
        files: AttachmentConfig {
            root: data_dir.join("attachments"),
            ..AttachmentConfig::default()
        },
        ..ApiState::new(store.clone(), auth.clone())
    };
    // The knowledge-base search index, built now rather than by the first search.
    api.kb
        .load()
        .await
        .context("building the knowledge-base search index")?;
    let sms: Arc<dyn SmsSender> = Arc::new(FileSink {
        path: data_dir.join("sms-outbox.jsonl"),
    });
    let link_base = format!("http://{}/api/v1", resolved.http);
    let tickets_worker = crate::tickets::worker::spawn(
        store,
        sms,
        api.links.clone(),
        link_base,
        Duration::from_secs(30),
    );
    // The ACD (skill groups, agents) and its CTI bridge for the agents' desktops.
    let acd = start_acd(&db, &h.paths.acd).await?;
    let mut app = web::base_router(metrics.clone()).nest(
        "/api/v1",
        crate::tickets::api::router(api).merge(web::auth::router(auth.clone())),
    );
    if let Some(l) = &acd {
        let tokens = Arc::new(web::auth::CtiTokens { auth: auth.clone() });
        app = app.merge(crate::cti::ws::router(crate::cti::ws::CtiState::new(
            l.handle.clone(),
            tokens,
        )));
    }
    // SIP (and its prompts, flows and recorder) is up before HTTP answers, so /healthz saying
    // "ok" means the node takes calls.
    let cdr = CdrWriter::spawn(db.clone(), BatchPolicy::default());
    let sip = shell::start(&config, db.clone(), metrics.clone(), cdr, stop.clone(), acd).await?;
    info!(udp = ?sip.udp, "SIP listening");
    let mut http_stop = stop.clone();
    let http = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await;
    });
    info!(%http_addr, "HTTP listening");

    let node = Node {
        db: db.clone(),
        metrics: metrics.clone(),
        http_addr,
        shutting_down: stop.clone(),
    };
    ready(&node);

    let _ = stop.wait_for(|s| *s).await;
    // The engine refuses new calls with 503 and ends once its calls are over or drain time is up.
    let drain = Duration::from_secs(h.shutdown.drain_secs);
    if tokio::time::timeout(drain + Duration::from_secs(5), sip.task)
        .await
        .is_err()
    {
        warn!("SIP engine did not stop in time");
    }
    sip.transport.shutdown(Duration::from_secs(1)).await;
    tickets_worker.abort();
    let _ = http.await;
    db.pool.close().await;
    info!("stopped");
    Ok(())
}

/// Loads `acd.toml`, restores persisted lists and callback promises, and starts the ACD task.
/// Its state changes go to the database in order; its call decisions go to the SIP engine.
async fn start_acd(db: &Db, path: &std::path::Path) -> anyhow::Result<Option<shell::AcdLink>> {
    use crate::acd::{self, shell as acd_shell};
    let Some(mut core) = acd::file::load(path).context("ACD configuration")? else {
        warn!(path = %path.display(), "no ACD configuration: queue routes are refused");
        return Ok(None);
    };
    let restored = acd::store::restore(db, &mut core, acd_shell::unix_ms())
        .await
        .context("restoring the ACD's lists and callbacks")?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = acd_shell::spawn(core, acd_shell::unix_ms, tx);
    let (persist_tx, mut persist_rx) = tokio::sync::mpsc::unbounded_channel();
    let (call_tx, call_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(a) = rx.recv().await {
            match a {
                acd::Action::Persist(op) => {
                    let _ = persist_tx.send(op);
                }
                other => {
                    if call_tx.send(other).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let pdb = db.clone();
    tokio::spawn(async move {
        // Batches whatever queued up while the last write ran: one transaction, same order.
        while let Some(first) = persist_rx.recv().await {
            let mut ops = vec![first];
            while let Ok(op) = persist_rx.try_recv() {
                ops.push(op);
                if ops.len() >= 256 {
                    break;
                }
            }
            if let Err(e) = acd::store::write_batch(&pdb, &ops).await {
                warn!(error = %e, ops = ops.len(), "ACD state not persisted");
            }
        }
    });
    info!(path = %path.display(), callbacks = restored, "ACD started");
    Ok(Some(shell::AcdLink {
        handle,
        actions: call_rx,
    }))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
