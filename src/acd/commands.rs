//! Agent and supervisor commands on the [`Acd`]: the rules that need more than one agent
//! (the not-ready cap, takeover of a session, moving a call on force logout, transfers into queues).

use super::agent::{AgentInput, AgentState, Next, Refusal};
use super::core::{Acd, CallStatus};
use super::event::{
    AcdEvent, Action, AgentCommand, CallOp, OfferFailure, PartyRole, PartyStatus, PersistOp,
    SupervisorCommand, Target,
};
use super::lists::{normalise, BlacklistEntry, RedListEntry};
use super::CallId;

impl Acd {
    pub(super) fn agent_command(
        &mut self,
        agent_no: &str,
        cmd: AgentCommand,
    ) -> Result<(), Refusal> {
        let a = self.agent_index(agent_no)?;
        let state = self.agents[a].state.clone();
        let call = state.call().cloned();
        let control = |acd: &mut Acd, op: CallOp| {
            if let Some(call) = &call {
                acd.emit(Action::CallControl {
                    call: call.clone(),
                    agent_no: agent_no.to_string(),
                    op,
                });
            }
        };
        match cmd {
            AgentCommand::Login { session, endpoint } => {
                self.apply(a, AgentInput::Login)?;
                let agent = &mut self.agents[a];
                let old = agent.session.replace(session);
                if let Some(ep) = endpoint {
                    agent.endpoint = Some(ep);
                }
                if let Some(old) = old.filter(|&o| o != session) {
                    self.emit(Action::KickSession {
                        agent_no: agent_no.to_string(),
                        session: old,
                        reason: "logged in elsewhere".into(),
                    });
                }
                Ok(())
            }
            AgentCommand::Logout => {
                self.apply(a, AgentInput::Logout)?;
                self.agents[a].session = None;
                self.agents[a].pending_not_ready = None;
                if let Some(endpoint) = self.agents[a].endpoint.clone() {
                    self.emit(Action::UnbindEndpoint {
                        agent_no: agent_no.to_string(),
                        endpoint,
                    });
                }
                Ok(())
            }
            AgentCommand::Attach { session } => {
                if state.logged_in() {
                    self.agents[a].session = Some(session);
                }
                Ok(())
            }
            AgentCommand::SetReady => self.apply(a, AgentInput::SetReady),
            AgentCommand::SetNotReady { reason } => {
                if !self.cfg.not_ready_reasons.contains(&reason) {
                    return Err(Refusal::UnknownReason { reason });
                }
                self.check_not_ready_cap(a)?;
                self.apply(a, AgentInput::SetNotReady { reason })
            }
            AgentCommand::StartBreak { length_ms } => {
                self.check_not_ready_cap(a)?;
                self.apply(a, AgentInput::StartBreak { length_ms })
            }
            AgentCommand::EnterWrapUp => self.apply(a, AgentInput::EnterWrapUp),
            AgentCommand::EndWrapUp => {
                if matches!(state, AgentState::WrapUp { .. }) {
                    if let Some(reason) = self.agents[a].pending_not_ready.take() {
                        self.set_state(
                            a,
                            Next {
                                state: AgentState::NotReady { reason },
                                reason: "supervisor".into(),
                            },
                        );
                        return Ok(());
                    }
                }
                self.apply(a, AgentInput::EndWrapUp)
            }
            AgentCommand::Answer => match state {
                AgentState::Ringing { .. } => {
                    control(self, CallOp::Answer);
                    Ok(())
                }
                s => Err(wrong("answer", &s)),
            },
            AgentCommand::Reject => match state {
                AgentState::Ringing { call } => {
                    control(self, CallOp::Reject);
                    self.fail_offer(&call, a, OfferFailure::Rejected);
                    Ok(())
                }
                s => Err(wrong("reject", &s)),
            },
            AgentCommand::Hangup => match state {
                AgentState::Ringing { call } => {
                    control(self, CallOp::Reject);
                    self.fail_offer(&call, a, OfferFailure::Rejected);
                    Ok(())
                }
                // The call layer hangs up and reports CallEnded, which moves the agent to wrap-up.
                s if s.connected() => {
                    control(self, CallOp::Hangup);
                    Ok(())
                }
                s => Err(wrong("hangup", &s)),
            },
            AgentCommand::Hold => {
                self.apply(a, AgentInput::Hold)?;
                control(self, CallOp::Hold);
                self.publish_held(a, true);
                Ok(())
            }
            AgentCommand::Retrieve => {
                self.apply(a, AgentInput::Retrieve)?;
                control(self, CallOp::Retrieve);
                self.publish_held(a, false);
                Ok(())
            }
            AgentCommand::Mute { on } => {
                if !state.connected() {
                    return Err(wrong("mute", &state));
                }
                control(self, CallOp::Mute { on });
                Ok(())
            }
            AgentCommand::Consult { target } => {
                // Consulting a skill group is consulting the agent its strategy picks now.
                let target = match target {
                    Target::Group { group } => {
                        let g = self.group_index(&group)?;
                        let call = state.call().cloned().unwrap_or_default();
                        let t = self
                            .choose_agents(g, &call)
                            .into_iter()
                            .find(|&t| t != a)
                            .ok_or_else(|| Refusal::NoAgentReady {
                                group: self.groups[g].cfg.name.clone(),
                            })?;
                        Target::Agent {
                            agent_no: self.agents[t].profile.agent_no.clone(),
                        }
                    }
                    other => other,
                };
                self.check_target(&target, a)?;
                self.apply(a, AgentInput::ConsultStart)?;
                if let Target::Agent { agent_no: t } = &target {
                    // The colleague is reserved for this call while consulted: no queue call is
                    // offered to them meanwhile.
                    let t = self.agent_index(t)?;
                    let call = state.call().cloned().unwrap_or_default();
                    let _ = self.apply(t, AgentInput::Offer { call });
                }
                control(self, CallOp::Consult { target });
                Ok(())
            }
            AgentCommand::CancelConsult => {
                self.apply(a, AgentInput::ConsultEnd)?;
                control(self, CallOp::CancelConsult);
                Ok(())
            }
            AgentCommand::Transfer { target } => self.transfer(a, target),
            AgentCommand::ThreeWay => {
                self.apply(a, AgentInput::ThreeWay)?;
                control(self, CallOp::ThreeWay);
                Ok(())
            }
            AgentCommand::DropParty { party } => {
                self.apply(a, AgentInput::DropParty)?;
                control(self, CallOp::DropParty { party });
                Ok(())
            }
            AgentCommand::Dial { call, number } => {
                if self.calls.contains_key(&call) || self.outbound.contains_key(&call) {
                    return Err(Refusal::WrongState {
                        op: "dial".into(),
                        state: format!("call id {call} is in use"),
                    });
                }
                if let AgentState::NotReady { reason } = &state {
                    self.agents[a].resume_reason = reason.clone();
                }
                self.apply(a, AgentInput::Dial { call: call.clone() })?;
                self.outbound.insert(call.clone(), a);
                let (endpoint, auto_answer) = (
                    self.agents[a].endpoint.clone(),
                    self.agents[a].profile.auto_answer,
                );
                self.emit(Action::CallControl {
                    call,
                    agent_no: agent_no.to_string(),
                    op: CallOp::Dial {
                        number,
                        endpoint,
                        auto_answer,
                    },
                });
                Ok(())
            }
            AgentCommand::PauseRecording { on } => {
                if !state.connected() {
                    return Err(wrong("pause_recording", &state));
                }
                let call = state.call().cloned().unwrap_or_default();
                control(self, CallOp::PauseRecording { on });
                self.publish(AcdEvent::RecordingPaused {
                    call,
                    agent_no: agent_no.to_string(),
                    paused: on,
                });
                Ok(())
            }
            AgentCommand::Dtmf { digits } => {
                if !state.connected() {
                    return Err(wrong("dtmf", &state));
                }
                if digits.is_empty()
                    || digits.len() > 32
                    || !digits
                        .chars()
                        .all(|c| c.is_ascii_digit() || "*#ABCD".contains(c))
                {
                    return Err(Refusal::WrongState {
                        op: "dtmf".into(),
                        state: "digits must be 1-32 of 0-9*#A-D".into(),
                    });
                }
                control(self, CallOp::Dtmf { digits });
                Ok(())
            }
            AgentCommand::Reset => {
                if !state.logged_in() {
                    return Err(Refusal::NotLoggedIn);
                }
                match &state {
                    AgentState::Ringing { call } => {
                        self.emit(Action::CancelOffer {
                            call: call.clone(),
                            agent_no: agent_no.to_string(),
                        });
                        self.apply(a, AgentInput::Reset)?;
                        self.withdraw_offer(call, a);
                    }
                    s if s.connected() => {
                        // A L1879: reset hangs up the call in progress.
                        control(self, CallOp::Hangup);
                        let call = call.clone().unwrap_or_default();
                        self.outbound.remove(&call);
                        if self.calls.remove(&call).is_some() {
                            self.publish(AcdEvent::CallEnded {
                                call,
                                agent_no: Some(agent_no.to_string()),
                                abandoned: false,
                            });
                        }
                        self.apply(a, AgentInput::Reset)?;
                    }
                    _ => self.apply(a, AgentInput::Reset)?,
                }
                self.agents[a].pending_not_ready = None;
                Ok(())
            }
        }
    }

    fn publish_held(&mut self, a: usize, held: bool) {
        if let Some(call) = self.agents[a].state.call().cloned() {
            self.publish(AcdEvent::CallHeld {
                call,
                agent_no: self.agents[a].profile.agent_no.clone(),
                held,
            });
        }
    }

    /// A L1342: one more voluntary not-ready must not take any of the agent's groups over its cap.
    fn check_not_ready_cap(&self, a: usize) -> Result<(), Refusal> {
        let agent = &self.agents[a];
        if agent.state.counts_as_not_ready() {
            return Ok(()); // changing reason or going on break does not add a not-ready agent
        }
        for &(g, _, _) in &agent.groups {
            let grp = &self.groups[g];
            if let Some(cap) = grp.cfg.not_ready_cap {
                if grp.not_ready >= cap {
                    return Err(Refusal::NotReadyCapReached {
                        group: grp.cfg.name.clone(),
                        cap,
                        current: grp.not_ready,
                    });
                }
            }
        }
        Ok(())
    }

    fn check_target(&self, target: &Target, me: usize) -> Result<(), Refusal> {
        match target {
            Target::Agent { agent_no } => {
                let t = self.agent_index(agent_no)?;
                // A colleague already consulted on this call may take it over (attended transfer).
                let consulted = self.agents[t].state.call().is_some()
                    && self.agents[t].state.call() == self.agents[me].state.call();
                if t == me || (self.agents[t].state != AgentState::Ready && !consulted) {
                    return Err(Refusal::TargetNotReady {
                        agent_no: agent_no.clone(),
                    });
                }
                Ok(())
            }
            Target::Group { group } => self.group_index(group).map(|_| ()),
            Target::External { number } | Target::Department { number } => {
                if normalise(number).is_empty() {
                    return Err(Refusal::WrongState {
                        op: "transfer".into(),
                        state: "an empty number".into(),
                    });
                }
                Ok(())
            }
        }
    }

    /// Blind transfer, or completion of an attended one (the agent is consulting the target).
    fn transfer(&mut self, a: usize, target: Target) -> Result<(), Refusal> {
        let state = self.agents[a].state.clone();
        let agent_no = self.agents[a].profile.agent_no.clone();
        if !state.connected() {
            return Err(wrong("transfer", &state));
        }
        let call = state.call().cloned().unwrap_or_default();
        let inbound = self
            .calls
            .get(&call)
            .is_some_and(|c| c.status == CallStatus::Connected(a));
        if !inbound && !matches!(target, Target::External { .. } | Target::Department { .. }) {
            return Err(Refusal::WrongState {
                op: "transfer of an outbound call into the ACD".into(),
                state: state.name().into(),
            });
        }
        self.check_target(&target, a)?;
        self.emit(Action::CallControl {
            call: call.clone(),
            agent_no: agent_no.clone(),
            op: CallOp::Transfer {
                target: target.clone(),
            },
        });
        self.publish(AcdEvent::CallTransferred {
            call: call.clone(),
            agent_no,
            target: target.clone(),
        });
        if !inbound {
            self.outbound.remove(&call);
            self.apply(a, AgentInput::CallEnded)?;
            return Ok(());
        }
        self.end_agent_part(a, &call);
        match target {
            Target::Group { group } => {
                let g = self.group_index(&group)?;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.status = CallStatus::Waiting;
                    c.gen += 1;
                }
                self.enqueue(&call, g);
                self.publish(AcdEvent::CallRequeued {
                    call,
                    group,
                    reason: "transfer".into(),
                });
            }
            Target::Agent { agent_no } => {
                let t = self.agent_index(&agent_no)?;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.status = CallStatus::Waiting;
                }
                let g = self.calls.get(&call).map_or(0, |c| c.group);
                self.offer(&call, g, vec![t]);
            }
            Target::External { .. } | Target::Department { .. } => {
                // The call leaves the ACD: the B2BUA bridges it outward.
                self.calls.remove(&call);
            }
        }
        Ok(())
    }

    /// A party of an agent's call changed: the desktop hears of it, and a consulted party that
    /// failed or left takes the agent back to talking with the caller.
    pub(super) fn party_update(
        &mut self,
        call: CallId,
        agent_no: String,
        party: String,
        role: PartyRole,
        status: PartyStatus,
    ) -> Result<(), Refusal> {
        let gone = matches!(status, PartyStatus::Failed { .. } | PartyStatus::Left);
        let joined = status == PartyStatus::Joined;
        self.publish(AcdEvent::Party {
            call: call.clone(),
            agent_no: agent_no.clone(),
            party: party.clone(),
            role,
            status,
        });
        if role != PartyRole::Consult {
            return Ok(());
        }
        self.consulted_agent_update(&call, &party, joined, gone);
        if !gone {
            return Ok(());
        }
        let Ok(a) = self.agent_index(&agent_no) else {
            return Ok(());
        };
        let state = self.agents[a].state.clone();
        if state.call() != Some(&call) {
            return Ok(());
        }
        match state {
            AgentState::Consulting { .. } => self.apply(a, AgentInput::ConsultEnd),
            AgentState::Conference { .. } => self.apply(a, AgentInput::DropParty),
            _ => Ok(()),
        }
    }

    /// A consulted colleague (an agent reserved for `call`) answered, or left without taking the
    /// call over.
    fn consulted_agent_update(&mut self, call: &str, party: &str, joined: bool, gone: bool) {
        let Ok(t) = self.agent_index(party) else {
            return;
        };
        if self.agents[t].state.call().map(String::as_str) != Some(call) {
            return;
        }
        let took_over = self
            .calls
            .get(call)
            .is_some_and(|c| c.status == CallStatus::Connected(t));
        if joined && matches!(self.agents[t].state, AgentState::Ringing { .. }) {
            let _ = self.apply(t, AgentInput::Answered);
        } else if gone && !took_over {
            let _ = self.apply(t, AgentInput::ConsultDone);
        }
    }

    pub(super) fn supervisor_command(
        &mut self,
        supervisor: &str,
        cmd: SupervisorCommand,
    ) -> Result<(), Refusal> {
        let now = self.now;
        match cmd {
            SupervisorCommand::Supervise { agent_no, mode } => {
                let a = self.agent_index(&agent_no)?;
                let state = self.agents[a].state.clone();
                if !state.connected() {
                    return Err(Refusal::NotInCall { agent_no });
                }
                let call = state.call().cloned().unwrap_or_default();
                self.emit(Action::Supervise {
                    supervisor: supervisor.to_string(),
                    agent_no: agent_no.clone(),
                    call: call.clone(),
                    mode: Some(mode),
                });
                self.publish(AcdEvent::Supervisor {
                    supervisor: supervisor.to_string(),
                    agent_no,
                    action: format!("{mode:?}").to_lowercase(),
                    call: Some(call.clone()),
                });
                if mode == super::event::SuperviseMode::Intercept {
                    // The supervisor takes the caller over; the agent's part ends.
                    self.outbound.remove(&call);
                    if self
                        .calls
                        .get(&call)
                        .is_some_and(|c| c.status == CallStatus::Connected(a))
                    {
                        self.calls.remove(&call);
                        self.end_agent_part_untracked(a, &call);
                    } else {
                        self.apply(a, AgentInput::CallEnded)?;
                    }
                }
                Ok(())
            }
            SupervisorCommand::StopSupervise { agent_no } => {
                let a = self.agent_index(&agent_no)?;
                let call = self.agents[a]
                    .state
                    .call()
                    .cloned()
                    .ok_or(Refusal::NotInCall {
                        agent_no: agent_no.clone(),
                    })?;
                self.emit(Action::Supervise {
                    supervisor: supervisor.to_string(),
                    agent_no: agent_no.clone(),
                    call: call.clone(),
                    mode: None,
                });
                self.publish(AcdEvent::Supervisor {
                    supervisor: supervisor.to_string(),
                    agent_no,
                    action: "stop".into(),
                    call: Some(call),
                });
                Ok(())
            }
            SupervisorCommand::ForceNotReady { agent_no, reason } => {
                let a = self.agent_index(&agent_no)?;
                let state = self.agents[a].state.clone();
                match &state {
                    AgentState::LoggedOut => return Err(Refusal::NotLoggedIn),
                    AgentState::Ringing { call } => {
                        self.emit(Action::CancelOffer {
                            call: call.clone(),
                            agent_no: agent_no.clone(),
                        });
                        self.set_state(
                            a,
                            Next {
                                state: AgentState::NotReady {
                                    reason: reason.clone(),
                                },
                                reason: "supervisor".into(),
                            },
                        );
                        self.withdraw_offer(call, a);
                    }
                    // In a call: not-ready as soon as the call and its wrap-up are over.
                    s if s.connected() => self.agents[a].pending_not_ready = Some(reason.clone()),
                    _ => self.apply(
                        a,
                        AgentInput::ForceNotReady {
                            reason: reason.clone(),
                        },
                    )?,
                }
                self.publish(AcdEvent::Supervisor {
                    supervisor: supervisor.to_string(),
                    agent_no,
                    action: "force_not_ready".into(),
                    call: None,
                });
                Ok(())
            }
            SupervisorCommand::ForceLogout { agent_no, reason } => {
                self.force_logout(supervisor, &agent_no, reason)
            }
            SupervisorCommand::SetNotReadyCap { group, cap } => {
                let g = self.group_index(&group)?;
                self.groups[g].cfg.not_ready_cap = cap;
                self.emit(Action::Persist(PersistOp::NotReadyCapSet {
                    group,
                    cap,
                    by: supervisor.to_string(),
                    at_ms: now,
                }));
                let row = self.queue_row(g, now);
                self.publish(AcdEvent::QueueStats(row));
                Ok(())
            }
            SupervisorCommand::AddBlacklist {
                number,
                until_ms,
                reason,
                ip,
            } => {
                if normalise(&number).is_empty() {
                    return Err(Refusal::WrongState {
                        op: "blacklist".into(),
                        state: "an empty number".into(),
                    });
                }
                let e = self.lists.add_black(BlacklistEntry {
                    number,
                    until_ms,
                    reason,
                    added_by: supervisor.to_string(),
                    added_ip: ip,
                    added_ms: now,
                });
                self.emit(Action::Persist(PersistOp::BlacklistAdded(e)));
                Ok(())
            }
            SupervisorCommand::RemoveBlacklist { number, ip } => {
                let e = self
                    .lists
                    .remove_black(&number)
                    .ok_or(Refusal::WrongState {
                        op: "remove from blacklist".into(),
                        state: "number not listed".into(),
                    })?;
                self.emit(Action::Persist(PersistOp::BlacklistRemoved {
                    number: e.number,
                    by: supervisor.to_string(),
                    ip,
                    at_ms: now,
                }));
                Ok(())
            }
            SupervisorCommand::AddRedList { number, note, ip } => {
                if normalise(&number).is_empty() {
                    return Err(Refusal::WrongState {
                        op: "red list".into(),
                        state: "an empty number".into(),
                    });
                }
                let e = self.lists.add_red(RedListEntry {
                    number,
                    note,
                    added_by: supervisor.to_string(),
                    added_ip: ip,
                    added_ms: now,
                });
                self.emit(Action::Persist(PersistOp::RedListAdded(e)));
                Ok(())
            }
            SupervisorCommand::RemoveRedList { number, ip } => {
                let e = self.lists.remove_red(&number).ok_or(Refusal::WrongState {
                    op: "remove from red list".into(),
                    state: "number not listed".into(),
                })?;
                self.emit(Action::Persist(PersistOp::RedListRemoved {
                    number: e.number,
                    by: supervisor.to_string(),
                    ip,
                    at_ms: now,
                }));
                Ok(())
            }
        }
    }

    /// Ends the agent's part of a call that the ACD no longer tracks (intercepted).
    fn end_agent_part_untracked(&mut self, a: usize, _call: &str) {
        let _ = self.apply(a, AgentInput::CallEnded);
    }

    /// B1 L3400: the agent is signed out at once; a live call goes back to the front of its queue
    /// (its class's front) and is offered to the next agent.
    fn force_logout(
        &mut self,
        supervisor: &str,
        agent_no: &str,
        reason: String,
    ) -> Result<(), Refusal> {
        let a = self.agent_index(agent_no)?;
        let state = self.agents[a].state.clone();
        if !state.logged_in() {
            return Err(Refusal::NotLoggedIn);
        }
        let mut moved = None;
        if let Some(call) = state.call().cloned() {
            if let AgentState::Ringing { .. } = state {
                self.emit(Action::CancelOffer {
                    call: call.clone(),
                    agent_no: agent_no.to_string(),
                });
            } else if self.outbound.remove(&call).is_some() {
                self.emit(Action::CallControl {
                    call: call.clone(),
                    agent_no: agent_no.to_string(),
                    op: CallOp::Hangup,
                });
            } else {
                self.emit(Action::CallControl {
                    call: call.clone(),
                    agent_no: agent_no.to_string(),
                    op: CallOp::DetachAgent,
                });
                moved = Some(call.clone());
            }
            self.set_state(
                a,
                Next {
                    state: AgentState::LoggedOut,
                    reason: format!("force_logout: {reason}"),
                },
            );
            if let AgentState::Ringing { .. } = state {
                self.withdraw_offer(&call, a);
            }
        } else {
            self.set_state(
                a,
                Next {
                    state: AgentState::LoggedOut,
                    reason: format!("force_logout: {reason}"),
                },
            );
        }
        if let Some(call) = moved {
            if let Some(c) = self.calls.get_mut(&call) {
                c.status = CallStatus::Offered; // so back_to_waiting requeues it
                c.offers.clear();
                let g = c.group;
                self.back_to_waiting(&call, true);
                let group = self.groups[g].cfg.id.clone();
                self.publish(AcdEvent::CallRequeued {
                    call,
                    group,
                    reason: "force_logout".into(),
                });
            }
        }
        if let Some(session) = self.agents[a].session.take() {
            self.emit(Action::KickSession {
                agent_no: agent_no.to_string(),
                session,
                reason: format!("signed out by supervisor {supervisor}: {reason}"),
            });
        }
        self.agents[a].pending_not_ready = None;
        if let Some(endpoint) = self.agents[a].endpoint.clone() {
            self.emit(Action::UnbindEndpoint {
                agent_no: agent_no.to_string(),
                endpoint,
            });
        }
        self.publish(AcdEvent::Supervisor {
            supervisor: supervisor.to_string(),
            agent_no: agent_no.to_string(),
            action: "force_logout".into(),
            call: None,
        });
        Ok(())
    }
}

fn wrong(op: &str, s: &AgentState) -> Refusal {
    Refusal::WrongState {
        op: op.to_string(),
        state: s.name().to_string(),
    }
}
