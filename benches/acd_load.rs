//! The call centre end to end under load (issue 5): a release `hotline` on 127.0.0.1 with a temp
//! SQLite; sipp callers (PCMU streamed all along) dial DID 12345, routed to the queue
//! `12345-general`; AGENTS agents are logged in and ready over `/ws/cti`, their SIP extensions
//! point at one sipp in UAS mode that auto-answers every offered call with PCMU, talks TALK_S
//! seconds and hangs up (hotline then hangs up the caller). A caller still waiting after
//! PATIENCE_S seconds hangs up (abandoned). Wrap-up is 1 s so agents return to ready.
//!
//! Reported: calls offered and the rate, answered calls/s sustained, the queue's 15-second service
//! level, answered and abandoned counts (from the ACD's board, read over the CTI as a supervisor),
//! the wait distribution (each `call_answered` event's `waited_ms`, seen by the supervisor),
//! hotline's CPU over the run (from /proc) and the sipps' CPU, and at the end: calls still up and
//! agents that did not return to ready.
//!
//! Run: `RUST_LOG=warn cargo bench --bench acd_load -- load AGENTS RATE SECONDS [TALK_S] [PATIENCE_S]`,
//! e.g. `-- load 200 10 60 10 60`. A live measurement; figures go to benches/RESULTS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{cpu_ticks, free_port, percentile, rss_mb, tone_wav, Hotline, HotlineSetup, SippRun};
use futures::{SinkExt, StreamExt};
use hotline::tickets::model::Role;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const FIRST_AGENT: usize = 20_000;
const GROUP: &str = "12345-general";
const WRAP_UP_MS: u64 = 1_000;
/// hotline's RTP ports and each sipp's first media port: apart, and below the kernel's ephemeral
/// range (32768+) where the WebSocket clients' sockets land.
const HOTLINE_RTP: (u16, u16) = (10_000, 19_999);
const CALLER_RTP: u16 = 20_000;
const AGENT_RTP: u16 = 26_000;

struct Params {
    agents: usize,
    rate: u32,
    secs: u32,
    talk_s: u32,
    patience_s: u32,
}

fn acd_toml(agents: usize) -> String {
    let mut s = format!(
        "wrap_up_ms = {WRAP_UP_MS}\nservice_level_ms = 15000\n[[groups]]\nid = \"{GROUP}\"\nname = \"12345 政务服务\"\nstrategy = \"longest_idle\"\nring_timeout_ms = 10000\n\n"
    );
    for i in 0..agents {
        s.push_str(&format!(
            "[[agent]]\nagent_no = \"{n}\"\nname = \"坐席 {n}\"\ngroups = [{{ group = \"{GROUP}\", level = 5 }}]\nendpoints = [{{ kind = \"sip\", extension = \"{n}\" }}]\n",
            n = FIRST_AGENT + i
        ));
    }
    s
}

/// The carrier trunk with DID 12345 into the queue, and every agent's extension at the agents' sipp.
fn profile(agents: usize, agent_port: u16) -> String {
    let mut s = format!(
        "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 5000\n\
         [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"queue:{GROUP}\"\n\n\
         [agents]\nrealm = \"hotline.local\"\n"
    );
    for i in 0..agents {
        s.push_str(&format!(
            "[[agents.extension]]\nnumber = \"{n}\"\npassword = \"pw{n}\"\ncontact = \"sip:{n}@127.0.0.1:{agent_port}\"\n",
            n = FIRST_AGENT + i
        ));
    }
    s
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the supervisor's session saw of the calls.
#[derive(Default)]
struct Calls {
    queued: u64,
    ringing: u64,
    /// `waited_ms` of each answered call.
    waits_ms: Vec<f64>,
    /// When each call was answered (for the sustained rate).
    answered_at: Vec<Instant>,
    ended: u64,
    abandoned: u64,
    requeued: u64,
    gaps: u64,
}

/// Counters over every agent session.
#[derive(Default)]
struct AgentCounters {
    refused: AtomicU64,
    closed: AtomicU64,
    gaps: AtomicU64,
    ringing: AtomicU64,
}

async fn open(url: &str, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connect");
    ws.send(Message::Text(
        json!({"type":"hello","version":1,"token":token})
            .to_string()
            .into(),
    ))
    .await
    .expect("hello");
    ws
}

/// An agent's desktop: logs in, goes ready, then reads (and checks) every frame until closed.
async fn agent(url: String, token: String, counters: Arc<AgentCounters>, ready: mpsc::Sender<()>) {
    let ws = open(&url, &token).await;
    let (mut tx, mut rx) = ws.split();
    for (id, cmd) in [(1, json!({"cmd":"login"})), (2, json!({"cmd":"set_ready"}))] {
        let frame = json!({"type":"command","id":id,"command":cmd}).to_string();
        if tx.send(Message::Text(frame.into())).await.is_err() {
            counters.closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let mut last = 0u64;
    let mut told = false;
    while let Some(m) = rx.next().await {
        let Ok(Message::Text(t)) = m else {
            if matches!(m, Ok(Message::Close(_)) | Err(_)) {
                break;
            }
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
            continue;
        };
        let seq = v["seq"].as_u64().unwrap_or(0);
        if seq != last + 1 {
            counters.gaps.fetch_add(1, Ordering::Relaxed);
        }
        last = seq;
        match v["type"].as_str() {
            Some("result") if v["ok"] != true => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                eprintln!("agent command refused: {v}");
            }
            Some("result") if v["id"] == 2 && !told => {
                told = true;
                let _ = ready.send(()).await;
            }
            Some("event") if v["event"]["event"] == "call_ringing" => {
                counters.ringing.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    counters.closed.fetch_add(1, Ordering::Relaxed);
    drop(tx);
}

/// The supervisor's session: records call events, forwards command results.
async fn supervisor(
    mut rx: futures::stream::SplitStream<Ws>,
    calls: Arc<Mutex<Calls>>,
    results: mpsc::UnboundedSender<Value>,
) {
    let mut last = 0u64;
    while let Some(Ok(m)) = rx.next().await {
        let Message::Text(t) = m else { continue };
        let at = Instant::now();
        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
            continue;
        };
        let seq = v["seq"].as_u64().unwrap_or(0);
        let Ok(mut c) = calls.lock() else { return };
        if seq != last + 1 {
            c.gaps += 1;
        }
        last = seq;
        if v["type"] == "result" {
            let _ = results.send(v);
            continue;
        }
        let e = &v["event"];
        match e["event"].as_str() {
            Some("call_queued") => c.queued += 1,
            Some("call_ringing") => c.ringing += 1,
            Some("call_answered") => {
                c.waits_ms.push(e["waited_ms"].as_f64().unwrap_or(f64::NAN));
                c.answered_at.push(at);
            }
            Some("call_requeued") => c.requeued += 1,
            Some("call_ended") => {
                c.ended += 1;
                if e["abandoned"] == true {
                    c.abandoned += 1;
                }
            }
            _ => {}
        }
    }
}

fn run(p: Params) {
    let calls_total = p.rate * p.secs;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dbdir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite:{}", dbdir.path().join("hotline.db").display());
    let mut users: Vec<(String, Role)> = (0..p.agents)
        .map(|i| ((FIRST_AGENT + i).to_string(), Role::Agent))
        .collect();
    users.push(("sup0".into(), Role::Supervisor));
    let tokens = rt.block_on(common::cti::seed_tokens(&db_url, &users));
    let agent_port = free_port();
    let h = Hotline::start(HotlineSetup {
        database_url: Some(db_url),
        profiles: vec![("bench.toml".into(), profile(p.agents, agent_port))],
        acd: Some(acd_toml(p.agents)),
        rtp_ports: Some(HOTLINE_RTP),
        ..HotlineSetup::default()
    });
    let pid = h.child.id().to_string();
    let url = format!("ws://{}/ws/cti", h.http);
    let wav = tone_wav(h.path());
    let run_s = p.secs + p.patience_s + p.talk_s + 30;

    // The agents' phones.
    let agents_sipp = SippRun {
        wav: Some(wav.clone()),
        calls: calls_total,
        timeout_s: run_s + 30,
        media_port: AGENT_RTP,
        subst: vec![("@TALK_MS@".into(), (p.talk_s * 1000).to_string())],
        extra: vec!["-l".into(), "5000".into()],
        ..SippRun::new("agent_answer_rtp_hangup.xml", agent_port)
    }
    .spawn(h.path());

    let counters = Arc::new(AgentCounters::default());
    let calls = Arc::new(Mutex::new(Calls::default()));
    let (sup_tx, mut results) = rt.block_on(async {
        let (rtx, mut rrx) = mpsc::channel(p.agents.max(1));
        for tok in &tokens[..p.agents] {
            tokio::spawn(agent(
                url.clone(),
                tok.clone(),
                counters.clone(),
                rtx.clone(),
            ));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        for n in 0..p.agents {
            if tokio::time::timeout_at(deadline, rrx.recv()).await.is_err() {
                panic!("only {n} of {} agents ready", p.agents);
            }
        }
        let ws = open(&url, &tokens[p.agents]).await;
        let (tx, rx) = ws.split();
        let (res_tx, res_rx) = mpsc::unbounded_channel();
        tokio::spawn(supervisor(rx, calls.clone(), res_tx));
        (tx, res_rx)
    });
    println!(
        "{} agents ready over /ws/cti; sipp offers {calls_total} calls at {}/s (talk {} s, patience {} s, wrap-up {} ms)",
        p.agents, p.rate, p.talk_s, p.patience_s, WRAP_UP_MS
    );

    let callers = SippRun {
        remote: Some(h.sip),
        wav: Some(wav),
        calls: calls_total,
        rate: p.rate,
        timeout_s: run_s,
        media_port: CALLER_RTP,
        subst: vec![("@PATIENCE_MS@".into(), (p.patience_s * 1000).to_string())],
        extra: vec!["-l".into(), "5000".into()],
        ..SippRun::new("queue_caller_rtp.xml", free_port())
    }
    .spawn(h.path());
    let sipp_pids: Vec<String> = [&callers, &agents_sipp]
        .iter()
        .filter_map(|s| {
            // sipp runs under `timeout`; its CPU is that of the child process.
            let id = s.child.id();
            std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
                .ok()
                .and_then(|c| c.split_whitespace().next().map(str::to_string))
        })
        .collect();
    let sipp_cpu = || -> Option<u64> { sipp_pids.iter().map(|p| cpu_ticks(p)).sum() };
    let (cpu0, scpu0, me0, t0) = (
        cpu_ticks(&pid),
        sipp_cpu(),
        cpu_ticks("self"),
        Instant::now(),
    );
    let mut peak_cpu = 0.0f64;
    let mut last = (cpu0, t0);
    let mut max_active = 0.0f64;
    // Progress every 5 s until the callers are done (bounded by sipp's own timeout).
    let mut callers_child = callers;
    let caller_result = loop {
        std::thread::sleep(Duration::from_secs(5));
        let now = (cpu_ticks(&pid), Instant::now());
        if let (Some(a), Some(b)) = (last.0, now.0) {
            peak_cpu = peak_cpu.max((b - a) as f64 / (now.1 - last.1).as_secs_f64());
        }
        last = now;
        let active = h.metric("hotline_active_calls").unwrap_or(f64::NAN);
        max_active = max_active.max(active);
        let (answered, waiting) = calls
            .lock()
            .map(|c| (c.waits_ms.len(), c.queued))
            .unwrap_or_default();
        eprintln!(
            "t={:>4.0} s active calls {active:.0}, queued {waiting}, answered {answered}",
            t0.elapsed().as_secs_f64()
        );
        if let Ok(Some(_)) = callers_child.child.try_wait() {
            break callers_child.wait();
        }
    };
    let (cpu1, scpu1, me1, t1) = (
        cpu_ticks(&pid),
        sipp_cpu(),
        cpu_ticks("self"),
        Instant::now(),
    );
    let secs = (t1 - t0).as_secs_f64();

    // Wrap-up ends, then the board: every agent should be ready again, no call left.
    std::thread::sleep(Duration::from_millis(WRAP_UP_MS + 2_000));
    let board = rt.block_on(async move {
        let mut sup_tx = sup_tx;
        let frame = json!({"type":"command","id":7,"command":{"cmd":"board"}}).to_string();
        sup_tx.send(Message::Text(frame.into())).await.ok()?;
        let r = tokio::time::timeout(Duration::from_secs(10), results.recv())
            .await
            .ok()??;
        Some(r["data"].clone())
    });
    let board = board.unwrap_or(Value::Null);
    let q = board["queues"]
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["group"] == GROUP))
        .cloned()
        .unwrap_or(Value::Null);
    let not_ready: Vec<String> = board["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|a| a["state"]["state"] != "ready")
                .map(|a| format!("{}:{}", a["agent_no"], a["state"]["state"]))
                .collect()
        })
        .unwrap_or_default();
    let active_end = h.metric("hotline_active_calls");

    let c = calls
        .lock()
        .map(|mut c| std::mem::take(&mut *c))
        .unwrap_or_default();
    let mut waits = c.waits_ms.clone();
    waits.sort_by(|a, b| a.total_cmp(b));
    let in_15 = waits.iter().filter(|&&w| w <= 15_000.0).count();
    // Sustained: answers per second between the 10th and the 90th percentile answer (the ramp
    // at either end left out).
    let sustained = {
        let a = &c.answered_at;
        let (lo, hi) = (a.len() / 10, a.len() * 9 / 10);
        if hi > lo + 1 {
            (hi - lo) as f64 / (a[hi] - a[lo]).as_secs_f64()
        } else {
            f64::NAN
        }
    };
    let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.0} %", (b - a) as f64 / secs),
        _ => "n/a".into(),
    };
    println!(
        "offered {calls_total} calls at {}/s over {} s to {} agents (talk {} s): callers sipp {}",
        p.rate,
        p.secs,
        p.agents,
        p.talk_s,
        match &caller_result {
            Ok(()) => "all calls completed".to_string(),
            Err(e) => e.lines().next().unwrap_or_default().to_string(),
        }
    );
    println!(
        "ACD board ({GROUP}): entered {}, answered {}, answered in 15 s {}, abandoned {}, service level {} ‰",
        q["entered"], q["answered"], q["answered_in_sl"], q["abandoned"], q["service_level_permille"]
    );
    println!(
        "CTI (supervisor): queued {}, ringing {}, answered {} ({} within 15 s = {:.1} %), requeued {}, ended {}, abandoned {}, seq gaps {}",
        c.queued,
        c.ringing,
        waits.len(),
        in_15,
        in_15 as f64 * 100.0 / (waits.len() as u64 + c.abandoned).max(1) as f64,
        c.requeued,
        c.ended,
        c.abandoned,
        c.gaps
    );
    println!(
        "wait to answer: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms; answered calls/s sustained {sustained:.1}",
        percentile(&waits, 0.5),
        percentile(&waits, 0.95),
        percentile(&waits, 0.99),
        percentile(&waits, 1.0)
    );
    println!(
        "CPU over {secs:.0} s: hotline avg {} of a core, peak 5 s {:.0} % (RSS {:.0} MB), sipps {}, bench (CTI clients) {}; most calls up at once {max_active:.0}",
        pct(cpu0, cpu1),
        peak_cpu,
        rss_mb(h.child.id()).unwrap_or(f64::NAN),
        pct(scpu0, scpu1),
        pct(me0, me1)
    );
    println!(
        "after the run: hotline_active_calls {active_end:?}; agents not ready {} {:?}; agent sessions closed {}, commands refused {}, seq gaps {}",
        not_ready.len(),
        &not_ready[..not_ready.len().min(10)],
        counters.closed.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed),
        counters.gaps.load(Ordering::Relaxed)
    );
    drop(agents_sipp);
    drop(h);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let num = |i: usize, d: u32| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let p = match args.first().map(String::as_str) {
        Some("load") => Params {
            agents: num(1, 200) as usize,
            rate: num(2, 10),
            secs: num(3, 60),
            talk_s: num(4, 10),
            patience_s: num(5, 60),
        },
        // `cargo bench` with no arguments: a short, small run (the ramp is explicit).
        _ => Params {
            agents: 20,
            rate: 2,
            secs: 10,
            talk_s: 3,
            patience_s: 30,
        },
    };
    run(p);
}
