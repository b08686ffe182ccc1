//! The [`Acd`] value: owns every agent, queue and waiting call; routes calls; runs timers.
//!
//! Contract (as str0m's `Rtc`): call [`Acd::handle`] with one event and the time, then drain
//! [`Acd::poll`] until it returns `None`. Timers due at or before `now` run at the start of every
//! `handle`, so a late `Tick` loses nothing. Agent and supervisor commands are in `commands.rs`,
//! routing in `routing.rs`, read-only views in `views.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use tracing::debug;

use super::agent::{
    transition, AgentInput, AgentProfile, AgentRules, AgentState, Endpoint, Next, Refusal,
};
use super::config::{AcdConfig, GroupConfig, OverflowTarget, OverflowTrigger};
use super::event::{
    AcdEvent, Action, CallOp, CallbackRecord, CallerHistory, Event, ExitReason, IncomingCall,
    OfferFailure, PersistOp, StateChange,
};
use super::lists::Lists;
use super::queue::{entry_index, Priority};
use super::{CallId, Ms};

/// Orders head calls across queues (see [`cross_queue_key`]).
pub(super) type HeadKey = (Reverse<Priority>, Ms, u64);

/// Why a configuration cannot start an ACD.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("skill group `{0}` is defined twice")]
    DuplicateGroup(String),
    #[error("{place} names skill group `{group}`, which is not defined")]
    UnknownGroup { place: String, group: String },
    #[error("agent `{0}` is defined twice")]
    DuplicateAgent(String),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    Agent(usize, u64),
    Ring(CallId, u64),
    Check(CallId, u64),
    /// A callback promise whose last attempt failed goes back into its queue.
    CallbackRetry(CallId, u64),
}

pub(super) struct AgentRt {
    pub profile: AgentProfile,
    pub state: AgentState,
    pub since: Ms,
    pub session: Option<u64>,
    pub endpoint: Option<Endpoint>,
    pub idle_since: Ms,
    /// The current break started from ready: resuming keeps `idle_since`.
    pub idle_kept: bool,
    pub calls: u32,
    pub talk_ms: u64,
    pub talk_start: Ms,
    /// The not-ready reason an outbound call returns to.
    pub resume_reason: String,
    /// A supervisor's force not-ready that waits for the call to end.
    pub pending_not_ready: Option<String>,
    pub gen: u64,
    /// (group index, position in that group's member list, level)
    pub groups: Vec<(usize, usize, u8)>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub entered: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    pub abandoned: u64,
    pub overflowed: u64,
}

pub(super) struct GroupRt {
    pub cfg: GroupConfig,
    pub members: Vec<usize>,
    pub queue: VecDeque<CallId>,
    pub rr_last: usize,
    pub logged_in: u32,
    pub ready: u32,
    pub not_ready: u32,
    pub stats: Counters,
    /// Moving average of handle time (talk + wrap-up limit), for expected-wait figures.
    pub handle_ms: Ms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CallStatus {
    Waiting,
    Offered,
    Connected(usize),
}

pub(super) struct CallRt {
    pub id: CallId,
    pub caller: String,
    pub did: String,
    pub group: usize,
    pub priority: Priority,
    pub red_list: bool,
    pub arrived: Ms,
    pub queued_at: Ms,
    pub seq: u64,
    pub status: CallStatus,
    pub last_agent: Option<String>,
    pub ivr_path: Vec<String>,
    pub history: Option<CallerHistory>,
    pub hops: u8,
    pub gen: u64,
    /// A callback promise: the number to dial once an agent takes it.
    pub callback: Option<String>,
    pub callback_offered: bool,
    /// Callback attempts that did not reach the citizen, and why the last one failed.
    pub callback_attempts: u32,
    pub callback_failure: Option<String>,
    /// The citizen answered this attempt: the promise is kept.
    pub callback_reached: bool,
    pub next_announce: Option<Ms>,
    pub offers: Vec<usize>,
}

/// The ACD core. See the module docs for the calling contract.
pub struct Acd {
    pub(super) cfg: AcdConfig,
    pub(super) rules: AgentRules,
    pub(super) agents: Vec<AgentRt>,
    pub(super) agent_ix: HashMap<String, usize>,
    pub(super) groups: Vec<GroupRt>,
    pub(super) group_ix: HashMap<String, usize>,
    pub(super) calls: HashMap<CallId, CallRt>,
    /// Agent-dialled calls, by call id.
    pub(super) outbound: HashMap<CallId, usize>,
    pub(super) lists: Lists,
    timers: BinaryHeap<Reverse<(Ms, Timer)>>,
    armed: Option<Ms>,
    out: VecDeque<Action>,
    seq: u64,
    pub(super) now: Ms,
}

impl Acd {
    /// An ACD with the groups of `cfg` and no agents.
    pub fn new(cfg: AcdConfig) -> Result<Acd, ConfigError> {
        let mut group_ix = HashMap::new();
        for (i, g) in cfg.groups.iter().enumerate() {
            if group_ix.insert(g.id.clone(), i).is_some() {
                return Err(ConfigError::DuplicateGroup(g.id.clone()));
            }
        }
        let known = |place: String, group: &str| {
            if group_ix.contains_key(group) {
                Ok(())
            } else {
                Err(ConfigError::UnknownGroup {
                    place,
                    group: group.to_string(),
                })
            }
        };
        for g in &cfg.groups {
            for r in g
                .overflow
                .iter()
                .map(|r| &r.target)
                .chain([&g.max_wait_target])
            {
                if let OverflowTarget::Group { group } = r {
                    known(format!("overflow of group `{}`", g.id), group)?;
                }
            }
        }
        for (did, r) in &cfg.did_routes {
            known(format!("route of DID {did}"), &r.group)?;
        }
        let groups = cfg
            .groups
            .iter()
            .map(|g| GroupRt {
                cfg: g.clone(),
                members: Vec::new(),
                queue: VecDeque::new(),
                rr_last: usize::MAX,
                logged_in: 0,
                ready: 0,
                not_ready: 0,
                stats: Counters::default(),
                handle_ms: g.default_handle_ms,
            })
            .collect();
        Ok(Acd {
            rules: AgentRules {
                wrap_up_ms: cfg.wrap_up_ms,
            },
            cfg,
            agents: Vec::new(),
            agent_ix: HashMap::new(),
            groups,
            group_ix,
            calls: HashMap::new(),
            outbound: HashMap::new(),
            lists: Lists::default(),
            timers: BinaryHeap::new(),
            armed: None,
            out: VecDeque::new(),
            seq: 0,
            now: 0,
        })
    }

    /// Adds an agent (logged out). Groups must exist.
    pub fn add_agent(&mut self, profile: AgentProfile) -> Result<(), ConfigError> {
        if self.agent_ix.contains_key(&profile.agent_no) {
            return Err(ConfigError::DuplicateAgent(profile.agent_no));
        }
        let idx = self.agents.len();
        let mut groups = Vec::new();
        for m in &profile.groups {
            let g = *self
                .group_ix
                .get(&m.group)
                .ok_or_else(|| ConfigError::UnknownGroup {
                    place: format!("agent {}", profile.agent_no),
                    group: m.group.clone(),
                })?;
            if groups.iter().any(|&(x, _, _)| x == g) {
                continue;
            }
            groups.push((g, usize::MAX, m.level));
        }
        for entry in groups.iter_mut() {
            let grp = &mut self.groups[entry.0];
            entry.1 = grp.members.len();
            grp.members.push(idx);
        }
        self.agent_ix.insert(profile.agent_no.clone(), idx);
        self.agents.push(AgentRt {
            endpoint: profile.endpoints.first().cloned(),
            profile,
            state: AgentState::LoggedOut,
            since: self.now,
            session: None,
            idle_since: 0,
            idle_kept: false,
            calls: 0,
            talk_ms: 0,
            talk_start: 0,
            resume_reason: "login".into(),
            pending_not_ready: None,
            gen: 0,
            groups,
        });
        Ok(())
    }

    /// The lists (blacklist, red list), e.g. to load them at start.
    pub fn lists_mut(&mut self) -> &mut Lists {
        &mut self.lists
    }

    pub fn lists(&self) -> &Lists {
        &self.lists
    }

    /// Puts a persisted callback promise back in its queue (after a restart).
    pub fn restore_callback(&mut self, rec: CallbackRecord, now: Ms) -> Result<(), Refusal> {
        let g = self.group_index(&rec.group)?;
        if self.calls.contains_key(&rec.call) {
            return Ok(());
        }
        self.now = self.now.max(now);
        self.seq += 1;
        self.calls.insert(
            rec.call.clone(),
            CallRt {
                id: rec.call.clone(),
                caller: rec.number.clone(),
                did: String::new(),
                group: g,
                priority: rec.priority,
                red_list: rec.priority == Priority::RedList,
                arrived: rec.arrived_ms,
                queued_at: rec.accepted_ms,
                seq: self.seq,
                status: CallStatus::Waiting,
                last_agent: None,
                ivr_path: Vec::new(),
                history: None,
                hops: 0,
                gen: 0,
                callback: Some(rec.number),
                callback_offered: true,
                callback_attempts: rec.attempts,
                callback_failure: None,
                callback_reached: false,
                next_announce: None,
                offers: Vec::new(),
            },
        );
        self.insert_in_queue(&rec.call, g, false);
        self.dispatch();
        self.arm();
        Ok(())
    }

    /// Feeds one event at `now` (unix ms). Refusals leave the state unchanged.
    pub fn handle(&mut self, event: Event, now: Ms) -> Result<(), Refusal> {
        self.now = self.now.max(now);
        self.run_timers();
        let r = match event {
            Event::Agent { agent_no, cmd } => self.agent_command(&agent_no, cmd),
            Event::Supervisor { supervisor, cmd } => self.supervisor_command(&supervisor, cmd),
            Event::CallArrived(inc) => self.call_arrived(inc),
            Event::CallAnswered { call, agent_no } => self.call_answered(&call, &agent_no),
            Event::OfferFailed {
                call,
                agent_no,
                cause,
            } => self.offer_failed_event(&call, &agent_no, cause),
            Event::CallEnded { call } => {
                self.call_ended(&call);
                Ok(())
            }
            Event::CallbackAccepted { call, number } => self.callback_accepted(&call, number),
            Event::CallbackResult {
                call,
                reached,
                code,
                reason,
            } => self.callback_result(&call, reached, code, reason),
            Event::Party {
                call,
                agent_no,
                party,
                role,
                status,
            } => self.party_update(call, agent_no, party, role, status),
            Event::CallerHistory { call, history } => self.caller_history(&call, history),
            Event::Tick => Ok(()),
        };
        self.dispatch();
        self.arm();
        r
    }

    /// The next action, or `None` when there is nothing more to do until the next event.
    pub fn poll(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// When the next timer is due (feed [`Event::Tick`] then).
    pub fn poll_timeout(&self) -> Option<Ms> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    // ---- helpers shared with commands.rs ----

    pub(super) fn emit(&mut self, a: Action) {
        self.out.push_back(a);
    }

    pub(super) fn publish(&mut self, e: AcdEvent) {
        self.out.push_back(Action::Publish(e));
    }

    pub(super) fn agent_index(&self, agent_no: &str) -> Result<usize, Refusal> {
        self.agent_ix
            .get(agent_no)
            .copied()
            .ok_or_else(|| Refusal::UnknownAgent {
                agent_no: agent_no.to_string(),
            })
    }

    pub(super) fn group_index(&self, group: &str) -> Result<usize, Refusal> {
        self.group_ix
            .get(group)
            .copied()
            .ok_or_else(|| Refusal::UnknownGroup {
                group: group.to_string(),
            })
    }

    pub(super) fn push_timer(&mut self, at: Ms, t: Timer) {
        // Never in the past: a timer fired now re-arming at `now` would loop.
        let at = at.max(self.now.saturating_add(1));
        self.timers.push(Reverse((at, t)));
    }

    fn arm(&mut self) {
        let next = self.poll_timeout();
        if next.is_some() && next != self.armed {
            self.armed = next;
            if let Some(at_ms) = next {
                self.emit(Action::ArmTimer { at_ms });
            }
        }
    }

    /// Runs `input` through the agent's state machine and applies the result.
    pub(super) fn apply(&mut self, a: usize, input: AgentInput) -> Result<(), Refusal> {
        let agent = &self.agents[a];
        let next = transition(
            &agent.state,
            &input,
            self.now,
            &self.rules,
            &agent.resume_reason,
        )?;
        self.set_state(a, next);
        Ok(())
    }

    /// Applies a state change: group counters, timers, talk accounting, the log and the event.
    pub(super) fn set_state(&mut self, a: usize, next: Next) {
        let now = self.now;
        let agent = &mut self.agents[a];
        let old = std::mem::replace(&mut agent.state, next.state.clone());
        let class = |s: &AgentState| {
            (
                s.logged_in() as u32,
                (*s == AgentState::Ready) as u32,
                s.counts_as_not_ready() as u32,
            )
        };
        let (ol, or, on) = class(&old);
        let (nl, nr, nn) = class(&next.state);
        for &(g, _, _) in &agent.groups {
            let grp = &mut self.groups[g];
            grp.logged_in = grp.logged_in + nl - ol;
            grp.ready = grp.ready + nr - or;
            grp.not_ready = grp.not_ready + nn - on;
        }
        // B1 L3391: a break taken while ready keeps the agent's place in the longest-idle order.
        if let AgentState::Break { .. } = next.state {
            agent.idle_kept = old == AgentState::Ready;
        }
        let resumes_break = matches!(old, AgentState::Break { .. }) && agent.idle_kept;
        if next.state == AgentState::Ready && old != AgentState::Ready && !resumes_break {
            agent.idle_since = now;
        }
        if old.connected() && !next.state.connected() {
            agent.talk_ms += now.saturating_sub(agent.talk_start);
        }
        if next.state.connected() && !old.connected() {
            agent.talk_start = now;
        }
        agent.since = now;
        agent.gen += 1;
        let gen = agent.gen;
        let agent_no = agent.profile.agent_no.clone();
        debug!(agent = %agent_no, from = old.name(), to = next.state.name(), reason = %next.reason, "agent state");
        match next.state {
            AgentState::WrapUp { ends_at_ms } | AgentState::Break { ends_at_ms } => {
                self.push_timer(ends_at_ms, Timer::Agent(a, gen))
            }
            _ => {}
        }
        self.emit(Action::Persist(PersistOp::StateChange(StateChange {
            agent_no: agent_no.clone(),
            from: old,
            to: next.state.clone(),
            reason: next.reason.clone(),
            at_ms: now,
        })));
        self.publish(AcdEvent::AgentState {
            agent_no,
            state: next.state,
            reason: next.reason,
            at_ms: now,
        });
    }

    // ---- timers ----

    fn run_timers(&mut self) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > self.now {
                break;
            }
            let Some(Reverse((_, t))) = self.timers.pop() else {
                break;
            };
            self.armed = None;
            match t {
                Timer::Agent(a, gen) => self.agent_timer(a, gen),
                Timer::Ring(call, gen) => self.ring_timeout(&call, gen),
                Timer::Check(call, gen) => self.check_call(&call, gen),
                Timer::CallbackRetry(call, gen) => self.callback_retry(&call, gen),
            }
        }
    }

    fn agent_timer(&mut self, a: usize, gen: u64) {
        let Some(agent) = self.agents.get(a) else {
            return;
        };
        if agent.gen != gen {
            return;
        }
        match agent.state.clone() {
            AgentState::WrapUp { ends_at_ms } if self.now >= ends_at_ms => {
                if let Some(reason) = self.agents[a].pending_not_ready.take() {
                    self.set_state(
                        a,
                        Next {
                            state: AgentState::NotReady { reason },
                            reason: "supervisor".into(),
                        },
                    );
                } else {
                    let _ = self.apply(a, AgentInput::WrapUpTimeout);
                }
            }
            AgentState::Break { ends_at_ms }
                if self.now >= ends_at_ms && self.apply(a, AgentInput::BreakTimeout).is_ok() =>
            {
                let agent_no = self.agents[a].profile.agent_no.clone();
                let text = format!("agent {agent_no} overran a break and is now not ready");
                self.publish(AcdEvent::Alert {
                    kind: "break_overrun".into(),
                    agent_no: Some(agent_no),
                    group: None,
                    text,
                });
            }
            _ => {}
        }
    }

    fn ring_timeout(&mut self, call: &str, gen: u64) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        if c.gen != gen || c.status != CallStatus::Offered {
            return;
        }
        let offers = c.offers.clone();
        for a in offers {
            self.emit(Action::CancelOffer {
                call: call.to_string(),
                agent_no: self.agents[a].profile.agent_no.clone(),
            });
            self.fail_offer(call, a, OfferFailure::NoAnswer);
        }
    }

    /// Re-evaluates a waiting call: max wait, overflow, callback offer, announcements.
    fn check_call(&mut self, id: &str, gen: u64) {
        let now = self.now;
        let Some(c) = self.calls.get(id) else { return };
        if c.gen != gen || c.status != CallStatus::Waiting || c.callback.is_some() {
            return;
        }
        let g = c.group;
        let waited_here = now.saturating_sub(c.queued_at);
        let waited = now.saturating_sub(c.arrived);
        let cfg = &self.groups[g].cfg;
        if let Some(max) = cfg.max_wait_ms {
            if waited_here >= max {
                let target = cfg.max_wait_target.clone();
                self.leave_queue(id, target, ExitReason::MaxWait);
                return;
            }
        }
        let logged_in = self.groups[g].logged_in;
        let fire = cfg.overflow.iter().find(|r| match r.trigger {
            OverflowTrigger::Waited { ms } => {
                waited_here >= ms && !(r.target == OverflowTarget::Callback && c.callback_offered)
            }
            OverflowTrigger::NoAgentLoggedIn => {
                logged_in == 0 && !(r.target == OverflowTarget::Callback && c.callback_offered)
            }
            OverflowTrigger::QueueLength { .. } => false,
        });
        if let Some(rule) = fire {
            let target = rule.target.clone();
            if target == OverflowTarget::Callback {
                self.offer_callback(id);
            } else {
                self.leave_queue(id, target, ExitReason::Overflow);
                return;
            }
        }
        let cfg = &self.groups[g].cfg;
        if let Some(after) = cfg.callback_offer_after_ms {
            if waited >= after && !self.calls.get(id).is_some_and(|c| c.callback_offered) {
                self.offer_callback(id);
            }
        }
        if let Some(at) = self.calls.get(id).and_then(|c| c.next_announce) {
            if at <= now {
                self.announce(id);
            }
        }
        self.schedule_check(id);
    }

    /// Arms the next check of a waiting call (a new generation invalidates older checks).
    fn schedule_check(&mut self, id: &str) {
        let now = self.now;
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        if c.status != CallStatus::Waiting || c.callback.is_some() {
            return;
        }
        c.gen += 1;
        let (gen, queued_at, arrived, offered, announce) = (
            c.gen,
            c.queued_at,
            c.arrived,
            c.callback_offered,
            c.next_announce,
        );
        let cfg = &self.groups[c.group].cfg;
        let mut next: Option<Ms> = announce;
        let mut at = |t: Ms| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(m) = cfg.max_wait_ms {
            at(queued_at.saturating_add(m));
        }
        for r in &cfg.overflow {
            match r.trigger {
                OverflowTrigger::Waited { ms } if queued_at.saturating_add(ms) > now => {
                    at(queued_at.saturating_add(ms))
                }
                OverflowTrigger::NoAgentLoggedIn => {
                    at(now.saturating_add(self.cfg.recheck_ms.max(1)))
                }
                _ => {}
            }
        }
        if let Some(after) = cfg.callback_offer_after_ms {
            if !offered {
                at(arrived.saturating_add(after));
            }
        }
        if let Some(t) = next {
            self.push_timer(t, Timer::Check(id.to_string(), gen));
        }
    }

    fn offer_callback(&mut self, id: &str) {
        if let Some(c) = self.calls.get_mut(id) {
            if !c.callback_offered {
                c.callback_offered = true;
                self.emit(Action::OfferCallback {
                    call: id.to_string(),
                });
            }
        }
    }

    fn announce(&mut self, id: &str) {
        let Some(c) = self.calls.get(id) else { return };
        let g = c.group;
        let grp = &self.groups[g];
        let Some(pos) = grp.queue.iter().position(|x| x == id) else {
            return;
        };
        let staffed = u64::from(grp.logged_in.saturating_sub(grp.not_ready).max(1));
        let expected_wait_ms = (pos as u64 + 1) * grp.handle_ms / staffed;
        let every = grp.cfg.announce_every_ms;
        if let Some(c) = self.calls.get_mut(id) {
            c.next_announce = every.map(|e| self.now.saturating_add(e.max(1000)));
        }
        self.emit(Action::Announce {
            call: id.to_string(),
            position: pos + 1,
            expected_wait_ms,
        });
    }

    // ---- calls ----

    fn call_arrived(&mut self, inc: IncomingCall) -> Result<(), Refusal> {
        if self.calls.contains_key(&inc.call) {
            return Ok(()); // a retransmitted arrival: already queued
        }
        if let Some(b) = self.lists.blocked(&inc.caller, self.now) {
            let reason = format!("blacklisted: {}", b.reason);
            self.emit(Action::RejectCall {
                call: inc.call,
                reason,
            });
            return Ok(());
        }
        let route = self.cfg.did_routes.get(&inc.did).cloned();
        let group = match (&inc.group, &route) {
            (Some(g), _) => g.clone(),
            (None, Some(r)) => r.group.clone(),
            (None, None) => {
                self.emit(Action::PlayMessage {
                    call: inc.call.clone(),
                    prompt: "no_route".into(),
                });
                return Err(Refusal::UnknownGroup {
                    group: format!("(DID {})", inc.did),
                });
            }
        };
        let g = self.group_index(&group)?;
        let red_list = self.lists.red(&inc.caller).is_some();
        let (emergency, vip) = route.map_or((false, false), |r| (r.emergency, r.vip));
        let priority = Priority::of(inc.emergency || emergency, red_list, inc.vip || vip);
        self.seq += 1;
        let arrived = inc.arrived_ms.unwrap_or(self.now).min(self.now);
        let last_agent = inc.history.as_ref().and_then(|h| h.last_agent.clone());
        let id = inc.call.clone();
        self.calls.insert(
            id.clone(),
            CallRt {
                id: id.clone(),
                caller: inc.caller,
                did: inc.did,
                group: g,
                priority,
                red_list,
                arrived,
                queued_at: self.now,
                seq: self.seq,
                status: CallStatus::Waiting,
                last_agent,
                ivr_path: inc.ivr_path,
                history: inc.history,
                hops: 0,
                gen: 0,
                callback: None,
                callback_offered: false,
                callback_attempts: 0,
                callback_failure: None,
                callback_reached: false,
                next_announce: None,
                offers: Vec::new(),
            },
        );
        self.enqueue(&id, g);
        Ok(())
    }

    /// Puts a call into group `g`'s queue, unless an entry-time overflow rule sends it elsewhere.
    pub(super) fn enqueue(&mut self, id: &str, g: usize) {
        let grp = &self.groups[g];
        let entry_rule = grp.cfg.overflow.iter().find(|r| match r.trigger {
            OverflowTrigger::QueueLength { calls } => grp.queue.len() >= calls,
            OverflowTrigger::NoAgentLoggedIn => grp.logged_in == 0,
            OverflowTrigger::Waited { .. } => false,
        });
        let mut offer_callback = false;
        if let Some(rule) = entry_rule {
            match &rule.target {
                OverflowTarget::Callback => offer_callback = true,
                target => {
                    let target = target.clone();
                    if let Some(c) = self.calls.get_mut(id) {
                        c.group = g;
                    }
                    self.leave_queue(id, target, ExitReason::Overflow);
                    return;
                }
            }
        }
        let now = self.now;
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.group = g;
        c.queued_at = now;
        c.status = CallStatus::Waiting;
        let priority = c.priority;
        let announce = self.groups[g].cfg.announce_every_ms.is_some();
        self.groups[g].stats.entered += 1;
        let position = self.insert_in_queue(id, g, false);
        self.publish(AcdEvent::CallQueued {
            call: id.to_string(),
            group: self.groups[g].cfg.id.clone(),
            position: position + 1,
            priority,
        });
        if offer_callback {
            self.offer_callback(id);
        }
        if announce {
            self.announce(id);
        }
        self.schedule_check(id);
    }

    /// Inserts at the call's priority place (or at the front of its class when `front`). Returns the index.
    pub(super) fn insert_in_queue(&mut self, id: &str, g: usize, front: bool) -> usize {
        let Some(p) = self.calls.get(id).map(|c| c.priority) else {
            return 0;
        };
        let classes: Vec<Priority> = self.groups[g]
            .queue
            .iter()
            .map(|x| self.calls.get(x).map_or(Priority::Normal, |c| c.priority))
            .collect();
        let i = if front {
            classes
                .iter()
                .position(|&q| q <= p)
                .unwrap_or(classes.len())
        } else {
            entry_index(&classes, p)
        };
        self.groups[g].queue.insert(i, id.to_string());
        i
    }

    pub(super) fn remove_from_queue(&mut self, id: &str) {
        if let Some(g) = self.calls.get(id).map(|c| c.group) {
            let q = &mut self.groups[g].queue;
            if let Some(i) = q.iter().position(|x| x == id) {
                q.remove(i);
            }
        }
    }

    /// A waiting call leaves its group for `target` (another group, a message, a callback offer).
    fn leave_queue(&mut self, id: &str, target: OverflowTarget, reason: ExitReason) {
        let Some(c) = self.calls.get(id) else { return };
        let (from, hops) = (c.group, c.hops);
        let from_id = self.groups[from].cfg.id.clone();
        match target {
            OverflowTarget::Callback => {
                self.offer_callback(id);
                self.schedule_check(id);
                return;
            }
            OverflowTarget::Group { ref group } if hops < self.cfg.max_overflow_hops => {
                if let Some(&to) = self.group_ix.get(group) {
                    self.remove_from_queue(id);
                    self.groups[from].stats.overflowed += 1;
                    if let Some(c) = self.calls.get_mut(id) {
                        c.hops += 1;
                        c.gen += 1;
                    }
                    self.publish(AcdEvent::CallLeftQueue {
                        call: id.to_string(),
                        group: from_id,
                        reason,
                        target: Some(target.clone()),
                    });
                    self.enqueue(id, to);
                    return;
                }
            }
            _ => {}
        }
        let prompt = match &target {
            OverflowTarget::Message { prompt } => prompt.clone(),
            _ => "queue_timeout".to_string(),
        };
        self.remove_from_queue(id);
        self.groups[from].stats.overflowed += 1;
        self.calls.remove(id);
        self.emit(Action::PlayMessage {
            call: id.to_string(),
            prompt: prompt.clone(),
        });
        self.publish(AcdEvent::CallLeftQueue {
            call: id.to_string(),
            group: from_id,
            reason,
            target: Some(OverflowTarget::Message { prompt }),
        });
    }

    fn callback_accepted(&mut self, id: &str, number: String) -> Result<(), Refusal> {
        let unknown = || Refusal::UnknownCall {
            call: id.to_string(),
        };
        let c = self.calls.get_mut(id).ok_or_else(unknown)?;
        if matches!(c.status, CallStatus::Connected(_)) {
            return Err(Refusal::WrongState {
                op: "callback".into(),
                state: "connected".into(),
            });
        }
        c.callback = Some(number.clone());
        c.gen += 1; // no more announcements or overflow for a caller who hung up
        let rec = CallbackRecord {
            call: id.to_string(),
            number,
            group: self.groups[c.group].cfg.id.clone(),
            priority: c.priority,
            arrived_ms: c.arrived,
            accepted_ms: self.now,
            attempts: 0,
        };
        self.emit(Action::Persist(PersistOp::CallbackSaved(rec)));
        Ok(())
    }

    /// The caller's history came in: kept for later offers (and for return-to-last-agent while the
    /// call waits), and sent to the agents the call is offered to or connected with now.
    fn caller_history(&mut self, id: &str, history: CallerHistory) -> Result<(), Refusal> {
        let c = self.calls.get_mut(id).ok_or_else(|| Refusal::UnknownCall {
            call: id.to_string(),
        })?;
        if c.last_agent.is_none() {
            c.last_agent = history.last_agent.clone();
        }
        c.history = Some(history.clone());
        let agents: Vec<usize> = match c.status {
            CallStatus::Offered => c.offers.clone(),
            CallStatus::Connected(a) => vec![a],
            CallStatus::Waiting => Vec::new(),
        };
        for a in agents {
            self.publish(AcdEvent::CallerHistory {
                call: id.to_string(),
                agent_no: self.agents[a].profile.agent_no.clone(),
                history: history.clone(),
            });
        }
        Ok(())
    }

    fn call_answered(&mut self, id: &str, agent_no: &str) -> Result<(), Refusal> {
        let a = self.agent_index(agent_no)?;
        let c = self.calls.get(id).ok_or_else(|| Refusal::UnknownCall {
            call: id.to_string(),
        })?;
        match c.status {
            // The call layer says it again (it was re-offered before our verdict reached it).
            CallStatus::Connected(x) if x == a => return Ok(()),
            CallStatus::Connected(_) => {
                return Err(Refusal::WrongState {
                    op: "answered".into(),
                    state: format!("call {id} is connected to another agent"),
                })
            }
            CallStatus::Offered if c.offers.contains(&a) => {}
            // The answer crossed our ring timeout (or a re-offer to someone else): the agent's
            // phone is connected to the caller, which is what counts.
            CallStatus::Offered | CallStatus::Waiting => return self.answered_late(id, a),
        }
        let others: Vec<usize> = c.offers.iter().copied().filter(|&x| x != a).collect();
        // A consulted colleague taking the call over (attended transfer) is talking already.
        let consulted = self.agents[a].state
            == (AgentState::Talking {
                call: id.to_string(),
                outbound: false,
            });
        if !consulted {
            self.apply(a, AgentInput::Answered)?;
        }
        for o in others {
            self.emit(Action::CancelOffer {
                call: id.to_string(),
                agent_no: self.agents[o].profile.agent_no.clone(),
            });
            let _ = self.apply(o, AgentInput::OfferCancelled);
        }
        self.connected(id, a)
    }

    /// An answer that arrived after the ACD gave up on the offer: the agent takes the call if their
    /// phone can have answered it (not on another call); whoever it was re-offered to is released
    /// without blame. Refused otherwise, and the agent's leg is withdrawn from the call.
    fn answered_late(&mut self, id: &str, a: usize) -> Result<(), Refusal> {
        let agent_no = self.agents[a].profile.agent_no.clone();
        let other_call = self.agents[a]
            .state
            .call()
            .filter(|c| c.as_str() != id)
            .cloned();
        let free = matches!(
            self.agents[a].state,
            AgentState::Ready
                | AgentState::NotReady { .. }
                | AgentState::Break { .. }
                | AgentState::WrapUp { .. }
                | AgentState::Ringing { .. }
        );
        if !free {
            // The call waits again: the agent's leg comes off it and the caller hears music.
            self.emit(Action::CallControl {
                call: id.to_string(),
                agent_no: agent_no.clone(),
                op: CallOp::DetachAgent,
            });
            return Err(Refusal::WrongState {
                op: "answered".into(),
                state: format!("agent {agent_no} is {}", self.agents[a].state.name()),
            });
        }
        tracing::info!(call = %id, agent = %agent_no, "answer arrived after the offer was given up: the agent takes the call");
        // Ringing for another call meanwhile: that call goes back to its place.
        if let Some(other) = other_call {
            self.emit(Action::CancelOffer {
                call: other.clone(),
                agent_no: agent_no.clone(),
            });
            self.apply(a, AgentInput::OfferCancelled)?;
            self.withdraw_offer(&other, a);
        }
        let offers = self
            .calls
            .get(id)
            .map(|c| c.offers.clone())
            .unwrap_or_default();
        for o in offers {
            self.emit(Action::CancelOffer {
                call: id.to_string(),
                agent_no: self.agents[o].profile.agent_no.clone(),
            });
            let _ = self.apply(o, AgentInput::OfferCancelled);
        }
        self.apply(
            a,
            AgentInput::AnsweredLate {
                call: id.to_string(),
            },
        )?;
        self.connected(id, a)
    }

    /// Call `id` is connected to agent `a`: out of the queue, counted, published.
    fn connected(&mut self, id: &str, a: usize) -> Result<(), Refusal> {
        let agent_no = self.agents[a].profile.agent_no.clone();
        let agent_no = agent_no.as_str();
        self.remove_from_queue(id);
        let now = self.now;
        let sl = self.cfg.service_level_ms;
        let Some(c) = self.calls.get_mut(id) else {
            return Ok(());
        };
        c.status = CallStatus::Connected(a);
        c.offers.clear();
        c.gen += 1;
        let waited = now.saturating_sub(c.arrived);
        let g = c.group;
        let stats = &mut self.groups[g].stats;
        stats.answered += 1;
        if waited <= sl {
            stats.answered_in_sl += 1;
        }
        self.agents[a].calls += 1;
        // A callback's promise is kept only when the citizen answers ([`Event::CallbackResult`]).
        let caller = c.caller.clone();
        self.publish(AcdEvent::CallAnswered {
            call: id.to_string(),
            agent_no: agent_no.to_string(),
            caller,
            group: self.groups[g].cfg.id.clone(),
            group_name: self.groups[g].cfg.name.clone(),
            waited_ms: waited,
        });
        Ok(())
    }

    fn offer_failed_event(
        &mut self,
        id: &str,
        agent_no: &str,
        cause: OfferFailure,
    ) -> Result<(), Refusal> {
        let a = self.agent_index(agent_no)?;
        let offered = self
            .calls
            .get(id)
            .is_some_and(|c| c.status == CallStatus::Offered && c.offers.contains(&a));
        if !offered {
            return Err(Refusal::UnknownCall {
                call: id.to_string(),
            });
        }
        self.fail_offer(id, a, cause);
        Ok(())
    }

    /// The offer of `id` to agent `a` failed: the agent goes not-ready, the call back to its place
    /// once nobody else is ringing for it.
    pub(super) fn fail_offer(&mut self, id: &str, a: usize, cause: OfferFailure) {
        let _ = self.apply(
            a,
            AgentInput::OfferFailed {
                reason: cause.to_string(),
            },
        );
        self.withdraw_offer(id, a);
    }

    /// Removes agent `a` from the call's offers; with none left the call waits again.
    pub(super) fn withdraw_offer(&mut self, id: &str, a: usize) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.offers.retain(|&x| x != a);
        if c.offers.is_empty() && c.status == CallStatus::Offered {
            // A call still in its queue keeps its place; one offered from outside the queue
            // (transferred to this agent, moved off a signed-out agent) goes to the front.
            self.back_to_waiting(id, true);
        }
    }

    /// The call waits again: at its place if it is still in its queue, else at the front of its class.
    pub(super) fn back_to_waiting(&mut self, id: &str, front: bool) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.status = CallStatus::Waiting;
        c.offers.clear();
        let g = c.group;
        if !self.groups[g].queue.iter().any(|x| x == id) {
            self.insert_in_queue(id, g, front);
        }
        self.schedule_check(id);
    }

    pub(super) fn call_ended(&mut self, id: &str) {
        if let Some(a) = self.outbound.remove(id) {
            if self.agents[a].state.call().map(String::as_str) == Some(id) {
                let _ = self.apply(a, AgentInput::CallEnded);
            }
            return;
        }
        let Some(c) = self.calls.get(id) else { return };
        let (status, g, has_callback) = (c.status, c.group, c.callback.is_some());
        match status {
            // The caller hung up after accepting a callback: the promise keeps its place.
            CallStatus::Waiting if has_callback => {}
            CallStatus::Waiting | CallStatus::Offered => {
                let offers = c.offers.clone();
                for o in offers {
                    self.emit(Action::CancelOffer {
                        call: id.to_string(),
                        agent_no: self.agents[o].profile.agent_no.clone(),
                    });
                    let _ = self.apply(o, AgentInput::OfferCancelled);
                }
                self.remove_from_queue(id);
                self.calls.remove(id);
                self.groups[g].stats.abandoned += 1;
                self.publish(AcdEvent::CallEnded {
                    call: id.to_string(),
                    agent_no: None,
                    abandoned: true,
                });
            }
            CallStatus::Connected(a) if has_callback && !c.callback_reached => {
                // The agent was on, the citizen never answered: another attempt, or give up.
                self.end_agent_part(a, id);
                self.callback_attempt_failed(id, a);
            }
            CallStatus::Connected(a) => {
                self.calls.remove(id);
                self.end_agent_part(a, id);
                self.publish(AcdEvent::CallEnded {
                    call: id.to_string(),
                    agent_no: Some(self.agents[a].profile.agent_no.clone()),
                    abandoned: false,
                });
            }
        }
    }

    /// The agent's part of a call is over (hang-up, transfer, intercept): wrap-up, handle-time average.
    pub(super) fn end_agent_part(&mut self, a: usize, id: &str) {
        if self.agents[a].state.call().map(String::as_str) != Some(id) {
            return;
        }
        let talk = self.now.saturating_sub(self.agents[a].talk_start);
        let wrap = self.rules.wrap_up_ms;
        for &(g, _, _) in &self.agents[a].groups {
            let h = &mut self.groups[g].handle_ms;
            // An exponential average (1/8) of talk + wrap-up limit.
            *h = (*h * 7 + talk + wrap) / 8;
        }
        let _ = self.apply(a, AgentInput::CallEnded);
    }
}
