// The official `phoenix` client in a chat: joins TOPIC on the socket at
// ws://127.0.0.1:PORT/chat, pushes SAY and waits for its reply and its
// rebroadcast, then waits for a message EXPECT from someone else.
// Usage: node phoenix_chat.mjs PORT TOPIC SAY EXPECT. Prints one JSON line
// per step; exits non-zero on any failure.
import { Socket } from "phoenix";
import WebSocket from "ws";

const [port, topic, say, expect] = process.argv.slice(2);
const deadline = setTimeout(() => fail("timed out"), 20_000);

function fail(why) {
  console.log(JSON.stringify({ failed: why }));
  process.exit(1);
}

function report(step, value) {
  console.log(JSON.stringify({ step, value }));
}

const socket = new Socket(`ws://127.0.0.1:${port}/chat`, { transport: WebSocket });
socket.onError((error) => fail(`socket error: ${error && error.message}`));
socket.connect();

const channel = socket.channel(topic, {});
channel.on("message_new", (payload) => {
  if (payload.message === say) report("rebroadcast", payload);
  if (payload.message === expect) {
    report("received", payload);
    clearTimeout(deadline);
    socket.disconnect(() => process.exit(0));
  }
});
channel
  .join()
  .receive("ok", () => {
    report("join", "ok");
    channel
      .push("message_new", { message: say })
      .receive("ok", () => report("push", "ok"))
      .receive("error", (reply) => fail(`push refused: ${JSON.stringify(reply)}`))
      .receive("timeout", () => fail("push timed out"));
  })
  .receive("error", (reply) => fail(`join refused: ${JSON.stringify(reply)}`));
