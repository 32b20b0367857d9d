// Against the `embedded` example (a plain axum app serving a maze socket):
// the official phoenix client and maze.js join chat_room:embedded, push, and
// receive each other's messages and the app's own announcement (a POST to one
// of its axum routes). Usage: node embedded.mjs PORT. Prints one JSON line;
// exits non-zero on failure.
import { MazeSocket, PhoenixSocket, WebSocket, fail, failAfter, outcome } from "./clients.mjs";

const port = process.argv[2];
const topic = "chat_room:embedded";
failAfter(15_000);


/** Resolves with the first `count` "message_new" payloads `channel` receives. */
function collect(channel, count) {
  const seen = [];
  return new Promise((resolve) =>
    channel.on("message_new", (payload) => {
      seen.push(payload.message);
      if (seen.length === count) resolve(seen);
    }),
  );
}

try {
  const phoenix = new PhoenixSocket(`ws://127.0.0.1:${port}/chat`, { transport: WebSocket, params: { user_id: 7 } });
  phoenix.connect();
  const maze = new MazeSocket(`ws://127.0.0.1:${port}/chat`, { params: { user_id: 8 } });
  await maze.connect();
  const [phoenixChannel, mazeChannel] = [phoenix.channel(topic, { name: "ada" }), maze.channel(topic)];
  const [phoenixSaw, mazeSaw] = [collect(phoenixChannel, 3), collect(mazeChannel, 3)];
  for (const joined of [await outcome(phoenixChannel.join()), await outcome(mazeChannel.join({ name: "bob" }))]) {
    if (joined.status !== "ok") fail(`join: ${JSON.stringify(joined)}`);
  }
  const pushed = [
    await outcome(phoenixChannel.push("message_new", { message: "from phoenix" })),
    await outcome(mazeChannel.push("message_new", { message: "from maze.js" })),
  ];
  const refused = await outcome(mazeChannel.push("message_new", { message: " " }));
  const announced = await fetch(`http://127.0.0.1:${port}/announce/embedded`, { method: "POST", body: "from the app" });
  const home = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  console.log(
    JSON.stringify({
      pushed: pushed.map((p) => p.status),
      refused,
      announced: announced.status,
      phoenix: await phoenixSaw,
      maze: await mazeSaw,
      home,
    }),
  );
  process.exit(0);
} catch (error) {
  fail(String(error));
}
