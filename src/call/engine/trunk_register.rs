//! Registering hotline to carriers that want it (`[trunk.auth] register = true`): a REGISTER to the
//! trunk's peer, answered digest challenges, a refresh before expiry, and a retry after failures.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::Profiles;
use crate::sip::auth::DigestClient;
use crate::sip::message::{Method, SipMessage};
use crate::sip::transaction::Peer;

use super::media::MediaControl;
use super::{dialog, Engine, Timer, TxRole};

/// One trunk's outbound registration.
pub struct TrunkRegistration {
    pub trunk: String,
    pub peer: Peer,
    pub username: String,
    pub expires: u32,
    pub client: DigestClient,
    pub call_id: String,
    pub cseq: u32,
    /// The REGISTER in flight carried our credentials (a second challenge then means "wrong").
    pub authorized: bool,
    pub registered: bool,
}

/// Wait before trying again after a failed registration.
const RETRY: Duration = Duration::from_secs(30);

impl TrunkRegistration {
    pub fn for_profiles(p: &Profiles, advertise: std::net::IpAddr) -> Vec<TrunkRegistration> {
        p.trunks
            .iter()
            .filter_map(|t| {
                let a = t.auth.as_ref().filter(|a| a.register)?;
                Some(TrunkRegistration {
                    trunk: t.name.clone(),
                    peer: Peer {
                        addr: t.peer,
                        transport: super::trunk_transport(t.transport),
                        connection: None,
                    },
                    username: a.username.clone(),
                    expires: a.expires_secs.max(60),
                    client: DigestClient::new(&a.username, &a.password),
                    call_id: dialog::new_call_id(advertise),
                    cseq: 0,
                    authorized: false,
                    registered: false,
                })
            })
            .collect()
    }
}

impl<M: MediaControl> Engine<M> {
    pub(super) fn send_trunk_register(&mut self, i: usize, now: Instant) {
        let host_port = self.host_port();
        let Some(r) = self.trunk_regs.get_mut(i) else {
            return;
        };
        r.cseq += 1;
        let registrar_uri = format!("sip:{}", r.peer.addr);
        let aor = format!("<sip:{}@{}>", r.username, r.peer.addr);
        let built = SipMessage::request(Method::Register, &registrar_uri).map(|mut m| {
            m.push_header("Via", dialog::via(r.peer, &host_port));
            m.push_header("Max-Forwards", "70");
            m.push_header("From", format!("{aor};tag={}", dialog::new_tag()));
            m.push_header("To", &aor);
            m.push_header("Call-ID", &r.call_id);
            m.push_header("CSeq", format!("{} REGISTER", r.cseq));
            m.push_header("Contact", format!("<sip:{}@{host_port}>", r.username));
            m.push_header("Expires", r.expires.to_string());
            m.push_header("User-Agent", "hotline");
            if r.client.has_challenge() {
                let cnonce = dialog::new_tag();
                for (name, creds) in r.client.authorize("REGISTER", &registrar_uri, b"", &cnonce) {
                    m.push_header(name, creds.to_header_value());
                }
            }
            m
        });
        r.authorized = r.client.has_challenge();
        let (peer, trunk) = (r.peer, r.trunk.clone());
        match built.map_err(|e| e.to_string()).and_then(|m| {
            self.tx
                .send_request(m, peer, now)
                .map_err(|e| e.to_string())
        }) {
            Ok(k) => {
                self.tx_roles.insert(k, TxRole::TrunkRegister(i));
            }
            Err(e) => {
                warn!(%trunk, error = %e, "REGISTER to the carrier not sent");
                self.arm(now + RETRY, Timer::TrunkRegister(i));
            }
        }
    }

    pub(super) fn trunk_register_answered(&mut self, i: usize, resp: &SipMessage, now: Instant) {
        let code = resp.status_code().unwrap_or(0);
        if code < 200 {
            return;
        }
        let Some(r) = self.trunk_regs.get_mut(i) else {
            return;
        };
        let trunk = r.trunk.clone();
        match code {
            200..=299 => {
                // The carrier may grant less time than asked: take the smallest it states.
                let granted = resp
                    .contacts()
                    .ok()
                    .and_then(|c| {
                        c.iter()
                            .filter_map(|v| match v {
                                crate::sip::message::ContactValue::Addr(a) => a.expires(),
                                _ => None,
                            })
                            .min()
                    })
                    .or_else(|| resp.expires().ok().flatten())
                    .unwrap_or(r.expires)
                    .clamp(30, r.expires.max(30));
                if !r.registered {
                    info!(%trunk, expires = granted, "registered to the carrier");
                }
                r.registered = true;
                self.metrics
                    .trunk(&trunk)
                    .registered
                    .store(1, Ordering::Relaxed);
                // Refresh at 80% of the granted time.
                self.arm(
                    now + Duration::from_secs(u64::from(granted) * 4 / 5),
                    Timer::TrunkRegister(i),
                );
            }
            401 | 407 => {
                let hdr = if code == 407 {
                    "Proxy-Authenticate"
                } else {
                    "WWW-Authenticate"
                };
                let values: Vec<String> = resp
                    .headers(hdr)
                    .filter_map(|v| std::str::from_utf8(v).ok())
                    .map(str::to_owned)
                    .collect();
                match r.client.handle_challenge(
                    code,
                    values.iter().map(String::as_str),
                    r.authorized,
                ) {
                    Ok(()) => self.send_trunk_register(i, now),
                    Err(e) => {
                        warn!(%trunk, error = %e, "carrier refused our registration credentials");
                        self.trunk_register_failed(i, now);
                    }
                }
            }
            _ => {
                warn!(%trunk, code, "carrier refused our registration");
                self.trunk_register_failed(i, now);
            }
        }
    }

    pub(super) fn trunk_register_failed(&mut self, i: usize, now: Instant) {
        let Some(r) = self.trunk_regs.get_mut(i) else {
            return;
        };
        if r.registered {
            warn!(trunk = %r.trunk, "registration to the carrier lost");
        }
        r.registered = false;
        r.client.clear();
        let trunk = r.trunk.clone();
        self.metrics
            .trunk(&trunk)
            .registered
            .store(0, Ordering::Relaxed);
        self.arm(now + RETRY, Timer::TrunkRegister(i));
    }
}
