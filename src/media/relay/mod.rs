//! The RTP relay for two-party bridges: a sans-IO core per bridge ([`bridge`]) and a few worker threads that
//! own many sockets each ([`engine`]), driven by a control handle ([`MediaRelay`]).

pub mod bridge;
pub mod engine;
pub mod local;
pub mod rtcp_leg;
pub mod seq;
pub mod stream;
mod sys;
mod uring;

pub use bridge::{
    BridgeConfig, BridgeCore, BridgeEvent, DropReason, Leg, LegStats, MediaDirection, Verdict,
};
pub use engine::{
    BridgeId, BridgeInfo, BridgeStats, ConfId, IoMode, MediaRelay, MixMode, RelayConfig,
    RelayError, RelayEvent,
};
