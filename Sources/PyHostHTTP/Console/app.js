// The pyhost console: Vue 3's ESM browser build and CodeMirror 6, no build step. It speaks only to
// the public API (store.js).
import { createApp, onBeforeUnmount, onMounted } from "vue";
import { PythonEditor } from "./editor.js";
import { HistoryPanel } from "./history-panel.js";
import { InvokePanel } from "./invoke-panel.js";
import { KeysPanel } from "./keys-panel.js";
import { ResultView } from "./result-view.js";
import { tracebackLines } from "./results.js";
import { deploy, invoke, newFunction, saveToken, select, start, state } from "./store.js";
import { VersionsPanel } from "./versions-panel.js";

// Ctrl/Cmd-Enter invokes and Ctrl/Cmd-S deploys, wherever the focus is. They are caught before the
// editor sees them (there Mod-Enter would insert a line).
function shortcut(event) {
  if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return;
  const action = { Enter: invoke, s: deploy }[event.key];
  if (!action) return;
  event.preventDefault();
  event.stopPropagation();
  action();
}

const App = {
  components: { PythonEditor, InvokePanel, ResultView, HistoryPanel, VersionsPanel, KeysPanel },
  setup() {
    onMounted(() => {
      window.addEventListener("keydown", shortcut, true);
      start();
    });
    onBeforeUnmount(() => window.removeEventListener("keydown", shortcut, true));
    return { state, select, deploy, newFunction, saveToken, tracebackLines };
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
      <div class="work">
        <section>
          <div class="row wrap">
            <label>Name <input v-model="state.name" id="name" placeholder="hello"></label>
            <button class="primary" @click="deploy" :disabled="state.busy || !state.name" id="deploy" title="Ctrl/Cmd-S">Deploy</button>
            <span v-if="state.deploy" id="deploy-status" :class="state.deploy.error ? 'error-box' : 'ok'">
              <template v-if="state.deploy.error">{{ state.deploy.status }} {{ state.deploy.error.type }}: {{ state.deploy.error.message }}<template v-if="state.deploy.error.line"> (line {{ state.deploy.error.line }}, column {{ state.deploy.error.offset }})</template></template>
              <template v-else-if="state.deploy.deleted">deleted {{ state.deploy.deleted }}</template>
              <template v-else>{{ state.deploy.rolledBack ? 'serving' : 'deployed' }} version {{ state.deploy.version }} in {{ state.deploy.ms.toFixed(0) }} ms</template>
            </span>
          </div>
          <python-editor v-model="state.source" :marked-line="state.errorLine"></python-editor>
          <pre v-if="state.deploy?.error?.traceback?.length" class="output traceback" id="deploy-traceback"><span v-for="line in tracebackLines(state.deploy.error.traceback, state.name)" :class="[line.kind, { own: line.own }]">{{ line.text }}
</span></pre>
        </section>
        <div class="columns">
          <invoke-panel></invoke-panel>
          <result-view></result-view>
        </div>
        <div class="columns">
          <history-panel></history-panel>
          <versions-panel></versions-panel>
        </div>
        <keys-panel></keys-panel>
      </div>
    </main>`,
};

createApp(App).mount("#app");
