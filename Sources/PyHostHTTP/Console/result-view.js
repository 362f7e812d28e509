// The last call's answer: status, latency and invocation id; a table or JSON, or the traceback with
// the handler's own lines highlighted; what it printed beside.
import { computed, onBeforeUnmount, watch } from "vue";
import { cellText, sortedRows, tableCsv, tracebackLines } from "./results.js";
import { state } from "./store.js";

// Rows drawn at most; the CSV download holds them all.
const SHOWN_ROWS = 1000;

export const ResultView = {
  setup() {
    const call = computed(() => state.invocation);
    const rows = computed(() => {
      const { table, sort } = call.value ?? {};
      return table && sort ? sortedRows(table, sort.column, sort.descending) : table?.rows ?? [];
    });
    const shownRows = computed(() => rows.value.slice(0, SHOWN_ROWS));
    const json = computed(() => JSON.stringify(call.value?.error ? { error: call.value.error } : call.value?.result, null, 2));
    const traceback = computed(() => tracebackLines(call.value?.error?.traceback ?? [], state.name));
    const shown = computed(() => (traceback.value.length ? "traceback" : call.value?.table ? call.value.view : "json"));
    // The CSV download is a blob of the table in the order shown, released when it changes.
    const csv = computed(() => {
      const table = call.value?.table;
      return table ? URL.createObjectURL(new Blob([tableCsv({ columns: table.columns, rows: rows.value })], { type: "text/csv" })) : null;
    });
    watch(csv, (_, old) => old && URL.revokeObjectURL(old));
    onBeforeUnmount(() => csv.value && URL.revokeObjectURL(csv.value));

    function sortBy(column) {
      const sort = call.value.sort;
      call.value.sort = { column, descending: sort?.column === column && !sort.descending };
    }
    return { state, call, rows, shownRows, json, traceback, shown, csv, sortBy, cellText, SHOWN_ROWS };
  },
  template: `
    <section v-if="call" class="result">
      <div class="row">
        <h2>Result</h2>
        <span id="invoke-status" :class="call.failed ? 'error-box' : 'ok'">{{ call.status }} in {{ call.ms.toFixed(1) }} ms</span>
        <span class="muted" v-if="call.id">invocation <code id="invocation-id">{{ call.id }}</code>, version {{ call.version }}</span>
      </div>
      <div class="beside">
        <div>
          <p class="error-box" id="error-summary" v-if="call.error">{{ call.error.type }}: {{ call.error.message }}</p>
          <div class="row" v-if="call.table">
            <button class="link" :class="{ active: call.view === 'table' }" @click="call.view = 'table'" id="view-table">Table</button>
            <button class="link" :class="{ active: call.view === 'json' }" @click="call.view = 'json'" id="view-json">JSON</button>
            <a :href="csv" :download="state.name + '.csv'" id="download-csv">Download CSV</a>
          </div>
          <pre class="output traceback" id="traceback" v-if="shown === 'traceback'"><span v-for="line in traceback" :class="[line.kind, { own: line.own }]">{{ line.text }}
</span></pre>
          <div class="scroll" v-else-if="shown === 'table'">
            <table class="rows" id="result-table">
              <thead><tr><th v-for="column in call.table.columns" @click="sortBy(column)" :class="{ sorted: call.sort?.column === column }">
                {{ column }}<span v-if="call.sort?.column === column">{{ call.sort.descending ? " ▼" : " ▲" }}</span></th></tr></thead>
              <tbody><tr v-for="row in shownRows"><td v-for="value in row">{{ cellText(value) }}</td></tr></tbody>
            </table>
            <p class="muted" v-if="rows.length > SHOWN_ROWS" id="result-note">The first {{ SHOWN_ROWS }} of {{ rows.length }} rows; the CSV holds them all.</p>
          </div>
          <pre class="output" id="result" v-else>{{ json }}</pre>
        </div>
        <div>
          <div class="muted">Logs</div>
          <pre class="output" id="logs">{{ call.logs || "(nothing printed)" }}</pre>
        </div>
      </div>
    </section>`,
};
