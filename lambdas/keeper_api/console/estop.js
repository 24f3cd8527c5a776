// The emergency stop: the control in the top bar (every page), the banner while it is active, and its page.

import { api, el, flash, fmt, loadOrShowError, pageHeader, table } from "./api.js";

const KIND_TEXT = { estop_activated: "Pulled", estop_lifted: "Lifted" };

// The top-bar control and banner; `changed` runs after a pull so the current page shows stopped tests.
export function estopControl(changed) {
  const button = document.getElementById("estop-button");
  const dialog = document.getElementById("estop-dialog");
  const form = document.getElementById("estop-form");
  const reason = document.getElementById("estop-reason");
  const error = document.getElementById("estop-reason-error");
  const control = { status: null, refresh };

  button.addEventListener("click", () => {
    error.textContent = "";
    reason.removeAttribute("aria-invalid");
    dialog.showModal();
    reason.focus();
  });
  document.getElementById("estop-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (!text) {
      error.textContent = "Say why: the reason is shown to everyone in the banner and the history.";
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    try {
      control.status = await api("POST", "/v1/emergency-stop", { reason: text });
    } catch (failure) {
      error.textContent = `The stop was not pulled: ${failure.message}`;
      return;
    }
    reason.value = "";
    dialog.close();
    renderBanner(control.status);
    await changed();
  });

  async function refresh() {
    try {
      control.status = await api("GET", "/v1/emergency-stop");
    } catch {
      return; // the page shows the Keeper's error; the banner keeps its last known state
    }
    renderBanner(control.status);
  }
  return control;
}

function renderBanner(status) {
  const banner = document.getElementById("estop-banner");
  const button = document.getElementById("estop-button");
  button.classList.toggle("estop-button-active", Boolean(status && status.active));
  button.textContent = status && status.active ? "Emergency stop active" : "Emergency stop";
  if (!status || !status.active) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  banner.replaceChildren(
    el("strong", {}, "Emergency stop active."),
    ` Pulled by ${status.activated_by} ${fmt.age(status.activated_at)}: “${status.reason}”. No test can start until it is lifted. `,
    el("a", { href: "#/estop" }, "Details and lift"),
  );
  banner.hidden = false;
}

export function mount(main) {
  const message = el("div", { "aria-live": "polite" });
  const current = el("section", { class: "card", "aria-labelledby": "estop-state-title" });
  const history = el("section", { class: "card", "aria-labelledby": "estop-history-title" });
  main.append(
    pageHeader("Emergency stop", "Stops every test at once. Anyone signed in may pull it; operators lift it."),
    message,
    current,
    history,
  );

  async function lift(event) {
    event.preventDefault();
    const reason = event.target.elements["lift-reason"].value.trim();
    try {
      await api("DELETE", "/v1/emergency-stop", reason ? { reason } : undefined);
    } catch (failure) {
      flash(message, `The stop was not lifted: ${failure.message}`, "error");
      return;
    }
    flash(message, "The emergency stop is lifted. Stopped tests stay stopped: resume them from the Tests page.");
    await refresh();
  }

  function renderCurrent(status) {
    const heading = el("h2", { id: "estop-state-title" }, "Current state");
    if (!status.active) {
      current.replaceChildren(heading, el("p", { class: "state-ok" }, "Not active: tests run normally."));
      return;
    }
    current.replaceChildren(
      heading,
      el("p", { class: "state-danger" }, `Active since ${fmt.time(status.activated_at)}, pulled by ${status.activated_by}.`),
      el("p", {}, "Reason: ", el("q", {}, status.reason)),
      el(
        "form",
        { class: "inline-form needs-operator", onsubmit: lift },
        el("label", { for: "lift-reason" }, "Reason for lifting (optional)"),
        el("input", { id: "lift-reason", name: "lift-reason", maxlength: 500, class: "wide" }),
        el("button", { type: "submit", class: "primary" }, "Lift the emergency stop"),
      ),
      el("p", { class: "muted viewer-only" }, "Lifting it needs an operator key."),
    );
  }

  function renderHistory(events) {
    const rows = [...events].reverse().map((e) =>
      el(
        "tr",
        {},
        el("td", {}, KIND_TEXT[e.kind] || e.kind),
        el("td", {}, e.actor),
        el("td", {}, el("time", { datetime: e.at }, fmt.time(e.at))),
        el("td", {}, e.reason || "–"),
      ),
    );
    const columns = [{ title: "What" }, { title: "Who" }, { title: "When" }, { title: "Why" }];
    history.replaceChildren(
      el("h2", { id: "estop-history-title" }, "History"),
      table("Emergency stop history, newest first", columns, rows, "The emergency stop has never been pulled."),
    );
  }

  let shown = null;
  async function refresh() {
    const status = await loadOrShowError(current, "/v1/emergency-stop");
    if (!status) {
      shown = null;
      return;
    }
    // Re-render the state only when it changes, so a reason being typed into the lift form survives refreshes.
    const key = `${status.active}|${status.activated_at}`;
    if (key !== shown) renderCurrent(status);
    shown = key;
    renderHistory(status.history || []);
  }
  return { refresh };
}
