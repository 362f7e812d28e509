// The function's last calls as the server keeps them, each run again with its request when this
// browser sent it, and the calls per minute with their p50 and p99 latency, drawn.
import { computed } from "vue";
import { MINUTES, chartShapes, minuteStats } from "./stats.js";
import { loadHistory, rerun, state } from "./store.js";

export const HistoryPanel = {
  setup() {
    const minutes = computed(() => minuteStats(state.history));
    const chart = computed(() => chartShapes(minutes.value));
    const recent = computed(() => minutes.value.at(-1));
    return { state, minutes, chart, recent, loadHistory, rerun, MINUTES };
  },
  template: `
    <section v-if="state.selected">
      <div class="row"><h2>Last calls</h2><button class="link" @click="loadHistory" id="reload-history">reload</button></div>
      <figure class="chart" id="chart">
        <svg viewBox="0 0 200 60" preserveAspectRatio="none" role="img" :aria-label="'calls per minute over the last ' + MINUTES + ' minutes'">
          <rect v-for="bar in chart.bars" class="calls" :x="bar.x" :y="bar.y" :width="bar.width" :height="bar.height"><title>{{ bar.title }}</title></rect>
          <polyline class="p50" :points="chart.p50"></polyline>
          <polyline class="p99" :points="chart.p99"></polyline>
          <template v-for="bar in chart.bars"><template v-if="bar.p50 !== null">
            <line class="p50 tick" :x1="bar.x" :x2="bar.right" :y1="bar.p50" :y2="bar.p50"></line>
            <line class="p99 tick" :x1="bar.x" :x2="bar.right" :y1="bar.p99" :y2="bar.p99"></line>
          </template></template>
        </svg>
        <figcaption class="muted" id="chart-caption">
          {{ minutes.reduce((sum, minute) => sum + minute.calls, 0) }} calls in {{ MINUTES }} min (bars), of the
          {{ state.history.length }} the server keeps;
          <span class="p50">p50</span> and <span class="p99">p99</span> up to {{ chart.slowest.toFixed(1) }} ms.
          This minute: {{ recent.calls }} calls<template v-if="recent.calls">, p50 {{ recent.p50.toFixed(1) }} ms, p99 {{ recent.p99.toFixed(1) }} ms</template>.
        </figcaption>
      </figure>
      <table class="versions" id="history" v-if="state.history.length">
        <tr><th>when (UTC)</th><th>status</th><th>ms</th><th>v</th><th></th></tr>
        <tr v-for="call in state.history" :key="call.invocation_id" :title="call.logs">
          <td class="muted">{{ call.started_at.slice(11, 19) }}</td>
          <td :class="call.status >= 400 ? 'error-box' : 'ok'">{{ call.status }}</td>
          <td>{{ call.milliseconds.toFixed(1) }}</td><td>{{ call.version }}</td>
          <td><button v-if="call.request !== null" class="link" @click="rerun(call)" :data-rerun="call.invocation_id" :title="call.request">run again</button>
              <span v-else class="muted" title="the server does not keep requests; this browser did not send it">—</span></td>
        </tr>
      </table>
      <p v-else class="muted">No calls yet.</p>
    </section>`,
};
