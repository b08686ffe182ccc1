//! The one error type of the message layer: a kind, a short fixed reason and a suggested status code.

use std::fmt;

/// What went wrong, coarsely; [`ParseError::status_code`] maps it to a SIP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Message, header count or line over a limit (513).
    TooLarge,
    /// Nothing but CRLF keep-alives / empty input.
    Empty,
    /// Head not terminated, or body shorter than Content-Length.
    Incomplete,
    /// Request or status line malformed (400).
    StartLine,
    /// SIP version other than 2.0 (505).
    Version,
    /// A header line or value is malformed (400).
    Header,
    /// A URI is malformed (400).
    Uri,
    /// Framing: missing/bad Content-Length, bare CR or LF (400).
    Framing,
    /// Semantically invalid: duplicate single-value header, CSeq/method mismatch, ... (400).
    Semantic,
    /// A header the caller asked for is absent (typed accessors only).
    Missing,
    /// Max-Forwards reached zero (483).
    TooManyHops,
}

/// A parse or validation failure. `reason` is a short fixed text, never a copy of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// Short human reason, e.g. "duplicate single-value header".
    pub reason: &'static str,
    /// Canonical name of the header concerned, when known.
    pub header: Option<&'static str>,
}

impl ParseError {
    pub(crate) const fn new(kind: ErrorKind, reason: &'static str) -> Self {
        ParseError {
            kind,
            reason,
            header: None,
        }
    }

    pub(crate) const fn in_header(mut self, header: Option<&'static str>) -> Self {
        if self.header.is_none() {
            self.header = header;
        }
        self
    }

    /// The response code to answer with, when a response can be addressed at all.
    pub fn status_code(&self) -> u16 {
        match self.kind {
            ErrorKind::TooLarge => 513,
            ErrorKind::Version => 505,
            ErrorKind::TooManyHops => 483,
            _ => 400,
        }
    }

    /// Reason phrase for the error response (fixed text, safe to send).
    pub fn reason_phrase(&self) -> &'static str {
        match self.kind {
            ErrorKind::TooLarge => "Message Too Large",
            ErrorKind::Version => "Version Not Supported",
            ErrorKind::TooManyHops => "Too Many Hops",
            _ => "Bad Request",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.header {
            Some(h) => write!(f, "{:?}: {} ({})", self.kind, self.reason, h),
            None => write!(f, "{:?}: {}", self.kind, self.reason),
        }
    }
}

impl std::error::Error for ParseError {}

pub(crate) const fn err(kind: ErrorKind, reason: &'static str) -> ParseError {
    ParseError::new(kind, reason)
}
