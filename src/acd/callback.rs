//! Keeping callback promises (回拨): each attempt an agent makes either reaches the citizen (the
//! promise is kept) or not (busy, no answer, unreachable, the agent gave up); a failed attempt
//! puts the promise back in its queue after `callback_retry_ms`, at its old place, until
//! `callback_attempts` calls were made. Every outcome is persisted, so a restart neither forgets
//! a promise nor calls a citizen twice.

use super::core::{Acd, CallStatus, Timer};
use super::event::{AcdEvent, Action, PersistOp};
use super::Refusal;

impl Acd {
    /// The engine tells how an attempt went.
    pub(super) fn callback_result(
        &mut self,
        id: &str,
        reached: bool,
        code: u16,
        reason: String,
    ) -> Result<(), Refusal> {
        let now = self.now;
        let c = self
            .calls
            .get_mut(id)
            .filter(|c| c.callback.is_some())
            .ok_or_else(|| Refusal::UnknownCall {
                call: id.to_string(),
            })?;
        if reached {
            c.callback_reached = true;
            let agent_no = match c.status {
                CallStatus::Connected(a) => self.agents[a].profile.agent_no.clone(),
                _ => String::new(),
            };
            self.emit(Action::Persist(PersistOp::CallbackDone {
                call: id.to_string(),
                agent_no,
                at_ms: now,
                outcome: "reached".into(),
            }));
            return Ok(());
        }
        c.callback_failure = Some(format!("{code} {reason}"));
        if c.status == CallStatus::Offered {
            // The number could not be dialled at all: not the agents' doing, so they are released
            // as if the offer had been withdrawn.
            let offers = std::mem::take(&mut c.offers);
            for o in offers {
                self.emit(Action::CancelOffer {
                    call: id.to_string(),
                    agent_no: self.agents[o].profile.agent_no.clone(),
                });
                let _ = self.apply(o, super::agent::AgentInput::OfferCancelled);
            }
            self.remove_from_queue(id);
            self.callback_attempt_failed(id, usize::MAX);
        }
        Ok(())
    }

    /// An attempt ended without reaching the citizen (agent `a`, or `usize::MAX` for none).
    pub(super) fn callback_attempt_failed(&mut self, id: &str, a: usize) {
        let now = self.now;
        let (max, retry) = (self.cfg.callback_attempts, self.cfg.callback_retry_ms);
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.callback_attempts += 1;
        let attempts = c.callback_attempts;
        let outcome = c
            .callback_failure
            .take()
            .unwrap_or_else(|| "the agent ended the attempt".into());
        let agent_no = self
            .agents
            .get(a)
            .map(|x| x.profile.agent_no.clone())
            .unwrap_or_default();
        if attempts >= max {
            self.calls.remove(id);
            self.emit(Action::Persist(PersistOp::CallbackDone {
                call: id.to_string(),
                agent_no: agent_no.clone(),
                at_ms: now,
                outcome: format!("given up after {attempts} attempts: {outcome}"),
            }));
            self.publish(AcdEvent::CallEnded {
                call: id.to_string(),
                agent_no: (!agent_no.is_empty()).then_some(agent_no),
                abandoned: true,
            });
            return;
        }
        c.status = CallStatus::Waiting;
        c.offers.clear();
        c.gen += 1;
        let gen = c.gen;
        self.emit(Action::Persist(PersistOp::CallbackAttempt {
            call: id.to_string(),
            attempts,
            outcome,
            at_ms: now,
        }));
        self.push_timer(
            now.saturating_add(retry),
            Timer::CallbackRetry(id.to_string(), gen),
        );
    }

    /// The wait after a failed attempt is over: the promise is in its queue again.
    pub(super) fn callback_retry(&mut self, id: &str, gen: u64) {
        let Some(c) = self.calls.get(id) else { return };
        if c.gen != gen || c.status != CallStatus::Waiting {
            return;
        }
        let g = c.group;
        if !self.groups[g].queue.iter().any(|x| x == id) {
            self.insert_in_queue(id, g, false);
        }
        self.dispatch();
    }
}
