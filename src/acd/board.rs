//! The live board (坐席监控 / 排队监控): every agent with state and time in state, every queue with its
//! waiting calls, longest wait, 15-second service level and abandoned calls; and the transfer picker.

use serde::{Deserialize, Serialize};

use super::agent::AgentState;
use super::{GroupId, Ms};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    pub agent_no: String,
    pub name: String,
    pub state: AgentState,
    pub since_ms: Ms,
    pub time_in_state_ms: Ms,
    pub groups: Vec<GroupId>,
    pub calls: u32,
    pub talk_ms: u64,
}

/// Counters since the ACD started (the reports module keeps the long history).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRow {
    pub group: GroupId,
    pub name: String,
    pub waiting: usize,
    pub longest_wait_ms: Ms,
    pub logged_in: u32,
    pub ready: u32,
    pub not_ready: u32,
    pub not_ready_cap: Option<u32>,
    /// Calls that entered this queue.
    pub entered: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    /// Callback promises of this group not kept yet (in the queue, or waiting to be tried again).
    #[serde(default)]
    pub callbacks: usize,
    /// answered within 15 s / (answered + abandoned), in per mille; `None` before any call finished.
    pub service_level_permille: Option<u32>,
}

impl QueueRow {
    pub fn service_level(answered_in_sl: u64, answered: u64, abandoned: u64) -> Option<u32> {
        let done = answered + abandoned;
        (done > 0).then(|| (answered_in_sl * 1000 / done) as u32)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    pub at_ms: Ms,
    pub agents: Vec<AgentRow>,
    pub queues: Vec<QueueRow>,
}

/// One skill group in the transfer picker (A L1395: "技能组名称(空闲人数)(排队人数)").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferTarget {
    pub group: GroupId,
    pub name: String,
    pub idle: u32,
    pub queued: usize,
}

impl TransferTarget {
    pub fn label(&self) -> String {
        format!("{}({})({})", self.name, self.idle, self.queued)
    }
}

/// The call an agent is on, for a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInfo {
    pub call: String,
    pub caller: String,
    pub did: String,
    pub group: GroupId,
    pub group_name: String,
    pub waited_ms: Ms,
}

/// What a (re)connecting agent desktop needs to draw itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    pub agent: AgentRow,
    pub auto_answer: bool,
    pub call: Option<CallInfo>,
    pub queues: Vec<QueueRow>,
    pub not_ready_reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picker_label_format() {
        let t = TransferTarget {
            group: "g".into(),
            name: "医保(个人)".into(),
            idle: 3,
            queued: 12,
        };
        assert_eq!(t.label(), "医保(个人)(3)(12)");
    }

    #[test]
    fn service_level_per_mille() {
        assert_eq!(QueueRow::service_level(0, 0, 0), None);
        assert_eq!(QueueRow::service_level(19, 19, 1), Some(950));
    }
}
