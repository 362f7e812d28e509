// How a call's answer is shown: row objects as a table (sortable, downloadable as CSV), anything else
// as JSON, and a traceback with the handler's own lines told apart from the rest.

// A result that is a non-empty list of row objects (a DataFrame) is a table: its columns are the
// rows' keys in the order they first appear.
export function rowsTable(result) {
  const isRow = (row) => row !== null && typeof row === "object" && !Array.isArray(row);
  if (!Array.isArray(result) || !result.length || !result.every(isRow)) return null;
  const columns = [...new Set(result.flatMap(Object.keys))];
  return { columns, rows: result.map((row) => columns.map((column) => row[column] ?? null)) };
}

export function cellText(value) {
  return value !== null && typeof value === "object" ? JSON.stringify(value) : String(value ?? "");
}

// Numbers compare as numbers, everything else as text; empty cells go last either way.
export function sortedRows(table, column, descending) {
  const index = table.columns.indexOf(column);
  if (index < 0) return table.rows;
  const compare = (a, b) => {
    if (a === null || b === null) return (a === null) - (b === null);
    const order = typeof a === "number" && typeof b === "number" ? a - b : cellText(a).localeCompare(cellText(b));
    return descending ? -order : order;
  };
  return [...table.rows].sort((a, b) => compare(a[index], b[index]));
}

// RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
export function tableCsv(table) {
  const field = (value) => {
    const text = cellText(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [table.columns, ...table.rows].map((row) => row.map(field).join(",")).join("\r\n") + "\r\n";
}

// A traceback's lines, each a `frame` (`File "…", line …`), the `code` under it, or the `caret` line
// pointing into that code, and marked `own` when its frame is in the function's module.
export function tracebackLines(traceback, name) {
  let own = false;
  return traceback.map((text) => {
    const frame = text.match(/^\s*File "([^"]*)", line (\d+)/);
    if (frame) own = frame[1] === `${name}.py`;
    const kind = frame ? "frame" : /^\s*[~^]+\s*$/.test(text) ? "caret" : "code";
    return { text, kind, own };
  });
}

// The line of the deepest frame in the function's module, as an import-time traceback gives it.
export function moduleLine(traceback, name) {
  const lines = traceback
    .map((text) => text.match(/^\s*File "([^"]*)", line (\d+)/))
    .filter((frame) => frame && frame[1] === `${name}.py`);
  return lines.length ? Number(lines.at(-1)[2]) : null;
}
