// A line diff of two sources: each line is kept, removed (`-`) or added (`+`). The lines both share
// at the start and at the end are kept as they are; the rest is diffed by its longest common
// subsequence, unless that would take more than LARGEST cells, when it is shown as replaced.
const LARGEST = 4_000_000;

export function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  const kept = (lines) => lines.map((text) => ({ kind: " ", text }));
  const middle = (a.length - start - end + 1) * (b.length - start - end + 1) > LARGEST
    ? [...a.slice(start, a.length - end).map((text) => ({ kind: "-", text })), ...b.slice(start, b.length - end).map((text) => ({ kind: "+", text }))]
    : commonSubsequenceDiff(a.slice(start, a.length - end), b.slice(start, b.length - end));
  return [...kept(a.slice(0, start)), ...middle, ...kept(a.slice(a.length - end))];
}

function commonSubsequenceDiff(a, b) {
  // common[i][j]: the length of the longest common subsequence of a[i…] and b[j…].
  const common = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const lines = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ kind: " ", text: a[i++] });
      j++;
    } else if (i < a.length && (j === b.length || common[i + 1][j] >= common[i][j + 1])) {
      lines.push({ kind: "-", text: a[i++] });
    } else {
      lines.push({ kind: "+", text: b[j++] });
    }
  }
  return lines;
}
