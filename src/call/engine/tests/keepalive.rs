//! Trunk keepalive: unanswered OPTIONS mark a trunk down (metrics and outbound routing follow),
//! one answer marks it up again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::harness::*;
use crate::sip::message::Method;

const KA_PEER: &str = "203.0.113.1:5060";
const BACKUP_PEER: &str = "203.0.113.2:5060";

const KA_PROFILES: &str = r#"
[[trunk]]
name = "ka"
peer = "203.0.113.1:5060"
inbound_sources = ["203.0.113.1"]
channels = 10
priority = 1
[trunk.keepalive]
interval_secs = 1
down_after = 2

[[trunk]]
name = "backup"
peer = "203.0.113.2:5060"
inbound_sources = ["203.0.113.2"]
channels = 10
priority = 2
[trunk.keepalive]
interval_secs = 0

[[dial]]
prefix = "0"
trunks = ["ka", "backup"]

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "1001"
password = "pw1001"
contact = "sip:1001@192.0.2.50:5060"
"#;

/// Agent 1001 dials `number` and returns where the B-leg INVITE went; the far end then refuses
/// it with 486 so the call ends.
fn dial_out(b: &mut Bench, call_id: &str, number: &str) -> std::net::SocketAddr {
    let inv = agent_dial(b, call_id, number);
    assert!(
        inv.msg
            .request_uri_str()
            .unwrap_or_default()
            .contains(number),
        "{:?}",
        inv.msg.request_uri_str()
    );
    let to = inv.peer.addr;
    b.recv(
        answer(&inv, 486, "Busy Here", Some("far"), ""),
        &to.to_string(),
    );
    b.expect_ack_of_failure(&to.to_string());
    let busy = b.expect("the 486 relayed to the agent", |s| {
        s.code() == Some(486) && s.call_id() == call_id
    });
    ack_final(b, &busy, PHONE_1001);
    assert_eq!(b.e.active_calls(), 0);
    to
}

fn up(b: &Bench) -> i64 {
    b.metrics.trunk("ka").up.load(Ordering::Relaxed)
}

/// Answers the latest OPTIONS sent to the ka trunk and forgets the others.
fn answer_latest_options(b: &mut Bench) {
    let latest = b
        .sent
        .iter()
        .rev()
        .find(|s| s.method() == Some(&Method::Options) && s.peer == peer(KA_PEER))
        .cloned()
        .expect("an OPTIONS was sent to the trunk");
    b.recv(answer(&latest, 200, "OK", Some("ka-tag"), ""), KA_PEER);
    b.sent.retain(|s| s.method() != Some(&Method::Options));
}

#[test]
fn unanswered_keepalives_mark_the_trunk_down_and_an_answer_brings_it_back() {
    let mut b = Bench::with_profiles(KA_PROFILES);
    assert_eq!(dial_out(&mut b, "out-1", "0105551234"), addr(KA_PEER));

    // The first OPTIONS goes out after a second; the answer marks the trunk up.
    b.advance(Duration::from_millis(1_000));
    let first = b.expect_request(Method::Options, KA_PEER);
    assert_eq!(b.ms(first.at), 1_000);
    assert_eq!(
        b.count(|s| s.peer == peer(BACKUP_PEER)),
        0,
        "backup has no keepalive"
    );
    b.recv(answer(&first, 200, "OK", Some("ka-tag"), ""), KA_PEER);
    assert_eq!(up(&b), 1);

    // One per second from then on.
    b.advance(Duration::from_millis(3_000));
    // First transmission of each OPTIONS transaction (Call-ID), not its retransmissions.
    let mut firsts = std::collections::BTreeMap::new();
    for s in b
        .sent
        .iter()
        .filter(|s| s.method() == Some(&Method::Options))
    {
        firsts.entry(s.call_id()).or_insert(b.ms(s.at));
    }
    let mut sorted: Vec<u128> = firsts.into_values().collect();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![2_000, 3_000, 4_000],
        "new OPTIONS transactions"
    );

    // Nothing answers. An OPTIONS transaction gives up after 64*T1 = 32 s: the one of t=2 s at
    // t=34 s (1 failure), the one of t=3 s at t=35 s (2 failures = down_after).
    b.advance(Duration::from_millis(29_500)); // t = 33.5 s
    assert_eq!(up(&b), 1, "one failure is not enough");
    b.advance(Duration::from_millis(1_000)); // t = 34.5 s
    assert_eq!(up(&b), 1, "one failure is not enough");
    b.advance(Duration::from_millis(1_000)); // t = 35.5 s
    assert_eq!(up(&b), 0, "two consecutive failures mark it down");
    b.sent.retain(|s| s.method() != Some(&Method::Options));

    // Outbound calls now skip it.
    assert_eq!(dial_out(&mut b, "out-2", "0105551234"), addr(BACKUP_PEER));

    // The trunk answers again: up, and preferred again.
    b.advance(Duration::from_millis(1_000));
    answer_latest_options(&mut b);
    assert_eq!(up(&b), 1);
    assert_eq!(dial_out(&mut b, "out-3", "0105551234"), addr(KA_PEER));
}

#[test]
fn any_final_answer_to_options_counts_as_alive() {
    let mut b = Bench::with_profiles(KA_PROFILES);
    b.advance(Duration::from_millis(1_000));
    let first = b.expect_request(Method::Options, KA_PEER);
    // A carrier that does not like OPTIONS is still there.
    b.recv(
        answer(&first, 405, "Method Not Allowed", Some("x"), ""),
        KA_PEER,
    );
    assert_eq!(up(&b), 1);
    // Keep answering 403 for a minute: never marked down.
    for _ in 0..60 {
        b.advance(Duration::from_millis(1_000));
        let opts: Vec<Sent> = b
            .sent
            .iter()
            .filter(|s| s.method() == Some(&Method::Options))
            .cloned()
            .collect();
        b.sent.clear();
        for o in opts {
            b.recv(answer(&o, 403, "Forbidden", Some("x"), ""), KA_PEER);
        }
        assert_eq!(up(&b), 1);
    }
}
