//! DTMF: RFC 4733 telephone-events (in-band tone detection can join here later).

pub mod rfc4733;

pub use rfc4733::{DtmfDetector, DtmfDigit, DtmfEnd, DtmfError, DtmfPacket, TelephoneEvent};
