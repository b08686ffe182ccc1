//! The IVR interpreter: one sans-IO state machine per call.
//!
//! Feed one [`Input`] with the current time to [`IvrCall::handle`], then drain
//! [`IvrCall::poll`] for [`Action`]s (play this, start recording, enqueue, arm a timer at T…).
//! No sockets, clocks or database inside; wall-clock questions (time of day, working
//! calendar) are answered from the wall time given at start plus the monotonic time passed in.
//! A call keeps the [`FlowSet`] snapshot it started with, so reloads never change a call
//! in progress.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::calendar::{minute_of_day, weekday0, CallerLists, WorkingCalendar};
use super::flow::*;
use super::say;

/// Non-waiting nodes run in a row at most this many times before the call is ended
/// (the validator rejects such loops; this bounds a flow that slipped through).
pub const MAX_STEPS: u32 = 256;
/// Digits typed ahead while nothing listens, kept for the next menu or collect node.
pub const MAX_TYPE_AHEAD: usize = 16;
/// Sub-flow nesting bound.
pub const MAX_SUBFLOW_DEPTH: usize = 8;
/// Back-stack of menus for `*`.
pub const MAX_MENU_STACK: usize = 16;
/// Variable values are cut to this length (they come from callers and lookups).
pub const MAX_VAR_LEN: usize = 256;
/// How many variables a call may hold.
pub const MAX_VARS: usize = 128;

/// Prompt files of the key-correction announcement "您选择的是{label}，如需调整请按*号键返回上一级".
pub fn correction_prompts(label: Option<&str>) -> Vec<Prompt> {
    let mut v = vec![Prompt::File("you_chose".into())];
    if let Some(l) = label {
        v.push(Prompt::File(l.into()));
    }
    v.push(Prompt::File("star_to_go_back".into()));
    v
}

/// An immutable set of flows; reloads build a new one.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    pub flows: BTreeMap<String, Arc<Flow>>,
    /// Increases with every accepted reload.
    pub version: u64,
}

impl FlowSet {
    pub fn new(flows: impl IntoIterator<Item = Arc<Flow>>, version: u64) -> Self {
        FlowSet {
            flows: flows.into_iter().map(|f| (f.name.clone(), f)).collect(),
            version,
        }
    }
    pub fn get(&self, name: &str) -> Option<&Arc<Flow>> {
        self.flows.get(name)
    }
    /// The flow that lists this dialled number in its `dids`.
    pub fn by_did(&self, did: &str) -> Option<&Arc<Flow>> {
        self.flows
            .values()
            .find(|f| f.dids.iter().any(|d| d == did))
    }
}

/// A prompt to play, resolved for the call's language.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptRef {
    /// `prompts/<language>/<name>.wav` beside the flow files (`slow/<name>.wav` may exist for rate < 1).
    File { language: String, name: String },
    /// Text for the TTS engine.
    Tts { language: String, text: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum LookupOutcome {
    Found(Vec<(String, String)>),
    NotFound,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueueEvent {
    /// An agent answered; the IVR waits until the agent side ends.
    Answered { agent: String },
    /// The agent hung up and the caller is still on the line (post-call survey).
    AgentHungUp,
    /// No agent (overflow, timeout, closed group).
    Failed { reason: String },
}

/// What happens to a call, one at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Start,
    Digit(char),
    PromptFinished {
        id: u64,
    },
    Timer {
        token: u64,
    },
    LookupResult {
        id: u64,
        outcome: LookupOutcome,
    },
    RecordingFinished {
        id: u64,
        recording: String,
        duration_ms: u64,
    },
    Queue(QueueEvent),
    TransferResult {
        ok: bool,
    },
    /// Variables from outside the IVR, e.g. `ticket_id` once the agent's ticket exists, so
    /// the post-call rating is stored against it.
    SetVars(Vec<(String, String)>),
    CallerHungUp,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play prompts in order, at `rate` (0.7 = 30 % slower); report `PromptFinished { id }`.
    Play {
        id: u64,
        prompts: Vec<PromptRef>,
        rate: f32,
        barge_in: bool,
    },
    StopPlayback {
        id: u64,
    },
    /// Record the caller (after a beep if asked); report `RecordingFinished { id, .. }`.
    StartRecording {
        id: u64,
        max_ms: u64,
        beep: bool,
    },
    StopRecording {
        id: u64,
    },
    /// Run a lookup; report `LookupResult { id, .. }`. The call gives up at its own timer.
    Lookup {
        id: u64,
        source: LookupSource,
        args: Vec<(String, String)>,
        timeout_ms: u64,
    },
    /// Put the caller in a skill group's queue; report `Queue(..)` events.
    Enqueue {
        group: String,
        priority: u8,
        vars: BTreeMap<String, String>,
    },
    /// Blind transfer; report `TransferResult`.
    Transfer {
        to: TransferTo,
    },
    /// Store a satisfaction rating against the call and its ticket.
    RecordSatisfaction {
        call_id: String,
        ticket: Option<String>,
        rating: u8,
        scale: u8,
    },
    /// Turn a recorded message into a ticket.
    CreateMessageTicket {
        call_id: String,
        caller: String,
        recording: String,
        duration_ms: u64,
        vars: BTreeMap<String, String>,
    },
    RequestCallback {
        call_id: String,
        number: String,
        vars: BTreeMap<String, String>,
    },
    /// Deliver `Timer { token }` at `at`; a newer timer replaces the older one.
    SetTimer {
        at: Instant,
        token: u64,
    },
    Hangup,
}

/// The outside world a call may ask, as in-memory snapshots.
#[derive(Clone)]
pub struct Env {
    pub calendar: Arc<dyn WorkingCalendar>,
    pub lists: Arc<dyn CallerLists>,
}

/// Who calls and when.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub call_id: String,
    pub caller: String,
    pub called: String,
    /// Local wall-clock time when the call entered the IVR.
    pub wall_start: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Main prompt playing (barge-in allowed).
    Prompt(u64),
    /// Error prompt + main prompt playing.
    Invalid(u64),
    /// Prompts done; waiting for a key until the timer.
    Waiting,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    NotStarted,
    /// Playing prompts of a play/say node, then go on.
    Playing {
        id: u64,
        then: Option<Target>,
    },
    /// Key-correction announcement after a labelled menu option; `*` returns to `menu`.
    Confirm {
        id: u64,
        then: Target,
    },
    Menu {
        tries: u32,
        phase: Phase,
    },
    Collect {
        tries: u32,
        phase: Phase,
        buf: String,
    },
    Survey {
        tries: u32,
        phase: Phase,
    },
    Language {
        phase: Phase,
    },
    Lookup {
        id: u64,
    },
    Queued {
        answered: bool,
    },
    Transferring,
    MessagePrompt {
        id: u64,
    },
    Recording {
        id: u64,
    },
    /// Caller gone while recording: wait for the file, then create the ticket.
    RecordingAfterHangup {
        id: u64,
    },
    Finished,
}

/// Menus to return to with `*`, most recent last.
type MenuStack = Vec<(Arc<Flow>, NodeId)>;

/// One call inside the IVR.
#[derive(Clone)]
pub struct IvrCall {
    info: CallInfo,
    env: Env,
    flows: Arc<FlowSet>,
    flow: Arc<Flow>,
    node: NodeId,
    state: State,
    /// Sub-flow return points, each with the caller flow's `*` back-stack (`*` never
    /// crosses into another flow).
    frames: Vec<(Arc<Flow>, Option<Target>, MenuStack)>,
    menu_stack: MenuStack,
    vars: BTreeMap<String, String>,
    language: String,
    rate: f32,
    started: Option<Instant>,
    timer: Option<(Instant, u64)>,
    next_token: u64,
    next_id: u64,
    type_ahead: VecDeque<char>,
    actions: VecDeque<Action>,
    /// Nodes entered, as (flow, node), when tracing is on (tests, path walks).
    trace: Option<Vec<(String, NodeId)>>,
}

impl std::fmt::Debug for IvrCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IvrCall")
            .field("call_id", &self.info.call_id)
            .field("flow", &self.flow.name)
            .field("node", &self.node)
            .field("state", &self.state)
            .finish()
    }
}

impl IvrCall {
    /// A call that will run `flow` (a member of `flows`) once it gets `Input::Start`.
    pub fn new(flows: Arc<FlowSet>, flow: Arc<Flow>, info: CallInfo, env: Env) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("caller".to_string(), info.caller.clone());
        vars.insert("called".to_string(), info.called.clone());
        vars.insert("call_id".to_string(), info.call_id.clone());
        IvrCall {
            language: flow.language.clone(),
            node: flow.start.node.clone(),
            info,
            env,
            flows,
            flow,
            state: State::NotStarted,
            frames: Vec::new(),
            menu_stack: Vec::new(),
            vars,
            rate: 1.0,
            started: None,
            timer: None,
            next_token: 0,
            next_id: 0,
            type_ahead: VecDeque::new(),
            actions: VecDeque::new(),
            trace: None,
        }
    }

    pub fn call_id(&self) -> &str {
        &self.info.call_id
    }
    /// The flow the call is in now (a sub-flow while inside one).
    pub fn flow(&self) -> &Arc<Flow> {
        &self.flow
    }
    /// The flow set version the call started with.
    pub fn flow_version(&self) -> u64 {
        self.flows.version
    }
    pub fn node(&self) -> &str {
        &self.node
    }
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }
    pub fn language(&self) -> &str {
        &self.language
    }
    pub fn rate(&self) -> f32 {
        self.rate
    }
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }
    /// Whether the call is with an agent or being transferred (the IVR only waits).
    pub fn is_with_agent(&self) -> bool {
        matches!(self.state, State::Queued { answered: true })
    }
    /// What the call waits for, without ids: e.g. `menu tries=1`. For logs and path walks.
    pub fn waiting_for(&self) -> String {
        match &self.state {
            State::NotStarted => "start".into(),
            State::Playing { .. } => "prompt".into(),
            State::Confirm { .. } => "correction prompt".into(),
            State::Menu { tries, .. } => format!("menu tries={tries}"),
            State::Collect { tries, buf, .. } => format!("digits tries={tries} have={}", buf.len()),
            State::Survey { tries, .. } => format!("rating tries={tries}"),
            State::Language { .. } => "language".into(),
            State::Lookup { .. } => "lookup".into(),
            State::Queued { answered } => format!("queue answered={answered}"),
            State::Transferring => "transfer".into(),
            State::MessagePrompt { .. } => "message prompt".into(),
            State::Recording { .. } => "recording".into(),
            State::RecordingAfterHangup { .. } => "recording after hangup".into(),
            State::Finished => "nothing".into(),
        }
    }
    /// Records every node entered from now on (bounded), for tests and path walks.
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }
    /// Takes the nodes entered since the last call, as (flow, node).
    pub fn take_trace(&mut self) -> Vec<(String, NodeId)> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }
    /// When the shell must deliver `Timer` next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer.map(|t| t.0)
    }
    /// The next action, if any.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Feeds one input at time `now`.
    pub fn handle(&mut self, input: Input, now: Instant) {
        if self.state == State::Finished {
            return;
        }
        let _span =
            tracing::debug_span!("ivr", call_id = %self.info.call_id, node = %self.node).entered();
        match input {
            Input::Start => {
                if self.state == State::NotStarted {
                    self.started = Some(now);
                    let start = self.flow.start.node.clone();
                    self.run(start, now);
                }
            }
            Input::Digit(c) => self.on_digit(c, now),
            Input::PromptFinished { id } => self.on_prompt_finished(id, now),
            Input::Timer { token } => {
                if self.timer.is_some_and(|(_, t)| t == token) {
                    self.timer = None;
                    self.on_timer(now);
                }
            }
            Input::LookupResult { id, outcome } => self.on_lookup(id, outcome, now),
            Input::RecordingFinished {
                id,
                recording,
                duration_ms,
            } => self.on_recording(id, recording, duration_ms, now),
            Input::Queue(ev) => self.on_queue(ev, now),
            Input::TransferResult { ok } => {
                if self.state == State::Transferring {
                    if ok {
                        self.finish_quietly();
                    } else if let Some(NodeKind::Transfer { fail, .. }) = self.kind() {
                        let t = fail.node.clone();
                        self.run(t, now);
                    }
                }
            }
            Input::SetVars(vars) => {
                for (k, v) in vars.into_iter().take(MAX_VARS) {
                    self.set_var(k, v);
                }
            }
            Input::CallerHungUp => self.on_hangup(),
        }
    }

    // ----- helpers -----

    fn kind(&self) -> Option<&NodeKind> {
        self.flow.nodes.get(&self.node).map(|n| &n.kind)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn arm(&mut self, at: Instant) {
        self.next_token += 1;
        self.timer = Some((at, self.next_token));
        self.actions.push_back(Action::SetTimer {
            at,
            token: self.next_token,
        });
    }

    fn disarm(&mut self) {
        self.timer = None;
    }

    fn wall(&self, now: Instant) -> NaiveDateTime {
        let since = self
            .started
            .map(|s| now.saturating_duration_since(s))
            .unwrap_or(Duration::ZERO);
        self.info.wall_start + chrono::Duration::from_std(since).unwrap_or_default()
    }

    /// Replaces `{var}` with its value (unknown variables become empty).
    pub fn interpolate(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            match rest[i + 1..].find('}') {
                Some(j) => {
                    let name = &rest[i + 1..i + 1 + j];
                    if let Some(v) = self.vars.get(name) {
                        out.push_str(v);
                    }
                    rest = &rest[i + 2 + j..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Like [`Self::interpolate`], with each value percent-encoded so a caller's input can
    /// never change the URL's host, path segments or query structure.
    pub fn interpolate_url(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            match rest[i + 1..].find('}') {
                Some(j) => {
                    let name = &rest[i + 1..i + 1 + j];
                    if let Some(v) = self.vars.get(name) {
                        out.extend(percent_encoding::utf8_percent_encode(
                            v,
                            percent_encoding::NON_ALPHANUMERIC,
                        ));
                    }
                    rest = &rest[i + 2 + j..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn set_var(&mut self, name: String, value: String) {
        if self.vars.len() >= MAX_VARS && !self.vars.contains_key(&name) {
            tracing::warn!(%name, "too many call variables; ignored");
            return;
        }
        let mut v = value;
        if v.len() > MAX_VAR_LEN {
            let mut cut = MAX_VAR_LEN;
            while !v.is_char_boundary(cut) {
                cut -= 1;
            }
            v.truncate(cut);
        }
        self.vars.insert(name, v);
    }

    fn resolve(&self, ps: &[Prompt]) -> Vec<PromptRef> {
        ps.iter()
            .map(|p| match p {
                Prompt::File(name) => PromptRef::File {
                    language: self.language.clone(),
                    name: name.clone(),
                },
                Prompt::Text(t) => PromptRef::Tts {
                    language: self.language.clone(),
                    text: self.interpolate(t),
                },
            })
            .collect()
    }

    fn play(&mut self, prompts: Vec<PromptRef>, barge_in: bool) -> u64 {
        let id = self.id();
        self.actions.push_back(Action::Play {
            id,
            prompts,
            rate: self.rate,
            barge_in,
        });
        id
    }

    fn stop(&mut self, id: u64) {
        self.actions.push_back(Action::StopPlayback { id });
    }

    fn hangup(&mut self) {
        self.disarm();
        self.actions.push_back(Action::Hangup);
        self.state = State::Finished;
    }

    fn finish_quietly(&mut self) {
        self.disarm();
        self.state = State::Finished;
    }

    fn ticket(&self) -> Option<String> {
        self.vars
            .get("ticket_id")
            .or_else(|| self.vars.get("ticket_no"))
            .filter(|s| !s.is_empty())
            .cloned()
    }

    // ----- running nodes -----

    /// Enters `target` and runs non-waiting nodes until one waits.
    fn run(&mut self, target: NodeId, now: Instant) {
        self.disarm();
        let mut next = target;
        for _ in 0..MAX_STEPS {
            match self.step(next, now) {
                Some(n) => next = n,
                None => return,
            }
        }
        tracing::error!(flow = %self.flow.name, "flow ran {MAX_STEPS} nodes without waiting; hanging up");
        self.hangup();
    }

    /// Executes one node; returns the next node when it does not wait.
    fn step(&mut self, id: NodeId, now: Instant) -> Option<NodeId> {
        let flow = self.flow.clone();
        let Some(node) = flow.nodes.get(&id) else {
            tracing::error!(flow = %flow.name, node = %id, "unknown node; hanging up");
            self.hangup();
            return None;
        };
        tracing::debug!(node = %id, kind = node.kind.name(), "enter");
        if let Some(t) = &mut self.trace {
            if t.len() < 10_000 {
                t.push((flow.name.clone(), id.clone()));
            }
        }
        self.node = id;
        match &node.kind {
            NodeKind::Play { prompts, next } => {
                let p = self.resolve(prompts);
                let pid = self.play(p, false);
                self.state = State::Playing {
                    id: pid,
                    then: Some(next.clone()),
                };
                None
            }
            NodeKind::Say {
                what,
                before,
                after,
                next,
            } => {
                let frags = match what {
                    SayWhat::Number(v) => {
                        let s = self.interpolate(v);
                        s.trim().parse::<u64>().ok().and_then(say::number)
                    }
                    SayWhat::Digits(v) => say::digits(self.interpolate(v).trim()),
                    SayWhat::Date(v) => say::date(&self.interpolate(v)),
                };
                if frags.is_none() {
                    tracing::warn!("say: value cannot be read aloud; skipped");
                }
                let mut ps = self.resolve(before);
                ps.extend(
                    frags
                        .unwrap_or_default()
                        .into_iter()
                        .map(|f| PromptRef::File {
                            language: self.language.clone(),
                            name: f.to_string(),
                        }),
                );
                ps.extend(self.resolve(after));
                if ps.is_empty() {
                    return Some(next.node.clone());
                }
                let pid = self.play(ps, false);
                self.state = State::Playing {
                    id: pid,
                    then: Some(next.clone()),
                };
                None
            }
            NodeKind::Hangup { prompts } => {
                if prompts.is_empty() {
                    self.hangup();
                } else {
                    let p = self.resolve(prompts);
                    let pid = self.play(p, false);
                    self.state = State::Playing {
                        id: pid,
                        then: None,
                    };
                }
                None
            }
            NodeKind::Menu { prompts, .. } => {
                self.state = State::Menu {
                    tries: 0,
                    phase: Phase::Waiting,
                };
                if let Some(c) = self.type_ahead.pop_front() {
                    self.menu_digit(c, now);
                } else {
                    let p = self.resolve(prompts);
                    let pid = self.play(p, true);
                    self.state = State::Menu {
                        tries: 0,
                        phase: Phase::Prompt(pid),
                    };
                }
                None
            }
            NodeKind::Collect { prompts, .. } => {
                self.state = State::Collect {
                    tries: 0,
                    phase: Phase::Waiting,
                    buf: String::new(),
                };
                if self.type_ahead.is_empty() {
                    let p = self.resolve(prompts);
                    let pid = self.play(p, true);
                    self.state = State::Collect {
                        tries: 0,
                        phase: Phase::Prompt(pid),
                        buf: String::new(),
                    };
                } else {
                    while let Some(c) = self.type_ahead.pop_front() {
                        self.collect_digit(c, now);
                        if !matches!(self.state, State::Collect { .. }) || self.node != node.id {
                            break;
                        }
                    }
                }
                None
            }
            NodeKind::Survey { prompts, .. } => {
                self.type_ahead.clear();
                let p = self.resolve(prompts);
                let pid = self.play(p, true);
                self.state = State::Survey {
                    tries: 0,
                    phase: Phase::Prompt(pid),
                };
                None
            }
            NodeKind::Language {
                prompts,
                timeout_ms,
                ..
            } => {
                if let Some(c) = self.type_ahead.pop_front() {
                    self.state = State::Language {
                        phase: Phase::Waiting,
                    };
                    self.language_digit(c, now);
                } else if prompts.is_empty() {
                    self.state = State::Language {
                        phase: Phase::Waiting,
                    };
                    self.arm(now + Duration::from_millis(*timeout_ms));
                } else {
                    let p = self.resolve(prompts);
                    let pid = self.play(p, true);
                    self.state = State::Language {
                        phase: Phase::Prompt(pid),
                    };
                }
                None
            }
            NodeKind::Branch { cases, otherwise } => {
                let wall = self.wall(now);
                let hit = cases.iter().find(|c| self.holds(&c.when, wall));
                Some(hit.map(|c| &c.goto).unwrap_or(otherwise).node.clone())
            }
            NodeKind::Set {
                vars,
                rate,
                language,
                next,
            } => {
                for (k, v) in vars {
                    let v = self.interpolate(v);
                    self.set_var(k.clone(), v);
                }
                if let Some(r) = rate {
                    self.rate = *r;
                }
                if let Some(l) = language {
                    self.language = l.clone();
                    self.vars.insert("language".into(), l.clone());
                }
                Some(next.node.clone())
            }
            NodeKind::Lookup {
                source,
                args,
                timeout_ms,
                ..
            } => {
                let lid = self.id();
                let source = match source {
                    LookupSource::Internal(s) => LookupSource::Internal(s.clone()),
                    LookupSource::Http { url, method } => LookupSource::Http {
                        url: self.interpolate_url(url),
                        method: *method,
                    },
                };
                let args = args
                    .iter()
                    .map(|(k, v)| (k.clone(), self.interpolate(v)))
                    .collect();
                self.actions.push_back(Action::Lookup {
                    id: lid,
                    source,
                    args,
                    timeout_ms: *timeout_ms,
                });
                self.state = State::Lookup { id: lid };
                self.arm(now + Duration::from_millis(*timeout_ms));
                None
            }
            NodeKind::Queue {
                group, priority, ..
            } => {
                self.type_ahead.clear();
                self.actions.push_back(Action::Enqueue {
                    group: group.clone(),
                    priority: *priority,
                    vars: self.vars.clone(),
                });
                self.state = State::Queued { answered: false };
                None
            }
            NodeKind::Transfer { to, .. } => {
                let to = match to {
                    TransferTo::Extension(e) => TransferTo::Extension(self.interpolate(e)),
                    TransferTo::External(n) => TransferTo::External(self.interpolate(n)),
                };
                self.actions.push_back(Action::Transfer { to });
                self.state = State::Transferring;
                None
            }
            NodeKind::Message {
                prompts,
                max_ms,
                beep,
                ..
            } => {
                self.type_ahead.clear();
                if prompts.is_empty() {
                    self.start_recording(*max_ms, *beep, now);
                } else {
                    let p = self.resolve(prompts);
                    let pid = self.play(p, true);
                    self.state = State::MessagePrompt { id: pid };
                }
                None
            }
            NodeKind::Callback { number, next } => {
                let number = self.interpolate(number);
                self.actions.push_back(Action::RequestCallback {
                    call_id: self.info.call_id.clone(),
                    number,
                    vars: self.vars.clone(),
                });
                Some(next.node.clone())
            }
            NodeKind::Goto { target } => Some(target.node.clone()),
            NodeKind::SubFlow {
                flow: name, next, ..
            } => {
                let Some(sub) = self.flows.get(name).cloned() else {
                    tracing::error!(flow = %name, "unknown sub-flow");
                    return match next {
                        Some(n) => Some(n.node.clone()),
                        None => {
                            self.hangup();
                            None
                        }
                    };
                };
                if self.frames.len() >= MAX_SUBFLOW_DEPTH {
                    tracing::error!("sub-flows nested too deep; hanging up");
                    self.hangup();
                    return None;
                }
                let stack = std::mem::take(&mut self.menu_stack);
                self.frames.push((self.flow.clone(), next.clone(), stack));
                let start = sub.start.node.clone();
                self.flow = sub;
                Some(start)
            }
            NodeKind::Return => match self.frames.pop() {
                Some((f, Some(next), stack)) => {
                    self.flow = f;
                    self.menu_stack = stack;
                    Some(next.node)
                }
                Some((_, None, _)) | None => {
                    self.hangup();
                    None
                }
            },
        }
    }

    fn holds(&self, c: &Condition, wall: NaiveDateTime) -> bool {
        if let Some(var) = &c.var {
            let v = self.vars.get(var).map(String::as_str).unwrap_or("");
            if c.equals.as_ref().is_some_and(|e| e != v) {
                return false;
            }
            if c.one_of.as_ref().is_some_and(|l| !l.iter().any(|x| x == v)) {
                return false;
            }
            if c.prefix
                .as_ref()
                .is_some_and(|p| !v.starts_with(p.as_str()))
            {
                return false;
            }
            if c.empty.is_some_and(|e| e != v.is_empty()) {
                return false;
            }
        }
        if let Some(list) = &c.caller_in {
            if !self.env.lists.contains(list, &self.info.caller) {
                return false;
            }
        }
        if let Some((from, to)) = c.time {
            let m = minute_of_day(wall);
            let inside = if from <= to {
                m >= from && m < to
            } else {
                m >= from || m < to
            };
            if !inside {
                return false;
            }
        }
        if let Some(days) = &c.days {
            if !days.contains(&weekday0(wall)) {
                return false;
            }
        }
        if let Some(w) = c.working_time {
            if self.env.calendar.is_working_time(wall) != w {
                return false;
            }
        }
        true
    }

    fn start_recording(&mut self, max_ms: u64, beep: bool, now: Instant) {
        let rid = self.id();
        self.actions.push_back(Action::StartRecording {
            id: rid,
            max_ms,
            beep,
        });
        self.state = State::Recording { id: rid };
        // Stop it ourselves if the recorder does not.
        self.arm(now + Duration::from_millis(max_ms));
    }

    // ----- inputs -----

    fn on_prompt_finished(&mut self, id: u64, now: Instant) {
        match self.state.clone() {
            State::Playing { id: p, then } if p == id => match then {
                Some(t) => self.run(t.node, now),
                None => self.hangup(),
            },
            State::Confirm { id: p, then } if p == id => self.run(then.node, now),
            State::Menu { tries, phase } if phase_is(phase, id) => {
                self.state = State::Menu {
                    tries,
                    phase: Phase::Waiting,
                };
                if let Some(NodeKind::Menu { timeout_ms, .. }) = self.kind() {
                    let t = *timeout_ms;
                    self.arm(now + Duration::from_millis(t));
                }
            }
            State::Collect { tries, phase, buf } if phase_is(phase, id) => {
                self.state = State::Collect {
                    tries,
                    phase: Phase::Waiting,
                    buf,
                };
                if let Some(NodeKind::Collect {
                    first_timeout_ms, ..
                }) = self.kind()
                {
                    let t = *first_timeout_ms;
                    self.arm(now + Duration::from_millis(t));
                }
            }
            State::Survey { tries, phase } if phase_is(phase, id) => {
                self.state = State::Survey {
                    tries,
                    phase: Phase::Waiting,
                };
                if let Some(NodeKind::Survey { timeout_ms, .. }) = self.kind() {
                    let t = *timeout_ms;
                    self.arm(now + Duration::from_millis(t));
                }
            }
            State::Language { phase } if phase_is(phase, id) => {
                self.state = State::Language {
                    phase: Phase::Waiting,
                };
                if let Some(NodeKind::Language { timeout_ms, .. }) = self.kind() {
                    let t = *timeout_ms;
                    self.arm(now + Duration::from_millis(t));
                }
            }
            State::MessagePrompt { id: p } if p == id => {
                if let Some(NodeKind::Message { max_ms, beep, .. }) = self.kind() {
                    let (m, b) = (*max_ms, *beep);
                    self.start_recording(m, b, now);
                }
            }
            _ => {}
        }
    }

    fn on_digit(&mut self, c: char, now: Instant) {
        if !(c.is_ascii_digit() || c == '*' || c == '#') {
            tracing::debug!(digit = %c, "ignored non-DTMF key");
            return;
        }
        match self.state.clone() {
            State::Menu { .. } => self.menu_digit(c, now),
            State::Collect { .. } => self.collect_digit(c, now),
            State::Survey { .. } => self.survey_digit(c, now),
            State::Language { .. } => self.language_digit(c, now),
            State::Confirm { id, .. } if c == '*' => {
                self.stop(id);
                self.go_back(now);
            }
            State::MessagePrompt { id } if c == '#' => {
                // Skip the instructions and record at once.
                self.stop(id);
                if let Some(NodeKind::Message { max_ms, beep, .. }) = self.kind() {
                    let (m, b) = (*max_ms, *beep);
                    self.start_recording(m, b, now);
                }
            }
            State::Recording { id } if c == '#' => {
                self.disarm();
                self.actions.push_back(Action::StopRecording { id });
            }
            State::Playing { .. } | State::Confirm { .. } | State::Lookup { .. }
                if self.type_ahead.len() < MAX_TYPE_AHEAD =>
            {
                self.type_ahead.push_back(c);
            }
            _ => {}
        }
    }

    /// `*`: back to the previous menu, or replay this one when there is none.
    fn go_back(&mut self, now: Instant) {
        match self.menu_stack.pop() {
            Some((flow, menu)) => {
                self.flow = flow;
                self.run(menu, now);
            }
            None => {
                let here = self.node.clone();
                self.run(here, now);
            }
        }
    }

    fn menu_digit(&mut self, c: char, now: Instant) {
        let State::Menu { tries, phase } = self.state.clone() else {
            return;
        };
        let Some(NodeKind::Menu {
            options,
            operator,
            back,
            ..
        }) = self.kind().cloned()
        else {
            return;
        };
        if let Phase::Prompt(id) | Phase::Invalid(id) = phase {
            self.stop(id);
        }
        self.disarm();
        if let Some(o) = options.iter().find(|o| o.key == c) {
            if self.menu_stack.len() >= MAX_MENU_STACK {
                self.menu_stack.remove(0);
            }
            self.menu_stack.push((self.flow.clone(), self.node.clone()));
            match &o.label {
                Some(l) => {
                    let ps = self.resolve(&correction_prompts(Some(l)));
                    let id = self.play(ps, true);
                    self.state = State::Confirm {
                        id,
                        then: o.target.clone(),
                    };
                }
                None => self.run(o.target.node.clone(), now),
            }
        } else if c == '*' && back {
            self.go_back(now);
        } else if let (Some(op), '0') = (&operator, c) {
            self.run(op.node.clone(), now);
        } else {
            self.menu_retry(tries + 1, true, now);
        }
    }

    fn menu_retry(&mut self, tries: u32, invalid_key: bool, now: Instant) {
        let Some(NodeKind::Menu {
            prompts,
            tries: max,
            invalid_prompts,
            no_input,
            invalid,
            ..
        }) = self.kind().cloned()
        else {
            return;
        };
        if tries >= max {
            let t = if invalid_key {
                invalid.unwrap_or(no_input)
            } else {
                no_input
            };
            self.run(t.node, now);
            return;
        }
        let mut ps = Vec::new();
        if invalid_key {
            ps.extend(self.resolve(&invalid_prompts));
        }
        ps.extend(self.resolve(&prompts));
        let id = self.play(ps, true);
        self.state = State::Menu {
            tries,
            phase: if invalid_key {
                Phase::Invalid(id)
            } else {
                Phase::Prompt(id)
            },
        };
    }

    fn collect_digit(&mut self, c: char, now: Instant) {
        let State::Collect {
            tries,
            phase,
            mut buf,
        } = self.state.clone()
        else {
            return;
        };
        let Some(NodeKind::Collect {
            max,
            terminator,
            star,
            inter_digit_timeout_ms,
            ..
        }) = self.kind().cloned()
        else {
            return;
        };
        if let Phase::Prompt(id) | Phase::Invalid(id) = phase {
            self.stop(id);
        }
        if Some(c) == terminator {
            self.state = State::Collect {
                tries,
                phase: Phase::Waiting,
                buf: buf.clone(),
            };
            self.collect_done(tries, buf, now);
            return;
        }
        match c {
            '*' if star == StarKey::LetterX => buf.push('X'),
            '*' => buf.clear(),
            '#' => {} // not the terminator here: ignored
            d => buf.push(d),
        }
        if buf.chars().count() as u32 >= max {
            self.collect_done(tries, buf, now);
            return;
        }
        self.state = State::Collect {
            tries,
            phase: Phase::Waiting,
            buf,
        };
        self.arm(now + Duration::from_millis(inter_digit_timeout_ms));
    }

    fn collect_done(&mut self, tries: u32, buf: String, now: Instant) {
        let Some(NodeKind::Collect { var, min, next, .. }) = self.kind().cloned() else {
            return;
        };
        self.disarm();
        if buf.chars().count() as u32 >= min {
            self.set_var(var, buf);
            self.run(next.node, now);
        } else {
            self.collect_retry(tries + 1, !buf.is_empty(), now);
        }
    }

    fn collect_retry(&mut self, tries: u32, invalid_input: bool, now: Instant) {
        let Some(NodeKind::Collect {
            prompts,
            tries: max,
            invalid_prompts,
            fail,
            ..
        }) = self.kind().cloned()
        else {
            return;
        };
        if tries >= max {
            self.run(fail.node, now);
            return;
        }
        let mut ps = Vec::new();
        if invalid_input {
            ps.extend(self.resolve(&invalid_prompts));
        }
        ps.extend(self.resolve(&prompts));
        let id = self.play(ps, true);
        self.state = State::Collect {
            tries,
            phase: Phase::Prompt(id),
            buf: String::new(),
        };
    }

    fn survey_digit(&mut self, c: char, now: Instant) {
        let State::Survey { tries, phase } = self.state.clone() else {
            return;
        };
        let Some(NodeKind::Survey { scale, next, .. }) = self.kind().cloned() else {
            return;
        };
        if let Phase::Prompt(id) | Phase::Invalid(id) = phase {
            self.stop(id);
        }
        self.disarm();
        match c.to_digit(10) {
            Some(r) if r >= 1 && r <= u32::from(scale) => {
                self.actions.push_back(Action::RecordSatisfaction {
                    call_id: self.info.call_id.clone(),
                    ticket: self.ticket(),
                    rating: r as u8,
                    scale,
                });
                self.vars.insert("rating".into(), r.to_string());
                self.run(next.node, now);
            }
            _ => self.survey_retry(tries + 1, true, now),
        }
    }

    fn survey_retry(&mut self, tries: u32, invalid_key: bool, now: Instant) {
        let Some(NodeKind::Survey {
            prompts,
            tries: max,
            invalid_prompts,
            fail,
            ..
        }) = self.kind().cloned()
        else {
            return;
        };
        if tries >= max {
            self.run(fail.node, now);
            return;
        }
        let mut ps = Vec::new();
        if invalid_key {
            ps.extend(self.resolve(&invalid_prompts));
        }
        ps.extend(self.resolve(&prompts));
        let id = self.play(ps, true);
        self.state = State::Survey {
            tries,
            phase: Phase::Prompt(id),
        };
    }

    fn language_digit(&mut self, c: char, now: Instant) {
        let State::Language { phase } = self.state.clone() else {
            return;
        };
        let Some(NodeKind::Language { options, next, .. }) = self.kind().cloned() else {
            return;
        };
        if let Phase::Prompt(id) | Phase::Invalid(id) = phase {
            self.stop(id);
        }
        self.disarm();
        if let Some((_, _, lang)) = options.iter().find(|o| o.0 == c) {
            self.language = lang.clone();
            self.vars.insert("language".into(), lang.clone());
        }
        // Any other key keeps the default language.
        self.run(next.node, now);
    }

    fn on_timer(&mut self, now: Instant) {
        match self.state.clone() {
            State::Menu {
                tries,
                phase: Phase::Waiting,
            } => self.menu_retry(tries + 1, false, now),
            State::Collect {
                tries,
                phase: Phase::Waiting,
                buf,
            } => {
                if buf.is_empty() {
                    self.collect_retry(tries + 1, false, now);
                } else {
                    self.collect_done(tries, buf, now);
                }
            }
            State::Survey {
                tries,
                phase: Phase::Waiting,
            } => self.survey_retry(tries + 1, false, now),
            State::Language {
                phase: Phase::Waiting,
            } => {
                if let Some(NodeKind::Language { next, .. }) = self.kind() {
                    let n = next.node.clone();
                    self.run(n, now);
                }
            }
            State::Lookup { .. } => {
                tracing::warn!("lookup timed out");
                if let Some(NodeKind::Lookup { error, .. }) = self.kind() {
                    let n = error.node.clone();
                    self.run(n, now);
                }
            }
            State::Recording { id } => {
                self.actions.push_back(Action::StopRecording { id });
            }
            _ => {}
        }
    }

    fn on_lookup(&mut self, id: u64, outcome: LookupOutcome, now: Instant) {
        if self.state != (State::Lookup { id }) {
            return; // late answer after the timeout
        }
        let Some(NodeKind::Lookup {
            result,
            next,
            not_found,
            error,
            ..
        }) = self.kind().cloned()
        else {
            return;
        };
        self.disarm();
        match outcome {
            LookupOutcome::Found(fields) => {
                for (k, v) in fields.into_iter().take(MAX_VARS) {
                    self.set_var(format!("{result}.{k}"), v);
                }
                self.run(next.node, now);
            }
            LookupOutcome::NotFound => self.run(not_found.node, now),
            LookupOutcome::Failed(e) => {
                tracing::warn!(error = %e, "lookup failed");
                self.run(error.node, now);
            }
        }
    }

    fn on_recording(&mut self, id: u64, recording: String, duration_ms: u64, now: Instant) {
        let (rid, after_hangup) = match self.state {
            State::Recording { id } => (id, false),
            State::RecordingAfterHangup { id } => (id, true),
            _ => return,
        };
        if rid != id {
            return;
        }
        self.disarm();
        self.actions.push_back(Action::CreateMessageTicket {
            call_id: self.info.call_id.clone(),
            caller: self.info.caller.clone(),
            recording,
            duration_ms,
            vars: self.vars.clone(),
        });
        if after_hangup {
            self.finish_quietly();
        } else if let Some(NodeKind::Message { next, .. }) = self.kind() {
            let n = next.node.clone();
            self.run(n, now);
        }
    }

    fn on_queue(&mut self, ev: QueueEvent, now: Instant) {
        let State::Queued { answered } = self.state else {
            return;
        };
        let Some(NodeKind::Queue { after, fail, .. }) = self.kind().cloned() else {
            return;
        };
        match ev {
            QueueEvent::Answered { agent } => {
                self.vars.insert("agent".into(), agent);
                self.state = State::Queued { answered: true };
            }
            QueueEvent::AgentHungUp if answered => {
                self.type_ahead.clear();
                self.menu_stack.clear();
                match after {
                    Some(a) => self.run(a.node, now),
                    None => self.hangup(),
                }
            }
            QueueEvent::Failed { reason } if !answered => {
                self.vars.insert("queue_failure".into(), reason);
                self.run(fail.node, now);
            }
            _ => {}
        }
    }

    fn on_hangup(&mut self) {
        match self.state {
            State::Recording { id } => {
                self.disarm();
                self.actions.push_back(Action::StopRecording { id });
                self.state = State::RecordingAfterHangup { id };
            }
            State::RecordingAfterHangup { .. } => {}
            _ => self.finish_quietly(),
        }
    }
}

fn phase_is(p: Phase, id: u64) -> bool {
    matches!(p, Phase::Prompt(x) | Phase::Invalid(x) if x == id)
}
