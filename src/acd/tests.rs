//! Unit tests of the whole [`Acd`] core in virtual time.

use super::agent::{AgentProfile, AgentState, Endpoint, Refusal};
use super::config::{
    AcdConfig, DidRoute, GroupConfig, OverflowRule, OverflowTarget, OverflowTrigger, Strategy,
};
use super::event::*;
use super::routing::RING_BACKSTOP_GRACE_MS;
use super::Acd;

const S: u64 = 1_000;

fn cfg(groups: Vec<GroupConfig>) -> AcdConfig {
    AcdConfig {
        groups,
        ..AcdConfig::default()
    }
}

fn agent(no: &str, groups: &[&str]) -> AgentProfile {
    let mut p = AgentProfile::new(no, format!("name{no}")).with_endpoint(Endpoint::Sip {
        extension: format!("8{no}"),
    });
    for g in groups {
        p = p.in_group(*g, 1);
    }
    p
}

fn drain(acd: &mut Acd) -> Vec<Action> {
    std::iter::from_fn(|| acd.poll()).collect()
}

fn cmd(acd: &mut Acd, no: &str, c: AgentCommand, now: u64) -> Result<Vec<Action>, Refusal> {
    let r = acd.handle(
        Event::Agent {
            agent_no: no.into(),
            cmd: c,
        },
        now,
    );
    let out = drain(acd);
    r.map(|_| out)
}

fn sup(acd: &mut Acd, c: SupervisorCommand, now: u64) -> Result<Vec<Action>, Refusal> {
    let r = acd.handle(
        Event::Supervisor {
            supervisor: "boss".into(),
            cmd: c,
        },
        now,
    );
    let out = drain(acd);
    r.map(|_| out)
}

fn ready(acd: &mut Acd, no: &str, now: u64) {
    cmd(
        acd,
        no,
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        now,
    )
    .unwrap();
    cmd(acd, no, AgentCommand::SetReady, now).unwrap();
}

fn arrive(acd: &mut Acd, call: &str, caller: &str, group: &str, now: u64) -> Vec<Action> {
    acd.handle(
        Event::CallArrived(IncomingCall {
            call: call.into(),
            caller: caller.into(),
            did: "12345".into(),
            group: Some(group.into()),
            ..Default::default()
        }),
        now,
    )
    .unwrap();
    drain(acd)
}

fn ev(acd: &mut Acd, e: Event, now: u64) -> Vec<Action> {
    acd.handle(e, now).unwrap();
    drain(acd)
}

fn offers(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::OfferCall { call, agent_no, .. } => Some((call.clone(), agent_no.clone())),
            _ => None,
        })
        .collect()
}

fn state(acd: &Acd, no: &str) -> AgentState {
    acd.agent_state(no).cloned().unwrap()
}

fn one_group(strategy: Strategy) -> Acd {
    Acd::new(cfg(vec![GroupConfig::new("g", "综合").strategy(strategy)])).unwrap()
}

#[test]
fn call_reaches_ready_agent_then_wrap_up_then_ready_after_limit() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    let out = arrive(&mut acd, "c1", "138", "g", 10 * S);
    assert_eq!(offers(&out), vec![("c1".into(), "1".into())]);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::OfferCall {
            auto_answer: true,
            endpoint: Some(Endpoint::Sip { .. }),
            ..
        }
    )));
    let ringing = out.iter().find_map(|a| match a {
        Action::Publish(AcdEvent::CallRinging {
            group,
            group_name,
            waited_ms,
            ..
        }) => Some((group.clone(), group_name.clone(), *waited_ms)),
        _ => None,
    });
    assert_eq!(ringing, Some(("g".into(), "综合".into(), 0)));
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c1".into(),
            agent_no: "1".into(),
        },
        11 * S,
    );
    assert_eq!(state(&acd, "1").name(), "talking");
    ev(&mut acd, Event::CallEnded { call: "c1".into() }, 71 * S);
    assert_eq!(
        state(&acd, "1"),
        AgentState::WrapUp {
            ends_at_ms: 191 * S
        }
    );
    // a call arriving during wrap-up waits
    let out = arrive(&mut acd, "c2", "139", "g", 100 * S);
    assert!(offers(&out).is_empty());
    assert_eq!(acd.poll_timeout(), Some(191 * S));
    let out = ev(&mut acd, Event::Tick, 191 * S);
    assert_eq!(
        offers(&out),
        vec![("c2".into(), "1".into())],
        "auto-ready after 120 s and offered at once"
    );
    let row = acd.board(191 * S).agents[0].clone();
    assert_eq!((row.calls, row.talk_ms), (1, 60 * S));
}

#[test]
fn every_state_change_is_persisted_with_time_and_reason() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        5,
    )
    .unwrap();
    let logged: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::Persist(PersistOp::StateChange(c)) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].from, AgentState::LoggedOut);
    assert_eq!(
        logged[0].to,
        AgentState::NotReady {
            reason: "login".into()
        }
    );
    assert_eq!((logged[0].reason.as_str(), logged[0].at_ms), ("login", 5));
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Publish(AcdEvent::AgentState { .. }))));
}

#[test]
fn not_ready_agent_is_never_offered() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        0,
    )
    .unwrap();
    let out = arrive(&mut acd, "c1", "1", "g", S);
    assert!(offers(&out).is_empty());
    let out = cmd(&mut acd, "1", AgentCommand::SetReady, 2 * S).unwrap();
    assert_eq!(offers(&out).len(), 1);
}

#[test]
fn attach_moves_session_without_state_change() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    cmd(&mut acd, "1", AgentCommand::Attach { session: 5 }, 0).unwrap();
    assert_eq!(
        acd.agent_session("1"),
        None,
        "not logged in: nothing to attach"
    );
    ready(&mut acd, "1", 0);
    let out = cmd(&mut acd, "1", AgentCommand::Attach { session: 5 }, S).unwrap();
    assert!(out.is_empty());
    assert_eq!(
        (acd.agent_session("1"), state(&acd, "1")),
        (Some(5), AgentState::Ready)
    );
    let out = sup(
        &mut acd,
        SupervisorCommand::ForceLogout {
            agent_no: "1".into(),
            reason: "x".into(),
        },
        2 * S,
    )
    .unwrap();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::KickSession { session: 5, .. })));
}

#[test]
fn forced_login_kicks_old_session_and_lands_not_ready() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 2,
            endpoint: None,
        },
        S,
    )
    .unwrap();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::KickSession { session: 1, .. })));
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "login".into()
        }
    );
    assert_eq!(acd.agent_session("1"), Some(2));
}

#[test]
fn logout_refused_during_call_and_unbinds_extension_after() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    arrive(&mut acd, "c1", "1", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c1".into(),
            agent_no: "1".into(),
        },
        S,
    );
    assert_eq!(
        cmd(&mut acd, "1", AgentCommand::Logout, 2 * S),
        Err(Refusal::LogoutDuringCall)
    );
    ev(&mut acd, Event::CallEnded { call: "c1".into() }, 3 * S);
    let out = cmd(&mut acd, "1", AgentCommand::Logout, 4 * S).unwrap();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::UnbindEndpoint { .. })));
    assert_eq!(state(&acd, "1"), AgentState::LoggedOut);
}

#[test]
fn not_ready_cap_refuses_one_more_and_is_changed_live() {
    let mut g = GroupConfig::new("g", "综合");
    g.not_ready_cap = Some(1);
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    for no in ["1", "2", "3"] {
        acd.add_agent(agent(no, &["g"])).unwrap();
        ready(&mut acd, no, 0);
    }
    cmd(
        &mut acd,
        "1",
        AgentCommand::SetNotReady {
            reason: "meeting".into(),
        },
        S,
    )
    .unwrap();
    let r = cmd(
        &mut acd,
        "2",
        AgentCommand::SetNotReady {
            reason: "meeting".into(),
        },
        S,
    );
    assert_eq!(
        r,
        Err(Refusal::NotReadyCapReached {
            group: "综合".into(),
            cap: 1,
            current: 1
        })
    );
    assert!(r.unwrap_err().to_string().contains("at most 1"));
    assert!(
        cmd(
            &mut acd,
            "2",
            AgentCommand::StartBreak { length_ms: 600 * S },
            S
        )
        .is_err(),
        "a break counts too"
    );
    // changing the reason of an agent already not ready is fine
    cmd(
        &mut acd,
        "1",
        AgentCommand::SetNotReady {
            reason: "training".into(),
        },
        S,
    )
    .unwrap();
    sup(
        &mut acd,
        SupervisorCommand::SetNotReadyCap {
            group: "g".into(),
            cap: Some(2),
        },
        2 * S,
    )
    .unwrap();
    cmd(
        &mut acd,
        "2",
        AgentCommand::SetNotReady {
            reason: "meeting".into(),
        },
        3 * S,
    )
    .unwrap();
    assert_eq!(acd.board(3 * S).queues[0].not_ready, 2);
}

#[test]
fn unknown_not_ready_reason_refused() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    assert!(matches!(
        cmd(
            &mut acd,
            "1",
            AgentCommand::SetNotReady {
                reason: "nap".into()
            },
            0
        ),
        Err(Refusal::UnknownReason { .. })
    ));
}

#[test]
fn break_overrun_becomes_not_ready_with_alert() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    cmd(
        &mut acd,
        "1",
        AgentCommand::StartBreak { length_ms: 600 * S },
        0,
    )
    .unwrap();
    assert!(ev(&mut acd, Event::Tick, 599 * S)
        .iter()
        .all(|a| !matches!(a, Action::Publish(AcdEvent::Alert { .. }))));
    let out = ev(&mut acd, Event::Tick, 600 * S);
    assert!(out.iter().any(
        |a| matches!(a, Action::Publish(AcdEvent::Alert { kind, .. }) if kind == "break_overrun")
    ));
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "break_overrun".into()
        }
    );
}

#[test]
fn break_ended_early_by_ready_has_no_alert() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    cmd(
        &mut acd,
        "1",
        AgentCommand::StartBreak { length_ms: 600 * S },
        0,
    )
    .unwrap();
    cmd(&mut acd, "1", AgentCommand::SetReady, 300 * S).unwrap();
    let out = ev(&mut acd, Event::Tick, 700 * S);
    assert!(!out
        .iter()
        .any(|a| matches!(a, Action::Publish(AcdEvent::Alert { .. }))));
    assert_eq!(state(&acd, "1"), AgentState::Ready);
}

#[test]
fn ring_no_answer_sets_not_ready_and_reoffers_at_same_place() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"]).auto_answer(false))
        .unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    let out = arrive(&mut acd, "c1", "1", "g", S);
    assert_eq!(offers(&out), vec![("c1".into(), "1".into())]);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::OfferCall {
            auto_answer: false,
            ring_timeout_ms: 15_000,
            ..
        }
    )));
    arrive(&mut acd, "c2", "2", "g", 2 * S);
    assert_eq!(acd.queue_order("g"), vec!["c1", "c2"]);
    // The call layer rings for 15 s and reports the outcome; the ACD's own timer is a backstop
    // a few seconds later, so a late answer from a busy call layer is not beaten by it.
    let out = ev(&mut acd, Event::Tick, 16 * S);
    assert!(!out.iter().any(|a| matches!(a, Action::CancelOffer { .. })));
    assert_eq!(state(&acd, "1"), AgentState::Ringing { call: "c1".into() });
    let out = ev(&mut acd, Event::Tick, 16 * S + RING_BACKSTOP_GRACE_MS);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::CancelOffer { call, .. } if call == "c1")));
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "ring_no_answer".into()
        }
    );
    assert_eq!(acd.queue_order("g"), vec!["c1", "c2"], "c1 keeps its place");
    let out = cmd(
        &mut acd,
        "2",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        22 * S,
    )
    .unwrap();
    assert!(offers(&out).is_empty());
    let out = cmd(&mut acd, "2", AgentCommand::SetReady, 22 * S).unwrap();
    assert_eq!(
        offers(&out),
        vec![("c1".into(), "2".into())],
        "first in line again"
    );
}

#[test]
fn reject_and_offer_failure_reoffer_to_next_agent() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"]).auto_answer(false))
        .unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    ready(&mut acd, "2", S);
    arrive(&mut acd, "c1", "1", "g", 2 * S);
    let out = cmd(&mut acd, "1", AgentCommand::Reject, 3 * S).unwrap();
    assert_eq!(offers(&out), vec![("c1".into(), "2".into())]);
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "rejected".into()
        }
    );
    let out = ev(
        &mut acd,
        Event::OfferFailed {
            call: "c1".into(),
            agent_no: "2".into(),
            cause: OfferFailure::Unreachable,
        },
        4 * S,
    );
    assert!(offers(&out).is_empty());
    assert_eq!(
        state(&acd, "2"),
        AgentState::NotReady {
            reason: "endpoint_unreachable".into()
        }
    );
    assert_eq!(acd.queue_order("g"), vec!["c1"]);
}

#[test]
fn priorities_emergency_red_list_vip_top_three() {
    let mut c = cfg(vec![GroupConfig::new("g", "综合")]);
    c.did_routes.insert(
        "12345-1".into(),
        DidRoute {
            group: "g".into(),
            vip: true,
            emergency: false,
        },
    );
    let mut acd = Acd::new(c).unwrap();
    sup(
        &mut acd,
        SupervisorCommand::AddRedList {
            number: "555".into(),
            note: "elderly".into(),
            ip: "1.2.3.4".into(),
        },
        0,
    )
    .unwrap();
    for i in 0..5 {
        arrive(&mut acd, &format!("n{i}"), "100", "g", i * S);
    }
    arrive(&mut acd, "red", "555", "g", 10 * S);
    acd.handle(
        Event::CallArrived(IncomingCall {
            call: "em".into(),
            caller: "1".into(),
            group: Some("g".into()),
            emergency: true,
            ..Default::default()
        }),
        11 * S,
    )
    .unwrap();
    acd.handle(
        Event::CallArrived(IncomingCall {
            call: "vip".into(),
            caller: "2".into(),
            did: "12345-1".into(),
            ..Default::default()
        }),
        12 * S,
    )
    .unwrap();
    assert_eq!(
        acd.queue_order("g"),
        vec!["em", "red", "vip", "n0", "n1", "n2", "n3", "n4"]
    );
    let out = drain(&mut acd);
    assert!(out.iter().any(|a| matches!(a, Action::Publish(AcdEvent::CallQueued { call, position: 3, .. }) if call == "vip")));
    // red list shows on the ringing event
    acd.add_agent(agent("1", &["g"])).unwrap();
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        13 * S,
    )
    .unwrap();
    let out = cmd(&mut acd, "1", AgentCommand::SetReady, 13 * S).unwrap();
    assert_eq!(offers(&out), vec![("em".into(), "1".into())]);
}

#[test]
fn multi_group_agent_serves_most_urgent_then_longest_waiting() {
    let mut acd = Acd::new(cfg(vec![
        GroupConfig::new("a", "A"),
        GroupConfig::new("b", "B"),
    ]))
    .unwrap();
    acd.add_agent(agent("1", &["a", "b"])).unwrap();
    arrive(&mut acd, "a1", "1", "a", 0);
    arrive(&mut acd, "b1", "2", "b", S);
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        2 * S,
    )
    .unwrap();
    let out = cmd(&mut acd, "1", AgentCommand::SetReady, 2 * S).unwrap();
    assert_eq!(
        offers(&out),
        vec![("a1".into(), "1".into())],
        "longest waiting"
    );
    let mut acd = Acd::new(cfg(vec![
        GroupConfig::new("a", "A"),
        GroupConfig::new("b", "B"),
    ]))
    .unwrap();
    acd.add_agent(agent("1", &["a", "b"])).unwrap();
    arrive(&mut acd, "a1", "1", "a", 0);
    acd.handle(
        Event::CallArrived(IncomingCall {
            call: "b1".into(),
            caller: "2".into(),
            group: Some("b".into()),
            emergency: true,
            ..Default::default()
        }),
        S,
    )
    .unwrap();
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        2 * S,
    )
    .unwrap();
    let out = cmd(&mut acd, "1", AgentCommand::SetReady, 2 * S).unwrap();
    assert_eq!(
        offers(&out),
        vec![("b1".into(), "1".into())],
        "emergency first"
    );
}

/// Serves `n` calls one at a time and returns who got each.
fn serve(acd: &mut Acd, n: usize, t0: u64, talk: impl Fn(usize) -> u64) -> Vec<String> {
    let mut who = Vec::new();
    let mut t = t0;
    for i in 0..n {
        let id = format!("s{t0}-{i}");
        let out = arrive(acd, &id, "1", "g", t);
        let o = offers(&out);
        assert_eq!(o.len(), 1, "{o:?}");
        let agent = o[0].1.clone();
        ev(
            acd,
            Event::CallAnswered {
                call: id.clone(),
                agent_no: agent.clone(),
            },
            t,
        );
        t += talk(i);
        ev(acd, Event::CallEnded { call: id }, t);
        cmd(acd, &agent, AgentCommand::EndWrapUp, t).unwrap();
        who.push(agent);
        t += S;
    }
    who
}

#[test]
fn round_robin_takes_turns() {
    let mut acd = one_group(Strategy::RoundRobin);
    for no in ["1", "2", "3"] {
        acd.add_agent(agent(no, &["g"])).unwrap();
        ready(&mut acd, no, 0);
    }
    assert_eq!(
        serve(&mut acd, 6, S, |_| 10 * S),
        vec!["1", "2", "3", "1", "2", "3"]
    );
}

#[test]
fn longest_idle_prefers_agent_ready_longest() {
    let mut acd = one_group(Strategy::LongestIdle);
    for no in ["1", "2", "3"] {
        acd.add_agent(agent(no, &["g"])).unwrap();
    }
    for (i, no) in ["3", "2", "1"].iter().enumerate() {
        ready(&mut acd, no, (i as u64 + 1) * S); // 3 became ready first
    }
    assert_eq!(serve(&mut acd, 3, 10 * S, |_| 10 * S), vec!["3", "2", "1"]);
}

#[test]
fn fewest_calls_and_least_talk_time() {
    let mut acd = one_group(Strategy::FewestCalls);
    for no in ["1", "2"] {
        acd.add_agent(agent(no, &["g"])).unwrap();
        ready(&mut acd, no, 0);
    }
    let who = serve(&mut acd, 4, S, |_| 10 * S);
    assert_eq!(who.iter().filter(|w| *w == "1").count(), 2);

    let mut acd = one_group(Strategy::LeastTalkTime);
    for no in ["1", "2"] {
        acd.add_agent(agent(no, &["g"])).unwrap();
        ready(&mut acd, no, 0);
    }
    // the first call is long; the next three go to the other agent until talk times cross
    let who = serve(&mut acd, 4, S, |i| if i == 0 { 100 * S } else { 10 * S });
    assert_eq!(who, vec!["1", "2", "2", "2"]);
}

#[test]
fn skill_tiers_offer_highest_level_first() {
    let mut acd = one_group(Strategy::SkillTiers);
    acd.add_agent(AgentProfile::new("lo", "lo").in_group("g", 1))
        .unwrap();
    acd.add_agent(AgentProfile::new("hi", "hi").in_group("g", 5))
        .unwrap();
    ready(&mut acd, "lo", 0);
    ready(&mut acd, "hi", S);
    let out = arrive(&mut acd, "c", "1", "g", 2 * S);
    assert_eq!(offers(&out), vec![("c".into(), "hi".into())]);
    let out = arrive(&mut acd, "d", "1", "g", 2 * S);
    assert_eq!(
        offers(&out),
        vec![("d".into(), "lo".into())],
        "the lower tier when the higher is busy"
    );
}

#[test]
fn ring_all_first_answer_wins_and_others_are_released() {
    let mut acd = one_group(Strategy::RingAll);
    for no in ["1", "2", "3"] {
        acd.add_agent(agent(no, &["g"]).auto_answer(false)).unwrap();
        ready(&mut acd, no, 0);
    }
    let out = arrive(&mut acd, "c", "1", "g", S);
    assert_eq!(offers(&out).len(), 3);
    let out = ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "2".into(),
        },
        2 * S,
    );
    let cancelled: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::CancelOffer { agent_no, .. } => Some(agent_no.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, vec!["1", "3"]);
    assert_eq!(state(&acd, "1"), AgentState::Ready);
    assert_eq!(state(&acd, "2").name(), "talking");
    assert!(
        acd.handle(
            Event::CallAnswered {
                call: "c".into(),
                agent_no: "3".into()
            },
            2 * S
        )
        .is_err(),
        "a late answer is refused"
    );
}

#[test]
fn returning_caller_goes_to_last_agent_when_ready() {
    let mut g = GroupConfig::new("g", "综合");
    g.last_agent_first = true;
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    for no in ["1", "2", "3"] {
        acd.add_agent(agent(no, &["g"])).unwrap();
        ready(&mut acd, no, 0);
    }
    let history = CallerHistory {
        calls: 3,
        last_agent: Some("3".into()),
        ..Default::default()
    };
    acd.handle(
        Event::CallArrived(IncomingCall {
            call: "c".into(),
            caller: "9".into(),
            group: Some("g".into()),
            history: Some(history),
            ..Default::default()
        }),
        S,
    )
    .unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![("c".into(), "3".into())]);
}

fn overflow_group(trigger: OverflowTrigger, target: OverflowTarget) -> GroupConfig {
    let mut g = GroupConfig::new("g", "综合");
    g.overflow.push(OverflowRule { trigger, target });
    g
}

#[test]
fn overflow_after_wait_moves_call_to_other_group_keeping_its_wait() {
    let g = overflow_group(
        OverflowTrigger::Waited { ms: 60 * S },
        OverflowTarget::Group { group: "h".into() },
    );
    let mut acd = Acd::new(cfg(vec![g, GroupConfig::new("h", "备份")])).unwrap();
    acd.add_agent(agent("1", &["g"])).unwrap();
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        0,
    )
    .unwrap();
    acd.add_agent(agent("2", &["h"])).unwrap();
    arrive(&mut acd, "c", "1", "g", 0);
    assert!(ev(&mut acd, Event::Tick, 59 * S)
        .iter()
        .all(|a| !matches!(a, Action::Publish(AcdEvent::CallLeftQueue { .. }))));
    let out = ev(&mut acd, Event::Tick, 60 * S);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Publish(AcdEvent::CallLeftQueue {
            reason: ExitReason::Overflow,
            ..
        })
    )));
    assert_eq!(acd.queue_order("h"), vec!["c"]);
    ready(&mut acd, "2", 70 * S);
    let out = ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "2".into(),
        },
        70 * S,
    );
    let b = acd.board(70 * S);
    assert_eq!(b.queues[0].overflowed, 1);
    assert_eq!((b.queues[1].waiting, b.queues[1].answered), (0, 1));
    assert!(out.iter().any(|a| matches!(a, Action::Publish(AcdEvent::CallAnswered { waited_ms, .. }) if *waited_ms == 70 * S)));
}

#[test]
fn overflow_when_nobody_logged_in_and_on_queue_length() {
    let g = overflow_group(
        OverflowTrigger::NoAgentLoggedIn,
        OverflowTarget::Group { group: "h".into() },
    );
    let mut acd = Acd::new(cfg(vec![g, GroupConfig::new("h", "备份")])).unwrap();
    arrive(&mut acd, "c", "1", "g", 0);
    assert_eq!(acd.queue_order("h"), vec!["c"]);

    let g = overflow_group(
        OverflowTrigger::QueueLength { calls: 2 },
        OverflowTarget::Message {
            prompt: "busy".into(),
        },
    );
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    arrive(&mut acd, "c1", "1", "g", 0);
    arrive(&mut acd, "c2", "1", "g", 0);
    let out = arrive(&mut acd, "c3", "1", "g", 0);
    assert!(out.iter().any(
        |a| matches!(a, Action::PlayMessage { call, prompt } if call == "c3" && prompt == "busy")
    ));
    assert_eq!(acd.queue_order("g"), vec!["c1", "c2"]);
}

#[test]
fn overflow_loops_are_bounded() {
    let a = overflow_group(
        OverflowTrigger::NoAgentLoggedIn,
        OverflowTarget::Group { group: "h".into() },
    );
    let mut b = GroupConfig::new("h", "H");
    b.overflow.push(OverflowRule {
        trigger: OverflowTrigger::NoAgentLoggedIn,
        target: OverflowTarget::Group { group: "g".into() },
    });
    let mut acd = Acd::new(cfg(vec![a, b])).unwrap();
    let out = arrive(&mut acd, "c", "1", "g", 0);
    assert!(out.iter().any(|a| matches!(a, Action::PlayMessage { .. })));
    assert!(acd.queue_order("g").is_empty() && acd.queue_order("h").is_empty());
}

#[test]
fn max_wait_sends_call_to_message() {
    let mut g = GroupConfig::new("g", "综合");
    g.max_wait_ms = Some(300 * S);
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    arrive(&mut acd, "c", "1", "g", 0);
    let out = ev(&mut acd, Event::Tick, 300 * S);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::PlayMessage { prompt, .. } if prompt == "queue_timeout")));
    assert!(acd.queue_order("g").is_empty());
}

#[test]
fn position_announced_on_entry_and_every_n_seconds() {
    let mut g = GroupConfig::new("g", "综合");
    g.announce_every_ms = Some(30 * S);
    g.default_handle_ms = 60 * S;
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    acd.add_agent(agent("1", &["g"])).unwrap();
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        0,
    )
    .unwrap();
    cmd(&mut acd, "1", AgentCommand::EnterWrapUp, 0).unwrap();
    arrive(&mut acd, "c1", "1", "g", 0);
    let out = arrive(&mut acd, "c2", "1", "g", 0);
    assert!(out.contains(&Action::Announce {
        call: "c2".into(),
        position: 2,
        expected_wait_ms: 120 * S
    }));
    let mut announced = Vec::new();
    for t in (1..=90).map(|s| s * S) {
        for a in ev(&mut acd, Event::Tick, t) {
            if let Action::Announce { call, .. } = a {
                announced.push((call, t));
            }
        }
    }
    let c2: Vec<u64> = announced
        .iter()
        .filter(|(c, _)| c == "c2")
        .map(|&(_, t)| t / S)
        .collect();
    assert_eq!(c2, vec![30, 60, 90]);
}

#[test]
fn callback_keeps_place_survives_hangup_and_is_dialled_when_agent_free() {
    let mut g = GroupConfig::new("g", "综合");
    g.callback_offer_after_ms = Some(300 * S);
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    acd.add_agent(agent("1", &["g"])).unwrap();
    arrive(&mut acd, "c1", "138", "g", 0);
    arrive(&mut acd, "c2", "139", "g", S);
    let out = ev(&mut acd, Event::Tick, 300 * S);
    assert!(out.contains(&Action::OfferCallback { call: "c1".into() }));
    let out = ev(
        &mut acd,
        Event::CallbackAccepted {
            call: "c1".into(),
            number: "138".into(),
        },
        305 * S,
    );
    let saved = out.iter().any(|a| matches!(a, Action::Persist(PersistOp::CallbackSaved(r)) if r.number == "138" && r.arrived_ms == 0));
    assert!(saved);
    ev(&mut acd, Event::CallEnded { call: "c1".into() }, 306 * S);
    assert_eq!(
        acd.queue_order("g"),
        vec!["c1", "c2"],
        "place kept after the caller hung up"
    );
    ready(&mut acd, "1", 400 * S);
    let out = drain(&mut acd);
    let _ = out;
    let b = acd.board(400 * S);
    assert_eq!(b.queues[0].abandoned, 0);
    // offered with the number to dial
    let offered = acd.agent_state("1").cloned();
    assert_eq!(offered, Some(AgentState::Ringing { call: "c1".into() }));
    let out = ev(
        &mut acd,
        Event::CallAnswered {
            call: "c1".into(),
            agent_no: "1".into(),
        },
        401 * S,
    );
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Persist(PersistOp::CallbackDone { .. }))),
        "the agent is on, the citizen not yet: the promise is not kept yet"
    );
    let out = ev(
        &mut acd,
        Event::CallbackResult {
            call: "c1".into(),
            reached: true,
            code: 200,
            reason: "answered".into(),
        },
        405 * S,
    );
    assert!(out.iter().any(|a| matches!(a,
        Action::Persist(PersistOp::CallbackDone { outcome, agent_no, .. })
            if outcome == "reached" && agent_no == "1")));
    ev(&mut acd, Event::CallEnded { call: "c1".into() }, 500 * S);
    assert!(
        acd.queue_order("g").iter().all(|c| c != "c1"),
        "a kept promise is not queued again"
    );
}

/// A callback promise `call` to `number` in group "g", accepted at time 0.
fn promise(call: &str, number: &str) -> CallbackRecord {
    CallbackRecord {
        call: call.into(),
        number: number.into(),
        group: "g".into(),
        priority: super::queue::Priority::Normal,
        arrived_ms: 0,
        accepted_ms: 0,
        attempts: 0,
    }
}

/// A restored promise offered to agent "1" (who answers): the state after the agent is on.
fn callback_on_agent(acd: &mut Acd, at: u64) {
    acd.restore_callback(promise("cb", "138"), at).unwrap();
    ready(acd, "1", at);
    assert_eq!(state(acd, "1"), AgentState::Ringing { call: "cb".into() });
    ev(
        acd,
        Event::CallAnswered {
            call: "cb".into(),
            agent_no: "1".into(),
        },
        at + S,
    );
}

#[test]
fn unanswered_callback_is_retried_after_the_wait_then_given_up() {
    let mut c = cfg(vec![GroupConfig::new("g", "综合")]);
    c.callback_attempts = 2;
    c.callback_retry_ms = 60 * S;
    let mut acd = Acd::new(c).unwrap();
    acd.add_agent(agent("1", &["g"])).unwrap();
    callback_on_agent(&mut acd, S);
    ev(
        &mut acd,
        Event::CallbackResult {
            call: "cb".into(),
            reached: false,
            code: 486,
            reason: "Busy Here".into(),
        },
        10 * S,
    );
    let out = ev(&mut acd, Event::CallEnded { call: "cb".into() }, 11 * S);
    assert!(out.iter().any(|a| matches!(a,
        Action::Persist(PersistOp::CallbackAttempt { attempts: 1, outcome, .. })
            if outcome == "486 Busy Here")));
    assert!(
        acd.queue_order("g").is_empty(),
        "not queued again before the retry wait is over"
    );
    assert_eq!(
        acd.board(11 * S).queues[0].callbacks,
        1,
        "the board still counts the promise"
    );
    // The agent finishes wrap-up and is ready long before the retry: nothing is offered.
    ready(&mut acd, "1", 30 * S);
    assert_eq!(state(&acd, "1"), AgentState::Ready);
    ev(&mut acd, Event::Tick, 71 * S);
    assert_eq!(
        state(&acd, "1"),
        AgentState::Ringing { call: "cb".into() },
        "offered again once the wait is over"
    );
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "cb".into(),
            agent_no: "1".into(),
        },
        72 * S,
    );
    // The agent gives up before the citizen answers: the second and last attempt.
    let out = ev(&mut acd, Event::CallEnded { call: "cb".into() }, 90 * S);
    assert!(out.iter().any(|a| matches!(a,
        Action::Persist(PersistOp::CallbackDone { outcome, .. })
            if outcome.starts_with("given up after 2 attempts"))));
    ev(&mut acd, Event::Tick, 1_000 * S);
    assert!(acd.queue_order("g").is_empty());
    assert_eq!(acd.board(1_000 * S).queues[0].callbacks, 0);
}

#[test]
fn callback_to_an_undiallable_number_releases_the_agent_without_blame() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.restore_callback(promise("cb", "999"), S).unwrap();
    ready(&mut acd, "1", S);
    let out = ev(
        &mut acd,
        Event::CallbackResult {
            call: "cb".into(),
            reached: false,
            code: 404,
            reason: "no trunk reaches this number".into(),
        },
        2 * S,
    );
    assert_eq!(state(&acd, "1"), AgentState::Ready, "not the agent's fault");
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Persist(PersistOp::CallbackAttempt { attempts: 1, .. })
    )));
}

#[test]
fn callback_offer_carries_number_and_restores_after_restart() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    arrive(&mut acd, "live", "1", "g", 50 * S);
    let rec = CallbackRecord {
        call: "cb".into(),
        number: "138".into(),
        group: "g".into(),
        priority: super::queue::Priority::Normal,
        arrived_ms: 10 * S,
        accepted_ms: 20 * S,
        attempts: 0,
    };
    acd.restore_callback(rec, 60 * S).unwrap();
    ready(&mut acd, "1", 61 * S);
    let out = drain(&mut acd);
    let _ = out;
    assert_eq!(
        state(&acd, "1"),
        AgentState::Ringing {
            call: "live".into()
        },
        "restored promise queued behind the live caller (normal class, FIFO of entry)"
    );
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.restore_callback(promise("cb", "138"), S).unwrap();
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        S,
    )
    .unwrap();
    let out = cmd(&mut acd, "1", AgentCommand::SetReady, S).unwrap();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::OfferCall { callback: Some(n), .. } if n == "138")));
}

#[test]
fn blacklist_instant_and_time_limited() {
    let mut acd = one_group(Strategy::LongestIdle);
    let out = sup(
        &mut acd,
        SupervisorCommand::AddBlacklist {
            number: "666".into(),
            until_ms: Some(100 * S),
            reason: "harassing".into(),
            ip: "10.1.1.1".into(),
        },
        0,
    )
    .unwrap();
    assert!(out.iter().any(|a| matches!(a, Action::Persist(PersistOp::BlacklistAdded(e)) if e.added_by == "boss" && e.added_ip == "10.1.1.1")));
    sup(
        &mut acd,
        SupervisorCommand::AddBlacklist {
            number: "777".into(),
            until_ms: None,
            reason: "abuse".into(),
            ip: "".into(),
        },
        0,
    )
    .unwrap();
    let out = arrive(&mut acd, "c1", "666", "g", 50 * S);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::RejectCall { reason, .. } if reason.contains("harassing"))));
    assert!(acd.queue_order("g").is_empty());
    arrive(&mut acd, "c2", "666", "g", 100 * S);
    assert_eq!(acd.queue_order("g"), vec!["c2"], "expired");
    let out = arrive(&mut acd, "c3", "777", "g", 1_000_000 * S);
    assert!(out.iter().any(|a| matches!(a, Action::RejectCall { .. })));
    sup(
        &mut acd,
        SupervisorCommand::RemoveBlacklist {
            number: "777".into(),
            ip: "".into(),
        },
        0,
    )
    .unwrap();
    arrive(&mut acd, "c4", "777", "g", 1_000_001 * S);
    assert_eq!(acd.queue_order("g"), vec!["c2", "c4"]);
}

#[test]
fn abandoned_calls_and_service_level_on_board() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    arrive(&mut acd, "a", "1", "g", 0);
    arrive(&mut acd, "b", "1", "g", 0);
    ev(&mut acd, Event::CallEnded { call: "b".into() }, 5 * S);
    ready(&mut acd, "1", 10 * S);
    drain(&mut acd);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "a".into(),
            agent_no: "1".into(),
        },
        10 * S,
    );
    let b = acd.board(12 * S);
    let q = &b.queues[0];
    assert_eq!(
        (q.answered, q.answered_in_sl, q.abandoned, q.waiting),
        (1, 1, 1, 0)
    );
    assert_eq!(q.service_level_permille, Some(500));
    assert_eq!(b.agents[0].time_in_state_ms, 2 * S);
}

#[test]
fn longest_wait_on_board() {
    let mut acd = one_group(Strategy::LongestIdle);
    arrive(&mut acd, "a", "1", "g", 0);
    arrive(&mut acd, "b", "1", "g", 4 * S);
    assert_eq!(acd.board(10 * S).queues[0].longest_wait_ms, 10 * S);
    let t = acd.transfer_targets();
    assert_eq!(t[0].label(), "综合(0)(2)");
}

#[test]
fn outbound_only_from_not_ready_and_back_to_it() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    let r = cmd(
        &mut acd,
        "1",
        AgentCommand::Dial {
            call: "o1".into(),
            number: "110".into(),
        },
        S,
    );
    assert!(matches!(r, Err(Refusal::OutboundOnlyFromNotReady { .. })));
    cmd(
        &mut acd,
        "1",
        AgentCommand::SetNotReady {
            reason: "ticket_work".into(),
        },
        S,
    )
    .unwrap();
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::Dial {
            call: "o1".into(),
            number: "110".into(),
        },
        2 * S,
    )
    .unwrap();
    assert!(out.iter().any(|a| matches!(
        a,
        Action::CallControl {
            op: CallOp::Dial { .. },
            ..
        }
    )));
    // no inbound call is offered during an outbound call
    let out = arrive(&mut acd, "c", "1", "g", 3 * S);
    assert!(offers(&out).is_empty());
    ev(&mut acd, Event::CallEnded { call: "o1".into() }, 10 * S);
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "ticket_work".into()
        }
    );
}

#[test]
fn hold_retrieve_and_consult_transfer_to_group() {
    let mut acd = Acd::new(cfg(vec![
        GroupConfig::new("g", "G"),
        GroupConfig::new("h", "H"),
    ]))
    .unwrap();
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["h"])).unwrap();
    ready(&mut acd, "1", 0);
    arrive(&mut acd, "c", "1", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        S,
    );
    let out = cmd(&mut acd, "1", AgentCommand::Hold, 2 * S).unwrap();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Publish(AcdEvent::CallHeld { held: true, .. }))));
    cmd(&mut acd, "1", AgentCommand::Retrieve, 3 * S).unwrap();
    assert_eq!(
        cmd(
            &mut acd,
            "1",
            AgentCommand::Consult {
                target: Target::Group { group: "h".into() },
            },
            4 * S,
        ),
        Err(Refusal::NoAgentReady { group: "H".into() }),
        "nobody of group H is ready to be consulted"
    );
    cmd(
        &mut acd,
        "1",
        AgentCommand::Consult {
            target: Target::Department {
                number: "07712345678".into(),
            },
        },
        4 * S,
    )
    .unwrap();
    assert_eq!(state(&acd, "1").name(), "consulting");
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::Transfer {
            target: Target::Group { group: "h".into() },
        },
        5 * S,
    )
    .unwrap();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Publish(AcdEvent::CallTransferred { .. }))));
    assert_eq!(state(&acd, "1").name(), "wrap_up");
    assert_eq!(acd.queue_order("h"), vec!["c"]);
    ready(&mut acd, "2", 6 * S);
    assert_eq!(state(&acd, "2"), AgentState::Ringing { call: "c".into() });
}

#[test]
fn transfer_to_ready_agent_and_external() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &[])).unwrap();
    ready(&mut acd, "1", 0);
    arrive(&mut acd, "c", "1", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        S,
    );
    let r = cmd(
        &mut acd,
        "1",
        AgentCommand::Transfer {
            target: Target::Agent {
                agent_no: "2".into(),
            },
        },
        2 * S,
    );
    assert_eq!(
        r,
        Err(Refusal::TargetNotReady {
            agent_no: "2".into()
        })
    );
    ready(&mut acd, "2", 2 * S);
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::Transfer {
            target: Target::Agent {
                agent_no: "2".into(),
            },
        },
        2 * S,
    )
    .unwrap();
    assert_eq!(offers(&out), vec![("c".into(), "2".into())]);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "2".into(),
        },
        3 * S,
    );
    let out = cmd(
        &mut acd,
        "2",
        AgentCommand::Transfer {
            target: Target::External {
                number: "120".into(),
            },
        },
        4 * S,
    )
    .unwrap();
    assert!(out.iter().any(|a| matches!(
        a,
        Action::CallControl {
            op: CallOp::Transfer { .. },
            ..
        }
    )));
    assert_eq!(state(&acd, "2").name(), "wrap_up");
    assert!(
        ev(&mut acd, Event::CallEnded { call: "c".into() }, 5 * S).is_empty(),
        "a call that left the ACD is ignored"
    );
}

#[test]
fn reset_hangs_up_call_and_lands_not_ready() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    arrive(&mut acd, "c", "1", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        S,
    );
    let out = cmd(&mut acd, "1", AgentCommand::Reset, 2 * S).unwrap();
    assert!(out.iter().any(|a| matches!(
        a,
        Action::CallControl {
            op: CallOp::Hangup,
            ..
        }
    )));
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "reset".into()
        }
    );
}

#[test]
fn supervise_needs_a_call_and_emits_media_action() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    let r = sup(
        &mut acd,
        SupervisorCommand::Supervise {
            agent_no: "1".into(),
            mode: SuperviseMode::Monitor,
        },
        0,
    );
    assert_eq!(
        r,
        Err(Refusal::NotInCall {
            agent_no: "1".into()
        })
    );
    arrive(&mut acd, "c", "1", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        S,
    );
    for mode in [
        SuperviseMode::Monitor,
        SuperviseMode::Whisper,
        SuperviseMode::Barge,
    ] {
        let out = sup(
            &mut acd,
            SupervisorCommand::Supervise {
                agent_no: "1".into(),
                mode,
            },
            2 * S,
        )
        .unwrap();
        assert!(out.contains(&Action::Supervise {
            supervisor: "boss".into(),
            agent_no: "1".into(),
            call: "c".into(),
            mode: Some(mode)
        }));
    }
    sup(
        &mut acd,
        SupervisorCommand::Supervise {
            agent_no: "1".into(),
            mode: SuperviseMode::Intercept,
        },
        3 * S,
    )
    .unwrap();
    assert_eq!(
        state(&acd, "1").name(),
        "wrap_up",
        "intercept takes the call from the agent"
    );
}

#[test]
fn force_not_ready_ignores_cap_and_waits_for_call_end() {
    let mut g = GroupConfig::new("g", "综合");
    g.not_ready_cap = Some(0);
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    ready(&mut acd, "2", 0);
    sup(
        &mut acd,
        SupervisorCommand::ForceNotReady {
            agent_no: "1".into(),
            reason: "device_fault".into(),
        },
        S,
    )
    .unwrap();
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "device_fault".into()
        }
    );
    arrive(&mut acd, "c", "1", "g", 2 * S);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "2".into(),
        },
        2 * S,
    );
    sup(
        &mut acd,
        SupervisorCommand::ForceNotReady {
            agent_no: "2".into(),
            reason: "ill".into(),
        },
        3 * S,
    )
    .unwrap();
    assert_eq!(state(&acd, "2").name(), "talking");
    ev(&mut acd, Event::CallEnded { call: "c".into() }, 4 * S);
    cmd(&mut acd, "2", AgentCommand::EndWrapUp, 5 * S).unwrap();
    assert_eq!(
        state(&acd, "2"),
        AgentState::NotReady {
            reason: "ill".into()
        }
    );
}

#[test]
fn force_logout_moves_live_call_to_another_agent() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    arrive(&mut acd, "x", "1", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "x".into(),
            agent_no: "1".into(),
        },
        S,
    );
    arrive(&mut acd, "y", "1", "g", 2 * S);
    cmd(
        &mut acd,
        "2",
        AgentCommand::Login {
            session: 7,
            endpoint: None,
        },
        3 * S,
    )
    .unwrap();
    let out = sup(
        &mut acd,
        SupervisorCommand::ForceLogout {
            agent_no: "1".into(),
            reason: "absent".into(),
        },
        4 * S,
    )
    .unwrap();
    assert!(out.iter().any(
        |a| matches!(a, Action::CallControl { op: CallOp::DetachAgent, call, .. } if call == "x")
    ));
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::KickSession { session: 1, .. })));
    assert_eq!(state(&acd, "1"), AgentState::LoggedOut);
    assert_eq!(
        acd.queue_order("g"),
        vec!["x", "y"],
        "the moved call goes first"
    );
    let out = cmd(&mut acd, "2", AgentCommand::SetReady, 5 * S).unwrap();
    assert_eq!(offers(&out), vec![("x".into(), "2".into())]);
}

#[test]
fn duplicate_arrival_and_unknown_events_change_nothing() {
    let mut acd = one_group(Strategy::LongestIdle);
    arrive(&mut acd, "c", "1", "g", 0);
    arrive(&mut acd, "c", "1", "g", 0);
    assert_eq!(acd.queue_order("g"), vec!["c"]);
    assert!(acd
        .handle(
            Event::CallAnswered {
                call: "zz".into(),
                agent_no: "nobody".into()
            },
            0
        )
        .is_err());
    assert!(acd
        .handle(Event::CallEnded { call: "zz".into() }, 0)
        .is_ok());
    assert!(acd
        .handle(
            Event::CallArrived(IncomingCall {
                call: "d".into(),
                did: "unknown".into(),
                ..Default::default()
            }),
            0
        )
        .is_err());
}

#[test]
fn config_errors_are_clear() {
    let g = overflow_group(
        OverflowTrigger::NoAgentLoggedIn,
        OverflowTarget::Group {
            group: "nope".into(),
        },
    );
    let e = Acd::new(cfg(vec![g])).err().unwrap();
    assert!(e.to_string().contains("nope"));
    let mut acd = one_group(Strategy::LongestIdle);
    assert!(acd.add_agent(agent("1", &["nope"])).is_err());
    acd.add_agent(agent("1", &["g"])).unwrap();
    assert!(acd.add_agent(agent("1", &["g"])).is_err());
}

#[test]
fn timers_armed_as_actions() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    let out = cmd(&mut acd, "1", AgentCommand::EnterWrapUp, 10).unwrap();
    assert!(out.contains(&Action::ArmTimer { at_ms: 120_010 }));
}

#[test]
fn break_from_ready_keeps_longest_idle_place() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    ready(&mut acd, "2", 10 * S);
    cmd(
        &mut acd,
        "1",
        AgentCommand::StartBreak { length_ms: 300 * S },
        20 * S,
    )
    .unwrap();
    cmd(&mut acd, "1", AgentCommand::SetReady, 100 * S).unwrap();
    let out = arrive(&mut acd, "c", "1", "g", 101 * S);
    assert_eq!(
        offers(&out),
        vec![("c".into(), "1".into())],
        "agent 1 was idle first and kept that place"
    );
    // a not-ready spell does not keep it
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    ready(&mut acd, "2", 10 * S);
    cmd(
        &mut acd,
        "1",
        AgentCommand::SetNotReady {
            reason: "meeting".into(),
        },
        20 * S,
    )
    .unwrap();
    cmd(&mut acd, "1", AgentCommand::SetReady, 100 * S).unwrap();
    let out = arrive(&mut acd, "c", "1", "g", 101 * S);
    assert_eq!(offers(&out), vec![("c".into(), "2".into())]);
}

#[test]
fn failed_transfer_to_agent_returns_call_to_front_of_queue() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &[]).auto_answer(false)).unwrap();
    ready(&mut acd, "1", 0);
    arrive(&mut acd, "c", "1", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        S,
    );
    arrive(&mut acd, "d", "1", "g", 2 * S);
    ready(&mut acd, "2", 3 * S);
    cmd(
        &mut acd,
        "1",
        AgentCommand::Transfer {
            target: Target::Agent {
                agent_no: "2".into(),
            },
        },
        4 * S,
    )
    .unwrap();
    ev(&mut acd, Event::Tick, 19 * S + RING_BACKSTOP_GRACE_MS);
    assert_eq!(
        state(&acd, "2"),
        AgentState::NotReady {
            reason: "ring_no_answer".into()
        }
    );
    assert_eq!(acd.queue_order("g"), vec!["c", "d"]);
}

#[test]
fn huge_config_values_do_not_overflow() {
    let mut g = GroupConfig::new("g", "G");
    g.max_wait_ms = Some(u64::MAX);
    g.ring_timeout_ms = u64::MAX;
    g.announce_every_ms = Some(u64::MAX);
    g.callback_offer_after_ms = Some(u64::MAX);
    g.overflow.push(OverflowRule {
        trigger: OverflowTrigger::Waited { ms: u64::MAX },
        target: OverflowTarget::Callback,
    });
    let mut acd = Acd::new(cfg(vec![g])).unwrap();
    acd.add_agent(agent("1", &["g"]).auto_answer(false))
        .unwrap();
    arrive(&mut acd, "c", "1", "g", u64::MAX / 2);
    ready(&mut acd, "1", u64::MAX / 2);
    ev(&mut acd, Event::Tick, u64::MAX - 1);
    assert_eq!(state(&acd, "1").name(), "ringing");
}

#[test]
fn a_consulted_party_that_fails_or_leaves_returns_the_agent_to_the_caller() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    talking_on(&mut acd, "c", 0, S);
    let consult = AgentCommand::Consult {
        target: Target::External {
            number: "07711234567".into(),
        },
    };
    cmd(&mut acd, "1", consult.clone(), 2 * S).unwrap();
    assert_eq!(state(&acd, "1").name(), "consulting");
    let party = |status: PartyStatus| Event::Party {
        call: "c".into(),
        agent_no: "1".into(),
        party: "07711234567".into(),
        role: PartyRole::Consult,
        status,
    };
    // Ringing changes nothing but tells the desktop.
    let out = ev(&mut acd, party(PartyStatus::Ringing), 2 * S);
    assert!(out.iter().any(|a| matches!(a,
        Action::Publish(AcdEvent::Party { status: PartyStatus::Ringing, agent_no, .. }) if agent_no == "1")));
    assert_eq!(state(&acd, "1").name(), "consulting");
    // Busy: back to talking with the caller.
    let out = ev(
        &mut acd,
        party(PartyStatus::Failed {
            code: 486,
            reason: "Busy Here".into(),
        }),
        3 * S,
    );
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Publish(AcdEvent::Party {
            status: PartyStatus::Failed { code: 486, .. },
            ..
        })
    )));
    assert_eq!(state(&acd, "1").name(), "talking");

    // Again, joined into a three-way call; the party hangs up: back to talking.
    cmd(&mut acd, "1", consult, 4 * S).unwrap();
    ev(&mut acd, party(PartyStatus::Joined), 5 * S);
    cmd(&mut acd, "1", AgentCommand::ThreeWay, 6 * S).unwrap();
    assert_eq!(state(&acd, "1").name(), "conference");
    ev(&mut acd, party(PartyStatus::Left), 7 * S);
    assert_eq!(state(&acd, "1").name(), "talking");

    // A supervisor leaving changes nothing for the agent.
    ev(
        &mut acd,
        Event::Party {
            call: "c".into(),
            agent_no: "1".into(),
            party: "2001".into(),
            role: PartyRole::Supervisor,
            status: PartyStatus::Left,
        },
        8 * S,
    );
    assert_eq!(state(&acd, "1").name(), "talking");
}

#[test]
fn pause_recording_only_in_a_call_and_the_desktop_hears_of_it() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    assert!(cmd(&mut acd, "1", AgentCommand::PauseRecording { on: true }, S).is_err());
    arrive(&mut acd, "c", "1", "g", S);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        2 * S,
    );
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::PauseRecording { on: true },
        3 * S,
    )
    .unwrap();
    assert!(out.iter().any(|a| matches!(
        a,
        Action::CallControl {
            op: CallOp::PauseRecording { on: true },
            ..
        }
    )));
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Publish(AcdEvent::RecordingPaused { paused: true, .. })
    )));
}

/// Agent 1 (ready at 0) answers call `call` that arrives at `arrive_at`.
fn talking_on(acd: &mut Acd, call: &str, arrive_at: u64, answer_at: u64) {
    ready(acd, "1", 0);
    arrive(acd, call, "1", "g", arrive_at);
    ev(
        acd,
        Event::CallAnswered {
            call: call.into(),
            agent_no: "1".into(),
        },
        answer_at,
    );
}

/// Agent 1 talks on call "c" of group "g"; agent 2 (same group) is ready; 1 consults 2.
fn consulting_colleague() -> Acd {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    arrive(&mut acd, "c", "100", "g", 0);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        S,
    );
    ready(&mut acd, "2", S);
    cmd(
        &mut acd,
        "1",
        AgentCommand::Consult {
            target: Target::Agent {
                agent_no: "2".into(),
            },
        },
        2 * S,
    )
    .unwrap();
    acd
}

fn consult_party(acd: &mut Acd, status: PartyStatus, at: u64) -> Vec<Action> {
    ev(
        acd,
        Event::Party {
            call: "c".into(),
            agent_no: "1".into(),
            party: "2".into(),
            role: PartyRole::Consult,
            status,
        },
        at,
    )
}

#[test]
fn a_consulted_colleague_is_not_offered_queue_calls_and_is_freed_after() {
    let mut acd = consulting_colleague();
    assert_eq!(
        state(&acd, "2"),
        AgentState::Ringing { call: "c".into() },
        "reserved while the consult rings"
    );
    let out = arrive(&mut acd, "d", "200", "g", 3 * S);
    assert!(
        offers(&out).is_empty(),
        "no queue call for a consulted agent"
    );
    consult_party(&mut acd, PartyStatus::Joined, 4 * S);
    assert_eq!(
        state(&acd, "2"),
        AgentState::Talking {
            call: "c".into(),
            outbound: false
        }
    );
    // The consult ends without a transfer: the colleague is ready at once (no wrap-up: the call
    // is not theirs) and takes the waiting call.
    let out = consult_party(&mut acd, PartyStatus::Left, 20 * S);
    assert_eq!(offers(&out), vec![("d".into(), "2".into())]);
    assert_eq!(
        state(&acd, "1").name(),
        "talking",
        "agent 1 has the caller back"
    );
}

#[test]
fn a_consulted_colleague_who_does_not_answer_is_ready_again() {
    let mut acd = consulting_colleague();
    consult_party(
        &mut acd,
        PartyStatus::Failed {
            code: 480,
            reason: "no answer".into(),
        },
        30 * S,
    );
    assert_eq!(state(&acd, "2"), AgentState::Ready);
}

#[test]
fn an_attended_transfer_hands_the_call_to_the_consulted_colleague() {
    let mut acd = consulting_colleague();
    consult_party(&mut acd, PartyStatus::Joined, 4 * S);
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::Transfer {
            target: Target::Agent {
                agent_no: "2".into(),
            },
        },
        10 * S,
    )
    .unwrap();
    assert_eq!(offers(&out), vec![("c".into(), "2".into())]);
    assert_eq!(state(&acd, "1").name(), "wrap_up");
    // The engine hands the caller to the colleague's leg and says so.
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "2".into(),
        },
        10 * S,
    );
    assert_eq!(
        state(&acd, "2"),
        AgentState::Talking {
            call: "c".into(),
            outbound: false
        }
    );
    // Their leg's end is the call's end for them: wrap-up, as for any call they handled.
    ev(&mut acd, Event::CallEnded { call: "c".into() }, 60 * S);
    consult_party(&mut acd, PartyStatus::Left, 60 * S);
    assert_eq!(state(&acd, "2").name(), "wrap_up");
}

#[test]
fn consulting_a_group_consults_the_agent_its_strategy_picks() {
    let mut acd = Acd::new(cfg(vec![
        GroupConfig::new("g", "G"),
        GroupConfig::new("h", "H"),
    ]))
    .unwrap();
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["h"])).unwrap();
    acd.add_agent(agent("3", &["h"])).unwrap();
    ready(&mut acd, "1", 0);
    ready(&mut acd, "3", S);
    ready(&mut acd, "2", 2 * S);
    arrive(&mut acd, "c", "100", "g", 3 * S);
    ev(
        &mut acd,
        Event::CallAnswered {
            call: "c".into(),
            agent_no: "1".into(),
        },
        4 * S,
    );
    let out = cmd(
        &mut acd,
        "1",
        AgentCommand::Consult {
            target: Target::Group { group: "h".into() },
        },
        5 * S,
    )
    .unwrap();
    assert!(
        out.iter().any(|x| matches!(x,
            Action::CallControl { op: CallOp::Consult { target: Target::Agent { agent_no } }, .. }
                if agent_no == "3")),
        "longest idle of H is 3: {out:?}"
    );
    assert_eq!(state(&acd, "3"), AgentState::Ringing { call: "c".into() });
    assert_eq!(state(&acd, "2"), AgentState::Ready);
}

// ---- answers that cross the ACD's own ring timeout (a busy call layer) ----

/// Agent 1 is offered c1 at 1 s; the backstop gives up on it (1 not ready, c1 waits again).
fn offer_given_up() -> Acd {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    ready(&mut acd, "1", 0);
    let out = arrive(&mut acd, "c1", "138", "g", S);
    assert_eq!(offers(&out), vec![("c1".into(), "1".into())]);
    let out = ev(&mut acd, Event::Tick, S + 15 * S + RING_BACKSTOP_GRACE_MS);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::CancelOffer { agent_no, .. } if agent_no == "1")));
    assert_eq!(
        state(&acd, "1"),
        AgentState::NotReady {
            reason: "ring_no_answer".into()
        }
    );
    acd
}

fn answered(acd: &mut Acd, call: &str, agent_no: &str, now: u64) -> Vec<Action> {
    ev(
        acd,
        Event::CallAnswered {
            call: call.into(),
            agent_no: agent_no.into(),
        },
        now,
    )
}

#[test]
fn an_answer_after_the_backstop_gives_the_waiting_call_to_the_agent_who_answered() {
    let mut acd = offer_given_up();
    let out = answered(&mut acd, "c1", "1", 22 * S);
    assert_eq!(
        state(&acd, "1"),
        AgentState::Talking {
            call: "c1".into(),
            outbound: false
        }
    );
    assert!(acd.queue_order("g").is_empty(), "c1 left its queue");
    assert!(out.iter().any(|a| matches!(a,
        Action::Publish(AcdEvent::CallAnswered { call, agent_no, .. }) if call == "c1" && agent_no == "1")));
    // The call ends normally: the agent wraps up, nobody is left ringing or talking.
    ev(&mut acd, Event::CallEnded { call: "c1".into() }, 30 * S);
    assert!(matches!(state(&acd, "1"), AgentState::WrapUp { .. }));
}

#[test]
fn an_answer_after_a_reoffer_releases_the_new_agent_without_blame() {
    let mut acd = offer_given_up();
    let out = cmd(
        &mut acd,
        "2",
        AgentCommand::Login {
            session: 2,
            endpoint: None,
        },
        22 * S,
    )
    .unwrap();
    assert!(offers(&out).is_empty());
    let out = cmd(&mut acd, "2", AgentCommand::SetReady, 22 * S).unwrap();
    assert_eq!(offers(&out), vec![("c1".into(), "2".into())]);
    // Agent 1's phone had answered before the backstop; the news arrives now.
    let out = answered(&mut acd, "c1", "1", 23 * S);
    assert!(out.iter().any(
        |a| matches!(a, Action::CancelOffer { call, agent_no } if call == "c1" && agent_no == "2")
    ));
    assert_eq!(state(&acd, "2"), AgentState::Ready, "agent 2 is not blamed");
    assert_eq!(
        state(&acd, "1"),
        AgentState::Talking {
            call: "c1".into(),
            outbound: false
        }
    );
    // The call layer says it again when the re-offer reaches it: nothing changes.
    let out = answered(&mut acd, "c1", "1", 23 * S);
    assert!(out.is_empty(), "{out:?}");
    // Agent 2's reply to the withdrawn offer is refused without effect.
    let r = acd.handle(
        Event::OfferFailed {
            call: "c1".into(),
            agent_no: "2".into(),
            cause: OfferFailure::Unreachable,
        },
        23 * S,
    );
    assert!(r.is_err());
    assert_eq!(state(&acd, "2"), AgentState::Ready);
}

#[test]
fn an_answer_while_ringing_for_another_call_sends_that_call_back_to_its_place() {
    let mut acd = offer_given_up();
    arrive(&mut acd, "c2", "139", "g", 22 * S);
    // Agent 2 is offered c1 (first in line), then agent 1, ready again, is offered c2.
    cmd(
        &mut acd,
        "2",
        AgentCommand::Login {
            session: 2,
            endpoint: None,
        },
        22 * S,
    )
    .unwrap();
    let out = cmd(&mut acd, "2", AgentCommand::SetReady, 22 * S).unwrap();
    assert_eq!(offers(&out), vec![("c1".into(), "2".into())]);
    let out = cmd(&mut acd, "1", AgentCommand::SetReady, 22 * S).unwrap();
    assert_eq!(offers(&out), vec![("c2".into(), "1".into())]);
    // The late news: agent 1's phone is on c1.
    let out = answered(&mut acd, "c1", "1", 23 * S);
    for (call, agent) in [("c2", "1"), ("c1", "2")] {
        assert!(
            out.iter().any(|a| matches!(a, Action::CancelOffer { call: c, agent_no } if c == call && agent_no == agent)),
            "offer of {call} to {agent} withdrawn: {out:?}"
        );
    }
    assert_eq!(
        state(&acd, "1"),
        AgentState::Talking {
            call: "c1".into(),
            outbound: false
        }
    );
    // c2 goes to agent 2, who was released from c1.
    assert_eq!(offers(&out), vec![("c2".into(), "2".into())]);
}

#[test]
fn an_answer_from_an_agent_on_another_call_is_refused_and_the_leg_detached() {
    let mut acd = offer_given_up();
    arrive(&mut acd, "c2", "139", "g", 22 * S);
    cmd(&mut acd, "1", AgentCommand::SetReady, 22 * S).unwrap();
    // Agent 1, ready again, is offered c1 (first in line) and answers it.
    answered(&mut acd, "c1", "1", 22 * S);
    assert_eq!(
        state(&acd, "1"),
        AgentState::Talking {
            call: "c1".into(),
            outbound: false
        }
    );
    // An answer for c2 that was never offered to 1 (1 is on c1): refused, the leg comes off c2.
    let r = acd.handle(
        Event::CallAnswered {
            call: "c2".into(),
            agent_no: "1".into(),
        },
        23 * S,
    );
    assert!(r.is_err());
    let out = drain(&mut acd);
    assert!(out.iter().any(|a| matches!(a,
        Action::CallControl { call, agent_no, op: CallOp::DetachAgent } if call == "c2" && agent_no == "1")));
    assert_eq!(acd.queue_order("g"), vec!["c2"], "c2 still waits");
}

#[test]
fn the_callers_history_reaches_the_screen_pop_whenever_it_arrives() {
    let mut acd = one_group(Strategy::LongestIdle);
    acd.add_agent(agent("1", &["g"])).unwrap();
    acd.add_agent(agent("2", &["g"])).unwrap();
    let history = CallerHistory {
        calls: 21,
        open_tickets: 1,
        repeat_requests: 0,
        flagged: true,
        last_agent: Some("2".into()),
    };
    // Looked up while the call waits: the ringing event carries it.
    arrive(&mut acd, "c1", "138", "g", S);
    let out = ev(
        &mut acd,
        Event::CallerHistory {
            call: "c1".into(),
            history: history.clone(),
        },
        S,
    );
    assert!(out.is_empty(), "nobody to tell yet: {out:?}");
    cmd(
        &mut acd,
        "1",
        AgentCommand::Login {
            session: 1,
            endpoint: None,
        },
        2 * S,
    )
    .unwrap();
    let out = cmd(&mut acd, "1", AgentCommand::SetReady, 2 * S).unwrap();
    let ringing = out.iter().find_map(|a| match a {
        Action::Publish(AcdEvent::CallRinging { history, .. }) => Some(history.clone()),
        _ => None,
    });
    assert_eq!(ringing, Some(Some(history.clone())));
    ready(&mut acd, "2", 2 * S);
    // Looked up after the offer: the ringing agent gets it as an event of its own.
    arrive(&mut acd, "c2", "139", "g", 3 * S);
    let out = ev(
        &mut acd,
        Event::CallerHistory {
            call: "c2".into(),
            history: history.clone(),
        },
        3 * S,
    );
    assert_eq!(
        out,
        vec![Action::Publish(AcdEvent::CallerHistory {
            call: "c2".into(),
            agent_no: "2".into(),
            history: history.clone(),
        })]
    );
    // For a call that is gone: refused, nothing happens.
    assert!(acd
        .handle(
            Event::CallerHistory {
                call: "gone".into(),
                history
            },
            4 * S
        )
        .is_err());
}
