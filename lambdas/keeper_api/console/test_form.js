// The "Start a test" form: checks input in the browser first, then shows the Keeper's own problems per field.

import { api, el, flash } from "./api.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,99}$/;
const WORKSPACE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const MAX_KOI = 10000000;

const FIELDS = [
  { name: "name", label: "Name", hint: "Shown in lists and history, e.g. nightly-chat.", attrs: { maxlength: 100 } },
  { name: "target", label: "Target URL", hint: "Base URL of the service under test.", attrs: { type: "url", placeholder: "http://127.0.0.1:8800" } },
  { name: "behavior", label: "Behavior", hint: "What each koi does (latest version).", select: true },
  { name: "workspace", label: "Workspace", hint: "Tenant whose users the koi act as.", attrs: { placeholder: "pond" } },
  { name: "koi", label: "Koi", hint: "Simulated clients, 1 to 10,000,000.", attrs: { type: "number", min: 1, max: MAX_KOI, step: 1, inputmode: "numeric" } },
  { name: "shed_percent", label: "Shed %", hint: "Share held back (0 = all swim).", attrs: { type: "number", min: 0, max: 100, step: "any", value: 0 } },
  { name: "duration_minutes", label: "Duration (minutes)", hint: "Empty: runs until stopped.", attrs: { type: "number", min: 1, step: 1 } },
];

export function validate(values) {
  const problems = {};
  if (!values.name) problems.name = "Enter a name.";
  else if (!NAME.test(values.name)) problems.name = "Use letters, digits, spaces and . _ : / - (up to 100).";
  try {
    const url = new URL(values.target);
    if (!["http:", "https:"].includes(url.protocol)) problems.target = "Use an http:// or https:// URL.";
  } catch {
    problems.target = values.target ? "This is not a URL; e.g. http://127.0.0.1:8800." : "Enter the target's URL.";
  }
  if (!values.behavior) problems.behavior = "Choose a behavior.";
  if (!values.workspace) problems.workspace = "Enter a workspace.";
  else if (!WORKSPACE.test(values.workspace)) problems.workspace = "Use letters, digits, _ and - (up to 64).";
  const koi = Number(values.koi);
  if (!values.koi || !Number.isInteger(koi) || koi < 1 || koi > MAX_KOI) problems.koi = "Enter a whole number from 1 to 10,000,000.";
  const shed = Number(values.shed_percent || 0);
  if (!(shed >= 0 && shed <= 100)) problems.shed_percent = "Enter a percentage from 0 to 100.";
  if (values.duration_minutes) {
    const minutes = Number(values.duration_minutes);
    if (!Number.isInteger(minutes) || minutes < 1) problems.duration_minutes = "Enter whole minutes (1 or more), or leave empty.";
  }
  return problems;
}

function field(spec) {
  const id = `start-${spec.name}`;
  const control = spec.select
    ? el("select", { id, name: spec.name, required: true }, el("option", { value: "" }, "Loading behaviors…"))
    : el("input", { id, name: spec.name, ...(spec.attrs || {}) });
  control.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, spec.label),
    control,
    el("span", { id: `${id}-hint`, class: "hint" }, spec.hint),
    el("span", { id: `${id}-error`, class: "field-error" }),
  );
}

export function startForm(started) {
  const message = el("div", { "aria-live": "polite" });
  const form = el("form", { id: "start-form", novalidate: true, class: "form-grid" }, FIELDS.map(field));
  form.append(el("div", { class: "form-actions" }, el("button", { type: "submit", class: "primary" }, "Start test")));
  const section = el(
    "section",
    { id: "start-section", class: "card", hidden: true, "aria-labelledby": "start-title" },
    el("h2", { id: "start-title" }, "Start a test"),
    message,
    form,
  );
  const toggle = el("button", { type: "button", class: "primary needs-operator", "aria-expanded": "false", "aria-controls": "start-section" }, "Start a test");
  function setOpen(open) {
    section.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  }
  toggle.addEventListener("click", () => {
    setOpen(section.hidden);
    if (!section.hidden) form.elements.name.focus();
  });

  function showProblems(problems) {
    for (const spec of FIELDS) {
      const control = form.elements[spec.name];
      const text = problems[spec.name] || "";
      document.getElementById(`start-${spec.name}-error`).textContent = text;
      if (text) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    const first = FIELDS.find((spec) => problems[spec.name]);
    if (first) form.elements[first.name].focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    for (const key of Object.keys(values)) values[key] = String(values[key]).trim();
    const problems = validate(values);
    showProblems(problems);
    if (Object.keys(problems).length) {
      flash(message, "Some fields need attention; see the messages below each.", "error");
      return;
    }
    const body = {
      name: values.name,
      target: values.target,
      behavior: values.behavior,
      workspace: values.workspace,
      koi: Number(values.koi),
      shed_percent: Number(values.shed_percent || 0),
    };
    if (values.duration_minutes) body.duration_seconds = Number(values.duration_minutes) * 60;
    let test;
    try {
      test = await api("POST", "/v1/tests", body);
    } catch (failure) {
      const byField = {};
      for (const p of (failure.details && failure.details.problems) || []) byField[p.path] = p.problem;
      showProblems(byField);
      flash(message, `The Keeper refused the test: ${failure.message}`, "error");
      return;
    }
    message.replaceChildren();
    showProblems({});
    form.reset();
    setOpen(false);
    await started(test, `Started “${test.name}” (${test.id}) with ${test.active_koi.toLocaleString("en-US")} koi.`);
  });

  async function loadBehaviors() {
    const select = form.elements.behavior;
    try {
      const data = await api("GET", "/v1/behaviors");
      const options = data.behaviors.map((b) => el("option", { value: b.name }, `${b.name} (v${b.version})`));
      select.replaceChildren(el("option", { value: "" }, options.length ? "Choose…" : "No behaviors uploaded yet"), ...options);
    } catch (failure) {
      select.replaceChildren(el("option", { value: "" }, `Could not load behaviors: ${failure.message}`));
    }
  }
  return { section, toggle, loadBehaviors };
}
