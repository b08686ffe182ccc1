//! REGISTER through the engine: digest challenge in the configured order, MD5 credentials,
//! wrong passwords, too-brief intervals, and a call reaching the registered contact.

use super::harness::*;
use crate::sip::auth::{Algorithm, Challenge, DigestClient};
use crate::sip::message::Method;
use crate::sip::registrar::Change;

/// Extension 1002's softphone.
const SOFTPHONE: &str = "198.51.100.7:5062";

fn register(cseq: u32, expires: u32, auth: Option<&str>) -> String {
    register_as("1002", SOFTPHONE, cseq, expires, auth)
}

fn register_as(ext: &str, from: &str, cseq: u32, expires: u32, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    request(
        "REGISTER",
        "sip:hotline.local",
        from,
        &format!("reg{ext}-{cseq}"),
        &format!("<sip:{ext}@hotline.local>;tag=r1"),
        &format!("<sip:{ext}@hotline.local>"),
        &format!("reg-call-{ext}"),
        cseq,
        &format!("Contact: <sip:{ext}@{from}>\r\nExpires: {expires}\r\n{auth}"),
        "",
    )
}

/// Sends an unauthenticated REGISTER and returns its 401's challenge values, in order.
fn challenge(b: &mut Bench, cseq: u32) -> Vec<String> {
    b.recv_text(&register(cseq, 300, None), SOFTPHONE);
    let r = b.expect_response(401, Method::Register, SOFTPHONE);
    r.msg
        .headers("WWW-Authenticate")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// An `Authorization` value answering the MD5 challenge among `values` with `password`.
fn md5_answer(values: &[String], password: &str) -> String {
    md5_answer_as("1002", values, password)
}

fn md5_answer_as(ext: &str, values: &[String], password: &str) -> String {
    let md5 = values
        .iter()
        .filter_map(|v| Challenge::parse(v).ok())
        .find(|c| c.algorithm == Algorithm::Md5)
        .expect("an MD5 challenge is offered");
    let mut client = DigestClient::new(ext, password);
    client.set_challenge(md5, false);
    let (name, creds) = client
        .credentials("REGISTER", "sip:hotline.local", b"", "0a4f113b")
        .expect("credentials for the held challenge");
    assert_eq!(name, "Authorization");
    assert_eq!(creds.algorithm, Algorithm::Md5);
    creds.to_header_value()
}

#[test]
fn register_without_credentials_offers_both_algorithms_in_the_configured_order() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    let algs: Vec<Algorithm> = values
        .iter()
        .map(|v| Challenge::parse(v).expect("a valid challenge").algorithm)
        .collect();
    // The profiles say ["MD5", "SHA-256"]: old phones answer only the first.
    assert_eq!(algs, vec![Algorithm::Md5, Algorithm::Sha256], "{values:?}");
    for v in &values {
        let c = Challenge::parse(v).expect("valid");
        assert_eq!(c.realm, REALM);
        assert!(!c.nonce.is_empty());
    }
    assert!(b.bindings.is_empty());
    assert_eq!(b.e.registrar().count(), 0);
}

#[test]
fn default_order_offers_sha256_first() {
    let profiles = PROFILES.replace("digest_algorithms = [\"MD5\", \"SHA-256\"]\n", "");
    assert_ne!(profiles, PROFILES, "the test profile changed shape");
    let mut b = Bench::with_profiles(&profiles);
    let algs: Vec<Algorithm> = challenge(&mut b, 1)
        .iter()
        .map(|v| Challenge::parse(v).expect("valid").algorithm)
        .collect();
    assert_eq!(algs, vec![Algorithm::Sha256, Algorithm::Md5]);
}

#[test]
fn md5_credentials_register_the_contact_and_calls_ring_it() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    let auth = md5_answer(&values, "pw1002");
    b.recv_text(&register(2, 300, Some(&auth)), SOFTPHONE);
    let ok = b.expect_response(200, Method::Register, SOFTPHONE);
    let contact = ok.hdr("Contact");
    assert!(
        contact.starts_with(&format!("<sip:1002@{SOFTPHONE}>;expires=")),
        "{contact}"
    );
    let secs: u32 = contact
        .rsplit("expires=")
        .next()
        .and_then(|s| s.trim().parse().ok())
        .expect("expires value");
    assert!((299..=300).contains(&secs), "expires={secs}");
    assert_eq!(b.bindings.len(), 1, "one batch of binding changes");
    match b.bindings[0].as_slice() {
        [Change::Upsert { extension, binding }] => {
            assert_eq!(extension, "1002");
            assert_eq!(binding.contact_uri, format!("sip:1002@{SOFTPHONE}"));
            assert_eq!(binding.received, SOFTPHONE);
        }
        other => panic!("unexpected changes {other:?}"),
    }
    assert_eq!(b.e.registrar().count(), 1);
    assert_eq!(
        b.metrics
            .registrations
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // DID 12346 routes to 1002: the call now rings the registered contact.
    b.recv_text(&carrier_invite("to-1002", "12346"), CARRIER);
    let inv = b.expect_request(Method::Invite, SOFTPHONE);
    assert_eq!(
        inv.msg.request_uri_str(),
        Some(format!("sip:1002@{SOFTPHONE}").as_str())
    );
}

#[test]
fn before_registering_the_did_of_1002_is_unavailable() {
    let mut b = Bench::new();
    b.recv_text(&carrier_invite("to-1002-early", "12346"), CARRIER);
    b.expect_response(480, Method::Invite, CARRIER);
    // And the refusal gave back the single channel.
    b.recv_text(&carrier_invite("to-1001", "12345"), CARRIER);
    b.expect_request(Method::Invite, PHONE_1001);
}

#[test]
fn wrong_password_is_forbidden() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    let auth = md5_answer(&values, "not-the-password");
    b.recv_text(&register(2, 300, Some(&auth)), SOFTPHONE);
    b.expect_response(403, Method::Register, SOFTPHONE);
    assert!(b.bindings.is_empty());
    assert_eq!(b.e.registrar().count(), 0);
}

#[test]
fn too_brief_expires_gets_423_with_min_expires() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    let auth = md5_answer(&values, "pw1002");
    b.recv_text(&register(2, 10, Some(&auth)), SOFTPHONE);
    let r = b.expect_response(423, Method::Register, SOFTPHONE);
    assert_eq!(r.hdr("Min-Expires"), "60");
    assert!(b.bindings.is_empty());
    assert_eq!(b.e.registrar().count(), 0);
}

#[test]
fn registering_another_extension_is_forbidden() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    // 1002's valid credentials on a REGISTER for 1001's AOR.
    let auth = md5_answer(&values, "pw1002");
    let req =
        register(2, 300, Some(&auth)).replace("sip:1002@hotline.local", "sip:1001@hotline.local");
    b.recv_text(&req, SOFTPHONE);
    b.expect_response(403, Method::Register, SOFTPHONE);
    assert_eq!(b.e.registrar().count(), 0);
}

#[test]
fn expires_zero_removes_the_binding_and_calls_no_longer_ring_it() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    b.recv_text(
        &register(2, 300, Some(&md5_answer(&values, "pw1002"))),
        SOFTPHONE,
    );
    b.expect_response(200, Method::Register, SOFTPHONE);
    assert_eq!(b.e.registrar().count(), 1);
    // A fresh nonce for the de-registration.
    let values = challenge(&mut b, 3);
    b.recv_text(
        &register(4, 0, Some(&md5_answer(&values, "pw1002"))),
        SOFTPHONE,
    );
    let ok = b.expect_response(200, Method::Register, SOFTPHONE);
    assert_eq!(ok.hdr("Contact"), "", "no bindings left");
    assert_eq!(b.e.registrar().count(), 0);
    match b.bindings.last().map(Vec::as_slice) {
        Some(
            [Change::Remove {
                extension,
                contact_uri,
            }],
        ) => {
            assert_eq!(extension, "1002");
            assert_eq!(contact_uri, &format!("sip:1002@{SOFTPHONE}"));
        }
        other => panic!("unexpected changes {other:?}"),
    }
    b.recv_text(&carrier_invite("after-unreg", "12346"), CARRIER);
    b.expect_response(480, Method::Invite, CARRIER);
}

#[test]
fn a_registered_softphone_and_the_desk_phone_ring_together_first_answer_wins() {
    let mut b = Bench::new();
    // 1001 also registers a softphone beside its fixed desk phone.
    b.recv_text(&register_as("1001", SOFTPHONE, 1, 300, None), SOFTPHONE);
    let r = b.expect_response(401, Method::Register, SOFTPHONE);
    let values: Vec<String> = r
        .msg
        .headers("WWW-Authenticate")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let auth = md5_answer_as("1001", &values, "pw1001");
    b.recv_text(
        &register_as("1001", SOFTPHONE, 2, 300, Some(&auth)),
        SOFTPHONE,
    );
    b.expect_response(200, Method::Register, SOFTPHONE);

    b.recv_text(&carrier_invite("fork", "12345"), CARRIER);
    let soft = b.expect_request(Method::Invite, SOFTPHONE);
    let desk = b.expect_request(Method::Invite, PHONE_1001);
    assert_ne!(soft.call_id(), desk.call_id(), "each fork is its own B-leg");
    assert_eq!(soft.sdp_port(), desk.sdp_port(), "one bridge, one B port");
    for (inv, to) in [(&soft, SOFTPHONE), (&desk, PHONE_1001)] {
        b.recv(answer(inv, 180, "Ringing", Some("t"), ""), to);
    }
    b.expect_response(180, Method::Invite, CARRIER);
    assert_eq!(
        b.count(|s| s.code() == Some(180)),
        0,
        "one 180 to the caller: {}",
        b.dump()
    );
    b.recv(
        answer(&soft, 200, "OK", Some("t"), &sdp("198.51.100.7", 24000, "")),
        SOFTPHONE,
    );
    b.expect_request(Method::Ack, SOFTPHONE);
    let cancel = b.expect_request(Method::Cancel, PHONE_1001);
    assert_eq!(cancel.call_id(), desk.call_id());
    let ok = b.expect_response(200, Method::Invite, CARRIER);
    assert_eq!(ok.sdp_port(), Some(40000));
    b.recv(answer(&cancel, 200, "OK", Some("t"), ""), PHONE_1001);
    b.recv(
        answer(&desk, 487, "Request Terminated", Some("t"), ""),
        PHONE_1001,
    );
    b.expect_request(Method::Ack, PHONE_1001);
    assert_eq!(b.e.active_calls(), 1);
    assert!(b.cdrs.is_empty());
}

#[test]
fn a_registration_expires_in_engine_time() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    b.recv_text(
        &register(2, 60, Some(&md5_answer(&values, "pw1002"))),
        SOFTPHONE,
    );
    b.expect_response(200, Method::Register, SOFTPHONE);
    b.bindings.clear();
    // Two minutes later the 60 s binding is gone: removed, and calls no longer ring it.
    b.advance(std::time::Duration::from_secs(120));
    assert!(
        b.bindings
            .iter()
            .flatten()
            .any(|c| matches!(c, Change::Remove { extension, .. } if extension == "1002")),
        "no removal after expiry: {:?}",
        b.bindings
    );
    b.recv_text(&carrier_invite("after-expiry", "12346"), CARRIER);
    b.expect_response(480, Method::Invite, CARRIER);
}

#[test]
fn replayed_credentials_get_a_stale_challenge_not_a_binding() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    let auth = md5_answer(&values, "pw1002");
    b.recv_text(&register(2, 300, Some(&auth)), SOFTPHONE);
    b.expect_response(200, Method::Register, SOFTPHONE);
    let batches = b.bindings.len();
    // The same Authorization (same nonce, same nc) on a new request: a replay.
    b.recv_text(&register(3, 300, Some(&auth)), SOFTPHONE);
    let r = b.expect_response(401, Method::Register, SOFTPHONE);
    let stale = r
        .msg
        .headers("WWW-Authenticate")
        .filter_map(|v| Challenge::parse(&String::from_utf8_lossy(v)).ok())
        .all(|c| c.stale);
    assert!(
        stale,
        "the new challenge says stale=true: {}",
        r.hdr("WWW-Authenticate")
    );
    assert_eq!(b.bindings.len(), batches, "no new binding change");
}

#[test]
fn an_unknown_user_is_forbidden() {
    let mut b = Bench::new();
    let values = challenge(&mut b, 1);
    let auth = md5_answer_as("4242", &values, "whatever");
    b.recv_text(
        &register_as("4242", SOFTPHONE, 2, 300, Some(&auth)),
        SOFTPHONE,
    );
    let r = b.expect_response(403, Method::Register, SOFTPHONE);
    assert!(
        r.msg.reason_lossy().unwrap_or_default().contains("unknown"),
        "{:?}",
        r.msg.reason_lossy()
    );
}
