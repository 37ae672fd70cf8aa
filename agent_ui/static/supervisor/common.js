// What the supervisors' pages share: who is logged in, logging out, plain-words problems, the
// "supervisors only" answer to a 403, SVG built like dom.js builds HTML (text nodes only) and
// the charts' frame and horizontal bar chart.
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

/** Hide the navigation links whose data-roles do not include `role`. */
export function showNavigation(role) {
  for (const link of document.querySelectorAll("nav [data-roles]")) {
    link.hidden = !link.dataset.roles.split(" ").includes(role);
  }
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
  showNavigation(user.role);
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

/** The <svg class="chart …"> of a chart: its size, its title (tooltip and accessible name). */
export function chartSvg(title, className, width, height, ...children) {
  return svg(
    "svg",
    {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": title,
      class: className ? `chart ${className}` : "chart",
    },
    svg("title", {}, title),
    ...children,
  );
}

/**
 * A horizontal bar chart, one band (<g class="band" data-key>) a row: the row's label right
 * aligned in the first `size.labelW` pixels, then what `bars(row, top)` draws from x =
 * size.labelW on (size.barW for the bars, size.valueW after them for the value) within the
 * band that starts at y = top and is size.bandH high. No rows: the text `empty` instead.
 */
export function barChart({
  title,
  className = "",
  rows,
  size,
  bars,
  label = (row) => row.key,
  empty,
}) {
  const width = size.labelW + size.barW + size.valueW;
  const height = Math.max(rows.length, 1) * size.bandH + 8;
  const baseline = (top) => top + size.bandH / 2 + 4;
  return chartSvg(
    title,
    className,
    width,
    height,
    rows.length
      ? rows.map((row, i) => {
          const top = i * size.bandH + 4;
          const text = String(label(row));
          const shown = text.length > 22 ? `${text.slice(0, 21)}…` : text;
          return svg(
            "g",
            { class: "band", "data-key": row.key },
            svg(
              "text",
              { x: size.labelW - 6, y: baseline(top), "text-anchor": "end", class: "label" },
              shown,
            ),
            bars(row, top),
          );
        })
      : svg("text", { x: 8, y: baseline(4), class: "label" }, empty),
  );
}
