// The request: its JSON, the requests saved for this function, and the same call as shell commands.
import { computed, ref } from "vue";
import { cliCommand, curlCommand } from "./commands.js";
import { forgetRequest, invoke, saveRequest, state } from "./store.js";

export const InvokePanel = {
  setup() {
    const label = ref("");
    const copied = ref(null);
    const curl = computed(() => curlCommand(location.origin, state.name, state.request, state.access?.access === "private"));
    const cli = computed(() => cliCommand(location.origin, state.name, state.request));

    function save() {
      if (!label.value.trim()) return;
      saveRequest(label.value.trim());
      label.value = "";
    }

    // Without a clipboard (a page served over plain http to another machine), the command is selected.
    async function copy(which, text, event) {
      try {
        await navigator.clipboard.writeText(text);
        copied.value = which;
      } catch {
        copied.value = null;
        window.getSelection().selectAllChildren(event.target.previousElementSibling);
      }
    }
    return { state, label, copied, curl, cli, save, copy, invoke, forgetRequest };
  },
  template: `
    <section>
      <h2>Invoke</h2>
      <textarea class="json" v-model="state.request" spellcheck="false" id="request"></textarea>
      <div class="row">
        <button class="primary" @click="invoke" :disabled="state.busy || !state.selected" id="invoke" title="Ctrl/Cmd-Enter">Invoke</button>
        <input v-model="label" id="request-label" placeholder="name this request" size="14" @keydown.enter="save">
        <button @click="save" :disabled="!label.trim()" id="save-request">Save</button>
      </div>
      <ul class="saved" id="saved-requests" v-if="Object.keys(state.saved).length">
        <li v-for="(body, name) in state.saved" :key="name">
          <button class="link" @click="state.request = body" :data-load="name">{{ name }}</button>
          <button class="link muted" @click="forgetRequest(name)" :data-forget="name" title="forget">×</button>
        </li>
      </ul>
      <template v-if="state.selected">
        <div class="command"><code id="curl">{{ curl }}</code><button class="link" @click="copy('curl', curl, $event)" id="copy-curl">{{ copied === 'curl' ? 'copied' : 'copy' }}</button></div>
        <div class="command"><code id="cli">{{ cli }}</code><button class="link" @click="copy('cli', cli, $event)" id="copy-cli">{{ copied === 'cli' ? 'copied' : 'copy' }}</button></div>
      </template>
    </section>`,
};
