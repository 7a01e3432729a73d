// Talking to trn serve. The credential (a session from a sign-in link, or the token pasted) lives
// in sessionStorage (this tab only) and goes in an Authorization header; there are no cookies,
// so a page of another site has nothing the browser would send for it: no CSRF.
export const API = "/api/v1";
export const KEY = "trn.token";

export class Unauthorized extends Error {}

export function credential() { return sessionStorage.getItem(KEY) || ""; }

export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${credential()}` };
  if (options.body) headers["Content-Type"] = "application/json";
  const r = await fetch(API + path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  if (r.status === 401) throw new Unauthorized("the server refused this session or token; sign in again");
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : {};
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// A sign-in code (from the link trn serve prints) traded for a session, kept in this tab.
export async function redeem(code) {
  const r = await fetch(`${API}/session`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Unauthorized(body.error || `HTTP ${r.status}`);
  sessionStorage.setItem(KEY, body.session);
  return body;
}

// Server-Sent Events over fetch (EventSource cannot send an Authorization header).
export async function follow(path, onEvent, signal, lastId) {
  const headers = { Authorization: `Bearer ${credential()}` };
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
