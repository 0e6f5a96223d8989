"""The embedding space of an analysis: the model that made its ``embeddings.npy`` (name + checkpoint SHA-256).

Two analyses share a space only when their embedding model has the same name and the same checkpoint hash, so
a changed or retrained backbone gets a new index and its vectors are never compared with the old ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class EmbeddingSpace:
    """``name`` / ``task`` / ``checkpoint_sha256``: as the analysis's ``models`` entry names the model."""

    name: str
    task: str | None
    checkpoint_sha256: str | None

    @property
    def key(self) -> str:
        """A file-name-safe key: ``<name>-<first 16 hex of the checkpoint hash>`` (a hash of the pair when the
        name has unsafe characters or no checkpoint hash is known)."""
        digest = self.checkpoint_sha256 or hashlib.sha256(self.name.encode()).hexdigest()
        slug = _UNSAFE.sub("_", self.name)[:64].strip("._") or "model"
        if slug != self.name:
            digest = hashlib.sha256(f"{self.name}\0{digest}".encode()).hexdigest()
        return f"{slug}-{digest[:16]}"

    def describe(self) -> dict[str, Any]:
        """What the API shows: the key and the model's name, task and checkpoint hash."""
        return {"key": self.key, "name": self.name, "task": self.task, "checkpoint_sha256": self.checkpoint_sha256}


def space_of(models: dict[str, Any], embeddings_model: str | None) -> EmbeddingSpace | None:
    """The space of an analysis whose ``models`` (``{key: {name, task, checkpoint_sha256}}``) and embeddings
    model key (the document's ``embeddings.model``, e.g. ``recognizer``) are given; None without embeddings."""
    if not embeddings_model or embeddings_model not in (models or {}):
        return None
    m = models[embeddings_model]
    return EmbeddingSpace(str(m.get("name")), m.get("task"), m.get("checkpoint_sha256"))
