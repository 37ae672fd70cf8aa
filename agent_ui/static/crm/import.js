// Importing a CSV file as one batch: read its header (the server proposes the automatic
// mapping), map the columns, start; the batch runs on the server and this page polls its
// progress (rows done, errors so far) until it is done; the rejected rows download as CSV
// with their reasons. File names, headers and cells are anybody's text (dom.js).
import { ApiError } from "../agent/api.js";
import { $, fill, h, show, when } from "../agent/dom.js";
import { SUPERVISORS, failed, get, notice, ready, start } from "./common.js";

const state = { preview: null, file: null, timer: null };

async function send(path, body, headers = {}) {
  const response = await fetch(path, { method: "POST", credentials: "same-origin", headers: { Accept: "application/json", ...headers }, body });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.id || "error", error.message || `The server answered ${response.status}.`, error.details || {});
  }
  return data;
}

function problemIn(id, error) {
  const el = $(id);
  if (!error) {
    show(el, false);
    return;
  }
  el.textContent = error.message;
  show(el, true);
}

function mappingRow(column, index, preview) {
  const chosen = preview.mapping[column] || "";
  const fields = [...preview.fields];
  if (chosen && !fields.includes(chosen)) fields.push(chosen);
  const id = `map-${index}`;
  const select = h(
    "select",
    { id, class: "target", dataset: { column } },
    h("option", { value: "", selected: chosen === "" }, "(ignore this column)"),
    fields.map((f) => h("option", { value: f, selected: f === chosen }, preview.required.includes(f) ? `${f} (required)` : f)),
  );
  const first = preview.sample.length ? preview.sample[0][index] ?? "" : "";
  return h(
    "tr",
    { dataset: { column } },
    h("th", { scope: "row" }, h("label", { for: id, class: "column" }, column)),
    h("td", { class: "sample" }, first),
    h("td", {}, select),
  );
}

async function readColumns(event) {
  event.preventDefault();
  problemIn("upload-error", null);
  const file = $("i-file").files[0];
  if (!file) return;
  const kind = $("i-kind").value;
  try {
    const head = await file.slice(0, 65536).arrayBuffer();
    const preview = await send(`/api/imports/preview?kind=${encodeURIComponent(kind)}`, head, { "Content-Type": "text/csv" });
    state.preview = preview;
    state.file = file;
    $("mapping-about").textContent = `(${preview.header.length} columns, ${kind}; the automatic mapping is chosen)`;
    fill($("mapping-rows"), preview.header.map((c, i) => mappingRow(c, i, preview)));
    show($("mapping-box"), true);
    const firstSelect = document.querySelector("#mapping-rows select");
    if (firstSelect) firstSelect.focus();
  } catch (error) {
    problemIn("upload-error", error);
  }
}

function mapping() {
  const out = {};
  for (const select of document.querySelectorAll("#mapping-rows select")) out[select.dataset.column] = select.value;
  return out;
}

function counts(batch) {
  return `${batch.rows} rows done: ${batch.imported} imported, ${batch.updated} updated, ${batch.duplicates} duplicates, ${batch.failed} errors so far`;
}

function showRun(batch) {
  $("run-id").textContent = `#${batch.id}`;
  $("run-state").textContent = batch.state;
  $("run").dataset.state = batch.state;
  $("run-progress").value = batch.progress;
  $("run-counts").textContent = counts(batch);
  problemIn("run-error", batch.error ? new Error(batch.error) : null);
  const link = $("run-rejects");
  link.href = `/api/imports/${batch.id}/rejected.csv`;
  show(link, batch.state !== "running" && batch.failed + batch.duplicates > 0);
  show($("run"), true);
}

async function poll(id) {
  clearTimeout(state.timer);
  try {
    const batch = await get(`/api/imports/${id}`);
    showRun(batch);
    if (batch.state === "running") {
      state.timer = setTimeout(() => poll(id), 300);
    } else {
      notice(`Import #${id} ${batch.state}: ${counts(batch)}.`);
      await loadBatches();
    }
  } catch (error) {
    failed(error);
  }
}

async function startImport() {
  problemIn("upload-error", null);
  const form = new FormData();
  form.append("kind", state.preview.kind);
  form.append("mapping", JSON.stringify(mapping()));
  form.append("file", state.file, state.file.name);
  $("start").disabled = true;
  try {
    const batch = await send("/api/imports", form);
    show($("mapping-box"), false);
    showRun(batch);
    await loadBatches();
    poll(batch.id);
  } catch (error) {
    problemIn("upload-error", error);
  } finally {
    $("start").disabled = false;
  }
}

function batchRow(b) {
  return h(
    "tr",
    { dataset: { batchId: String(b.id), state: b.state } },
    h("th", { scope: "row" }, String(b.id)),
    h("td", { class: "kind" }, b.kind),
    h("td", { class: "filename" }, b.filename),
    h("td", {}, b.created_by),
    h("td", {}, when(b.created_at)),
    h("td", { class: "state" }, b.state),
    h("td", { class: "rows" }, String(b.rows)),
    h("td", { class: "imported" }, String(b.imported)),
    h("td", { class: "updated" }, String(b.updated)),
    h("td", { class: "duplicates" }, String(b.duplicates)),
    h("td", { class: "failed" }, String(b.failed)),
    h("td", {}, b.failed + b.duplicates > 0 ? h("a", { href: `/api/imports/${b.id}/rejected.csv`, download: "" }, "CSV") : "–"),
  );
}

async function loadBatches() {
  const { items } = await get("/api/imports");
  fill($("batch-rows"), items.map(batchRow));
}

async function main() {
  const user = await start();
  if (!user) return;
  if (!SUPERVISORS.includes(user.role)) {
    show($("forbidden"), true);
    document.documentElement.dataset.forbidden = "true";
    ready();
    return;
  }
  $("upload").addEventListener("submit", readColumns);
  $("start").addEventListener("click", startImport);
  $("i-kind").addEventListener("change", () => show($("mapping-box"), false));
  try {
    await loadBatches();
  } catch (error) {
    failed(error);
  }
  ready();
}

main();
