// The runner log with Lightning's routine notices folded: its tips and adverts (litlogger,
// litmodels), the `srun` hint, deprecation warnings (and the source line Python prints under a
// warning), the accelerator inventory and its stepping-batches notice. Each run of them folds
// into one line that opens in place; "Full log" shows every line as written.
const NOISE = [
  ["tip", /💡 Tip:|^Tip: /],
  ["hint", /The `srun` command is available on your system but is not used/],
  ["deprecation", /\.py:\d+: .*(\bdeprecated\b|DeprecationWarning|FutureWarning)/],
  ["deprecation", /^\S*(Deprecation|Future)Warning: /],
  ["inventory", /^(GPU|TPU|HPU|IPU) available: |^LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES: /],
  ["notice", /^Loading `\w+` to estimate number of stepping batches\.$/],
];

export function kind(line, previous) {
  for (const [name, re] of NOISE) if (re.test(line)) return name;
  // Python prints the warning's source line, indented, under it
  if (previous && /^\s+\S/.test(line) && /^\S+\.py:\d+: /.test(previous.text)) return previous.kind;
  return null;
}

// lines -> [{text, kind}] and runs of noise grouped: [{noise: [...]}, {text}, ...]
export function fold(lines) {
  const out = [];
  let prev = null;
  for (const text of lines) {
    const k = kind(text, prev && prev.kind ? prev : null);
    prev = { text, kind: k };
    if (!k) { out.push({ text }); continue; }
    const last = out[out.length - 1];
    if (last && last.noise) last.noise.push(prev);
    else out.push({ noise: [prev] });
  }
  return out;
}

// Draw `lines` into `box`; `open` remembers which folds the reader opened across redraws.
export function drawLog(box, lines, full, open) {
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  if (full) {
    box.replaceChildren(...lines.map((t) => lineEl(t)));
    box.dataset.folded = "0";
  } else {
    let folded = 0;
    box.replaceChildren(...fold(lines).map((part) => {
      if (!part.noise) return lineEl(part.text);
      folded += part.noise.length;
      return foldEl(part.noise, open);
    }));
    box.dataset.folded = String(folded);
  }
  if (atEnd) box.scrollTop = box.scrollHeight;
}

function lineEl(text) {
  const d = document.createElement("div");
  d.className = "line";
  d.textContent = text || " ";
  return d;
}

function foldEl(noise, open) {
  const key = noise[0].text;
  const kinds = [...new Set(noise.map((n) => n.kind))].join(", ");
  const d = document.createElement("details");
  d.className = "noise";
  d.open = open.has(key);
  d.addEventListener("toggle", () => (d.open ? open.add(key) : open.delete(key)));
  const s = document.createElement("summary");
  s.textContent = `${noise.length} line${noise.length > 1 ? "s" : ""} of Lightning's notices (${kinds})`;
  d.append(s, ...noise.map((n) => lineEl(n.text)));
  return d;
}
