// What the console knows and does, shared by its panels. It speaks only to the public API; what the
// API does not keep (the requests sent, the sources of versions seen) is kept in this browser.
import { reactive } from "vue";
import { moduleLine, rowsTable } from "./results.js";

export const TEMPLATE = "def handle(request):\n    return {\"message\": \"Hello \" + request.get(\"name\", \"world\")}\n";
const SETTINGS = { timeout: "timeout_seconds", memory: "memory_mib", concurrency: "concurrency", min_warm: "min_warm" };

export const state = reactive({
  functions: [], selected: null, name: "hello", source: TEMPLATE, busy: false,
  token: sessionStorage.getItem("pyhost-token") || "", tokenRequired: false,
  deploy: null, errorLine: null, settings: blankSettings(), settingsStatus: null, confirmDelete: false,
  request: "{\"name\": \"Hugues\"}", invocation: null, history: [], saved: {},
  versions: null, shown: null, diff: { from: null, to: null },
  access: null, accessStatus: null, keys: [], keysStatus: null, newKey: null, keyFunctions: "", keyRate: "",
});

function blankSettings() {
  return Object.fromEntries(Object.keys(SETTINGS).map((setting) => [setting, ""]));
}

export async function api(method, path, { body, contentType = "application/json" } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = contentType;
  if (state.token) headers["Authorization"] = `Bearer ${state.token}`;
  const started = performance.now();
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: response.status, json, text, ms: performance.now() - started };
}

export function errorText(reply) {
  const error = reply.json?.error;
  return error ? `${reply.status} ${error.type}: ${error.message}` : `${reply.status}`;
}

// A JSON object kept in localStorage under one key. Where the browser's storage is full, it is not
// kept: what it holds is a convenience the API does not offer, never the only copy of anything.
export const stored = {
  read: (key) => { try { return JSON.parse(localStorage.getItem(key)) ?? {}; } catch { return {}; } },
  write: (key, value) => { try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* full */ } },
};
const KEPT_REQUESTS = 500;

// Sources are kept by their sha256, which every version carries: a version's source never changes,
// so each is read once (GET /functions/{name}/versions/{version}).
export function rememberSource(sha256, source) {
  const sources = stored.read("pyhost-sources");
  sources[sha256] = source;
  stored.write("pyhost-sources", sources);
}

export function sourceOf(version) {
  return stored.read("pyhost-sources")[version.sha256] ?? null;
}

export async function refresh() {
  const reply = await api("GET", "/functions");
  state.functions = reply.json?.functions ?? [];
}

export async function select(name) {
  const reply = await api("GET", `/functions/${name}`);
  if (reply.status !== 200) return;
  rememberSource(reply.json.sha256, reply.json.source);
  Object.assign(state, {
    selected: name, name, source: reply.json.source, deploy: null, errorLine: null, invocation: null, shown: null,
    settingsStatus: null, confirmDelete: false, saved: stored.read(`pyhost-requests:${name}`),
    settings: Object.fromEntries(Object.entries(SETTINGS).map(([setting, field]) => [setting, String(reply.json[field] ?? "")])),
  });
  await Promise.all([loadVersions(), loadAccess(), loadHistory()]);
}

export function newFunction() {
  Object.assign(state, {
    selected: null, name: "", source: TEMPLATE, deploy: null, errorLine: null, invocation: null, versions: null, history: [],
    access: null, shown: null, settings: blankSettings(), settingsStatus: null, confirmDelete: false, saved: {},
  });
}

// Deploys `source` with the settings shown; the settings are the new version's.
async function upload(source) {
  const query = new URLSearchParams(Object.entries(state.settings).filter(([, value]) => String(value).trim() !== ""));
  const reply = await api("POST", `/functions/${state.name}?${query}`, { body: source, contentType: "text/plain" });
  if (reply.status === 201) {
    rememberSource(reply.json.sha256, source);
    state.selected = state.name;
    await Promise.all([refresh(), loadVersions(), loadAccess(), loadHistory()]);
  }
  return reply;
}

export async function deploy() {
  if (!state.name || state.busy) return;
  state.busy = true;
  const reply = await upload(state.source);
  state.busy = false;
  const error = reply.json?.error;
  state.deploy = { status: reply.status, ms: reply.ms, version: reply.json?.version, error };
  state.errorLine = error?.type === "SyntaxError" ? error.line ?? null : moduleLine(error?.traceback ?? [], state.name);
}

// Settings belong to a version: saving them deploys the serving source again with them.
export async function saveSettings() {
  const serving = await api("GET", `/functions/${state.name}`);
  if (serving.status !== 200) { state.settingsStatus = { error: errorText(serving) }; return; }
  const reply = await upload(serving.json.source);
  state.settingsStatus = reply.status === 201 ? { ok: `saved as version ${reply.json.version}` } : { error: errorText(reply) };
}

export async function deleteFunction() {
  const reply = await api("DELETE", `/functions/${state.name}`);
  if (reply.status !== 204) { state.deploy = { status: reply.status, ms: reply.ms, error: reply.json?.error }; return; }
  const name = state.name;
  newFunction();
  await refresh();
  state.deploy = { status: reply.status, ms: reply.ms, deleted: name };
}

export async function invoke() {
  if (!state.selected || state.busy) return;
  state.busy = true;
  const request = state.request;
  const reply = await api("POST", `/functions/${state.name}/invoke?logs=true`, { body: request });
  state.busy = false;
  const envelope = reply.json ?? {};
  const result = "result" in envelope ? envelope.result : null;
  const error = envelope.error ?? null;
  // The server does not keep requests; this browser does, so that its calls can be run again.
  if (envelope.invocation_id) {
    const requests = Object.entries(stored.read("pyhost-sent")).slice(1 - KEPT_REQUESTS);
    stored.write("pyhost-sent", Object.fromEntries([...requests, [envelope.invocation_id, request]]));
  }
  state.invocation = {
    status: reply.status, ms: reply.ms, logs: envelope.logs ?? "", id: envelope.invocation_id ?? "", version: envelope.version,
    result, error, table: error ? null : rowsTable(result), failed: reply.status >= 400, view: "table", sort: null,
  };
  await loadHistory();
}

export async function loadHistory() {
  const reply = await api("GET", `/functions/${state.name}/logs`);
  const sent = stored.read("pyhost-sent");
  state.history = reply.status === 200 ? reply.json.invocations.map((call) => ({ ...call, request: sent[call.invocation_id] ?? null })) : [];
}

export async function rerun(call) {
  state.request = call.request;
  await invoke();
}

export function saveRequest(label) {
  state.saved = { ...state.saved, [label]: state.request };
  stored.write(`pyhost-requests:${state.name}`, state.saved);
}

export function forgetRequest(label) {
  const { [label]: _, ...rest } = state.saved;
  state.saved = rest;
  stored.write(`pyhost-requests:${state.name}`, rest);
}

export async function loadVersions() {
  const reply = await api("GET", `/functions/${state.name}/versions`);
  for (const version of reply.status === 200 ? reply.json.versions : []) {
    if (sourceOf(version) !== null) continue;
    const one = await api("GET", `/functions/${state.name}/versions/${version.version}`);
    if (one.status === 200) rememberSource(one.json.sha256, one.json.source);
  }
  state.versions = reply.status === 200 ? reply.json : null;
  const numbers = state.versions?.versions.map((version) => version.version) ?? [];
  state.diff = { from: numbers.at(-2) ?? null, to: numbers.at(-1) ?? null };
}

export async function rollback(version) {
  const reply = await api("POST", `/functions/${state.name}/rollback?version=${version}`);
  if (reply.status === 200) await select(state.name);
  await refresh();
  state.deploy = { status: reply.status, ms: reply.ms, version: reply.json?.version, error: reply.json?.error, rolledBack: true };
}

// Who may call the selected function: public or private, a rate limit, browser origins.
export async function loadAccess() {
  const reply = await api("GET", `/functions/${state.name}/access`);
  state.access = reply.status === 200
    ? { access: reply.json.access, rate: reply.json.rate_per_second ?? "", origins: reply.json.allowed_origins.join(", ") }
    : null;
  state.accessStatus = null;
}

export async function saveAccess() {
  const body = { access: state.access.access };
  if (String(state.access.rate).trim() !== "") body.rate_per_second = Number(state.access.rate);
  const origins = state.access.origins.split(",").map((origin) => origin.trim()).filter(Boolean);
  if (origins.length) body.allowed_origins = origins;
  const reply = await api("PUT", `/functions/${state.name}/access`, { body: JSON.stringify(body) });
  state.accessStatus = reply.status === 200 ? { ok: `saved: ${reply.json.access}` } : { error: errorText(reply) };
}

// Invoker keys: the secret of a new key is shown once, as the server returns it once. Where the
// server needs the deploy token, they are listed once it is entered.
export async function loadKeys() {
  if (state.tokenRequired && !state.token) { state.keys = []; return; }
  const reply = await api("GET", "/keys");
  state.keys = reply.status === 200 ? reply.json.keys : [];
  state.keysStatus = reply.status === 200 ? null : { error: errorText(reply) };
}

export async function createKey() {
  const body = {};
  const functions = state.keyFunctions.split(",").map((name) => name.trim()).filter(Boolean);
  if (functions.length) body.functions = functions;
  if (state.keyRate.trim() !== "") body.rate_per_second = Number(state.keyRate);
  const reply = await api("POST", "/keys", { body: JSON.stringify(body) });
  await loadKeys();
  state.newKey = reply.status === 201 ? reply.json : null;
  state.keysStatus = reply.status === 201 ? null : { error: errorText(reply) };
}

export async function revokeKey(id) {
  const reply = await api("DELETE", `/keys/${id}`);
  await loadKeys();
  state.keysStatus = reply.status === 204 ? { ok: `revoked ${id}` } : { error: errorText(reply) };
  if (state.newKey?.id === id) state.newKey = null;
}

export function saveToken() {
  sessionStorage.setItem("pyhost-token", state.token);
  loadKeys();
}

export async function start() {
  const health = await api("GET", "/healthz");
  state.tokenRequired = health.json?.deploy_token_required ?? false;
  await refresh();
  await loadKeys();
}
