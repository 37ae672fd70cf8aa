// One customer: the profile edited in place (phones, e-mails, addresses, tags, custom fields,
// owner) with the server's validation message beside the field; consent and do-not-call with
// who changed them and when; click-to-call; the churn score (supervisors); other customers
// with the same number and the merge dialog; GDPR export and erasure (admins); logging an
// interaction; the timeline of every channel with a filter. All text goes in as text.
import { api, get, patch, post } from "../agent/api.js";
import { renderTimeline } from "../agent/card.js";
import { $, fill, h, show, when } from "../agent/dom.js";
import { displayName, failed, notice, problem, ready, start, SUPERVISORS, words } from "./common.js";

const customerId = Number(location.pathname.split("/")[2]);
const state = { user: null, customer: null, timeline: [], channel: "all", other: null };

// --- profile -------------------------------------------------------------------------------

function removeButton(label) {
  return h("button", { type: "button", class: "remove", "aria-label": label, onclick: (e) => e.currentTarget.closest("li").remove() }, "Remove");
}

let rowSerial = 0;
function labelled(label, input) {
  const id = `r${(rowSerial += 1)}`;
  input.id = id;
  return [h("label", { for: id }, label), input];
}

function phoneRow(phone = { number: "", type: "main" }) {
  const number = h("input", { class: "number", maxlength: "64", autocomplete: "off", value: phone.number });
  const type = h("input", { class: "type", maxlength: "32", autocomplete: "off", value: phone.type });
  return h("li", { class: "phone-row" }, labelled("Number", number), labelled("Type", type), removeButton("Remove this phone"));
}

function emailRow(email = { address: "", type: "main" }) {
  const address = h("input", { class: "address", type: "email", maxlength: "254", autocomplete: "off", value: email.address });
  const type = h("input", { class: "type", maxlength: "32", autocomplete: "off", value: email.type });
  return h("li", { class: "email-row" }, labelled("E-mail", address), labelled("Type", type), removeButton("Remove this e-mail"));
}

const ADDRESS_PARTS = [
  ["type", "Type"],
  ["street", "Street"],
  ["postcode", "Postcode"],
  ["city", "City"],
  ["region", "Region"],
  ["country", "Country"],
];

function addressRow(address = { type: "main" }) {
  return h(
    "li",
    { class: "address-row" },
    ADDRESS_PARTS.map(([key, label]) =>
      labelled(label, h("input", { class: key, maxlength: "200", autocomplete: "off", value: address[key] || "" })),
    ),
    removeButton("Remove this address"),
  );
}

function customRow(key = "", value = "") {
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  return h(
    "li",
    { class: "custom-row" },
    labelled("Field", h("input", { class: "key", maxlength: "64", autocomplete: "off", value: key })),
    labelled("Value", h("input", { class: "value", maxlength: "1000", autocomplete: "off", value: shown })),
    removeButton("Remove this field"),
  );
}

function fillProfile(customer) {
  for (const name of ["name", "company", "kind", "language", "region", "time_zone", "owner"]) {
    $(`p-${name}`).value = customer[name] || (name === "kind" ? "person" : "");
  }
  $("p-tags").value = customer.tags.join(", ");
  fill($("p-phones"), customer.phones.map(phoneRow));
  fill($("p-emails"), customer.emails.map(emailRow));
  fill($("p-addresses"), customer.addresses.map(addressRow));
  fill($("p-custom"), Object.entries(customer.custom).map(([k, v]) => customRow(k, v)));
  show($("profile-error"), false);
  for (const el of document.querySelectorAll("#profile [aria-invalid]")) el.removeAttribute("aria-invalid");
}

function rowsOf(id, read) {
  return [...$(id).children].map(read);
}

function profileBody() {
  const c = state.customer;
  const body = {};
  for (const name of ["name", "company", "kind", "language", "region", "time_zone", "owner"]) {
    const value = $(`p-${name}`).value.trim();
    const old = c[name] || (name === "kind" ? "person" : "");
    if (value !== old) body[name] = value === "" && name !== "name" && name !== "company" ? null : value;
  }
  const tags = $("p-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (JSON.stringify(tags) !== JSON.stringify(c.tags)) body.tags = tags;
  const phones = rowsOf("p-phones", (li) => ({ number: li.querySelector(".number").value.trim(), type: li.querySelector(".type").value.trim() || "main" }));
  if (JSON.stringify(phones) !== JSON.stringify(c.phones.map((p) => ({ number: p.number, type: p.type })))) body.phones = phones;
  const emails = rowsOf("p-emails", (li) => ({ address: li.querySelector(".address").value.trim(), type: li.querySelector(".type").value.trim() || "main" }));
  if (JSON.stringify(emails) !== JSON.stringify(c.emails)) body.emails = emails;
  const addresses = rowsOf("p-addresses", (li) =>
    Object.fromEntries(ADDRESS_PARTS.map(([key]) => [key, li.querySelector(`.${key}`).value.trim()])),
  );
  if (JSON.stringify(addresses) !== JSON.stringify(c.addresses.map((a) => Object.fromEntries(ADDRESS_PARTS.map(([k]) => [k, a[k] || ""]))))) {
    body.addresses = addresses;
  }
  const custom = Object.fromEntries(
    rowsOf("p-custom", (li) => [li.querySelector(".key").value.trim(), li.querySelector(".value").value]).filter(([k]) => k),
  );
  if (JSON.stringify(custom) !== JSON.stringify(Object.fromEntries(Object.entries(c.custom).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])))) {
    body.custom = custom;
  }
  return body;
}

/** The input a validation error's field names ("phones[1].number" -> that row's input). */
function inputFor(fieldName) {
  const match = /^(\w+)(?:\[(\d+)\])?(?:\.(\w+))?/.exec(fieldName || "");
  if (!match) return null;
  const [, key, index, part] = match;
  const lists = { phones: "p-phones", emails: "p-emails", addresses: "p-addresses", custom: "p-custom" };
  if (lists[key]) {
    const row = index !== undefined ? $(lists[key]).children[Number(index)] : $(lists[key]).children[0];
    if (!row) return null;
    const cls = part || (key === "phones" ? "number" : key === "emails" ? "address" : null);
    return (cls && row.querySelector(`.${cls}`)) || row.querySelector("input");
  }
  return document.getElementById(`p-${key}`);
}

async function saveProfile(event) {
  event.preventDefault();
  const body = profileBody();
  if (!Object.keys(body).length) {
    notice("Nothing changed.");
    return;
  }
  for (const el of document.querySelectorAll("#profile [aria-invalid]")) el.removeAttribute("aria-invalid");
  try {
    state.customer = await patch(`/api/customers/${customerId}`, body);
  } catch (error) {
    const el = $("profile-error");
    const fieldName = error.details && error.details.field;
    el.textContent = fieldName ? `${words(fieldName)}: ${error.message}` : error.message;
    show(el, true);
    const input = inputFor(fieldName);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "profile-error");
      input.focus();
    }
    return;
  }
  renderCustomer();
  notice("Saved.");
  loadTimeline();
}

// --- the rest of the customer ----------------------------------------------------------------

function renderCustomer() {
  const c = state.customer;
  document.title = `${displayName(c)} · callcenter`;
  $("customer-name").textContent = displayName(c);
  fill(
    $("customer-badges"),
    c.is_stub ? h("span", { class: "badge" }, "stub") : null,
    c.do_not_call ? h("span", { class: "badge bad" }, "do not call") : null,
  );
  $("customer-about").textContent = `Customer ${c.id} · created ${when(c.created_at)} · last contact ${when(c.last_contact_at) || "never"}`;
  fillProfile(c);
  for (const input of document.querySelectorAll("#consent input[data-field]")) {
    const name = input.dataset.field;
    input.checked = name === "do_not_call" ? c.do_not_call : c.consent[name];
  }
  const canCall = !c.do_not_call && c.consent.may_call;
  fill(
    $("dial-list"),
    c.phones.length
      ? c.phones.map((phone) =>
          h(
            "li",
            {},
            h("span", { class: "number" }, `${phone.number} (${phone.type})`),
            " ",
            h("button", { type: "button", class: "dial", disabled: !canCall, "data-number": phone.e164, onclick: () => dial(phone.e164) }, `Call ${phone.number}`),
          ),
        )
      : h("li", { class: "muted" }, "No phone number."),
  );
  if (!canCall) $("dial-list").append(h("li", { class: "problem" }, "Calling is blocked: do-not-call or no consent to be called."));
  $("gdpr-export").href = `/api/customers/${customerId}/export`;
}

async function dial(number) {
  try {
    await post("/api/agent/dial", { number });
    notice(`Calling ${number}: your phone rings first.`);
  } catch (error) {
    failed(error);
  }
}

async function changeConsent(event) {
  const input = event.currentTarget;
  const name = input.dataset.field;
  const body = name === "do_not_call" ? { do_not_call: input.checked } : { consent: { [name]: input.checked } };
  try {
    state.customer = await patch(`/api/customers/${customerId}`, body);
    renderCustomer();
    notice("Consent saved.");
    loadConsent();
  } catch (error) {
    input.checked = !input.checked;
    failed(error);
  }
}

async function loadConsent() {
  try {
    const history = (await get(`/api/customers/${customerId}/consent`)).items;
    fill(
      $("consent-history"),
      history.length
        ? history.map((c) =>
            h("li", {}, h("span", { class: "when" }, when(c.changed_at)), `${words(c.field)}: ${c.old_value ? "yes" : "no"} → ${c.new_value ? "yes" : "no"} by ${c.changed_by}`),
          )
        : h("li", { class: "muted" }, "Never changed here."),
    );
  } catch (error) {
    failed(error);
  }
}

async function loadChurn() {
  try {
    const churn = await get(`/api/customers/${customerId}/churn`);
    $("churn-score").textContent = String(churn.score);
    fill(
      $("churn-reasons"),
      churn.reasons.map((r) => h("li", { dataset: { factor: r.factor } }, `${words(r.factor)}: ${r.value} → ${r.points} of ${r.weight} points`)),
    );
  } catch (error) {
    $("churn-score").textContent = "not scored yet";
    fill($("churn-reasons"));
    if (error.status !== 404) failed(error);
  }
}

async function loadSameNumber() {
  try {
    const others = (await get(`/api/customers/${customerId}/same-number`)).items;
    const supervisor = SUPERVISORS.includes(state.user.role);
    fill(
      $("same-number"),
      others.length
        ? others.map((other) =>
            h(
              "li",
              { dataset: { customerId: String(other.id) } },
              h("a", { href: `/customers/${other.id}` }, displayName(other)),
              ` shares ${other.shared_numbers.join(", ")} `,
              supervisor ? h("button", { type: "button", class: "merge", onclick: () => askMerge(other) }, `Merge ${displayName(other)} into this record…`) : null,
            ),
          )
        : h("li", { class: "muted" }, "No other customer has these numbers."),
    );
  } catch (error) {
    failed(error);
  }
}

function askMerge(other) {
  state.other = other;
  $("merge-what").textContent = `“${displayName(other)}” (customer ${other.id}) will be merged into “${displayName(state.customer)}” (customer ${customerId}).`;
  $("merge-dialog").showModal();
}

async function merged() {
  if ($("merge-dialog").returnValue !== "merge" || !state.other) return;
  try {
    state.customer = await post(`/api/customers/${customerId}/merge`, { other: state.other.id });
    notice(`Merged customer ${state.other.id} into this one.`);
    renderCustomer();
    loadSameNumber();
    loadTimeline();
  } catch (error) {
    failed(error);
  }
}

async function askErase() {
  let preview;
  try {
    preview = await get(`/api/customers/${customerId}/erasure`);
  } catch (error) {
    failed(error);
    return;
  }
  const items = [
    [`the customer record “${displayName(state.customer)}”`, 1],
    ["merged older records", preview.customers.length - 1],
    ["phone numbers", preview.phones],
    ["e-mail addresses", preview.emails],
    ["postal addresses", preview.addresses],
    ["notes (voice notes with their audio)", preview.notes],
    ["wrap-up codes", preview.dispositions],
    ["callbacks", preview.callbacks],
    ["tickets and complaints", preview.tickets],
    ["e-mails, meetings, letters, chats and messages", preview.interactions],
    ["call recordings (files) and their transcripts", preview.recordings],
  ].filter(([, n]) => n > 0);
  fill(
    $("erase-what"),
    items.map(([what, n]) => h("li", {}, n === 1 && what.startsWith("the ") ? what : `${n} ${what}`)),
    h("li", {}, `${preview.calls_anonymised} calls stay as anonymous statistics (number and name removed)`),
  );
  $("erase-check").value = "";
  $("erase-confirm").disabled = true;
  $("erase-dialog").showModal();
}

async function erased() {
  if ($("erase-dialog").returnValue !== "erase") return;
  try {
    const report = await api("DELETE", `/api/customers/${customerId}`);
    notice(`Erased: ${report.erased_customers.length} records, ${report.calls_anonymised} calls anonymised.`);
    setTimeout(() => location.assign("/customers"), 1500);
  } catch (error) {
    failed(error);
  }
}

// --- timeline and logging ---------------------------------------------------------------------

function channelOf(event) {
  return event.type === "interaction" ? event.interaction.channel : event.type;
}

function renderFilteredTimeline() {
  const events = state.channel === "all" ? state.timeline : state.timeline.filter((e) => channelOf(e) === state.channel);
  renderTimeline($("timeline"), events);
  for (const [i, li] of [...$("timeline").children].entries()) {
    if (events[i]) li.dataset.channel = channelOf(events[i]);
  }
  show($("timeline-empty"), false);
}

async function loadTimeline() {
  try {
    const body = await get(`/api/customers/${customerId}?timeline_limit=200`);
    state.customer = body;
    state.timeline = body.timeline;
  } catch (error) {
    failed(error);
    return;
  }
  renderFilteredTimeline();
}

function localToIso(value) {
  if (!value) return new Date().toISOString();
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

async function logInteraction(event) {
  event.preventDefault();
  const channel = $("l-channel").value;
  const subject = $("l-subject").value.trim();
  const text = $("l-body").value.trim();
  const error = $("log-error");
  show(error, false);
  try {
    if (channel === "note") {
      const body = [subject, text].filter(Boolean).join("\n");
      await post(`/api/customers/${customerId}/notes`, { body });
    } else {
      const body = { channel, direction: $("l-direction").value, occurred_at: localToIso($("l-when").value) };
      if (subject) body.subject = subject;
      if (text) body.body = text;
      await post(`/api/customers/${customerId}/interactions`, body);
    }
  } catch (err) {
    error.textContent = err.details && err.details.field ? `${words(err.details.field)}: ${err.message}` : err.message;
    show(error, true);
    return;
  }
  $("l-subject").value = "";
  $("l-body").value = "";
  notice("Added to the timeline.");
  loadTimeline();
}

// --- start ---------------------------------------------------------------------------------

async function main() {
  state.user = await start();
  if (!state.user) return;
  try {
    state.customer = await get(`/api/customers/${customerId}?timeline_limit=200`);
  } catch (error) {
    failed(error);
    return;
  }
  state.timeline = state.customer.timeline;
  renderCustomer();
  renderFilteredTimeline();
  $("profile").addEventListener("submit", saveProfile);
  $("profile-reset").addEventListener("click", () => fillProfile(state.customer));
  $("add-phone").addEventListener("click", () => $("p-phones").append(phoneRow()));
  $("add-email").addEventListener("click", () => $("p-emails").append(emailRow()));
  $("add-address").addEventListener("click", () => $("p-addresses").append(addressRow()));
  $("add-custom").addEventListener("click", () => $("p-custom").append(customRow()));
  for (const input of document.querySelectorAll("#consent input[data-field]")) input.addEventListener("change", changeConsent);
  for (const button of document.querySelectorAll("#timeline-filter button")) {
    button.addEventListener("click", () => {
      state.channel = button.dataset.channel;
      for (const b of document.querySelectorAll("#timeline-filter button")) b.setAttribute("aria-pressed", String(b === button));
      renderFilteredTimeline();
    });
  }
  $("log-form").addEventListener("submit", logInteraction);
  $("l-channel").addEventListener("change", () => {
    $("l-direction").disabled = $("l-channel").value === "note";
  });
  $("l-direction").disabled = true;
  $("merge-dialog").addEventListener("close", merged);
  $("erase-dialog").addEventListener("close", erased);
  $("erase-check").addEventListener("input", () => {
    $("erase-confirm").disabled = $("erase-check").value.trim() !== "ERASE";
  });
  if (state.user.role === "admin") $("gdpr-erase").addEventListener("click", askErase);
  const loads = [loadConsent(), loadSameNumber()];
  if (SUPERVISORS.includes(state.user.role)) loads.push(loadChurn());
  await Promise.all(loads);
  problem(null);
  ready();
}

main();
