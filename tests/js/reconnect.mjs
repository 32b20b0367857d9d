// maze.js's reconnect schedule, against a port nothing listens on: how many
// times ten sockets try in their first 2 s, and how long each waited before
// its first retry (jitter: not all the same). Prints one JSON line.
import { WebSocket } from "./clients.mjs";
const { Socket } = await import("../../runtime/js/maze.js");

const tries = Array.from({ length: 10 }, () => []);
for (const [index, log] of tries.entries()) {
  // Each try builds a WebSocket: note when.
  const Counting = class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      log.push(Date.now());
      this.on("error", () => {});
    }
  };
  const socket = new Socket("ws://127.0.0.1:9/");
  const connect = socket.connect.bind(socket);
  socket.connect = () => {
    globalThis.WebSocket = Counting;
    return connect();
  };
  socket.connect();
  setTimeout(() => socket.disconnect(), 2_000);
  void index;
}
await new Promise((resolve) => setTimeout(resolve, 2_100));
const firstRetry = tries.map((log) => log[1] - log[0]);
console.log(JSON.stringify({ tries_in_2s: tries.map((log) => log.length), first_retry_ms: firstRetry }));
process.exit(0);
