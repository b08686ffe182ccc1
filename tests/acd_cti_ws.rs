//! The CTI WebSocket bridge end to end on 127.0.0.1: an agent logs in over `/ws/cti`, receives the
//! snapshot, state events and a ringing call in sequence order; a second login takes over; a
//! supervisor gets the board and forces the agent out.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hotline::acd::event::{Event, IncomingCall};
use hotline::acd::{shell, Acd, AcdConfig, AgentProfile, GroupConfig};
use hotline::cti::session::{Principal, TokenValidator};
use hotline::cti::ws::{router, CtiState};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Tokens;
impl TokenValidator for Tokens {
    fn validate(&self, token: &str) -> Result<Principal, String> {
        match token {
            "t-1001" => Ok(Principal {
                user: "zhang".into(),
                agent_no: Some("1001".into()),
                supervisor: false,
            }),
            "t-boss" => Ok(Principal {
                user: "li".into(),
                agent_no: Some("9001".into()),
                supervisor: true,
            }),
            // wallboards for the fan-out test
            t if t.starts_with("t-wall-") => Ok(Principal {
                user: t.into(),
                agent_no: None,
                supervisor: true,
            }),
            _ => Err("unknown token".into()),
        }
    }
}

async fn start() -> (String, shell::AcdHandle) {
    let mut acd = Acd::new(AcdConfig {
        groups: vec![GroupConfig::new("g1", "南宁 12345")],
        ..AcdConfig::default()
    })
    .unwrap();
    acd.add_agent(AgentProfile::new("1001", "张三").in_group("g1", 1))
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // the call layer is not here: drop its actions
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let handle = shell::spawn(acd, shell::unix_ms, tx);
    let app = router(CtiState::new(handle.clone(), Arc::new(Tokens)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("ws://{addr}/ws/cti"), handle)
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s");
        match m {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Close(_))) | None => return json!({"type":"closed"}),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return json!({"type":"closed","error":e.to_string()}),
        }
    }
}

/// Reads frames until one matches, checking that `seq` goes up by one each time.
async fn until(ws: &mut Ws, last_seq: &mut u64, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..50 {
        let v = recv(ws).await;
        if v["type"] == "closed" {
            return v;
        }
        let seq = v["seq"].as_u64().expect("every frame has seq");
        assert_eq!(seq, *last_seq + 1, "events in order without gaps: {v}");
        *last_seq = seq;
        if pred(&v) {
            return v;
        }
    }
    panic!("no matching frame");
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn connect(url: &str, token: &str) -> (Ws, u64) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut ws, json!({"type":"hello","version":1,"token":token})).await;
    let mut seq = 0;
    let w = until(&mut ws, &mut seq, |v| v["type"] == "welcome").await;
    assert_eq!(w["version"], 1);
    (ws, seq)
}

#[tokio::test]
async fn agent_logs_in_gets_events_in_order_and_is_taken_over() {
    let (url, acd) = start().await;
    let (mut ws, mut seq) = connect(&url, "t-1001").await;
    let snap = until(&mut ws, &mut seq, |v| v["type"] == "snapshot").await;
    assert_eq!(snap["agent"]["agent"]["state"]["state"], "logged_out");
    assert_eq!(snap["agent"]["queues"][0]["name"], "南宁 12345");

    send(
        &mut ws,
        json!({"type":"command","id":1,"command":{"cmd":"login"}}),
    )
    .await;
    // the result comes first, then the events the command caused
    let r = until(&mut ws, &mut seq, |v| v["type"] == "result").await;
    assert_eq!((r["id"].as_u64(), r["ok"].as_bool()), (Some(1), Some(true)));
    let ev = until(&mut ws, &mut seq, |v| v["type"] == "event").await;
    assert_eq!(ev["event"]["state"]["state"], "not_ready");

    send(
        &mut ws,
        json!({"type":"command","id":2,"command":{"cmd":"dial","number":"110"}}),
    )
    .await;
    let r = until(&mut ws, &mut seq, |v| v["type"] == "result").await;
    assert_eq!(r["ok"], true, "outbound from not-ready: {r}");
    acd.request(Event::CallEnded {
        call: "out-1-1".into(),
    })
    .await
    .unwrap()
    .unwrap();

    send(
        &mut ws,
        json!({"type":"command","id":3,"command":{"cmd":"set_ready"}}),
    )
    .await;
    until(&mut ws, &mut seq, |v| v["type"] == "result" && v["id"] == 3).await;

    acd.request(Event::CallArrived(IncomingCall {
        call: "c1".into(),
        caller: "13800000000".into(),
        did: "12345".into(),
        group: Some("g1".into()),
        ivr_path: vec!["1".into(), "3".into()],
        ..Default::default()
    }))
    .await
    .unwrap()
    .unwrap();
    let ring = until(&mut ws, &mut seq, |v| v["event"]["event"] == "call_ringing").await;
    assert_eq!(ring["event"]["group"], "g1");
    assert_eq!(ring["event"]["group_name"], "南宁 12345");
    assert_eq!(ring["event"]["caller"], "13800000000");
    assert_eq!(ring["event"]["ivr_path"], json!(["1", "3"]));

    send(
        &mut ws,
        json!({"type":"command","id":4,"command":{"cmd":"logout"}}),
    )
    .await;
    let r = until(&mut ws, &mut seq, |v| v["type"] == "result" && v["id"] == 4).await;
    assert_eq!(r["ok"], false);

    send(
        &mut ws,
        json!({"type":"command","id":5,"command":{"cmd":"transfer_targets"}}),
    )
    .await;
    let r = until(&mut ws, &mut seq, |v| v["type"] == "result" && v["id"] == 5).await;
    assert_eq!(r["data"][0]["name"], "南宁 12345");

    // A second desktop for the same agent takes over; the first is kicked and closed.
    let (mut ws2, mut seq2) = connect(&url, "t-1001").await;
    let snap2 = until(&mut ws2, &mut seq2, |v| v["type"] == "snapshot").await;
    assert_eq!(
        snap2["agent"]["call"]["call"], "c1",
        "the reconnecting desktop sees the ringing call"
    );
    let k = until(&mut ws, &mut seq, |v| {
        v["type"] == "kicked" || v["type"] == "closed"
    })
    .await;
    assert_eq!(k["type"], "kicked");
    let c = recv(&mut ws).await;
    assert_eq!(c["type"], "closed");

    // The agent is still logged in; a supervisor's force logout reaches the new desktop.
    let (mut boss, mut bseq) = connect(&url, "t-boss").await;
    until(&mut boss, &mut bseq, |v| v["type"] == "snapshot").await;
    send(&mut boss, json!({"type":"command","id":1,"command":{"cmd":"force_logout","agent_no":"1001","reason":"test"}})).await;
    let r = until(&mut boss, &mut bseq, |v| v["type"] == "result").await;
    assert_eq!(r["ok"], true, "{r}");
    let k = until(&mut ws2, &mut seq2, |v| {
        v["type"] == "kicked" || v["type"] == "closed"
    })
    .await;
    assert_eq!(
        k["type"], "kicked",
        "the kick reaches the session that took over"
    );
}

#[tokio::test]
async fn supervisor_gets_board_and_forces_agent_out() {
    let (url, _acd) = start().await;
    let (mut agent, mut aseq) = connect(&url, "t-1001").await;
    send(
        &mut agent,
        json!({"type":"command","id":1,"command":{"cmd":"login"}}),
    )
    .await;
    until(&mut agent, &mut aseq, |v| v["type"] == "result").await;
    send(
        &mut agent,
        json!({"type":"command","id":2,"command":{"cmd":"board"}}),
    )
    .await;
    let r = until(&mut agent, &mut aseq, |v| {
        v["type"] == "result" && v["id"] == 2
    })
    .await;
    assert_eq!(r["error"]["code"], "forbidden");

    let (mut boss, mut bseq) = connect(&url, "t-boss").await;
    let snap = until(&mut boss, &mut bseq, |v| v["type"] == "snapshot").await;
    assert_eq!(snap["board"]["agents"][0]["agent_no"], "1001");
    send(&mut boss, json!({"type":"command","id":1,"command":{"cmd":"force_logout","agent_no":"1001","reason":"absent"}})).await;
    let r = until(&mut boss, &mut bseq, |v| v["type"] == "result").await;
    assert_eq!(r["ok"], true, "{r}");
    let k = until(&mut agent, &mut aseq, |v| {
        v["type"] == "kicked" || v["type"] == "closed"
    })
    .await;
    assert_eq!(k["type"], "kicked");
    assert!(k["reason"].as_str().unwrap().contains("absent"));

    send(&mut boss, json!({"type":"hello","version":1,"token":"x"})).await;
    let e = until(&mut boss, &mut bseq, |v| v["type"] == "error").await;
    assert_eq!(e["code"], "bad_message");
    let (mut bad, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut bad, json!({"type":"hello","version":1,"token":"nope"})).await;
    assert_eq!(recv(&mut bad).await["code"], "unauthenticated");
    assert_eq!(recv(&mut bad).await["type"], "closed");
}

/// One agent's burst of state changes reaches many wallboards: each gets every change, in the
/// order made, with its own seq rising by one per frame (the event is serialised once and shared;
/// frames go out in batches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_reaches_every_wallboard_in_order() {
    const WALLS: usize = 20;
    const CHANGES: usize = 300;
    let (url, _acd) = start().await;
    let mut walls = Vec::new();
    for i in 0..WALLS {
        let (mut ws, mut seq) = connect(&url, &format!("t-wall-{i}")).await;
        until(&mut ws, &mut seq, |v| v["type"] == "snapshot").await;
        walls.push((ws, seq));
    }
    let (mut agent, mut aseq) = connect(&url, "t-1001").await;
    send(
        &mut agent,
        json!({"type":"command","id":1,"command":{"cmd":"login"}}),
    )
    .await;
    until(&mut agent, &mut aseq, |v| v["type"] == "result").await;
    // Commands written back to back, results not awaited: a burst.
    for n in 0..CHANGES {
        let cmd = if n % 2 == 0 {
            json!({"cmd":"set_ready"})
        } else {
            json!({"cmd":"set_not_ready","reason":"meeting"})
        };
        send(
            &mut agent,
            json!({"type":"command","id":10 + n,"command":cmd}),
        )
        .await;
    }
    for (i, (ws, seq)) in walls.iter_mut().enumerate() {
        // login's not-ready, then ready / not-ready alternating
        let mut states = Vec::new();
        while states.len() < CHANGES + 1 {
            let v = until(ws, seq, |v| v["event"]["event"] == "agent_state").await;
            assert_ne!(v["type"], "closed", "wallboard {i} was closed: {v}");
            assert_eq!(v["event"]["agent_no"], "1001");
            states.push(v["event"]["state"]["state"].as_str().unwrap().to_string());
        }
        for (n, s) in states.iter().enumerate() {
            let want = if n % 2 == 1 { "ready" } else { "not_ready" };
            assert_eq!(s, want, "wallboard {i}, change {n}");
        }
    }
    // The agent's own desktop got every result and every change too, seq without gaps.
    let mut results = 0;
    let mut changes = 0;
    while results < CHANGES || changes < CHANGES {
        let v = until(&mut agent, &mut aseq, |_| true).await;
        match v["type"].as_str() {
            Some("result") => {
                assert_eq!(v["ok"], true, "{v}");
                results += 1;
            }
            Some("event") if v["event"]["event"] == "agent_state" => changes += 1,
            Some("closed") => panic!("agent desktop closed"),
            _ => {}
        }
    }
}
