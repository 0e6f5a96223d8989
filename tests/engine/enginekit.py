"""Tiny models and tensor datasets for engine tests (imported by tests and by subprocess scripts).

``MovingSquares``: clips ``[3, T, S, S]`` of Gaussian noise with a bright
square moving 1 px per frame; the class is the direction (0 right, 1 left,
2 down, 3 up), so only a model that looks across time can beat chance (25 %).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

DIRECTIONS = ("right", "left", "down", "up")
_STEPS = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}  # (dy, dx) per frame


def moving_square_clips(
    n: int, *, frames: int = 4, size: int = 16, square: int = 4, noise: float = 0.3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clips [n, 3, frames, size, size] float32, labels [n] int64)``, labels balanced and shuffled."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    labels = labels[torch.randperm(n, generator=g)]
    clips = noise * torch.randn(n, 3, frames, size, size, generator=g)
    span = frames - 1
    for i, label in enumerate(labels.tolist()):
        dy, dx = _STEPS[label]
        y0 = int(torch.randint(max(0, -dy * span), size - square - max(0, dy * span) + 1, (), generator=g))
        x0 = int(torch.randint(max(0, -dx * span), size - square - max(0, dx * span) + 1, (), generator=g))
        for t in range(frames):
            y, x = y0 + dy * t, x0 + dx * t
            clips[i, :, t, y : y + square, x : x + square] += 1.5
    return clips, labels


class MovingSquares(Dataset):
    """Dict samples ``{"clip": [3, T, S, S], "label": int, "index": int}``.

    ``augment_noise > 0`` adds fresh Gaussian noise from torch's global RNG at
    every access (a random augmentation, to check reproducible seeding).
    """

    def __init__(self, n: int, *, seed: int = 0, augment_noise: float = 0.0, **kwargs: int | float) -> None:
        self.clips, self.labels = moving_square_clips(n, seed=seed, **kwargs)  # type: ignore[arg-type]
        self.augment_noise = augment_noise
        self.accessed: list[int] = []

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        self.accessed.append(index)
        clip = self.clips[index]
        if self.augment_noise:
            clip = clip + self.augment_noise * torch.randn(clip.shape)
        return {"clip": clip, "label": int(self.labels[index]), "index": index}


class TinyVideoNet(nn.Module):
    """Two 3D convolutions, global average pooling, dropout, a linear classifier.

    Follows the :class:`vidstruct.models.base.VideoModel` contract (``num_classes``,
    ``feature_dim``, ``forward_features``, ``reset_head``) without importing
    :mod:`vidstruct.models`, so that engine tests and their subprocesses do not
    load every registered model.
    """

    def __init__(self, num_classes: int = 4, width: int = 8, dropout: float = 0.0, batchnorm: bool = False) -> None:
        super().__init__()
        self.num_classes, self.feature_dim = num_classes, 2 * width
        norm = nn.BatchNorm3d if batchnorm else nn.Identity
        self.features = nn.Sequential(
            nn.Conv3d(3, width, 3, padding=1),
            norm(width),
            nn.ReLU(),
            nn.Conv3d(width, 2 * width, 3, padding=1, stride=(1, 2, 2)),
            norm(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.forward_features(x)))

    def reset_head(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.feature_dim, num_classes)


class TinyTransformer(nn.Module):
    """A token model with ``blocks.{i}.`` parameters (for layer-wise LR decay)."""

    def __init__(self, depth: int = 3, dim: int = 8, num_classes: int = 4) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(3, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, 2, 16, dropout=0.0, batch_first=True) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x.flatten(2).transpose(1, 2))
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens[:, 0]))


class TwoHeadNet(nn.Module):
    """EPIC-style model returning ``{"verb": [B, Kv], "noun": [B, Kn]}`` logits."""

    def __init__(self, num_verbs: int = 4, num_nouns: int = 3) -> None:
        super().__init__()
        self.body = TinyVideoNet(num_classes=4)
        self.verb = nn.Linear(16, num_verbs)
        self.noun = nn.Linear(16, num_nouns)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.body.forward_features(x)
        return {"verb": self.verb(f), "noun": self.noun(f)}
