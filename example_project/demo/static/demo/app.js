// The demo's browser app: plain JavaScript, no build step, no token anywhere.
// Every call to the BFF sends the anti-forgery header; the session cookie goes along by itself.
"use strict";

const HEADERS = { "X-CSRF": "1" };
const $ = (id) => document.getElementById(id);
let logoutUrl = null;
let sessionEndsAt = null;
let tokenEndsAt = null;
let lastTokenId = null;

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $("log").prepend(item);
}

function seconds(n) {
  const m = Math.floor(n / 60), s = n % 60;
  return m ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
}

async function loadUser() {
  // slide=false: asking who is logged in must not keep the session alive.
  const response = await fetch("/bff/user?slide=false", { headers: HEADERS });
  if (response.status === 401) {
    logoutUrl = null;
    sessionEndsAt = null;
    $("status").textContent = "Not signed in";
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
  const response = await fetch(path, { headers: HEADERS });
  const body = await response.json().catch(() => null);
  target.dataset.status = String(response.status);
  target.textContent = `${response.status}\n${JSON.stringify(body, null, 2)}`;
  if (kind === "user" && response.ok) {
    tokenEndsAt = Date.now() + body.token_expires_in * 1000;
    if (lastTokenId && body.token_id !== lastTokenId) {
      log(`GET ${path}: ${response.status}, with a new access token ${body.token_id} (the BFF refreshed it)`);
    } else {
      log(`GET ${path}: ${response.status}, access token ${body.token_id}`);
    }
    lastTokenId = body.token_id;
  } else {
    log(`GET ${path}: ${response.status}`);
  }
  await loadUser(); // the call slid the session: show its new end
  tick();
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
  $("login").addEventListener("click", () => {
    window.location.href = "/bff/login?returnUrl=" + encodeURIComponent("/");
  });
  $("logout").addEventListener("click", () => {
    window.location.href = logoutUrl + "&returnUrl=" + encodeURIComponent("/");
  });
  $("call-user").addEventListener("click", () => callApi("user"));
  $("call-app").addEventListener("click", () => callApi("app"));
  loadUser().then(() => log("GET /bff/user?slide=false"));
  setInterval(tick, 1000);
  setInterval(loadUser, 15000);
});
