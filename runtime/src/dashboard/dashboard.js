// The dashboard page: maze.js on the dashboard's own socket, one channel
// pushing every instance's sample each second; drawn with the DOM and SVG,
// no build step, nothing from a CDN.
import { Socket } from "/maze.js";

const body = document.body;
const state = document.getElementById("state");
const root = document.getElementById("instances");

const socket = new Socket(body.dataset.socket, { params: { token: body.dataset.token } });
socket.connect();
const channel = socket.channel("maze:dashboard");
channel.on("view", draw);
channel.join().then(
  (view) => {
    state.textContent = "live";
    draw(view);
  },
  (error) => (state.textContent = `refused: ${error.message}`),
);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** A sparkline of `values` (the last minutes, one point a second). */
function chart(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 300 40");
  svg.setAttribute("preserveAspectRatio", "none");
  const top = Math.max(1, ...values);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const step = 300 / Math.max(1, values.length - 1);
  line.setAttribute("points", values.map((v, i) => `${i * step},${38 - (v / top) * 36}`).join(" "));
  svg.append(line);
  return svg;
}

function number(label, value, series, key) {
  return el("div", { class: "number", "data-number": key }, label, el("b", {}, String(value)), chart(series));
}

function table(headers, rows, name) {
  if (rows.length === 0) return el("p", { class: "empty", "data-table": name }, "none");
  return el(
    "table",
    { "data-table": name },
    el("tr", {}, ...headers.map((h) => el("th", {}, h))),
    ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", typeof c === "number" ? { class: "n" } : {}, String(c))))),
  );
}

function draw(view) {
  // The latest view, for a look from the console (and the tests).
  window.mazeDashboard = view;
  root.replaceChildren(
    ...view.instances.map((sample) => {
      const series = (key) => sample.series.map((point) => point[key]);
      const last = sample.series[sample.series.length - 1] || { joins: 0, in: 0, out: 0 };
      return el(
        "section",
        { "data-instance": sample.instance },
        el("h2", {}, `Instance ${sample.instance}`, el("span", { class: "state" }, sample.broker)),
        el(
          "div",
          { class: "numbers" },
          number("connections", sample.connections, series("connections"), "connections"),
          number("joins / s", last.joins, series("joins"), "joins"),
          number("messages in / s", last.in, series("in"), "in"),
          number("messages out / s", last.out, series("out"), "out"),
        ),
        el("h3", {}, "Topics"),
        table(
          ["topic", "subscribers", "history"],
          sample.topics.map((t) => [t.topic, t.subscribers, t.history ?? "in Redis"]),
          "topics",
        ),
        el("h3", {}, "Presences"),
        table(["topic", "present"], sample.presences.map((p) => [p.topic, p.keys.map((k) => (k.metas > 1 ? `${k.key} (${k.metas})` : k.key)).join(", ")]), "presences"),
        el("h3", {}, "Recent refusals, panics and closes"),
        sample.recent.length === 0
          ? el("p", { class: "empty" }, "none")
          : el(
              "ul",
              { class: "recent" },
              ...sample.recent.map((r) => el("li", {}, `${new Date(r.at).toLocaleTimeString()} ${r.what}: ${r.detail}`)),
            ),
      );
    }),
  );
}
