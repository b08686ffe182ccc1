//! Transaction keys (RFC 3261 §17.1.3 and §17.2.3), with the RFC 2543 fallback for requests whose
//! branch lacks the `z9hG4bK` magic cookie.

use crate::sip::message::{Method, SipMessage};

/// The RFC 3261 branch prefix that says "this branch is unique, match on it".
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Which side of a transaction we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

/// Identifies one transaction. For RFC 3261 peers `branch` is the Via branch; for RFC 2543 peers
/// it is synthesized from the request fields the old rules match on (§17.2.3), prefixed `2543|`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxKey {
    pub role: Role,
    pub branch: String,
    /// Top Via sent-by (host[:port], lower-cased host). Empty for client keys: we made the branch.
    pub sent_by: String,
    /// The transaction's method: ACK is keyed as INVITE, CANCEL is its own.
    pub method: Method,
}

impl std::fmt::Display for TxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = match self.role {
            Role::Client => "c",
            Role::Server => "s",
        };
        write!(f, "{r}:{}:{}", self.method, self.branch)
    }
}

/// Why a message cannot be placed in a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("missing or malformed Via")]
    Via,
    #[error("missing or malformed CSeq")]
    CSeq,
    #[error("not a request")]
    NotRequest,
    #[error("missing Via branch")]
    Branch,
}

fn key_method(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

/// The server transaction key of a received request. ACK maps to the INVITE transaction.
pub fn server_key(req: &SipMessage) -> Result<TxKey, KeyError> {
    let method = req.method().ok_or(KeyError::NotRequest)?;
    let via = req.top_via().map_err(|_| KeyError::Via)?;
    let sent_by = format!(
        "{}:{}",
        via.host.to_ascii_lowercase(),
        via.port.unwrap_or(0)
    );
    match via.branch() {
        Some(b) if b.starts_with(MAGIC_COOKIE) => Ok(TxKey {
            role: Role::Server,
            branch: b.to_owned(),
            sent_by,
            method: key_method(method),
        }),
        _ => legacy_key(req, method, sent_by),
    }
}

/// RFC 2543 matching: Request-URI, From tag, Call-ID, CSeq number and top Via must be equal.
/// The To tag is left out so that an ACK (which carries our response's To tag) finds the INVITE;
/// the layer checks To tags separately.
fn legacy_key(req: &SipMessage, method: &Method, sent_by: String) -> Result<TxKey, KeyError> {
    let cseq = req.cseq().map_err(|_| KeyError::CSeq)?;
    let from_tag = req
        .from()
        .ok()
        .and_then(|f| f.tag().map(str::to_owned))
        .unwrap_or_default();
    let call_id = req.call_id().unwrap_or("");
    let top_via = req
        .header("Via")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let top_via = top_via.split(',').next().unwrap_or("").trim().to_owned();
    let ruri = req.request_uri_str().unwrap_or("");
    Ok(TxKey {
        role: Role::Server,
        branch: format!("2543|{call_id}|{from_tag}|{}|{ruri}|{top_via}", cseq.seq),
        sent_by,
        method: key_method(method),
    })
}

/// The client transaction key a response belongs to: top Via branch and CSeq method.
pub fn client_key_for_response(resp: &SipMessage) -> Result<TxKey, KeyError> {
    let via = resp.top_via().map_err(|_| KeyError::Via)?;
    let branch = via.branch().ok_or(KeyError::Branch)?;
    let cseq = resp.cseq().map_err(|_| KeyError::CSeq)?;
    Ok(TxKey {
        role: Role::Client,
        branch: branch.to_owned(),
        sent_by: String::new(),
        method: cseq.method,
    })
}

/// The client transaction key of a request we send (its top Via must carry a magic-cookie branch).
pub fn client_key_for_request(req: &SipMessage) -> Result<TxKey, KeyError> {
    let method = req.method().ok_or(KeyError::NotRequest)?;
    let via = req.top_via().map_err(|_| KeyError::Via)?;
    let branch = via
        .branch()
        .filter(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
        .ok_or(KeyError::Branch)?;
    Ok(TxKey {
        role: Role::Client,
        branch: branch.to_owned(),
        sent_by: String::new(),
        method: method.clone(),
    })
}

/// A fresh branch: the magic cookie and 16 random hex digits.
pub fn new_branch() -> String {
    format!("{MAGIC_COOKIE}{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, via: &str) -> SipMessage {
        let text = format!(
            "{method} sip:bob@example.com SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@x>;tag=f1\r\n\
To: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 7 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        SipMessage::parse(text.into_bytes()).unwrap()
    }

    #[test]
    fn ack_maps_to_invite_and_cancel_is_separate() {
        let via = "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bK77";
        let inv = server_key(&req("INVITE", via)).unwrap();
        assert_eq!(server_key(&req("ACK", via)).unwrap(), inv);
        let cancel = server_key(&req("CANCEL", via)).unwrap();
        assert_ne!(cancel, inv);
        assert_eq!(cancel.branch, inv.branch);
        assert_eq!(inv.sent_by, "host.example:5060");
        // Same branch from another sent-by is another transaction.
        let other = server_key(&req("INVITE", "SIP/2.0/UDP other:5060;branch=z9hG4bK77")).unwrap();
        assert_ne!(other, inv);
    }

    #[test]
    fn legacy_branch_falls_back_to_2543_fields() {
        let a = server_key(&req("INVITE", "SIP/2.0/UDP h:5060;branch=1")).unwrap();
        let b = server_key(&req("INVITE", "SIP/2.0/UDP h:5060")).unwrap();
        assert!(a.branch.starts_with("2543|c1|f1|7|sip:bob@example.com|"));
        assert_ne!(a, b, "top Via differs");
        let ack = server_key(&req("ACK", "SIP/2.0/UDP h:5060")).unwrap();
        assert_eq!(ack, b);
    }

    #[test]
    fn client_keys_need_a_cookie_branch() {
        assert_eq!(
            client_key_for_request(&req("OPTIONS", "SIP/2.0/UDP h;branch=abc")),
            Err(KeyError::Branch)
        );
        let k = client_key_for_request(&req("OPTIONS", "SIP/2.0/UDP h;branch=z9hG4bKx")).unwrap();
        assert_eq!(k.method, Method::Options);
        assert!(new_branch().starts_with(MAGIC_COOKIE));
        assert_ne!(new_branch(), new_branch());
    }
}
