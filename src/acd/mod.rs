//! ACD: skill-group queues, routing strategies, the agent state machine, supervisor actions.
//!
//! One [`Acd`] value owns every agent and every queue. It is sans-IO: feed it one [`Event`] with the
//! current time (`handle(event, now_ms)`), then drain [`Acd::poll`] for [`Action`]s (offer this call to
//! that agent's endpoint, announce a position, persist a state change, publish an event for the CTI
//! bridge, arm the timer). Time is unix milliseconds passed in by the caller; the next deadline is
//! also available from [`Acd::poll_timeout`], at which the shell feeds [`Event::Tick`].

pub mod agent;
pub mod board;
mod callback;
mod commands;
pub mod config;
pub mod core;
pub mod event;
pub mod file;
pub mod lists;
pub mod queue;
mod routing;
pub use self::routing::RING_BACKSTOP_GRACE_MS;
pub mod shell;
pub mod store;
pub mod strategy;
#[cfg(test)]
mod tests;
mod views;

pub use self::agent::{AgentProfile, AgentState, Endpoint, Refusal};
pub use self::board::{AgentRow, AgentSnapshot, Board, QueueRow, TransferTarget as PickerEntry};
pub use self::config::{
    AcdConfig, DidRoute, GroupConfig, OverflowRule, OverflowTarget, OverflowTrigger, Strategy,
};
pub use self::core::{Acd, ConfigError};
pub use self::event::{
    AcdEvent, Action, AgentCommand, Event, IncomingCall, PartyRole, PartyStatus, PersistOp,
    SupervisorCommand,
};

/// Unix milliseconds (virtual time in tests).
pub type Ms = u64;
/// A call's id as the B2BUA names it.
pub type CallId = String;
/// A skill group's id.
pub type GroupId = String;
