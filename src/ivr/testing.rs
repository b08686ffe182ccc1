//! A virtual-time driver for [`IvrCall`]: plays the part of the media shell (prompts end
//! when told, timers fire when time is advanced) so tests and benches can walk flows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::interp::{Action, CallInfo, Env, FlowSet, Input, IvrCall, PromptRef};
use super::load::load_flow;
use super::report::Severity;

/// Builds a flow set from `(file name, text)` pairs; panics on load errors (tests only).
pub fn flow_set(files: &[(&str, &str)]) -> Arc<FlowSet> {
    let flows = files.iter().map(|(name, text)| {
        let l = load_flow(std::path::Path::new(name), text);
        let errs: Vec<_> = l
            .diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert!(errs.is_empty(), "{name}: {errs:?}");
        Arc::new(l.flow.expect("flow"))
    });
    Arc::new(FlowSet::new(flows, 1))
}

/// One call driven in virtual time.
#[derive(Clone, Debug)]
pub struct Sim {
    pub call: IvrCall,
    pub now: Instant,
    /// Every action so far.
    pub log: Vec<Action>,
    playing: Option<u64>,
    recording: Option<u64>,
    lookup: Option<u64>,
}

impl Sim {
    pub fn new(
        flows: Arc<FlowSet>,
        flow: &str,
        caller: &str,
        wall_start: NaiveDateTime,
        env: Env,
    ) -> Self {
        let f = flows.get(flow).cloned().expect("flow in set");
        let info = CallInfo {
            call_id: "call-1".into(),
            caller: caller.into(),
            called: "12345".into(),
            wall_start,
        };
        Sim {
            call: IvrCall::new(flows, f, info, env),
            now: Instant::now(),
            log: Vec::new(),
            playing: None,
            recording: None,
            lookup: None,
        }
    }

    /// Feeds one input now and returns the actions it produced.
    pub fn send(&mut self, input: Input) -> Vec<Action> {
        self.call.handle(input, self.now);
        let mut out = Vec::new();
        while let Some(a) = self.call.poll() {
            match &a {
                Action::Play { id, .. } => self.playing = Some(*id),
                Action::StopPlayback { id } if self.playing == Some(*id) => self.playing = None,
                Action::StartRecording { id, .. } => self.recording = Some(*id),
                Action::Lookup { id, .. } => self.lookup = Some(*id),
                _ => {}
            }
            out.push(a);
        }
        self.log.extend(out.iter().cloned());
        out
    }

    pub fn start(&mut self) -> Vec<Action> {
        self.send(Input::Start)
    }

    pub fn digit(&mut self, c: char) -> Vec<Action> {
        self.send(Input::Digit(c))
    }

    pub fn digits(&mut self, s: &str) -> Vec<Action> {
        s.chars().flat_map(|c| self.digit(c)).collect()
    }

    /// Whether a prompt is playing (not finished or stopped).
    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    /// Ends the prompt that is playing.
    pub fn finish_prompt(&mut self) -> Vec<Action> {
        match self.playing.take() {
            Some(id) => self.send(Input::PromptFinished { id }),
            None => Vec::new(),
        }
    }

    /// Ends prompts one after another until none plays (bounded).
    pub fn finish_prompts(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        for _ in 0..32 {
            if self.playing.is_none() {
                break;
            }
            out.extend(self.finish_prompt());
        }
        out
    }

    /// Moves time forward by `d`, firing the call's timer if it falls due.
    pub fn advance(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        match self.timer() {
            Some((at, token)) if at <= self.now => self.send(Input::Timer { token }),
            _ => Vec::new(),
        }
    }

    /// Jumps to the armed timer and fires it.
    pub fn fire_timer(&mut self) -> Vec<Action> {
        match self.timer() {
            Some((at, token)) => {
                if at > self.now {
                    self.now = at;
                }
                self.send(Input::Timer { token })
            }
            None => Vec::new(),
        }
    }

    fn timer(&self) -> Option<(Instant, u64)> {
        let at = self.call.poll_timeout()?;
        // The newest SetTimer carries the live token.
        self.log.iter().rev().find_map(|a| match a {
            Action::SetTimer { at: t, token } if *t == at => Some((*t, *token)),
            _ => None,
        })
    }

    pub fn recording_id(&self) -> Option<u64> {
        self.recording
    }

    pub fn lookup_id(&self) -> Option<u64> {
        self.lookup
    }
}

/// Prompt names of the `Play` actions in `actions`, one list per Play.
pub fn played(actions: &[Action]) -> Vec<Vec<String>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompts, .. } => Some(
                prompts
                    .iter()
                    .map(|p| match p {
                        PromptRef::File { name, .. } => name.clone(),
                        PromptRef::Tts { text, .. } => format!("tts:{text}"),
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// A wall-clock time for tests: `2026-11-23 10:00` is a Monday morning.
pub fn wall(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("wall time")
}

/// The default timer unit tests wait for a timer that must not have fired.
pub const EPS: Duration = Duration::from_millis(1);
