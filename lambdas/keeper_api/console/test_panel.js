// One selected test: scale, partial shutdown (percent), stop or resume, and its history.
// The controls are built once per selection and never re-rendered by the refresh, so typing survives it.

import { api, badge, el, flash, fmt, table } from "./api.js";

const HISTORY_SHOWN = 50;

const EVENT_TEXT = {
  test_created: "Started",
  test_scaled: "Scaled",
  test_shed: "Shed",
  test_stopped: "Stopped",
  test_resumed: "Resumed",
  test_completed: "Completed",
  test_reallocated: "Reallocated",
};

// History details as people read them: "40 → 20 koi", "school-1: 40", not raw JSON.
function change(pair, show) {
  return Array.isArray(pair) && pair.length === 2 ? `${show(pair[0])} → ${show(pair[1])}` : show(pair);
}

function describeValue(value) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const parts = Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
    return parts.length ? parts.join(", ") : "none";
  }
  return String(value);
}

function describe(event) {
  const d = event.details || {};
  if (event.kind === "test_scaled" && d.koi !== undefined) return `koi ${change(d.koi, fmt.int)}`;
  if (event.kind === "test_shed" && d.shed_percent !== undefined) return `shed ${change(d.shed_percent, fmt.percent)}`;
  if (event.kind === "test_reallocated" && d.schools !== undefined) return `${fmt.int(d.koi)} koi on ${fmt.int(d.schools)} Schools (was ${fmt.int(d.previous_schools)})`;
  if (event.kind === "test_reallocated" && d.koi_per_school) return `now ${describeValue(d.koi_per_school)}`;
  if (event.kind === "test_created" && d.koi !== undefined) return `${fmt.int(d.koi)} koi against ${d.target || "its target"}`;
  return Object.entries(d).slice(0, 3).map(([k, v]) => `${k}: ${describeValue(v)}`).join("; ");
}

export function testPanel(changed) {
  const section = el("section", { id: "test-panel", class: "card", hidden: true, "aria-labelledby": "panel-title" });
  let selectedId = null;
  let built = null; // {summary, history, message, stopArea, test}

  async function act(method, path, body, done) {
    try {
      await api(method, path, body);
    } catch (failure) {
      flash(built.message, failure.message, "error");
      return;
    }
    flash(built.message, done);
    await changed();
  }

  function numberForm(id, label, attrs, button, submit) {
    const input = el("input", { id, name: id, type: "number", required: true, ...attrs });
    const form = el(
      "form",
      { class: "inline-form", novalidate: true },
      el("label", { for: id }, label),
      input,
      el("button", { type: "submit" }, button),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(input.value);
    });
    return { form, input };
  }

  function build(test) {
    const base = `/v1/tests/${encodeURIComponent(test.id)}`;
    const message = el("div", { "aria-live": "polite" });
    const scale = numberForm("scale-koi", "Koi", { min: 0, max: 10000000, step: 1, value: test.koi }, "Scale", (v) => {
      const koi = Number(v);
      if (!Number.isInteger(koi) || koi < 0) return flash(message, "Koi must be a whole number, 0 or more.", "error");
      act("PATCH", base, { koi }, `Scaled to ${fmt.int(koi)} koi.`);
    });
    const slider = el("input", { id: "shed-slider", type: "range", min: 0, max: 100, step: 5, value: test.shed_percent, "aria-label": "Shed percent (slider)" });
    const shed = numberForm("shed-percent", "Shed %", { min: 0, max: 100, step: "any", value: test.shed_percent }, "Apply shed", (v) => {
      const percent = Number(v);
      if (v === "" || !(percent >= 0 && percent <= 100)) return flash(message, "Shed must be a percentage from 0 to 100.", "error");
      act("PATCH", base, { shed_percent: percent, reason: "partial shutdown from the console" }, `Shedding ${fmt.percent(percent)} of the koi.`);
    });
    slider.addEventListener("input", () => (shed.input.value = slider.value));
    shed.input.addEventListener("input", () => (slider.value = shed.input.value));
    shed.form.insertBefore(slider, shed.input);
    const summary = el("p", { class: "panel-summary" });
    const stopArea = el("div", { class: "inline-form" });
    const history = el("div");
    section.replaceChildren(
      el("h2", { id: "panel-title", tabindex: "-1" }, `Manage “${test.name}”`, el("span", { class: "muted small mono" }, ` ${test.id}`)),
      summary,
      message,
      el("div", { class: "panel-controls needs-operator" }, scale.form, shed.form, stopArea),
      el("p", { class: "muted viewer-only" }, "Read-only: scaling, shedding and stopping need an operator key."),
      el("h3", {}, "History"),
      history,
    );
    section.hidden = false;
    return { summary, message, stopArea, history, base, status: null };
  }

  function renderStop(test) {
    if (built.status === test.status) return;
    built.status = test.status;
    const base = built.base;
    if (test.status === "running") {
      built.stopArea.replaceChildren(
        el("label", { for: "stop-reason" }, "Reason"),
        el("input", { id: "stop-reason", maxlength: 500, placeholder: "optional" }),
        el("button", { type: "button", class: "danger", onclick: () => act("POST", `${base}/stop`, { reason: document.getElementById("stop-reason").value.trim() || null }, "Stopped.") }, "Stop test"),
      );
    } else if (test.status === "stopped") {
      built.stopArea.replaceChildren(el("button", { type: "button", onclick: () => act("POST", `${base}/resume`, {}, "Resumed.") }, "Resume test"));
    } else {
      built.stopArea.replaceChildren(el("span", { class: "muted" }, "Completed tests cannot be resumed."));
    }
  }

  async function refresh(tests, running) {
    const test = tests.find((t) => t.id === selectedId);
    if (!test) {
      section.hidden = true;
      built = null;
      return;
    }
    if (!built) built = build(test);
    renderStop(test);
    const run = running[test.id] ? running[test.id].total : 0;
    built.summary.replaceChildren(
      badge(test.status),
      ` ${fmt.int(run)} running of ${fmt.int(test.active_koi)} wanted · ${fmt.int(test.koi)} configured · shed ${fmt.percent(test.shed_percent)}`,
      test.stopped_reason ? ` · stopped: ${test.stopped_reason}` : "",
      ` · ${fmt.duration(test.duration_seconds)} · started by ${test.created_by}`,
    );
    let page;
    try {
      page = await api("GET", `${built.base}/events?order=newest&limit=${HISTORY_SHOWN}`);
    } catch (failure) {
      built.history.replaceChildren(el("p", { class: "field-error" }, failure.message));
      return;
    }
    const rows = page.events.map((e) =>
      el("tr", {}, el("td", {}, el("time", { datetime: e.at }, fmt.time(e.at))), el("td", {}, EVENT_TEXT[e.kind] || e.kind), el("td", {}, e.actor), el("td", {}, e.reason || "–"), el("td", { class: "small" }, describe(e))),
    );
    const columns = [{ title: "When" }, { title: "What" }, { title: "Who" }, { title: "Why" }, { title: "Details" }];
    const older = page.next_cursor ? el("p", { class: "muted small" }, `Only the newest ${HISTORY_SHOWN} events are shown; all of them: koipond test events ${test.id}`) : "";
    built.history.replaceChildren(table(`History of ${test.name}, newest first`, columns, rows, "No history yet."), older);
  }

  function select(id, focus) {
    if (selectedId !== id) built = null;
    selectedId = id;
    changed().then(() => {
      if (focus) {
        section.scrollIntoView({ block: "start" });
        document.getElementById("panel-title").focus();
      }
    });
  }
  return { section, refresh, select, selected: () => selectedId };
}
