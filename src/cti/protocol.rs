//! The CTI wire protocol, version 1: JSON text frames over the `/ws/cti` WebSocket.
//! Documented for desktop and third-party integrators in `docs/cti-protocol.md`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::acd::board::{AgentSnapshot, Board};
use crate::acd::event::{SuperviseMode, Target};
use crate::acd::shell::Published;
use crate::acd::{AcdEvent, Endpoint, GroupId, Ms};

pub const PROTOCOL_VERSION: u32 = 1;
/// Longest client frame accepted; longer ones close the session.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A frame from the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First frame: the protocol version and a token from the login endpoint.
    Hello {
        version: u32,
        token: String,
    },
    /// A command; the reply is a `result` frame with the same `id`.
    Command {
        id: u64,
        command: Command,
    },
    Ping {
        id: u64,
    },
}

/// Commands. Agent commands act on the authenticated agent; supervisor commands need the
/// supervisor role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    // agent state (A L3447-3471)
    Login {
        #[serde(default)]
        endpoint: Option<Endpoint>,
    },
    Logout,
    SetReady,
    SetNotReady {
        reason: String,
    },
    StartBreak {
        length_ms: Ms,
    },
    EnterWrapUp,
    EndWrapUp,
    Reset,
    GetState,
    // call control
    Answer,
    Reject,
    Hangup,
    Hold,
    Retrieve,
    Mute {
        on: bool,
    },
    Consult {
        target: Target,
    },
    CancelConsult,
    Transfer {
        target: Target,
    },
    ThreeWay,
    DropParty {
        party: String,
    },
    Dial {
        number: String,
    },
    Dtmf {
        digits: String,
    },
    PauseRecording {
        on: bool,
    },
    /// Groups as "name(idle)(queued)" for the transfer picker.
    TransferTargets,
    // supervisor
    Board,
    Supervise {
        agent_no: String,
        mode: SuperviseMode,
    },
    StopSupervise {
        agent_no: String,
    },
    ForceNotReady {
        agent_no: String,
        reason: String,
    },
    ForceLogout {
        agent_no: String,
        reason: String,
    },
    SetNotReadyCap {
        group: GroupId,
        cap: Option<u32>,
    },
    AddBlacklist {
        number: String,
        #[serde(default)]
        until_ms: Option<Ms>,
        reason: String,
    },
    RemoveBlacklist {
        number: String,
    },
    AddRedList {
        number: String,
        #[serde(default)]
        note: String,
    },
    RemoveRedList {
        number: String,
    },
}

impl Command {
    /// Commands that act on other agents or on centre-wide settings.
    pub fn needs_supervisor(&self) -> bool {
        matches!(
            self,
            Command::Board
                | Command::Supervise { .. }
                | Command::StopSupervise { .. }
                | Command::ForceNotReady { .. }
                | Command::ForceLogout { .. }
                | Command::SetNotReadyCap { .. }
                | Command::AddBlacklist { .. }
                | Command::RemoveBlacklist { .. }
                | Command::AddRedList { .. }
                | Command::RemoveRedList { .. }
        )
    }
}

/// An error carried in `result` and `error` frames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine code (`not_ready_cap_reached`, `logout_during_call`, `bad_message`, ...).
    pub code: String,
    /// Human text for the desktop.
    pub message: String,
}

/// A frame from the server: every one carries the session's next sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMessage {
    pub seq: u64,
    #[serde(flatten)]
    pub body: ServerBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerBody {
    Welcome {
        version: u32,
        session: u64,
        user: String,
        agent_no: Option<String>,
        supervisor: bool,
    },
    /// Sent after `welcome` and after every reconnect: the whole state to draw from.
    Snapshot {
        at_ms: Ms,
        agent: Option<Box<AgentSnapshot>>,
        board: Option<Box<Board>>,
    },
    Result {
        id: u64,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<ErrorBody>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        data: Option<serde_json::Value>,
    },
    Event {
        at_ms: Ms,
        event: AcdEvent,
    },
    /// Another login took this agent over, or a supervisor signed the agent out. The server closes next.
    Kicked {
        reason: String,
    },
    Error {
        #[serde(flatten)]
        error: ErrorBody,
    },
    Pong {
        id: u64,
    },
}

/// The `event` frame of a published event for a session at `seq`: byte for byte what serialising
/// [`ServerMessage`] gives, but the event is serialised once and shared by every session; each
/// session only writes its own `seq` in front. Empty if the event cannot be serialised.
pub fn event_frame(seq: u64, p: &Published) -> String {
    let wire = p.wire.get_or_init(|| event_body(p.at_ms, &p.event));
    // `{"type":"event",...}` → `{"seq":N,"type":"event",...}`
    let Some(rest) = wire.strip_prefix('{') else {
        return String::new();
    };
    let mut out = String::with_capacity(rest.len() + 28);
    let _ = write!(out, "{{\"seq\":{seq},");
    out.push_str(rest);
    out
}

/// `ServerBody::Event` as JSON, borrowing the event (the same field order as the enum's tag and
/// fields, which [`ServerMessage`] flattens after `seq`).
fn event_body(at_ms: Ms, event: &AcdEvent) -> Box<str> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        at_ms: Ms,
        event: &'a AcdEvent,
    }
    serde_json::to_string(&Body {
        kind: "event",
        at_ms,
        event,
    })
    .map(String::into_boxed_str)
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse() {
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"hello","version":1,"token":"t"}"#).unwrap();
        assert_eq!(
            m,
            ClientMessage::Hello {
                version: 1,
                token: "t".into()
            }
        );
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"command","id":7,"command":{"cmd":"set_not_ready","reason":"meeting"}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ClientMessage::Command {
                id: 7,
                command: Command::SetNotReady {
                    reason: "meeting".into()
                }
            }
        );
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"command","id":8,"command":{"cmd":"transfer","target":{"kind":"group","group":"g1"}}}"#,
        )
        .unwrap();
        assert!(matches!(
            m,
            ClientMessage::Command {
                command: Command::Transfer {
                    target: Target::Group { .. }
                },
                ..
            }
        ));
    }

    #[test]
    fn unknown_fields_and_commands_are_errors() {
        assert!(serde_json::from_str::<ClientMessage>(
            r#"{"type":"hello","version":1,"token":"t","x":1}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ClientMessage>(
            r#"{"type":"command","id":1,"command":{"cmd":"explode"}}"#
        )
        .is_err());
    }

    #[test]
    fn server_event_frame_shape() {
        let m = ServerMessage {
            seq: 3,
            body: ServerBody::Event {
                at_ms: 10,
                event: AcdEvent::CallHeld {
                    call: "c".into(),
                    agent_no: "1".into(),
                    held: true,
                },
            },
        };
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["seq"], 3);
        assert_eq!(v["type"], "event");
        assert_eq!(v["event"]["event"], "call_held");
        let back: ServerMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn shared_event_frame_is_the_serialised_message() {
        let event = AcdEvent::CallRinging {
            call: "c-1".into(),
            agent_no: "1001".into(),
            caller: "13800138000".into(),
            did: "12345".into(),
            group: "g".into(),
            group_name: "南宁 \"12345\"".into(),
            ivr_path: vec!["1".into(), "3".into()],
            waited_ms: 4200,
            red_list: false,
            history: None,
            auto_answer: true,
            callback: false,
        };
        let p = Published::new(77, event.clone());
        for seq in [1, 42, u64::MAX] {
            let frame = event_frame(seq, &p);
            let whole = serde_json::to_string(&ServerMessage {
                seq,
                body: ServerBody::Event {
                    at_ms: 77,
                    event: event.clone(),
                },
            })
            .unwrap();
            assert_eq!(frame, whole);
        }
        assert!(
            p.wire.get().is_some(),
            "serialised once, kept for the next session"
        );
    }
}
