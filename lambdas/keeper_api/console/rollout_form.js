// The "Start a rollout" form: a running test and a plan of stages (koi + hold such as "7d"), checked in the
// browser first; the Keeper's own problems (422 per field, 400 per stage, 409 for the test) land next to
// the field they are about.

import { api, el, flash } from "./api.js";

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const MAX_HOLD = 90 * 86400;
const MAX_STAGES = 20;
const MAX_KOI = 10000000;

// Seconds in "90s", "10m", "1h30m", "7d", "1w" or plain seconds; null when it is not a duration.
// The same grammar as koipond.models.durations.parse_duration, so the browser and the Keeper agree.
export function parseHold(text) {
  const cleaned = text.trim().toLowerCase();
  if (/^\d+$/.test(cleaned)) return Number(cleaned);
  const parts = [...cleaned.matchAll(/(\d+)([smhdw])/g)];
  if (!cleaned || parts.map((p) => p[0]).join("") !== cleaned) return null;
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]], 0);
}

// Problems keyed like the Keeper's 422 paths: "test_id", "stages.0.koi", "stages.0.hold", "stages".
export function validatePlan(testId, stages) {
  const problems = {};
  if (!testId) problems.test_id = "Choose a running test.";
  if (!stages.length) problems.stages = "Add at least one stage.";
  let previous = 0;
  stages.forEach((stage, i) => {
    const koi = Number(stage.koi);
    if (!stage.koi || !Number.isInteger(koi) || koi < 1 || koi > MAX_KOI) problems[`stages.${i}.koi`] = "Enter whole koi, 1 to 10,000,000.";
    else if (koi <= previous) problems[`stages.${i}.koi`] = `Must exceed stage ${i}'s ${previous.toLocaleString("en-US")} (stages ramp up).`;
    if (Number.isInteger(koi)) previous = Math.max(previous, koi);
    const hold = parseHold(stage.hold || "");
    if (!stage.hold) problems[`stages.${i}.hold`] = "Enter a hold, e.g. 7d or 30m.";
    else if (hold === null) problems[`stages.${i}.hold`] = "Not a duration; use e.g. 90s, 10m, 2h, 1h30m, 7d.";
    else if (hold < 1 || hold > MAX_HOLD) problems[`stages.${i}.hold`] = "Between 1s and 90d.";
  });
  return problems;
}

// The Keeper's refusal as problems per field: 422 lists paths, a 400 names the stage, a 409 is about the test.
export function keeperProblems(failure) {
  const byField = {};
  for (const p of (failure.details && failure.details.problems) || []) byField[p.path] = p.problem;
  const stage = failure.details && failure.details.stage;
  if (failure.status === 400 && Number.isInteger(stage)) {
    const what = /\bhold\b/.test(failure.message) ? "hold" : "koi";
    byField[`stages.${stage - 1}.${what}`] = failure.message;
  } else if (failure.status === 409) {
    byField.test_id = failure.message;
  }
  return byField;
}

function errorSpan(id) {
  return el("span", { id, class: "field-error" });
}

export function rolloutForm(started) {
  const message = el("div", { "aria-live": "polite" });
  const testSelect = el("select", { id: "ro-test", name: "test_id", required: true, "aria-describedby": "ro-test-hint ro-test-error" }, el("option", { value: "" }, "Loading tests…"));
  const stageRows = el("div", { class: "stage-rows", id: "ro-stages" });
  const addStage = el("button", { type: "button", id: "ro-add-stage" }, "Add stage");
  const reason = el("input", { id: "ro-reason", name: "reason", maxlength: 500, placeholder: "optional, e.g. launch ramp" });
  const form = el(
    "form",
    { id: "rollout-form", novalidate: true },
    el(
      "div",
      { class: "form-grid" },
      el("div", { class: "field field-wide" }, el("label", { for: "ro-test" }, "Test"), testSelect, el("span", { id: "ro-test-hint", class: "hint" }, "A running test without a rollout."), errorSpan("ro-test-error")),
      el("div", { class: "field" }, el("label", { for: "ro-reason" }, "Reason"), reason, el("span", { class: "hint" }, "Recorded in the rollout's history.")),
    ),
    el("fieldset", { class: "stages" }, el("legend", {}, "Stages (koi must increase; hold: 90s, 10m, 2h, 7d)"), stageRows, errorSpan("ro-stages-error"), addStage),
    el("div", { class: "form-actions" }, el("button", { type: "submit", class: "primary" }, "Start rollout")),
  );
  const section = el("section", { id: "rollout-form-section", class: "card", hidden: true, "aria-labelledby": "ro-form-title" }, el("h2", { id: "ro-form-title" }, "Start a rollout"), message, form);
  const toggle = el("button", { type: "button", class: "primary needs-operator", "aria-expanded": "false", "aria-controls": "rollout-form-section" }, "Start a rollout");

  function stageRow() {
    const n = stageRows.children.length + 1;
    const id = `ro-stage-${n}`;
    const label = (text) => [el("span", { class: "visually-hidden" }, `Stage ${n} `), text];
    const remove = el("button", { type: "button", class: "link-button remove-stage", "aria-label": `Remove stage ${n}` }, "Remove");
    const row = el(
      "div",
      { class: "stage-row", "data-stage": n },
      el("span", { class: "stage-number strong" }, `Stage ${n}`),
      el("div", { class: "field" }, el("label", { for: `${id}-koi` }, label("Koi")), el("input", { id: `${id}-koi`, class: "stage-koi", type: "number", min: 1, max: MAX_KOI, step: 1, inputmode: "numeric", "aria-describedby": `${id}-koi-error` }), errorSpan(`${id}-koi-error`)),
      el("div", { class: "field" }, el("label", { for: `${id}-hold` }, label("Hold")), el("input", { id: `${id}-hold`, class: "stage-hold", placeholder: "7d", "aria-describedby": `${id}-hold-error` }), errorSpan(`${id}-hold-error`)),
      remove,
    );
    remove.addEventListener("click", () => {
      row.remove();
      renumber();
    });
    stageRows.append(row);
    return row;
  }

  // Values survive; numbers, ids and labels follow the rows' order after a removal.
  function renumber() {
    const values = [...stageRows.children].map((row) => ({ koi: row.querySelector(".stage-koi").value, hold: row.querySelector(".stage-hold").value }));
    stageRows.replaceChildren();
    for (const value of values.length ? values : [{ koi: "", hold: "" }]) {
      const row = stageRow();
      row.querySelector(".stage-koi").value = value.koi;
      row.querySelector(".stage-hold").value = value.hold;
    }
  }

  function stages() {
    return [...stageRows.children].map((row) => ({ koi: row.querySelector(".stage-koi").value.trim(), hold: row.querySelector(".stage-hold").value.trim() }));
  }

  function showProblems(problems) {
    const controls = [["test_id", testSelect, "ro-test-error"]];
    [...stageRows.children].forEach((row, i) => {
      controls.push([`stages.${i}.koi`, row.querySelector(".stage-koi"), `ro-stage-${i + 1}-koi-error`]);
      controls.push([`stages.${i}.hold`, row.querySelector(".stage-hold"), `ro-stage-${i + 1}-hold-error`]);
    });
    for (const [key, control, errorId] of controls) {
      document.getElementById(errorId).textContent = problems[key] || "";
      if (problems[key]) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    const shown = new Set(controls.map((c) => c[0]));
    // Whatever has no field of its own (the plan as a whole, the reason) is shown under the stages.
    document.getElementById("ro-stages-error").textContent = Object.entries(problems).filter(([k]) => !shown.has(k)).map(([k, v]) => `${k}: ${v}`).join(" ");
    const first = controls.find(([key]) => problems[key]);
    if (first) first[1].focus();
  }

  function setOpen(open) {
    section.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  }

  async function submit(event) {
    event.preventDefault();
    const plan = stages();
    const problems = validatePlan(testSelect.value, plan);
    showProblems(problems);
    if (Object.keys(problems).length) return flash(message, "Some fields need attention; see the messages next to each.", "error");
    const body = { test_id: testSelect.value, stages: plan.map((s) => ({ koi: Number(s.koi), hold: s.hold })), reason: reason.value.trim() || null };
    let rollout;
    try {
      rollout = await api("POST", "/v1/rollouts", body);
    } catch (failure) {
      showProblems(keeperProblems(failure));
      return flash(message, `The Keeper refused the rollout: ${failure.message}`, "error");
    }
    message.replaceChildren();
    form.reset();
    stageRows.replaceChildren();
    stageRow();
    setOpen(false);
    await started(rollout);
  }

  toggle.addEventListener("click", () => {
    setOpen(section.hidden);
    if (!section.hidden) testSelect.focus();
  });
  addStage.addEventListener("click", () => {
    if (stageRows.children.length >= MAX_STAGES) return flash(message, `A plan has at most ${MAX_STAGES} stages.`, "error");
    stageRow().querySelector(".stage-koi").focus();
  });
  form.addEventListener("submit", submit);
  stageRow();

  // Running tests that no active rollout drives; the choice survives the page's refreshes.
  let shownKey = null;
  function setTests(tests, rollouts) {
    const driven = new Set(rollouts.filter((r) => r.status === "holding" || r.status === "paused").map((r) => r.test_id));
    const chosen = testSelect.value;
    // The chosen test stays offered even when it stopped meanwhile: the Keeper then says why it refuses.
    const free = tests.filter((t) => (t.status === "running" && !driven.has(t.id)) || t.id === chosen);
    const key = JSON.stringify(free.map((t) => [t.id, t.name, t.koi, t.status]));
    if (key === shownKey) return; // rebuilding an unchanged list would close it under the user's pointer
    shownKey = key;
    const options = free.map((t) => el("option", { value: t.id }, `${t.name} (${t.id}, ${t.status === "running" ? `${t.koi.toLocaleString("en-US")} koi` : t.status})`));
    testSelect.replaceChildren(el("option", { value: "" }, free.length ? "Choose…" : "No running test without a rollout"), ...options);
    if (free.some((t) => t.id === chosen)) testSelect.value = chosen;
  }
  return { section, toggle, setTests };
}
