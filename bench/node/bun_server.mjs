// The Bun peer of the fan-out benchmark: Bun's built-in WebSocket server
// (uWebSockets, with native topic pub/sub) doing the same job as a maze socket
// whose channel rebroadcasts, in the same protocol (maze JSON).
// Usage: bun bun_server.mjs PORT
const port = Number(process.argv[2] || 3400);

Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(request, server) {
    if (server.upgrade(request, { data: { joined: new Set() } })) return;
    return new Response("a WebSocket endpoint", { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    message(ws, data) {
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
        ws.subscribe(frame.topic);
        ws.data.joined.add(frame.topic);
        reply("ok");
      } else if (frame.event === "message") {
        if (!ws.data.joined.has(frame.topic)) return reply("error");
        // The sender's user id, as the generated maze channel adds it (null:
        // the benchmark's clients are guests): the same bytes on the wire.
        const payload = { ...frame.payload, user_id: null };
        const text = JSON.stringify({ event: "message", topic: frame.topic, subject: frame.subject, payload });
        // publish skips the sender: it gets its copy directly, as in maze.
        ws.publish(frame.topic, text);
        ws.send(text);
        reply("ok");
      }
    },
  },
});
console.log(`bun listening on http://127.0.0.1:${port}`);
