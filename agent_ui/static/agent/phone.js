// The browser phone: the agent's own PJSIP endpoint (PJSIP/w2001) registered over our /sip
// proxy with JsSIP, media browser <-> Asterisk over DTLS-SRTP.
//
// - GET /api/agent/phone says which phone this is: "webrtc" (with the SIP credentials),
//   "simulated" (the demo's fake PBX: no media) or "desk" (a desk phone the panel controls).
// - JsSIP (bundled at install time into vendor/jssip.js) is loaded only for a webrtc phone;
//   a missing bundle is an error in words, never a broken panel.
// - One active phone per agent across tabs (BroadcastChannel): a second tab says so and
//   offers to take over; the first one then stops its phone.
// - ICE: JsSIP waits for ICE gathering to complete, which never happens without a usable
//   address (Chromium then gathers no candidate at all). We go on shortly after the first
//   candidate, and give up after ice_timeout_ms with a clear message.
import { get, patch } from "./api.js";
import { $, fill, show } from "./dom.js";

const AFTER_FIRST_CANDIDATE_MS = 250;
const EXPECT_DIAL_MS = 20000;
const STATS_POLL_MS = 10;
const ICE_FAILED = "The call failed: no network path for the audio to the phone system (ICE). Check the network or VPN.";

const phone = {
  config: null,
  JsSIP: null,
  ua: null,
  session: null,
  incoming: false,
  held: false,
  muted: false,
  expectDialUntil: 0,
  localStream: null,
  meter: null,
  ring: null,
  channel: null,
  tabId: Math.random().toString(36).slice(2),
  active: false,
  lastError: "",
  ice: { candidates: 0, connected: false },
  // Epoch milliseconds of the last call's milestones (the benchmark reads them).
  stats: { incomingAt: null, answeredAt: null, firstAudioAt: null },
};

function epochMs() {
  return performance.timeOrigin + performance.now();
}

// --- words on the page ------------------------------------------------------------------

function setState(stateName, words) {
  const el = $("phone-state");
  el.dataset.state = stateName;
  el.textContent = `Phone: ${words}`;
  document.documentElement.dataset.phone = stateName;
}

function setError(message) {
  phone.lastError = message || "";
  const el = $("phone-error");
  el.textContent = phone.lastError;
  show(el, Boolean(message));
}

function renderCallControls() {
  const s = phone.session;
  const ringing = Boolean(s) && phone.incoming && !s.isEstablished();
  show($("phone-ringing"), ringing);
  show($("phone-incall"), Boolean(s) && s.isEstablished());
  $("phone-mute").textContent = phone.muted ? "Unmute" : "Mute";
  $("phone-mute").setAttribute("aria-pressed", String(phone.muted));
  $("phone-hold").textContent = phone.held ? "Resume" : "Hold";
  $("phone-hold").setAttribute("aria-pressed", String(phone.held));
  if (ringing) setState("ringing", "ringing");
  else if (s && s.isEstablished()) {
    // The media does not go through the SIP link: a call outlives a dropped WebSocket, and
    // JsSIP's in-dialog requests (hangup, hold) use the new socket once it is back.
    const linked = phone.ua && phone.ua.isRegistered();
    const words = phone.held ? "on hold" : "in a call";
    setState("in-call", linked ? words : `${words} (phone link lost, reconnecting…)`);
  }
}

function setLinkState(stateName, words) {
  // While a call is up its state stays on the page; the link's state shows inside it.
  if (phone.session && phone.session.isEstablished()) renderCallControls();
  else setState(stateName, words);
}

function micError(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "The microphone is blocked: allow it for this site in the browser, then answer again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No microphone found: plug in a headset (or pick another microphone).";
  }
  if (name === "NotReadableError") {
    return "The microphone is in use by another program, or it failed: close that program.";
  }
  return `The microphone could not be opened (${(error && error.message) || error}).`;
}

// --- devices: microphone, speaker, level meter -------------------------------------------

async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, id] of [
    ["audioinput", "phone-mic"],
    ["audiooutput", "phone-speaker"],
  ]) {
    const select = $(id);
    const chosen = select.value || localStorage.getItem(`cc-${id}`) || "";
    const options = devices
      .filter((d) => d.kind === kind)
      .map((d, n) => {
        const option = document.createElement("option");
        option.value = d.deviceId;
        option.textContent = d.label || `${kind === "audioinput" ? "Microphone" : "Speaker"} ${n + 1}`;
        return option;
      });
    fill(select, ...options);
    if (options.some((o) => o.value === chosen)) select.value = chosen;
  }
  const audio = $("phone-audio");
  show($("phone-speaker-row"), typeof audio.setSinkId === "function");
}

async function openMic() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw Object.assign(new Error("this browser has no microphone access"), { name: "NotFoundError" });
  }
  const deviceId = $("phone-mic").value;
  const processing = phone.config.audio_processing !== false;
  const audio = { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing };
  if (deviceId) audio.deviceId = { exact: deviceId };
  const stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
  phone.localStream = stream;
  startMeter(stream);
  listDevices().catch(() => {});
  return stream;
}

function startMeter(stream) {
  stopMeter();
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  const context = new Context();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  const meter = $("phone-level");
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    meter.value = Math.min(1, Math.sqrt(sum / data.length) * 4);
  }, 100);
  phone.meter = { context, timer };
}

function stopMeter() {
  if (!phone.meter) return;
  clearInterval(phone.meter.timer);
  phone.meter.context.close().catch(() => {});
  phone.meter = null;
  $("phone-level").value = 0;
}

function stopMic() {
  stopMeter();
  if (phone.localStream) for (const track of phone.localStream.getTracks()) track.stop();
  phone.localStream = null;
}

async function applySpeaker() {
  const audio = $("phone-audio");
  const id = $("phone-speaker").value;
  if (typeof audio.setSinkId === "function" && id) {
    try {
      await audio.setSinkId(id);
    } catch (error) {
      setError(`That speaker cannot be used (${error.message}).`);
    }
  }
}

// --- ringtone and desktop notification ----------------------------------------------------

function startRinging(caller) {
  stopRinging();
  const Context = window.AudioContext || window.webkitAudioContext;
  let context = null;
  let timer = null;
  if (Context) {
    context = new Context();
    const beep = () => {
      for (const [freq, start] of [
        [440, 0],
        [480, 0],
      ]) {
        const osc = context.createOscillator();
        const gain = context.createGain();
        osc.frequency.value = freq;
        gain.gain.value = 0.08;
        osc.connect(gain).connect(context.destination);
        osc.start(context.currentTime + start);
        osc.stop(context.currentTime + start + 1.2);
      }
    };
    beep();
    timer = setInterval(beep, 3000);
  }
  let note = null;
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    note = new Notification("Incoming call", { body: caller, tag: "cc-phone-ring" });
    note.onclick = () => window.focus();
  }
  phone.ring = { context, timer, note };
}

function stopRinging() {
  if (!phone.ring) return;
  clearInterval(phone.ring.timer);
  if (phone.ring.context) phone.ring.context.close().catch(() => {});
  if (phone.ring.note) phone.ring.note.close();
  phone.ring = null;
}

// --- calls --------------------------------------------------------------------------------

function callerOf(request) {
  const from = request && request.from;
  if (!from) return "unknown caller";
  const name = from.display_name || "";
  const number = (from.uri && from.uri.user) || "";
  return name && name !== number ? `${name} (${number})` : number;
}

function isCampaignCall(request) {
  if (!request) return false;
  if (request.hasHeader("X-CC-Campaign")) return true;
  const info = request.getHeader("Call-Info") || "";
  return /answer-after\s*=\s*0/i.test(info);
}

function guardIce(session) {
  // JsSIP sends its SDP only when gathering completes: go on shortly after the first
  // candidate. The cut-offs run from the moment gathering starts (the answer click for a
  // call that rings us, the INVITE for one we place), never from the first ring: a call may
  // ring for as long as the agent likes.
  let scheduled = false;
  session.on("icecandidate", (event) => {
    phone.ice.candidates += 1;
    if (!scheduled) {
      scheduled = true;
      setTimeout(() => event.ready(), AFTER_FIRST_CANDIDATE_MS);
    }
  });
}

function failCall(session, message, reason) {
  if (phone.session !== session || session.isEnded()) return;
  setError(message);
  session.terminate({ status_code: 500, reason_phrase: reason });
}

function armIce(session) {
  // No candidate by ice_timeout_ms: this computer has no usable address (Chromium then
  // gathers none, and gathering never completes). Candidates but no audio path by twice
  // that: ICE found no route to the phone system (its checks stay "new" or "checking").
  phone.ice = { candidates: 0, connected: false };
  const timeout = phone.config.ice_timeout_ms;
  const noCandidate = setTimeout(() => {
    if (phone.ice.candidates === 0) {
      failCall(
        session,
        "The call failed: this computer found no network address for the audio (no ICE candidates). " +
          "Check the network or VPN, then try again.",
        "No ICE candidates",
      );
    }
  }, timeout);
  const noPath = setTimeout(() => {
    if (!phone.ice.connected) {
      failCall(session, ICE_FAILED, "ICE failed");
    }
  }, 2 * timeout);
  const clear = () => {
    clearTimeout(noCandidate);
    clearTimeout(noPath);
  };
  session.on("ended", clear);
  session.on("failed", clear);
}

function watchMedia(session) {
  session.on("peerconnection", ({ peerconnection }) => attachPeer(session, peerconnection));
  if (session.connection) attachPeer(session, session.connection);
}

function attachPeer(session, pc) {
  pc.addEventListener("track", (event) => {
    const audio = $("phone-audio");
    audio.srcObject = event.streams[0] || new MediaStream([event.track]);
    audio.play().catch(() => {});
  });
  pc.addEventListener("iceconnectionstatechange", () => {
    const state = pc.iceConnectionState;
    if (state === "connected" || state === "completed") {
      phone.ice.connected = true;
      watchFirstAudio(session, pc);
    } else if (state === "failed") {
      failCall(session, ICE_FAILED, "ICE failed");
    }
  });
}

function watchFirstAudio(session, pc) {
  // The first RTP packet received (getStats inbound-rtp): when the agent hears the caller.
  if (phone.stats.firstAudioAt !== null) return;
  const poll = async () => {
    if (phone.session !== session || session.isEnded() || phone.stats.firstAudioAt !== null) return;
    const report = await pc.getStats().catch(() => null);
    for (const item of report ? report.values() : []) {
      if (item.type === "inbound-rtp" && item.kind === "audio" && item.packetsReceived > 0) {
        phone.stats.firstAudioAt = epochMs();
        return;
      }
    }
    setTimeout(poll, STATS_POLL_MS);
  };
  poll();
}

function bindSession(session, request) {
  phone.session = session;
  phone.held = false;
  phone.muted = false;
  phone.stats = { incomingAt: request ? epochMs() : null, answeredAt: null, firstAudioAt: null };
  watchMedia(session);
  guardIce(session);
  if (!request) armIce(session);
  session.on("accepted", () => stopRinging());
  session.on("confirmed", () => {
    stopRinging();
    renderCallControls();
  });
  session.on("hold", () => {
    phone.held = true;
    renderCallControls();
  });
  session.on("unhold", () => {
    phone.held = false;
    renderCallControls();
  });
  const finish = (event) => {
    stopRinging();
    stopMic();
    if (phone.session === session) phone.session = null;
    const cause = event && event.cause;
    if (event && event.originator !== "local" && cause && cause !== "Terminated" && cause !== "Canceled") {
      if (!phone.lastError) setError(`The call ended: ${cause}.`);
    }
    renderCallControls();
    setReady();
  };
  session.on("ended", finish);
  session.on("failed", finish);
  renderCallControls();
  const auto =
    (isCampaignCall(request) && phone.config.auto_answer_campaigns) ||
    Date.now() < phone.expectDialUntil ||
    phone.config.auto_answer;
  if (auto) {
    phone.expectDialUntil = 0;
    answer();
  } else {
    startRinging(callerOf(request));
  }
}

async function answer() {
  const session = phone.session;
  if (!session || session.isEstablished()) return;
  phone.stats.answeredAt = epochMs();
  setError("");
  stopRinging();
  let stream;
  try {
    stream = await openMic();
  } catch (error) {
    setError(micError(error));
    session.terminate({ status_code: 480, reason_phrase: "Microphone unavailable" });
    return;
  }
  if (session.isEnded()) {
    stopMic();
    return;
  }
  await applySpeaker();
  armIce(session);
  session.answer({ mediaStream: stream, pcConfig: { iceServers: [] }, rtcOfferConstraints: {} });
}

function decline() {
  if (phone.session) phone.session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
}

function hangup() {
  if (phone.session) phone.session.terminate();
}

function toggleMute() {
  const s = phone.session;
  if (!s) return;
  if (phone.muted) s.unmute({ audio: true });
  else s.mute({ audio: true });
  phone.muted = !phone.muted;
  renderCallControls();
}

function toggleHold() {
  const s = phone.session;
  if (!s) return;
  if (phone.held) s.unhold();
  else s.hold();
}

function sendDigit(digit) {
  const s = phone.session;
  if (s && s.isEstablished()) s.sendDTMF(digit, { transportType: "RFC2833", duration: 120 });
}

// --- registration -------------------------------------------------------------------------

function setReady() {
  if (phone.session) {
    renderCallControls();
    return;
  }
  if (phone.ua && phone.ua.isRegistered()) setState("ready", "ready");
}

function startUa() {
  const { JsSIP, config } = phone;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new JsSIP.WebSocketInterface(`${scheme}//${location.host}${config.ws_path}`);
  const ua = new JsSIP.UA({
    sockets: [socket],
    uri: config.uri,
    authorization_user: config.username,
    password: config.password,
    register: true,
    register_expires: 120,
    session_timers: false,
    connection_recovery_min_interval: 1,
    connection_recovery_max_interval: 15,
    user_agent: "callcenter-panel",
  });
  ua.on("connecting", () => setLinkState("connecting", "connecting…"));
  ua.on("connected", () => setLinkState("registering", "registering…"));
  ua.on("disconnected", () => {
    if (phone.active) setLinkState("unregistered", "not registered: the link to the server dropped, reconnecting…");
  });
  ua.on("registered", () => {
    setError("");
    setReady();
  });
  ua.on("unregistered", () => {
    if (phone.active) setLinkState("unregistered", "not registered");
  });
  ua.on("registrationFailed", (event) => {
    const code = event.response ? `${event.response.status_code} ${event.response.reason_phrase}` : event.cause;
    setState("unregistered", `not registered: ${code}`);
  });
  ua.on("newRTCSession", ({ originator, session, request }) => {
    if (originator !== "remote") {
      phone.incoming = false;
      bindSession(session, null);
      return;
    }
    if (phone.session) {
      session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    phone.incoming = true;
    bindSession(session, request);
  });
  phone.ua = ua;
  ua.start();
}

function stopUa() {
  if (phone.session) phone.session.terminate();
  if (phone.ua) phone.ua.stop();
  phone.ua = null;
}

// --- one phone per agent across tabs ------------------------------------------------------

function activate() {
  phone.active = true;
  show($("phone-takeover"), false);
  if (phone.channel) phone.channel.postMessage({ type: "active", id: phone.tabId });
  startUa();
}

function standby(words) {
  phone.active = false;
  stopUa();
  setState("standby", words);
  show($("phone-takeover"), true);
}

function joinTabs(username) {
  if (!("BroadcastChannel" in window)) {
    activate();
    return;
  }
  const channel = new BroadcastChannel(`cc-phone-${username}`);
  phone.channel = channel;
  let other = false;
  channel.onmessage = ({ data }) => {
    if (!data || data.id === phone.tabId) return;
    if (data.type === "hello" && phone.active) channel.postMessage({ type: "active", id: phone.tabId });
    else if (data.type === "active" && !phone.active) other = true;
    else if (data.type === "active" && phone.active) standby("active in another tab");
    else if (data.type === "takeover" && phone.active) standby("moved to another tab");
    else if (data.type === "gone" && !phone.active && phone.config) activate();
  };
  window.addEventListener("pagehide", () => {
    if (phone.active) channel.postMessage({ type: "gone", id: phone.tabId });
  });
  channel.postMessage({ type: "hello", id: phone.tabId });
  setTimeout(() => {
    if (other) standby("active in another tab");
    else activate();
  }, 300);
}

function takeOver() {
  if (phone.channel) phone.channel.postMessage({ type: "takeover", id: phone.tabId });
  activate();
}

// --- start --------------------------------------------------------------------------------

function wire() {
  $("phone-answer").addEventListener("click", () => answer());
  $("phone-decline").addEventListener("click", decline);
  $("phone-hangup").addEventListener("click", hangup);
  $("phone-mute").addEventListener("click", toggleMute);
  $("phone-hold").addEventListener("click", toggleHold);
  $("phone-takeover").addEventListener("click", takeOver);
  for (const key of document.querySelectorAll("#phone-keypad button[data-digit]")) {
    key.addEventListener("click", () => sendDigit(key.dataset.digit));
  }
  $("phone-mic").addEventListener("change", (event) => localStorage.setItem("cc-phone-mic", event.target.value));
  $("phone-speaker").addEventListener("change", (event) => {
    localStorage.setItem("cc-phone-speaker", event.target.value);
    applySpeaker();
  });
  $("phone-auto").addEventListener("change", async (event) => {
    const wanted = event.target.checked;
    try {
      await patch("/api/agent/phone", { auto_answer: wanted });
      phone.config.auto_answer = wanted;
    } catch (error) {
      event.target.checked = !wanted;
      setError(error.message);
    }
  });
  // A first click anywhere may grant desktop notifications for incoming calls.
  document.addEventListener(
    "click",
    () => {
      if ("Notification" in window && Notification.permission === "default") {
        Notification.requestPermission().catch(() => {});
      }
    },
    { once: true },
  );
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener("devicechange", () => listDevices().catch(() => {}));
  }
}

/** Start the panel's phone for the logged-in user (``me`` from /api/me). */
export async function startPhone(me) {
  const box = $("phone");
  let config;
  try {
    config = await get("/api/agent/phone");
  } catch (error) {
    setState("error", "unknown");
    setError(error.message);
    return;
  }
  if (config.mode === "simulated") {
    show(box, true);
    setState("simulated", "simulated (demo PBX: no audio; calls are answered by the demo)");
    return;
  }
  if (config.mode !== "webrtc") {
    setState("desk", config.extension ? `desk phone ${config.extension}` : "none");
    if (config.reason) setError(config.reason);
    return;
  }
  show(box, true);
  show($("phone-controls"), true);
  wire();
  $("phone-auto").checked = Boolean(config.auto_answer);
  phone.config = config;
  setState("connecting", "loading…");
  try {
    const module = await import("./vendor/jssip.js");
    phone.JsSIP = module.default;
  } catch {
    setState("error", "not installed");
    setError("The browser phone is not installed on this server (run the install step: make).");
    return;
  }
  listDevices().catch(() => {});
  joinTabs(me.username);
  // A closed tab hangs up its call (BYE) and unregisters while the socket is still open:
  // the caller is not left on a dead line until Asterisk's RTP timeout.
  window.addEventListener("pagehide", () => {
    if (phone.active) stopUa();
  });
  window.ccPhone = {
    state: () => document.documentElement.dataset.phone,
    inboundAudio: inboundAudio,
    timings: () => ({ ...phone.stats }),
  };
}

/** Click-to-call rings my phone first: answer it without a click for a little while. */
export function expectDial() {
  phone.expectDialUntil = Date.now() + EXPECT_DIAL_MS;
}

/** What the phone receives (for the agent's own checks and the tests): RTP audio stats. */
async function inboundAudio() {
  const pc = phone.session && phone.session.connection;
  if (!pc) return null;
  const report = await pc.getStats();
  for (const item of report.values()) {
    if (item.type === "inbound-rtp" && item.kind === "audio") {
      return {
        packets: item.packetsReceived,
        energy: item.totalAudioEnergy,
        level: item.audioLevel,
      };
    }
  }
  return null;
}
