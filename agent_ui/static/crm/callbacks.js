// Callbacks: due and overdue ones first, mine (and unassigned) or everyone's for supervisors;
// take one, reassign (supervisors), mark done. Notes are anybody's text.
import { get, patch } from "../agent/api.js";
import { $, fill, h, show, when } from "../agent/dom.js";
import { failed, notice, problem, ready, start, SUPERVISORS } from "./common.js";

const state = { user: null };

async function load() {
  const params = new URLSearchParams({ state: $("cb-state").value, limit: "500" });
  if (!SUPERVISORS.includes(state.user.role) || $("cb-whose").value === "me") params.set("assigned_to", "me");
  if ($("cb-overdue").checked) params.set("due_before", new Date().toISOString());
  let items;
  try {
    items = (await get(`/api/callbacks?${params}`)).items;
  } catch (error) {
    failed(error);
    return;
  }
  problem(null);
  const now = Date.now();
  const supervisor = SUPERVISORS.includes(state.user.role);
  fill(
    $("callback-rows"),
    items.map((callback) => {
      const overdue = callback.state === "open" && new Date(callback.due_at).getTime() < now;
      const assignee = h("input", { id: `cb${callback.id}-to`, class: "assignee", maxlength: "64", autocomplete: "off", value: callback.assigned_to || "" });
      const change = async (body, done) => {
        try {
          await patch(`/api/callbacks/${callback.id}`, body);
          notice(done);
          load();
        } catch (error) {
          failed(error);
        }
      };
      return h(
        "tr",
        { class: overdue ? "overdue" : "", dataset: { callbackId: String(callback.id) } },
        h("td", { class: "due" }, when(callback.due_at), overdue ? h("span", { class: "badge bad" }, " overdue") : null),
        h("td", {}, h("a", { href: `/customers/${callback.customer_id}` }, `Customer ${callback.customer_id}`)),
        h("td", { class: "note" }, callback.note),
        h("td", { class: "assigned" }, callback.assigned_to || "anyone"),
        h("td", { class: "state" }, callback.state),
        h(
          "td",
          { class: "row-actions" },
          callback.state === "open" ? h("button", { type: "button", class: "done", onclick: () => change({ state: "done" }, "Marked done.") }, "Done") : null,
          callback.state === "open" && callback.assigned_to !== state.user.username
            ? h("button", { type: "button", class: "take", onclick: () => change({ assigned_to: state.user.username }, "It is yours now.") }, "Take it")
            : null,
          supervisor
            ? [
                h("label", { for: assignee.id }, "Reassign to"),
                assignee,
                h("button", { type: "button", class: "reassign", onclick: () => change({ assigned_to: assignee.value.trim() || null }, "Reassigned.") }, "Reassign"),
              ]
            : null,
        ),
      );
    }),
  );
  $("callback-count").textContent = `(${items.length})`;
  show($("no-callbacks"), items.length === 0);
}

async function main() {
  state.user = await start();
  if (!state.user) return;
  $("callback-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
  ready();
}

main();
