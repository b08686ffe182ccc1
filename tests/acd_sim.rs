//! A simulation of a call centre in virtual time: hundreds of agents in several groups, thousands of
//! calls with random arrivals, talk times, patience, unanswered rings and agents going not-ready.
//! Every action of the ACD is checked against the rules as it comes out.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use hotline::acd::event::{AcdEvent, Action, AgentCommand, Event, IncomingCall, PersistOp};
use hotline::acd::queue::Priority;
use hotline::acd::{Acd, AcdConfig, AgentProfile, AgentState, GroupConfig, Refusal, Strategy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const S: u64 = 1_000;
const WRAP: u64 = 120 * S;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sim {
    Arrive(usize),
    Answer(String, String),
    Hangup(String),
    Patience(String),
    AgentWantsBreak(usize),
    AgentBack(usize),
    EndWrapUp(usize, u64),
}

#[derive(Default)]
struct Outcome {
    answered: HashSet<String>,
    abandoned: HashSet<String>,
    to_message: HashSet<String>,
    rejected: HashSet<String>,
    ended: HashSet<String>,
}

struct World {
    acd: Acd,
    rng: StdRng,
    q: BinaryHeap<Reverse<(u64, u64, Sim)>>,
    seq: u64,
    auto_answer: Vec<bool>,
    agents: Vec<String>,
    agent_ix: HashMap<String, usize>,
    /// Calls currently ringing, and at which agents.
    offered: HashMap<String, HashSet<String>>,
    connected: HashSet<String>,
    priority: HashMap<String, Priority>,
    wrap_start: HashMap<String, u64>,
    out: Outcome,
    offers_total: u64,
    refusals_cap: u64,
    ring_all_groups: HashSet<String>,
    /// When each ready agent became ready (mirror of the ACD, from its events).
    ready_since: HashMap<String, u64>,
    /// The ready-since of an agent at the moment it was offered a call.
    offered_since: HashMap<String, u64>,
    /// Members of the longest-idle group g0.
    members_g0: HashSet<String>,
}

impl World {
    fn at(&mut self, t: u64, e: Sim) {
        self.seq += 1;
        self.q.push(Reverse((t, self.seq, e)));
    }

    fn handle(&mut self, e: Event, now: u64) -> Result<(), Refusal> {
        let r = self.acd.handle(e, now);
        self.react(now);
        // Work-conserving: a group with a ready agent has no call waiting un-offered.
        for row in self.acd.queue_rows(now) {
            if row.ready > 0 {
                let idle_call = self
                    .acd
                    .queue_order(&row.group)
                    .into_iter()
                    .find(|c| self.offered.get(c).is_none_or(|s| s.is_empty()));
                assert_eq!(
                    idle_call, None,
                    "{}: a call waits while {} agents are ready",
                    row.group, row.ready
                );
            }
        }
        r
    }

    /// Checks and reacts to every action of the last `handle`.
    fn react(&mut self, now: u64) {
        let actions: Vec<Action> = std::iter::from_fn(|| self.acd.poll()).collect();
        // Which calls of which group got offered in this batch, in order, for the queue-order check.
        let mut offered_in_batch: HashSet<String> = HashSet::new();
        for a in actions {
            match a {
                Action::Persist(PersistOp::StateChange(c)) => {
                    if c.to.name() == "ringing" {
                        assert_eq!(
                            c.from,
                            AgentState::Ready,
                            "offer to an agent who was not ready: {c:?}"
                        );
                    }
                    if c.to == AgentState::Ready {
                        self.ready_since.insert(c.agent_no.clone(), now);
                    } else if c.from == AgentState::Ready {
                        let since = self.ready_since.remove(&c.agent_no).expect("ready since");
                        self.offered_since.insert(c.agent_no.clone(), since);
                    }
                    if let AgentState::WrapUp { ends_at_ms } = c.to {
                        assert_eq!(ends_at_ms, now + WRAP);
                        self.wrap_start.insert(c.agent_no.clone(), now);
                        let a = self.agent_ix[&c.agent_no];
                        // Some agents finish their wrap-up early.
                        if self.rng.gen_bool(0.5) {
                            let t = now + self.rng.gen_range(10..110) * S;
                            self.at(t, Sim::EndWrapUp(a, now));
                        }
                    }
                    if c.from.name() == "wrap_up" {
                        let start = self
                            .wrap_start
                            .remove(&c.agent_no)
                            .expect("wrap-up start seen");
                        assert!(now - start <= WRAP, "wrap-up held longer than the limit");
                        if c.reason == "wrap_up_timeout" {
                            assert_eq!(now - start, WRAP, "auto-ready exactly at the limit");
                        }
                    }
                    if let AgentState::NotReady { reason } = &c.to {
                        if reason == "ring_no_answer" || reason == "break_overrun" {
                            let a = self.agent_ix[&c.agent_no];
                            let t = now + self.rng.gen_range(5..60) * S;
                            self.at(t, Sim::AgentBack(a));
                        }
                    }
                }
                Action::OfferCall {
                    call,
                    agent_no,
                    auto_answer,
                    ..
                } => {
                    self.offers_total += 1;
                    assert!(
                        !self.connected.contains(&call),
                        "{call} offered after it was answered"
                    );
                    let set = self.offered.entry(call.clone()).or_default();
                    assert!(
                        set.insert(agent_no.clone()),
                        "{call} offered twice to {agent_no}"
                    );
                    let a = self.agent_ix[&agent_no];
                    assert_eq!(auto_answer, self.auto_answer[a]);
                    if auto_answer {
                        self.at(now + 200, Sim::Answer(call.clone(), agent_no));
                    } else if self.rng.gen_bool(0.85) {
                        let t = now + self.rng.gen_range(1..12) * S;
                        self.at(t, Sim::Answer(call.clone(), agent_no));
                    } // else: ring until the ring-no-answer timeout
                }
                Action::Publish(AcdEvent::CallRinging {
                    call,
                    group,
                    agent_no,
                    ..
                }) => {
                    // Longest-idle: nobody still ready in g0 has been ready longer than the chosen agent.
                    if group == "g0" {
                        let chosen = self.offered_since[&agent_no];
                        for m in &self.members_g0 {
                            if let Some(&since) = self.ready_since.get(m) {
                                assert!(chosen <= since, "g0 offered {agent_no} (ready since {chosen}) before {m} (since {since})");
                            }
                        }
                    }
                    // The offered call is the first waiting call of its queue not already ringing
                    // (ring-all rings several agents for one call).
                    if offered_in_batch.contains(&call) {
                        assert!(
                            self.ring_all_groups.contains(&group),
                            "{call} rung twice outside ring-all"
                        );
                        continue;
                    }
                    let ringing = |c: &String| self.offered.get(c).is_some_and(|s| !s.is_empty());
                    let first = self
                        .acd
                        .queue_order(&group)
                        .into_iter()
                        .find(|c| *c == call || !ringing(c));
                    assert_eq!(
                        first.as_deref(),
                        Some(call.as_str()),
                        "queue order not respected in {group}"
                    );
                    offered_in_batch.insert(call);
                }
                Action::CancelOffer { call, agent_no } => {
                    if let Some(s) = self.offered.get_mut(&call) {
                        s.remove(&agent_no);
                    }
                }
                // An offer ends when the agent leaves ringing for any reason.
                Action::Publish(AcdEvent::AgentState {
                    agent_no, state, ..
                }) if state.name() != "ringing" => {
                    for s in self.offered.values_mut() {
                        s.remove(&agent_no);
                    }
                }
                Action::Publish(AcdEvent::CallAnswered { call, .. }) => {
                    assert!(
                        self.out.answered.insert(call.clone()),
                        "{call} answered twice"
                    );
                    self.connected.insert(call.clone());
                    self.offered.remove(&call);
                    let talk = self.rng.gen_range(30..300) * S;
                    self.at(now + talk, Sim::Hangup(call));
                }
                Action::Publish(AcdEvent::CallEnded {
                    call, abandoned, ..
                }) => {
                    if abandoned {
                        self.out.abandoned.insert(call.clone());
                    }
                    assert!(self.out.ended.insert(call.clone()), "{call} ended twice");
                    self.offered.remove(&call);
                    self.connected.remove(&call);
                }
                Action::PlayMessage { call, .. } => {
                    self.offered.remove(&call);
                    self.out.to_message.insert(call.clone());
                    assert!(self.out.ended.insert(call), "ended twice");
                }
                Action::RejectCall { call, .. } => {
                    self.out.rejected.insert(call.clone());
                    assert!(self.out.ended.insert(call), "ended twice");
                }
                _ => {}
            }
        }
    }

    fn check_queue_classes(&self, groups: &[String]) {
        for g in groups {
            let order = self.acd.queue_order(g);
            let classes: Vec<Priority> = order.iter().map(|c| self.priority[c]).collect();
            for w in classes.windows(2) {
                let (a, b) = (w[0], w[1]);
                let ok = a >= b || (a == Priority::Normal && b == Priority::Vip);
                assert!(ok, "{g}: {a:?} ahead of {b:?} in {classes:?}");
            }
            // a VIP call is never behind more than 2 normal calls that arrived... within the top 3 on entry
        }
    }
}

#[test]
fn simulated_day_keeps_every_rule() {
    let mut rng = StdRng::seed_from_u64(12345);
    let strategies = [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::FewestCalls,
        Strategy::LeastTalkTime,
        Strategy::RingAll,
        Strategy::SkillTiers,
    ];
    let groups: Vec<GroupConfig> = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut g = GroupConfig::new(format!("g{i}"), format!("group {i}")).strategy(*s);
            g.not_ready_cap = Some(6);
            g.ring_timeout_ms = 15 * S;
            g
        })
        .collect();
    let group_ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let mut acd = Acd::new(AcdConfig {
        groups,
        ..AcdConfig::default()
    })
    .unwrap();
    let n_agents = 300;
    let mut auto_answer = Vec::new();
    let mut agents = Vec::new();
    let mut members_g0 = HashSet::new();
    for i in 0..n_agents {
        let no = format!("{}", 1000 + i);
        let mut p = AgentProfile::new(&no, format!("agent {i}"));
        let k = rng.gen_range(1..=3);
        for j in 0..k {
            p = p.in_group(
                group_ids[(i + j * 2) % group_ids.len()].clone(),
                rng.gen_range(1..=5),
            );
        }
        if p.groups.iter().any(|m| m.group == "g0") {
            members_g0.insert(no.clone());
        }
        let aa = rng.gen_bool(0.6);
        p = p.auto_answer(aa);
        auto_answer.push(aa);
        acd.add_agent(p).unwrap();
        agents.push(no);
    }
    let mut w = World {
        acd,
        rng,
        q: BinaryHeap::new(),
        seq: 0,
        auto_answer,
        agent_ix: agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i))
            .collect(),
        agents,
        offered: HashMap::new(),
        connected: HashSet::new(),
        priority: HashMap::new(),
        wrap_start: HashMap::new(),
        out: Outcome::default(),
        offers_total: 0,
        refusals_cap: 0,
        ring_all_groups: ["g4".to_string()].into_iter().collect(),
        ready_since: HashMap::new(),
        offered_since: HashMap::new(),
        members_g0,
    };
    w.handle(
        Event::Supervisor {
            supervisor: "boss".into(),
            cmd: hotline::acd::SupervisorCommand::AddRedList {
                number: "95555".into(),
                note: "".into(),
                ip: "".into(),
            },
        },
        0,
    )
    .unwrap();
    w.handle(
        Event::Supervisor {
            supervisor: "boss".into(),
            cmd: hotline::acd::SupervisorCommand::AddBlacklist {
                number: "96666".into(),
                until_ms: None,
                reason: "abuse".into(),
                ip: "".into(),
            },
        },
        0,
    )
    .unwrap();
    for i in 0..n_agents {
        let no = w.agents[i].clone();
        w.handle(
            Event::Agent {
                agent_no: no.clone(),
                cmd: AgentCommand::Login {
                    session: i as u64,
                    endpoint: None,
                },
            },
            0,
        )
        .unwrap();
        w.handle(
            Event::Agent {
                agent_no: no,
                cmd: AgentCommand::SetReady,
            },
            0,
        )
        .unwrap();
        let t = w.rng.gen_range(60..1800) * S;
        w.at(t, Sim::AgentWantsBreak(i));
    }
    // Arrivals: about 1.4 calls/s for an hour, above capacity, near the centre's capacity, so queues form.
    let n_calls = 5_000;
    let mut t = 0;
    for i in 0..n_calls {
        t += w.rng.gen_range(0..1_400);
        w.at(t, Sim::Arrive(i));
    }
    let end_of_arrivals = t;
    let mut steps = 0u64;
    loop {
        steps += 1;
        assert!(steps < 2_000_000, "simulation does not settle");
        let next_sim = w.q.peek().map(|Reverse((t, _, _))| *t);
        let next_acd = w.acd.poll_timeout();
        let now = match (next_sim, next_acd) {
            (None, None) => break,
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
        };
        if now > end_of_arrivals + 6 * 3_600 * S {
            break;
        }
        if next_acd == Some(now) && next_sim != Some(now) {
            w.handle(Event::Tick, now).unwrap();
            continue;
        }
        let Some(Reverse((now, _, e))) = w.q.pop() else {
            break;
        };
        match e {
            Sim::Arrive(i) => {
                let call = format!("c{i}");
                let roll: f64 = w.rng.gen();
                let (caller, emergency, vip) = if roll < 0.02 {
                    ("96666".to_string(), false, false)
                } else if roll < 0.05 {
                    ("95555".to_string(), false, false)
                } else if roll < 0.07 {
                    (format!("1{i}"), true, false)
                } else if roll < 0.12 {
                    (format!("1{i}"), false, true)
                } else {
                    (format!("1{i}"), false, false)
                };
                let p = Priority::of(emergency, caller == "95555", vip);
                w.priority.insert(call.clone(), p);
                let group = group_ids[w.rng.gen_range(0..group_ids.len())].clone();
                w.handle(
                    Event::CallArrived(IncomingCall {
                        call: call.clone(),
                        caller,
                        did: "12345".into(),
                        group: Some(group),
                        emergency,
                        vip,
                        ..Default::default()
                    }),
                    now,
                )
                .unwrap();
                let patience = w.rng.gen_range(20..600) * S;
                w.at(now + patience, Sim::Patience(call));
                w.check_queue_classes(&group_ids);
            }
            Sim::Answer(call, agent) => {
                // Only still-ringing offers can be answered; a cancelled one is refused by the ACD.
                let live = w.offered.get(&call).is_some_and(|s| s.contains(&agent));
                let r = w.handle(
                    Event::CallAnswered {
                        call: call.clone(),
                        agent_no: agent.clone(),
                    },
                    now,
                );
                assert_eq!(r.is_ok(), live, "answer of {call} by {agent}: {r:?}");
            }
            Sim::Hangup(call) => {
                w.handle(Event::CallEnded { call }, now).unwrap();
            }
            Sim::Patience(call) => {
                if !w.connected.contains(&call) && !w.out.ended.contains(&call) {
                    w.handle(Event::CallEnded { call }, now).unwrap();
                }
            }
            Sim::AgentWantsBreak(i) => {
                let no = w.agents[i].clone();
                w.handle(Event::Tick, now).unwrap(); // due timers first, so the cap count is current
                if w.acd.agent_state(&no) == Some(&AgentState::Ready) {
                    let before = w.acd.board(now).queues;
                    let groups = w.acd.board(now).agents[i].groups.clone();
                    let r = w.handle(
                        Event::Agent {
                            agent_no: no.clone(),
                            cmd: AgentCommand::SetNotReady {
                                reason: "meeting".into(),
                            },
                        },
                        now,
                    );
                    let at_cap = before.iter().any(|q| {
                        groups.contains(&q.group)
                            && q.not_ready_cap.is_some_and(|c| q.not_ready >= c)
                    });
                    match r {
                        Ok(()) => assert!(!at_cap, "not-ready accepted over the cap"),
                        Err(Refusal::NotReadyCapReached { .. }) => {
                            assert!(at_cap);
                            w.refusals_cap += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                let back = now + w.rng.gen_range(60..300) * S;
                w.at(back, Sim::AgentBack(i));
                if now < end_of_arrivals {
                    let again = now + w.rng.gen_range(600..2400) * S;
                    w.at(again, Sim::AgentWantsBreak(i));
                }
            }
            Sim::AgentBack(i) => {
                let no = w.agents[i].clone();
                if w.acd
                    .agent_state(&no)
                    .is_some_and(|s| s.counts_as_not_ready())
                {
                    w.handle(
                        Event::Agent {
                            agent_no: no,
                            cmd: AgentCommand::SetReady,
                        },
                        now,
                    )
                    .unwrap();
                }
            }
            Sim::EndWrapUp(i, started) => {
                let no = w.agents[i].clone();
                if w.wrap_start.get(&no) == Some(&started) {
                    w.handle(
                        Event::Agent {
                            agent_no: no,
                            cmd: AgentCommand::EndWrapUp,
                        },
                        now,
                    )
                    .unwrap();
                }
            }
        }
    }
    // No call lost: each one ended exactly one way.
    let o = &w.out;
    for i in 0..n_calls {
        let c = format!("c{i}");
        let ways = [
            o.answered.contains(&c) && o.ended.contains(&c),
            o.abandoned.contains(&c),
            o.to_message.contains(&c),
            o.rejected.contains(&c),
        ];
        assert_eq!(ways.iter().filter(|x| **x).count(), 1, "{c}: {ways:?}");
    }
    let board = w.acd.board(0);
    assert!(board.queues.iter().all(|q| q.waiting == 0));
    let answered = o.answered.len();
    let sl: u64 = board.queues.iter().map(|q| q.answered_in_sl).sum();
    eprintln!(
        "simulated {n_calls} calls, {n_agents} agents: answered {answered}, abandoned {}, rejected {}, offers {}, cap refusals {}, answered within 15 s {sl}",
        o.abandoned.len(),
        o.rejected.len(),
        w.offers_total,
        w.refusals_cap
    );
    assert!(answered > n_calls / 2, "most calls are answered");
    assert!(w.refusals_cap > 0, "the cap was exercised");
    assert!(
        !o.rejected.is_empty() && !o.abandoned.is_empty(),
        "queues formed and were left"
    );
}
