//! The WebSocket shell at `/ws/cti`: one task per connection drives a [`CtiSession`] with frames
//! from the socket, events from the ACD task, and the ACD's answers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::Extensions;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc::error::TryRecvError;
use tracing::{debug, info_span, Instrument};

use super::protocol::{event_frame, MAX_MESSAGE_BYTES};
use super::session::{Checked, CtiSession, Query, Registry, SessionOutput, TokenLookup};
use crate::acd::shell::{AcdHandle, Audience, Broadcast, Subscription};

/// Events taken from the broadcast per wake-up before the frames are flushed.
const MAX_EVENTS_PER_WAKE: usize = 64;

/// What every connection shares.
#[derive(Clone)]
pub struct CtiState {
    pub acd: AcdHandle,
    pub auth: Arc<dyn TokenLookup>,
    next_session: Arc<AtomicU64>,
    registry: Arc<Mutex<Registry>>,
}

impl CtiState {
    pub fn new(acd: AcdHandle, auth: Arc<dyn TokenLookup>) -> Self {
        CtiState {
            acd,
            auth,
            next_session: Arc::new(AtomicU64::new(1)),
            registry: Arc::new(Mutex::new(Registry::default())),
        }
    }
}

/// The `/ws/cti` route (merge it into the web router).
pub fn router(state: CtiState) -> Router {
    Router::new()
        .route("/ws/cti", get(upgrade))
        .with_state(state)
}

async fn upgrade(ws: WebSocketUpgrade, ext: Extensions, State(st): State<CtiState>) -> Response {
    // The peer address, when the server was started with connect info (for list audits).
    let ip = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    ws.max_message_size(MAX_MESSAGE_BYTES + 1024)
        .on_upgrade(move |socket| {
            let id = st.next_session.fetch_add(1, Ordering::Relaxed);
            run(socket, st, id, ip).instrument(info_span!("cti", session = id))
        })
}

async fn run(socket: WebSocket, st: CtiState, id: u64, ip: String) {
    let mut session = CtiSession::new(id, ip);
    // Events are subscribed once the session knows whose events it may see.
    let mut events: Option<Subscription> = None;
    let (mut sink, mut stream) = socket.split();
    let mut agent: Option<String> = None;
    'conn: loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    // The token is looked up without blocking a runtime thread: a shift's worth of
                    // desktops logging in at once must not park every worker on the database.
                    let checked = match session.hello_token(t.as_str()) {
                        Some(token) => Checked {
                            verdict: st.auth.lookup(token.clone()).await,
                            token,
                        },
                        None => Checked::nothing(),
                    };
                    session.handle_text(t.as_str(), &checked);
                }
                Some(Ok(Message::Binary(_))) => session.handle_text("binary frames are not part of the protocol", &Checked::nothing()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break 'conn,
            },
            b = next_event(&mut events) => {
                let mut b = b;
                // A burst of events is taken together and flushed once below (one write, not one
                // per frame); bounded so that the client's own frames are not starved.
                let mut taken = 0;
                loop {
                    match b {
                        Some(Broadcast::Event(e)) => session.deliver(&e),
                        Some(Broadcast::Kick { session: s, reason, .. }) if s == id => session.kick(&reason),
                        Some(Broadcast::Kick { .. }) => {}
                        // Too slow to keep up: close, the client reconnects and gets a fresh snapshot.
                        None if events.as_ref().is_some_and(Subscription::lagged) => {
                            session.kick("too slow: reconnect for a snapshot");
                            events = None;
                            break;
                        }
                        None => break 'conn,
                    }
                    taken += 1;
                    if taken == MAX_EVENTS_PER_WAKE {
                        break; // the rest stays in the channel for the next wake-up
                    }
                    b = match events.as_mut().map(|e| e.rx.try_recv()) {
                        Some(Ok(next)) => Some(next),
                        Some(Err(TryRecvError::Disconnected)) => None,
                        Some(Err(TryRecvError::Empty)) | None => break,
                    };
                }
            }
        }
        while let Some(out) = session.poll() {
            let frame = matches!(out, SessionOutput::Send(_) | SessionOutput::Event { .. });
            // Frames queued so far leave before waiting on the ACD or closing.
            if !frame && sink.flush().await.is_err() {
                break 'conn;
            }
            match out {
                SessionOutput::Send(m) => {
                    let Ok(text) = serde_json::to_string(&m) else {
                        continue;
                    };
                    if sink.feed(Message::Text(text.into())).await.is_err() {
                        break 'conn;
                    }
                }
                SessionOutput::Event { seq, event } => {
                    let text = event_frame(seq, &event);
                    if !text.is_empty() && sink.feed(Message::Text(text.into())).await.is_err() {
                        break 'conn;
                    }
                }
                SessionOutput::Acd { id: cid, event } => match st.acd.request(event).await {
                    Ok(r) => session.command_result(cid, r),
                    Err(_) => break 'conn,
                },
                SessionOutput::Query { id: qid, query } => {
                    let data = match query {
                        Query::AgentState(a) => {
                            st.acd.agent_snapshot(&a).await.map(serde_json::to_value)
                        }
                        Query::Board => st.acd.board().await.map(serde_json::to_value),
                        Query::TransferTargets => {
                            st.acd.transfer_targets().await.map(serde_json::to_value)
                        }
                    };
                    match data {
                        Ok(Ok(v)) => session.query_result(qid, v),
                        Ok(Err(_)) => session.query_result(qid, serde_json::Value::Null),
                        Err(_) => break 'conn,
                    }
                }
                SessionOutput::Authenticated { principal } => {
                    if let Some(a) = &principal.agent_no {
                        let old = st.registry.lock().ok().and_then(|mut r| r.attach(a, id));
                        if let Some(old) = old {
                            if st
                                .acd
                                .kick(a, old, "this agent connected again elsewhere")
                                .await
                                .is_err()
                            {
                                break 'conn;
                            }
                        }
                        agent = Some(a.clone());
                        // Later kicks (force logout, forced login) must reach this session.
                        let attach = crate::acd::Event::Agent {
                            agent_no: a.clone(),
                            cmd: crate::acd::AgentCommand::Attach { session: id },
                        };
                        if st.acd.request(attach).await.is_err() {
                            break 'conn;
                        }
                    }
                    // Subscribed before the snapshot is taken, so no event falls between them.
                    let audience = Audience {
                        agent_no: principal.agent_no.clone(),
                        everything: principal.supervisor,
                    };
                    match st.acd.subscribe(id, audience).await {
                        Ok(sub) => events = Some(sub),
                        Err(_) => break 'conn,
                    }
                    let snap = match &principal.agent_no {
                        Some(a) => st.acd.agent_snapshot(a).await.ok().flatten(),
                        None => None,
                    };
                    let board = if principal.supervisor {
                        st.acd.board().await.ok()
                    } else {
                        None
                    };
                    session.snapshot(st.acd.now(), snap, board);
                }
                SessionOutput::Close { reason } => {
                    debug!(%reason, "closing CTI session");
                    let _ = sink.send(Message::Close(None)).await;
                    break 'conn;
                }
            }
        }
        if sink.flush().await.is_err() {
            break 'conn;
        }
    }
    if let Some(a) = agent {
        if let Ok(mut r) = st.registry.lock() {
            r.detach(&a, id);
        }
    }
}

/// The next event of a subscribed session; never, before it is subscribed.
async fn next_event(events: &mut Option<Subscription>) -> Option<Broadcast> {
    match events {
        Some(sub) => sub.rx.recv().await,
        None => std::future::pending().await,
    }
}
