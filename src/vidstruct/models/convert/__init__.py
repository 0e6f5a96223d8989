"""Weight converters from public model zoos, and loading state dicts into our models with a report.

A converter maps the state dict of a published checkpoint (PyTorchVideo, Hugging Face, …) to
the state dict of one of our registered models; it only renames / reshapes tensors and never
imports the source library. Converters register by ``(source, model name)``::

    @register_converter("pytorchvideo", "x3d_m")
    def x3d_m(state_dict: dict[str, Tensor]) -> dict[str, Tensor]: ...

:func:`convert_checkpoint` reads a source file, converts it, checks it loads into the model
and writes a vidstruct checkpoint (:mod:`vidstruct.models.checkpoint`).
:func:`load_checkpoint_into` and :class:`LoadReport` (defined in :mod:`vidstruct.models.state_dict`,
re-exported here) load a state dict into a model strictly, with a report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct.errors import CheckpointError, RegistryError
from vidstruct.models.checkpoint import save_model_checkpoint, sha256_file
from vidstruct.models.state_dict import LoadReport, load_checkpoint_into
from vidstruct.registry import MODELS, did_you_mean

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
    # every converter module has registered by now: importing this package imports ``vidstruct.models`` first,
    # which imports all of its submodules (``_import_all``)
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
