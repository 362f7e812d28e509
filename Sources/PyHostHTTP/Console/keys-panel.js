// Invoker keys: create one (its secret shown once), list them, revoke one.
import { createKey, loadKeys, revokeKey, state } from "./store.js";

export const KeysPanel = {
  setup: () => ({ state, createKey, loadKeys, revokeKey }),
  template: `
    <section>
      <h2>Invoker keys</h2>
      <div class="row wrap">
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
    </section>`,
};
