// Operating the selected function: its versions (source, diff, roll back), its settings and access,
// and deleting it.
import { computed } from "vue";
import { lineDiff } from "./diff.js";
import { deleteFunction, rollback, saveAccess, saveSettings, sourceOf, state } from "./store.js";

export const VersionsPanel = {
  setup() {
    const versions = computed(() => [...(state.versions?.versions ?? [])].reverse());
    const byNumber = (number) => state.versions?.versions.find((version) => version.version === number);
    const shownSource = computed(() => (state.shown === null ? null : sourceOf(byNumber(state.shown)) ?? ""));
    const diff = computed(() => {
      const from = byNumber(state.diff.from);
      const to = byNumber(state.diff.to);
      if (!from || !to) return null;
      const [before, after] = [sourceOf(from), sourceOf(to)];
      return before === null || after === null ? "unknown" : lineDiff(before, after);
    });
    const settingsOf = (version) =>
      [
        version.timeout_seconds && `${version.timeout_seconds} s`, version.memory_mib && `${version.memory_mib} MiB`,
        version.concurrency && `×${version.concurrency}`, version.min_warm && `${version.min_warm} warm`,
      ].filter(Boolean).join(", ");
    // What its # /// script block resolved to: the packages installed for it, or the host's own.
    const packagesOf = (version) => {
      const requirements = version.requirements;
      if (!requirements) return "";
      if (!requirements.environment) return `${requirements.declared.join(", ")} (the host's)`;
      const shadows = requirements.shadows.length ? ` · replaces the host's ${requirements.shadows.join(", ")}` : "";
      return requirements.packages.map((p) => `${p.name}==${p.version}`).join(" ") + shadows;
    };
    return { state, versions, shownSource, diff, settingsOf, packagesOf, rollback, saveAccess, saveSettings, deleteFunction };
  },
  template: `
    <section v-if="state.versions">
      <h2>Versions</h2>
      <table class="versions" id="versions">
        <tr><th>version</th><th>created</th><th>settings</th><th>packages</th><th></th></tr>
        <tr v-for="v in versions" :key="v.version">
          <td>{{ v.version }}</td><td class="muted">{{ v.created_at.replace("T", " ").slice(0, 19) }}</td><td class="muted">{{ settingsOf(v) }}</td><td class="muted" :data-packages="v.version">{{ packagesOf(v) }}</td>
          <td><button class="link" @click="state.shown = state.shown === v.version ? null : v.version" :data-show="v.version">source</button>
              <span v-if="v.version === state.versions.serving" class="ok">serving</span>
              <button v-else @click="rollback(v.version)" :data-rollback="v.version">Roll back</button></td>
        </tr>
      </table>
      <template v-if="state.shown !== null">
        <pre class="output" id="version-source" v-if="shownSource">{{ shownSource }}</pre>
        <p class="muted" v-else>The source of version {{ state.shown }} could not be read.</p>
      </template>
      <div class="row" v-if="versions.length > 1">
        Diff <select v-model.number="state.diff.from" id="diff-from"><option v-for="v in versions" :value="v.version">{{ v.version }}</option></select>
        → <select v-model.number="state.diff.to" id="diff-to"><option v-for="v in versions" :value="v.version">{{ v.version }}</option></select>
      </div>
      <pre class="output diff" id="diff" v-if="Array.isArray(diff)"><span v-for="line in diff" :class="{ added: line.kind === '+', removed: line.kind === '-' }">{{ line.kind }} {{ line.text }}
</span></pre>
      <p class="muted" v-else-if="diff === 'unknown'">A source of these versions could not be read.</p>

      <h2>Settings</h2>
      <div class="settings">
        <label>Timeout <input v-model="state.settings.timeout" id="setting-timeout" placeholder="s, server's default" size="8"></label>
        <label>Memory <input v-model="state.settings.memory" id="setting-memory" placeholder="MiB" size="6"></label>
        <label>Concurrency <input v-model="state.settings.concurrency" id="setting-concurrency" placeholder="workers" size="6"></label>
        <label>Min warm <input v-model="state.settings.min_warm" id="setting-min-warm" placeholder="0" size="4"></label>
      </div>
      <div class="row"><button @click="saveSettings" id="save-settings" title="deploys the serving source again with these settings">Save settings</button>
        <span v-if="state.settingsStatus" id="settings-status" :class="state.settingsStatus.error ? 'error-box' : 'ok'">
          {{ state.settingsStatus.error || state.settingsStatus.ok }}</span></div>

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

      <h2>Delete</h2>
      <div class="row">
        <button v-if="!state.confirmDelete" @click="state.confirmDelete = true" id="delete">Delete {{ state.name }}…</button>
        <template v-else>
          <span class="error-box">Delete {{ state.name }} and all its versions?</span>
          <button class="danger" @click="deleteFunction" id="confirm-delete">Delete</button>
          <button @click="state.confirmDelete = false" id="cancel-delete">Cancel</button>
        </template>
      </div>
    </section>`,
};
