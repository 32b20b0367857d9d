// Compiled with `tsc --noEmit --strict` by tests/js_client.rs: maze.d.ts must
// describe maze.js as an app uses it, and must reject misuse.
import Maze, { Socket, Channel, Push, Presence, type PresenceEntry } from "../../runtime/js/maze.js";

const socket: Socket = new Socket("/chat", { timeoutMs: 5_000, backoffCapMs: 10_000, params: { token: "t" } });
const amberStyle: Socket = new Maze.Socket("/chat", { params: () => ({ token: "fresh" }) });
void amberStyle;
socket.connect().then((s: Socket) => s.isConnected());
socket.onClose((event) => console.log(event.code));
const channel: Channel = socket.channel("chat_room:123");
channel.on<{ message: string }>("message_new", (payload) => console.log(payload.message.toUpperCase()));
const joined: Push = channel.join({ token: "t" });
joined
  .receive("ok", () => channel.push("message_new", { message: "hi" }))
  .receive("error", (response) => console.log(response.reason))
  .receive("timeout", () => console.log("timeout"));

async function awaited(): Promise<void> {
  await channel.join();
  await channel.leave();
}
void awaited();

// @ts-expect-error: a Push has no status "maybe".
joined.receive("maybe", () => {});
// @ts-expect-error: topics are strings.
socket.channel(123);
// @ts-expect-error: params are strings.
new Socket("/chat", { params: { token: 1 } });

// Presence, as with the phoenix client.
const presence = new Presence(channel);
presence.onJoin((key, current, joined) => {
  if (!current) console.log(`${key} came online as ${joined.metas[0].phx_ref}`);
});
presence.onLeave((key, current) => {
  if (current.metas.length === 0) console.log(`${key} went offline`);
});
presence.onSync(() => {
  const names: string[] = presence.list((key, { metas }) => `${key} (${metas.length})`);
  console.log(names);
});
const everyone: PresenceEntry[] = presence.list();
console.log(everyone.length);
// @ts-expect-error: onSync's callback takes no arguments.
presence.onSync((x: number) => x);
