"""Horizontal flip that keeps labels right for direction-sensitive classes.

Flipping "Pushing something from left to right" shows "... from right to
left": the sample's label must change with the pixels. :func:`swap_label_map`
builds the class-index map from class names (Something-Something-v2's
left/right pairs), and :class:`RandomHorizontalFlip` applies it whenever it flips.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
from torchvision.transforms.v2 import functional as F

from vidstruct.data.transforms.base import Sample
from vidstruct.errors import ConfigError

__all__ = ["RandomHorizontalFlip", "swap_label_map"]


def _swap_words(name: str, pairs: Sequence[tuple[str, str]]) -> str:
    table: dict[str, str] = {}
    for a, b in pairs:
        table[a.lower()] = b.lower()
        table[b.lower()] = a.lower()
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in table) + r")\b", re.IGNORECASE)

    def repl(m: re.Match[str]) -> str:
        word = table[m.group(0).lower()]
        return word.capitalize() if m.group(0)[0].isupper() else word

    return pattern.sub(repl, name)


def swap_label_map(
    class_names: Sequence[str], pairs: Sequence[tuple[str, str]] = (("left", "right"),)
) -> dict[int, int]:
    """Class-index map ``{i: j}`` for classes whose names swap under a horizontal flip.

    Class ``j`` is the name of class ``i`` with each word of a pair replaced by
    its partner (all at once, whole words, case-insensitive), e.g.
    ``"Pushing something from left to right"`` ↔ ``"Pushing something from right to left"``.
    Classes whose swapped name is not a class (or is themselves) are left out.
    """
    index = {name: i for i, name in enumerate(class_names)}
    mapping: dict[int, int] = {}
    for i, name in enumerate(class_names):
        j = index.get(_swap_words(name, pairs))
        if j is not None and j != i:
            mapping[i] = j
    return mapping


class RandomHorizontalFlip:
    """Flip the frames left-right with probability ``p``; when flipped, ``label = label_map.get(label, label)``.

    Works on a sample dict ``{"frames": [..., H, W], "label": int}``; the label
    may also be missing, ``-1`` or a 0-dim tensor. The map must be symmetric
    (``map[map[i]] == i``) so a double flip is the identity.
    """

    def __init__(self, p: float = 0.5, label_map: Mapping[int, int] | None = None) -> None:
        if not 0 <= p <= 1:
            raise ConfigError(f"flip probability must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.label_map = {int(k): int(v) for k, v in (label_map or {}).items()}
        for k, v in self.label_map.items():
            if self.label_map.get(v) != k:
                raise ConfigError(f"flip label map is not symmetric: {k} -> {v} but {v} -> {self.label_map.get(v)}")

    def __call__(self, sample: Sample) -> Sample:
        if self.p < 1 and torch.rand(()).item() >= self.p:
            return sample
        out = dict(sample)
        out["frames"] = F.horizontal_flip(sample["frames"])
        if "label" in sample and self.label_map:
            out["label"] = self._map_label(sample["label"])
        return out

    def _map_label(self, label: object) -> object:
        if isinstance(label, torch.Tensor) and label.ndim == 0:
            return torch.tensor(self.label_map.get(int(label), int(label)), dtype=label.dtype)
        if isinstance(label, int) and not isinstance(label, bool):
            return self.label_map.get(label, label)
        return label

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p}, label_map={len(self.label_map)} classes)"
