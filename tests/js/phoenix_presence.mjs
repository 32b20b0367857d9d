// The official `phoenix` JS client's Presence against a running maze app whose
// room:* channel tracks guests by the name they join with.
// Usage: node phoenix_presence.mjs PORT [PORT_OF_BOB]: ada connects to PORT, bob
// (in two tabs) to PORT_OF_BOB (default PORT; another instance of the app on
// the same Redis for the cross-instance check). Prints one JSON line per check;
// exits non-zero on any failure.
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

const [adaPort, bobPort = adaPort] = process.argv.slice(2);
const topic = "room:123";
const deadline = setTimeout(() => fail("timed out"), 20_000);

function fail(why) {
  console.log(JSON.stringify({ failed: why }));
  process.exit(1);
}

function report(check, value) {
  console.log(JSON.stringify({ check, value }));
}

function tab(port, name) {
  const socket = new Socket(`ws://127.0.0.1:${port}/chat`, { transport: WebSocket });
  socket.onError((error) => fail(`socket error (${name}): ${error && error.message}`));
  socket.connect();
  const channel = socket.channel(topic, { name });
  channel.join().receive("error", (reply) => fail(`join refused: ${JSON.stringify(reply)}`));
  return { socket, channel };
}

// Ada watches with Presence; `until` resolves once her list satisfies a check.
const ada = tab(adaPort, "ada");
const presence = new Presence(ada.channel);
const events = [];
presence.onJoin((key, current) => events.push(["join", key, current === undefined ? "first" : "another tab"]));
presence.onLeave((key, current) => events.push(["leave", key, current.metas.length === 0 ? "last" : "one tab"]));
let waiting = null;
presence.onSync(() => waiting && waiting());
function until(check) {
  return new Promise((resolve) => {
    waiting = () => {
      if (check()) {
        waiting = null;
        resolve();
      }
    };
    waiting();
  });
}
const keys = () => presence.list((key) => key).sort();
const metas = (key) => presence.list((k, p) => (k === key ? p.metas.length : 0)).reduce((a, b) => a + b, 0);

await until(() => keys().join() === "guest:ada");
const bob = tab(bobPort, "bob");
await until(() => keys().join() === "guest:ada,guest:bob");
report("both", keys());

const bobAgain = tab(bobPort, "bob");
await until(() => metas("guest:bob") === 2);
report("two_tabs", { keys: keys(), bob_metas: metas("guest:bob") });

bobAgain.socket.disconnect();
await until(() => metas("guest:bob") === 1);
report("one_tab_closed", keys());

bob.socket.disconnect();
await until(() => keys().join() === "guest:ada");
report("bob_left", keys());
report("events", events.filter(([, key]) => key === "guest:bob"));
clearTimeout(deadline);
ada.socket.disconnect(() => process.exit(0));
