"""The backbone of a profile's embedding space, loaded alone and kept per process (bounded LRU).

A clip query needs only the model that made the embedding space, not the rest of the profile (shot detector,
localizer, action and person detectors). :func:`profile_backbone` reads a profile as analysis does
(:func:`~vidstruct.recipes.analyze.load_profile`, :func:`~vidstruct.recipes.analyze.analyze_settings`) and
gives its windows' backbone the way :func:`~vidstruct.pipeline.analyze.models.load_models` chooses it: the
recognizer, or without one the backbone recorded by the localizer (read from the localizer file's metadata; the
localizer itself is not built), with the same window length and stride defaults, device and engine.

The loaded recognizers are kept by :class:`BackboneCache` (one per process, :data:`CACHE`): keyed by the
checkpoint file (resolved), the device and the engine; at most ``capacity`` models, the least recently used
dropped first; thread-safe (one load at a time, a model asked for while it loads is loaded once). An entry is
valid while its file's ``stat`` (size, mtime, ctime, inode) is unchanged: a rewritten or replaced checkpoint is
loaded and hashed again, so a changed file never answers with the old weights or the old SHA-256.

Reading a profile as analysis does hashes every checkpoint it names (the profile hash), tens of milliseconds for
a TransNetV2 shot detector: :func:`profile_backbone` keeps each profile's :class:`BackboneSource` (at most
:data:`SOURCES` profiles) while the files it was read from (the profile's YAML files, and for a localizer-only
profile the localizer and its backbone) keep their ``stat``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidstruct.device import resolve_device
from vidstruct.errors import CheckpointError
from vidstruct.models.checkpoint_files import read_checkpoint_doc, resolve_run_file
from vidstruct.models.localization.checkpoint import FORMAT as LOCALIZER_FORMAT
from vidstruct.pipeline.analyze.models import Backbone, load_recognizer
from vidstruct.pipeline.analyze.runners import Runner, onnx_runner
from vidstruct.pipeline.analyze.settings import AnalyzeSettings
from vidstruct.pipeline.features import default_window_s
from vidstruct.pipeline.localizer import resolve_backbone
from vidstruct.pipeline.recognizer import Recognizer, resolve_model_checkpoint
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.settings import ServiceSettings

__all__ = ["CACHE", "BackboneCache", "BackboneSource", "LoadedBackbone", "backbone_source", "profile_backbone"]

#: models a process keeps (each a few MB to a few hundred MB)
CAPACITY = 2
#: profiles whose backbone source a process keeps
SOURCES = 64


@dataclass(frozen=True)
class BackboneSource:
    """Which backbone runs a profile's windows: its ``checkpoint`` (a file or a run directory), ``window_s`` /
    ``stride_s`` (seconds; None: the model's defaults, as analysis takes them), the torch ``device``, the
    ``engine`` (``torch`` or ``onnxruntime``) and ``batch_size`` (windows per forward pass)."""

    checkpoint: Path
    window_s: float | None
    stride_s: float | None
    device: str
    engine: str
    batch_size: int
    localizer: tuple[Path, ...] | None = None  #: the localizer and backbone files read (localizer-only profiles)


@dataclass(frozen=True)
class LoadedBackbone:
    """A loaded recognition checkpoint: the ``recognizer``, its resolved ``checkpoint`` file, registered model
    ``name``, the file's ``sha256`` and its ``runner`` (None: eager PyTorch)."""

    recognizer: Recognizer
    checkpoint: Path
    name: str
    sha256: str
    runner: Runner | None
    engine: str


def backbone_source(settings: AnalyzeSettings) -> BackboneSource | None:
    """The backbone of the windows of an analysis with ``settings`` (see the module doc); None when it has no
    recognizer and no localizer (no windows, no embeddings). Reads the localizer's metadata, never its weights
    into a model; a missing or foreign file is a :class:`~vidstruct.errors.CheckpointError`."""
    rec, loc = settings.recognition, settings.localization
    device = str(resolve_device(settings.device))
    if rec.checkpoint is not None:
        return BackboneSource(Path(rec.checkpoint), rec.window_s, rec.stride_s, device, settings.engine, rec.batch_size)
    if loc.checkpoint is None:
        return None
    file = resolve_run_file(loc.checkpoint, "localizer.pt", "localizer")
    features = read_checkpoint_doc(file, LOCALIZER_FORMAT, "localizer").get("features")
    if not isinstance(features, dict) or "window_s" not in features or "stride_s" not in features:
        raise CheckpointError(f"{file}: not a localizer checkpoint (its features metadata lacks window_s / stride_s)")
    backbone = resolve_backbone(features, loc.backbone, force=loc.force)
    window_s = rec.window_s or float(features["window_s"])
    stride_s = rec.stride_s or float(features["stride_s"])
    read = (file.resolve(), backbone.resolve())
    return BackboneSource(backbone, window_s, stride_s, device, settings.engine, rec.batch_size, read)


def _stamp(file: Path) -> tuple[int, int, int, int]:
    st = os.stat(file)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _stamps(files: tuple[Path, ...]) -> tuple[tuple[int, int, int, int], ...] | None:
    """The files' stamps, None when one is gone."""
    try:
        return tuple(_stamp(f) for f in files)
    except OSError:
        return None


class _Sources:
    """:class:`BackboneSource` per profile file, with the files it was read from and their stamps (LRU)."""

    def __init__(self, capacity: int = SOURCES) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[tuple[Path, ...], tuple[Any, ...], BackboneSource]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, path: Path, name: str) -> BackboneSource:
        key = (str(path), name)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and _stamps(hit[0]) == hit[1]:
                self._entries.move_to_end(key)
                return hit[2]
        profile, composed = load_profile(path)
        files = tuple(dict.fromkeys(Path(s) for s in {str(path), *composed.sources.values()} if Path(s).is_file()))
        stamps = _stamps(files)  # before reading: a file changed meanwhile is read again next time
        source = backbone_source(analyze_settings(profile, composed, name=name, report=False))
        if source is None:
            raise UnprocessableError(f"profile {name!r} has no recognizer: it makes no embeddings")
        if source.localizer is not None:  # its metadata chose the backbone and the snippets
            more = _stamps(source.localizer)
            files, stamps = files + source.localizer, None if stamps is None or more is None else stamps + more
        if stamps is not None:
            with self._lock:
                self._entries[key] = (files, stamps, source)
                self._entries.move_to_end(key)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return source


class BackboneCache:
    """Loaded recognition checkpoints, at most ``capacity`` of them, least recently used dropped first (see the
    module doc). ``loads`` counts the checkpoints loaded since construction."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.loads = 0
        self._entries: OrderedDict[tuple[str, str, str], tuple[tuple[int, int, int, int], LoadedBackbone]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, checkpoint: str | Path, device: str, engine: str = "torch") -> LoadedBackbone:
        """The recognizer of ``checkpoint`` (a file or a run directory holding ``model.pt``) on ``device``, run by
        ``engine``: the cached one while the file is unchanged, else loaded (and hashed) now."""
        given = Path(checkpoint)
        if not given.exists():  # load_recognizer words the error
            load_recognizer(given, device)
        file = resolve_model_checkpoint(given).resolve()
        key = (str(file), device, engine)
        with self._lock:
            stamp = _stamp(file)
            hit = self._entries.get(key)
            if hit is not None and hit[0] == stamp:
                self._entries.move_to_end(key)
                return hit[1]
            self._entries.pop(key, None)  # a changed file: its old weights go now
            recognizer, resolved, name, sha = load_recognizer(file, device)
            runner = onnx_runner(recognizer) if engine == "onnxruntime" else None
            loaded = LoadedBackbone(recognizer, resolved, name, sha, runner, engine)
            self.loads += 1
            self._entries[key] = (stamp, loaded)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
            return loaded

    def keys(self) -> list[tuple[str, str, str]]:
        """``(checkpoint file, device, engine)`` of the models held, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Drop every model held."""
        with self._lock:
            self._entries.clear()


#: this process's backbones (the API process embeds clips with them)
CACHE = BackboneCache()
_SOURCES = _Sources()


def profile_backbone(
    settings: ServiceSettings, profile_name: str, cache: BackboneCache | None = None
) -> tuple[Backbone, int]:
    """``(backbone, batch_size)`` of the windows of profile ``profile_name``, from ``cache`` (default
    :data:`CACHE`): only that model is loaded. 422: an unknown profile, or one without recognizer or localizer.
    A checkpoint that does not load raises its :class:`~vidstruct.errors.VidstructError` (or ``OSError``)."""
    path = settings.profile_path(profile_name)
    if path is None:
        raise UnprocessableError(f"no analysis profile named {profile_name!r}")
    source = _SOURCES.get(path, profile_name)
    loaded = (cache or CACHE).get(source.checkpoint, source.device, source.engine)
    window_s = float(source.window_s or default_window_s(loaded.recognizer.spec))
    stride_s = float(source.stride_s or window_s / 2)
    backbone = Backbone(
        loaded.recognizer, loaded.name, loaded.checkpoint, loaded.sha256, window_s, stride_s, loaded.runner,
        loaded.engine,
    )  # fmt: skip
    return backbone, source.batch_size
