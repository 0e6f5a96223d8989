// Videos: the analysed videos (the API has no video listing: they come from the succeeded jobs), newest first.
import { el } from "../dom.js";

export async function render(root, ctx) {
  root.append(el("h1", { text: "Videos" }));
  const body = await ctx.api("/v1/jobs?status=SUCCEEDED&max_results=500");
  const seen = new Map();
  for (const job of body.jobs) if (job.video_id && !seen.has(job.video_id)) seen.set(job.video_id, job);
  if (!seen.size) {
    root.append(el("p", { class: "empty", text: "No analysed videos yet." }));
    return;
  }
  root.append(
    el(
      "ul",
      { class: "video-list", id: "video-list" },
      ...[...seen.values()].map((job) =>
        el(
          "li",
          {},
          el("a", { href: `#/videos/${encodeURIComponent(job.video_id)}`, class: "mono", text: job.video_id }),
          el("span", { class: "muted", text: ` · profile ${job.profile || "–"}${job.job_tag ? ` · ${job.job_tag}` : ""} · ${job.finished_at ? new Date(job.finished_at).toLocaleString() : ""}` }),
        ),
      ),
    ),
  );
}
