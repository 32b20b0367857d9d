// Connect params carrying signed tokens, with the official phoenix client and
// with maze.js. Usage: node tokens.mjs PORT NAME=TOKEN... (against
// runtime/tests/sockets.rs's server, whose /token socket verifies the
// `token` param in on_connect). Prints one JSON line per client and token:
// "joined", or how the connection closed.
import { Socket as PhoenixSocket } from "phoenix";
import WebSocket from "ws";

globalThis.WebSocket = WebSocket; // maze.js uses the browser's WebSocket
const { Socket: MazeSocket } = await import("../../runtime/js/maze.js");

const [port, ...named] = process.argv.slice(2);
setTimeout(() => {
  console.log(JSON.stringify({ failed: "timed out" }));
  process.exit(1);
}, 15_000);

/** Joins "room:token" over `socket`; "joined", or "closed CODE". */
function attempt(socket, connect) {
  return new Promise((resolve) => {
    socket.onClose((event) => resolve(`closed ${event.code}`));
    connect();
    socket.channel("room:token").join().receive("ok", () => resolve("joined"));
  });
}

for (const pair of named) {
  const [name, token] = pair.split(/=(.*)/s);
  const phoenix = new PhoenixSocket(`ws://127.0.0.1:${port}/token`, { transport: WebSocket, params: { token } });
  const viaPhoenix = await attempt(phoenix, () => phoenix.connect());
  phoenix.disconnect();
  const maze = new MazeSocket(`ws://127.0.0.1:${port}/token`, { params: { token } });
  const viaMaze = await attempt(maze, () => maze.connect());
  maze.disconnect();
  console.log(JSON.stringify({ token: name, phoenix: viaPhoenix, "maze.js": viaMaze }));
}
process.exit(0);
