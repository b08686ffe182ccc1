//! The agent desktop in a real browser against the real server: headless Chromium (the system's
//! `chromium`, driven over the Chrome DevTools Protocol on a loopback WebSocket) opens `/desktop`,
//! the agent logs in with 工号 and password, is signed in and sets ready from the page's buttons; a
//! citizen's call reaches the queue and the agent's SIP phone; the page pops the caller's number and
//! skill group, shows talking, files the call's draft work order, and hangs up from its 挂机 button,
//! after which both SIP legs get BYE and the page shows wrap-up. The page must raise no script error
//! and no CSP violation. A screenshot of the talking desktop is written under the target tmp dir.
//!
//! Without chromium the test prints `SKIPPED: no chromium` (under CI, where `.ci/run` installs it,
//! it fails instead).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::cti::{add_user, command, desktop, http_post, ws_until, Ws};
use common::phone::{carrier_call, pick_up, rtp_socket};
use common::ua::{request, Ua};
use common::{Hotline, HotlineSetup};
use futures::{SinkExt, StreamExt};
use hotline::sip::message::SipMessage;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The browser binary: `HOTLINE_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HOTLINE_CHROMIUM") {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

/// A headless Chromium with its own profile, killed on drop; only loopback traffic.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws_url: String,
}

impl Browser {
    fn start(bin: &std::path::Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--metrics-recording-only",
                "--no-pings",
                "--lang=zh-CN",
                "--window-size=1440,1000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it chose and the browser target's path to DevToolsActivePort.
        let file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let ws_url = loop {
            if let Ok(s) = std::fs::read_to_string(&file) {
                let mut l = s.lines();
                if let (Some(port), Some(path)) = (l.next(), l.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Browser {
            child,
            _profile: profile,
            ws_url,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal DevTools Protocol client: one page session over the browser's WebSocket. Console
/// errors, exceptions and CSP reports of the page are collected in `problems`.
struct Cdp {
    ws: Ws,
    next: u64,
    session: String,
    problems: Vec<String>,
}

impl Cdp {
    async fn open(browser: &Browser) -> Cdp {
        let (ws, _) = tokio_tungstenite::connect_async(browser.ws_url.as_str())
            .await
            .expect("DevTools WebSocket");
        let mut cdp = Cdp {
            ws,
            next: 1,
            session: String::new(),
            problems: Vec::new(),
        };
        let t = cdp
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let a = cdp
            .call(
                "Target.attachToTarget",
                json!({"targetId": t["targetId"], "flatten": true}),
            )
            .await;
        cdp.session = a["sessionId"].as_str().unwrap().to_string();
        for m in ["Page.enable", "Runtime.enable", "Log.enable"] {
            cdp.call(m, json!({})).await;
        }
        cdp
    }

    /// Sends a command (to the page once attached) and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no DevTools answer to {method}"));
            let Some(Ok(Message::Text(t))) = m else {
                match m {
                    Some(Ok(_)) => continue,
                    other => panic!("DevTools socket ended: {other:?}"),
                }
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
            self.note(&v);
        }
    }

    fn note(&mut self, v: &Value) {
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => self
                .problems
                .push(format!("exception: {}", v["params"]["exceptionDetails"])),
            Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => {
                let text = v["params"]["entry"]["text"].as_str().unwrap_or_default();
                self.problems.push(format!("console: {text}"));
            }
            Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => self
                .problems
                .push(format!("console.error: {}", v["params"]["args"])),
            _ => {}
        }
    }

    /// Evaluates `expr` in the page; returns its value (a thrown exception fails the test).
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("page script `{expr}` threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy; returns its value.
    async fn wait(&mut self, what: &str, expr: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.eval(expr).await;
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            if Instant::now() > deadline {
                let state = self
                    .eval("JSON.stringify({state: document.body.dataset.agentState, notice: document.getElementById('notice') && document.getElementById('notice').textContent, log: document.getElementById('log') && document.getElementById('log').innerText, conn: document.getElementById('conn') && document.getElementById('conn').textContent, login: document.getElementById('login-err') && document.getElementById('login-err').textContent})")
                    .await;
                panic!(
                    "the page never showed {what}: {state}; problems: {:?}",
                    self.problems
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&mut self, id: &str) {
        let ok = self
            .eval(&format!(
                "(() => {{ const b = document.getElementById('{id}'); if (!b || b.disabled) return false; b.click(); return true; }})()"
            ))
            .await;
        assert_eq!(ok, true, "button #{id} is on the page and enabled");
    }

    async fn enabled(&mut self, id: &str) -> bool {
        self.eval(&format!("!document.getElementById('{id}').disabled"))
            .await
            == true
    }

    async fn text(&mut self, id: &str) -> String {
        self.eval(&format!("document.getElementById('{id}').textContent"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn screenshot(&mut self, name: &str) -> PathBuf {
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// The consumer queue with agent 1001, whose group lets no agent go not-ready by choice (so that
/// the page's 示忙 is refused by the server), and a colleague 1002 for the wallboard.
const ACD: &str = r#"
[[groups]]
id = "consumer"
name = "12315 消费维权"
ring_timeout_ms = 10000
not_ready_cap = 0

[[agent]]
agent_no = "1001"
name = "坐席 1001"
groups = [{ group = "consumer", level = 5 }]
endpoints = [{ kind = "sip", extension = "1001" }]

[[agent]]
agent_no = "1002"
name = "坐席 1002"
groups = [{ group = "consumer", level = 5 }]
endpoints = [{ kind = "sip", extension = "1002" }]
"#;

/// Wraps the page's WebSocket constructor (before any page script runs) so that the test can
/// drop the CTI socket or hand the page a frame out of sequence, as a network would.
const SOCKET_SPY: &str = "window.__sockets = []; const Real = window.WebSocket; window.WebSocket = function (url, p) { const w = new Real(url, p); window.__sockets.push(w); return w; }; window.WebSocket.prototype = Real.prototype; Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });";

/// A GET with a bearer token; the body.
fn http_get_auth(addr: std::net::SocketAddr, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// One browser (and its hotline) at a time: each is a heavy process, and a shared CI machine runs
/// the other integration tests beside these.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Chromium, or the reason the test is skipped.
fn chromium_or_skip() -> Option<PathBuf> {
    let bin = chromium();
    if bin.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed (apt-get install chromium)");
        }
        println!("SKIPPED: no chromium");
        eprintln!("SKIPPED: no chromium");
    }
    bin
}

/// Opens `path` on hotline and logs in on the page's form as `user`.
async fn open_and_log_in(page: &mut Cdp, h: &Hotline, path: &str, user: &str, password: &str) {
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": SOCKET_SPY}),
    )
    .await;
    page.call(
        "Page.navigate",
        json!({"url": format!("http://{}{path}", h.http)}),
    )
    .await;
    page.wait(
        "the login form",
        "document.readyState === 'complete' && !!document.getElementById('login-form') && !document.getElementById('login-view').hidden",
        Duration::from_secs(20),
    )
    .await;
    page.screenshot(&format!("{}-login.png", path.trim_start_matches('/')))
        .await;
    page.eval(&format!(
        "document.getElementById('login-user').value = {}; document.getElementById('login-pass').value = {}; document.querySelector('#login-form button[type=submit]').click(); true",
        json!(user),
        json!(password)
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_takes_and_hangs_up_a_call_on_the_browser_desktop() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let carrier = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: common::carrier_and_agent_1001(carrier.addr, None),
        acd: Some(ACD.into()),
        ..HotlineSetup::default()
    });
    let password = add_user(&h, "1001", "agent");
    let agent_phone = Ua::new();
    agent_phone.register(h.sip, "1001", "s3cret");

    // 工号 and password through the page's form (the REST login), then hello and login on /ws/cti.
    let browser = Browser::start(&bin);
    let mut page = Cdp::open(&browser).await;
    open_and_log_in(&mut page, &h, "/desktop", "1001", &password).await;
    page.wait(
        "the agent signed in (not ready)",
        "document.body.dataset.agentState === 'not_ready'",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(page.text("conn").await, "已连接");
    assert!(page.text("who").await.contains("1001"));
    // Buttons follow the state: ready and dial-out from not-ready, no call control without a call.
    assert!(page.enabled("btn-ready").await && page.enabled("btn-dial").await);
    assert!(!page.enabled("btn-hangup").await && !page.enabled("btn-hold").await);
    let reasons = page
        .eval("[...document.getElementById('nr-reason').options].map(o => o.value)")
        .await;
    assert!(
        reasons.as_array().unwrap().iter().any(|r| r == "meeting"),
        "the configured not-ready reasons: {reasons}"
    );

    page.click("btn-ready").await;
    page.wait(
        "ready",
        "document.body.dataset.agentState === 'ready'",
        Duration::from_secs(10),
    )
    .await;
    assert!(!page.enabled("btn-dial").await, "no dial-out while ready");
    assert_eq!(page.text("state-badge").await, "空闲");
    // A refusal shows the server's own message, and changes nothing.
    page.click("btn-not-ready").await;
    let refusal = page
        .wait(
            "the refusal",
            "!document.getElementById('notice').hidden && document.getElementById('notice').textContent",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        refusal.as_str().unwrap().contains("技能组示忙人数已达上限")
            && refusal
                .as_str()
                .unwrap()
                .contains("allows at most 0 agents not ready"),
        "{refusal}"
    );
    assert_eq!(page.eval("document.body.dataset.agentState").await, "ready");

    // A citizen calls 12315: the queue offers the call to 1001, whose phone picks up (auto-answer).
    let caller_rtp = rtp_socket();
    let _to_caller = carrier_call(&carrier, h.sip, "12315", "desk-1@carrier", &caller_rtp);
    let agent_rtp = rtp_socket();
    let (agent_inv, _) = pick_up(&agent_phone, h.sip, "1001", &agent_rtp);

    let caller = page
        .wait(
            "the screen pop while talking",
            "document.body.dataset.agentState === 'talking' && document.getElementById('pop-caller').textContent",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(caller, "13800138000");
    assert_eq!(page.text("state-badge").await, "通话中");
    assert!(page.text("pop-group").await.contains("12315 消费维权"));
    assert_eq!(page.text("pop-did").await, "12315");
    // Talking: hang-up, hold, transfer enabled; answer not (auto-answer), dial-out not.
    assert!(page.enabled("btn-hangup").await && page.enabled("btn-hold").await);
    assert!(page.enabled("btn-transfer").await && page.enabled("btn-mute").await);
    assert!(!page.enabled("btn-answer").await && !page.enabled("btn-dial").await);
    assert!(
        !page.enabled("btn-logout").await,
        "no sign-out during a call"
    );
    // The work-order form is pre-filled from the screen pop, whose draft ticket exists.
    page.wait(
        "the call's draft work order",
        "document.getElementById('ticket-no').textContent.includes('工单号')",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('tk-caller').value")
            .await,
        "13800138000"
    );
    assert_eq!(
        page.eval("document.getElementById('tk-group').value").await,
        "12315 消费维权"
    );
    // The transfer picker is fed by transfer_targets: "name(idle)(queued)".
    page.wait(
        "the transfer picker",
        "[...document.getElementById('t-group').options].some(o => /^12315 消费维权\\(\\d+\\)\\(\\d+\\)$/.test(o.textContent))",
        Duration::from_secs(10),
    )
    .await;
    // 保持 then 恢复; 暂停录音 then 恢复录音: the page follows the server's events.
    page.click("btn-hold").await;
    page.wait(
        "held",
        "document.body.dataset.agentState === 'held' && document.getElementById('btn-hold').textContent === '恢复'",
        Duration::from_secs(10),
    )
    .await;
    assert!(page.enabled("btn-consult").await && page.enabled("btn-hangup").await);
    page.click("btn-hold").await;
    page.wait(
        "talking again",
        "document.body.dataset.agentState === 'talking' && document.getElementById('btn-hold').textContent === '保持'",
        Duration::from_secs(10),
    )
    .await;
    page.click("btn-rec").await;
    page.wait(
        "the recording paused",
        "document.getElementById('btn-rec').textContent === '恢复录音'",
        Duration::from_secs(10),
    )
    .await;
    page.click("btn-rec").await;
    page.wait(
        "the recording resumed",
        "document.getElementById('btn-rec').textContent === '暂停录音'",
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // the state timer shows a second
    let shot = page.screenshot("desktop-talking.png").await;
    println!("screenshot: {}", shot.display());

    // 挂机 on the page: hotline sends BYE to the agent's phone and to the carrier.
    page.click("btn-hangup").await;
    let (bye, _) = agent_phone.expect("BYE to the agent's phone", request("BYE"));
    assert_eq!(
        bye.header_str("Call-ID").unwrap(),
        agent_inv.header_str("Call-ID").unwrap()
    );
    agent_phone.send_msg(h.sip, &SipMessage::response_to(&bye, 200, "OK", None));
    let (caller_bye, _) = carrier.expect("BYE to the caller", request("BYE"));
    carrier.send_msg(
        h.sip,
        &SipMessage::response_to(&caller_bye, 200, "OK", None),
    );
    page.wait(
        "the call ended (wrap-up)",
        "document.body.dataset.agentState === 'wrap_up' && document.getElementById('pop-kind').textContent === '已结束'",
        Duration::from_secs(10),
    )
    .await;
    assert!(!page.enabled("btn-hangup").await);
    assert!(page.enabled("btn-ready").await && page.enabled("btn-wrap-end").await);
    let shot = page.screenshot("desktop-wrap-up.png").await;
    println!("screenshot: {}", shot.display());

    // 受理 without the required fields: the API's refusal is shown. Then filled in: accepted.
    page.click("btn-ticket-submit").await;
    let refusal = page
        .wait(
            "the ticket refusal",
            "!document.getElementById('notice').hidden && document.getElementById('notice').textContent.includes('工单受理失败') && document.getElementById('notice').textContent",
            Duration::from_secs(10),
        )
        .await;
    assert!(refusal.as_str().unwrap().contains("title"), "{refusal}");
    page.eval(
        "document.getElementById('tk-title').value = '商场拒绝七天无理由退货'; \
         document.getElementById('tk-content').value = '市民反映在某商场购买的电器七天内要求退货被拒。'; \
         document.getElementById('tk-name').value = '张女士'; \
         const leaf = (id) => { const o = [...document.getElementById(id).options].filter(o => o.value); document.getElementById(id).value = o[o.length - 1].value; }; \
         leaf('tk-category'); leaf('tk-region'); true",
    )
    .await;
    page.click("btn-ticket-submit").await;
    let accepted = page
        .wait(
            "the accepted ticket",
            "document.getElementById('ticket-msg').textContent.includes('已受理') && document.getElementById('ticket-no').textContent",
            Duration::from_secs(10),
        )
        .await;
    let number = accepted
        .as_str()
        .unwrap()
        .trim_start_matches("工单号 ")
        .to_string();

    // The same agent connects from elsewhere: this page is kicked and says so; 重新连接 takes the
    // agent back with a fresh snapshot (the other session is kicked in turn).
    let resp = http_post(
        h.http,
        "/api/v1/auth/login",
        &json!({"username": "1001", "password": password}).to_string(),
    );
    let token: Value = serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let (mut other, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/cti", h.http))
        .await
        .unwrap();
    other
        .send(Message::Text(
            json!({"type":"hello","version":1,"token":token["token"]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    ws_until(&mut other, Duration::from_secs(10), |v| {
        v["type"] == "snapshot"
    })
    .await;
    // The ticket the page accepted, as the API has it: the form's fields and the caller.
    let list = http_get_auth(
        h.http,
        &format!("/api/v1/tickets?number={number}"),
        token["token"].as_str().unwrap(),
    );
    assert!(
        list.contains("\"status\":\"accepted\"")
            && list.contains("商场拒绝七天无理由退货")
            && list.contains("13800138000"),
        "{list}"
    );
    page.wait(
        "the kicked notice",
        "!document.getElementById('kicked').hidden && document.body.dataset.kicked === '1'",
        Duration::from_secs(10),
    )
    .await;
    assert!(page.text("kicked-text").await.contains("其他地方登录"));
    assert_eq!(page.text("conn").await, "已下线");
    page.click("btn-kicked-again").await;
    ws_until(&mut other, Duration::from_secs(10), |v| {
        v["type"] == "kicked"
    })
    .await;
    page.wait(
        "the desktop back with a fresh snapshot",
        "document.getElementById('kicked').hidden && document.getElementById('conn').textContent === '已连接' && ['wrap_up', 'ready'].includes(document.body.dataset.agentState)",
        Duration::from_secs(10),
    )
    .await;

    // The socket drops: the page reconnects by itself and redraws from a fresh snapshot.
    let snapshots = "[...document.getElementById('log').children].filter(li => li.textContent.includes('已同步坐席状态')).length";
    for (what, breakit) in [
        ("a dropped socket", "window.__sockets.at(-1).close(); true"),
        // A frame whose seq skips ahead: the protocol asks the client to reconnect.
        (
            "a gap in seq",
            "window.__sockets.at(-1).onmessage(new MessageEvent('message', {data: JSON.stringify({seq: 1000000, type: 'pong', id: 0})})); true",
        ),
    ] {
        let (sockets, synced) = (
            page.eval("window.__sockets.length").await,
            page.eval(snapshots).await,
        );
        page.eval(breakit).await;
        page.wait(
            &format!("a reconnect after {what}"),
            &format!(
                "window.__sockets.length > {sockets} && {snapshots} > {synced} && document.getElementById('conn').textContent === '已连接'"
            ),
            Duration::from_secs(15),
        )
        .await;
    }
    assert!(["wrap_up", "ready"].contains(
        &page
            .eval("document.body.dataset.agentState")
            .await
            .as_str()
            .unwrap()
    ));

    // Drain what arrived meanwhile, then: no script error, no CSP violation (the browser logs the
    // refused 受理 above as a failed request: that one was asked for).
    page.eval("true").await;
    let refused = page
        .problems
        .iter()
        .filter(|p| p.contains("status of 422"))
        .count();
    assert_eq!(refused, 1, "{:?}", page.problems);
    page.problems.retain(|p| !p.contains("status of 422"));
    assert!(
        page.problems.is_empty(),
        "the page raised errors: {:?}",
        page.problems
    );
    // And the policy is in force (so the check above would see a violation): an inline script
    // injected now is refused and reported.
    let ran = page
        .eval("const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.body.append(s); window.__inline === 1")
        .await;
    assert_eq!(ran, false, "the CSP refuses inline script");
    page.wait(
        "the CSP report reaching the log",
        "new Promise(r => setTimeout(() => r(true), 200))",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        page.problems
            .iter()
            .any(|p| p.contains("Content Security Policy")),
        "a CSP violation is reported: {:?}",
        page.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_watches_the_board_live_and_forces_an_agent_not_ready() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let carrier = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: common::carrier_and_agent_1001(carrier.addr, None),
        acd: Some(ACD.into()),
        ..HotlineSetup::default()
    });
    let lead = add_user(&h, "lead", "supervisor");
    let mut agent = desktop(&h, "1001", "agent").await;
    command(&mut agent, 1, json!({"cmd":"login"})).await;

    let browser = Browser::start(&bin);
    let mut page = Cdp::open(&browser).await;
    open_and_log_in(&mut page, &h, "/wallboard", "lead", &lead).await;
    let row = |agent: &str| format!("document.querySelector('#agents tr[data-agent=\"{agent}\"]')");
    page.wait(
        "both agents and the queue on the board",
        &format!(
            "{} && {} && document.querySelector('#queues tr[data-group=\"consumer\"]')",
            row("1001"),
            row("1002")
        ),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(page.text("conn").await, "已连接");
    assert_eq!(
        page.eval(&format!("{}.dataset.state", row("1001"))).await,
        "not_ready"
    );
    assert_eq!(
        page.eval(&format!("{}.dataset.state", row("1002"))).await,
        "logged_out"
    );

    // The agent sets ready on their own desktop: the board follows from the event.
    command(&mut agent, 2, json!({"cmd":"set_ready"})).await;
    page.wait(
        "1001 ready",
        &format!("{}.dataset.state === 'ready'", row("1001")),
        Duration::from_secs(10),
    )
    .await;
    assert!(page
        .eval(&format!("{}.textContent", row("1001")))
        .await
        .as_str()
        .unwrap()
        .contains("空闲"));

    // 强制示忙 from the board: the agent's desktop hears it, and the row shows the reason.
    page.eval(&format!(
        "[...{}.querySelectorAll('button')].find(b => b.textContent === '强制示忙').click(); true",
        row("1001")
    ))
    .await;
    let forced = ws_until(&mut agent, Duration::from_secs(10), |v| {
        v["event"]["event"] == "agent_state" && v["event"]["state"]["state"] == "not_ready"
    })
    .await;
    assert_eq!(forced["event"]["reason"], "supervisor");
    page.wait(
        "1001 forced not ready",
        &format!(
            "{}.dataset.state === 'not_ready' && document.getElementById('log').textContent.includes('强制示忙')",
            row("1001")
        ),
        Duration::from_secs(10),
    )
    .await;

    // A citizen calls while nobody is ready: the queue row shows the waiting call.
    let caller_rtp = rtp_socket();
    let _to_caller = carrier_call(&carrier, h.sip, "12315", "wall-1@carrier", &caller_rtp);
    page.wait(
        "a waiting call",
        "document.querySelector('#queues tr[data-group=\"consumer\"] td:nth-child(2)').textContent === '1'",
        Duration::from_secs(15),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let shot = page.screenshot("wallboard.png").await;
    println!("screenshot: {}", shot.display());
    page.eval("true").await;
    assert!(
        page.problems.is_empty(),
        "the page raised errors: {:?}",
        page.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auto_answer_off_the_desktop_offers_answer_and_reject() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let carrier = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: common::carrier_and_agent_1001(carrier.addr, None),
        acd: Some(ACD.replace("not_ready_cap = 0\n", "").replace(
            "endpoints = [{ kind = \"sip\", extension = \"1001\" }]",
            "endpoints = [{ kind = \"sip\", extension = \"1001\" }]\nauto_answer = false",
        )),
        ..HotlineSetup::default()
    });
    let password = add_user(&h, "1001", "agent");
    let phone = Ua::new();
    phone.register(h.sip, "1001", "s3cret");
    let browser = Browser::start(&bin);
    let mut page = Cdp::open(&browser).await;
    open_and_log_in(&mut page, &h, "/desktop", "1001", &password).await;
    page.wait(
        "signed in",
        "document.body.dataset.agentState === 'not_ready'",
        Duration::from_secs(20),
    )
    .await;
    assert!(page.text("who").await.contains("手动应答"));
    page.click("btn-ready").await;
    page.wait(
        "ready",
        "document.body.dataset.agentState === 'ready'",
        Duration::from_secs(10),
    )
    .await;

    // The phone rings without auto-answer; the page pops the call and offers 接听 / 拒接.
    let caller_rtp = rtp_socket();
    let _to_caller = carrier_call(&carrier, h.sip, "12315", "manual-1@carrier", &caller_rtp);
    let (invite, _) = phone.expect("INVITE to the agent's phone", request("INVITE"));
    phone.send_msg(
        h.sip,
        &SipMessage::response_to(&invite, 180, "Ringing", Some("ph")),
    );
    assert!(!invite
        .header_str("Call-Info")
        .unwrap_or_default()
        .contains("answer-after"));
    let caller = page
        .wait(
            "the ringing screen pop",
            "document.body.dataset.agentState === 'ringing' && document.getElementById('pop-caller').textContent",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(caller, "13800138000");
    assert!(page.enabled("btn-answer").await && page.enabled("btn-reject").await);
    assert!(!page.enabled("btn-hangup").await && !page.enabled("btn-hold").await);
    assert!(page
        .eval("document.getElementById('pop').classList.contains('ringing')")
        .await
        .as_bool()
        .unwrap());

    // 拒接: the phone stops ringing, the agent is not ready (rejected), the call waits again.
    let clicked = Instant::now();
    page.click("btn-reject").await;
    let (cancel, _) = phone.expect("CANCEL to the agent's phone", request("CANCEL"));
    assert!(
        clicked.elapsed() < Duration::from_secs(5),
        "the phone stops ringing at once, not at the 10 s ring timeout ({:?})",
        clicked.elapsed()
    );
    phone.send_msg(h.sip, &SipMessage::response_to(&cancel, 200, "OK", None));
    phone.send_msg(
        h.sip,
        &SipMessage::response_to(&invite, 487, "Request Terminated", Some("ph")),
    );
    page.wait(
        "not ready after the reject",
        "document.body.dataset.agentState === 'not_ready' && document.getElementById('state-badge').textContent.includes('拒接')",
        Duration::from_secs(10),
    )
    .await;

    // Ready again: the waiting call is offered again and answered on the phone itself.
    page.click("btn-ready").await;
    let agent_rtp = rtp_socket();
    let _ = pick_up(&phone, h.sip, "1001", &agent_rtp);
    page.wait(
        "talking after answering on the phone",
        "document.body.dataset.agentState === 'talking' && !document.getElementById('btn-answer').disabled === false",
        Duration::from_secs(10),
    )
    .await;

    // A supervisor signs the agent out: the page says who did it and why.
    let mut lead = desktop(&h, "lead", "supervisor").await;
    command(
        &mut lead,
        1,
        json!({"cmd":"force_logout","agent_no":"1001","reason":"meeting"}),
    )
    .await;
    page.wait(
        "the supervisor's sign-out",
        "!document.getElementById('kicked').hidden && document.getElementById('kicked-text').textContent === '班长 lead 已将您强制签出（会议）。'",
        Duration::from_secs(10),
    )
    .await;
    page.eval("true").await;
    assert!(
        page.problems.is_empty(),
        "the page raised errors: {:?}",
        page.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_consults_joins_three_way_and_transfers_from_the_picker() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    // The trunk's peer is the department's phone; the citizen's call comes from another port.
    let department = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: common::carrier_and_agent_1001(department.addr, None),
        acd: Some(ACD.replace("not_ready_cap = 0\n", "")),
        ..HotlineSetup::default()
    });
    let password = add_user(&h, "1001", "agent");
    let phone = Ua::new();
    phone.register(h.sip, "1001", "s3cret");
    let browser = Browser::start(&bin);
    let mut page = Cdp::open(&browser).await;
    open_and_log_in(&mut page, &h, "/desktop", "1001", &password).await;
    page.wait(
        "signed in",
        "document.body.dataset.agentState === 'not_ready'",
        Duration::from_secs(20),
    )
    .await;
    page.click("btn-ready").await;
    page.wait(
        "ready",
        "document.body.dataset.agentState === 'ready'",
        Duration::from_secs(10),
    )
    .await;
    let carrier = Ua::new();
    let caller_rtp = rtp_socket();
    let _to_caller = carrier_call(&carrier, h.sip, "12315", "pick-1@carrier", &caller_rtp);
    let agent_rtp = rtp_socket();
    let (agent_inv, _) = pick_up(&phone, h.sip, "1001", &agent_rtp);
    page.wait(
        "talking",
        "document.body.dataset.agentState === 'talking'",
        Duration::from_secs(10),
    )
    .await;

    // 咨询 a department's number from the picker: the caller waits, the department answers.
    page.eval(
        "const k = document.getElementById('t-kind'); k.value = 'department'; k.dispatchEvent(new Event('change')); \
         document.getElementById('t-number').value = '07712345678'; true",
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('t-group').hidden && !document.getElementById('t-number').hidden")
            .await,
        true
    );
    page.click("btn-consult").await;
    let dept_rtp = rtp_socket();
    let (dept_inv, _) = pick_up(&department, h.sip, "dept", &dept_rtp);
    assert!(dept_inv.request_uri_str().unwrap().contains("07712345678"));
    page.wait(
        "consulting with the department joined",
        "document.body.dataset.agentState === 'consulting' && document.getElementById('parties').textContent.includes('07712345678 · 已接通')",
        Duration::from_secs(10),
    )
    .await;
    assert!(page.enabled("btn-three").await && page.enabled("btn-cancel-consult").await);
    assert!(!page.enabled("btn-hold").await && !page.enabled("btn-consult").await);

    // 三方通话: all three talk; the party can be dropped from the list.
    page.click("btn-three").await;
    page.wait(
        "the three-way call",
        "document.body.dataset.agentState === 'conference' && !document.getElementById('btn-drop').disabled",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(page.text("state-badge").await, "三方通话");

    // 转接 to the department: the agent's phone is let go, the number field is cleared (A L1367).
    page.click("btn-transfer").await;
    let (bye, _) = phone.expect("BYE to the agent's phone", request("BYE"));
    assert_eq!(
        bye.header_str("Call-ID").unwrap(),
        agent_inv.header_str("Call-ID").unwrap()
    );
    phone.send_msg(h.sip, &SipMessage::response_to(&bye, 200, "OK", None));
    page.wait(
        "wrap-up after the transfer, the number cleared",
        "document.body.dataset.agentState === 'wrap_up' && document.getElementById('t-number').value === '' && document.getElementById('log').textContent.includes('通话已转出')",
        Duration::from_secs(10),
    )
    .await;

    // 外呼 from 示忙: the agent's phone rings first, then the number is dialled through the trunk.
    page.eval("document.getElementById('nr-reason').value = 'meeting'; true")
        .await;
    page.click("btn-not-ready").await;
    page.wait(
        "not ready (meeting)",
        "document.body.dataset.agentState === 'not_ready' && document.getElementById('state-badge').textContent === '示忙（会议）'",
        Duration::from_secs(10),
    )
    .await;
    page.eval("document.getElementById('dial-number').value = '013912345678'; true")
        .await;
    page.click("btn-dial").await;
    let out_rtp = rtp_socket();
    let _ = pick_up(&phone, h.sip, "1001", &out_rtp);
    let far_rtp = rtp_socket();
    let (far_inv, _) = pick_up(&department, h.sip, "far", &far_rtp);
    assert!(far_inv.request_uri_str().unwrap().contains("13912345678"));
    page.wait(
        "talking on the outbound call",
        "document.body.dataset.agentState === 'talking' && document.getElementById('state-badge').textContent === '通话中（外呼）'",
        Duration::from_secs(10),
    )
    .await;
    assert!(!page.enabled("btn-dial").await && page.enabled("btn-hangup").await);
    // The far end hangs up: the agent's phone is let go and the agent is not ready again.
    common::phone::bye(&department, h.sip, &far_inv, "far");
    let (out_bye, _) = phone.expect("BYE to the agent's phone", request("BYE"));
    phone.send_msg(h.sip, &SipMessage::response_to(&out_bye, 200, "OK", None));
    page.wait(
        "not ready after the outbound call",
        "document.body.dataset.agentState === 'not_ready'",
        Duration::from_secs(10),
    )
    .await;
    page.eval("true").await;
    assert!(
        page.problems.is_empty(),
        "the page raised errors: {:?}",
        page.problems
    );
}
