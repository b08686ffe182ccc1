//! Interpreter tests in virtual time, one or more per node kind.

use std::sync::Arc;
use std::time::Duration;

use hotline::ivr::interp::MAX_STEPS;
use hotline::ivr::testing::{flow_set, played, wall, Sim, EPS};
use hotline::ivr::*;

fn env() -> Env {
    Env {
        calendar: Arc::new(WeekdayCalendar::default()),
        lists: Arc::new(StaticLists::new().with("elderly", &["13900000001"])),
    }
}

const MONDAY_10: &str = "2026-11-23 10:00";

fn sim(text: &str) -> Sim {
    sim_at(text, MONDAY_10, "13800000000")
}

fn sim_at(text: &str, when: &str, caller: &str) -> Sim {
    let set = flow_set(&[("t.toml", text)]);
    Sim::new(set, "t", caller, wall(when), env())
}

fn has(actions: &[Action], f: impl Fn(&Action) -> bool) -> bool {
    actions.iter().any(f)
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const MENU: &str = r#"
[flow]
start = "welcome"
[nodes.welcome]
kind = "play"
prompt = "welcome"
next = "main"
[nodes.main]
kind = "menu"
prompt = "main_menu"
timeout = 10
tries = 3
operator = "human"
no_input = "human"
invalid = "bad"
[nodes.main.options]
"1" = { goto = "general", label = "label_general" }
"2" = "sub"
[nodes.sub]
kind = "menu"
prompt = "sub_menu"
no_input = "human"
[nodes.sub.options]
"1" = "general"
[nodes.general]
kind = "queue"
group = "general"
fail = "bye"
[nodes.human]
kind = "queue"
group = "human"
priority = 3
fail = "bye"
[nodes.bad]
kind = "hangup"
prompt = "sorry"
[nodes.bye]
kind = "hangup"
"#;

#[test]
fn play_waits_for_the_prompt_then_moves_on() {
    let mut s = sim(MENU);
    let a = s.start();
    assert_eq!(played(&a), vec![names(&["welcome"])]);
    assert!(matches!(a[0], Action::Play { rate, barge_in: false, .. } if rate == 1.0));
    // Nothing happens however long the prompt takes.
    assert!(s.advance(Duration::from_secs(600)).is_empty());
    let a = s.finish_prompt();
    assert_eq!(played(&a), vec![names(&["main_menu"])]);
    assert_eq!(s.call.node(), "main");
}

#[test]
fn menu_no_input_three_times_ten_seconds_apart_goes_to_a_human() {
    let mut s = sim(MENU);
    s.start();
    s.finish_prompt();
    let t0 = s.now;
    let mut menu_plays = 1;
    loop {
        let a = s.finish_prompt();
        assert!(has(&a, |x| matches!(x, Action::SetTimer { .. })));
        // Not a millisecond early.
        assert!(s.advance(Duration::from_millis(10_000) - EPS).is_empty());
        let a = s.advance(EPS);
        if has(&a, |x| matches!(x, Action::Enqueue { .. })) {
            assert!(has(
                &a,
                |x| matches!(x, Action::Enqueue { group, priority: 3, .. } if group == "human")
            ));
            break;
        }
        assert_eq!(
            played(&a),
            vec![names(&["main_menu"])],
            "no-input replays the menu"
        );
        menu_plays += 1;
        assert!(menu_plays <= 3);
    }
    assert_eq!(menu_plays, 3);
    assert_eq!(s.now - t0, Duration::from_secs(30));
}

#[test]
fn menu_option_with_label_says_what_was_chosen_and_star_goes_back() {
    let mut s = sim(MENU);
    s.start();
    s.finish_prompt();
    let a = s.digit('1');
    assert!(
        matches!(a[0], Action::StopPlayback { .. }),
        "barge-in stops the menu prompt"
    );
    assert_eq!(
        played(&a),
        vec![names(&["you_chose", "label_general", "star_to_go_back"])]
    );
    // `*` during the correction prompt returns to the menu.
    let a = s.digit('*');
    assert!(matches!(a[0], Action::StopPlayback { .. }));
    assert_eq!(played(&a), vec![names(&["main_menu"])]);
    assert_eq!(s.call.node(), "main");
    // Choosing again and letting the correction finish goes on to the queue.
    s.digit('1');
    let a = s.finish_prompt();
    assert!(has(
        &a,
        |x| matches!(x, Action::Enqueue { group, .. } if group == "general")
    ));
}

#[test]
fn star_in_a_submenu_returns_to_the_parent_menu() {
    let mut s = sim(MENU);
    s.start();
    s.finish_prompt();
    let a = s.digit('2');
    assert_eq!(played(&a), vec![names(&["sub_menu"])]);
    let a = s.digit('*');
    assert_eq!(played(&a), vec![names(&["main_menu"])]);
    assert_eq!(s.call.node(), "main");
    // `*` at the top menu (nothing to go back to) replays it.
    let a = s.digit('*');
    assert_eq!(played(&a), vec![names(&["main_menu"])]);
}

#[test]
fn menu_wrong_key_plays_the_error_then_the_menu_and_gives_up_after_tries() {
    let mut s = sim(MENU);
    s.start();
    s.finish_prompt();
    let a = s.digit('7');
    assert_eq!(played(&a), vec![names(&["invalid_key", "main_menu"])]);
    let a = s.digit('8');
    assert_eq!(played(&a), vec![names(&["invalid_key", "main_menu"])]);
    let a = s.digit('#');
    assert_eq!(
        played(&a),
        vec![names(&["sorry"])],
        "third wrong key → `invalid` target"
    );
    let a = s.finish_prompt();
    assert_eq!(a, vec![Action::Hangup]);
    assert!(s.call.is_finished());
}

#[test]
fn menu_zero_goes_to_the_operator() {
    let mut s = sim(MENU);
    s.start();
    s.finish_prompt();
    let a = s.digit('0');
    assert!(has(
        &a,
        |x| matches!(x, Action::Enqueue { group, .. } if group == "human")
    ));
}

#[test]
fn digits_typed_during_a_prompt_are_kept_for_the_next_menu() {
    let mut s = sim(MENU);
    s.start();
    assert!(
        s.digit('2').is_empty(),
        "the welcome prompt is not interrupted"
    );
    s.digit('1');
    let a = s.finish_prompt();
    // "2" chose the sub-menu at once, "1" its first option.
    assert!(played(&a).is_empty());
    assert!(has(
        &a,
        |x| matches!(x, Action::Enqueue { group, .. } if group == "general")
    ));
}

const COLLECT: &str = r#"
[flow]
start = "c"
[nodes.c]
kind = "collect"
prompt = "enter"
var = "no"
min = 3
max = 6
first_timeout = 8
inter_digit_timeout = 4
tries = 2
next = "say"
fail = "failed"
[nodes.say]
kind = "say"
digits = "{no}"
next = "end"
[nodes.failed]
kind = "hangup"
prompt = "failed"
[nodes.end]
kind = "hangup"
"#;

#[test]
fn collect_ends_on_the_terminator() {
    let mut s = sim(COLLECT);
    s.start();
    s.digit('1');
    s.digit('2');
    s.digit('3');
    let a = s.digit('#');
    assert_eq!(s.call.vars()["no"], "123");
    assert_eq!(played(&a), vec![names(&["say/1", "say/2", "say/3"])]);
}

#[test]
fn collect_ends_at_max_length_and_after_the_inter_digit_timeout() {
    let mut s = sim(COLLECT);
    s.start();
    s.digits("123456");
    assert_eq!(s.call.vars()["no"], "123456");

    let mut s = sim(COLLECT);
    s.start();
    s.finish_prompt();
    s.digits("1234");
    assert!(s.advance(Duration::from_millis(4000) - EPS).is_empty());
    s.advance(EPS);
    assert_eq!(s.call.vars()["no"], "1234");
}

#[test]
fn collect_too_short_retries_then_fails() {
    let mut s = sim(COLLECT);
    s.start();
    s.digits("12#");
    assert!(!s.call.vars().contains_key("no"));
    // The error prompt, then the prompt again.
    assert_eq!(
        played(&s.log).last().unwrap(),
        &names(&["invalid_key", "enter"])
    );
    s.finish_prompt();
    // No digits at all: waits first_timeout, then tries are used up.
    assert!(s.advance(Duration::from_millis(8000) - EPS).is_empty());
    let a = s.advance(EPS);
    assert_eq!(played(&a), vec![names(&["failed"])]);
}

#[test]
fn collect_star_clears_or_means_x() {
    let mut s = sim(COLLECT);
    s.start();
    s.digits("99*123#");
    assert_eq!(s.call.vars()["no"], "123");

    let id_flow = COLLECT.replace("tries = 2", "tries = 2\nstar = \"X\"\nterminator = \"\"");
    let mut s = sim(&id_flow);
    s.start();
    s.digits("12345*");
    assert_eq!(s.call.vars()["no"], "12345X");
}

const BRANCH: &str = r#"
[flow]
start = "s"
[nodes.s]
kind = "set"
vars = { kind = "vip-{caller}" }
next = "b"
[nodes.b]
kind = "branch"
cases = [
  { caller_in = "elderly", goto = "elderly" },
  { working_time = false, goto = "closed" },
  { var = "kind", prefix = "vip-139", goto = "vip" },
  { time = "12:00-13:30", days = ["mon-fri"], goto = "lunch" },
]
else = "open"
[nodes.elderly]
kind = "hangup"
prompt = "elderly"
[nodes.closed]
kind = "hangup"
prompt = "closed"
[nodes.vip]
kind = "hangup"
prompt = "vip"
[nodes.lunch]
kind = "hangup"
prompt = "lunch"
[nodes.open]
kind = "hangup"
prompt = "open"
"#;

fn branch_to(when: &str, caller: &str) -> Vec<String> {
    let mut s = sim_at(BRANCH, when, caller);
    let a = s.start();
    played(&a).into_iter().next().unwrap_or_default()
}

#[test]
fn branch_on_lists_calendar_variables_and_time_of_day() {
    assert_eq!(branch_to(MONDAY_10, "13900000001"), names(&["elderly"]));
    assert_eq!(
        branch_to("2026-11-22 10:00", "13800000000"),
        names(&["closed"]),
        "Sunday"
    );
    assert_eq!(
        branch_to("2026-11-23 20:00", "13800000000"),
        names(&["closed"]),
        "evening"
    );
    assert_eq!(branch_to(MONDAY_10, "13912345678"), names(&["vip"]));
    assert_eq!(
        branch_to("2026-11-23 12:30", "13800000000"),
        names(&["lunch"])
    );
    assert_eq!(
        branch_to("2026-11-23 13:30", "13800000000"),
        names(&["open"])
    );
    assert_eq!(branch_to(MONDAY_10, "13800000000"), names(&["open"]));
}

#[test]
fn branch_time_uses_the_time_passed_in() {
    // Called at 11:59:59; the branch runs after a 1 s prompt, at 12:00:00.
    let text = BRANCH.replace("start = \"s\"", "start = \"p\"")
        + "[nodes.p]\nkind = \"play\"\nprompt = \"x\"\nnext = \"s\"\n";
    let set = flow_set(&[("t.toml", &text)]);
    let start =
        chrono::NaiveDateTime::parse_from_str("2026-11-23 11:59:59", "%Y-%m-%d %H:%M:%S").unwrap();
    let mut s = Sim::new(set, "t", "13800000000", start, env());
    s.start();
    s.now += Duration::from_secs(1);
    let a = s.finish_prompt();
    assert_eq!(played(&a), vec![names(&["lunch"])]);
}

#[test]
fn set_changes_variables_rate_and_language() {
    let text = r#"
[flow]
start = "s"
languages = ["en"]
[nodes.s]
kind = "set"
vars = { greeting = "hello {caller}" }
rate = 0.7
language = "en"
next = "p"
[nodes.p]
kind = "play"
prompt = "welcome"
text = "{greeting}"
next = "h"
[nodes.h]
kind = "hangup"
"#;
    let mut s = sim(text);
    let a = s.start();
    match &a[0] {
        Action::Play { prompts, rate, .. } => {
            assert!((rate - 0.7).abs() < 1e-6);
            assert_eq!(
                prompts,
                &vec![
                    PromptRef::File {
                        language: "en".into(),
                        name: "welcome".into()
                    },
                    PromptRef::Tts {
                        language: "en".into(),
                        text: "hello 13800000000".into()
                    },
                ]
            );
        }
        x => panic!("{x:?}"),
    }
}

const LOOKUP: &str = r#"
[flow]
start = "l"
[nodes.l]
kind = "lookup"
source = "ticket_status"
args = { no = "{caller}" }
timeout = 3
result = "t"
next = "found"
not_found = "nf"
error = "err"
[nodes.found]
kind = "hangup"
text = "status {t.status}"
[nodes.nf]
kind = "hangup"
prompt = "nf"
[nodes.err]
kind = "hangup"
prompt = "err"
"#;

#[test]
fn lookup_found_not_found_failed_and_timed_out() {
    let mut s = sim(LOOKUP);
    let a = s.start();
    assert!(has(
        &a,
        |x| matches!(x, Action::Lookup { source: hotline::ivr::flow::LookupSource::Internal(n), args, timeout_ms: 3000, .. }
        if n == "ticket_status" && args == &vec![("no".to_string(), "13800000000".to_string())])
    ));
    let id = s.lookup_id().unwrap();
    let a = s.send(Input::LookupResult {
        id,
        outcome: LookupOutcome::Found(vec![("status".into(), "closed".into())]),
    });
    assert_eq!(played(&a), vec![names(&["tts:status closed"])]);
    assert_eq!(s.call.vars()["t.status"], "closed");

    let mut s = sim(LOOKUP);
    s.start();
    let id = s.lookup_id().unwrap();
    let a = s.send(Input::LookupResult {
        id,
        outcome: LookupOutcome::NotFound,
    });
    assert_eq!(played(&a), vec![names(&["nf"])]);

    let mut s = sim(LOOKUP);
    s.start();
    let id = s.lookup_id().unwrap();
    let a = s.send(Input::LookupResult {
        id,
        outcome: LookupOutcome::Failed("503".into()),
    });
    assert_eq!(played(&a), vec![names(&["err"])]);

    let mut s = sim(LOOKUP);
    s.start();
    let id = s.lookup_id().unwrap();
    assert!(s.advance(Duration::from_millis(3000) - EPS).is_empty());
    let a = s.advance(EPS);
    assert_eq!(played(&a), vec![names(&["err"])]);
    // The late answer is ignored.
    let a = s.send(Input::LookupResult {
        id,
        outcome: LookupOutcome::NotFound,
    });
    assert!(a.is_empty());
    assert_eq!(s.call.node(), "err");
}

const QUEUE: &str = r#"
[flow]
start = "q"
[nodes.q]
kind = "queue"
group = "enterprise"
priority = 8
after = "survey"
fail = "sorry"
[nodes.survey]
kind = "survey"
prompt = "rate"
tries = 2
timeout = 5
next = "thanks"
fail = "bye"
[nodes.thanks]
kind = "hangup"
prompt = "thanks"
[nodes.bye]
kind = "hangup"
[nodes.sorry]
kind = "hangup"
prompt = "sorry"
"#;

#[test]
fn queue_then_post_call_survey_stores_the_rating_with_the_ticket() {
    let mut s = sim(QUEUE);
    let a = s.start();
    match &a[0] {
        Action::Enqueue {
            group,
            priority,
            vars,
        } => {
            assert_eq!((group.as_str(), *priority), ("enterprise", 8));
            assert_eq!(vars["caller"], "13800000000");
        }
        x => panic!("{x:?}"),
    }
    s.send(Input::Queue(QueueEvent::Answered {
        agent: "1001".into(),
    }));
    assert!(s.call.is_with_agent());
    // Keys pressed while talking to the agent do nothing.
    assert!(s.digit('5').is_empty());
    let a = s.send(Input::Queue(QueueEvent::AgentHungUp));
    assert_eq!(played(&a), vec![names(&["rate"])]);
    s.call.handle(Input::Start, s.now); // a stray Start is ignored
    let a = s.digit('9');
    assert_eq!(played(&a), vec![names(&["invalid_key", "rate"])]);
    let a = s.digit('4');
    assert!(has(
        &a,
        |x| matches!(x, Action::RecordSatisfaction { rating: 4, scale: 5, call_id, ticket: None } if call_id == "call-1")
    ));
    assert_eq!(played(&a), vec![names(&["thanks"])]);
}

#[test]
fn survey_with_no_answer_ends_without_a_rating() {
    let mut s = sim(QUEUE);
    s.start();
    s.send(Input::Queue(QueueEvent::Answered {
        agent: "1001".into(),
    }));
    s.send(Input::Queue(QueueEvent::AgentHungUp));
    s.finish_prompt();
    s.advance(Duration::from_secs(5));
    s.finish_prompt();
    let a = s.advance(Duration::from_secs(5));
    assert_eq!(a, vec![Action::Hangup]);
    assert!(!has(&s.log, |x| matches!(
        x,
        Action::RecordSatisfaction { .. }
    )));
}

#[test]
fn queue_failure_goes_to_fail_and_agent_hangup_before_answer_is_ignored() {
    let mut s = sim(QUEUE);
    s.start();
    assert!(s.send(Input::Queue(QueueEvent::AgentHungUp)).is_empty());
    let a = s.send(Input::Queue(QueueEvent::Failed {
        reason: "overflow".into(),
    }));
    assert_eq!(played(&a), vec![names(&["sorry"])]);
    assert_eq!(s.call.vars()["queue_failure"], "overflow");
}

#[test]
fn transfer_success_ends_the_ivr_and_failure_goes_on() {
    let text = r#"
[flow]
start = "t"
[nodes.t]
kind = "transfer"
number = "110"
fail = "f"
[nodes.f]
kind = "hangup"
prompt = "f"
"#;
    let mut s = sim(text);
    let a = s.start();
    assert_eq!(
        a,
        vec![Action::Transfer {
            to: hotline::ivr::flow::TransferTo::External("110".into())
        }]
    );
    let a = s.send(Input::TransferResult { ok: false });
    assert_eq!(played(&a), vec![names(&["f"])]);

    let mut s = sim(text);
    s.start();
    assert!(s.send(Input::TransferResult { ok: true }).is_empty());
    assert!(s.call.is_finished());
}

const MESSAGE: &str = r#"
[flow]
start = "m"
[nodes.m]
kind = "message"
prompt = "leave"
max_seconds = 60
next = "t"
[nodes.t]
kind = "hangup"
prompt = "thanks"
"#;

#[test]
fn message_records_after_the_prompt_and_becomes_a_ticket() {
    let mut s = sim(MESSAGE);
    s.start();
    let a = s.finish_prompt();
    assert!(has(&a, |x| matches!(
        x,
        Action::StartRecording {
            max_ms: 60_000,
            beep: true,
            ..
        }
    )));
    let id = s.recording_id().unwrap();
    let a = s.digit('#');
    assert_eq!(a, vec![Action::StopRecording { id }]);
    let a = s.send(Input::RecordingFinished {
        id,
        recording: "rec/1.wav".into(),
        duration_ms: 4200,
    });
    assert!(has(
        &a,
        |x| matches!(x, Action::CreateMessageTicket { recording, caller, duration_ms: 4200, .. }
        if recording == "rec/1.wav" && caller == "13800000000")
    ));
    assert_eq!(played(&a), vec![names(&["thanks"])]);
}

#[test]
fn message_stops_at_its_limit_and_survives_a_hangup() {
    let mut s = sim(MESSAGE);
    s.start();
    s.finish_prompt();
    let id = s.recording_id().unwrap();
    let a = s.advance(Duration::from_secs(60));
    assert_eq!(a, vec![Action::StopRecording { id }]);

    let mut s = sim(MESSAGE);
    s.start();
    s.finish_prompt();
    let id = s.recording_id().unwrap();
    let a = s.send(Input::CallerHungUp);
    assert_eq!(a, vec![Action::StopRecording { id }]);
    let a = s.send(Input::RecordingFinished {
        id,
        recording: "r.wav".into(),
        duration_ms: 10,
    });
    assert!(matches!(a.as_slice(), [Action::CreateMessageTicket { .. }]));
    assert!(s.call.is_finished());
}

#[test]
fn callback_request_carries_the_number() {
    let text = r#"
[flow]
start = "c"
[nodes.c]
kind = "callback"
next = "h"
[nodes.h]
kind = "hangup"
"#;
    let mut s = sim(text);
    let a = s.start();
    assert!(matches!(&a[0], Action::RequestCallback { number, .. } if number == "13800000000"));
    assert_eq!(a.last(), Some(&Action::Hangup));
}

#[test]
fn say_numbers_digits_and_dates() {
    let text = r#"
[flow]
start = "s"
[nodes.s]
kind = "set"
vars = { n = "10010", d = "2026-11-22", bad = "abc" }
next = "n"
[nodes.n]
kind = "say"
number = "{n}"
before = "amount"
next = "d"
[nodes.d]
kind = "say"
date = "{d}"
next = "bad"
[nodes.bad]
kind = "say"
number = "{bad}"
next = "h"
[nodes.h]
kind = "hangup"
"#;
    let mut s = sim(text);
    let a = s.start();
    assert_eq!(
        played(&a),
        vec![names(&[
            "amount", "say/1", "say/wan", "say/0", "say/1", "say/shi"
        ])]
    );
    let a = s.finish_prompt();
    assert_eq!(
        played(&a),
        vec![names(&[
            "say/2", "say/0", "say/2", "say/6", "say/nian", "say/shi", "say/1", "say/yue", "say/2",
            "say/shi", "say/2", "say/ri"
        ])]
    );
    // A value that cannot be read is skipped, not a crash.
    let a = s.finish_prompt();
    assert_eq!(a, vec![Action::Hangup]);
}

#[test]
fn language_selection_changes_the_prompt_folder() {
    let text = r#"
[flow]
start = "l"
languages = ["en"]
[nodes.l]
kind = "language"
prompt = "choose"
options = { "1" = "zh-CN", "2" = "en" }
next = "p"
[nodes.p]
kind = "hangup"
prompt = "bye"
"#;
    let mut s = sim(text);
    s.start();
    let a = s.digit('2');
    assert!(has(
        &a,
        |x| matches!(x, Action::Play { prompts, .. } if prompts == &vec![PromptRef::File { language: "en".into(), name: "bye".into() }])
    ));
    assert_eq!(s.call.language(), "en");

    let mut s = sim(text);
    s.start();
    s.finish_prompt();
    let a = s.advance(Duration::from_secs(5));
    assert!(has(
        &a,
        |x| matches!(x, Action::Play { prompts, .. } if prompts == &vec![PromptRef::File { language: "zh-CN".into(), name: "bye".into() }])
    ));
}

#[test]
fn goto_subflow_and_return() {
    let main = r#"
[flow]
name = "main"
start = "g"
[nodes.g]
kind = "goto"
target = "sub"
[nodes.sub]
kind = "subflow"
flow = "child"
next = "after"
[nodes.after]
kind = "hangup"
prompt = "back"
"#;
    let child = r#"
[flow]
name = "child"
start = "p"
[nodes.p]
kind = "play"
prompt = "inside"
next = "r"
[nodes.r]
kind = "return"
"#;
    let set = flow_set(&[("main.toml", main), ("child.toml", child)]);
    let mut s = Sim::new(set, "main", "1", wall(MONDAY_10), env());
    let a = s.start();
    assert_eq!(played(&a), vec![names(&["inside"])]);
    assert_eq!(s.call.flow().name, "child");
    let a = s.finish_prompt();
    assert_eq!(played(&a), vec![names(&["back"])]);
    assert_eq!(s.call.flow().name, "main");
}

#[test]
fn a_call_keeps_the_flow_version_it_started_with() {
    let v1 = flow_set(&[("t.toml", MENU)]);
    let mut s = Sim::new(v1, "t", "1", wall(MONDAY_10), env());
    s.start();
    // A reload publishes a new set where the menu prompt changed.
    let changed = MENU.replace("prompt = \"main_menu\"", "prompt = \"new_menu\"");
    let v2 = flow_set(&[("t.toml", &changed)]);
    let mut s2 = Sim::new(v2, "t", "2", wall(MONDAY_10), env());
    s2.start();
    assert_eq!(played(&s.finish_prompt()), vec![names(&["main_menu"])]);
    assert_eq!(played(&s2.finish_prompt()), vec![names(&["new_menu"])]);
}

#[test]
fn a_loop_that_never_waits_is_cut_off() {
    let text = r#"
[flow]
start = "a"
[nodes.a]
kind = "goto"
target = "b"
[nodes.b]
kind = "set"
vars = { x = "1" }
next = "a"
"#;
    let mut s = sim(text);
    s.call.enable_trace();
    let a = s.start();
    assert_eq!(a, vec![Action::Hangup]);
    assert!(s.call.is_finished());
    assert_eq!(s.call.take_trace().len(), MAX_STEPS as usize);
}

#[test]
fn hangup_ends_the_call_and_later_inputs_are_ignored() {
    let mut s = sim(MENU);
    s.start();
    s.finish_prompt();
    assert!(s.send(Input::CallerHungUp).is_empty());
    assert!(s.call.is_finished());
    assert_eq!(s.call.poll_timeout(), None);
    assert!(s.digit('1').is_empty());
    assert!(s.fire_timer().is_empty());
}

#[test]
fn non_dtmf_keys_and_stale_events_are_ignored() {
    let mut s = sim(MENU);
    s.start();
    s.finish_prompt();
    assert!(s.digit('A').is_empty());
    assert!(s.send(Input::PromptFinished { id: 999 }).is_empty());
    assert!(s.send(Input::Timer { token: 999 }).is_empty());
    assert!(s
        .send(Input::RecordingFinished {
            id: 5,
            recording: "x".into(),
            duration_ms: 1
        })
        .is_empty());
    assert_eq!(s.call.node(), "main");
}

#[test]
fn the_rating_is_stored_against_the_ticket_the_call_got_while_with_the_agent() {
    let mut s = sim(QUEUE);
    s.start();
    s.send(Input::Queue(QueueEvent::Answered {
        agent: "1001".into(),
    }));
    s.send(Input::SetVars(vec![(
        "ticket_id".into(),
        "T20261123-0001".into(),
    )]));
    s.send(Input::Queue(QueueEvent::AgentHungUp));
    let a = s.digit('5');
    assert!(has(
        &a,
        |x| matches!(x, Action::RecordSatisfaction { rating: 5, ticket: Some(t), .. } if t == "T20261123-0001")
    ));
}

#[test]
fn star_in_a_subflow_menu_does_not_jump_back_into_the_parent_flow() {
    let main = r#"
[flow]
name = "main"
start = "m"
[nodes.m]
kind = "menu"
prompt = "main_menu"
no_input = "h"
options = { "1" = "sub" }
[nodes.sub]
kind = "subflow"
flow = "child"
next = "m"
[nodes.h]
kind = "hangup"
"#;
    let child = r#"
[flow]
name = "child"
start = "cm"
[nodes.cm]
kind = "menu"
prompt = "child_menu"
no_input = "r"
options = { "1" = "r" }
[nodes.r]
kind = "return"
"#;
    let set = flow_set(&[("main.toml", main), ("child.toml", child)]);
    let mut s = Sim::new(set, "main", "1", wall(MONDAY_10), env());
    s.start();
    s.digit('1');
    assert_eq!(s.call.flow().name, "child");
    // `*` replays the child's menu instead of leaving the sub-flow.
    let a = s.digit('*');
    assert_eq!(played(&a), vec![names(&["child_menu"])]);
    assert_eq!(s.call.flow().name, "child");
    // Returning restores the parent's back-stack: `*` there works as before.
    let a = s.digit('1');
    assert_eq!(played(&a), vec![names(&["main_menu"])]);
    assert_eq!(s.call.flow().name, "main");
}
