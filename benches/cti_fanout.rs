//! CTI event fan-out on the real server (issue 5): a release `hotline` on 127.0.0.1 with a temp
//! SQLite, CLIENTS WebSocket clients on `/ws/cti` (SUPERVISORS wallboard sessions that receive
//! every agent's events, the rest agents that receive their own), and agents changing state.
//!
//! Each agent state change is timed from the moment the bench writes the command frame to the
//! moment each client that should see the `agent_state` event reads it: per event the recipients
//! are ranked, and the 1st/50th/99th/100th percentile recipient is reported (p50 and p99 of each
//! over all events). Every client checks that `seq` rises by exactly one per frame (gaps and
//! reorders are counted) and that it got every event it should, in command order. hotline's CPU
//! comes from /proc over the measured window.
//!
//! - `burst CLIENTS SUPERVISORS ROUNDS`: every agent sends one state change at once, the bench
//!   waits for all deliveries, ROUNDS times (the worst case: one change per agent in a burst).
//! - `rate CLIENTS SUPERVISORS CHANGES_PER_S SECONDS`: changes spread evenly, agents in turn.
//!
//! Run: `RUST_LOG=warn cargo bench --bench cti_fanout -- burst 1000 100 5` and
//! `RUST_LOG=warn cargo bench --bench cti_fanout -- rate 1000 100 200 20`. A live measurement,
//! not a criterion statistic; figures go to benches/RESULTS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cpu_ticks, percentile, rss_mb, Hotline, HotlineSetup};
use futures::{SinkExt, StreamExt};
use hotline::tickets::model::Role;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Agent numbers start here; the agent's index is its number minus this.
const FIRST_AGENT: usize = 20_000;

/// What the bench shares with every client task.
struct Shared {
    /// Record `agent_state` arrivals only while measuring (login events come before).
    measuring: AtomicBool,
    /// `agent_state` events delivered while measuring, over all clients.
    delivered: AtomicU64,
    /// Clients that have their snapshot.
    ready: AtomicU64,
    /// Event frames of any kind read while measuring (events/s delivered).
    frames: AtomicU64,
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// (agent index, arrival) of each `agent_state` event while measuring, in arrival order.
    arrivals: Vec<(usize, Instant)>,
    /// Frames whose seq skipped ahead (sum of the skipped numbers), or went back.
    gaps: u64,
    reorders: u64,
    frames: u64,
    refused: u64,
    /// The server closed or kicked the session before the end.
    closed: bool,
}

fn acd_toml(agents: usize) -> String {
    let mut s =
        String::from("wrap_up_ms = 5000\n[[groups]]\nid = \"bench\"\nname = \"fan-out bench\"\n\n");
    for i in 0..agents {
        s.push_str(&format!(
            "[[agent]]\nagent_no = \"{n}\"\nname = \"坐席 {n}\"\ngroups = [{{ group = \"bench\", level = 5 }}]\n",
            n = FIRST_AGENT + i
        ));
    }
    s
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads one client's frames until `stop`: checks seq, records measured `agent_state` arrivals.
async fn reader(
    mut rx: futures::stream::SplitStream<Ws>,
    shared: Arc<Shared>,
    stop: Arc<tokio::sync::Notify>,
) -> Seen {
    let mut seen = Seen::default();
    let mut last = 0u64;
    let mut counted_ready = false;
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        let m = tokio::select! {
            m = rx.next() => m,
            _ = &mut stopped => break,
        };
        let at = Instant::now();
        let text = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                seen.closed = true;
                break;
            }
            Some(Ok(_)) => continue,
        };
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        seen.frames += 1;
        let seq = v["seq"].as_u64().unwrap_or(0);
        if seq > last + 1 {
            seen.gaps += seq - last - 1;
        } else if seq <= last {
            seen.reorders += 1;
        }
        last = last.max(seq);
        match v["type"].as_str() {
            Some("snapshot") if !counted_ready => {
                counted_ready = true;
                shared.ready.fetch_add(1, Ordering::Relaxed);
            }
            Some("result") if v["ok"] != true => seen.refused += 1,
            Some("event") if shared.measuring.load(Ordering::Relaxed) => {
                shared.frames.fetch_add(1, Ordering::Relaxed);
                if v["event"]["event"] == "agent_state" {
                    let idx = v["event"]["agent_no"]
                        .as_str()
                        .and_then(|a| a.parse::<usize>().ok())
                        .and_then(|n| n.checked_sub(FIRST_AGENT));
                    if let Some(idx) = idx {
                        seen.arrivals.push((idx, at));
                        shared.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ => {}
        }
    }
    seen
}

/// Writes commands for one agent; returns when each state-change command was written.
async fn writer(
    mut tx: futures::stream::SplitSink<Ws, Message>,
    mut cmds: mpsc::UnboundedReceiver<Value>,
) -> Vec<Instant> {
    let mut sent = Vec::new();
    let mut id = 100u64;
    while let Some(cmd) = cmds.recv().await {
        id += 1;
        let text = json!({"type":"command","id":id,"command":cmd}).to_string();
        let measured = cmd["cmd"] == "set_ready" || cmd["cmd"] == "set_not_ready";
        let at = Instant::now();
        if tx.send(Message::Text(text.into())).await.is_err() {
            break;
        }
        if measured {
            sent.push(at);
        }
    }
    sent
}

struct Client {
    cmds: Option<mpsc::UnboundedSender<Value>>,
    reader: tokio::task::JoinHandle<Seen>,
    writer: Option<tokio::task::JoinHandle<Vec<Instant>>>,
}

async fn connect(
    url: &str,
    token: &str,
    agent: bool,
    shared: Arc<Shared>,
    stop: Arc<tokio::sync::Notify>,
) -> Client {
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
    let (tx, rx) = ws.split();
    let reader = tokio::spawn(reader(rx, shared, stop));
    if agent {
        let (ctx, crx) = mpsc::unbounded_channel();
        ctx.send(json!({"cmd":"login"})).ok();
        Client {
            cmds: Some(ctx),
            reader,
            writer: Some(tokio::spawn(writer(tx, crx))),
        }
    } else {
        // A wallboard only listens; keep the write half alive with the reader's lifetime.
        let reader = tokio::spawn(async move {
            let seen = reader.await.unwrap_or_default();
            drop(tx);
            seen
        });
        Client {
            cmds: None,
            reader,
            writer: None,
        }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Burst { rounds: usize },
    Rate { per_s: u32, secs: u32 },
}

fn change(n: usize) -> Value {
    // Agents start not-ready after login: the 1st change makes them ready, the 2nd not-ready, ...
    if n % 2 == 0 {
        json!({"cmd":"set_ready"})
    } else {
        json!({"cmd":"set_not_ready","reason":"meeting"})
    }
}

fn run(clients: usize, supervisors: usize, mode: Mode) {
    let supervisors = supervisors.min(clients);
    let agents = clients - supervisors;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dbdir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite:{}", dbdir.path().join("hotline.db").display());
    let t = Instant::now();
    let users: Vec<(String, Role)> = (0..clients)
        .map(|i| {
            if i < agents {
                ((FIRST_AGENT + i).to_string(), Role::Agent)
            } else {
                (format!("sup{}", i - agents), Role::Supervisor)
            }
        })
        .collect();
    let toks = rt.block_on(common::cti::seed_tokens(&db_url, &users));
    eprintln!(
        "{} users and tokens in {:.1} s",
        toks.len(),
        t.elapsed().as_secs_f64()
    );
    let h = Hotline::start(HotlineSetup {
        database_url: Some(db_url),
        acd: Some(acd_toml(agents)),
        ..HotlineSetup::default()
    });
    let pid = h.child.id().to_string();
    let url = format!("ws://{}/ws/cti", h.http);
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        ready: AtomicU64::new(0),
        frames: AtomicU64::new(0),
    });
    let stop = Arc::new(tokio::sync::Notify::new());

    rt.block_on(async {
        // Connect 50 at a time (each hello is a token lookup on the server).
        let t = Instant::now();
        let mut all: Vec<Client> = Vec::with_capacity(clients);
        for chunk in toks.chunks(50).enumerate() {
            let (c0, toks) = chunk;
            let futs = toks.iter().enumerate().map(|(j, tok)| {
                let i = c0 * 50 + j;
                connect(&url, tok, i < agents, shared.clone(), stop.clone())
            });
            all.extend(futures::future::join_all(futs).await);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while shared.ready.load(Ordering::Relaxed) < clients as u64 {
            assert!(
                Instant::now() < deadline,
                "only {} of {clients} clients got their snapshot",
                shared.ready.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The login events (agent → not ready) reach every supervisor: let them drain.
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "{clients} clients connected ({agents} agents logged in, {supervisors} supervisors) in {:.1} s; hotline RSS {:.0} MB",
            t.elapsed().as_secs_f64(),
            rss_mb(h.child.id()).unwrap_or(f64::NAN)
        );

        let per_change = 1 + supervisors as u64;
        shared.measuring.store(true, Ordering::SeqCst);
        let (cpu0, me0, t0) = (cpu_ticks(&pid), cpu_ticks("self"), Instant::now());
        let mut changes = 0usize;
        match mode {
            Mode::Burst { rounds } => {
                for r in 0..rounds {
                    for c in &all {
                        if let Some(tx) = &c.cmds {
                            let _ = tx.send(change(r));
                        }
                    }
                    changes += agents;
                    let want = changes as u64 * per_change;
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while shared.delivered.load(Ordering::Relaxed) < want
                        && Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            Mode::Rate { per_s, secs } => {
                let total = per_s as usize * secs as usize;
                let mut tick =
                    tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_s)));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                for n in 0..total {
                    tick.tick().await;
                    let a = n % agents.max(1);
                    if let Some(tx) = &all[a].cmds {
                        let _ = tx.send(change(n / agents.max(1)));
                    }
                }
                changes = total;
                let want = changes as u64 * per_change;
                let deadline = Instant::now() + Duration::from_secs(30);
                while shared.delivered.load(Ordering::Relaxed) < want && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        let (cpu1, me1, t1) = (cpu_ticks(&pid), cpu_ticks("self"), Instant::now());
        let frames = shared.frames.load(Ordering::Relaxed);
        // Results and late frames: a moment, then stop everyone.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.notify_waiters();
        let mut sends: Vec<Vec<Instant>> = Vec::with_capacity(agents);
        let mut seen: Vec<Seen> = Vec::with_capacity(clients);
        for c in all {
            drop(c.cmds);
            if let Some(w) = c.writer {
                sends.push(w.await.unwrap_or_default());
            }
            seen.push(c.reader.await.unwrap_or_default());
        }

        // Match each recipient's k-th event of agent a with agent a's k-th command.
        let mut lat: Vec<Vec<Vec<f64>>> = sends.iter().map(|s| vec![Vec::new(); s.len()]).collect();
        let (mut unmatched, mut gaps, mut reorders, mut closed, mut refused) = (0u64, 0, 0, 0, 0);
        let mut missing = 0u64;
        for (ci, s) in seen.iter().enumerate() {
            gaps += s.gaps;
            reorders += s.reorders;
            refused += s.refused;
            closed += u64::from(s.closed);
            let mut k = vec![0usize; agents];
            for &(a, at) in &s.arrivals {
                match sends.get(a).and_then(|v| v.get(k[a])) {
                    Some(sent) => {
                        lat[a][k[a]].push(at.saturating_duration_since(*sent).as_secs_f64() * 1e3);
                        k[a] += 1;
                    }
                    None => unmatched += 1,
                }
            }
            // An agent sees its own changes, a supervisor everyone's.
            let expected = |a: usize| sends.get(a).map_or(0, Vec::len);
            missing += if ci < agents {
                (expected(ci) - k[ci].min(expected(ci))) as u64
            } else {
                (0..agents).map(|a| (expected(a) - k[a].min(expected(a))) as u64).sum()
            };
        }
        let mut ranks: [Vec<f64>; 4] = Default::default();
        let qs = [0.01, 0.5, 0.99, 1.0];
        let mut all_lat = Vec::new();
        for per_event in lat.iter_mut().flatten() {
            if per_event.is_empty() {
                continue;
            }
            per_event.sort_by(|a, b| a.total_cmp(b));
            for (r, q) in ranks.iter_mut().zip(qs) {
                r.push(percentile(per_event, q));
            }
            all_lat.extend_from_slice(per_event);
        }
        let secs = (t1 - t0).as_secs_f64();
        let delivered: usize = lat.iter().flatten().map(Vec::len).sum();
        println!(
            "mode {}: {changes} state changes, {} deliveries expected, {delivered} delivered, {missing} missing, {unmatched} unmatched; seq gaps {gaps}, reorders {reorders}; {closed} sessions closed early; {refused} commands refused",
            match mode { Mode::Burst { rounds } => format!("burst x{rounds}"), Mode::Rate { per_s, secs } => format!("rate {per_s}/s for {secs} s") },
            changes as u64 * per_change
        );
        for (r, q) in ranks.iter_mut().zip(qs) {
            r.sort_by(|a, b| a.total_cmp(b));
            println!(
                "command → event at the {:>3}th-percentile recipient: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (over {} events)",
                (q * 100.0) as u32,
                percentile(r, 0.5),
                percentile(r, 0.99),
                percentile(r, 1.0),
                r.len()
            );
        }
        all_lat.sort_by(|a, b| a.total_cmp(b));
        println!(
            "all deliveries: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&all_lat, 0.5),
            percentile(&all_lat, 0.99),
            percentile(&all_lat, 1.0)
        );
        let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.0} %", (b - a) as f64 / 100.0 / secs * 100.0),
            _ => "n/a".into(),
        };
        println!(
            "window {secs:.2} s: {:.0} event frames/s delivered ({frames} frames), {:.0} state changes/s; CPU: hotline {} of a core (RSS {:.0} MB), bench clients {}",
            frames as f64 / secs,
            changes as f64 / secs,
            pct(cpu0, cpu1),
            rss_mb(h.child.id()).unwrap_or(f64::NAN),
            pct(me0, me1)
        );
    });
    drop(h);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("rate") => run(
            num(1, 1000),
            num(2, 100),
            Mode::Rate {
                per_s: num(3, 200) as u32,
                secs: num(4, 20) as u32,
            },
        ),
        Some("burst") => run(num(1, 1000), num(2, 100), Mode::Burst { rounds: num(3, 5) }),
        // `cargo bench` with no arguments: a small burst (the big runs are explicit).
        _ => run(100, 10, Mode::Burst { rounds: 2 }),
    }
}
