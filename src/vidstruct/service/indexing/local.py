"""Index a collection straight into the service's database: in this process, a process pool, or Ray tasks.

- ``workers == 1``: one :class:`~vidstruct.service.indexing.task.VideoIndexer` here;
- ``workers > 1``: worker processes (:func:`vidstruct.data.procpool.map_surviving`, forkserver like ``analyze``),
  one indexer each (models loaded once per process). A worker that dies (SIGKILL, the out-of-memory killer)
  breaks ``ProcessPoolExecutor``, which fails every video the pool held (``BrokenProcessPool``): those are run
  again one at a time in a fresh one-worker pool, then the rest go on in a fresh pool. A video whose worker dies
  again while it runs alone is reported failed (one retry per video; its folder removed); every other video is
  stored once: its job id is chosen here, so its retry writes over the dead attempt's folder and reports what
  the dead attempt had committed;
- ``ray``: one Ray task per video with the profile's ``resources`` (``num_cpus``, ``num_gpus``) and
  ``max_retries`` (a task whose worker process dies is run again; the storing transaction is keyed, so a retried
  task never stores a video twice). Each task writes to the database itself: the URL travels with the task, and
  every node needs the database, the data folder and the videos at the same paths (see the README).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidstruct.data.procpool import WorkerDied, map_surviving
from vidstruct.errors import InputError
from vidstruct.pipeline.analyze import AnalyzeSettings
from vidstruct.pipeline.analyze.collection import _pool_context
from vidstruct.pipeline.ray_session import ray_session
from vidstruct.service.db.models import new_id
from vidstruct.service.indexing.report import IndexReport
from vidstruct.service.indexing.task import IndexTarget, VideoIndexer, outcome

__all__ = ["RayResources", "index_collection"]

#: ``on_result(outcome)`` in the main process, as each video ends
ResultFn = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RayResources:
    """What each video's Ray task reserves, and how often it is retried when its worker process dies."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_retries: int = 3


_WORKER: dict[str, Any] = {}


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _indexer(target: IndexTarget, settings: AnalyzeSettings, threads: int) -> VideoIndexer:
    """This process's indexer for ``(target, settings)`` (made at its first video, kept for the next)."""
    key = repr((target, settings))
    if key not in _WORKER:
        _set_threads(threads)
        for old in _WORKER.values():
            old.close()
        _WORKER.clear()
        _WORKER[key] = VideoIndexer(target, settings)
    return _WORKER[key]


def _init_pool(target: IndexTarget, settings: AnalyzeSettings, threads: int) -> None:
    _indexer(target, settings, threads)


def _pool_job(job: tuple[str, str, str]) -> dict[str, Any]:
    (indexer,) = _WORKER.values()
    return indexer.index(*job)


def _ray_job(target: IndexTarget, settings: AnalyzeSettings, threads: int, name: str, path: str) -> dict[str, Any]:
    import ray

    task_id = ray.get_runtime_context().get_task_id()  # the same for every attempt of this task
    job_id = hashlib.sha256(f"vidstruct-index-task\0{task_id}".encode()).hexdigest()[:32]
    return _indexer(target, settings, threads).index(name, path, job_id=job_id)


def _run_pool(
    target: IndexTarget, settings: AnalyzeSettings, jobs: list[tuple[str, str]], workers: int
) -> Iterator[dict[str, Any]]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    # a job id per video, chosen here: a video run again after its worker died writes into the same folder
    with_ids = [(name, path, new_id()) for name, path in jobs]
    outcomes = map_surviving(
        _pool_job, with_ids, workers=workers, mp_context=_pool_context(), initializer=_init_pool,
        initargs=(target, settings, threads),
    )  # fmt: skip
    for (name, path, job_id), result in outcomes:
        if isinstance(result, WorkerDied):  # its retry, alone in a pool, killed its worker too
            shutil.rmtree(Path(target.data_dir) / "analyses" / job_id, ignore_errors=True)  # what the dead left
            yield outcome(name, path, "failed", f"{result} while indexing this video alone, its retry after a "
                          "worker of the pool died: not retried again")  # fmt: skip
        else:
            yield result


def _run_ray(
    ray: Any, target: IndexTarget, settings: AnalyzeSettings, jobs: list[tuple[str, str]], res: RayResources
) -> Iterator[dict[str, Any]]:
    threads = max(1, int(res.num_cpus))
    remote = ray.remote(num_cpus=res.num_cpus, num_gpus=res.num_gpus, max_retries=res.max_retries,
                        retry_exceptions=False)(_ray_job)  # fmt: skip
    refs = {remote.remote(target, settings, threads, *job): job for job in jobs}
    pending = list(refs)
    try:
        yield from _ray_results(ray, refs, pending)
    finally:  # interrupted (Ctrl-C): the tasks not done are canceled, on a cluster too
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref)


def _ray_results(ray: Any, refs: dict[Any, tuple[str, str]], pending: list[Any]) -> Iterator[dict[str, Any]]:
    """Outcomes as tasks end; ``pending`` is kept up to date (what is left to cancel)."""
    while pending:
        # a bounded wait, so that Ctrl-C is seen between waits
        ready, pending[:] = ray.wait(pending, num_returns=1, timeout=1.0)
        for ref in ready:
            name, path = refs.pop(ref)
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the task raised (a malformed policy, models that fail)
                cause = getattr(exc, "cause", None) or exc
                yield outcome(name, path, "failed", f"{type(cause).__name__}: {cause}")
            except ray.exceptions.RayError as exc:  # its worker died max_retries + 1 times, or its node left
                yield outcome(name, path, "failed", f"Ray task lost ({type(exc).__name__}), retries exhausted")


def index_collection(
    target: IndexTarget,
    settings: AnalyzeSettings,
    videos: Mapping[str, str],
    *,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    resources: RayResources = RayResources(),
    on_result: ResultFn | None = None,
) -> IndexReport:
    """Index ``videos`` (``{name: path}``) into ``target`` with analysis ``settings`` (see the module doc).

    Raises:
        RayUnavailableError: ``ray`` without Ray installed, or no Ray cluster answers at ``ray_address``.
    """
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    report = IndexReport(mode="db", profile=target.profile_name)
    jobs = [(name, os.path.abspath(path)) for name, path in videos.items()]
    with contextlib.ExitStack() as stack:
        if ray:
            ray_mod = stack.enter_context(ray_session(ray_address, num_cpus=workers))
            results: Iterator[dict[str, Any]] = _run_ray(ray_mod, target, settings, jobs, resources)
        elif workers > 1:
            results = _run_pool(target, settings, jobs, min(workers, len(jobs)))
        else:
            indexer = VideoIndexer(target, settings)
            stack.callback(indexer.close)
            results = (indexer.index(name, path) for name, path in jobs)
        stack.callback(getattr(results, "close", lambda: None))
        for result in results:
            report.add(result)
            if on_result is not None:
                on_result(result)
    return report
