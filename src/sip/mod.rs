//! SIP: our own message layer (see `../shared/notes/sip-parser-evaluation.md` for why),
//! transports, RFC 3261 transactions and dialogs, digest auth, the registrar and SDP.

pub mod auth;
pub mod dialog;
pub mod message;
pub mod registrar;
pub mod sdp;
pub mod transaction;
pub mod transport;
