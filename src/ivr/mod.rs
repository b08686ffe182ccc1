//! IVR: flow model, validator, interpreter.
//!
//! - [`flow`]: the model of one flow file; [`load`] reads it with file:line:column errors.
//! - [`check`]: the validator behind `hotline ivr check` ([`check_paths`]).
//! - [`interp`]: the sans-IO interpreter, one [`IvrCall`] per call.
//! - [`registry`]: the live set of flows, reloaded safely on command or file change.
//! - [`graph`]: `hotline ivr graph` ([`graph_svg`]).
//! - [`say`]: Mandarin readings of numbers, digits and dates.

pub mod calendar;
pub mod check;
pub mod flow;
pub mod graph;
pub mod interp;
pub mod load;
pub mod registry;
pub mod report;
pub mod say;
pub mod spanned;
pub mod testing;
pub mod tts;
pub mod watch;

pub use calendar::{AlwaysOpen, CallerLists, StaticLists, WeekdayCalendar, WorkingCalendar};
pub use check::check_paths;
pub use flow::{Flow, NodeKind};
pub use graph::graph_svg;
pub use interp::{
    Action, CallInfo, Env, FlowSet, Input, IvrCall, LookupOutcome, PromptRef, QueueEvent,
};
pub use registry::{FlowRegistry, ReloadOutcome};
pub use report::{Diagnostic, Report, Severity};
pub use watch::FlowWatcher;
