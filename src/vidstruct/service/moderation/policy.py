"""The moderation policy: a YAML file of label categories (a tree) and rules, validated once when loaded.

.. code-block:: yaml

    categories:                # optional; a rule on a category covers its labels and all its children's
      - name: violence
        labels: [punch]
        children:
          - {name: weapons, labels: [shoot]}
    rules:
      - name: weapons          # optional (default rule-INDEX); unique
        category: weapons      # or labels: [a, b] (exactly one of the two)
        min_prob: 0.8          # segment score (a probability) >= this; default 0.5
        min_duration_s: 1.0    # end_s - start_s >= this; default 0
        severity: high         # low | medium | high
        action: block          # flag | block
        sources: [segments]    # what is checked: segments (default) and / or actors (their actions)

With ``sources: [actors]`` a rule also matches the actions of actor tracks: a run of consecutive keyframes of one
track whose action ``label`` has a probability of at least ``min_prob`` is one match, from its first to its
last keyframe (its duration; one keyframe lasts 0 s), with the run's highest probability.

A malformed file raises :class:`PolicyError` with one line naming the file, the rule index (or category path)
and the key. The policy's hash (:attr:`Policy.sha256`) is the SHA-256 of its validated content as canonical
JSON, so comments and formatting do not change it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vidstruct.errors import ConfigError

SEVERITIES = ("low", "medium", "high")
ACTIONS = ("flag", "block")


class PolicyError(ConfigError):
    """A moderation policy file that cannot be used (one line: file, rule index, key, what was expected)."""


class CategorySpec(BaseModel):
    """A node of the category tree: its own labels and its children."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    labels: list[str] = Field(default_factory=list)
    children: list[CategorySpec] = Field(default_factory=list)


class RuleSpec(BaseModel):
    """One rule as written in the file (``labels`` or ``category``, see the module doc)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)
    labels: list[str] | None = None
    category: str | None = None
    min_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    min_duration_s: float = Field(default=0.0, ge=0.0)
    severity: Literal["low", "medium", "high"]
    action: Literal["flag", "block"] = "flag"
    sources: list[Literal["segments", "actors"]] = Field(default_factory=lambda: ["segments"], min_length=1)


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    categories: list[CategorySpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Rule:
    """A resolved rule: its index in the file, name, the labels it covers (a category expanded) and its limits."""

    index: int
    name: str
    labels: frozenset[str]
    category: str | None
    min_prob: float
    min_duration_s: float
    severity: str
    action: str
    sources: tuple[str, ...] = ("segments",)

    @property
    def key(self) -> str:
        """What identifies the rule's meaning: a flag made by an equal rule is the same flag after a re-check."""
        text = json.dumps(
            [self.name, sorted(self.labels), self.min_prob, self.min_duration_s, self.severity, self.action]
            + ([sorted(self.sources)] if self.sources != ("segments",) else [])
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "category": self.category, "labels": sorted(self.labels),
                "min_prob": self.min_prob, "min_duration_s": self.min_duration_s, "severity": self.severity,
                "action": self.action, "sources": list(self.sources)}  # fmt: skip


@dataclass(frozen=True)
class Policy:
    """A validated policy: its rules (categories resolved), the source file and its hash."""

    rules: tuple[Rule, ...]
    sha256: str
    source: str


def _walk(nodes: list[CategorySpec], path: str) -> Iterator[tuple[str, CategorySpec]]:
    for i, node in enumerate(nodes):
        where = f"{path}[{i}]"
        yield where, node
        yield from _walk(node.children, f"{where}.children")


def _covered(node: CategorySpec) -> set[str]:
    labels = set(node.labels)
    for child in node.children:
        labels |= _covered(child)
    return labels


def _where(loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rest = ".".join(str(p) for p in loc[2:])
        return f"rule {loc[1]}" + (f", key '{rest}'" if rest else "")
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"key '{text}'" if text else "top level"


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """A :class:`Policy` from parsed YAML ``data``; :class:`PolicyError` names ``source``, the rule and the key."""
    if not isinstance(data, dict):
        raise PolicyError(f"moderation policy {source}: expected a mapping with 'rules', got {type(data).__name__}")
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise PolicyError(f"moderation policy {source}: {_where(tuple(first['loc']))}: {first['msg']}{tail}") from None
    categories: dict[str, set[str]] = {}
    for where, node in _walk(spec.categories, "categories"):
        if node.name in categories:
            fail = f"moderation policy {source}: key '{where}.name'"
            raise PolicyError(f"{fail}: category {node.name!r} is defined twice")
        categories[node.name] = _covered(node)
    rules: list[Rule] = []
    names: set[str] = set()
    for i, r in enumerate(spec.rules):
        fail = f"moderation policy {source}: rule {i}"
        if (r.labels is None) == (r.category is None):
            raise PolicyError(f"{fail}, key 'labels' / 'category': give exactly one of the two")
        if r.category is not None and r.category not in categories:
            known = ", ".join(sorted(categories)) or "none defined"
            raise PolicyError(f"{fail}, key 'category': unknown category {r.category!r} (known: {known})")
        labels = frozenset(r.labels) if r.labels is not None else frozenset(categories[r.category or ""])
        if not labels:
            raise PolicyError(f"{fail}, key '{'labels' if r.labels is not None else 'category'}': covers no label")
        name = r.name or f"rule-{i}"
        if name in names:
            raise PolicyError(f"{fail}, key 'name': rule name {name!r} is used twice")
        names.add(name)
        sources = tuple(dict.fromkeys(r.sources))
        rules.append(Rule(i, name, labels, r.category, r.min_prob, r.min_duration_s, r.severity, r.action, sources))
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return Policy(tuple(rules), hashlib.sha256(canonical.encode()).hexdigest(), source)


def load_policy(path: Path | str) -> Policy:
    """Read and validate the policy file ``path`` (see the module doc)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"moderation policy {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"moderation policy {path}: not valid YAML{where}") from None
    return parse_policy(data, str(path))
