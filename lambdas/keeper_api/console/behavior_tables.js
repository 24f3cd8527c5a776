// A behavior version's actions with their rates, and what changed between two versions as the Keeper computes it
// (GET /v1/behaviors/{name}/diff: the same diff as `koipond behaviors diff`).

import { el, table } from "./api.js";

const PER_KOI = 1000;

// A rate for people, as the CLI writes it: 1,056 · 38.4 · 4.17 · 0.278.
export function rate(value) {
  if (value === 0) return "0";
  const size = Math.abs(value);
  const digits = size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : null;
  if (digits === null) return Number(value.toPrecision(3)).toString();
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const perHour = (value) => Number(value.toPrecision(6)).toLocaleString("en-US", { maximumFractionDigits: 6 });
const signed = (text, value) => (value > 0 ? `+${text}` : text);
export const perSecond = (perKoiPerHour) => (perKoiPerHour * PER_KOI) / 3600;

// One version's actions: method, path, calls per koi per hour (rate × weight), req/s per 1,000 koi, share.
export function actionsTable(behavior) {
  const actions = Object.entries(behavior.document.actions);
  const total = actions.reduce((sum, [, a]) => sum + a.rate_per_hour * a.weight, 0);
  const rows = actions.map(([name, a]) => {
    const hourly = a.rate_per_hour * a.weight;
    return el(
      "tr",
      { "data-action": name },
      el("td", { class: "mono" }, name),
      el("td", { class: "mono small" }, a.method),
      el("td", { class: "mono small wrap" }, a.path),
      el("td", { class: "num" }, perHour(hourly), a.weight === 1 ? "" : el("span", { class: "muted small" }, ` (${a.rate_per_hour}×${a.weight})`)),
      el("td", { class: "num" }, rate(perSecond(hourly))),
      el("td", { class: "num" }, total ? `${Math.round((100 * hourly) / total)}%` : "–"),
    );
  });
  rows.push(
    el("tr", { class: "total-row" }, el("th", { scope: "row" }, "Total"), el("td", {}), el("td", {}), el("td", { class: "num" }, perHour(total)), el("td", { class: "num" }, rate(perSecond(total))), el("td", {})),
  );
  const columns = [{ title: "Action" }, { title: "Method" }, { title: "Path" }, { title: "Per koi/h", class: "num" }, { title: "Req/s per 1,000 koi", class: "num" }, { title: "Share", class: "num" }];
  return table(`Actions of version ${behavior.version}`, columns, rows, "No actions.");
}

function rateChangeRow(c) {
  const percent = c.percent === null ? "new rate" : `${signed(Number(c.percent.toPrecision(3)).toString(), c.percent)}%`;
  return el(
    "tr",
    { "data-action": c.action },
    el("td", { class: "mono" }, c.action),
    el("td", { class: "num" }, perHour(c.before_per_koi_per_hour)),
    el("td", { class: "num" }, perHour(c.after_per_koi_per_hour)),
    el("td", { class: "num" }, signed(perHour(c.delta_per_koi_per_hour), c.delta_per_koi_per_hour)),
    el("td", { class: "num rate-percent" }, percent),
    el("td", { class: "num" }, signed(rate(c.delta_requests_per_second), c.delta_requests_per_second)),
  );
}

function actionRow(a) {
  return el("tr", { "data-action": a.action }, el("td", { class: "mono" }, a.action), el("td", { class: "mono small" }, a.method), el("td", { class: "mono small wrap" }, a.path), el("td", { class: "num" }, perHour(a.per_koi_per_hour)), el("td", { class: "num" }, rate(a.requests_per_second)));
}

function value(v) {
  if (v === null || v === undefined) return el("span", { class: "muted" }, "–");
  return el("code", { class: "wrap" }, typeof v === "string" ? v : JSON.stringify(v));
}

function changeRow(c) {
  return el("tr", { "data-where": c.where }, el("td", { class: "mono small wrap" }, c.where), el("td", {}, c.kind), el("td", {}, value(c.before)), el("td", {}, value(c.after)));
}

function steadyLine(diff) {
  const before = diff.before.steady_per_koi_per_hour;
  const after = diff.after.steady_per_koi_per_hour;
  const change = before === after ? "unchanged" : before === 0 ? "from 0" : `${signed(Number(((100 * (after - before)) / before).toPrecision(3)).toString(), after - before)}%`;
  return el("p", { class: "steady-line" }, `Steady rate: ${perHour(before)} → ${perHour(after)} calls per koi per hour (${rate(perSecond(before))} → ${rate(perSecond(after))} req/s per 1,000 koi, ${change}).`);
}

// The diff as headed tables; parts with nothing to show are left out.
export function diffView(diff) {
  const from = `version ${diff.before.version}`;
  const to = `version ${diff.after.version}`;
  if (diff.empty) return [el("p", { class: "empty" }, `No changes: ${from} and ${to} are the same document.`)];
  const actionColumns = [{ title: "Action" }, { title: "Method" }, { title: "Path" }, { title: "Per koi/h", class: "num" }, { title: "Req/s per 1,000 koi", class: "num" }];
  const parts = [steadyLine(diff)];
  if (diff.rate_changes.length) {
    const columns = [{ title: "Action" }, { title: "Before/h", class: "num" }, { title: "After/h", class: "num" }, { title: "Change/h", class: "num" }, { title: "Change", class: "num" }, { title: "Req/s per 1,000 koi", class: "num" }];
    parts.push(el("h3", {}, "Rate changes, per koi"), table("Rate changes", columns, diff.rate_changes.map(rateChangeRow), ""));
  }
  if (diff.actions_added.length) parts.push(el("h3", {}, "Actions added"), table("Actions added", actionColumns, diff.actions_added.map(actionRow), ""));
  if (diff.actions_removed.length) parts.push(el("h3", {}, "Actions removed"), table("Actions removed", actionColumns, diff.actions_removed.map(actionRow), ""));
  if (diff.formations_added.length) parts.push(el("p", {}, el("span", { class: "strong" }, "Formations added: "), diff.formations_added.join(", ")));
  if (diff.formations_removed.length) parts.push(el("p", {}, el("span", { class: "strong" }, "Formations removed: "), diff.formations_removed.join(", ")));
  if (diff.changes.length) {
    const columns = [{ title: "Where" }, { title: "Change" }, { title: "Before" }, { title: "After" }];
    parts.push(el("h3", {}, "Other changes"), table("Other changes: templates, websocket, channels, formations", columns, diff.changes.map(changeRow), ""));
  }
  return parts;
}
