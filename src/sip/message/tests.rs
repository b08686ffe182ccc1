//! Message-level unit tests: parse, framing, typed access, builder round trips.

use super::*;
use bytes::Bytes;

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
X-Custom: one\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

fn parse(s: &str) -> Result<SipMessage, ParseError> {
    SipMessage::parse(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn parses_invite_and_typed_headers() {
    let m = parse(INVITE).unwrap();
    assert!(m.is_request());
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.request_uri_str(), Some("sip:bob@biloxi.example.com"));
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(m.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(m.to().unwrap().tag(), None);
    assert_eq!(
        m.call_id().unwrap(),
        "a84b4c76e66710@pc33.atlanta.example.com"
    );
    assert_eq!(m.cseq().unwrap().seq, 314159);
    assert_eq!(m.max_forwards().unwrap(), Some(70));
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(m.body().as_ref(), b"v=0\n");
    assert_eq!(m.header_str("x-custom"), Some("one"));
    let names: Vec<_> = m.iter_headers().map(|h| h.name).collect();
    assert_eq!(names[0], "Via");
    assert_eq!(names[7], "X-Custom");
}

#[test]
fn udp_trailing_bytes_ignored_and_short_body_rejected() {
    let m = parse(&format!("{INVITE}garbage after")).unwrap();
    assert_eq!(m.body().as_ref(), b"v=0\n");
    let short = INVITE.replace("Content-Length: 4", "Content-Length: 40");
    assert_eq!(parse(&short).unwrap_err().kind, ErrorKind::Incomplete);
}

#[test]
fn stream_framing() {
    let two = format!("\r\n\r\n{INVITE}{INVITE}");
    let b = two.as_bytes();
    assert_eq!(frame_stream(b), Frame::KeepAlive(4));
    let rest = &b[4..];
    let Frame::Message(n) = frame_stream(rest) else {
        panic!()
    };
    assert_eq!(n, INVITE.len());
    let m = parse_stream(Bytes::copy_from_slice(&rest[..n])).unwrap();
    assert_eq!(m.body().len(), 4);
    assert_eq!(frame_stream(&rest[..n - 1]), Frame::NeedMore);
    assert_eq!(frame_stream(&rest[..20]), Frame::NeedMore);
    let no_cl = INVITE.replace("Content-Length: 4\r\n", "");
    assert!(matches!(frame_stream(no_cl.as_bytes()), Frame::Error(_)));
    let compact = INVITE.replace("Content-Length: 4", "l : 4");
    assert_eq!(
        frame_stream(compact.as_bytes()),
        Frame::Message(compact.len())
    );
    let big = vec![b'a'; MAX_MESSAGE + 1];
    assert!(matches!(frame_stream(&big), Frame::Error(e) if e.status_code() == 513));
}

#[test]
fn compact_folding_and_space_before_colon() {
    let s = "OPTIONS sip:x@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com\r\n  ;branch=z9hG4bK2\r\n\
f: <sip:a@example.com>;tag=1\r\n\
t : sip:x@example.com\r\n\
i: abc   \r\n\
CSeq: 1 OPTIONS\r\n\
l: 0\r\n\r\n";
    let m = parse(s).unwrap();
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[1].branch(), Some("z9hG4bK2"));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(m.call_id().unwrap(), "abc");
    assert_eq!(m.header("Via"), m.header("v"));
    assert_eq!(m.content_length().unwrap(), Some(0));
    assert_eq!(m.to().unwrap().uri.as_str(), "sip:x@example.com");
}

#[test]
fn semantic_rejections() {
    let cases: &[(&str, &str, u16)] = &[
        ("CSeq: 314159 INVITE", "CSeq: 314159 OPTIONS", 400),
        (
            "Max-Forwards: 70",
            "Max-Forwards: 70\r\nMax-Forwards: 69",
            400,
        ),
        (
            "INVITE sip:bob@biloxi.example.com SIP/2.0",
            "INVITE <sip:bob@biloxi.example.com> SIP/2.0",
            400,
        ),
        (
            "INVITE sip:bob@biloxi.example.com SIP/2.0",
            "INVITE sip:bob@biloxi.example.com SIP/7.0",
            505,
        ),
        (
            "To: Bob <sip:bob@biloxi.example.com>",
            "To: \"Bob <sip:bob@biloxi.example.com>",
            400,
        ),
        ("Content-Length: 4", "Content-Length: -4", 400),
        (
            "CSeq: 314159 INVITE",
            "CSeq: 36893488147419103232 INVITE",
            400,
        ),
        (
            "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n",
            "",
            400,
        ),
    ];
    for (from, to, code) in cases {
        let s = INVITE.replacen(from, to, 1);
        let e = parse(&s).expect_err(to);
        assert_eq!(e.status_code(), *code, "{to}: {e}");
    }
    let e = parse("SIP/2.0 4294967301 better not break the receiver\r\n\r\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::StartLine);
}

#[test]
fn response_to_copies_rfc3261_headers() {
    let req = parse(&INVITE.replace(
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n",
        "Via: SIP/2.0/UDP p1;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP p2;branch=z9hG4bKb, SIP/2.0/UDP p3;branch=z9hG4bKc\r\n",
    ))
    .unwrap();
    let resp = SipMessage::response_to(&req, 180, "Ringing", Some("abc"));
    let bytes = resp.to_bytes();
    let back = SipMessage::parse(bytes.clone()).unwrap();
    assert_eq!(back.status_code(), Some(180));
    assert_eq!(back.reason(), Some(&b"Ringing"[..]));
    let branches: Vec<_> = back
        .vias()
        .unwrap()
        .iter()
        .map(|v| v.branch().unwrap_or("").to_string())
        .collect();
    assert_eq!(branches, ["z9hG4bKa", "z9hG4bKb", "z9hG4bKc"]);
    assert_eq!(back.to().unwrap().tag(), Some("abc"));
    assert_eq!(back.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(back.call_id().unwrap(), req.call_id().unwrap());
    assert_eq!(back.cseq().unwrap(), req.cseq().unwrap());
    assert!(back.header("Contact").is_none());
    assert_eq!(back.content_length().unwrap(), Some(0));
    // An existing To tag is kept, not doubled.
    let again = SipMessage::response_to(&back_as_request(&req), 200, "OK", Some("zzz"));
    assert_eq!(again.to().unwrap().tag(), Some("t1"));
}

fn back_as_request(req: &SipMessage) -> SipMessage {
    let mut r = req.clone();
    r.replace_header("To", "Bob <sip:bob@biloxi.example.com>;tag=t1");
    r
}

#[test]
fn builder_edits_and_binary_body() {
    let mut m =
        SipMessage::request(Method::Other("PING".into()), "sip:x@[2001:db8::1]:5060").unwrap();
    m.push_header("Via", "SIP/2.0/UDP h;branch=z9hG4bK2")
        .push_header("From", "<sip:a@h>;tag=1")
        .push_header("To", "<sip:x@h>")
        .push_header("Call-ID", "c1")
        .push_header("CSeq", "1 PING")
        .push_header("Max-Forwards", "1")
        .push_header("X-Evil", "a\r\nInjected: yes");
    m.prepend_via("SIP/2.0/TCP top;branch=z9hG4bK1");
    m.insert_header(1, "X-Second", "2");
    let body: Vec<u8> = (0u8..=255).collect();
    m.set_body(body.clone(), Some("application/octet-stream"));
    assert_eq!(m.decrement_max_forwards().unwrap(), 0);
    assert_eq!(m.decrement_max_forwards().unwrap_err().status_code(), 483);
    let wire = m.to_bytes();
    let back = SipMessage::parse(wire).unwrap();
    assert_eq!(back.body().as_ref(), &body[..]);
    assert_eq!(back.method().map(Method::as_str), Some("PING"));
    assert_eq!(back.top_via().unwrap().branch(), Some("z9hG4bK1"));
    assert_eq!(back.iter_headers().nth(1).map(|h| h.name), Some("X-Second"));
    assert!(back.header("Injected").is_none());
    assert_eq!(back.content_length().unwrap(), Some(256));
    assert_eq!(
        back.request_uri().unwrap().as_sip().unwrap().host,
        "2001:db8::1"
    );
    let mut b2 = back.clone();
    assert_eq!(b2.remove_headers("x-second"), 1);
    assert!(b2.remove_top_via());
    assert_eq!(b2.top_via().unwrap().branch(), Some("z9hG4bK2"));
}

#[test]
fn reason_phrase_kept_when_relaying() {
    let s: &[u8] = b"SIP/2.0 480 Gone Fishing \xe9\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let m = SipMessage::parse(s).unwrap();
    assert_eq!(m.reason(), Some(&b"Gone Fishing \xe9"[..]));
    assert_eq!(m.reason_lossy().as_deref(), Some("Gone Fishing \u{fffd}"));
    let out = m.to_bytes();
    assert!(out.starts_with(b"SIP/2.0 480 Gone Fishing \xe9\r\n"));
}

#[test]
fn raw_extractor_addresses_a_400() {
    let bad = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 OPTIONS");
    let e = parse(&bad).unwrap_err();
    let resp = error_response(bad.as_bytes(), &e, Some("x1")).unwrap();
    let m = SipMessage::parse(resp).unwrap();
    assert_eq!(m.status_code(), Some(400));
    assert_eq!(m.to().unwrap().tag(), Some("x1"));
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
    assert!(error_response(b"\x00\x01garbage", &e, None).is_none());
}

#[test]
fn stamp_received_and_rport() {
    let mut m = parse(&INVITE.replace(
        ";branch=z9hG4bK776asdhds",
        " ;branch=z9hG4bK776asdhds;rport, SIP/2.0/UDP b;branch=z9hG4bKb",
    ))
    .unwrap();
    assert!(m.stamp_received("192.0.2.9", 40000));
    let v = m.top_via().unwrap();
    assert_eq!(v.received(), Some("192.0.2.9"));
    assert_eq!(v.rport(), Some(Some(40000)));
    assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(m.vias().unwrap().len(), 2);
    // Same host, no rport: untouched.
    let mut m =
        parse(&INVITE.replace("pc33.atlanta.example.com;branch", "192.0.2.9;branch")).unwrap();
    let before = m.to_bytes();
    assert!(m.stamp_received("192.0.2.9", 5060));
    assert_eq!(m.to_bytes(), before);
    let reparsed = SipMessage::parse(m.to_bytes()).unwrap();
    assert_eq!(reparsed.top_via().unwrap().received(), None);
}

fn options_with(extra: &str) -> String {
    format!(
        "OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
To: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn limits_are_exact() {
    // 5 fixed headers + Content-Length = 6; fill up to exactly MAX_HEADERS.
    let fill = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    assert_eq!(
        parse(&options_with(&fill(MAX_HEADERS - 6)))
            .unwrap()
            .header_count(),
        MAX_HEADERS
    );
    let e = parse(&options_with(&fill(MAX_HEADERS - 5))).unwrap_err();
    assert_eq!((e.kind, e.status_code()), (ErrorKind::TooLarge, 513));
    // A header line of exactly MAX_LINE bytes passes; one more byte fails.
    let line = |n: usize| format!("X-L: {}\r\n", "a".repeat(n - 5));
    assert!(parse(&options_with(&line(MAX_LINE))).is_ok());
    assert_eq!(
        parse(&options_with(&line(MAX_LINE + 1))).unwrap_err().kind,
        ErrorKind::TooLarge
    );
    // Folded lines count as one logical line.
    let folded = format!("X-F: {}\r\n {}\r\n", "a".repeat(5000), "b".repeat(5000));
    assert_eq!(
        parse(&options_with(&folded)).unwrap_err().kind,
        ErrorKind::TooLarge
    );
    // Whole message.
    let big = vec![b'a'; MAX_MESSAGE + 1];
    assert_eq!(SipMessage::parse(big).unwrap_err().status_code(), 513);
}

#[test]
fn stream_framing_byte_by_byte() {
    let msg = INVITE.as_bytes();
    for cut in 0..msg.len() {
        assert_eq!(frame_stream(&msg[..cut]), Frame::NeedMore, "cut at {cut}");
    }
    assert_eq!(frame_stream(msg), Frame::Message(msg.len()));
    // Garbage without a blank line is NeedMore until the 64 KiB cap, then an error.
    assert_eq!(frame_stream(b"garbage"), Frame::NeedMore);
    let dup = INVITE.replace("Content-Length: 4", "Content-Length: 4\r\nl: 4");
    assert!(
        matches!(frame_stream(dup.as_bytes()), Frame::Error(e) if e.kind == ErrorKind::Semantic)
    );
    let neg = INVITE.replace("Content-Length: 4", "Content-Length: -4");
    assert!(matches!(frame_stream(neg.as_bytes()), Frame::Error(_)));
    // parse_stream insists the frame holds exactly one body.
    let mut extra = msg.to_vec();
    extra.extend_from_slice(b"xx");
    assert_eq!(
        parse_stream(Bytes::from(extra)).unwrap_err().kind,
        ErrorKind::Framing
    );
    // CRLF keep-alive: ping is 4 bytes, pong 2.
    assert_eq!(frame_stream(b"\r\n"), Frame::KeepAlive(2));
    assert_eq!(frame_stream(b"\r"), Frame::NeedMore);
}

#[test]
fn header_editing_semantics() {
    let mut m = parse(&options_with("X-A: 1\r\nx-a: 2\r\nRoute: <sip:p1;lr>\r\n")).unwrap();
    assert_eq!(m.headers("X-A").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
    m.replace_header("x-A", "3");
    assert_eq!(m.headers("X-A").collect::<Vec<_>>(), [&b"3"[..]]);
    // replace keeps the position and the original spelling of the name
    let names: Vec<_> = m.iter_headers().map(|h| h.name).collect();
    assert_eq!(names[5], "X-A");
    assert_eq!(m.remove_headers("route"), 1);
    assert_eq!(m.remove_headers("route"), 0);
    assert_eq!(m.decrement_max_forwards().unwrap(), 70);
    assert_eq!(m.decrement_max_forwards().unwrap(), 69);
    m.insert_header(10_000, "X-End", "e");
    assert_eq!(m.iter_headers().last().map(|h| h.name), Some("X-End"));
    m.set_body(Bytes::new(), None);
    assert_eq!(m.content_length().unwrap(), Some(0));
    assert!(m.content_type().is_none());
    assert!(m.set_request_uri("<bad>").is_err());
    m.set_request_uri("sips:y@[::1]:5061").unwrap();
    assert_eq!(
        SipMessage::parse(m.to_bytes()).unwrap().request_uri_str(),
        Some("sips:y@[::1]:5061")
    );
    // Name sanitising: no header injection through the name either.
    m.push_header("X-Bad\r\nInjected", "v");
    assert!(SipMessage::parse(m.to_bytes())
        .unwrap()
        .header("Injected")
        .is_none());
}

#[test]
fn response_to_100_echoes_timestamp_and_skips_to_tag_rules() {
    let req = parse(&options_with("Timestamp: 54\r\n")).unwrap();
    let r = SipMessage::response_to(&req, 100, "Trying", None);
    assert_eq!(r.header_str("Timestamp"), Some("54"));
    assert_eq!(r.to().unwrap().tag(), None);
    let r = SipMessage::response_to(&req, 200, "OK", Some("tt"));
    assert!(r.header("Timestamp").is_none());
    // Addr-spec To gets the tag as a header param, which re-parses as such.
    let req = parse(&options_with("").replace("To: <sip:x@h>", "To: sip:x@h")).unwrap();
    let r =
        SipMessage::parse(SipMessage::response_to(&req, 200, "OK", Some("tt")).to_bytes()).unwrap();
    assert_eq!(r.to().unwrap().tag(), Some("tt"));
    assert!(r.to().unwrap().uri.as_sip().unwrap().params.is_empty());
}

#[test]
fn start_line_variants() {
    let ok = |s: &str| parse(&options_with("").replacen("OPTIONS sip:x@example.com SIP/2.0", s, 1));
    assert!(ok("OPTIONS sip:x@example.com sip/2.0").is_ok());
    assert_eq!(
        ok("OPTIONS sip:x@example.com SIP/2.1")
            .unwrap_err()
            .status_code(),
        505
    );
    assert_eq!(
        ok("OPTIONS sip:x@example.com HTTP/1.1").unwrap_err().kind,
        ErrorKind::StartLine
    );
    assert_eq!(
        ok("OPTIONS sip:x@example.com").unwrap_err().kind,
        ErrorKind::StartLine
    );
    assert_eq!(
        ok("OPT\u{e9}ONS sip:x@example.com SIP/2.0")
            .unwrap_err()
            .kind,
        ErrorKind::StartLine
    );
    let resp =
        |l: &str| parse(&options_with("").replacen("OPTIONS sip:x@example.com SIP/2.0", l, 1));
    assert_eq!(resp("SIP/2.0 200").unwrap().reason(), Some(&b""[..]));
    assert!(resp("SIP/2.0 20 OK").is_err());
    assert!(resp("SIP/2.0 2000 OK").is_err());
    assert!(resp("SIP/2.0 700 Seven").is_err());
    assert_eq!(resp("SIP/2.0 699 Top").unwrap().status_code(), Some(699));
    assert_eq!(resp("SIP/3.0 200 OK").unwrap_err().status_code(), 505);
}

#[test]
fn raw_extractor_edge_cases() {
    let base = options_with("").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let raw = extract_raw(base.as_bytes());
    assert!(raw.addressable());
    assert_eq!(raw.method, b"OPTIONS");
    // ACKs and responses are never answered; garbage start lines neither.
    assert!(!extract_raw(base.replacen("OPTIONS", "ACK", 1).as_bytes()).addressable());
    assert!(!extract_raw(
        base.replacen("OPTIONS sip:x@example.com SIP/2.0", "SIP/2.0 200 OK", 1)
            .as_bytes()
    )
    .addressable());
    assert!(!extract_raw(base.replacen("OPTIONS", "\u{1}\u{2}", 1).as_bytes()).addressable());
    // Missing Call-ID: no response.
    assert!(!extract_raw(base.replace("Call-ID: c\r\n", "").as_bytes()).addressable());
    // An existing To tag is not doubled.
    let tagged = base.replace("To: <sip:x@h>", "To: <sip:x@h>;tag=9");
    let r = response_from_raw(
        &extract_raw(tagged.as_bytes()),
        400,
        "Bad Request",
        Some("new"),
    )
    .unwrap();
    assert_eq!(SipMessage::parse(r).unwrap().to().unwrap().tag(), Some("9"));
}
