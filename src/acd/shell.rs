//! The ACD task: one tokio task owns the [`Acd`], feeds it requests and timer ticks, and hands its
//! actions out: events and session kicks on a broadcast channel (for the CTI bridge), everything
//! else (offers, call control, persistence) on an mpsc channel for the call layer and the store.

use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::warn;

use super::board::{AgentSnapshot, Board, TransferTarget};
use super::event::{AcdEvent, Action, Event};
use super::{Acd, Ms, Refusal};

/// What the CTI bridge hears from the ACD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broadcast {
    Event {
        at_ms: Ms,
        event: AcdEvent,
    },
    /// Close this CTI session (taken over, or signed out by a supervisor).
    Kick {
        agent_no: String,
        session: u64,
        reason: String,
    },
}

enum Request {
    Event(Event, oneshot::Sender<Result<(), Refusal>>),
    Snapshot(String, oneshot::Sender<Option<AgentSnapshot>>),
    Board(oneshot::Sender<Board>),
    Targets(oneshot::Sender<Vec<TransferTarget>>),
}

/// A cheap, cloneable way to talk to the ACD task.
#[derive(Clone)]
pub struct AcdHandle {
    tx: mpsc::Sender<Request>,
    events: broadcast::Sender<Broadcast>,
    clock: fn() -> Ms,
}

/// The ACD task has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the ACD task has stopped")]
pub struct Stopped;

impl AcdHandle {
    /// Feeds one event; returns the ACD's verdict.
    pub async fn request(&self, event: Event) -> Result<Result<(), Refusal>, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Event(event, tx))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn agent_snapshot(&self, agent_no: &str) -> Result<Option<AgentSnapshot>, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Snapshot(agent_no.to_string(), tx))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn board(&self) -> Result<Board, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Board(tx))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn transfer_targets(&self) -> Result<Vec<TransferTarget>, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Targets(tx))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Events and kicks from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Broadcast> {
        self.events.subscribe()
    }

    /// Kicks a CTI session (used by the bridge on takeover).
    pub fn kick(&self, agent_no: &str, session: u64, reason: &str) {
        let _ = self.events.send(Broadcast::Kick {
            agent_no: agent_no.to_string(),
            session,
            reason: reason.to_string(),
        });
    }

    pub fn now(&self) -> Ms {
        (self.clock)()
    }
}

/// The wall clock in unix ms, for [`spawn`] in production.
pub fn unix_ms() -> Ms {
    u64::try_from(crate::store::now_ms()).unwrap_or(0)
}

/// Starts the ACD task. `clock` gives unix ms ([`unix_ms`] in production); `actions`
/// receives every action that is not an event or a kick.
pub fn spawn(mut acd: Acd, clock: fn() -> Ms, actions: mpsc::UnboundedSender<Action>) -> AcdHandle {
    let (tx, mut rx) = mpsc::channel::<Request>(1024);
    let (events, _) = broadcast::channel(4096);
    let handle = AcdHandle {
        tx,
        events: events.clone(),
        clock,
    };
    tokio::spawn(async move {
        loop {
            let wait = acd
                .poll_timeout()
                .map(|t| std::time::Duration::from_millis(t.saturating_sub(clock())));
            let req = match wait {
                Some(d) => tokio::select! {
                    r = rx.recv() => r.map(Some),
                    _ = tokio::time::sleep(d) => Some(None),
                },
                None => rx.recv().await.map(Some),
            };
            let now = clock();
            match req {
                None => break, // every handle dropped
                Some(None) => {
                    let _ = acd.handle(Event::Tick, now);
                }
                Some(Some(Request::Event(e, reply))) => {
                    let _ = reply.send(acd.handle(e, now));
                }
                Some(Some(Request::Snapshot(agent, reply))) => {
                    let _ = reply.send(acd.agent_snapshot(&agent, now));
                }
                Some(Some(Request::Board(reply))) => {
                    let _ = reply.send(acd.board(now));
                }
                Some(Some(Request::Targets(reply))) => {
                    let _ = reply.send(acd.transfer_targets());
                }
            }
            while let Some(a) = acd.poll() {
                match a {
                    Action::Publish(event) => {
                        let _ = events.send(Broadcast::Event { at_ms: now, event });
                    }
                    Action::KickSession {
                        agent_no,
                        session,
                        reason,
                    } => {
                        let _ = events.send(Broadcast::Kick {
                            agent_no,
                            session,
                            reason,
                        });
                    }
                    Action::ArmTimer { .. } => {}
                    other => {
                        if actions.send(other).is_err() {
                            warn!("nobody takes ACD actions");
                        }
                    }
                }
            }
        }
    });
    handle
}
