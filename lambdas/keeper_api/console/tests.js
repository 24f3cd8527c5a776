// Tests page: every test with its koi (running vs target), per-School split and age; start, and manage one.

import { api, badge, el, errorBox, flash, fmt, listCard, pageHeader, statusFilter, table } from "./api.js";
import { startForm } from "./test_form.js";
import { testPanel } from "./test_panel.js";

const COLUMNS = [
  { title: "Test" },
  { title: "Status" },
  { title: "Koi running / target", class: "num" },
  { title: "Per School (running / assigned)" },
  { title: "Behavior" },
  { title: "Target" },
  { title: "Age" },
  { title: "", class: "actions" },
];

// koi each School reports running, per test: the truth of what swims, as opposed to what is assigned.
export function runningByTest(schools) {
  const out = {};
  for (const school of schools.filter((s) => s.live)) {
    for (const [testId, koi] of Object.entries(school.running)) {
      out[testId] = out[testId] || { total: 0, bySchool: {} };
      out[testId].total += koi;
      out[testId].bySchool[school.id] = koi;
    }
  }
  return out;
}

export function mount(main, ctx) {
  const filter = statusFilter("status-filter", "tests", "test_statuses");
  const listArea = el("div", { id: "tests-list" });
  const notice = el("div", { "aria-live": "polite" });
  const form = startForm(async (test, text) => {
    flash(notice, text);
    panel.select(test.id);
  });
  const panel = testPanel(() => refresh());
  main.append(
    pageHeader("Tests", "Every load test, what it wants and what actually swims.", form.toggle, filter),
    notice,
    form.section,
    listCard("tests-title", "Tests", listArea),
    panel.section,
  );
  filter.addEventListener("change", () => refresh());
  form.loadBehaviors();

  function row(test, running) {
    const run = running[test.id] || { total: 0, bySchool: {} };
    const schools = Object.keys({ ...test.koi_per_school, ...run.bySchool }).sort();
    return el(
      "tr",
      { "data-test-id": test.id, class: panel.selected() === test.id ? "selected" : null },
      el("td", {}, el("div", { class: "strong" }, test.name), el("div", { class: "muted small mono" }, test.id)),
      el("td", {}, badge(test.status), test.shed_percent > 0 ? el("div", { class: "small" }, `shed ${fmt.percent(test.shed_percent)}`) : null),
      el(
        "td",
        { class: "num" },
        el("span", { class: "koi-running strong" }, fmt.int(run.total)),
        " / ",
        el("span", { class: "koi-target" }, fmt.int(test.active_koi)),
        el("div", { class: "muted small" }, `of ${fmt.int(test.koi)} configured`),
      ),
      el(
        "td",
        { class: "small" },
        schools.length
          ? schools.map((s) => el("div", {}, `${s}: ${fmt.int(run.bySchool[s] || 0)} / ${fmt.int(test.koi_per_school[s] || 0)}`))
          : el("span", { class: "muted" }, "none"),
      ),
      el("td", {}, `${test.behavior.name}${test.behavior.version ? ` v${test.behavior.version}` : ""}`),
      el("td", { class: "small mono wrap" }, test.target),
      el("td", {}, el("time", { datetime: test.created_at, title: fmt.time(test.created_at) }, fmt.age(test.created_at))),
      el(
        "td",
        { class: "actions" },
        el("button", { type: "button", onclick: () => panel.select(test.id, true), "aria-label": `Manage ${test.name}` }, "Manage"),
      ),
    );
  }

  async function refresh() {
    let tests;
    let schools;
    try {
      const query = filter.value ? `?status=${encodeURIComponent(filter.value)}` : "";
      [tests, schools] = await Promise.all([api("GET", `/v1/tests${query}`), api("GET", "/v1/schools")]);
    } catch (failure) {
      listArea.replaceChildren(errorBox(failure));
      return;
    }
    const running = runningByTest(schools.schools);
    const empty = filter.value
      ? `No ${filter.value} tests.`
      : "No tests yet. Start one with “Start a test” above: it begins swimming within one School poll.";
    listArea.replaceChildren(table("Load tests", COLUMNS, tests.tests.map((t) => row(t, running)), empty));
    await panel.refresh(tests.tests, running, ctx.estop());
  }
  return { refresh };
}
