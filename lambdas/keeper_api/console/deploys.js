// Deploys page: a service's recent deploys (the Keeper lists deploys per service), their status and verdict;
// open one for its windows and SLI table.

import { api, el, fmt, loadOrShowError, pageHeader, table } from "./api.js";
import { deployDetail, soakProgress, statusBadge, verdictBadge } from "./deploy_detail.js";

const SERVICE_KEY = "koipond.deploy-service";
const SERVICE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const COLUMNS = [
  { title: "Service" },
  { title: "Build" },
  { title: "Deployed" },
  { title: "Status" },
  { title: "Verdict" },
  { title: "Soak" },
  { title: "", class: "actions" },
];

// Services worth suggesting: those with SLI settings and those named by a past verdict notification.
async function knownServices() {
  const [slis, verdicts] = await Promise.all([
    api("GET", "/v1/deploys/slis").catch(() => ({ services: [] })),
    api("GET", "/v1/notifications?kind=deploy_verdict&limit=200").catch(() => ({ notifications: [] })),
  ]);
  const names = new Set(slis.services.map((s) => s.service));
  for (const n of verdicts.notifications) if (n.fields && n.fields.service) names.add(n.fields.service);
  return [...names].sort();
}

export function mount(main) {
  const input = el("input", { id: "deploy-service", name: "service", list: "deploy-services", autocomplete: "off", placeholder: "e.g. chat-api", "aria-describedby": "deploy-service-error", value: sessionStorage.getItem(SERVICE_KEY) || "" });
  const suggestions = el("datalist", { id: "deploy-services" });
  const error = el("span", { id: "deploy-service-error", class: "field-error", role: "alert" });
  const chooser = el("form", { id: "deploy-service-form", class: "inline-form", novalidate: true }, el("label", { for: "deploy-service" }, "Service"), input, suggestions, el("button", { type: "submit" }, "Show deploys"), error);
  const listArea = el("div", { id: "deploys-list" });
  const detail = deployDetail();
  main.append(
    pageHeader("Deploys", "Deploy markers and their verdicts: the koi's experience after the soak window against the baseline before.", chooser),
    el("section", { class: "card", "aria-labelledby": "deploys-title" }, el("h2", { id: "deploys-title" }, "Recent deploys"), listArea),
    detail.section,
  );
  let service = input.value;

  chooser.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value && !SERVICE.test(value)) {
      input.setAttribute("aria-invalid", "true");
      error.textContent = "A service name is lowercase letters, digits and - (up to 63).";
      return;
    }
    input.removeAttribute("aria-invalid");
    error.textContent = "";
    service = value;
    sessionStorage.setItem(SERVICE_KEY, value);
    detail.clear();
    known = null;
    await refresh();
  });

  function row(d) {
    return el(
      "tr",
      { "data-deploy-id": d.id, class: detail.selected() === d.id ? "selected" : null },
      el("td", {}, d.service),
      el("td", { class: "mono small wrap" }, d.build),
      el("td", {}, el("time", { datetime: d.at, title: fmt.time(d.at) }, fmt.age(d.at)), el("div", { class: "muted small" }, `by ${d.created_by}`)),
      el("td", {}, statusBadge(d)),
      el("td", {}, verdictBadge(d)),
      el("td", {}, soakProgress(d)),
      el("td", { class: "actions" }, el("button", { type: "button", onclick: () => detail.select(d.id, true).then(refresh), "aria-label": `Open deploy ${d.build} of ${d.service}` }, "Open")),
    );
  }

  // Suggestions are read on arrival and when asked for another service, not at every 3-second refresh.
  let known = null;
  async function refresh() {
    if (known === null || !service) {
      known = await knownServices();
      suggestions.replaceChildren(...known.map((name) => el("option", { value: name })));
    }
    if (!service && known.length) service = input.value = known[0];
    if (!service) {
      listArea.replaceChildren(el("p", { class: "empty" }, "Name a service above to see its deploys. Deploy tools record them with `koipond verify --service S --build B` (POST /v1/deploys)."));
      return;
    }
    const data = await loadOrShowError(listArea, `/v1/deploys?service=${encodeURIComponent(service)}&limit=20`);
    if (!data) return;
    const empty = `No deploys of ${service} yet. Record one with \`koipond verify --service ${service} --build B\`.`;
    listArea.replaceChildren(table(`Deploys of ${service}, newest first`, COLUMNS, data.deploys.map(row), empty));
    await detail.refresh();
  }
  return { refresh };
}
