//! SIP methods: the RFC ones plus extension methods, matched case-sensitively (RFC 3261 §7.1).

use super::error::{err, ErrorKind, ParseError};
use super::text::is_token;
use std::fmt;

/// A request method. Extension methods keep their exact spelling; `invite` is an extension, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    /// Any other token, e.g. `NEWMETHOD` or `RE%47IST%45R`.
    Other(Box<str>),
}

impl Method {
    /// Parse a method token (case-sensitive).
    pub fn parse(s: &str) -> Result<Method, ParseError> {
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "PUBLISH" => Method::Publish,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "UPDATE" => Method::Update,
            _ => {
                if !is_token(s.as_bytes()) {
                    return Err(err(ErrorKind::StartLine, "method is not a token"));
                }
                Method::Other(s.into())
            }
        })
    }

    /// Parse from raw bytes (must be a token).
    pub fn from_bytes(b: &[u8]) -> Result<Method, ParseError> {
        match std::str::from_utf8(b) {
            Ok(s) => Method::parse(s),
            Err(_) => Err(err(ErrorKind::StartLine, "method is not a token")),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_sensitive_and_extensions() {
        assert_eq!(Method::parse("INVITE"), Ok(Method::Invite));
        assert_eq!(Method::parse("invite"), Ok(Method::Other("invite".into())));
        assert_eq!(
            Method::parse("RE%47IST%45R").map(|m| m.to_string()),
            Ok("RE%47IST%45R".into())
        );
        assert!(Method::parse("BAD METHOD").is_err());
        assert!(Method::parse("").is_err());
        assert!(Method::from_bytes(b"\xff").is_err());
    }
}
