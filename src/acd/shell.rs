//! The ACD task: one tokio task owns the [`Acd`], feeds it requests and timer ticks, and hands its
//! actions out: events and session kicks to the CTI sessions they concern (the hub below),
//! everything else (offers, call control, persistence) on an mpsc channel for the call layer and
//! the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

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
    /// A fact from the call layer, stamped when it happened there; nobody waits for a verdict.
    Notify(Event, Ms),
    Snapshot(String, oneshot::Sender<Option<AgentSnapshot>>),
    Board(oneshot::Sender<Board>),
    Targets(oneshot::Sender<Vec<TransferTarget>>),
    Subscribe(Subscriber, oneshot::Sender<()>),
    Unsubscribe(u64),
    Kick {
        session: u64,
        agent_no: String,
        reason: String,
    },
}

enum Wake {
    Request(Request),
    Timer,
    Stats,
}

/// How often changed queue statistics are published.
pub const STATS_EVERY_MS: u64 = 5_000;

/// Events a CTI session may have waiting before it counts as too slow and is closed (it reconnects
/// and gets a fresh snapshot).
pub const SESSION_BACKLOG: usize = 4096;

/// Whose events a CTI session is sent: its own agent's, or every event (supervisors, wallboards).
/// Queue statistics go to everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    pub agent_no: Option<String>,
    pub everything: bool,
}

/// A CTI session's end of the event hub. Dropping it unsubscribes.
pub struct Subscription {
    pub rx: mpsc::Receiver<Broadcast>,
    lagged: Arc<AtomicBool>,
    session: u64,
    tx: mpsc::Sender<Request>,
}

impl Subscription {
    /// Whether the hub dropped this session for falling too far behind (its channel then closes).
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.tx.try_send(Request::Unsubscribe(self.session));
    }
}

struct Subscriber {
    session: u64,
    audience: Audience,
    tx: mpsc::Sender<Broadcast>,
    lagged: Arc<AtomicBool>,
}

/// Routes each published event to the sessions it concerns, so an event costs the agent's own
/// session and the supervisors, not a wake-up of every desktop in the centre (1,000 desktops woken
/// for every event of every call starved the call engine at 60 calls/s).
#[derive(Default)]
struct Hub {
    subs: HashMap<u64, Subscriber>,
    by_agent: HashMap<String, Vec<u64>>,
    everything: Vec<u64>,
}

impl Hub {
    fn add(&mut self, s: Subscriber) {
        self.remove(s.session);
        if s.audience.everything {
            self.everything.push(s.session);
        } else if let Some(a) = &s.audience.agent_no {
            self.by_agent.entry(a.clone()).or_default().push(s.session);
        }
        self.subs.insert(s.session, s);
    }

    fn remove(&mut self, session: u64) {
        let Some(s) = self.subs.remove(&session) else {
            return;
        };
        if s.audience.everything {
            self.everything.retain(|&x| x != session);
        } else if let Some(a) = &s.audience.agent_no {
            if let Some(v) = self.by_agent.get_mut(a) {
                v.retain(|&x| x != session);
                if v.is_empty() {
                    self.by_agent.remove(a);
                }
            }
        }
    }

    fn publish(&mut self, p: Arc<Published>) {
        let mut gone = Vec::new();
        let mut send = |hub: &Hub, session: u64| {
            if let Some(s) = hub.subs.get(&session) {
                if !deliver(s, Broadcast::Event(p.clone())) {
                    gone.push(session);
                }
            }
        };
        if matches!(p.event, AcdEvent::QueueStats(_)) {
            for &session in self.subs.keys() {
                send(self, session);
            }
        } else {
            for &session in &self.everything {
                send(self, session);
            }
            if let Some(list) = p.event.agent().and_then(|a| self.by_agent.get(a)) {
                for &session in list {
                    send(self, session);
                }
            }
        }
        for session in gone {
            self.remove(session);
        }
    }

    fn kick(&mut self, session: u64, agent_no: String, reason: String) {
        let Some(s) = self.subs.get(&session) else {
            return;
        };
        let ok = deliver(
            s,
            Broadcast::Kick {
                agent_no,
                session,
                reason,
            },
        );
        if !ok {
            self.remove(session);
        }
    }
}

/// Hands one frame to a session; false when the session is gone or too far behind (then marked).
fn deliver(s: &Subscriber, b: Broadcast) -> bool {
    match s.tx.try_send(b) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            s.lagged.store(true, Ordering::Relaxed);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// A cheap, cloneable way to talk to the ACD task.
#[derive(Clone)]
pub struct AcdHandle {
    tx: mpsc::Sender<Request>,
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

    /// Feeds a fact from the call layer that happened at `at_ms`, without waiting for the verdict
    /// (the call layer goes on; a refusal is logged by the ACD). Facts are handled in the order
    /// sent, and as of their own time: a ring timeout due after `at_ms` cannot overtake them.
    pub async fn notify(&self, event: Event, at_ms: Ms) -> Result<(), Stopped> {
        self.tx
            .send(Request::Notify(event, at_ms))
            .await
            .map_err(|_| Stopped)
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

    /// Events for `audience` from now on, for CTI session `session` (a session subscribing again
    /// replaces its old subscription). Take the snapshot after this, so nothing falls between.
    pub async fn subscribe(
        &self,
        session: u64,
        audience: Audience,
    ) -> Result<Subscription, Stopped> {
        let (etx, rx) = mpsc::channel(SESSION_BACKLOG);
        let lagged = Arc::new(AtomicBool::new(false));
        let (done, ok) = oneshot::channel();
        let sub = Subscriber {
            session,
            audience,
            tx: etx,
            lagged: lagged.clone(),
        };
        self.tx
            .send(Request::Subscribe(sub, done))
            .await
            .map_err(|_| Stopped)?;
        ok.await.map_err(|_| Stopped)?;
        Ok(Subscription {
            rx,
            lagged,
            session,
            tx: self.tx.clone(),
        })
    }

    /// Kicks a CTI session (used by the bridge on takeover).
    pub async fn kick(&self, agent_no: &str, session: u64, reason: &str) -> Result<(), Stopped> {
        self.tx
            .send(Request::Kick {
                session,
                agent_no: agent_no.to_string(),
                reason: reason.to_string(),
            })
            .await
            .map_err(|_| Stopped)
    }

    pub fn now(&self) -> Ms {
        (self.clock)()
    }
}

/// The wall clock in unix ms, for [`spawn`] in production.
pub fn unix_ms() -> Ms {
    u64::try_from(crate::store::now_ms()).unwrap_or(0)
}

/// The ACD task's state: the core, who hears its events, and where its other actions go.
struct Task {
    acd: Acd,
    hub: Hub,
    clock: fn() -> Ms,
    actions: mpsc::UnboundedSender<Action>,
    last_rows: Vec<super::board::QueueRow>,
}

impl Task {
    fn on_request(&mut self, req: Request) {
        let now = (self.clock)();
        match req {
            Request::Event(e, reply) => {
                let _ = reply.send(self.acd.handle(e, now));
            }
            Request::Notify(e, at) => {
                if let Err(refusal) = self.acd.handle(e, at.min(now)) {
                    debug!(%refusal, "ACD refused a call event");
                }
            }
            Request::Snapshot(agent, reply) => {
                let _ = reply.send(self.acd.agent_snapshot(&agent, now));
            }
            Request::Board(reply) => {
                let _ = reply.send(self.acd.board(now));
            }
            Request::Targets(reply) => {
                let _ = reply.send(self.acd.transfer_targets());
            }
            Request::Subscribe(sub, done) => {
                self.hub.add(sub);
                let _ = done.send(());
            }
            Request::Unsubscribe(session) => self.hub.remove(session),
            Request::Kick {
                session,
                agent_no,
                reason,
            } => self.hub.kick(session, agent_no, reason),
        }
        self.drain_actions(now);
    }

    fn on_stats(&mut self) {
        let now = (self.clock)();
        let rows = self.acd.queue_rows(now);
        for (i, row) in rows.iter().enumerate() {
            // longest wait moves every tick; publish on a change of the counts
            let changed = self.last_rows.get(i).is_none_or(|old| {
                let mut old = old.clone();
                old.longest_wait_ms = row.longest_wait_ms;
                old != *row
            });
            if changed {
                self.hub
                    .publish(Published::new(now, AcdEvent::QueueStats(row.clone())));
            }
        }
        self.last_rows = rows;
    }

    fn drain_actions(&mut self, now: Ms) {
        while let Some(a) = self.acd.poll() {
            match a {
                Action::Publish(event) => self.hub.publish(Published::new(now, event)),
                Action::KickSession {
                    agent_no,
                    session,
                    reason,
                } => self.hub.kick(session, agent_no, reason),
                Action::ArmTimer { .. } => {}
                other => {
                    if self.actions.send(other).is_err() {
                        warn!("nobody takes ACD actions");
                    }
                }
            }
        }
    }
}

/// Starts the ACD task. `clock` gives unix ms ([`unix_ms`] in production); `actions`
/// receives every action that is not an event or a kick.
pub fn spawn(acd: Acd, clock: fn() -> Ms, actions: mpsc::UnboundedSender<Action>) -> AcdHandle {
    let (tx, mut rx) = mpsc::channel::<Request>(1024);
    let handle = AcdHandle { tx, clock };
    let mut task = Task {
        acd,
        hub: Hub::default(),
        clock,
        actions,
        last_rows: Vec::new(),
    };
    tokio::spawn(async move {
        // Queue statistics go out every few seconds when they changed (wallboards, desktops).
        let mut stats = tokio::time::interval(std::time::Duration::from_millis(STATS_EVERY_MS));
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wait = task
                .acd
                .poll_timeout()
                .map(|t| std::time::Duration::from_millis(t.saturating_sub(clock())))
                .unwrap_or(std::time::Duration::from_secs(3600));
            let wake = tokio::select! {
                r = rx.recv() => r.map(Wake::Request),
                _ = tokio::time::sleep(wait) => Some(Wake::Timer),
                _ = stats.tick() => Some(Wake::Stats),
            };
            match wake {
                None => break, // every handle dropped
                Some(Wake::Request(r)) => task.on_request(r),
                Some(Wake::Stats) => task.on_stats(),
                Some(Wake::Timer) => {
                    // What already waits in the channel happened before this deadline was
                    // noticed (an answer, a hang-up): it goes first, so a ring timeout does not
                    // overtake the answer that makes it moot.
                    while let Ok(r) = rx.try_recv() {
                        task.on_request(r);
                    }
                    let now = clock();
                    let _ = task.acd.handle(Event::Tick, now);
                    task.drain_actions(now);
                }
            }
        }
    });
    handle
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::acd::event::{AgentCommand, IncomingCall};
    use crate::acd::{AcdConfig, AgentProfile, AgentState, GroupConfig};

    fn sub(
        session: u64,
        agent: Option<&str>,
        everything: bool,
        cap: usize,
    ) -> (Subscriber, mpsc::Receiver<Broadcast>) {
        let (tx, rx) = mpsc::channel(cap);
        let s = Subscriber {
            session,
            audience: Audience {
                agent_no: agent.map(String::from),
                everything,
            },
            tx,
            lagged: Arc::new(AtomicBool::new(false)),
        };
        (s, rx)
    }

    fn state_event(agent: &str) -> Arc<Published> {
        Published::new(
            1,
            AcdEvent::AgentState {
                agent_no: agent.into(),
                state: AgentState::Ready,
                reason: "ready".into(),
                at_ms: 1,
            },
        )
    }

    fn got(rx: &mut mpsc::Receiver<Broadcast>) -> usize {
        std::iter::from_fn(|| rx.try_recv().ok()).count()
    }

    #[test]
    fn an_event_reaches_its_agent_and_the_supervisors_only() {
        let mut hub = Hub::default();
        let (a, mut ra) = sub(1, Some("1001"), false, 8);
        let (b, mut rb) = sub(2, Some("1002"), false, 8);
        let (s, mut rs) = sub(3, Some("9001"), true, 8);
        hub.add(a);
        hub.add(b);
        hub.add(s);
        hub.publish(state_event("1001"));
        assert_eq!((got(&mut ra), got(&mut rb), got(&mut rs)), (1, 0, 1));
        // Queue statistics go to every session.
        hub.publish(Published::new(1, AcdEvent::QueueStats(Default::default())));
        assert_eq!((got(&mut ra), got(&mut rb), got(&mut rs)), (1, 1, 1));
        // A kick reaches the one session named.
        hub.kick(2, "1002".into(), "taken over".into());
        assert_eq!((got(&mut ra), got(&mut rb), got(&mut rs)), (0, 1, 0));
        // An unsubscribed session hears nothing more.
        hub.remove(1);
        hub.publish(state_event("1001"));
        assert_eq!((got(&mut ra), got(&mut rs)), (0, 1));
        assert!(!hub.by_agent.contains_key("1001"));
    }

    #[test]
    fn a_session_that_falls_behind_is_dropped_and_marked() {
        let mut hub = Hub::default();
        let (a, mut ra) = sub(1, Some("1001"), false, 2);
        let lagged = a.lagged.clone();
        hub.add(a);
        for _ in 0..3 {
            hub.publish(state_event("1001"));
        }
        assert!(lagged.load(Ordering::Relaxed));
        assert!(hub.subs.is_empty());
        // What was queued still arrives, then the channel ends.
        assert_eq!(got(&mut ra), 2);
        assert!(ra.try_recv().is_err());
    }

    static CLOCK: AtomicU64 = AtomicU64::new(1_000_000);

    fn clock() -> Ms {
        CLOCK.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_stamped_answer_is_not_overtaken_by_a_ring_timeout_due_after_it() {
        let mut acd = Acd::new(AcdConfig {
            groups: vec![GroupConfig::new("g", "综合")],
            ..AcdConfig::default()
        })
        .unwrap();
        acd.add_agent(AgentProfile::new("1001", "张三").in_group("g", 1))
            .unwrap();
        let (tx, mut actions) = mpsc::unbounded_channel();
        let h = spawn(acd, clock, tx);
        let t0 = clock();
        for cmd in [
            AgentCommand::Login {
                session: 1,
                endpoint: None,
            },
            AgentCommand::SetReady,
        ] {
            h.request(Event::Agent {
                agent_no: "1001".into(),
                cmd,
            })
            .await
            .unwrap()
            .unwrap();
        }
        h.request(Event::CallArrived(IncomingCall {
            call: "c1".into(),
            caller: "138".into(),
            did: "12345".into(),
            group: Some("g".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .unwrap();
        // The answer happened 2 s after the offer, but reaches the ACD only after the backstop
        // was due (a call layer behind by minutes).
        CLOCK.store(t0 + 600_000, Ordering::Relaxed);
        h.notify(
            Event::CallAnswered {
                call: "c1".into(),
                agent_no: "1001".into(),
            },
            t0 + 2_000,
        )
        .await
        .unwrap();
        let snap = h.agent_snapshot("1001").await.unwrap().unwrap();
        assert_eq!(
            snap.agent.state,
            AgentState::Talking {
                call: "c1".into(),
                outbound: false
            }
        );
        let mut seen = Vec::new();
        while let Ok(a) = actions.try_recv() {
            seen.push(a);
        }
        assert!(
            seen.iter().any(|a| matches!(a, Action::OfferCall { .. })),
            "{seen:?}"
        );
        assert!(
            !seen.iter().any(|a| matches!(a, Action::CancelOffer { .. })),
            "the ring timeout did not fire before the answer: {seen:?}"
        );
    }
}
