// hotline: what the agent desktop and the wallboard share. The REST login, the CTI WebSocket
// (docs/cti-protocol.md) with sequence checks and reconnects, Chinese labels, small DOM helpers.
// No framework and no build step: this file is served as it is.
"use strict";

const Hotline = (() => {
  const STATE_ZH = {
    logged_out: "未签入", not_ready: "示忙", break: "小休", ready: "空闲",
    ringing: "振铃", talking: "通话中", held: "保持", consulting: "咨询中",
    conference: "三方通话", wrap_up: "话后整理",
  };
  const REASON_ZH = {
    break: "小休", meeting: "会议", training: "培训", personal: "个人事务",
    ticket_work: "工单处理", leader_task: "领导交办", login: "签入", forced_login: "强制签入",
    ring_no_answer: "振铃未接", rejected: "拒接", endpoint_unreachable: "话机不可达",
    break_overrun: "小休超时", supervisor: "班长置忙", reset: "复位", logout: "签出",
  };
  const ACTION_ZH = {
    monitor: "监听", whisper: "密语", barge: "强插", intercept: "拦截", stop: "结束监听",
    force_not_ready: "强制示忙", force_logout: "强制签出",
  };
  // The refusal codes of docs/cti-protocol.md, said in Chinese; the server's own text follows.
  const ERROR_ZH = {
    not_ready_cap_reached: "技能组示忙人数已达上限", logout_during_call: "通话中不能签出",
    outbound_only_from_not_ready: "只有示忙状态才能外呼", wrong_state: "当前状态不允许此操作",
    not_in_call: "不在通话中", target_not_ready: "目标坐席不空闲", no_agent_ready: "该技能组没有空闲坐席",
    unknown_reason: "示忙原因未配置", bad_break_length: "小休时长须在 1 秒至 8 小时之间",
    forbidden: "没有权限", not_logged_in: "尚未签入", unknown_agent: "工号不存在",
    unknown_group: "技能组不存在", unknown_call: "通话不存在", bad_message: "指令格式错误",
    disconnected: "未连接到服务器",
  };
  /** The text of a refused command's error: Chinese first, then the server's message. */
  function errorText(e) {
    if (!e) return "未知错误";
    const zh = ERROR_ZH[e.code];
    return zh && e.message && zh !== e.message ? `${zh}（${e.message}）` : zh || e.message || e.code;
  }
  const ROLE_ZH = { consult: "咨询", supervisor: "班长", transfer: "转接", callee: "被叫" };
  const PARTY_ZH = { ringing: "振铃", joined: "已接通", failed: "失败", left: "已离开" };

  /** An element with attributes and children (strings become text: never HTML). */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  const $ = (id) => document.getElementById(id);

  /** 65 s → "01:05", 3725 s → "1:02:05". */
  function dur(ms) {
    const s = Math.max(0, Math.floor((ms || 0) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(x)}` : `${two(m)}:${two(x)}`;
  }
  const stateZh = (s) => STATE_ZH[s] || s || "";
  const reasonZh = (r) => REASON_ZH[r] || r || "";
  /** The label of an agent state object ({state, reason?}). */
  function stateLabel(st) {
    if (!st) return "";
    const base = stateZh(st.state);
    if (st.state === "not_ready" && st.reason) return `${base}（${reasonZh(st.reason)}）`;
    if (st.outbound) return `${base}（外呼）`;
    return base;
  }

  const TOKEN_KEY = "hotline.token";
  const session = {
    get token() { return sessionStorage.getItem(TOKEN_KEY); },
    set(token, user) {
      sessionStorage.setItem(TOKEN_KEY, token);
      sessionStorage.setItem("hotline.user", JSON.stringify(user || {}));
    },
    get user() {
      try { return JSON.parse(sessionStorage.getItem("hotline.user") || "{}"); } catch (_) { return {}; }
    },
    clear() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem("hotline.user"); },
  };

  /** The text of a problem+json answer (RFC 9457) or of a failed fetch. */
  async function problemText(resp) {
    try {
      const p = await resp.json();
      return p.detail || p.title || `HTTP ${resp.status}`;
    } catch (_) {
      return `HTTP ${resp.status}`;
    }
  }

  /** `fetch` of /api/v1 with the bearer token; resolves to the JSON body, rejects with text. */
  async function api(method, path, body, headers) {
    const h = Object.assign({ Accept: "application/json" }, headers || {});
    if (session.token) h.Authorization = `Bearer ${session.token}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const resp = await fetch(`/api/v1${path}`, {
      method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store",
    });
    if (!resp.ok) {
      const err = new Error(await problemText(resp));
      err.status = resp.status;
      throw err;
    }
    return resp.status === 204 ? null : resp.json();
  }

  async function login(username, password) {
    const s = await api("POST", "/auth/login", { username, password });
    session.set(s.token, s.user);
    return s;
  }

  /** Wires the login form (#login-form) and calls `start()` once a token is held. */
  function loginPage(start) {
    const form = $("login-form");
    const err = $("login-err");
    const begin = () => {
      $("login-view").hidden = true;
      $("app").hidden = false;
      start();
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.textContent = "";
      const btn = form.querySelector("button");
      btn.disabled = true;
      try {
        await login($("login-user").value.trim(), $("login-pass").value);
        $("login-pass").value = "";
        begin();
      } catch (x) {
        err.textContent = `登录失败：${x.message}`;
      } finally {
        btn.disabled = false;
      }
    });
    if (session.token) begin();
    else $("login-user").focus();
  }

  /**
   * The CTI connection. `on` has: welcome(msg), snapshot(msg), event(ev, atMs), kicked(reason),
   * status(text, up), fatal(text). A closed socket or a gap in `seq` reconnects, and the snapshot
   * that follows replaces what the page shows.
   */
  class Cti {
    constructor(on) {
      this.on = on;
      this.ws = null;
      this.nextId = 1;
      this.pending = new Map();
      this.expectSeq = 1;
      this.stopped = false;
      this.retry = 0;
      this.timer = null;
      this.pinger = null;
      this.clockSkew = 0; // server ms − local ms, from snapshots
      this.connects = 0;
    }

    now() { return Date.now() + this.clockSkew; }

    connect() {
      if (this.stopped) return;
      clearTimeout(this.timer);
      const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/cti`;
      const ws = new WebSocket(url);
      this.ws = ws;
      this.expectSeq = 1;
      this.on.status("连接中…", false);
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: "hello", version: 1, token: session.token || "" }));
      };
      ws.onmessage = (m) => {
        if (ws !== this.ws) return;
        let f;
        try { f = JSON.parse(m.data); } catch (_) { return; }
        if (typeof f.seq === "number") {
          if (f.seq !== this.expectSeq) {
            // The protocol: a gap means frames were lost; reconnect for a fresh snapshot.
            this.on.status("消息序号不连续，重新同步…", false);
            this.reconnect(0);
            return;
          }
          this.expectSeq = f.seq + 1;
        }
        this.frame(f);
      };
      ws.onclose = () => {
        if (ws !== this.ws) return;
        this.failPending("连接已断开");
        clearInterval(this.pinger);
        if (this.stopped) return;
        this.on.status("连接已断开，正在重连…", false);
        const wait = Math.min(10000, 500 * 2 ** this.retry++);
        this.timer = setTimeout(() => this.connect(), wait);
      };
    }

    /** Drops the socket and opens a new one after `wait` ms. */
    reconnect(wait) {
      const old = this.ws;
      this.ws = null;
      this.failPending("连接已重建");
      clearInterval(this.pinger);
      if (old) { old.onclose = null; try { old.close(); } catch (_) { /* closed already */ } }
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), wait);
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      clearInterval(this.pinger);
      if (this.ws) { const w = this.ws; this.ws = null; try { w.close(); } catch (_) { /* closed */ } }
    }

    failPending(text) {
      for (const p of this.pending.values()) p({ ok: false, error: { code: "disconnected", message: text } });
      this.pending.clear();
    }

    frame(f) {
      switch (f.type) {
        case "welcome":
          this.retry = 0;
          this.connects += 1;
          this.on.status("已连接", true);
          clearInterval(this.pinger);
          this.pinger = setInterval(() => this.send({ type: "ping", id: this.nextId++ }), 25000);
          this.on.welcome(f);
          break;
        case "snapshot":
          this.clockSkew = f.at_ms - Date.now();
          this.on.snapshot(f);
          break;
        case "result": {
          const p = this.pending.get(f.id);
          if (p) { this.pending.delete(f.id); p(f); }
          break;
        }
        case "event":
          this.on.event(f.event, f.at_ms);
          break;
        case "kicked":
          this.stopped = true;
          this.on.kicked(f.reason);
          break;
        case "error":
          if (["unauthenticated", "unsupported_version"].includes(f.code)) {
            this.stopped = true;
            this.on.fatal(f.message || f.code);
          } else {
            this.on.status(`服务器错误：${f.message}`, true);
          }
          break;
        default:
          break; // pong, and frame types of later versions
      }
    }

    send(obj) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify(obj));
        return true;
      }
      return false;
    }

    /** Sends a command; resolves to its `result` frame (never rejects). */
    command(cmd) {
      const id = this.nextId++;
      return new Promise((resolve) => {
        if (!this.send({ type: "command", id, command: cmd })) {
          resolve({ ok: false, error: { code: "disconnected", message: "未连接到服务器" } });
          return;
        }
        this.pending.set(id, resolve);
      });
    }
  }

  // ---------- the page's notice bar and event log (both pages have them) ----------
  let noticeTimer = null;
  /** Shows `text` in the notice bar: a success for 4 s, a problem for 10 s. */
  function notice(text, ok) {
    const n = $("notice");
    n.textContent = text;
    n.className = `notice ${ok ? "ok" : "err"}`;
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, ok ? 4000 : 10000);
  }
  /** Adds a timed line at the top of the page's log, keeping the newest `keep`. */
  function log(text, keep) {
    const t = new Date().toLocaleTimeString("zh-CN", { hour12: false });
    const list = $("log");
    list.prepend(el("li", {}, `${t}  ${text}`));
    while (list.children.length > keep) list.lastChild.remove();
  }

  return {
    STATE_ZH, REASON_ZH, ACTION_ZH, ROLE_ZH, PARTY_ZH,
    el, $, dur, stateZh, reasonZh, stateLabel, errorText, session, api, login, loginPage, Cti,
    notice, log,
  };
})();
