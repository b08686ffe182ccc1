//! Differential tests: the fast parser against the frozen pre-speed-work reference (`reference/`).
//! Every corpus message, and many thousands of mutations of them and of random bytes, must give the
//! same verdict (the same `ParseError`, field for field), the same headers and body, the same typed
//! values from every accessor, and the same stream framing. This is what "faster without losing
//! behaviour" means here.

use super::reference;
use super::*;
use bytes::Bytes;
use proptest::prelude::*;

/// Typed values read through the reference typed parsers, rendered with `Debug` (the typed structs
/// have the same shape in both, so equal text means equal values).
fn reference_typed(m: &SipMessage) -> Vec<String> {
    use reference::typed as rt;
    let mut out = Vec::new();
    let vals = |id: HeaderName| -> Vec<&[u8]> {
        m.iter_headers()
            .filter(|h| h.id == id)
            .map(|h| h.value)
            .collect()
    };
    let mut vias = Vec::new();
    let r: Result<(), ParseError> = vals(HeaderName::Via)
        .into_iter()
        .try_for_each(|v| rt::parse_via_list(v, &mut vias));
    out.push(format!("{r:?}"));
    for v in &vias {
        out.push(format!(
            "{v:?} {:?} {:?} {:?} {:?} {:?}",
            v.branch(),
            v.received(),
            v.rport(),
            v.maddr(),
            v.ttl()
        ));
    }
    for id in [HeaderName::From, HeaderName::To] {
        if let Some(v) = vals(id).first() {
            let a = rt::NameAddr::parse(v);
            out.push(format!("{a:?} {:?}", a.map(|a| a.tag())));
        }
    }
    if let Some(v) = vals(HeaderName::CSeq).first() {
        out.push(format!("{:?}", rt::CSeq::parse(v)));
    }
    let mut contacts = Vec::new();
    let r: Result<(), ParseError> = vals(HeaderName::Contact)
        .into_iter()
        .try_for_each(|v| rt::parse_contact_list(v, &mut contacts));
    out.push(format!("{r:?}"));
    for c in &contacts {
        if let rt::ContactValue::Addr(a) = c {
            out.push(format!(
                "{a:?} {:?} {:?} {:?}",
                a.expires(),
                a.q(),
                a.display_name_text()
            ));
        }
    }
    for id in [HeaderName::Route, HeaderName::RecordRoute] {
        let mut l = Vec::new();
        let r: Result<(), ParseError> = vals(id)
            .into_iter()
            .try_for_each(|v| rt::parse_name_addr_list(v, &mut l));
        out.push(format!("{r:?}"));
        for a in &l {
            out.push(format!(
                "{a:?} {:?}",
                a.uri.as_sip().map(|u| (u.lr(), u.transport()))
            ));
        }
    }
    if let Some(u) = m.request_uri_str() {
        out.push(format!("{:?}", reference::uri::Uri::parse(u)));
    }
    out
}

/// The same typed values read through the real accessors.
fn fast_typed(m: &SipMessage) -> Vec<String> {
    let mut out = Vec::new();
    let vias = m.vias();
    out.push(format!("{:?}", vias.as_ref().map(|_| ())));
    for v in vias.iter().flatten() {
        out.push(format!(
            "{v:?} {:?} {:?} {:?} {:?} {:?}",
            v.branch(),
            v.received(),
            v.rport(),
            v.maddr(),
            v.ttl()
        ));
    }
    if m.header("From").is_some() {
        let a = m.from();
        out.push(format!("{a:?} {:?}", a.map(|a| a.tag())));
    }
    if m.header("To").is_some() {
        let a = m.to();
        out.push(format!("{a:?} {:?}", a.map(|a| a.tag())));
    }
    if m.header("CSeq").is_some() {
        out.push(format!("{:?}", m.cseq()));
    }
    let contacts = m.contacts();
    out.push(format!("{:?}", contacts.as_ref().map(|_| ())));
    for c in contacts.iter().flatten() {
        if let ContactValue::Addr(a) = c {
            out.push(format!(
                "{a:?} {:?} {:?} {:?}",
                a.expires(),
                a.q(),
                a.display_name_text()
            ));
        }
    }
    for l in [m.routes(), m.record_routes()] {
        out.push(format!("{:?}", l.as_ref().map(|_| ())));
        for a in l.iter().flatten() {
            out.push(format!(
                "{a:?} {:?}",
                a.uri.as_sip().map(|u| (u.lr(), u.transport()))
            ));
        }
    }
    if let Some(u) = m.request_uri_str() {
        out.push(format!("{:?}", Uri::parse(u)));
    }
    out
}

/// Panics (with the input) when the fast parser and the reference differ in any way.
fn same(data: &[u8]) {
    let old = reference::parse::parse_datagram(Bytes::copy_from_slice(data));
    let new = parse_datagram(Bytes::copy_from_slice(data));
    let show = || String::from_utf8_lossy(data).into_owned();
    match (&old, &new) {
        (Err(a), Err(b)) => assert_eq!(a, b, "different errors for {:?}", show()),
        (Ok(a), Ok(b)) => {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{:?}", show());
            assert_eq!(a.body(), b.body(), "{:?}", show());
            assert_eq!(reference_typed(a), fast_typed(b), "{:?}", show());
        }
        _ => panic!(
            "verdicts differ: reference {:?}, fast {:?} for {:?}",
            old.as_ref().map(|_| ()),
            new.as_ref().map(|_| ()),
            show()
        ),
    }
    assert_eq!(
        format!("{:?}", reference::parse::frame_stream(data)),
        format!("{:?}", frame_stream(data)),
        "framing differs for {:?}",
        show()
    );
    let s_old = reference::parse::parse_stream(Bytes::copy_from_slice(data)).map(|_| ());
    let s_new = parse_stream(Bytes::copy_from_slice(data)).map(|_| ());
    assert_eq!(s_old, s_new, "stream verdicts differ for {:?}", show());
}

fn corpus() -> &'static [Vec<u8>] {
    static C: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "sip"))
            .filter_map(|p| std::fs::read(p).ok())
            .collect()
    })
}

#[test]
fn corpus_same_as_reference() {
    assert!(corpus().len() > 50, "corpus not found");
    for m in corpus() {
        same(m);
    }
}

#[test]
fn hand_picked_edges_same_as_reference() {
    let base = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n";
    for extra in [
        "Via: SIP/2.0/UDP h;branch=\"a;b\";rport=x\r\n",
        "Via: SIP/2.0/UDP h;a=\"x;y=z\r\n",
        "Via: SIP/2.0/UDP h;=x;rport=99999\r\n",
        "Via: SIP/2.0/UDP h;ttl=300;branch=;\r\n",
        "Via: SIP/2.0/UDP h ; rport ; received = 1.2.3.4\r\n",
        "Via: SIP/2.0/UDP [::1] : 5060;maddr=[::2]\r\n",
        "Route: <sip:p;lr>, <sip:q;lr;x=\"<a;b>\">\r\n",
        "Route: <sip:p;lr>,,<sip:q>\r\n",
        "Record-Route: <sip:p;lr;a=<b;c>>\r\n",
        "Contact: \"A, B\" <sip:a@h>;q=0.5;expires=60, <sip:b@h>;q=1.0\r\n",
        "Contact: sip:a@h;expires=x\r\n",
        "Contact: <sip:a@h;p=%4>\r\n",
        "Contact: *\r\n",
        "Contact: <sip:a@h?x=1&y=2>;a;b=c\"d\"\r\n",
        "Content-Type: application/sdp;charset=\"x\"\r\n",
        "Content-Type: a/b;=c\r\n",
        "Max-Forwards: 0070\r\n",
        "Expires: 999999999999999\r\n",
        "X-Thing: \"\\\0\"\r\n",
        "v: SIP/2.0/TCP x\r\n",
        "Contact: <tel:+1;a=b>\r\n",
        "Contact: <sip:[2001:db8::1]:65535;transport=tcp>\r\n",
        "Contact: <sip:u:p@h:0>\r\n",
    ] {
        for body in ["", "Content-Length: 0\r\n"] {
            same(format!("{base}{extra}{body}\r\n").as_bytes());
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
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
        b"=".to_vec(),
        b"@".to_vec(),
        b"?".to_vec(),
        b"[".to_vec(),
        b"]".to_vec(),
        b"\\".to_vec(),
        b"%".to_vec(),
        b" ".to_vec(),
        b"\t".to_vec(),
        b"\xff".to_vec(),
        b"\xc3\xa9".to_vec(),
        b"\0".to_vec(),
        b";rport=".to_vec(),
        b";ttl=".to_vec(),
        b";tag=".to_vec(),
        b"99999".to_vec(),
        b"*".to_vec(),
    ]);
    prop_oneof![
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<usize>(), special).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<usize>(), 1usize..32).prop_map(|(i, n)| Mutation::Dup(i, n)),
    ]
}

fn apply(mut d: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = d.len();
        if len == 0 {
            break;
        }
        match m {
            Mutation::Flip(i, b) => d[i % len] = *b,
            Mutation::Insert(i, v) => {
                let at = i % (len + 1);
                d.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i % len;
                d.drain(at..(at + n).min(len));
            }
            Mutation::Dup(i, n) => {
                let at = i % len;
                let chunk = d[at..(at + n).min(len)].to_vec();
                d.splice(at..at, chunk);
            }
        }
    }
    d
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_same_as_reference(seed in any::<prop::sample::Index>(), muts in prop::collection::vec(mutation(), 1..5)) {
        let c = corpus();
        same(&apply(c[seed.index(c.len())].clone(), &muts));
    }

    #[test]
    fn random_bytes_same_as_reference(data in prop::collection::vec(any::<u8>(), 0..300)) {
        same(&data);
    }
}
