// vidstruct report: draws the player, timeline lanes and tables of one vidstruct.structure/1 document.
// Every piece of text from the document goes into the page through textContent / attributes set by the
// DOM API, never as HTML, so a label such as "<script>" is shown, not run.
(function () {
  "use strict";

  const payload = JSON.parse(document.getElementById("vidstruct-data").textContent);
  const doc = payload.document;
  const view = payload.report; // {video_src, duration_s, thumbnails: {path: data URI}, notes: [str]}
  const video = document.getElementById("player");
  const duration = view.duration_s > 0 ? view.duration_s : 0;

  // ---- helpers ----------------------------------------------------------------------------------------------
  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children || []) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmtTime(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return "–";
    const ms = Math.round(seconds * 1000);
    const h = Math.floor(ms / 3600000);
    const m = Math.floor((ms % 3600000) / 60000);
    const s = ((ms % 60000) / 1000).toFixed(3).padStart(6, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function fmtProb(p) {
    return typeof p === "number" ? p.toFixed(3) : "–";
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function hue(label) {
    let h = 7;
    for (const ch of String(label)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return (h * 137) % 360;
  }

  function labelColor(label, alpha) {
    return `hsla(${hue(label)}, 62%, 48%, ${alpha})`;
  }

  function place(node, start, end) {
    // Position a box over [start, end] seconds as percentages of the timeline's duration.
    if (!duration) return;
    node.style.left = `${(100 * Math.max(0, start)) / duration}%`;
    if (end !== undefined) node.style.width = `${(100 * Math.max(0, end - start)) / duration}%`;
  }

  function seek(seconds) {
    video.currentTime = Math.max(0, seconds);
  }

  function thumb(path, alt) {
    const uri = path ? view.thumbnails[path] : undefined;
    return uri ? el("img", { src: uri, alt: alt, loading: "lazy" }) : null;
  }

  const list = (value) => (Array.isArray(value) ? value : []);
  const shots = list(doc.shots);
  const segments = list(doc.segments);
  const actors = list(doc.actors);
  const videoMeta = doc.video || {};

  // ---- header and player ------------------------------------------------------------------------------------
  document.getElementById("title").textContent = `vidstruct report: ${videoMeta.id || "video"}`;
  document.getElementById("subtitle").textContent = [
    videoMeta.path,
    `${fmtTime(duration)} long`,
    `${segments.length} segments, ${shots.length} shots`,
    doc.created ? `analysed ${doc.created}` : null,
  ]
    .filter(Boolean)
    .join(" · ");
  document.title = `vidstruct report: ${videoMeta.id || "video"}`;

  if (videoMeta.width > 0 && videoMeta.height > 0) {
    const aspect = `${videoMeta.width} / ${videoMeta.height}`;
    document.getElementById("player-wrap").style.setProperty("--aspect", aspect);
  }
  video.src = view.video_src;
  video.addEventListener("error", () => {
    const box = document.getElementById("video-error");
    box.textContent = `The video could not be played from ${view.video_src} (moved, or a codec this browser lacks).`;
    box.hidden = false;
  });

  // ---- timeline ---------------------------------------------------------------------------------------------
  const lanes = document.getElementById("lanes");
  const timeline = document.getElementById("timeline");

  function lane(kind, name, dataset) {
    const track = el("div", { className: "lane-track" });
    track.addEventListener("click", (event) => {
      // A click on the empty track seeks to that moment.
      const rect = track.getBoundingClientRect();
      if (duration && rect.width > 0) seek(((event.clientX - rect.left) / rect.width) * duration);
    });
    const row = el("div", { className: `lane ${kind}`, dataset: dataset }, [
      el("div", { className: "lane-label", title: name, text: name }),
      track,
    ]);
    lanes.append(row);
    return track;
  }

  function box(track, className, start, end, title, onClick) {
    const node = el("div", {
      className: `box ${className}`,
      title: title,
      tabindex: 0,
      role: "button",
      dataset: { start: start, end: end },
    });
    place(node, start, end);
    node.addEventListener("click", (event) => {
      event.stopPropagation();
      onClick();
    });
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        onClick();
      }
    });
    track.append(node);
    return node;
  }

  // time axis: about 8 ticks at a round step
  const axis = document.querySelector("#axis .lane-track");
  if (duration) {
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
    const step = steps.find((s) => duration / s <= 8) || 7200;
    for (let t = 0; t <= duration + 1e-9; t += step) {
      const tick = el("div", { className: "tick", text: fmtTime(t).replace(/\.?0+$/, "") });
      place(tick, t);
      axis.append(tick);
    }
  }

  const shotTrack = lane("shots", `shots (${shots.length})`, { lane: "shots" });
  shots.forEach((shot, i) => {
    const title = [
      `shot ${shot.index}`,
      `${fmtTime(shot.start_s)} – ${fmtTime(shot.end_s)}`,
      `cut probability ${fmtProb(shot.confidence)}`,
    ].join("\n");
    box(shotTrack, i % 2 ? "shot odd" : "shot", shot.start_s, shot.end_s, title, () => seek(shot.start_s));
  });

  // one lane per segment label, labels in alphabetical order
  const byLabel = new Map();
  segments.forEach((seg, i) => {
    if (!byLabel.has(seg.label)) byLabel.set(seg.label, []);
    byLabel.get(seg.label).push([seg, i]);
  });
  const segmentBoxes = [];
  for (const label of [...byLabel.keys()].sort((a, b) => String(a).localeCompare(String(b)))) {
    const track = lane("segments", label, { lane: "segments", label: label });
    for (const [seg, i] of byLabel.get(label)) {
      const title = [
        seg.label,
        `probability ${fmtProb(seg.score)}`,
        `${fmtTime(seg.start_s)} – ${fmtTime(seg.end_s)}`,
        `model ${seg.model}`,
      ].join("\n");
      const node = box(track, "segment", seg.start_s, seg.end_s, title, () => seek(seg.start_s));
      node.style.background = labelColor(seg.label, 0.35 + 0.65 * (seg.score || 0));
      node.dataset.index = i;
      segmentBoxes.push([seg, node]);
    }
  }
  if (!segments.length) lanes.append(el("div", { className: "empty", text: "no segments" }));

  // actors: one group lane, then one row per track with a marker per keyframe
  const tracks = new Map();
  for (const actor of actors) {
    if (!tracks.has(actor.track_id)) tracks.set(actor.track_id, []);
    tracks.get(actor.track_id).push(actor);
  }
  lane("lane-group actors", `actors (${tracks.size} tracks)`, { lane: "actors" });
  for (const trackId of [...tracks.keys()].sort((a, b) => a - b)) {
    const track = lane("actor-track", `track ${trackId}`, { lane: "actor-track", track: trackId });
    for (const actor of tracks.get(trackId)) {
      const actions = list(actor.actions)
        .map((a) => `${a.label} ${fmtProb(a.prob)}`)
        .join(", ");
      const marker = el("div", {
        className: "keyframe",
        title: [
          `track ${trackId} at ${fmtTime(actor.time_s)}`,
          `person ${fmtProb(actor.score)}`,
          actions || "no action",
        ].join("\n"),
        tabindex: 0,
        role: "button",
        dataset: { time: actor.time_s },
      });
      place(marker, actor.time_s);
      marker.addEventListener("click", (event) => {
        event.stopPropagation();
        seek(actor.time_s);
      });
      track.append(marker);
    }
  }

  // boxes of the actors at the keyframe nearest to the current time (within half a second)
  const overlay = document.getElementById("overlay");
  function drawActors(t) {
    overlay.replaceChildren();
    let best = null;
    for (const actor of actors) {
      const dt = Math.abs(actor.time_s - t);
      if (dt <= 0.5 && (best === null || dt < best)) best = dt;
    }
    if (best === null) return;
    for (const actor of actors) {
      if (Math.abs(Math.abs(actor.time_s - t) - best) > 1e-6 || !Array.isArray(actor.box)) continue;
      const [x1, y1, x2, y2] = actor.box;
      const top = list(actor.actions)[0];
      const node = el("div", { className: "actor-box" }, [
        el("span", { text: `#${actor.track_id}${top ? ` ${top.label} ${fmtProb(top.prob)}` : ""}` }),
      ]);
      Object.assign(node.style, {
        left: `${100 * x1}%`,
        top: `${100 * y1}%`,
        width: `${100 * (x2 - x1)}%`,
        height: `${100 * (y2 - y1)}%`,
      });
      overlay.append(node);
    }
  }

  // ---- segments table ---------------------------------------------------------------------------------------
  const tbody = document.querySelector("#segments tbody");
  document.getElementById("segment-count").textContent = `(${segments.length})`;
  const rows = segments.map((seg, i) => {
    const image = thumb(seg.thumbnail, `thumbnail of ${seg.label}`);
    const tr = el("tr", { dataset: { index: i } }, [
      el("td", {}, image ? [image] : []),
      el("td", { className: "label" }, [
        el("span", { className: "swatch" }),
        el("span", { text: seg.label }),
      ]),
      el("td", { className: "num start", text: fmtTime(seg.start_s) }),
      el("td", { className: "num end", text: fmtTime(seg.end_s) }),
      el("td", { className: "num score", text: fmtProb(seg.score) }),
      el("td", { text: seg.source }),
      el("td", { className: "mono", text: seg.model }),
      el("td", { className: "num", text: seg.shot ?? "–" }),
    ]);
    tr.querySelector(".swatch").style.background = labelColor(seg.label, 1);
    tr.addEventListener("click", () => seek(seg.start_s));
    return { seg: seg, index: i, tr: tr };
  });
  const sortKeys = {
    label: (r) => String(r.seg.label),
    start: (r) => r.seg.start_s,
    end: (r) => r.seg.end_s,
    score: (r) => r.seg.score,
  };
  let sortState = { key: "start", dir: 1 };
  function sortTable() {
    const key = sortKeys[sortState.key];
    rows.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      const c = typeof ka === "string" ? ka.localeCompare(kb) : ka - kb;
      return c * sortState.dir || a.seg.start_s - b.seg.start_s || a.index - b.index;
    });
    tbody.replaceChildren(...rows.map((r) => r.tr));
    for (const th of document.querySelectorAll("#segments th[data-sort]")) {
      if (th.dataset.sort !== sortState.key) th.removeAttribute("aria-sort");
      else th.setAttribute("aria-sort", sortState.dir > 0 ? "ascending" : "descending");
    }
  }
  for (const th of document.querySelectorAll("#segments th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      // a new column sorts ascending, except probability, highest first; a second click reverses
      if (sortState.key === key) sortState = { key: key, dir: -sortState.dir };
      else sortState = { key: key, dir: key === "score" ? -1 : 1 };
      sortTable();
    });
  }
  sortTable();

  // ---- shot gallery -----------------------------------------------------------------------------------------
  document.getElementById("shot-count").textContent = `(${shots.length})`;
  const gallery = document.getElementById("shot-gallery");
  for (const shot of shots) {
    const image = thumb(shot.thumbnail, `shot ${shot.index}`);
    const figure = el("figure", { title: `shot ${shot.index}: ${fmtTime(shot.start_s)} – ${fmtTime(shot.end_s)}` }, [
      image || el("div", { className: "noimg", text: "no thumbnail" }),
      el("figcaption", { text: `#${shot.index} · ${fmtTime(shot.start_s)}` }),
    ]);
    figure.addEventListener("click", () => seek(shot.start_s));
    gallery.append(figure);
  }

  // ---- video metadata, timings, models, warnings ------------------------------------------------------------
  function kvTable(id, entries) {
    document.getElementById(id).replaceChildren(
      ...entries.map(([key, value]) => el("tr", {}, [el("th", { text: key }), el("td", { text: value ?? "–" })])),
    );
  }
  kvTable("video-meta", [
    ...Object.entries(videoMeta).map(([k, v]) => [k, v]),
    ["profile", doc.profile ? `${doc.profile.name} (${String(doc.profile.sha256).slice(0, 12)})` : "none"],
    ["vidstruct", doc.vidstruct_version],
    ["format", doc.format],
  ]);
  kvTable(
    "timings",
    Object.entries(doc.timings || {}).map(([k, v]) => [k, typeof v === "number" ? `${v.toFixed(3)} s` : v]),
  );

  const models = Object.entries(doc.models || {});
  document.getElementById("models").replaceChildren(
    el("thead", {}, [
      el("tr", {}, ["key", "name", "task", "checkpoint", "classes", "settings"].map((h) => el("th", { text: h }))),
    ]),
    el(
      "tbody",
      {},
      models.map(([key, m]) =>
        el("tr", { dataset: { model: key } }, [
          el("td", { className: "mono", text: key }),
          el("td", { text: m.name }),
          el("td", { text: m.task }),
          el("td", { className: "mono" }, [
            m.checkpoint || "none",
            m.checkpoint_sha256
              ? el("div", { className: "count", text: `sha256 ${m.checkpoint_sha256.slice(0, 16)}…` })
              : "",
          ]),
          el("td", { title: list(m.classes).join(", "), text: Array.isArray(m.classes) ? m.classes.length : "–" }),
          el("td", {}, [
            el("details", {}, [
              el("summary", { text: plural(Object.keys(m.settings || {}).length, "setting") }),
              el("pre", { text: JSON.stringify(m.settings, null, 2) }),
            ]),
          ]),
        ]),
      ),
    ),
  );

  const warnings = list(doc.warnings);
  document.getElementById("warning-count").textContent = `(${warnings.length})`;
  const notes = list(view.notes);
  document.getElementById("warnings").replaceChildren(
    ...warnings.map((w) => el("li", { text: w })),
    ...notes.map((n) => el("li", { className: "note", text: `report: ${n}` })),
    ...(warnings.length || notes.length ? [] : [el("li", { className: "note", text: "none" })]),
  );

  // ---- follow the player ------------------------------------------------------------------------------------
  const clock = document.getElementById("clock");
  function follow() {
    const t = video.currentTime;
    if (duration) timeline.style.setProperty("--t", Math.min(1, t / duration));
    clock.textContent = `${fmtTime(t)} / ${fmtTime(duration)}`;
    for (const [seg, node] of segmentBoxes) node.classList.toggle("active", seg.start_s <= t && t < seg.end_s);
    for (const r of rows) r.tr.classList.toggle("active", r.seg.start_s <= t && t < r.seg.end_s);
    drawActors(t);
  }
  video.addEventListener("timeupdate", follow);
  video.addEventListener("seeked", follow);
  follow();
})();
