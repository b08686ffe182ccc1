//! UAC/UAS dialog state, route sets, CSeq, session timers (RFC 4028).
//!
//! - [`Dialog`]: created with [`Dialog::uac`] (our INVITE + a 1xx-with-tag/2xx) or [`Dialog::uas`]
//!   (their INVITE + our 1xx/2xx); [`Dialog::on_request`] validates in-dialog requests (lower CSeq
//!   → 500, unknown → 481) and refreshes the target; [`Dialog::request`] builds BYE, re-INVITE,
//!   UPDATE, INFO, OPTIONS, REFER... with loose or strict routing; [`Dialog::ack`] the ACK for a 2xx.
//! - [`session_timer`]: Session-Expires/Min-SE negotiation for UAC and UAS, 422 handling, and a
//!   sans-IO [`SessionTimer`] (`poll_timeout` / `handle_timeout(now)` → refresh due / expired).
//!
//! Values are plain data: the call task owning a leg owns its dialog; no I/O, no clock.

#[allow(clippy::module_inception)]
mod dialog;
pub mod session_timer;

#[cfg(test)]
mod tests;

pub use dialog::{is_target_refresh, Dialog, DialogError, DialogId, DialogRole, DialogState};
pub use session_timer::{
    Negotiated, Refresher, SessionExpires, SessionTimer, SessionTimerConfig, SessionTimerEvent,
    UasDecision,
};
