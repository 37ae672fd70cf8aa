// The login form: JSON to /api/login (the server checks the Origin header; no token needed),
// then on to the page the user came from (our own paths only) or the agent panel.
import { ApiError, get, post } from "./api.js";
import { $, show } from "./dom.js";

function target() {
  // Parsed as the browser will parse it (tabs and newlines are dropped, "\\" is "/"), so
  // "/\t/evil.example" cannot become "//evil.example": only same-origin paths are followed.
  const next = new URLSearchParams(location.search).get("next") || "";
  try {
    const url = new URL(next, location.origin);
    if (next.startsWith("/") && url.origin === location.origin) {
      return url.pathname + url.search + url.hash;
    }
  } catch {
    // not a URL at all
  }
  return "/agent";
}

async function alreadyIn() {
  try {
    await get("/api/me", { redirectOn401: false });
    location.replace(target());
  } catch {
    // not logged in: stay here
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const problem = $("login-error");
  show(problem, false);
  const button = event.submitter || $("login-form").querySelector("button");
  button.disabled = true;
  try {
    await post(
      "/api/login",
      { username: $("username").value, password: $("password").value },
      { redirectOn401: false },
    );
    location.replace(target());
  } catch (error) {
    problem.textContent =
      error instanceof ApiError && error.status === 401
        ? "Unknown user or wrong password."
        : error.message;
    show(problem, true);
    $("password").select();
  } finally {
    button.disabled = false;
  }
});

alreadyIn();
