"""An embedding space's index as the processes share it: the main HNSW graph plus append-only delta segments.

Saving a job's windows writes one small segment (:mod:`.segments`) instead of the whole graph (hundreds of MB at a
million windows). A query searches the graph (approximate) and the segments' rows (exact, :mod:`.flat`) and merges
the candidates; they are re-ranked exactly from the embeddings files either way. When the segments hold more than
``max(COMPACT_ROWS, COMPACT_FRACTION * graph size)`` rows (or ``COMPACT_SEGMENTS`` files), the writer that crossed
the bound merges them into the graph (a worker inline, the API process in a thread): it builds the new graph under
the space's ``build`` lock (other writers and readers go on), then takes the file lock only to write the graph and
the manifest and delete the merged segments.

The database stays the source of truth. A missing, truncated or inconsistent graph (or a damaged segment) is
rebuilt from the ``windows`` table and the embeddings files: in the API process by a background thread, while
queries answer by exact brute force over the space's current windows (read from the database once per collection
signature); in a worker inline (``background=False``), and in the API too when the space holds at most
``INLINE_MAX_WINDOWS`` windows (a rebuild of a few seconds). Superseded or deleted analyses are marked dead (their
windows never answer); once dead windows are a quarter of the total the space is rebuilt, as before (in the API
process in a thread past ``INLINE_MAX_WINDOWS`` windows, the dead ones filtered out meanwhile).

File locks (:mod:`.locks`): ``<space>.lock`` exclusive to append a segment or commit a graph, shared to read the
manifest and segments (queries do not wait for it when they already hold a usable state: they answer from it and
catch up at the next query); ``<space>.build`` for one graph builder at a time.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Window
from vidstruct.service.similar.flat import FlatVectors, merge_candidates
from vidstruct.service.similar.index import DEAD_FRACTION, SpaceIndex, collect_rows
from vidstruct.service.similar.locks import space_lock
from vidstruct.service.similar.segments import Segment, SegmentError, list_segments, read_segment, write_segment
from vidstruct.service.similar.space import EmbeddingSpace
from vidstruct.service.similar.vectors import collection_signature, current_embedded, normalize

__all__ = ["COMPACT_FRACTION", "COMPACT_ROWS", "COMPACT_SEGMENTS", "LayeredIndex", "stored_state"]

log = logging.getLogger(__name__)
COMPACT_ROWS = 50_000  # delta rows always allowed before a compaction (exact search over them: ~5 ms at dim 128)
COMPACT_FRACTION = 0.05  # ... or this share of the graph, whichever is larger
COMPACT_SEGMENTS = 1000  # segment files before a compaction, whatever their rows
INLINE_MAX_WINDOWS = 20_000  # a lost graph of at most this many windows is rebuilt inside the query (~2 s)


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


class LayeredIndex:
    """The index of one space under ``root`` (``DATA/indexes``), in one process (see the module doc). Hold
    :attr:`lock` around :meth:`sync` and :meth:`search`. ``background``: rebuild a lost graph in a thread and
    answer by brute force meanwhile (the API); False: rebuild inline (workers, benchmarks)."""

    def __init__(self, root: Path, space: EmbeddingSpace, *, background: bool = True) -> None:
        self.root = root
        self.space = space
        self.background = background
        self.lock = threading.Lock()
        self.main: SpaceIndex | None = None  # the graph, loaded when first searched or compacted
        self.base: dict[str, Any] | None = None  # the manifest the state is built on
        self.delta = FlatVectors.empty()
        self.delta_analyses: dict[str, int] = {}
        self.delta_dead: set[str] = set()
        self.seq = 0  # the last segment applied
        self.signature: list[Any] | None = None
        self.problem: str | None = "not read yet"  # why there is no usable state (None: usable)
        self.fallback: FlatVectors | None = None  # brute force while the graph is rebuilt
        self.fallback_live: set[str] = set()
        self.fallback_signature: list[Any] | None = None
        self.rebuilds = 0  # graphs this object built from the database
        self.compactions = 0  # segments merged into the graph by this object
        self._stamps: tuple[Any, Any] | None = None
        self._thread: threading.Thread | None = None

    # -- paths ------------------------------------------------------------------------------------------------
    @property
    def graph_path(self) -> Path:
        return self.root / f"{self.space.key}.usearch"

    @property
    def manifest_path(self) -> Path:
        return self.root / f"{self.space.key}.json"

    # -- state ------------------------------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self.problem is None and self.base is not None

    @property
    def size(self) -> int:
        """Vectors searched: graph + delta rows (or the brute-force rows while the graph is rebuilt)."""
        if not self.usable:
            return 0 if self.fallback is None else len(self.fallback)
        return int(self.base["size"]) + len(self.delta)  # type: ignore[index]

    def _analyses(self) -> dict[str, int]:
        return {**{str(k): int(v) for k, v in self.base["analyses"].items()}, **self.delta_analyses}  # type: ignore[index]

    def _dead(self) -> set[str]:
        return set(self.base["dead"]) | self.delta_dead  # type: ignore[index]

    def live(self) -> set[str]:
        """Analyses whose windows may be returned."""
        if not self.usable:
            return set(self.fallback_live)
        return set(self._analyses()) - self._dead()

    # -- reading the files -----------------------------------------------------------------------------------
    def _reset(self, problem: str | None) -> None:
        if problem is not None:
            self.main = None
        self.base, self.problem = None, problem
        self.delta, self.delta_analyses, self.delta_dead, self.seq = FlatVectors.empty(), {}, set(), 0
        self.signature, self._stamps = None, None

    def _refresh_locked(self) -> None:
        """Catch up with the files (the caller holds the file lock, shared or exclusive)."""
        stamps = (_stat(self.manifest_path), _stat(self.graph_path))
        if stamps != self._stamps or not self.usable:
            manifest = _read_manifest(self.manifest_path)
            self._reset(None)
            problem = self._check_manifest(manifest, stamps[1])
            if problem is not None:
                self.problem = problem
                return
            self.base, self.seq, self.signature = manifest, int(manifest["merged_through"]), manifest["signature"]  # type: ignore[index]
            self._stamps = stamps
        for seq, path in list_segments(self.root, self.space.key):
            if seq <= self.seq:
                continue
            try:
                self._apply(read_segment(path, self.space.key))
            except (OSError, SegmentError) as exc:  # a lost or damaged delta: the graph is rebuilt from the database
                log.warning("similar index %s: delta segment %s unusable (%s), rebuilding", self.space.key, seq, exc)
                self._reset(f"delta segment {seq} unusable")
                return

    def _check_manifest(self, manifest: dict[str, Any] | None, graph: tuple[int, int, int] | None) -> str | None:
        if manifest is None:
            return "missing" if not self.manifest_path.exists() else "unreadable manifest"
        try:
            if manifest.get("space", {}).get("key") != self.space.key or "merged_through" not in manifest:
                return "another space or manifest version"
            if graph is None:
                return "graph missing"
            if graph[0] != int(manifest["graph_bytes"]):
                return f"graph file of {graph[0]} bytes, manifest {manifest['graph_bytes']}"
            int(manifest["size"]), int(manifest["dim"]), dict(manifest["analyses"]), list(manifest["dead"])
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            return f"unreadable manifest ({exc})"
        return None

    def _apply(self, segment: Segment) -> None:
        if len(segment.ids) and segment.vectors.shape[1] != int(self.base["dim"]):  # type: ignore[index]
            raise SegmentError(f"dimension {segment.vectors.shape[1]}, graph {self.base['dim']}")  # type: ignore[index]
        self.delta = self.delta.extend(segment.ids, segment.vectors)
        self.delta_analyses.update(segment.analyses)
        self.delta_dead |= segment.dead
        self.seq, self.signature = segment.seq, segment.signature

    def _refresh(self) -> None:
        """Catch up under the shared lock; without waiting when a usable state is already held."""
        with space_lock(self.root, self.space.key, shared=True, blocking=not self.usable) as held:
            if held:
                self._refresh_locked()

    def _graph(self) -> SpaceIndex | None:
        """The main graph of the current manifest (loaded now if needed); None when it turns out unusable."""
        if self.main is not None and self.main.generation == self.base["generation"]:  # type: ignore[index]
            return self.main
        with space_lock(self.root, self.space.key, shared=True):
            main = SpaceIndex(self.root, self.space)
        if main.index is None or main.generation != self.base["generation"]:  # type: ignore[index]
            if main.index is not None:  # replaced meanwhile: read again at the next sync
                self._stamps = None
                self.main = main
                return main
            self._reset(main.problem or "graph missing")
            return None
        self.main = main
        return main

    # -- keeping it in step with the database ---------------------------------------------------------------
    def sync(self, session: Session, data_dir: Path, *, wait: bool = False) -> bool:
        """Bring the index in step with the newest analyses (see the module doc); True when this call wrote
        files. ``wait``: rebuild a lost graph now even in the background mode."""
        signature = collection_signature(session)
        self._refresh()
        if not self.usable:
            big = self.fallback is not None or self._windows(session) > INLINE_MAX_WINDOWS
            if self.background and not wait and big:
                self._start_rebuild(session, data_dir)
                self._use_fallback(session, data_dir, signature)
                return False
            self.rebuild(session, data_dir)
            self._refresh()
            return True
        self.fallback, self.fallback_live, self.fallback_signature = None, set(), None
        if signature == self.signature:
            return False
        return self._append(session, data_dir, signature)

    def _append(self, session: Session, data_dir: Path, signature: list[Any]) -> bool:
        """Write a segment with the analyses the index lacks and those no longer current (exclusive lock)."""
        with space_lock(self.root, self.space.key):
            self._refresh_locked()
            if not self.usable:
                return False  # damaged meanwhile: the next sync rebuilds
            current = {a.id: a for a in current_embedded(session, self.space.key)}
            analyses, dead = self._analyses(), self._dead()
            newly_dead = (set(analyses) - dead) - set(current)
            dead_windows = sum(analyses[a] for a in dead | newly_dead)
            total = int(self.base["size"]) + len(self.delta)  # type: ignore[index]
            rebuild = dead_windows > DEAD_FRACTION * max(1, total)
            fresh = [a for a in current.values() if a.id not in analyses]
            keys, vectors, counts = collect_rows(session, data_dir, self.space, fresh, int(self.base["dim"]))  # type: ignore[index]
            if counts or newly_dead:
                segment = Segment(self.seq + 1, keys, vectors, counts, frozenset(newly_dead), signature)
                write_segment(self.root, self.space.key, segment)
                self._apply(segment)
            else:
                self.signature = signature
            compact = len(self.delta) > max(COMPACT_ROWS, COMPACT_FRACTION * int(self.base["size"]))  # type: ignore[index]
            compact = compact or len(list_segments(self.root, self.space.key)) > COMPACT_SEGMENTS
        later = self.background and total > INLINE_MAX_WINDOWS  # a long job: a thread, the queries go on
        if rebuild and later:
            self._start_rebuild(session, data_dir, force=True)
        elif rebuild:
            self.rebuild(session, data_dir, force=True)
            self._refresh()
        elif compact and later:
            self._start_rebuild(session, data_dir, compact=True)
        elif compact:
            self.compact()
        return True

    def compact(self) -> bool:
        """Merge the delta segments into the graph (see the module doc); False when another process is at it."""
        with space_lock(self.root, self.space.key, "build", blocking=False) as held:
            if not held:
                return False
            self._refresh()
            main = self._graph() if self.usable else None
            if main is None or len(self.delta) == 0 and not self.delta_dead:
                return False
            seq, generation, rows = self.seq, main.generation, len(self.delta)
            try:
                main._insert(self.delta.ids, self.delta.vectors)  # a reused window id replaces the old row
                main.analyses.update(self.delta_analyses)
                main.dead |= self.delta_dead
                main.signature, main.merged_through = self.signature, seq
                with space_lock(self.root, self.space.key):
                    manifest = _read_manifest(self.manifest_path)
                    if manifest is None or manifest.get("generation") != generation:
                        self.main, self._stamps = None, None  # replaced meanwhile (a rebuild): read again
                        return False
                    main.save()
                    self._drop_segments(seq)
                    self._stamps = None
                    self._refresh_locked()
            except BaseException:
                self.main, self._stamps = None, None  # the in-memory graph no longer matches the files
                raise
            self.compactions += 1
            log.info("similar index %s: %d delta rows merged into the graph", self.space.key, rows)
            return True

    def _drop_segments(self, through: int) -> None:
        for seq, path in list_segments(self.root, self.space.key):
            if seq <= through:
                path.unlink(missing_ok=True)

    def rebuild(self, session: Session, data_dir: Path, *, force: bool = False) -> bool:
        """Build the graph from the database and commit it (one builder at a time); False when, once this process
        had the build lock, the files were usable again (another process rebuilt) and ``force`` is False."""
        key = self.space.key
        with space_lock(self.root, key, "build"):
            with space_lock(self.root, key, shared=True):
                if not force:
                    probe = LayeredIndex(self.root, self.space)
                    probe._refresh_locked()
                    if probe.usable and probe._graph_ok():
                        return False
                through = max([s for s, _ in list_segments(self.root, key)], default=0)
            signature = collection_signature(session)
            fresh = SpaceIndex(self.root, self.space, load=False)
            log.info("similar index %s: rebuilding from the database", key)
            fresh.add(session, data_dir, current_embedded(session, key))
            if fresh.index is None:  # no windows yet: nothing to build (the dimension is not even known)
                return False
            fresh.signature, fresh.merged_through = signature, through
            with space_lock(self.root, key):
                fresh.save()
                self._drop_segments(through)
        self.rebuilds += 1
        return True

    def _graph_ok(self) -> bool:
        """Whether the current manifest's graph loads (read once; kept as :attr:`main`)."""
        return self._graph() is not None

    # -- the lost-graph path ----------------------------------------------------------------------------------
    def _start_rebuild(self, session: Session, data_dir: Path, *, force: bool = False, compact: bool = False) -> None:
        """Rebuild (or ``compact``) in a thread of this process; it writes the files only (its own objects), this
        object reads them at a later sync. One such thread per object at a time."""
        if self._thread is not None and self._thread.is_alive():
            return
        engine = session.get_bind()

        def run() -> None:
            try:
                if compact:
                    LayeredIndex(self.root, self.space, background=False).compact()
                    return
                with Session(engine) as own:
                    self.rebuild(own, data_dir, force=force)
            except Exception as exc:  # logged; the next query starts another attempt
                log.warning("similar index %s: background rebuild failed (%s)", self.space.key, exc)

        why = "compacting" if compact else self.problem or "a quarter of its windows dead"
        log.warning("similar index %s: %s; rebuilding in the background", self.space.key, why)
        self._thread = threading.Thread(target=run, name=f"similar-rebuild-{self.space.key}", daemon=True)
        self._thread.start()

    def join_rebuild(self, timeout: float | None = None) -> bool:
        """Wait for this process's background rebuild or compaction (if any); True when none runs any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _windows(self, session: Session) -> int:
        """Windows with an embedding of the space's current analyses (one count per 500 analyses)."""
        ids = [a.id for a in current_embedded(session, self.space.key)]
        total = 0
        for i in range(0, len(ids), 500):
            stmt = select(func.count(Window.id)).where(
                Window.analysis_id.in_(ids[i : i + 500]), Window.embedding_row.is_not(None)
            )
            total += int(session.scalar(stmt) or 0)
        return total

    def _use_fallback(self, session: Session, data_dir: Path, signature: list[Any]) -> None:
        if self.fallback is not None and self.fallback_signature == signature:
            return
        current = current_embedded(session, self.space.key)
        keys, vectors, counts = collect_rows(session, data_dir, self.space, current, None)
        self.fallback, self.fallback_live, self.fallback_signature = FlatVectors(keys, vectors), set(counts), signature

    # -- answering --------------------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` nearest window ids of a normalised ``vector`` [dim] and their cosine distances (graph:
        bfloat16 precision; delta and brute force: float32), nearest first."""
        if not self.usable:
            return (np.empty(0, np.uint64), np.empty(0, np.float32)) if self.fallback is None else \
                self.fallback.search(vector, count)  # fmt: skip
        found = [self.delta.search(vector, count)]
        main = self._graph()
        if main is None:  # the graph turned out unusable: the next sync rebuilds; answer what is known
            return found[0]
        # asked for every vector (a small graph, or widened until everything): list them all, since a graph
        # search may not reach every node (a multi-threaded usearch build can leave a few unreachable)
        found.append(_everything(main, vector) if count >= main.size else main.search(vector, count))
        return merge_candidates(found, count)


def _everything(main: SpaceIndex, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every id of the graph and its cosine distance to ``vector`` (the stored bfloat16 vectors), nearest first."""
    if main.index is None or len(main.index) == 0:
        return np.empty(0, np.uint64), np.empty(0, np.float32)
    keys = np.asarray(main.index.keys, dtype=np.uint64)
    vectors = normalize(np.vstack(main.index.get(keys, dtype=np.float32)))
    return FlatVectors(keys, vectors).search(vector, len(keys))


def stored_state(root: Path, space: EmbeddingSpace) -> dict[str, Any]:
    """What the files of ``space`` hold together (graph + segments): ``{size, analyses, dead, segments}``, read
    under the shared lock; raises ValueError when they are not usable."""
    index = LayeredIndex(root, space)
    with space_lock(root, space.key, shared=True):
        index._refresh_locked()
    if not index.usable:
        raise ValueError(f"similar index {space.key}: {index.problem}")
    return {"size": index.size, "analyses": index._analyses(), "dead": sorted(index._dead()),
            "segments": len(list_segments(root, space.key))}  # fmt: skip
