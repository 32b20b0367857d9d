// Delivery under jitter (the AnyCable / Socket.IO scenario): CLIENTS maze.js
// clients on one topic, each of whose TCP connection is destroyed about
// every 15 s (at its own random phase) and whose server is then unreachable
// for 2 s; one more client, never cut, pushes a numbered message twice a
// second for SECONDS. Each client records what it receives; the report says
// how many messages each should have had and got, duplicates, messages out
// of order, and how late the messages sent while a client was cut off
// arrived (their delay minus nothing: from their send to their arrival).
//
// With TRANSPORT=longpoll, the clients (not the publisher) use maze.js's
// long-poll transport; a cut aborts the client's requests in flight (its
// TCP connections gone) and its requests fail at once for 2 s.
//
// Usage: node jitter.mjs URL [CLIENTS=1000] [SECONDS=45] [TRANSPORT=websocket]
import WebSocket from "ws";

const [url, clientsArg, secondsArg, transportArg] = process.argv.slice(2);
const LONGPOLL = transportArg === "longpoll";
const CLIENTS = Number(clientsArg || 1000);
const SECONDS = Number(secondsArg || 45);
const CUT_EVERY_MS = 15_000;
const UNREACHABLE_MS = 2_000;
const TOPIC = "bench:jitter";

/** Each client's own WebSocket class: its connection can be cut, and
 *  while it is "unreachable" a new one fails at once (a refused port). */
function cuttable(state) {
  return class extends WebSocket {
    constructor(target, protocols) {
      super(Date.now() < state.blockedUntil ? "ws://127.0.0.1:9/" : target, protocols);
      state.current = this;
    }
  };
}

/** Each long-poll client's own fetch: a cut aborts what it has in flight,
 *  and while "unreachable" a request fails at once. */
const realFetch = globalThis.fetch;
function cuttableFetch(state) {
  state.inFlight = new Set();
  state.abortAll = () => state.inFlight.forEach((controller) => controller.abort());
  return (target, options = {}) => {
    if (Date.now() < state.blockedUntil) return Promise.reject(new TypeError("fetch failed: unreachable"));
    const controller = new AbortController();
    const abort = () => controller.abort();
    if (options.signal) options.signal.addEventListener("abort", abort);
    state.inFlight.add(controller);
    return realFetch(target, { ...options, signal: controller.signal }).finally(() => {
      state.inFlight.delete(controller);
      if (options.signal) options.signal.removeEventListener("abort", abort);
    });
  };
}

// maze.js reads the global WebSocket (and its long-poll transport the global
// fetch) when it connects: each client's is set just before its connect and
// reconnects, through a per-client constructor.
const { Socket } = await import("../../runtime/js/maze.js");

function client(index) {
  const state = { blockedUntil: 0, current: null, outages: [], got: new Map(), order: 0, duplicates: 0 };
  const Cuttable = cuttable(state);
  const fetchOf = cuttableFetch(state);
  const socket = new Socket(url, LONGPOLL ? { transport: "longpoll" } : {});
  // Each reconnect builds its transport through this client's class or fetch.
  const connect = socket.connect.bind(socket);
  socket.connect = () => {
    globalThis.WebSocket = Cuttable;
    globalThis.fetch = fetchOf;
    return connect();
  };
  const channel = socket.channel(TOPIC);
  let last = -1;
  channel.on("message_new", (payload) => {
    const seq = payload.seq;
    if (seq == null) return;
    if (state.got.has(seq)) {
      state.duplicates += 1;
      return;
    }
    if (seq < last) state.order += 1;
    last = Math.max(last, seq);
    state.got.set(seq, { at: Date.now(), sent: payload.sent });
  });
  const cut = () => {
    state.blockedUntil = Date.now() + UNREACHABLE_MS;
    state.outages.push([Date.now(), state.blockedUntil]);
    if (state.current && state.current._socket) state.current._socket.destroy();
    state.abortAll();
  };
  const phase = Math.random() * CUT_EVERY_MS;
  state.start = () => {
    state.timer = setTimeout(function next() {
      cut();
      state.timer = setTimeout(next, CUT_EVERY_MS * (0.8 + Math.random() * 0.4));
    }, phase);
  };
  state.stop = () => clearTimeout(state.timer);
  state.socket = socket;
  state.channel = channel;
  return state;
}

const clients = [];
for (let i = 0; i < CLIENTS; i++) clients.push(client(i));
await Promise.all(
  clients.map(async (c) => {
    c.socket.connect();
    await c.channel.join();
  }),
);

// The publisher: never cut, on WebSocket.
globalThis.WebSocket = WebSocket;
globalThis.fetch = realFetch;
const publisher = new Socket(url);
publisher.connect();
const pub = publisher.channel(TOPIC);
await pub.join();

clients.forEach((c) => c.start());
let seq = 0;
const sentAt = [];
const started = Date.now();
await new Promise((resolve) => {
  const tick = setInterval(() => {
    if (Date.now() - started >= SECONDS * 1000) {
      clearInterval(tick);
      resolve();
      return;
    }
    const sent = Date.now();
    sentAt.push(sent);
    pub.push("message_new", { message: "tick", seq, sent });
    seq += 1;
  }, 500);
});
clients.forEach((c) => c.stop());
// Everyone reconnected and caught up: wait until every client has every
// message, or 10 s.
const deadline = Date.now() + 10_000;
while (Date.now() < deadline && !clients.every((c) => c.got.size >= seq)) {
  await new Promise((resolve) => setTimeout(resolve, 100));
}

let expected = 0;
let delivered = 0;
let duplicates = 0;
let outOfOrder = 0;
const outageDelays = [];
for (const c of clients) {
  expected += seq;
  delivered += c.got.size;
  duplicates += c.duplicates;
  outOfOrder += c.order;
  for (const [, { at, sent }] of c.got) {
    if (c.outages.some(([from, to]) => sent >= from && sent < to)) outageDelays.push(at - sent);
  }
}
outageDelays.sort((a, b) => a - b);
const pct = (p) => (outageDelays.length ? outageDelays[Math.min(outageDelays.length - 1, Math.floor(p * outageDelays.length))] : null);
const outages = clients.reduce((n, c) => n + c.outages.length, 0);
console.log(
  JSON.stringify({
    clients: CLIENTS,
    transport: LONGPOLL ? "longpoll" : "websocket",
    seconds: SECONDS,
    messages: seq,
    expected,
    delivered,
    delivery_rate: delivered / expected,
    duplicates,
    out_of_order: outOfOrder,
    outages,
    unreachable_ms: UNREACHABLE_MS,
    sent_during_outages: outageDelays.length,
    outage_delay_ms: { p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), max: outageDelays[outageDelays.length - 1] ?? null },
  }),
);
process.exit(0);
