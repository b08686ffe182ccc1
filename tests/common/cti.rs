//! The agent desktop's side for tests: REST login, the CTI WebSocket, commands and events.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::Hotline;

pub fn http_post(addr: SocketAddr, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// An ACD with the 12315 consumer queue and agent 1001 on extension 1001.
pub const ACD_CONSUMER_1001: &str = r#"
[[groups]]
id = "consumer"
name = "12315 消费维权"
ring_timeout_ms = 10000

[[agent]]
agent_no = "1001"
name = "坐席 1001"
groups = [{ group = "consumer", level = 5 }]
endpoints = [{ kind = "sip", extension = "1001" }]
"#;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next frame matching `pred` within `within` (others are skipped).
pub async fn ws_until(ws: &mut Ws, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a matching CTI frame in time");
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if pred(&v) {
                    return v;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("CTI socket ended: {other:?}"),
        }
    }
}

/// Sends a command and checks that it succeeded.
pub async fn command(ws: &mut Ws, id: u64, cmd: Value) {
    ws.send(Message::Text(
        json!({"type":"command","id":id,"command":cmd})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let r = ws_until(ws, Duration::from_secs(10), |v| {
        v["type"] == "result" && v["id"] == id
    })
    .await;
    assert_eq!(r["ok"], true, "{r}");
}

/// Creates desktop user `user` with `roles` (`hotline user add`); returns its password.
pub fn add_user(h: &Hotline, user: &str, roles: &str) -> String {
    let password = format!("Desk-{user}-pw");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--config")
        .arg(h.path().join("hotline.toml"))
        .args([
            "user",
            "add",
            user,
            "--roles",
            roles,
            "--password",
            &password,
        ])
        .current_dir(h.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    password
}

/// Creates desktop user `user` with `roles`, logs it in over REST and opens /ws/cti (welcomed).
pub async fn desktop(h: &Hotline, user: &str, roles: &str) -> Ws {
    let password = add_user(h, user, roles);
    let resp = http_post(
        h.http,
        "/api/v1/auth/login",
        &json!({"username": user, "password": password}).to_string(),
    );
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
    let token = serde_json::from_str::<Value>(body).unwrap_or_default()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login: {resp}"))
        .to_string();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/cti", h.http))
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"type":"hello","version":1,"token":token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws_until(&mut ws, Duration::from_secs(10), |v| v["type"] == "welcome").await;
    ws
}

/// Creates desktop user 1001 (agent role), logs it in over REST and /ws/cti and makes the agent
/// ready; the socket stays open for events.
pub async fn ready_agent(h: &Hotline) -> Ws {
    let mut ws = desktop(h, "1001", "agent").await;
    command(&mut ws, 1, json!({"cmd":"login"})).await;
    command(&mut ws, 2, json!({"cmd":"set_ready"})).await;
    ws
}

/// Desktop users and their login tokens, written straight into the database at `db_url` before
/// the server starts: (user name, role) each, all with one password. Load benches use this for
/// hundreds of users (the login endpoint's production argon2 would take minutes, and is not what
/// they measure).
pub async fn seed_tokens(
    db_url: &str,
    users: &[(String, hotline::tickets::model::Role)],
) -> Vec<String> {
    use hotline::web::auth::{Auth, AuthConfig, NewUser};
    let db = hotline::store::Db::connect(db_url).await.expect("database");
    db.migrate().await.expect("migrate");
    let auth = Auth::new(db.clone(), AuthConfig::for_tests());
    let mut out = Vec::with_capacity(users.len());
    for (name, role) in users {
        auth.create_user(NewUser {
            username: name.clone(),
            password: "bench-password".into(),
            display_name: String::new(),
            roles: vec![*role],
            region_scope: String::new(),
            department_id: None,
        })
        .await
        .expect("create user");
        let s = auth
            .login(name, "bench-password", hotline::store::now_ms())
            .await
            .expect("login");
        out.push(s.token);
    }
    db.pool.close().await;
    out
}
