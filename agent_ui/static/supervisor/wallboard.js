// The supervisors' wallboard: queues, agents and live calls, pushed over /ws/supervisor.
//
// No polling: the server pushes a full snapshot ({"type": "board", "at", ...}) at once on
// connect and then on every change. After every (re)connect the page also re-fetches
// GET /api/wallboard. Wait times, "since" and durations tick in the browser from the
// snapshot's server time `at`: a value of `x` seconds at `at` started at `at - x`.
// Everything from the server is put into the page as text (caller names are caller-supplied).
import { ApiError, get, post } from "../agent/api.js";
import { $, duration, fill, h, show } from "../agent/dom.js";
import { AgentSocket } from "../agent/socket.js";
import { forbidden, percent, problem, whoami } from "./common.js";

const STATE_TEXT = {
  ready: "Ready",
  ringing: "Ringing",
  on_call: "On call",
  paused: "Paused",
  unavailable: "Unavailable",
};
const CALL_STATE_TEXT = { queued: "Waiting", talking: "Talking", dialing: "Dialing" };

const state = { board: null, offset: 0, stopped: false };
let socket = null;

class SupervisorSocket extends AgentSocket {
  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/supervisor`;
  }
}

function serverNow() {
  return Date.now() / 1000 + state.offset;
}

/** A timer element that shows the time since server time `start` (seconds). */
function ticking(start, attrs = {}) {
  const el = h("span", { class: "timer", role: "timer", ...attrs });
  el.dataset.start = String(start);
  el.textContent = duration(serverNow() - start);
  return el;
}

function tick() {
  const now = serverNow();
  for (const el of document.querySelectorAll("[data-start]")) {
    el.textContent = duration(now - Number(el.dataset.start));
  }
}

function seconds(value) {
  return value === null || value === undefined ? "–" : duration(value);
}

let noticeTimer = null;
function notice(message) {
  const el = $("notice");
  el.textContent = message;
  show(el, true);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(el, false), 6000);
}

function setLive(status) {
  const el = $("live");
  el.dataset.state = status;
  el.textContent = { live: "Live", connecting: "Live …", offline: "Offline" }[status] || status;
  if (status === "offline" && !state.stopped) refresh();
}

// --- rendering ---------------------------------------------------------------------------

function stat(label, value, cls) {
  return h("div", { class: `stat ${cls}` }, h("dt", {}, label), h("dd", {}, value));
}

function queueTile(queue, at) {
  const waiting = queue.waiting.map((w) =>
    h(
      "li",
      { dataset: { callId: w.call_id } },
      h("span", { class: "caller-name" }, w.caller_name || w.caller_number || "unknown"),
      " ",
      h("span", { class: "muted caller-number" }, w.caller_name ? w.caller_number : ""),
      " ",
      ticking(at - w.wait_s, { class: "timer wait" }),
    ),
  );
  const longest = queue.waiting.length
    ? ticking(at - queue.longest_wait_s, { class: "timer" })
    : "0:00";
  return h(
    "article",
    {
      class: `tile box${queue.waiting.length ? " has-waiting" : ""}`,
      dataset: { queue: queue.queue },
    },
    h("h3", {}, queue.queue),
    h(
      "dl",
      { class: "stats" },
      stat("Waiting", String(queue.waiting.length), "waiting-count"),
      stat("Longest wait", longest, "longest"),
      stat("Answered", String(queue.answered), "answered"),
      stat("Abandoned", String(queue.abandoned), "abandoned"),
      stat("Service level", percent(queue.service_level), "sl"),
      stat("Avg wait", seconds(queue.avg_wait_s), "avg-wait"),
      stat("Avg talk", seconds(queue.avg_talk_s), "avg-talk"),
      stat("Ready", `${queue.agents_ready}/${queue.agents_logged_in}`, "ready"),
      stat("Paused", String(queue.agents_paused), "paused"),
      stat("On call", String(queue.agents_on_call), "on-call"),
    ),
    queue.waiting.length ? h("ol", { class: "waiting" }, waiting) : null,
  );
}

async function act(button, action) {
  if (button) button.disabled = true;
  problem(null);
  try {
    await action();
  } catch (error) {
    if (!forbidden(error)) problem(error);
  } finally {
    if (button) button.disabled = false;
  }
}

function spy(agent, mode, button) {
  return act(button, async () => {
    await post("/api/supervisor/spy", { agent: agent.interface, mode });
    notice(`Your phone rings: pick up to ${mode} (${agent.name || agent.interface}).`);
  });
}

function pause(agent, button) {
  const who = agent.name || agent.interface;
  const paused = !agent.paused;
  const reason = $("pause-reason").value;
  const question = paused ? `Pause ${who} (${reason})?` : `Unpause ${who}?`;
  if (!window.confirm(question)) return;
  act(button, async () => {
    await post("/api/supervisor/agents/pause", {
      agent: agent.interface,
      paused,
      ...(paused ? { reason } : {}),
    });
    notice(paused ? `${who} paused.` : `${who} unpaused.`);
  });
}

function remove(agent, queue, button) {
  const who = agent.name || agent.interface;
  if (!window.confirm(`Remove ${who} from queue ${queue}?`)) return;
  act(button, async () => {
    await post("/api/supervisor/agents/remove", { agent: agent.interface, queue });
    notice(`${who} removed from ${queue}.`);
  });
}

function agentActions(agent) {
  const spyButton = (mode) =>
    h(
      "button",
      {
        type: "button",
        class: `spy ${mode}`,
        onclick: (event) => spy(agent, mode, event.currentTarget),
      },
      mode,
    );
  return [
    spyButton("listen"),
    spyButton("whisper"),
    spyButton("barge"),
    h(
      "button",
      { type: "button", class: "pause", onclick: (event) => pause(agent, event.currentTarget) },
      agent.paused ? "unpause" : "pause",
    ),
    agent.queues.map((queue) =>
      h(
        "button",
        {
          type: "button",
          class: "remove danger",
          dataset: { queue },
          onclick: (event) => remove(agent, queue, event.currentTarget),
        },
        `remove from ${queue}`,
      ),
    ),
  ];
}

function agentRow(agent) {
  const caller = agent.call_id
    ? [
        h("span", { class: "caller-name" }, agent.caller_name || agent.caller_number),
        " ",
        h("span", { class: "muted caller-number" }, agent.caller_name ? agent.caller_number : ""),
      ]
    : "";
  const stateText = agent.paused
    ? `Paused${agent.pause_reason ? `: ${agent.pause_reason}` : ""}`
    : STATE_TEXT[agent.state] || agent.state;
  return h(
    "tr",
    { dataset: { interface: agent.interface, state: agent.state } },
    h(
      "th",
      { scope: "row" },
      agent.name || agent.interface,
      h("span", { class: "muted block" }, agent.name ? agent.interface : ""),
    ),
    h("td", {}, agent.queues.join(", ")),
    h(
      "td",
      {},
      h("span", { class: "pill state", dataset: { state: agent.state } }, stateText),
      agent.phone === "offline" ? h("span", { class: "pill phone-offline" }, "phone offline") : "",
    ),
    h("td", {}, agent.since ? ticking(agent.since, { class: "timer since" }) : "–"),
    h("td", { class: "caller" }, caller),
    h("td", { class: "calls-today" }, String(agent.calls_today)),
    h("td", {}, h("div", { class: "row-actions" }, agentActions(agent))),
  );
}

function callRow(call, at) {
  return h(
    "tr",
    { dataset: { callId: call.call_id, state: call.state } },
    h("td", {}, call.direction),
    h(
      "td",
      { class: "caller" },
      h("span", { class: "caller-name" }, call.caller_name || ""),
      " ",
      h("span", { class: "muted caller-number" }, call.caller_number || ""),
    ),
    h("td", {}, call.called_number || ""),
    h("td", {}, call.queue || ""),
    h("td", {}, call.agent || ""),
    h("td", { class: "call-state" }, CALL_STATE_TEXT[call.state] || call.state),
    h("td", {}, ticking(at - call.duration_s)),
  );
}

function render(board) {
  if (!board || board.type !== "board") return;
  // A re-fetch and a push may cross: never go back in time.
  if (state.board && board.at < state.board.at) return;
  state.board = board;
  state.offset = board.at - Date.now() / 1000;
  const at = board.at;
  $("sl-threshold").textContent = `(service level: answered within ${board.service_level_s} s)`;
  fill(
    $("queues"),
    board.queues.length ? board.queues.map((q) => queueTile(q, at)) : h("p", {}, "No queues."),
  );
  fill(
    $("agents"),
    board.agents.length
      ? board.agents.map(agentRow)
      : h("tr", {}, h("td", { colspan: 7 }, "No agent is logged in to a queue.")),
  );
  fill(
    $("calls"),
    board.calls.length
      ? board.calls.map((c) => callRow(c, at))
      : h("tr", { class: "empty" }, h("td", { colspan: 7 }, "No calls right now.")),
  );
  show($("board"), true);
  document.documentElement.dataset.at = String(at);
}

// --- start -------------------------------------------------------------------------------

let refreshing = null;
function refresh() {
  if (refreshing) return refreshing;
  refreshing = get("/api/wallboard")
    .then((board) => {
      problem(null);
      render(board);
    })
    .catch((error) => {
      if (forbidden(error)) stop();
      else if (!(error instanceof ApiError && error.status === 401)) problem(error);
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

function stop() {
  state.stopped = true;
  show($("board"), false);
  if (socket) socket.stop();
  $("live").dataset.state = "offline";
  $("live").textContent = "No access";
}

async function main() {
  const user = await whoami();
  if (!user) return;
  await refresh();
  if (state.stopped) return;
  setInterval(tick, 1000);
  socket = new SupervisorSocket({
    onStatus: setLive,
    onOpen: () => {
      refresh();
    },
    onMessage: render,
  });
  socket.start();
  document.documentElement.dataset.ready = "true";
}

main();
