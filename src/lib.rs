//! hotline: a SIP softswitch with a built-in work-order core for 12345 government-service hotlines.
//!
//! Layout follows `DESIGN.md`: protocol and business cores are sans-IO state machines
//! (event + time in, actions out); the async shells around them own sockets, timers and the database.

pub mod acd;
pub mod call;
pub mod config;
pub mod cti;
pub mod ivr;
pub mod media;
pub mod reports;
pub mod server;
pub mod sip;
pub mod store;
pub mod tickets;
pub mod web;
