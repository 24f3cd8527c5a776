// Behaviors page: every stored behavior; open one for its versions (who stored each, when, its load), the
// actions of a chosen version with their rates, and what changed between two chosen versions.

import { api, el, fmt, listCard, loadOrShowError, pageHeader, table } from "./api.js";
import { actionsTable, diffView, perHour, perSecond, rate } from "./behavior_tables.js";

const VERSIONS_SHOWN = 100;
const LIST_COLUMNS = [{ title: "Behavior" }, { title: "Latest" }, { title: "Actions", class: "num" }, { title: "Per koi/h", class: "num" }, { title: "Req/s per 1,000 koi", class: "num" }, { title: "Stored" }, { title: "", class: "actions" }];
const VERSION_COLUMNS = [{ title: "Version", class: "num" }, { title: "Stored" }, { title: "Actions", class: "num" }, { title: "Per koi/h", class: "num" }, { title: "Req/s per 1,000 koi", class: "num" }, { title: "Description" }, { title: "", class: "actions" }];

const steady = (document) => Object.values(document.actions).reduce((sum, a) => sum + a.rate_per_hour * a.weight, 0);
const stored = (at, by) => [el("time", { datetime: at, title: fmt.time(at) }, fmt.age(at)), el("div", { class: "muted small" }, `by ${by}`)];

function versionSelect(id, label) {
  return el("div", { class: "field" }, el("label", { for: id }, label), el("select", { id }));
}

export function mount(main) {
  const listArea = el("div", { id: "behaviors-list" });
  const detail = el("section", { id: "behavior-detail", class: "card", hidden: true, "aria-labelledby": "behavior-title" });
  main.append(
    pageHeader("Behaviors", "What koi do: each behavior's versions, each action's rate, and what changed between two versions."),
    listCard("behaviors-title", "Behaviors", listArea),
    detail,
  );
  // Versions are immutable: one version's actions and a diff are read when chosen, never at each refresh.
  const chosen = { name: null, version: null, versions: [], shownKey: "" };
  const title = el("h2", { id: "behavior-title", tabindex: "-1" });
  const versionsArea = el("div", { id: "behavior-versions" });
  const actionsHeading = el("h3", { id: "behavior-actions-title" });
  const actionsArea = el("div", { id: "behavior-actions" });
  const compare = el("form", { id: "behavior-compare", class: "filters", novalidate: true, "aria-label": "Compare two versions" }, versionSelect("compare-from", "From version"), versionSelect("compare-to", "To version"), el("button", { type: "submit" }, "Compare"));
  const diffArea = el("div", { id: "behavior-diff", "aria-live": "polite" });
  const from = compare.querySelector("#compare-from");
  const to = compare.querySelector("#compare-to");
  detail.append(title, versionsArea, actionsHeading, actionsArea, el("h3", {}, "What changed"), compare, diffArea);
  compare.addEventListener("submit", (event) => {
    event.preventDefault();
    showDiff(Number(from.value), Number(to.value));
  });

  function listRow(b) {
    const hourly = steady(b.document);
    return el(
      "tr",
      { "data-behavior": b.name, class: chosen.name === b.name ? "selected" : null },
      el("td", {}, el("div", { class: "strong mono" }, b.name), el("div", { class: "muted small" }, b.document.description)),
      el("td", {}, `v${b.version}`),
      el("td", { class: "num" }, fmt.int(Object.keys(b.document.actions).length)),
      el("td", { class: "num" }, perHour(hourly)),
      el("td", { class: "num" }, rate(perSecond(hourly))),
      el("td", {}, stored(b.created_at, b.created_by)),
      el("td", { class: "actions" }, el("button", { type: "button", onclick: () => open(b.name), "aria-label": `Open behavior ${b.name}` }, "Open")),
    );
  }

  function versionRow(v) {
    return el(
      "tr",
      { "data-version": v.version, class: chosen.version === v.version ? "selected" : null },
      el("td", { class: "num" }, `v${v.version}`),
      el("td", {}, stored(v.created_at, v.created_by)),
      el("td", { class: "num" }, fmt.int(v.actions)),
      el("td", { class: "num" }, perHour(v.steady_per_koi_per_hour)),
      el("td", { class: "num" }, rate(v.requests_per_second)),
      el("td", { class: "small" }, v.description),
      el("td", { class: "actions" }, el("button", { type: "button", onclick: () => showVersion(v.version), "aria-label": `Show the actions of version ${v.version}` }, "Actions")),
    );
  }

  async function open(name) {
    Object.assign(chosen, { name, version: null, versions: [], shownKey: "" });
    title.textContent = `Behavior ${name}`;
    actionsHeading.textContent = "";
    actionsArea.replaceChildren();
    diffArea.replaceChildren();
    detail.hidden = false;
    await refresh();
    const [latest, previous] = chosen.versions;
    if (latest) await showVersion(latest.version);
    if (previous) await showDiff(previous.version, latest.version);
    detail.scrollIntoView({ block: "start" });
    title.focus();
  }

  async function showVersion(version) {
    chosen.version = version;
    renderVersions(true);
    actionsHeading.textContent = `Actions of version ${version}`;
    const behavior = await loadOrShowError(actionsArea, `/v1/behaviors/${encodeURIComponent(chosen.name)}?version=${version}`);
    if (behavior) actionsArea.replaceChildren(actionsTable(behavior));
  }

  async function showDiff(a, b) {
    from.value = String(a);
    to.value = String(b);
    const diff = await loadOrShowError(diffArea, `/v1/behaviors/${encodeURIComponent(chosen.name)}/diff?from=${a}&to=${b}`);
    if (diff) diffArea.replaceChildren(el("p", { class: "muted small" }, `From version ${a} to version ${b}.`), ...diffView(diff));
  }

  // The version table and the compare choices, rebuilt only when the versions changed (keeps what is chosen).
  function renderVersions(force) {
    const key = chosen.versions.map((v) => v.version).join(",");
    if (!force && key === chosen.shownKey) return;
    chosen.shownKey = key;
    const note = chosen.versions.length === VERSIONS_SHOWN ? el("p", { class: "muted small" }, `The newest ${VERSIONS_SHOWN} versions (koipond behaviors versions lists them all).`) : null;
    versionsArea.replaceChildren(table(`Versions of ${chosen.name}, newest first`, VERSION_COLUMNS, chosen.versions.map(versionRow), "No versions."), ...(note ? [note] : []));
    for (const select of [from, to]) {
      const kept = select.value;
      select.replaceChildren(...chosen.versions.map((v) => el("option", { value: v.version }, `v${v.version} · ${fmt.time(v.created_at)}`)));
      if (kept) select.value = kept;
    }
  }

  async function refresh() {
    const data = await loadOrShowError(listArea, "/v1/behaviors");
    if (!data) return;
    listArea.replaceChildren(table("Behaviors, latest version of each", LIST_COLUMNS, data.behaviors.map(listRow), "No behaviors yet. Upload one with `koipond behaviors put FILE` (PUT /v1/behaviors/{name})."));
    if (!chosen.name) return;
    const page = await loadOrShowError(versionsArea, `/v1/behaviors/${encodeURIComponent(chosen.name)}/versions?limit=${VERSIONS_SHOWN}`);
    if (!page) return;
    chosen.versions = page.versions;
    renderVersions(false);
  }
  return { refresh };
}
