// The sweeps: a list, newest first; one sweep's page with its jobs ranked by the objective, the
// best one, the objective against each varied override, and every job's curves overlaid.
import { api } from "./api.js";
import { LineChart, lrLike } from "./chart.js";
import { $, ENDED, age, badge, el, every, fmt, link, rank, show } from "./dom.js";

const OVERLAID = 20;  // jobs drawn in the overlaid curves: the best-ranked ones

export function sweepsView() {
  show("#sweeps-view");
  return every(3000, async () => {
    const page = await api("/sweeps?limit=100");
    $("#sweeps-table tbody").replaceChildren(...page.sweeps.map(sweepRow));
    $("#sweeps-empty").hidden = page.sweeps.length > 0;
  });
}

function sweepRow(s) {
  const tr = el("tr");
  tr.dataset.sweep = s.sweep_id;
  const id = el("td", null, "mono"), state = el("td"), best = el("td");
  id.append(link(s.sweep_id, `#/sweep/${s.sweep_id}`));
  state.append(badge(s.state));
  const metric = s.objective?.metric || "objective";
  if (s.best) best.append(link(s.best.job_id, `#/job/${s.best.job_id}`), el("span", ` ${metric}=${fmt(s.best.value)}`, "muted"));
  else best.append(el("span", "none completed yet", "muted"));
  tr.append(id, state, el("td", countsText(s.counts, s.jobs)), el("td", `${metric} (${s.objective?.mode || "max"})`),
    best, el("td", (s.varied || []).join(", "), "what"), el("td", age(s.started_at), "muted age"));
  tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.hash = `#/sweep/${s.sweep_id}`; });
  return tr;
}

function countsText(counts, jobs) {
  const parts = Object.entries(counts || {}).map(([k, n]) => `${n} ${k}`);
  const left = jobs - Object.values(counts || {}).reduce((a, b) => a + b, 0);
  if (left > 0) parts.unshift(`${left} running or waiting`);
  return `${jobs} job${jobs === 1 ? "" : "s"}` + (parts.length ? `: ${parts.join(", ")}` : "");
}

export function sweepView(sweepId) {
  show("#sweep-view");
  $("#sweep-title").textContent = `Sweep ${sweepId}`;
  for (const box of ["#sweep-chart", "#sweep-curves"]) $(box).replaceChildren();
  const curves = new Map();  // job id -> {last, metrics: {metric: {phase: [[step, value]]}}, done}
  let drawnObjective = "", drawnCurves = "";
  return every(3000, async () => {
    const s = await api(`/sweeps/${sweepId}`);
    $("#sweep-state").replaceWith(Object.assign(badge(s.state), { id: "sweep-state" }));
    const metric = s.objective?.metric || "objective", varied = new Set(s.varied || []);
    $("#sweep-metric").textContent = `${metric} (${s.objective?.mode || "max"})`;
    const best = $("#sweep-best");
    best.dataset.job = s.best ? s.best.job_id : "";
    if (s.best) {
      const row = s.jobs.find((r) => r.job_id === s.best.job_id) || { overrides: [] };
      best.replaceChildren(el("span", "Best: "), link(s.best.job_id, `#/job/${s.best.job_id}`),
        el("span", `  ${metric} = ${fmt(s.best.value)}  ·  ${label(row, varied)}`));
    } else best.replaceChildren(el("span", "No completed job yet.", "muted"));
    $("#sweep-table tbody").replaceChildren(...s.jobs.map((row, i) => jobRow(row, i, varied)));
    const key = JSON.stringify([s.jobs.map((r) => r.value), s.varied]);
    if (key !== drawnObjective) {
      drawnObjective = key;
      $("#sweep-chart").replaceChildren();
      for (const k of s.varied || []) objectiveChart($("#sweep-chart"), s.jobs, k, metric).draw();
    }
    const shown = s.jobs.slice(0, OVERLAID);
    await load(shown, curves);
    const now = JSON.stringify(shown.map((r) => [r.job_id, curves.get(r.job_id)?.last]));
    if (now !== drawnCurves) { drawnCurves = now; drawCurves(s, shown, curves, varied); }
    $("#sweep-curves-note").textContent = s.jobs.length > OVERLAID
      ? `The best ${OVERLAID} of ${s.jobs.length} jobs.` : "";
  });
}

function jobRow(row, i, varied) {
  const tr = el("tr"), id = el("td", null, "mono"), st = el("td");
  tr.dataset.job = row.job_id;
  id.append(link(row.job_id, `#/job/${row.job_id}`)); st.append(badge(row.state));
  tr.append(el("td", row.state === "completed" && row.value !== null ? String(i + 1) : "–"), id, st, el("td", fmt(row.value)),
    el("td", row.overrides.filter((o) => varied.has(o.split("=")[0])).join(" ") + (row.error ? `  (${row.error})` : ""), "what"));
  tr.addEventListener("click", () => { location.hash = `#/job/${row.job_id}`; });
  return tr;
}

function label(row, varied) {
  const own = row.overrides.filter((o) => varied.has(o.split("=")[0]));
  return own.length ? own.join(" ") : row.job_id;
}

// each job's series, read once when it has ended, else the new points every refresh
async function load(rows, curves) {
  await Promise.all(rows.map(async (row) => {
    const known = curves.get(row.job_id) || { last: 0, metrics: {}, done: false };
    if (known.done) return;
    const ended = ENDED.has(row.state);
    const m = await api(`/jobs/${row.job_id}/metrics?after=${known.last}`);
    for (const [metric, phases] of Object.entries(m.metrics)) {
      const mine = known.metrics[metric] || (known.metrics[metric] = {});
      for (const [phase, points] of Object.entries(phases)) (mine[phase] || (mine[phase] = [])).push(...points);
    }
    known.last = m.last_seq;
    known.done = ended;
    curves.set(row.job_id, known);
  }));
}

// One chart per metric, one line per job (its per-epoch values where it logs them, else its
// steps), the best job first and thickest.
function drawCurves(s, rows, curves, varied) {
  const box = $("#sweep-curves");
  box.replaceChildren();
  const objective = s.objective?.metric;
  const metrics = [...new Set(rows.flatMap((r) => Object.keys(curves.get(r.job_id)?.metrics || {})))]
    .sort((a, b) => (b === objective) - (a === objective) || rank(a) - rank(b) || a.localeCompare(b));
  for (const metric of metrics) {
    const lines = rows.map((row) => {
      const by = curves.get(row.job_id)?.metrics[metric] || {};
      const phase = by.epoch ? "epoch" : by.val ? "val" : "train";
      return by[phase] ? { row, phase, points: by[phase] } : null;
    }).filter(Boolean);
    const when = [...new Set(lines.map((l) => (l.phase === "train" ? "logged steps" : "epoch ends")))].join(" or ");
    const chart = new LineChart(box, metric, { caption: `one line per job, at its ${when}` });
    for (const { row, points } of lines) {
      const isBest = s.best && s.best.job_id === row.job_id;
      chart.line(row.job_id, { label: label(row, varied) + (isBest ? "  ★ best" : ""), width: isBest ? 3 : 1.5, href: `#/job/${row.job_id}` });
      for (const [step, value] of points) chart.add(row.job_id, step, value);
    }
    chart.draw();
  }
}

// The objective by one varied override: a point per completed job.
function objectiveChart(parent, rows, key, metric) {
  const pts = rows
    .filter((r) => r.value !== null && r.value !== undefined)
    .map((r) => [Number((r.overrides.find((o) => o.startsWith(key + "=")) || "").split("=")[1]), r.value])
    .filter(([x]) => Number.isFinite(x))
    .sort((a, b) => a[0] - b[0]);
  const chart = new LineChart(parent, `${metric} by ${key}`, {
    xLabel: key, xLog: lrLike(key), log: false, caption: `each completed job's ${metric} against its ${key}`,
  });
  chart.line("jobs", { label: "jobs", color: "#e07a2f" });
  for (const [x, y] of pts) chart.add("jobs", x, y);
  return chart;
}
