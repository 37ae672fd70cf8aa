// JSON over fetch with the session cookie. Errors come back as ApiError with a message an
// agent can read; a 401 means the session is gone: back to the login page.

export class ApiError extends Error {
  constructor(status, id, message, details = {}) {
    super(message);
    this.status = status;
    this.id = id;
    this.details = details;
  }
}

const PLAIN = {
  pbx_unreachable: "The phone system is not connected right now. Try again shortly.",
  pbx_timeout: "The phone system did not answer in time. Try again.",
  pbx_refused: "The phone system refused that.",
  csrf_rejected: "The request was refused (it did not come from this page). Reload the page.",
  forbidden: "You are not allowed to do that.",
};

function plainMessage(status, error) {
  if (error.message && !(status >= 500 && PLAIN[error.id])) return error.message;
  return PLAIN[error.id] || `The server answered ${status}. Try again.`;
}

export function toLogin() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`/login?next=${next}`);
}

export async function api(method, path, body, { redirectOn401 = true } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check the connection.");
  }
  if (response.status === 401 && redirectOn401) {
    toLogin();
    throw new ApiError(401, "unauthenticated", "Your session has ended. Please log in again.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.id || "error",
      plainMessage(response.status, error),
      error.details || {},
    );
  }
  return data;
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body, options) => api("POST", path, body, options);
export const patch = (path, body, options) => api("PATCH", path, body, options);
