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

const CHANNELS = {
  email: "E-mail",
  meeting: "Meeting",
  letter: "Letter",
  chat: "Chat",
  social: "Social message",
};

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
    case "interaction": {
      const way = item.direction === "inbound" ? "from the customer" : "to the customer";
      const text = [item.subject, item.body].filter(Boolean).join(" — ");
      return `${CHANNELS[item.channel] || item.channel} ${way} (logged by ${item.author}): ${text}`;
    }
    case "campaign":
      return `Campaign “${item.campaign}”: ${String(item.last_outcome || item.state).replaceAll("_", " ")}, ${item.tries} tries`;
    default:
      return event.type;
  }
}

const SPEAKERS = { customer: "Customer", agent: "Agent", unknown: "Speaker" };
const PENDING = {
  queued: "Transcription queued…",
  running: "Transcribing…",
  failed: "Transcription failed",
};

/** A player for `src` and the transcript under it; clicking a segment seeks to its start. */
function transcriptBlock(src, transcription) {
  const audio = src ? h("audio", { class: "recording", controls: true, preload: "none", src }) : null;
  const transcript = transcription && transcription.transcript;
  const parts = [];
  if (transcript) {
    if (transcript.summary) parts.push(h("p", { class: "summary" }, transcript.summary));
    if (transcript.keywords && transcript.keywords.length) {
      parts.push(
        h("ul", { class: "keywords" }, transcript.keywords.map((word) => h("li", {}, word))),
      );
    }
  }
  if (audio) parts.push(audio);
  if (transcript) {
    parts.push(
      h(
        "ol",
        { class: "segments" },
        transcript.segments.map((segment) =>
          h(
            "li",
            {
              class: "segment",
              dataset: { speaker: segment.speaker, start: String(segment.start_s) },
              title: `${duration(segment.start_s)} – ${duration(segment.end_s)}`,
              tabindex: "0",
              onclick: () => seek(audio, segment.start_s),
              onkeydown: (event) => {
                if (event.key === "Enter") seek(audio, segment.start_s);
              },
            },
            h("span", { class: "speaker" }, SPEAKERS[segment.speaker] || segment.speaker),
            h("span", { class: "at" }, duration(segment.start_s)),
            h("span", { class: "text" }, segment.text),
          ),
        ),
      ),
    );
  } else if (transcription && PENDING[transcription.state]) {
    parts.push(h("p", { class: "muted transcription-state" }, PENDING[transcription.state]));
  }
  return parts.length ? h("div", { class: "transcript" }, parts) : null;
}

function seek(audio, seconds) {
  if (!audio) return;
  audio.preload = "auto";
  audio.currentTime = seconds;
  audio.play().catch(() => {});
}

function details(event) {
  const item = event[event.type] || {};
  if (event.type === "call" && (item.transcription || item.recording)) {
    const src = item.recording ? `/api/calls/${encodeURIComponent(item.call_id)}/recording` : null;
    return transcriptBlock(src, item.transcription);
  }
  if (event.type === "note" && item.voice_note) {
    return transcriptBlock(`/api/voice-notes/${encodeURIComponent(item.id)}/audio`, item.voice_note);
  }
  return null;
}

export function renderTimeline(root, events) {
  if (!events || events.length === 0) {
    fill(root, h("li", { class: "muted" }, "Nothing yet."));
    return;
  }
  fill(
    root,
    events.map((event) =>
      h(
        "li",
        {
          dataset:
            event.note && event.note.voice_note
              ? { type: event.type, voice: "1" }
              : { type: event.type },
        },
        h("span", { class: "when" }, when(event.at)),
        summary(event),
        details(event),
      ),
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

function churnReason(reason) {
  const name = String(reason.reason || reason.factor || "reason").replaceAll("_", " ");
  const weight = Number(reason.weight);
  let detail = reason.detail;
  if (!detail && reason.points !== undefined) detail = `${reason.points} points`;
  return h(
    "li",
    { dataset: { reason: String(reason.reason || reason.factor || "") } },
    h("span", { class: "reason" }, name),
    Number.isFinite(weight) ? h("span", { class: "weight" }, ` weight ${weight}`) : null,
    detail ? h("span", { class: "detail" }, ` · ${detail}`) : null,
  );
}

/**
 * A campaign call's context into `root`: the campaign's name, the customer's churn risk with
 * its reasons, and the script the agent reads. Returns false (and empties `root`) if there is
 * neither a campaign nor a churn score.
 */
export function renderCampaign(root, campaign, churn) {
  if (!campaign && !churn) {
    fill(root);
    return false;
  }
  const score = churn && Number(churn.score);
  fill(
    root,
    campaign
      ? h(
          "p",
          { class: "campaign-name" },
          h("span", { class: "label" }, "Campaign"),
          " ",
          h("strong", { class: "name" }, campaign.name || `Campaign ${campaign.id}`),
        )
      : null,
    churn
      ? h(
          "div",
          { class: "churn" },
          h(
            "p",
            {},
            h("span", { class: "label" }, "Churn risk"),
            " ",
            h("strong", { class: "score" }, Number.isFinite(score) ? score.toFixed(1) : "–"),
          ),
          (churn.reasons || []).length
            ? h("ul", { class: "churn-reasons" }, churn.reasons.map(churnReason))
            : null,
        )
      : null,
    campaign && campaign.script
      ? h(
          "div",
          { class: "script" },
          h("p", { class: "label" }, "Script"),
          h("p", { class: "script-text" }, campaign.script),
        )
      : null,
  );
  return true;
}
