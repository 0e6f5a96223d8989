// Moderation page (#/moderation?status=open|escalated|reviewed|superseded|all): the flags the policy raised, each
// with its evidence (thumbnail, the flagged segment playable in place, label, probability, severity, rule), a
// review form (confirm = a violation, dismiss = not one, escalate = needs another reviewer; an optional note) and
// its audit trail (GET /v1/moderation/flags/{id}: the flag's reviews from the append-only audit log: who, when,
// decision, note). Needs a key with scope review (or admin); the API answers 403 to others.
// Times are seconds, probabilities in [0, 1].

import { mediaUrl, thumbnailUrl } from "../api.js";
import { el, fmtProb, fmtTime, loadCss } from "../dom.js";

const STATUSES = ["open", "escalated", "reviewed", "superseded", "all"];
const REVIEW_SCOPES = new Set(["review", "admin"]);
const PAGE_SIZE = 20;
const DECISIONS = [
  ["confirm", "Confirm violation"],
  ["dismiss", "Dismiss (no violation)"],
  ["escalate", "Escalate"],
];

/** A stored thumbnail path (relative to the analysis folder) → the name the thumbnails route serves it by. */
function baseName(path) {
  return String(path).split("/").pop();
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function videoHash(videoId, seconds) {
  return `#/videos/${encodeURIComponent(videoId)}?t=${Math.round(Number(seconds) * 1000) / 1000}`;
}

function row(term, ...value) {
  return [el("dt", { text: term }), el("dd", {}, ...value)];
}

/** A <video> of the flag's media that plays [startS, endS] in place: seeks to the start, pauses at the end. */
function segmentPlayer(flag) {
  const ev = flag.evidence;
  const video = el("video", { class: "flag-video", controls: "", preload: "metadata", playsinline: "",
    src: `${mediaUrl(flag.video_id)}#t=${ev.start_s},${ev.end_s}`,
    "aria-label": `Video ${flag.video_id.slice(0, 8)}, flagged ${ev.label} ${fmtTime(ev.start_s)}–${fmtTime(ev.end_s)}` });
  if (ev.thumbnail) video.poster = thumbnailUrl(flag.video_id, baseName(ev.thumbnail));
  let stopAt = null;
  video.addEventListener("timeupdate", () => {
    if (stopAt !== null && video.currentTime >= stopAt) {
      video.pause();
      stopAt = null;
    }
  });
  const play = el("button", { type: "button", class: "flag-play", text: `Play segment ${fmtTime(ev.start_s)}–${fmtTime(ev.end_s)}`,
    onClick: () => {
      stopAt = ev.end_s;
      video.currentTime = ev.start_s;
      const started = video.play();
      if (started && typeof started.catch === "function") started.catch(() => { stopAt = null; });
    } });
  return el("div", { class: "flag-player" }, video, play);
}

/** The audit trail (reviews, oldest first) as a table. */
function auditTable(reviews) {
  if (!reviews.length) return el("p", { class: "audit-empty", text: "No reviews yet." });
  const body = el("tbody");
  for (const r of reviews) {
    body.append(el("tr", { dataset: { auditId: String(r.audit_id) } },
      el("td", {}, el("time", { datetime: r.at, text: when(r.at) })),
      el("td", { text: r.key_prefix ? `${r.who} (${r.key_prefix}…)` : r.who }),
      el("td", { class: "audit-decision", text: r.decision }),
      el("td", { class: "audit-note", text: r.note || "—" }),
      el("td", { text: r.status })));
  }
  return el("table", { class: "audit-table" },
    el("caption", { text: "Reviews (append-only audit log), oldest first" }),
    el("thead", {}, el("tr", {}, ...["When", "Who", "Decision", "Note", "Status after"].map((h) => el("th", { scope: "col", text: h })))),
    body);
}

export async function render(root, ctx) {
  loadCss(new URL("./moderation.css", import.meta.url));
  const call = ctx.api;
  const params = ctx.params || new URLSearchParams();
  root.append(el("h1", { text: "Moderation" }));
  const scope = ctx.session && ctx.session.scope;
  if (!REVIEW_SCOPES.has(scope)) {
    root.append(el("p", { class: "mod-scope", role: "alert",
      text: `Moderation needs a key with scope 'review' or 'admin' (this key has '${scope || "none"}').` }));
    return undefined;
  }
  const controller = new AbortController();
  const signal = controller.signal;
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "open";

  const filter = el("select", { name: "status", id: "mod-status" });
  for (const s of STATUSES) filter.append(el("option", { value: s, text: s }));
  filter.value = status;
  filter.addEventListener("change", () => ctx.navigate(`#/moderation?status=${filter.value}`));
  const count = el("p", { class: "mod-count", role: "status", "aria-live": "polite", text: "Loading flags…" });
  const error = el("p", { class: "mod-error", role: "alert" });
  const list = el("ol", { class: "mod-flags", "aria-label": `${status} flags` });
  const more = el("button", { type: "button", class: "mod-more", text: "More flags" });
  more.hidden = true;
  const doneList = el("ol", { class: "mod-flags mod-done-list" });
  const done = el("section", { class: "mod-done", "aria-labelledby": "mod-done-title" },
    el("h2", { id: "mod-done-title", text: "Reviewed just now" }), doneList);
  done.hidden = true;
  root.append(
    el("form", { class: "mod-filter", onSubmit: (e) => e.preventDefault() },
      el("label", { for: "mod-status", text: "Status " }), filter),
    count, error, list, more, done);

  let shown = 0;
  let token = null;
  const countText = () => `${shown} ${status === "all" ? "" : `${status} `}flag${shown === 1 ? "" : "s"}${token ? " so far (more available)" : ""}`;
  const fail = (err) => {
    if (err && err.name === "AbortError") return;
    error.textContent = err && err.detail ? String(err.detail) : String((err && err.message) || err);
  };

  const auditDetails = (flag, open, reviews) => {
    const holder = el("div", { class: "audit-body" });
    const details = el("details", { class: "flag-audit" }, el("summary", { text: "Audit trail" }), holder);
    let loaded = false;
    const load = async () => {
      if (loaded) return;
      loaded = true;
      holder.replaceChildren(el("p", { text: "Loading…" }));
      try {
        const full = await call(`/v1/moderation/flags/${flag.flag_id}`, { signal });
        holder.replaceChildren(auditTable(full.reviews || []));
      } catch (err) {
        loaded = false;
        holder.replaceChildren(el("p", { class: "mod-error", role: "alert", text: err.detail || String(err) }));
      }
    };
    if (reviews) {
      holder.append(auditTable(reviews));
      loaded = true;
    }
    details.addEventListener("toggle", () => { if (details.open) load(); });
    details.open = Boolean(open);
    return details;
  };

  const flagCard = (flag, { reviews = null, auditOpen = false } = {}) => {
    const ev = flag.evidence;
    const rule = flag.rule || {};
    const titleId = `flag-${flag.flag_id}-title`;
    const card = el("li", { class: `flag severity-${flag.severity}`, dataset: { flagId: flag.flag_id, status: flag.status, videoId: flag.video_id } });
    const picture = ev.thumbnail
      ? el("img", { class: "flag-thumb", src: thumbnailUrl(flag.video_id, baseName(ev.thumbnail)), alt: `Thumbnail of the flagged ${ev.label} segment` })
      : el("span", { class: "flag-thumb thumb-missing", text: "no thumbnail" });
    const facts = el("dl", { class: "flag-facts" },
      ...row("Label", ev.label),
      ...row("Probability", fmtProb(ev.probability)),
      ...row("Time", el("a", { href: videoHash(flag.video_id, ev.start_s), text: `${fmtTime(ev.start_s)}–${fmtTime(ev.end_s)} in video ${flag.video_id.slice(0, 8)}` })),
      ...row("Severity", flag.severity),
      ...row("Rule", `${rule.name || "?"}${rule.category ? ` (category ${rule.category})` : ""}${rule.min_prob !== undefined ? `, p ≥ ${rule.min_prob}` : ""}`),
      ...row("Action", flag.action + (flag.video_blocked ? " (video blocked)" : "")),
      ...row("Status", flag.decision ? `${flag.status} (${flag.decision})` : flag.status),
      ...row("Flagged", el("time", { datetime: flag.created_at, text: when(flag.created_at) })));
    const article = el("article", { "aria-labelledby": titleId },
      el("h2", { id: titleId, class: "flag-title", text: `${ev.label} · ${flag.severity} · ${rule.name || "rule"}` }),
      el("div", { class: "flag-evidence" }, picture, segmentPlayer(flag), facts));
    if (flag.status === "open" || flag.status === "escalated") article.append(reviewForm(flag, card));
    article.append(auditDetails(flag, auditOpen, reviews));
    card.append(article);
    return card;
  };

  const reviewForm = (flag, card) => {
    const noteId = `flag-${flag.flag_id}-note`;
    const note = el("textarea", { id: noteId, name: "note", rows: "2", maxlength: "2000" });
    const message = el("p", { class: "review-message", role: "status", "aria-live": "polite" });
    const buttons = DECISIONS.map(([decision, text]) => el("button", { type: "button", class: `review-${decision}`, text,
      dataset: { decision },
      onClick: async () => {
        for (const b of buttons) b.disabled = true;
        message.textContent = "Saving…";
        try {
          const reviewed = await call(`/v1/moderation/flags/${flag.flag_id}/review`, { method: "POST", signal,
            json: { decision, note: note.value.trim() ? note.value.trim() : null } });
          const replacement = flagCard(reviewed, { reviews: reviewed.reviews || [], auditOpen: true });
          if (status === "all" || status === reviewed.status) {
            card.replaceWith(replacement);
          } else {
            card.remove();
            shown -= 1;
            doneList.prepend(replacement);
            done.hidden = false;
          }
          count.textContent = `${countText()}; flag ${flag.flag_id.slice(0, 8)} is now ${reviewed.status} (${decision})`;
        } catch (err) {
          message.textContent = "";
          fail(err);
          for (const b of buttons) b.disabled = false;
        }
      } }));
    return el("form", { class: "review-form", onSubmit: (e) => e.preventDefault(), "aria-label": `Review flag ${flag.flag_id.slice(0, 8)}` },
      el("label", { for: noteId, text: "Note (optional)" }), note,
      el("div", { class: "review-buttons" }, ...buttons), message);
  };

  const fetchPage = async () => {
    more.disabled = true;
    try {
      const q = new URLSearchParams({ status, max_results: String(PAGE_SIZE) });
      if (token) q.set("next_token", token);
      const body = await call(`/v1/moderation/flags?${q}`, { signal });
      for (const flag of body.flags || []) list.append(flagCard(flag));
      shown += (body.flags || []).length;
      token = body.next_token || null;
      more.hidden = !token;
      count.textContent = countText();
    } catch (err) {
      count.textContent = "";
      fail(err);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", fetchPage);
  fetchPage();
  return () => controller.abort();
}
