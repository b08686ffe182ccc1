//! The flow model: one IVR flow (a named graph of nodes) as loaded from one TOML file.
//!
//! Every node and every reference keeps the byte span it came from, so the validator can
//! point at file:line:column. Durations are milliseconds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::spanned::Span;

/// Node identifier, unique inside a flow.
pub type NodeId = String;

/// A reference to another node, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub node: NodeId,
    pub span: Span,
}

/// One prompt: a recorded file (name under `prompts/<language>/`, no extension) or text for TTS.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    File(String),
    /// Text for the TTS engine; `{var}` is replaced by the call variable.
    Text(String),
}

/// A flow: one file of `ivr-flows/`.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub path: PathBuf,
    /// The file text, kept so that diagnostics can compute lines and columns.
    pub source: Arc<str>,
    pub description: String,
    /// Default language (prompt folder), e.g. `zh-CN`.
    pub language: String,
    /// Other languages the flow offers; their prompts must exist too.
    pub languages: Vec<String>,
    /// Dialled numbers routed to this flow (the config may route more).
    pub dids: Vec<String>,
    pub start: Target,
    pub nodes: BTreeMap<NodeId, Node>,
    /// Span of the `[flow]` table header, for flow-level messages.
    pub header_span: Span,
}

impl Flow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }
}

/// A node with its id and the span of its key.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: NodeId,
    pub span: Span,
    pub kind: NodeKind,
}

/// A menu option: key → target, with an optional spoken label for the
/// "您选择的是…" correction prompt.
#[derive(Debug, Clone)]
pub struct MenuOption {
    pub key: char,
    pub key_span: Span,
    pub target: Target,
    pub label: Option<String>,
}

/// What `*` does in a collect node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StarKey {
    /// Clear what was typed and start again.
    Clear,
    /// Stands for the letter X (the check character of Chinese ID numbers).
    LetterX,
}

/// A branch condition; all fields given in one case must hold.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    pub var: Option<String>,
    pub equals: Option<String>,
    pub one_of: Option<Vec<String>>,
    pub prefix: Option<String>,
    pub empty: Option<bool>,
    /// Caller number is on this named list (e.g. `elderly`, `red`).
    pub caller_in: Option<String>,
    /// Local time of day in [from, to) minutes after midnight; wraps past midnight if from > to.
    pub time: Option<(u16, u16)>,
    /// Days of week, 0 = Monday.
    pub days: Option<Vec<u8>>,
    /// The working calendar says now is (or is not) working time.
    pub working_time: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub when: Condition,
    pub goto: Target,
}

/// Where a lookup goes.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupSource {
    /// An internal query by name, e.g. `ticket_status`.
    Internal(String),
    /// An HTTP request to this URL (`{var}` interpolated, percent-encoded); the node's args go
    /// as a JSON object body (POST) or as query parameters (GET).
    Http { url: String, method: HttpMethod },
}

/// How an HTTP lookup sends its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMethod {
    Get,
    /// The default: a JSON body carries the arguments.
    #[default]
    Post,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferTo {
    Extension(String),
    External(String),
}

/// What a say node speaks.
#[derive(Debug, Clone, PartialEq)]
pub enum SayWhat {
    Number(String),
    Digits(String),
    Date(String),
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Play {
        prompts: Vec<Prompt>,
        next: Target,
    },
    Menu {
        prompts: Vec<Prompt>,
        options: Vec<MenuOption>,
        timeout_ms: u64,
        tries: u32,
        invalid_prompts: Vec<Prompt>,
        no_input: Target,
        /// After too many wrong keys; defaults to `no_input`.
        invalid: Option<Target>,
        /// `0` goes here (a human).
        operator: Option<Target>,
        /// `*` returns to the previous menu.
        back: bool,
    },
    Collect {
        prompts: Vec<Prompt>,
        var: String,
        min: u32,
        max: u32,
        terminator: Option<char>,
        star: StarKey,
        first_timeout_ms: u64,
        inter_digit_timeout_ms: u64,
        tries: u32,
        invalid_prompts: Vec<Prompt>,
        next: Target,
        fail: Target,
    },
    Branch {
        cases: Vec<Case>,
        otherwise: Target,
    },
    Set {
        vars: Vec<(String, String)>,
        /// Prompt speed factor from now on (0.7 = 30 % slower).
        rate: Option<f32>,
        language: Option<String>,
        next: Target,
    },
    Lookup {
        source: LookupSource,
        args: Vec<(String, String)>,
        timeout_ms: u64,
        /// Result fields become variables `<result>.<field>`.
        result: String,
        next: Target,
        not_found: Target,
        error: Target,
    },
    Queue {
        group: String,
        priority: u8,
        /// Where the caller goes after the agent hangs up (e.g. the survey); none ends the call.
        after: Option<Target>,
        fail: Target,
    },
    Transfer {
        to: TransferTo,
        fail: Target,
    },
    Message {
        prompts: Vec<Prompt>,
        max_ms: u64,
        beep: bool,
        next: Target,
    },
    Callback {
        number: String,
        next: Target,
    },
    Survey {
        prompts: Vec<Prompt>,
        scale: u8,
        timeout_ms: u64,
        tries: u32,
        invalid_prompts: Vec<Prompt>,
        next: Target,
        fail: Target,
    },
    Say {
        what: SayWhat,
        before: Vec<Prompt>,
        after: Vec<Prompt>,
        next: Target,
    },
    Language {
        prompts: Vec<Prompt>,
        options: Vec<(char, Span, String)>,
        timeout_ms: u64,
        next: Target,
    },
    Goto {
        target: Target,
    },
    /// Jump into another flow's start; `next: Some` returns there at its `return` node.
    SubFlow {
        flow: String,
        flow_span: Span,
        next: Option<Target>,
    },
    Return,
    Hangup {
        prompts: Vec<Prompt>,
    },
}

impl NodeKind {
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu { .. } => "menu",
            NodeKind::Collect { .. } => "collect",
            NodeKind::Branch { .. } => "branch",
            NodeKind::Set { .. } => "set",
            NodeKind::Lookup { .. } => "lookup",
            NodeKind::Queue { .. } => "queue",
            NodeKind::Transfer { .. } => "transfer",
            NodeKind::Message { .. } => "message",
            NodeKind::Callback { .. } => "callback",
            NodeKind::Survey { .. } => "survey",
            NodeKind::Say { .. } => "say",
            NodeKind::Language { .. } => "language",
            NodeKind::Goto { .. } => "goto",
            NodeKind::SubFlow { .. } => "subflow",
            NodeKind::Return => "return",
            NodeKind::Hangup { .. } => "hangup",
        }
    }

    /// Whether the node waits for the caller (a key or speech) before moving on.
    pub fn waits_for_input(&self) -> bool {
        matches!(
            self,
            NodeKind::Menu { .. }
                | NodeKind::Collect { .. }
                | NodeKind::Survey { .. }
                | NodeKind::Language { .. }
                | NodeKind::Message { .. }
                | NodeKind::Queue { .. }
        )
    }

    /// Outgoing edges with a short label each (for the validator and the graph).
    pub fn edges(&self) -> Vec<(String, &Target)> {
        let mut e: Vec<(String, &Target)> = Vec::new();
        match self {
            NodeKind::Play { next, .. }
            | NodeKind::Set { next, .. }
            | NodeKind::Message { next, .. }
            | NodeKind::Callback { next, .. }
            | NodeKind::Say { next, .. }
            | NodeKind::Language { next, .. } => e.push((String::new(), next)),
            NodeKind::Menu {
                options,
                no_input,
                invalid,
                operator,
                ..
            } => {
                for o in options {
                    e.push((o.key.to_string(), &o.target));
                }
                if let Some(op) = operator {
                    e.push(("0".into(), op));
                }
                e.push(("no input".into(), no_input));
                if let Some(i) = invalid {
                    e.push(("invalid".into(), i));
                }
            }
            NodeKind::Collect { next, fail, .. } | NodeKind::Survey { next, fail, .. } => {
                e.push(("ok".into(), next));
                e.push(("fail".into(), fail));
            }
            NodeKind::Branch { cases, otherwise } => {
                for (i, c) in cases.iter().enumerate() {
                    e.push((format!("case {}", i + 1), &c.goto));
                }
                e.push(("else".into(), otherwise));
            }
            NodeKind::Lookup {
                next,
                not_found,
                error,
                ..
            } => {
                e.push(("found".into(), next));
                e.push(("not found".into(), not_found));
                e.push(("error".into(), error));
            }
            NodeKind::Queue { after, fail, .. } => {
                if let Some(a) = after {
                    e.push(("after agent".into(), a));
                }
                e.push(("fail".into(), fail));
            }
            NodeKind::Transfer { fail, .. } => e.push(("fail".into(), fail)),
            NodeKind::Goto { target } => e.push((String::new(), target)),
            NodeKind::SubFlow { next, .. } => {
                if let Some(n) = next {
                    e.push(("return".into(), n));
                }
            }
            NodeKind::Return | NodeKind::Hangup { .. } => {}
        }
        e
    }
}
