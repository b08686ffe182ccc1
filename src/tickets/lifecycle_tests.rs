//! Lifecycle tests: the full state × action matrix, the role matrix, area scope, and each flow.

use super::*;
use crate::tickets::calendar::{Calendar, DAY_MS, MINUTE_MS};
use chrono::NaiveDate;

struct World {
    cfg: Config,
    cal: Calendar,
    sla: SlaPolicy,
}

impl World {
    fn new() -> World {
        World {
            cfg: Config::default(),
            cal: Calendar::default(),
            sla: SlaPolicy::default(),
        }
    }
    fn env(&self) -> Env<'_> {
        Env {
            config: &self.cfg,
            calendar: &self.cal,
            sla: &self.sla,
        }
    }
    fn at(&self, date: &str, h: i64, m: i64) -> i64 {
        self.cal
            .midnight(NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap())
            + h * HOUR_MS
            + m * MINUTE_MS
    }
    fn t0(&self) -> i64 {
        self.at("2026-03-02", 9, 0) // a Monday
    }
}

fn actor(id: &str, roles: &[Role], scope: &str, dept: Option<&str>) -> Actor {
    Actor {
        user_id: id.into(),
        roles: roles.to_vec(),
        region_scope: scope.into(),
        department: dept.map(Into::into),
    }
}
fn agent() -> Actor {
    actor("agent1", &[Role::Agent], "6109", None)
}
fn dispatcher() -> Actor {
    actor("disp1", &[Role::Dispatcher], "6109", None)
}
fn reviewer(n: u8) -> Actor {
    actor(&format!("rev{n}"), &[Role::Reviewer], "6109", None)
}
fn revisitor() -> Actor {
    actor("rv1", &[Role::Revisitor], "6109", None)
}
fn supervisor() -> Actor {
    actor("sup1", &[Role::Supervisor], "6109", None)
}
fn handler(dept: &str) -> Actor {
    actor(&format!("h-{dept}"), &[Role::DeptHandler], "", Some(dept))
}
fn citizen() -> Actor {
    actor("citizen", &[Role::Citizen], "", None)
}
/// Every centre role, whole province.
fn boss() -> Actor {
    actor("boss", &[Role::Admin], "", None)
}

fn new_ticket(draft: bool, now: i64) -> Ticket {
    let mut t = Ticket::new(
        NewTicket {
            id: "T1".into(),
            region_code: "610902".into(),
            category_code: "0101".into(),
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            created_by: "agent1".into(),
            draft,
        },
        now,
    );
    drain(&mut t);
    t
}

fn ok(w: &World, t: &mut Ticket, cmd: Command, who: &Actor, now: i64) -> Vec<Output> {
    let name = cmd.name();
    if let Err(e) = t.handle(cmd, who, now, w.env()) {
        panic!("{name} by {} in {:?} refused: {e}", who.user_id, t.status);
    }
    drain(t)
}

fn refused(w: &World, t: &mut Ticket, cmd: Command, who: &Actor, now: i64) -> Refusal {
    let before = t.clone();
    let e = t
        .handle(cmd, who, now, w.env())
        .expect_err("should be refused");
    assert_eq!(*t, before, "a refusal must not change the ticket");
    assert!(t.poll().is_none(), "a refusal must not output anything");
    e
}

fn dispatch(lead: &str, assisting: &[&str]) -> Command {
    Command::Dispatch {
        lead: lead.into(),
        assisting: assisting.iter().map(|s| s.to_string()).collect(),
        via: vec![],
        immediate: false,
        opinion: "请办理".into(),
    }
}

fn events(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.action.clone()),
            _ => None,
        })
        .collect()
}

fn notes(out: &[Output]) -> Vec<(Recipient, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Notify(n) => Some((n.to.clone(), n.template.clone())),
            _ => None,
        })
        .collect()
}

/// Drives a fresh ticket into `status` through real transitions (lead D1, assisting D2).
fn reach(w: &World, status: Status) -> Ticket {
    let now = w.t0();
    let mut t = new_ticket(status == Status::Draft, now);
    use Status::*;
    if matches!(status, Draft | Accepted) {
        return t;
    }
    match status {
        Merged => {
            ok(
                w,
                &mut t,
                Command::MergeInto {
                    master: "T0".into(),
                },
                &agent(),
                now,
            );
            return t;
        }
        Withdrawn => {
            ok(
                w,
                &mut t,
                Command::Withdraw {
                    reason: "已解决".into(),
                },
                &agent(),
                now,
            );
            return t;
        }
        Voided => {
            ok(
                w,
                &mut t,
                Command::Void {
                    code: VoidCode::TestCall,
                },
                &agent(),
                now,
            );
            return t;
        }
        _ => {}
    }
    ok(w, &mut t, Command::SendForReview, &agent(), now);
    if status == PendingDispatch {
        return t;
    }
    ok(w, &mut t, dispatch("D1", &["D2"]), &dispatcher(), now);
    if status == Dispatched {
        return t;
    }
    if status == Returned {
        ok(
            w,
            &mut t,
            Command::Return {
                code: ReturnCode::NotOurDuty,
                reason: "非本单位职责".into(),
            },
            &handler("D1"),
            now,
        );
        return t;
    }
    ok(w, &mut t, Command::SignFor, &handler("D1"), now);
    if status == Handling {
        return t;
    }
    if status == Suspended {
        ok(
            w,
            &mut t,
            Command::RequestSuspension {
                reason: "等待第三方".into(),
            },
            &handler("D1"),
            now,
        );
        ok(
            w,
            &mut t,
            Command::ApproveRequest {
                opinion: String::new(),
            },
            &reviewer(1),
            now,
        );
        return t;
    }
    ok(
        w,
        &mut t,
        Command::Reply {
            result: "已处理".into(),
        },
        &handler("D1"),
        now,
    );
    if status == Reviewing {
        return t;
    }
    ok(
        w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(1),
        now,
    );
    ok(
        w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(2),
        now,
    );
    if status == Closed {
        return t;
    }
    let revisit = Command::Revisit {
        method: RevisitMethod::Phone,
        satisfaction: Satisfaction::Satisfied,
        resolution: Resolution::Resolved,
        note: String::new(),
    };
    ok(w, &mut t, revisit, &revisitor(), now);
    assert_eq!(t.status, Archived);
    t
}

/// One sample of every command, with valid payloads.
fn samples() -> Vec<Command> {
    use Command::*;
    vec![
        Submit,
        DirectReply {
            reply: "已答复".into(),
        },
        SendForReview,
        CancelReview,
        dispatch("D1", &["D2"]),
        SignFor,
        PassDown {
            to: "D1a".into(),
            opinion: String::new(),
        },
        Return {
            code: ReturnCode::Unclear,
            reason: "诉求不清".into(),
        },
        ApproveReturn {
            opinion: String::new(),
        },
        RejectReturn {
            opinion: "属于你单位职责".into(),
        },
        RequestExtension {
            extra: Limit::working_days(2),
            reason: "需要现场勘查".into(),
            interim_reply: "正在办理".into(),
        },
        RequestSuspension {
            reason: "等待鉴定".into(),
        },
        ApproveRequest {
            opinion: String::new(),
        },
        RefuseRequest {
            opinion: "理由不充分".into(),
        },
        Resume,
        InterimReply {
            text: "阶段答复".into(),
        },
        AssistReply {
            text: "协办意见".into(),
        },
        Reply {
            result: "已办结".into(),
        },
        ApproveResult {
            opinion: String::new(),
        },
        RejectResult {
            opinion: "答复不完整".into(),
        },
        Revisit {
            method: RevisitMethod::Phone,
            satisfaction: Satisfaction::Satisfied,
            resolution: Resolution::Resolved,
            note: String::new(),
        },
        RevisitFailed {
            outcome: RevisitOutcome::NoAnswer,
            note: String::new(),
        },
        Urge {
            note: String::new(),
        },
        OpenSupervision {
            level: SupervisionLevel::City,
            note: "领导关注".into(),
        },
        CloseSupervision {
            case: 1,
            outcome: "已反馈".into(),
        },
        MergeInto {
            master: "T0".into(),
        },
        Withdraw {
            reason: "问题已解决".into(),
        },
        Void {
            code: VoidCode::SilentCall,
        },
        AddNote {
            text: "补充说明".into(),
        },
    ]
}

/// The specification, written independently of the code: where each action is allowed.
fn allowed_states(action: &str) -> Vec<Status> {
    use Status::*;
    let live = vec![
        Accepted,
        PendingDispatch,
        Dispatched,
        Handling,
        Suspended,
        Returned,
        Reviewing,
        Closed,
    ];
    match action {
        "submit" => vec![Draft],
        "direct_reply" => vec![Accepted, PendingDispatch],
        "send_for_review" => vec![Accepted],
        "cancel_review" => vec![PendingDispatch],
        "dispatch" => vec![Accepted, PendingDispatch, Returned],
        "sign_for" => vec![Dispatched],
        "pass_down" => vec![Handling],
        "return" => vec![Dispatched, Handling],
        "approve_return" | "reject_return" => vec![Returned],
        "request_extension" | "request_suspension" | "approve_request" | "refuse_request"
        | "interim_reply" | "reply" => {
            vec![Handling]
        }
        "resume" => vec![Suspended],
        "assist_reply" | "urge" => vec![Dispatched, Handling, Suspended],
        "approve_result" | "reject_result" => vec![Reviewing],
        "revisit" | "revisit_failed" => vec![Closed],
        "open_supervision" => live,
        "close_supervision" | "add_note" => Status::ALL.to_vec(),
        "merge_into" => vec![Draft, Accepted, PendingDispatch, Returned],
        "withdraw" => vec![
            Draft,
            Accepted,
            PendingDispatch,
            Dispatched,
            Handling,
            Suspended,
            Returned,
        ],
        "void" => vec![Draft, Accepted],
        other => panic!("no spec for {other}"),
    }
}

/// The specification of who may act: centre roles, or the lead / an assisting department.
fn allowed_roles(action: &str) -> Vec<Role> {
    use Role::*;
    match action {
        "submit" | "send_for_review" | "cancel_review" | "void" => vec![Agent],
        "direct_reply" | "merge_into" => vec![Agent, Dispatcher],
        "dispatch" | "approve_return" | "reject_return" => vec![Dispatcher],
        "approve_request" | "refuse_request" | "approve_result" | "reject_result" => vec![Reviewer],
        "revisit" => vec![Revisitor, Citizen],
        "revisit_failed" => vec![Revisitor],
        "urge" => vec![Agent, Supervisor, Citizen],
        "withdraw" => vec![Agent, Citizen],
        "open_supervision" | "close_supervision" => vec![Supervisor],
        "add_note" => vec![Agent, Dispatcher, Reviewer, Supervisor],
        _ => vec![DeptHandler],
    }
}

/// An actor entitled to `cmd` on `t` apart from state: the boss for centre actions, the lead's
/// or an assisting department's handler for department actions, the citizen for citizen ones.
fn entitled(cmd: &Command, t: &Ticket) -> Actor {
    let roles = allowed_roles(cmd.name());
    if roles == vec![Role::DeptHandler] {
        let dept = if cmd.name() == "assist_reply" {
            t.assisting.first().cloned()
        } else {
            t.lead.clone()
        };
        return handler(dept.as_deref().unwrap_or("D1"));
    }
    let mut b = boss();
    b.user_id = "agent1".into(); // the creator, for cancel_review
    b
}

#[test]
fn every_action_in_every_state_matches_the_spec() {
    let w = World::new();
    let mut checked = 0;
    for status in Status::ALL {
        for cmd in samples() {
            let mut t = reach(&w, status);
            assert_eq!(t.status, status);
            let who = entitled(&cmd, &t);
            let name = cmd.name();
            let spec = allowed_states(name).contains(&status);
            let res = t.handle(cmd, &who, w.t0() + 10 * DAY_MS, w.env());
            match (spec, res) {
                (true, Ok(())) => {}
                (true, Err(e)) => assert_ne!(
                    e.code(),
                    "state",
                    "{name} in {status:?} should pass the state check: {e}"
                ),
                (false, Ok(())) => panic!("{name} in {status:?} must be refused"),
                (false, Err(e)) => {
                    // Without a lead department, department actions fail the department check first.
                    let dept_first =
                        e.code() == "department" && (t.lead.is_none() || t.assisting.is_empty());
                    assert!(
                        e.code() == "state" || dept_first,
                        "{name} in {status:?}: wrong refusal {e}"
                    );
                    assert!(matches!(e.http_status(), 409 | 403));
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 13 * 29);
}

#[test]
fn every_action_checks_the_role() {
    let w = World::new();
    let all_roles = [
        Role::Agent,
        Role::Dispatcher,
        Role::Reviewer,
        Role::Revisitor,
        Role::Supervisor,
        Role::DeptHandler,
        Role::Citizen,
    ];
    for status in [Status::Accepted, Status::Handling, Status::Closed] {
        let t = reach(&w, status);
        for cmd in samples() {
            let spec = allowed_roles(cmd.name());
            for role in all_roles {
                let dept = if cmd.name() == "assist_reply" {
                    "D2"
                } else {
                    "D1"
                };
                let who = actor("agent1", &[role], "", Some(dept));
                let res = t.check(&cmd, &who);
                let forbidden_by_role =
                    matches!(&res, Err(Refusal::Forbidden { code: "role", .. }));
                if spec.contains(&role) {
                    assert!(
                        !forbidden_by_role,
                        "{} by {role:?} must pass the role check: {res:?}",
                        cmd.name()
                    );
                } else {
                    assert!(
                        forbidden_by_role,
                        "{} by {role:?} must be refused 403: {res:?}",
                        cmd.name()
                    );
                    assert_eq!(res.unwrap_err().http_status(), 403);
                }
            }
        }
    }
}

#[test]
fn area_and_department_scope_are_enforced() {
    let w = World::new();
    let mut t = reach(&w, Status::PendingDispatch);
    // A dispatcher of another city (6101) may not dispatch an Ankang (6109) ticket.
    let outsider = actor("d9", &[Role::Dispatcher], "6101", None);
    let e = refused(&w, &mut t, dispatch("D1", &[]), &outsider, w.t0());
    assert_eq!((e.code(), e.http_status()), ("area", 403));
    // A district-scoped dispatcher covers its own district.
    let district = actor("d2", &[Role::Dispatcher], "610902", None);
    ok(&w, &mut t, dispatch("D1", &["D2"]), &district, w.t0());
    // Another department cannot sign for it; the assisting one cannot either.
    let e = refused(&w, &mut t, Command::SignFor, &handler("D9"), w.t0());
    assert_eq!((e.code(), e.http_status()), ("department", 403));
    let e = refused(&w, &mut t, Command::SignFor, &handler("D2"), w.t0());
    assert_eq!(e.code(), "department");
    // But the assisting one can give its opinion, and the lead cannot do that as an assistant.
    ok(
        &w,
        &mut t,
        Command::AssistReply {
            text: "已配合".into(),
        },
        &handler("D2"),
        w.t0(),
    );
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::AssistReply { text: "x".into() },
            &handler("D1"),
            w.t0()
        )
        .code(),
        "department"
    );
    // A handler without the role is refused even with the right department.
    let clerk = actor("c", &[Role::Agent], "", Some("D1"));
    assert_eq!(
        refused(&w, &mut t, Command::SignFor, &clerk, w.t0()).code(),
        "role"
    );
}

#[test]
fn happy_path_from_pop_to_archive() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = new_ticket(true, t0);
    ok(&w, &mut t, Command::Submit, &agent(), t0);
    ok(&w, &mut t, Command::SendForReview, &agent(), t0);
    let out = ok(
        &w,
        &mut t,
        dispatch("D1", &["D2"]),
        &dispatcher(),
        t0 + HOUR_MS,
    );
    assert_eq!(events(&out), vec!["dispatch"]);
    assert_eq!(
        notes(&out),
        vec![
            (Recipient::Department("D1".into()), "dispatched".into()),
            (Recipient::Department("D2".into()), "assist".into())
        ]
    );
    // Complaint, normal urgency: 4 working hours to sign, 10 working days to handle.
    assert_eq!(
        t.sign_deadline.as_ref().unwrap().due_ms,
        w.at("2026-03-02", 15, 30)
    );
    assert_eq!(
        t.handle_deadline.as_ref().unwrap().due_ms,
        w.at("2026-03-16", 10, 0)
    );
    ok(
        &w,
        &mut t,
        Command::SignFor,
        &handler("D1"),
        t0 + 2 * HOUR_MS,
    );
    assert!(!t.overdue_sign);
    let out = ok(
        &w,
        &mut t,
        Command::Reply {
            result: "已修复路灯".into(),
        },
        &handler("D1"),
        t0 + 3 * DAY_MS,
    );
    assert_eq!(events(&out), vec!["reply", "assist_closed"]);
    assert_eq!(t.status, Status::Reviewing);
    ok(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: "同意".into(),
        },
        &reviewer(1),
        t0 + 3 * DAY_MS,
    );
    assert_eq!((t.status, t.review_level), (Status::Reviewing, 2));
    // The second level needs a different reviewer.
    let e = refused(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(1),
        t0 + 3 * DAY_MS,
    );
    assert_eq!((e.code(), e.http_status()), ("same_reviewer", 409));
    let out = ok(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(2),
        t0 + 3 * DAY_MS,
    );
    assert_eq!(t.status, Status::Closed);
    assert_eq!(
        notes(&out),
        vec![(Recipient::Citizen, "revisit_link".into())]
    );
    let rate = Command::Revisit {
        method: RevisitMethod::Sms,
        satisfaction: Satisfaction::Satisfied,
        resolution: Resolution::Partly,
        note: String::new(),
    };
    ok(&w, &mut t, rate, &citizen(), t0 + 4 * DAY_MS);
    assert_eq!(t.status, Status::Archived);
    assert_eq!(t.revisits.len(), 1);
    assert!(!t.overdue_handle);
}

#[test]
fn review_levels_are_configurable() {
    let mut w = World::new();
    w.cfg.review_levels = 3;
    let mut t = reach(&w, Status::Reviewing);
    for n in 1..=2 {
        ok(
            &w,
            &mut t,
            Command::ApproveResult {
                opinion: String::new(),
            },
            &reviewer(n),
            w.t0(),
        );
        assert_eq!(t.status, Status::Reviewing);
    }
    ok(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(3),
        w.t0(),
    );
    assert_eq!(t.status, Status::Closed);
    // A rejected result goes back to the department and the review restarts.
    let mut t = reach(&w, Status::Reviewing);
    ok(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(1),
        w.t0(),
    );
    let out = ok(
        &w,
        &mut t,
        Command::RejectResult {
            opinion: "答复不完整".into(),
        },
        &reviewer(2),
        w.t0(),
    );
    assert_eq!((t.status, t.review_level), (Status::Handling, 0));
    assert_eq!(
        notes(&out),
        vec![(Recipient::Department("D1".into()), "result_rejected".into())]
    );
    ok(
        &w,
        &mut t,
        Command::Reply {
            result: "补充答复".into(),
        },
        &handler("D1"),
        w.t0(),
    );
    ok(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(1),
        w.t0(),
    );
    assert_eq!(t.review_level, 2);
}

#[test]
fn direct_reply_and_cancel_review() {
    let w = World::new();
    let mut t = reach(&w, Status::Accepted);
    ok(
        &w,
        &mut t,
        Command::DirectReply {
            reply: "已告知办理流程".into(),
        },
        &agent(),
        w.t0(),
    );
    assert_eq!(t.status, Status::Closed);

    let mut t = reach(&w, Status::PendingDispatch);
    // An agent cannot direct-reply once at the 初审岗, a dispatcher can.
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::DirectReply { reply: "x".into() },
            &agent(),
            w.t0()
        )
        .code(),
        "state"
    );
    // Only the creator pulls it back.
    let other = actor("agent2", &[Role::Agent], "6109", None);
    assert_eq!(
        refused(&w, &mut t, Command::CancelReview, &other, w.t0()).code(),
        "not_creator"
    );
    ok(&w, &mut t, Command::CancelReview, &agent(), w.t0());
    assert_eq!(t.status, Status::Accepted);
    ok(&w, &mut t, Command::SendForReview, &agent(), w.t0());
    ok(
        &w,
        &mut t,
        Command::DirectReply {
            reply: "已答复".into(),
        },
        &dispatcher(),
        w.t0(),
    );
    assert_eq!(t.status, Status::Closed);
    // Empty replies are invalid (422).
    let mut t = reach(&w, Status::Accepted);
    let e = refused(
        &w,
        &mut t,
        Command::DirectReply { reply: "  ".into() },
        &agent(),
        w.t0(),
    );
    assert_eq!(e.http_status(), 422);
}

#[test]
fn multi_level_dispatch_returns_and_replies_climb_the_path() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::PendingDispatch);
    let cmd = Command::Dispatch {
        lead: "STREET".into(),
        assisting: vec![],
        via: vec!["CITY".into(), "COUNTY".into()],
        immediate: false,
        opinion: String::new(),
    };
    ok(&w, &mut t, cmd, &dispatcher(), t0);
    assert_eq!(t.chain, vec!["CITY", "COUNTY", "STREET"]);
    // The street returns it: it goes to the county, which handles it.
    let ret = |r: &str| Command::Return {
        code: ReturnCode::NotOurDuty,
        reason: r.into(),
    };
    ok(&w, &mut t, ret("非本街道职责"), &handler("STREET"), t0);
    assert_eq!(
        (t.status, t.lead.as_deref()),
        (Status::Handling, Some("COUNTY"))
    );
    // The county passes it to another street, which signs and replies: the reply goes up.
    ok(
        &w,
        &mut t,
        Command::PassDown {
            to: "STREET2".into(),
            opinion: String::new(),
        },
        &handler("COUNTY"),
        t0,
    );
    assert_eq!(t.status, Status::Dispatched);
    assert_eq!(
        refused(&w, &mut t, Command::SignFor, &handler("COUNTY"), t0).code(),
        "department"
    );
    ok(&w, &mut t, Command::SignFor, &handler("STREET2"), t0);
    let out = ok(
        &w,
        &mut t,
        Command::Reply {
            result: "已处理".into(),
        },
        &handler("STREET2"),
        t0,
    );
    assert_eq!(events(&out), vec!["lower_reply"]);
    assert_eq!(
        (t.status, t.lead.as_deref()),
        (Status::Handling, Some("COUNTY"))
    );
    // Passing down to a unit already on the path is refused.
    let e = refused(
        &w,
        &mut t,
        Command::PassDown {
            to: "CITY".into(),
            opinion: String::new(),
        },
        &handler("COUNTY"),
        t0,
    );
    assert_eq!(e.code(), "pass_down");
    // The county and then the city return it: now the centre reviews the return.
    ok(&w, &mut t, ret("非本县职责"), &handler("COUNTY"), t0);
    assert_eq!(t.lead.as_deref(), Some("CITY"));
    ok(&w, &mut t, ret("非本市职责"), &handler("CITY"), t0);
    assert_eq!(t.status, Status::Returned);
    // Third return: a supervision case opens by rule.
    assert_eq!(t.returns, 3);
    assert!(t
        .supervision
        .iter()
        .any(|c| c.cause == SupervisionCause::ReturnedRepeatedly));
    // Rejecting the return sends it back to the city, which was handling it.
    ok(
        &w,
        &mut t,
        Command::RejectReturn {
            opinion: "属于市级职责".into(),
        },
        &dispatcher(),
        t0,
    );
    assert_eq!(
        (t.status, t.lead.as_deref()),
        (Status::Handling, Some("CITY"))
    );
    ok(&w, &mut t, ret("确非本单位职责"), &handler("CITY"), t0);
    ok(
        &w,
        &mut t,
        Command::ApproveReturn {
            opinion: String::new(),
        },
        &dispatcher(),
        t0,
    );
    assert_eq!(
        (t.status, t.lead.as_deref()),
        (Status::PendingDispatch, None)
    );
    ok(&w, &mut t, dispatch("D7", &[]), &dispatcher(), t0);
    assert_eq!(t.chain, vec!["D7"]);
}

#[test]
fn return_review_pauses_the_clock() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Handling);
    let due = t.handle_deadline.as_ref().unwrap().due_ms;
    ok(
        &w,
        &mut t,
        Command::Return {
            code: ReturnCode::Unclear,
            reason: "不清".into(),
        },
        &handler("D1"),
        t0,
    );
    // Two working days in return review do not count against the department.
    ok(
        &w,
        &mut t,
        Command::RejectReturn {
            opinion: "请继续".into(),
        },
        &dispatcher(),
        t0 + 2 * DAY_MS,
    );
    assert_eq!(
        t.handle_deadline.as_ref().unwrap().due_ms,
        w.cal.add_working_days(due, 2).unwrap()
    );
}

#[test]
fn extension_once_up_to_the_limit_with_interim_replies() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Handling);
    let due = t.handle_deadline.as_ref().unwrap().due_ms;
    let ext = |n: u32| Command::RequestExtension {
        extra: Limit::working_days(n),
        reason: "需协调".into(),
        interim_reply: "正在协调".into(),
    };
    // More than 1× the 10-day limit is refused.
    assert_eq!(
        refused(&w, &mut t, ext(11), &handler("D1"), t0).code(),
        "extension_too_long"
    );
    // Wrong unit is invalid.
    let hours = Command::RequestExtension {
        extra: Limit::working_hours(3),
        reason: "x".into(),
        interim_reply: "y".into(),
    };
    assert_eq!(
        refused(&w, &mut t, hours, &handler("D1"), t0).http_status(),
        422
    );
    // Interim replies need an extension first.
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::InterimReply {
                text: "进展".into()
            },
            &handler("D1"),
            t0
        )
        .code(),
        "not_extended"
    );
    ok(&w, &mut t, ext(10), &handler("D1"), t0);
    assert_eq!(
        refused(&w, &mut t, ext(1), &handler("D1"), t0).code(),
        "request_pending"
    );
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::Reply { result: "x".into() },
            &handler("D1"),
            t0
        )
        .code(),
        "request_pending"
    );
    // The department cannot approve its own request.
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::ApproveRequest {
                opinion: String::new()
            },
            &handler("D1"),
            t0
        )
        .code(),
        "role"
    );
    let out = ok(
        &w,
        &mut t,
        Command::ApproveRequest {
            opinion: "同意".into(),
        },
        &reviewer(1),
        t0,
    );
    assert_eq!(
        notes(&out),
        vec![(Recipient::Citizen, "interim_reply".into())]
    );
    assert_eq!(
        t.handle_deadline.as_ref().unwrap().due_ms,
        w.cal.add_working_days(due, 10).unwrap()
    );
    assert_eq!(
        refused(&w, &mut t, ext(1), &handler("D1"), t0).code(),
        "already_extended"
    );
    let susp = Command::RequestSuspension {
        reason: "等待".into(),
    };
    assert_eq!(
        refused(&w, &mut t, susp, &handler("D1"), t0).code(),
        "exclusive"
    );
    for _ in 0..2 {
        let out = ok(
            &w,
            &mut t,
            Command::InterimReply {
                text: "进展".into(),
            },
            &handler("D1"),
            t0,
        );
        assert_eq!(
            notes(&out),
            vec![(Recipient::Citizen, "interim_reply".into())]
        );
    }
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::InterimReply {
                text: "进展".into()
            },
            &handler("D1"),
            t0
        )
        .code(),
        "interim_limit"
    );
}

#[test]
fn refused_request_keeps_the_deadline() {
    let w = World::new();
    let mut t = reach(&w, Status::Handling);
    let due = t.handle_deadline.as_ref().unwrap().due_ms;
    let ext = Command::RequestExtension {
        extra: Limit::working_days(3),
        reason: "r".into(),
        interim_reply: "i".into(),
    };
    ok(&w, &mut t, ext, &handler("D1"), w.t0());
    let out = ok(
        &w,
        &mut t,
        Command::RefuseRequest {
            opinion: "不同意".into(),
        },
        &reviewer(1),
        w.t0(),
    );
    assert_eq!(events(&out), vec!["refuse_extension"]);
    assert_eq!((t.pending.is_none(), t.extended), (true, false));
    assert_eq!(t.handle_deadline.as_ref().unwrap().due_ms, due);
}

#[test]
fn suspension_pauses_and_resume_moves_the_deadline() {
    let w = World::new();
    let t0 = w.t0(); // Monday 2026-03-02 09:00
    let mut t = reach(&w, Status::Handling);
    ok(
        &w,
        &mut t,
        Command::RequestSuspension {
            reason: "等待检测报告".into(),
        },
        &handler("D1"),
        t0 + DAY_MS,
    );
    ok(
        &w,
        &mut t,
        Command::ApproveRequest {
            opinion: String::new(),
        },
        &reviewer(1),
        t0 + DAY_MS,
    );
    assert_eq!(t.status, Status::Suspended);
    assert_eq!(
        t.next_timeout(w.env(), t0 + DAY_MS),
        None,
        "no timers while suspended"
    );
    // Suspended Tuesday 09:00 until the next Tuesday 09:00: 5 working days.
    ok(&w, &mut t, Command::Resume, &handler("D1"), t0 + 8 * DAY_MS);
    assert_eq!(t.status, Status::Handling);
    assert_eq!(
        t.handle_deadline.as_ref().unwrap().due_ms,
        w.at("2026-03-23", 9, 0)
    );
    let ext = Command::RequestExtension {
        extra: Limit::working_days(1),
        reason: "r".into(),
        interim_reply: "i".into(),
    };
    assert_eq!(
        refused(&w, &mut t, ext, &handler("D1"), t0 + 8 * DAY_MS).code(),
        "exclusive"
    );
}

#[test]
fn reopen_up_to_three_cycles_then_close_for_good() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Closed);
    let unhappy = || Command::Revisit {
        method: RevisitMethod::Phone,
        satisfaction: Satisfaction::Dissatisfied,
        resolution: Resolution::Unresolved,
        note: "未解决".into(),
    };
    let finish = |t: &mut Ticket| {
        ok(&w, t, Command::SignFor, &handler("D1"), t0);
        ok(
            &w,
            t,
            Command::Reply {
                result: "再次处理".into(),
            },
            &handler("D1"),
            t0,
        );
        ok(
            &w,
            t,
            Command::ApproveResult {
                opinion: String::new(),
            },
            &reviewer(1),
            t0,
        );
        ok(
            &w,
            t,
            Command::ApproveResult {
                opinion: String::new(),
            },
            &reviewer(2),
            t0,
        );
    };
    let out = ok(&w, &mut t, unhappy(), &revisitor(), t0);
    assert_eq!(events(&out), vec!["reopen"]);
    assert_eq!((t.status, t.cycle), (Status::PendingDispatch, 2));
    ok(&w, &mut t, dispatch("D1", &[]), &dispatcher(), t0);
    assert_eq!(t.handling, HandlingType::Regular);
    finish(&mut t);
    // Second unsatisfied evaluation: reopen with the fixed 15-working-day limit, no extension.
    let out = ok(&w, &mut t, unhappy(), &revisitor(), t0);
    assert!(
        events(&out).contains(&"open_supervision".to_string()),
        "2 complaints open a case"
    );
    assert!(t
        .supervision
        .iter()
        .any(|c| c.cause == SupervisionCause::RepeatedComplaints));
    ok(&w, &mut t, dispatch("D1", &[]), &dispatcher(), t0);
    assert_eq!(t.handling, HandlingType::Reopen);
    assert_eq!(
        t.handle_deadline.as_ref().unwrap().due_ms,
        w.cal.add_working_days(t0, 15).unwrap()
    );
    ok(&w, &mut t, Command::SignFor, &handler("D1"), t0);
    let ext = Command::RequestExtension {
        extra: Limit::working_days(1),
        reason: "r".into(),
        interim_reply: "i".into(),
    };
    assert_eq!(
        refused(&w, &mut t, ext, &handler("D1"), t0).code(),
        "no_extension"
    );
    let susp = Command::RequestSuspension { reason: "r".into() };
    assert_eq!(
        refused(&w, &mut t, susp, &handler("D1"), t0).code(),
        "no_suspension"
    );
    ok(
        &w,
        &mut t,
        Command::Reply {
            result: "第三次处理".into(),
        },
        &handler("D1"),
        t0,
    );
    ok(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(1),
        t0,
    );
    ok(
        &w,
        &mut t,
        Command::ApproveResult {
            opinion: String::new(),
        },
        &reviewer(2),
        t0,
    );
    // Third unsatisfied evaluation: no more reopening.
    ok(&w, &mut t, unhappy(), &revisitor(), t0);
    assert_eq!(
        (t.status, t.final_unsatisfied, t.revisits.len()),
        (Status::Archived, true, 3)
    );
}

#[test]
fn urge_once_after_half_the_limit() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Handling); // 10 working days from Monday 03-02 09:00
    let urge = || Command::Urge {
        note: "催一下".into(),
    };
    assert_eq!(
        refused(&w, &mut t, urge(), &citizen(), w.at("2026-03-06", 9, 0)).code(),
        "urge_too_early"
    );
    // After 5 working days (Monday 03-09 09:00) it opens.
    let out = ok(&w, &mut t, urge(), &citizen(), w.at("2026-03-09", 9, 0));
    assert_eq!(
        notes(&out),
        vec![(Recipient::Department("D1".into()), "urge".into())]
    );
    assert_eq!(
        refused(&w, &mut t, urge(), &citizen(), t0 + 7 * DAY_MS).code(),
        "already_urged"
    );
    // Urging is refused after the reply.
    let mut t = reach(&w, Status::Reviewing);
    assert_eq!(
        refused(&w, &mut t, urge(), &citizen(), t0 + 9 * DAY_MS).code(),
        "state"
    );
}

#[test]
fn sla_timers_warn_in_order_and_open_supervision_when_overdue() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Dispatched);
    let sign_due = t.sign_deadline.as_ref().unwrap().due_ms;
    let due = t.handle_deadline.as_ref().unwrap().due_ms;
    let mut now = t0;
    let mut log = Vec::new();
    for _ in 0..20 {
        let Some(next) = t.next_timeout(w.env(), now) else {
            break;
        };
        assert!(next >= now, "timers never go back in time");
        now = next;
        if now > sign_due && t.status == Status::Dispatched {
            ok(&w, &mut t, Command::SignFor, &handler("D1"), now);
        }
        t.handle_timeout(now, w.env());
        for o in drain(&mut t) {
            if let Output::Event(e) = o {
                log.push((
                    e.action.clone(),
                    e.detail["deadline"].as_str().unwrap_or("").to_string(),
                    e.detail["state"].as_str().unwrap_or("").to_string(),
                    e.at_ms,
                ));
            }
        }
    }
    let kinds: Vec<_> = log
        .iter()
        .map(|(a, d, s, _)| format!("{a}:{d}:{s}"))
        .collect();
    assert_eq!(
        kinds,
        vec![
            "sla_warning:sign_for:yellow",
            "sla_warning:sign_for:red",
            "sla_warning:sign_for:overdue",
            "sla_warning:handle:yellow",
            "sla_warning:handle:red",
            "sla_warning:handle:overdue",
            "open_supervision::",
        ]
    );
    // Sign-for 4 working hours: yellow 24 h before is already due at dispatch time.
    assert_eq!(log[0].3, t0);
    assert_eq!(log[1].3, sign_due - HOUR_MS);
    assert_eq!(log[2].3, sign_due);
    assert_eq!(log[5].3, due);
    assert_eq!(log[6].3, due + 24 * HOUR_MS);
    assert!(t.overdue_sign && t.overdue_handle);
    assert_eq!(t.next_timeout(w.env(), now), None);
    // A reply after the deadline is recorded as late.
    let out = ok(
        &w,
        &mut t,
        Command::Reply {
            result: "迟复".into(),
        },
        &handler("D1"),
        now,
    );
    let Output::Event(e) = &out[0] else { panic!() };
    assert_eq!(e.detail["on_time"], false);
}

#[test]
fn supervision_by_hand_opens_and_closes() {
    let w = World::new();
    let mut t = reach(&w, Status::Handling);
    let open = Command::OpenSupervision {
        level: SupervisionLevel::Province,
        note: "省领导批示".into(),
    };
    assert_eq!(
        refused(&w, &mut t, open.clone(), &agent(), w.t0()).code(),
        "role"
    );
    let out = ok(&w, &mut t, open, &supervisor(), w.t0());
    assert!(notes(&out).contains(&(Recipient::Department("D1".into()), "supervision".into())));
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::CloseSupervision {
                case: 9,
                outcome: "x".into()
            },
            &supervisor(),
            w.t0()
        )
        .code(),
        "no_case"
    );
    ok(
        &w,
        &mut t,
        Command::CloseSupervision {
            case: 1,
            outcome: "已反馈".into(),
        },
        &supervisor(),
        w.t0(),
    );
    assert!(t.supervision[0].closed_ms.is_some());
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::CloseSupervision {
                case: 1,
                outcome: "x".into()
            },
            &supervisor(),
            w.t0()
        )
        .code(),
        "case_closed"
    );
}

#[test]
fn merge_withdraw_void_and_notes() {
    let w = World::new();
    let mut t = reach(&w, Status::Accepted);
    assert_eq!(
        refused(
            &w,
            &mut t,
            Command::MergeInto {
                master: "T1".into()
            },
            &agent(),
            w.t0()
        )
        .http_status(),
        422
    );
    ok(
        &w,
        &mut t,
        Command::MergeInto {
            master: "T0".into(),
        },
        &agent(),
        w.t0(),
    );
    assert_eq!(
        (t.status, t.master.as_deref()),
        (Status::Merged, Some("T0"))
    );

    let mut t = reach(&w, Status::Handling);
    let out = ok(
        &w,
        &mut t,
        Command::Withdraw {
            reason: "已自行解决".into(),
        },
        &citizen(),
        w.t0(),
    );
    assert_eq!(t.status, Status::Withdrawn);
    assert_eq!(
        notes(&out),
        vec![(Recipient::Department("D1".into()), "withdrawn".into())]
    );
    assert_eq!(t.next_timeout(w.env(), w.t0()), None);

    let mut t = reach(&w, Status::Draft);
    ok(
        &w,
        &mut t,
        Command::Void {
            code: VoidCode::SilentCall,
        },
        &agent(),
        w.t0(),
    );
    assert_eq!(t.status, Status::Voided);

    let mut t = reach(&w, Status::Archived);
    let out = ok(
        &w,
        &mut t,
        Command::AddNote {
            text: "补充备注".into(),
        },
        &agent(),
        w.t0(),
    );
    assert_eq!(events(&out), vec!["add_note"]);
    assert_eq!(t.status, Status::Archived);
}

#[test]
fn immediate_handling_uses_its_own_limits() {
    let w = World::new();
    let mut t = reach(&w, Status::PendingDispatch);
    let cmd = Command::Dispatch {
        lead: "D1".into(),
        assisting: vec![],
        via: vec![],
        immediate: true,
        opinion: String::new(),
    };
    ok(&w, &mut t, cmd, &dispatcher(), w.t0());
    assert_eq!(t.handling, HandlingType::Immediate);
    assert_eq!(
        t.handle_deadline.as_ref().unwrap().due_ms,
        w.t0() + 24 * HOUR_MS
    );
    assert_eq!(
        t.sign_deadline.as_ref().unwrap().due_ms,
        w.t0() + 30 * MINUTE_MS
    );
}

#[test]
fn bad_dispatch_payloads_are_invalid() {
    let w = World::new();
    let mut t = reach(&w, Status::PendingDispatch);
    assert_eq!(
        refused(&w, &mut t, dispatch("D1", &["D1"]), &dispatcher(), w.t0()).http_status(),
        422
    );
    assert_eq!(
        refused(
            &w,
            &mut t,
            dispatch("D1", &["D2", "D2"]),
            &dispatcher(),
            w.t0()
        )
        .http_status(),
        422
    );
    assert_eq!(
        refused(&w, &mut t, dispatch("", &[]), &dispatcher(), w.t0()).http_status(),
        422
    );
}

#[test]
fn commands_read_from_json() {
    let c: Command =
        serde_json::from_str(r#"{"action":"dispatch","lead":"D1","assisting":["D2"]}"#).unwrap();
    assert_eq!(c.name(), "dispatch");
    let c: Command = serde_json::from_str(
        r#"{"action":"request_extension","extra":"5wd","reason":"r","interim_reply":"i"}"#,
    )
    .unwrap();
    assert!(
        matches!(c, Command::RequestExtension { extra, .. } if extra == Limit::working_days(5))
    );
    assert!(serde_json::from_str::<Command>(r#"{"action":"explode"}"#).is_err());
    assert!(serde_json::from_str::<Command>(
        r#"{"action":"request_extension","extra":"5 days","reason":"r","interim_reply":"i"}"#
    )
    .is_err());
    // The ticket state survives a round trip through JSON (how the store keeps it).
    let w = World::new();
    let t = reach(&w, Status::Suspended);
    let back: Ticket = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}

#[test]
fn an_unevaluated_closed_ticket_archives_itself_after_24_hours() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Closed);
    let closed = t.closed_ms.unwrap();
    let at = closed + 24 * HOUR_MS;
    assert_eq!(t.next_timeout(w.env(), closed), Some(at));
    // One millisecond early: nothing happens (natural hours, weekends included).
    t.handle_timeout(at - 1, w.env());
    assert!(drain(&mut t).is_empty());
    assert_eq!(t.status, Status::Closed);
    t.handle_timeout(at, w.env());
    let out = drain(&mut t);
    assert_eq!(events(&out), vec!["auto_close"]);
    assert_eq!((t.status, t.auto_closed), (Status::Archived, true));
    assert!(t.revisits.is_empty(), "未评价: no evaluation is invented");
    assert_eq!(t.next_timeout(w.env(), at), None);
    let late = Command::Revisit {
        method: RevisitMethod::Sms,
        satisfaction: Satisfaction::Satisfied,
        resolution: Resolution::Resolved,
        note: String::new(),
    };
    assert_eq!(refused(&w, &mut t, late, &citizen(), at).code(), "state");

    // An evaluation in time stops the timer; a direct reply starts it too.
    let mut t = reach(&w, Status::Closed);
    let rate = Command::Revisit {
        method: RevisitMethod::Sms,
        satisfaction: Satisfaction::Satisfied,
        resolution: Resolution::Resolved,
        note: String::new(),
    };
    ok(&w, &mut t, rate, &citizen(), closed + HOUR_MS);
    assert_eq!(t.next_timeout(w.env(), closed + HOUR_MS), None);
    assert!(!t.auto_closed);
    let mut t = new_ticket(false, t0);
    let reply = Command::DirectReply {
        reply: "已答复".into(),
    };
    ok(&w, &mut t, reply, &agent(), t0);
    assert_eq!(t.next_timeout(w.env(), t0), Some(t0 + 24 * HOUR_MS));

    // Configurable, and 0 turns it off.
    let mut w2 = World::new();
    w2.cfg.auto_close_after_ms = 0;
    let t = reach(&w2, Status::Closed);
    assert_eq!(t.next_timeout(w2.env(), closed), None);
    w2.cfg.auto_close_after_ms = 2 * HOUR_MS;
    assert_eq!(t.next_timeout(w2.env(), closed), Some(closed + 2 * HOUR_MS));
}

#[test]
fn which_evaluations_reopen_is_configurable() {
    let dissatisfied_resolved = || Command::Revisit {
        method: RevisitMethod::Phone,
        satisfaction: Satisfaction::Dissatisfied,
        resolution: Resolution::Resolved,
        note: String::new(),
    };
    let satisfied_unresolved = || Command::Revisit {
        method: RevisitMethod::Phone,
        satisfaction: Satisfaction::Satisfied,
        resolution: Resolution::Unresolved,
        note: String::new(),
    };
    // Default (the issue's rule): dissatisfied reopens even when resolved.
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Closed);
    ok(&w, &mut t, dissatisfied_resolved(), &revisitor(), t0);
    assert_eq!((t.status, t.cycle), (Status::PendingDispatch, 2));
    // Source A's final rule: resolved or partly resolved closes regardless of satisfaction,
    // but the complaint still counts towards supervision.
    let mut w = World::new();
    w.cfg.reopen_on = ReopenOn::Unresolved;
    let mut t = reach(&w, Status::Closed);
    ok(&w, &mut t, dissatisfied_resolved(), &revisitor(), t0);
    assert_eq!((t.status, t.cycle, t.complaints), (Status::Archived, 1, 1));
    let mut t = reach(&w, Status::Closed);
    ok(&w, &mut t, satisfied_unresolved(), &revisitor(), t0);
    assert_eq!((t.status, t.cycle), (Status::PendingDispatch, 2));
}

#[test]
fn two_failed_revisit_calls_close_as_deemed_satisfied() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Closed);
    let fail = |o| Command::RevisitFailed {
        outcome: o,
        note: String::new(),
    };
    let out = ok(&w, &mut t, fail(RevisitOutcome::NoAnswer), &revisitor(), t0);
    assert_eq!(events(&out), vec!["revisit_failed"]);
    assert_eq!((t.status, t.failed_revisits), (Status::Closed, 1));
    let out = ok(&w, &mut t, fail(RevisitOutcome::PhoneOff), &revisitor(), t0);
    assert_eq!(events(&out), vec!["revisit_failed", "deemed_satisfied"]);
    assert_eq!(t.status, Status::Archived);
    assert_eq!(t.revisits.len(), 1);
    assert!(t.revisits[0].deemed, "KPIs can tell it from a real answer");
    assert_eq!(t.revisits[0].satisfaction, Satisfaction::Satisfied);
    // A citizen cannot report failed calls; the count restarts with a new cycle.
    let mut t = reach(&w, Status::Closed);
    assert_eq!(
        refused(&w, &mut t, fail(RevisitOutcome::NoAnswer), &citizen(), t0).code(),
        "role"
    );
    ok(
        &w,
        &mut t,
        fail(RevisitOutcome::CallDropped),
        &revisitor(),
        t0,
    );
    let unhappy = Command::Revisit {
        method: RevisitMethod::Phone,
        satisfaction: Satisfaction::Dissatisfied,
        resolution: Resolution::Unresolved,
        note: String::new(),
    };
    ok(&w, &mut t, unhappy, &revisitor(), t0);
    assert_eq!((t.cycle, t.failed_revisits), (2, 0));
    // 0 disables the rule.
    let mut w = World::new();
    w.cfg.failed_revisits_to_close = 0;
    let mut t = reach(&w, Status::Closed);
    for _ in 0..5 {
        ok(&w, &mut t, fail(RevisitOutcome::NoAnswer), &revisitor(), t0);
    }
    assert_eq!(t.status, Status::Closed);
}

#[test]
fn departments_that_led_are_remembered_for_appeals() {
    let w = World::new();
    let t0 = w.t0();
    let mut t = reach(&w, Status::Handling);
    assert_eq!(t.handled_by, vec!["D1".to_string()]);
    let down = Command::PassDown {
        to: "D1a".into(),
        opinion: String::new(),
    };
    ok(&w, &mut t, down, &handler("D1"), t0);
    assert_eq!(t.handled_by, vec!["D1".to_string(), "D1a".to_string()]);
    assert!(
        !t.handled_by.contains(&"D2".to_string()),
        "assisting is not lead"
    );
}
