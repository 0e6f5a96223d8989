"""One approximate-nearest-neighbour index per embedding space, persisted beside the database.

Files under ``DATA/indexes``: ``<space>.usearch`` (a usearch HNSW graph, cosine metric, vectors stored as bfloat16:
the candidates are re-ranked exactly from the float32 embeddings files) and ``<space>.json`` (the manifest: the
space, the dimension, the analyses whose windows are in the graph with their window counts, those since
superseded, and the collection signature it was synced at). Keys are ``windows.id``.

The database is the source of truth: :meth:`SpaceIndex.sync` adds the windows of the newest analyses the index
lacks; an analysis superseded (or deleted) stays in the graph as "dead" (the query drops its windows) until dead
windows are a quarter of the graph, then the index is rebuilt. Missing, unreadable or inconsistent files are
rebuilt from the ``windows`` table and the embeddings files. Files are replaced atomically; several processes
(the API, workers) write them under the space's file lock, adding a job's windows as a small delta segment beside
the graph (:mod:`.layered`, :mod:`.segments`); the manifest also names the graph's size in bytes and vectors (a
truncated or mismatched graph is rebuilt), a ``generation`` (new at each save) and the last delta segment merged
into the graph (``merged_through``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session
from usearch.index import Index

from vidstruct.atomic import atomic_path, write_json_atomic
from vidstruct.service.similar.space import EmbeddingSpace
from vidstruct.service.similar.vectors import (
    EmbeddedAnalysis,
    collection_signature,
    current_embedded,
    load_rows,
    window_rows,
)

if TYPE_CHECKING:
    from vidstruct.service.similar.layered import LayeredIndex

log = logging.getLogger(__name__)
MANIFEST_VERSION = 2  # 2: graph_bytes, generation, merged_through (delta segments)
DEAD_FRACTION = 0.25  # rebuild once superseded windows are this share of the graph
CONNECTIVITY = 16  # HNSW edges per node
EXPANSION_ADD = 128  # HNSW beam width while inserting
EXPANSION_SEARCH = 2048  # HNSW beam width while searching (recall@10 0.98 at 1024, 0.998 at 2048 on 100k windows)
DTYPE = "bf16"  # stored vectors: half the memory of float32; the candidates are re-ranked exactly anyway


def _new_index(dim: int) -> Index:
    return Index(ndim=dim, metric="cos", dtype=DTYPE, connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD)


def collect_rows(
    session: Session, data_dir: Path, space: EmbeddingSpace, analyses: Sequence[EmbeddedAnalysis], dim: int | None
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The windows of ``analyses`` (those of ``space``): ``(ids uint64 [n], normalised vectors float32 [n, dim],
    {analysis id: windows})``. An analysis whose embeddings file is missing or short, or whose dimension is not
    ``dim`` (None: the first one's), is left out (logged) and tried again at the next sync."""
    by_id = {a.id: a for a in analyses if a.space.key == space.key}
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
            log.warning("similar index %s: analysis %s left out (%s)", space.key, analysis_id, exc)
            continue
        want = dim if dim is not None else (vectors[0].shape[1] if vectors else None)
        if windows and want is not None and found.shape[1] != want:
            log.warning("similar index %s: analysis %s left out (dimension %d)", space.key, analysis_id, found.shape[1])
            continue
        if windows:
            keys.append(np.array([w.id for w in windows], dtype=np.uint64))
            vectors.append(found)
        counts[analysis_id] = len(windows)
    if not keys:
        return np.empty(0, np.uint64), np.empty((0, dim or 0), np.float32), counts
    return np.concatenate(keys), np.concatenate(vectors), counts


class SpaceIndex:
    """The index of one embedding space under ``root`` (``DATA/indexes``). Not thread-safe: hold :attr:`lock`."""

    def __init__(self, root: Path, space: EmbeddingSpace, *, load: bool = True) -> None:
        self.root = root
        self.space = space
        self.lock = threading.Lock()
        self.index: Index | None = None
        self.dim: int | None = None
        self.analyses: dict[str, int] = {}  # analysis id -> windows in the graph
        self.dead: set[str] = set()  # analyses no longer the newest of their video
        self.signature: list[Any] | None = None
        self.rebuilds = 0  # how often this object rebuilt from the database (tests and logs)
        self.generation: str | None = None  # the manifest's, new at each save
        self.merged_through = 0  # the last delta segment the graph holds
        self.problem: str | None = None  # why the files were not loaded (None: loaded, or none there)
        if load:
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
            graph_bytes = manifest.get("graph_bytes")
            if graph_bytes is not None and self.graph_path.stat().st_size != int(graph_bytes):
                raise ValueError(f"graph file of {self.graph_path.stat().st_size} bytes, manifest {graph_bytes}")
            index = _new_index(dim)
            index.load(str(self.graph_path))
            analyses = {str(k): int(v) for k, v in manifest["analyses"].items()}
            expected = int(manifest.get("size", sum(analyses.values())))
            if len(index) != expected or index.ndim != dim:
                raise ValueError(f"graph holds {len(index)} vectors, manifest {expected}")
        except FileNotFoundError:
            self.problem = "missing"
            return
        except Exception as exc:  # unreadable or inconsistent: rebuilt from the database at the next sync
            log.warning("similar index %s: unusable files, rebuilding (%s)", self.space.key, exc)
            self.problem = f"unusable ({type(exc).__name__}: {exc})"
            return
        self.index, self.dim, self.analyses = index, dim, analyses
        self.dead = set(manifest.get("dead", [])) & set(analyses)
        self.signature = manifest.get("signature")
        self.generation = manifest.get("generation")
        self.merged_through = int(manifest.get("merged_through", 0))

    def save(self) -> None:
        """Write the graph, then the manifest, each through a temporary file and an atomic rename."""
        if self.index is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.graph_path) as tmp_graph:
            self.index.save(str(tmp_graph))
            graph_bytes = os.path.getsize(tmp_graph)
        self.generation = uuid.uuid4().hex
        manifest = {
            "version": MANIFEST_VERSION,
            "space": self.space.describe(),
            "dim": self.dim,
            "metric": "cos",
            "size": self.size,
            "analyses": self.analyses,
            "dead": sorted(self.dead),
            "signature": self.signature,
            "graph_bytes": graph_bytes,
            "generation": self.generation,
            "merged_through": self.merged_through,
        }
        write_json_atomic(self.manifest_path, manifest, indent=None)

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
        fresh = [a for a in analyses if a.id not in self.analyses]
        keys, vectors, counts = collect_rows(session, data_dir, self.space, fresh, self.dim)
        if len(keys):  # one batch: usearch inserts it with all cores
            self._insert(keys, vectors)
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
        self._indexes: dict[str, LayeredIndex] = {}

    def get(self, space: EmbeddingSpace) -> LayeredIndex:
        """The space's index in this process: main graph + delta segments, rebuilt in the background when lost."""
        from vidstruct.service.similar.layered import LayeredIndex

        with self._lock:
            found = self._indexes.get(space.key)
            if found is None:
                found = self._indexes[space.key] = LayeredIndex(self.root, space)
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
