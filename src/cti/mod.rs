//! The CTI WebSocket protocol: agent commands in, call/agent/queue events out, screen pops.
