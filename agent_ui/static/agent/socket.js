// The live socket of the panel: /ws/agent, reconnected with exponential backoff and jitter.
// onOpen runs after every (re)connect: the page re-fetches its state over HTTP then, since
// anything may have happened while it was away (the server only pushes changes).

export class AgentSocket {
  constructor({ onMessage, onOpen, onStatus, minDelayMs = 500, maxDelayMs = 15000 }) {
    this.onMessage = onMessage;
    this.onOpen = onOpen;
    this.onStatus = onStatus;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.failures = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/agent`;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  connect() {
    clearTimeout(this.timer);
    this.onStatus("connecting");
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.failures = 0;
      this.onStatus("live");
      this.onOpen();
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message.type === "string") this.onMessage(message);
    });
    socket.addEventListener("close", () => {
      if (this.socket === socket) this.socket = null;
      if (!this.stopped) this.retry();
    });
  }

  retry() {
    this.onStatus("offline");
    const ceiling = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.failures);
    this.failures += 1;
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
