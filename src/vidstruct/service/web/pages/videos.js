// Videos: the collection from GET /v1/videos, newest first, 24 a page ("Older" / "Newer" follow the API's
// next_token; the URL keeps the page: #/videos?older=T1,T2 is the page reached through tokens T1 then T2, and a
// label filter: #/videos?label=walk). Each video: its first thumbnail (none for a blocked video the key may not
// review), its id (the link to the video's page), duration, profile of its current analysis or the status of its
// job when it has none yet, its top labels as chips with their segment counts (a chip filters the list by its
// label) and a blocked badge.
import { el, fmtTime, loadCss } from "../dom.js";

const PAGE_SIZE = 24;

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function hashOf(label, tokens) {
  const params = new URLSearchParams();
  if (label) params.set("label", label);
  if (tokens.length) params.set("older", tokens.join(","));
  const query = params.toString();
  return query ? `#/videos?${query}` : "#/videos";
}

function item(video, ctx, filtered) {
  const href = `#/videos/${encodeURIComponent(video.video_id)}`;
  const analysed = video.analysis !== null;
  const facts = [
    video.duration_s === null ? null : fmtTime(video.duration_s),
    video.width && video.height ? `${video.width}×${video.height}` : null,
    analysed ? `profile ${video.analysis.profile.name}` : null,
    `added ${when(video.created_at)}`,
  ].filter(Boolean);
  const status = video.analysis_status.toLowerCase();
  return el(
    "li",
    { class: "video-card", dataset: { videoId: video.video_id, status: video.analysis_status } },
    video.thumbnail_url
      ? el("img", { class: "video-thumb", src: video.thumbnail_url, alt: "", loading: "lazy" })
      : el("div", { class: "video-thumb thumb-missing", "aria-hidden": "true" }),
    el(
      "div",
      { class: "video-body" },
      el(
        "div",
        { class: "video-title" },
        el("a", { href, class: "mono", text: video.video_id }),
        video.moderation.blocked ? el("span", { class: "badge failed blocked-badge", text: "blocked", title: "blocked by moderation" }) : null,
        analysed ? null : el("span", { class: `badge ${status} status-badge`, text: `not analysed · ${status.replace("_", " ")}` }),
      ),
      el("div", { class: "muted video-facts", text: facts.join(" · ") }),
      el(
        "div",
        { class: "label-chips" },
        ...video.top_labels.map((t) =>
          el("button", {
            type: "button",
            class: "label-chip",
            dataset: { label: t.label },
            title: `${t.segments} segment${t.segments === 1 ? "" : "s"}${t.label === filtered ? "" : `: show the videos with ${t.label}`}`,
            text: `${t.label} ${t.segments}`,
            onClick: () => ctx.navigate(hashOf(t.label, [])),
          }),
        ),
        analysed && video.segments === 0 ? el("span", { class: "muted", text: "no segments" }) : null,
      ),
    ),
  );
}

export async function render(root, ctx) {
  loadCss(new URL("./videos.css", import.meta.url));
  const label = ctx.params.get("label") || "";
  const chain = (ctx.params.get("older") || "").split(",").filter(Boolean); // next_tokens followed so far
  const token = chain.length ? chain[chain.length - 1] : null;
  const query = new URLSearchParams({ max_results: String(PAGE_SIZE) });
  if (label) query.set("label", label);
  if (token) query.set("next_token", token);
  const body = await ctx.api(`/v1/videos?${query}`);

  const head = el("div", { class: "page-head" }, el("h1", { text: "Videos" }));
  const filter = label
    ? el("p", { class: "video-filter" }, "With label ", el("strong", { text: label }), " · ", el("a", { href: "#/videos", id: "videos-all", text: "all videos" }))
    : null;
  const newer = el("button", { type: "button", id: "videos-newer", text: "Newer", disabled: !chain.length, onClick: () => ctx.navigate(hashOf(label, chain.slice(0, -1))) });
  const older = el("button", { type: "button", id: "videos-older", text: "Older", disabled: !body.next_token, onClick: () => ctx.navigate(hashOf(label, [...chain, body.next_token])) });
  const pager = el("nav", { class: "pager", "aria-label": "Videos pages" }, newer, el("span", { id: "videos-page", text: `Page ${chain.length + 1}` }), older);
  if (!body.videos.length) {
    const text = chain.length ? "No older videos." : label ? "No video has this label." : "No videos yet.";
    root.append(...[head, filter, el("p", { class: "empty", text }), chain.length ? pager : null].filter(Boolean));
    return;
  }
  // DOM append() writes null as the text "null": only the parts there are
  const list = el("ul", { class: "video-list", id: "video-list" }, ...body.videos.map((v) => item(v, ctx, label)));
  root.append(...[head, filter, list, pager].filter(Boolean));
}
