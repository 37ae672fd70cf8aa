// Reports from the call log: a date range and a grouping, a table, two inline SVG bar charts
// (answered vs abandoned per group, service level per group) and a CSV download of the same.
// The form's values live in the address (?from&to&by), so a report can be bookmarked.
import { ApiError, get } from "../agent/api.js";
import { $, duration, fill, h, show } from "../agent/dom.js";
import { barChart, forbidden, percent, problem, svg, whoami } from "./common.js";

const KEY_HEADING = { queue: "Queue", agent: "Agent", day: "Day", hour: "Hour" };
const BY = Object.keys(KEY_HEADING);

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function formParams() {
  return new URLSearchParams({ from: $("from").value, to: $("to").value, by: $("by").value });
}

function initForm() {
  const query = new URLSearchParams(location.search);
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400 * 1000);
  const day = /^\d{4}-\d{2}-\d{2}$/;
  $("from").value = day.test(query.get("from") || "") ? query.get("from") : isoDay(weekAgo);
  $("to").value = day.test(query.get("to") || "") ? query.get("to") : isoDay(today);
  $("by").value = BY.includes(query.get("by")) ? query.get("by") : "queue";
}

function seconds(value) {
  return value === null || value === undefined ? "–" : duration(value);
}

function pauses(pauseS) {
  const entries = Object.entries(pauseS || {});
  if (!entries.length) return "–";
  return entries.map(([reason, s]) => `${reason || "no reason"} ${duration(s)}`).join(", ");
}

function row(r) {
  const total = r.key === "total";
  return h(
    "tr",
    { class: total ? "total" : null, dataset: { key: r.key } },
    h("th", { scope: "row" }, total ? "Total" : r.key),
    h("td", {}, String(r.offered)),
    h("td", { class: "answered" }, String(r.answered)),
    h("td", { class: "abandoned" }, String(r.abandoned)),
    h("td", {}, String(r.outbound)),
    h("td", { class: "sl" }, percent(r.service_level)),
    h("td", {}, seconds(r.avg_wait_s)),
    h("td", {}, seconds(r.avg_handle_s)),
    h("td", {}, pauses(r.pause_s)),
  );
}

// --- charts: horizontal bars, one band per group ------------------------------------------

const BARS = { labelW: 150, barW: 300, valueW: 60, bandH: 34 };

function chart(title, rows, bars) {
  return barChart({ title, rows, size: BARS, bars, empty: "No data in this range." });
}

function volumeChart(rows) {
  const most = Math.max(1, ...rows.map((r) => Math.max(r.answered, r.abandoned)));
  const bar = (value, kind, y) => {
    const w = Math.round((value / most) * BARS.barW);
    return [
      svg(
        "rect",
        { x: BARS.labelW, y, width: Math.max(w, 1), height: 12, class: `bar ${kind}` },
        svg("title", {}, `${kind}: ${value}`),
      ),
      svg("text", { x: BARS.labelW + w + 4, y: y + 10, class: "value" }, String(value)),
    ];
  };
  return chart("Answered (green) and abandoned (red) calls", rows, (r, top) => [
    bar(r.answered, "answered", top + 2),
    bar(r.abandoned, "abandoned", top + 16),
  ]);
}

function serviceLevelChart(rows, thresholdS) {
  return chart(`Service level: answered within ${thresholdS} s`, rows, (r, top) => {
    const share = r.service_level;
    const w = share === null || share === undefined ? 0 : Math.round(share * BARS.barW);
    return [
      svg("rect", { x: BARS.labelW, y: top + 6, width: BARS.barW, height: 18, class: "track" }),
      svg(
        "rect",
        { x: BARS.labelW, y: top + 6, width: w, height: 18, class: "bar sl" },
        svg("title", {}, `service level: ${percent(share)}`),
      ),
      svg("text", { x: BARS.labelW + BARS.barW + 4, y: top + 20, class: "value" }, percent(share)),
    ];
  });
}

// --- loading -----------------------------------------------------------------------------

async function load() {
  const params = formParams();
  $("csv").href = `/api/reports.csv?${params}`;
  history.replaceState(null, "", `/reports?${params}`);
  problem(null);
  let report;
  try {
    report = await get(`/api/reports?${params}`);
  } catch (error) {
    if (forbidden(error)) show($("report-form"), false);
    else if (!(error instanceof ApiError && error.status === 401)) problem(error);
    return;
  }
  const groups = report.rows.filter((r) => r.key !== "total");
  $("key-heading").textContent = KEY_HEADING[report.by] || report.by;
  $("result-about").textContent =
    `${report.from} – ${report.to} by ${report.by} (${report.time_zone})`;
  fill($("rows"), report.rows.map(row));
  fill($("chart-volume"), volumeChart(groups));
  fill($("chart-sl"), serviceLevelChart(groups, report.service_level_s));
  show($("result"), true);
  document.documentElement.dataset.loaded = String(Date.now());
}

async function main() {
  initForm();
  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  const user = await whoami();
  if (!user) return;
  await load();
  document.documentElement.dataset.ready = "true";
}

main();
