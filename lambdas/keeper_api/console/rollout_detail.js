// One selected rollout: its stages (the current one marked), the transition history, and the hand controls
// (advance, pause, resume, abort), each asking for a reason. Controls are rebuilt only when the status
// changes, so a reason being typed survives the page's refreshes.

import { api, badge, el, flash, fmt, table } from "./api.js";

export const STATUS_BADGE = { holding: "running", paused: "breaching", completed: "completed", aborted: "stopped" };
const EVENT_TEXT = {
  rollout_started: "Started",
  rollout_advanced: "Advanced",
  rollout_completed: "Completed",
  rollout_paused: "Paused",
  rollout_resumed: "Resumed",
  rollout_aborted: "Aborted",
};
// What each status allows; a refused move still shows the Keeper's 409 (e.g. a race with the tick).
const ACTIONS = {
  advance: { label: "Advance", verb: "advancing", done: "Advanced to the next stage.", cls: "primary" },
  pause: { label: "Pause", verb: "pausing", done: "Paused.", cls: null },
  resume: { label: "Resume", verb: "resuming", done: "Resumed: the stage's hold starts over.", cls: "primary" },
  abort: { label: "Abort", verb: "aborting", done: "Aborted; the test keeps running as it is.", cls: "danger" },
};
const ALLOWED = { holding: ["advance", "pause", "abort"], paused: ["resume", "abort"], completed: [], aborted: [] };

export function rolloutBadge(status) {
  return badge(status, STATUS_BADGE[status]);
}

// The hold as a bar that fills while time passes, with the time left in words (paused: why).
export function holdProgress(rollout, now = Date.now()) {
  const stage = rollout.stages[rollout.current_stage - 1];
  if (rollout.status === "paused") return el("div", { class: "small paused-reason" }, el("span", { class: "strong" }, "Paused: "), rollout.paused_reason || "no reason recorded");
  if (rollout.status === "completed") return el("span", { class: "small" }, "Every stage held");
  if (rollout.status === "aborted") return el("span", { class: "muted small" }, "Given up");
  const total = stage.hold_seconds;
  const elapsed = Math.min(total, Math.max(0, (now - Date.parse(rollout.stage_started_at)) / 1000));
  const left = Math.max(0, Math.round((Date.parse(rollout.hold_ends_at) - now) / 1000));
  const text = left > 0 ? `${fmt.duration(left)} left of ${stage.hold}` : `${stage.hold} held; waits for the guard and the next tick`;
  return el(
    "div",
    { class: "meter-wrap hold" },
    el("progress", { max: total, value: Math.round(elapsed), "aria-label": `Hold of stage ${rollout.current_stage}: ${text}` }),
    el("span", { class: "small hold-left" }, text),
  );
}

function describe(event) {
  const d = event.details || {};
  if (d.to_stage === undefined) return "";
  const from = d.from_stage && d.from_stage !== d.to_stage ? `stage ${d.from_stage} → ` : "stage ";
  return `${from}${d.to_stage}/${d.stages} · ${fmt.int(d.koi)} koi · hold ${fmt.duration(d.hold_seconds)}`;
}

function stageTable(rollout) {
  const rows = rollout.stages.map((s) => {
    const current = s.state === "current";
    const state = current ? `▶ current${rollout.status === "paused" ? " (paused)" : ""}` : s.state === "done" ? "✓ done" : "next";
    return el(
      "tr",
      { class: current ? "selected current-stage" : null, "aria-current": current ? "step" : null, "data-stage": s.number },
      el("td", { class: "nowrap" }, `${s.number}/${rollout.stages.length}`),
      el("td", { class: "num" }, fmt.int(s.koi)),
      el("td", {}, s.hold),
      el("td", { class: current ? "strong" : "muted" }, state),
    );
  });
  const columns = [{ title: "Stage" }, { title: "Koi", class: "num" }, { title: "Hold" }, { title: "State" }];
  return table(`Stages of ${rollout.id}`, columns, rows, "No stages.");
}

function historyTable(rollout) {
  const rows = [...(rollout.transitions || [])].reverse().map((e) =>
    el("tr", {}, el("td", { class: "nowrap" }, el("time", { datetime: e.at }, fmt.time(e.at))), el("td", {}, EVENT_TEXT[e.kind] || e.kind), el("td", {}, e.actor), el("td", {}, e.reason || "–"), el("td", { class: "small" }, describe(e))),
  );
  const columns = [{ title: "When" }, { title: "What" }, { title: "Who" }, { title: "Why" }, { title: "Stage" }];
  return table(`Transitions of ${rollout.id}, newest first`, columns, rows, "No transitions yet.");
}

export function rolloutDetail(changed) {
  const section = el("section", { id: "rollout-detail", class: "card", hidden: true, "aria-labelledby": "ro-detail-title" });
  let selectedId = null;
  let built = null; // {summary, message, controls, reasonArea, stages, history, status}

  function build(rollout, testName) {
    const parts = {
      summary: el("p", { class: "panel-summary" }),
      message: el("div", { "aria-live": "polite" }),
      controls: el("div", { class: "inline-form", role: "group", "aria-label": "Steer the rollout" }),
      reasonArea: el("div"),
      stages: el("div"),
      history: el("div"),
      status: null,
    };
    section.replaceChildren(
      el("h2", { id: "ro-detail-title", tabindex: "-1" }, `Rollout of “${testName}”`, el("span", { class: "muted small mono" }, ` ${rollout.id}`)),
      parts.summary,
      parts.message,
      el("div", { class: "panel-controls needs-operator" }, parts.controls, parts.reasonArea),
      el("p", { class: "muted viewer-only" }, "Read-only: advancing, pausing, resuming and aborting need an operator key."),
      el("div", { class: "detail-grid" }, el("div", {}, el("h3", {}, "Stages"), parts.stages), el("div", {}, el("h3", {}, "History"), parts.history)),
    );
    section.hidden = false;
    return parts;
  }

  async function act(action, reason) {
    const spec = ACTIONS[action];
    try {
      await api("POST", `/v1/rollouts/${encodeURIComponent(selectedId)}/${action}`, { reason });
    } catch (failure) {
      const why = { 403: "refused", 409: "not possible now" }[failure.status] || "failed";
      flash(built.message, `${spec.label} ${why} (HTTP ${failure.status}): ${failure.message}`, "error");
      return;
    }
    built.reasonArea.replaceChildren();
    flash(built.message, spec.done);
    await changed();
  }

  function askReason(action) {
    const spec = ACTIONS[action];
    const input = el("input", { id: "ro-action-reason", class: "wide", maxlength: 500, required: true, "aria-describedby": "ro-action-reason-error" });
    const error = el("span", { id: "ro-action-reason-error", class: "field-error", role: "alert" });
    const form = el(
      "form",
      { class: "inline-form reason-form", novalidate: true, "data-action": action },
      el("label", { for: "ro-action-reason" }, `Reason for ${spec.verb}`),
      input,
      el("button", { type: "submit", class: spec.cls }, `${spec.label} rollout`),
      el("button", { type: "button", onclick: () => cancel() }, "Cancel"),
      error,
    );
    // Cancelling (button or Escape) puts focus back on the button that asked, so keyboard users stay put.
    function cancel() {
      built.reasonArea.replaceChildren();
      const asker = built.controls.querySelector(`[data-action="${action}"]`);
      if (asker) asker.focus();
    }
    input.addEventListener("keydown", (event) => event.key === "Escape" && cancel());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!input.value.trim()) {
        input.setAttribute("aria-invalid", "true");
        error.textContent = "Say why: the reason is recorded in the rollout's history.";
        return;
      }
      act(action, input.value.trim());
    });
    built.reasonArea.replaceChildren(form);
    input.focus();
  }

  function renderControls(rollout) {
    if (built.status === rollout.status) return;
    built.status = rollout.status;
    built.reasonArea.replaceChildren();
    const allowed = ALLOWED[rollout.status] || [];
    const buttons = allowed.map((a) => el("button", { type: "button", class: ACTIONS[a].cls, "data-action": a, onclick: () => askReason(a) }, ACTIONS[a].label));
    built.controls.replaceChildren(...(buttons.length ? buttons : [el("span", { class: "muted" }, `A ${rollout.status} rollout does not move any more.`)]));
  }

  async function refresh(testNames) {
    if (!selectedId) return;
    let rollout;
    try {
      rollout = await api("GET", `/v1/rollouts/${encodeURIComponent(selectedId)}`);
    } catch (failure) {
      if (!built) built = build({ id: selectedId }, selectedId);
      built.stages.replaceChildren(el("p", { class: "field-error" }, failure.message));
      return;
    }
    if (!built) built = build(rollout, testNames[rollout.test_id] || rollout.test_id);
    renderControls(rollout);
    const stage = rollout.stages[rollout.current_stage - 1];
    built.summary.replaceChildren(
      rolloutBadge(rollout.status),
      ` stage ${rollout.current_stage}/${rollout.stages.length} · ${fmt.int(stage.koi)} koi · test ${rollout.test_id} · started by ${rollout.created_by} ${fmt.age(rollout.created_at)}`,
      holdProgress(rollout),
    );
    built.stages.replaceChildren(stageTable(rollout));
    built.history.replaceChildren(historyTable(rollout));
  }

  function select(id, focus) {
    if (selectedId !== id) built = null;
    selectedId = id;
    changed().then(() => {
      if (focus && built) {
        section.scrollIntoView({ block: "start" });
        document.getElementById("ro-detail-title").focus();
      }
    });
  }
  return { section, refresh, select, selected: () => selectedId };
}
