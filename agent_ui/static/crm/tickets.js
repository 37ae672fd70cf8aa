// The tickets board: one column per status (open, pending, resolved, closed), each ticket
// with its kind, category, age, due time (overdue ones stand out), assignee and linked calls;
// take or assign, change the status with a resolution note. Subjects are anybody's text.
import { get, patch } from "../agent/api.js";
import { $, fill, h, show, when } from "../agent/dom.js";
import { age, failed, notice, problem, ready, start } from "./common.js";

const STATUSES = ["open", "pending", "resolved", "closed"];
const state = { user: null };

function query(status) {
  const params = new URLSearchParams({ status, limit: "200" });
  const kind = $("t-kind").value;
  const category = $("t-category").value.trim();
  const assigned = $("t-assigned").value.trim();
  if (kind) params.set("kind", kind);
  if (category) params.set("category", category);
  if (assigned) params.set("assigned_to", assigned);
  if ($("t-overdue").checked) params.set("overdue", "true");
  return params;
}

function isOverdue(ticket, now) {
  return ["open", "pending"].includes(ticket.status) && ticket.due_at && new Date(ticket.due_at).getTime() < now;
}

let serial = 0;
function card(ticket, now) {
  const id = `t${ticket.id}`;
  const overdue = isOverdue(ticket, now);
  const statusSelect = h(
    "select",
    { id: `${id}-status`, class: "status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === ticket.status }, s)),
  );
  const resolution = h("input", { id: `${id}-resolution`, class: "resolution", maxlength: "10000", autocomplete: "off", value: ticket.resolution || "" });
  const assignee = h("input", { id: `${id}-assignee`, class: "assignee", maxlength: "64", autocomplete: "off", value: ticket.assigned_to || "" });
  const error = h("p", { class: "problem", role: "alert", hidden: true });
  serial += 1;
  async function change(body) {
    try {
      await patch(`/api/tickets/${ticket.id}`, body);
      notice(`Ticket ${ticket.id} changed.`);
      load();
    } catch (err) {
      error.textContent = err.details && err.details.field ? `${err.details.field}: ${err.message}` : err.message;
      show(error, true);
    }
  }
  return h(
    "li",
    { class: overdue ? "ticket overdue" : "ticket", dataset: { ticketId: String(ticket.id), kind: ticket.kind } },
    h("h3", { class: "subject" }, ticket.subject),
    h(
      "p",
      { class: "meta" },
      ticket.kind === "complaint" ? h("span", { class: "badge bad" }, "complaint") : h("span", { class: "badge" }, "ticket"),
      ticket.category ? h("span", { class: "tag category" }, ticket.category) : null,
      h("span", { class: "age" }, ` open ${age(ticket.created_at, now)}`),
      ticket.due_at ? h("span", { class: overdue ? "due overdue" : "due" }, ` · due ${when(ticket.due_at)}${overdue ? " (overdue)" : ""}`) : null,
    ),
    h("p", {}, h("a", { href: `/customers/${ticket.customer_id}` }, `Customer ${ticket.customer_id}`), ` · by ${ticket.created_by}`),
    ticket.calls.length ? h("p", { class: "calls" }, `Calls: ${ticket.calls.join(", ")}`) : null,
    ticket.resolution ? h("p", { class: "resolution-text" }, `Resolution: ${ticket.resolution}`) : null,
    h(
      "div",
      { class: "ticket-actions" },
      h("label", { for: assignee.id }, "Assigned to"),
      assignee,
      h("button", { type: "button", class: "assign", onclick: () => change({ assigned_to: assignee.value.trim() || null }) }, "Assign"),
      h("button", { type: "button", class: "take", onclick: () => change({ assigned_to: state.user.username }) }, "Take it"),
      h("label", { for: statusSelect.id }, "Status"),
      statusSelect,
      h("label", { for: resolution.id }, "Resolution note"),
      resolution,
      h(
        "button",
        {
          type: "button",
          class: "change-status",
          onclick: () => {
            const body = { status: statusSelect.value };
            const note = resolution.value.trim();
            if (["resolved", "closed"].includes(body.status) && !note) {
              error.textContent = "Say how it was resolved (resolution note) before resolving or closing.";
              show(error, true);
              resolution.focus();
              return;
            }
            if (note) body.resolution = note;
            change(body);
          },
        },
        "Change status",
      ),
    ),
    error,
  );
}

async function load() {
  const now = Date.now();
  try {
    const columns = await Promise.all(STATUSES.map((s) => get(`/api/tickets?${query(s)}`)));
    STATUSES.forEach((status, i) => {
      const items = columns[i].items;
      fill($(`col-${status}`), items.map((t) => card(t, now)));
      $(`count-${status}`).textContent = `(${items.length})`;
    });
    problem(null);
  } catch (error) {
    failed(error);
  }
}

async function main() {
  state.user = await start();
  if (!state.user) return;
  $("ticket-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
  ready();
}

main();
