//! REGISTER in the engine: digest authentication against the stored HA1 values, then the
//! registrar's binding table; changes go out to be persisted.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::{info, warn};

use crate::sip::message::{ContactValue, SipMessage};
use crate::sip::registrar::{ContactRequest, Register, RegisterError, Registrar};
use crate::sip::transaction::{Peer, TxKey};

use super::media::MediaControl;
use super::{dialog, Engine, Output};

impl<M: MediaControl> Engine<M> {
    pub(super) fn on_register(&mut self, key: TxKey, req: SipMessage, source: Peer, now: Instant) {
        let Some(extension) = req
            .to()
            .ok()
            .and_then(|t| t.uri.as_sip().and_then(|s| s.user.map(str::to_owned)))
        else {
            return self.reply(&key, &req, 400, "Bad Request (To has no user part)", now);
        };
        let Some(user) = self.authenticate(&key, &req, false, now) else {
            return;
        };
        if user != extension {
            warn!(%user, %extension, "REGISTER for another extension");
            return self.reply(
                &key,
                &req,
                403,
                "Forbidden (you may only register your own extension)",
                now,
            );
        }
        let Ok(contacts) = req.contacts() else {
            return self.reply(&key, &req, 400, "Bad Request (malformed Contact)", now);
        };
        let wildcard = contacts.iter().any(|c| matches!(c, ContactValue::Star));
        let contacts: Vec<ContactRequest> = contacts
            .iter()
            .filter_map(|c| match c {
                ContactValue::Addr(na) => Some(ContactRequest {
                    uri: na.uri.as_str().to_string(),
                    expires: na.expires(),
                    q_milli: na.q().unwrap_or(1000),
                }),
                ContactValue::Star => None,
            })
            .collect();
        let Ok(expires) = req.expires() else {
            return self.reply(&key, &req, 400, "Bad Request (malformed Expires)", now);
        };
        let transport = dialog::via_transport(source).to_ascii_lowercase();
        let register = Register {
            extension: extension.clone(),
            contacts,
            wildcard,
            expires,
            call_id: req.call_id().unwrap_or_default().to_string(),
            cseq: req.cseq().map(|c| c.seq).unwrap_or(0),
            received: source.addr.to_string(),
            transport,
            user_agent: req
                .header_str("User-Agent")
                .unwrap_or_default()
                .chars()
                .take(120)
                .collect(),
        };
        let now_ms = self.unix_ms(now);
        match self.registrar.apply(&register, now_ms) {
            Ok((bindings, changes)) => {
                let mut r = SipMessage::response_to(&req, 200, "OK", Some(&dialog::new_tag()));
                for b in &bindings {
                    let secs = Registrar::remaining(b, now_ms).as_secs();
                    r.push_header("Contact", format!("<{}>;expires={secs}", b.contact_uri));
                }
                self.respond(&key, r, now);
                for c in &changes {
                    match c {
                        crate::sip::registrar::Change::Upsert { binding, .. } => {
                            self.contact_routes.insert(
                                binding.contact_uri.clone(),
                                (source.transport, source.connection),
                            );
                        }
                        crate::sip::registrar::Change::Remove { contact_uri, .. } => {
                            self.contact_routes.remove(contact_uri);
                        }
                    }
                }
                if !changes.is_empty() {
                    info!(%extension, from = %source.addr, bindings = bindings.len(), "registered");
                    self.out.push_back(Output::Bindings(changes));
                }
                self.metrics
                    .registrations
                    .store(self.registrar.count() as i64, Ordering::Relaxed);
            }
            Err(RegisterError::TooBrief { min }) => {
                let mut r = SipMessage::response_to(
                    &req,
                    423,
                    "Interval Too Brief",
                    Some(&dialog::new_tag()),
                );
                r.push_header("Min-Expires", min.to_string());
                self.respond(&key, r, now);
            }
            Err(e @ RegisterError::BadWildcard) => self.reply(
                &key,
                &req,
                400,
                &format!("Bad Request ({})", e.to_string().trim_start_matches("400 ")),
                now,
            ),
            Err(RegisterError::OutOfOrder) => self.reply(
                &key,
                &req,
                500,
                "Server Internal Error (REGISTER out of order)",
                now,
            ),
            Err(RegisterError::TooManyContacts { max }) => self.reply(
                &key,
                &req,
                403,
                &format!("Forbidden (at most {max} devices per extension)"),
                now,
            ),
        }
    }
}
