// The agent panel: status bar, screen pops, call control and wrap-up.
//
// Where the truth lives: the agent's queue state (ready / paused / reason) and the call their
// phone is in come from GET /api/agent/state, i.e. from what the PBX reported; the socket only
// says that something happened (ring, answered, ended). After every (re)connect of the socket
// the page re-fetches everything over HTTP, and it polls the state (often while a call is up,
// rarely otherwise) because a click-to-call or a supervisor's pause sends no pop.
import { ApiError, get, patch, post } from "./api.js";
import {
  displayName,
  renderCallbacks,
  renderCampaign,
  renderCard,
  renderChoice,
  renderTimeline,
} from "./card.js";
import { $, duration, fill, h, show } from "./dom.js";
import { expectDial, startPhone } from "./phone.js";
import { AgentSocket } from "./socket.js";
import { startRecording, uploadVoiceNote } from "./voicenote.js";

// Polling costs the server a request (and a session lookup) per agent: often only while a
// phone rings or dials (a click-to-call and a ring-no-answer send no pop), rarely otherwise.
const POLL_RINGING_MS = 2000;
const POLL_CONNECTED_MS = 4000;
const POLL_IDLE_MS = 20000;
const HEALTH_MS = 15000;
const CALLBACKS_MS = 300000;
const CALLBACKS_AHEAD_MS = 2 * 3600 * 1000;
const DIAL_GRACE_MS = 15000;

const state = {
  me: null,
  extension: null,
  offset: 0, // server clock minus browser clock, in seconds
  agent: null, // the board's view of my queue membership
  stateSince: null,
  call: null, // {call_id, phase: ringing|dialing|connected, number, name, queue, since}
  wrapup: null, // {call_id, customer, number, name}
  customer: null, // the customer on the card
  createFor: null, // a caller's number without any customer record: quick-create offers it
  dialing: null, // {number, customer, at, campaignInfo}
  callbackNames: new Map(),
  campaignInfo: null, // {campaign, churn} of the campaign call on the panel (pop or preview)
  preview: null, // the preview item offered: {attempt_id, number, tries, campaign, ...}
};

let pollTimer = null;

// --- small helpers -----------------------------------------------------------------------

function serverNow() {
  return Date.now() / 1000 + state.offset;
}

function interfaceKey(iface) {
  const text = String(iface || "");
  if (text.startsWith("Local/") && text.split("/").length > 2) {
    return text.slice(0, text.lastIndexOf("/"));
  }
  return text;
}

function isMe(agent) {
  return Boolean(agent) && interfaceKey(agent) === interfaceKey(state.extension);
}

let noticeTimer = null;
function notice(message) {
  const el = $("notice");
  el.textContent = message;
  show(el, true);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(el, false), 6000);
}

function problem(error) {
  const el = $("problem");
  if (!error) {
    show(el, false);
    return;
  }
  el.textContent = error instanceof Error ? error.message : String(error);
  show(el, true);
}

/** Run an action for a button: disabled while it runs, errors shown in plain words. */
async function act(button, action) {
  if (button) button.disabled = true;
  problem(null);
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) problem(error);
  } finally {
    if (button) button.disabled = false;
  }
}

// --- status bar --------------------------------------------------------------------------

function renderStatus() {
  const pill = $("my-state");
  let label;
  let key;
  const agent = state.agent;
  if (state.call && state.call.phase === "connected") {
    [label, key] = ["On call", "on_call"];
  } else if (state.call && state.call.phase === "ringing") {
    [label, key] = ["Ringing", "ringing"];
  } else if (state.call && state.call.phase === "dialing") {
    [label, key] = ["Dialing", "ringing"];
  } else if (!agent) {
    [label, key] = ["Not in a queue", "unknown"];
  } else if (agent.paused) {
    [label, key] = [agent.pause_reason ? `Paused: ${agent.pause_reason}` : "Paused", "paused"];
  } else {
    [label, key] = [agent.state.replace("_", " "), agent.state];
    label = label.charAt(0).toUpperCase() + label.slice(1);
  }
  if (agent && agent.paused && key !== "paused") label += ` (paused: ${agent.pause_reason || "-"})`;
  pill.textContent = label;
  pill.dataset.state = key;
  $("ready-button").disabled = !(agent && agent.paused);
  $("pause-button").disabled = !agent;
  if (agent && agent.paused && agent.pause_reason) {
    const select = $("pause-reason");
    if ([...select.options].some((o) => o.value === agent.pause_reason)) {
      select.value = agent.pause_reason;
    }
  }
  tick();
}

function tick() {
  const since = state.call && state.call.since ? state.call.since : state.stateSince;
  $("timer").textContent = since ? duration(serverNow() - since) : "";
  const active = $("active-timer");
  active.textContent =
    state.call && state.call.phase === "connected" && state.call.since
      ? duration(serverNow() - state.call.since)
      : "";
}

function setLive(status) {
  const pill = $("live");
  pill.dataset.state = status;
  pill.textContent = { live: "Live", connecting: "Live: connecting…", offline: "Live: reconnecting…" }[
    status
  ];
}

async function refreshHealth() {
  const pill = $("pbx");
  try {
    const health = await get("/health");
    const ami = health.ami;
    const up = ami.state === "up";
    pill.dataset.state = up ? "up" : "down";
    pill.textContent = up ? "PBX connected" : `PBX ${ami.state.replace("_", " ")}`;
    pill.title = up ? "Link to the phone system is up" : ami.last_error || "no link";
  } catch {
    pill.dataset.state = "down";
    pill.textContent = "Server unreachable";
  }
}

// --- the customer side -------------------------------------------------------------------

function showCustomer(customer, history) {
  state.customer = customer;
  state.createFor = null;
  show($("choice"), false);
  renderCard($("card"), customer, { onDial: dial, dialDisabled: Boolean(state.call) });
  show($("card"), true);
  renderTimeline($("timeline"), history || []);
  show($("voice-note"), true);
  watchTranscriptions(customer.id, history || []);
  const stub = $("stub-form");
  show(stub, Boolean(customer.is_stub));
  if (customer.is_stub) {
    $("stub-name").value = customer.name || "";
    $("stub-company").value = customer.company || "";
    $("stub-email").value = "";
  }
  if (state.wrapup && !state.wrapup.customer) {
    state.wrapup.customer = customer;
    renderWrapupAbout();
  }
}

function clearCustomer(message) {
  state.customer = null;
  state.createFor = null;
  show($("choice"), false);
  show($("stub-form"), false);
  fill($("card"), message ? h("p", { class: "muted" }, message) : "");
  show($("card"), Boolean(message));
  fill($("timeline"));
  show($("voice-note"), false);
}

// --- voice notes and transcripts ---------------------------------------------------------

const TRANSCRIBE_POLL_MS = 3000;
const TRANSCRIBE_POLLS = 100;
let transcriptPoll = null;

function pendingTranscription(events) {
  return events.some((event) => {
    const item = event[event.type] || {};
    const job = event.type === "call" ? item.transcription : item.voice_note;
    return job && (job.state === "queued" || job.state === "running");
  });
}

/** While a transcript of this customer is still being made, re-read the timeline now and
 *  then (the transcript appears when done); stops when another customer is shown. */
function watchTranscriptions(customerId, events, polls = TRANSCRIBE_POLLS) {
  clearTimeout(transcriptPoll);
  if (!pendingTranscription(events) || polls <= 0) return;
  transcriptPoll = setTimeout(async () => {
    if (!state.customer || state.customer.id !== customerId) return;
    try {
      const customer = await get(`/api/customers/${encodeURIComponent(customerId)}?timeline_limit=10`);
      if (!state.customer || state.customer.id !== customerId) return;
      renderTimeline($("timeline"), customer.timeline);
      watchTranscriptions(customerId, customer.timeline, polls - 1);
    } catch {
      watchTranscriptions(customerId, events, polls - 1);
    }
  }, TRANSCRIBE_POLL_MS);
}

let recorder = null;

async function toggleVoiceNote() {
  const button = $("voice-record");
  const status = $("voice-status");
  if (!recorder) {
    if (!state.customer) return;
    try {
      recorder = { customerId: state.customer.id, recording: await startRecording() };
    } catch (error) {
      status.textContent = `Microphone unavailable: ${error.message || error}`;
      return;
    }
    button.textContent = "Stop and save";
    button.dataset.recording = "1";
    status.textContent = "Recording…";
    return;
  }
  const { customerId, recording } = recorder;
  recorder = null;
  button.textContent = "Record voice note";
  delete button.dataset.recording;
  button.disabled = true;
  status.textContent = "Saving…";
  try {
    const wav = await recording.stop();
    await uploadVoiceNote(customerId, wav);
    status.textContent = "Saved; transcribing.";
    if (state.customer && state.customer.id === customerId) await openCustomer(customerId);
  } catch (error) {
    status.textContent = `Not saved: ${error.message || error}`;
  } finally {
    button.disabled = false;
  }
}

async function openCustomer(id) {
  const customer = await get(`/api/customers/${encodeURIComponent(id)}?timeline_limit=10`);
  showCustomer(customer, customer.timeline);
  return customer;
}

function offerChoice(customers) {
  state.customer = null;
  show($("card"), false);
  show($("stub-form"), false);
  fill($("timeline"));
  renderChoice($("choice-list"), customers, (customer) =>
    act(null, () => openCustomer(customer.id)),
  );
  show($("choice"), true);
}

/**
 * Card(s) for a caller: one → card + history, several → a choice, none → a message (and,
 * for a real number, the quick-create form).
 */
function showCallers(customers, history, number) {
  if (customers.length === 1) showCustomer(customers[0], history);
  else if (customers.length > 1) offerChoice(customers);
  else if (number && /\d{3}/.test(number)) {
    clearCustomer(`No customer record for ${number} yet.`);
    state.createFor = number;
    $("stub-form").reset();
    show($("stub-form"), true);
  } else clearCustomer("Number withheld: no customer record.");
}

async function lookupNumber(number) {
  if (!number) {
    showCallers([]);
    return;
  }
  const found = await get(`/api/customers/lookup?number=${encodeURIComponent(number)}`);
  if (found.customers.length === 1) await openCustomer(found.customers[0].id);
  else showCallers(found.customers, [], number);
}

// --- the call side -----------------------------------------------------------------------

function renderCall() {
  const call = state.call;
  show($("call-idle"), !call);
  show($("call-ringing"), Boolean(call) && call.phase === "ringing");
  show($("call-active"), Boolean(call) && call.phase !== "ringing");
  if (call) {
    const name = call.name || (state.customer ? displayName(state.customer) : "");
    $("ring-name").textContent = name || call.number || "Unknown caller";
    $("ring-number").textContent = name ? call.number : "";
    $("ring-queue").textContent = call.queue ? `queue ${call.queue}` : "";
    $("active-label").textContent = call.phase === "dialing" ? "Dialing" : "Connected";
    $("active-name").textContent = name || call.number || "";
    $("active-number").textContent = name ? call.number : "";
  }
  for (const button of document.querySelectorAll("#card .dial")) {
    button.disabled = Boolean(call) || button.dataset.blocked === "true";
  }
  renderPreviewButtons();
  renderStatus();
  schedulePoll();
}

function clearCall() {
  state.call = null;
  state.dialing = null;
  if (!state.wrapup) setCampaignInfo(null);
  renderCall();
}

function renderWrapupAbout() {
  const wrap = state.wrapup;
  if (!wrap) return;
  const who = wrap.customer ? displayName(wrap.customer) : "";
  $("wrapup-about").textContent = wrap.customer
    ? `For ${who}${wrap.number ? ` (${wrap.number})` : ""}.`
    : "No customer for this call yet: find one with the search to save the wrap-up.";
  $("wrapup-save").disabled = !wrap.customer;
}

function startWrapup() {
  const call = state.call;
  state.call = null;
  state.dialing = null;
  if (call && (!state.wrapup || state.wrapup.call_id !== call.call_id)) {
    state.wrapup = {
      call_id: call.call_id,
      customer: state.customer,
      number: call.number,
      name: call.name,
    };
    $("wrapup-form").reset();
    renderWrapupAbout();
    show($("wrapup-form"), true);
    $("disposition").focus();
  }
  renderCall();
}

function endWrapup() {
  state.wrapup = null;
  show($("wrapup-form"), false);
  if (!state.call) setCampaignInfo(null);
  renderPreviewButtons();
}

function onRing(message) {
  // A campaign call's pop says which campaign and why the customer is called; the ring of a
  // preview dial this agent placed keeps what the preview showed if the pop does not.
  const info = campaignOf(message) || (state.dialing && state.dialing.campaignInfo) || null;
  setCampaignInfo(info);
  state.dialing = null;
  state.call = {
    call_id: message.call_id,
    phase: "ringing",
    number: message.caller_number,
    name: message.caller_name,
    queue: message.queue,
    since: null,
  };
  showCallers(message.customers || [], message.history, message.caller_number);
  renderCall();
}

// A pop rings at once from what Asterisk said; the caller's card follows from the CRM.
function onCard(message) {
  if (!state.call || state.call.call_id !== message.call_id) return;
  const info = campaignOf(message);
  if (info) setCampaignInfo(info);
  showCallers(message.customers || [], message.history, state.call.number);
}

function onAnswered(message) {
  const call = state.call;
  if (!call || call.call_id !== message.call_id) {
    if (isMe(message.agent)) refreshState();
    return;
  }
  if (isMe(message.agent)) {
    call.phase = "connected";
    call.since = serverNow();
    renderCall();
  } else {
    clearCall();
    if (!state.wrapup) clearCustomer();
    refreshState();
  }
}

function onEnded(message) {
  const call = state.call;
  if (call && call.call_id === message.call_id) {
    if (call.phase === "connected" || isMe(message.agent)) startWrapup();
    else {
      clearCall();
      if (!state.wrapup) clearCustomer();
    }
  }
  refreshState();
}

/** Bring the page in line with the PBX: my queue state and the call my phone is in. */
async function refreshState() {
  let current;
  try {
    current = await get("/api/agent/state");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) problem(error);
    schedulePoll();
    return;
  }
  state.offset = current.now - Date.now() / 1000;
  state.agent = current.agent;
  state.stateSince = current.agent ? current.agent.since : null;
  fill(
    $("colleagues"),
    current.colleagues.map((c) => h("option", { value: c.extension }, `${c.name} (${c.state})`)),
  );
  const live = current.call;
  const call = state.call;
  if (live) {
    const outbound = live.direction === "outbound";
    const phase = live.state === "talking" ? "connected" : outbound ? "dialing" : "ringing";
    const since = phase === "connected" ? current.now - live.duration_s : null;
    if (call && call.call_id === null && call.phase === "dialing") {
      call.call_id = live.call_id; // the click-to-call we started
      state.dialing = null;
      call.phase = phase;
      call.since = since;
    } else if (!call || call.call_id !== live.call_id) {
      if (call && call.phase === "connected") startWrapup();
      if (!state.wrapup) setCampaignInfo(null); // a call no pop told about
      state.call = {
        call_id: live.call_id,
        phase,
        number: outbound ? live.called_number : live.caller_number,
        name: outbound ? "" : live.caller_name,
        queue: live.queue,
        since,
      };
      lookupNumber(state.call.number).catch(problem);
    } else if (phase === "connected" && call.phase !== "connected") {
      call.phase = "connected";
      call.since = since;
    }
  } else if (call) {
    const waitingForDial =
      call.call_id === null && state.dialing && Date.now() - state.dialing.at < DIAL_GRACE_MS;
    if (call.phase === "connected") startWrapup();
    else if (!waitingForDial) clearCall();
  }
  renderCall();
}

function schedulePoll() {
  clearTimeout(pollTimer);
  let delay = POLL_IDLE_MS;
  if (state.call && state.call.phase === "connected") delay = POLL_CONNECTED_MS;
  else if (state.call || state.dialing) delay = POLL_RINGING_MS;
  pollTimer = setTimeout(refreshState, delay);
}

// --- campaign calls: the pop's campaign and churn, and preview dialing -------------------

/** The campaign context of a ring message (or preview item), or null if it has none. */
function campaignOf(message) {
  const campaign = message.campaign || null;
  const churn = message.churn || null;
  return campaign || churn ? { campaign, churn } : null;
}

function setCampaignInfo(info) {
  state.campaignInfo = info;
  const root = $("campaign-info");
  const shown = Boolean(info) && renderCampaign(root, info.campaign, info.churn);
  if (!shown) fill(root);
  show(root, shown);
}

/** One preview at a time, and none while a call or its wrap-up is on the panel. */
function renderPreviewButtons() {
  const busy = Boolean(state.call) || Boolean(state.wrapup);
  $("preview-next").disabled = busy || Boolean(state.preview);
  $("preview-dial").disabled = busy;
  $("preview-skip").disabled = false;
}

/** Like act(), but the preview buttons' state is recomputed afterwards, not just re-enabled. */
function previewAct(button, action) {
  return act(null, async () => {
    button.disabled = true;
    try {
      await action();
    } finally {
      renderPreviewButtons();
    }
  });
}

function renderPreview() {
  const item = state.preview;
  show($("preview-item"), Boolean(item));
  if (item) {
    $("preview-number").textContent = item.number;
    $("preview-tries").textContent = item.tries
      ? `tried ${item.tries} time${item.tries === 1 ? "" : "s"} before`
      : "not tried yet";
    const until = item.held_until ? new Date((item.held_until - state.offset) * 1000) : null;
    $("preview-held").textContent = until
      ? `Held for you until ${until.toLocaleTimeString()}.`
      : "";
    renderCampaign($("preview-campaign"), item.campaign, item.churn);
    $("preview").dataset.attemptId = item.attempt_id;
  } else {
    fill($("preview-campaign"));
    delete $("preview").dataset.attemptId;
  }
  renderCall();
}

/** The preview's customer on the card: a customer, a screen-pop card, or none. */
function showPreviewCustomer(item) {
  const customer = item.customer;
  if (customer && Array.isArray(customer.customers)) {
    showCallers(customer.customers, customer.history, item.number);
  } else if (customer && customer.id !== undefined) {
    showCustomer(customer, customer.timeline || customer.history || []);
  } else {
    clearCustomer(`No customer record for ${item.number}.`);
  }
}

async function nextPreview() {
  const found = await post("/api/agent/preview", {});
  const item = found && found.item;
  show($("preview-empty"), !item);
  state.preview = item || null;
  if (item) showPreviewCustomer(item);
  renderPreview();
}

function previewCustomer() {
  const customer = state.preview && state.preview.customer;
  if (customer && Array.isArray(customer.customers)) {
    return customer.customers.length === 1 ? customer.customers[0] : state.customer;
  }
  return customer && customer.id !== undefined ? customer : state.customer;
}

async function dialPreview() {
  const item = state.preview;
  if (!item) return;
  const path = `/api/agent/preview/${encodeURIComponent(item.attempt_id)}/dial`;
  try {
    await post(path, {});
  } catch (error) {
    // 409: no longer held for me (the hold ran out) or not callable now: it is gone.
    if (error instanceof ApiError && error.status === 409) dropPreview();
    throw error;
  }
  const customer = previewCustomer();
  const campaignInfo = campaignOf(item);
  setCampaignInfo(campaignInfo);
  state.preview = null;
  state.dialing = { number: item.number, customer, at: Date.now(), campaignInfo };
  state.call = {
    call_id: null,
    phase: "dialing",
    number: item.number,
    name: customer ? displayName(customer) : "",
    queue: null,
    since: null,
  };
  renderPreview();
  notice(`Calling ${item.number}: your phone rings first, then the customer.`);
  setTimeout(refreshState, 500);
}

async function skipPreview() {
  const item = state.preview;
  if (!item) return;
  try {
    await post(`/api/agent/preview/${encodeURIComponent(item.attempt_id)}/skip`, {});
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) throw error; // 409: not held anyway
  }
  dropPreview();
  notice(`Skipped ${item.number}.`);
}

function dropPreview() {
  state.preview = null;
  if (!state.call && !state.wrapup) clearCustomer();
  renderPreview();
}

// --- callbacks ---------------------------------------------------------------------------

async function refreshCallbacks() {
  const before = new Date(Date.now() + CALLBACKS_AHEAD_MS).toISOString();
  const found = await get(
    `/api/callbacks?assigned_to=me&due_before=${encodeURIComponent(before)}&limit=20`,
  );
  const missing = [...new Set(found.items.map((c) => c.customer_id))].filter(
    (id) => !state.callbackNames.has(id),
  );
  await Promise.all(
    missing.slice(0, 10).map(async (id) => {
      try {
        const customer = await get(`/api/customers/${id}?timeline_limit=1`);
        state.callbackNames.set(id, displayName(customer));
      } catch {
        state.callbackNames.set(id, `Customer ${id}`);
      }
    }),
  );
  renderCallbacks($("callback-list"), found.items, state.callbackNames, (id) =>
    act(null, () => openCustomer(id)),
  );
}

// --- actions -----------------------------------------------------------------------------

async function dial(number, customer) {
  await act(null, async () => {
    expectDial();
    await post("/api/agent/dial", { number });
    state.dialing = { number, customer, at: Date.now() };
    state.call = {
      call_id: null,
      phase: "dialing",
      number,
      name: displayName(customer),
      queue: null,
      since: null,
    };
    notice(`Calling ${number}: your phone rings first, then the customer.`);
    renderCall();
    setTimeout(refreshState, 500);
  });
}

function later(ms) {
  setTimeout(refreshState, ms);
}

function wire() {
  $("pause-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = $("pause-reason").value;
    act($("pause-button"), async () => {
      await post("/api/agent/pause", { paused: true, reason });
      notice(`Paused (${reason}).`);
      later(300);
      later(1500);
    });
  });
  $("ready-button").addEventListener("click", (event) =>
    act(event.currentTarget, async () => {
      await post("/api/agent/pause", { paused: false });
      notice("Ready for calls.");
      later(300);
      later(1500);
    }),
  );
  $("hangup").addEventListener("click", (event) =>
    act(event.currentTarget, async () => {
      const callId = state.call ? state.call.call_id : null;
      await post("/api/agent/hangup", callId ? { call_id: callId } : {});
      notice("Hung up.");
      later(300);
    }),
  );
  $("transfer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = (event.submitter && event.submitter.dataset.kind) || "blind";
    const to = $("transfer-to").value.trim();
    act(event.submitter, async () => {
      const body = { to, kind };
      if (state.call && state.call.call_id) body.call_id = state.call.call_id;
      await post("/api/agent/transfer", body);
      notice(
        kind === "blind"
          ? `Transferred to ${to}.`
          : `Calling ${to} for an attended transfer: talk to them, then hang up to complete it.`,
      );
      $("transfer-to").value = "";
      later(500);
    });
  });
  $("wrapup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const wrap = state.wrapup;
    if (!wrap || !wrap.customer) return;
    const body = {
      customer_id: wrap.customer.id,
      disposition: $("disposition").value,
    };
    if (wrap.call_id) body.call_id = wrap.call_id;
    const note = $("wrapup-note").value.trim();
    if (note) body.note = note;
    if ($("callback-on").checked) {
      const at = $("callback-at").value;
      if (!at) {
        problem("Pick when the callback is due.");
        return;
      }
      body.callback = { due_at: new Date(at).toISOString(), for: $("callback-for").value };
    }
    act($("wrapup-save"), async () => {
      await post("/api/agent/wrapup", body);
      notice("Wrap-up saved.");
      const customerId = wrap.customer.id;
      endWrapup();
      if (state.customer && state.customer.id === customerId && !state.call) {
        await openCustomer(customerId);
      }
      if (body.callback) await refreshCallbacks();
    });
  });
  $("wrapup-skip").addEventListener("click", () => endWrapup());
  $("stub-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const customer = state.customer;
    const number = state.createFor;
    if (!customer && !number) return;
    const change = {};
    const name = $("stub-name").value.trim();
    const company = $("stub-company").value.trim();
    const email = $("stub-email").value.trim();
    if (name) change.name = name;
    if (company) change.company = company;
    if (email) change.emails = [email];
    if (!Object.keys(change).length) {
      problem("Fill in a name, a company or an email first.");
      return;
    }
    act(event.submitter, async () => {
      const saved = customer
        ? await patch(`/api/customers/${customer.id}`, change)
        : await post("/api/customers", { ...change, phones: [number] });
      notice("Customer saved.");
      state.callbackNames.set(saved.id, displayName(saved));
      await openCustomer(saved.id);
      renderCall();
    });
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("search-q").value.trim();
    act(event.submitter, async () => {
      const found = await get(`/api/search?q=${encodeURIComponent(q)}&limit=10`);
      const list = $("search-results");
      if (!found.items.length) {
        fill(list, h("li", { class: "muted" }, "No match."));
        return;
      }
      renderChoice(list, found.items, (customer) =>
        act(null, async () => {
          await openCustomer(customer.id);
          fill(list);
        }),
      );
    });
  });
  $("voice-record").addEventListener("click", () => toggleVoiceNote());
  $("preview-next").addEventListener("click", (event) =>
    previewAct(event.currentTarget, nextPreview),
  );
  $("preview-dial").addEventListener("click", (event) =>
    previewAct(event.currentTarget, dialPreview),
  );
  $("preview-skip").addEventListener("click", (event) =>
    previewAct(event.currentTarget, skipPreview),
  );
  $("logout").addEventListener("click", (event) =>
    act(event.currentTarget, async () => {
      await post("/api/logout", {});
      location.assign("/login");
    }),
  );
}

// --- start -------------------------------------------------------------------------------

async function refreshAll() {
  await Promise.all([
    refreshState(),
    refreshHealth(),
    refreshCallbacks().catch((error) => problem(error)),
  ]);
}

async function main() {
  wire();
  let me;
  try {
    me = await get("/api/me");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) problem(error);
    return;
  }
  state.me = me.user;
  state.extension = me.user.extension;
  $("whoami").textContent = `${me.user.username}${me.user.extension ? ` · ${me.user.extension}` : ""}`;
  show($("supervisor-nav"), ["supervisor", "admin"].includes(me.user.role));
  renderCall();
  startPhone(me.user);
  setInterval(tick, 1000);
  setInterval(refreshHealth, HEALTH_MS);
  setInterval(() => refreshCallbacks().catch(() => {}), CALLBACKS_MS);
  refreshHealth();
  if (!state.extension) {
    show($("preview"), false);
    problem("No phone extension is assigned to your user: screen pops and call control are off.");
    setLive("offline");
    return;
  }
  const socket = new AgentSocket({
    onStatus: setLive,
    onOpen: () => {
      refreshAll().catch(problem);
    },
    onMessage: (message) => {
      if (message.type === "ring") onRing(message);
      else if (message.type === "card") onCard(message);
      else if (message.type === "answered") onAnswered(message);
      else if (message.type === "ended") onEnded(message);
    },
  });
  socket.start();
  document.documentElement.dataset.ready = "true";
}

main();
