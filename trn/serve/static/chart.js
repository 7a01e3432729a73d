// A small line chart on a canvas: one metric, a series per phase (train steps, epochs).
const COLORS = { train: "#3158d4", val: "#e07a2f", epoch: "#e07a2f", test: "#2f9e44", jobs: "#e07a2f" };

export class LineChart {
  constructor(parent, title) {
    this.series = new Map();
    this.root = document.createElement("div");
    this.root.className = "chart";
    this.root.dataset.metric = title;
    const h = document.createElement("h3");
    h.textContent = title;
    this.canvas = document.createElement("canvas");
    this.legend = document.createElement("div");
    this.legend.className = "legend";
    this.root.append(h, this.canvas, this.legend);
    parent.append(this.root);
    this.pending = false;
    this.xLabel = "step";
  }

  add(phase, x, y) {
    if (!Number.isFinite(y)) return;
    if (!this.series.has(phase)) this.series.set(phase, []);
    this.series.get(phase).push([x, y]);
    this.root.dataset.points = String(this.count());
    this.schedule();
  }

  count() {
    let n = 0;
    for (const pts of this.series.values()) n += pts.length;
    return n;
  }

  schedule() {  // many events in one burst: draw once per frame
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const ratio = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth || 380, h = this.canvas.clientHeight || 190;
    this.canvas.width = w * ratio;
    this.canvas.height = h * ratio;
    const g = this.canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    const all = [...this.series.values()].flat();
    if (!all.length) return;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of all) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 += Math.abs(y1) * 0.05 || 1; y0 -= Math.abs(y0) * 0.05 || 1; }
    const pad = { l: 62, r: 12, t: 8, b: 22 };
    const px = (x) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const py = (y) => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
    g.font = "11px system-ui, sans-serif";
    g.strokeStyle = "#e3e6ec";
    g.fillStyle = "#6b7385";
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = y0 + ((y1 - y0) * i) / 4, yy = Math.round(py(y)) + 0.5;
      g.beginPath(); g.moveTo(pad.l, yy); g.lineTo(w - pad.r, yy); g.stroke();
      g.textAlign = "right"; g.textBaseline = "middle";
      g.fillText(fmt(y, 3), pad.l - 6, yy);
    }
    g.textAlign = "center"; g.textBaseline = "top";
    for (let i = 0; i <= 4; i++) {
      const x = x0 + ((x1 - x0) * i) / 4;
      g.fillText(x1 - x0 >= 10 ? String(Math.round(x)) : fmt(x), px(x), h - pad.b + 5);
    }
    const names = [];
    for (const [phase, pts] of this.series) {
      const color = COLORS[phase] || "#555";
      g.strokeStyle = color; g.fillStyle = color; g.lineWidth = 1.6;
      g.beginPath();
      pts.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
      g.stroke();
      if (pts.length < 60) for (const [x, y] of pts) { g.beginPath(); g.arc(px(x), py(y), 2.2, 0, 7); g.fill(); }
      names.push(`${phase}: ${fmt(pts[pts.length - 1][1])} (${pts.length})`);
    }
    this.legend.textContent = `${names.join("   ·   ")}   — by ${this.xLabel}`;
  }
}

export function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(digits - 2);
  return String(Number(v.toPrecision(digits)));
}

// Objective by one varied override: a scatter, or bars for values that are not numbers.
export function sweepChart(parent, rows, key, metric) {
  const chart = new LineChart(parent, `${metric} by ${key}`);
  chart.xLabel = key;
  const pts = rows
    .filter((r) => r.value !== null && r.value !== undefined)
    .map((r) => [Number((r.overrides.find((o) => o.startsWith(key + "=")) || "").split("=")[1]), r.value])
    .filter(([x]) => Number.isFinite(x))
    .sort((a, b) => a[0] - b[0]);
  for (const [x, y] of pts) chart.add("jobs", x, y);
  return chart;
}
