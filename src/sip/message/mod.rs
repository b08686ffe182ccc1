//! SIP messages: a zero-copy parser over received bytes, typed header access, and a builder.
//!
//! # Overview
//! - Parse: [`parse_datagram`] (UDP: Content-Length frames the body, trailing bytes ignored) or, on
//!   streams, [`frame_stream`] → [`Frame::Message`]`(n)` then [`parse_stream`] on those `n` bytes
//!   (Content-Length required). [`SipMessage::parse`] = datagram. Failures are a [`ParseError`] with
//!   [`ParseError::status_code`] (400/505/513); [`error_response`] builds the answer from the raw
//!   Via/From/To/Call-ID/CSeq when the request is addressable ([`extract_raw`]).
//! - Read: `is_request`, `method()` ([`Method`], case-sensitive, extensions kept), `request_uri()`
//!   ([`Uri`]: [`SipUri`] or opaque [`OtherUri`]), `status_code()`, `reason()` (raw bytes kept);
//!   `header(name)` / `headers(name)` / `iter_headers()` (case-insensitive, compact-aware, order
//!   kept); typed: `vias()` / `top_via()` ([`Via`]: branch, received, rport), `from()` / `to()`
//!   ([`NameAddr`]: display name, URI, tag), `call_id()`, `cseq()` ([`CSeq`]), `contacts()`
//!   ([`ContactValue`]), `routes()`, `record_routes()`, `max_forwards()`, `content_length()`,
//!   `content_type()`, `expires()`, `body()`. Typed values borrow from the message.
//! - Build: [`SipMessage::request`], [`SipMessage::response`], [`SipMessage::response_to`],
//!   `push_header`, `insert_header`, `remove_headers`, `replace_header`, `prepend_via`,
//!   `remove_top_via`, `stamp_received` (RFC 3581 received/rport on receipt),
//!   `decrement_max_forwards`, `set_body`, `set_reason`, `set_request_uri`, then `to_bytes()` /
//!   `write_to()` (Content-Length always equals the body length; bodies are copied byte for byte).
//!
//! Parsing is zero-copy: the message keeps the received `Bytes` and ranges into it; accessors
//! return `&str` / `&[u8]` borrowed from it, typed values are parsed on access (cheap, no
//! allocation except lists). A full parse already validated Via, From, To, Call-ID, CSeq (method
//! must match the request's), Contact, Route, Record-Route, Max-Forwards, Content-Length,
//! Content-Type and Expires, and rejected duplicates of single-value headers.
//!
//! Limits: [`MAX_MESSAGE`] 64 KiB, [`MAX_HEADERS`] 256, [`MAX_LINE`] 8 KiB. Nothing panics on input.

mod builder;
mod error;
mod method;
mod msg;
mod name;
mod parse;
mod quick;
mod raw;
mod text;
mod typed;
mod uri;

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use error::{ErrorKind, ParseError};
pub use method::Method;
pub use msg::{HeaderRef, SipMessage};
pub use name::HeaderName;
pub use parse::{
    frame_stream, parse_datagram, parse_stream, Frame, MAX_HEADERS, MAX_LINE, MAX_MESSAGE,
};
pub use raw::{error_response, extract_raw, response_from_raw, RawRequest};
pub use text::{unquote, Params};
pub use typed::{CSeq, ContactValue, NameAddr, Via};
pub use uri::{OtherUri, SipUri, Uri};
