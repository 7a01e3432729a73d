// The trn dashboard: plain modules, no build step. Signing in (a one-time link or the token),
// the jobs table, and which view the address shows.
import { KEY, Unauthorized, api, credential, redeem } from "./api.js";
import { $, age, badge, el, every, link, metricsText, onUnauthorized, progressBar, show, whatText } from "./dom.js";
import { drawRecord, jobView } from "./job.js";
import { sweepView, sweepsView } from "./sweeps.js";

let stop = () => {};  // ends the current view's timers and streams

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
    const running = page.jobs.filter((r) => r.state === "running");
    const progress = new Map(await Promise.all(running.map(async (r) =>
      [r.job_id, await api(`/jobs/${r.job_id}/progress`).catch(() => null)])));
    $("#jobs-table tbody").replaceChildren(...page.jobs.map((r) => jobRow(r, progress.get(r.job_id))));
    $("#jobs-empty").hidden = page.jobs.length > 0;
    $("#prev").disabled = offset === 0;
    $("#next").disabled = page.next_offset === null;
    $("#page").textContent = page.jobs.length ? `${offset + 1}–${offset + page.jobs.length}` : "";
  };
  return every(2000, draw);
}

function jobRow(r, progress) {
  const tr = el("tr");
  tr.dataset.job = r.job_id;
  const id = el("td", null, "mono");
  id.append(link(r.job_id, `#/job/${r.job_id}`));
  if (r.sweep_id) {
    const s = link(` sweep ${r.sweep_id}`, `#/sweep/${r.sweep_id}`, "muted");
    s.addEventListener("click", (e) => e.stopPropagation());
    id.append(el("br"), s);
  }
  const state = el("td", null, "state-cell");
  state.append(badge(r.state));
  if (progress) state.append(progressBar(progress));
  tr.append(id, state,
    el("td", whatText(r), "what"),
    el("td", metricsText(r.metrics), "metrics"),
    el("td", (r.devices || []).join(", ")),
    el("td", age(r.created_at), "muted age"));
  tr.addEventListener("click", () => { location.hash = `#/job/${r.job_id}`; });
  return tr;
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

// -- routing ----------------------------------------------------------------------------------
function route() {
  stop();
  if (!credential()) { stop = () => {}; return loginView(); }
  const [, kind, id] = location.hash.split("/");
  if (kind === "job" && id) stop = jobView(id);
  else if (kind === "sweep" && id) stop = sweepView(id);
  else if (kind === "sweeps") stop = sweepsView();
  else stop = jobsView();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  stop(); stop = () => {};
  loginView(message);
}
onUnauthorized(signOut);

async function whoami() {
  const h = await api("/health");
  if (!h.access) throw new Unauthorized("that token is not this server's");
  $("#server").textContent = `${h.home} · trn ${h.version}${h.access === "read" ? " · read-only" : ""}`;
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $("#token").value.trim());
  try {
    await whoami();
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

// A sign-in link (#login=CODE, printed by trn serve): the code leaves the address bar and the
// history at once, and is traded for this tab's session.
async function start() {
  const login = location.hash.match(/^#login=([A-Za-z0-9_-]+)$/);
  if (login) {
    history.replaceState(null, "", `${location.pathname}#/`);
    try {
      await redeem(login[1]);
    } catch (err) {
      sessionStorage.removeItem(KEY);
      return loginView(err.message);
    }
  }
  if (credential()) whoami().catch(() => {});
  route();
}
start();
