"""YAML config composition: ``_base_`` inheritance and typed dotted overrides.

A config file may name its base file(s)::

    _base_: [../base/recognition.yaml, ../models/r2plus1d_tiny.yaml]
    optim:
      lr: 0.05

Bases are merged left to right, then the file itself on top (dicts merge
recursively, everything else replaces). ``key: {_replace_: true, ...}``
replaces a base dict instead of merging. Command-line overrides
``a.b.c=VALUE`` are parsed as YAML scalars / flow collections, so ``0.01`` is
a float, ``[1,2]`` a list, ``true`` a bool, ``null`` None.

Every leaf remembers which file (or ``command line``) set it, so that schema
validation errors can name the source.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vidstruct.errors import ConfigError

BASE_KEY = "_base_"
REPLACE_KEY = "_replace_"
CLI_SOURCE = "command line"


@dataclass
class ComposedConfig:
    """A merged config tree plus the source of each dotted key."""

    data: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, dotted: str) -> str:
        """The file (or ``command line``) that set ``dotted`` or its nearest parent."""
        key = dotted
        while key:
            if key in self.sources:
                return self.sources[key]
            key = key.rpartition(".")[0]
        return self.sources.get("", "defaults")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
    return loaded


def _record(sources: dict[str, str], tree: Any, prefix: str, source: str) -> None:
    sources[prefix] = source
    if isinstance(tree, dict):
        for key, value in tree.items():
            _record(sources, value, f"{prefix}.{key}" if prefix else str(key), source)


def _merge(dst: dict[str, Any], src: dict[str, Any], sources: dict[str, str], prefix: str, source: str) -> None:
    for key, value in src.items():
        if key == BASE_KEY:
            continue
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value.get(REPLACE_KEY):
            value = {k: v for k, v in value.items() if k != REPLACE_KEY}
            for stale in [s for s in sources if s == dotted or s.startswith(dotted + ".")]:
                del sources[stale]
            dst[key] = copy.deepcopy(value)
            _record(sources, value, dotted, source)
        elif isinstance(value, dict) and isinstance(dst.get(key), dict):
            sources[dotted] = source
            _merge(dst[key], value, sources, dotted, source)
        else:
            dst[key] = copy.deepcopy(value)
            _record(sources, value, dotted, source)


def _compose_file(path: Path, stack: tuple[Path, ...]) -> ComposedConfig:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ConfigError(f"{path}: circular {BASE_KEY}: {chain}")
    raw = _read_yaml(path)
    bases = raw.get(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: {BASE_KEY} must be a file name or a list of file names")
    merged = ComposedConfig({}, {})
    for base in bases:
        base_cfg = _compose_file(path.parent / base, (*stack, path))
        _merge(merged.data, base_cfg.data, merged.sources, "", "")
        merged.sources.update(base_cfg.sources)
    _merge(merged.data, raw, merged.sources, "", str(path))
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``a.b=VALUE`` into ``("a.b", typed_value)`` (VALUE read as YAML)."""
    key, sep, raw_value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: expected KEY=VALUE with a dotted key, e.g. optim.lr=0.01")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"override {text!r}: value is not valid YAML") from None
    if isinstance(value, str) and not raw_value.strip().startswith(("'", '"')):
        value = _yaml11_float(value)
    return key, value


def _yaml11_float(text: str) -> str | float:
    """YAML 1.1 reads ``1e-3`` as a string; users mean a float."""
    try:
        return float(text) if any(c in text for c in "eE") and not text.isalpha() else text
    except ValueError:
        return text


def apply_overrides(cfg: ComposedConfig, overrides: list[str]) -> ComposedConfig:
    """Apply ``key=value`` overrides in order (creating intermediate mappings)."""
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        node = cfg.data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                parent = ".".join(parts[: i + 1])
                raise ConfigError(f"override {text!r}: {parent!r} is a {type(child).__name__}, not a mapping")
            node = child
        node[parts[-1]] = value
        _record(cfg.sources, value, key, CLI_SOURCE)
    return cfg


def compose(path: str | Path, overrides: list[str] | None = None) -> ComposedConfig:
    """Load ``path`` with its bases, then apply ``overrides``."""
    cfg = _compose_file(Path(path), ())
    return apply_overrides(cfg, list(overrides or []))
