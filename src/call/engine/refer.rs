//! Blind transfer from an agent's phone (RFC 3515 REFER): the transfer key of an IP desk phone or
//! softphone on a queue call. The REFER goes to the ACD as the agent's own `transfer` command, so
//! the same rules (target ready, call in the ACD) apply as on the desktop; the phone hears how it
//! went through NOTIFYs with a message/sipfrag body (100 Trying now, 200 OK when the transfer is
//! carried out). Attended transfer by REFER with Replaces is refused with a reason: the desktop's
//! consult and transfer do it.

use std::time::Instant;

use tracing::info;

use crate::acd;
use crate::acd::event::{AgentCommand, Target as AcdTarget};
use crate::call::core::LegId;
use crate::sip::message::{Method, SipMessage};
use crate::sip::transaction::TxKey;

use super::media::MediaControl;
use super::{Engine, Output, TxRole};

/// What a Refer-To header asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReferTo {
    /// A number or extension (the user part of the URI).
    Number(String),
    /// An attended transfer (`?Replaces=`).
    Replaces,
}

/// Reads the Refer-To header value: `<sip:1002@host>`, `sip:0771...@host;user=phone`, `<tel:+86...>`.
pub(super) fn parse_refer_to(v: &str) -> Result<ReferTo, &'static str> {
    let v = v.trim();
    let uri = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v),
    };
    let lower = uri.to_ascii_lowercase();
    if lower.contains("replaces=") {
        return Ok(ReferTo::Replaces);
    }
    let rest = lower
        .strip_prefix("sips:")
        .or_else(|| lower.strip_prefix("sip:"))
        .or_else(|| lower.strip_prefix("tel:"))
        .ok_or("Refer-To is not a sip:, sips: or tel: URI")?;
    let user = rest
        .split(['@', ';', '?'])
        .next()
        .unwrap_or_default()
        .trim_start_matches('+');
    if user.is_empty() || user.len() > 32 || !user.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Refer-To must name a number or an extension");
    }
    Ok(ReferTo::Number(user.to_string()))
}

impl<M: MediaControl> Engine<M> {
    pub(super) fn on_refer(
        &mut self,
        key: TxKey,
        req: SipMessage,
        id: u64,
        leg: LegId,
        now: Instant,
    ) {
        let agent = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .and_then(|h| h.agent.clone())
            .filter(|(_, l)| *l == leg)
            .map(|(a, _)| a);
        let Some(agent_no) = agent else {
            return self.reply(
                &key,
                &req,
                501,
                "Not Implemented (REFER transfers a queue call from the agent's phone)",
                now,
            );
        };
        let refer_to = req.header_str("Refer-To").unwrap_or_default().to_string();
        let number = match parse_refer_to(&refer_to) {
            Ok(ReferTo::Number(n)) => n,
            Ok(ReferTo::Replaces) => {
                return self.reply(
                    &key,
                    &req,
                    501,
                    "Not Implemented (attended transfer: use consult and transfer on the desktop)",
                    now,
                )
            }
            Err(why) => return self.reply(&key, &req, 400, &format!("Bad Request ({why})"), now),
        };
        // A registered extension is a colleague (an agent whose number is the extension);
        // anything else goes out through the dial plan.
        let registered = !super::invite::devices_of(
            &self.registrar,
            self.cfg.profiles.agents.as_ref(),
            &number,
            self.unix_ms(now),
        )
        .is_empty();
        let target = if registered {
            AcdTarget::Agent {
                agent_no: number.clone(),
            }
        } else {
            AcdTarget::External {
                number: number.clone(),
            }
        };
        info!(%agent_no, %number, "transfer asked by REFER from the agent's phone");
        let mut r = SipMessage::response_to(&req, 202, "Accepted", None);
        r.push_header("Contact", self.contact());
        self.respond(&key, r, now);
        if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
            h.refer_from = Some(leg);
        }
        self.notify_refer(id, leg, "SIP/2.0 100 Trying", false, now);
        self.out.push_back(Output::Acd(acd::Event::Agent {
            agent_no,
            cmd: AgentCommand::Transfer { target },
        }));
    }

    /// The transfer a REFER asked for is carried out: the phone's subscription ends with 200.
    pub(super) fn refer_done(&mut self, id: u64, now: Instant) {
        let leg = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.hosted.as_mut())
            .and_then(|h| h.refer_from.take());
        if let Some(leg) = leg {
            self.notify_refer(id, leg, "SIP/2.0 200 OK", true, now);
        }
    }

    /// A NOTIFY of the implicit `refer` subscription (RFC 3515 §2.4.4) on `leg`.
    fn notify_refer(&mut self, id: u64, leg: LegId, frag: &str, terminated: bool, now: Instant) {
        let host_port = self.host_port();
        let Some(side) = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.b.iter_mut().find(|b| b.leg == leg))
            .map(|b| &mut b.side)
        else {
            return;
        };
        let peer = side.peer;
        let Ok(mut m) = side.request(Method::Notify, &host_port) else {
            return;
        };
        m.push_header("Event", "refer");
        m.push_header(
            "Subscription-State",
            if terminated {
                "terminated;reason=noresource"
            } else {
                "active;expires=60"
            },
        );
        m.set_body(
            format!("{frag}\r\n").into_bytes(),
            Some("message/sipfrag;version=2.0"),
        );
        if let Ok(k) = self.tx.send_request(m, peer, now) {
            self.tx_roles.insert(k, TxRole::Fire);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_values() {
        assert_eq!(
            parse_refer_to("<sip:1002@10.0.0.1>"),
            Ok(ReferTo::Number("1002".into()))
        );
        assert_eq!(
            parse_refer_to("sip:07712345678@carrier;user=phone"),
            Ok(ReferTo::Number("07712345678".into()))
        );
        assert_eq!(
            parse_refer_to("<tel:+8613800138000>"),
            Ok(ReferTo::Number("8613800138000".into()))
        );
        assert_eq!(
            parse_refer_to("<sip:1002@h?Replaces=abc%3Bto-tag%3Dx%3Bfrom-tag%3Dy>"),
            Ok(ReferTo::Replaces)
        );
        assert!(parse_refer_to("<mailto:x@y>").is_err());
        assert!(parse_refer_to("<sip:alice@h>").is_err());
        assert!(parse_refer_to("").is_err());
    }
}
