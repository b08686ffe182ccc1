//! Trunk keepalive: an OPTIONS ping to each trunk's peer every interval; consecutive failures mark
//! the trunk down (outbound calls skip it), one answer marks it up again. Any response counts as
//! alive: a carrier that answers 403 or 405 to OPTIONS is still there.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::Profiles;
use crate::sip::message::{Method, SipMessage};
use crate::sip::transaction::Peer;

use super::media::MediaControl;
use super::{dialog, Engine, Timer, TxRole};

pub struct TrunkHealth {
    pub name: String,
    pub peer: Peer,
    pub interval: Option<Duration>,
    pub down_after: u32,
    pub failures: u32,
    pub up: bool,
}

impl TrunkHealth {
    pub fn for_profiles(p: &Profiles) -> Vec<TrunkHealth> {
        p.trunks
            .iter()
            .map(|t| TrunkHealth {
                name: t.name.clone(),
                peer: Peer {
                    addr: t.peer,
                    transport: super::trunk_transport(t.transport),
                    connection: None,
                },
                interval: (t.keepalive.interval_secs > 0)
                    .then(|| Duration::from_secs(t.keepalive.interval_secs)),
                down_after: t.keepalive.down_after.max(1),
                failures: 0,
                up: true,
            })
            .collect()
    }
}

impl<M: MediaControl> Engine<M> {
    pub(super) fn send_keepalive(&mut self, i: usize, now: Instant) {
        let host_port = self.host_port();
        let Some(h) = self.keepalive.get(i) else {
            return;
        };
        let Some(every) = h.interval else { return };
        let (peer, name) = (h.peer, h.name.clone());
        let uri = format!("sip:{}", peer.addr);
        let built = SipMessage::request(Method::Options, &uri).map(|mut m| {
            m.push_header("Via", dialog::via(peer, &host_port));
            m.push_header("Max-Forwards", "70");
            m.push_header(
                "From",
                format!("<sip:hotline@{host_port}>;tag={}", dialog::new_tag()),
            );
            m.push_header("To", format!("<{uri}>"));
            m.push_header("Call-ID", dialog::new_call_id(self.cfg.advertise));
            m.push_header("CSeq", "1 OPTIONS");
            m
        });
        match built.map_err(|e| e.to_string()).and_then(|m| {
            self.tx
                .send_request(m, peer, now)
                .map_err(|e| e.to_string())
        }) {
            Ok(k) => {
                self.tx_roles.insert(k, TxRole::Keepalive(i));
            }
            Err(e) => warn!(trunk = %name, error = %e, "keepalive not sent"),
        }
        self.arm(now + every, Timer::Keepalive(i));
    }

    pub(super) fn keepalive_answered(&mut self, i: usize, code: u16, _now: Instant) {
        if code < 200 {
            return;
        }
        let Some(h) = self.keepalive.get_mut(i) else {
            return;
        };
        h.failures = 0;
        if !h.up {
            h.up = true;
            info!(trunk = %h.name, "trunk is up again");
        }
        let name = h.name.clone();
        self.trunks.set_up(&name, true);
        self.metrics.trunk(&name).up.store(1, Ordering::Relaxed);
    }

    pub(super) fn keepalive_failed(&mut self, i: usize, _now: Instant) {
        let Some(h) = self.keepalive.get_mut(i) else {
            return;
        };
        h.failures += 1;
        if h.up && h.failures >= h.down_after {
            h.up = false;
            warn!(trunk = %h.name, failures = h.failures, "trunk does not answer keepalives: marked down");
            let name = h.name.clone();
            self.trunks.set_up(&name, false);
            self.metrics.trunk(&name).up.store(0, Ordering::Relaxed);
        }
    }
}
