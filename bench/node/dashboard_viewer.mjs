// A dashboard page's socket, without a browser: reads the page for its
// token, joins the dashboard's channel and reads every view pushed, until
// killed. Usage: node dashboard_viewer.mjs PORT
import WebSocket from "ws";

const port = process.argv[2];
const page = await (await fetch(`http://127.0.0.1:${port}/maze/dashboard`)).text();
const token = page.match(/data-token="([^"]+)"/)[1];
const ws = new WebSocket(`ws://127.0.0.1:${port}/maze/dashboard/socket?token=${encodeURIComponent(token)}`);
let views = 0;
ws.on("open", () => ws.send(JSON.stringify({ event: "join", topic: "maze:dashboard", ref: "1" })));
ws.on("message", (data) => {
  if (String(data).includes('"view"')) views += 1;
});
process.on("SIGTERM", () => {
  console.log(`views: ${views}`);
  process.exit(0);
});
