//! The ACD task: one tokio task owns the [`Acd`], feeds it requests and timer ticks, and hands its
//! actions out: events and session kicks on a broadcast channel (for the CTI bridge), everything
//! else (offers, call control, persistence) on an mpsc channel for the call layer and the store.

use std::sync::{Arc, OnceLock};

use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::warn;

use super::board::{AgentSnapshot, Board, TransferTarget};
use super::event::{AcdEvent, Action, Event};
use super::{Acd, Ms, Refusal};

/// One published event, shared by every subscriber: the broadcast channel clones an `Arc` per
/// session, not the event's strings.
#[derive(Debug)]
pub struct Published {
    pub at_ms: Ms,
    pub event: AcdEvent,
    /// The event's wire form, made by the first session that sends it and reused by the others
    /// (the CTI bridge serialises an event once, however many desktops receive it).
    pub wire: OnceLock<Box<str>>,
}

impl Published {
    pub fn new(at_ms: Ms, event: AcdEvent) -> Arc<Published> {
        Arc::new(Published {
            at_ms,
            event,
            wire: OnceLock::new(),
        })
    }
}

impl PartialEq for Published {
    fn eq(&self, other: &Self) -> bool {
        self.at_ms == other.at_ms && self.event == other.event
    }
}

impl Eq for Published {}

/// What the CTI bridge hears from the ACD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broadcast {
    Event(Arc<Published>),
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

enum Wake {
    Request(Request),
    Timer,
    Stats,
}

/// How often changed queue statistics are published.
pub const STATS_EVERY_MS: u64 = 5_000;

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
        // Queue statistics go out every few seconds when they changed (wallboards, desktops).
        let mut stats = tokio::time::interval(std::time::Duration::from_millis(STATS_EVERY_MS));
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rows: Vec<super::board::QueueRow> = Vec::new();
        loop {
            let wait = acd
                .poll_timeout()
                .map(|t| std::time::Duration::from_millis(t.saturating_sub(clock())))
                .unwrap_or(std::time::Duration::from_secs(3600));
            let req = tokio::select! {
                r = rx.recv() => r.map(Wake::Request),
                _ = tokio::time::sleep(wait) => Some(Wake::Timer),
                _ = stats.tick() => Some(Wake::Stats),
            };
            let now = clock();
            match req {
                None => break, // every handle dropped
                Some(Wake::Stats) => {
                    let rows = acd.queue_rows(now);
                    for (i, row) in rows.iter().enumerate() {
                        // longest wait moves every tick; publish on a change of the counts
                        let changed = last_rows.get(i).is_none_or(|old| {
                            let mut old = old.clone();
                            old.longest_wait_ms = row.longest_wait_ms;
                            old != *row
                        });
                        if changed {
                            let _ = events.send(Broadcast::Event(Published::new(
                                now,
                                AcdEvent::QueueStats(row.clone()),
                            )));
                        }
                    }
                    last_rows = rows;
                }
                Some(Wake::Timer) => {
                    let _ = acd.handle(Event::Tick, now);
                }
                Some(Wake::Request(Request::Event(e, reply))) => {
                    let _ = reply.send(acd.handle(e, now));
                }
                Some(Wake::Request(Request::Snapshot(agent, reply))) => {
                    let _ = reply.send(acd.agent_snapshot(&agent, now));
                }
                Some(Wake::Request(Request::Board(reply))) => {
                    let _ = reply.send(acd.board(now));
                }
                Some(Wake::Request(Request::Targets(reply))) => {
                    let _ = reply.send(acd.transfer_targets());
                }
            }
            while let Some(a) = acd.poll() {
                match a {
                    Action::Publish(event) => {
                        let _ = events.send(Broadcast::Event(Published::new(now, event)));
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
