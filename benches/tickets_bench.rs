//! Ticket store benchmarks on a database seeded with N tickets (default 1,000,000):
//! create, query by number, by caller phone, by department and status, a mixed load of
//! concurrent users, and knowledge-base search. Prints latency percentiles and throughput.
//!
//! Seeding 1M rows takes minutes, so it happens once: the SQLite file
//! (`TICKETS_BENCH_DB`, default `target/tickets-bench/seed-<N>.db`) or the PostgreSQL schema
//! (`tickets_bench_<N>`) is kept and reused by later runs, which only check that the last seeded
//! row is there. Benches are not run by CI, so nothing here slows CI down.
//!
//! `TICKETS_BENCH_N` sets N, `TICKETS_BENCH_PG=postgres://...` runs on PostgreSQL instead of a
//! SQLite file, `TICKETS_BENCH_USERS` the concurrent users (default 500),
//! `TICKETS_BENCH_SECS` the mixed-load duration (default 10). `TICKETS_BENCH_ONLY=kb` runs the
//! knowledge-base search alone (no seeding, no ticket phases), e.g. on
//! `TICKETS_BENCH_DB=target/tickets-bench/kb.db`.
//! Run: `cargo bench --bench tickets_bench` (record the output in benches/RESULTS.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::store::{now_ms, Backend, Db};
use hotline::tickets::catalogue;
use hotline::tickets::kb::{ArticleInput, KbAction, KnowledgeBase};
use hotline::tickets::lifecycle::{Command, NewTicket, Ticket};
use hotline::tickets::model::{Actor, RequestType, Role, Urgency};
use hotline::tickets::store::{CreateTicket, ListFilter, Rules, TicketStore};
use rand::{Rng, SeedableRng};
use sqlx::Row;

const DEPTS: [&str; 12] = [
    "AK-ZJJ", "AK-RSJ", "AK-SCJ", "AK-SWJ", "AK-HBJ", "AK-JTJ", "HB", "HB-ZJJ", "HB-RSJ", "HB-LC",
    "HB-XC", "HY-CG",
];
const REGIONS: [&str; 4] = [
    "610902001001",
    "610902001002",
    "610902002001",
    "610921100201",
];
const CATEGORIES: [&str; 8] = [
    "0101010101",
    "010102",
    "010201",
    "020101",
    "020201",
    "030101",
    "040101",
    "0501",
];
const STATUSES: [&str; 6] = [
    "accepted",
    "pending_dispatch",
    "dispatched",
    "handling",
    "closed",
    "archived",
];
const CALLERS: u64 = 200_000;

/// id, number, status, region, category, caller, lead department, created, state JSON.
type SeedRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn admin() -> Actor {
    Actor {
        user_id: "bench".into(),
        roles: vec![Role::Admin],
        region_scope: String::new(),
        department: None,
    }
}

fn pct(mut v: Vec<Duration>, label: &str) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    println!(
        "{label:<28} n={:<6} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        v.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
}

async fn seed(db: &Db, n: u64) {
    let start = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let template = Ticket::new(
        NewTicket {
            id: String::new(),
            region_code: REGIONS[0].into(),
            category_code: CATEGORIES[0].into(),
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            created_by: "seed".into(),
            draft: false,
        },
        0,
    );
    let mut template = serde_json::to_value(&template).unwrap();
    let now = now_ms();
    let batch = 400u64;
    // Resume after an interrupted seeding: rows are committed in id order, batch by batch.
    let mut i: u64 = sqlx::query("SELECT COUNT(*) AS n FROM tickets WHERE id LIKE 'seed-%'")
        .fetch_one(&db.pool)
        .await
        .and_then(|r| r.try_get::<i64, _>("n"))
        .expect("count seeded") as u64;
    for _ in 0..i {
        // Keep the random stream identical to an uninterrupted run.
        let _ = (
            rng.gen_range(0..STATUSES.len()),
            rng.gen_range(0..DEPTS.len()),
            rng.gen_range(0..REGIONS.len()),
            rng.gen_range(0..CATEGORIES.len()),
            rng.gen_range(0..CALLERS),
            rng.gen_range(0..365 * 86_400_000i64),
        );
    }
    while i < n {
        let rows = batch.min(n - i);
        let mut sql = String::from(
            "INSERT INTO tickets (id, number, status, channel, request_type, urgency, confidential, title, content, category_code, \
             region_code, address, requester_name, contact_phone, caller_number, tags, lead_dept, due_ms, overdue, next_timer_ms, \
             master_id, cycle, created_by, created_ms, updated_ms, closed_ms, version, idempotency_key, state_json) VALUES ",
        );
        let mut vals: Vec<SeedRow> = Vec::new();
        for k in 0..rows {
            let seq = i + k;
            let id = format!("seed-{seq:08}");
            let status = STATUSES[rng.gen_range(0..STATUSES.len())];
            let dept = DEPTS[rng.gen_range(0..DEPTS.len())];
            let region = REGIONS[rng.gen_range(0..REGIONS.len())];
            let cat = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
            let caller = format!("139{:08}", rng.gen_range(0..CALLERS));
            let created = now - rng.gen_range(0..365 * 86_400_000i64);
            template["id"] = id.clone().into();
            template["status"] = status.into();
            template["region_code"] = region.into();
            template["category_code"] = cat.into();
            let lead = status != "accepted" && status != "pending_dispatch";
            template["lead"] = if lead {
                dept.into()
            } else {
                serde_json::Value::Null
            };
            template["chain"] = if lead {
                serde_json::json!([dept])
            } else {
                serde_json::json!([])
            };
            vals.push((
                id,
                format!("S{seq:013}"),
                status.into(),
                region.into(),
                cat.into(),
                caller,
                if lead { dept.into() } else { String::new() },
                created,
                template.to_string(),
            ));
        }
        let mut p = 0;
        for (k, _) in vals.iter().enumerate() {
            if k > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, 'phone', 'complaint', 'normal', 0, '路灯不亮请修理', '市民反映小区路灯不亮', ${}, ${}, '', '', '', ${}, '', NULLIF(${}, ''), NULL, 0, NULL, NULL, 1, 'seed', ${}, ${}, NULL, 1, NULL, ${})",
                p + 1, p + 2, p + 3, p + 5, p + 4, p + 6, p + 7, p + 8, p + 8, p + 9
            ));
            p += 9;
        }
        let mut q = sqlx::query(&sql);
        for v in &vals {
            q = q
                .bind(v.0.clone())
                .bind(v.1.clone())
                .bind(v.2.clone())
                .bind(v.3.clone())
                .bind(v.4.clone())
                .bind(v.5.clone())
                .bind(v.6.clone())
                .bind(v.7)
                .bind(v.8.clone());
        }
        q.execute(&db.pool).await.expect("seed insert");
        i += rows;
        if i % 100_000 == 0 {
            eprintln!(
                "seeded {i} tickets in {:.0} s",
                start.elapsed().as_secs_f64()
            );
        }
    }
    // PostgreSQL: VACUUM as after any bulk load (autovacuum would, later), so the visibility map
    // lets counts use index-only scans instead of reading every heap page.
    let analyze = if db.backend == Backend::Sqlite {
        "ANALYZE"
    } else {
        "VACUUM ANALYZE tickets"
    };
    sqlx::query(analyze)
        .execute(&db.pool)
        .await
        .expect("analyze");
    println!(
        "seeded {n} tickets in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes the harness
    }
    let n = env_num("TICKETS_BENCH_N", 1_000_000);
    let users = env_num("TICKETS_BENCH_USERS", 500);
    let secs = env_num("TICKETS_BENCH_SECS", 10);
    let db = match std::env::var("TICKETS_BENCH_PG") {
        Ok(base) => {
            // One schema per N, kept between runs.
            let schema = format!("tickets_bench_{n}");
            let admin = Db::connect(&base).await.expect("connect");
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin.pool)
                .await
                .expect("create schema");
            admin.pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Db::connect(&format!("{base}{sep}options=-c%20search_path%3D{schema}"))
                .await
                .expect("connect to schema")
        }
        Err(_) => {
            let path = std::env::var("TICKETS_BENCH_DB")
                .unwrap_or_else(|_| format!("target/tickets-bench/seed-{n}.db"));
            Db::connect(&format!("sqlite:{path}"))
                .await
                .expect("connect")
        }
    };
    db.migrate().await.expect("migrate");
    if std::env::var("TICKETS_BENCH_ONLY").as_deref() == Ok("kb") {
        println!("backend {:?}, knowledge-base search only", db.backend);
        kb_search(&db, secs).await;
        return;
    }
    println!("backend {:?}, N = {n}", db.backend);
    let last = format!("seed-{:08}", n.saturating_sub(1));
    let seeded = sqlx::query("SELECT 1 AS one FROM tickets WHERE id = $1")
        .bind(&last)
        .fetch_optional(&db.pool)
        .await
        .expect("probe seed")
        .is_some();
    if seeded {
        println!("reusing the seeded database ({n} tickets)");
    } else {
        catalogue::load_seed(&db).await.expect("catalogue");
        seed(&db, n).await;
    }
    let store = TicketStore::new(db.clone(), Rules::default());
    let me = admin();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);

    let mut t = Vec::new();
    let mut created = Vec::new();
    for i in 0..2000 {
        let input = CreateTicket {
            title: format!("噪声扰民 {i}"),
            content: "夜间施工噪声扰民".into(),
            category_code: "0501".into(),
            region_code: "610902001001".into(),
            caller_number: format!("139{:08}", rng.gen_range(0..CALLERS)),
            ..CreateTicket::default()
        };
        let s = Instant::now();
        let (v, _) = store
            .create(&me, input, None, now_ms())
            .await
            .expect("create");
        t.push(s.elapsed());
        created.push(v.id);
    }
    pct(t, "create");

    let mut t = Vec::new();
    for _ in 0..2000 {
        let number = format!("S{:013}", rng.gen_range(0..n));
        let s = Instant::now();
        store
            .get_by_number(&number, &me, now_ms())
            .await
            .expect("by number");
        t.push(s.elapsed());
    }
    pct(t, "query by number");

    let mut t = Vec::new();
    for _ in 0..2000 {
        let f = ListFilter {
            caller_number: Some(format!("139{:08}", rng.gen_range(0..CALLERS))),
            ..ListFilter::default()
        };
        let s = Instant::now();
        store.list(&me, &f, now_ms()).await.expect("by caller");
        t.push(s.elapsed());
    }
    pct(t, "query by caller phone");

    let mut t = Vec::new();
    for _ in 0..500 {
        let f = ListFilter {
            lead_dept: Some(DEPTS[rng.gen_range(0..DEPTS.len())].into()),
            status: Some(STATUSES[rng.gen_range(2..STATUSES.len())].into()),
            ..ListFilter::default()
        };
        let s = Instant::now();
        store.list(&me, &f, now_ms()).await.expect("by dept");
        t.push(s.elapsed());
    }
    pct(t, "query by dept + status");

    let mut t = Vec::new();
    for id in created.iter().take(1000) {
        let s = Instant::now();
        store
            .act(id, &me, Command::SendForReview, now_ms())
            .await
            .expect("act");
        t.push(s.elapsed());
    }
    pct(t, "update (send_for_review)");

    // Mixed load: `users` concurrent users, each doing one transaction after another.
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let created = Arc::new(created);
    let mut tasks = Vec::new();
    for u in 0..users {
        let (store, done, failed, created) =
            (store.clone(), done.clone(), failed.clone(), created.clone());
        tasks.push(tokio::spawn(async move {
            let me = admin();
            let mut rng = rand::rngs::StdRng::seed_from_u64(u);
            while Instant::now() < until {
                let roll = rng.gen_range(0..100);
                let res: Result<(), String> = if roll < 40 {
                    store
                        .get_by_number(&format!("S{:013}", rng.gen_range(0..n)), &me, now_ms())
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else if roll < 70 {
                    let f = ListFilter {
                        caller_number: Some(format!("139{:08}", rng.gen_range(0..CALLERS))),
                        ..ListFilter::default()
                    };
                    store
                        .list(&me, &f, now_ms())
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else if roll < 90 {
                    let input = CreateTicket {
                        title: "咨询".into(),
                        category_code: "020101".into(),
                        region_code: "610902002001".into(),
                        ..CreateTicket::default()
                    };
                    store
                        .create(&me, input, None, now_ms())
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else {
                    let id = &created[rng.gen_range(0..created.len())];
                    store
                        .act(
                            id,
                            &me,
                            Command::AddNote {
                                text: "跟进".into(),
                            },
                            now_ms(),
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                };
                match res {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("mixed-load failure: {e}");
                        }
                    }
                }
            }
        }));
    }
    let s = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    let el = s.elapsed().as_secs_f64();
    println!(
        "mixed load: {users} users, {:.0} transactions/s ({} ok, {} failed in {el:.1} s)",
        done.load(Ordering::Relaxed) as f64 / el,
        done.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );

    kb_search(&db, secs).await;
}

/// Knowledge-base search over 2,000 published articles by 64 concurrent searchers.
async fn kb_search(db: &Db, secs: u64) {
    let me = admin();
    let kb = KnowledgeBase::new(db.clone());
    let reviewer = Actor {
        user_id: "rev".into(),
        roles: vec![Role::Reviewer],
        region_scope: String::new(),
        department: None,
    };
    let phrases = [
        "社保卡补办",
        "路灯不亮",
        "拖欠工资",
        "公交线路调整",
        "停水通知",
        "食品安全投诉",
        "噪声污染",
        "物业服务收费",
        "养老保险缴费",
        "道路破损维修",
    ];
    // The articles persist with the database: add only what a previous run did not.
    let have: i64 = sqlx::query("SELECT COUNT(*) AS n FROM kb_articles WHERE status = 'published'")
        .fetch_one(&db.pool)
        .await
        .and_then(|r| r.try_get("n"))
        .expect("count articles");
    for i in (have.max(0) as usize)..2000 {
        let p = phrases[i % phrases.len()];
        let body = format!(
            "关于{p}的办理指南：市民可拨打12345热线或到政务服务中心窗口办理，第{i}号说明。{}",
            phrases[(i * 7) % phrases.len()]
        );
        let a = kb
            .create(
                &me,
                ArticleInput {
                    title: format!("{p}问答{i}"),
                    body,
                    category_code: String::new(),
                },
                now_ms(),
            )
            .await
            .expect("kb");
        kb.act(&a.id, &me, KbAction::Submit, "", now_ms())
            .await
            .expect("submit");
        kb.act(&a.id, &reviewer, KbAction::Approve, "", now_ms())
            .await
            .expect("approve");
    }
    let searches = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs.min(5));
    let mut tasks = Vec::new();
    for u in 0..64u64 {
        let (kb, searches) = (kb.clone(), searches.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut rng = rand::rngs::StdRng::seed_from_u64(u);
            while Instant::now() < until {
                let q = format!("{}怎么办理", phrases[rng.gen_range(0..phrases.len())]);
                let s = Instant::now();
                if kb.search(&q, 10).await.is_ok() {
                    searches.fetch_add(1, Ordering::Relaxed);
                }
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let s = Instant::now();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let el = s.elapsed().as_secs_f64();
    println!(
        "kb search: {:.0} searches/s with 64 concurrent searchers",
        searches.load(Ordering::Relaxed) as f64 / el
    );
    pct(lat, "kb search latency");
}
