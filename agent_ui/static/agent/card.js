// The customer card, the recent-history timeline and the callbacks list. Every value from
// the CRM or from caller ID is attacker-controlled text: it only ever goes into text nodes.
import { duration, fill, h, when } from "./dom.js";

export function displayName(customer) {
  return customer.name || customer.company || "Unknown caller";
}

function phoneOf(phone) {
  return phone.e164 || phone.number;
}

/**
 * Render `customer` into `root`. `onDial(number)` is offered for every phone unless the
 * customer must not be called (do-not-call, or no consent to be called).
 */
export function renderCard(root, customer, { onDial, dialDisabled = false } = {}) {
  const mayCall = !customer.do_not_call && customer.consent && customer.consent.may_call;
  const badges = [];
  if (customer.is_stub) badges.push(h("span", { class: "badge" }, "new caller"));
  if (customer.do_not_call) badges.push(h("span", { class: "badge bad" }, "do not call"));
  for (const tag of customer.tags || []) badges.push(h("span", { class: "badge" }, tag));

  const facts = [];
  const fact = (label, value) => {
    if (value) facts.push(h("dt", {}, label), h("dd", {}, value));
  };
  if (customer.name && customer.company) fact("Company", customer.company);
  fact("Emails", (customer.emails || []).map((e) => e.address).join(", "));
  const address = (customer.addresses || [])[0];
  if (address) {
    fact(
      "Address",
      [address.street, [address.postcode, address.city].filter(Boolean).join(" "), address.country]
        .filter(Boolean)
        .join(", "),
    );
  }
  fact("Language", customer.language);
  fact("Owner", customer.owner);
  fact("Last contact", when(customer.last_contact_at));
  for (const [key, value] of Object.entries(customer.custom || {})) {
    fact(key, typeof value === "string" ? value : JSON.stringify(value));
  }

  const phones = (customer.phones || []).map((phone) =>
    h(
      "li",
      {},
      h("span", {}, phone.number, phone.type && phone.type !== "main" ? ` (${phone.type})` : ""),
      onDial
        ? h(
            "button",
            {
              type: "button",
              class: "primary dial",
              disabled: !mayCall || dialDisabled,
              dataset: { number: phoneOf(phone), blocked: String(!mayCall) },
              title: mayCall ? `Call ${phoneOf(phone)}` : "This customer must not be called",
              onclick: () => onDial(phoneOf(phone), customer),
            },
            "Call",
          )
        : null,
    ),
  );

  fill(
    root,
    h("p", { class: "card-name", id: "card-name" }, displayName(customer)),
    badges.length ? h("p", {}, badges) : null,
    phones.length ? h("ul", { class: "phones" }, phones) : null,
    facts.length ? h("dl", {}, facts) : null,
  );
  root.dataset.customerId = String(customer.id);
}

function summary(event) {
  const item = event[event.type] || {};
  switch (event.type) {
    case "call": {
      const talk = item.talk_s ? `, talked ${duration(item.talk_s)}` : "";
      const agent = item.agent ? ` with ${item.agent}` : "";
      return `${item.direction} call ${item.outcome}${agent}${talk}`;
    }
    case "note":
      return `Note by ${item.author}: ${item.body}`;
    case "disposition":
      return `Wrap-up by ${item.author}: ${String(item.code).replaceAll("_", " ")}`;
    case "callback":
      return `Callback ${item.state}, due ${when(item.due_at)}${item.note ? `: ${item.note}` : ""}`;
    case "ticket":
      return `${item.kind} (${item.status}): ${item.subject}`;
    default:
      return event.type;
  }
}

export function renderTimeline(root, events) {
  if (!events || events.length === 0) {
    fill(root, h("li", { class: "muted" }, "Nothing yet."));
    return;
  }
  fill(
    root,
    events.map((event) =>
      h("li", { dataset: { type: event.type } }, h("span", { class: "when" }, when(event.at)), summary(event)),
    ),
  );
}

export function renderChoice(root, customers, onPick) {
  fill(
    root,
    customers.map((customer) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", onclick: () => onPick(customer) },
          displayName(customer),
          customer.name && customer.company ? ` · ${customer.company}` : "",
          customer.is_stub ? " (new caller)" : "",
        ),
      ),
    ),
  );
}

export function renderCallbacks(root, callbacks, names, onOpen) {
  if (!callbacks.length) {
    fill(root, h("li", { class: "muted" }, "None due."));
    return;
  }
  const now = Date.now();
  fill(
    root,
    callbacks.map((callback) => {
      const due = new Date(callback.due_at).getTime();
      return h(
        "li",
        {},
        h(
          "span",
          { class: due < now ? "when overdue" : "when" },
          due < now ? `overdue since ${when(callback.due_at)}` : `due ${when(callback.due_at)}`,
          callback.assigned_to ? "" : " · anyone",
        ),
        h(
          "button",
          { type: "button", onclick: () => onOpen(callback.customer_id) },
          names.get(callback.customer_id) || `Customer ${callback.customer_id}`,
        ),
        callback.note ? h("span", {}, ` ${callback.note}`) : null,
      );
    }),
  );
}
