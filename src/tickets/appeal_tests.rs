//! Appeal rules: who files, which indicators, the window, the attempt limit, the review chain.

use super::*;
use crate::tickets::lifecycle::{NewTicket, RevisitRecord};
use crate::tickets::model::{
    RequestType, Resolution, RevisitMethod, Satisfaction, SupervisionCause, SupervisionLevel,
    Urgency,
};

/// 2026-03-15 10:00 China time.
const MAR15: i64 = 1_773_540_000_000;

fn local(y: i32, m: u32, d: u32, h: u32) -> i64 {
    china()
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .unwrap()
        .timestamp_millis()
}

fn actor(id: &str, roles: &[Role], scope: &str, dept: Option<&str>) -> Actor {
    Actor {
        user_id: id.into(),
        roles: roles.to_vec(),
        region_scope: scope.into(),
        department: dept.map(Into::into),
    }
}
fn dept(d: &str) -> Actor {
    actor(&format!("h-{d}"), &[Role::DeptHandler], "", Some(d))
}
fn reviewer(n: u8) -> Actor {
    actor(&format!("rev{n}"), &[Role::Reviewer], "6109", None)
}

/// A ticket D1 replied to on 03-15 and a citizen evaluated the same day.
fn ticket() -> Ticket {
    let mut t = Ticket::new(
        NewTicket {
            id: "T1".into(),
            region_code: "610902".into(),
            category_code: "0101".into(),
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            created_by: "agent1".into(),
            draft: false,
        },
        MAR15,
    );
    t.handled_by = vec!["D1".into(), "D1a".into()];
    t.replied_ms = Some(MAR15);
    t.revisits.push(RevisitRecord {
        at_ms: MAR15 + 3_600_000,
        by: "citizen".into(),
        method: RevisitMethod::Sms,
        satisfaction: Satisfaction::Dissatisfied,
        resolution: Resolution::Unresolved,
        cycle: 1,
        deemed: false,
    });
    t
}

fn input(i: Indicator) -> AppealInput {
    AppealInput {
        indicator: i,
        reason: "已按政策答复，市民诉求超出职责".into(),
        evidence: vec!["att-1".into()],
    }
}

fn file_ok(t: &Ticket, earlier: &[Appeal], who: &Actor, i: Indicator, now: i64) -> Appeal {
    file(
        &AppealConfig::default(),
        format!("A{}", earlier.len() + 1),
        input(i),
        t,
        earlier,
        who,
        now,
    )
    .unwrap_or_else(|e| panic!("refused: {e}"))
}

fn file_err(t: &Ticket, earlier: &[Appeal], who: &Actor, i: Indicator, now: i64) -> &'static str {
    file(
        &AppealConfig::default(),
        "X".into(),
        input(i),
        t,
        earlier,
        who,
        now,
    )
    .expect_err("should be refused")
    .code()
}

#[test]
fn the_window_ends_with_the_following_month_in_china_time() {
    // 03-15 → the whole of April, closing at 05-01 00:00 +08:00.
    assert_eq!(window_end(MAR15), Some(local(2026, 5, 1, 0)));
    // Months are China's: 02-01 00:30 +08:00 is still January in UTC, but counts as February.
    let jan31_late = local(2026, 1, 31, 23);
    assert_eq!(window_end(jan31_late), Some(local(2026, 3, 1, 0)));
    let feb1_early = local(2026, 2, 1, 0) + 30 * 60_000;
    assert_eq!(window_end(feb1_early), Some(local(2026, 4, 1, 0)));
    // November and December roll into the next year.
    assert_eq!(
        window_end(local(2026, 11, 30, 12)),
        Some(local(2027, 1, 1, 0))
    );
    assert_eq!(
        window_end(local(2026, 12, 1, 12)),
        Some(local(2027, 2, 1, 0))
    );
    assert_eq!(window_end(i64::MAX), None);
}

#[test]
fn a_department_that_led_the_ticket_appeals_within_the_window() {
    let t = ticket();
    let a = file_ok(
        &t,
        &[],
        &dept("D1a"),
        Indicator::EvaluationResolution,
        MAR15,
    );
    assert_eq!(
        (a.status, a.stage, a.department.as_str()),
        (AppealStatus::Reviewing, 0, "D1a")
    );
    assert_eq!(a.window_end_ms, local(2026, 5, 1, 0));
    // Last millisecond of April is in; 05-01 00:00 is out, with source A's message.
    let end = local(2026, 5, 1, 0);
    file_ok(&t, &[], &dept("D1"), Indicator::SignFor, end - 1);
    let e = file(
        &AppealConfig::default(),
        "X".into(),
        input(Indicator::SignFor),
        &t,
        &[],
        &dept("D1"),
        end,
    )
    .unwrap_err();
    assert_eq!(e.code(), "appeal_expired");
    assert!(e.to_string().contains("已超过可申诉期限"));
}

#[test]
fn filing_is_refused_for_the_wrong_party_indicator_or_payload() {
    let t = ticket();
    // Not a handler, or a department that never led it (an assisting one, say).
    let agent = actor("agent1", &[Role::Agent], "6109", None);
    assert_eq!(file_err(&t, &[], &agent, Indicator::SignFor, MAR15), "role");
    let admin = actor("boss", &[Role::Admin], "", Some("D1"));
    assert_eq!(file_err(&t, &[], &admin, Indicator::SignFor, MAR15), "role");
    assert_eq!(
        file_err(&t, &[], &dept("D2"), Indicator::SignFor, MAR15),
        "not_handler"
    );
    // Satisfaction-rate appeals are closed (source A L1553).
    assert_eq!(
        file_err(&t, &[], &dept("D1"), Indicator::Satisfaction, MAR15),
        "not_appealable"
    );
    // Nothing to appeal yet: no supervision case; no real revisit (a deemed one does not count).
    assert_eq!(
        file_err(&t, &[], &dept("D1"), Indicator::Supervision, MAR15),
        "nothing_to_appeal"
    );
    let mut deemed = ticket();
    deemed.revisits[0].deemed = true;
    assert_eq!(
        file_err(
            &deemed,
            &[],
            &dept("D1"),
            Indicator::RevisitResolution,
            MAR15
        ),
        "nothing_to_appeal"
    );
    let mut sup = ticket();
    sup.supervision
        .push(crate::tickets::lifecycle::SupervisionCase {
            id: 1,
            level: SupervisionLevel::City,
            cause: SupervisionCause::Overdue,
            opened_ms: MAR15,
            closed_ms: None,
            note: "超期".into(),
        });
    file_ok(&sup, &[], &dept("D1"), Indicator::Supervision, MAR15);
    // Payload limits.
    let cfg = AppealConfig::default();
    let mut bad = input(Indicator::SignFor);
    bad.reason = "  ".into();
    let e = file(&cfg, "X".into(), bad, &t, &[], &dept("D1"), MAR15).unwrap_err();
    assert_eq!(e.code(), "reason");
    let mut bad = input(Indicator::SignFor);
    bad.evidence = (0..11).map(|i| format!("a{i}")).collect();
    let e = file(&cfg, "X".into(), bad, &t, &[], &dept("D1"), MAR15).unwrap_err();
    assert_eq!(e.code(), "evidence");
}

#[test]
fn two_appeals_per_ticket_indicator_and_department() {
    let t = ticket();
    let d1 = dept("D1");
    let i = Indicator::EvaluationResolution;
    let mut first = file_ok(&t, &[], &d1, i, MAR15);
    // While one is under review, another on the same indicator waits.
    assert_eq!(
        file_err(&t, std::slice::from_ref(&first), &d1, i, MAR15),
        "appeal_pending"
    );
    // Another indicator, or another department, is independent.
    file_ok(
        &t,
        std::slice::from_ref(&first),
        &d1,
        Indicator::Return,
        MAR15,
    );
    file_ok(&t, std::slice::from_ref(&first), &dept("D1a"), i, MAR15);
    let cfg = AppealConfig::default();
    let reject = AppealAction::Reject {
        opinion: "证据不足".into(),
    };
    first
        .act(&cfg, reject.clone(), &reviewer(1), "610902", MAR15)
        .unwrap();
    let mut second = file_ok(&t, std::slice::from_ref(&first), &d1, i, MAR15);
    // A withdrawn appeal does not use up an attempt.
    second
        .act(
            &cfg,
            AppealAction::Withdraw {
                opinion: String::new(),
            },
            &d1,
            "610902",
            MAR15,
        )
        .unwrap();
    let mut third = file_ok(&t, &[first.clone(), second.clone()], &d1, i, MAR15);
    third
        .act(&cfg, reject, &reviewer(1), "610902", MAR15)
        .unwrap();
    assert_eq!(
        file_err(&t, &[first, second, third], &d1, i, MAR15),
        "appeal_limit"
    );
}

#[test]
fn the_review_chain_runs_stage_by_stage_with_different_reviewers() {
    let t = ticket();
    let cfg = AppealConfig::default();
    let mut a = file_ok(&t, &[], &dept("D1"), Indicator::SignFor, MAR15);
    let approve = || AppealAction::Approve {
        opinion: "同意".into(),
    };
    assert_eq!(
        a.act(&cfg, approve(), &reviewer(1), "610902", MAR15),
        Ok("appeal_approved")
    );
    assert_eq!((a.status, a.stage), (AppealStatus::Reviewing, 1));
    // Four eyes: the same reviewer cannot decide the next stage; refusals change nothing.
    let before = a.clone();
    let e = a
        .act(&cfg, approve(), &reviewer(1), "610902", MAR15)
        .unwrap_err();
    assert_eq!(e.code(), "same_reviewer");
    // Role and area.
    let e = a
        .act(&cfg, approve(), &dept("D1"), "610902", MAR15)
        .unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("role", 403));
    let elsewhere = actor("rev9", &[Role::Reviewer], "6101", None);
    let e = a
        .act(&cfg, approve(), &elsewhere, "610902", MAR15)
        .unwrap_err();
    assert_eq!(e.code(), "area");
    // A rejection needs an opinion; only the appellant withdraws.
    let e = a
        .act(
            &cfg,
            AppealAction::Reject {
                opinion: " ".into(),
            },
            &reviewer(2),
            "610902",
            MAR15,
        )
        .unwrap_err();
    assert_eq!(e.code(), "opinion");
    let e = a
        .act(
            &cfg,
            AppealAction::Withdraw {
                opinion: String::new(),
            },
            &dept("D1a"),
            "610902",
            MAR15,
        )
        .unwrap_err();
    assert_eq!(e.code(), "not_appellant");
    assert_eq!(a, before);
    assert_eq!(
        a.act(&cfg, approve(), &reviewer(2), "610902", MAR15),
        Ok("appeal_approved")
    );
    assert!(!a.granted());
    assert_eq!(
        a.act(&cfg, approve(), &reviewer(3), "610902", MAR15 + 1),
        Ok("appeal_granted")
    );
    assert!(a.granted());
    let stages: Vec<_> = a.steps.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["centre_review", "region_initial", "region_final"]);
    // Decided: nothing more.
    let e = a
        .act(&cfg, approve(), &reviewer(4), "610902", MAR15)
        .unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("state", 409));

    // One configured stage grants at once; a rejection at any stage ends it.
    let one = AppealConfig {
        stages: vec!["centre_review".into()],
        ..AppealConfig::default()
    };
    let mut b = file_ok(&t, &[], &dept("D1"), Indicator::Return, MAR15);
    assert_eq!(
        b.act(&one, approve(), &reviewer(1), "610902", MAR15),
        Ok("appeal_granted")
    );
    let mut c = file_ok(&t, &[], &dept("D1"), Indicator::Redispatch, MAR15);
    c.act(&cfg, approve(), &reviewer(1), "610902", MAR15)
        .unwrap();
    assert_eq!(
        c.act(
            &cfg,
            AppealAction::Reject {
                opinion: "不予支持".into()
            },
            &reviewer(2),
            "610902",
            MAR15
        ),
        Ok("appeal_rejected")
    );
    assert_eq!(c.status, AppealStatus::Rejected);
}

#[test]
fn evidence_is_limited_to_source_a_kinds_and_20_mb() {
    assert!(check_evidence("录音片段.ZIP", 1).is_ok());
    assert!(check_evidence("说明.pdf", EVIDENCE_MAX_BYTES).is_ok());
    assert_eq!(
        check_evidence("说明.pdf", EVIDENCE_MAX_BYTES + 1)
            .unwrap_err()
            .code(),
        "evidence"
    );
    for bad in ["run.exe", "noext", "a.pdf.sh", ""] {
        assert!(check_evidence(bad, 1).is_err(), "{bad}");
    }
}
