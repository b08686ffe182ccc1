//! The async shell around [`FlowRegistry`]: one tokio task owns it, polls the folder for
//! changes and serves reload commands; new calls read the current [`FlowSet`] from a
//! `watch` channel (cheap `Arc` clone), so reloads never block a call.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::interp::FlowSet;
use super::registry::{FlowRegistry, ReloadOutcome};

/// Handle to the flow watcher task.
#[derive(Clone)]
pub struct FlowWatcher {
    current: watch::Receiver<Arc<FlowSet>>,
    commands: mpsc::Sender<oneshot::Sender<ReloadOutcome>>,
}

impl FlowWatcher {
    /// Starts the task; it polls file times every `every` and stops when every handle is dropped.
    pub fn spawn(mut registry: FlowRegistry, every: Duration) -> Self {
        let (tx, rx) = watch::channel(registry.current());
        let (ctx, mut crx) = mpsc::channel::<oneshot::Sender<ReloadOutcome>>(8);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        // File reads are small and bounded; keep them off the async threads anyway.
                        let (r, out) = match tokio::task::spawn_blocking(move || {
                            let out = registry.poll_changes();
                            (registry, out)
                        }).await {
                            Ok(x) => x,
                            Err(e) => { tracing::error!(error = %e, "flow watcher failed"); return; }
                        };
                        registry = r;
                        if let Some(out) = out {
                            log(&out);
                            let _ = tx.send(registry.current());
                        }
                    }
                    cmd = crx.recv() => {
                        let Some(reply) = cmd else { return };
                        let (r, out) = match tokio::task::spawn_blocking(move || {
                            let out = registry.reload();
                            (registry, out)
                        }).await {
                            Ok(x) => x,
                            Err(e) => { tracing::error!(error = %e, "flow watcher failed"); return; }
                        };
                        registry = r;
                        log(&out);
                        let _ = tx.send(registry.current());
                        let _ = reply.send(out);
                    }
                    _ = tx.closed() => return,
                }
            }
        });
        FlowWatcher {
            current: rx,
            commands: ctx,
        }
    }

    /// The flow set a new call starts with.
    pub fn current(&self) -> Arc<FlowSet> {
        self.current.borrow().clone()
    }

    /// A receiver that sees every published set.
    pub fn subscribe(&self) -> watch::Receiver<Arc<FlowSet>> {
        self.current.clone()
    }

    /// Reloads now (the "reload" command); `None` if the task has stopped.
    pub async fn reload(&self) -> Option<ReloadOutcome> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(tx).await.ok()?;
        rx.await.ok()
    }
}

fn log(out: &ReloadOutcome) {
    tracing::info!(
        version = out.version,
        updated = ?out.updated,
        removed = ?out.removed,
        refused = out.refused.len(),
        "IVR flows reloaded"
    );
    for d in &out.report.diagnostics {
        tracing::warn!("{d}");
    }
}
