//! The B2BUA: a call, its legs, bridging, DID routing, transfers, CDR events.

pub mod cdr;
pub mod core;
pub mod engine;
pub mod http_lookup;
pub mod routing;
pub mod services;
pub mod shell;
