"""A map-style dataset of MoSI clips and the collate that flattens per-image clip batches.

Each item is one source image turned into clips by a :class:`~vidstruct.ssl.mosi.generator.MoSIGenerator`:

- ``clips="all"`` (the paper's recipe: one image → one clip per label)::

      {"clip":  float32 [L, C, T, H, W],
       "label": int64 [L] (joint) or [L, 2] (separate: x, y),
       "labels": {"move_x": [L], "move_y": [L]}   # separate mode only, per-head targets
       "index": int}

- ``clips="sample"``: one clip per item, of a random label in training (label ``index % L``
  in evaluation, so a pass over ``L × n`` items covers every label of every image)::

      {"clip": [C, T, H, W], "label": int64 [] or [2], ("labels": {...},) "index": int}

:func:`mosi_collate` stacks items into a batch; "all" items are flattened, so ``B`` images
give ``B × L`` clips ``[B·L, C, T, H, W]`` with labels ``[B·L]`` (or ``[B·L, 2]``) and
``"index"`` ``[B·L]`` (the image each clip came from). This matches the training engine's
batch format (``"clip"`` + ``"label"``, or ``"labels"`` per head).

Randomness uses torch's global RNG, which the training engine seeds per sample
(``vidstruct.engine.sampling.SeededSamples``); evaluation items are deterministic.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from vidstruct.errors import ConfigError
from vidstruct.ssl.mosi.generator import MoSIGenerator
from vidstruct.ssl.mosi.labels import SEPARATE_HEADS
from vidstruct.ssl.mosi.sources import ImageSource

ClipsPerItem = Literal["all", "sample"]


class MoSIDataset(Dataset):
    """MoSI clips of every image of ``source`` (see module doc for the item format)."""

    def __init__(self, source: ImageSource, generator: MoSIGenerator, *, clips: ClipsPerItem = "all") -> None:
        if clips not in ("all", "sample"):
            raise ConfigError(f"mosi dataset clips must be 'all' or 'sample', got {clips!r}")
        self.source = source
        self.generator = generator
        self.clips = clips

    def __len__(self) -> int:
        n = len(self.source)
        return n * len(self.generator) if self.clips == "sample" and not self.generator.train else n

    @property
    def classes(self) -> list[str] | dict[str, list[str]]:
        """Class names (joint: one list; separate: one list per head)."""
        return self.generator.label_space.class_names()

    def __getitem__(self, index: int) -> dict[str, Any]:
        gen = self.generator
        if self.clips == "sample" and not gen.train:
            image_index, labels = index // len(gen), [index % len(gen)]
        elif self.clips == "sample":
            image_index, labels = index, [int(torch.randint(0, len(gen), ()))]
        else:
            image_index, labels = index, None
        image = self.source.load(image_index, train=gen.train)
        out = gen.generate(image, indices=labels, name=self.source.describe(image_index))
        clip, label = out.clips, out.labels
        if self.clips == "sample":
            clip, label = clip[0], label[0]
        item: dict[str, Any] = {"clip": clip, "label": label, "index": image_index}
        if gen.label_space.mode == "separate":
            item["labels"] = {SEPARATE_HEADS[0]: label[..., 0], SEPARATE_HEADS[1]: label[..., 1]}
        return item


def mosi_collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch MoSI items: "all" items (clip ``[L, C, T, H, W]``) are concatenated to ``[B·L, ...]``,
    single clips (``[C, T, H, W]``) stacked to ``[B, ...]``."""
    if not items:
        raise ValueError("mosi_collate got an empty batch")
    flat = items[0]["clip"].dim() == 5
    join = torch.cat if flat else torch.stack
    batch: dict[str, Any] = {
        "clip": join([it["clip"] for it in items]),
        "label": join([it["label"] for it in items]),
        "index": torch.cat([torch.full((it["clip"].shape[0] if flat else 1,), it["index"]) for it in items]),
    }
    if "labels" in items[0]:
        batch["labels"] = {k: join([it["labels"][k] for it in items]) for k in items[0]["labels"]}
    return batch
