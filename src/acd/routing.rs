//! Routing: which waiting call goes to which ready agent, and the offer itself.

use super::agent::AgentInput;
use super::config::Strategy;
use super::core::{Acd, CallStatus, HeadKey, Timer};
use super::event::{AcdEvent, Action};
use super::queue::cross_queue_key;
use super::strategy::{self, Candidate};
use super::{AgentState, CallId};

/// How long after the ring timeout the ACD gives up on an offer the call layer has not resolved.
pub const RING_BACKSTOP_GRACE_MS: super::Ms = 5_000;

impl Acd {
    /// Offers waiting calls to ready agents until no pair is left. The highest-priority, longest
    /// waiting head call across all groups goes first, so an agent in several groups serves the
    /// most urgent caller.
    pub(super) fn dispatch(&mut self) {
        let bound = self.calls.len() + self.agents.len() + 1;
        for _ in 0..bound {
            let mut best: Option<(HeadKey, usize, CallId)> = None;
            for (g, grp) in self.groups.iter().enumerate() {
                if grp.ready == 0 {
                    continue;
                }
                let head = grp
                    .queue
                    .iter()
                    .filter_map(|id| self.calls.get(id))
                    .find(|c| c.status == CallStatus::Waiting);
                if let Some(c) = head {
                    let k = cross_queue_key(c.priority, c.arrived, c.seq);
                    if best.as_ref().is_none_or(|(bk, _, _)| k < *bk) {
                        best = Some((k, g, c.id.clone()));
                    }
                }
            }
            let Some((_, g, id)) = best else { return };
            let chosen = self.choose_agents(g, &id);
            if chosen.is_empty() {
                // Counters say someone is ready but nobody is: a bug, not a reason to spin.
                tracing::warn!(group = %self.groups[g].cfg.id, "ready count without a ready member");
                return;
            }
            self.offer(&id, g, chosen);
        }
    }

    pub(super) fn choose_agents(&self, g: usize, id: &str) -> Vec<usize> {
        let grp = &self.groups[g];
        let ready = |a: usize| self.agents[a].state == AgentState::Ready;
        if grp.cfg.last_agent_first {
            let last = self.calls.get(id).and_then(|c| c.last_agent.as_ref());
            if let Some(&a) = last.and_then(|no| self.agent_ix.get(no)) {
                if ready(a) && grp.members.contains(&a) {
                    return vec![a];
                }
            }
        }
        if grp.cfg.strategy == Strategy::RingAll {
            return grp.members.iter().copied().filter(|&a| ready(a)).collect();
        }
        let n = grp.members.len();
        let mut best: Option<((u64, u64, u64), usize)> = None;
        for (pos, &a) in grp.members.iter().enumerate() {
            let agent = &self.agents[a];
            if agent.state != AgentState::Ready {
                continue;
            }
            let level = agent.groups.iter().find(|x| x.0 == g).map_or(0, |x| x.2);
            let cand = Candidate {
                member_pos: pos,
                idle_since: agent.idle_since,
                calls: agent.calls,
                talk_ms: agent.talk_ms,
                level,
            };
            let k = strategy::key(grp.cfg.strategy, &cand, grp.rr_last, n);
            if best.is_none_or(|(bk, _)| k < bk) {
                best = Some((k, a));
            }
        }
        best.map(|(_, a)| vec![a]).unwrap_or_default()
    }

    /// Offers call `id` to `agents` (several under ring-all).
    pub(super) fn offer(&mut self, id: &str, g: usize, agents: Vec<usize>) {
        let now = self.now;
        let ring = self.groups[g].cfg.ring_timeout_ms;
        for &a in &agents {
            if self
                .apply(
                    a,
                    AgentInput::Offer {
                        call: id.to_string(),
                    },
                )
                .is_err()
            {
                continue;
            }
            if let Some(&(_, pos, _)) = self.agents[a].groups.iter().find(|x| x.0 == g) {
                self.groups[g].rr_last = pos;
            }
        }
        let agents: Vec<usize> = agents
            .into_iter()
            .filter(|&a| self.agents[a].state.call().map(String::as_str) == Some(id))
            .collect();
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        if agents.is_empty() {
            return;
        }
        c.status = CallStatus::Offered;
        c.offers = agents.clone();
        c.gen += 1;
        let gen = c.gen;
        let (caller, did, ivr, history, red, callback, arrived) = (
            c.caller.clone(),
            c.did.clone(),
            c.ivr_path.clone(),
            c.history.clone(),
            c.red_list,
            c.callback.clone(),
            c.arrived,
        );
        for a in agents {
            let agent = &self.agents[a];
            let agent_no = agent.profile.agent_no.clone();
            let auto_answer = agent.profile.auto_answer;
            self.emit(Action::OfferCall {
                call: id.to_string(),
                agent_no: agent_no.clone(),
                endpoint: agent.endpoint.clone(),
                auto_answer,
                ring_timeout_ms: ring,
                callback: callback.clone(),
            });
            self.publish(AcdEvent::CallRinging {
                call: id.to_string(),
                agent_no,
                caller: caller.clone(),
                did: did.clone(),
                group: self.groups[g].cfg.id.clone(),
                group_name: self.groups[g].cfg.name.clone(),
                ivr_path: ivr.clone(),
                waited_ms: now.saturating_sub(arrived),
                red_list: red,
                history: history.clone(),
                auto_answer,
                callback: callback.is_some(),
            });
        }
        // The call layer rings for `ring` and reports the outcome; this timer is the backstop for
        // an outcome that never comes, late enough that a busy call layer's answer is not beaten.
        let backstop = ring.saturating_add(RING_BACKSTOP_GRACE_MS);
        self.push_timer(
            now.saturating_add(backstop),
            Timer::Ring(id.to_string(), gen),
        );
    }
}
