// What the supervisors' pages share: who is logged in, logging out, plain-words problems, the
// "supervisors only" answer to a 403, and SVG built like dom.js builds HTML (text nodes only).
import { ApiError, get, post } from "../agent/api.js";
import { $, show } from "../agent/dom.js";

export const SUPERVISOR_ROLES = ["supervisor", "admin"];

export function problem(error) {
  const el = $("problem");
  if (!error) {
    show(el, false);
    return;
  }
  el.textContent = error instanceof Error ? error.message : String(error);
  show(el, true);
}

/** True (and the "supervisors only" message shown) if `error` is the API's 403. */
export function forbidden(error) {
  if (!(error instanceof ApiError && error.status === 403)) return false;
  show($("forbidden"), true);
  document.documentElement.dataset.forbidden = "true";
  return true;
}

/** GET /api/me (a 401 goes to the login page): the user, or null. */
export async function whoami() {
  let me;
  try {
    me = await get("/api/me");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) problem(error);
    return null;
  }
  const user = me.user;
  $("whoami").textContent = `${user.username} · ${user.role}`;
  $("logout").addEventListener("click", async (event) => {
    event.currentTarget.disabled = true;
    try {
      await post("/api/logout", {});
    } catch {
      // gone anyway
    }
    location.assign("/login");
  });
  return user;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** svg("rect", {x: 1, y: 2}, "text", child) -> SVG element; values become text nodes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** 0.8123 -> "81%", null -> "–" */
export function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)}%`;
}
