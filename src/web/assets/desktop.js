// hotline: the agent desktop (坐席工作台). Logs in over REST, speaks the CTI protocol on /ws/cti
// (docs/cti-protocol.md), pops the caller on `call_ringing`, drives the call, and registers the
// work order through /api/v1/screen-pop and /api/v1/tickets.
"use strict";

(() => {
  const H = Hotline;
  const { el, $ } = H;

  const IN_CALL = ["ringing", "talking", "held", "consulting", "conference"];
  const S = {
    cti: null,
    me: null, // the welcome frame
    agent: null, // {state, since_ms}
    autoAnswer: true,
    reasons: [],
    queues: new Map(),
    call: null, // the call_ringing event (or the snapshot's call)
    callOver: false,
    muted: false,
    recPaused: false,
    parties: new Map(),
    targets: [],
    ticket: null, // the ticket view of the call's draft
    popFor: null, // the call id whose screen pop was fetched
    firstSnapshot: true,
  };

  // ---------- messages ----------
  const notice = H.notice;
  const log = (text) => H.log(text, 60);

  /** Sends a command; a refusal shows the server's own message. Resolves to the result. */
  async function run(cmd, what) {
    const r = await S.cti.command(cmd);
    if (r.ok) {
      if (what) log(`${what}：成功`);
    } else {
      const msg = H.errorText(r.error);
      notice(`${what || cmd.cmd} 被拒绝：${msg}`);
      log(`${what || cmd.cmd} 被拒绝：${msg}（${r.error && r.error.code}）`);
    }
    render();
    return r;
  }

  // ---------- drawing ----------
  const stateName = () => (S.agent && S.agent.state && S.agent.state.state) || "logged_out";
  function enable(id, on) { $(id).disabled = !on; }

  function render() {
    const st = stateName();
    const state = (S.agent && S.agent.state) || { state: "logged_out" };
    document.body.dataset.agentState = st;
    const badge = $("state-badge");
    badge.textContent = H.stateLabel(state);
    badge.className = `badge big st-${st}`;
    const inCall = IN_CALL.includes(st);
    const connected = inCall && st !== "ringing";
    const askAnswer = st === "ringing" && S.call && S.call.auto_answer === false;

    enable("btn-login", st === "logged_out");
    enable("btn-ready", ["not_ready", "break", "wrap_up"].includes(st));
    enable("btn-not-ready", ["ready", "not_ready", "break", "wrap_up"].includes(st) && S.reasons.length > 0);
    enable("nr-reason", st !== "logged_out");
    enable("btn-break", ["ready", "not_ready", "wrap_up"].includes(st));
    enable("btn-wrap-end", st === "wrap_up");
    enable("btn-reset", st !== "logged_out");
    enable("btn-logout", st !== "logged_out" && !inCall);

    enable("btn-answer", askAnswer);
    enable("btn-reject", askAnswer);
    enable("btn-hangup", connected);
    enable("btn-hold", st === "talking" || st === "held");
    $("btn-hold").textContent = st === "held" ? "恢复" : "保持";
    $("btn-hold").classList.toggle("on", st === "held");
    enable("btn-mute", connected);
    $("btn-mute").textContent = S.muted ? "取消静音" : "静音";
    $("btn-mute").classList.toggle("on", S.muted && connected);
    enable("btn-rec", connected);
    $("btn-rec").textContent = S.recPaused ? "恢复录音" : "暂停录音";
    $("btn-rec").classList.toggle("on", S.recPaused && connected);
    enable("btn-three", st === "consulting");
    enable("btn-cancel-consult", st === "consulting");
    enable("btn-consult", st === "talking" || st === "held");
    enable("btn-transfer", connected);
    enable("btn-dtmf", connected);
    enable("btn-dial", st === "not_ready");
    const joined = [...S.parties.entries()].filter(([, p]) => p.status === "joined" || p.status === "ringing");
    const drop = $("drop-party");
    const keep = drop.value;
    drop.replaceChildren(...joined.map(([k, p]) => el("option", { value: k }, `${k}（${H.ROLE_ZH[p.role] || p.role}）`)));
    if (joined.some(([k]) => k === keep)) drop.value = keep;
    enable("btn-drop", st === "conference" && joined.length > 0);
    drop.hidden = joined.length === 0;
    $("btn-drop").hidden = joined.length === 0;

    $("call-id").textContent = S.call && inCall ? `通话 ${S.call.call}` : "";
    $("parties").replaceChildren(...[...S.parties.entries()].map(([k, p]) =>
      el("li", {}, `${H.ROLE_ZH[p.role] || p.role}：${k} · ${H.PARTY_ZH[p.status] || p.status}${p.reason ? `（${p.code} ${p.reason}）` : ""}`)));

    const q = [...S.queues.values()];
    const extra = [];
    if (state.state === "wrap_up" || state.state === "break") extra.push("到时自动切换");
    if (q.length) extra.push(`我的队列：${q.map((x) => `${x.name} 排队 ${x.waiting}`).join("，")}`);
    $("state-extra").textContent = extra.join(" · ");
    renderPop(st);
    tick();
  }

  function tick() {
    if (!S.agent || !S.cti) return;
    const st = S.agent.state || {};
    const now = S.cti.now();
    let text = H.dur(now - (S.agent.since_ms || now));
    if ((st.state === "wrap_up" || st.state === "break") && st.ends_at_ms) {
      text += ` / 剩 ${H.dur(st.ends_at_ms - now)}`;
    }
    $("state-timer").textContent = text;
    if (S.call && stateName() === "ringing") {
      $("pop-waited").textContent = H.dur(S.call.waited_ms + (now - S.call.rangAt));
    }
  }

  function renderPop(st) {
    const c = S.call;
    $("pop-empty").hidden = !!c;
    $("pop-body").hidden = !c;
    $("pop").classList.toggle("ringing", st === "ringing");
    if (!c) return;
    $("pop-caller").textContent = c.caller;
    const kind = $("pop-kind");
    if (S.callOver) { kind.textContent = "已结束"; kind.className = "badge st-logged_out"; }
    else if (c.callback) { kind.textContent = "回拨"; kind.className = "badge st-consulting"; }
    else { kind.textContent = H.stateZh(st); kind.className = `badge st-${st}`; }
    $("pop-did").textContent = c.did || "—";
    $("pop-group").textContent = c.group_name ? `${c.group_name}（${c.group}）` : c.group || "—";
    $("pop-ivr").textContent = c.ivr_path && c.ivr_path.length ? c.ivr_path.join(" → ") : "—";
    if (st !== "ringing") $("pop-waited").textContent = H.dur(c.waited_ms);
    const h = c.history;
    $("pop-history").textContent = h
      ? `累计来电 ${h.calls} 次 · 未办结工单 ${h.open_tickets} 件 · 重复诉求 ${h.repeat_requests} 次${h.last_agent ? ` · 上次坐席 ${h.last_agent}` : ""}`
      : "无记录";
    const flags = [];
    if (c.red_list) flags.push(el("span", { class: "flag info" }, "红名单"));
    if (h && h.flagged) flags.push(el("span", { class: "flag warn" }, "重点关注来电"));
    if (h && h.calls >= 20) flags.push(el("span", { class: "flag warn" }, `高频来电（${h.calls} 次）`));
    if (h && h.repeat_requests >= 3) flags.push(el("span", { class: "flag warn" }, `重复诉求（${h.repeat_requests} 次）`));
    const p = c.pop;
    if (p) {
      if (p.flags.frequent_caller && !(h && h.calls >= 20)) flags.push(el("span", { class: "flag warn" }, `高频来电（${p.calls_total} 次）`));
      for (const r of p.flags.repeated_requests) flags.push(el("span", { class: "flag warn" }, `同类诉求 ${r.category_code} × ${r.count}`));
      flags.push(el("span", { class: "flag ok" }, `近30天来电 ${p.calls_30d} 次`));
    }
    $("pop-flags").replaceChildren(...flags);
    const past = (p && p.history) || [];
    $("pop-tickets").replaceChildren(past.length
      ? el("table", {}, el("tbody", {}, past.slice(0, 5).map((t) => el("tr", {},
        el("td", {}, t.number), el("td", {}, t.title || "（无标题）"), el("td", {}, t.status),
        el("td", {}, new Date(t.created_ms).toLocaleDateString("zh-CN"))))))
      : el("span", { class: "muted" }, p ? "无历史工单" : ""));
  }

  // ---------- the transfer picker ----------
  function renderTargets() {
    const f = $("t-filter").value.trim();
    const sel = $("t-group");
    const keep = sel.value;
    const list = S.targets.filter((t) => !f || t.name.includes(f) || t.group.includes(f));
    sel.replaceChildren(...list.map((t) => el("option", { value: t.group }, `${t.name}(${t.idle})(${t.queued})`)));
    if (list.some((t) => t.group === keep)) sel.value = keep;
  }
  async function loadTargets() {
    const r = await S.cti.command({ cmd: "transfer_targets" });
    if (r.ok && Array.isArray(r.data)) {
      S.targets = r.data;
      renderTargets();
    }
  }
  function target() {
    const kind = $("t-kind").value;
    const v = $("t-number").value.trim();
    if (kind === "group") return $("t-group").value ? { kind, group: $("t-group").value } : null;
    if (!v) return null;
    if (kind === "agent") return { kind, agent_no: v };
    return { kind, number: v };
  }
  function pickerKind() {
    const group = $("t-kind").value === "group";
    $("t-group").hidden = !group;
    $("t-filter").hidden = !group;
    $("btn-targets").hidden = !group;
    $("t-number").hidden = group;
    $("t-number").placeholder = $("t-kind").value === "agent" ? "坐席工号" : "电话号码";
  }

  // ---------- the work order ----------
  const F = {
    title: "tk-title", content: "tk-content", request_type: "tk-type", urgency: "tk-urgency",
    category_code: "tk-category", region_code: "tk-region", address: "tk-address",
    requester_name: "tk-name", contact_phone: "tk-phone",
  };
  function ticketFields() {
    const o = {};
    for (const [k, id] of Object.entries(F)) o[k] = $(id).value.trim();
    o.confidential = $("tk-confidential").checked;
    return o;
  }
  function fillTicket(t) {
    for (const [k, id] of Object.entries(F)) {
      if (t[k] !== undefined && t[k] !== null && t[k] !== "") $(id).value = t[k];
    }
    $("tk-confidential").checked = !!t.confidential;
    $("ticket-no").textContent = t.number ? `工单号 ${t.number}${t.status === "draft" ? "（暂存）" : ""}` : "";
  }
  function newTicket(c) {
    $("ticket-form").reset();
    S.ticket = null;
    $("ticket-no").textContent = "";
    $("ticket-msg").textContent = "";
    $("tk-caller").value = c ? c.caller : "";
    $("tk-phone").value = c ? c.caller : "";
    $("tk-group").value = c ? c.group_name || c.group || "" : "";
  }
  async function screenPop(c) {
    if (!c || S.popFor === c.call) return;
    S.popFor = c.call;
    try {
      const pop = await H.api("POST", "/screen-pop", {
        call_id: c.call, caller_number: c.caller, did: c.did || "", skill_group: c.group || "",
      });
      if (!S.call || S.call.call !== c.call) return;
      S.call.pop = pop;
      S.ticket = pop.ticket;
      fillTicket(pop.ticket);
      log(`工单 ${pop.ticket.number} 已按来电生成（暂存）`);
      render();
    } catch (x) {
      S.popFor = null;
      notice(`来电工单生成失败：${x.message}`);
    }
  }
  async function saveTicket(submit) {
    const body = ticketFields();
    const msg = $("ticket-msg");
    msg.textContent = "提交中…";
    try {
      let t;
      if (S.ticket) {
        t = await H.api("PATCH", `/tickets/${S.ticket.id}`, body);
        if (submit && t.status === "draft") t = await H.api("POST", `/tickets/${t.id}/actions`, { action: "submit" });
      } else {
        const key = `desk-${Date.now()}-${Math.random().toString(36).slice(2)}`;
        t = await H.api("POST", "/tickets", Object.assign(body, {
          caller_number: $("tk-caller").value, channel: "phone", draft: !submit,
        }), { "Idempotency-Key": key });
      }
      S.ticket = t;
      fillTicket(t);
      msg.textContent = submit ? `工单 ${t.number} 已受理` : `工单 ${t.number} 已暂存`;
      log(msg.textContent);
    } catch (x) {
      msg.textContent = "";
      notice(`工单${submit ? "受理" : "暂存"}失败：${x.message}`);
    }
  }
  async function loadCatalogues() {
    const tree = (rows, blank) => [el("option", { value: "" }, blank), ...rows.map((r) =>
      el("option", { value: r.code }, `${"　".repeat(Math.max(0, r.level - 1))}${r.name}`))];
    try {
      const [cats, regions] = await Promise.all([H.api("GET", "/categories"), H.api("GET", "/regions")]);
      $("tk-category").replaceChildren(...tree(cats, "请选择归口分类"));
      $("tk-region").replaceChildren(...tree(regions, "请选择行政区划"));
    } catch (x) {
      notice(`分类与区划加载失败：${x.message}`);
    }
  }

  // ---------- CTI ----------
  function onSnapshot(f) {
    const a = f.agent;
    if (!a) {
      S.agent = null;
      notice("此账号不是坐席账号，无法签入（班长请使用监控大屏 /wallboard）");
      render();
      return;
    }
    S.agent = { state: a.agent.state, since_ms: a.agent.since_ms };
    S.autoAnswer = a.auto_answer;
    S.reasons = a.not_ready_reasons || [];
    const sel = $("nr-reason");
    const keep = sel.value;
    sel.replaceChildren(...S.reasons.map((r) => el("option", { value: r }, H.reasonZh(r))));
    if (S.reasons.includes(keep)) sel.value = keep;
    S.queues = new Map((a.queues || []).map((q) => [q.group, q]));
    if (a.call) {
      if (!S.call || S.call.call !== a.call.call) {
        S.call = Object.assign({ ivr_path: [], history: null, red_list: false, auto_answer: a.auto_answer, callback: false, rangAt: S.cti.now() }, a.call);
        S.callOver = false;
        newTicket(S.call);
      }
      if (a.agent.state.state !== "ringing") screenPop(S.call);
    } else if (S.call && !S.callOver) {
      S.callOver = true;
    }
    $("who").textContent = `${a.agent.name}（工号 ${a.agent.agent_no}）${S.autoAnswer ? " · 自动应答" : " · 手动应答"}`;
    log(`已同步坐席状态：${H.stateLabel(a.agent.state)}`);
    render();
    if (S.firstSnapshot && a.agent.state.state === "logged_out") {
      // Opening the desktop signs the agent in (the forced login of the protocol: lands 示忙).
      run({ cmd: "login" }, "签入");
    }
    S.firstSnapshot = false;
    loadTargets();
  }

  function onEvent(ev) {
    const mine = S.me && ev.agent_no === S.me.agent_no;
    switch (ev.event) {
      case "agent_state":
        if (!mine || !S.agent) return;
        S.agent = { state: ev.state, since_ms: ev.at_ms };
        if (!IN_CALL.includes(ev.state.state)) {
          S.muted = false;
          S.recPaused = false;
          if (S.call) S.callOver = true;
        }
        break;
      case "call_ringing":
        if (!mine) return;
        S.call = Object.assign({}, ev, { rangAt: S.cti.now() });
        S.callOver = false;
        S.muted = false;
        S.recPaused = false;
        S.parties.clear();
        newTicket(ev);
        log(`来电 ${ev.caller} → ${ev.did}，技能组 ${ev.group_name}，已等待 ${H.dur(ev.waited_ms)}`);
        loadTargets();
        break;
      case "caller_history":
        // The history came after the ringing event: the screen pop completes itself.
        if (!mine || !S.call || S.call.call !== ev.call) return;
        S.call.history = ev.history;
        if (ev.history.flagged) log(`重点关注来电：累计来电 ${ev.history.calls} 次`);
        break;
      case "call_answered":
        if (!mine) return;
        if (!S.call || S.call.call !== ev.call) {
          S.call = Object.assign({ ivr_path: [], history: null, red_list: false, did: "", callback: false }, ev);
          newTicket(S.call);
        }
        S.callOver = false;
        log(`已接通 ${ev.caller}`);
        screenPop(S.call);
        loadTargets();
        break;
      case "call_held":
        if (mine) log(ev.held ? "通话已保持（市民听等待音乐）" : "通话已恢复");
        break;
      case "recording_paused":
        if (!mine) return;
        S.recPaused = ev.paused;
        log(ev.paused ? "录音已暂停" : "录音已恢复");
        break;
      case "call_transferred":
        if (mine) log(`通话已转出：${JSON.stringify(ev.target)}`);
        break;
      case "call_ended":
        if (!mine) return;
        if (S.call && S.call.call === ev.call) S.callOver = true;
        S.parties.clear();
        log(ev.abandoned ? "市民已挂机" : "通话结束");
        break;
      case "party":
        if (!mine) return;
        S.parties.set(ev.party, ev);
        log(`${H.ROLE_ZH[ev.role] || ev.role} ${ev.party}：${H.PARTY_ZH[ev.status] || ev.status}${ev.reason ? `（${ev.code} ${ev.reason}）` : ""}`);
        if (ev.status === "left" || ev.status === "failed") {
          setTimeout(() => { S.parties.delete(ev.party); render(); }, 5000);
        }
        break;
      case "supervisor":
        if (mine) log(`班长 ${ev.supervisor}：${H.ACTION_ZH[ev.action] || ev.action}`);
        if (mine && ["force_not_ready", "force_logout"].includes(ev.action)) notice(`班长 ${ev.supervisor} 已对您${H.ACTION_ZH[ev.action]}`);
        break;
      case "alert":
        if (mine) notice(`提醒：${ev.text}`);
        break;
      case "queue_stats":
        if (S.queues.has(ev.group)) S.queues.set(ev.group, ev);
        break;
      default:
        return;
    }
    render();
  }

  const KICK_ZH = {
    "this agent connected again elsewhere": "您的工号已在其他地方登录，本页面已下线。",
    "logged in elsewhere": "您的工号已在其他地方签入，本页面已下线。",
    "too slow: reconnect for a snapshot": "网络过慢，连接已断开，请重新连接。",
  };
  function kickText(reason) {
    const sup = /^signed out by supervisor (.*?): (.*)$/.exec(reason || "");
    if (sup) return `班长 ${sup[1]} 已将您强制签出（${H.reasonZh(sup[2])}）。`;
    return KICK_ZH[reason] || `已被下线：${reason}`;
  }
  function onKicked(reason) {
    $("kicked-text").textContent = kickText(reason);
    $("kicked").hidden = false;
    $("conn").textContent = "已下线";
    $("conn").className = "conn down";
    document.body.dataset.kicked = "1";
    log(`已被下线：${reason}`);
  }

  function signOutPage(text) {
    if (S.cti) S.cti.stop();
    H.session.clear();
    if (text) sessionStorage.setItem("hotline.msg", text);
    location.reload();
  }

  function start() {
    S.cti = new H.Cti({
      welcome: (f) => {
        S.me = f;
        if (!f.agent_no) $("who").textContent = `${f.user}（非坐席账号）`;
      },
      snapshot: onSnapshot,
      event: onEvent,
      kicked: onKicked,
      status: (text, up) => { $("conn").textContent = text; $("conn").className = `conn ${up ? "up" : "down"}`; },
      fatal: (text) => { signOutPage(`登录已失效：${text}`); },
    });
    S.cti.connect();
    loadCatalogues();
    newTicket(null);
    setInterval(tick, 250);
    render();
  }

  function wire() {
    const on = (id, f) => $(id).addEventListener("click", f);
    on("btn-login", () => run({ cmd: "login" }, "签入"));
    on("btn-ready", () => run({ cmd: "set_ready" }, "就绪"));
    on("btn-not-ready", () => run({ cmd: "set_not_ready", reason: $("nr-reason").value }, `示忙（${H.reasonZh($("nr-reason").value)}）`));
    on("btn-break", () => run({ cmd: "start_break", length_ms: Number($("break-len").value) }, "小休"));
    on("btn-wrap-end", () => run({ cmd: "end_wrap_up" }, "结束整理"));
    on("btn-reset", () => { if (confirm("复位将回到示忙，通话中会挂断。确定复位？")) run({ cmd: "reset" }, "复位"); });
    on("btn-logout", () => run({ cmd: "logout" }, "签出"));
    // A SIP desk phone or softphone is answered on the phone itself; the command tells the ACD.
    on("btn-answer", () => run({ cmd: "answer" }, "接听（话机请摘机）"));
    on("btn-reject", () => run({ cmd: "reject" }, "拒接"));
    on("btn-hangup", () => run({ cmd: "hangup" }, "挂机"));
    on("btn-hold", () => run({ cmd: stateName() === "held" ? "retrieve" : "hold" }, stateName() === "held" ? "恢复" : "保持"));
    on("btn-mute", async () => {
      const want = !S.muted;
      const r = await run({ cmd: "mute", on: want }, want ? "静音（市民听到：请稍候）" : "取消静音");
      if (r.ok) { S.muted = want; render(); }
    });
    on("btn-rec", () => run({ cmd: "pause_recording", on: !S.recPaused }, S.recPaused ? "恢复录音" : "暂停录音"));
    on("btn-three", () => run({ cmd: "three_way" }, "三方通话"));
    on("btn-cancel-consult", () => run({ cmd: "cancel_consult" }, "取消咨询"));
    on("btn-targets", loadTargets);
    $("t-filter").addEventListener("input", renderTargets);
    $("t-kind").addEventListener("change", pickerKind);
    const withTarget = async (cmd, what) => {
      const t = target();
      if (!t) { notice("请先选择或填写转接/咨询目标"); return; }
      const r = await run({ cmd, target: t }, what);
      // A L1367: the number is cleared after each transfer so the next call is not sent there.
      if (r.ok && cmd === "transfer" && t.number) $("t-number").value = "";
    };
    on("btn-consult", () => withTarget("consult", "咨询"));
    on("btn-transfer", () => withTarget("transfer", "转接"));
    on("btn-drop", () => run({ cmd: "drop_party", party: $("drop-party").value }, "挂断该方"));
    on("btn-dtmf", async () => {
      const d = $("dtmf-digits").value.trim();
      const r = await run({ cmd: "dtmf", digits: d }, `发送按键 ${d}`);
      if (r.ok) $("dtmf-digits").value = "";
    });
    on("btn-dial", () => {
      const n = $("dial-number").value.trim();
      if (!n) { notice("请填写外呼号码"); return; }
      run({ cmd: "dial", number: n }, `外呼 ${n}`);
    });
    on("btn-ticket-save", () => saveTicket(false));
    $("ticket-form").addEventListener("submit", (e) => { e.preventDefault(); saveTicket(true); });
    on("btn-ticket-new", () => newTicket(S.call && !S.callOver ? S.call : null));
    on("btn-signout-page", () => signOutPage());
    on("btn-kicked-again", () => {
      $("kicked").hidden = true;
      delete document.body.dataset.kicked;
      S.cti.stopped = false;
      S.cti.connect();
    });
    on("btn-kicked-close", () => signOutPage());
    pickerKind();
    const m = sessionStorage.getItem("hotline.msg");
    if (m) { $("login-err").textContent = m; sessionStorage.removeItem("hotline.msg"); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    H.loginPage(start);
  });
})();
