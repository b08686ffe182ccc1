//! The call centre end to end under load (issue 5): a release `hotline` on 127.0.0.1 with a temp
//! SQLite; sipp callers (PCMU streamed all along) dial DID 12345, routed to the queue
//! `12345-general`; AGENTS agents are logged in and ready over `/ws/cti`, their SIP extensions
//! point at AGENT_SIPPS sipps in UAS mode (agents split evenly) that auto-answer every offered call
//! with PCMU, talk TALK_S seconds and hang up (hotline then hangs up the caller). A caller still
//! waiting after PATIENCE_S seconds hangs up (abandoned). Wrap-up is 1 s so agents return to
//! ready. An agent put not-ready by a failed offer (the offer rang out) clicks ready again after
//! READY_AGAIN_MS, as a person watching the desktop would; those offers are counted.
//!
//! Reported: calls offered and the rate, answered calls/s sustained, the queue's 15-second service
//! level, answered and abandoned counts (from the ACD's board, read over the CTI as a supervisor),
//! the wait distribution (each `call_answered` event's `waited_ms`, seen by the supervisor),
//! hotline's CPU over the run (from /proc) and each sipp's, the machine's load average, what the
//! sipps counted themselves (their `-trace_stat` files and error logs: to tell offers hotline did
//! not send from offers the agents' sipps did not answer), UDP receive-buffer drops, and at the
//! end: calls still up and agents that did not return to ready.
//!
//! A run refuses to start while a sipp of an earlier run of this bench is alive (it would hold
//! media ports and take CPU), and checks at the end that its own sipps are gone.
//!
//! Run: `RUST_LOG=warn cargo bench --bench acd_load -- load AGENTS RATE SECONDS [TALK_S] [PATIENCE_S] [AGENT_SIPPS]`,
//! e.g. `-- load 200 10 60 10 60 2`. A live measurement; figures go to benches/RESULTS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    cpu_ticks, free_port, percentile, rss_mb, tone_wav, Hotline, HotlineSetup, Sipp, SippRun,
};
use futures::{SinkExt, StreamExt};
use hotline::tickets::model::Role;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const FIRST_AGENT: usize = 20_000;
const GROUP: &str = "12345-general";
const WRAP_UP_MS: u64 = 1_000;
/// How long a simulated agent takes to see the not-ready a rung-out offer left on the desktop and
/// click ready.
const READY_AGAIN_MS: u64 = 2_000;
/// hotline's RTP ports and each sipp's first media port: apart, and below the kernel's ephemeral
/// range (32768+) where the WebSocket clients' sockets land. sipp 3.6 takes two ports a call
/// upward from its -mp and skips ports in use, so ranges that meet cost nothing but a retry.
const HOTLINE_RTP: (u16, u16) = (10_000, 19_999);
const CALLER_RTP: u16 = 20_000;
const AGENT_RTP: u16 = 26_000;
/// Between the agents' sipps' first media ports.
const AGENT_RTP_STEP: u16 = 1_500;
/// Desktops logging in at once (see `agent`).
const LOGINS_AT_ONCE: usize = 64;
/// Only this bench runs these scenarios: their names mark its sipps among the machine's processes.
const SCENARIOS: [&str; 2] = ["queue_caller_rtp.xml", "agent_answer_rtp_hangup.xml"];

struct Params {
    agents: usize,
    rate: u32,
    secs: u32,
    talk_s: u32,
    patience_s: u32,
    agent_sipps: usize,
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

/// The carrier trunk with DID 12345 into the queue, and every agent's extension at one of the
/// agents' sipps (round robin).
fn profile(agents: usize, agent_ports: &[u16]) -> String {
    let mut s = format!(
        "[[trunk]]\nname = \"carrier\"\npeer = \"127.0.0.1:9\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 5000\n\
         [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"queue:{GROUP}\"\n\n\
         [agents]\nrealm = \"hotline.local\"\n"
    );
    for i in 0..agents {
        s.push_str(&format!(
            "[[agents.extension]]\nnumber = \"{n}\"\npassword = \"pw{n}\"\ncontact = \"sip:{n}@127.0.0.1:{port}\"\n",
            n = FIRST_AGENT + i,
            port = agent_ports[i % agent_ports.len()]
        ));
    }
    s
}

/// This bench's sipps alive on the machine (pid, command line); with `marker`, only those whose
/// command line holds it (a run's own folder).
fn bench_sipps(marker: Option<&str>) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let ours = cmd.starts_with("sipp ")
                && SCENARIOS.iter().any(|s| cmd.contains(s))
                && marker.is_none_or(|m| cmd.contains(m));
            ours.then_some((pid, cmd))
        })
        .collect()
}

/// UDP ports in `lo..=hi` bound on 127.0.0.1 or any address, from /proc/net/udp.
fn udp_bound(lo: u16, hi: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|a| u16::from_str_radix(a.rsplit(':').next()?, 16).ok())
        .filter(|p| (lo..=hi).contains(p))
        .count()
}

/// Datagrams the kernel dropped on the UDP sockets bound to `port` (the last column of
/// /proc/net/udp: the socket's receive buffer was full). Per SIP port, because the RTP sent to
/// sipp, which never reads it, fills those sockets' buffers by design.
fn udp_drops(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let mut found = None;
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let p = f
            .get(1)
            .and_then(|a| u16::from_str_radix(a.rsplit(':').next()?, 16).ok());
        if p == Some(port) {
            *found.get_or_insert(0) += f.last()?.parse::<u64>().ok()?;
        }
    }
    found
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The last row of a sipp `-trace_stat` file, as (column, value) for the columns asked for.
fn sipp_stats(dir: &Path, cols: &[&str]) -> String {
    let text = std::fs::read_to_string(dir.join("stat.csv")).unwrap_or_default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let (Some(head), Some(last)) = (lines.next(), lines.next_back()) else {
        return "no statistics".into();
    };
    let names: Vec<&str> = head.split(';').collect();
    let vals: Vec<&str> = last.split(';').collect();
    cols.iter()
        .filter_map(|c| {
            let i = names.iter().position(|n| n == c)?;
            Some(format!("{c} {}", vals.get(i)?))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Entries of sipp's error log (unexpected messages, failed sends, ...), with the first few
/// distinct ones.
fn sipp_errors(dir: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(dir.join("errors.log")).unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    let mut n = 0;
    // Each entry names its call; a receive timeout is how the scenarios end a talk or give up
    // waiting, not an error.
    for e in text
        .split("Call-Id:")
        .skip(1)
        .filter(|e| !e.contains("receive timeout"))
    {
        n += 1;
        // Past the call id; without digits, repeats of one error collapse.
        let what = e.split_once(',').map_or(e, |(_, w)| w);
        let key: String = what
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(160)
            .collect();
        if seen.len() < 4 && !seen.contains(&key) {
            seen.push(key);
        }
    }
    (n, seen)
}

/// hotline's WARN/ERROR lines counted by message (digits removed), most frequent first.
fn hotline_warnings(log: &str) -> (usize, Vec<(usize, String)>) {
    let mut by: HashMap<String, usize> = HashMap::new();
    let mut n = 0;
    for l in log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        n += 1;
        let from = l.find("WARN").or_else(|| l.find("ERROR")).unwrap_or(0);
        let key: String = l[from..]
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(140)
            .collect();
        *by.entry(key).or_default() += 1;
    }
    let mut top: Vec<(usize, String)> = by.into_iter().map(|(k, v)| (v, k)).collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.0));
    top.truncate(5);
    (n, top)
}

/// A sipp's CPU, sampled while it lives (a sipp that ends takes its count with it).
struct SippCpu {
    label: String,
    pid: Option<u32>,
    first: Option<(u64, Instant)>,
    last: Option<(u64, Instant)>,
}

impl SippCpu {
    fn new(label: String, sipp: &Sipp) -> SippCpu {
        let mut c = SippCpu {
            label,
            pid: sipp.sipp_pid(),
            first: None,
            last: None,
        };
        c.sample();
        c
    }

    fn sample(&mut self) {
        if let Some(t) = self.pid.and_then(|p| cpu_ticks(&p.to_string())) {
            let now = (t, Instant::now());
            self.first.get_or_insert(now);
            self.last = Some(now);
        }
    }

    /// Average % of a core between the first and the last sample.
    fn percent(&self) -> String {
        match (self.first, self.last) {
            (Some(a), Some(b)) if b.1 > a.1 => format!(
                "{} {:.0} %",
                self.label,
                (b.0 - a.0) as f64 / (b.1 - a.1).as_secs_f64()
            ),
            _ => format!("{} n/a", self.label),
        }
    }
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
    /// Offers that rang out: the ACD put the agent not-ready with reason `ring_no_answer`.
    rang_out: AtomicU64,
    /// Other failed offers (`rejected`, `endpoint_unreachable`), which also leave not-ready.
    failed_other: AtomicU64,
    /// `set_ready` sent after such a not-ready.
    ready_again: AtomicU64,
}

async fn open(url: &str, token: &str) -> Ws {
    // Hundreds of desktops connecting at once overflow the listen backlog (connection reset):
    // try again a little later, as a browser would.
    let mut attempt = 0u64;
    let mut ws = loop {
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => break ws,
            Err(_) if attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => panic!("WebSocket connect: {e}"),
        }
    };
    ws.send(Message::Text(
        json!({"type":"hello","version":1,"token":token})
            .to_string()
            .into(),
    ))
    .await
    .expect("hello");
    ws
}

fn command(id: u64, cmd: Value) -> String {
    json!({"type":"command","id":id,"command":cmd}).to_string()
}

/// An agent's desktop: logs in, goes ready, then reads (and checks) every frame until closed. A
/// failed offer's not-ready is answered with `set_ready` after READY_AGAIN_MS.
async fn agent(
    url: String,
    token: String,
    counters: Arc<AgentCounters>,
    ready: mpsc::Sender<()>,
    logins: Arc<tokio::sync::Semaphore>,
) {
    // hotline checks a CTI token with block_in_place: with ~500 checks in flight at once its
    // runtime runs out of blocking threads and stalls (seen with 960 agents), so desktops log in
    // a few dozen at a time, until ready.
    let mut login = logins.acquire_owned().await.ok();
    let ws = open(&url, &token).await;
    let (mut tx, mut rx) = ws.split();
    // One writer, fed by the reader and by the delayed clicks.
    let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(f) = out_rx.recv().await {
            if tx.send(Message::Text(f.into())).await.is_err() {
                return;
            }
        }
    });
    let _ = out.send(command(1, json!({"cmd":"login"})));
    let _ = out.send(command(2, json!({"cmd":"set_ready"})));
    let mut next_id = 2u64;
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
        let e = &v["event"];
        match v["type"].as_str() {
            Some("result") if v["ok"] != true => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                eprintln!("agent command refused: {v}");
            }
            Some("result") if v["id"] == 2 && !told => {
                told = true;
                login.take();
                let _ = ready.send(()).await;
            }
            Some("event") if e["event"] == "call_ringing" => {
                counters.ringing.fetch_add(1, Ordering::Relaxed);
            }
            Some("event") if e["event"] == "agent_state" && e["state"]["state"] == "not_ready" => {
                let which = match e["state"]["reason"].as_str() {
                    Some("ring_no_answer") => &counters.rang_out,
                    Some("rejected" | "endpoint_unreachable") => &counters.failed_other,
                    _ => continue,
                };
                which.fetch_add(1, Ordering::Relaxed);
                next_id += 1;
                let (frame, out, counters) = (
                    command(next_id, json!({"cmd":"set_ready"})),
                    out.clone(),
                    counters.clone(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(READY_AGAIN_MS)).await;
                    if out.send(frame).is_ok() {
                        counters.ready_again.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            _ => {}
        }
    }
    counters.closed.fetch_add(1, Ordering::Relaxed);
    writer.abort();
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
    // A sipp left by an earlier run holds media ports and burns CPU streaming RTP: refuse.
    let strays = bench_sipps(None);
    if !strays.is_empty() {
        for (pid, cmd) in &strays {
            eprintln!("stray sipp {pid}: {}", &cmd[..cmd.len().min(200)]);
        }
        panic!(
            "{} sipp(s) of an earlier acd_load run still alive; end them first (kill PID)",
            strays.len()
        );
    }
    let agent_rtp_end = AGENT_RTP + AGENT_RTP_STEP * p.agent_sipps as u16;
    let held = [
        ("hotline's RTP", HOTLINE_RTP.0, HOTLINE_RTP.1),
        ("callers' RTP", CALLER_RTP, AGENT_RTP - 1),
        ("agents' RTP", AGENT_RTP, agent_rtp_end),
    ]
    .map(|(what, lo, hi)| format!("{what} {lo}-{hi}: {}", udp_bound(lo, hi)));
    println!(
        "before the run: no stray sipp; UDP ports already bound in {}; load average {}",
        held.join(", "),
        loadavg()
    );

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
    let agent_ports: Vec<u16> = (0..p.agent_sipps).map(|_| free_port()).collect();
    let h = Hotline::start(HotlineSetup {
        database_url: Some(db_url),
        profiles: vec![("bench.toml".into(), profile(p.agents, &agent_ports))],
        acd: Some(acd_toml(p.agents)),
        rtp_ports: Some(HOTLINE_RTP),
        ..HotlineSetup::default()
    });
    let pid = h.child.id().to_string();
    let url = format!("ws://{}/ws/cti", h.http);
    let wav = tone_wav(h.path());
    let run_s = p.secs + p.patience_s + p.talk_s + 30;
    // Each sipp counts its own calls every 5 s (in its folder); no per-message log (costly at
    // these rates).
    let stats = || -> Vec<String> {
        ["-trace_stat", "-stf", "stat.csv", "-fd", "5", "-l", "5000"]
            .map(String::from)
            .to_vec()
    };

    // The agents' phones. Re-offers after a ring-out make more INVITEs than calls.
    let mut agents_sipps: Vec<Sipp> = agent_ports
        .iter()
        .enumerate()
        .map(|(k, &port)| {
            SippRun {
                wav: Some(wav.clone()),
                calls: calls_total * 4,
                timeout_s: run_s + 30,
                media_port: AGENT_RTP + AGENT_RTP_STEP * k as u16,
                subst: vec![("@TALK_MS@".into(), (p.talk_s * 1000).to_string())],
                extra: stats(),
                trace_msg: false,
                ..SippRun::new("agent_answer_rtp_hangup.xml", port)
            }
            .spawn(h.path())
        })
        .collect();
    for a in &mut agents_sipps {
        if let Ok(Some(st)) = a.child.try_wait() {
            panic!(
                "agents' sipp {} ended at start ({st}): {}",
                a.name,
                std::fs::read_to_string(a.dir.join("stderr.log")).unwrap_or_default()
            );
        }
    }

    let counters = Arc::new(AgentCounters::default());
    let calls = Arc::new(Mutex::new(Calls::default()));
    let (sup_tx, mut results) = rt.block_on(async {
        let (rtx, mut rrx) = mpsc::channel(p.agents.max(1));
        let logins = Arc::new(tokio::sync::Semaphore::new(LOGINS_AT_ONCE));
        for tok in &tokens[..p.agents] {
            tokio::spawn(agent(
                url.clone(),
                tok.clone(),
                counters.clone(),
                rtx.clone(),
                logins.clone(),
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
        "{} agents ready over /ws/cti on {} agent sipp(s); sipp offers {calls_total} calls at {}/s (talk {} s, patience {} s, wrap-up {} ms, ready again {} ms after a ring-out)",
        p.agents, p.agent_sipps, p.rate, p.talk_s, p.patience_s, WRAP_UP_MS, READY_AGAIN_MS
    );

    let callers_port = free_port();
    let callers = SippRun {
        remote: Some(h.sip),
        wav: Some(wav),
        calls: calls_total,
        rate: p.rate,
        timeout_s: run_s,
        media_port: CALLER_RTP,
        subst: vec![("@PATIENCE_MS@".into(), (p.patience_s * 1000).to_string())],
        extra: stats(),
        trace_msg: false,
        ..SippRun::new("queue_caller_rtp.xml", callers_port)
    }
    .spawn(h.path());
    let mut sipp_cpu: Vec<SippCpu> = std::iter::once(SippCpu::new("callers".into(), &callers))
        .chain(
            agents_sipps
                .iter()
                .enumerate()
                .map(|(k, a)| SippCpu::new(format!("agents{k}"), a)),
        )
        .collect();
    // SIP sockets' drops, sampled with the CPU (a socket's count goes when its sipp ends).
    let sip_ports: Vec<(String, u16)> = [("hotline".to_string(), h.sip.port())]
        .into_iter()
        .chain(std::iter::once(("callers".to_string(), callers_port)))
        .chain(
            agent_ports
                .iter()
                .enumerate()
                .map(|(k, &p)| (format!("agents{k}"), p)),
        )
        .collect();
    let mut sip_drops: Vec<Option<u64>> = vec![None; sip_ports.len()];
    let sample_drops = |d: &mut Vec<Option<u64>>| {
        for (i, (_, port)) in sip_ports.iter().enumerate() {
            if let Some(n) = udp_drops(*port) {
                d[i] = Some(n);
            }
        }
    };
    sample_drops(&mut sip_drops);
    let load0 = loadavg();
    let (cpu0, me0, t0) = (cpu_ticks(&pid), cpu_ticks("self"), Instant::now());
    let mut peak_cpu = 0.0f64;
    let mut last = (cpu0, t0);
    let mut max_active = 0.0f64;
    // CPU figures cover the load: until the last call offered has talked (plus 5 s), not a
    // straggler's patience afterwards.
    let window = Duration::from_secs(u64::from(p.secs + p.talk_s + 5));
    let mut at_window = None;
    let mut all_ended: Option<Instant> = None;
    // sipp CPU every second (the callers' sipp takes its count with it when it ends), progress
    // every 5 s, until the callers are done (bounded by sipp's own timeout) or 10 s after the ACD
    // saw every call end.
    let callers_dir = callers.dir.clone();
    let mut callers_child = callers;
    let mut tick = 0u64;
    let caller_result = loop {
        std::thread::sleep(Duration::from_secs(1));
        tick += 1;
        if at_window.is_none() {
            sipp_cpu.iter_mut().for_each(SippCpu::sample);
        }
        sample_drops(&mut sip_drops);
        if let Ok(Some(_)) = callers_child.child.try_wait() {
            break callers_child.wait();
        }
        if at_window.is_none() && t0.elapsed() >= window {
            at_window = Some((
                cpu_ticks(&pid),
                cpu_ticks("self"),
                Instant::now(),
                loadavg(),
            ));
        }
        let ended = calls.lock().map(|c| c.ended).unwrap_or(0);
        if ended >= u64::from(calls_total)
            && all_ended.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(10)
        {
            break Err(format!(
                "still running 10 s after the ACD ended every call, hotline_active_calls {:?}",
                h.metric("hotline_active_calls")
            ));
        }
        if tick % 5 != 0 {
            continue;
        }
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
            "t={:>4.0} s active calls {active:.0}, queued {waiting}, answered {answered}, rang out {}, load {}",
            t0.elapsed().as_secs_f64(),
            counters.rang_out.load(Ordering::Relaxed),
            loadavg()
        );
    };
    let (cpu1, me1, t1, load1) = at_window.unwrap_or_else(|| {
        (
            cpu_ticks(&pid),
            cpu_ticks("self"),
            Instant::now(),
            loadavg(),
        )
    });
    let secs = (t1 - t0).as_secs_f64();

    // Wrap-up and the agents' delayed ready end, then the board: every agent should be ready
    // again, no call left.
    std::thread::sleep(Duration::from_millis(WRAP_UP_MS + READY_AGAIN_MS + 2_000));
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
    sample_drops(&mut sip_drops);
    // The agents' sipps write their statistics every 5 s; nothing happens now, so wait for a row
    // that holds every call.
    std::thread::sleep(Duration::from_secs(5));

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
            // The exit, and sipp's own words on stderr.
            Err(e) => e.lines().take(4).collect::<Vec<_>>().join(" | "),
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
        "offers: {} rang out (agent set ready again {} times), {} failed otherwise",
        counters.rang_out.load(Ordering::Relaxed),
        counters.ready_again.load(Ordering::Relaxed),
        counters.failed_other.load(Ordering::Relaxed)
    );
    println!(
        "wait to answer: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms; answered calls/s sustained {sustained:.1}",
        percentile(&waits, 0.5),
        percentile(&waits, 0.95),
        percentile(&waits, 0.99),
        percentile(&waits, 1.0)
    );
    println!(
        "CPU over the load ({secs:.0} s): hotline avg {} of a core, peak 5 s {:.0} % (RSS {:.0} MB), bench (CTI clients) {}; sipps {}; most calls up at once {max_active:.0}",
        pct(cpu0, cpu1),
        peak_cpu,
        rss_mb(h.child.id()).unwrap_or(f64::NAN),
        pct(me0, me1),
        sipp_cpu
            .iter()
            .map(SippCpu::percent)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "machine: load average {load0} at the start, {load1} at the end; SIP datagrams dropped (receive buffer full) {}",
        sip_ports
            .iter()
            .zip(&sip_drops)
            .map(|((who, _), n)| format!("{who} {}", n.map_or("n/a".into(), |n| n.to_string())))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cols = [
        "IncomingCall(C)",
        "OutgoingCall(C)",
        "SuccessfulCall(C)",
        "FailedCall(C)",
        "CurrentCall",
        "Retransmissions(C)",
        "FailedMaxUDPRetrans(C)",
        "FailedUnexpectedMessage(C)",
        "FailedCmdNotSent(C)",
        "FailedCallRejected(C)",
        "OutOfCallMsgs(C)",
        "DeadCallMsgs(C)",
        "AutoAnswered(C)",
    ];
    for (k, a) in agents_sipps.iter().enumerate() {
        let (n, first) = sipp_errors(&a.dir);
        println!(
            "agents{k} sipp: {}; error log {n} lines {first:?}",
            sipp_stats(&a.dir, &cols)
        );
    }
    let (n, first) = sipp_errors(&callers_dir);
    println!(
        "callers sipp: {}; error log {n} lines {first:?}",
        sipp_stats(&callers_dir, &cols)
    );
    let (n, top) = hotline_warnings(&h.log());
    println!("hotline log: {n} WARN/ERROR lines; most frequent {top:?}");
    println!(
        "after the run: hotline_active_calls {active_end:?}; agents not ready {} {:?}; agent sessions closed {}, commands refused {}, seq gaps {}",
        not_ready.len(),
        &not_ready[..not_ready.len().min(10)],
        counters.closed.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed),
        counters.gaps.load(Ordering::Relaxed)
    );
    // Each sipp's process group is killed on drop; then nothing of this run may be left.
    let marker = h.path().display().to_string();
    drop(agents_sipps);
    let left = bench_sipps(Some(&marker));
    for (pid, _) in &left {
        // SAFETY: kill(2) takes no pointers; the pid is a sipp of this run (its folder is in
        // the command line).
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    println!(
        "sipps of this run left after the group kills: {} (killed by pid)",
        left.len()
    );
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
            agent_sipps: num(6, 2).max(1) as usize,
        },
        // `cargo bench` with no arguments: a short, small run (the ramp is explicit).
        _ => Params {
            agents: 20,
            rate: 2,
            secs: 10,
            talk_s: 3,
            patience_s: 30,
            agent_sipps: 1,
        },
    };
    run(p);
}
