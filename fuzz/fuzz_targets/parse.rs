//! Fuzz target: every entry point of the SIP message layer on arbitrary bytes, plus a
//! serialise/re-parse round trip of whatever parses. Any panic is a bug.
//!
//! The message layer only depends on `bytes` and `memchr`, so it is compiled here straight from
//! its sources instead of through the whole `hotline` crate (whose database, web and TLS
//! dependencies would make every sanitizer build take many minutes).
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/sip/message/mod.rs"]
mod message;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use message::{error_response, frame_stream, parse_stream, ContactValue, SipMessage};

fuzz_target!(|data: &[u8]| {
    let _ = frame_stream(data);
    let _ = parse_stream(Bytes::copy_from_slice(data));
    match SipMessage::parse(Bytes::copy_from_slice(data)) {
        Err(e) => {
            let _ = error_response(data, &e, Some("fz"));
        }
        Ok(m) => {
            let _ = (m.vias(), m.top_via(), m.from(), m.to(), m.call_id(), m.cseq());
            let _ = (m.routes(), m.record_routes(), m.max_forwards(), m.content_length(), m.expires());
            let _ = (m.content_type(), m.request_uri(), m.reason_lossy());
            if let Ok(cs) = m.contacts() {
                for c in cs {
                    if let ContactValue::Addr(a) = c {
                        let _ = (a.expires(), a.q(), a.display_name_text(), a.params.iter().count());
                    }
                }
            }
            let wire = m.to_bytes();
            let again = SipMessage::parse(wire.clone()).expect("our own output must parse");
            assert_eq!(again.body(), m.body());
            assert!(parse_stream(wire).is_ok());
            let r = SipMessage::response_to(&m, 200, "OK", Some("t"));
            SipMessage::parse(r.to_bytes()).expect("response_to output must parse");
        }
    }
});
