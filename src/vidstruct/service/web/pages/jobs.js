// Jobs: newest first, 100 a page ("Older" / "Newer" follow the API's next_token; the URL keeps the page:
// #/jobs?older=T1,T2 is the page reached through tokens T1 then T2), readable errors, cancel, and a link to the
// video when a job succeeded. Live status and per-stage progress are pushed by the server: one EventSource
// (/v1/jobs/events?ids=...) for the page's queued and running jobs, reopened when that set changes; the list is
// read again when the stream ends, or, on the newest page, when the stream tells of a new job (`created`). Should
// the stream fail repeatedly (or EventSource be missing), the page polls the list every second instead. While no
// job of the page is active, the newest page re-reads the list every 10 s.
import { ApiError, jobEventsUrl } from "../api.js";
import { el, fill, notice } from "../dom.js";

const ACTIVE = new Set(["QUEUED", "IN_PROGRESS"]);
const FAST_MS = 1000;
const SLOW_MS = 10000;
const PAGE_SIZE = 100;
const STREAM_FAILURES = 3; // errors in a row (no successful open between) before falling back to polling

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export async function render(root, ctx) {
  const canWrite = ctx.grants(ctx.session.scope, "write");
  const highlight = ctx.params.get("job");
  const chain = (ctx.params.get("older") || "").split(",").filter(Boolean); // next_tokens followed so far
  const token = chain.length ? chain[chain.length - 1] : null;
  const pageHash = (tokens) => (tokens.length ? `#/jobs?older=${tokens.map(encodeURIComponent).join(",")}` : "#/jobs");
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
  const empty = el("p", { class: "empty", text: chain.length ? "No older jobs." : "No jobs yet." });
  const newer = el("button", { type: "button", id: "jobs-newer", text: "Newer", disabled: !chain.length, onClick: () => ctx.navigate(pageHash(chain.slice(0, -1))) });
  const older = el("button", { type: "button", id: "jobs-older", text: "Older", disabled: true });
  const pager = el("nav", { class: "pager", "aria-label": "Jobs pages", style: { display: "flex", gap: "0.75rem", alignItems: "center", marginTop: "1rem" } }, newer, el("span", { id: "jobs-page", text: `Page ${chain.length + 1}` }), older);
  root.append(
    el("div", { class: "page-head" }, el("h1", { text: "Jobs" }), canWrite ? el("a", { class: "button", href: "#/upload", text: "Upload a video" }) : null),
    message,
    table,
    empty,
    pager,
  );

  const rows = new Map(); // job id → {tr, cells}
  let timer = null;
  let controller = null;
  let stopped = false;
  let nextToken = null;
  let source = null; // the EventSource of the page's active jobs
  let streamIds = ""; // the ids it follows, comma-joined
  let failures = 0;
  let polling = typeof EventSource !== "function";
  older.addEventListener("click", () => {
    if (nextToken) ctx.navigate(pageHash([...chain, nextToken]));
  });

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

  function closeStream() {
    if (source) source.close();
    source = null;
    streamIds = "";
  }

  // follow the page's active jobs: one stream while it works, else a poll of the list (every second while some job
  // is active; every 10 s on the newest page otherwise, for new jobs)
  function follow(jobs) {
    const ids = jobs.filter((j) => ACTIVE.has(j.status)).map((j) => j.job_id);
    root.dataset.active = String(ids.length > 0);
    if (ids.length && !polling) {
      openStream(ids, token ? null : jobs[0].created_at);
      return;
    }
    closeStream();
    root.dataset.live = ids.length ? "poll" : "idle";
    if (ids.length) timer = setTimeout(refresh, FAST_MS);
    else if (!token) timer = setTimeout(refresh, SLOW_MS);
  }

  function openStream(ids, createdAfter) {
    const key = `${ids.join(",")}|${createdAfter || ""}`;
    if (source && streamIds === key) return;
    closeStream();
    root.dataset.live = "connecting";
    const es = new EventSource(jobEventsUrl(ids, createdAfter));
    source = es;
    streamIds = key;
    es.addEventListener("open", () => {
      failures = 0;
      root.dataset.live = "stream";
    });
    es.addEventListener("progress", (event) => {
      const job = JSON.parse(event.data);
      if (rows.has(job.job_id)) row(job);
    });
    es.addEventListener("end", () => {
      if (source !== es) return;
      closeStream();
      refresh(); // every followed job ended: the list again (new jobs, the next ones to follow)
    });
    es.addEventListener("created", () => {
      if (source === es) refresh(); // a new job: the list again (the stream is reopened to follow it too)
    });
    es.addEventListener("error", () => {
      if (source !== es) return;
      failures += 1; // a closed stream reconnects by itself (after the server's `retry`); an HTTP error does not
      if (es.readyState === EventSource.CLOSED || failures >= STREAM_FAILURES) {
        polling = true;
        closeStream();
        refresh();
      }
    });
  }

  async function refresh() {
    if (stopped) return;
    clearTimeout(timer);
    controller = new AbortController();
    const url = `/v1/jobs?max_results=${PAGE_SIZE}${token ? `&next_token=${encodeURIComponent(token)}` : ""}`;
    try {
      const body = await ctx.api(url, { signal: controller.signal });
      if (stopped) return;
      const trs = body.jobs.map(row);
      tbody.replaceChildren(...trs);
      empty.hidden = body.jobs.length > 0;
      table.hidden = body.jobs.length === 0;
      nextToken = body.next_token || null;
      older.disabled = !nextToken;
      follow(body.jobs);
    } catch (err) {
      if (stopped || (err && err.name === "AbortError")) return;
      message.replaceChildren(notice(err instanceof ApiError ? err.detail : String(err)));
      timer = setTimeout(refresh, SLOW_MS);
    }
  }

  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    closeStream();
    if (controller) controller.abort();
  };
}
