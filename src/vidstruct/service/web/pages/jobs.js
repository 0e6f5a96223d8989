// Jobs: newest first, live status and per-stage progress (polled every second while any job is queued or
// running, every 10 s otherwise), readable errors, cancel, and a link to the video when a job succeeded.
import { ApiError } from "../api.js";
import { el, fill, notice } from "../dom.js";

const ACTIVE = new Set(["QUEUED", "IN_PROGRESS"]);
const FAST_MS = 1000;
const SLOW_MS = 10000;

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export async function render(root, ctx) {
  const canWrite = ctx.grants(ctx.session.scope, "write");
  const highlight = ctx.params.get("job");
  const message = el("div", { class: "message" });
  const tbody = el("tbody");
  const table = el(
    "table",
    { class: "jobs", id: "jobs-table" },
    el("caption", { class: "visually-hidden", text: "Jobs, newest first" }),
    el(
      "thead",
      {},
      el("tr", {}, ...["Job", "Status", "Progress", "Video", "Profile", "Submitted", ""].map((h) => el("th", { scope: "col", text: h }))),
    ),
    tbody,
  );
  const empty = el("p", { class: "empty", text: "No jobs yet." });
  root.append(
    el("div", { class: "page-head" }, el("h1", { text: "Jobs" }), canWrite ? el("a", { class: "button", href: "#/upload", text: "Upload a video" }) : null),
    message,
    table,
    empty,
  );

  const rows = new Map(); // job id → {tr, cells}
  let timer = null;
  let controller = null;
  let stopped = false;

  function row(job) {
    let entry = rows.get(job.job_id);
    if (!entry) {
      const cells = {
        status: el("td", { class: "status" }),
        progress: el("td", { class: "progress-cell" }),
        video: el("td"),
        actions: el("td", { class: "job-actions" }),
      };
      const tr = el(
        "tr",
        { dataset: { jobId: job.job_id }, class: job.job_id === highlight ? "highlight" : null },
        el("td", { class: "mono", title: job.job_id, text: job.job_id.slice(0, 8) }),
        cells.status,
        cells.progress,
        cells.video,
        el("td", { text: job.profile || "–" }),
        el("td", { text: when(job.created_at) }),
        cells.actions,
      );
      entry = { tr, cells, key: "" };
      rows.set(job.job_id, entry);
    }
    const key = JSON.stringify([job.status, job.progress, job.error, job.video_id]);
    if (entry.key !== key) {
      entry.key = key;
      update(entry.cells, job);
    }
    return entry.tr;
  }

  function update(cells, job) {
    fill(cells.status,
      el("span", { class: `badge ${job.status.toLowerCase()}`, text: job.status.replace("_", " ").toLowerCase() }),
      job.error ? el("div", { class: "job-error", role: "note", text: job.error }) : null,
    );
    const stages = Object.entries(job.progress || {});
    fill(cells.progress,
      ...stages.map(([stage, pct]) =>
        el(
          "div",
          { class: "stage", dataset: { stage } },
          el("span", { class: "stage-name", text: stage, title: stage }),
          el("progress", { max: "100", value: String(pct), "aria-label": `${stage} progress` }),
          el("span", { class: "stage-pct", text: `${Math.round(pct)}%` }),
        ),
      ),
      stages.length ? null : el("span", { class: "muted", text: job.status === "QUEUED" ? "waiting" : "–" }),
    );
    fill(cells.video,
      job.video_id && job.status === "SUCCEEDED"
        ? el("a", { href: `#/videos/${encodeURIComponent(job.video_id)}`, class: "video-link", text: "Open video" })
        : el("span", { class: "muted mono", text: job.video_id ? job.video_id.slice(0, 8) : "–" }),
    );
    fill(cells.actions,
      canWrite && ACTIVE.has(job.status)
        ? el("button", { type: "button", class: "danger", text: "Cancel", "aria-label": `Cancel job ${job.job_id.slice(0, 8)}`, onClick: () => cancel(job.job_id) })
        : null,
    );
  }

  async function cancel(jobId) {
    try {
      await ctx.api(`/v1/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
      message.replaceChildren(notice(`Job ${jobId.slice(0, 8)} canceled.`, "info"));
    } catch (err) {
      message.replaceChildren(notice(err instanceof ApiError ? err.detail : String(err)));
    }
    refresh();
  }

  async function refresh() {
    if (stopped) return;
    clearTimeout(timer);
    controller = new AbortController();
    let active = false;
    try {
      const body = await ctx.api("/v1/jobs?max_results=100", { signal: controller.signal });
      if (stopped) return;
      const trs = body.jobs.map(row);
      tbody.replaceChildren(...trs);
      empty.hidden = body.jobs.length > 0;
      table.hidden = body.jobs.length === 0;
      active = body.jobs.some((j) => ACTIVE.has(j.status));
      root.dataset.active = String(active);
    } catch (err) {
      if (stopped || (err && err.name === "AbortError")) return;
      message.replaceChildren(notice(err instanceof ApiError ? err.detail : String(err)));
    }
    if (!stopped) timer = setTimeout(refresh, active ? FAST_MS : SLOW_MS);
  }

  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
  };
}
