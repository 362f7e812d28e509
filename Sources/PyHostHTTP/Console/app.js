// The pyhost console: Vue 3's ESM browser build, no build step. It speaks only to the public API.
import { createApp, computed, nextTick, onMounted, reactive, ref } from "vue";

const TEMPLATE = "def handle(request):\n    return {\"message\": \"Hello \" + request.get(\"name\", \"world\")}\n";

async function api(method, path, { body, contentType = "application/json", token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = contentType;
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const started = performance.now();
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: response.status, json, text, ms: performance.now() - started };
}

const App = {
  setup() {
    const state = reactive({
      functions: [], selected: null, name: "hello", source: TEMPLATE, token: sessionStorage.getItem("pyhost-token") || "",
      deploy: null, errorLine: null, request: "{\"name\": \"Hugues\"}", invocation: null, versions: null, busy: false,
      access: null, accessStatus: null, keys: [], keysStatus: null, newKey: null, keyFunctions: "", keyRate: "",
      tokenRequired: false,
    });
    const gutter = ref(null);
    const lines = computed(() => state.source.split("\n").length);

    function saveToken() { sessionStorage.setItem("pyhost-token", state.token); loadKeys(); }
    function syncScroll(event) { if (gutter.value) gutter.value.scrollTop = event.target.scrollTop; }

    async function refresh() {
      const reply = await api("GET", "/functions");
      state.functions = reply.json?.functions ?? [];
    }

    async function select(name) {
      const reply = await api("GET", `/functions/${name}`, { token: state.token });
      if (reply.status !== 200) return;
      Object.assign(state, { selected: name, name, source: reply.json.source, deploy: null, errorLine: null, invocation: null });
      await loadVersions();
    }

    async function loadVersions() {
      const reply = await api("GET", `/functions/${state.name}/versions`);
      state.versions = reply.status === 200 ? reply.json : null;
      await loadAccess();
    }

    // Who may call the selected function: public or private, a rate limit, browser origins.
    async function loadAccess() {
      const reply = await api("GET", `/functions/${state.name}/access`);
      state.access = reply.status === 200
        ? { access: reply.json.access, rate: reply.json.rate_per_second ?? "", origins: reply.json.allowed_origins.join(", ") }
        : null;
      state.accessStatus = null;
    }

    async function saveAccess() {
      const body = { access: state.access.access };
      if (String(state.access.rate).trim() !== "") body.rate_per_second = Number(state.access.rate);
      const origins = state.access.origins.split(",").map((origin) => origin.trim()).filter(Boolean);
      if (origins.length) body.allowed_origins = origins;
      const reply = await api("PUT", `/functions/${state.name}/access`, { body: JSON.stringify(body), token: state.token });
      state.accessStatus = reply.status === 200 ? { ok: `saved: ${reply.json.access}` } : { error: errorText(reply) };
    }

    // Invoker keys: the secret of a new key is shown once, as the server returns it once. Where
    // the server needs the deploy token, they are listed once it is entered.
    async function loadKeys() {
      if (state.tokenRequired && !state.token) { state.keys = []; return; }
      const reply = await api("GET", "/keys", { token: state.token });
      state.keys = reply.status === 200 ? reply.json.keys : [];
      state.keysStatus = reply.status === 200 ? null : { error: errorText(reply) };
    }

    async function createKey() {
      const body = {};
      const functions = state.keyFunctions.split(",").map((name) => name.trim()).filter(Boolean);
      if (functions.length) body.functions = functions;
      if (state.keyRate.trim() !== "") body.rate_per_second = Number(state.keyRate);
      const reply = await api("POST", "/keys", { body: JSON.stringify(body), token: state.token });
      await loadKeys();
      state.newKey = reply.status === 201 ? reply.json : null;
      state.keysStatus = reply.status === 201 ? null : { error: errorText(reply) };
    }

    async function revokeKey(id) {
      const reply = await api("DELETE", `/keys/${id}`, { token: state.token });
      await loadKeys();
      state.keysStatus = reply.status === 204 ? { ok: `revoked ${id}` } : { error: errorText(reply) };
      if (state.newKey?.id === id) state.newKey = null;
    }

    function errorText(reply) {
      const error = reply.json?.error;
      return error ? `${reply.status} ${error.type}: ${error.message}` : `${reply.status}`;
    }

    async function deploy() {
      state.busy = true;
      const reply = await api("POST", `/functions/${state.name}`, { body: state.source, contentType: "text/plain", token: state.token });
      state.busy = false;
      const error = reply.json?.error;
      state.deploy = { status: reply.status, ms: reply.ms, version: reply.json?.version, error };
      state.errorLine = error?.type === "SyntaxError" ? error.line : null;
      if (reply.status === 201) {
        state.selected = state.name;
        await Promise.all([refresh(), loadVersions()]);
      }
    }

    async function invoke() {
      state.busy = true;
      const reply = await api("POST", `/functions/${state.name}/invoke?logs=true`, { body: state.request, token: state.token });
      state.busy = false;
      const envelope = reply.json ?? {};
      const result = "result" in envelope ? envelope.result : null;
      const error = envelope.error ?? null;
      state.invocation = {
        status: reply.status, ms: reply.ms, logs: envelope.logs ?? "", id: envelope.invocation_id ?? "",
        output: error ? JSON.stringify({ error }, null, 2) : JSON.stringify(result, null, 2),
        table: error ? null : rowsTable(result),
        failed: reply.status >= 400,
      };
    }

    // A result that is a list of row objects (a DataFrame) is also shown as a table: its columns
    // are the rows' keys in the order they first appear.
    function rowsTable(result) {
      const isRow = (row) => row !== null && typeof row === "object" && !Array.isArray(row);
      if (!Array.isArray(result) || !result.length || !result.every(isRow)) return null;
      const columns = [...new Set(result.flatMap(Object.keys))];
      const cell = (value) => (value !== null && typeof value === "object" ? JSON.stringify(value) : String(value ?? ""));
      return { columns, rows: result.map((row) => columns.map((column) => cell(row[column]))) };
    }

    async function rollback(version) {
      const reply = await api("POST", `/functions/${state.name}/rollback?version=${version}`, { token: state.token });
      if (reply.status === 200) await select(state.name);
      await refresh();
      state.deploy = { status: reply.status, ms: reply.ms, version: reply.json?.version, error: reply.json?.error, rolledBack: true };
    }

    function newFunction() {
      Object.assign(state, { selected: null, name: "", source: TEMPLATE, deploy: null, errorLine: null, invocation: null, versions: null });
    }

    onMounted(async () => {
      const health = await api("GET", "/healthz");
      state.tokenRequired = health.json?.deploy_token_required ?? false;
      await refresh();
      await loadKeys();
    });
    return {
      state, gutter, lines, saveToken, syncScroll, select, deploy, invoke, rollback, newFunction, saveAccess, loadKeys, createKey,
      revokeKey,
    };
  },
  template: `
    <header>
      <h1>pyhost</h1>
      <label v-if="state.tokenRequired">Deploy token <input type="password" v-model="state.token" @change="saveToken" placeholder="this server needs one" id="token"></label>
    </header>
    <main>
      <aside>
        <h2>Functions</h2>
        <ul class="functions" id="functions">
          <li v-for="f in state.functions" :key="f.name" :class="{ selected: f.name === state.selected }" @click="select(f.name)">
            <span>{{ f.name }}</span><span class="muted">v{{ f.version }}</span>
          </li>
        </ul>
        <p v-if="!state.functions.length" class="muted">None yet.</p>
        <button @click="newFunction" id="new">New function</button>
      </aside>
      <div>
        <section>
          <div class="row">
            <label>Name <input v-model="state.name" id="name" placeholder="hello"></label>
            <button class="primary" @click="deploy" :disabled="state.busy || !state.name" id="deploy">Deploy</button>
            <span v-if="state.deploy" id="deploy-status" :class="state.deploy.error ? 'error-box' : 'ok'">
              <template v-if="state.deploy.error">{{ state.deploy.status }} {{ state.deploy.error.type }}: {{ state.deploy.error.message }}<template v-if="state.deploy.error.line"> (line {{ state.deploy.error.line }}, column {{ state.deploy.error.offset }})</template></template>
              <template v-else>{{ state.deploy.rolledBack ? 'serving' : 'deployed' }} version {{ state.deploy.version }} in {{ state.deploy.ms.toFixed(0) }} ms</template>
            </span>
          </div>
          <div class="editor">
            <div class="gutter" ref="gutter"><div v-for="n in lines" :key="n" :class="{ error: n === state.errorLine }" :data-line="n">{{ n }}</div></div>
            <textarea v-model="state.source" @scroll="syncScroll" spellcheck="false" id="source"></textarea>
          </div>
          <pre v-if="state.deploy?.error?.traceback?.length" class="output error-box">{{ state.deploy.error.traceback.join("\\n") }}</pre>
        </section>
        <div class="columns">
          <section>
            <h2>Invoke</h2>
            <textarea class="json" v-model="state.request" spellcheck="false" id="request"></textarea>
            <div class="row"><button class="primary" @click="invoke" :disabled="state.busy || !state.selected" id="invoke">Invoke</button>
              <span v-if="state.invocation" id="invoke-status" :class="state.invocation.failed ? 'error-box' : 'ok'">
                {{ state.invocation.status }} in {{ state.invocation.ms.toFixed(1) }} ms</span></div>
            <template v-if="state.invocation">
              <table v-if="state.invocation.table" class="rows" id="result-table">
                <thead><tr><th v-for="column in state.invocation.table.columns">{{ column }}</th></tr></thead>
                <tbody><tr v-for="row in state.invocation.table.rows"><td v-for="value in row">{{ value }}</td></tr></tbody>
              </table>
              <pre class="output" id="result">{{ state.invocation.output }}</pre>
              <div class="muted">Logs <span v-if="state.invocation.id">({{ state.invocation.id }})</span></div>
              <pre class="output" id="logs">{{ state.invocation.logs || "(nothing printed)" }}</pre>
            </template>
          </section>
          <section>
            <h2>Versions</h2>
            <table class="versions" v-if="state.versions" id="versions">
              <tr><th>version</th><th>created</th><th></th></tr>
              <tr v-for="v in [...state.versions.versions].reverse()" :key="v.version">
                <td>{{ v.version }}</td><td class="muted">{{ v.created_at.replace("T", " ").slice(0, 19) }}</td>
                <td><span v-if="v.version === state.versions.serving" class="ok">serving</span>
                    <button v-else @click="rollback(v.version)" :data-rollback="v.version">Roll back</button></td>
              </tr>
            </table>
            <p v-else class="muted">Deploy or pick a function.</p>
            <template v-if="state.access">
              <h2>Access</h2>
              <div class="row">
                <select v-model="state.access.access" id="access"><option>public</option><option>private</option></select>
                <label>Rate <input v-model="state.access.rate" id="access-rate" placeholder="calls/s" size="6"></label>
              </div>
              <label>Browser origins <input v-model="state.access.origins" id="access-origins" placeholder="https://dash.example.com"></label>
              <div class="row"><button @click="saveAccess" id="save-access">Save access</button>
                <span v-if="state.accessStatus" id="access-status" :class="state.accessStatus.error ? 'error-box' : 'ok'">
                  {{ state.accessStatus.error || state.accessStatus.ok }}</span></div>
            </template>
          </section>
        </div>
        <section>
          <h2>Invoker keys</h2>
          <div class="row">
            <label>Functions <input v-model="state.keyFunctions" id="key-functions" placeholder="all, or sales, hello"></label>
            <label>Rate <input v-model="state.keyRate" id="key-rate" placeholder="calls/s" size="6"></label>
            <button @click="createKey" id="create-key">Create key</button>
            <button @click="loadKeys" id="reload-keys">Reload</button>
          </div>
          <p v-if="state.newKey" class="ok">Key {{ state.newKey.id }}, shown once: <code id="new-key">{{ state.newKey.key }}</code></p>
          <p v-if="state.keysStatus" id="keys-status" :class="state.keysStatus.error ? 'error-box' : 'ok'">{{ state.keysStatus.error || state.keysStatus.ok }}</p>
          <table class="versions" v-if="state.keys.length" id="keys">
            <tr><th>id</th><th>functions</th><th>rate</th><th></th></tr>
            <tr v-for="key in state.keys" :key="key.id">
              <td>{{ key.id }}</td><td>{{ key.functions ? key.functions.join(", ") : "all" }}</td>
              <td>{{ key.rate_per_second ? key.rate_per_second + "/s" : "-" }}</td>
              <td><button @click="revokeKey(key.id)" :data-revoke="key.id">Revoke</button></td>
            </tr>
          </table>
        </section>
      </div>
    </main>`,
};

createApp(App).mount("#app");
