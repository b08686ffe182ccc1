//! Virtual-time tests of the whole engine: SIP text in, transmitted messages, bindings and CDRs
//! out, media driven through a recording fake. No sockets, no sleeping: time only moves when a
//! test calls `advance`.

mod harness;

mod calls;
mod codecs;
mod edges;
mod hosted;
mod keepalive;
mod misc;
mod originate;
mod parties;
mod register;
mod session_timers;
mod transfer;
