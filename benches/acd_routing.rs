//! The routing decision with 1,000 agents in 100 groups (aim: under 50 µs).
//!
//! One iteration is a call arriving and being offered to an agent (strategy scan over the group's
//! ready members, priority across queues), then abandoned while ringing so the agent is ready again:
//! two `handle` calls and their actions, an upper bound of one routing decision.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hotline::acd::event::{Event, IncomingCall};
use hotline::acd::{Acd, AcdConfig, AgentCommand, AgentProfile, GroupConfig, Strategy};

fn centre(strategy: Strategy) -> Acd {
    let groups = (0..100)
        .map(|g| GroupConfig::new(format!("g{g}"), format!("group {g}")).strategy(strategy))
        .collect();
    let mut acd = Acd::new(AcdConfig {
        groups,
        ..AcdConfig::default()
    })
    .unwrap();
    for a in 0..1000 {
        let mut p = AgentProfile::new(format!("{a}"), format!("agent {a}"));
        for k in 0..3 {
            p = p.in_group(format!("g{}", (a + k * 37) % 100), (a % 5) as u8 + 1);
        }
        acd.add_agent(p).unwrap();
        let no = format!("{a}");
        acd.handle(
            Event::Agent {
                agent_no: no.clone(),
                cmd: AgentCommand::Login {
                    session: a,
                    endpoint: None,
                },
            },
            0,
        )
        .unwrap();
        // half the centre is ready, half not ready
        if a % 2 == 0 {
            acd.handle(
                Event::Agent {
                    agent_no: no,
                    cmd: AgentCommand::SetReady,
                },
                0,
            )
            .unwrap();
        }
    }
    while acd.poll().is_some() {}
    acd
}

fn routing(c: &mut Criterion) {
    for strategy in [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::SkillTiers,
    ] {
        let mut acd = centre(strategy);
        let mut n = 0u64;
        let mut now = 1_000u64;
        c.bench_function(
            &format!("acd_route_1000_agents_100_groups_{strategy:?}"),
            |b| {
                b.iter(|| {
                    n += 1;
                    now += 1;
                    let call = format!("c{n}");
                    acd.handle(
                        Event::CallArrived(IncomingCall {
                            call: call.clone(),
                            caller: "13800000000".into(),
                            did: "12345".into(),
                            group: Some(format!("g{}", n % 100)),
                            ..Default::default()
                        }),
                        now,
                    )
                    .unwrap();
                    acd.handle(Event::CallEnded { call }, now).unwrap();
                    while let Some(a) = acd.poll() {
                        black_box(a);
                    }
                })
            },
        );
    }
}

criterion_group!(benches, routing);
criterion_main!(benches);
