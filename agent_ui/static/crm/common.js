// What the CRM pages share: who is logged in (and what their role may see), plain-words
// notices, the CSV download of a POST answer, and small formatters. Everything from the
// server is put into the page as text (dom.js): names, notes and subjects are anybody's text.
import { ApiError, get } from "../agent/api.js";
import { $, show } from "../agent/dom.js";
import { forbidden, problem, whoami } from "../supervisor/common.js";

export { forbidden, problem };

export const SUPERVISORS = ["supervisor", "admin"];

/** Log in check, the navigation and the role's controls; resolves to the user (or null). */
export async function start() {
  const user = await whoami();
  if (!user) return null;
  const supervisor = SUPERVISORS.includes(user.role);
  for (const el of document.querySelectorAll(".supervisor-only")) show(el, supervisor);
  for (const el of document.querySelectorAll(".admin-only")) show(el, user.role === "admin");
  return user;
}

export function ready() {
  document.documentElement.dataset.ready = "true";
}

let noticeTimer = null;
export function notice(message, ms = 6000) {
  const el = $("notice");
  el.textContent = message;
  show(el, true);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(el, false), ms);
}

/** Report an API error in words (a 403 shows the "your role may not" line). */
export function failed(error) {
  if (forbidden(error)) return;
  problem(error);
}

/** POST `body` as JSON and save the CSV answer as `filename`. */
export async function downloadCsv(path, body, filename) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "text/csv" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try {
      message = (await response.json()).error.message || message;
    } catch {
      // not JSON
    }
    throw new ApiError(response.status, "error", message);
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/** Age in words: 90 s -> "2 min", 3 h, 5 d. */
export function age(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, (now - t) / 1000);
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function words(code) {
  return String(code ?? "").replaceAll("_", " ");
}

/** A customer's display name (stubs and nameless records by their first number). */
export function displayName(customer) {
  if (customer.name) return customer.name;
  if (customer.company) return customer.company;
  const phone = (customer.phones || [])[0];
  return phone ? phone.number : `Customer ${customer.id}`;
}

export { get };
