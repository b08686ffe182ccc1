//! Stream framing as a sans-IO value: bytes read from a TCP/TLS connection go in, framed and parsed
//! messages, pings and rejections come out. The connection task only moves bytes and acts on events.

use bytes::{Buf, Bytes, BytesMut};

use crate::sip::message::{frame_stream, parse_stream, Frame, ParseError, SipMessage};

use super::errors;
use super::keepalive::scan_stream;

/// What the framer found next in the stream.
#[derive(Debug)]
pub enum FrameEvent {
    /// A complete, parsed message (requests not yet RFC 3581 stamped).
    Message(SipMessage),
    /// A CRLF ping: answer with [`super::keepalive::PONG`].
    Ping,
    /// A message was framed but does not parse: answer with `response` if any; the stream stays usable.
    Invalid {
        error: ParseError,
        response: Option<Bytes>,
    },
    /// The stream cannot be framed or broke a limit: send `response` if any, then close.
    Fatal {
        reason: String,
        response: Option<Bytes>,
    },
}

/// Buffers one connection's unread bytes and frames them by Content-Length.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    pending_pings: usize,
    max_message: usize,
    max_pending: usize,
    failed: bool,
}

impl StreamFramer {
    pub fn new(max_message: usize, max_pending: usize) -> Self {
        StreamFramer {
            buf: BytesMut::with_capacity(16 * 1024),
            pending_pings: 0,
            max_message,
            max_pending: max_pending.max(max_message),
            failed: false,
        }
    }

    /// The buffer to read into (append only).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends bytes (for callers that do not read straight into [`Self::buffer_mut`]).
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Unframed bytes held.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Whether part of a message (not just keepalive line breaks) is waiting for more bytes.
    pub fn has_partial_message(&self) -> bool {
        !self.buf.iter().all(|b| matches!(b, b'\r' | b'\n'))
    }

    /// The next event, or `None` when more bytes are needed. After `Fatal`, always `None`.
    pub fn next_event(&mut self) -> Option<FrameEvent> {
        if self.failed {
            return None;
        }
        if self.pending_pings > 0 {
            self.pending_pings -= 1;
            return Some(FrameEvent::Ping);
        }
        // Each pass consumes bytes or returns, so the loop is bounded by the buffer length.
        loop {
            let lead = scan_stream(&self.buf);
            if lead.skip > 0 {
                self.buf.advance(lead.skip);
                if lead.pings > 0 {
                    self.pending_pings = lead.pings - 1;
                    return Some(FrameEvent::Ping);
                }
            }
            if self.buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                return None; // empty, or a partial keepalive (at most 3 bytes after the scan)
            }
            return match frame_stream(&self.buf) {
                Frame::NeedMore if self.buf.len() > self.max_pending => {
                    self.fatal_too_large("pending bytes over limit")
                }
                Frame::NeedMore => None,
                Frame::KeepAlive(n) => {
                    self.buf.advance(n.clamp(1, self.buf.len()));
                    continue;
                }
                Frame::Error(e) => {
                    self.failed = true;
                    Some(FrameEvent::Fatal {
                        reason: e.to_string(),
                        response: errors::error_response(&self.buf, &e),
                    })
                }
                Frame::Message(n) if n > self.max_message => {
                    self.fatal_too_large("message over size limit")
                }
                Frame::Message(n) => {
                    let data = self.buf.split_to(n.min(self.buf.len())).freeze();
                    Some(match parse_stream(data.clone()) {
                        Ok(m) => FrameEvent::Message(m),
                        Err(error) => FrameEvent::Invalid {
                            error,
                            response: errors::error_response(&data, &error),
                        },
                    })
                }
            };
        }
    }

    fn fatal_too_large(&mut self, why: &str) -> Option<FrameEvent> {
        self.failed = true;
        Some(FrameEvent::Fatal {
            reason: why.to_owned(),
            response: errors::error_response_with(&self.buf, 513, "Message Too Large", why),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(call_id: &str, body: &str) -> String {
        format!(
            "MESSAGE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h.example;branch=z9hG4bK{call_id}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn drain(f: &mut StreamFramer) -> Vec<FrameEvent> {
        std::iter::from_fn(|| f.next_event()).take(10_000).collect()
    }

    fn call_ids(events: &[FrameEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                FrameEvent::Message(m) => Some(m.call_id().unwrap().to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pings_between_messages_are_reported_in_order() {
        let mut f = StreamFramer::new(65_536, 131_072);
        f.push(format!("\r\n\r\n{}\r\n\r\n\r\n\r\n{}", msg("a", "hi"), msg("b", "")).as_bytes());
        let ev = drain(&mut f);
        let kinds: Vec<&str> = ev
            .iter()
            .map(|e| match e {
                FrameEvent::Ping => "ping",
                FrameEvent::Message(_) => "msg",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["ping", "msg", "ping", "ping", "msg"]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn bad_message_is_invalid_but_the_next_one_still_frames() {
        let mut f = StreamFramer::new(65_536, 131_072);
        let bad = msg("x", "").replace("CSeq: 1 MESSAGE", "CSeq: 1 INVITE");
        f.push(format!("{bad}{}", msg("y", "")).as_bytes());
        let ev = drain(&mut f);
        assert!(
            matches!(&ev[0], FrameEvent::Invalid { response: Some(r), .. } if r.starts_with(b"SIP/2.0 400 "))
        );
        assert_eq!(call_ids(&ev), ["y"]);
    }

    #[test]
    fn oversize_and_overflowing_streams_are_fatal_with_513() {
        let mut f = StreamFramer::new(200, 1000);
        f.push(msg("big", &"x".repeat(300)).as_bytes());
        match f.next_event() {
            Some(FrameEvent::Fatal {
                response: Some(r), ..
            }) => {
                assert!(r.starts_with(b"SIP/2.0 513 Message Too Large"))
            }
            other => panic!("{other:?}"),
        }
        assert!(f.next_event().is_none(), "nothing after a fatal event");
        // A head that never ends: fatal once the pending limit is passed.
        let mut f = StreamFramer::new(200, 1000);
        f.push(b"OPTIONS sip:a SIP/2.0\r\nX: ");
        assert!(f.next_event().is_none());
        f.push(&[b'y'; 1200]);
        assert!(matches!(f.next_event(), Some(FrameEvent::Fatal { .. })));
    }

    #[test]
    fn trailing_line_breaks_are_not_a_partial_message_and_odd_ones_do_not_stall() {
        let mut f = StreamFramer::new(65_536, 131_072);
        f.push(format!("{}\r\n", msg("a", "")).as_bytes());
        assert_eq!(call_ids(&drain(&mut f)), ["a"]);
        assert_eq!(f.pending(), 2);
        assert!(!f.has_partial_message());
        // CRLF CR then a message: not a keepalive; framing goes on instead of waiting forever.
        let mut f = StreamFramer::new(65_536, 131_072);
        f.push(format!("\r\n\r{}", msg("b", "")).as_bytes());
        let ev = drain(&mut f);
        // The bare CR makes it invalid (answered or dropped, per the raw extractor); it is consumed.
        assert!(
            matches!(&ev[..], [FrameEvent::Invalid { .. }]),
            "framed, not stalled: {ev:?}"
        );
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn missing_content_length_is_fatal_with_400() {
        let mut f = StreamFramer::new(65_536, 131_072);
        f.push(
            msg("nocl", "")
                .replace("Content-Length: 0\r\n", "")
                .as_bytes(),
        );
        match f.next_event() {
            Some(FrameEvent::Fatal {
                response: Some(r), ..
            }) => assert!(r.starts_with(b"SIP/2.0 400 ")),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_messages(cuts in proptest::collection::vec(0usize..2000, 0..40)) {
            let stream = format!("{}\r\n\r\n{}{}", msg("m1", "body one"), msg("m2", ""), msg("m3", &"z".repeat(500)));
            let bytes = stream.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut f = StreamFramer::new(65_536, 131_072);
            let mut events = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                f.push(&bytes[at..c]);
                at = c;
                events.extend(drain(&mut f));
            }
            prop_assert_eq!(call_ids(&events), vec!["m1", "m2", "m3"]);
            prop_assert_eq!(events.iter().filter(|e| matches!(e, FrameEvent::Ping)).count(), 1);
            prop_assert_eq!(f.pending(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut f = StreamFramer::new(2048, 4096);
            for chunk in data.chunks(97) {
                f.push(chunk);
                let _ = drain(&mut f);
            }
            prop_assert!(f.pending() <= 4096 + 97);
        }
    }
}
