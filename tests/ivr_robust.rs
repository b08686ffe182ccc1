//! Bad input never panics or hangs: arbitrary flow text through the loader and validator,
//! and arbitrary event sequences through the interpreter on the shipped flows.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hotline::ivr::check::check_flow;
use hotline::ivr::load::load_flow;
use hotline::ivr::testing::{wall, Sim};
use hotline::ivr::*;
use proptest::prelude::*;

const MAIN: &str = include_str!("../ivr-flows/main.toml");

fn shipped() -> Arc<FlowSet> {
    static SET: std::sync::OnceLock<Arc<FlowSet>> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let (reg, out) =
            FlowRegistry::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows"));
        assert!(out.refused.is_empty());
        reg.current()
    })
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn any_text_loads_or_fails_with_positions(text in "\\PC{0,400}") {
        let l = load_flow(Path::new("x.toml"), &text);
        for d in &l.diags {
            prop_assert!(d.span.start <= text.len());
        }
        if let Some(f) = &l.flow {
            let _ = check_flow(f, &l.declared, &Default::default());
        }
    }

    #[test]
    fn mutilated_shipped_flow_never_panics(cut in 0usize..MAIN.len(), insert in "[\\[\\]\"={}a-z0-9 \\n.,#*]{0,12}") {
        let mut text = MAIN.to_string();
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        text.insert_str(at, &insert);
        let l = load_flow(Path::new("ivr-flows/main.toml"), &text);
        if let Some(f) = &l.flow {
            let names = ["elderly".to_string(), "survey".to_string()].into_iter().collect();
            let _ = check_flow(f, &l.declared, &names);
        }
    }

    #[test]
    fn random_events_never_panic_and_calls_stay_bounded(events in proptest::collection::vec(0u8..16, 0..120)) {
        let env = Env { calendar: Arc::new(WeekdayCalendar::default()), lists: Arc::new(StaticLists::new()) };
        let mut s = Sim::new(shipped(), "main", "13800000000", wall("2026-11-23 10:00"), env);
        s.start();
        for e in events {
            match e {
                0..=9 => { s.digit((b'0' + e) as char); }
                10 => { s.digit('*'); }
                11 => { s.digit('#'); }
                12 => { s.finish_prompt(); }
                13 => { s.advance(Duration::from_secs(11)); }
                14 => {
                    let id = s.lookup_id().unwrap_or(0);
                    s.send(Input::LookupResult { id, outcome: LookupOutcome::Found(vec![("status".into(), "closed".into())]) });
                }
                _ => { s.send(Input::Queue(QueueEvent::Answered { agent: "1".into() })); s.send(Input::Queue(QueueEvent::AgentHungUp)); }
            }
            prop_assert!(s.call.vars().len() <= hotline::ivr::interp::MAX_VARS);
        }
        // Whatever happened, a hang-up ends it.
        s.send(Input::CallerHungUp);
        if let Some(id) = s.recording_id() {
            s.send(Input::RecordingFinished { id, recording: "r".into(), duration_ms: 1 });
        }
        prop_assert!(s.call.is_finished());
    }
}
