// A video's page: the player with actor boxes drawn over it, timeline lanes, a filterable and sortable segments
// table (click a row to seek, "similar" to search for similar moments), shot thumbnails and export links.
import { exportUrl, mediaUrl, thumbnailUrl } from "../api.js";
import { el, fmtProb, fmtTime, labelColor, notice } from "../dom.js";
import { buildTimeline } from "./timeline.js";

const EXPORTS = [
  ["webvtt", "WebVTT"],
  ["csv", "CSV"],
  ["activitynet", "ActivityNet"],
  ["otio", "OTIO"],
];
const KEYFRAME_WINDOW_S = 0.5;

async function allSegments(ctx, id) {
  const out = [];
  let token = null;
  do {
    const query = new URLSearchParams({ max_results: "1000" });
    if (token) query.set("next_token", token);
    const page = await ctx.api(`/v1/videos/${encodeURIComponent(id)}/segments?${query}`);
    out.push(...page.segments);
    token = page.next_token;
  } while (token);
  return out;
}

/** The actors at the keyframe nearest to t (within ±0.5 s), or []. */
export function actorsAt(actors, t) {
  let best = null;
  for (const a of actors) {
    const dt = Math.abs(a.time_s - t);
    if (dt <= KEYFRAME_WINDOW_S && (best === null || dt < Math.abs(best - t))) best = a.time_s;
  }
  return best === null ? [] : actors.filter((a) => a.time_s === best);
}

export async function render(root, ctx) {
  const id = ctx.params.get("id");
  const enc = encodeURIComponent(id);
  root.append(el("h1", { class: "mono-title", text: `Video ${id}` }));
  const meta = await ctx.api(`/v1/videos/${enc}`);
  if (!meta.analysis) {
    root.append(notice("This video has no finished analysis yet.", "info"));
    return;
  }
  const [segments, shotsBody, actorsBody] = await Promise.all([
    allSegments(ctx, id),
    ctx.api(`/v1/videos/${enc}/shots`),
    ctx.api(`/v1/videos/${enc}/actors`),
  ]);
  const shots = shotsBody.shots;
  const actors = actorsBody.actors;
  const duration = meta.duration_s || 0;
  const blocked = meta.moderation && meta.moderation.blocked;
  const mayView = !blocked || ctx.grants(ctx.session.scope, "review");

  root.append(
    el("p", {
      class: "subtitle",
      text: [
        `${fmtTime(duration)} long`,
        meta.width && meta.height ? `${meta.width}×${meta.height}` : null,
        meta.fps ? `${Math.round(meta.fps * 100) / 100} fps` : null,
        `profile ${meta.analysis.profile.name}`,
        `${segments.length} segments, ${shots.length} shots, ${new Set(actors.map((a) => a.track_id)).size} actors`,
        `models: ${Object.values(meta.analysis.models || {}).map((m) => m.name || m).join(", ") || "–"}`,
      ].filter(Boolean).join(" · "),
    }),
  );
  if (blocked) {
    root.append(notice(`Blocked by moderation (flags ${meta.moderation.blocking_flags.join(", ")})${mayView ? "; shown because this key may review." : "."}`, mayView ? "info" : "error"));
  }

  // ---- player and actor overlay ------------------------------------------------------------------------------
  const video = el("video", { id: "player", controls: true, preload: "metadata", playsinline: true, "aria-label": `video ${id}` });
  const overlay = el("div", { class: "overlay", "aria-hidden": "true" });
  const clock = el("p", { class: "clock", "aria-live": "off", text: `0:00.0 / ${fmtTime(duration)}` });
  const wrap = el("div", { class: "player-wrap" }, video, overlay);
  if (meta.width > 0 && meta.height > 0) wrap.style.setProperty("--aspect", `${meta.width} / ${meta.height}`);
  root.append(wrap, clock);
  if (mayView) video.src = mediaUrl(id);

  function layoutOverlay() {
    // the displayed picture inside the <video> box (object-fit: contain letterboxes it)
    const vw = video.videoWidth || meta.width;
    const vh = video.videoHeight || meta.height;
    const cw = video.clientWidth;
    const ch = video.clientHeight;
    if (!vw || !vh || !cw || !ch) return;
    const scale = Math.min(cw / vw, ch / vh);
    const w = vw * scale;
    const h = vh * scale;
    Object.assign(overlay.style, {
      left: `${video.offsetLeft + (cw - w) / 2}px`,
      top: `${video.offsetTop + (ch - h) / 2}px`,
      width: `${w}px`,
      height: `${h}px`,
    });
  }

  let drawnAt = undefined; // the keyframe time whose boxes are drawn (null: none)
  function drawActors(t) {
    const shown = actorsAt(actors, t);
    const at = shown.length ? shown[0].time_s : null;
    if (at === drawnAt) return;
    drawnAt = at;
    overlay.replaceChildren(
      ...shown.map((a) => {
        const [x1, y1, x2, y2] = a.box;
        const top = (a.actions || [])[0];
        const box = el("div", { class: "actor-box", dataset: { track: a.track_id } }, el("span", { text: `#${a.track_id}${top ? ` ${top.label} ${fmtProb(top.prob)}` : ""}` }));
        Object.assign(box.style, { left: `${100 * x1}%`, top: `${100 * y1}%`, width: `${100 * (x2 - x1)}%`, height: `${100 * (y2 - y1)}%` });
        return box;
      }),
    );
  }

  function seek(seconds) {
    const t = Math.max(0, Math.min(seconds, duration || seconds));
    video.currentTime = t;
    follow(t);
  }

  // ---- timeline ----------------------------------------------------------------------------------------------
  const timeline = buildTimeline({ duration, shots, segments, actors, seek });
  root.append(el("h2", { text: "Timeline" }), timeline.node);

  // ---- segments table ----------------------------------------------------------------------------------------
  const labels = [...new Set(segments.map((s) => s.label))].sort((a, b) => String(a).localeCompare(String(b)));
  const labelSelect = el("select", { id: "seg-label" }, el("option", { value: "", text: "all labels" }), ...labels.map((l) => el("option", { value: l, text: l })));
  const minProb = el("input", { id: "seg-min", type: "range", min: "0", max: "1", step: "0.05", value: "0" });
  const minOut = el("output", { for: "seg-min", text: "0%" });
  const count = el("p", { class: "count", id: "segments-count", "aria-live": "polite" });
  const tbody = el("tbody");
  const sortable = [
    ["label", "Label", (s) => String(s.label)],
    ["start", "Start", (s) => s.start_s],
    ["end", "End", (s) => s.end_s],
    ["score", "Probability", (s) => s.score],
  ];
  let sortState = { key: "start", dir: 1 };
  const headers = sortable.map(([key, text]) => {
    const th = el("th", { scope: "col", dataset: { sort: key } }, el("button", { type: "button", class: "sort", text, onClick: () => sortBy(key) }));
    return th;
  });
  const table = el(
    "table",
    { class: "segments", id: "segments-table" },
    el("thead", {}, el("tr", {}, ...headers, el("th", { scope: "col", text: "Source" }), el("th", { scope: "col", text: "Model" }), el("th", { scope: "col", text: "Thumbnail" }), el("th", { scope: "col", text: "" }))),
    tbody,
  );
  const rows = segments.map((seg, index) => {
    const similar = `#/search?similar=${encodeURIComponent(`${id},${seg.start_s},${seg.end_s}`)}`;
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = labelColor(seg.label);
    const tr = el(
      "tr",
      { class: "segment-row", dataset: { segmentId: seg.segment_id, start: seg.start_s }, onClick: () => seek(seg.start_s) },
      el("td", {}, swatch, el("span", { text: seg.label })),
      el("td", { class: "num" }, el("button", { type: "button", class: "link seek", text: fmtTime(seg.start_s), "aria-label": `play ${seg.label} from ${fmtTime(seg.start_s)}`, onClick: (e) => { e.stopPropagation(); seek(seg.start_s); } })),
      el("td", { class: "num", text: fmtTime(seg.end_s) }),
      el("td", { class: "num", text: fmtProb(seg.score) }),
      el("td", { text: seg.source || "–" }),
      el("td", { class: "mono small", text: seg.model || "–" }),
      el("td", {}, seg.thumbnail && mayView ? el("img", { src: thumbnailUrl(id, seg.thumbnail), alt: `${seg.label} at ${fmtTime(seg.start_s)}`, loading: "lazy", class: "thumb" }) : null),
      el("td", {}, el("button", { type: "button", class: "similar", text: "similar", "aria-label": `similar moments to ${seg.label} at ${fmtTime(seg.start_s)}`, onClick: (e) => { e.stopPropagation(); ctx.navigate(similar); } })),
    );
    return { seg, index, tr };
  });

  function sortBy(key) {
    sortState = sortState.key === key ? { key, dir: -sortState.dir } : { key, dir: key === "score" ? -1 : 1 };
    redrawTable();
  }

  function redrawTable() {
    const label = labelSelect.value;
    const min = Number(minProb.value);
    minOut.textContent = fmtProb(min);
    const keyFn = sortable.find(([k]) => k === sortState.key)[2];
    const shown = rows
      .filter((r) => (!label || r.seg.label === label) && r.seg.score >= min - 1e-9)
      .sort((a, b) => {
        const ka = keyFn(a.seg);
        const kb = keyFn(b.seg);
        const c = typeof ka === "string" ? ka.localeCompare(kb) : ka - kb;
        return c * sortState.dir || a.seg.start_s - b.seg.start_s || a.index - b.index;
      });
    tbody.replaceChildren(...shown.map((r) => r.tr));
    count.textContent = `${shown.length} of ${rows.length} segments`;
    table.dataset.shown = String(shown.length);
    for (const th of headers) {
      if (th.dataset.sort === sortState.key) th.setAttribute("aria-sort", sortState.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
  }
  labelSelect.addEventListener("change", redrawTable);
  minProb.addEventListener("input", redrawTable);
  root.append(
    el("h2", { text: "Segments" }),
    el("div", { class: "filters" }, el("label", { for: "seg-label", text: "Label" }), labelSelect, el("label", { for: "seg-min", text: "Minimum probability" }), minProb, minOut),
    count,
    segments.length ? table : el("p", { class: "empty", text: "No segments." }),
  );
  redrawTable();

  // ---- shots, exports ------------------------------------------------------------------------------------------
  root.append(
    el("h2", { text: "Shots" }),
    el(
      "div",
      { class: "shot-strip", id: "shot-strip" },
      ...shots.map((shot) =>
        el(
          "button",
          { type: "button", class: "shot-thumb", "aria-label": `shot ${shot.index} at ${fmtTime(shot.start_s)}`, onClick: () => seek(shot.start_s) },
          shot.thumbnail && mayView ? el("img", { src: thumbnailUrl(id, shot.thumbnail), alt: "", loading: "lazy" }) : el("span", { class: "noimg", text: "no thumbnail" }),
          el("span", { class: "caption", text: `#${shot.index} · ${fmtTime(shot.start_s)}` }),
        ),
      ),
    ),
    el("h2", { text: "Export" }),
    el("div", { class: "exports" }, ...EXPORTS.map(([format, text]) => el("a", { class: "button", href: exportUrl(id, format), download: "", dataset: { format }, text }))),
  );

  // ---- follow the player ---------------------------------------------------------------------------------------
  let frame = 0;
  function follow(t = video.currentTime) {
    clock.textContent = `${fmtTime(t)} / ${fmtTime(duration)}`;
    timeline.update(t);
    drawActors(t);
    for (const r of rows) r.tr.classList.toggle("active", r.seg.start_s <= t && t < r.seg.end_s);
  }
  function tick() {
    follow();
    frame = video.paused ? 0 : requestAnimationFrame(tick);
  }
  const onPlay = () => {
    if (!frame) frame = requestAnimationFrame(tick);
  };
  const onTime = () => follow();
  video.addEventListener("timeupdate", onTime);
  video.addEventListener("seeked", onTime);
  video.addEventListener("play", onPlay);
  video.addEventListener("loadedmetadata", () => {
    layoutOverlay();
    const t = Number(ctx.params.get("t"));
    if (Number.isFinite(t) && t > 0) seek(t);
  });
  video.addEventListener("error", () => {
    if (video.error) root.insertBefore(notice("The video could not be played in this browser."), wrap);
  });
  const resize = new ResizeObserver(layoutOverlay);
  resize.observe(video);
  follow(0);

  return () => {
    resize.disconnect();
    if (frame) cancelAnimationFrame(frame);
    video.pause();
    video.removeAttribute("src");
    video.load();
  };
}
