"""One approximate-nearest-neighbour index per embedding space, persisted beside the database.

Files under ``DATA/indexes``: ``<space>.usearch`` (a usearch HNSW graph, cosine metric, vectors stored as bfloat16:
the candidates are re-ranked exactly from the float32 embeddings files) and ``<space>.json`` (the manifest: the
space, the dimension, the analyses whose windows are in the graph with their window counts, those since
superseded, and the collection signature it was synced at). Keys are ``windows.id``.

The database is the source of truth: :meth:`SpaceIndex.sync` adds the windows of the newest analyses the index
lacks; an analysis superseded (or deleted) stays in the graph as "dead" (the query drops its windows) until dead
windows are a quarter of the graph, then the index is rebuilt. Missing, unreadable or inconsistent files are
rebuilt from the ``windows`` table and the embeddings files. Files are replaced atomically; two processes (the
API and a worker) may both write them: the last complete pair wins, and a mismatched pair is rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session
from usearch.index import Index

from vidstruct.service.similar.space import EmbeddingSpace
from vidstruct.service.similar.vectors import (
    EmbeddedAnalysis,
    collection_signature,
    current_embedded,
    load_rows,
    window_rows,
)

log = logging.getLogger(__name__)
MANIFEST_VERSION = 1
DEAD_FRACTION = 0.25  # rebuild once superseded windows are this share of the graph
CONNECTIVITY = 16  # HNSW edges per node
EXPANSION_ADD = 128  # HNSW beam width while inserting
EXPANSION_SEARCH = 2048  # HNSW beam width while searching (recall@10 0.98 at 1024, 0.998 at 2048 on 100k windows)
DTYPE = "bf16"  # stored vectors: half the memory of float32; the candidates are re-ranked exactly anyway


def _new_index(dim: int) -> Index:
    return Index(ndim=dim, metric="cos", dtype=DTYPE, connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD)


class SpaceIndex:
    """The index of one embedding space under ``root`` (``DATA/indexes``). Not thread-safe: hold :attr:`lock`."""

    def __init__(self, root: Path, space: EmbeddingSpace) -> None:
        self.root = root
        self.space = space
        self.lock = threading.Lock()
        self.index: Index | None = None
        self.dim: int | None = None
        self.analyses: dict[str, int] = {}  # analysis id -> windows in the graph
        self.dead: set[str] = set()  # analyses no longer the newest of their video
        self.signature: list[Any] | None = None
        self.rebuilds = 0  # how often this object rebuilt from the database (tests and logs)
        self._load()

    @property
    def graph_path(self) -> Path:
        return self.root / f"{self.space.key}.usearch"

    @property
    def manifest_path(self) -> Path:
        return self.root / f"{self.space.key}.json"

    @property
    def size(self) -> int:
        return 0 if self.index is None else len(self.index)

    def live(self) -> set[str]:
        """Analyses whose windows in the graph may be returned."""
        return set(self.analyses) - self.dead

    # -- persistence ---------------------------------------------------------------------------------------
    def _load(self) -> None:
        """Read the files when both are there and agree; otherwise start empty (the next sync rebuilds)."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
            if manifest.get("version") != MANIFEST_VERSION or manifest.get("space", {}).get("key") != self.space.key:
                raise ValueError("another manifest version or space")
            dim = int(manifest["dim"])
            index = _new_index(dim)
            index.load(str(self.graph_path))
            analyses = {str(k): int(v) for k, v in manifest["analyses"].items()}
            if len(index) != sum(analyses.values()) or index.ndim != dim:
                raise ValueError(f"graph holds {len(index)} vectors, manifest {sum(analyses.values())}")
        except FileNotFoundError:
            return
        except Exception as exc:  # unreadable or inconsistent: rebuilt from the database at the next sync
            log.warning("similar index %s: unusable files, rebuilding (%s)", self.space.key, exc)
            return
        self.index, self.dim, self.analyses = index, dim, analyses
        self.dead = set(manifest.get("dead", [])) & set(analyses)
        self.signature = manifest.get("signature")

    def save(self) -> None:
        """Write the graph, then the manifest, each through a temporary file and an atomic rename."""
        if self.index is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp_graph = self.graph_path.with_name(f".{self.graph_path.name}.{uuid.uuid4().hex[:12]}.tmp")
        self.index.save(str(tmp_graph))
        os.replace(tmp_graph, self.graph_path)
        manifest = {
            "version": MANIFEST_VERSION,
            "space": self.space.describe(),
            "dim": self.dim,
            "metric": "cos",
            "size": self.size,
            "analyses": self.analyses,
            "dead": sorted(self.dead),
            "signature": self.signature,
        }
        tmp_manifest = self.manifest_path.with_name(f".{self.manifest_path.name}.{uuid.uuid4().hex[:12]}.tmp")
        tmp_manifest.write_text(json.dumps(manifest))
        os.replace(tmp_manifest, self.manifest_path)

    # -- keeping it in step with the database ---------------------------------------------------------------
    def sync(self, session: Session, data_dir: Path, *, force: bool = False) -> bool:
        """Bring the graph in step with the newest analyses of the collection; True when it changed (and was
        saved). A no-op (one aggregate query) while the collection signature is unchanged."""
        signature = collection_signature(session)
        if self.index is not None and not (self.graph_path.is_file() and self.manifest_path.is_file()):
            log.warning("similar index %s: files gone from disk, rebuilding", self.space.key)
            self.index = None
        if not force and self.index is not None and signature == self.signature:
            return False
        current = {a.id: a for a in current_embedded(session, self.space.key)}
        newly_dead = (set(self.analyses) - self.dead) - set(current)
        dead_windows = sum(self.analyses[a] for a in self.dead | newly_dead)
        if self.index is None or dead_windows > DEAD_FRACTION * max(1, self.size):
            self._rebuild(session, data_dir, list(current.values()))
        else:
            self.dead |= newly_dead
            self.add(session, data_dir, [a for a in current.values() if a.id not in self.analyses])
        self.signature = signature
        self.save()
        return True

    def _rebuild(self, session: Session, data_dir: Path, analyses: Sequence[EmbeddedAnalysis]) -> None:
        log.info("similar index %s: rebuilding from %d analyses", self.space.key, len(analyses))
        self.index, self.dim, self.analyses, self.dead = None, None, {}, set()
        self.rebuilds += 1
        self.add(session, data_dir, analyses)

    def add(self, session: Session, data_dir: Path, analyses: Sequence[EmbeddedAnalysis]) -> int:
        """Add the windows of ``analyses`` (all of this space); returns how many vectors went in. An analysis
        whose embeddings file is missing or short is left out (logged) and tried again at the next sync."""
        by_id = {a.id: a for a in analyses if a.space.key == self.space.key and a.id not in self.analyses}
        rows = window_rows(session, list(by_id))
        grouped: dict[str, list[Any]] = {}
        for r in rows:
            grouped.setdefault(r.analysis_id, []).append(r)
        keys: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        counts: dict[str, int] = {}
        for analysis_id, analysis in by_id.items():
            windows = grouped.get(analysis_id, [])
            try:
                found = load_rows(data_dir, analysis, [w.embedding_row for w in windows])
            except (OSError, ValueError, IndexError) as exc:
                log.warning("similar index %s: analysis %s left out (%s)", self.space.key, analysis_id, exc)
                continue
            if windows and vectors and found.shape[1] != vectors[0].shape[1]:
                log.warning("similar index %s: analysis %s left out (dimension %d)", self.space.key, analysis_id,
                            found.shape[1])  # fmt: skip
                continue
            if windows:
                keys.append(np.array([w.id for w in windows], dtype=np.uint64))
                vectors.append(found)
            counts[analysis_id] = len(windows)
        if keys:  # one batch: usearch inserts it with all cores
            self._insert(np.concatenate(keys), np.concatenate(vectors))
        self.analyses.update(counts)
        return sum(counts.values())

    def _insert(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if self.index is None:
            self.dim = int(vectors.shape[1])
            self.index = _new_index(self.dim)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"similar index {self.space.key}: dimension {vectors.shape[1]}, expected {self.dim}")
        reused = keys[np.asarray(self.index.contains(keys), dtype=bool).reshape(-1)]
        if reused.size:  # a window id reused by the database after a deletion (SQLite rowids): the old one goes
            self.index.remove(reused)
        self.index.add(keys, vectors)

    # -- answering -----------------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` approximate nearest window ids of a normalised ``vector`` [dim] and their cosine
        distances (``1 - similarity``, bfloat16 precision), nearest first."""
        if self.index is None or self.size == 0:
            return np.empty(0, np.uint64), np.empty(0, np.float32)
        count = min(count, self.size)
        self.index.expansion_search = max(EXPANSION_SEARCH, 2 * count)
        matches = self.index.search(np.asarray(vector, dtype=np.float32), count)
        return np.asarray(matches.keys, dtype=np.uint64), np.asarray(matches.distances, dtype=np.float32)


class IndexRegistry:
    """The indexes of one data folder, opened once per process (``DATA/indexes``)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "indexes"
        self._lock = threading.Lock()
        self._indexes: dict[str, SpaceIndex] = {}

    def get(self, space: EmbeddingSpace) -> SpaceIndex:
        with self._lock:
            found = self._indexes.get(space.key)
            if found is None:
                found = self._indexes[space.key] = SpaceIndex(self.root, space)
            return found

    def forget(self, space: EmbeddingSpace) -> None:
        """Drop the in-memory copy (the next :meth:`get` reads the files again)."""
        with self._lock:
            self._indexes.pop(space.key, None)


_registries: dict[Path, IndexRegistry] = {}
_registries_lock = threading.Lock()


def registry(data_dir: Path) -> IndexRegistry:
    """The process's registry of ``data_dir``."""
    key = data_dir.resolve()
    with _registries_lock:
        found = _registries.get(key)
        if found is None:
            found = _registries[key] = IndexRegistry(key)
        return found
