//! The call core in virtual time: every path a carrier call can take through hotline.

use super::*;

fn t(peer: &str) -> Target {
    Target {
        uri: format!("sip:{peer}@127.0.0.1:5090"),
        peer: peer.into(),
        dest: None,
    }
}

fn drain(c: &mut Call) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

fn offer() -> Option<Vec<u8>> {
    Some(b"v=0 offer".to_vec())
}

fn summary(actions: &[Action]) -> &Summary {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Finished(s) => Some(s),
            _ => None,
        })
        .expect("the call finished")
}

#[test]
fn forks_to_every_target_with_the_callers_offer() {
    let now = Instant::now();
    let mut c = Call::new(
        vec![t("1001"), t("1002")],
        offer(),
        CallPolicy::default(),
        now,
    );
    let a = drain(&mut c);
    assert_eq!(
        a,
        vec![
            Action::Invite {
                leg: LegId(1),
                target: t("1001"),
                sdp: offer()
            },
            Action::Invite {
                leg: LegId(2),
                target: t("1002"),
                sdp: offer()
            },
        ]
    );
}

#[test]
fn answered_call_bridges_cancels_other_forks_and_ends_on_caller_bye() {
    let t0 = Instant::now();
    let mut c = Call::new(
        vec![t("1001"), t("1002")],
        offer(),
        CallPolicy::default(),
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Progress {
            leg: LegId(1),
            code: 180,
            sdp: None,
        },
        t0,
    );
    c.handle(
        Input::Progress {
            leg: LegId(2),
            code: 180,
            sdp: None,
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Provisional {
            code: 180,
            sdp: None
        }],
        "one 180 toward the caller"
    );

    let t1 = t0 + Duration::from_secs(3);
    c.handle(
        Input::Answered {
            leg: LegId(2),
            sdp: Some(b"answer".to_vec()),
        },
        t1,
    );
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Cancel {
                leg: LegId(1),
                completed_elsewhere: true
            },
            Action::Bridge { b: LegId(2) },
            Action::Answer {
                sdp: Some(b"answer".to_vec())
            },
        ]
    );
    assert_eq!(c.connected_leg(), Some(LegId(2)));
    assert_eq!(c.poll_timeout(), None, "no ring timer once answered");

    // The cancelled fork's 487 changes nothing.
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 487,
            reason: "Request Terminated".into(),
        },
        t1,
    );
    assert!(drain(&mut c).is_empty());

    let t2 = t1 + Duration::from_secs(60);
    c.handle(Input::Bye { leg: LegId::A }, t2);
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId(2) });
    let s = summary(&a);
    assert_eq!(s.sip_code, 200);
    assert_eq!(s.hangup, Hangup::Caller);
    assert_eq!(s.answered_by, Some(LegId(2)));
    assert_eq!(s.answer_at, Some(t1));
    assert_eq!(s.end_at, t2);
    assert_eq!(s.legs[0].code, 487);
    assert_eq!(s.legs[1].code, 200);
    assert!(c.is_done());
}

#[test]
fn callee_bye_hangs_up_the_caller() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    c.handle(Input::Bye { leg: LegId(1) }, t0 + Duration::from_secs(5));
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId::A });
    assert_eq!(summary(&a).hangup, Hangup::Callee);
}

#[test]
fn caller_cancel_while_ringing_cancels_every_fork() {
    let t0 = Instant::now();
    let mut c = Call::new(
        vec![t("1001"), t("1002")],
        offer(),
        CallPolicy::default(),
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Progress {
            leg: LegId(1),
            code: 180,
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    c.handle(Input::Cancelled, t0 + Duration::from_secs(2));
    let a = drain(&mut c);
    assert_eq!(
        a[0],
        Action::Cancel {
            leg: LegId(1),
            completed_elsewhere: false
        }
    );
    assert_eq!(
        a[1],
        Action::Cancel {
            leg: LegId(2),
            completed_elsewhere: false
        }
    );
    let s = summary(&a);
    assert_eq!((s.sip_code, s.hangup), (487, Hangup::Caller));
    assert_eq!(s.answer_at, None);
}

#[test]
fn a_200_crossing_the_cancel_is_acknowledged_and_ended() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(Input::Cancelled, t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0 + Duration::from_millis(10),
    );
    assert_eq!(drain(&mut c), vec![Action::AckAndBye { leg: LegId(1) }]);
}

#[test]
fn second_fork_answering_late_is_dropped() {
    let t0 = Instant::now();
    let mut c = Call::new(
        vec![t("1001"), t("1002")],
        offer(),
        CallPolicy::default(),
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(2),
            sdp: None,
        },
        t0,
    );
    assert_eq!(drain(&mut c), vec![Action::AckAndBye { leg: LegId(2) }]);
    assert_eq!(
        c.connected_leg(),
        Some(LegId(1)),
        "the first answer keeps the call"
    );
}

#[test]
fn busy_agent_gives_the_caller_486() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 486,
            reason: "Busy Here".into(),
        },
        t0,
    );
    let a = drain(&mut c);
    assert_eq!(
        a[0],
        Action::Reject {
            code: 486,
            reason: "Busy Here".into()
        }
    );
    assert_eq!(summary(&a).sip_code, 486);
}

#[test]
fn forked_failures_pick_the_most_telling_code() {
    let t0 = Instant::now();
    let mut c = Call::new(
        vec![t("1001"), t("1002"), t("1003")],
        offer(),
        CallPolicy::default(),
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 408,
            reason: "Request Timeout".into(),
        },
        t0,
    );
    c.handle(
        Input::Failed {
            leg: LegId(2),
            code: 486,
            reason: "Busy Here".into(),
        },
        t0,
    );
    assert!(drain(&mut c).is_empty(), "one fork is still ringing");
    c.handle(
        Input::Failed {
            leg: LegId(3),
            code: 503,
            reason: "Service Unavailable".into(),
        },
        t0,
    );
    let a = drain(&mut c);
    assert_eq!(
        a[0],
        Action::Reject {
            code: 486,
            reason: "Busy Here".into()
        }
    );
}

#[test]
fn internal_failures_are_mapped_for_the_carrier() {
    for (got, told) in [
        (408, 480),
        (404, 480),
        (500, 503),
        (503, 503),
        (481, 480),
        (603, 603),
    ] {
        let t0 = Instant::now();
        let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
        drain(&mut c);
        c.handle(
            Input::Failed {
                leg: LegId(1),
                code: got,
                reason: "x".into(),
            },
            t0,
        );
        match &drain(&mut c)[0] {
            Action::Reject { code, .. } => assert_eq!(*code, told, "{got} becomes {told}"),
            other => panic!("{got}: expected a reject, got {other:?}"),
        }
    }
}

#[test]
fn a_6xx_ends_the_search_and_cancels_other_forks() {
    let t0 = Instant::now();
    let mut c = Call::new(
        vec![t("1001"), t("1002")],
        offer(),
        CallPolicy::default(),
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 603,
            reason: "Decline".into(),
        },
        t0,
    );
    let a = drain(&mut c);
    assert_eq!(
        a[0],
        Action::Cancel {
            leg: LegId(2),
            completed_elsewhere: false
        }
    );
    assert_eq!(
        a[1],
        Action::Reject {
            code: 603,
            reason: "Decline".into()
        }
    );
}

#[test]
fn no_target_refuses_at_once() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![], offer(), CallPolicy::default(), t0);
    let a = drain(&mut c);
    assert!(matches!(a[0], Action::Reject { code: 480, .. }));
    assert!(c.is_done());
}

#[test]
fn ring_timeout_gives_480_and_cancels() {
    let t0 = Instant::now();
    let policy = CallPolicy {
        ring_timeout: Duration::from_secs(30),
        hunt: Hunt::Parallel,
    };
    let mut c = Call::new(vec![t("1001")], offer(), policy, t0);
    drain(&mut c);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    c.handle_timeout(t0 + Duration::from_secs(29));
    assert!(drain(&mut c).is_empty(), "not yet");
    c.handle_timeout(t0 + Duration::from_secs(30));
    let a = drain(&mut c);
    assert_eq!(
        a[0],
        Action::Cancel {
            leg: LegId(1),
            completed_elsewhere: false
        }
    );
    assert_eq!(
        a[1],
        Action::Reject {
            code: 480,
            reason: "no answer".into()
        }
    );
}

#[test]
fn early_media_is_relayed_from_the_first_source_only() {
    let t0 = Instant::now();
    let mut c = Call::new(
        vec![t("1001"), t("1002")],
        offer(),
        CallPolicy::default(),
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Progress {
            leg: LegId(2),
            code: 183,
            sdp: Some(b"early2".to_vec()),
        },
        t0,
    );
    c.handle(
        Input::Progress {
            leg: LegId(1),
            code: 183,
            sdp: Some(b"early1".to_vec()),
        },
        t0,
    );
    c.handle(
        Input::Progress {
            leg: LegId(1),
            code: 180,
            sdp: None,
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Provisional {
            code: 183,
            sdp: Some(b"early2".to_vec())
        }]
    );
}

#[test]
fn hold_and_unhold_reinvites_are_relayed_one_at_a_time() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    // The agent puts the caller on hold.
    c.handle(
        Input::Reinvite {
            leg: LegId(1),
            sdp: Some(b"a=sendonly".to_vec()),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Reinvite {
            leg: LegId::A,
            sdp: Some(b"a=sendonly".to_vec())
        }]
    );
    // A crossing re-INVITE from the caller gets 491.
    c.handle(
        Input::Reinvite {
            leg: LegId::A,
            sdp: None,
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::ReinviteResponse {
            leg: LegId::A,
            code: 491,
            sdp: None
        }]
    );
    c.handle(
        Input::ReinviteAnswered {
            leg: LegId::A,
            code: 200,
            sdp: Some(b"a=recvonly".to_vec()),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::ReinviteResponse {
            leg: LegId(1),
            code: 200,
            sdp: Some(b"a=recvonly".to_vec())
        }]
    );
    // Unhold from the agent goes through now.
    c.handle(
        Input::Reinvite {
            leg: LegId(1),
            sdp: Some(b"a=sendrecv".to_vec()),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Reinvite {
            leg: LegId::A,
            sdp: Some(b"a=sendrecv".to_vec())
        }]
    );
}

#[test]
fn reinvite_before_answer_is_refused() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Reinvite {
            leg: LegId::A,
            sdp: None,
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::ReinviteResponse {
            leg: LegId::A,
            code: 491,
            sdp: None
        }]
    );
}

#[test]
fn media_timeout_ends_both_sides() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    c.handle(Input::MediaTimeout, t0 + Duration::from_secs(60));
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId::A });
    assert_eq!(a[1], Action::Bye { leg: LegId(1) });
    let s = summary(&a);
    assert_eq!((s.hangup, s.cause.as_str()), (Hangup::System, "no media"));
}

#[test]
fn terminate_refuses_ringing_calls_with_503_and_ends_connected_ones() {
    let t0 = Instant::now();
    let mut ringing = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut ringing);
    ringing.handle(Input::Terminate, t0);
    let a = drain(&mut ringing);
    assert!(a.contains(&Action::Reject {
        code: 503,
        reason: "service shutting down".into()
    }));

    let mut up = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut up);
    up.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    drain(&mut up);
    up.handle(Input::Terminate, t0);
    let a = drain(&mut up);
    assert!(
        a.contains(&Action::Bye { leg: LegId::A }) && a.contains(&Action::Bye { leg: LegId(1) })
    );
}

#[test]
fn messages_after_the_end_change_nothing_but_get_answers() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    c.handle(Input::Bye { leg: LegId::A }, t0);
    drain(&mut c);
    c.handle(Input::Bye { leg: LegId(1) }, t0);
    c.handle(
        Input::Reinvite {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![
            Action::ReinviteResponse {
                leg: LegId(1),
                code: 481,
                sdp: None
            },
            Action::AckAndBye { leg: LegId(1) },
        ]
    );
}

#[test]
fn unknown_legs_are_ignored() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(9),
            sdp: None,
        },
        t0,
    );
    c.handle(
        Input::Failed {
            leg: LegId(9),
            code: 500,
            reason: String::new(),
        },
        t0,
    );
    c.handle(
        Input::Progress {
            leg: LegId(9),
            code: 180,
            sdp: None,
        },
        t0,
    );
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.connected_leg(), None);
}

#[test]
fn failover_tries_the_next_trunk_only_on_route_failures() {
    let t0 = Instant::now();
    let policy = CallPolicy {
        hunt: Hunt::Failover,
        ..CallPolicy::default()
    };
    let mut c = Call::new(
        vec![t("trunk-a"), t("trunk-b"), t("trunk-c")],
        offer(),
        policy,
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Invite {
            leg: LegId(1),
            target: t("trunk-a"),
            sdp: offer()
        }]
    );
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 503,
            reason: "Service Unavailable".into(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Invite {
            leg: LegId(2),
            target: t("trunk-b"),
            sdp: offer()
        }]
    );
    // The called party is busy: that is an answer, not a route failure; trunk-c is not tried.
    c.handle(
        Input::Failed {
            leg: LegId(2),
            code: 486,
            reason: "Busy Here".into(),
        },
        t0,
    );
    let a = drain(&mut c);
    assert_eq!(
        a[0],
        Action::Reject {
            code: 486,
            reason: "Busy Here".into()
        }
    );
    assert!(!a.iter().any(|x| matches!(x, Action::Invite { .. })));
}

#[test]
fn failover_answer_on_the_second_trunk_connects() {
    let t0 = Instant::now();
    let policy = CallPolicy {
        hunt: Hunt::Failover,
        ..CallPolicy::default()
    };
    let mut c = Call::new(vec![t("trunk-a"), t("trunk-b")], offer(), policy, t0);
    drain(&mut c);
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 408,
            reason: "Request Timeout".into(),
        },
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(2),
            sdp: None,
        },
        t0,
    );
    assert_eq!(c.connected_leg(), Some(LegId(2)));
    // Every trunk failing ends with 503 for the agent.
    let mut d = Call::new(vec![t("trunk-a")], offer(), policy, t0);
    drain(&mut d);
    d.handle(
        Input::Failed {
            leg: LegId(1),
            code: 500,
            reason: "Server Error".into(),
        },
        t0,
    );
    assert!(matches!(drain(&mut d)[0], Action::Reject { code: 503, .. }));
}

#[test]
fn no_ack_from_the_caller_ends_both_legs_as_a_system_hangup() {
    let t0 = Instant::now();
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    c.handle(Input::AckTimeout, t0 + Duration::from_secs(32));
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId::A });
    assert_eq!(a[1], Action::Bye { leg: LegId(1) });
    let s = summary(&a);
    assert_eq!(
        (s.hangup, s.cause.as_str()),
        (Hangup::System, "no ACK from the caller")
    );
}

#[test]
fn a_trunk_challenge_left_unanswered_fails_over_and_never_reaches_the_caller() {
    let t0 = Instant::now();
    let policy = CallPolicy {
        hunt: Hunt::Failover,
        ..CallPolicy::default()
    };
    let mut c = Call::new(vec![t("trunk-a"), t("trunk-b")], offer(), policy, t0);
    drain(&mut c);
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 407,
            reason: "Proxy Authentication Required".into(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Invite {
            leg: LegId(2),
            target: t("trunk-b"),
            sdp: offer()
        }]
    );
    c.handle(
        Input::Failed {
            leg: LegId(2),
            code: 401,
            reason: "Unauthorized".into(),
        },
        t0,
    );
    assert!(matches!(drain(&mut c)[0], Action::Reject { code: 503, .. }));
}

// ---- Hosted calls: hotline answers (IVR, queue) and connects agents later ----

fn hosted(now: Instant) -> Call {
    let mut c = Call::hosted(offer(), CallPolicy::default(), now);
    assert_eq!(drain(&mut c), vec![Action::Answer { sdp: None }]);
    assert!(c.is_hosted());
    c
}

fn connect(targets: Vec<Target>) -> Input {
    Input::Connect {
        targets,
        ring_timeout: Duration::from_secs(15),
    }
}

#[test]
fn hosted_call_connects_an_agent_without_answering_the_caller_again() {
    let t0 = Instant::now();
    let mut c = hosted(t0);
    c.handle(connect(vec![t("1001"), t("1002")]), t0);
    assert!(c.is_connecting());
    let a = drain(&mut c);
    assert_eq!(a.len(), 2, "both devices ring: {a:?}");
    c.handle(
        Input::Progress {
            leg: LegId(1),
            code: 180,
            sdp: None,
        },
        t0,
    );
    assert!(drain(&mut c).is_empty(), "the caller already hears hotline");
    c.handle(
        Input::Answered {
            leg: LegId(2),
            sdp: Some(b"answer".to_vec()),
        },
        t0 + Duration::from_secs(3),
    );
    let a = drain(&mut c);
    assert_eq!(
        a,
        vec![
            Action::Cancel {
                leg: LegId(1),
                completed_elsewhere: true
            },
            Action::Bridge { b: LegId(2) },
            Action::Connected { b: LegId(2) },
        ]
    );
    assert_eq!(c.connected_leg(), Some(LegId(2)));
    // A connect while connected changes nothing.
    c.handle(connect(vec![t("1003")]), t0);
    assert!(drain(&mut c).is_empty());
}

#[test]
fn hosted_connect_failure_and_ring_timeout_leave_the_caller_with_hotline() {
    let t0 = Instant::now();
    let mut c = hosted(t0);
    c.handle(connect(vec![t("1001")]), t0);
    drain(&mut c);
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 486,
            reason: "Busy Here".into(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![
            Action::LegEnded {
                leg: LegId(1),
                code: 486
            },
            Action::ConnectFailed {
                code: 486,
                reason: "Busy Here".into()
            }
        ]
    );
    assert!(!c.is_connecting() && !c.is_done());
    // Next offer rings and times out.
    c.handle(connect(vec![t("1002")]), t0);
    drain(&mut c);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(15)));
    c.handle_timeout(t0 + Duration::from_secs(15));
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Cancel {
                leg: LegId(2),
                completed_elsewhere: false
            },
            Action::ConnectFailed {
                code: 480,
                reason: "no answer".into()
            }
        ]
    );
    // No targets at all fails at once.
    c.handle(connect(vec![]), t0);
    assert!(matches!(
        drain(&mut c).as_slice(),
        [Action::ConnectFailed { code: 480, .. }]
    ));
    assert!(!c.is_done());
}

#[test]
fn agent_hangup_returns_the_caller_to_hotline_and_caller_bye_ends_all() {
    let t0 = Instant::now();
    let mut c = hosted(t0);
    c.handle(connect(vec![t("1001")]), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0 + Duration::from_secs(2),
    );
    drain(&mut c);
    c.handle(Input::Bye { leg: LegId(1) }, t0 + Duration::from_secs(60));
    assert_eq!(
        drain(&mut c),
        vec![Action::Disconnected {
            b: LegId(1),
            by_callee: true
        }]
    );
    assert!(!c.is_done(), "the caller stays for the survey");
    c.handle(Input::Bye { leg: LegId::A }, t0 + Duration::from_secs(70));
    let a = drain(&mut c);
    let s = summary(&a);
    assert_eq!(s.hangup, Hangup::Caller);
    assert_eq!(s.sip_code, 200);
    assert_eq!(s.answer_at, Some(t0), "answered by hotline at arrival");
    assert_eq!(s.answered_by, Some(LegId(1)), "the agent who took it");
    assert!(c.is_done());
}

#[test]
fn hotline_hangup_and_disconnect_end_the_right_legs() {
    let t0 = Instant::now();
    let mut c = hosted(t0);
    c.handle(connect(vec![t("1001")]), t0);
    drain(&mut c);
    c.handle(Input::Disconnect, t0);
    assert_eq!(
        drain(&mut c),
        vec![Action::Cancel {
            leg: LegId(1),
            completed_elsewhere: false
        }]
    );
    c.handle(connect(vec![t("1002")]), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(2),
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Hangup {
            cause: "IVR hung up".into(),
        },
        t0,
    );
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId(2) });
    assert_eq!(a[1], Action::Bye { leg: LegId::A });
    let s = summary(&a);
    assert_eq!(
        (s.hangup, s.cause.as_str()),
        (Hangup::System, "IVR hung up")
    );
}

#[test]
fn hosted_reinvite_is_answered_by_hotline_and_media_timeout_ends_the_call() {
    let t0 = Instant::now();
    let mut c = hosted(t0);
    c.handle(
        Input::Reinvite {
            leg: LegId::A,
            sdp: offer(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::ReinviteResponse {
            leg: LegId::A,
            code: 200,
            sdp: None
        }]
    );
    c.handle(Input::MediaTimeout, t0);
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId::A });
    assert_eq!(summary(&a).cause, "no media");
}

#[test]
fn ring_all_offers_join_the_ringing_set_and_one_offer_can_be_withdrawn() {
    let t0 = Instant::now();
    let mut c = hosted(t0);
    c.handle(connect(vec![t("1001")]), t0);
    c.handle(connect(vec![t("1002")]), t0);
    assert_eq!(drain(&mut c).len(), 2, "both agents ring");
    c.handle(Input::DropLegs(vec![LegId(1)]), t0);
    assert_eq!(
        drain(&mut c),
        vec![Action::Cancel {
            leg: LegId(1),
            completed_elsewhere: false
        }]
    );
    assert!(c.is_connecting(), "the other agent still rings");
    c.handle(
        Input::Failed {
            leg: LegId(1),
            code: 487,
            reason: "Request Terminated".into(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::LegEnded {
            leg: LegId(1),
            code: 487
        }]
    );
    c.handle(Input::DropLegs(vec![LegId(2)]), t0);
    drain(&mut c);
    assert!(!c.is_connecting(), "nobody rings: back with hotline");
}

#[test]
fn an_expired_session_ends_a_hosted_call_with_its_connected_agent() {
    let t0 = Instant::now();
    let mut c = hosted(t0);
    c.handle(connect(vec![t("1001")]), t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: None,
        },
        t0,
    );
    drain(&mut c);
    c.handle(Input::SessionExpired, t0 + Duration::from_secs(1768));
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId(1) });
    assert_eq!(a[1], Action::Bye { leg: LegId::A });
    let s = summary(&a);
    assert_eq!(
        (s.hangup, s.cause.as_str()),
        (Hangup::System, "session expired")
    );
}

/// A call from A answered by 1001 on leg 1, drained.
fn talking(t0: Instant) -> Call {
    let mut c = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    c.handle(
        Input::Answered {
            leg: LegId(1),
            sdp: Some(b"answer".to_vec()),
        },
        t0,
    );
    drain(&mut c);
    c
}

fn transfer(c: &mut Call, from: LegId, targets: Vec<Target>, hunt: Hunt, now: Instant) {
    c.handle(
        Input::Transfer {
            from,
            targets,
            hunt,
            sdp: Some(b"target offer".to_vec()),
            ring_timeout: Duration::from_secs(30),
        },
        now,
    );
}

#[test]
fn a_blind_transfer_by_the_callee_replaces_its_leg_when_the_target_answers() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    assert_eq!(c.transferee_of(LegId(1)), Ok(LegId::A));
    assert_eq!(c.transferee_of(LegId(7)).unwrap_err().0, 481);
    transfer(&mut c, LegId(1), vec![t("1002")], Hunt::Parallel, t0);
    assert_eq!(
        drain(&mut c),
        vec![Action::Invite {
            leg: LegId(2),
            target: t("1002"),
            sdp: Some(b"target offer".to_vec())
        }]
    );
    assert_eq!(c.transferee_of(LegId(1)).unwrap_err().0, 491);
    let t1 = t0 + Duration::from_secs(4);
    c.handle(
        Input::Answered {
            leg: LegId(2),
            sdp: Some(b"target".to_vec()),
        },
        t1,
    );
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Transferred {
                from: LegId(1),
                to: LegId(2),
                sdp: Some(b"target".to_vec())
            },
            Action::Bye { leg: LegId(1) },
        ]
    );
    assert_eq!(c.connected_leg(), Some(LegId(2)));
    // The old leg's late BYE changes nothing; the caller's BYE ends the call with the target.
    c.handle(Input::Bye { leg: LegId(1) }, t1);
    assert!(drain(&mut c).is_empty());
    let t2 = t1 + Duration::from_secs(10);
    c.handle(Input::Bye { leg: LegId::A }, t2);
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId(2) });
    let s = summary(&a);
    assert_eq!(s.hangup, Hangup::Caller);
    assert_eq!(s.answered_by, Some(LegId(1)));
    assert_eq!(s.a_transferred_at, None);
    let legs: Vec<(LegId, bool, Option<Instant>)> = s
        .legs
        .iter()
        .map(|l| (l.leg, l.transferred, l.end_at))
        .collect();
    assert_eq!(
        legs,
        vec![(LegId(1), true, Some(t1)), (LegId(2), false, Some(t2))]
    );
}

#[test]
fn a_transfer_by_the_caller_makes_the_target_the_callers_side() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    transfer(&mut c, LegId::A, vec![t("trunk-a")], Hunt::Failover, t0);
    drain(&mut c);
    c.handle(
        Input::Answered {
            leg: LegId(2),
            sdp: None,
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Transferred {
                from: LegId::A,
                to: LegId(2),
                sdp: None
            },
            Action::Bye { leg: LegId::A },
        ]
    );
    assert_eq!(c.front(), LegId(2));
    // Re-INVITEs now go between the callee and the target.
    c.handle(
        Input::Reinvite {
            leg: LegId(1),
            sdp: offer(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Reinvite {
            leg: LegId(2),
            sdp: offer()
        }]
    );
    let t1 = t0 + Duration::from_secs(5);
    c.handle(Input::Bye { leg: LegId(2) }, t1);
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Bye { leg: LegId(1) });
    assert!(
        !a.contains(&Action::Bye { leg: LegId::A }),
        "the A-leg is already gone: {a:?}"
    );
    let s = summary(&a);
    assert_eq!(s.a_transferred_at, Some(t0));
    assert_eq!(s.hangup, Hangup::Caller);
}

#[test]
fn a_transfer_fails_over_across_trunks_but_not_on_busy() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    transfer(
        &mut c,
        LegId(1),
        vec![t("trunk-a"), t("trunk-b"), t("trunk-c")],
        Hunt::Failover,
        t0,
    );
    drain(&mut c);
    c.handle(
        Input::Failed {
            leg: LegId(2),
            code: 503,
            reason: "down".into(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::Invite {
            leg: LegId(3),
            target: t("trunk-b"),
            sdp: Some(b"target offer".to_vec())
        }]
    );
    c.handle(
        Input::Failed {
            leg: LegId(3),
            code: 486,
            reason: "Busy Here".into(),
        },
        t0,
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::TransferFailed {
            from: LegId(1),
            code: 486,
            reason: "Busy Here".into(),
            from_up: true
        }]
    );
    assert_eq!(c.connected_leg(), Some(LegId(1)), "back to the transferor");
    assert_eq!(c.transferee_of(LegId(1)), Ok(LegId::A), "may try again");
}

#[test]
fn a_transfer_failing_after_the_transferor_left_ends_the_call() {
    let t0 = Instant::now();
    let mut c = talking(t0);
    transfer(&mut c, LegId(1), vec![t("1002")], Hunt::Parallel, t0);
    drain(&mut c);
    c.handle(Input::Bye { leg: LegId(1) }, t0);
    assert!(drain(&mut c).is_empty(), "the caller keeps waiting");
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    c.handle_timeout(t0 + Duration::from_secs(30));
    let a = drain(&mut c);
    assert_eq!(
        a[..2],
        [
            Action::Cancel {
                leg: LegId(2),
                completed_elsewhere: false
            },
            Action::TransferFailed {
                from: LegId(1),
                code: 480,
                reason: "no answer".into(),
                from_up: false
            },
        ]
    );
    assert!(a.contains(&Action::Bye { leg: LegId::A }), "{a:?}");
    assert!(!a.contains(&Action::Bye { leg: LegId(1) }), "{a:?}");
    let s = summary(&a);
    assert_eq!(s.hangup, Hangup::System);
    assert!(s.cause.starts_with("transfer failed: 480"), "{}", s.cause);
    assert!(c.is_done());
}

#[test]
fn a_transfer_is_refused_on_calls_that_are_not_connected_plain_calls() {
    let t0 = Instant::now();
    let mut ringing = Call::new(vec![t("1001")], offer(), CallPolicy::default(), t0);
    drain(&mut ringing);
    assert_eq!(ringing.transferee_of(LegId::A).unwrap_err().0, 403);
    transfer(&mut ringing, LegId::A, vec![t("1002")], Hunt::Parallel, t0);
    assert!(matches!(
        drain(&mut ringing).as_slice(),
        [Action::TransferFailed { code: 403, .. }]
    ));
    let hosted = Call::hosted(offer(), CallPolicy::default(), t0);
    assert_eq!(hosted.transferee_of(LegId::A).unwrap_err().0, 403);
}
