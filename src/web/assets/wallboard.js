// hotline: the supervisor wallboard (班长监控大屏). The board from the CTI snapshot, kept live by
// `agent_state` and `queue_stats` events (and a `board` query every 30 s for the counters), with
// the supervisor commands of docs/cti-protocol.md on each agent's row.
"use strict";

(() => {
  const H = Hotline;
  const { el, $ } = H;
  const IN_CALL = ["ringing", "talking", "held", "consulting", "conference"];
  const S = {
    cti: null,
    agents: new Map(), // agent_no → AgentRow (since_ms kept current)
    queues: new Map(), // group → QueueRow (+ seenAt)
    groupNames: new Map(),
    reasons: ["leader_task", "meeting", "training"],
  };

  const notice = H.notice;
  const log = (text) => H.log(text, 100);

  async function run(cmd, what) {
    const r = await S.cti.command(cmd);
    if (r.ok) { log(`${what}：成功`); notice(`${what}：成功`, true); }
    else {
      const msg = H.errorText(r.error);
      notice(`${what} 被拒绝：${msg}`);
      log(`${what} 被拒绝：${msg}（${r.error && r.error.code}）`);
    }
    return r;
  }

  function setBoard(b) {
    if (!b) return;
    S.agents = new Map(b.agents.map((a) => [a.agent_no, a]));
    const now = S.cti.now();
    S.queues = new Map(b.queues.map((q) => [q.group, Object.assign(q, { seenAt: now })]));
    for (const q of b.queues) S.groupNames.set(q.group, q.name);
    const f = $("f-group");
    const keep = f.value;
    f.replaceChildren(el("option", { value: "" }, "全部技能组"),
      ...b.queues.map((q) => el("option", { value: q.group }, q.name)));
    f.value = keep;
    render();
  }

  function stateClass(st) {
    if (IN_CALL.includes(st)) return "call";
    if (st === "break") return "not_ready";
    return st;
  }

  function render() {
    const now = S.cti.now();
    const agents = [...S.agents.values()];
    const count = (p) => agents.filter(p).length;
    const online = count((a) => a.state.state !== "logged_out");
    const waiting = [...S.queues.values()].reduce((n, q) => n + q.waiting, 0);
    const totals = [
      ["坐席总数", agents.length], ["在线", online], ["空闲", count((a) => a.state.state === "ready")],
      ["通话中", count((a) => IN_CALL.includes(a.state.state))],
      ["示忙/小休", count((a) => ["not_ready", "break"].includes(a.state.state))],
      ["话后整理", count((a) => a.state.state === "wrap_up")], ["排队来电", waiting],
    ];
    $("totals").replaceChildren(...totals.map(([k, v]) => el("div", { class: "total" }, el("b", {}, String(v)), el("span", {}, k))));

    $("queues").replaceChildren(...[...S.queues.values()].map((q) => {
      const longest = q.waiting > 0 ? q.longest_wait_ms + (now - q.seenAt) : 0;
      const sl = q.service_level_permille;
      return el("tr", { class: longest > 15000 ? "alarm" : "", dataset: { group: q.group } },
        el("td", {}, q.name),
        el("td", { class: "num" }, String(q.waiting)),
        el("td", { class: `num ${longest > 15000 ? "sl-bad" : ""}` }, q.waiting ? H.dur(longest) : "—"),
        el("td", { class: "num" }, String(q.logged_in)),
        el("td", { class: "num" }, String(q.ready)),
        el("td", { class: "num" }, `${q.not_ready} / ${q.not_ready_cap === null || q.not_ready_cap === undefined ? "不限" : q.not_ready_cap}`),
        el("td", { class: "num" }, String(q.entered)),
        el("td", { class: "num" }, String(q.answered)),
        el("td", { class: `num ${sl === null || sl === undefined ? "" : sl >= 950 ? "sl-good" : "sl-bad"}` },
          sl === null || sl === undefined ? "—" : `${(sl / 10).toFixed(1)}%`),
        el("td", { class: "num" }, String(q.abandoned)),
        el("td", { class: "num" }, String(q.overflowed)),
        el("td", { class: "num" }, String(q.callbacks || 0)));
    }));

    const fg = $("f-group").value;
    const fs = $("f-state").value;
    const shown = agents.filter((a) => (!fg || a.groups.includes(fg)) && (!fs ||
      (fs === "online" ? a.state.state !== "logged_out" : stateClass(a.state.state) === fs)));
    shown.sort((x, y) => x.agent_no.localeCompare(y.agent_no));
    $("agents").replaceChildren(...shown.map((a) => {
      const st = a.state.state;
      const inState = a.since_ms ? now - a.since_ms : 0;
      const alarm = (["not_ready", "break"].includes(st) && inState > 15 * 60000) || a.state.reason === "break_overrun";
      const call = IN_CALL.includes(st) && st !== "ringing";
      const btn = (text, onclick, enabled, cls) => el("button", { type: "button", class: cls, disabled: !enabled, onclick }, text);
      const sup = (mode) => () => run({ cmd: "supervise", agent_no: a.agent_no, mode }, `${H.ACTION_ZH[mode]} ${a.agent_no}`);
      return el("tr", { class: alarm ? "alarm" : "", dataset: { agent: a.agent_no, state: st } },
        el("td", {}, a.agent_no),
        el("td", {}, a.name),
        el("td", {}, a.groups.map((g) => S.groupNames.get(g) || g).join("、")),
        el("td", {}, el("span", { class: `badge st-${st}` }, H.stateLabel(a.state))),
        el("td", { class: "num" }, a.since_ms ? H.dur(inState) : "—"),
        el("td", { class: "num" }, String(a.calls)),
        el("td", { class: "num" }, H.dur(a.talk_ms)),
        el("td", {}, el("div", { class: "acts" },
          btn("监听", sup("monitor"), call),
          btn("密语", sup("whisper"), call),
          btn("强插", sup("barge"), call),
          btn("拦截", sup("intercept"), call),
          btn("结束", () => run({ cmd: "stop_supervise", agent_no: a.agent_no }, `结束监听 ${a.agent_no}`), call),
          btn("强制示忙", () => run({ cmd: "force_not_ready", agent_no: a.agent_no, reason: $("nr-reason").value },
            `强制示忙 ${a.agent_no}`), st !== "logged_out" && st !== "not_ready"),
          btn("强制签出", () => {
            if (confirm(`确定强制签出坐席 ${a.agent_no}（${a.name}）？通话中的来电将转给其他坐席。`)) {
              run({ cmd: "force_logout", agent_no: a.agent_no, reason: "supervisor" }, `强制签出 ${a.agent_no}`);
            }
          }, st !== "logged_out", "stop"))));
    }));
    $("clock").textContent = new Date(now).toLocaleTimeString("zh-CN", { hour12: false });
  }

  function onEvent(ev) {
    switch (ev.event) {
      case "agent_state": {
        const a = S.agents.get(ev.agent_no);
        if (a) { a.state = ev.state; a.since_ms = ev.at_ms; }
        else refresh();
        break;
      }
      case "queue_stats":
        S.queues.set(ev.group, Object.assign({}, ev, { seenAt: S.cti.now() }));
        S.groupNames.set(ev.group, ev.name);
        break;
      case "call_queued": {
        const q = S.queues.get(ev.group);
        if (q) { if (!q.waiting) { q.longest_wait_ms = 0; q.seenAt = S.cti.now(); } q.waiting += 1; }
        break;
      }
      case "call_ended":
        if (ev.abandoned) log(`来电放弃${ev.agent_no ? `（坐席 ${ev.agent_no}）` : ""}`);
        break;
      case "supervisor":
        log(`班长 ${ev.supervisor} 对坐席 ${ev.agent_no}：${H.ACTION_ZH[ev.action] || ev.action}`);
        break;
      case "alert":
        log(`提醒：${ev.text}`);
        notice(`提醒：${ev.text}`);
        break;
      default:
        return;
    }
    render();
  }

  async function refresh() {
    const r = await S.cti.command({ cmd: "board" });
    if (r.ok && r.data) setBoard(r.data);
  }

  function start() {
    S.cti = new H.Cti({
      welcome: (f) => {
        $("who").textContent = `${f.user}${f.supervisor ? "（班长）" : ""}`;
        if (!f.supervisor) notice("此账号没有班长权限：只能查看自己的队列，无法监控坐席");
      },
      snapshot: (f) => {
        if (f.agent && f.agent.not_ready_reasons && f.agent.not_ready_reasons.length) S.reasons = f.agent.not_ready_reasons;
        $("nr-reason").replaceChildren(...S.reasons.map((r) => el("option", { value: r }, `原因：${H.reasonZh(r)}`)));
        if (f.board) setBoard(f.board);
        else render();
      },
      event: onEvent,
      kicked: (reason) => { notice(`已被下线：${reason}`); $("conn").textContent = "已下线"; $("conn").className = "conn down"; },
      status: (text, up) => { $("conn").textContent = text; $("conn").className = `conn ${up ? "up" : "down"}`; },
      fatal: (text) => { H.session.clear(); sessionStorage.setItem("hotline.msg", `登录已失效：${text}`); location.reload(); },
    });
    S.cti.connect();
    setInterval(render, 500);
    setInterval(() => { if (S.cti.ws && S.cti.ws.readyState === WebSocket.OPEN) refresh(); }, 30000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("f-group").addEventListener("change", () => S.cti && render());
    $("f-state").addEventListener("change", () => S.cti && render());
    $("btn-signout-page").addEventListener("click", () => { if (S.cti) S.cti.stop(); H.session.clear(); location.reload(); });
    const m = sessionStorage.getItem("hotline.msg");
    if (m) { $("login-err").textContent = m; sessionStorage.removeItem("hotline.msg"); }
    H.loginPage(start);
  });
})();
