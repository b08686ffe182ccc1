//! The shipped 12345 flows (ivr-flows/): every path walked in virtual time, and the
//! scenarios the requirements name checked one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hotline::ivr::flow::NodeKind;
use hotline::ivr::testing::{played, wall, Sim};
use hotline::ivr::*;

const WORKDAY: &str = "2026-11-23 10:00";
const NIGHT: &str = "2026-11-23 22:00";
const ELDERLY: &str = "13900000001";
const CITIZEN: &str = "13800000000";

fn flows() -> Arc<FlowSet> {
    let (reg, out) = FlowRegistry::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows"));
    assert!(out.refused.is_empty(), "{}", out.report);
    reg.current()
}

fn env() -> Env {
    Env {
        calendar: Arc::new(WeekdayCalendar::default()),
        lists: Arc::new(StaticLists::new().with("elderly", &[ELDERLY])),
    }
}

fn call(when: &str, caller: &str) -> Sim {
    let set = flows();
    let main = set.by_did("12345").expect("12345 routed").name.clone();
    let mut s = Sim::new(set, &main, caller, wall(when), env());
    s.call.enable_trace();
    s
}

/// The inputs a caller or the system could give a call waiting where `s` is.
fn choices(s: &Sim) -> Vec<(String, Input)> {
    let mut v: Vec<(String, Input)> = Vec::new();
    if s.call.is_finished() {
        return v;
    }
    if s.is_playing() {
        v.push(("prompt-finished".into(), Input::PromptFinished { id: 0 }));
        return v;
    }
    let node = s.call.flow().node(s.call.node()).map(|n| n.kind.clone());
    match node {
        Some(NodeKind::Menu {
            options, operator, ..
        }) => {
            for o in &options {
                v.push((format!("key {}", o.key), Input::Digit(o.key)));
            }
            if operator.is_some() {
                v.push(("key 0".into(), Input::Digit('0')));
            }
            v.push(("key *".into(), Input::Digit('*')));
            let unused = ('1'..='9')
                .find(|c| !options.iter().any(|o| o.key == *c))
                .unwrap_or('#');
            v.push(("wrong key".into(), Input::Digit(unused)));
            v.push(("timeout".into(), Input::Timer { token: 0 }));
        }
        Some(NodeKind::Collect { .. }) => {
            v.push(("ticket number".into(), Input::Digit('#')));
            v.push(("timeout".into(), Input::Timer { token: 0 }));
        }
        Some(NodeKind::Survey { .. }) => {
            v.push(("rate 5".into(), Input::Digit('5')));
            v.push(("rate 1".into(), Input::Digit('1')));
            v.push(("wrong key".into(), Input::Digit('9')));
            v.push(("timeout".into(), Input::Timer { token: 0 }));
        }
        Some(NodeKind::Language { options, .. }) => {
            for (k, _, _) in &options {
                v.push((format!("key {k}"), Input::Digit(*k)));
            }
            v.push(("timeout".into(), Input::Timer { token: 0 }));
        }
        Some(NodeKind::Lookup { .. }) => {
            let id = s.lookup_id().unwrap_or(0);
            for st in ["accepted", "dispatched", "processing", "closed", "odd"] {
                v.push((
                    format!("found {st}"),
                    Input::LookupResult {
                        id,
                        outcome: LookupOutcome::Found(vec![
                            ("status".into(), st.into()),
                            (
                                "deadline".into(),
                                if st == "processing" {
                                    String::new()
                                } else {
                                    "2026-12-01".into()
                                },
                            ),
                        ]),
                    },
                ));
            }
            v.push((
                "not found".into(),
                Input::LookupResult {
                    id,
                    outcome: LookupOutcome::NotFound,
                },
            ));
            v.push((
                "lookup failed".into(),
                Input::LookupResult {
                    id,
                    outcome: LookupOutcome::Failed("x".into()),
                },
            ));
            v.push(("timeout".into(), Input::Timer { token: 0 }));
        }
        Some(NodeKind::Queue { .. }) => {
            if s.call.is_with_agent() {
                v.push((
                    "agent hung up".into(),
                    Input::Queue(QueueEvent::AgentHungUp),
                ));
            } else {
                v.push((
                    "answered".into(),
                    Input::Queue(QueueEvent::Answered {
                        agent: "1001".into(),
                    }),
                ));
                v.push((
                    "queue failed".into(),
                    Input::Queue(QueueEvent::Failed {
                        reason: "overflow".into(),
                    }),
                ));
                v.push(("caller hung up".into(), Input::CallerHungUp));
            }
        }
        Some(NodeKind::Message { .. }) => {
            let id = s.recording_id().unwrap_or(0);
            v.push((
                "recorded".into(),
                Input::RecordingFinished {
                    id,
                    recording: "r.wav".into(),
                    duration_ms: 5000,
                },
            ));
            v.push(("caller hung up".into(), Input::CallerHungUp));
        }
        Some(NodeKind::Transfer { .. }) => {
            v.push(("transferred".into(), Input::TransferResult { ok: true }));
            v.push((
                "transfer failed".into(),
                Input::TransferResult { ok: false },
            ));
        }
        _ => {}
    }
    v
}

/// Applies one choice (placeholders for ids and timers are filled in here).
fn apply(s: &mut Sim, label: &str, input: Input) {
    match input {
        Input::PromptFinished { .. } => {
            s.finish_prompt();
        }
        Input::Timer { .. } => {
            s.fire_timer();
        }
        Input::Digit('#') if label == "ticket number" => {
            s.digits("2026112300001#");
        }
        Input::CallerHungUp if s.recording_id().is_some() && label == "caller hung up" => {
            let id = s.recording_id().unwrap_or(0);
            s.send(Input::CallerHungUp);
            s.send(Input::RecordingFinished {
                id,
                recording: "r.wav".into(),
                duration_ms: 1,
            });
        }
        i => {
            s.send(i);
        }
    }
}

struct Walk {
    visited: BTreeSet<(String, String)>,
    transitions: BTreeSet<(String, String, String)>,
    actions: Vec<Action>,
    paths: usize,
    ended: usize,
}

fn walk(s: Sim, depth: usize, w: &mut Walk) {
    assert!(w.paths < 20_000, "path walk does not terminate");
    let opts = choices(&s);
    if opts.is_empty() {
        w.paths += 1;
        assert!(
            s.call.is_finished(),
            "stuck at {}/{} with no possible input",
            s.call.flow().name,
            s.call.node()
        );
        w.ended += 1;
        return;
    }
    if depth == 0 {
        w.paths += 1;
        return;
    }
    for (label, input) in opts {
        let key = (
            s.call.flow().name.clone(),
            format!("{} {}", s.call.node(), s.call.waiting_for()),
            label.clone(),
        );
        let fresh = w.transitions.insert(key);
        // Prompts always end: follow them, but take every other transition once.
        if !fresh && label != "prompt-finished" {
            continue;
        }
        let mut next = s.clone();
        let before = next.log.len();
        apply(&mut next, &label, input);
        for (f, n) in next.call.take_trace() {
            w.visited.insert((f, n));
        }
        w.actions.extend(next.log[before..].iter().cloned());
        walk(next, depth - 1, w);
    }
}

#[test]
fn every_path_of_every_shipped_flow_is_walked_to_an_end() {
    let mut w = Walk {
        visited: BTreeSet::new(),
        transitions: BTreeSet::new(),
        actions: Vec::new(),
        paths: 0,
        ended: 0,
    };
    for (when, caller) in [(WORKDAY, CITIZEN), (NIGHT, CITIZEN), (WORKDAY, ELDERLY)] {
        let mut s = call(when, caller);
        s.start();
        for (f, n) in s.call.take_trace() {
            w.visited.insert((f, n));
        }
        walk(s, 80, &mut w);
    }
    // Every node of every shipped flow was entered on some path.
    let set = flows();
    let mut missing = Vec::new();
    for f in set.flows.values() {
        for id in f.nodes.keys() {
            if !w.visited.contains(&(f.name.clone(), id.clone())) {
                missing.push(format!("{}/{id}", f.name));
            }
        }
    }
    assert!(missing.is_empty(), "never reached: {missing:?}");
    assert!(w.ended > 10, "{} paths ended", w.ended);
    // What the walk produced covers every line and every business action.
    let groups: BTreeMap<String, u8> = w
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Enqueue {
                group, priority, ..
            } => Some((group.clone(), *priority)),
            _ => None,
        })
        .collect();
    for g in [
        "12345-general",
        "12333-pension",
        "12333-employment",
        "medical-insurance",
        "12329-housing-fund",
        "enterprise",
    ] {
        assert!(groups.contains_key(g), "no call reached {g}: {groups:?}");
    }
    assert_eq!(groups["enterprise"], 8);
    let any = |f: &dyn Fn(&Action) -> bool| w.actions.iter().any(f);
    assert!(any(&|a| matches!(
        a,
        Action::RecordSatisfaction { rating: 5, .. }
    )));
    assert!(any(&|a| matches!(a, Action::CreateMessageTicket { .. })));
    assert!(any(&|a| matches!(a, Action::RequestCallback { .. })));
    assert!(any(&|a| matches!(a, Action::Lookup { .. })));
}

#[test]
fn no_input_three_times_in_the_main_menu_reaches_a_human() {
    let mut s = call(WORKDAY, CITIZEN);
    s.start();
    s.finish_prompt(); // welcome
    let t0 = s.now;
    for _ in 0..3 {
        assert_eq!(played(&s.finish_prompt()), Vec::<Vec<String>>::new());
        s.advance(Duration::from_secs(10));
    }
    assert!(s.is_playing());
    assert_eq!(
        played(&s.log).last().unwrap(),
        &vec!["transfer_agent".to_string()]
    );
    let a = s.finish_prompt();
    assert!(matches!(&a[0], Action::Enqueue { group, .. } if group == "12345-general"));
    assert_eq!(s.now - t0, Duration::from_secs(30));
}

#[test]
fn the_enterprise_line_is_queued_with_priority_after_the_key_correction() {
    let mut s = call(WORKDAY, CITIZEN);
    s.start();
    s.finish_prompt();
    let a = s.digit('5');
    assert_eq!(
        played(&a),
        vec![vec![
            "you_chose".to_string(),
            "label_enterprise".into(),
            "star_to_go_back".into()
        ]]
    );
    let a = s.finish_prompt();
    assert!(matches!(&a[0], Action::Enqueue { group, priority: 8, .. } if group == "enterprise"));
}

#[test]
fn ticket_progress_is_read_back_with_its_deadline() {
    let mut s = call(WORKDAY, CITIZEN);
    s.start();
    s.finish_prompt();
    s.digit('6');
    s.digits("2026112300001#");
    let id = s.lookup_id().unwrap();
    assert!(s
        .log
        .iter()
        .any(|a| matches!(a, Action::Lookup { args, .. } if args[0].1 == "2026112300001")));
    let a = s.send(Input::LookupResult {
        id,
        outcome: LookupOutcome::Found(vec![
            ("status".into(), "dispatched".into()),
            ("deadline".into(), "2026-12-01".into()),
        ]),
    });
    let p = played(&a);
    assert_eq!(p[0][0], "ticket_number_is");
    assert_eq!(p[0].len(), 14);
    assert_eq!(
        played(&s.finish_prompt()),
        vec![vec!["ticket_status_dispatched".to_string()]]
    );
    let p = played(&s.finish_prompt());
    assert_eq!(p[0][0], "deadline_is");
    assert!(p[0].contains(&"say/yue".to_string()));
    assert_eq!(
        played(&s.finish_prompt()),
        vec![vec!["ticket_after_menu".to_string()]]
    );
    // `*` goes back to the main menu.
    let a = s.digit('*');
    assert_eq!(played(&a), vec![vec!["main_menu".to_string()]]);
}

#[test]
fn elderly_callers_get_slow_prompts_and_zero_to_a_human() {
    let mut s = call(WORKDAY, ELDERLY);
    s.start();
    let a = s.finish_prompt();
    assert!(matches!(&a[0], Action::Play { rate, .. } if (*rate - 0.7).abs() < 1e-6));
    assert_eq!(played(&a), vec![vec!["elderly_welcome".to_string()]]);
    s.finish_prompt();
    s.digit('0');
    let a = s.finish_prompt();
    assert!(
        matches!(&a[0], Action::Enqueue { group, priority: 5, vars } if group == "12345-general" && vars["elderly"] == "1")
    );
}

#[test]
fn after_hours_callers_leave_a_message_that_becomes_a_ticket() {
    let mut s = call(NIGHT, CITIZEN);
    s.start();
    s.finish_prompt(); // welcome
    assert_eq!(
        played(&s.finish_prompt()),
        vec![vec!["after_hours_menu".to_string()]]
    );
    s.digit('1');
    let a = s.finish_prompt();
    assert!(a.iter().any(|x| matches!(x, Action::StartRecording { .. })));
    let id = s.recording_id().unwrap();
    let a = s.send(Input::RecordingFinished {
        id,
        recording: "m.wav".into(),
        duration_ms: 9000,
    });
    assert!(matches!(&a[0], Action::CreateMessageTicket { caller, .. } if caller == CITIZEN));
}

#[test]
fn the_survey_after_the_agent_stores_the_rating_against_the_ticket() {
    let mut s = call(WORKDAY, CITIZEN);
    s.start();
    s.finish_prompt();
    s.digit('1');
    s.finish_prompt();
    s.send(Input::Queue(QueueEvent::Answered {
        agent: "1001".into(),
    }));
    let a = s.send(Input::Queue(QueueEvent::AgentHungUp));
    assert_eq!(played(&a), vec![vec!["survey_prompt".to_string()]]);
    assert_eq!(s.call.flow().name, "survey");
    let a = s.digit('4');
    assert!(
        matches!(&a[1], Action::RecordSatisfaction { rating: 4, .. }),
        "{a:?}"
    );
}

#[test]
fn slow_prompts_exist_for_the_elderly_branch_and_fall_back_otherwise() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
    let slow = hotline::ivr::check::prompt_file(&dir, "zh-CN", "elderly_menu", 0.7);
    assert!(slow.ends_with("prompts/zh-CN/slow/elderly_menu.wav") && slow.is_file());
    let normal = hotline::ivr::check::prompt_file(&dir, "zh-CN", "elderly_menu", 1.0);
    assert!(normal.ends_with("prompts/zh-CN/elderly_menu.wav") && normal.is_file());
    // No slow copy of the main menu: the normal file is played.
    let fallback = hotline::ivr::check::prompt_file(&dir, "zh-CN", "main_menu", 0.7);
    assert!(fallback.ends_with("prompts/zh-CN/main_menu.wav"));
    // Every prompt the elderly and survey flows play has a slow copy.
    let set = flows();
    for name in ["elderly", "survey"] {
        for n in set.get(name).unwrap().nodes.values() {
            if let NodeKind::Play { prompts, .. }
            | NodeKind::Menu { prompts, .. }
            | NodeKind::Survey { prompts, .. }
            | NodeKind::Message { prompts, .. }
            | NodeKind::Hangup { prompts } = &n.kind
            {
                for p in prompts {
                    if let hotline::ivr::flow::Prompt::File(f) = p {
                        assert!(
                            dir.join("prompts/zh-CN/slow")
                                .join(format!("{f}.wav"))
                                .is_file(),
                            "{name}/{}: {f}",
                            n.id
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn prompt_files_are_8khz_mono_16bit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts/zh-CN");
    for name in ["welcome", "main_menu", "say/0", "slow/elderly_menu"] {
        let r = hound::WavReader::open(dir.join(format!("{name}.wav"))).unwrap();
        let spec = r.spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (8000, 1, 16),
            "{name}"
        );
        assert!(r.duration() > 800, "{name} is too short to be speech");
    }
}
