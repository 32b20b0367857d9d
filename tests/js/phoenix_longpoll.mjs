// The official `phoenix` client with `transport: LongPoll`, through a proxy
// that sends each HTTP request to the next of the app instances given, in
// turn (no sticky sessions): two guests, ada and bob, join chat_room:lp and
// room:lp (presence), push with replies, and receive each other's messages.
// Usage: node phoenix_longpoll.mjs PORT [PORT...]. Prints one JSON line per
// check; exits non-zero on any failure.
import http from "node:http";
import { Socket, LongPoll, Presence } from "phoenix";

const ports = process.argv.slice(2).map(Number);
const deadline = setTimeout(() => fail("timed out"), 30_000);

function fail(why) {
  console.log(JSON.stringify({ failed: why }));
  process.exit(1);
}

function report(check, value) {
  console.log(JSON.stringify({ check, value }));
}

// Round robin: request n goes to ports[n % ports.length].
const served = ports.map(() => 0);
let next = 0;
const proxy = http.createServer((request, response) => {
  const which = next++ % ports.length;
  served[which]++;
  const upstream = http.request(
    { host: "127.0.0.1", port: ports[which], path: request.url, method: request.method, headers: request.headers },
    (answer) => {
      response.writeHead(answer.statusCode, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on("error", (error) => fail(`proxy to ${ports[which]}: ${error.message}`));
  request.pipe(upstream);
});
await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${proxy.address().port}/chat`;

function guest(name) {
  const socket = new Socket(url, { transport: LongPoll, params: { guest: name } });
  socket.onError((error) => fail(`socket error (${name}): ${JSON.stringify(error)}`));
  socket.connect();
  const chat = socket.channel("chat_room:lp", {});
  const heard = [];
  let waiting = null;
  chat.on("message_new", (payload) => {
    heard.push(payload.message);
    if (waiting) waiting();
  });
  const room = socket.channel("room:lp", { name });
  const presence = new Presence(room);
  const joined = (channel) =>
    new Promise((resolve) =>
      channel
        .join()
        .receive("ok", resolve)
        .receive("error", (reply) => fail(`${name}: join ${channel.topic} refused: ${JSON.stringify(reply)}`))
        .receive("timeout", () => fail(`${name}: join ${channel.topic} timed out`)),
    );
  const hears = (message) =>
    new Promise((resolve) => {
      waiting = () => heard.includes(message) && resolve();
      waiting();
    });
  const sees = (keys) =>
    new Promise((resolve) => {
      const check = () => presence.list((key) => key).sort().join() === keys && resolve();
      presence.onSync(check);
      check();
    });
  const push = (message) =>
    new Promise((resolve) =>
      chat
        .push("message_new", { message })
        .receive("ok", (reply) => resolve(reply))
        .receive("error", (reply) => fail(`${name}: push refused: ${JSON.stringify(reply)}`))
        .receive("timeout", () => fail(`${name}: push timed out`)),
    );
  return { socket, ready: Promise.all([joined(chat), joined(room)]), hears, sees, push };
}

const ada = guest("ada");
const bob = guest("bob");
await Promise.all([ada.ready, bob.ready]);
report("joined", "ok");
await Promise.all([ada.sees("guest:ada,guest:bob"), bob.sees("guest:ada,guest:bob")]);
report("presence", "guest:ada,guest:bob");
report("push reply", await ada.push("hi from ada"));
await Promise.all([ada.hears("hi from ada"), bob.hears("hi from ada")]);
report("bob heard ada", "hi from ada");
await bob.push("hi from bob");
await ada.hears("hi from bob");
report("ada heard bob", "hi from bob");
report("served", served);
clearTimeout(deadline);
ada.socket.disconnect();
bob.socket.disconnect();
proxy.close();
process.exit(0);
