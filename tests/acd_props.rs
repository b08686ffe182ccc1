//! Property tests: any sequence of commands and call events, valid or not, leaves the ACD
//! consistent (no panic, group counters match agent states, ringing agents match offered calls),
//! and any text on a CTI session gives error frames, never a panic.

use hotline::acd::event::{
    AgentCommand, Event, IncomingCall, OfferFailure, SuperviseMode, SupervisorCommand, Target,
};
use hotline::acd::{
    Acd, AcdConfig, AgentProfile, AgentState, GroupConfig, OverflowRule, OverflowTarget,
    OverflowTrigger, Strategy as Routing,
};
use hotline::cti::session::{CtiSession, Principal, TokenValidator};
use proptest::prelude::*;

const AGENTS: [&str; 4] = ["1", "2", "3", "4"];
const GROUPS: [&str; 2] = ["a", "b"];

fn centre() -> Acd {
    let mut a = GroupConfig::new("a", "A").strategy(Routing::RingAll);
    a.not_ready_cap = Some(1);
    a.ring_timeout_ms = 5_000;
    a.announce_every_ms = Some(7_000);
    a.overflow.push(OverflowRule {
        trigger: OverflowTrigger::Waited { ms: 20_000 },
        target: OverflowTarget::Group { group: "b".into() },
    });
    let mut b = GroupConfig::new("b", "B").strategy(Routing::RoundRobin);
    b.max_wait_ms = Some(60_000);
    b.callback_offer_after_ms = Some(30_000);
    let mut acd = Acd::new(AcdConfig {
        groups: vec![a, b],
        wrap_up_ms: 10_000,
        ..AcdConfig::default()
    })
    .unwrap();
    for (i, no) in AGENTS.iter().enumerate() {
        let mut p = AgentProfile::new(*no, *no).auto_answer(i % 2 == 0);
        p = p.in_group(GROUPS[i % 2], 1);
        if i == 3 {
            p = p.in_group("a", 2);
        }
        acd.add_agent(p).unwrap();
    }
    acd
}

fn agent_cmd() -> impl Strategy<Value = AgentCommand> {
    prop_oneof![
        (0u64..3).prop_map(|s| AgentCommand::Login {
            session: s,
            endpoint: None
        }),
        Just(AgentCommand::Logout),
        Just(AgentCommand::SetReady),
        Just(AgentCommand::SetReady),
        Just(AgentCommand::SetNotReady {
            reason: "meeting".into()
        }),
        (0u64..40_000).prop_map(|l| AgentCommand::StartBreak { length_ms: l }),
        Just(AgentCommand::EnterWrapUp),
        Just(AgentCommand::EndWrapUp),
        Just(AgentCommand::Answer),
        Just(AgentCommand::Reject),
        Just(AgentCommand::Hangup),
        Just(AgentCommand::Hold),
        Just(AgentCommand::Retrieve),
        Just(AgentCommand::Consult {
            target: Target::Group { group: "b".into() }
        }),
        Just(AgentCommand::CancelConsult),
        Just(AgentCommand::ThreeWay),
        Just(AgentCommand::DropParty { party: "x".into() }),
        Just(AgentCommand::Transfer {
            target: Target::Group { group: "b".into() }
        }),
        Just(AgentCommand::Transfer {
            target: Target::Agent {
                agent_no: "2".into()
            }
        }),
        Just(AgentCommand::Transfer {
            target: Target::External {
                number: "110".into()
            }
        }),
        (0u8..3).prop_map(|n| AgentCommand::Dial {
            call: format!("o{n}"),
            number: "123".into()
        }),
        Just(AgentCommand::Reset),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let agent = || (0usize..AGENTS.len()).prop_map(|i| AGENTS[i].to_string());
    let call = || (0u8..6).prop_map(|n| format!("c{n}"));
    prop_oneof![
        4 => (agent(), agent_cmd()).prop_map(|(agent_no, cmd)| Event::Agent { agent_no, cmd }),
        2 => (call(), 0usize..2, any::<bool>(), any::<bool>()).prop_map(|(c, g, emergency, vip)| Event::CallArrived(IncomingCall {
            call: c,
            caller: "1".into(),
            group: Some(GROUPS[g].into()),
            emergency,
            vip,
            ..Default::default()
        })),
        2 => (call(), agent()).prop_map(|(call, agent_no)| Event::CallAnswered { call, agent_no }),
        1 => (call(), agent()).prop_map(|(call, agent_no)| Event::OfferFailed { call, agent_no, cause: OfferFailure::NoAnswer }),
        2 => call().prop_map(|call| Event::CallEnded { call }),
        1 => (0u8..3).prop_map(|n| Event::CallEnded { call: format!("o{n}") }),
        1 => call().prop_map(|call| Event::CallbackAccepted { call, number: "138".into() }),
        2 => Just(Event::Tick),
        1 => agent().prop_map(|agent_no| Event::Supervisor { supervisor: "s".into(), cmd: SupervisorCommand::ForceLogout { agent_no, reason: "x".into() } }),
        1 => agent().prop_map(|agent_no| Event::Supervisor { supervisor: "s".into(), cmd: SupervisorCommand::ForceNotReady { agent_no, reason: "x".into() } }),
        1 => agent().prop_map(|agent_no| Event::Supervisor { supervisor: "s".into(), cmd: SupervisorCommand::Supervise { agent_no, mode: SuperviseMode::Intercept } }),
        1 => (0u32..3).prop_map(|c| Event::Supervisor { supervisor: "s".into(), cmd: SupervisorCommand::SetNotReadyCap { group: "a".into(), cap: Some(c) } }),
    ]
}

fn check(acd: &Acd, now: u64) {
    let board = acd.board(now);
    for q in &board.queues {
        let members: Vec<_> = board
            .agents
            .iter()
            .filter(|a| a.groups.contains(&q.group))
            .collect();
        let ready = members
            .iter()
            .filter(|a| a.state == AgentState::Ready)
            .count() as u32;
        let logged = members.iter().filter(|a| a.state.logged_in()).count() as u32;
        let nr = members
            .iter()
            .filter(|a| a.state.counts_as_not_ready())
            .count() as u32;
        assert_eq!(
            (q.ready, q.logged_in, q.not_ready),
            (ready, logged, nr),
            "counters of {}",
            q.group
        );
        // work-conserving: nobody ready while a call of the group waits un-offered
        if ready > 0 {
            let ringing: Vec<_> = board
                .agents
                .iter()
                .filter_map(|a| a.state.call().filter(|_| a.state.name() == "ringing"))
                .collect();
            for c in acd.queue_order(&q.group) {
                assert!(
                    ringing.contains(&&c),
                    "{c} waits in {} beside a ready agent",
                    q.group
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_event_sequence_keeps_the_acd_consistent(events in proptest::collection::vec((0u64..4_000, event()), 1..120)) {
        let mut acd = centre();
        let mut now = 0;
        for (dt, e) in events {
            now += dt;
            let _ = acd.handle(e, now);
            while acd.poll().is_some() {}
            check(&acd, now);
        }
    }

    #[test]
    fn any_text_on_a_cti_session_never_panics(frames in proptest::collection::vec(".{0,200}", 1..10)) {
        struct Any;
        impl TokenValidator for Any {
            fn validate(&self, _: &str) -> Result<Principal, String> {
                Ok(Principal { user: "u".into(), agent_no: Some("1".into()), supervisor: false })
            }
        }
        let mut s = CtiSession::new(1, "");
        s.handle_text(r#"{"type":"hello","version":1,"token":"t"}"#, &Any);
        for f in frames {
            s.handle_text(&f, &Any);
        }
        let mut last = 0;
        while let Some(o) = s.poll() {
            if let hotline::cti::session::SessionOutput::Send(m) = o {
                prop_assert_eq!(m.seq, last + 1);
                last = m.seq;
            }
        }
    }
}
