//! UAC/UAS dialog state, route sets, CSeq, session timers (RFC 4028).
