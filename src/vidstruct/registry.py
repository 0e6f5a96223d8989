"""Name → builder registries with close-match errors (never a silent fallback).

Usage::

    from vidstruct.registry import MODELS

    @MODELS.register("x3d_m")
    def x3d_m(*, num_classes: int = 400, dropout: float = 0.5) -> nn.Module: ...

    model = MODELS.build("x3d_m", num_classes=10)

Keyword arguments are checked against the builder's signature, so an unknown
argument fails with the accepted names and close matches.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from vidstruct.errors import ConfigError, RegistryError

T = TypeVar("T", bound=Callable[..., Any])


def close_matches(name: str, candidates: list[str] | tuple[str, ...], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates similar to ``name`` (difflib ratio ≥ 0.5)."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...]) -> str:
    """A ``" (did you mean 'a', 'b'?)"`` suffix, or ``""`` when nothing is close."""
    matches = close_matches(name, candidates)
    if not matches:
        return ""
    return " (did you mean " + ", ".join(repr(m) for m in matches) + "?)"


class Registry(Generic[T]):
    """A named collection of builders (functions or classes)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator registering ``fn`` under ``name`` (default: its ``__name__``)."""

        def decorator(fn: T) -> T:
            key = name or fn.__name__
            if key in self._entries and self._entries[key] is not fn:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = fn
            return fn

        return decorator

    def get(self, name: str) -> T:
        """The builder registered as ``name``; :class:`RegistryError` with close matches if unknown."""
        if name not in self._entries:
            hint = did_you_mean(name, self.names())
            if not hint:
                hint = f" (known: {', '.join(self.names()) or 'none'})"
            raise RegistryError(f"unknown {self.kind} {name!r}{hint}")
        return self._entries[name]

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Call the builder ``name`` with ``kwargs`` after checking them against its signature."""
        fn = self.get(name)
        check_kwargs(fn, kwargs, where=f"{self.kind} {name!r}")
        return fn(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def check_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` if ``kwargs`` has a key ``fn`` does not accept."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in kwargs:
        if key not in accepted:
            raise ConfigError(
                f"{where} has no argument {key!r}{did_you_mean(key, accepted)}; accepted: {', '.join(accepted)}"
            )


MODELS: Registry[Callable[..., Any]] = Registry("model")
HEADS: Registry[Callable[..., Any]] = Registry("head")
DATASETS: Registry[Callable[..., Any]] = Registry("dataset")
SAMPLERS: Registry[Callable[..., Any]] = Registry("sampler")
