// The console shell: sign-in, navigation between page modules, the emergency stop control and banner.
// A new page is one module exporting {mount(main, ctx) -> {refresh, unmount?}} and one entry in PAGES.

import { api, el, token } from "./api.js";
import { estopControl } from "./estop.js";

const PAGES = [
  { path: "tests", title: "Tests", load: () => import("./tests.js") },
  { path: "rollouts", title: "Rollouts", load: () => import("./rollouts.js") },
  { path: "deploys", title: "Deploys", load: () => import("./deploys.js") },
  { path: "behaviors", title: "Behaviors", load: () => import("./behaviors.js") },
  { path: "charts", title: "Charts", load: () => import("./charts.js") },
  { path: "schools", title: "Schools", load: () => import("./schools.js") },
  { path: "guard", title: "Guard", load: () => import("./guard.js") },
  { path: "tokens", title: "Tokens", load: () => import("./tokens.js") },
  { path: "notifications", title: "Notifications", load: () => import("./notifications.js") },
  { path: "estop", title: "Emergency stop", load: () => import("./estop.js") },
];
const REFRESH_MS = 3000;

const state = { page: null, timer: null, estop: null, visits: 0 };

function currentPath() {
  const path = location.hash.replace(/^#\/?/, "");
  return PAGES.some((p) => p.path === path) ? path : "tests";
}

function renderNav(active) {
  const items = PAGES.map((page) =>
    el(
      "li",
      {},
      el("a", { href: `#/${page.path}`, "aria-current": page.path === active ? "page" : null }, page.title),
    ),
  );
  document.getElementById("nav").replaceChildren(...items);
}

async function showPage() {
  const path = currentPath();
  const page = PAGES.find((p) => p.path === path);
  renderNav(path);
  document.title = `${page.title} · koipond Keeper`;
  if (state.page && state.page.unmount) state.page.unmount();
  state.page = null;
  const main = document.getElementById("main");
  main.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const visit = ++state.visits;
  const module = await page.load();
  if (visit !== state.visits) return; // the user went elsewhere while this page's module loaded
  main.replaceChildren();
  state.page = module.mount(main, context());
  await refresh();
}

function context() {
  return { refreshAll: refresh, estop: () => state.estop };
}

async function refresh() {
  await state.estopControl.refresh();
  state.estop = state.estopControl.status;
  if (state.page) await state.page.refresh();
  document.getElementById("refreshed").textContent = `Refreshed ${new Date().toLocaleTimeString("en-GB")}`;
}

function scheduleRefresh() {
  clearTimeout(state.timer);
  // setTimeout after each refresh, never setInterval: a slow Keeper must not pile up requests.
  state.timer = setTimeout(async () => {
    try {
      if (!document.hidden) await refresh();
    } finally {
      scheduleRefresh();
    }
  }, REFRESH_MS);
}

function showSignIn(message) {
  clearTimeout(state.timer);
  document.getElementById("shell").hidden = true;
  document.getElementById("signin").hidden = false;
  document.getElementById("signin-error").textContent = message || "";
  document.getElementById("signin-token").focus();
}

// Who the token belongs to (GET /v1/whoami): steering controls show only to operators and admins.
// Anyone may pull the emergency stop, so its button stays for every key.
function showIdentity(me) {
  // Unknown (null): keep the controls; the Keeper still refuses what the key may not do, with its reason.
  document.body.classList.toggle("can-operate", !me || me.role === "operator" || me.role === "admin");
  document.getElementById("whoami").textContent = me ? `Signed in as ${me.name} (${me.role}) · ` : "";
}

// `me` is the sign-in's own answer; after a reload (token kept in the tab) it is asked for here.
async function startShell(me) {
  document.getElementById("signin").hidden = true;
  document.getElementById("shell").hidden = false;
  showIdentity(me || (await api("GET", "/v1/whoami").catch(() => null)));
  await showPage();
  scheduleRefresh();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("signin-token");
  const value = input.value.trim();
  const error = document.getElementById("signin-error");
  if (!value) {
    error.textContent = "Enter an API token.";
    input.setAttribute("aria-invalid", "true");
    return;
  }
  token.set(value);
  let me;
  try {
    me = await api("GET", "/v1/whoami"); // checks the token and says whose it is, in one request
  } catch (failure) {
    token.clear();
    error.textContent = failure.status === 401 ? "That token was not accepted." : failure.message;
    input.setAttribute("aria-invalid", "true");
    return;
  }
  input.value = "";
  input.removeAttribute("aria-invalid");
  await startShell(me);
}

function init() {
  state.estopControl = estopControl(() => refresh());
  document.getElementById("signin-form").addEventListener("submit", signIn);
  document.getElementById("signout").addEventListener("click", () => {
    token.clear();
    showSignIn("Signed out.");
  });
  window.addEventListener("hashchange", () => token.get() && showPage());
  window.addEventListener("koipond:unauthenticated", () => {
    token.clear();
    showSignIn("Your token was not accepted (revoked or expired?). Sign in again.");
  });
  if (token.get()) startShell();
  else showSignIn();
}

init();
