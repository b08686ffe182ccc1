//! The SIP message corpus (tests/corpus/*.sip, RFC 4475 torture cases and realistic inputs):
//! every case has an exact expected outcome, and accepted messages survive re-serialisation.

use bytes::Bytes;
use hotline::sip::message::{
    error_response, extract_raw, frame_stream, parse_stream, ContactValue, ErrorKind, Frame,
    HeaderName, Method, SipMessage, Uri,
};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok,
    Err(ErrorKind, u16),
}
use Want::*;

const CASES: &[(&str, Want)] = &[
    // RFC 4475 §3.1.1: valid
    ("wsinv", Ok),
    ("intmeth", Ok),
    ("esc01", Ok),
    ("escnull", Ok),
    ("esc02", Ok),
    ("lwsdisp", Ok),
    ("longreq", Ok),
    ("dblreq", Ok),
    ("semiuri", Ok),
    ("transports", Ok),
    ("mpart01", Ok),
    ("unreason", Ok),
    ("noreason", Ok),
    // RFC 4475 §3.1.2: invalid (escruri and baddate may be accepted: "reject or ignore")
    ("badinv01", Err(ErrorKind::Header, 400)),
    ("clerr", Err(ErrorKind::Incomplete, 400)),
    ("ncl", Err(ErrorKind::Framing, 400)),
    ("scalar02", Err(ErrorKind::Header, 400)),
    ("scalarlg", Err(ErrorKind::Header, 400)),
    ("quotbal", Err(ErrorKind::Header, 400)),
    ("ltgtruri", Err(ErrorKind::Uri, 400)),
    ("lwsruri", Err(ErrorKind::StartLine, 400)),
    ("lwsstart", Err(ErrorKind::StartLine, 400)),
    ("trws", Err(ErrorKind::StartLine, 400)),
    ("escruri", Ok),
    ("baddate", Ok),
    ("regbadct", Err(ErrorKind::Header, 400)),
    ("badaspec", Err(ErrorKind::Header, 400)),
    ("baddn", Err(ErrorKind::Header, 400)),
    ("badvers", Err(ErrorKind::Version, 505)),
    ("mismatch01", Err(ErrorKind::Semantic, 400)),
    ("mismatch02", Err(ErrorKind::Semantic, 400)),
    ("bigcode", Err(ErrorKind::StartLine, 400)),
    // RFC 4475 §3.3: the application decides (parser accepts), except the framing/duplicate ones
    ("badbranch", Ok),
    ("insuf", Err(ErrorKind::Semantic, 400)),
    ("unkscm", Ok),
    ("novelsc", Ok),
    ("unksm2", Ok),
    ("bext01", Ok),
    ("multi01", Err(ErrorKind::Semantic, 400)),
    ("mcl01", Err(ErrorKind::Semantic, 400)),
    ("bcast", Ok),
    ("zeromf", Ok),
    ("cparam01", Ok),
    ("cparam02", Ok),
    ("regescrt", Ok),
    ("inv2543", Ok),
    // realistic inputs (shared/notes/sip-parser-evaluation.md §2)
    ("real-compact", Ok),
    ("real-folded-via", Ok),
    ("real-hcolon-space", Ok),
    ("real-semi-space", Ok),
    ("real-via-list", Ok),
    ("real-ipv6-ruri", Ok),
    ("real-ipv6-hosts", Ok),
    ("real-received-v6-rport", Ok),
    ("real-tel-ruri", Ok),
    ("real-urn-ruri", Ok),
    ("real-contacts", Ok),
    ("real-gruu-contact", Ok),
    ("real-digest-register", Ok),
    ("real-401-auth-int", Ok),
    ("real-latin1-display", Ok),
    ("real-lowercase-method", Ok),
    ("real-unknown-method", Ok),
    ("real-cseq-foo", Err(ErrorKind::Semantic, 400)),
    ("real-gone-fishing", Ok),
    ("real-trailing-spaces", Ok),
    ("real-truncated", Err(ErrorKind::Incomplete, 400)),
    ("real-cl-too-big", Err(ErrorKind::Incomplete, 400)),
    ("real-lf-only", Err(ErrorKind::Incomplete, 400)),
    ("real-empty", Err(ErrorKind::Empty, 400)),
    ("real-keepalive", Err(ErrorKind::Empty, 400)),
    ("real-baduri-v6", Err(ErrorKind::Uri, 400)),
    ("real-bare-cr", Err(ErrorKind::Framing, 400)),
    ("real-nul-in-value", Err(ErrorKind::Header, 400)),
    ("real-contact-star-mixed", Err(ErrorKind::Header, 400)),
    ("real-mf-300", Err(ErrorKind::Header, 400)),
    ("real-status-099", Err(ErrorKind::StartLine, 400)),
    ("real-no-headers", Err(ErrorKind::Semantic, 400)),
    ("real-too-many-headers", Err(ErrorKind::TooLarge, 513)),
    ("real-long-line", Err(ErrorKind::TooLarge, 513)),
    ("real-too-large", Err(ErrorKind::TooLarge, 513)),
    ("real-invite-sdp-888", Ok),
    ("real-200-ok", Ok),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn load(name: &str) -> Vec<u8> {
    let p = corpus_dir().join(format!("{name}.sip"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parse(name: &str) -> SipMessage {
    SipMessage::parse(load(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_corpus_file_has_an_expectation() {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".sip").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn each_case_has_its_exact_outcome() {
    let mut failures = Vec::new();
    for &(name, want) in CASES {
        let got = SipMessage::parse(load(name));
        let ok = match (&got, want) {
            (Result::Ok(_), Ok) => true,
            (Result::Err(e), Err(kind, code)) => e.kind == kind && e.status_code() == code,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{name}: want {want:?}, got {:?}",
                got.as_ref().map(|_| "Ok")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn accepted_cases_round_trip_and_frame_on_streams() {
    for &(name, want) in CASES {
        if want != Ok {
            continue;
        }
        let m = parse(name);
        let wire = m.to_bytes();
        let back =
            SipMessage::parse(wire.clone()).unwrap_or_else(|e| panic!("{name} re-parse: {e}"));
        assert_eq!(back.body(), m.body(), "{name}");
        let added = usize::from(m.header("Content-Length").is_none());
        assert_eq!(back.header_count(), m.header_count() + added, "{name}");
        // Content-Length is rewritten; every other header survives byte for byte, in order.
        let strip = |m: &SipMessage| -> Vec<(String, Vec<u8>)> {
            m.iter_headers()
                .filter(|h| h.id != HeaderName::ContentLength)
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect()
        };
        assert_eq!(strip(&back), strip(&m), "{name}");
        assert_eq!(back.status_code(), m.status_code(), "{name}");
        assert_eq!(back.reason(), m.reason(), "{name}");
        assert_eq!(back.method(), m.method(), "{name}");
        // Serialised output always carries Content-Length, so it frames on a stream.
        let mut stream = wire.to_vec();
        stream.extend_from_slice(&wire);
        let Frame::Message(n) = frame_stream(&stream) else {
            panic!("{name}: not framed")
        };
        assert_eq!(n, wire.len(), "{name}");
        let s = parse_stream(Bytes::copy_from_slice(&stream[..n]))
            .unwrap_or_else(|e| panic!("{name} stream: {e}"));
        assert_eq!(s.body(), m.body(), "{name}");
    }
}

#[test]
fn rejected_requests_get_an_addressed_response_when_possible() {
    for (name, code, addressable) in [
        ("mismatch01", 400, true),
        ("mismatch02", 400, true),
        ("badvers", 505, true),
        ("real-too-many-headers", 513, true),
        ("multi01", 400, true),
        ("insuf", 400, false),
        ("bigcode", 400, false), // a response: never answered
        ("real-empty", 400, false),
    ] {
        let bytes = load(name);
        let e = SipMessage::parse(bytes.clone()).expect_err(name);
        let resp = error_response(&bytes, &e, Some("err1"));
        assert_eq!(resp.is_some(), addressable, "{name}");
        if let Some(r) = resp {
            let m = SipMessage::parse(r).unwrap_or_else(|e| panic!("{name} response: {e}"));
            assert_eq!(m.status_code(), Some(code), "{name}");
            assert_eq!(m.to().unwrap().tag(), Some("err1"), "{name}");
            let raw = extract_raw(&bytes);
            assert_eq!(m.vias().unwrap().len(), raw.vias.len(), "{name}");
        }
    }
}

#[test]
fn error_reasons_never_echo_the_input() {
    for &(name, want) in CASES {
        if let Err(..) = want {
            let e = SipMessage::parse(load(name)).expect_err(name);
            let text = e.to_string();
            assert!(text.len() < 120, "{name}: {text}");
            assert!(!text.contains("example"), "{name}: {text}");
        }
    }
}

// ---- typed checks on specific cases ----

#[test]
fn wsinv_typed() {
    let m = parse("wsinv");
    assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
    let from = m.from().unwrap();
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(
        from.display_name_text().as_deref(),
        Some("J Rosenberg \\\"")
    );
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.cseq().unwrap().seq, 9);
    assert_eq!(m.cseq().unwrap().method, Method::Invite);
    let vias = m.vias().unwrap();
    let got: Vec<_> = vias
        .iter()
        .map(|v| (v.transport, v.host, v.branch()))
        .collect();
    assert_eq!(
        got,
        [
            ("UDP", "192.0.2.2", Some("390skdjuw")),
            ("TCP", "spindle.example.com", Some("z9hG4bK9ikj8")),
            ("UDP", "192.168.255.111", Some("z9hG4bK30239")),
        ]
    );
    assert_eq!(m.header_str("Subject"), Some(""));
    assert_eq!(
        m.header_str("newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        m.header_str("UnknownHeaderWithUnusualValue"),
        Some(";;,,;;,;")
    );
    let c = m.contacts().unwrap();
    let [ContactValue::Addr(c)] = c[..] else {
        panic!("{c:?}")
    };
    assert_eq!(c.q(), Some(330));
    assert_eq!(c.params.get("newparam"), Some("newvalue"));
    assert!(c.params.contains("secondparam"));
    assert!(m.routes().unwrap()[0].uri.as_sip().unwrap().lr());
    assert_eq!(m.body().len(), 150);
    assert_eq!(
        m.request_uri()
            .unwrap()
            .as_sip()
            .unwrap()
            .params
            .get("unknownparam"),
        Some("")
    );
}

#[test]
fn intmeth_typed() {
    let m = parse("intmeth");
    let meth = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(m.method(), Some(&Method::Other(meth.into())));
    assert_eq!(m.cseq().unwrap().method.as_str(), meth);
    let ruri = m.request_uri().unwrap();
    let u = ruri.as_sip().unwrap();
    assert_eq!(
        u.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        u.password,
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(m.from().unwrap().tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        m.from().unwrap().display_name,
        Some(&b"token1~` token2'+_ token3*%!.-"[..])
    );
    assert_eq!(
        m.call_id().unwrap(),
        "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    );
    assert_eq!(
        m.header("extensionHeader-!.%*+_`'~"),
        Some(&b"\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb"[..])
    );
    assert_eq!(
        m.to().unwrap().display_name,
        Some(&b"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"[..])
    );
}

#[test]
fn escapes_and_extension_methods() {
    let m = parse("esc01");
    assert_eq!(
        m.request_uri().unwrap().as_sip().unwrap().user,
        Some("sips%3Auser%40example.com")
    );
    assert_eq!(m.content_type(), Some("application/sdp"));
    let c = m.contacts().unwrap();
    let ContactValue::Addr(c) = c[0] else {
        panic!()
    };
    assert_eq!(
        c.uri.as_sip().unwrap().params.get("n%61me"),
        Some("v%61lue%25%34%31")
    );
    let m = parse("escnull");
    assert_eq!(m.contacts().unwrap().len(), 2);
    assert_eq!(m.content_length().unwrap(), Some(0));
    let m = parse("esc02");
    assert_eq!(m.method().map(Method::as_str), Some("RE%47IST%45R"));
    assert_eq!(m.contacts().unwrap().len(), 2, "C%6Fntact is not Contact");
    assert_eq!(
        m.header_str("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
    assert_eq!(
        parse("lwsdisp").from().unwrap().display_name,
        Some(&b"caller"[..])
    );
}

#[test]
fn longreq_dblreq_semiuri_transports() {
    let m = parse("longreq");
    assert_eq!(m.vias().unwrap().len(), 34);
    assert_eq!(m.headers("v").count(), 34);
    assert_eq!(m.from().unwrap().tag().map(str::len), Some(159));
    assert_eq!(m.to().unwrap().uri.as_sip().unwrap().port, Some(6000));
    assert_eq!(m.body().len(), 150);
    let m = parse("dblreq");
    assert_eq!(m.method(), Some(&Method::Register));
    assert!(m.body().is_empty(), "the second message is not a body");
    assert_eq!(
        m.call_id().unwrap(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );
    let m = parse("semiuri");
    let u = m.request_uri().unwrap();
    assert_eq!(u.as_sip().unwrap().user, Some("user;par=u%40example.net"));
    assert!(u.as_sip().unwrap().params.is_empty());
    let m = parse("transports");
    let t: Vec<_> = m.vias().unwrap().iter().map(|v| v.transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
}

#[test]
fn binary_body_survives() {
    let m = parse("mpart01");
    let body = m.body().clone();
    assert!(body.windows(4).any(|w| w == b"\x00\x00\xff\xfe"));
    assert_eq!(Some(body.len()), m.content_length().unwrap());
    let wire = m.to_bytes();
    assert!(wire.ends_with(&body));
    assert_eq!(SipMessage::parse(wire).unwrap().body(), &body);
}

#[test]
fn reason_phrases_kept() {
    let m = parse("unreason");
    let r = m.reason().unwrap();
    assert!(r.starts_with(b"= 2**3 * 5**2 "));
    assert!(std::str::from_utf8(r).is_ok());
    assert!(m
        .to_bytes()
        .starts_with(b"SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe"));
    let m = parse("noreason");
    assert_eq!((m.status_code(), m.reason()), (Some(100), Some(&b""[..])));
    let m = parse("real-gone-fishing");
    assert_eq!(m.reason(), Some(&b"Gone Fishing"[..]));
    assert!(m.to_bytes().starts_with(b"SIP/2.0 480 Gone Fishing\r\n"));
}

#[test]
fn opaque_uris_left_to_the_application() {
    let m = parse("unkscm");
    assert!(matches!(m.request_uri(), Some(Uri::Other(o)) if o.scheme == "nobodyKnowsThisScheme"));
    let m = parse("novelsc");
    assert_eq!(m.request_uri().unwrap().scheme(), "soap.beep");
    let m = parse("unksm2");
    assert_eq!(m.to().unwrap().uri.scheme(), "isbn");
    assert_eq!(
        parse("real-tel-ruri").request_uri().unwrap().as_str(),
        "tel:+15551234567"
    );
    assert_eq!(
        parse("real-urn-ruri").request_uri().unwrap().scheme(),
        "urn"
    );
    assert_eq!(parse("regescrt").contacts().unwrap().len(), 1);
    assert_eq!(parse("zeromf").max_forwards().unwrap(), Some(0));
    let m = parse("cparam01");
    let ContactValue::Addr(c) = m.contacts().unwrap()[0] else {
        panic!()
    };
    assert!(
        c.params.contains("unknownparam"),
        "addr-spec params are header params"
    );
    assert!(c.uri.as_sip().unwrap().params.is_empty());
    let m = parse("cparam02");
    let ContactValue::Addr(c) = m.contacts().unwrap()[0] else {
        panic!()
    };
    assert!(c.params.is_empty());
    assert!(c.uri.as_sip().unwrap().params.contains("unknownparam"));
    let m = parse("inv2543");
    assert_eq!(m.top_via().unwrap().branch(), None);
    assert_eq!(m.from().unwrap().tag(), None);
    assert_eq!(m.max_forwards().unwrap(), None);
}

#[test]
fn realistic_typed() {
    let m = parse("real-compact");
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK1"));
    assert_eq!(m.from().unwrap().tag(), Some("a1"));
    assert_eq!(m.call_id().unwrap(), "opt-1@pc.example.com");
    assert_eq!(m.contacts().unwrap().len(), 1);
    assert_eq!(m.content_type(), Some("text/plain"));
    assert_eq!(m.body().as_ref(), b"hi");
    for name in ["real-folded-via", "real-hcolon-space", "real-semi-space"] {
        let m = parse(name);
        let v = m.top_via().unwrap();
        assert_eq!(
            (v.branch(), v.port),
            (Some("z9hG4bK1"), Some(5060)),
            "{name}"
        );
    }
    let m = parse("real-via-list");
    let b: Vec<_> = m.vias().unwrap().iter().map(|v| v.branch()).collect();
    assert_eq!(b, [Some("z9hG4bK1"), Some("z9hG4bK2")]);
    let u = parse("real-ipv6-ruri");
    let u = u.request_uri().unwrap();
    let s = u.as_sip().unwrap();
    assert_eq!((s.host, s.ipv6, s.port), ("2001:db8::1", true, Some(5060)));
    let m = parse("real-ipv6-hosts");
    assert_eq!(m.top_via().unwrap().sent_by(), "[2001:db8::1]:5060");
    let ContactValue::Addr(c) = m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.uri.as_sip().unwrap().host, "2001:db8::10");
    assert_eq!(m.from().unwrap().uri.as_sip().unwrap().host, "2001:db8::1");
    let m = parse("real-received-v6-rport");
    let v = m.top_via().unwrap();
    assert_eq!(
        (v.received(), v.rport()),
        (Some("2001:db8::99"), Some(None))
    );
    let m = parse("real-contacts");
    let c = m.contacts().unwrap();
    let [ContactValue::Addr(a), ContactValue::Addr(b)] = c[..] else {
        panic!()
    };
    assert_eq!(
        (a.expires(), a.q(), b.expires()),
        (Some(60), Some(500), None)
    );
    let m = parse("real-gruu-contact");
    let ContactValue::Addr(c) = m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(
        c.params.get("+sip.instance"),
        Some("\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"")
    );
    assert!(c.uri.as_sip().unwrap().is_sips());
    let m = parse("real-digest-register");
    assert!(m
        .header_str("authorization")
        .unwrap()
        .starts_with("Digest username=\"1001\""));
    let m = parse("real-401-auth-int");
    assert!(m
        .header_str("WWW-Authenticate")
        .unwrap()
        .contains("qop=\"auth,auth-int\""));
    assert!(m
        .header_str("proxy-authenticate")
        .unwrap()
        .ends_with("algorithm=SHA-256"));
    let m = parse("real-latin1-display");
    assert_eq!(m.from().unwrap().display_name, Some(&b"J\xe9r\xf4me"[..]));
    assert_eq!(m.from().unwrap().tag(), Some("a1"));
    assert_eq!(
        parse("real-lowercase-method").method(),
        Some(&Method::Other("options".into()))
    );
    assert_eq!(
        parse("real-unknown-method").method().map(Method::as_str),
        Some("PING")
    );
    let m = parse("real-trailing-spaces");
    assert_eq!(
        (
            m.call_id().unwrap(),
            m.max_forwards().unwrap(),
            m.content_length().unwrap()
        ),
        ("abc", Some(70), Some(0))
    );
    let m = parse("real-200-ok");
    assert_eq!(m.record_routes().unwrap().len(), 2);
    assert_eq!(m.top_via().unwrap().rport(), Some(Some(5060)));
    let m = parse("real-invite-sdp-888");
    assert_eq!(m.source().len(), 888);
    assert!(m.body().starts_with(b"v=0\r\n"));
    assert_eq!(m.header_str("Session-Expires"), m.header_str("x"));
}

// ---- robustness: arbitrary and mutated bytes never panic ----

/// Run every entry point and accessor on `data`; panics are the only failure.
fn exercise(data: &[u8]) {
    let _ = frame_stream(data);
    let _ = error_response(
        data,
        &SipMessage::parse(Bytes::new()).unwrap_err(),
        Some("t"),
    );
    let _ = parse_stream(Bytes::copy_from_slice(data));
    if let Result::Ok(m) = SipMessage::parse(Bytes::copy_from_slice(data)) {
        let _ = (
            m.vias(),
            m.top_via(),
            m.from(),
            m.to(),
            m.call_id(),
            m.cseq(),
            m.contacts(),
        );
        let _ = (
            m.routes(),
            m.record_routes(),
            m.max_forwards(),
            m.content_length(),
            m.expires(),
        );
        let _ = (m.content_type(), m.request_uri(), m.reason_lossy());
        for h in m.iter_headers() {
            let _ = (h.value_str(), h.value_lossy());
        }
        if let Result::Ok(c) = m.contacts() {
            for v in c {
                if let ContactValue::Addr(a) = v {
                    let _ = (
                        a.expires(),
                        a.q(),
                        a.display_name_text(),
                        a.params.iter().count(),
                    );
                }
            }
        }
        let wire = m.to_bytes();
        // Our own output must parse again (as a stream message too).
        let again = SipMessage::parse(wire.clone()).expect("re-parse of our own output");
        assert_eq!(again.body(), m.body());
        assert!(parse_stream(wire).is_ok());
        let mut r = SipMessage::response_to(&m, 200, "OK", Some("x"));
        r.set_body(
            Bytes::from_static(b"\0\r\n"),
            Some("application/octet-stream"),
        );
        let _ = r.decrement_max_forwards();
        let _ = SipMessage::parse(r.to_bytes()).expect("response_to output parses");
    }
}

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        CASES
            .iter()
            .map(|(n, _)| load(n))
            .filter(|b| b.len() < 8192)
            .collect()
    })
}

mod fuzzish {
    use super::*;
    use proptest::prelude::*;

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000)
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Flip(usize, u8),
        Insert(usize, Vec<u8>),
        Delete(usize, usize),
        Truncate(usize),
        Dup(usize, usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let special = prop::sample::select(vec![
            b"\r\n".to_vec(),
            b"\r\n ".to_vec(),
            b";".to_vec(),
            b",".to_vec(),
            b"\"".to_vec(),
            b"<".to_vec(),
            b">".to_vec(),
            b":".to_vec(),
            b"[".to_vec(),
            b"\0".to_vec(),
            b"\\".to_vec(),
            b"\xff".to_vec(),
            b"%".to_vec(),
            b" ".to_vec(),
            b"\r".to_vec(),
            b"\n".to_vec(),
            b"99999999999999999999".to_vec(),
            b"-1".to_vec(),
        ]);
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
            (any::<usize>(), special).prop_map(|(i, v)| Mutation::Insert(i, v)),
            (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
                .prop_map(|(i, v)| Mutation::Insert(i, v)),
            (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Dup(i, n)),
        ]
    }

    fn apply(mut d: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
        for m in muts {
            if d.is_empty() {
                break;
            }
            let len = d.len();
            match m {
                Mutation::Flip(i, b) => d[i % len] = *b,
                Mutation::Insert(i, v) => {
                    let at = i % (len + 1);
                    d.splice(at..at, v.iter().copied());
                }
                Mutation::Delete(i, n) => {
                    let at = i % len;
                    let end = (at + n).min(len);
                    d.drain(at..end);
                }
                Mutation::Truncate(i) => d.truncate(i % (len + 1)),
                Mutation::Dup(i, n) => {
                    let at = i % len;
                    let end = (at + n).min(len);
                    let chunk = d[at..end].to_vec();
                    d.splice(at..at, chunk);
                }
            }
        }
        d
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
            exercise(&data);
        }

        #[test]
        fn mutated_corpus_never_panics(seed in any::<prop::sample::Index>(), muts in prop::collection::vec(mutation(), 1..6)) {
            let seeds = seeds();
            let base = seeds[seed.index(seeds.len())].clone();
            exercise(&apply(base, &muts));
        }
    }
}
