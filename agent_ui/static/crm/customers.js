// The customers page: search, the filter bar (every segment filter), sort and paging with a
// count; saved segments (apply, save the current filter, save into one, delete); bulk actions
// on the selection (tag, untag, owner, add to a campaign, export CSV). The filter lives in
// the address, so a view can be bookmarked and the back button works.
import { api, get, patch, post } from "../agent/api.js";
import { $, fill, h, show, when } from "../agent/dom.js";
import { displayName, downloadCsv, failed, notice, problem, ready, start, SUPERVISORS } from "./common.js";

const FILTERS = [
  "tag",
  "owner",
  "kind",
  "region",
  "language",
  "stub",
  "do_not_call",
  "may_call",
  "marketing",
  "open_callback",
  "open_ticket",
  "no_contact_days",
  "min_churn",
];
const FORM = ["q", ...FILTERS, "sort", "limit"];

const state = { user: null, offset: 0, page: null, selected: new Set(), segments: [] };

function field(name) {
  return $(`f-${name}`);
}

function formValues() {
  const values = {};
  for (const name of FORM) {
    const value = field(name).value.trim();
    if (value !== "") values[name] = value;
  }
  if (values.sort === "id") delete values.sort;
  if (values.limit === "50") delete values.limit;
  return values;
}

function setForm(values) {
  for (const name of FORM) {
    const el = field(name);
    el.value = values[name] ?? (name === "sort" ? "id" : name === "limit" ? "50" : "");
  }
}

function filterOnly(values) {
  return Object.fromEntries(Object.entries(values).filter(([key]) => FILTERS.includes(key)));
}

async function load() {
  const values = formValues();
  const query = new URLSearchParams({ ...values, offset: String(state.offset) });
  history.replaceState(null, "", `/customers?${new URLSearchParams({ ...values, ...(state.offset ? { offset: state.offset } : {}) })}`);
  try {
    state.page = await get(`/api/customers/browse?${query}`);
  } catch (error) {
    failed(error);
    return;
  }
  problem(null);
  render();
}

function render() {
  const page = state.page;
  const supervisor = SUPERVISORS.includes(state.user.role);
  fill(
    $("customer-rows"),
    page.items.map((customer) => {
      const checkbox = h("input", {
        type: "checkbox",
        class: "pick",
        "aria-label": `Select ${displayName(customer)}`,
        onchange: (event) => {
          if (event.currentTarget.checked) state.selected.add(customer.id);
          else state.selected.delete(customer.id);
          renderSelection();
        },
      });
      checkbox.checked = state.selected.has(customer.id);
      const flags = [];
      if (customer.is_stub) flags.push(h("span", { class: "badge" }, "stub"));
      if (customer.do_not_call) flags.push(h("span", { class: "badge bad" }, "do not call"));
      if (!customer.consent.may_call) flags.push(h("span", { class: "badge bad" }, "no calls"));
      return h(
        "tr",
        { dataset: { customerId: String(customer.id) } },
        supervisor ? h("td", {}, checkbox) : null,
        h("th", { scope: "row", class: "name" }, h("a", { href: `/customers/${customer.id}` }, displayName(customer))),
        h("td", { class: "company" }, customer.company),
        h("td", { class: "phones" }, customer.phones.map((p) => p.number).join(", ")),
        h("td", { class: "tags" }, customer.tags.map((tag) => h("span", { class: "tag" }, tag))),
        h("td", { class: "owner" }, customer.owner || ""),
        h("td", { class: "contact" }, when(customer.last_contact_at) || "never"),
        h("td", { class: "flags" }, flags),
      );
    }),
  );
  show($("no-customers"), page.items.length === 0);
  const first = page.items.length ? page.offset + 1 : 0;
  const last = page.offset + page.items.length;
  const total = page.total_capped ? `more than ${page.total.toLocaleString()}` : page.total.toLocaleString();
  $("count").textContent = `(${total})`;
  $("page-info").textContent = `${first}–${last} of ${total}`;
  $("prev").disabled = page.offset === 0;
  $("next").disabled = page.total_capped ? page.items.length < page.limit : last >= page.total;
  $("select-page").checked = page.items.length > 0 && page.items.every((c) => state.selected.has(c.id));
  renderSelection();
}

function renderSelection() {
  $("selected-count").textContent = `${state.selected.size} selected`;
  $("bulk-run").disabled = state.selected.size === 0;
}

// --- segments ------------------------------------------------------------------------------

async function loadSegments(selectedId) {
  try {
    state.segments = (await get("/api/segments")).items;
  } catch (error) {
    failed(error);
    return;
  }
  fill(
    $("segment"),
    h("option", { value: "" }, "–"),
    state.segments.map((segment) => h("option", { value: String(segment.id) }, segment.name)),
  );
  $("segment").value = selectedId ? String(selectedId) : "";
  segmentChosen(false);
}

function chosenSegment() {
  return state.segments.find((s) => String(s.id) === $("segment").value) || null;
}

function segmentChosen(apply) {
  const segment = chosenSegment();
  $("segment-update").disabled = !segment;
  $("segment-delete").disabled = !segment;
  if (!segment) return;
  $("segment-name").value = segment.name;
  if (apply) {
    const values = { ...formValues() };
    for (const name of FILTERS) delete values[name];
    setForm({ ...values, ...Object.fromEntries(Object.entries(segment.filter).map(([k, v]) => [k, String(v)])) });
    state.offset = 0;
    load();
  }
}

async function saveSegment(update) {
  const where = filterOnly(formValues());
  if (!Object.keys(where).length) {
    problem("Choose at least one filter to save as a segment (a search is not saved).");
    return;
  }
  const name = $("segment-name").value.trim();
  if (!name) {
    problem("Give the segment a name.");
    $("segment-name").focus();
    return;
  }
  try {
    const segment = update
      ? await patch(`/api/segments/${chosenSegment().id}`, { name, filter: where })
      : await post("/api/segments", { name, filter: where });
    notice(`Segment “${segment.name}” saved.`);
    await loadSegments(segment.id);
  } catch (error) {
    failed(error);
  }
}

async function deleteSegment() {
  const segment = chosenSegment();
  if (!segment || !confirm(`Delete the segment “${segment.name}”? The customers stay.`)) return;
  try {
    await api("DELETE", `/api/segments/${segment.id}`);
    notice(`Segment “${segment.name}” deleted.`);
    await loadSegments(null);
  } catch (error) {
    failed(error);
  }
}

// --- bulk actions --------------------------------------------------------------------------

async function loadCampaigns() {
  try {
    const campaigns = (await get("/api/campaigns")).items;
    fill(
      $("bulk-campaign"),
      campaigns
        .filter((c) => c.state !== "finished")
        .map((c) => h("option", { value: String(c.id) }, `${c.name} (${c.state})`)),
    );
  } catch (error) {
    failed(error);
  }
}

async function runBulk() {
  const ids = [...state.selected];
  const action = $("bulk-action").value;
  const value = $("bulk-value").value.trim();
  try {
    if (action === "export") {
      await downloadCsv("/api/customers/selection.csv", { ids }, "customers-selection.csv");
      notice(`${ids.length} customers exported.`);
      return;
    }
    const body = { ids, action };
    if (action === "tag" || action === "untag") body.tag = value;
    if (action === "owner") body.owner = value || null;
    if (action === "campaign") body.campaign_id = Number($("bulk-campaign").value);
    const result = await post("/api/customers/bulk", body);
    notice(
      action === "campaign"
        ? `${result.added} added to the campaign, ${result.skipped} skipped (no phone, do not call or already in).`
        : `${result.changed} of ${result.selected} customers changed.`,
    );
    await load();
  } catch (error) {
    failed(error);
  }
}

// --- start ---------------------------------------------------------------------------------

async function main() {
  state.user = await start();
  if (!state.user) return;
  const query = new URLSearchParams(location.search);
  setForm(Object.fromEntries(query.entries()));
  state.offset = Number(query.get("offset")) || 0;
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.offset = 0;
    load();
  });
  $("clear").addEventListener("click", () => {
    setForm({});
    $("segment").value = "";
    state.offset = 0;
    load();
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.page.limit);
    load();
  });
  $("next").addEventListener("click", () => {
    state.offset += state.page.limit;
    load();
  });
  $("segment").addEventListener("change", () => segmentChosen(true));
  $("select-page").addEventListener("change", (event) => {
    for (const customer of state.page.items) {
      if (event.currentTarget.checked) state.selected.add(customer.id);
      else state.selected.delete(customer.id);
    }
    render();
  });
  if (SUPERVISORS.includes(state.user.role)) {
    $("segment-save").addEventListener("click", () => saveSegment(false));
    $("segment-update").addEventListener("click", () => saveSegment(true));
    $("segment-delete").addEventListener("click", deleteSegment);
    $("bulk-run").addEventListener("click", runBulk);
    loadCampaigns();
  }
  await Promise.all([load(), loadSegments(null)]);
  ready();
}

main();
