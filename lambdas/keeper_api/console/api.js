// The Keeper API from the browser, plus the small DOM and formatting helpers every page uses.
// The token lives in sessionStorage: it is gone when the tab closes and never sent to another origin.

const TOKEN_KEY = "koipond.token";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const current = token.get();
  if (current) headers.authorization = `Bearer ${current}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, "network_error", `the Keeper is unreachable (${error.message})`);
  }
  const text = await response.text();
  const data = text ? safeJson(text) : null;
  if (!response.ok) {
    const err = (data && data.error) || {};
    const error = new ApiError(response.status, err.code || "http_error", err.message || `HTTP ${response.status}`, err.details);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("koipond:unauthenticated", { detail: error }));
    throw error;
  }
  return data;
}

// The Keeper's enum values (notification kinds, statuses) for filters: asked once per page load, so the
// console never keeps a copy that falls behind the Keeper (GET /v1/vocabulary, from the Python enums).
let vocabularyAnswer = null;
export function vocabulary() {
  vocabularyAnswer ??= api("GET", "/v1/vocabulary").catch((error) => {
    vocabularyAnswer = null; // a failed answer (say, before sign-in) is asked again next time
    throw error;
  });
  return vocabularyAnswer;
}

// Fill a <select> with one option per value once the vocabulary has answered; the first option ("all")
// stays, so the filter works (unfiltered) even if the vocabulary cannot be read.
export function fillOptions(select, field, label) {
  vocabulary()
    .then((words) => select.append(...words[field].map((v) => el("option", { value: v }, label(v)))))
    .catch(() => {});
}

// A filter of a list by status: "All <noun>" (no filter) first, then "Only <status>" for each one the Keeper knows.
export function statusFilter(id, noun, field) {
  const select = el("select", { id, "aria-label": `Show ${noun} with status` }, el("option", { value: "" }, `All ${noun}`));
  fillOptions(select, field, (s) => `Only ${s}`);
  return select;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: "bad_response", message: "the Keeper answered with something that is not JSON" } };
  }
}

// el("td", {class: "num"}, "12"): text always goes in as text nodes, so data can never become markup.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US")),
  percent: (n) => `${Number(n).toLocaleString("en-US", { maximumFractionDigits: 1 })}%`,
  time: (iso) => (iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" }) : "–"),
  age(iso) {
    if (!iso) return "–";
    const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (seconds < 60) return `${seconds}s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m ago`;
    return `${Math.floor(seconds / 86400)}d ago`;
  },
  duration(seconds) {
    if (seconds === null || seconds === undefined) return "continuous";
    const parts = [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]];
    let left = seconds;
    const out = [];
    for (const [size, unit] of parts) {
      if (left >= size) {
        out.push(`${Math.floor(left / size)}${unit}`);
        left %= size;
      }
    }
    return out.join(" ") || "0s";
  },
};

export function badge(text, kind) {
  return el("span", { class: `badge badge-${kind || text}` }, text);
}

// A table, or the sentence that says why there is nothing to show.
export function table(caption, columns, rows, emptyText) {
  if (!rows.length) return el("p", { class: "empty" }, emptyText);
  return el(
    "table",
    { class: "data" },
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.class }, c.title)))),
    el("tbody", {}, rows),
  );
}

export function errorBox(error) {
  return el("div", { class: "notice notice-error", role: "alert" }, el("strong", {}, "Could not load: "), error.message);
}

// GET a path for a page's refresh; when that fails, say why in `area` and answer null (the refresh then stops).
export async function loadOrShowError(area, path) {
  try {
    return await api("GET", path);
  } catch (failure) {
    area.replaceChildren(errorBox(failure));
    return null;
  }
}

// A card holding a list under a heading that only screen readers see (the page header already names it).
export function listCard(id, title, content) {
  return el("section", { class: "card", "aria-labelledby": id }, el("h2", { id, class: "visually-hidden" }, title), content);
}

export function pageHeader(title, description, ...actions) {
  return el(
    "div",
    { class: "page-header" },
    el("div", {}, el("h1", {}, title), description ? el("p", { class: "muted" }, description) : null),
    actions.length ? el("div", { class: "page-actions" }, actions) : null,
  );
}

// Live regions announce results of actions to screen-reader users as well as showing them.
export function flash(container, message, kind = "ok") {
  container.replaceChildren(el("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, message));
}
