// A channel answers a push with ok and a response, or with an error, and
// both the official phoenix client and maze.js see it: push(...).receive("ok"
// | "error", ...). Usage: node replies.mjs PORT (against runtime/tests/sockets.rs's
// server, whose room channel answers subject "count" with ctx.reply and
// "refuse_me" with ctx.reply_error). Prints one JSON line per client; exits
// non-zero on failure.
import { MazeSocket, PhoenixSocket, WebSocket, fail, failAfter, outcome } from "./clients.mjs";

const port = process.argv[2];
failAfter(15_000);


async function check(name, socket, topic) {
  const channel = socket.channel(topic);
  const joined = await outcome(channel.join());
  if (joined.status !== "ok") fail(`${name}: join ${JSON.stringify(joined)}`);
  const refused = await outcome(channel.push("refuse_me", { bid: 1 }));
  const counted = await outcome(channel.push("count", { n: 2 }));
  console.log(JSON.stringify({ client: name, refused, counted }));
}

try {
  const phoenix = new PhoenixSocket(`ws://127.0.0.1:${port}/socket`, { transport: WebSocket });
  phoenix.connect();
  await check("phoenix", phoenix, "room:replies_phoenix");
  const maze = new MazeSocket(`ws://127.0.0.1:${port}/socket`);
  await maze.connect();
  await check("maze.js", maze, "room:replies_maze_js");
  process.exit(0);
} catch (error) {
  fail(String(error));
}
