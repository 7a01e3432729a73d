// One job's page: its facts and progress, a chart per metric fed live by its event stream (a
// resumed job's earlier attempts drawn first), its events, its runner log, its config.
import { api, follow } from "./api.js";
import { LineChart } from "./chart.js";
import { $, ENDED, badge, el, every, fmt, link, metricsText, progressBar, rank, show, whatText } from "./dom.js";
import { drawLog } from "./log.js";

const TERMINAL = new Set(["job_completed", "job_failed", "job_cancelled", "job_preempted", "job_pruned"]);
// how each phase of a metrics event reads in a legend, and its color
const PHASES = {
  train: ["per step", "#3158d4"], epoch: ["per epoch", "#e07a2f"], val: ["per epoch", "#e07a2f"],
  test: ["test", "#2a9d5c"],
};

// metric name -> LineChart, in the order val, test, train, others, learning rates
class Charts {
  constructor(box, empty) {
    this.box = box; this.empty = empty; this.by = new Map(); this.marks = [];
    box.replaceChildren();
    empty.hidden = false;
  }

  add(metric, phase, step, value, epoch) {
    const chart = this.by.get(metric) || this.make(metric);
    const key = phase === "val" ? "epoch" : phase;
    if (!chart.series.has(key)) {
      const [label, color] = PHASES[key] || [key, "#555"];
      chart.line(key, { label, color });
    }
    chart.add(key, step, value, epoch);
    this.empty.hidden = true;
  }

  make(metric) {
    const chart = new LineChart(document.createDocumentFragment(), metric);
    const after = [...this.by.keys()].find((m) => rank(m) > rank(metric) || (rank(m) === rank(metric) && m > metric));
    this.box.insertBefore(chart.root, after ? this.by.get(after).root : null);
    for (const [x, label] of this.marks) chart.mark(x, label);
    this.by.set(metric, chart);
    return chart;
  }

  mark(x, label) {
    this.marks.push([x, label]);
    for (const chart of this.by.values()) chart.mark(x, label);
  }
}

export function jobView(jobId) {
  show("#job-view");
  $("#job-title").textContent = jobId;
  $("#job-message").hidden = true;
  $("#job-progress").replaceChildren();
  $("#events").textContent = ""; $("#runner-log").replaceChildren(); $("#config").textContent = "";
  const charts = new Charts($("#charts"), $("#charts-empty"));
  const page = { resumed: null, full: false, open: new Set() };
  const aborter = new AbortController();
  const lines = [];
  let ended = false, lastSeq = null;

  const onEvent = (ev) => {
    lastSeq = ev.seq;
    lines.push(eventLine(ev));
    if (lines.length > 200) lines.shift();
    const pre = $("#events"), atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = lines.join("\n");
    if (atEnd) pre.scrollTop = pre.scrollHeight;
    if (ev.event === "metrics") {
      const epoch = ev.phase === "train" ? undefined : ev.epoch;
      for (const [name, value] of Object.entries(ev.metrics || {})) charts.add(name, ev.phase, ev.step, value, epoch);
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
  // the earlier attempts' points first, so every line runs from the chain's first step
  earlierAttempts(jobId, charts, page).catch(() => {}).then(() => {
    if (aborter.signal.aborted) return;
    if (page.record) drawRecord(page.record, page);  // now with where it resumed from
    stream();
  });
  api(`/jobs/${jobId}/config`).then((c) => { $("#config").textContent = JSON.stringify(c, null, 2); }).catch(() => {});
  $("#log-full").onclick = () => { page.full = !page.full; refresh(); };
  const refresh = async () => {
    const r = page.record = await api(`/jobs/${jobId}`);
    drawRecord(r, page);
    const running = r.state === "running" || r.state === "submitted";
    $("#job-progress").replaceChildren(...(running ? [progressBar(await api(`/jobs/${jobId}/progress`))] : []));
    const log = await api(`/jobs/${jobId}/log?tail=${page.full ? 10000 : 300}`);
    $("#log-full").textContent = page.full ? "Fold Lightning's notices" : "Full log";
    drawLog($("#runner-log"), log.lines, page.full, page.open);
  };
  const stopRecord = every(1500, refresh);
  return () => { aborter.abort(); stopRecord(); };
}

async function earlierAttempts(jobId, charts, page) {
  const { attempts } = await api(`/jobs/${jobId}/attempts`);
  for (const a of attempts) {
    for (const [metric, phases] of Object.entries(a.metrics)) {
      for (const [phase, points] of Object.entries(phases)) {
        for (const [step, value] of points) charts.add(metric, phase, step, value);
      }
    }
    if (a.until_step !== null) charts.mark(a.until_step, `attempt ${a.attempt + 1}`);
  }
  if (attempts.length) {
    const last = attempts[attempts.length - 1];
    page.resumed = { job: last.job_id, step: last.until_step, first: attempts[0].attempt };
    $("#charts-caption").textContent = `Attempts ${page.resumed.first}–${last.attempt + 1} of this job, ` +
      "the earlier ones up to the step the next one resumed from (dashed lines).";
  }
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

// What the job is ranked by, and who chose it (trn's default, or what it fell back to).
function objectiveText(o) {
  if (!o) return null;
  const by = o.metric ? `${o.metric} (${o.mode})` : "none: the last checkpoint";
  return by + ({ default: ", trn's default", fallback: ", fell back from trn's default" }[o.source] || "");
}

export function drawRecord(r, page = {}) {
  $("#job-state").replaceWith(Object.assign(badge(r.state), { id: "job-state" }));
  $("#cancel-button").disabled = ENDED.has(r.state);
  $("#resume-button").disabled = !ENDED.has(r.state) || !r.checkpoint;
  const resumed = page.resumed && page.resumed.step !== null ? `step ${page.resumed.step} of ` : "";
  const facts = [
    ["name", r.name], ["created", r.created_at?.replace("T", " ").slice(0, 19)],
    ["devices", (r.devices || []).join(", ")], ["attempt", r.attempt],
    ["sweep", r.sweep_id], ["resumed from", r.parent_job_id],
    ["overrides", (r.overrides || []).join(" ")], ["metrics", metricsText(r.metrics)],
    ["evaluates", r.kind === "eval" ? whatText({ ...r, name: null, overrides: [] }) : null],
    ["objective", objectiveText(r.objective)],
    ["error", r.error], ["checkpoint", r.checkpoint?.split("/").pop()],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  $("#job-facts").replaceChildren(...facts.flatMap(([k, v]) => {
    const dd = el("dd", String(v));
    if (k === "sweep") dd.replaceChildren(link(String(v), `#/sweep/${v}`));
    if (k === "resumed from") dd.replaceChildren(el("span", resumed), link(String(v), `#/job/${v}`));
    return [el("dt", k), dd];
  }));
}
