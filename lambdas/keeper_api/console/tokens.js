// Tokens page: token jobs and their progress; the dead-letter queue's depth, failed batches and redrive.

import { api, badge, el, flash, fmt, loadOrShowError, pageHeader, table } from "./api.js";
import { stat } from "./schools.js";

const JOB_COLUMNS = [
  { title: "Job" },
  { title: "Workspace" },
  { title: "Users", class: "num" },
  { title: "Status" },
  { title: "Progress" },
  { title: "Started" },
  { title: "Last error" },
];
const DLQ_COLUMNS = [{ title: "Message" }, { title: "Job" }, { title: "Workspace" }, { title: "Shard", class: "num" }, { title: "Attempts", class: "num" }, { title: "Last error" }];

function progress(job) {
  const percent = job.batches_total ? Math.round((job.batches_done / job.batches_total) * 100) : 0;
  return el(
    "div",
    { class: "meter-wrap" },
    el("progress", { max: job.batches_total || 1, value: job.batches_done, "aria-label": `${job.id} ${percent}% done` }),
    el("span", { class: "small" }, `${job.batches_done}/${job.batches_total}${job.batches_failed ? `, ${job.batches_failed} failed` : ""}`),
  );
}

export function mount(main) {
  const message = el("div", { "aria-live": "polite" });
  const redrive = el("button", { type: "button", id: "redrive", class: "primary needs-operator" }, "Redrive failed batches");
  const dlqStats = el("div", { class: "stats" });
  const dlqList = el("div");
  const jobs = el("div");
  main.append(
    pageHeader("Tokens", "Minting user tokens for koi: jobs, their batches, and the dead-letter queue."),
    message,
    el("section", { class: "card", "aria-labelledby": "dlq-title" }, el("div", { class: "card-header" }, el("h2", { id: "dlq-title" }, "Dead-letter queue"), redrive), dlqStats, dlqList),
    el("section", { class: "card", "aria-labelledby": "jobs-title" }, el("h2", { id: "jobs-title" }, "Token jobs"), jobs),
  );
  redrive.addEventListener("click", async () => {
    redrive.disabled = true;
    try {
      const result = await api("POST", "/v1/token-jobs/dlq/redrive");
      flash(message, `Redrive started: ${fmt.int(result.approximate_messages)} batch(es) move back to the queue.`);
    } catch (failure) {
      flash(message, `Redrive failed: ${failure.message}`, "error");
    } finally {
      redrive.disabled = false;
    }
    await refresh();
  });

  async function refreshDlq() {
    const dlq = await loadOrShowError(dlqList, "/v1/token-jobs/dlq");
    if (!dlq) return;
    dlqStats.replaceChildren(stat("Failed batches waiting", fmt.int(dlq.depth)), stat("Being moved", fmt.int(dlq.in_flight)));
    redrive.disabled = dlq.depth === 0;
    const rows = dlq.sample.map((s) => el("tr", {}, el("td", { class: "mono small" }, s.message_id), el("td", { class: "mono small" }, s.job_id || "–"), el("td", {}, s.workspace || "–"), el("td", { class: "num" }, s.shard ?? "–"), el("td", { class: "num" }, s.attempts), el("td", { class: "small" }, s.last_error || "–")));
    dlqList.replaceChildren(table("Failed batches", DLQ_COLUMNS, rows, "The dead-letter queue is empty: no batch has failed for good."));
  }

  async function refreshJobs() {
    const data = await loadOrShowError(jobs, "/v1/token-jobs");
    if (!data) return;
    const rows = data.jobs.map((j) =>
      el("tr", { "data-job-id": j.id }, el("td", { class: "mono small" }, j.id), el("td", {}, j.workspace), el("td", { class: "num" }, `${fmt.int(j.start)}–${fmt.int(j.end)}`), el("td", {}, badge(j.status)), el("td", {}, progress(j)), el("td", {}, el("time", { datetime: j.created_at, title: fmt.time(j.created_at) }, fmt.age(j.created_at))), el("td", { class: "small" }, j.last_error || "–")),
    );
    jobs.replaceChildren(table("Token jobs", JOB_COLUMNS, rows, "No token jobs yet. Start one with `koipond tokens generate`."));
  }

  async function refresh() {
    await Promise.all([refreshDlq(), refreshJobs()]);
  }
  return { refresh };
}
