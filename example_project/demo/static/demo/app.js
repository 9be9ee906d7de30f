// The demo's browser app: plain JavaScript, no build step, no token anywhere.
// Every call to the BFF sends the anti-forgery header; the session cookie goes along by itself.
// Every response this page receives is kept (in memory) so that it can show it holds no token.
"use strict";

const HEADERS = { "X-CSRF": "1" };
const $ = (id) => document.getElementById(id);
const INITIAL_HTML = document.documentElement.outerHTML;
const received = []; // {url, text} of every response this page's fetch calls got, and every WebSocket message
const hashes = new Map(); // window of text -> its SHA-256 prefix (computed once)
let logoutUrl = null;
let sessionEndsAt = null;
let tokenEndsAt = null;
// A login that failed comes back with ?error= (access_denied, login_required, login_failed...).
const loginError = new URLSearchParams(location.search).get("error");

async function get(url, options = {}) {
  const response = await fetch(url, { headers: HEADERS, ...options });
  received.push({ url, text: await response.clone().text() });
  return response;
}

async function note(text) {
  await get("/demo/events", { method: "POST", body: JSON.stringify({ text }) });
}

function seconds(n) {
  const m = Math.floor(n / 60), s = n % 60;
  return m ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
}

async function loadUser() {
  // slide=false: asking who is logged in must not keep the session alive.
  const response = await get("/bff/user?slide=false");
  if (response.status === 401) {
    logoutUrl = null;
    sessionEndsAt = null;
    $("status").textContent = loginError
      ? `Not signed in (the login came back with error=${loginError})`
      : "Not signed in";
    $("claims").textContent = "401 " + JSON.stringify(await response.json());
    $("login").hidden = false;
    $("logout").hidden = true;
    tick();
    return;
  }
  const claims = await response.json();
  const value = (type) => (claims.find((c) => c.type === type) || {}).value;
  logoutUrl = value("bff:logout_url");
  sessionEndsAt = Date.now() + value("bff:session_expires_in") * 1000;
  $("status").textContent = `Signed in as ${value("name")} (${value("email")})`;
  $("claims").textContent = claims.map((c) => `${c.type}: ${JSON.stringify(c.value)}`).join("\n");
  $("login").hidden = true;
  $("logout").hidden = false;
  tick();
}

async function callApi(kind) {
  const path = `/api/${kind}/${kind}-data`;
  const target = $(`${kind}-result`);
  const response = await get(path);
  const body = await response.json().catch(() => null);
  if (kind === "user" && response.ok) {
    tokenEndsAt = Date.now() + body.token_expires_in * 1000;
    await note(`GET ${path}: ${response.status}, the API saw access token ${body.token_id}`);
  } else {
    await note(`GET ${path}: ${response.status}`);
  }
  await loadUser(); // the call slid the session: show its new end
  await report();
  target.textContent = `${response.status}\n${JSON.stringify(body, null, 2)}`;
  target.dataset.status = String(response.status);
  tick();
}

// --- what the browser holds ------------------------------------------------------------------

function cell(row, text, ok) {
  const td = row.insertCell();
  td.textContent = text;
  if (ok !== undefined) td.className = ok ? "ok" : "bad";
  return td;
}

function showCookies(cookies) {
  const readable = new Set(document.cookie.split(";").map((c) => c.split("=")[0].trim()).filter(Boolean));
  const body = $("cookies").tBodies[0];
  body.replaceChildren();
  for (const cookie of cookies) {
    const row = body.insertRow();
    row.dataset.name = cookie.name;
    row.dataset.readable = String(readable.has(cookie.name));
    row.dataset.httpOnly = String(cookie.http_only);
    row.dataset.sameSite = String(cookie.same_site);
    row.dataset.secure = String(cookie.secure);
    cell(row, cookie.name);
    // Marked only for the cookies the server set HttpOnly (Django's csrftoken is readable by design).
    cell(row, readable.has(cookie.name) ? "yes (document.cookie shows it)" : "no", cookie.http_only ? !readable.has(cookie.name) : undefined);
    const header = cell(row, "");
    const code = document.createElement("code");
    code.textContent = cookie.set_cookie || "(no Set-Cookie of this value seen)";
    header.append(code);
  }
  if (!cookies.length) cell(body.insertRow(), "no cookie");
}

async function showStorage() {
  const databases = indexedDB.databases ? (await indexedDB.databases()).length : 0;
  const caches_ = window.caches ? (await caches.keys()).length : 0;
  const counts = { localStorage: localStorage.length, sessionStorage: sessionStorage.length, IndexedDB: databases, CacheStorage: caches_ };
  const empty = Object.values(counts).every((n) => n === 0);
  $("storage").dataset.empty = String(empty);
  $("storage").className = empty ? "ok" : "bad";
  $("storage").textContent =
    `localStorage: ${counts.localStorage} entries, sessionStorage: ${counts.sessionStorage} entries, ` +
    `IndexedDB: ${counts.IndexedDB} databases, Cache Storage: ${counts.CacheStorage} caches` + (empty ? ": empty" : "");
}

async function sha256_12(text) {
  if (!hashes.has(text)) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    hashes.set(text, [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 12));
  }
  return hashes.get(text);
}

async function scanTokens(tokens) {
  // A token can only sit inside a run of token characters: hash every window of each token's length in them.
  const texts = [INITIAL_HTML, ...received.map((r) => r.text)];
  const jwts = texts.join("\n").match(/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g) || [];
  const wanted = new Map(tokens.map((t) => [t.sha256_12, t]));
  const lengths = new Set(tokens.map((t) => t.length));
  const found = new Set();
  for (const text of texts) {
    for (const run of text.match(/[A-Za-z0-9._~+\/=-]+/g) || []) {
      for (const length of lengths) {
        for (let i = 0; i + length <= run.length; i++) {
          const hit = wanted.get(await sha256_12(run.slice(i, i + length)));
          if (hit) found.add(hit.sha256_12);
        }
      }
    }
  }
  const bytes = texts.reduce((n, t) => n + t.length, 0);
  const box = $("token-scan");
  Object.assign(box.dataset, { responses: String(texts.length), known: String(tokens.length), found: String(found.size), jwts: String(jwts.length) });
  box.className = found.size || jwts.length ? "bad" : "ok";
  const kinds = [...new Set(tokens.map((t) => t.kind))].join(", ") || "none yet";
  box.textContent =
    `${texts.length} responses (this page's HTML, every fetch, every WebSocket message; ${bytes} characters) ` +
    "searched: " +
    `${found.size} of the ${tokens.length} tokens the BFF received (${kinds}) found, ${jwts.length} JWT-shaped strings.`;
}

async function report() {
  const data = await (await get("/demo/report")).json();
  showCookies(data.cookies);
  await showStorage();
  await scanTokens(data.tokens);
  const log = $("log");
  log.replaceChildren(
    ...data.events.map((event) => {
      const item = document.createElement("li");
      item.className = event.source;
      item.textContent = `${new Date(event.at * 1000).toLocaleTimeString()}  ${event.source}: ${event.text}`;
      return item;
    }),
  );
  log.dataset.count = String(data.events.length);
}

// --- live: a WebSocket through the BFF -------------------------------------------------------
// The socket goes to this page's own host, the BFF, with the session cookie and nothing else; the BFF
// opens the API's socket with the user's token and passes the messages both ways.

let socket = null;
const CLOSE_CODES = {
  1000: "closed normally",
  1001: "going away",
  1006: "the connection was lost",
  1008: "policy violation: the BFF ends a socket whose session ended",
  1009: "message too big",
  1014: "bad gateway: the API went away",
};

function liveState(state, text, close) {
  const box = $("live-state");
  box.dataset.state = state;
  if (close) Object.assign(box.dataset, { code: String(close.code), reason: close.reason, opened: String(close.opened) });
  box.textContent = text;
  box.className = state === "open" ? "ok" : close && close.code !== 1000 ? "bad" : "";
  $("live-connect").disabled = state === "connecting" || state === "open";
  $("live-send").disabled = $("live-disconnect").disabled = state !== "open";
}

function liveMessage(direction, text) {
  const list = $("live-messages");
  const item = document.createElement("li");
  item.className = direction;
  item.textContent = `${new Date().toLocaleTimeString()} ${direction === "sent" ? "sent" : "got"}  ${text}`;
  list.prepend(item);
  while (list.children.length > 12) list.lastElementChild.remove();
  list.dataset.count = String(Number(list.dataset.count) + 1);
}

function connectLive() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live/`;
  const ws = new WebSocket(url);
  let opened = false;
  socket = ws;
  liveState("connecting", `Connecting to ${url}…`);
  ws.addEventListener("open", () => {
    opened = true;
    liveState("open", `Open: ${url}, the demo API sends an event every second`);
    note("live socket open: /api/live/").catch(() => {});
  });
  ws.addEventListener("message", (event) => {
    received.push({ url, text: String(event.data) }); // searched for tokens as the fetch responses are
    liveMessage("received", String(event.data));
  });
  ws.addEventListener("close", (event) => {
    if (socket === ws) socket = null;
    const reason = event.reason ? ` "${event.reason}"` : "";
    liveState(
      "closed",
      opened
        ? `Closed with code ${event.code}${reason}: ${CLOSE_CODES[event.code] || "closed by the API"}`
        : `Refused: the handshake failed (code ${event.code}; a browser is not told why: not signed in?)`,
      { code: event.code, reason: event.reason, opened },
    );
    if (!opened) return;
    // Then ask who is logged in, as after a 401 (a 1008 is a session that ended), and search again.
    note(`live socket closed: ${event.code}${reason}`)
      .catch(() => {})
      .then(loadUser)
      .then(report);
  });
}

function tick() {
  const now = Date.now();
  $("session-expires").textContent = sessionEndsAt
    ? `Session ends in ${seconds(Math.max(0, Math.round((sessionEndsAt - now) / 1000)))} unless you use it`
    : "";
  $("token-expiry").textContent = tokenEndsAt
    ? (tokenEndsAt > now
        ? `The access token the API saw expires in ${seconds(Math.round((tokenEndsAt - now) / 1000))}; ` +
          "the BFF refreshes it when a call needs it."
        : "The access token the API saw has expired: the next call makes the BFF refresh it.")
    : "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("click", async () => {
    await note("log in: to /bff/login");
    window.location.href = "/bff/login?returnUrl=" + encodeURIComponent("/");
  });
  $("logout").addEventListener("click", async () => {
    await note("log out: to /bff/logout");
    window.location.href = logoutUrl + "&returnUrl=" + encodeURIComponent("/");
  });
  $("call-user").addEventListener("click", () => callApi("user"));
  $("call-app").addEventListener("click", () => callApi("app"));
  $("live-connect").addEventListener("click", connectLive);
  $("live-send").addEventListener("click", () => {
    socket.send($("live-text").value);
    liveMessage("sent", $("live-text").value);
  });
  $("live-disconnect").addEventListener("click", () => socket.close(1000, "the page disconnected"));
  loadUser()
    .then(report) // the first report gives the session its visit id: the log's key
    .then(() => note(`page loaded: ${$("status").textContent}`))
    .then(report)
    .then(() => { $("holds").dataset.ready = "true"; });
  setInterval(tick, 1000);
  setInterval(loadUser, 15000);
});
