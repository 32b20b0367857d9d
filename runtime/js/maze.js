// maze.js: the browser client of maze sockets and channels. ES module, no dependencies.
// Types: /maze.d.ts.
//
//   import { Socket } from "/maze.js";
//   const socket = new Socket("/chat");
//   socket.connect();
//   const channel = socket.channel("chat_room:123");
//   channel.on("message_new", (payload) => console.log(payload.message));
//   channel.join().receive("ok", () => channel.push("message_new", { message: "hi" }));
//
// Frames are the maze JSON protocol (Amber's shapes): {"event","topic","subject","payload","ref"}.

const DEFAULTS = {
  // The server pings every 30 s; silence this long means the connection is dead.
  silenceMs: 100_000,
  // How long a join, push or leave waits for its reply.
  timeoutMs: 10_000,
  // Reconnecting after a drop: the first try within 50–100 ms, then each
  // delay 1.5x the one before (a 2 s outage is over by the 7th try), up to 30 s.
  backoffBaseMs: 100,
  backoffCapMs: 30_000,
  // When the WebSocket has not opened this long after connect(), or failed
  // before opening (a proxy that drops upgrades), use long-poll instead, and
  // stay on it for the tab's session. null: never fall back.
  fallbackMs: 2_500,
  // "websocket" (with the fallback above) or "longpoll" (from the start).
  transport: "websocket",
};

// Where a tab remembers that WebSockets do not get through (sessionStorage).
const FALLBACK_KEY = "maze:longpoll";

function rememberedFallback() {
  try {
    return sessionStorage.getItem(FALLBACK_KEY) === "1";
  } catch {
    return false; // no sessionStorage (Node, storage blocked)
  }
}

function rememberFallback() {
  try {
    sessionStorage.setItem(FALLBACK_KEY, "1");
  } catch {
    // Not remembered: the next page load tries the WebSocket again.
  }
}

/**
 * Backoff growing 1.5x per attempt, capped, with jitter (half fixed, half
 * random): fast first retries, without every client of a restarted server
 * coming back in the same millisecond.
 */
function backoff(attempt, baseMs, capMs) {
  const ceiling = Math.min(capMs, baseMs * 1.5 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * The answer to a join, push or leave: `.receive("ok" | "error" | "timeout", callback)`,
 * or await it (resolves with the response, rejects on error or timeout).
 */
export class Push {
  constructor() {
    this.result = null;
    this.hooks = { ok: [], error: [], timeout: [] };
  }

  receive(status, callback) {
    if (this.result) {
      if (this.result.status === status) callback(this.result.response);
    } else {
      (this.hooks[status] || (this.hooks[status] = [])).push(callback);
    }
    return this;
  }

  then(onOk, onError) {
    return new Promise((resolve, reject) => {
      this.receive("ok", resolve);
      this.receive("error", (response) => reject(new Error((response && response.reason) || "error")));
      this.receive("timeout", () => reject(new Error("timeout")));
    }).then(onOk, onError);
  }

  catch(onError) {
    return this.then(undefined, onError);
  }

  settle(status, response) {
    if (this.result) return;
    this.result = { status, response };
    (this.hooks[status] || []).forEach((callback) => callback(response));
    this.hooks = { ok: [], error: [], timeout: [] };
  }
}

/** A connection to one maze socket endpoint that reconnects by itself. */
export class Socket {
  /**
   * @param {string} path  endpoint path ("/chat") or a full ws:// URL
   * @param {import("./maze").SocketOptions} [options]  see maze.d.ts
   */
  constructor(path, options = {}) {
    this.path = path;
    this.options = { ...DEFAULTS, ...options };
    this.channels = new Map();
    this.pending = new Map();
    this.nextRef = 1;
    /** @type {WebSocket | LongPoll | null} */
    this.ws = null;
    /** @type {"websocket" | "longpoll" | undefined} */
    this.transport = undefined;
    /** Settles when the current connection opens. @type {Promise<Socket>} */
    this.opened = new Promise(() => {});
    this.wanted = false;
    this.attempts = 0;
    this.lastHeard = 0;
    this.watchdog = null;
    this.reconnectTimer = null;
    this.hooks = { open: [], close: [], error: [] };
    if (typeof document !== "undefined") {
      // Back on a tab that slept: reconnect now rather than at the next backoff step.
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible" && this.wanted && !this.ws) {
          this.attempts = 0;
          this.connect();
        }
      });
    }
  }

  /**
   * The WebSocket URL, relative paths resolved against the page's host; or
   * the long-poll one (http(s), `<path>/longpoll`).
   */
  url(transport = "websocket") {
    let url = this.path;
    if (!/^wss?:\/\//.test(url)) {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      url = `${scheme}//${window.location.host}${url}`;
    }
    const params = typeof this.options.params === "function" ? this.options.params() : this.options.params;
    const query = new URLSearchParams(params || {}).toString();
    url = query ? `${url}${url.includes("?") ? "&" : "?"}${query}` : url;
    if (transport !== "longpoll") return url;
    const longPoll = new URL(url);
    longPoll.protocol = longPoll.protocol === "wss:" ? "https:" : "http:";
    longPoll.pathname = `${longPoll.pathname.replace(/\/$/, "")}/longpoll`;
    return longPoll.toString();
  }

  /**
   * Opens the connection (again, after disconnect()); resolves once it is open.
   * @returns {Promise<Socket>}
   */
  connect() {
    this.wanted = true;
    if (this.ws) return this.opened;
    clearTimeout(this.reconnectTimer);
    this.opened = new Promise((resolve) => (this.markOpened = resolve));
    this.open(this.options.transport === "longpoll" || rememberedFallback());
    return this.opened;
  }

  /** Opens a WebSocket (falling back to long-poll if allowed) or a long-poll session. */
  open(longPoll) {
    const ws = longPoll ? new LongPoll(this.url("longpoll")) : new WebSocket(this.url());
    this.ws = ws;
    this.transport = longPoll ? "longpoll" : "websocket";
    let isOpen = false;
    // Only while no WebSocket of this socket has ever opened: after one has,
    // a failure is the server going away, not the network refusing WebSockets.
    const mayFallBack =
      !longPoll && this.options.fallbackMs != null && !this.websocketWorked && typeof fetch === "function";
    const fallBack = () => {
      if (this.ws !== ws || isOpen) return;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close();
      } catch {
        // Still connecting in some browsers: dropped all the same.
      }
      this.fellBack = true;
      this.open(true);
    };
    const fallbackTimer = mayFallBack ? setTimeout(fallBack, this.options.fallbackMs) : null;
    ws.onopen = () => {
      isOpen = true;
      clearTimeout(fallbackTimer);
      if (!longPoll) this.websocketWorked = true;
      else if (this.fellBack) rememberFallback();
      this.attempts = 0;
      this.lastHeard = Date.now();
      this.startWatchdog();
      this.hooks.open.forEach((hook) => hook());
      for (const channel of this.channels.values()) channel.rejoin();
      this.markOpened(this);
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onerror = (error) => this.hooks.error.forEach((hook) => hook(error));
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      clearTimeout(fallbackTimer);
      if (!isOpen && mayFallBack) return fallBack();
      this.ws = null;
      this.stopWatchdog();
      for (const channel of this.channels.values()) channel.connectionLost();
      for (const push of this.pending.values()) push.settle("error", { reason: "disconnected" });
      this.pending.clear();
      this.hooks.close.forEach((hook) => hook(event));
      if (this.wanted) this.scheduleReconnect();
    };
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

  onOpen(hook) {
    this.hooks.open.push(hook);
  }

  onClose(hook) {
    this.hooks.close.push(hook);
  }

  onError(hook) {
    this.hooks.error.push(hook);
  }

  isConnected() {
    return !!this.ws && this.ws.readyState === OPEN;
  }

  /** Sends `frame` with a fresh ref; returns the Push its reply settles. */
  request(frame) {
    const push = new Push();
    if (!this.isConnected()) {
      push.settle("error", { reason: "not connected" });
      return push;
    }
    const ref = String(this.nextRef++);
    this.pending.set(ref, push);
    const timer = setTimeout(() => {
      this.pending.delete(ref);
      push.settle("timeout");
    }, this.options.timeoutMs);
    push.receive("ok", () => clearTimeout(timer)).receive("error", () => clearTimeout(timer));
    this.ws.send(JSON.stringify({ ...frame, ref }));
    return push;
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
      const reply = frame.payload || {};
      const push = frame.ref != null && this.pending.get(String(frame.ref));
      if (push) {
        this.pending.delete(String(frame.ref));
        push.settle(reply.status === "ok" ? "ok" : "error", reply.response);
      }
      return;
    }
    const channel = this.channels.get(frame.topic);
    if (!channel) return;
    if (frame.offset != null) channel.saw(frame.offset);
    if (frame.subject === "maze_recovery") channel.recovery(frame.payload);
    channel.dispatch(frame.subject, frame.payload);
  }

  scheduleReconnect() {
    const { backoffBaseMs, backoffCapMs } = this.options;
    const delay = backoff(this.attempts++, backoffBaseMs, backoffCapMs);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  startWatchdog() {
    this.stopWatchdog();
    const every = Math.min(5_000, this.options.silenceMs / 4);
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > this.options.silenceMs && this.ws) this.ws.close(4000, "server silent");
    }, every);
  }

  stopWatchdog() {
    clearInterval(this.watchdog);
  }
}

// readyState of an open WebSocket, and of an open LongPoll.
const OPEN = 1;

/**
 * The long-poll transport (Phoenix's, which maze serves at `<path>/longpoll`),
 * shaped as a WebSocket for Socket: `onopen`, `onmessage`, `onclose`, `send`,
 * `close`. A GET without a token opens a session (`{"status": 410, "token"}`);
 * each GET with it answers the frames the server wrote since the last one
 * (`{"status": 200, "messages"}`, or 204 after a quiet while); a POST carries
 * the frames queued meanwhile, one per line (ndjson). 410 later: the session
 * is gone (the socket reconnects and rejoins).
 */
export class LongPoll {
  constructor(url) {
    this.url = url;
    this.token = null;
    this.readyState = 0;
    this.outbox = [];
    this.posting = false;
    this.aborter = new AbortController();
    // The fetch of the moment the transport was made (a test or benchmark
    // may give each client its own).
    const fetchNow = fetch;
    /** @type {typeof fetch} */
    this.fetch = (input, init) => fetchNow(input, init);
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    // Once the caller has set its handlers.
    setTimeout(() => this.poll(), 0);
  }

  request(method, body) {
    const headers = { Accept: "application/json" };
    if (this.token) headers["X-Phoenix-LongPoll-Token"] = this.token;
    if (body != null) headers["Content-Type"] = "application/x-ndjson";
    const signal = method === "DELETE" ? undefined : this.aborter.signal;
    return this.fetch(this.url, { method, headers, body, signal, cache: "no-store", keepalive: method === "DELETE" }).then(
      (response) => response.json(),
    );
  }

  async poll() {
    while (this.readyState < 2) {
      let answer;
      try {
        answer = await this.request("GET");
      } catch (error) {
        if (this.onerror) this.onerror(error);
        return this.ended(1006, "unreachable");
      }
      if (this.readyState >= 2) return;
      if (answer.status === 410 && this.token === null && answer.token) {
        this.token = answer.token;
        this.readyState = OPEN;
        if (this.onopen) this.onopen({});
      } else if (answer.status === 200) {
        for (const data of answer.messages) if (this.readyState === OPEN && this.onmessage) this.onmessage({ data });
      } else if (answer.status === 204) {
        // Nothing to say, but the server is there.
        if (this.onmessage) this.onmessage({ data: "ping" });
      } else {
        const [code, reason] = answer.close || (answer.status === 410 ? [3410, "session gone"] : [1011, "unexpected answer"]);
        return this.ended(code, reason);
      }
    }
  }

  send(frame) {
    this.outbox.push(frame);
    if (!this.posting) this.flush();
  }

  /** POSTs what is queued, in order, one request at a time. */
  async flush() {
    this.posting = true;
    while (this.outbox.length > 0 && this.readyState === OPEN) {
      const batch = this.outbox.splice(0, 100);
      let answer = null;
      try {
        answer = await this.request("POST", batch.join("\n"));
      } catch {
        // Unreachable: closed below.
      }
      if (this.readyState !== OPEN) break;
      if (!answer || answer.status !== 200) {
        const [code, reason] = (answer && answer.close) || [1006, "send failed"];
        this.ended(code, reason);
      }
    }
    this.posting = false;
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) return;
    // The server ends the session now rather than at its timeout.
    if (this.token) this.request("DELETE").catch(() => {});
    this.ended(code, reason, true);
  }

  ended(code, reason, wasClean = false) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.aborter.abort();
    if (this.onclose) this.onclose({ code, reason, wasClean });
  }
}

/** One topic on a socket: join it, push to it, listen to it. */
export class Channel {
  constructor(topic, socket) {
    this.topic = topic;
    this.socket = socket;
    /** @type {import("./maze").Channel["state"]} */
    this.state = "closed";
    this.joinPayload = null;
    this.joinPush = null;
    this.handlers = new Map();
    this.buffer = [];
    this.joins = 0;
    /** The last place in the topic's history this channel saw: where a rejoin recovers from. */
    /** @type {{ epoch: string, offset: string } | null} */
    this.position = null;
    /** @type {((info: { epoch?: string, offset?: string }) => void)[]} */
    this.recoveryFailedHooks = [];
  }

  /**
   * Calls `callback` when a rejoin could not recover every broadcast missed
   * while disconnected (the history was trimmed, or the server's history
   * started again): reload what the page shows.
   * @param {(info: { epoch?: string, offset?: string }) => void} callback
   */
  onRecoveryFailed(callback) {
    this.recoveryFailedHooks.push(callback);
  }

  /**
   * A broadcast's offset: the epoch is the one `maze_recovery` told (it comes
   * before any broadcast, and replayed broadcasts are of the client's epoch).
   * @param {string} offset
   */
  saw(offset) {
    if (this.position) this.position = { epoch: this.position.epoch, offset };
  }

  /** @param {{ recovered: boolean | null, epoch?: string, offset?: string }} status */
  recovery(status) {
    if (status.epoch != null && status.offset != null) {
      // After a replay the server's position is the newest; on a first join, it is where we start.
      this.position = { epoch: status.epoch, offset: status.offset };
    }
    if (status.recovered === false) this.recoveryFailedHooks.forEach((hook) => hook(status));
  }

  /** Joins the topic, once the socket is open; the Push settles with the server's answer. */
  join(payload = null) {
    this.joinPayload = payload;
    this.state = "joining";
    this.joinPush = new Push();
    // Not connected yet: the socket joins every "joining" channel when it opens.
    if (this.socket.isConnected()) this.sendJoin();
    else if (!this.socket.wanted) this.refused({ reason: "connect() the socket first" });
    return this.joinPush;
  }

  /** The join was refused: it and every push held back for it settle with the refusal. */
  refused(response) {
    this.state = "errored";
    this.buffer.splice(0).forEach(([, , push]) => push.settle("error", response));
    this.joinPush.settle("error", response);
  }

  /** How many times the channel has sent its join: a Presence resyncs after each. */
  joinCount() {
    return this.joins;
  }

  sendJoin() {
    this.joins += 1;
    // Asks for history: the topic's position on a first join, what was missed on a rejoin.
    const frame = { event: "join", topic: this.topic, recover: this.position || {} };
    if (this.joinPayload != null) frame.payload = this.joinPayload;
    const answer = this.joinPush;
    this.socket
      .request(frame)
      .receive("ok", (response) => {
        this.state = "joined";
        this.buffer.splice(0).forEach(([subject, payload, push]) => this.send(subject, payload, push));
        answer.settle("ok", response);
      })
      .receive("error", (response) => {
        // A lost connection is retried by rejoin(); a refusal is final.
        if (response && response.reason === "disconnected") return;
        if (answer === this.joinPush) this.refused(response);
        else answer.settle("error", response);
      })
      .receive("timeout", () => answer.settle("timeout"));
  }

  /** After a reconnect, joins again (with a fresh ref) the topics that were joined. */
  rejoin() {
    if (this.state === "joined" || this.state === "joining") {
      this.state = "joining";
      if (!this.joinPush || this.joinPush.result) this.joinPush = new Push();
      this.sendJoin();
    }
  }

  connectionLost() {
    if (this.state === "joined") this.state = "joining";
  }

  /** Leaves the topic. */
  leave() {
    this.state = "closed";
    return this.socket.request({ event: "leave", topic: this.topic });
  }

  /** Sends `subject` with `payload`; held back until the join completes. */
  push(subject, payload = {}) {
    const push = new Push();
    if (this.state === "joined") this.send(subject, payload, push);
    else this.buffer.push([subject, payload, push]);
    return push;
  }

  send(subject, payload, push) {
    this.socket
      .request({ event: "message", topic: this.topic, subject, payload })
      .receive("ok", (response) => push.settle("ok", response))
      .receive("error", (response) => push.settle("error", response))
      .receive("timeout", () => push.settle("timeout"));
  }

  /** Calls `callback(payload)` for every message with `subject`. */
  on(subject, callback) {
    if (!this.handlers.has(subject)) this.handlers.set(subject, []);
    this.handlers.get(subject).push(callback);
    return this;
  }

  /** Stops calling `callback` (or every callback) for `subject`. */
  off(subject, callback) {
    if (!callback) this.handlers.delete(subject);
    else this.handlers.set(subject, (this.handlers.get(subject) || []).filter((c) => c !== callback));
  }

  dispatch(subject, payload) {
    (this.handlers.get(subject) || []).forEach((callback) => callback(payload));
  }
}

/**
 * Who is on a channel's topic, kept in sync from the server's
 * `presence_state` and `presence_diff` events (Phoenix's presence protocol).
 * A key (a user) holds one meta per tracked client (a tab): `onJoin`'s
 * `current` is undefined on a key's first join, and `onLeave`'s `current`
 * has no metas left on its last leave. The syncing follows the `phoenix` npm
 * client's Presence (MIT), so both behave the same.
 */
export class Presence {
  /** @param {Channel} channel */
  constructor(channel) {
    /** @type {import("./maze").PresenceState} */
    this.state = Object.create(null);
    /** @type {import("./maze").PresenceDiff[]} */
    this.pendingDiffs = [];
    this.channel = channel;
    /** The channel's join the state came with; diffs of a later join wait for its state. */
    this.syncedJoin = -1;
    this.caller = {
      /** @type {import("./maze").PresenceJoin} */ onJoin: () => {},
      /** @type {import("./maze").PresenceLeave} */ onLeave: () => {},
      /** @type {() => void} */ onSync: () => {},
    };
    channel.on("presence_state", (/** @type {import("./maze").PresenceState} */ newState) => {
      const { onJoin, onLeave, onSync } = this.caller;
      this.syncedJoin = channel.joinCount();
      this.state = Presence.syncState(this.state, newState, onJoin, onLeave);
      this.pendingDiffs.splice(0).forEach((diff) => {
        this.state = Presence.syncDiff(this.state, diff, onJoin, onLeave);
      });
      onSync();
    });
    channel.on("presence_diff", (/** @type {import("./maze").PresenceDiff} */ diff) => {
      const { onJoin, onLeave, onSync } = this.caller;
      if (this.syncedJoin !== channel.joinCount()) {
        this.pendingDiffs.push(diff);
      } else {
        this.state = Presence.syncDiff(this.state, diff, onJoin, onLeave);
        onSync();
      }
    });
  }

  /** @param {import("./maze").PresenceJoin} callback */
  onJoin(callback) {
    this.caller.onJoin = callback;
  }

  /** @param {import("./maze").PresenceLeave} callback */
  onLeave(callback) {
    this.caller.onLeave = callback;
  }

  /** @param {() => void} callback */
  onSync(callback) {
    this.caller.onSync = callback;
  }

  /**
   * Every key's presence, or what `chooser(key, presence)` makes of each.
   * @param {(key: string, presence: import("./maze").PresenceEntry) => any} [chooser]
   */
  list(chooser) {
    return Presence.list(this.state, chooser);
  }

  /**
   * The state after a full `presence_state`, calling back for what changed.
   * @param {import("./maze").PresenceState} currentState
   * @param {import("./maze").PresenceState} newState
   * @param {import("./maze").PresenceJoin} [onJoin]
   * @param {import("./maze").PresenceLeave} [onLeave]
   * @returns {import("./maze").PresenceState}
   */
  static syncState(currentState, newState, onJoin, onLeave) {
    const state = nullProto(clone(currentState));
    const incoming = nullProto(newState);
    /** @type {import("./maze").PresenceState} */
    const joins = Object.create(null);
    /** @type {import("./maze").PresenceState} */
    const leaves = Object.create(null);
    for (const key of Object.getOwnPropertyNames(state)) {
      if (!incoming[key]) leaves[key] = state[key];
    }
    for (const key of Object.getOwnPropertyNames(incoming)) {
      const current = state[key];
      const next = incoming[key];
      if (!current) {
        joins[key] = next;
        continue;
      }
      const newRefs = next.metas.map((meta) => meta.phx_ref);
      const currentRefs = current.metas.map((meta) => meta.phx_ref);
      const joined = next.metas.filter((meta) => !currentRefs.includes(meta.phx_ref));
      const left = current.metas.filter((meta) => !newRefs.includes(meta.phx_ref));
      if (joined.length > 0) joins[key] = { ...next, metas: joined };
      if (left.length > 0) leaves[key] = { ...clone(current), metas: left };
    }
    return Presence.syncDiff(state, { joins, leaves }, onJoin, onLeave);
  }

  /**
   * The state after a `presence_diff`, calling back for each join and leave.
   * @param {import("./maze").PresenceState} currentState
   * @param {import("./maze").PresenceDiff} diff
   * @param {import("./maze").PresenceJoin} [onJoin]
   * @param {import("./maze").PresenceLeave} [onLeave]
   * @returns {import("./maze").PresenceState}
   */
  static syncDiff(currentState, diff, onJoin = () => {}, onLeave = () => {}) {
    const state = nullProto(currentState);
    const { joins, leaves } = clone(diff);
    for (const key of Object.getOwnPropertyNames(joins)) {
      const current = state[key];
      state[key] = clone(joins[key]);
      if (current) {
        const joinedRefs = state[key].metas.map((meta) => meta.phx_ref);
        state[key].metas.unshift(...current.metas.filter((meta) => !joinedRefs.includes(meta.phx_ref)));
      }
      onJoin(key, current, joins[key]);
    }
    for (const key of Object.getOwnPropertyNames(leaves)) {
      const current = state[key];
      if (!current) continue;
      const gone = leaves[key].metas.map((meta) => meta.phx_ref);
      current.metas = current.metas.filter((meta) => !gone.includes(meta.phx_ref));
      onLeave(key, current, leaves[key]);
      if (current.metas.length === 0) delete state[key];
    }
    return state;
  }

  /**
   * @param {import("./maze").PresenceState} state
   * @param {(key: string, presence: import("./maze").PresenceEntry) => any} [chooser]
   */
  static list(state, chooser = (key, presence) => presence) {
    return Object.getOwnPropertyNames(state).map((key) => chooser(key, state[key]));
  }
}

/**
 * A copy without a prototype: presence keys come from the server and may be
 * "__proto__" or "constructor".
 * @template {object} T
 * @param {T} object
 * @returns {T}
 */
function nullProto(object) {
  if (Object.getPrototypeOf(object) === null) return object;
  return Object.assign(Object.create(null), object);
}

/**
 * @template T
 * @param {T} value
 * @returns {T}
 */
function clone(value) {
  return JSON.parse(JSON.stringify(value));
}

/** `import Maze from "/maze.js"` (pages written for Amber's client): `new Maze.Socket(...)`. */
export default { Socket, Channel, Push, Presence };
