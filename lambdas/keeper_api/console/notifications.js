// Notifications page: what koipond told Slack (or would have, with no route configured), newest first,
// with delivery status, attempts and the last outcome; filters by kind and status.

import { badge, el, fillOptions, fmt, loadOrShowError, pageHeader, table } from "./api.js";

// Badge colours of the delivery statuses; the statuses themselves come from the Keeper's vocabulary.
const STATUSES = { pending: "no_data", delivered: "done", failed: "failed", no_route: "completed" };
const NO_ROUTE = "-"; // the route name of a notification no route subscribes to
const LIMIT = 100;
const COLUMNS = [
  { title: "When" },
  { title: "Kind" },
  { title: "Route" },
  { title: "Status" },
  { title: "Attempts", class: "num" },
  { title: "Last outcome" },
  { title: "Text" },
];

function outcome(n) {
  const last = n.last_outcome;
  if (!last) return n.status === "pending" ? "not tried yet" : "–";
  const what = last.http_status ? `HTTP ${last.http_status}` : last.error || "–";
  return el("div", {}, el("span", { class: "strong" }, what), last.detail ? ` ${last.detail}` : "", el("div", { class: "muted small" }, el("time", { datetime: last.at, title: fmt.time(last.at) }, fmt.age(last.at))));
}

function row(n) {
  return el(
    "tr",
    { "data-key": n.key, "data-kind": n.kind },
    el("td", { class: "nowrap" }, el("time", { datetime: n.created_at, title: fmt.time(n.created_at) }, fmt.age(n.created_at))),
    el("td", { class: "mono small" }, n.kind),
    el("td", {}, n.route === NO_ROUTE ? el("span", { class: "muted" }, "none") : n.route),
    el("td", {}, badge(n.status.replace("_", " "), STATUSES[n.status]), n.delivered_at ? el("div", { class: "muted small" }, fmt.age(n.delivered_at)) : null),
    el("td", { class: "num" }, fmt.int(n.attempts)),
    el("td", { class: "small" }, outcome(n)),
    el("td", { class: "small notification-text" }, n.text),
  );
}

function select(id, label, all, field) {
  const choice = el("select", { id }, el("option", { value: "" }, all));
  fillOptions(choice, field, (v) => v.replace(/_/g, " "));
  return el("div", { class: "field" }, el("label", { for: id }, label), choice);
}

export function mount(main) {
  const filters = el("form", { class: "filters", novalidate: true, "aria-label": "Filter notifications" }, select("notification-kind", "Kind", "Every kind", "notification_kinds"), select("notification-status", "Status", "Every status", "notification_statuses"));
  const summary = el("p", { class: "muted small", id: "notifications-summary" });
  const listArea = el("div", { id: "notifications-list" });
  main.append(
    pageHeader("Notifications", "What koipond sent to Slack (or kept because no route takes it), newest first.", filters),
    el("section", { class: "card", "aria-labelledby": "notifications-title" }, el("div", { class: "card-header" }, el("h2", { id: "notifications-title", class: "visually-hidden" }, "Notifications"), summary), listArea),
  );
  const kind = filters.querySelector("#notification-kind");
  const status = filters.querySelector("#notification-status");
  filters.addEventListener("change", () => refresh());
  filters.addEventListener("submit", (event) => event.preventDefault());

  async function refresh() {
    const params = new URLSearchParams({ limit: String(LIMIT) });
    if (kind.value) params.set("kind", kind.value);
    if (status.value) params.set("status", status.value);
    const data = await loadOrShowError(listArea, `/v1/notifications?${params}`);
    if (!data) return;
    const found = data.notifications;
    const unrouted = found.filter((n) => n.status === "no_route").length;
    summary.textContent = found.length
      ? `${found.length === LIMIT ? `The latest ${LIMIT}` : fmt.int(found.length)} shown${unrouted ? `; ${fmt.int(unrouted)} with no route (kept, not sent)` : ""}.`
      : "";
    const empty = kind.value || status.value
      ? "No notifications match these filters."
      : "No notifications yet — configure routes in the notification secret, see docs/notifications.md.";
    listArea.replaceChildren(table("Notifications, newest first", COLUMNS, found.map(row), empty));
  }
  return { refresh };
}
