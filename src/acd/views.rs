//! Read-only views of the ACD: the live board, the transfer picker, snapshots, queue order.

use super::board::{AgentRow, Board, QueueRow, TransferTarget};
use super::core::Acd;
use super::{AgentProfile, AgentState, CallId, Ms};

impl Acd {
    /// The queue rows of the board alone (cheaper than [`Acd::board`]).
    pub fn queue_rows(&self, now: Ms) -> Vec<QueueRow> {
        (0..self.groups.len())
            .map(|g| self.queue_row(g, now))
            .collect()
    }

    /// The live board at `now`.
    pub fn board(&self, now: Ms) -> Board {
        Board {
            at_ms: now,
            agents: (0..self.agents.len())
                .map(|a| self.agent_row(a, now))
                .collect(),
            queues: (0..self.groups.len())
                .map(|g| self.queue_row(g, now))
                .collect(),
        }
    }

    pub(super) fn agent_row(&self, a: usize, now: Ms) -> AgentRow {
        let agent = &self.agents[a];
        AgentRow {
            agent_no: agent.profile.agent_no.clone(),
            name: agent.profile.name.clone(),
            state: agent.state.clone(),
            since_ms: agent.since,
            time_in_state_ms: now.saturating_sub(agent.since),
            groups: agent
                .groups
                .iter()
                .map(|&(g, _, _)| self.groups[g].cfg.id.clone())
                .collect(),
            calls: agent.calls,
            talk_ms: agent.talk_ms,
        }
    }

    pub(super) fn queue_row(&self, g: usize, now: Ms) -> QueueRow {
        let grp = &self.groups[g];
        let longest = grp
            .queue
            .iter()
            .filter_map(|id| self.calls.get(id))
            .filter(|c| c.callback.is_none())
            .map(|c| now.saturating_sub(c.arrived))
            .max()
            .unwrap_or(0);
        let s = &grp.stats;
        QueueRow {
            group: grp.cfg.id.clone(),
            name: grp.cfg.name.clone(),
            waiting: grp.queue.len(),
            longest_wait_ms: longest,
            logged_in: grp.logged_in,
            ready: grp.ready,
            not_ready: grp.not_ready,
            not_ready_cap: grp.cfg.not_ready_cap,
            entered: s.entered,
            answered: s.answered,
            answered_in_sl: s.answered_in_sl,
            abandoned: s.abandoned,
            overflowed: s.overflowed,
            callbacks: self
                .calls
                .values()
                .filter(|c| c.group == g && c.callback.is_some())
                .count(),
            service_level_permille: QueueRow::service_level(
                s.answered_in_sl,
                s.answered,
                s.abandoned,
            ),
        }
    }

    /// The transfer picker: every group as "name (idle)(queued)" (A L1395).
    pub fn transfer_targets(&self) -> Vec<TransferTarget> {
        self.groups
            .iter()
            .map(|g| TransferTarget {
                group: g.cfg.id.clone(),
                name: g.cfg.name.clone(),
                idle: g.ready,
                queued: g.queue.len(),
            })
            .collect()
    }

    /// One agent's state (A L1872, get agent state).
    pub fn agent_state(&self, agent_no: &str) -> Option<&AgentState> {
        self.agent_ix.get(agent_no).map(|&a| &self.agents[a].state)
    }

    /// The profile of an agent.
    pub fn agent_profile(&self, agent_no: &str) -> Option<&AgentProfile> {
        self.agent_ix
            .get(agent_no)
            .map(|&a| &self.agents[a].profile)
    }

    /// The CTI session currently bound to an agent.
    pub fn agent_session(&self, agent_no: &str) -> Option<u64> {
        self.agent_ix
            .get(agent_no)
            .and_then(|&a| self.agents[a].session)
    }

    /// Call ids waiting in a group, in queue order.
    pub fn queue_order(&self, group: &str) -> Vec<CallId> {
        self.group_ix
            .get(group)
            .map(|&g| self.groups[g].queue.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The snapshot a (re)connecting CTI client gets: its row and the queues of its groups.
    pub fn agent_snapshot(&self, agent_no: &str, now: Ms) -> Option<super::board::AgentSnapshot> {
        let &a = self.agent_ix.get(agent_no)?;
        let call = self.agents[a].state.call().and_then(|id| {
            let c = self.calls.get(id)?;
            Some(super::board::CallInfo {
                call: id.clone(),
                caller: c.caller.clone(),
                did: c.did.clone(),
                group: self.groups[c.group].cfg.id.clone(),
                group_name: self.groups[c.group].cfg.name.clone(),
                waited_ms: now.saturating_sub(c.arrived),
            })
        });
        Some(super::board::AgentSnapshot {
            agent: self.agent_row(a, now),
            auto_answer: self.agents[a].profile.auto_answer,
            call,
            queues: self.agents[a]
                .groups
                .iter()
                .map(|&(g, _, _)| self.queue_row(g, now))
                .collect(),
            not_ready_reasons: self.cfg.not_ready_reasons.clone(),
        })
    }
}
