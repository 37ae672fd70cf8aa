// Outbound retention campaigns: the list with each campaign's progress, one campaign in
// detail (numbers by state, rates, start / pause / resume, the call script, two SVG charts:
// dial outcomes and dials per hour), and the form that creates a campaign from the retention
// list, a segment or a CSV file (read here with FileReader, sent as text). Everything is
// re-read every few seconds. Names and scripts are anybody's text: text nodes only.
import { ApiError, get, post } from "../agent/api.js";
import { $, fill, h, show, when } from "../agent/dom.js";
import { barChart, chartSvg, forbidden, percent, problem, svg, whoami } from "./common.js";

const REFRESH_MS = 5000;
const DETAILS_AT_MOST = 30; // campaigns whose progress the list fetches on every refresh
const CSV_MAX_BYTES = 5 * 1024 * 1024;

// The retry policy's outcomes and their defaults in minutes (callcenter/model/attempts.py).
const RETRY_DEFAULTS = {
  busy: 10,
  no_answer: 120,
  congestion: 5,
  failed: 60,
  machine: 240,
  abandoned: 72 * 60,
};

// Dial outcomes in the order the charts show them (others follow, alphabetically).
const OUTCOMES = [
  "completed",
  "abandoned",
  "busy",
  "no_answer",
  "machine",
  "congestion",
  "failed",
  "unknown",
  "in_flight",
];

const ACTIONS = { draft: "start", running: "pause", paused: "resume" };
const ACTION_LABELS = { start: "Start", pause: "Pause", resume: "Resume" };

const state = {
  campaigns: [], // [{...campaign, progress?}]
  selected: null, // campaign id shown in detail
  refreshing: false,
  timer: null,
};

let noticeTimer = null;
function notice(message, ms = 6000) {
  const el = $("notice");
  el.textContent = message;
  show(el, true);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(el, false), ms);
}

function words(code) {
  return String(code).replaceAll("_", " ");
}

/** 0.0312 -> "3.1%" (abandon rates are small: one decimal) */
function percent1(share) {
  return share === null || share === undefined ? "–" : `${(share * 100).toFixed(1)}%`;
}

function total(counts) {
  return Object.values(counts || {}).reduce((sum, n) => sum + n, 0);
}

function ordered(counts) {
  const known = OUTCOMES.filter((k) => k in counts);
  const other = Object.keys(counts)
    .filter((k) => !OUTCOMES.includes(k))
    .sort();
  return [...known, ...other];
}

// --- the list ----------------------------------------------------------------------------

function actionButton(campaign, extraClass = "") {
  const action = ACTIONS[campaign.state];
  if (!action) return null;
  return h(
    "button",
    {
      type: "button",
      class: `${action} ${extraClass}`.trim(),
      dataset: { action },
      onclick: (event) => move(event.currentTarget, campaign.id, action),
    },
    ACTION_LABELS[action],
  );
}

function row(campaign) {
  const p = campaign.progress;
  const over = p && p.abandon_rate > campaign.abandon_target;
  return h(
    "tr",
    {
      dataset: { campaignId: String(campaign.id), state: campaign.state },
      class: campaign.id === state.selected ? "selected" : null,
    },
    h("th", { scope: "row", class: "name" }, campaign.name),
    h(
      "td",
      {},
      h("span", { class: "pill state", dataset: { state: campaign.state } }, campaign.state),
    ),
    h("td", { class: "mode" }, campaign.mode),
    h("td", { class: "queue" }, campaign.queue),
    h("td", { class: "numbers" }, p ? String(total(p.attempts)) : "–"),
    h("td", { class: "dials" }, p ? String(p.dials) : "–"),
    h("td", { class: "contact" }, p ? percent(p.contact_rate) : "–"),
    h(
      "td",
      { class: over ? "abandon over" : "abandon" },
      p ? `${percent1(p.abandon_rate)} / ${percent1(campaign.abandon_target)}` : "–",
    ),
    h("td", { class: "saves" }, p ? String(p.saves) : "–"),
    h(
      "td",
      { class: "row-actions" },
      h("button", { type: "button", class: "open", onclick: () => select(campaign.id) }, "Show"),
      actionButton(campaign),
    ),
  );
}

function renderList() {
  fill($("campaign-rows"), state.campaigns.map(row));
  show($("no-campaigns"), state.campaigns.length === 0);
}

// --- one campaign ------------------------------------------------------------------------

function renderDetail(campaign, timeline) {
  const section = $("detail");
  if (!campaign) {
    show(section, false);
    return;
  }
  const p = campaign.progress || { attempts: {}, outcomes: {}, dials: 0 };
  section.dataset.campaignId = String(campaign.id);
  section.dataset.state = campaign.state;
  $("detail-name").textContent = campaign.name;
  const pill = $("detail-state");
  pill.textContent = campaign.state;
  pill.dataset.state = campaign.state;
  const schedule = [
    campaign.first_day || campaign.last_day
      ? `${campaign.first_day || "…"} – ${campaign.last_day || "…"}`
      : null,
    campaign.hours_start && campaign.hours_end
      ? `daily ${campaign.hours_start}–${campaign.hours_end}`
      : null,
    `callee's time ${campaign.callee_start}–${campaign.callee_end}`,
  ].filter(Boolean);
  $("detail-about").textContent = [
    `${campaign.mode} on queue ${campaign.queue}`,
    `source ${campaign.source}`,
    ...schedule,
    `at most ${campaign.max_attempts} attempts`,
    `created by ${campaign.created_by} ${when(campaign.created_at)}`,
  ].join(" · ");
  for (const action of ["start", "pause", "resume"]) {
    show($(`detail-${action}`), ACTIONS[campaign.state] === action);
  }
  $("stat-dials").textContent = String(p.dials);
  $("stat-contact").textContent = percent(p.contact_rate);
  const abandon = $("stat-abandon");
  abandon.textContent = percent1(p.abandon_rate);
  abandon.dataset.over = String(p.abandon_rate > campaign.abandon_target);
  $("stat-target").textContent = percent1(campaign.abandon_target);
  $("stat-saves").textContent = String(p.saves);
  const attempts = Object.entries(p.attempts).sort(([a], [b]) => a.localeCompare(b));
  fill(
    $("detail-attempts"),
    attempts.length
      ? attempts.map(([key, n]) =>
          h(
            "li",
            { dataset: { state: key } },
            h("span", { class: "key" }, words(key)),
            " ",
            h("strong", {}, String(n)),
          ),
        )
      : h("li", { class: "muted" }, "No numbers."),
  );
  fill($("chart-outcomes"), outcomeChart(p.outcomes || {}));
  if (timeline) fill($("chart-hours"), hourChart(timeline.hours || []));
  const script = $("detail-script");
  script.textContent = campaign.script || "No script.";
  script.classList.toggle("muted", !campaign.script);
  show(section, true);
}

// --- charts ------------------------------------------------------------------------------

const BARS = { labelW: 110, barW: 280, valueW: 50, bandH: 24 };

function outcomeChart(outcomes) {
  const rows = ordered(outcomes).map((key) => ({ key, value: outcomes[key] }));
  const most = Math.max(1, ...rows.map((r) => r.value));
  return barChart({
    title: "Dials by outcome",
    className: "outcomes",
    rows,
    size: BARS,
    label: (r) => words(r.key),
    empty: "No dials yet.",
    bars: ({ key, value }, top) => {
      const w = Math.round((value / most) * BARS.barW);
      return [
        svg(
          "rect",
          { x: BARS.labelW, y: top + 4, width: Math.max(w, 1), height: 16, class: `bar o-${key}` },
          svg("title", {}, `${words(key)}: ${value}`),
        ),
        svg("text", { x: BARS.labelW + w + 4, y: top + 16, class: "value" }, String(value)),
      ];
    },
  });
}

const PLOT_W = 440;
const PLOT_H = 140;
const AXIS_W = 34;
const AXIS_H = 22;

function hourLabel(hour) {
  // "2026-11-23T10:00:00Z" -> "11-23 10h"
  return `${hour.slice(5, 10)} ${hour.slice(11, 13)}h`;
}

function hourChart(hours) {
  const width = AXIS_W + PLOT_W + 8;
  const height = PLOT_H + AXIS_H + 8;
  const title = "Dials per hour by outcome";
  if (!hours.length) {
    return chartSvg(
      title,
      "hours",
      width,
      height,
      svg("text", { x: 8, y: 20, class: "label" }, "No dials yet."),
    );
  }
  const most = Math.max(1, ...hours.map((slot) => total(slot.outcomes)));
  const slotW = PLOT_W / hours.length;
  const barW = Math.max(1, slotW * 0.8);
  const base = 4 + PLOT_H;
  const labelEvery = Math.max(1, Math.ceil(hours.length / 6));
  const bars = hours.map((slot, i) => {
    const x = AXIS_W + i * slotW + (slotW - barW) / 2;
    let y = base;
    const parts = ordered(slot.outcomes).map((key) => {
      const n = slot.outcomes[key];
      const hgt = (n / most) * PLOT_H;
      y -= hgt;
      return svg(
        "rect",
        {
          x: x.toFixed(1),
          y: y.toFixed(1),
          width: barW.toFixed(1),
          height: Math.max(hgt, 0.5).toFixed(1),
          class: `bar o-${key}`,
          "data-outcome": key,
        },
        svg("title", {}, `${hourLabel(slot.hour)}: ${words(key)} ${n}`),
      );
    });
    return svg(
      "g",
      { class: "hour", "data-hour": slot.hour, "data-dials": String(total(slot.outcomes)) },
      parts,
      i % labelEvery === 0
        ? svg(
            "text",
            { x: (x + barW / 2).toFixed(1), y: base + 16, "text-anchor": "middle", class: "label" },
            hourLabel(slot.hour),
          )
        : null,
    );
  });
  return chartSvg(
    title,
    "hours",
    width,
    height,
    svg("line", { x1: AXIS_W, y1: base, x2: AXIS_W + PLOT_W, y2: base, class: "axis" }),
    svg("line", { x1: AXIS_W, y1: 4, x2: AXIS_W, y2: base, class: "axis" }),
    svg("text", { x: AXIS_W - 4, y: 14, "text-anchor": "end", class: "label max" }, String(most)),
    svg("text", { x: AXIS_W - 4, y: base, "text-anchor": "end", class: "label" }, "0"),
    bars,
  );
}

// --- loading -----------------------------------------------------------------------------

async function withProgress(campaign) {
  try {
    return await get(`/api/campaigns/${campaign.id}`);
  } catch {
    return campaign;
  }
}

async function refresh() {
  if (state.refreshing) return;
  state.refreshing = true;
  try {
    const listed = await get("/api/campaigns");
    const items = listed.items.slice().reverse(); // newest first
    const detailed = await Promise.all(
      items.map((c, i) => (i < DETAILS_AT_MOST || c.id === state.selected ? withProgress(c) : c)),
    );
    state.campaigns = detailed;
    renderList();
    const chosen = detailed.find((c) => c.id === state.selected) || null;
    let timeline = null;
    if (chosen) timeline = await get(`/api/campaigns/${chosen.id}/timeline`).catch(() => null);
    renderDetail(chosen, timeline);
    show($("campaigns-main"), true);
    $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.documentElement.dataset.refreshed = String(Date.now());
    problem(null);
  } catch (error) {
    if (forbidden(error)) {
      show($("campaigns-main"), false);
      clearInterval(state.timer);
    } else if (!(error instanceof ApiError && error.status === 401)) problem(error);
  } finally {
    state.refreshing = false;
  }
}

function select(id) {
  state.selected = id;
  history.replaceState(null, "", `/campaigns?id=${encodeURIComponent(id)}`);
  renderList();
  waitAndRefresh().then(() => $("detail").scrollIntoView({ block: "nearest" }));
}

async function move(button, id, action) {
  if (button) button.disabled = true;
  problem(null);
  try {
    const moved = await post(`/api/campaigns/${id}/${action}`, {});
    notice(`${moved.name}: ${moved.state}.`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) problem(error);
  } finally {
    if (button) button.disabled = false;
  }
  await waitAndRefresh();
}

async function waitAndRefresh() {
  while (state.refreshing) await new Promise((resolve) => setTimeout(resolve, 50));
  await refresh();
}

// --- the form ----------------------------------------------------------------------------

function retryRows() {
  fill(
    $("retry-rows"),
    Object.entries(RETRY_DEFAULTS).map(([outcome, minutes]) =>
      h(
        "tr",
        { dataset: { outcome } },
        h("th", { scope: "row" }, words(outcome)),
        h(
          "td",
          {},
          h("input", {
            type: "number",
            min: "0",
            step: "1",
            id: `retry-${outcome}`,
            placeholder: String(minutes),
            "aria-label": `Retry ${words(outcome)} after minutes`,
          }),
        ),
        h(
          "td",
          {},
          h("input", {
            type: "checkbox",
            id: `noretry-${outcome}`,
            "aria-label": `Do not retry ${words(outcome)}`,
          }),
        ),
      ),
    ),
  );
}

async function loadSegments() {
  const select = $("c-segment");
  try {
    const found = await get("/api/segments");
    const items = found.items || [];
    fill(
      select,
      items.length
        ? items.map((s) => h("option", { value: String(s.id) }, s.name || `Segment ${s.id}`))
        : h("option", { value: "" }, "No segments"),
    );
  } catch {
    fill(select, h("option", { value: "" }, "Segments unavailable"));
  }
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new Error(`Could not read ${file.name}.`));
    reader.readAsText(file);
  });
}

async function sourceOf() {
  const kind = document.querySelector("input[name=source]:checked").value;
  if (kind === "segment") {
    const id = $("c-segment").value;
    if (!id) throw new Error("Pick a segment.");
    return { segment: Number(id) };
  }
  if (kind === "csv") {
    const file = $("c-csv").files[0];
    if (!file) throw new Error("Choose a CSV file.");
    if (file.size > CSV_MAX_BYTES) throw new Error("The CSV file is too large (5 MB at most).");
    return { csv: await readFile(file) };
  }
  const threshold = $("c-churn").value;
  return { churn: threshold === "" ? null : Number(threshold) };
}

async function formBody() {
  const body = {
    name: $("c-name").value.trim(),
    queue: $("c-queue").value.trim(),
    mode: $("c-mode").value,
    priority: Number.parseInt($("c-priority").value || "0", 10),
    max_attempts: Number.parseInt($("c-max-attempts").value || "3", 10),
    abandon_target: Number($("c-abandon-target").value || "3") / 100,
    script: $("c-script").value,
  };
  const optional = {
    first_day: "c-first-day",
    last_day: "c-last-day",
    hours_start: "c-hours-start",
    hours_end: "c-hours-end",
    callee_start: "c-callee-start",
    callee_end: "c-callee-end",
  };
  for (const [key, id] of Object.entries(optional)) {
    const value = $(id).value;
    if (value) body[key] = value.slice(0, key.endsWith("day") ? 10 : 5);
  }
  const retry = {};
  for (const outcome of Object.keys(RETRY_DEFAULTS)) {
    if ($(`noretry-${outcome}`).checked) retry[outcome] = null;
    else if ($(`retry-${outcome}`).value !== "") {
      retry[outcome] = Number($(`retry-${outcome}`).value);
    }
  }
  if (Object.keys(retry).length) body.retry = retry;
  body.source = await sourceOf();
  return body;
}

async function create(event) {
  event.preventDefault();
  const button = $("create-submit");
  button.disabled = true;
  problem(null);
  try {
    const created = await post("/api/campaigns", await formBody());
    const numbers = created.progress ? total(created.progress.attempts) : 0;
    const rejected = created.rejected || [];
    const left = rejected.length
      ? ` ${rejected.length} CSV row${rejected.length === 1 ? "" : "s"} left out: ${rejected
          .slice(0, 5)
          .map((r) => `row ${r.row}: ${r.error}`)
          .join("; ")}${rejected.length > 5 ? "; …" : ""}.`
      : "";
    notice(
      `Campaign ${created.name} created (draft) with ${numbers} numbers.${left}`,
      left ? 30000 : 6000,
    );
    $("create-form").reset();
    state.selected = created.id;
    history.replaceState(null, "", `/campaigns?id=${encodeURIComponent(created.id)}`);
    await waitAndRefresh();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) problem(error);
  } finally {
    button.disabled = false;
  }
}

async function main() {
  retryRows();
  const query = new URLSearchParams(location.search);
  if (/^\d+$/.test(query.get("id") || "")) state.selected = Number(query.get("id"));
  $("create-form").addEventListener("submit", create);
  for (const action of ["start", "pause", "resume"]) {
    $(`detail-${action}`).addEventListener("click", (event) => {
      if (state.selected !== null) move(event.currentTarget, state.selected, action);
    });
  }
  const user = await whoami();
  if (!user) return;
  await refresh();
  if (document.documentElement.dataset.forbidden !== "true") {
    await loadSegments();
    state.timer = setInterval(refresh, REFRESH_MS);
  }
  document.documentElement.dataset.ready = "true";
}

main();
