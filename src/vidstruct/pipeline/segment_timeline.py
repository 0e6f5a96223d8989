"""Timeline picture of detected action segments (PNG via matplotlib, Agg backend).

Layout: one row per class that has at least one predicted segment (in ``classes`` order when given, else
by best score), each segment a bar from ``start_s`` to ``end_s`` whose opacity grows with its score
relative to the best one drawn (``alpha = 0.15 + 0.85 · score / best``: localization scores are products
of probabilities, often well below 1, so absolute opacity would be faint; the title states the best
score); with ground truth, a top row
"ground truth" shows every true segment labelled with its class, and each true segment is also outlined
(red, dashed) on its class's row when that row exists. The x axis is the video's time in seconds,
``[0, duration_s]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

TRUTH_ROW = "ground truth"


def segment_rows(segments: Sequence[Any], classes: Sequence[str] | None = None) -> list[str]:
    """Class rows of the timeline: the labels of ``segments``, in ``classes`` order (others after, sorted),
    or by decreasing best score when ``classes`` is None."""
    present = {s.label for s in segments}
    if classes is not None:
        ordered = [c for c in classes if c in present]
        return ordered + sorted(present - set(ordered))
    best: dict[str, float] = {}
    for s in segments:
        best[s.label] = max(best.get(s.label, 0.0), float(s.score))
    return sorted(best, key=lambda c: (-best[c], c))


def plot_segment_timeline(
    path: str | Path,
    segments: Iterable[Any],
    duration_s: float,
    *,
    classes: Sequence[str] | None = None,
    truth: Sequence[tuple[float, float, str]] = (),
    title: str = "",
) -> Path:
    """Draw ``segments`` (objects with ``label``, ``start_s``, ``end_s``, ``score``) over ``[0, duration_s]``
    seconds into the PNG ``path`` (see module doc); ``truth``: ``(start_s, end_s, label)`` ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segs = list(segments)
    rows = segment_rows(segs, classes)
    labels = ([TRUTH_ROW] if truth else []) + rows
    y = {name: len(labels) - 1 - i for i, name in enumerate(labels)}  # first row at the top
    palette = plt.get_cmap("tab10")
    names = dict.fromkeys([*(classes or []), *rows, *(str(t[2]) for t in truth)])  # first-seen order, no repeats
    colour = {c: palette(i % 10) for i, c in enumerate(names)}

    fig, ax = plt.subplots(figsize=(10, 1.3 + 0.4 * max(1, len(labels))), dpi=100)
    best = max((float(s.score) for s in segs), default=0.0)
    for s in sorted(segs, key=lambda s: float(s.score)):  # strongest drawn last, on top
        rel = min(1.0, max(0.0, float(s.score) / best)) if best > 0 else 0.0
        ax.broken_barh(
            [(float(s.start_s), float(s.end_s) - float(s.start_s))], (y[s.label] + 0.15, 0.7),
            facecolors=colour[s.label], alpha=0.15 + 0.85 * rel, edgecolor="none",
        )  # fmt: skip
    for start, end, label in truth:
        ax.broken_barh([(start, end - start)], (y[TRUTH_ROW] + 0.15, 0.7), facecolors=colour[str(label)])
        ax.text((start + end) / 2, y[TRUTH_ROW] + 0.5, str(label), ha="center", va="center", fontsize=7, clip_on=True)
        if label in y and label != TRUTH_ROW:
            ax.add_patch(
                plt.Rectangle((start, y[label] + 0.1), end - start, 0.8, fill=False, ec="red", lw=1.2, ls="--")
            )
    ax.set_xlim(0.0, max(float(duration_s), 1e-6))
    ax.set_ylim(0.0, max(1, len(labels)))
    ax.set_yticks([y[name] + 0.5 for name in labels], labels=labels)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", alpha=0.3)
    if not labels:
        ax.text(duration_s / 2, 0.5, "no segments", ha="center", va="center")
    default = "detected segments" + (", red dashes: ground truth" if truth else "")
    ax.set_title(f"{title or default}\nopacity: score relative to the best ({best:.3f})" if segs else title or default)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
