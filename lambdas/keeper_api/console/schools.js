// Schools page: the live Schools, their capacity and load, and when each last polled.

import { badge, el, fmt, loadOrShowError, pageHeader, table } from "./api.js";

const COLUMNS = [
  { title: "School" },
  { title: "State" },
  { title: "Capacity", class: "num" },
  { title: "Assigned koi", class: "num" },
  { title: "Running koi", class: "num" },
  { title: "Load" },
  { title: "Last poll" },
  { title: "First seen" },
];

function loadBar(used, capacity) {
  const percent = capacity > 0 ? Math.min(100, Math.round((used / capacity) * 100)) : 0;
  return el(
    "div",
    { class: "meter-wrap" },
    el("meter", { min: 0, max: 100, low: 70, high: 90, optimum: 0, value: percent, "aria-label": `Load ${percent}%` }),
    el("span", { class: "small" }, `${percent}%`),
  );
}

export function mount(main) {
  const summary = el("div", { class: "stats" });
  const list = el("section", { class: "card", "aria-label": "Schools" });
  main.append(pageHeader("Schools", "Processes that run koi. A School that misses 3 polls is not live and its koi move."), summary, list);

  async function refresh() {
    const data = await loadOrShowError(list, "/v1/schools");
    if (!data) return;
    const schools = [...data.schools].sort((a, b) => Number(b.live) - Number(a.live) || a.id.localeCompare(b.id));
    const live = schools.filter((s) => s.live);
    const sum = (items, f) => items.reduce((n, s) => n + f(s), 0);
    summary.replaceChildren(
      stat("Live Schools", `${live.length} of ${schools.length}`),
      stat("Capacity (live)", fmt.int(sum(live, (s) => s.capacity))),
      stat("Koi assigned", fmt.int(sum(live, (s) => s.assigned_koi))),
      stat("Koi running", fmt.int(sum(live, (s) => s.running_koi))),
    );
    const rows = schools.map((s) =>
      el(
        "tr",
        { "data-school-id": s.id },
        el("td", { class: "mono" }, s.id),
        el("td", {}, badge(s.live ? "live" : "missing")),
        el("td", { class: "num" }, fmt.int(s.capacity)),
        el("td", { class: "num" }, fmt.int(s.assigned_koi)),
        el("td", { class: "num", title: `${s.running_tests} tests` }, fmt.int(s.running_koi)),
        el("td", {}, loadBar(s.assigned_koi, s.capacity)),
        el("td", {}, el("time", { datetime: s.last_poll_at, title: fmt.time(s.last_poll_at) }, fmt.age(s.last_poll_at))),
        el("td", {}, el("time", { datetime: s.first_seen_at }, fmt.time(s.first_seen_at))),
      ),
    );
    list.replaceChildren(table("Schools", COLUMNS, rows, "No School has polled yet. Start one with `koipond school` (or `koipond up --schools N`)."));
  }
  return { refresh };
}

export function stat(label, value) {
  return el("div", { class: "stat" }, el("div", { class: "stat-value" }, value), el("div", { class: "stat-label" }, label));
}
