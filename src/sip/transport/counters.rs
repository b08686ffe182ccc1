//! Transport counters: plain atomics the `/metrics` endpoint reads without locking.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters (and one gauge, `connections_open`) shared by every transport task.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// UDP datagrams received (including ones later dropped).
    pub datagrams_in: AtomicU64,
    /// UDP datagrams sent.
    pub datagrams_out: AtomicU64,
    /// Stream messages received and framed (TCP + TLS).
    pub stream_messages_in: AtomicU64,
    /// Stream messages written (TCP + TLS).
    pub stream_messages_out: AtomicU64,
    /// Messages that failed to parse or frame, on any transport.
    pub parse_errors: AtomicU64,
    /// Inputs dropped without an answer (unparseable and unaddressable, oversize, channel full, ...).
    pub dropped: AtomicU64,
    /// Error responses (400/501/505/513) sent by the transport itself.
    pub error_responses: AtomicU64,
    /// CRLF keepalive pings received.
    pub keepalives: AtomicU64,
    /// Stream connections open right now (gauge).
    pub connections_open: AtomicU64,
    /// Stream connections accepted or connected since start.
    pub connections_total: AtomicU64,
    /// Inbound connections refused by a limit (total or per IP).
    pub connections_refused: AtomicU64,
    /// Connections closed for being idle.
    pub idle_closed: AtomicU64,
    /// Outgoing messages that could not be sent.
    pub send_errors: AtomicU64,
}

/// A copy of the counters at one moment, for display and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub stream_messages_in: u64,
    pub stream_messages_out: u64,
    pub parse_errors: u64,
    pub dropped: u64,
    pub error_responses: u64,
    pub keepalives: u64,
    pub connections_open: u64,
    pub connections_total: u64,
    pub connections_refused: u64,
    pub idle_closed: u64,
    pub send_errors: u64,
}

impl TransportCounters {
    /// Adds one to a counter.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one from a gauge, stopping at zero.
    pub fn dec(c: &AtomicU64) {
        // Saturating: a gauge must never wrap even if a close is counted twice by mistake.
        let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }

    /// Reads every counter (each individually atomic; the set is not one atomic snapshot).
    pub fn snapshot(&self) -> CountersSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            datagrams_in: r(&self.datagrams_in),
            datagrams_out: r(&self.datagrams_out),
            stream_messages_in: r(&self.stream_messages_in),
            stream_messages_out: r(&self.stream_messages_out),
            parse_errors: r(&self.parse_errors),
            dropped: r(&self.dropped),
            error_responses: r(&self.error_responses),
            keepalives: r(&self.keepalives),
            connections_open: r(&self.connections_open),
            connections_total: r(&self.connections_total),
            connections_refused: r(&self.connections_refused),
            idle_closed: r(&self.idle_closed),
            send_errors: r(&self.send_errors),
        }
    }
}

impl CountersSnapshot {
    /// Prometheus text exposition lines, `hotline_sip_transport_` prefixed.
    pub fn to_prometheus(&self) -> String {
        let rows: [(&str, &str, u64); 13] = [
            ("datagrams_in_total", "counter", self.datagrams_in),
            ("datagrams_out_total", "counter", self.datagrams_out),
            (
                "stream_messages_in_total",
                "counter",
                self.stream_messages_in,
            ),
            (
                "stream_messages_out_total",
                "counter",
                self.stream_messages_out,
            ),
            ("parse_errors_total", "counter", self.parse_errors),
            ("dropped_total", "counter", self.dropped),
            ("error_responses_total", "counter", self.error_responses),
            ("keepalives_total", "counter", self.keepalives),
            ("connections_open", "gauge", self.connections_open),
            ("connections_total", "counter", self.connections_total),
            (
                "connections_refused_total",
                "counter",
                self.connections_refused,
            ),
            ("idle_closed_total", "counter", self.idle_closed),
            ("send_errors_total", "counter", self.send_errors),
        ];
        let mut out = String::new();
        for (name, kind, v) in rows {
            out.push_str(&format!(
                "# TYPE hotline_sip_transport_{name} {kind}\nhotline_sip_transport_{name} {v}\n"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_does_not_wrap_below_zero() {
        let c = TransportCounters::default();
        TransportCounters::inc(&c.connections_open);
        TransportCounters::dec(&c.connections_open);
        TransportCounters::dec(&c.connections_open);
        assert_eq!(c.snapshot().connections_open, 0);
    }

    #[test]
    fn prometheus_text_has_each_counter() {
        let c = TransportCounters::default();
        TransportCounters::inc(&c.parse_errors);
        TransportCounters::inc(&c.parse_errors);
        let text = c.snapshot().to_prometheus();
        assert!(text.contains("hotline_sip_transport_parse_errors_total 2\n"));
        assert!(text.contains("# TYPE hotline_sip_transport_connections_open gauge\n"));
        assert_eq!(text.lines().count(), 26);
    }
}
