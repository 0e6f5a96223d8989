// Timeline lanes under the player: a time axis, the shots, one lane per label (bar opacity = the segment's
// probability) and one lane per actor track (a marker per keyframe), with a playhead. Bars are buttons (keyboard:
// Tab + Enter seeks) labelled with label, time and probability.
import { el, fmtProb, fmtTime, labelColor } from "../dom.js";

const TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

function place(node, duration, start, end) {
  node.style.left = `${(100 * Math.max(0, start)) / duration}%`;
  if (end !== undefined) node.style.width = `${(100 * Math.max(0, end - start)) / duration}%`;
}

function lane(name, kind, onTrackClick) {
  const track = el("div", { class: "lane-track" });
  if (onTrackClick) {
    track.addEventListener("click", (event) => {
      if (event.target !== track) return;
      const rect = track.getBoundingClientRect();
      if (rect.width > 0) onTrackClick((event.clientX - rect.left) / rect.width);
    });
  }
  const row = el("div", { class: `lane ${kind}`, dataset: { lane: kind } }, el("div", { class: "lane-label", title: name, text: name }), track);
  return { row, track };
}

/**
 * The timeline of one video. duration: seconds; shots: [{index, start_s, end_s}], segments: [{segment_id, label,
 * score, start_s, end_s}], actors: [{track_id, time_s, box, score, actions}], seek(seconds).
 * Returns {node, update(t), bars} where update(t) moves the playhead and marks the bars under t.
 */
export function buildTimeline({ duration, shots, segments, actors, seek }) {
  const d = duration > 0 ? duration : Math.max(1, ...segments.map((s) => s.end_s), ...shots.map((s) => s.end_s));
  const lanes = [];
  const bars = [];
  const fromFraction = (f) => seek(f * d);

  const axis = lane("", "axis");
  const step = TICK_STEPS.find((s) => d / s <= 8) || 7200;
  for (let t = 0; t <= d + 1e-9; t += step) {
    const tick = el("div", { class: "tick", text: fmtTime(t), "aria-hidden": "true" });
    place(tick, d, t);
    axis.track.append(tick);
  }
  lanes.push(axis.row);

  const shotLane = lane(`shots (${shots.length})`, "shots", fromFraction);
  shots.forEach((shot, i) => {
    const bar = el("button", {
      type: "button",
      class: ["bar", "shot", i % 2 ? "odd" : null],
      "aria-label": `shot ${shot.index}, ${fmtTime(shot.start_s)} to ${fmtTime(shot.end_s)}`,
      title: `shot ${shot.index}: ${fmtTime(shot.start_s)} – ${fmtTime(shot.end_s)}`,
      dataset: { start: shot.start_s },
      onClick: () => seek(shot.start_s),
    });
    place(bar, d, shot.start_s, shot.end_s);
    shotLane.track.append(bar);
  });
  lanes.push(shotLane.row);

  const byLabel = new Map();
  for (const seg of segments) {
    if (!byLabel.has(seg.label)) byLabel.set(seg.label, []);
    byLabel.get(seg.label).push(seg);
  }
  for (const label of [...byLabel.keys()].sort((a, b) => String(a).localeCompare(String(b)))) {
    const labelLane = lane(label, "label", fromFraction);
    labelLane.row.dataset.label = label;
    for (const seg of byLabel.get(label)) {
      const text = `${seg.label}, ${fmtTime(seg.start_s)} to ${fmtTime(seg.end_s)}, probability ${fmtProb(seg.score)}`;
      const bar = el("button", {
        type: "button",
        class: "bar segment",
        "aria-label": text,
        title: text,
        dataset: { segmentId: seg.segment_id, start: seg.start_s, end: seg.end_s },
        onClick: () => seek(seg.start_s),
      });
      place(bar, d, seg.start_s, seg.end_s);
      bar.style.background = labelColor(seg.label);
      bar.style.opacity = String(Math.max(0.15, Math.min(1, seg.score || 0)));
      labelLane.track.append(bar);
      bars.push([seg, bar]);
    }
    lanes.push(labelLane.row);
  }

  const tracks = new Map();
  for (const actor of actors) {
    if (!tracks.has(actor.track_id)) tracks.set(actor.track_id, []);
    tracks.get(actor.track_id).push(actor);
  }
  for (const trackId of [...tracks.keys()].sort((a, b) => a - b)) {
    const actorLane = lane(`actor ${trackId}`, "actor", fromFraction);
    for (const actor of tracks.get(trackId)) {
      const top = (actor.actions || [])[0];
      const text = `actor ${trackId} at ${fmtTime(actor.time_s)}, person ${fmtProb(actor.score)}${top ? `, ${top.label} ${fmtProb(top.prob)}` : ""}`;
      const marker = el("button", { type: "button", class: "keyframe", "aria-label": text, title: text, onClick: () => seek(actor.time_s) });
      place(marker, d, actor.time_s);
      actorLane.track.append(marker);
    }
    lanes.push(actorLane.row);
  }

  const playhead = el("div", { class: "playhead", "aria-hidden": "true" });
  const node = el("div", { class: "timeline", role: "group", "aria-label": "Timeline" }, ...lanes, playhead);

  function update(t) {
    node.style.setProperty("--t", String(Math.min(1, Math.max(0, t / d))));
    for (const [seg, bar] of bars) bar.classList.toggle("active", seg.start_s <= t && t < seg.end_s);
  }
  update(0);
  return { node, update, bars };
}
