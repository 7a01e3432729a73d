// The trn dashboard: plain modules, no build step. The token lives in sessionStorage (this tab
// only) and goes in an Authorization header; there are no cookies, so no CSRF.
import { LineChart, fmt, sweepChart } from "./chart.js";

const API = "/api/v1";
const KEY = "trn.token";
const $ = (sel) => document.querySelector(sel);
const VIEWS = ["#login", "#jobs-view", "#job-view", "#sweep-view"];
const ENDED = new Set(["completed", "failed", "cancelled", "preempted", "lost"]);
const TERMINAL = new Set(["job_completed", "job_failed", "job_cancelled", "job_preempted"]);
let stop = () => {};  // ends the current view's timers and streams

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
  if (options.body) headers["Content-Type"] = "application/json";
  const r = await fetch(API + path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  if (r.status === 401) throw new Unauthorized("the server refused the token");
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : {};
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// Server-Sent Events over fetch (EventSource cannot send an Authorization header).
async function follow(path, onEvent, signal, lastId) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` };
  if (lastId !== null && lastId !== undefined) headers["Last-Event-ID"] = String(lastId);
  const r = await fetch(API + path, { headers, signal });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const reader = r.body.getReader(), text = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += text.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim());
      if (data.length) onEvent(JSON.parse(data.join("\n")));
    }
  }
}

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $("#signout").hidden = view === "#login";
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function badge(state) { return el("span", state, `state ${state}`); }

function age(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${(s / 3600).toFixed(1)}h`;
  return `${Math.round(s / 86400)}d`;
}

// the test stage's metrics first (a tested job's result), then validation's
const rank = (k) => (k.startsWith("test/") ? -2 : k.startsWith("val") ? -1 : 0);
function metricsText(m) {
  const keys = Object.keys(m || {}).sort((a, b) => rank(a) - rank(b));
  return keys.slice(0, 3).map((k) => `${k}=${fmt(m[k])}`).join("  ");
}

function whatText(r) {
  if (r.name) return r.name;
  const given = (r.overrides || []).join(" ");
  if (r.kind !== "eval") return given;
  const e = r.evaluates || {};
  return `eval ${e.job_id || "?"} (${e.stage || "test"}) ${given}`.trim();
}

function objectiveText(o) {
  if (!o) return null;
  const by = o.metric ? `${o.metric} (${o.mode})` : "none: the last checkpoint";
  return by + ({ default: ", trn's default", fallback: ", fell back from trn's default" }[o.source] || "");
}

function every(ms, fn) {
  let alive = true, timer = null;
  const tick = async () => {
    try { await fn(); } catch (e) { if (e instanceof Unauthorized) return signOut(e.message); }
    if (alive) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { alive = false; clearTimeout(timer); };
}

// -- views ------------------------------------------------------------------------------------
function loginView(message) {
  show("#login");
  $("#login-error").hidden = !message;
  $("#login-error").textContent = message || "";
  $("#token").value = "";
  $("#token").focus();
}

let offset = 0;
function jobsView() {
  show("#jobs-view");
  const draw = async () => {
    const q = new URLSearchParams({ limit: "50", offset: String(offset) });
    if ($("#filter-state").value) q.set("state", $("#filter-state").value);
    if ($("#filter-sweep").value.trim()) q.set("sweep", $("#filter-sweep").value.trim());
    if ($("#filter-kind").value) q.set("kind", $("#filter-kind").value);
    const page = await api(`/jobs?${q}`);
    const body = $("#jobs-table tbody");
    body.replaceChildren(...page.jobs.map(jobRow));
    $("#jobs-empty").hidden = page.jobs.length > 0;
    $("#prev").disabled = offset === 0;
    $("#next").disabled = page.next_offset === null;
    $("#page").textContent = page.jobs.length ? `${offset + 1}–${offset + page.jobs.length}` : "";
  };
  return every(2000, draw);
}

function jobRow(r) {
  const tr = el("tr");
  tr.dataset.job = r.job_id;
  const id = el("td", null, "mono");
  id.append(el("a", r.job_id));
  id.firstChild.href = `#/job/${r.job_id}`;
  if (r.sweep_id) {
    const s = el("a", ` sweep ${r.sweep_id}`, "muted");
    s.href = `#/sweep/${r.sweep_id}`;
    s.addEventListener("click", (e) => e.stopPropagation());
    id.append(el("br"), s);
  }
  const state = el("td"); state.append(badge(r.state));
  tr.append(id, state,
    el("td", whatText(r), "what"),
    el("td", metricsText(r.metrics), "metrics"),
    el("td", (r.devices || []).join(", ")),
    el("td", age(r.created_at), "muted"));
  tr.addEventListener("click", () => { location.hash = `#/job/${r.job_id}`; });
  return tr;
}

function jobView(jobId) {
  show("#job-view");
  $("#job-title").textContent = jobId;
  $("#job-message").hidden = true;
  const charts = new Map(), lines = [];
  $("#charts").replaceChildren();
  $("#charts-empty").hidden = false;
  $("#events").textContent = ""; $("#runner-log").textContent = ""; $("#config").textContent = "";
  const aborter = new AbortController();
  let ended = false, lastSeq = null;

  const onEvent = (ev) => {
    lastSeq = ev.seq;
    lines.push(eventLine(ev));
    if (lines.length > 200) lines.shift();
    const pre = $("#events"), atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = lines.join("\n");
    if (atEnd) pre.scrollTop = pre.scrollHeight;
    if (ev.event === "metrics") {
      for (const [name, value] of Object.entries(ev.metrics || {})) {
        if (!charts.has(name)) charts.set(name, new LineChart($("#charts"), name));
        charts.get(name).add(ev.phase === "train" || ev.phase === "test" ? ev.phase : "epoch", ev.step, value);
      }
      $("#charts-empty").hidden = charts.size > 0;
    }
    if (TERMINAL.has(ev.event)) ended = true;
  };
  const stream = async () => {  // reconnects after a drop, from the last seq it saw
    while (!ended && !aborter.signal.aborted) {
      try { await follow(`/jobs/${jobId}/events`, onEvent, aborter.signal, lastSeq); } catch (e) { if (aborter.signal.aborted) return; }
      if (ended || aborter.signal.aborted) return;
      const record = await api(`/jobs/${jobId}`).catch(() => null);
      if (record && ENDED.has(record.state)) return;
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  };
  stream();
  api(`/jobs/${jobId}/config`).then((c) => { $("#config").textContent = JSON.stringify(c, null, 2); }).catch(() => {});
  const stopRecord = every(1500, async () => {
    const r = await api(`/jobs/${jobId}`);
    drawRecord(r);
    const log = await api(`/jobs/${jobId}/log?tail=200`);
    const pre = $("#runner-log");
    pre.textContent = log.lines.join("\n");
    pre.scrollTop = pre.scrollHeight;
  });
  return () => { aborter.abort(); stopRecord(); };
}

function eventLine(ev) {
  const t = (ev.ts || "").slice(11, 19), what = ev.event;
  let rest = "";
  if (what === "metrics") rest = `${ev.phase} step ${ev.step} ` + Object.entries(ev.metrics || {}).map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
  else if (ev.error) rest = ev.error;
  else if (ev.reason) rest = ev.reason;
  else if (ev.devices) rest = ev.devices.join(",");
  return `${t}  #${ev.seq}  ${what}  ${rest}`;
}

function drawRecord(r) {
  $("#job-state").replaceWith(Object.assign(badge(r.state), { id: "job-state" }));
  $("#cancel-button").disabled = ENDED.has(r.state);
  $("#resume-button").disabled = !ENDED.has(r.state) || !r.checkpoint;
  const facts = [
    ["name", r.name], ["created", r.created_at?.replace("T", " ").slice(0, 19)],
    ["devices", (r.devices || []).join(", ")], ["attempt", r.attempt],
    ["sweep", r.sweep_id], ["parent", r.parent_job_id],
    ["overrides", (r.overrides || []).join(" ")], ["metrics", metricsText(r.metrics)],
    ["evaluates", r.kind === "eval" ? whatText({ ...r, name: null, overrides: [] }) : null],
    ["objective", objectiveText(r.objective)],
    ["error", r.error], ["checkpoint", r.checkpoint?.split("/").pop()],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  $("#job-facts").replaceChildren(...facts.flatMap(([k, v]) => {
    const dd = el("dd", String(v));
    if (k === "sweep" || k === "parent") {
      dd.textContent = "";
      const a = el("a", String(v)); a.href = k === "sweep" ? `#/sweep/${v}` : `#/job/${v}`;
      dd.append(a);
    }
    return [el("dt", k), dd];
  }));
}

async function act(kind) {
  const jobId = $("#job-title").textContent;
  const msg = $("#job-message");
  msg.hidden = true;
  try {
    if (kind === "cancel") drawRecord(await api(`/jobs/${jobId}/cancel`, { method: "POST", body: "{}" }));
    else location.hash = `#/job/${(await api(`/jobs/${jobId}/resume`, { method: "POST", body: "{}" })).job_id}`;
  } catch (e) {
    msg.textContent = e.message; msg.hidden = false;
  }
}

function sweepView(sweepId) {
  show("#sweep-view");
  $("#sweep-title").textContent = `Sweep ${sweepId}`;
  let drawn = "";
  return every(3000, async () => {
    const s = await api(`/sweeps/${sweepId}`);
    $("#sweep-state").replaceWith(Object.assign(badge(s.state), { id: "sweep-state" }));
    const metric = s.objective?.metric || "objective";
    $("#sweep-metric").textContent = `${metric} (${s.objective?.mode || "max"})`;
    $("#sweep-objective").textContent = s.best ? `best: ${s.best.job_id} ${metric}=${fmt(s.best.value)}` : "no completed job yet";
    const varied = new Set(s.varied || []);
    $("#sweep-table tbody").replaceChildren(...s.jobs.map((row, i) => {
      const tr = el("tr"), id = el("td", null, "mono"), st = el("td");
      const a = el("a", row.job_id); a.href = `#/job/${row.job_id}`; id.append(a); st.append(badge(row.state));
      tr.append(el("td", row.state === "completed" ? String(i + 1) : "–"), id, st, el("td", fmt(row.value)),
        el("td", row.overrides.filter((o) => varied.has(o.split("=")[0])).join(" ") + (row.error ? `  (${row.error})` : ""), "what"));
      tr.addEventListener("click", () => { location.hash = `#/job/${row.job_id}`; });
      return tr;
    }));
    const key = JSON.stringify([s.jobs.map((r) => r.value), s.varied]);
    if (key !== drawn) {
      drawn = key;
      $("#sweep-chart").replaceChildren();
      for (const k of s.varied || []) sweepChart($("#sweep-chart"), s.jobs, k, metric).draw();
    }
  });
}

// -- routing ----------------------------------------------------------------------------------
function route() {
  stop();
  if (!sessionStorage.getItem(KEY)) { stop = () => {}; return loginView(); }
  const [, kind, id] = location.hash.split("/");
  if (kind === "job" && id) stop = jobView(id);
  else if (kind === "sweep" && id) stop = sweepView(id);
  else stop = jobsView();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  stop(); stop = () => {};
  loginView(message);
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $("#token").value.trim());
  try {
    const h = await api("/health");
    if (!h.access) throw new Unauthorized("that token is not this server's");
    $("#server").textContent = `${h.home} · trn ${h.version}${h.access === "read" ? " · read-only" : ""}`;
    $("#token").value = "";
    route();
  } catch (err) {
    signOut(err.message);
  }
});
$("#signout").addEventListener("click", () => signOut());
$("#cancel-button").addEventListener("click", () => act("cancel"));
$("#resume-button").addEventListener("click", () => act("resume"));
$("#filter-state").addEventListener("change", () => { offset = 0; route(); });
$("#filter-sweep").addEventListener("change", () => { offset = 0; route(); });
$("#filter-kind").addEventListener("change", () => { offset = 0; route(); });
$("#prev").addEventListener("click", () => { offset = Math.max(0, offset - 50); route(); });
$("#next").addEventListener("click", () => { offset += 50; route(); });
window.addEventListener("hashchange", route);
if (sessionStorage.getItem(KEY)) {
  api("/health").then((h) => { $("#server").textContent = `${h.home} · trn ${h.version}`; }).catch(() => {});
}
route();
