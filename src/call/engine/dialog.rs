//! One side of a call as the engine keeps it: the RFC 3261 dialog ([`crate::sip::dialog::Dialog`])
//! once a tagged response creates it, plus what exists before that (the Call-ID, our tag) and the
//! address the peer's messages come from.
//!
//! In-dialog requests go to that learned address rather than to a DNS lookup of the Contact:
//! agents sit behind NAT and carriers' SBCs expect symmetric signalling (RFC 3581, RFC 5626).

use std::net::IpAddr;

use rand::Rng;

use crate::sip::dialog::{Dialog, DialogError, SessionTimer};
use crate::sip::message::{Method, SipMessage};
use crate::sip::transaction::{new_branch, Peer, TransportKind};

#[derive(Debug, Clone)]
pub struct Side {
    pub call_id: String,
    pub local_tag: String,
    pub peer: Peer,
    pub dialog: Option<Dialog>,
    /// This leg's RFC 4028 session timer, once a 2xx negotiated one.
    pub session: Option<SessionTimer>,
    /// The peer lists UPDATE in Allow: our refreshes go as UPDATE without a body.
    pub allows_update: bool,
    /// The SDP we last sent on this leg: a refreshing re-INVITE repeats it unchanged.
    pub local_sdp: Option<Vec<u8>>,
    /// A session refresh of ours is waiting for its final response.
    pub refreshing: bool,
}

impl Side {
    pub fn new(call_id: String, local_tag: String, peer: Peer) -> Side {
        Side {
            call_id,
            local_tag,
            peer,
            dialog: None,
            session: None,
            allows_update: false,
            local_sdp: None,
            refreshing: false,
        }
    }

    /// An in-dialog request (BYE, re-INVITE, ...) with the next CSeq.
    pub fn request(&mut self, method: Method, host_port: &str) -> Result<SipMessage, DialogError> {
        let via = via(self.peer, host_port);
        match &mut self.dialog {
            Some(d) => d.request(method, &via),
            None => Err(DialogError::Terminated),
        }
    }

    /// The ACK for a 2xx to our INVITE with CSeq `seq`.
    pub fn ack(&self, seq: u32, host_port: &str) -> Result<SipMessage, DialogError> {
        match &self.dialog {
            Some(d) => d.ack(seq, &via(self.peer, host_port)),
            None => Err(DialogError::Terminated),
        }
    }
}

/// A top Via value for a request we send to `peer`, with a fresh branch and rport (RFC 3581).
pub fn via(peer: Peer, host_port: &str) -> String {
    format!(
        "SIP/2.0/{} {host_port};branch={};rport",
        via_transport(peer),
        new_branch()
    )
}

/// A random tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub fn new_tag() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// A Call-ID for a B-leg: random, and recognisably ours.
pub fn new_call_id(advertise: IpAddr) -> String {
    format!("{:032x}@{}", rand::thread_rng().gen::<u128>(), advertise)
}

pub fn via_transport(peer: Peer) -> &'static str {
    match peer.transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
        TransportKind::Tls => "TLS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_call_ids_are_random_and_ours() {
        assert_ne!(new_tag(), new_tag());
        let id = new_call_id(IpAddr::from([10, 0, 0, 1]));
        assert!(id.ends_with("@10.0.0.1") && id.len() > 40, "{id}");
    }

    #[test]
    fn no_request_before_the_dialog_exists() {
        let mut s = Side::new(
            "c".into(),
            "t".into(),
            Peer::udp("127.0.0.1:5060".parse().unwrap()),
        );
        assert!(s.request(Method::Bye, "127.0.0.1:5060").is_err());
        assert!(s.ack(1, "127.0.0.1:5060").is_err());
        let v = via(s.peer, "10.0.0.1:5060");
        assert!(
            v.starts_with("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK") && v.ends_with(";rport"),
            "{v}"
        );
    }
}
