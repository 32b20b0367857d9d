// The peer for the fan-out benchmark: a Node `ws` server doing the same job
// as a maze socket whose channel rebroadcasts, in the same protocol (maze
// JSON): join a topic, and a message to it goes to every member, encoded once.
// Usage: node server.mjs PORT
import { WebSocketServer } from "ws";

const port = Number(process.argv[2] || 3100);
const topics = new Map(); // topic -> Set of sockets

const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
server.on("connection", (ws) => {
  const joined = new Set();
  ws.on("message", (data) => {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    const reply = (status) => {
      if (frame.ref != null) {
        ws.send(JSON.stringify({ event: "reply", ref: frame.ref, topic: frame.topic, payload: { status, response: {} } }));
      }
    };
    if (frame.event === "join") {
      if (!topics.has(frame.topic)) topics.set(frame.topic, new Set());
      topics.get(frame.topic).add(ws);
      joined.add(frame.topic);
      reply("ok");
    } else if (frame.event === "message") {
      if (!joined.has(frame.topic)) return reply("error");
      // The sender's user id, as the generated maze channel adds it (null:
      // the benchmark's clients are guests): the same bytes on the wire.
      const payload = { ...frame.payload, user_id: null };
      const text = JSON.stringify({ event: "message", topic: frame.topic, subject: frame.subject, payload });
      for (const member of topics.get(frame.topic)) member.send(text);
      reply("ok");
    }
  });
  ws.on("close", () => {
    for (const topic of joined) topics.get(topic)?.delete(ws);
  });
});
server.on("listening", () => console.log(`ws listening on http://127.0.0.1:${port}`));
