// Calls per minute with their median and 99th-percentile latency, from the invocations the server
// keeps for a function (GET /functions/{name}/logs: the last --log-history calls).

export const MINUTES = 10;

// Nearest rank: the smallest duration that at least `fraction` of the calls did not exceed.
function percentile(sorted, fraction) {
  return sorted.length ? sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] : null;
}

export function minuteStats(invocations, now = Date.now()) {
  const minutes = Array.from({ length: MINUTES }, (_, index) => ({ ago: MINUTES - 1 - index, durations: [] }));
  for (const call of invocations) {
    const ago = Math.floor((now - Date.parse(call.started_at)) / 60000);
    if (ago >= 0 && ago < MINUTES) minutes[MINUTES - 1 - ago].durations.push(call.milliseconds);
  }
  return minutes.map(({ ago, durations }) => {
    const sorted = durations.sort((a, b) => a - b);
    return { ago, calls: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  });
}

function title({ ago, calls, p50, p99 }) {
  const when = ago ? `${ago} min ago` : "this minute";
  return calls ? `${when}: ${calls} calls, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms` : `${when}: no calls`;
}

// The chart's geometry in a 200 × 60 box: a bar per minute for its calls (scaled to the busiest
// minute) and a tick across it at its p50 and at its p99 (scaled to the slowest p99), joined by lines.
export function chartShapes(minutes) {
  const width = 200 / minutes.length;
  const mostCalls = Math.max(1, ...minutes.map((minute) => minute.calls));
  const slowest = Math.max(1, ...minutes.map((minute) => minute.p99 ?? 0));
  const y = (milliseconds) => 60 - (milliseconds / slowest) * 56;
  const bars = minutes.map((minute, index) => {
    const height = (minute.calls / mostCalls) * 56;
    const left = index * width + 2;
    return {
      x: left, y: 60 - height, width: width - 4, height, right: left + width - 4, title: title(minute),
      p50: minute.calls ? y(minute.p50) : null, p99: minute.calls ? y(minute.p99) : null,
    };
  });
  const line = (key) => bars.filter((bar) => bar[key] !== null).map((bar) => `${bar.x + bar.width / 2},${bar[key]}`).join(" ");
  return { bars, p50: line("p50"), p99: line("p99"), slowest };
}
