// Rollouts page: every rollout with its stage and hold progress; start one on a running test; open one to
// see its stages and history and to advance, pause, resume or abort it.

import { api, el, errorBox, flash, fmt, listCard, pageHeader, statusFilter, table } from "./api.js";
import { holdProgress, rolloutBadge, rolloutDetail } from "./rollout_detail.js";
import { rolloutForm } from "./rollout_form.js";

const COLUMNS = [
  { title: "Test" },
  { title: "Status" },
  { title: "Stage", class: "num" },
  { title: "Koi", class: "num" },
  { title: "Hold" },
  { title: "Started" },
  { title: "", class: "actions" },
];

export function mount(main) {
  const filter = statusFilter("rollout-filter", "rollouts", "rollout_statuses");
  const notice = el("div", { "aria-live": "polite" });
  const listArea = el("div", { id: "rollouts-list" });
  const form = rolloutForm(async (rollout) => {
    const stage = rollout.stages[0];
    flash(notice, `Rollout ${rollout.id} started: stage 1/${rollout.stages.length}, ${fmt.int(stage.koi)} koi, hold ${stage.hold}.`);
    detail.select(rollout.id, true);
  });
  const detail = rolloutDetail(() => refresh());
  let testNames = {};
  main.append(
    pageHeader("Rollouts", "Ramps of a running test through stages; each stage advances once held with the guard healthy.", form.toggle, filter),
    notice,
    form.section,
    listCard("rollouts-title", "Rollouts", listArea),
    detail.section,
  );
  filter.addEventListener("change", () => refresh());

  function row(r) {
    const stage = r.stages[r.current_stage - 1];
    const name = testNames[r.test_id];
    return el(
      "tr",
      { "data-rollout-id": r.id, class: detail.selected() === r.id ? "selected" : null },
      el("td", {}, el("div", { class: "strong" }, name || r.test_id), el("div", { class: "muted small mono" }, `${r.id} · ${r.test_id}`)),
      el("td", {}, rolloutBadge(r.status)),
      el("td", { class: "num stage-label" }, `${r.current_stage}/${r.stages.length}`),
      el("td", { class: "num stage-koi" }, fmt.int(stage.koi)),
      el("td", {}, holdProgress(r)),
      el("td", {}, el("time", { datetime: r.created_at, title: fmt.time(r.created_at) }, fmt.age(r.created_at)), el("div", { class: "muted small" }, `by ${r.created_by}`)),
      el("td", { class: "actions" }, el("button", { type: "button", onclick: () => detail.select(r.id, true), "aria-label": `Open the rollout of ${name || r.test_id}` }, "Open")),
    );
  }

  async function refresh() {
    let rollouts;
    let all;
    let tests;
    try {
      const query = filter.value ? `?status=${encodeURIComponent(filter.value)}` : "";
      [rollouts, all, tests] = await Promise.all([
        api("GET", `/v1/rollouts${query}`),
        filter.value ? api("GET", "/v1/rollouts") : null,
        api("GET", "/v1/tests"),
      ]);
    } catch (failure) {
      listArea.replaceChildren(errorBox(failure));
      return;
    }
    testNames = Object.fromEntries(tests.tests.map((t) => [t.id, t.name]));
    form.setTests(tests.tests, (all || rollouts).rollouts);
    const empty = filter.value
      ? `No ${filter.value} rollouts.`
      : "No rollouts yet. Start one on a running test with “Start a rollout” above (or `koipond rollout start`).";
    listArea.replaceChildren(table("Rollouts, newest first", COLUMNS, rollouts.rollouts.map(row), empty));
    await detail.refresh(testNames);
  }
  return { refresh };
}
