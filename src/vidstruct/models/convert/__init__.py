"""Weight converters from public model zoos, and loading state dicts into our models with a report.

A converter maps the state dict of a published checkpoint (PyTorchVideo, Hugging Face, …) to
the state dict of one of our registered models; it only renames / reshapes tensors and never
imports the source library. Converters register by ``(source, model name)``::

    @register_converter("pytorchvideo", "x3d_m")
    def x3d_m(state_dict: dict[str, Tensor]) -> dict[str, Tensor]: ...

:func:`convert_checkpoint` reads a source file, converts it, checks it loads into the model
and writes a vidstruct checkpoint (:mod:`vidstruct.models.checkpoint`).
:func:`load_checkpoint_into` loads a state dict into a model and returns a :class:`LoadReport`;
a classifier with another number of classes is re-initialized explicitly and reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct.errors import CheckpointError, RegistryError
from vidstruct.registry import did_you_mean

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
ConverterFn = Callable[[StateDict], StateDict]


@dataclass(frozen=True)
class Converter:
    """A registered conversion: ``fn(source_state_dict) → our state_dict`` for model ``model``.

    Optional hooks, each given the source path:

    - ``read_classes(src)``: class names stored with the source (e.g. a Hugging Face
      ``config.json``'s ``id2label``);
    - ``read_kwargs(src)``: builder kwargs read from the source (e.g. sizes from ``config.json``),
      merged over the fixed ``model_kwargs``;
    - ``read_state_dict(src)``: the source tensors, when :func:`read_source_state_dict` does not
      fit (e.g. sharded Hugging Face weights).
    """

    source: str
    model: str
    fn: ConverterFn
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    read_classes: Callable[[Path], list[str] | None] | None = None
    read_kwargs: Callable[[Path], Mapping[str, Any]] | None = None
    read_state_dict: Callable[[Path], StateDict] | None = None
    read_kwargs: Callable[[Path], dict[str, Any]] | None = None  # builder kwargs from the source (HF config.json)


_CONVERTERS: dict[tuple[str, str], Converter] = {}


def register_converter(
    source: str,
    model: str,
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    read_classes: Callable[[Path], list[str] | None] | None = None,
    read_kwargs: Callable[[Path], dict[str, Any]] | None = None,
) -> Callable[[ConverterFn], ConverterFn]:
    """Decorator registering ``fn`` as the ``source`` → ``model`` converter."""

    def decorator(fn: ConverterFn) -> ConverterFn:
        key = (source, model)
        if key in _CONVERTERS and _CONVERTERS[key].fn is not fn:
            raise ValueError(f"converter {source}:{model} is registered twice")
        _CONVERTERS[key] = Converter(source, model, fn, dict(model_kwargs or {}), read_classes, read_kwargs)
        return fn

    return decorator


def _registered() -> dict[tuple[str, str], Converter]:
    import vidstruct.models  # noqa: F401  (imports every converter module, which registers)

    return _CONVERTERS


def converter_sources() -> list[str]:
    """Registered source formats (e.g. ``["hf", "pytorchvideo"]``)."""
    return sorted({s for s, _ in _registered()})


def convertible_models(source: str) -> list[str]:
    """Model names that have a converter from ``source``."""
    return sorted(m for s, m in _registered() if s == source)


def get_converter(source: str, model: str) -> Converter:
    """The converter ``source`` → ``model``; :class:`RegistryError` with close matches if there is none."""
    if source not in converter_sources():
        known = ", ".join(converter_sources()) or "none"
        hint = did_you_mean(source, converter_sources())
        raise RegistryError(f"unknown checkpoint source {source!r}{hint}; known: {known}")
    if (source, model) not in _CONVERTERS:
        names = convertible_models(source)
        hint = did_you_mean(model, names) or f" (convertible: {', '.join(names)})"
        raise RegistryError(f"no {source} converter for model {model!r}{hint}")
    return _CONVERTERS[(source, model)]


# --------------------------------------------------------------------------- reading sources


def extract_state_dict(obj: Any, where: str = "checkpoint") -> StateDict:
    """The tensor dict inside a loaded checkpoint object.

    Accepts a bare state dict or the usual wrappers (``model_state`` — PySlowFast /
    PyTorchVideo —, ``state_dict``, ``model``, ``module``) and strips a DDP ``module.`` prefix.
    """
    for _ in range(3):
        if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        if not isinstance(obj, Mapping):
            raise CheckpointError(f"{where}: expected a dict of tensors, got {type(obj).__name__}")
        wrappers = ("model_state", "state_dict", "model", "module")
        inner = next((obj[k] for k in wrappers if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            keys = ", ".join(list(map(str, obj))[:8])
            raise CheckpointError(f"{where}: no state dict found (top-level keys: {keys})")
        obj = inner
    else:
        raise CheckpointError(f"{where}: no state dict found")
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def read_source_state_dict(path: str | Path, *, trust: bool = False) -> StateDict:
    """Read the tensors of a published checkpoint: ``.safetensors``, a folder holding
    ``model.safetensors`` / ``pytorch_model.bin`` (Hugging Face), or a ``torch.save`` file.

    ``torch.save`` files load with ``weights_only=True`` unless ``trust`` (arbitrary pickles
    can run code: only for files from a source you trust).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                return read_source_state_dict(path / name, trust=trust)
        raise CheckpointError(f"{path}: folder has no model.safetensors or pytorch_model.bin")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors ships with transformers
            raise CheckpointError(f"{path}: reading .safetensors needs the 'safetensors' package") from exc
        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot read safetensors file ({exc})") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as exc:
        if trust:
            raise CheckpointError(f"{path}: cannot read checkpoint ({type(exc).__name__})") from exc
        raise CheckpointError(
            f"{path}: cannot read checkpoint safely: it is corrupt, not a torch.save file, or holds Python "
            "objects besides tensors (if you trust the file, pass --trust-source)"
        ) from exc
    return extract_state_dict(obj, where=str(path))


# --------------------------------------------------------------------------- loading into a model


@dataclass
class LoadReport:
    """What :func:`load_checkpoint_into` did.

    - ``missing``: model keys the state dict lacks; ``unexpected``: state-dict keys the model lacks;
    - ``mismatched``: ``(key, checkpoint shape, model shape)``;
    - ``head_reinitialized``: the classifier (``head_prefix`` keys) was re-initialized instead of loaded;
    - ``loaded``: number of tensors copied into the model.
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    head_reinitialized: bool = False
    loaded: int = 0

    @property
    def exact(self) -> bool:
        """Every model tensor came from the state dict and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched or self.head_reinitialized)

    def summary(self) -> str:
        """One line, e.g. ``loaded 318 tensors; head re-initialized (2 keys: head.proj.weight …)``."""
        parts = [f"loaded {self.loaded} tensors"]
        if self.head_reinitialized:
            parts.append("head re-initialized")
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} keys ({_few(keys)})")
        if self.mismatched:
            shown = ", ".join(f"{k}: {list(a)} vs {list(b)}" for k, a, b in self.mismatched[:3])
            parts.append(f"{len(self.mismatched)} shape mismatches ({shown})")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": [[k, list(a), list(b)] for k, a, b in self.mismatched],
            "head_reinitialized": self.head_reinitialized,
            "loaded": self.loaded,
        }


def _few(keys: Iterable[str], n: int = 3) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (", …" if len(keys) > n else "")


def load_checkpoint_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    head_prefix: str | None = None,
    model_name: str | None = None,
    checkpoint_model: str | None = None,
    where: str = "checkpoint",
) -> LoadReport:
    """Copy ``state_dict`` into ``model`` and report what matched.

    Classifier keys (starting with ``head_prefix``, default ``model.head_prefix`` or ``"head."``)
    whose shapes differ — another number of classes — or that are absent are skipped and the
    head is re-initialized explicitly with ``model.reset_head(model.num_classes)``.
    Any other difference (missing / unexpected keys, shape mismatches) raises
    :class:`CheckpointError` when ``strict`` — naming ``checkpoint_model`` vs ``model_name`` and
    a few offending keys —, else the matching tensors are loaded and the rest reported.
    The report is logged (info when exact, warning otherwise).
    """
    prefix = head_prefix or getattr(model, "head_prefix", "head.")
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        (k, tuple(state_dict[k].shape), tuple(own[k].shape))
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    head_keys = {k for k in own if k.startswith(prefix)}
    reinit_head = bool(head_keys) and any(k in head_keys for k in missing + [m[0] for m in mismatched])
    body_missing = [k for k in missing if k not in head_keys]
    body_mismatched = [m for m in mismatched if m[0] not in head_keys]
    unexpected_body = [k for k in unexpected if not (reinit_head and k.startswith(prefix))]
    if strict and (body_missing or unexpected_body or body_mismatched):
        asked = model_name or type(model).__name__
        held = f"model {checkpoint_model!r}" if checkpoint_model else "another model"
        problems = []
        if body_missing:
            problems.append(f"{len(body_missing)} missing keys ({_few(body_missing)})")
        if unexpected_body:
            problems.append(f"{len(unexpected_body)} unexpected keys ({_few(unexpected_body)})")
        if body_mismatched:
            shown = ", ".join(f"{k}: {list(a)} vs {list(b)}" for k, a, b in body_mismatched[:3])
            problems.append(f"{len(body_mismatched)} shape mismatches, checkpoint vs model ({shown})")
        raise CheckpointError(f"{where}: checkpoint holds {held}, which does not fit {asked!r}: " + "; ".join(problems))
    skip = {m[0] for m in mismatched} | (head_keys if reinit_head else set())
    to_load = {k: v for k, v in state_dict.items() if k in own and k not in skip}
    model.load_state_dict(to_load, strict=False)
    if reinit_head:
        reset = getattr(model, "reset_head", None)
        if reset is None:
            raise CheckpointError(f"{where}: the classifier does not fit and {type(model).__name__} has no reset_head")
        reset(int(model.num_classes))
    report = LoadReport(
        missing=missing,
        unexpected=unexpected,
        mismatched=mismatched,
        head_reinitialized=reinit_head,
        loaded=len(to_load),
    )
    (log.debug if report.exact else log.warning)("%s: %s", where, report.summary())
    return report


def infer_num_classes(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> int | None:
    """Number of classes of the state dict's classifier when it differs from ``model``'s, else ``None``.

    Looks at the first 2-D head weight (``<head_prefix>…weight``) of the model.
    """
    prefix = getattr(model, "head_prefix", "head.")
    for key, value in model.state_dict().items():
        if key.startswith(prefix) and key.endswith("weight") and value.ndim == 2 and key in state_dict:
            rows = int(state_dict[key].shape[0])
            return rows if rows != value.shape[0] and state_dict[key].shape[1:] == value.shape[1:] else None
    return None


def convert_checkpoint(
    source: str,
    src: str | Path,
    model_name: str,
    out: str | Path,
    *,
    classes: list[str] | None = None,
    trust_source: bool = False,
) -> tuple[Path, LoadReport]:
    """Convert the ``source``-format checkpoint ``src`` for ``model_name`` and save a vidstruct checkpoint.

    The number of classes follows the source's classifier. The converted weights must load
    into the model exactly (else :class:`CheckpointError`). Returns the written path and the report.
    """
    from vidstruct.models import MODELS
    from vidstruct.models.checkpoint import save_model_checkpoint, sha256_file

    MODELS.get(model_name)  # unknown model → RegistryError with close matches
    conv = get_converter(source, model_name)
    src = Path(src)
    if not src.exists():
        raise CheckpointError(f"{src}: no such file or directory")
    source_state = (
        conv.read_state_dict(src) if conv.read_state_dict else read_source_state_dict(src, trust=trust_source)
    )
    converted = conv.fn(source_state)
    kwargs = {**conv.model_kwargs, **(conv.read_kwargs(src) if conv.read_kwargs else {})}
    if conv.read_kwargs is not None:
        kwargs.update(conv.read_kwargs(src))
    model = MODELS.build(model_name, **kwargs)
    num_classes = infer_num_classes(converted, model)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
        model = MODELS.build(model_name, **kwargs)
    report = load_checkpoint_into(
        model, converted, strict=True, model_name=model_name, checkpoint_model=f"{source}:{src.name}", where=str(src)
    )
    if report.head_reinitialized or not report.exact:
        raise CheckpointError(f"{src}: converted weights do not cover {model_name!r}: {report.summary()}")
    if classes is None and conv.read_classes is not None:
        classes = conv.read_classes(src)
    if classes is not None and len(classes) != model.num_classes:
        raise CheckpointError(f"{src}: {len(classes)} class names given for a {model.num_classes}-class classifier")
    kwargs.setdefault("num_classes", model.num_classes)
    path = save_model_checkpoint(
        out,
        model,
        model_name=model_name,
        model_kwargs=kwargs,
        classes=classes,
        source={"format": source, "path": str(src), "sha256": sha256_file(src) if src.is_file() else None},
    )
    return path, report


__all__ = [
    "Converter",
    "LoadReport",
    "convert_checkpoint",
    "convertible_models",
    "converter_sources",
    "extract_state_dict",
    "get_converter",
    "infer_num_classes",
    "load_checkpoint_into",
    "read_source_state_dict",
    "register_converter",
]
