"""Video in, class probabilities out: a trained recognition model ready for inference.

A :class:`Recognizer` is built from a model checkpoint alone (``vidstruct.model/1``:
weights, builder arguments, class names and the preprocessing in its
:class:`~vidstruct.models.spec.InputSpec`), so inference needs no config.

Sampling rules (the same as testing):
- trimmed video: ``views`` clips of ``num_frames`` frames, ``frame_interval``
  frames apart at ``target_fps`` (the video's own fps when unset), evenly
  spaced; a video shorter than one clip repeats its last frame (the sampler's
  documented padding rule), a video with no decodable frame is an error;
- sliding windows: windows of ``window_s`` seconds every ``stride_s`` seconds,
  ``num_frames`` frames resampled evenly inside each window by presentation
  time; the last window is padded by repeating the last frame.

Scores are softmax probabilities averaged over views (they sum to 1).

An EPIC-Kitchens-100 model (verb and noun heads, :mod:`vidstruct.models.epic`) gives an
:class:`EpicPrediction` of a trimmed video instead: verb and noun probabilities (each averaged over views)
and the best actions, ``p(verb, noun) = p(verb) * p(noun)`` (the challenge's product of the two
distributions; over all pairs they sum to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidstruct.device import resolve_device
from vidstruct.errors import CheckpointError, InputError
from vidstruct.models.spec import InputSpec


def resolve_model_checkpoint(path: str | Path) -> Path:
    """A run directory means its ``model.pt``; a file is taken as is."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "model.pt"
        if not candidate.is_file():
            raise CheckpointError(f"{path}: run directory has no model.pt (did training finish?)")
        return candidate
    return path


@dataclass
class Prediction:
    """Class probabilities (softmax) of one clip or window, sorted by probability."""

    labels: list[str]
    probs: list[float]

    def to_list(self) -> list[dict[str, Any]]:
        return [{"label": label, "prob": prob} for label, prob in zip(self.labels, self.probs)]


@dataclass
class EpicPrediction:
    """Verb and noun probabilities (softmax, view-averaged) of one segment and its best (verb, noun) actions."""

    verb: Prediction
    noun: Prediction
    actions: list[tuple[str, str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verb": self.verb.to_list(),
            "noun": self.noun.to_list(),
            "action": [{"verb": v, "noun": n, "prob": p} for v, n, p in self.actions],
        }


@dataclass
class WindowPrediction:
    start_s: float
    end_s: float
    prediction: Prediction

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": self.start_s, "end_s": self.end_s, "predictions": self.prediction.to_list()}


class Recognizer:
    """A recognition model in eval mode plus its classes and preprocessing."""

    def __init__(self, model: torch.nn.Module, classes: list[str], spec: InputSpec, device: str = "auto") -> None:
        """``device``: ``auto``, ``cpu``, ``cuda[:N]``... (:func:`vidstruct.device.resolve_device`; a device this
        machine lacks is a one-line :class:`~vidstruct.errors.ConfigError`)."""
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.classes = classes
        self.spec = spec
        #: head → class names of a verb + noun model (EPIC-100), else None
        self.heads: dict[str, list[str]] | None = (
            {"verb": list(model.verb_classes), "noun": list(model.noun_classes)}
            if hasattr(model, "verb_classes") and hasattr(model, "noun_classes")
            else None
        )

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> Recognizer:
        from vidstruct.models.checkpoint import load_model_checkpoint

        model, meta = load_model_checkpoint(resolve_model_checkpoint(path))
        classes = meta.get("classes") or [str(i) for i in range(model.num_classes)]
        return cls(model, list(classes), model.input_spec, device)

    # ----------------------------------------------------------------- core
    def _transform(self, num_crops: int = 1) -> Any:
        from vidstruct.data.transforms import build_eval_transform

        s = self.spec
        return build_eval_transform(
            short_side=s.short_side, crop_size=s.crop_size, mean=s.mean, std=s.std, num_crops=num_crops
        )

    @torch.no_grad()
    def clip_probs(self, clips: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Softmax probabilities ``[B, K]`` of normalized clips ``[B, C, T, H, W]`` (a dict per head for a
        multi-head model)."""
        logits = self.model(clips.to(self.device, non_blocking=True))
        if isinstance(logits, dict):
            return {k: torch.softmax(v.float(), dim=-1).cpu() for k, v in logits.items()}
        return torch.softmax(logits.float(), dim=-1).cpu()

    def _rank(self, probs: torch.Tensor, top_k: int, classes: list[str] | None = None) -> Prediction:
        classes = self.classes if classes is None else classes
        k = len(classes) if top_k <= 0 else min(top_k, len(classes))
        values, order = torch.sort(probs, descending=True, stable=True)
        return Prediction([classes[i] for i in order[:k].tolist()], values[:k].tolist())

    def _epic(self, verb: torch.Tensor, noun: torch.Tensor, top_k: int) -> EpicPrediction:
        """Ranked verbs, nouns and the ``top_k`` best actions (all pairs when ``top_k <= 0``)."""
        from vidstruct.eval.classification import action_topk

        assert self.heads is not None
        k = len(verb) * len(noun) if top_k <= 0 else min(top_k, len(verb) * len(noun))
        verbs, nouns = action_topk(verb[None].numpy(), noun[None].numpy(), k)
        actions = [
            (self.heads["verb"][v], self.heads["noun"][n], float(verb[v] * noun[n]))
            for v, n in zip(verbs[0].tolist(), nouns[0].tolist())
        ]
        return EpicPrediction(
            self._rank(verb, top_k, self.heads["verb"]), self._rank(noun, top_k, self.heads["noun"]), actions
        )

    # ----------------------------------------------------------------- videos
    def predict_video(
        self, path: str | Path, *, views: int = 1, crops: int = 1, top_k: int = 5
    ) -> Prediction | EpicPrediction:
        """Probabilities of a trimmed video, averaged over ``views`` clips × ``crops`` crops (an
        :class:`EpicPrediction` for a verb + noun model)."""
        from vidstruct.data.samplers import IntervalSampler
        from vidstruct.io import VideoReader

        s = self.spec
        with VideoReader(path, short_side=s.short_side) as reader:
            sampler = IntervalSampler(s.num_frames, s.frame_interval, views, s.target_fps)
            clips_idx = sampler(reader.num_frames, reader.fps, None)
            transform = self._transform(crops)
            clips = []
            for idx in clips_idx:
                clip = transform(reader.get_frames(idx))
                clips.append(clip if crops == 3 else clip.unsqueeze(0))
        probs = self.clip_probs(torch.cat(clips))
        if isinstance(probs, dict):
            return self._epic(probs["verb"].mean(0), probs["noun"].mean(0), top_k)
        return self._rank(probs.mean(0), top_k)

    def default_window_s(self, fps: float) -> float:
        """The time one training clip spans: ``num_frames × frame_interval / target_fps`` seconds."""
        rate = self.spec.target_fps or fps
        return self.spec.num_frames * self.spec.frame_interval / rate

    def predict_windows(
        self,
        path: str | Path,
        *,
        window_s: float | None = None,
        stride_s: float | None = None,
        top_k: int = 5,
        batch_size: int = 8,
    ) -> list[WindowPrediction]:
        """Sliding-window probabilities over a long video (memory bounded by one batch of windows)."""
        from vidstruct.io import iter_windows, probe

        if self.heads is not None:
            raise InputError("sliding windows: not available for a verb + noun (EPIC) model; predict a trimmed video")
        info = probe(path)
        window_s = window_s or self.default_window_s(info.fps_average)
        stride_s = stride_s or window_s / 2
        sample_fps = self.spec.num_frames / window_s
        transform = self._transform(1)
        out: list[WindowPrediction] = []
        pending: list[tuple[float, float, torch.Tensor]] = []

        def flush() -> None:
            probs = self.clip_probs(torch.stack([c for _, _, c in pending]))
            for (start, end, _), p in zip(pending, probs):
                out.append(WindowPrediction(start, min(end, info.duration_s), self._rank(p, top_k)))
            pending.clear()

        for window in iter_windows(path, window_s, stride_s, sample_fps, short_side=self.spec.short_side):
            frames = window.frames[: self.spec.num_frames]
            if frames.shape[0] < self.spec.num_frames:  # pad by repeating the last frame
                pad = frames[-1:].expand(self.spec.num_frames - frames.shape[0], *frames.shape[1:])
                frames = torch.cat([frames, pad])
            pending.append((window.start_s, window.end_s, transform(frames)))
            if len(pending) == batch_size:
                flush()
        if pending:
            flush()
        return out


def window_matrix(windows: list[WindowPrediction], classes: list[str]) -> np.ndarray:
    """Probabilities ``[num_windows, num_classes]`` (classes not in a window's top-k get 0)."""
    index = {c: i for i, c in enumerate(classes)}
    mat = np.zeros((len(windows), len(classes)), dtype=np.float32)
    for w, win in enumerate(windows):
        for label, prob in zip(win.prediction.labels, win.prediction.probs):
            mat[w, index[label]] = prob
    return mat
