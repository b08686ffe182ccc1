//! IVR interpreter benches: the core's share of "last digit → first packet of the next
//! prompt" (handle a digit, produce the Play action), and the cost of running many calls.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hotline::ivr::testing::{wall, Sim};
use hotline::ivr::*;

fn setup() -> (Arc<FlowSet>, Env) {
    let (reg, out) = FlowRegistry::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows"));
    assert!(out.refused.is_empty(), "{}", out.report);
    let env = Env {
        calendar: Arc::new(WeekdayCalendar::default()),
        lists: Arc::new(StaticLists::new()),
    };
    (reg.current(), env)
}

fn at_main_menu(set: &Arc<FlowSet>, env: &Env) -> Sim {
    let mut s = Sim::new(
        set.clone(),
        "main",
        "13800000000",
        wall("2026-11-23 10:00"),
        env.clone(),
    );
    s.start();
    s.finish_prompt();
    s.finish_prompt();
    s
}

fn digit_to_prompt(c: &mut Criterion) {
    let (set, env) = setup();
    let base = at_main_menu(&set, &env);
    c.bench_function(
        "ivr: menu digit → Play action (key 2 → social sub-menu)",
        |b| {
            b.iter_batched(
                || base.call.clone(),
                |mut call| {
                    call.handle(Input::Digit('2'), Instant::now());
                    let mut n = 0;
                    while let Some(a) = call.poll() {
                        n += matches!(a, Action::Play { .. }) as u32;
                        black_box(a);
                    }
                    n
                },
                criterion::BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("ivr: ticket number → Lookup action", |b| {
        let mut s = base.clone();
        s.digit('6');
        s.finish_prompt();
        s.digits("202611230000");
        b.iter_batched(
            || s.call.clone(),
            |mut call| {
                call.handle(Input::Digit('#'), Instant::now());
                while let Some(a) = call.poll() {
                    black_box(a);
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

fn many_calls(c: &mut Criterion) {
    let (set, env) = setup();
    c.bench_function(
        "ivr: 1000 calls welcome → menu → key 1 → queue",
        |b| {
            b.iter(|| {
                let mut calls: Vec<Sim> = (0..1000)
                    .map(|i| {
                        Sim::new(
                            set.clone(),
                            "main",
                            &format!("138{i:08}"),
                            wall("2026-11-23 10:00"),
                            env.clone(),
                        )
                    })
                    .collect();
                for s in &mut calls {
                    s.start();
                    s.finish_prompt();
                    s.finish_prompt();
                    s.digit('1');
                    s.finish_prompt();
                }
                black_box(calls.len())
            })
        },
    );
}

criterion_group!(benches, digit_to_prompt, many_calls);
criterion_main!(benches);
