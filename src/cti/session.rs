//! One CTI connection as a sans-IO state machine: authentication, role checks, sequence numbers,
//! the snapshot on (re)connect, takeover. The WebSocket shell feeds it frames and ACD results and
//! sends what [`CtiSession::poll`] returns.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::acd::board::{AgentSnapshot, Board};
use crate::acd::event::{AcdEvent, AgentCommand, Event, SupervisorCommand};
use crate::acd::shell::Published;
use crate::acd::{Ms, Refusal};

use super::protocol::{
    ClientMessage, Command, ErrorBody, ServerBody, ServerMessage, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
};

/// Who a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    /// The agent this user works as, if any.
    pub agent_no: Option<String>,
    pub supervisor: bool,
}

/// The session's question about a hello's token, answered from what it already knows (the
/// session is sans-IO: the shell looks the token up first, see [`TokenLookup`]).
pub trait TokenValidator {
    fn validate(&self, token: &str) -> Result<Principal, String>;
}

/// A verdict of a token lookup, as a future so that the WebSocket shell never blocks a runtime
/// thread on the database (`src/web/auth.rs` implements it over the user store).
pub type Verdict =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Principal, String>> + Send>>;

/// Looks up tokens issued by the login endpoint; what the WebSocket shell asks before the session
/// sees a hello.
pub trait TokenLookup: Send + Sync {
    fn lookup(&self, token: String) -> Verdict;
}

/// Any validator that knows its answers at once (fixed test tokens) is a lookup too.
impl<T: TokenValidator + Send + Sync> TokenLookup for T {
    fn lookup(&self, token: String) -> Verdict {
        Box::pin(std::future::ready(self.validate(&token)))
    }
}

/// A verdict already reached (by [`TokenLookup::lookup`]) for the one token it names.
pub struct Checked {
    pub token: String,
    pub verdict: Result<Principal, String>,
}

impl Checked {
    /// For frames that are not a hello: no token was looked up, none is accepted.
    pub fn nothing() -> Checked {
        Checked {
            token: String::new(),
            verdict: Err("no token was looked up".into()),
        }
    }
}

impl TokenValidator for Checked {
    fn validate(&self, token: &str) -> Result<Principal, String> {
        if token == self.token {
            self.verdict.clone()
        } else {
            Err("token not checked".into())
        }
    }
}

impl CtiSession {
    /// The token of a client's hello, when the session waits for one and `text` is it.
    pub fn hello_token(&self, text: &str) -> Option<String> {
        if self.state != State::AwaitingHello || text.len() > MAX_MESSAGE_BYTES {
            return None;
        }
        match serde_json::from_str(text).ok()? {
            ClientMessage::Hello { token, .. } => Some(token),
            _ => None,
        }
    }
}

/// Read-only questions the shell answers from the ACD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    AgentState(String),
    TransferTargets,
    Board,
}

/// What the shell must do for this session.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionOutput {
    /// Send this frame.
    Send(ServerMessage),
    /// Send this published event as frame `seq` ([`super::protocol::event_frame`]: the event is
    /// serialised once for every session that receives it).
    Event { seq: u64, event: Arc<Published> },
    /// Feed this event to the ACD, then call [`CtiSession::command_result`] with `id`.
    Acd { id: u64, event: Event },
    /// Answer with [`CtiSession::query_result`].
    Query { id: u64, query: Query },
    /// Authenticated: attach to the agent (kicking an older session) and call [`CtiSession::snapshot`].
    Authenticated { principal: Principal },
    /// Close the connection.
    Close { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    AwaitingHello,
    Open(Principal),
    Closed,
}

/// One client connection.
pub struct CtiSession {
    id: u64,
    peer_ip: String,
    state: State,
    seq: u64,
    out: VecDeque<SessionOutput>,
    /// Dial commands get call ids from here: `<session>-<n>`.
    dialled: u64,
}

impl CtiSession {
    pub fn new(id: u64, peer_ip: impl Into<String>) -> Self {
        CtiSession {
            id,
            peer_ip: peer_ip.into(),
            state: State::AwaitingHello,
            seq: 0,
            out: VecDeque::new(),
            dialled: 0,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn principal(&self) -> Option<&Principal> {
        match &self.state {
            State::Open(p) => Some(p),
            _ => None,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn poll(&mut self) -> Option<SessionOutput> {
        self.out.pop_front()
    }

    fn send(&mut self, body: ServerBody) {
        self.seq += 1;
        self.out.push_back(SessionOutput::Send(ServerMessage {
            seq: self.seq,
            body,
        }));
    }

    fn error(&mut self, code: &str, message: impl Into<String>) {
        self.send(ServerBody::Error {
            error: ErrorBody {
                code: code.into(),
                message: message.into(),
            },
        });
    }

    fn close(&mut self, reason: &str) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.out.push_back(SessionOutput::Close {
                reason: reason.into(),
            });
        }
    }

    fn reply(&mut self, id: u64, r: Result<Option<serde_json::Value>, ErrorBody>) {
        let body = match r {
            Ok(data) => ServerBody::Result {
                id,
                ok: true,
                error: None,
                data,
            },
            Err(e) => ServerBody::Result {
                id,
                ok: false,
                error: Some(e),
                data: None,
            },
        };
        self.send(body);
    }

    /// One text frame from the client.
    pub fn handle_text(&mut self, text: &str, auth: &dyn TokenValidator) {
        if self.state == State::Closed {
            return;
        }
        if text.len() > MAX_MESSAGE_BYTES {
            self.error(
                "too_large",
                format!("frames are limited to {MAX_MESSAGE_BYTES} bytes"),
            );
            self.close("frame too large");
            return;
        }
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                self.error("bad_message", e.to_string());
                if self.state == State::AwaitingHello {
                    self.close("bad hello");
                }
                return;
            }
        };
        match (&self.state, msg) {
            (State::AwaitingHello, ClientMessage::Hello { version, token }) => {
                if version != PROTOCOL_VERSION {
                    self.error(
                        "unsupported_version",
                        format!("this server speaks version {PROTOCOL_VERSION}"),
                    );
                    self.close("unsupported version");
                    return;
                }
                match auth.validate(&token) {
                    Ok(p) => {
                        self.state = State::Open(p.clone());
                        self.send(ServerBody::Welcome {
                            version: PROTOCOL_VERSION,
                            session: self.id,
                            user: p.user.clone(),
                            agent_no: p.agent_no.clone(),
                            supervisor: p.supervisor,
                        });
                        self.out
                            .push_back(SessionOutput::Authenticated { principal: p });
                    }
                    Err(why) => {
                        self.error("unauthenticated", why);
                        self.close("bad token");
                    }
                }
            }
            (State::AwaitingHello, _) => {
                self.error("unauthenticated", "send hello with a token first");
                self.close("no hello");
            }
            (State::Open(_), ClientMessage::Hello { .. }) => {
                self.error("bad_message", "already authenticated")
            }
            (State::Open(_), ClientMessage::Ping { id }) => self.send(ServerBody::Pong { id }),
            (State::Open(p), ClientMessage::Command { id, command }) => {
                let p = p.clone();
                self.command(id, command, &p);
            }
            (State::Closed, _) => {}
        }
    }

    fn command(&mut self, id: u64, command: Command, p: &Principal) {
        if command.needs_supervisor() && !p.supervisor {
            self.reply(
                id,
                Err(refusal_body(&Refusal::Forbidden {
                    what: "supervisor command".into(),
                })),
            );
            return;
        }
        let sup = |cmd: SupervisorCommand| Event::Supervisor {
            supervisor: p.agent_no.clone().unwrap_or_else(|| p.user.clone()),
            cmd,
        };
        let ip = self.peer_ip.clone();
        let event = match command {
            Command::Board => {
                self.out.push_back(SessionOutput::Query {
                    id,
                    query: Query::Board,
                });
                return;
            }
            Command::TransferTargets => {
                self.out.push_back(SessionOutput::Query {
                    id,
                    query: Query::TransferTargets,
                });
                return;
            }
            Command::Supervise { agent_no, mode } => {
                sup(SupervisorCommand::Supervise { agent_no, mode })
            }
            Command::StopSupervise { agent_no } => {
                sup(SupervisorCommand::StopSupervise { agent_no })
            }
            Command::ForceNotReady { agent_no, reason } => {
                sup(SupervisorCommand::ForceNotReady { agent_no, reason })
            }
            Command::ForceLogout { agent_no, reason } => {
                sup(SupervisorCommand::ForceLogout { agent_no, reason })
            }
            Command::SetNotReadyCap { group, cap } => {
                sup(SupervisorCommand::SetNotReadyCap { group, cap })
            }
            Command::AddBlacklist {
                number,
                until_ms,
                reason,
            } => sup(SupervisorCommand::AddBlacklist {
                number,
                until_ms,
                reason,
                ip,
            }),
            Command::RemoveBlacklist { number } => {
                sup(SupervisorCommand::RemoveBlacklist { number, ip })
            }
            Command::AddRedList { number, note } => {
                sup(SupervisorCommand::AddRedList { number, note, ip })
            }
            Command::RemoveRedList { number } => {
                sup(SupervisorCommand::RemoveRedList { number, ip })
            }
            agent_cmd => {
                let Some(agent_no) = p.agent_no.clone() else {
                    self.reply(
                        id,
                        Err(refusal_body(&Refusal::Forbidden {
                            what: "this user is not an agent".into(),
                        })),
                    );
                    return;
                };
                let cmd = match agent_cmd {
                    Command::GetState => {
                        self.out.push_back(SessionOutput::Query {
                            id,
                            query: Query::AgentState(agent_no),
                        });
                        return;
                    }
                    Command::Login { endpoint } => AgentCommand::Login {
                        session: self.id,
                        endpoint,
                    },
                    Command::Logout => AgentCommand::Logout,
                    Command::SetReady => AgentCommand::SetReady,
                    Command::SetNotReady { reason } => AgentCommand::SetNotReady { reason },
                    Command::StartBreak { length_ms } => AgentCommand::StartBreak { length_ms },
                    Command::EnterWrapUp => AgentCommand::EnterWrapUp,
                    Command::EndWrapUp => AgentCommand::EndWrapUp,
                    Command::Reset => AgentCommand::Reset,
                    Command::Answer => AgentCommand::Answer,
                    Command::Reject => AgentCommand::Reject,
                    Command::Hangup => AgentCommand::Hangup,
                    Command::Hold => AgentCommand::Hold,
                    Command::Retrieve => AgentCommand::Retrieve,
                    Command::Mute { on } => AgentCommand::Mute { on },
                    Command::Consult { target } => AgentCommand::Consult { target },
                    Command::CancelConsult => AgentCommand::CancelConsult,
                    Command::Transfer { target } => AgentCommand::Transfer { target },
                    Command::ThreeWay => AgentCommand::ThreeWay,
                    Command::DropParty { party } => AgentCommand::DropParty { party },
                    Command::Dial { number } => {
                        self.dialled += 1;
                        let call = format!("out-{}-{}", self.id, self.dialled);
                        AgentCommand::Dial { call, number }
                    }
                    Command::Dtmf { digits } => AgentCommand::Dtmf { digits },
                    Command::PauseRecording { on } => AgentCommand::PauseRecording { on },
                    // supervisor and query commands were handled above
                    _ => return,
                };
                Event::Agent { agent_no, cmd }
            }
        };
        self.out.push_back(SessionOutput::Acd { id, event });
    }

    /// The ACD's answer to command `id`.
    pub fn command_result(&mut self, id: u64, r: Result<(), Refusal>) {
        if self.state == State::Closed {
            return;
        }
        self.reply(id, r.map(|_| None).map_err(|e| refusal_body(&e)));
    }

    /// The answer to query `id`.
    pub fn query_result(&mut self, id: u64, data: serde_json::Value) {
        if self.state == State::Closed {
            return;
        }
        self.reply(id, Ok(Some(data)));
    }

    /// The snapshot after authentication (an agent's own state, or the board for a supervisor).
    pub fn snapshot(&mut self, at_ms: Ms, agent: Option<AgentSnapshot>, board: Option<Board>) {
        if self.principal().is_none() {
            return;
        }
        self.send(ServerBody::Snapshot {
            at_ms,
            agent: agent.map(Box::new),
            board: board.map(Box::new),
        });
    }

    /// An ACD event: sent when it concerns this session's audience (supervisors see everything,
    /// an agent sees its own events and queue statistics).
    pub fn deliver(&mut self, published: &Arc<Published>) {
        let Some(p) = self.principal() else { return };
        let event = &published.event;
        let wanted = p.supervisor
            || matches!(event, AcdEvent::QueueStats(_))
            || (event.agent().is_some() && event.agent() == p.agent_no.as_deref());
        if wanted {
            self.seq += 1;
            self.out.push_back(SessionOutput::Event {
                seq: self.seq,
                event: published.clone(),
            });
        }
    }

    /// Another session took over, or a supervisor signed the agent out.
    pub fn kick(&mut self, reason: &str) {
        if self.state == State::Closed {
            return;
        }
        self.send(ServerBody::Kicked {
            reason: reason.into(),
        });
        self.close(reason);
    }
}

/// A refusal as a wire error: a stable code and the human text.
pub fn refusal_body(r: &Refusal) -> ErrorBody {
    let v = serde_json::to_value(r).ok();
    let code = v
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(|c| c.as_str())
        .unwrap_or("refused")
        .to_string();
    ErrorBody {
        code,
        message: r.to_string(),
    }
}

/// Which session speaks for which agent: a second login takes over from the first.
#[derive(Debug, Default)]
pub struct Registry {
    by_agent: HashMap<String, u64>,
}

impl Registry {
    /// Binds `agent_no` to `session`; returns the session it replaces, to be kicked.
    pub fn attach(&mut self, agent_no: &str, session: u64) -> Option<u64> {
        self.by_agent
            .insert(agent_no.to_string(), session)
            .filter(|&old| old != session)
    }

    /// Forgets `session` if it still speaks for `agent_no`.
    pub fn detach(&mut self, agent_no: &str, session: u64) {
        if self.by_agent.get(agent_no) == Some(&session) {
            self.by_agent.remove(agent_no);
        }
    }

    pub fn session_of(&self, agent_no: &str) -> Option<u64> {
        self.by_agent.get(agent_no).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::AgentState;

    struct Tokens;
    impl TokenValidator for Tokens {
        fn validate(&self, token: &str) -> Result<Principal, String> {
            match token {
                "agent-1001" => Ok(Principal {
                    user: "zhang".into(),
                    agent_no: Some("1001".into()),
                    supervisor: false,
                }),
                "boss" => Ok(Principal {
                    user: "li".into(),
                    agent_no: None,
                    supervisor: true,
                }),
                _ => Err("token expired or unknown".into()),
            }
        }
    }

    fn drain(s: &mut CtiSession) -> Vec<SessionOutput> {
        std::iter::from_fn(|| s.poll()).collect()
    }

    /// Every frame the shell would send, as the client reads it.
    fn sent(out: &[SessionOutput]) -> Vec<ServerMessage> {
        out.iter()
            .filter_map(|o| match o {
                SessionOutput::Send(m) => Some(m.clone()),
                SessionOutput::Event { seq, event } => Some(
                    serde_json::from_str(&super::super::protocol::event_frame(*seq, event))
                        .unwrap(),
                ),
                _ => None,
            })
            .collect()
    }

    fn publish(event: AcdEvent, at_ms: Ms) -> Arc<Published> {
        Published::new(at_ms, event)
    }

    fn hello(s: &mut CtiSession, token: &str) -> Vec<SessionOutput> {
        s.handle_text(
            &format!(r#"{{"type":"hello","version":1,"token":"{token}"}}"#),
            &Tokens,
        );
        drain(s)
    }

    #[test]
    fn hello_authenticates_then_snapshot_with_increasing_seq() {
        let mut s = CtiSession::new(9, "127.0.0.1");
        let out = hello(&mut s, "agent-1001");
        assert!(matches!(
            &sent(&out)[0],
            ServerMessage {
                seq: 1,
                body: ServerBody::Welcome { session: 9, .. }
            }
        ));
        assert!(out.iter().any(|o| matches!(o, SessionOutput::Authenticated { principal } if principal.agent_no.as_deref() == Some("1001"))));
        s.snapshot(5, None, None);
        s.deliver(&publish(
            AcdEvent::AgentState {
                agent_no: "1001".into(),
                state: AgentState::Ready,
                reason: "ready".into(),
                at_ms: 6,
            },
            6,
        ));
        s.deliver(&publish(
            AcdEvent::AgentState {
                agent_no: "2002".into(),
                state: AgentState::Ready,
                reason: "ready".into(),
                at_ms: 6,
            },
            6,
        ));
        let seqs: Vec<u64> = sent(&drain(&mut s)).iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            vec![2, 3],
            "snapshot then own event; another agent's event is not sent"
        );
    }

    #[test]
    fn one_published_event_goes_to_many_sessions_each_with_its_own_seq() {
        let mut boss = CtiSession::new(1, "");
        hello(&mut boss, "boss");
        let mut agent = CtiSession::new(2, "");
        hello(&mut agent, "agent-1001");
        agent.snapshot(1, None, None);
        drain(&mut agent);
        let events: Vec<Arc<Published>> = (0..5u64)
            .map(|i| {
                publish(
                    AcdEvent::AgentState {
                        agent_no: if i == 2 { "2002" } else { "1001" }.into(),
                        state: AgentState::Ready,
                        reason: format!("r{i}"),
                        at_ms: i,
                    },
                    i,
                )
            })
            .collect();
        for e in &events {
            boss.deliver(e);
            agent.deliver(e);
        }
        let (b, a) = (sent(&drain(&mut boss)), sent(&drain(&mut agent)));
        // The supervisor: welcome was 1, then every event in order; the agent: welcome 1,
        // snapshot 2, then its own events only (not 2002's), seq still without gaps.
        assert_eq!(b.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3, 4, 5, 6]);
        assert_eq!(a.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4, 5, 6]);
        let reasons = |v: &[ServerMessage]| -> Vec<String> {
            v.iter()
                .map(|m| match &m.body {
                    ServerBody::Event {
                        event: AcdEvent::AgentState { reason, .. },
                        ..
                    } => reason.clone(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(reasons(&b), ["r0", "r1", "r2", "r3", "r4"]);
        assert_eq!(reasons(&a), ["r0", "r1", "r3", "r4"]);
        // One serialisation per event, shared: the sessions' frames differ only in seq.
        let shared = events[0].wire.get().expect("serialised").to_string();
        let frame = super::super::protocol::event_frame(9, &events[0]);
        assert_eq!(frame, format!("{{\"seq\":9,{}", &shared[1..]));
    }

    #[test]
    fn bad_token_and_missing_hello_close() {
        let mut s = CtiSession::new(1, "");
        let out = hello(&mut s, "nope");
        assert!(
            matches!(&sent(&out)[0].body, ServerBody::Error { error } if error.code == "unauthenticated")
        );
        assert!(matches!(out.last(), Some(SessionOutput::Close { .. })));
        let mut s = CtiSession::new(2, "");
        s.handle_text(r#"{"type":"ping","id":1}"#, &Tokens);
        assert!(matches!(
            drain(&mut s).last(),
            Some(SessionOutput::Close { .. })
        ));
        let mut s = CtiSession::new(3, "");
        s.handle_text(r#"{"type":"hello","version":2,"token":"boss"}"#, &Tokens);
        let out = drain(&mut s);
        assert!(
            matches!(&sent(&out)[0].body, ServerBody::Error { error } if error.code == "unsupported_version")
        );
        let mut s = CtiSession::new(4, "");
        s.handle_text(&"x".repeat(MAX_MESSAGE_BYTES + 1), &Tokens);
        assert!(s.is_closed());
    }

    #[test]
    fn agent_commands_become_acd_events_for_own_agent_only() {
        let mut s = CtiSession::new(7, "10.0.0.5");
        hello(&mut s, "agent-1001");
        s.handle_text(
            r#"{"type":"command","id":1,"command":{"cmd":"login"}}"#,
            &Tokens,
        );
        let out = drain(&mut s);
        assert_eq!(
            out,
            vec![SessionOutput::Acd {
                id: 1,
                event: Event::Agent {
                    agent_no: "1001".into(),
                    cmd: AgentCommand::Login {
                        session: 7,
                        endpoint: None
                    }
                }
            }]
        );
        s.handle_text(r#"{"type":"command","id":2,"command":{"cmd":"force_logout","agent_no":"2","reason":"x"}}"#, &Tokens);
        let out = sent(&drain(&mut s));
        assert!(
            matches!(&out[0].body, ServerBody::Result { id: 2, ok: false, error: Some(e), .. } if e.code == "forbidden")
        );
        s.handle_text(
            r#"{"type":"command","id":3,"command":{"cmd":"dial","number":"110"}}"#,
            &Tokens,
        );
        let out = drain(&mut s);
        assert!(
            matches!(&out[0], SessionOutput::Acd { event: Event::Agent { cmd: AgentCommand::Dial { call, .. }, .. }, .. } if call == "out-7-1")
        );
    }

    #[test]
    fn refusals_come_back_with_codes() {
        let mut s = CtiSession::new(7, "");
        hello(&mut s, "agent-1001");
        s.command_result(
            4,
            Err(Refusal::NotReadyCapReached {
                group: "g".into(),
                cap: 2,
                current: 2,
            }),
        );
        s.command_result(5, Ok(()));
        let out = sent(&drain(&mut s));
        match &out[0].body {
            ServerBody::Result {
                id: 4,
                ok: false,
                error: Some(e),
                ..
            } => {
                assert_eq!(e.code, "not_ready_cap_reached");
                assert!(e.message.contains("at most 2"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &out[1].body,
            ServerBody::Result {
                id: 5,
                ok: true,
                ..
            }
        ));
    }

    #[test]
    fn supervisor_commands_carry_ip_and_see_all_events() {
        let mut s = CtiSession::new(8, "10.9.9.9");
        hello(&mut s, "boss");
        s.handle_text(r#"{"type":"command","id":1,"command":{"cmd":"add_blacklist","number":"139","reason":"abuse"}}"#, &Tokens);
        let out = drain(&mut s);
        assert!(
            matches!(&out[0], SessionOutput::Acd { event: Event::Supervisor { supervisor, cmd: SupervisorCommand::AddBlacklist { ip, .. } }, .. } if ip == "10.9.9.9" && supervisor == "li")
        );
        s.handle_text(
            r#"{"type":"command","id":2,"command":{"cmd":"set_ready"}}"#,
            &Tokens,
        );
        assert!(
            matches!(
                &sent(&drain(&mut s))[0].body,
                ServerBody::Result { ok: false, .. }
            ),
            "a supervisor without an agent number"
        );
        s.deliver(&publish(
            AcdEvent::CallHeld {
                call: "c".into(),
                agent_no: "5".into(),
                held: true,
            },
            1,
        ));
        assert_eq!(sent(&drain(&mut s)).len(), 1);
    }

    #[test]
    fn kick_sends_kicked_then_closes_and_registry_takes_over() {
        let mut reg = Registry::default();
        assert_eq!(reg.attach("1001", 1), None);
        assert_eq!(reg.attach("1001", 2), Some(1));
        reg.detach("1001", 1);
        assert_eq!(reg.session_of("1001"), Some(2));
        let mut s = CtiSession::new(1, "");
        hello(&mut s, "agent-1001");
        s.kick("logged in elsewhere");
        let out = drain(&mut s);
        assert!(matches!(
            &out[0],
            SessionOutput::Send(ServerMessage {
                body: ServerBody::Kicked { .. },
                ..
            })
        ));
        assert!(matches!(&out[1], SessionOutput::Close { .. }));
        s.deliver(&publish(
            AcdEvent::CallHeld {
                call: "c".into(),
                agent_no: "1001".into(),
                held: true,
            },
            1,
        ));
        assert!(drain(&mut s).is_empty(), "nothing after close");
    }

    #[test]
    fn a_hello_is_checked_by_the_verdict_reached_for_its_token() {
        let mut s = CtiSession::new(1, String::from("127.0.0.1"));
        let hello = r#"{"type":"hello","version":1,"token":"t-1001"}"#;
        assert_eq!(s.hello_token(hello).as_deref(), Some("t-1001"));
        assert_eq!(s.hello_token(r#"{"type":"bogus"}"#), None);
        let checked = Checked {
            token: "t-1001".into(),
            verdict: Ok(Principal {
                user: "1001".into(),
                agent_no: Some("1001".into()),
                supervisor: false,
            }),
        };
        s.handle_text(hello, &checked);
        assert_eq!(s.hello_token(hello), None, "no second hello once open");
        assert!(
            checked.validate("another").is_err(),
            "a verdict speaks for its own token only"
        );
    }
}
