// Charts page: success rate, latency, koi and websocket lag over time, drawn as inline SVG.
// The data comes from the Keeper's /v1/metrics endpoint, which builds the PromQL and bounds the window.

import { api, el, pageHeader, svg } from "./api.js";

const SERIES = [
  { name: "success_rate", title: "Success rate", color: "#1b7f3b" },
  { name: "latency_p50", title: "Latency p50", color: "#0b5cad" },
  { name: "latency_p99", title: "Latency p99", color: "#8a3ffc" },
  { name: "koi", title: "Koi swimming", color: "#c25100", perTest: true },
  { name: "websocket_lag_p99", title: "Websocket event lag p99", color: "#b0226b" },
];
const RANGES = [["15m", "Last 15 minutes"], ["1h", "Last hour"], ["6h", "Last 6 hours"], ["24h", "Last 24 hours"]];
const W = 640;
const H = 190;
const PAD = { left: 64, right: 16, top: 14, bottom: 30 };

export function formatValue(unit, value) {
  if (value === null || value === undefined) return "–";
  if (unit === "ratio") return `${(value * 100).toLocaleString("en-US", { maximumFractionDigits: 2 })}%`;
  if (unit === "seconds") return value < 1 ? `${(value * 1000).toLocaleString("en-US", { maximumFractionDigits: 1 })} ms` : `${value.toLocaleString("en-US", { maximumFractionDigits: 2 })} s`;
  return value.toLocaleString("en-US", { maximumFractionDigits: 1 });
}

function niceMax(max, unit) {
  if (unit === "ratio") return 1;
  if (unit === "koi" && max < 4) return 4; // whole koi on every tick of an (almost) empty chart
  if (max <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  // Four grid intervals: tops whose quarters are round numbers (8 -> 2, 4, 6).
  return [1, 2, 4, 8, 10].map((m) => m * magnitude).find((m) => m >= max);
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

// The line, broken where Prometheus had no value, so a gap reads as "unknown" rather than as a slope.
function linePath(points, x, y) {
  let d = "";
  let pen = false;
  for (const [t, v] of points) {
    if (v === null) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

export function drawChart(data, color) {
  const known = data.points.filter(([, v]) => v !== null);
  const start = Date.parse(data.start) / 1000;
  const end = Date.parse(data.end) / 1000;
  const top = niceMax(Math.max(0, ...known.map(([, v]) => v)), data.unit);
  const bottom = data.unit === "ratio" ? Math.min(0.9, ...known.map(([, v]) => Math.floor(v * 10) / 10)) : 0;
  const x = (t) => PAD.left + ((t - start) / (end - start)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - bottom) / (top - bottom || 1)) * (H - PAD.top - PAD.bottom);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => bottom + f * (top - bottom));
  const latest = known.length ? known[known.length - 1][1] : null;
  const label = known.length
    ? `${data.title}: latest ${formatValue(data.unit, latest)}, lowest ${formatValue(data.unit, Math.min(...known.map(([, v]) => v)))}, highest ${formatValue(data.unit, Math.max(...known.map(([, v]) => v)))}`
    : `${data.title}: no data yet`;
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" },
    ticks.map((v) => [
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: PAD.left - 8, y: y(v) + 4, "text-anchor": "end", class: "tick" }, formatValue(data.unit, v)),
    ]),
    [0, 0.5, 1].map((f) => {
      const t = start + f * (end - start);
      return svg("text", { x: x(t), y: H - 8, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle", class: "tick" }, clock(t));
    }),
    known.length
      ? [
          svg("path", { d: linePath(data.points, x, y), fill: "none", stroke: color, "stroke-width": 2.5, "stroke-linejoin": "round" }),
          // The latest value as a dot: visible even when it is the only point, e.g. just after a start.
          svg("circle", { cx: x(known[known.length - 1][0]), cy: y(latest), r: 4, fill: color }),
        ]
      : svg("text", { x: (W + PAD.left) / 2, y: H / 2, "text-anchor": "middle", class: "no-data" }, "No data yet"),
  );
}

export function prometheusUnreachable(failure) {
  return Boolean(failure && failure.code === "metrics_unavailable" && failure.details && failure.details.reason === "unreachable");
}

function prometheusDownNotice(failure) {
  return el(
    "div",
    { class: "notice notice-error", role: "alert" },
    el("strong", {}, "Prometheus is unreachable. "),
    "No chart can be drawn, and the shutdown guard cannot see either: each guard query follows its on_error policy (see the Guard page). ",
    el("span", { class: "small" }, failure.message),
  );
}

function card(spec) {
  const value = el("span", { class: "chart-value" }, "–");
  const body = el("div", { class: "chart-body" }, el("p", { class: "muted" }, "Loading…"));
  const node = el("section", { class: "card chart-card", "data-series": spec.name, "aria-labelledby": `chart-${spec.name}` }, el("div", { class: "card-header" }, el("h2", { id: `chart-${spec.name}` }, spec.title), value), body);
  return { node, value, body };
}

export function mount(main) {
  const range = el("select", { id: "chart-range" }, RANGES.map(([v, t]) => el("option", { value: v, selected: v === "1h" }, t)));
  const test = el("select", { id: "chart-test" }, el("option", { value: "" }, "All tests"));
  const controls = el("div", { class: "inline-form" }, el("label", { for: "chart-range" }, "Range"), range, el("label", { for: "chart-test" }, "Koi of"), test);
  const cards = SERIES.map((spec) => ({ spec, ...card(spec) }));
  const status = el("div", { id: "chart-status" });
  main.append(pageHeader("Charts", "What the koi see, from the Schools' metrics in Prometheus.", controls), status, el("div", { class: "chart-grid" }, cards.map((c) => c.node)));
  range.addEventListener("change", () => refresh());
  test.addEventListener("change", () => refresh());

  let shownTests = null;
  async function refreshTests() {
    try {
      const data = await api("GET", "/v1/tests");
      const key = data.tests.map((t) => `${t.id}:${t.status}`).join(",");
      if (key === shownTests) return; // rebuilding the options would close the list under the user's pointer
      shownTests = key;
      const chosen = test.value;
      test.replaceChildren(el("option", { value: "" }, "All tests"), ...data.tests.map((t) => el("option", { value: t.id, selected: t.id === chosen }, `${t.name} (${t.status})`)));
    } catch {
      // the chart cards show the Keeper's error
    }
  }

  async function refreshCard(c) {
    const params = new URLSearchParams({ range: range.value });
    if (c.spec.perTest && test.value) params.set("test", test.value);
    try {
      const data = await api("GET", `/v1/metrics/${c.spec.name}?${params}`);
      const known = data.points.filter(([, v]) => v !== null);
      c.value.textContent = known.length ? formatValue(data.unit, known[known.length - 1][1]) : "";
      c.body.replaceChildren(drawChart(data, c.spec.color));
      return null;
    } catch (failure) {
      // Never an empty chart for a Prometheus that did not answer: "no data" would read as "no traffic".
      const down = prometheusUnreachable(failure);
      c.value.textContent = down ? "Prometheus unreachable" : "unavailable";
      c.body.replaceChildren(
        down ? el("p", { class: "muted" }, "Not drawn: Prometheus did not answer.") : el("p", { class: "notice notice-error", role: "alert" }, failure.message),
      );
      return failure;
    }
  }

  async function refresh() {
    const [, ...failures] = await Promise.all([refreshTests(), ...cards.map(refreshCard)]);
    const down = failures.find(prometheusUnreachable);
    // One alert for the page rather than five: the cause is the same for every chart.
    status.replaceChildren(...(down ? [prometheusDownNotice(down)] : []));
  }
  return { refresh };
}
