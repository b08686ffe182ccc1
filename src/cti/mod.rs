//! The CTI WebSocket protocol: agent commands in, call/agent/queue events out, screen pops.
//!
//! [`protocol`] is the versioned JSON (see `docs/cti-protocol.md`), [`session`] the sans-IO
//! state machine of one connection, [`ws`] the axum shell at `/ws/cti`.

pub mod protocol;
pub mod session;
pub mod ws;
