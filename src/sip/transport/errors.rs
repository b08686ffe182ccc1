//! Stateless error answers the transport sends itself for requests that cannot be parsed or framed.

use bytes::Bytes;
use rand::Rng;

use crate::sip::message::{extract_raw, response_from_raw, ParseError};

/// The 400/505/513 response for `data` that failed with `e`, if the request can be addressed.
/// The reason phrase carries the parser's short reason, e.g. `Bad Request (bad Content-Length)`.
pub fn error_response(data: &[u8], e: &ParseError) -> Option<Bytes> {
    error_response_with(data, e.status_code(), e.reason_phrase(), e.reason)
}

/// Same, with an explicit code and phrase (e.g. 513 for our own size limit).
pub fn error_response_with(data: &[u8], code: u16, phrase: &str, detail: &str) -> Option<Bytes> {
    let raw = extract_raw(data);
    if !raw.addressable() {
        return None;
    }
    // RFC 3261 §8.2.6.2: a response that may create no dialog still carries a To tag.
    let tag = format!("{:08x}", rand::thread_rng().gen::<u32>());
    response_from_raw(&raw, code, &format!("{phrase} ({detail})"), Some(&tag))
}
