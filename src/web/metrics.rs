//! Operational counters, rendered at `/metrics` in the Prometheus text format.
//!
//! Plain atomics updated by their owners (the call registry, the registrar, trunks); reading
//! them never takes a lock that a call path holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Default, Debug)]
pub struct TrunkGauge {
    pub channels_in_use: AtomicI64,
    pub channels: AtomicI64,
    /// 1 when the last keepalive answered, 0 when the trunk is marked down.
    pub up: AtomicI64,
    /// 1 while hotline's registration to the carrier stands (trunks that register).
    pub registered: AtomicI64,
}

#[derive(Default)]
pub struct Metrics {
    pub active_calls: AtomicI64,
    pub calls_total: AtomicU64,
    pub calls_failed_total: AtomicU64,
    pub registrations: AtomicI64,
    pub sip_messages_in: AtomicU64,
    pub sip_messages_out: AtomicU64,
    pub sip_parse_errors: AtomicU64,
    /// RTP packets the relay forwarded from the caller's side to the callee's, and back;
    /// added when each bridge closes.
    pub rtp_a_to_b: AtomicU64,
    pub rtp_b_to_a: AtomicU64,
    trunks: RwLock<BTreeMap<String, Arc<TrunkGauge>>>,
    /// Other exporters (the SIP transport's counters) appended to the page.
    extra: RwLock<Vec<Exporter>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("active_calls", &self.active_calls)
            .finish_non_exhaustive()
    }
}

/// A source of more Prometheus text.
pub type Exporter = Box<dyn Fn() -> String + Send + Sync>;

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// The gauge of trunk `name`, created on first use.
    pub fn trunk(&self, name: &str) -> Arc<TrunkGauge> {
        if let Some(g) = self.trunks.read().ok().and_then(|m| m.get(name).cloned()) {
            return g;
        }
        let mut m = match self.trunks.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        m.entry(name.to_string()).or_default().clone()
    }

    /// Adds a source whose text is appended to every rendering.
    pub fn add_exporter(&self, f: Exporter) {
        match self.extra.write() {
            Ok(mut v) => v.push(f),
            Err(poisoned) => poisoned.into_inner().push(f),
        }
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, v: i128| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        one(
            "hotline_active_calls",
            "gauge",
            "Calls in progress.",
            self.active_calls.load(Ordering::Relaxed).into(),
        );
        one(
            "hotline_calls_total",
            "counter",
            "Calls started; rate() gives calls per second.",
            self.calls_total.load(Ordering::Relaxed).into(),
        );
        one(
            "hotline_calls_failed_total",
            "counter",
            "Calls that ended without being answered by hotline's side.",
            self.calls_failed_total.load(Ordering::Relaxed).into(),
        );
        one(
            "hotline_registrations",
            "gauge",
            "Registered agent contact bindings.",
            self.registrations.load(Ordering::Relaxed).into(),
        );
        one(
            "hotline_sip_messages_in_total",
            "counter",
            "SIP messages received.",
            self.sip_messages_in.load(Ordering::Relaxed).into(),
        );
        one(
            "hotline_sip_messages_out_total",
            "counter",
            "SIP messages sent.",
            self.sip_messages_out.load(Ordering::Relaxed).into(),
        );
        one(
            "hotline_sip_parse_errors_total",
            "counter",
            "Received SIP messages that could not be parsed.",
            self.sip_parse_errors.load(Ordering::Relaxed).into(),
        );
        let _ = writeln!(
            out,
            "# HELP hotline_rtp_packets_relayed_total RTP packets relayed by finished calls.\n# TYPE hotline_rtp_packets_relayed_total counter\nhotline_rtp_packets_relayed_total{{direction=\"a_to_b\"}} {}\nhotline_rtp_packets_relayed_total{{direction=\"b_to_a\"}} {}",
            self.rtp_a_to_b.load(Ordering::Relaxed),
            self.rtp_b_to_a.load(Ordering::Relaxed)
        );
        let trunks = match self.trunks.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let _ = writeln!(out, "# HELP hotline_trunk_channels_in_use Trunk channels carrying a call.\n# TYPE hotline_trunk_channels_in_use gauge");
        for (name, g) in &trunks {
            let _ = writeln!(
                out,
                "hotline_trunk_channels_in_use{{trunk=\"{name}\"}} {}",
                g.channels_in_use.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP hotline_trunk_channels Trunk channel limit.\n# TYPE hotline_trunk_channels gauge");
        for (name, g) in &trunks {
            let _ = writeln!(
                out,
                "hotline_trunk_channels{{trunk=\"{name}\"}} {}",
                g.channels.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP hotline_trunk_up 1 when the trunk answers keepalives.\n# TYPE hotline_trunk_up gauge");
        for (name, g) in &trunks {
            let _ = writeln!(
                out,
                "hotline_trunk_up{{trunk=\"{name}\"}} {}",
                g.up.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP hotline_trunk_registered 1 while hotline is registered to the carrier.\n# TYPE hotline_trunk_registered gauge");
        for (name, g) in &trunks {
            let _ = writeln!(
                out,
                "hotline_trunk_registered{{trunk=\"{name}\"}} {}",
                g.registered.load(Ordering::Relaxed)
            );
        }
        let extra = match self.extra.read() {
            Ok(v) => v.iter().map(|f| f()).collect::<Vec<_>>(),
            Err(poisoned) => poisoned.into_inner().iter().map(|f| f()).collect(),
        };
        for text in extra {
            out.push_str(&text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_trunk_gauges() {
        let m = Metrics::new();
        m.active_calls.store(3, Ordering::Relaxed);
        m.calls_total.fetch_add(10, Ordering::Relaxed);
        let t = m.trunk("carrier-sample");
        t.channels.store(221, Ordering::Relaxed);
        t.channels_in_use.store(2, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("\nhotline_active_calls 3\n"), "{text}");
        assert!(text.contains("\nhotline_calls_total 10\n"), "{text}");
        assert!(
            text.contains("hotline_trunk_channels{trunk=\"carrier-sample\"} 221"),
            "{text}"
        );
        assert!(
            text.contains("hotline_trunk_channels_in_use{trunk=\"carrier-sample\"} 2"),
            "{text}"
        );
        assert!(Arc::ptr_eq(&t, &m.trunk("carrier-sample")));
        m.add_exporter(Box::new(|| "sip_extra_total 7".to_string()));
        assert!(m.render().ends_with("sip_extra_total 7\n"));
    }
}
