//! One side of a call's dialog as the engine keeps it (RFC 3261 §12): identity, remote target,
//! route set, CSeq counters, and the address requests on it go to.
//!
//! In-dialog requests go to the address the peer's messages came from (or the B-leg target we
//! sent the INVITE to) rather than to a DNS lookup of the Contact: agents sit behind NAT and
//! carriers' SBCs expect symmetric signalling, which is what RFC 3581 and RFC 5626 deployments do.

use std::net::IpAddr;

use rand::Rng;

use crate::sip::message::{Method, ParseError, SipMessage};
use crate::sip::transaction::{new_branch, Peer};

#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our name-addr without the tag, as written in From (our requests) / To (their requests).
    pub local_uri: String,
    pub remote_uri: String,
    /// Request-URI for in-dialog requests (the peer's Contact).
    pub remote_target: String,
    /// Route headers for our in-dialog requests, in order.
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    pub peer: Peer,
}

/// A random tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub fn new_tag() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// A Call-ID for a B-leg: random, and recognisably ours.
pub fn new_call_id(advertise: IpAddr) -> String {
    format!("{:032x}@{}", rand::thread_rng().gen::<u128>(), advertise)
}

/// The name-addr of a From/To header value without its tag parameter.
pub fn strip_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    // Only parameters after the closing '>' (or after the URI in the addr-spec form) are header
    // parameters; a `;tag=` inside `<...>` belongs to the URI and is left alone.
    let (head, params) = match value.rfind('>') {
        Some(i) => value.split_at(i + 1),
        None => match value.find(';') {
            Some(i) => value.split_at(i),
            None => (value, ""),
        },
    };
    out.push_str(head.trim());
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if !p.to_ascii_lowercase().starts_with("tag=") {
            out.push(';');
            out.push_str(p);
        }
    }
    out
}

impl Dialog {
    /// Our side of the dialog a received INVITE creates (we are its UAS).
    pub fn uas(invite: &SipMessage, source: Peer) -> Option<Dialog> {
        let from = invite.header_str("From")?;
        let to = invite.header_str("To")?;
        let remote_tag = invite.from().ok()?.tag().map(str::to_owned);
        let remote_target = invite
            .contacts()
            .ok()
            .and_then(|c| c.into_iter().find_map(|v| contact_uri(&v)))
            .unwrap_or_else(|| invite.request_uri_str().unwrap_or_default().to_string());
        let route_set = invite.record_routes().ok()?.iter().map(|r| r.uri.as_str().to_string()).map(|u| format!("<{u}>")).collect();
        Some(Dialog {
            call_id: invite.call_id().ok()?.to_string(),
            local_tag: new_tag(),
            remote_tag,
            local_uri: strip_tag(to),
            remote_uri: strip_tag(from),
            remote_target,
            route_set,
            local_cseq: 1,
            remote_cseq: invite.cseq().ok()?.seq,
            peer: source,
        })
    }

    /// Takes what a 1xx/2xx to our INVITE says about the dialog (we are its UAC).
    pub fn update_from_response(&mut self, resp: &SipMessage) {
        if let Some(tag) = resp.to().ok().and_then(|t| t.tag().map(str::to_owned)) {
            self.remote_tag = Some(tag);
        }
        if let Some(target) = resp.contacts().ok().and_then(|c| c.into_iter().find_map(|v| contact_uri(&v))) {
            self.remote_target = target;
        }
        if let Ok(rr) = resp.record_routes() {
            if !rr.is_empty() {
                // The UAC uses the Record-Route set in reverse (RFC 3261 §12.1.2).
                self.route_set = rr.iter().rev().map(|r| format!("<{}>", r.uri.as_str())).collect();
            }
        }
    }

    /// A request within this dialog (BYE, re-INVITE, INFO, ...); takes the next local CSeq.
    pub fn request(&mut self, method: Method, contact: &str, advertise: &str) -> Result<SipMessage, ParseError> {
        self.local_cseq += 1;
        let seq = self.local_cseq;
        self.build(method, seq, contact, advertise)
    }

    /// The ACK for a 2xx to our INVITE with CSeq `seq` (RFC 3261 §13.2.2.4).
    pub fn ack(&self, seq: u32, contact: &str, advertise: &str) -> Result<SipMessage, ParseError> {
        self.build(Method::Ack, seq, contact, advertise)
    }

    fn build(&self, method: Method, seq: u32, contact: &str, advertise: &str) -> Result<SipMessage, ParseError> {
        let mut m = SipMessage::request(method.clone(), &self.remote_target)?;
        m.push_header("Via", format!("SIP/2.0/{} {advertise};branch={};rport", via_transport(self.peer), new_branch()));
        m.push_header("Max-Forwards", "70");
        m.push_header("From", format!("{};tag={}", self.local_uri, self.local_tag));
        match &self.remote_tag {
            Some(t) => m.push_header("To", format!("{};tag={t}", self.remote_uri)),
            None => m.push_header("To", &self.remote_uri),
        };
        m.push_header("Call-ID", &self.call_id);
        m.push_header("CSeq", format!("{seq} {}", method.as_str()));
        for r in &self.route_set {
            m.push_header("Route", r);
        }
        if method != Method::Ack && method != Method::Bye {
            m.push_header("Contact", contact);
        }
        Ok(m)
    }
}

pub fn via_transport(peer: Peer) -> &'static str {
    use crate::sip::transaction::TransportKind;
    match peer.transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
        TransportKind::Tls => "TLS",
    }
}

/// The URI of a Contact value, `None` for `*`.
pub fn contact_uri(v: &crate::sip::message::ContactValue<'_>) -> Option<String> {
    match v {
        crate::sip::message::ContactValue::Star => None,
        crate::sip::message::ContactValue::Addr(na) => Some(na.uri.as_str().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_tag_keeps_other_params_and_uri_params() {
        assert_eq!(strip_tag("\"A\" <sip:a@h;tag=uri>;tag=123;x=1"), "\"A\" <sip:a@h;tag=uri>;x=1");
        assert_eq!(strip_tag("sip:a@h;tag=9"), "sip:a@h");
        assert_eq!(strip_tag("<sip:a@h>"), "<sip:a@h>");
    }

    #[test]
    fn uas_dialog_and_in_dialog_bye() {
        let invite = SipMessage::parse(
            &b"INVITE sip:12345@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKa\r\nFrom: \"Citizen\" <sip:138@10.0.0.9>;tag=ft\r\nTo: <sip:12345@10.0.0.1>\r\nCall-ID: cid@x\r\nCSeq: 7 INVITE\r\nContact: <sip:138@10.0.0.9:5060>\r\nRecord-Route: <sip:sbc1;lr>, <sip:sbc2;lr>\r\nContent-Length: 0\r\n\r\n"[..],
        )
        .unwrap();
        let peer = Peer::udp("10.0.0.9:5060".parse().unwrap());
        let mut d = Dialog::uas(&invite, peer).unwrap();
        assert_eq!(d.remote_tag.as_deref(), Some("ft"));
        assert_eq!(d.remote_cseq, 7);
        assert_eq!(d.remote_target, "sip:138@10.0.0.9:5060");
        assert_eq!(d.route_set, vec!["<sip:sbc1;lr>", "<sip:sbc2;lr>"]);
        let bye = d.request(Method::Bye, "<sip:hotline@10.0.0.1:5060>", "10.0.0.1:5060").unwrap();
        let text = String::from_utf8_lossy(&bye.to_bytes()).to_string();
        assert!(text.starts_with("BYE sip:138@10.0.0.9:5060 SIP/2.0\r\n"), "{text}");
        assert!(text.contains(&format!("From: <sip:12345@10.0.0.1>;tag={}\r\n", d.local_tag)), "{text}");
        assert!(text.contains("To: \"Citizen\" <sip:138@10.0.0.9>;tag=ft\r\n"), "{text}");
        assert!(text.contains("CSeq: 2 BYE\r\n"), "{text}");
        assert!(text.contains("Route: <sip:sbc1;lr>\r\nRoute: <sip:sbc2;lr>\r\n"), "{text}");
    }
}
