//! DTMF.
