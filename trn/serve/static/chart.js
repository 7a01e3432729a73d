// A small line chart on a canvas with an HTML legend: one metric, one line per series (a phase
// of one job, or one job of a sweep), a log axis for learning rates, markers where a resumed
// job's next attempt starts.
import { el, fmt, link } from "./dom.js";

export const PALETTE = ["#3158d4", "#e07a2f", "#2a9d5c", "#b8428c", "#7a5cd1", "#b8960f", "#1f9bb5", "#d0453b", "#5e6b7e", "#8c6d3f"];
const LR = /(^|[/_.-])(lr|learning[_-]?rate)([/_.-]|$)|^lr-/i;
export const lrLike = (name) => LR.test(name);

export class LineChart {
  // options: caption (a line under the title), xLabel, log (y; default: lr-like titles), xLog
  constructor(parent, title, options = {}) {
    this.series = new Map();
    this.markers = [];
    this.xLabel = options.xLabel || "step";
    this.log = options.log ?? lrLike(title);
    this.xLog = options.xLog || false;
    this.root = el("div", null, "chart");
    this.root.dataset.metric = title;
    const head = el("div", null, "chart-head");
    this.scale = el("button", "", "link scale");
    this.scale.type = "button";
    this.scale.addEventListener("click", () => { this.log = !this.log; this.draw(); });
    head.append(el("h3", title), this.scale);
    this.root.append(head);
    if (options.caption) this.root.append(el("p", options.caption, "caption"));
    this.canvas = el("canvas");
    this.legend = el("ul", null, "legend");
    this.root.append(this.canvas, this.legend);
    parent.append(this.root);
    this.pending = false;
  }

  // A series' looks: label, color, width, href (the legend entry links there).
  line(key, looks) {
    const s = this.series.get(key) || { points: [] };
    Object.assign(s, looks);
    this.series.set(key, s);
    return s;
  }

  // A point; `epoch`, when known, shows in the legend's "last" reading.
  add(key, x, y, epoch) {
    if (!Number.isFinite(y)) return;
    const s = this.series.get(key) || this.line(key, {});
    s.points.push([x, y, epoch]);
    this.root.dataset.points = String(this.count());
    this.schedule();
  }

  mark(x, label) {
    this.markers.push([x, label]);
    this.root.dataset.marks = String(this.markers.length);
    this.schedule();
  }

  count() {
    let n = 0;
    for (const s of this.series.values()) n += s.points.length;
    return n;
  }

  schedule() {  // many events in one burst: draw once per frame
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const points = [...this.series.values()].flatMap((s) => s.points);
    const positive = points.filter(([, y]) => y > 0);
    // a log axis leaves out values <= 0 (a schedule that decays to 0), as long as 2 are left
    const logY = this.log && positive.length >= 2;
    const logX = this.xLog && points.every(([x]) => x > 0);
    const all = logY ? positive : points;
    if (all.length) this.root.dataset.firstX = String(Math.min(...all.map(([x]) => x)));
    this.root.dataset.scale = logY ? "log" : "linear";
    this.root.dataset.series = String([...this.series.values()].filter((s) => s.points.length).length);
    this.scale.textContent = logY ? "log scale" : "linear";
    this.scale.title = "switch between a linear and a log axis";
    this.scale.hidden = positive.length < 2;
    const g = this.prepare();
    if (!all.length) return this.drawLegend();
    const fx = logX ? Math.log10 : (v) => v, fy = logY ? Math.log10 : (v) => v;
    const [x0, x1] = spread(all.map(([x]) => fx(x)).concat(this.markers.map(([x]) => fx(x))));
    const [y0, y1] = spread(all.map(([, y]) => fy(y)));
    const { w, h } = this.size, pad = { l: 62, r: 14, t: 10, b: 34 };
    const px = (x) => pad.l + ((fx(x) - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const py = (y) => h - pad.b - ((fy(y) - y0) / (y1 - y0)) * (h - pad.t - pad.b);
    this.axes(g, { x0, x1, y0, y1, logX, logY, px, py, pad });
    for (const [x, label] of this.markers) {
      const xx = Math.round(px(x)) + 0.5;
      g.save(); g.setLineDash([4, 3]); g.strokeStyle = "#9aa3b5";
      g.beginPath(); g.moveTo(xx, pad.t); g.lineTo(xx, h - pad.b); g.stroke(); g.restore();
      g.fillStyle = "#6b7385"; g.textAlign = "left"; g.textBaseline = "bottom"; g.fillText(label, xx + 3, h - pad.b - 2);
    }
    let i = 0;
    for (const s of this.series.values()) {
      s.shown = s.color || PALETTE[i++ % PALETTE.length];
      if (!s.points.length) continue;
      g.strokeStyle = s.shown; g.fillStyle = s.shown; g.lineWidth = s.width || 1.6;
      const pts = logY ? s.points.filter(([, y]) => y > 0) : s.points;
      g.beginPath();
      pts.forEach(([x, y], j) => (j ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
      g.stroke();
      if (pts.length < 60) for (const [x, y] of pts) { g.beginPath(); g.arc(px(x), py(y), 2.2, 0, 7); g.fill(); }
    }
    this.drawLegend();
  }

  prepare() {
    const ratio = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth || 380, h = this.canvas.clientHeight || 200;
    this.size = { w, h };
    this.canvas.width = w * ratio;
    this.canvas.height = h * ratio;
    const g = this.canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    return g;
  }

  axes(g, { x0, x1, y0, y1, logX, logY, px, py, pad }) {
    const { w, h } = this.size;
    g.strokeStyle = "#e3e6ec"; g.fillStyle = "#6b7385"; g.lineWidth = 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const t of ticks(y0, y1, logY)) {
      const yy = Math.round(py(t)) + 0.5;
      g.beginPath(); g.moveTo(pad.l, yy); g.lineTo(w - pad.r, yy); g.stroke();
      g.fillText(tickText(t), pad.l - 6, yy);
    }
    g.textAlign = "center"; g.textBaseline = "top";
    for (const t of ticks(x0, x1, logX)) g.fillText(tickText(t), px(t), h - pad.b + 4);
    g.textAlign = "right";
    g.fillText(`${this.xLabel} →${logX ? " (log)" : ""}`, w - pad.r, h - 13);
  }

  drawLegend() {
    this.legend.replaceChildren(...[...this.series.values()].filter((s) => s.points.length).map((s) => {
      const li = el("li");
      const swatch = el("i", null, "swatch");
      swatch.style.background = s.shown || "#555";
      if (s.width > 2) swatch.classList.add("thick");
      const [x, y, epoch] = s.points[s.points.length - 1];
      const at = epoch === undefined || epoch === null ? `${this.xLabel} ${fmt(x, 6)}` : `epoch ${epoch + 1}, ${this.xLabel} ${x}`;
      const name = s.href ? link(s.label || "", s.href) : el("span", s.label || "");
      li.append(swatch, name, el("span", ` ${fmt(y)} at ${at}`, "muted"));
      return li;
    }));
  }
}

// 0.003, 1e-4, 2.5e-5: no trailing zeros
function tickText(v) {
  const a = Math.abs(v), round = Number(v.toPrecision(3));
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? round.toExponential() : String(round);
}

function spread(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) { const d = Math.abs(hi) * 0.05 || 1; lo -= d; hi += d; }
  return [lo, hi];
}

// Round tick values between lo and hi, four to eight of them; on a log axis (lo and hi are
// log10) the decades, or 1-2-5 steps when the range spans less than two decades.
function ticks(lo, hi, log) {
  if (log) {
    const decades = [], steps = [];
    for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** k, e = Math.log10(v);
        if (e >= lo - 1e-9 && e <= hi + 1e-9) (m === 1 ? decades : steps).push(v);
      }
    }
    if (decades.length >= 2) return decades.length > 8 ? decades.filter((_, i) => i % 2 === 0) : decades;
    const all = [...decades, ...steps].sort((a, b) => a - b);
    return all.length >= 2 ? all : [10 ** lo, 10 ** hi];
  }
  const raw = (hi - lo) / 5, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}
