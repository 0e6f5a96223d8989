"""Timeline pictures: what happens when in a long video (PNG via matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_window_timeline(
    path: str | Path,
    starts_s: Sequence[float],
    ends_s: Sequence[float],
    probs: np.ndarray,
    classes: Sequence[str],
    *,
    title: str = "",
    truth: Sequence[tuple[float, float, str]] = (),
) -> Path:
    """Heat map of per-window class probabilities ``probs [W, K]`` over time (seconds).

    Each window paints its class probabilities from the window's centre ± half
    a stride; ``truth`` segments ``(start_s, end_s, label)`` are drawn as
    outlined boxes on their class row.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    starts, ends = np.asarray(starts_s, float), np.asarray(ends_s, float)
    centres = (starts + ends) / 2
    edges = np.concatenate([[starts[0]], (centres[1:] + centres[:-1]) / 2, [ends[-1]]]) if len(centres) else [0, 1]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.3 * len(classes)), dpi=100)
    mesh = ax.pcolormesh(edges, np.arange(len(classes) + 1), probs.T, cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(classes)) + 0.5, labels=list(classes))
    ax.set_xlabel("time (s)")
    index = {c: i for i, c in enumerate(classes)}
    for start, end, label in truth:
        if label in index:
            ax.add_patch(plt.Rectangle((start, index[label]), end - start, 1, fill=False, ec="red", lw=1.5))
    fig.colorbar(mesh, ax=ax, label="probability (softmax)")
    ax.set_title(title or "per-window class probabilities" + (" (red: ground truth)" if truth else ""))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
