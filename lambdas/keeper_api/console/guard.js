// Guard page: the shutdown guard's queries with the value, outcome and time of their last evaluation.

import { badge, el, fmt, loadOrShowError, pageHeader, table } from "./api.js";

const COMPARATOR = { LessThan: "<", LessThanOrEqual: "≤", GreaterThan: ">", GreaterThanOrEqual: "≥" };
const COLUMNS = [
  { title: "Query" },
  { title: "Breaches when" },
  { title: "Action" },
  { title: "Last value", class: "num" },
  { title: "Outcome" },
  { title: "Evaluated" },
];

function value(evaluation) {
  if (!evaluation || evaluation.value === null || evaluation.value === undefined) return "–";
  const v = Number(evaluation.value);
  return Number.isFinite(v) ? v.toLocaleString("en-US", { maximumSignificantDigits: 4 }) : String(evaluation.value);
}

function row({ query: q, last }) {
  const action = q.action.kind === "stop" ? "stop tests" : `shed ${q.action.percent}%`;
  return el(
    "tr",
    { "data-label": q.label },
    el(
      "td",
      {},
      el("div", { class: "strong" }, q.label, q.enabled ? null : el("span", { class: "muted" }, " (disabled)")),
      el("code", { class: "query small" }, q.query),
      el("div", { class: "muted small" }, `cluster ${q.cluster} · window ${q.time_range} · step ${q.step}`),
    ),
    el("td", { class: "nowrap" }, `value ${COMPARATOR[q.comparator] || q.comparator} ${q.threshold}`),
    el("td", { class: "nowrap" }, action),
    el("td", { class: "num" }, value(last)),
    el("td", {}, last ? badge(last.outcome.replace("_", " "), last.outcome) : el("span", { class: "muted" }, "not yet run"), last && last.acted ? el("div", { class: "small" }, "acted") : null, last && last.detail ? el("div", { class: "muted small" }, last.detail) : null),
    el("td", {}, last ? el("time", { datetime: last.at, title: fmt.time(last.at) }, fmt.age(last.at)) : "–"),
  );
}

export function mount(main) {
  const list = el("section", { class: "card", "aria-label": "Guard queries" });
  const clusters = el("p", { class: "muted" });
  main.append(pageHeader("Guard", "Queries the shutdown guard evaluates against Prometheus; on a sustained breach it stops or sheds load."), clusters, list);

  async function refresh() {
    const data = await loadOrShowError(list, "/v1/guard");
    if (!data) return;
    clusters.textContent = data.clusters.length ? `Prometheus clusters: ${data.clusters.join(", ")}` : "No Prometheus cluster is configured: every query will report an error.";
    list.replaceChildren(table("Guard queries", COLUMNS, data.queries.map(row), "No guard queries. Add one with PUT /v1/guard/queries/{label}."));
  }
  return { refresh };
}
