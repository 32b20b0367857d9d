// What the Node scripts here share: the official phoenix client, maze.js
// (which uses the browser's WebSocket, so `ws` is put in its place), and
// how a script fails or reads a push's reply.
import { Socket as PhoenixSocket } from "phoenix";
import WebSocket from "ws";

globalThis.WebSocket = WebSocket;
const { Socket: MazeSocket } = await import("../../runtime/js/maze.js");

export { MazeSocket, PhoenixSocket, WebSocket };

/** Prints why as a JSON line and exits non-zero. */
export function fail(why) {
  console.log(JSON.stringify({ failed: why }));
  process.exit(1);
}

/** Fails the script if it has not finished within `ms`. */
export function failAfter(ms) {
  setTimeout(() => fail("timed out"), ms);
}

/** Which of ok / error / timeout a push's reply fired, with its response. */
export function outcome(push) {
  return new Promise((resolve) => {
    push.receive("ok", (response) => resolve({ status: "ok", response }));
    push.receive("error", (response) => resolve({ status: "error", response }));
    push.receive("timeout", () => resolve({ status: "timeout" }));
  });
}
