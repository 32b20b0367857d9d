// Drives the official `phoenix` JS client (Node, with `ws` as its WebSocket)
// against a running maze app: join, push with a reply, a broadcast, heartbeats.
// Usage: node phoenix_client.mjs PORT. Prints one JSON line per check; exits
// non-zero on any failure.
import { Socket } from "phoenix";
import WebSocket from "ws";

const port = process.argv[2];
const deadline = setTimeout(() => fail("timed out"), 15_000);

function fail(why) {
  console.log(JSON.stringify({ failed: why }));
  process.exit(1);
}

function report(check, value) {
  console.log(JSON.stringify({ check, value }));
}

const socket = new Socket(`ws://127.0.0.1:${port}/chat`, { transport: WebSocket, heartbeatIntervalMs: 200 });
let heartbeats = 0;
socket.onMessage((message) => {
  if (message.topic === "phoenix" && message.event === "phx_reply" && message.payload.status === "ok") heartbeats += 1;
});
socket.onError((error) => fail(`socket error: ${error && error.message}`));
socket.connect();

const channel = socket.channel("chat_room:123", {});
channel.on("message_new", (payload) => {
  if (payload.message === "A new visitor!") {
    report("broadcast", payload);
    // A few heartbeat intervals, then the connection must still be up.
    setTimeout(() => {
      report("heartbeats", heartbeats);
      report("connected", socket.isConnected());
      clearTimeout(deadline);
      socket.disconnect(() => process.exit(0));
    }, 1_000);
  }
});
channel
  .join()
  .receive("ok", () => {
    report("join", "ok");
    channel
      .push("message_new", { message: "from phoenix.js" })
      .receive("ok", () => {
        report("push", "ok");
        // Visiting / makes the app broadcast to chat_room:123.
        fetch(`http://127.0.0.1:${port}/`).catch((error) => fail(`GET /: ${error}`));
      })
      .receive("error", (reply) => fail(`push refused: ${JSON.stringify(reply)}`))
      .receive("timeout", () => fail("push timed out"));
  })
  .receive("error", (reply) => fail(`join refused: ${JSON.stringify(reply)}`));
