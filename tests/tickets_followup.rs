//! The work-order follow-up features over the real router on 127.0.0.1, once on SQLite and once
//! on PostgreSQL (which says SKIPPED when none answers): auto-close of unevaluated tickets by the
//! timer sweep, KPI appeals (申诉), knowledge-base synonyms, and the HTML satisfaction page.

use std::time::Duration;

use hotline::store::{now_ms, testing, Db};
use hotline::tickets::api::{self, ApiState};
use hotline::tickets::appeal::{AppealInput, Indicator};
use hotline::tickets::attachments::AttachmentConfig;
use hotline::tickets::catalogue;
use hotline::tickets::model::Role;
use hotline::tickets::store::{Rules, TicketError, TicketStore};
use hotline::web::auth::{self, Auth, AuthConfig, NewUser};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

struct Api {
    base: String,
    http: Client,
    store: TicketStore,
    auth: Auth,
    state: ApiState,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(db: Db) -> Api {
        catalogue::load_seed(&db).await.expect("seed catalogue");
        let store = TicketStore::new(db.clone(), Rules::default());
        let auth = Auth::new(db, AuthConfig::for_tests());
        let dir = tempfile::tempdir().unwrap();
        let mut state = ApiState::new(store.clone(), auth.clone());
        state.files = AttachmentConfig {
            root: dir.path().join("att"),
            max_bytes: 1024 * 1024,
        };
        let app = axum::Router::new().nest(
            "/api/v1",
            api::router(state.clone()).merge(auth::router(auth.clone())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Api {
            base: format!("http://{addr}/api/v1"),
            http: Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            store,
            auth,
            state,
            _dir: dir,
        }
    }

    async fn user(&self, name: &str, roles: &[Role], scope: &str, dept: Option<&str>) -> String {
        self.auth
            .create_user(NewUser {
                username: name.into(),
                password: format!("{name}-secret-pw"),
                display_name: String::new(),
                roles: roles.to_vec(),
                region_scope: scope.into(),
                department_id: dept.map(Into::into),
            })
            .await
            .expect("create user");
        let (s, b) = self
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"username": name, "password": format!("{name}-secret-pw")})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("http");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.unwrap();
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(ctype, "application/problem+json", "{method} {path}: {text}");
        }
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn act(&self, token: &str, id: &str, action: Value) -> Value {
        let (s, v) = self
            .call(
                "POST",
                &format!("/tickets/{id}/actions"),
                Some(token),
                Some(action.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{action}: {v}");
        v
    }
}

fn assert_problem(res: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(res.0.as_u16(), status, "{}", res.1);
    assert_eq!(res.1["code"], code, "{}", res.1);
}

struct People {
    agent: String,
    disp: String,
    rev: [String; 4],
    scj: String,
    zjj: String,
}

async fn people(api: &Api) -> People {
    People {
        agent: api.user("agent1", &[Role::Agent], "6109", None).await,
        disp: api.user("disp1", &[Role::Dispatcher], "6109", None).await,
        rev: [
            api.user("rev1", &[Role::Reviewer], "6109", None).await,
            api.user("rev2", &[Role::Reviewer], "6109", None).await,
            api.user("rev3", &[Role::Reviewer], "61", None).await,
            api.user("rev-far", &[Role::Reviewer], "6101", None).await,
        ],
        scj: api
            .user("scj1", &[Role::DeptHandler], "", Some("AK-SCJ"))
            .await,
        zjj: api
            .user("zjj1", &[Role::DeptHandler], "", Some("AK-ZJJ"))
            .await,
    }
}

/// A ticket handled by AK-SCJ and approved at both review levels: closed, awaiting evaluation.
async fn closed_ticket(api: &Api, p: &People, title: &str) -> String {
    let form = json!({"title": title, "content": "超市售卖过期食品", "category_code": "040101", "region_code": "610902002001", "contact_phone": "13600000009"});
    let (s, t) = api
        .call("POST", "/tickets", Some(&p.agent), Some(form))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().unwrap().to_string();
    api.act(
        &p.disp,
        &id,
        json!({"action": "dispatch", "lead": "AK-SCJ"}),
    )
    .await;
    api.act(&p.scj, &id, json!({"action": "sign_for"})).await;
    api.act(
        &p.scj,
        &id,
        json!({"action": "reply", "result": "已责令下架"}),
    )
    .await;
    api.act(&p.rev[0], &id, json!({"action": "approve_result"}))
        .await;
    let t = api
        .act(&p.rev[1], &id, json!({"action": "approve_result"}))
        .await;
    assert_eq!(t["status"], "closed");
    id
}

async fn actions(api: &Api, token: &str, id: &str) -> Vec<(String, String)> {
    let (s, h) = api
        .call("GET", &format!("/tickets/{id}/history"), Some(token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    h.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn auto_close(api: &Api, p: &People) {
    let id = closed_ticket(api, p, "自动办结").await;
    let now = now_ms();
    // The sweep before 24 h leaves it alone; after 24 h it archives it, unevaluated.
    api.store
        .run_due_timers(now + 23 * HOUR, 500)
        .await
        .unwrap();
    let (_, t) = api
        .call("GET", &format!("/tickets/{id}"), Some(&p.agent), None)
        .await;
    assert_eq!(t["status"], "closed");
    let ran = api
        .store
        .run_due_timers(now + 25 * HOUR, 500)
        .await
        .unwrap();
    assert!(ran >= 1);
    let (_, t) = api
        .call("GET", &format!("/tickets/{id}"), Some(&p.agent), None)
        .await;
    assert_eq!(t["status"], "archived");
    let h = actions(api, &p.agent, &id).await;
    assert_eq!(
        h.last().unwrap(),
        &("auto_close".to_string(), "system".to_string())
    );
    let revisits: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revisits WHERE ticket_id = $1")
        .bind(&id)
        .fetch_one(&api.store.db.pool)
        .await
        .unwrap();
    assert_eq!(revisits, 0, "未评价 stays unevaluated");
    // The SMS link of that ticket no longer rates it.
    let token = api.state.links.sign(&id, 1, now);
    let rating =
        json!({"agent_service": 5, "seat_service": 5, "result": 5, "resolution": "resolved"});
    assert_problem(
        &api.call(
            "POST",
            &format!("/satisfaction/{token}"),
            None,
            Some(rating),
        )
        .await,
        409,
        "already_rated",
    );
    // Failed revisit calls: two close it as deemed satisfied, recorded as such.
    let id = closed_ticket(api, p, "回访不成功").await;
    let rv = api.user("rv1", &[Role::Revisitor], "6109", None).await;
    let fail = json!({"action": "revisit_failed", "outcome": "no_answer"});
    api.act(&rv, &id, fail.clone()).await;
    let t = api.act(&rv, &id, fail).await;
    assert_eq!(t["status"], "archived");
    let deemed: i64 = sqlx::query_scalar("SELECT deemed FROM revisits WHERE ticket_id = $1")
        .bind(&id)
        .fetch_one(&api.store.db.pool)
        .await
        .unwrap();
    assert_eq!(deemed, 1);
}

async fn appeals(api: &Api, p: &People) {
    let id = closed_ticket(api, p, "申诉").await;
    let path = format!("/tickets/{id}/appeals");
    let body = |i: &str| json!({"indicator": i, "reason": "已按职责办理，市民诉求超出职责范围"});
    // Only a department that led the ticket appeals; others do not even learn it exists.
    assert_problem(
        &api.call("POST", &path, Some(&p.zjj), Some(body("sign_for")))
            .await,
        404,
        "not_found",
    );
    assert_problem(
        &api.call("POST", &path, Some(&p.scj), Some(body("satisfaction")))
            .await,
        409,
        "not_appealable",
    );
    assert_problem(
        &api.call(
            "POST",
            &path,
            Some(&p.scj),
            Some(json!({"indicator": "sign_for", "reason": "x", "evidence": ["nope"]})),
        )
        .await,
        422,
        "evidence",
    );
    assert_problem(
        &api.call(
            "POST",
            &path,
            Some(&p.scj),
            Some(json!({"indicator": "bogus", "reason": "x"})),
        )
        .await,
        422,
        "body",
    );
    // Evidence: the ticket's own attachments, of the kinds source A allows.
    let upload = |name: &str| {
        let url = format!("{}/tickets/{id}/attachments?name={name}", api.base);
        let agent = p.agent.clone();
        async move {
            let r = api
                .http
                .post(url)
                .bearer_auth(agent)
                .body(vec![7u8; 1000])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (pdf, exe) = (upload("proof.pdf").await, upload("tool.exe").await);
    assert_problem(
        &api.call(
            "POST",
            &path,
            Some(&p.scj),
            Some(json!({"indicator": "sign_for", "reason": "x", "evidence": [exe]})),
        )
        .await,
        422,
        "evidence",
    );
    let mut with_evidence = body("sign_for");
    with_evidence["evidence"] = json!([pdf]);
    let (s, a) = api
        .call("POST", &path, Some(&p.scj), Some(with_evidence))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["evidence"], json!([pdf]));
    assert_eq!(
        (a["status"].as_str(), a["stage"].as_i64()),
        (Some("reviewing"), Some(0))
    );
    let aid = a["id"].as_str().unwrap().to_string();
    assert_problem(
        &api.call("POST", &path, Some(&p.scj), Some(body("sign_for")))
            .await,
        409,
        "appeal_pending",
    );
    // The review chain: three stages, three reviewers, in the ticket's area.
    let act = |who: &str, v: Value| {
        let who = who.to_string();
        let aid = aid.clone();
        async move {
            api.call(
                "POST",
                &format!("/appeals/{aid}/actions"),
                Some(&who),
                Some(v),
            )
            .await
        }
    };
    let approve = json!({"action": "approve", "opinion": "同意"});
    assert_problem(&act(&p.scj, approve.clone()).await, 403, "role");
    assert_problem(&act(&p.rev[3], approve.clone()).await, 403, "area");
    let (s, a) = act(&p.rev[0], approve.clone()).await;
    assert_eq!((s, a["stage"].as_i64()), (StatusCode::OK, Some(1)));
    assert_problem(&act(&p.rev[0], approve.clone()).await, 409, "same_reviewer");
    act(&p.rev[1], approve.clone()).await;
    let (_, a) = act(&p.rev[2], approve.clone()).await;
    assert_eq!(a["status"], "granted");
    assert_problem(&act(&p.rev[3], approve.clone()).await, 409, "state");
    assert_eq!(
        api.store.granted_indicators(&id).await.unwrap(),
        vec!["sign_for".to_string()]
    );
    let h = actions(api, &p.agent, &id).await;
    for e in ["appeal_filed", "appeal_approved", "appeal_granted"] {
        assert!(h.iter().any(|(a, _)| a == e), "{e} in the ticket log");
    }
    // Lists: the reviewer's area, the department's own; not another department.
    let (_, l) = api
        .call("GET", "/appeals?status=granted", Some(&p.rev[0]), None)
        .await;
    assert!(l
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == aid.as_str()));
    let (_, l) = api.call("GET", "/appeals", Some(&p.rev[3]), None).await;
    assert!(!l
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == aid.as_str()));
    let (_, l) = api.call("GET", "/appeals", Some(&p.scj), None).await;
    assert!(l
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == aid.as_str()));
    let (_, l) = api.call("GET", "/appeals", Some(&p.zjj), None).await;
    assert!(l.as_array().unwrap().is_empty());
    let (s, l) = api.call("GET", &path, Some(&p.agent), None).await;
    assert_eq!((s, l.as_array().unwrap().len()), (StatusCode::OK, 1));
    assert_problem(
        &api.call("GET", &path, Some(&p.zjj), None).await,
        404,
        "not_found",
    );
    // Rejection, then the second and last attempt on another indicator; withdrawal is free.
    let file = |i: &str| api.call("POST", &path, Some(&p.scj), Some(body(i)));
    let (_, a) = file("return").await;
    let aid = a["id"].as_str().unwrap().to_string();
    let (s, _) = api
        .call(
            "POST",
            &format!("/appeals/{aid}/actions"),
            Some(&p.rev[0]),
            Some(json!({"action": "reject", "opinion": "理由不充分"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, a) = file("return").await;
    let aid = a["id"].as_str().unwrap().to_string();
    let (_, a) = api
        .call(
            "POST",
            &format!("/appeals/{aid}/actions"),
            Some(&p.scj),
            Some(json!({"action": "withdraw"})),
        )
        .await;
    assert_eq!(a["status"], "withdrawn");
    let (_, a) = file("return").await;
    let aid = a["id"].as_str().unwrap().to_string();
    api.call(
        "POST",
        &format!("/appeals/{aid}/actions"),
        Some(&p.rev[1]),
        Some(json!({"action": "reject", "opinion": "维持原判"})),
    )
    .await;
    assert_problem(&file("return").await, 409, "appeal_limit");
    // The window closes at the end of the following month.
    let scj = api
        .auth
        .user_by_name("scj1")
        .await
        .unwrap()
        .unwrap()
        .actor();
    let late = now_ms() + 62 * 24 * HOUR;
    let e = api
        .store
        .file_appeal(
            &id,
            &scj,
            AppealInput {
                indicator: Indicator::Redispatch,
                reason: "迟到的申诉".into(),
                evidence: vec![],
            },
            late,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, TicketError::Refused(r) if r.code() == "appeal_expired"),
        "{e}"
    );
    // Concurrent filings on one indicator: the row lock lets exactly one through.
    let input = || AppealInput {
        indicator: Indicator::DirectClosure,
        reason: "并发".into(),
        evidence: vec![],
    };
    let now = now_ms();
    let (a, b) = tokio::join!(
        api.store.file_appeal(&id, &scj, input(), now),
        api.store.file_appeal(&id, &scj, input(), now)
    );
    let oks = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
    assert_eq!(oks, 1, "{a:?} {b:?}");
}

async fn synonyms(api: &Api, p: &People) {
    let art = json!({"title": "参保登记", "body": "参加社会保险需要携带身份证到人社窗口登记。"});
    let (s, a) = api.call("POST", "/kb", Some(&p.agent), Some(art)).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let kid = a["id"].as_str().unwrap().to_string();
    for (who, step) in [(&p.agent, "submit"), (&p.rev[0], "approve")] {
        let (s, v) = api
            .call(
                "POST",
                &format!("/kb/{kid}/actions"),
                Some(who),
                Some(json!({"action": step})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let search = |q: &str| {
        let url = format!("/kb/search?q={}", urlencode(q));
        async move {
            let (s, v) = api.call("GET", &url, Some(&p.agent), None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v.as_array()
                .unwrap()
                .iter()
                .map(|h| h["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert!(!search("社保").await.contains(&kid), "no synonym yet");
    let group = json!({"main": "社会保险", "words": ["社保", "五险"]});
    assert_problem(
        &api.call("PUT", "/kb/synonyms", Some(&p.agent), Some(group.clone()))
            .await,
        403,
        "role",
    );
    let (s, g) = api
        .call("PUT", "/kb/synonyms", Some(&p.rev[0]), Some(group))
        .await;
    assert_eq!(
        (s, g["words"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    assert!(search("社保").await.contains(&kid), "社保 finds 社会保险");
    assert!(search("五险怎么交").await.contains(&kid));
    // The hit is highlighted on the word the article uses.
    let (_, hits) = api
        .call(
            "GET",
            &format!("/kb/search?q={}", urlencode("社保")),
            Some(&p.agent),
            None,
        )
        .await;
    let snip = hits[0]["snippet"].as_str().unwrap();
    assert!(snip.contains("<mark>"), "{snip}");
    // A word belongs to one group.
    assert_problem(
        &api.call(
            "PUT",
            "/kb/synonyms",
            Some(&p.rev[0]),
            Some(json!({"main": "医疗保险", "words": ["社保"]})),
        )
        .await,
        409,
        "synonym_taken",
    );
    assert_problem(
        &api.call(
            "PUT",
            "/kb/synonyms",
            Some(&p.rev[0]),
            Some(json!({"main": "？？", "words": ["社保"]})),
        )
        .await,
        422,
        "synonyms",
    );
    let (_, all) = api.call("GET", "/kb/synonyms", Some(&p.agent), None).await;
    assert_eq!(
        all,
        json!([{"main": "社会保险", "words": ["五险", "社保"]}])
    );
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/kb/synonyms/{}", urlencode("社会保险")),
            Some(&p.rev[0]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(!search("社保").await.contains(&kid));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Words most articles contain are left out of a search once the base is big enough, using the
/// document counts each engine keeps (FTS5's vocabulary; triggers on PostgreSQL).
async fn common_words(api: &Api) {
    use hotline::tickets::kb::{ArticleInput, KbAction};
    let kb = api.state.kb.clone();
    let agent = api
        .auth
        .user_by_name("agent1")
        .await
        .unwrap()
        .unwrap()
        .actor();
    let rev = api
        .auth
        .user_by_name("rev1")
        .await
        .unwrap()
        .unwrap()
        .actor();
    let docs = |w: &'static str| {
        let db = api.store.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT docs FROM kb_terms WHERE term = $1")
                .bind(w)
                .fetch_optional(&db.pool)
                .await
                .unwrap()
                .unwrap_or(0)
        }
    };
    let before = docs("办理").await;
    let mut ids = Vec::new();
    for i in 0..24 {
        let body = if i == 7 {
            "住房公积金提取需要到窗口办理。".to_string()
        } else {
            format!("第{i}项业务可到政务服务中心窗口办理。")
        };
        let a = kb
            .create(
                &agent,
                ArticleInput {
                    title: format!("办事指南{i}"),
                    body,
                    category_code: String::new(),
                },
                now_ms(),
            )
            .await
            .unwrap();
        kb.act(&a.id, &agent, KbAction::Submit, "", now_ms())
            .await
            .unwrap();
        kb.act(&a.id, &rev, KbAction::Approve, "", now_ms())
            .await
            .unwrap();
        ids.push(a.id);
    }
    assert_eq!(docs("办理").await, before + 24);
    // 办理 is in 24 of 25 articles: only 公积金 decides, so one hit instead of a full page.
    let hits = kb.search("公积金怎么办理", 10).await.unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].id, ids[7]);
    // Alone, a common word is still searched.
    assert_eq!(kb.search("办理", 10).await.unwrap().len(), 10);
    // Retiring takes the article out of the counts.
    kb.act(&ids[0], &rev, KbAction::Retire, "", now_ms())
        .await
        .unwrap();
    assert_eq!(docs("办理").await, before + 23);
    // The index followed the retire at once, and a restart (an index rebuilt from the
    // database) answers exactly as the live one.
    let guide = kb.search("办事指南", 50).await.unwrap();
    assert_eq!(guide.len(), 23, "{guide:?}");
    assert!(!guide.iter().any(|h| h.id == ids[0]));
    let restarted = hotline::tickets::kb::KnowledgeBase::new(api.store.db.clone());
    for q in [
        "公积金怎么办理",
        "办理",
        "办事指南",
        "政务服务中心窗口",
        "社保",
        "社会保险",
    ] {
        assert_eq!(
            kb.search(q, 50).await.unwrap(),
            restarted.search(q, 50).await.unwrap(),
            "{q}"
        );
    }
}

async fn rating_html(api: &Api, p: &People) {
    let id = closed_ticket(api, p, "<script>标题</script>").await;
    let token = api.state.links.sign(&id, 1, now_ms());
    let url = format!("{}/satisfaction/{token}", api.base);
    let get = api
        .http
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert!(get.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(get.headers()["referrer-policy"], "no-referrer");
    assert_eq!(get.headers()["cache-control"], "no-store");
    let html = get.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""));
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
    // A post with a choice missing shows the form again with the reason.
    let partial = [
        ("agent_service", "5"),
        ("seat_service", "4"),
        ("resolution", "resolved"),
    ];
    let r = api.http.post(&url).form(&partial).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("请为每一项选择") && html.contains("<form"));
    let full = [
        ("agent_service", "5"),
        ("seat_service", "4"),
        ("result", "3"),
        ("resolution", "partly"),
        ("comment", "处理得还可以"),
    ];
    let r = api.http.post(&url).form(&full).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("感谢您的评价"));
    let row: (i64, i64, i64, String) = sqlx::query_as(
        "SELECT agent_service, seat_service, result, comment FROM satisfaction WHERE ticket_id = $1",
    )
    .bind(&id)
    .fetch_one(&api.store.db.pool)
    .await
    .unwrap();
    assert_eq!(row, (5, 4, 3, "处理得还可以".to_string()));
    // Rated: posting again is refused, the page says so, and a forged link is refused.
    let r = api.http.post(&url).form(&full).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("已评价"));
    let again = api
        .http
        .get(&url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!again.contains("<form"));
    let r = api
        .http
        .get(format!("{url}x"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("链接无效"));
    let r = api
        .http
        .post(format!("{url}x"))
        .form(&full)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // JSON clients still get JSON.
    let (s, v) = api
        .call("GET", &format!("/satisfaction/{token}"), None, None)
        .await;
    assert_eq!(
        (s, v["already_rated"].as_bool()),
        (StatusCode::OK, Some(true))
    );
}

async fn suite(db: Db, label: &str) {
    let api = Api::start(db).await;
    let p = people(&api).await;
    auto_close(&api, &p).await;
    appeals(&api, &p).await;
    synonyms(&api, &p).await;
    common_words(&api).await;
    rating_html(&api, &p).await;
    let (_, doc) = api.call("GET", "/openapi.json", None, None).await;
    for path in [
        "/tickets/{id}/appeals",
        "/appeals",
        "/appeals/{id}/actions",
        "/kb/synonyms",
        "/kb/synonyms/{main}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    eprintln!("ticket follow-up suite passed on {label}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followup_suite_on_sqlite() {
    suite(testing::sqlite().await, "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followup_suite_on_postgres() {
    match testing::postgres("tickets_followup").await {
        Some(db) => suite(db, "PostgreSQL").await,
        None => eprintln!("SKIPPED: ticket follow-up suite on PostgreSQL (no server)"),
    }
}
