// Small helpers every view uses: elements, state badges, numbers, times, the progress bar,
// which view shows, refreshing.
import { Unauthorized } from "./api.js";

export const $ = (sel) => document.querySelector(sel);
export const ENDED = new Set(["completed", "failed", "cancelled", "preempted", "pruned", "lost"]);

export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

export function link(text, href, cls) {
  const a = el("a", text, cls);
  a.href = href;
  return a;
}

export function badge(state) { return el("span", state, `state ${state}`); }

export function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(digits - 2);
  return String(Number(v.toPrecision(digits)));
}

export function age(iso) {
  if (!iso) return "";
  return duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000));
}

export function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${(s / 86400).toFixed(1)}d`;
}

// The first metrics worth a glance: a tested job's test results, then validation, then the rest.
const glance = (name) => (/(^|\/)test/.test(name) ? -1 : rank(name));
export function metricsText(m, n = 3) {
  const keys = Object.keys(m || {}).sort((a, b) => glance(a) - glance(b) || a.localeCompare(b));
  return keys.slice(0, n).map((k) => `${k}=${fmt(m[k])}`).join("  ");
}

export function rank(name) {
  if (/(^|\/)val/.test(name)) return 0;
  if (/(^|\/)test/.test(name)) return 1;
  if (/(^|\/)train/.test(name)) return 2;
  return /(^|[/_.-])(lr|learning[_-]?rate)([/_.-]|$)|^lr-/i.test(name) ? 4 : 3;
}

// From GET /jobs/{id}/progress: the bar, its words, and how they were computed (its title).
export function progressBar(p) {
  const box = el("div", null, "progress");
  box.title = "done: step / total steps (Lightning's estimate from max_epochs, max_steps and the " +
    "batches per epoch), else finished epochs / max_epochs; ETA: what is left at this job's own rate so far";
  const fill = el("div", null, "fill");
  box.append(fill, el("span", progressText(p), "progress-text"));
  if (p.fraction === null || p.fraction === undefined) {
    box.classList.add("unknown");
  } else {
    box.dataset.fraction = String(p.fraction);
    fill.style.width = `${(100 * p.fraction).toFixed(1)}%`;
  }
  box.dataset.eta = p.eta_s === null || p.eta_s === undefined ? "" : String(Math.round(p.eta_s));
  return box;
}

function formatRate(v) {
  return v >= 100 ? String(Math.round(v)) : v.toPrecision(3);
}

function progressText(p) {
  if (p.step === null || p.step === undefined) return "starting";
  const where = p.unit === "epochs" ? `epoch ${p.epochs_done} of ${p.max_epochs}`
    : p.unit === "steps" ? `step ${p.step} of ${p.total_steps}` : `step ${p.step}`;
  const tokens = p.tokens_per_s ? ` (${formatRate(p.tokens_per_s)} tokens/s)` : "";
  const speed = p.samples_per_s ? ` · ${formatRate(p.samples_per_s)} samples/s${tokens}` : "";
  if (p.fraction === null || p.fraction === undefined) return `${where}${speed} · no total known`;
  const eta = p.eta_s === null || p.eta_s === undefined ? "ETA after a few more steps" : `ETA ${duration(p.eta_s)}`;
  return `${Math.floor(100 * p.fraction)}% · ${where}${speed} · ${eta}`;
}

// -- views ------------------------------------------------------------------------------------
const VIEWS = ["#login", "#jobs-view", "#job-view", "#sweeps-view", "#sweep-view"];
let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $("#signout").hidden = view === "#login";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("here", a.dataset.view === view);
}

// fn now and every `ms` after it ends, until the returned stop() is called; a refused session
// signs out
export function every(ms, fn) {
  let alive = true, timer = null;
  const tick = async () => {
    try { await fn(); } catch (e) { if (e instanceof Unauthorized) return unauthorized(e.message); }
    if (alive) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { alive = false; clearTimeout(timer); };
}

// A job's "what": its name, else its overrides; an eval job says which job's checkpoint it
// evaluated and how.
export function whatText(r) {
  if (r.name) return r.name;
  const given = (r.overrides || []).join(" ");
  if (r.kind !== "eval") return given;
  const e = r.evaluates || {};
  return `eval ${e.job_id || "?"} (${e.stage || "test"}) ${given}`.trim();
}
