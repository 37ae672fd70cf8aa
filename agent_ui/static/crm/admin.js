// Administration (admins only): users (create, role, extension, browser phone, password
// reset, disable / enable), API tokens (the secret shown once; revoke), the audit log with
// filters (who, what, when, which customer) and the effective settings, read-only. Every
// value from the server goes into the page as text (dom.js).
import { api, get, patch, post } from "../agent/api.js";
import { $, fill, h, show, when } from "../agent/dom.js";
import { failed, notice, problem, ready, start } from "./common.js";

const ROLES = ["agent", "supervisor", "admin"];
const state = { user: null, users: [], auditBefore: null };

function fieldError(el, error) {
  el.textContent = error.details && error.details.field ? `${error.details.field}: ${error.message}` : error.message;
  show(el, true);
}

// --- users ---------------------------------------------------------------------------------

function userRow(user) {
  const id = `u-${user.id}`;
  const role = h(
    "select",
    { id: `${id}-role`, class: "role", "aria-label": `Role of ${user.username}` },
    ROLES.map((r) => h("option", { value: r, selected: r === user.role }, r)),
  );
  const extension = h("input", {
    id: `${id}-ext`,
    class: "extension",
    maxlength: "128",
    autocomplete: "off",
    value: user.extension || "",
    "aria-label": `Phone extension of ${user.username}`,
  });
  const sip = h("input", {
    id: `${id}-sip`,
    class: "sip-password",
    type: "password",
    maxlength: "1024",
    autocomplete: "new-password",
    "aria-label": `Browser phone SIP password of ${user.username} (empty: unchanged)`,
    placeholder: "SIP password (browser phone)",
  });
  const password = h("input", {
    id: `${id}-pw`,
    class: "new-password",
    type: "password",
    maxlength: "1024",
    autocomplete: "new-password",
    "aria-label": `New password for ${user.username}`,
    placeholder: "new password",
  });
  const error = h("p", { class: "problem", role: "alert", hidden: true });
  const path = `/api/users/${encodeURIComponent(user.username)}`;
  async function act(work, done) {
    show(error, false);
    try {
      await work();
      notice(done);
      await loadUsers();
    } catch (err) {
      fieldError(error, err);
    }
  }
  const save = () => {
    const body = { role: role.value, extension: extension.value.trim() || null };
    if (sip.value) body.sip_password = sip.value;
    act(() => patch(path, body), `${user.username} saved.`);
  };
  const reset = () => {
    if (!password.value) {
      error.textContent = "Type the new password first.";
      show(error, true);
      password.focus();
      return;
    }
    act(() => api("PUT", `${path}/password`, { password: password.value }), `${user.username}'s password was reset; their sessions ended.`);
  };
  const toggle = () =>
    act(
      () => patch(path, { active: !user.active }),
      user.active ? `${user.username} is disabled: their sessions and tokens stopped working.` : `${user.username} is enabled.`,
    );
  return h(
    "tr",
    { dataset: { username: user.username }, class: user.active ? null : "disabled" },
    h("th", { scope: "row", class: "username" }, user.username),
    h("td", {}, role),
    h("td", {}, extension, sip),
    h("td", { class: "state" }, user.active ? "active" : "disabled"),
    h(
      "td",
      { class: "row-actions" },
      h("button", { type: "button", class: "save", onclick: save }, "Save"),
      password,
      h("button", { type: "button", class: "reset", onclick: reset }, "Reset password"),
      user.username === state.user.username
        ? null
        : h("button", { type: "button", class: user.active ? "disable danger" : "enable", onclick: toggle }, user.active ? "Disable" : "Enable"),
      error,
    ),
  );
}

async function loadUsers() {
  const { items } = await get("/api/users");
  state.users = items;
  fill($("user-rows"), items.map(userRow));
  const chosen = $("nt-user").value || state.user.username;
  fill(
    $("nt-user"),
    items.filter((u) => u.active).map((u) => h("option", { value: u.username, selected: u.username === chosen }, u.username)),
  );
}

async function createUser(event) {
  event.preventDefault();
  const error = $("new-user-error");
  show(error, false);
  const body = {
    username: $("nu-username").value.trim(),
    role: $("nu-role").value,
    password: $("nu-password").value,
    extension: $("nu-extension").value.trim() || null,
  };
  if ($("nu-sip").value) body.sip_password = $("nu-sip").value;
  try {
    const { user } = await post("/api/users", body);
    $("new-user").reset();
    notice(`User ${user.username} created.`);
    await loadUsers();
  } catch (err) {
    fieldError(error, err);
  }
}

// --- tokens --------------------------------------------------------------------------------

function tokenState(token, now) {
  if (token.revoked_at) return "revoked";
  if (token.expires_at && new Date(token.expires_at).getTime() <= now) return "expired";
  return "active";
}

function tokenRow(token, now) {
  const status = tokenState(token, now);
  const revoke = async () => {
    try {
      await api("DELETE", `/api/tokens/${token.id}`);
      notice(`Token ${token.label} revoked.`);
      await loadTokens();
    } catch (err) {
      failed(err);
    }
  };
  return h(
    "tr",
    { dataset: { tokenId: String(token.id), state: status } },
    h("th", { scope: "row", class: "label" }, token.label),
    h("td", { class: "user" }, token.user),
    h("td", {}, when(token.created_at)),
    h("td", {}, token.expires_at ? when(token.expires_at) : "never"),
    h("td", { class: "state" }, status),
    h("td", {}, status === "active" ? h("button", { type: "button", class: "revoke danger", onclick: revoke }, "Revoke") : null),
  );
}

async function loadTokens() {
  const { items } = await get("/api/tokens");
  const now = Date.now();
  fill($("token-rows"), items.map((t) => tokenRow(t, now)));
}

async function createToken(event) {
  event.preventDefault();
  const error = $("new-token-error");
  show(error, false);
  const body = { label: $("nt-label").value.trim(), user: $("nt-user").value };
  const days = $("nt-days").value.trim();
  if (days) body.expires_in_days = Number(days);
  try {
    const made = await post("/api/tokens", body);
    $("token-secret").value = made.token;
    show($("token-once"), true);
    $("token-secret").focus();
    $("token-secret").select();
    $("nt-label").value = "";
    $("nt-days").value = "";
    await loadTokens();
  } catch (err) {
    fieldError(error, err);
  }
}

function hideSecret() {
  $("token-secret").value = "";
  show($("token-once"), false);
  $("nt-label").focus();
}

// --- audit ---------------------------------------------------------------------------------

function nextDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

function auditQuery() {
  const params = new URLSearchParams({ limit: "100" });
  const actor = $("a-actor").value.trim();
  const action = $("a-action").value.trim();
  const customer = $("a-customer").value.trim();
  if (actor) params.set("actor", actor);
  if (action) params.set("action", action);
  if (customer) params.set("customer", customer);
  if ($("a-from").value) params.set("from", $("a-from").value);
  if ($("a-to").value) params.set("to", nextDay($("a-to").value));
  return params;
}

function details(entry) {
  const shown = Object.entries(entry.details || {}).filter(([key]) => key !== "via");
  return shown.map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`).join("; ");
}

function auditRow(entry) {
  return h(
    "tr",
    { dataset: { auditId: String(entry.id), action: entry.action } },
    h("td", {}, when(entry.at)),
    h("td", { class: "actor" }, entry.actor),
    h("td", { class: "action" }, entry.action),
    h("td", { class: "target" }, entry.target || ""),
    h("td", { class: "details" }, details(entry)),
  );
}

async function loadAudit(more = false) {
  const params = auditQuery();
  if (more && state.auditBefore) params.set("before", String(state.auditBefore));
  try {
    const { items } = await get(`/api/audit?${params}`);
    const rows = items.map(auditRow);
    if (more) $("audit-rows").append(...rows);
    else fill($("audit-rows"), rows);
    state.auditBefore = items.length ? items[items.length - 1].id : null;
    show($("audit-more"), items.length === 100);
    problem(null);
  } catch (err) {
    failed(err);
  }
}

// --- settings ------------------------------------------------------------------------------

function shownValue(value) {
  if (Array.isArray(value)) return value.length ? value.join(", ") : "(none)";
  if (value === "") return "(empty)";
  return String(value);
}

async function loadSettings() {
  const { sections } = await get("/api/admin/settings");
  fill(
    $("settings"),
    Object.entries(sections).map(([section, values]) =>
      h(
        "table",
        { class: "grid settings", dataset: { section } },
        h("caption", {}, `[${section}]`),
        h(
          "tbody",
          {},
          Object.entries(values).map(([key, value]) =>
            h("tr", { dataset: { key: `${section}.${key}` } }, h("th", { scope: "row" }, key), h("td", { class: "value" }, shownValue(value))),
          ),
        ),
      ),
    ),
  );
}

async function main() {
  state.user = await start();
  if (!state.user) return;
  if (state.user.role !== "admin") {
    show($("forbidden"), true);
    document.documentElement.dataset.forbidden = "true";
    ready();
    return;
  }
  $("new-user").addEventListener("submit", createUser);
  $("new-token").addEventListener("submit", createToken);
  $("token-hide").addEventListener("click", hideSecret);
  $("audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAudit();
  });
  $("audit-more").addEventListener("click", () => loadAudit(true));
  try {
    await Promise.all([loadUsers(), loadTokens(), loadAudit(), loadSettings()]);
  } catch (err) {
    failed(err);
  }
  ready();
}

main();
