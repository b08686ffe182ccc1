//! The IVR's HTTP lookups against a real local web service (axum on 127.0.0.1:0): a flow's
//! `lookup` node with a `url` is driven in virtual time, the request it asks for is run by the
//! shell's client for real, and its answer goes back into the flow. A housing-fund balance
//! service answers JSON; slow, failing, garbled, nested, oversized and missing answers take the
//! `error` (or `not_found`) branch.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hotline::call::http_lookup::{HttpLookups, MAX_BODY};
use hotline::ivr::flow::{HttpMethod, LookupSource};
use hotline::ivr::testing::{flow_set, played, wall, Sim};
use hotline::ivr::*;

type Seen = Arc<Mutex<Vec<String>>>;

/// The fund service: `POST /fund/{card}/balance` with a JSON body, `GET /fund/balance?card=`,
/// and misbehaving routes. Every request is noted in `seen`.
async fn service() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let s1 = seen.clone();
    let s2 = seen.clone();
    let app = Router::new()
        .route(
            "/fund/{card}/balance",
            post(
                move |Path(card): Path<String>, Json(body): Json<HashMap<String, String>>| {
                    let seen = s1.clone();
                    async move {
                        seen.lock().unwrap().push(format!(
                            "POST card={card} caller={} pin={}",
                            body.get("caller").cloned().unwrap_or_default(),
                            body.get("pin").cloned().unwrap_or_default()
                        ));
                        if card == "0000" {
                            return Err(StatusCode::NOT_FOUND);
                        }
                        Ok(Json(serde_json::json!({
                            "balance": "12345",
                            "months": 36,
                            "frozen": false,
                        })))
                    }
                },
            ),
        )
        .route(
            "/fund/balance",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let seen = s2.clone();
                async move {
                    seen.lock().unwrap().push(format!(
                        "GET card={} caller={}",
                        q.get("card").cloned().unwrap_or_default(),
                        q.get("caller").cloned().unwrap_or_default()
                    ));
                    Json(serde_json::json!({ "balance": 88.5 }))
                }
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Json(serde_json::json!({ "balance": "1" }))
            }),
        )
        .route(
            "/broken",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
        )
        .route("/garbled", post(|| async { "balance=12" }))
        .route(
            "/nested",
            post(|| async { Json(serde_json::json!({ "account": { "balance": 1 } })) }),
        )
        .route(
            "/huge",
            post(|| async { Json(serde_json::json!({ "x": "y".repeat(MAX_BODY) })) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn flow(url: &str, method: &str, timeout: &str) -> String {
    format!(
        r#"
[flow]
start = "card"
[nodes.card]
kind = "collect"
prompt = "enter_card"
var = "card"
max = 8
next = "balance"
fail = "err"
[nodes.balance]
kind = "lookup"
url = "{url}"
method = "{method}"
args = {{ caller = "{{caller}}", pin = "{{card}}" }}
timeout = {timeout}
result = "fund"
next = "say"
not_found = "nf"
error = "err"
[nodes.say]
kind = "say"
number = "{{fund.balance}}"
next = "bye"
[nodes.bye]
kind = "hangup"
[nodes.nf]
kind = "hangup"
prompt = "no_such_card"
[nodes.err]
kind = "hangup"
prompt = "service_unavailable"
"#
    )
}

fn env() -> Env {
    Env {
        calendar: Arc::new(AlwaysOpen),
        lists: Arc::new(StaticLists::new()),
    }
}

/// Runs the flow up to its lookup (the caller keys `card#`), performs the request the flow
/// asked for with the shared client, feeds the answer back, and returns the call afterwards
/// with the outcome and how long the request took.
async fn call_through(
    http: &HttpLookups,
    text: &str,
    card: &str,
) -> (Sim, LookupOutcome, Duration) {
    let set = flow_set(&[("fund.toml", text)]);
    let mut s = Sim::new(set, "fund", "13800138000", wall("2026-11-23 10:00"), env());
    s.start();
    s.finish_prompts();
    let a = s.digits(&format!("{card}#"));
    let (source, args, timeout_ms) = a
        .iter()
        .find_map(|x| match x {
            Action::Lookup {
                source,
                args,
                timeout_ms,
                ..
            } => Some((source.clone(), args.clone(), *timeout_ms)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no lookup after the card number: {a:?}"));
    let LookupSource::Http { url, method } = source else {
        panic!("not an HTTP lookup: {source:?}");
    };
    let started = Instant::now();
    let outcome = http
        .run(
            "call-1",
            method,
            &url,
            &args,
            Duration::from_millis(timeout_ms),
        )
        .await;
    let took = started.elapsed();
    let id = s.lookup_id().unwrap();
    s.send(Input::LookupResult {
        id,
        outcome: outcome.clone(),
    });
    (s, outcome, took)
}

#[tokio::test]
async fn a_post_lookup_fills_the_flow_variables() {
    let (addr, seen) = service().await;
    let http = HttpLookups::new().unwrap();
    let text = flow(&format!("http://{addr}/fund/{{card}}/balance"), "POST", "2");
    let (s, outcome, _) = call_through(&http, &text, "4321").await;
    assert!(matches!(outcome, LookupOutcome::Found(_)), "{outcome:?}");
    // The call's arguments went as a JSON body; the collected digits also filled the path.
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["POST card=4321 caller=13800138000 pin=4321".to_string()]
    );
    assert_eq!(s.call.vars()["fund.balance"], "12345");
    assert_eq!(s.call.vars()["fund.months"], "36");
    assert_eq!(s.call.vars()["fund.frozen"], "false");
    assert_eq!(s.call.node(), "say");
    // The balance is spoken: 一万两千三百四十五 from number fragments.
    let spoken: Vec<String> = played(&s.log).concat();
    assert!(spoken.iter().any(|p| p.contains("wan")), "{spoken:?}");
}

#[tokio::test]
async fn a_get_lookup_sends_the_arguments_as_query() {
    let (addr, seen) = service().await;
    let http = HttpLookups::new().unwrap();
    let text = flow(
        &format!("http://{addr}/fund/balance?card={{card}}"),
        "GET",
        "2",
    );
    let (s, outcome, _) = call_through(&http, &text, "1203").await;
    assert!(matches!(outcome, LookupOutcome::Found(_)), "{outcome:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["GET card=1203 caller=13800138000".to_string()]
    );
    assert_eq!(s.call.vars()["fund.balance"], "88.5");
}

#[tokio::test]
async fn a_404_takes_the_not_found_branch() {
    let (addr, _) = service().await;
    let http = HttpLookups::new().unwrap();
    let text = flow(&format!("http://{addr}/fund/{{card}}/balance"), "POST", "2");
    let (s, outcome, _) = call_through(&http, &text, "0000").await;
    assert_eq!(outcome, LookupOutcome::NotFound);
    assert_eq!(s.call.node(), "nf");
    assert!(!s.call.vars().contains_key("fund.balance"));
}

#[tokio::test]
async fn a_slow_service_hits_the_timeout() {
    let (addr, _) = service().await;
    let http = HttpLookups::new().unwrap();
    let text = flow(&format!("http://{addr}/slow"), "POST", "0.3");
    let (s, outcome, took) = call_through(&http, &text, "4321").await;
    match &outcome {
        LookupOutcome::Failed(e) => assert!(e.contains("within 300 ms"), "{e}"),
        x => panic!("{x:?}"),
    }
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(s.call.node(), "err");
}

#[tokio::test]
async fn errors_garbage_nesting_size_and_no_server_take_the_error_branch() {
    let (addr, _) = service().await;
    let http = HttpLookups::new().unwrap();
    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for (url, want) in [
        (format!("http://{addr}/broken"), "HTTP 500"),
        (format!("http://{addr}/garbled"), "not JSON"),
        (format!("http://{addr}/nested"), "nested"),
        (format!("http://{addr}/huge"), "larger than"),
        (format!("http://{closed}/fund"), "cannot connect"),
    ] {
        let text = flow(&url, "POST", "2");
        let (s, outcome, _) = call_through(&http, &text, "4321").await;
        match &outcome {
            LookupOutcome::Failed(e) => assert!(e.contains(want), "{url}: {e}"),
            x => panic!("{url}: {x:?}"),
        }
        assert_eq!(s.call.node(), "err", "{url}");
        assert!(!s.call.vars().contains_key("fund.balance"), "{url}");
    }
}

#[test]
fn a_variable_in_the_url_cannot_change_its_structure() {
    let text = r#"
[flow]
start = "s"
[nodes.s]
kind = "set"
vars = { who = "a/b?x=1&y=2#z" }
next = "l"
[nodes.l]
kind = "lookup"
url = "https://fund.example/api/{who}/balance?c={caller}"
method = "GET"
next = "bye"
not_found = "bye"
error = "bye"
[nodes.bye]
kind = "hangup"
"#;
    let set = flow_set(&[("u.toml", text)]);
    let mut s = Sim::new(set, "u", "+86 138", wall("2026-11-23 10:00"), env());
    let a = s.start();
    let url = a
        .iter()
        .find_map(|x| match x {
            Action::Lookup {
                source: LookupSource::Http { url, method },
                ..
            } => {
                assert_eq!(*method, HttpMethod::Get);
                Some(url.clone())
            }
            _ => None,
        })
        .expect("lookup");
    // Percent-encoded: the caller's input cannot add parameters or path segments.
    assert_eq!(
        url,
        "https://fund.example/api/a%2Fb%3Fx%3D1%26y%3D2%23z/balance?c=%2B86%20138"
    );
}
