// A broadcast "to others" skips its sender, with the official phoenix client
// and with maze.js. Usage: node to_others.mjs PORT (against runtime/tests/sockets.rs's
// server, whose room channel answers subject "to_others" with
// ctx.broadcast_from("from_other", ...)). Prints one JSON line per client; exits non-zero on failure.
import { MazeSocket, PhoenixSocket, WebSocket, fail, failAfter } from "./clients.mjs";

const port = process.argv[2];
failAfter(15_000);

/** Two clients on `topic`; the first broadcasts to others and must not hear itself. */
async function check(name, connect, topic) {
  const [sender, receiver] = [await connect(), await connect()];
  const senderChannel = sender.channel(topic);
  const receiverChannel = receiver.channel(topic);
  let senderHeard = 0;
  senderChannel.on("from_other", () => (senderHeard += 1));
  const heard = new Promise((resolve) => receiverChannel.on("from_other", resolve));
  await join(senderChannel);
  await join(receiverChannel);
  // The push's reply comes after whatever the callback broadcast, so had the
  // sender been sent its own broadcast, it would have arrived by then.
  await reply(senderChannel.push("to_others", { n: 1 }));
  const payload = await heard;
  console.log(JSON.stringify({ client: name, receiver: payload, sender_heard: senderHeard }));
  if (senderHeard !== 0 || payload.n !== 1) fail(`${name}: the sender heard its own broadcast`);
}

function join(channel) {
  return reply(channel.join());
}

function reply(push) {
  return new Promise((resolve, reject) => {
    push.receive("ok", resolve).receive("error", (e) => reject(new Error(JSON.stringify(e))));
    push.receive("timeout", () => reject(new Error("timeout")));
  });
}

const phoenix = async () => {
  const socket = new PhoenixSocket(`ws://127.0.0.1:${port}/socket`, { transport: WebSocket });
  socket.connect();
  return socket;
};
const maze = async () => {
  const socket = new MazeSocket(`ws://127.0.0.1:${port}/socket`);
  await socket.connect();
  return socket;
};

try {
  await check("phoenix", phoenix, "room:others_phoenix");
  await check("maze.js", maze, "room:others_maze_js");
  process.exit(0);
} catch (error) {
  fail(String(error));
}
