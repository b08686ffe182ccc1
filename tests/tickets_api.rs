//! The ticket API suite: the real router on 127.0.0.1, driven over HTTP, once on SQLite and
//! once on PostgreSQL (which says SKIPPED when none answers).

use std::time::Duration;

use hotline::store::{now_ms, testing, Db};
use hotline::tickets::api::{self, ApiState};
use hotline::tickets::attachments::{AttachmentConfig, UploadError};
use hotline::tickets::catalogue;
use hotline::tickets::model::Role;
use hotline::tickets::sms::{deliver_citizen_sms, FileSink};
use hotline::tickets::store::{Rules, TicketStore};
use hotline::web::auth::{self, Auth, AuthConfig, NewUser};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

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
        let http = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Api {
            base: format!("http://{addr}/api/v1"),
            http,
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
        let (status, body) = self
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"username": name, "password": format!("{name}-secret-pw")})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with(method, path, token, body, &[]).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.parse().unwrap(), &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
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
            assert_eq!(
                ctype, "application/problem+json",
                "{method} {path}: errors are problem+json: {text}"
            );
        }
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn act(&self, token: &str, id: &str, action: Value) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/tickets/{id}/actions"),
            Some(token),
            Some(action),
        )
        .await
    }
}

fn assert_problem(res: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(res.0.as_u16(), status, "{}", res.1);
    assert_eq!(res.1["status"], status);
    assert_eq!(res.1["code"], code, "{}", res.1);
    assert!(res.1["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

async fn suite(db: Db, label: &str) {
    let api = Api::start(db.clone()).await;
    let agent = api.user("agent1", &[Role::Agent], "6109", None).await;
    let disp = api.user("disp1", &[Role::Dispatcher], "6109", None).await;
    let rev1 = api.user("rev1", &[Role::Reviewer], "6109", None).await;
    let rev2 = api.user("rev2", &[Role::Reviewer], "6109", None).await;
    let revisitor = api.user("rv1", &[Role::Revisitor], "6109", None).await;
    let lc = api
        .user("lc1", &[Role::DeptHandler], "", Some("HB-LC"))
        .await;
    let hb = api.user("hb1", &[Role::DeptHandler], "", Some("HB")).await;
    let zjj = api
        .user("zjj1", &[Role::DeptHandler], "", Some("AK-ZJJ"))
        .await;
    let outsider = api.user("hy-agent", &[Role::Agent], "610921", None).await;

    // --- login, lockout, tokens
    assert_problem(
        &api.call("GET", "/auth/me", None, None).await,
        401,
        "unauthorized",
    );
    assert_problem(
        &api.call("GET", "/auth/me", Some(&"0".repeat(64)), None)
            .await,
        401,
        "unauthorized",
    );
    let (s, me) = api.call("GET", "/auth/me", Some(&agent), None).await;
    assert_eq!(
        (s, me["username"].as_str()),
        (StatusCode::OK, Some("agent1"))
    );
    api.user("victim", &[Role::Agent], "6109", None).await;
    let bad = json!({"username": "victim", "password": "wrong-password"});
    for _ in 0..4 {
        assert_problem(
            &api.call("POST", "/auth/login", None, Some(bad.clone()))
                .await,
            401,
            "unauthorized",
        );
    }
    assert_problem(
        &api.call("POST", "/auth/login", None, Some(bad.clone()))
            .await,
        423,
        "locked",
    );
    let good = json!({"username": "victim", "password": "victim-secret-pw"});
    assert_problem(
        &api.call("POST", "/auth/login", None, Some(good.clone()))
            .await,
        423,
        "locked",
    );
    // An hour later the right password works again.
    assert!(api
        .auth
        .login(
            "victim",
            "victim-secret-pw",
            now_ms() + auth::LOCKOUT_MS + 1
        )
        .await
        .is_ok());
    assert_problem(
        &api.call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "whatever1"})),
        )
        .await,
        401,
        "unauthorized",
    );
    assert_problem(
        &api.call("POST", "/auth/login", None, Some(json!({"user": "x"})))
            .await,
        422,
        "body",
    );
    // Tokens expire, and logout revokes them.
    let session = api
        .auth
        .login("rv1", "rv1-secret-pw", now_ms())
        .await
        .unwrap();
    assert!(api
        .auth
        .authenticate(&session.token, session.expires_ms + 1)
        .await
        .is_err());
    let (s, _) = api
        .call("POST", "/auth/logout", Some(&session.token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_problem(
        &api.call("GET", "/auth/me", Some(&session.token), None)
            .await,
        401,
        "unauthorized",
    );

    // --- create with an idempotency key
    let form = json!({
        "title": "东关社区路灯不亮", "content": "东关社区主干道路灯连续三晚不亮，请尽快修理",
        "request_type": "complaint", "category_code": "010101", "region_code": "610902001001",
        "address": "东关正街12号", "requester_name": "张三", "contact_phone": "13800000001", "caller_number": "13800000001",
        "tags": ["路灯"]
    });
    let key = [("Idempotency-Key", "req-0001")];
    let (s, t1) = api
        .call_with("POST", "/tickets", Some(&agent), Some(form.clone()), &key)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t1}");
    assert_eq!(t1["status"], "accepted");
    assert_eq!(t1["number"].as_str().unwrap().len(), 14);
    let (s, again) = api
        .call_with("POST", "/tickets", Some(&agent), Some(form.clone()), &key)
        .await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &t1["id"]));
    let other_agent = api.user("agent2", &[Role::Agent], "6109", None).await;
    assert_problem(
        &api.call_with(
            "POST",
            "/tickets",
            Some(&other_agent),
            Some(form.clone()),
            &key,
        )
        .await,
        409,
        "idempotency_key",
    );
    let id = t1["id"].as_str().unwrap().to_string();

    // --- bad creations
    let mut bad_form = form.clone();
    bad_form["category_code"] = json!("9999");
    assert_problem(
        &api.call("POST", "/tickets", Some(&agent), Some(bad_form))
            .await,
        422,
        "category",
    );
    assert_problem(
        &api.call(
            "POST",
            "/tickets",
            Some(&agent),
            Some(json!({"content": "x"})),
        )
        .await,
        422,
        "body",
    );
    assert_problem(
        &api.call(
            "POST",
            "/tickets",
            Some(&agent),
            Some(json!({"title": "x", "colour": "red"})),
        )
        .await,
        422,
        "body",
    );
    assert_problem(
        &api.call("POST", "/tickets", Some(&outsider), Some(form.clone()))
            .await,
        403,
        "area",
    );
    assert_problem(
        &api.call("POST", "/tickets", Some(&disp), Some(form.clone()))
            .await,
        403,
        "role",
    );
    let mut long = form.clone();
    long["title"] = json!("长".repeat(201));
    assert_problem(
        &api.call("POST", "/tickets", Some(&agent), Some(long)).await,
        422,
        "too_long",
    );

    // --- the lifecycle over HTTP, with refusals
    // Not yet dispatched to it: the department cannot even see the ticket.
    assert_problem(
        &api.act(&lc, &id, json!({"action": "sign_for"})).await,
        404,
        "not_found",
    );
    let (s, t) = api
        .act(&agent, &id, json!({"action": "send_for_review"}))
        .await;
    assert_eq!(
        (s, t["status"].as_str()),
        (StatusCode::OK, Some("pending_dispatch"))
    );
    assert_problem(
        &api.act(&agent, &id, json!({"action": "dispatch", "lead": "HB-LC"}))
            .await,
        403,
        "role",
    );
    assert_problem(
        &api.act(&disp, &id, json!({"action": "dispatch", "lead": "NOPE"}))
            .await,
        422,
        "department",
    );
    assert_problem(
        &api.act(&disp, &id, json!({"action": "fly"})).await,
        422,
        "body",
    );
    let (s, t) = api.act(&disp, &id, json!({"action": "dispatch", "lead": "HB-LC", "assisting": ["AK-ZJJ"], "opinion": "请核实处理"})).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        (t["status"].as_str(), t["lead_dept"].as_str()),
        (Some("dispatched"), Some("HB-LC"))
    );
    assert!(t["due_ms"].as_i64().unwrap() > now_ms());
    assert_eq!(t["sla_state"], "normal");
    assert_problem(
        &api.act(&zjj, &id, json!({"action": "sign_for"})).await,
        403,
        "department",
    );
    assert_problem(
        &api.act(&disp, &id, json!({"action": "dispatch", "lead": "HB-LC"}))
            .await,
        409,
        "state",
    );
    // The street returns it: it climbs to the county (the via level of the dispatch).
    let (s, t) = api
        .act(
            &lc,
            &id,
            json!({"action": "return", "code": "not_our_duty", "reason": "非本街道职责"}),
        )
        .await;
    assert_eq!(
        (s, t["status"].as_str(), t["lead_dept"].as_str()),
        (StatusCode::OK, Some("handling"), Some("HB"))
    );
    assert_problem(
        &api.act(&hb, &id, json!({"action": "pass_down", "to": "AK-ZJJ"}))
            .await,
        422,
        "pass_down",
    );
    let (s, _) = api
        .act(
            &hb,
            &id,
            json!({"action": "pass_down", "to": "HB-LC", "opinion": "请街道落实"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    api.act(&lc, &id, json!({"action": "sign_for"})).await;
    let (s, _) = api
        .act(
            &zjj,
            &id,
            json!({"action": "assist_reply", "text": "已安排配合"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, t) = api
        .act(&lc, &id, json!({"action": "reply", "result": "已更换灯泡"}))
        .await;
    assert_eq!((s, t["lead_dept"].as_str()), (StatusCode::OK, Some("HB")));
    let (s, t) = api
        .act(
            &hb,
            &id,
            json!({"action": "reply", "result": "街道已修复路灯"}),
        )
        .await;
    assert_eq!(
        (s, t["status"].as_str()),
        (StatusCode::OK, Some("reviewing"))
    );
    api.act(&rev1, &id, json!({"action": "approve_result"}))
        .await;
    assert_problem(
        &api.act(&rev1, &id, json!({"action": "approve_result"}))
            .await,
        409,
        "same_reviewer",
    );
    let (_, t) = api
        .act(&rev2, &id, json!({"action": "approve_result"}))
        .await;
    assert_eq!(t["status"], "closed");
    let (_, t) = api
        .act(&revisitor, &id, json!({"action": "revisit", "method": "phone", "satisfaction": "satisfied", "resolution": "resolved"}))
        .await;
    assert_eq!(t["status"], "archived");
    let (_, t) = api
        .act(
            &agent,
            &id,
            json!({"action": "add_note", "text": "市民来电致谢"}),
        )
        .await;
    assert_eq!(t["status"], "archived");

    // --- history: append-only, ordered, complete
    let (s, h) = api
        .call("GET", &format!("/tickets/{id}/history"), Some(&agent), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "create",
            "send_for_review",
            "dispatch",
            "return",
            "pass_down",
            "sign_for",
            "assist_reply",
            "lower_reply",
            "reply",
            "assist_closed",
            "approve_result",
            "approve_result",
            "revisit",
            "add_note"
        ]
    );
    let seqs: Vec<i64> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert_eq!(h[2]["detail"]["chain"], json!(["HB", "HB-LC"]));
    assert_eq!(
        (h[3]["from"].as_str(), h[3]["to"].as_str()),
        (Some("dispatched"), Some("handling"))
    );
    let revisits: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM revisits")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(revisits, 1);

    // --- area and department scope on reads
    assert_problem(
        &api.call("GET", &format!("/tickets/{id}"), Some(&outsider), None)
            .await,
        404,
        "not_found",
    );
    assert_problem(
        &api.act(&outsider, &id, json!({"action": "add_note", "text": "x"}))
            .await,
        404,
        "not_found",
    );
    let (_, t) = api
        .call("GET", &format!("/tickets/{id}"), Some(&hb), None)
        .await;
    assert_eq!(t["lead_dept"], "HB");

    // --- edit with before/after; refused once dispatched
    let (_, t2) = api.call("POST", "/tickets", Some(&agent), Some(json!({"title": "物业乱收费", "category_code": "010201", "region_code": "610902002", "caller_number": "13800000002", "confidential": true, "requester_name": "李四"}))).await;
    let id2 = t2["id"].as_str().unwrap().to_string();
    let (s, e) = api
        .call(
            "PATCH",
            &format!("/tickets/{id2}"),
            Some(&agent),
            Some(json!({"title": "物业违规收费", "urgency": "urgent"})),
        )
        .await;
    assert_eq!(
        (s, e["title"].as_str(), e["urgency"].as_str()),
        (StatusCode::OK, Some("物业违规收费"), Some("urgent"))
    );
    let (_, h) = api
        .call(
            "GET",
            &format!("/tickets/{id2}/history"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(h[1]["action"], "edit");
    assert_eq!(
        h[1]["detail"]["title"],
        json!({"before": "物业乱收费", "after": "物业违规收费"})
    );
    api.act(&disp, &id2, json!({"action": "dispatch", "lead": "HB-XC"}))
        .await;
    assert_problem(
        &api.call(
            "PATCH",
            &format!("/tickets/{id2}"),
            Some(&agent),
            Some(json!({"title": "x"})),
        )
        .await,
        409,
        "state",
    );
    // Confidential: the department sees "市民", the centre sees the name.
    let xc = api
        .user("xc1", &[Role::DeptHandler], "", Some("HB-XC"))
        .await;
    let (_, seen) = api
        .call("GET", &format!("/tickets/{id2}"), Some(&xc), None)
        .await;
    assert_eq!(
        (
            seen["requester_name"].as_str(),
            seen["caller_number"].as_str()
        ),
        (Some("市民"), Some(""))
    );
    let (_, seen) = api
        .call("GET", &format!("/tickets/{id2}"), Some(&agent), None)
        .await;
    assert_eq!(seen["requester_name"], "李四");
    // Urgent: 1 working hour to sign, 2 working days to handle.
    assert!(seen["due_ms"].as_i64().unwrap() - now_ms() <= 5 * 86_400_000);

    // --- lists: filters, pagination, department scope
    for i in 0..3 {
        let mut f = form.clone();
        f["title"] = json!(format!("噪声扰民{i}"));
        f["category_code"] = json!("0501");
        f["caller_number"] = json!("13900000003");
        api.call("POST", "/tickets", Some(&agent), Some(f)).await;
    }
    let (s, page) = api
        .call(
            "GET",
            "/tickets?caller_number=13900000003&per_page=2&page=2",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            page["total"].as_i64(),
            page["items"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    let (_, page) = api
        .call("GET", "/tickets?status=archived", Some(&agent), None)
        .await;
    assert_eq!(page["total"], 1);
    let (_, page) = api
        .call(
            "GET",
            "/tickets?category=05&region=610902",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(page["total"], 3);
    let (_, page) = api.call("GET", "/tickets", Some(&xc), None).await;
    assert_eq!(page["total"], 1, "a department sees only its own tickets");
    let (_, page) = api.call("GET", "/tickets", Some(&outsider), None).await;
    assert_eq!(page["total"], 0, "another county sees none of these");
    assert_problem(
        &api.call("GET", "/tickets?page=abc", Some(&agent), None)
            .await,
        400,
        "bad_request",
    );
    let number = t1["number"].as_str().unwrap();
    let (_, page) = api
        .call(
            "GET",
            &format!("/tickets?number={number}"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(page["items"][0]["id"].as_str(), Some(id.as_str()));

    // --- merge a duplicate under the master
    let (_, dup) = api
        .call("POST", "/tickets", Some(&agent), Some(form.clone()))
        .await;
    let dup_id = dup["id"].as_str().unwrap();
    let (_, m) = api
        .act(
            &agent,
            dup_id,
            json!({"action": "merge_into", "master": id2}),
        )
        .await;
    assert_eq!(
        (m["status"].as_str(), m["master_id"].as_str()),
        (Some("merged"), Some(id2.as_str()))
    );
    let (_, h) = api
        .call(
            "GET",
            &format!("/tickets/{id2}/history"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(
        h.as_array().unwrap().last().unwrap()["action"],
        "duplicate_merged"
    );
    assert_problem(
        &api.act(
            &agent,
            &id2,
            json!({"action": "merge_into", "master": "nope"}),
        )
        .await,
        422,
        "master",
    );

    // --- SLA timers in the store: run at a time past every deadline
    let ran = api
        .store
        .run_due_timers(now_ms() + 40 * 86_400_000, 100)
        .await
        .unwrap();
    assert!(ran >= 1);
    let (_, t) = api
        .call("GET", &format!("/tickets/{id2}"), Some(&agent), None)
        .await;
    assert_eq!(t["overdue"], true);
    let (_, h) = api
        .call(
            "GET",
            &format!("/tickets/{id2}/history"),
            Some(&agent),
            None,
        )
        .await;
    let warnings: Vec<String> = h
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "sla_warning")
        .map(|e| {
            format!(
                "{}:{}",
                e["detail"]["deadline"].as_str().unwrap(),
                e["detail"]["state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(warnings, vec!["sign_for:overdue", "handle:overdue"]);
    let (_, page) = api
        .call("GET", "/tickets?overdue=true", Some(&agent), None)
        .await;
    assert_eq!(page["total"], 1);
    let notes: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM notifications WHERE template = 'sla_warning'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(notes, 2);

    // --- submit needs the fields a draft may lack
    let (_, d) = api
        .call(
            "POST",
            "/tickets",
            Some(&agent),
            Some(json!({"title": "", "draft": true})),
        )
        .await;
    assert_eq!(d["status"], "draft");
    assert_problem(
        &api.act(
            &agent,
            d["id"].as_str().unwrap(),
            json!({"action": "submit"}),
        )
        .await,
        422,
        "required",
    );

    // --- screen pop with history and flags
    for i in 0..20 {
        sqlx::query("INSERT INTO cdr_calls (call_id, direction, caller, callee, start_ms, end_ms, sip_code, hangup_side, hangup_cause) VALUES ($1, 'inbound', '13900000003', '12345', $2, $2, 200, 'caller', 'normal')")
            .bind(format!("old-{i}"))
            .bind(now_ms() - i * 86_400_000)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let call = json!({"call_id": "call-1", "caller_number": "13900000003", "did": "12345", "skill_group": "G1", "recording_id": "rec-1"});
    let (s, pop) = api
        .call("POST", "/screen-pop", Some(&agent), Some(call.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{pop}");
    assert_eq!(pop["ticket"]["status"], "draft");
    assert_eq!(pop["ticket"]["caller_number"], "13900000003");
    assert_eq!(pop["history"].as_array().unwrap().len(), 3);
    assert_eq!(
        (pop["calls_total"].as_i64(), pop["calls_30d"].as_i64()),
        (Some(20), Some(20))
    );
    assert_eq!(pop["flags"]["frequent_caller"], true);
    assert_eq!(
        pop["flags"]["repeated_requests"],
        json!([{"category_code": "0501", "count": 3}])
    );
    let (s, again) = api
        .call("POST", "/screen-pop", Some(&agent), Some(call))
        .await;
    assert_eq!(
        (s, &again["ticket"]["id"]),
        (StatusCode::OK, &pop["ticket"]["id"])
    );
    let linked: (String, String) = {
        let r: (String, String) =
            sqlx::query_as("SELECT call_id, recording_id FROM ticket_calls WHERE ticket_id = $1")
                .bind(pop["ticket"]["id"].as_str().unwrap())
                .fetch_one(&db.pool)
                .await
                .unwrap();
        r
    };
    assert_eq!(linked, ("call-1".to_string(), "rec-1".to_string()));
    let (_, quiet) = api
        .call(
            "POST",
            "/screen-pop",
            Some(&agent),
            Some(json!({"call_id": "call-2", "caller_number": "13700000000"})),
        )
        .await;
    assert_eq!(
        (
            quiet["flags"]["frequent_caller"].as_bool(),
            quiet["history"].as_array().unwrap().len()
        ),
        (Some(false), 0)
    );
    assert_problem(
        &api.call(
            "POST",
            "/screen-pop",
            Some(&agent),
            Some(json!({"call_id": "", "caller_number": "1"})),
        )
        .await,
        422,
        "call",
    );

    // --- dispatch suggestions
    let (_, sug) = api
        .call(
            "GET",
            &format!("/tickets/{id}/suggestions"),
            Some(&agent),
            None,
        )
        .await;
    let sug = sug.as_array().unwrap();
    assert!(!sug.is_empty() && sug.len() <= 3);
    assert_eq!(sug[0]["department_id"], "HB-LC", "{sug:?}");
    assert!(sug[0]["reasons"]
        .as_array()
        .unwrap()
        .contains(&json!("rule")));

    // --- catalogues, calendar, OpenAPI
    let (_, regions) = api
        .call("GET", "/regions?parent=610902", Some(&agent), None)
        .await;
    assert_eq!(regions.as_array().unwrap().len(), 3);
    let (_, cats) = api.call("GET", "/categories", Some(&agent), None).await;
    assert!(cats.as_array().unwrap().iter().any(|c| c["level"] == 5));
    let (_, depts) = api.call("GET", "/departments", Some(&agent), None).await;
    assert!(depts
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == "HB-LC" && d["parent"] == "HB"));
    let (_, cal) = api.call("GET", "/calendar/2026", Some(&agent), None).await;
    assert_eq!(
        (cal["working_days"].as_i64(), cal["loaded"].as_bool()),
        (Some(248), Some(true))
    );
    assert_eq!(cal["holidays"].as_array().unwrap().len(), 7);
    let (s, doc) = api.call("GET", "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/tickets",
        "/tickets/{id}/actions",
        "/screen-pop",
        "/auth/login",
        "/calendar/{year}",
        "/kb/search",
        "/satisfaction/{token}",
        "/tickets/{id}/attachments",
    ] {
        assert!(doc["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }
    attachments_and_satisfaction(&api, &db, &agent, &disp, &rev1, &rev2, &outsider).await;
    knowledge_base(&api, &agent, &rev1, &rev2, &lc).await;
    eprintln!("ticket API suite passed on {label}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_suite_on_sqlite() {
    suite(testing::sqlite().await, "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_suite_on_postgres() {
    match testing::postgres("tickets_api").await {
        Some(db) => suite(db, "PostgreSQL").await,
        None => eprintln!("SKIPPED: ticket API suite on PostgreSQL (no server)"),
    }
}

async fn attachments_and_satisfaction(
    api: &Api,
    db: &Db,
    agent: &str,
    disp: &str,
    rev1: &str,
    rev2: &str,
    outsider: &str,
) {
    use sha2::Digest;
    let form = json!({"title": "食品过期", "content": "超市售卖过期食品", "category_code": "040101", "region_code": "610902002001", "contact_phone": "13600000009"});
    let (_, t) = api.call("POST", "/tickets", Some(agent), Some(form)).await;
    let id = t["id"].as_str().unwrap().to_string();

    // --- attachments: streamed, hashed, bounded
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let url = format!("{}/tickets/{id}/attachments?name=photo%201.jpg", api.base);
    let resp = api
        .http
        .post(&url)
        .bearer_auth(agent)
        .header("content-type", "image/jpeg")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let att: Value = resp.json().await.unwrap();
    assert_eq!(att["sha256"], hex::encode(sha2::Sha256::digest(&data)));
    assert_eq!(
        (att["size_bytes"].as_i64(), att["file_name"].as_str()),
        (Some(300_000), Some("photo 1.jpg"))
    );
    let resp = api
        .http
        .get(format!(
            "{}/attachments/{}",
            api.base,
            att["id"].as_str().unwrap()
        ))
        .bearer_auth(agent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), data);
    // A declared length over the limit is refused before any body byte is read (raw HTTP, so
    // the client is not still writing when the server answers).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = api
            .base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/v1/tickets/{id}/attachments?name=big.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {agent}\r\nContent-Length: 209715201\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut resp = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut resp)).await;
        let resp = String::from_utf8_lossy(&resp);
        assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
        assert!(
            resp.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{resp}"
        );
    }
    let resp = api
        .http
        .post(&url)
        .bearer_auth(outsider)
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = api
        .http
        .post(format!("{}/tickets/{id}/attachments?name=..", api.base))
        .bearer_auth(agent)
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    // A body without a declared length is cut off at the limit while streaming, leaving no file.
    let me = api
        .auth
        .user_by_name("agent1")
        .await
        .unwrap()
        .unwrap()
        .actor();
    let chunks = futures::stream::iter(
        (0..20).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 64 * 1024]))),
    );
    let res = api
        .store
        .upload(
            &api.state.files,
            &id,
            &me,
            "big.bin",
            "application/octet-stream",
            chunks,
            now_ms(),
        )
        .await;
    assert!(matches!(res, Err(UploadError::TooLarge(_))));
    let files = std::fs::read_dir(api.state.files.root.join(&id))
        .unwrap()
        .count();
    assert_eq!(files, 1, "only the accepted upload stays on disk");
    let (_, list) = api
        .call(
            "GET",
            &format!("/tickets/{id}/attachments"),
            Some(agent),
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, h) = api
        .call("GET", &format!("/tickets/{id}/history"), Some(agent), None)
        .await;
    assert!(h
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "attachment_added" && e["detail"]["sha256"] == att["sha256"]));

    // --- satisfaction by the signed link the revisit SMS carries
    let scm = api
        .user("scm1", &[Role::DeptHandler], "", Some("AK-SCJ"))
        .await;
    api.act(disp, &id, json!({"action": "dispatch", "lead": "AK-SCJ"}))
        .await;
    api.act(&scm, &id, json!({"action": "sign_for"})).await;
    api.act(
        &scm,
        &id,
        json!({"action": "reply", "result": "已责令下架并处罚"}),
    )
    .await;
    api.act(rev1, &id, json!({"action": "approve_result"}))
        .await;
    let (_, t) = api
        .act(rev2, &id, json!({"action": "approve_result"}))
        .await;
    assert_eq!(t["status"], "closed");
    let sms_file = api._dir.path().join("sms.jsonl");
    let sink = FileSink {
        path: sms_file.clone(),
    };
    let sent = deliver_citizen_sms(
        &api.store,
        &sink,
        &api.state.links,
        "https://12345.example/r/",
        100,
        now_ms(),
    )
    .await
    .unwrap();
    assert!(sent >= 1);
    assert_eq!(
        deliver_citizen_sms(
            &api.store,
            &sink,
            &api.state.links,
            "https://12345.example/r/",
            100,
            now_ms()
        )
        .await
        .unwrap(),
        0,
        "each SMS goes once"
    );
    let log = std::fs::read_to_string(&sms_file).unwrap();
    let sms: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["ticket_id"] == id.as_str())
        .expect("an SMS for the ticket");
    assert_eq!(sms["to"], "13600000009");
    let text = sms["text"].as_str().unwrap();
    let token = text
        .rsplit("https://12345.example/r/")
        .next()
        .unwrap()
        .to_string();
    let (s, page) = api
        .call("GET", &format!("/satisfaction/{token}"), None, None)
        .await;
    assert_eq!(
        (s, page["already_rated"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_problem(
        &api.call("GET", &format!("/satisfaction/{token}x"), None, None)
            .await,
        403,
        "bad_link",
    );
    let rating = json!({"agent_service": 5, "seat_service": 4, "result": 5, "resolution": "resolved", "comment": "处理及时"});
    assert_problem(&api.call("POST", &format!("/satisfaction/{token}"), None, Some(json!({"agent_service": 6, "seat_service": 4, "result": 5, "resolution": "resolved"}))).await, 422, "rating");
    let (s, _) = api
        .call(
            "POST",
            &format!("/satisfaction/{token}"),
            None,
            Some(rating.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, t) = api
        .call("GET", &format!("/tickets/{id}"), Some(agent), None)
        .await;
    assert_eq!(t["status"], "archived");
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
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT agent_service, seat_service, result FROM satisfaction WHERE ticket_id = $1",
    )
    .bind(&id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row, (5, 4, 5));
    let (_, h) = api
        .call("GET", &format!("/tickets/{id}/history"), Some(agent), None)
        .await;
    let last = h.as_array().unwrap().last().unwrap();
    assert_eq!(
        (
            last["action"].as_str(),
            last["actor"].as_str(),
            last["detail"]["method"].as_str()
        ),
        (Some("revisit"), Some("citizen"), Some("sms"))
    );
}

async fn knowledge_base(api: &Api, agent: &str, rev1: &str, rev2: &str, dept: &str) {
    let new =
        |title: &str, body: &str| json!({"title": title, "body": body, "category_code": "02"});
    let (s, a) = api.call("POST", "/kb", Some(agent), Some(new("社保卡补办流程", "社会保障卡丢失后，可携带身份证到人力资源和社会保障局窗口补办，一般需要七个工作日。"))).await;
    assert_eq!(
        (s, a["status"].as_str(), a["version"].as_i64()),
        (StatusCode::CREATED, Some("draft"), Some(1))
    );
    let (_, b) = api
        .call(
            "POST",
            "/kb",
            Some(agent),
            Some(new(
                "路灯不亮怎么办",
                "路灯不亮可拨打12345热线反映，由住房和城乡建设局安排维修。",
            )),
        )
        .await;
    let (_, c) = api
        .call(
            "POST",
            "/kb",
            Some(agent),
            Some(new("内部草稿", "社保卡 草稿 内容 secret")),
        )
        .await;
    let (a, b, c) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
        c["id"].as_str().unwrap().to_string(),
    );
    assert_problem(
        &api.call("POST", "/kb", Some(dept), Some(new("x", "y")))
            .await,
        403,
        "role",
    );
    assert_problem(
        &api.call(
            "POST",
            "/kb",
            Some(agent),
            Some(json!({"title": "", "body": "y"})),
        )
        .await,
        422,
        "title",
    );
    let search = |q: &str| format!("/kb/search?q={}", q);
    let (_, hits) = api.call("GET", &search("社保卡"), Some(agent), None).await;
    assert_eq!(hits, json!([]), "drafts are not searchable");

    let step = |action: &str| json!({"action": action, "opinion": "ok"});
    let (_, x) = api
        .call(
            "POST",
            &format!("/kb/{a}/actions"),
            Some(agent),
            Some(step("submit")),
        )
        .await;
    assert_eq!(x["status"], "review");
    assert_problem(
        &api.call(
            "POST",
            &format!("/kb/{a}/actions"),
            Some(agent),
            Some(step("approve")),
        )
        .await,
        403,
        "role",
    );
    assert_problem(
        &api.call(
            "PATCH",
            &format!("/kb/{a}"),
            Some(agent),
            Some(new("改", "改")),
        )
        .await,
        409,
        "state",
    );
    let (_, x) = api
        .call(
            "POST",
            &format!("/kb/{a}/actions"),
            Some(rev1),
            Some(step("approve")),
        )
        .await;
    assert_eq!(
        (x["status"].as_str(), x["reviewer"].as_str().is_some()),
        (Some("published"), true)
    );
    assert_problem(
        &api.call(
            "POST",
            &format!("/kb/{a}/actions"),
            Some(rev1),
            Some(step("approve")),
        )
        .await,
        409,
        "state",
    );
    // B: rejected once, edited, approved by another reviewer.
    api.call(
        "POST",
        &format!("/kb/{b}/actions"),
        Some(agent),
        Some(step("submit")),
    )
    .await;
    let (_, x) = api
        .call(
            "POST",
            &format!("/kb/{b}/actions"),
            Some(rev1),
            Some(step("reject")),
        )
        .await;
    assert_eq!(x["status"], "draft");
    let (s, _) = api
        .call(
            "PATCH",
            &format!("/kb/{b}"),
            Some(agent),
            Some(new(
                "路灯不亮怎么办",
                "路灯不亮、路灯损坏可拨打12345热线反映，由住房和城乡建设局安排维修。",
            )),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    api.call(
        "POST",
        &format!("/kb/{b}/actions"),
        Some(agent),
        Some(step("submit")),
    )
    .await;
    api.call(
        "POST",
        &format!("/kb/{b}/actions"),
        Some(rev2),
        Some(step("approve")),
    )
    .await;
    // A reviewer cannot approve an article they wrote.
    let (_, own) = api
        .call(
            "POST",
            "/kb",
            Some(rev1),
            Some(new("审核员自己的文章", "内容")),
        )
        .await;
    let own = own["id"].as_str().unwrap();
    api.call(
        "POST",
        &format!("/kb/{own}/actions"),
        Some(rev1),
        Some(step("submit")),
    )
    .await;
    assert_problem(
        &api.call(
            "POST",
            &format!("/kb/{own}/actions"),
            Some(rev1),
            Some(step("approve")),
        )
        .await,
        403,
        "four_eyes",
    );

    // Chinese search: segmented query, ranked, highlighted.
    let (s, hits) = api
        .call("GET", &search("社保卡怎么补办"), Some(agent), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let hits = hits.as_array().unwrap().clone();
    assert!(!hits.is_empty());
    assert_eq!(hits[0]["id"].as_str(), Some(a.as_str()), "{hits:?}");
    assert!(
        hits[0]["snippet"].as_str().unwrap().contains("<mark>"),
        "{hits:?}"
    );
    assert!(hits.iter().all(|h| h["id"] != c.as_str()));
    let (_, hits) = api
        .call("GET", &search("路灯坏了"), Some(agent), None)
        .await;
    assert_eq!(hits[0]["id"].as_str(), Some(b.as_str()), "{hits}");
    if hits.as_array().unwrap().len() > 1 {
        assert!(hits[0]["score"].as_f64() >= hits[1]["score"].as_f64());
    }
    let (_, hits) = api
        .call("GET", &search("火箭发射"), Some(agent), None)
        .await;
    assert_eq!(hits, json!([]));
    let (_, hits) = api
        .call("GET", &search("%22%20OR%20*"), Some(agent), None)
        .await;
    assert!(hits.is_array(), "query syntax is neutralised");

    // Retire takes it out of search; revise starts a new version; history keeps every step.
    api.call(
        "POST",
        &format!("/kb/{a}/actions"),
        Some(rev2),
        Some(step("retire")),
    )
    .await;
    let (_, hits) = api.call("GET", &search("社保卡"), Some(agent), None).await;
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .all(|h| h["id"] != a.as_str()),
        "{hits}"
    );
    let (_, x) = api
        .call(
            "POST",
            &format!("/kb/{a}/actions"),
            Some(agent),
            Some(step("revise")),
        )
        .await;
    assert_eq!(
        (x["status"].as_str(), x["version"].as_i64()),
        (Some("draft"), Some(2))
    );
    let (_, h) = api
        .call("GET", &format!("/kb/{a}/history"), Some(agent), None)
        .await;
    let steps: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        vec!["create", "submit", "approve", "retire", "revise"]
    );
    // Departments read published knowledge only.
    assert_problem(
        &api.call("GET", &format!("/kb/{c}"), Some(dept), None).await,
        404,
        "not_found",
    );
    let (s, _) = api.call("GET", &format!("/kb/{b}"), Some(dept), None).await;
    assert_eq!(s, StatusCode::OK);
}
