// One selected deploy: its baseline and soak windows (time left while pending), the verdict and one row per
// SLI compared. Verdicts carry text and a symbol as well as colour.

import { api, badge, el, fmt, table } from "./api.js";

const OUTCOME = {
  pass: { text: "✓ pass", kind: "running" },
  fail: { text: "✗ fail", kind: "failed" },
  inconclusive: { text: "? inconclusive", kind: "breaching" },
};
const SLI_TITLE = { success_rate: "Success rate", latency_p50: "Latency p50", latency_p99: "Latency p99", websocket_lag_p99: "Websocket lag p99" };

export function statusBadge(deploy) {
  return badge(deploy.status, deploy.status === "pending" ? "no_data" : "completed");
}

export function verdictBadge(deploy) {
  if (!deploy.verdict) return el("span", { class: "muted small" }, "no verdict yet");
  const outcome = OUTCOME[deploy.verdict.outcome] || { text: deploy.verdict.outcome, kind: "no_data" };
  return el("span", { class: `badge badge-${outcome.kind} verdict`, "data-outcome": deploy.verdict.outcome }, outcome.text);
}

// Soak progress while pending: how much of the window is left, or what the verdict now waits for.
export function soakProgress(deploy, now = Date.now()) {
  if (deploy.status !== "pending") return el("span", { class: "small" }, `judged ${fmt.age(deploy.judged_at)}`);
  const left = Math.max(0, Math.round((Date.parse(deploy.soak.end) - now) / 1000));
  const elapsed = Math.min(deploy.soak.seconds, Math.max(0, (now - Date.parse(deploy.soak.start)) / 1000));
  const text = left > 0 ? `${fmt.duration(left)} of soak left` : "soak over; the next release tick judges it";
  return el(
    "div",
    { class: "meter-wrap" },
    el("progress", { max: deploy.soak.seconds, value: Math.round(elapsed), "aria-label": `Soak of ${deploy.build}: ${text}` }),
    el("span", { class: "small soak-left" }, text),
  );
}

// Success rate in percent (delta in points); latency and lag in seconds, shown in milliseconds.
function number(kind, value, isDelta) {
  if (value === null || value === undefined) return "no data";
  if (value === "+Inf" || value === "-Inf") return value === "+Inf" ? "above the largest bucket" : "below the smallest bucket";
  const sign = isDelta && value > 0 ? "+" : "";
  if (kind === "success_rate") return `${sign}${value.toLocaleString("en-US", { maximumFractionDigits: 2 })}${isDelta ? " pp" : "%"}`;
  return `${sign}${(value * 1000).toLocaleString("en-US", { maximumFractionDigits: 1 })} ms`;
}

function okCell(row) {
  if (row.ok === true) return badge("✓ ok", "running");
  if (row.ok === false) return badge("✗ regressed", "failed");
  return badge("not judged", "no_data");
}

function sliTable(deploy) {
  const rows = (deploy.verdict ? deploy.verdict.rows : []).map((r) =>
    el(
      "tr",
      { "data-sli": r.kind },
      el("td", {}, SLI_TITLE[r.kind] || r.kind),
      el("td", { class: "mono small" }, r.method || "–"),
      el("td", { class: "num" }, number(r.kind, r.baseline, false)),
      el("td", { class: "num" }, number(r.kind, r.after, false)),
      el("td", { class: "num" }, number(r.kind, r.delta, true)),
      el("td", { class: "small" }, r.threshold),
      el("td", {}, okCell(r), r.note ? el("div", { class: "muted small" }, r.note) : null),
    ),
  );
  const columns = [{ title: "SLI" }, { title: "Method" }, { title: "Baseline", class: "num" }, { title: "After", class: "num" }, { title: "Delta", class: "num" }, { title: "Threshold" }, { title: "OK" }];
  const empty = deploy.verdict ? "The verdict compared no SLI (see its reason)." : "No SLI rows until the verdict: the soak window has to end first.";
  return table(`SLIs of ${deploy.build}`, columns, rows, empty);
}

function windowRow(title, w) {
  return el("tr", {}, el("th", { scope: "row" }, title), el("td", {}, el("time", { datetime: w.start }, fmt.time(w.start))), el("td", {}, el("time", { datetime: w.end }, fmt.time(w.end))), el("td", { class: "num" }, fmt.duration(w.seconds)));
}

function windows(deploy) {
  return el(
    "table",
    { class: "data windows" },
    el("caption", { class: "visually-hidden" }, `Windows of ${deploy.build}`),
    el("thead", {}, el("tr", {}, ["Window", "From", "To", "Length"].map((t) => el("th", { scope: "col", class: t === "Length" ? "num" : null }, t)))),
    el("tbody", {}, windowRow("Baseline", deploy.baseline), windowRow("Soak", deploy.soak)),
  );
}

export function deployDetail() {
  const section = el("section", { id: "deploy-detail", class: "card", hidden: true, "aria-labelledby": "dp-detail-title" });
  let selectedId = null;

  async function refresh() {
    if (!selectedId) return;
    let deploy;
    try {
      deploy = await api("GET", `/v1/deploys/${encodeURIComponent(selectedId)}`);
    } catch (failure) {
      section.replaceChildren(el("h2", { id: "dp-detail-title" }, selectedId), el("p", { class: "field-error" }, failure.message));
      return;
    }
    const v = deploy.verdict;
    const focused = document.activeElement && document.activeElement.id === "dp-detail-title";
    // replaceChildren would print a null as "null": parts that do not apply are filtered out.
    const parts = [
      el("h2", { id: "dp-detail-title", tabindex: "-1" }, `Deploy of ${deploy.service}: ${deploy.build}`, el("span", { class: "muted small mono" }, ` ${deploy.id}`)),
      el(
        "p",
        { class: "panel-summary" },
        statusBadge(deploy),
        " ",
        verdictBadge(deploy),
        ` · deployed ${fmt.time(deploy.at)} · recorded by ${deploy.created_by}`,
        deploy.attempts ? ` · ${deploy.attempts} attempt(s) to judge` : "",
      ),
      v ? el("p", { class: "verdict-reason" }, el("span", { class: "strong" }, "Why: "), v.reason) : soakProgress(deploy),
      deploy.last_error ? el("p", { class: "notice notice-error small" }, `Last attempt failed: ${deploy.last_error}`) : null,
      el("h3", {}, "Windows"),
      windows(deploy),
      el("h3", {}, "SLIs"),
      sliTable(deploy),
    ];
    section.replaceChildren(...parts.filter((part) => part));
    section.hidden = false;
    if (focused) document.getElementById("dp-detail-title").focus();
  }

  async function select(id, focus) {
    selectedId = id;
    await refresh();
    if (focus) {
      section.scrollIntoView({ block: "start" });
      document.getElementById("dp-detail-title").focus();
    }
  }
  return { section, refresh, select, selected: () => selectedId, clear: () => ((selectedId = null), (section.hidden = true)) };
}
