// Search page (#/search?<query>): segments by label / probability / time, "A then B within Δ s" pairs, and
// moments similar to a span of a video (#/search?similar=<video_id>,<start_s>,<end_s>).
//
// The query lives in the hash, so a search is a shareable, back-button-friendly URL: submitting a form navigates
// to the new hash and the router renders this page again with those params, which runs the search.
//   segments:  label (comma list), min_score, max_score (probabilities), start_s, end_s (seconds), group_by, sort
//   pairs:     first, then, within_s (seconds), same_track=1, allow_overlap=1, min_score, sort
//   both:      max_results (hits a page, 1-1000; default 24)
//   similar:   similar=<video_id>,<start_s>,<end_s>, same=1 (also the query video's own moments; default: other
//              videos only, the API's exclude_same_video=true: "similar" means elsewhere in the collection)
// Every result is a link to #/videos/<id>?t=<start_s>. Times are seconds, scores probabilities in [0, 1], the
// similarity the cosine of the embeddings in [-1, 1].

import { thumbnailUrl } from "../api.js";
import { el, fmtProb, fmtTime, loadCss } from "../dom.js";

const PAGE_SIZE = 24; // hits per request ("More results" asks for the next page with next_token); max_results= overrides
const SIMILAR_RESULTS = 12; // nearest windows asked for (grouped into at most that many moments)
const SEGMENT_KEYS = ["label", "min_score", "max_score", "start_s", "end_s", "group_by", "sort"];
const SEQUENCE_KEYS = ["first", "then", "within_s", "same_track", "allow_overlap", "min_score", "sort"];
const seenLabels = new Set(); // labels met in this tab (GET /v1/labels, results): the datalist of the label inputs
const labelCounts = new Map(); // label -> {segments, videos} as GET /v1/labels last counted them
const SUGGEST_MS = 250; // the typing pause after which a label input's suggestions are asked for
const SUGGESTIONS = 50; // labels a GET /v1/labels asks for (most segments first)

/** Seconds or probabilities as the API wants them: finite numbers rounded to the millisecond / 1e-3. */
function num(value) {
  return String(Math.round(Number(value) * 1000) / 1000);
}

/** The hash of the video page opened at `seconds`. */
export function videoHash(videoId, seconds) {
  return `#/videos/${encodeURIComponent(videoId)}?t=${num(seconds)}`;
}

/** The hash of a similar-moments search from [startS, endS] of a video. */
export function similarHash(videoId, startS, endS) {
  return `#/search?similar=${encodeURIComponent(videoId)},${num(startS)},${num(endS)}`;
}

function shortId(videoId) {
  return `video ${String(videoId).slice(0, 8)}`;
}

function span(startS, endS) {
  return `${fmtTime(startS)}–${fmtTime(endS)}`;
}

function field(id, text, input) {
  input.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text }), input);
}

function input(type, name, value, extra = {}) {
  const node = el("input", { type, name, ...extra });
  if (type === "checkbox") node.checked = value === "1" || value === "true";
  else if (value !== null && value !== undefined) node.value = value;
  return node;
}

function select(name, options, value) {
  const node = el("select", { name });
  for (const [v, text] of options) node.append(el("option", { value: v, text }));
  node.value = value && options.some(([v]) => v === value) ? value : options[0][0];
  return node;
}

/** The form's non-empty fields as a query string (checkboxes as 1). */
function formQuery(form, keys) {
  const q = new URLSearchParams();
  for (const key of keys) {
    const node = form.elements.namedItem(key);
    if (!node) continue;
    if (node.type === "checkbox") {
      if (node.checked) q.set(key, "1");
    } else if (node.value.trim() !== "") {
      q.set(key, node.value.trim());
    }
  }
  return q;
}

function noPicture(text) {
  return el("span", { class: "thumb thumb-missing", "aria-hidden": "true", text });
}

/** A result's thumbnail; a placeholder when it has none or the server withholds it (a blocked video, 403). */
function thumb(videoId, name, alt = "") {
  if (!name) return noPicture("no picture");
  const img = el("img", { class: "thumb", src: thumbnailUrl(videoId, name), alt, loading: "lazy" });
  img.width = 160;
  img.height = 90;
  img.addEventListener("error", () => img.replaceWith(noPicture("picture withheld")), { once: true });
  return img;
}

/** A parsed `similar=<video_id>,<start_s>,<end_s>` value, or null when malformed. */
export function parseSimilar(value) {
  const parts = String(value || "").split(",");
  if (parts.length !== 3) return null;
  const [videoId, start, end] = [parts[0].trim(), Number(parts[1]), Number(parts[2])];
  if (!/^[0-9a-f]{32}$/.test(videoId) || !Number.isFinite(start) || !Number.isFinite(end) || !(end > start)) {
    return null;
  }
  return { videoId, startS: start, endS: end };
}

export async function render(root, ctx) {
  loadCss(new URL("./search.css", import.meta.url));
  const call = ctx.api;
  const params = ctx.params || new URLSearchParams();
  const controller = new AbortController();
  const signal = controller.signal;
  const similar = params.has("similar") ? parseSimilar(params.get("similar")) : null;
  const mode = params.has("similar") ? "similar" : params.has("first") || params.has("then") ? "sequence"
    : SEGMENT_KEYS.some((k) => params.has(k)) ? "segments" : null;
  const pick = (m, key, fallback = "") => (mode === m && params.has(key) ? params.get(key) : fallback);
  const asked = Number.parseInt(params.get("max_results") || "", 10);
  const pageSize = asked >= 1 && asked <= 1000 ? asked : PAGE_SIZE;

  const datalist = el("datalist", { id: "search-labels" });
  const listDatalist = el("datalist", { id: "search-labels-list" }); // a comma list with its last label completed
  const labelNote = (label) => {
    const c = labelCounts.get(label);
    if (!c) return undefined;
    return `${c.segments} segment${c.segments === 1 ? "" : "s"} in ${c.videos} video${c.videos === 1 ? "" : "s"}`;
  };
  const fillLabels = () => {
    const have = new Map([...datalist.options].map((o) => [o.value, o]));
    for (const label of [...seenLabels].sort()) {
      const note = labelNote(label);
      if (!have.has(label)) datalist.append(el("option", { value: label, label: note }));
      else if (note) have.get(label).label = note;
    }
  };
  const noteLabels = (labels) => {
    for (const label of labels) if (label) seenLabels.add(label);
    fillLabels();
  };

  // --- the segment search form
  const segForm = el("form", { class: "search-form", "aria-labelledby": "search-seg-title" },
    el("h2", { id: "search-seg-title", text: "Segments" }),
    field("search-label", "Labels (comma separated; empty: any)",
      input("text", "label", pick("segments", "label"), { list: "search-labels", autocomplete: "off",
        placeholder: "e.g. walk, run" })),
    el("div", { class: "field-row" },
      field("search-min", "Min probability", input("number", "min_score", pick("segments", "min_score"),
        { min: "0", max: "1", step: "0.01" })),
      field("search-max", "Max probability", input("number", "max_score", pick("segments", "max_score"),
        { min: "0", max: "1", step: "0.01" }))),
    el("div", { class: "field-row" },
      field("search-start", "From (s)", input("number", "start_s", pick("segments", "start_s"),
        { min: "0", step: "any" })),
      field("search-end", "To (s)", input("number", "end_s", pick("segments", "end_s"), { min: "0", step: "any" }))),
    el("div", { class: "field-row" },
      field("search-group", "Group by", select("group_by", [["clip", "moment"], ["video", "video"]],
        pick("segments", "group_by"))),
      field("search-sort", "Sort by", select("sort", [["score", "probability"], ["time", "time"]],
        pick("segments", "sort")))),
    el("button", { type: "submit", class: "primary", text: "Search" }));

  // --- the temporal query builder: A then B within Δ s
  const seqForm = el("form", { class: "search-form", "aria-labelledby": "search-seq-title" },
    el("h2", { id: "search-seq-title", text: "A then B" }),
    el("div", { class: "field-row" },
      field("search-first", "A (label)", input("text", "first", pick("sequence", "first"),
        { list: "search-labels", autocomplete: "off", required: "" })),
      field("search-then", "then B (label)", input("text", "then", pick("sequence", "then"),
        { list: "search-labels", autocomplete: "off", required: "" }))),
    el("div", { class: "field-row" },
      field("search-within", "within Δ (s)", input("number", "within_s", pick("sequence", "within_s", "2"),
        { min: "0", step: "any", required: "" })),
      field("search-seq-min", "Min probability (both)", input("number", "min_score", pick("sequence", "min_score"),
        { min: "0", max: "1", step: "0.01" }))),
    el("div", { class: "checks" },
      el("label", {}, input("checkbox", "same_track", pick("sequence", "same_track")), " same actor track"),
      el("label", {}, input("checkbox", "allow_overlap", pick("sequence", "allow_overlap")),
        " B may start before A ends")),
    field("search-seq-sort", "Sort by", select("sort", [["time", "time"], ["score", "probability (A×B)"]],
      pick("sequence", "sort"))),
    el("button", { type: "submit", class: "primary", text: "Find pairs" }));

  const count = el("p", { class: "search-count", role: "status", "aria-live": "polite" });
  const error = el("p", { class: "search-error", role: "alert" });
  const list = el("ol", { class: "search-cards" });
  const more = el("button", { type: "button", class: "search-more", text: "More results" });
  more.hidden = true;
  const heading = el("h2", { class: "search-results-title", text: "Results" });
  const results = el("section", { class: "search-results", "aria-labelledby": "search-results-title" },
    heading, count, error, list, more);
  heading.id = "search-results-title";

  const go = (query) => ctx.navigate(`#/search?${query}`); // the same hash renders the page again
  segForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = formQuery(segForm, SEGMENT_KEYS);
    if (![...q.keys()].length) q.set("sort", "score");
    go(q.toString());
  });
  seqForm.addEventListener("submit", (event) => {
    event.preventDefault();
    go(formQuery(seqForm, SEQUENCE_KEYS).toString());
  });

  const similarBox = el("section", { class: "similar-query", "aria-labelledby": "similar-title" });
  const forms = el("div", { class: "search-forms" }, segForm, seqForm);
  root.append(el("h1", { text: "Search" }), datalist, listDatalist);
  if (params.has("similar")) root.append(similarBox);
  root.append(forms, results);
  fillLabels();

  // --- running a query and showing its pages
  let state = null; // {kind, path, query | body, token, shown, noun}

  const fail = (err) => {
    if (err && err.name === "AbortError") return;
    count.textContent = "";
    error.textContent = err && err.detail ? String(err.detail) : String((err && err.message) || err);
  };

  const similarButton = (videoId, startS, endS, what) => el("button", {
    type: "button", class: "similar-button", text: "Similar moments",
    "aria-label": `Find moments similar to ${what}`,
    onClick: () => ctx.navigate(similarHash(videoId, startS, endS)),
  });

  const segmentCard = (hit, extra) => {
    const what = `${hit.label} ${span(hit.start_s, hit.end_s)} in ${shortId(hit.video_id)}`;
    return el("li", { class: "card", dataset: { videoId: hit.video_id, segmentId: String(hit.segment_id) } },
      el("a", { class: "card-link", href: videoHash(hit.video_id, hit.start_s) },
        thumb(hit.video_id, hit.thumbnail),
        el("span", { class: "card-title", text: hit.label }),
        el("span", { class: "card-meta", text: `${span(hit.start_s, hit.end_s)} · p ${fmtProb(hit.score)}` }),
        extra ? el("span", { class: "card-meta", text: extra }) : "",
        el("span", { class: "card-video", text: shortId(hit.video_id) })),
      similarButton(hit.video_id, hit.start_s, hit.end_s, what));
  };

  const videoCard = (hit) => {
    const best = hit.best_segment;
    const n = hit.hit_count;
    return segmentCard(best, `${n} matching segment${n === 1 ? "" : "s"} in this video (best shown)`);
  };

  const pairCard = (hit) => {
    const a = hit.first;
    const b = hit.then;
    const gap = `gap ${num(hit.gap_s)} s`;
    return el("li", { class: "card card-pair", dataset: { videoId: hit.video_id } },
      el("a", { class: "card-link", href: videoHash(hit.video_id, a.start_s) },
        thumb(hit.video_id, a.thumbnail || b.thumbnail),
        el("span", { class: "card-title", text: `${a.label} → ${b.label}` }),
        el("span", { class: "card-meta", text: `A ${span(a.start_s, a.end_s)} · B ${span(b.start_s, b.end_s)}` }),
        el("span", { class: "card-meta", text: `${gap} · p ${fmtProb(hit.score)}` }),
        el("span", { class: "card-video", text: shortId(hit.video_id) })),
      el("a", { class: "card-second", href: videoHash(hit.video_id, b.start_s), text: `B at ${fmtTime(b.start_s)}`,
        "aria-label": `Open ${shortId(hit.video_id)} at B, ${b.label}, ${fmtTime(b.start_s)}` }),
      similarButton(hit.video_id, a.start_s, b.end_s, `${a.label} then ${b.label} in ${shortId(hit.video_id)}`));
  };

  // similar moments carry no thumbnail: the shot holding the moment's middle gives one (one request per video)
  const shotsByVideo = new Map();
  const shotThumbnail = async (videoId, seconds) => {
    if (!shotsByVideo.has(videoId)) {
      shotsByVideo.set(videoId, call(`/v1/videos/${encodeURIComponent(videoId)}/shots`, { signal })
        .then((body) => body.shots || []).catch(() => []));
    }
    const shots = await shotsByVideo.get(videoId);
    const shot = shots.find((s) => s.start_s <= seconds && seconds < s.end_s) || shots[shots.length - 1];
    return shot ? shot.thumbnail : null;
  };

  const momentCard = (m) => {
    const picture = noPicture("…");
    const labels = [...new Set(m.windows.flatMap((w) => (w.top || []).slice(0, 1).map((t) => t.label)))];
    const card = el("li", { class: "card card-moment", dataset: { videoId: m.video_id } },
      el("a", { class: "card-link", href: videoHash(m.video_id, m.start_s) },
        picture,
        el("span", { class: "card-title", text: `similarity ${m.similarity.toFixed(3)}` }),
        el("span", { class: "card-meta", text: `${span(m.start_s, m.end_s)}${labels.length ? ` · ${labels.join(", ")}` : ""}` }),
        el("span", { class: "card-video", text: shortId(m.video_id) })),
      similarButton(m.video_id, m.start_s, m.end_s, `${span(m.start_s, m.end_s)} in ${shortId(m.video_id)}`));
    noteLabels(labels);
    const best = m.windows.reduce((a, w) => (w.similarity > a.similarity ? w : a), m.windows[0] || m);
    shotThumbnail(m.video_id, (best.start_s + best.end_s) / 2).then((name) => {
      if (name && !signal.aborted) picture.replaceWith(thumb(m.video_id, name));
      else if (!name) picture.textContent = "no picture";
    });
    return card;
  };

  const countText = () => {
    const n = state.shown;
    const tail = state.token ? " so far (more available)" : "";
    return `${n} ${state.noun}${n === 1 ? "" : "s"}${tail}`;
  };

  const showPage = (body) => {
    const hits = body.hits || [];
    for (const hit of hits) {
      if (state.kind === "sequence") {
        list.append(pairCard(hit));
        noteLabels([hit.first.label, hit.then.label]);
      } else if (state.query.get("group_by") === "video") {
        list.append(videoCard(hit));
        noteLabels([hit.best_segment.label]);
      } else {
        list.append(segmentCard(hit));
        noteLabels([hit.label]);
      }
    }
    state.shown += hits.length;
    state.token = body.next_token || null;
    more.hidden = !state.token;
    count.textContent = countText();
  };

  const fetchPage = async () => {
    const q = new URLSearchParams(state.query);
    q.set("max_results", String(pageSize));
    if (state.token) q.set("next_token", state.token);
    more.disabled = true;
    try {
      showPage(await call(`${state.path}?${q}`, { signal }));
    } catch (err) {
      fail(err);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", fetchPage);

  const runFromParams = async (p) => {
    error.textContent = "";
    list.replaceChildren();
    more.hidden = true;
    count.textContent = "Searching…";
    if (p.has("first") || p.has("then")) {
      const query = new URLSearchParams();
      for (const key of SEQUENCE_KEYS) if (p.has(key)) query.set(key, key === "same_track" || key === "allow_overlap" ? "true" : p.get(key));
      state = { kind: "sequence", path: "/v1/search/sequence", query, token: null, shown: 0, noun: "pair" };
      heading.textContent = `Pairs: ${p.get("first") || "?"} then ${p.get("then") || "?"} within ${p.get("within_s") || "?"} s`;
    } else {
      const query = new URLSearchParams();
      for (const key of SEGMENT_KEYS) if (p.has(key)) query.set(key, p.get(key));
      const byVideo = query.get("group_by") === "video";
      state = { kind: "segments", path: "/v1/search", query, token: null, shown: 0, noun: byVideo ? "video" : "segment" };
      heading.textContent = query.get("label") ? `Segments labelled ${query.get("label")}` : "Segments";
    }
    await fetchPage();
  };

  const runSimilar = async () => {
    heading.textContent = "Similar moments";
    similarBox.replaceChildren();
    if (!similar) {
      error.textContent = "similar: expected <video_id>,<start_s>,<end_s> (32 hex digits, then seconds, start before end)";
      return;
    }
    const includeSame = params.get("same") === "1";
    const same = input("checkbox", "same", includeSame ? "1" : "");
    same.id = "similar-same";
    same.addEventListener("change", () => {
      const q = new URLSearchParams({ similar: params.get("similar") });
      if (same.checked) q.set("same", "1");
      ctx.navigate(`#/search?${q}`);
    });
    similarBox.append(
      el("h2", { id: "similar-title", text: "Moments similar to" }),
      el("p", {},
        el("a", { href: videoHash(similar.videoId, similar.startS),
          text: `${shortId(similar.videoId)}, ${span(similar.startS, similar.endS)}` })),
      el("div", { class: "checks" }, same, el("label", { for: "similar-same", text: " include moments of the same video" })));
    count.textContent = "Searching…";
    try {
      const body = await call("/v1/search/similar", { method: "POST", signal, json: {
        video_id: similar.videoId, start_s: similar.startS, end_s: similar.endS, max_results: SIMILAR_RESULTS,
        exclude_same_video: !includeSame,
      } });
      const moments = body.moments || [];
      for (const m of moments) list.append(momentCard(m));
      const n = moments.length;
      const model = body.model && body.model.name ? ` (embeddings of ${body.model.name})` : "";
      count.textContent = `${n} similar moment${n === 1 ? "" : "s"}${model}`;
    } catch (err) {
      fail(err);
    }
  };

  // --- label suggestions: the collection's labels (GET /v1/labels, most segments first), then, as the user types
  // in a label input (a pause of SUGGEST_MS), those starting with what the input's last label holds so far
  let suggestTimer = 0;
  let suggesting = null; // the AbortController of the suggestion request in flight
  const askLabels = async (prefix) => {
    if (suggesting) suggesting.abort();
    suggesting = new AbortController();
    const q = new URLSearchParams({ limit: String(SUGGESTIONS) });
    if (prefix) q.set("prefix", prefix);
    const body = await call(`/v1/labels?${q}`, { signal: suggesting.signal });
    const rows = body.labels || [];
    for (const r of rows) labelCounts.set(r.label, { segments: r.segments, videos: r.videos });
    noteLabels(rows.map((r) => r.label));
    return rows;
  };
  const suggest = async (node) => {
    const value = node.value;
    const comma = node.name === "label" ? value.lastIndexOf(",") : -1; // only the segment form takes a comma list
    const last = value.slice(comma + 1).trimStart();
    const head = value.slice(0, value.length - last.length);
    try {
      const rows = await askLabels(last.trim());
      if (comma >= 0) {
        listDatalist.replaceChildren(...rows.map((r) => el("option", { value: head + r.label, label: labelNote(r.label) })));
      }
      node.setAttribute("list", comma >= 0 ? "search-labels-list" : "search-labels");
    } catch (err) {
      if (err && err.name !== "AbortError") console.warn("label suggestions:", err.detail || err.message || err);
    }
  };
  for (const name of ["search-label", "search-first", "search-then"]) {
    const node = root.querySelector(`#${name}`);
    node.addEventListener("input", () => {
      clearTimeout(suggestTimer);
      suggestTimer = setTimeout(() => suggest(node), SUGGEST_MS);
    });
  }
  signal.addEventListener("abort", () => {
    clearTimeout(suggestTimer);
    if (suggesting) suggesting.abort();
  });
  askLabels("").catch(() => {}); // the datalist's start: the most frequent labels
  if (mode === "similar") runSimilar();
  else if (mode) runFromParams(params);
  else count.textContent = "Enter a query: segments by label, or a pair \"A then B\".";

  return () => controller.abort();
}
