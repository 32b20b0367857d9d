// maze.js: the browser client of maze sockets and channels. ES module, no dependencies.
//
//   import { Socket } from "/maze.js";
//   const socket = new Socket("/chat");
//   socket.connect();
//   const channel = socket.channel("chat_room:123");
//   channel.on("message_new", (payload) => console.log(payload.message));
//   channel.join().then(() => channel.push("message_new", { message: "hi" }));
//
// Frames are the maze JSON protocol (Amber's shapes): {"event","topic","subject","payload","ref"}.

const SERVER_SILENCE_MS = 100_000; // the server pings every 30 s; reconnect after 100 s of silence
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;

/** A connection to one maze socket endpoint, reconnecting by itself. */
export class Socket {
  /**
   * @param {string} path  endpoint path ("/chat") or a full ws:// URL
   * @param {{backoff?: (attempt: number) => number}} [options]
   */
  constructor(path, options = {}) {
    this.path = path;
    this.backoff = options.backoff || defaultBackoff;
    this.channels = new Map();
    this.pendingReplies = new Map();
    this.nextRef = 1;
    this.ws = null;
    this.wanted = false;
    this.attempts = 0;
    this.lastHeard = 0;
    this.watchdog = null;
    this.reconnectTimer = null;
    this.hooks = { open: [], close: [], error: [] };
  }

  /** The WebSocket URL, relative paths resolved against the page's host. */
  url() {
    if (/^wss?:\/\//.test(this.path)) return this.path;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${this.path}`;
  }

  /** Opens the connection; resolves once it is open. */
  connect() {
    this.wanted = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return this.opened;
    clearTimeout(this.reconnectTimer);
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.opened = new Promise((resolve) => {
      ws.onopen = () => {
        this.attempts = 0;
        this.lastHeard = Date.now();
        this.startWatchdog();
        this.hooks.open.forEach((hook) => hook());
        for (const channel of this.channels.values()) channel.rejoin();
        resolve(this);
      };
    });
    ws.onmessage = (event) => this.receive(event.data);
    ws.onerror = (error) => this.hooks.error.forEach((hook) => hook(error));
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopWatchdog();
      for (const channel of this.channels.values()) channel.connectionLost();
      this.failPendingReplies("disconnected");
      this.hooks.close.forEach((hook) => hook(event));
      if (this.wanted) this.scheduleReconnect();
    };
    return this.opened;
  }

  /** Closes the connection for good (until connect() is called again). */
  disconnect() {
    this.wanted = false;
    clearTimeout(this.reconnectTimer);
    if (this.ws) this.ws.close(1000);
  }

  /** The channel for `topic` (one per topic per socket). */
  channel(topic) {
    if (!this.channels.has(topic)) this.channels.set(topic, new Channel(topic, this));
    return this.channels.get(topic);
  }

  onOpen(hook) { this.hooks.open.push(hook); }
  onClose(hook) { this.hooks.close.push(hook); }
  onError(hook) { this.hooks.error.push(hook); }

  isConnected() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a frame; with `expectReply`, resolves with the server's reply payload. */
  send(frame, expectReply = false) {
    if (!this.isConnected()) return Promise.reject(new Error("not connected"));
    if (!expectReply) {
      this.ws.send(JSON.stringify(frame));
      return Promise.resolve();
    }
    const ref = String(this.nextRef++);
    const reply = new Promise((resolve, reject) => this.pendingReplies.set(ref, { resolve, reject }));
    this.ws.send(JSON.stringify({ ...frame, ref }));
    return reply;
  }

  receive(data) {
    this.lastHeard = Date.now();
    if (data === "ping") return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.event === "reply") {
      const pending = frame.ref != null && this.pendingReplies.get(String(frame.ref));
      if (pending) {
        this.pendingReplies.delete(String(frame.ref));
        pending.resolve(frame.payload);
      } else if (frame.payload && frame.payload.status === "error") {
        const channel = this.channels.get(frame.topic);
        if (channel) channel.refused(frame.payload.response);
      }
      return;
    }
    const channel = this.channels.get(frame.topic);
    if (channel) channel.dispatch(frame.subject, frame.payload);
  }

  failPendingReplies(reason) {
    for (const pending of this.pendingReplies.values()) pending.reject(new Error(reason));
    this.pendingReplies.clear();
  }

  scheduleReconnect() {
    const delay = this.backoff(this.attempts++);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  startWatchdog() {
    this.stopWatchdog();
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > SERVER_SILENCE_MS && this.ws) this.ws.close(4000, "server silent");
    }, 5_000);
  }

  stopWatchdog() {
    clearInterval(this.watchdog);
  }
}

/** Exponential backoff with full jitter, capped. */
function defaultBackoff(attempt) {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** One topic on a socket: join it, push to it, listen to it. */
export class Channel {
  constructor(topic, socket) {
    this.topic = topic;
    this.socket = socket;
    this.state = "closed"; // closed | joining | joined | errored
    this.joinPayload = {};
    this.handlers = new Map();
    this.buffer = [];
  }

  /** Joins the topic; resolves with the server's response, rejects with its reason. */
  join(payload = {}) {
    this.joinPayload = payload;
    this.state = "joining";
    return this.socket.opened ? this.socket.opened.then(() => this.sendJoin()) : Promise.reject(new Error("connect() the socket first"));
  }

  sendJoin() {
    const frame = { event: "join", topic: this.topic };
    if (this.joinPayload && Object.keys(this.joinPayload).length) frame.payload = this.joinPayload;
    return this.socket.send(frame, true).then((reply) => {
      if (reply.status !== "ok") {
        this.state = "errored";
        throw new Error(reply.response && reply.response.reason);
      }
      this.state = "joined";
      const buffered = this.buffer.splice(0);
      buffered.forEach(([subject, payload]) => this.push(subject, payload));
      return reply.response;
    });
  }

  /** After a reconnect, joins again the topics that were joined. */
  rejoin() {
    if (this.state === "joined" || this.state === "joining") {
      this.state = "joining";
      this.sendJoin().catch(() => {});
    }
  }

  connectionLost() {
    if (this.state === "joined") this.state = "joining";
  }

  refused(response) {
    this.dispatch("maze_error", response);
  }

  /** Leaves the topic. */
  leave() {
    this.state = "closed";
    if (!this.socket.isConnected()) return Promise.resolve();
    return this.socket.send({ event: "leave", topic: this.topic }, true);
  }

  /** Sends `subject` with `payload`; held back until the join completes. */
  push(subject, payload = {}) {
    if (this.state !== "joined") {
      this.buffer.push([subject, payload]);
      return Promise.resolve();
    }
    return this.socket.send({ event: "message", topic: this.topic, subject, payload }, true);
  }

  /** Calls `callback(payload)` for every message with `subject`. */
  on(subject, callback) {
    if (!this.handlers.has(subject)) this.handlers.set(subject, []);
    this.handlers.get(subject).push(callback);
    return this;
  }

  dispatch(subject, payload) {
    (this.handlers.get(subject) || []).forEach((callback) => callback(payload));
  }
}
