"""A process pool for per-video jobs that survives a dead worker (a decoder segfault, the out-of-memory killer).

:func:`map_surviving` runs ``fn(job)`` for every job in worker processes and yields ``(job, outcome)`` as jobs
finish. When a worker process dies, :class:`~concurrent.futures.ProcessPoolExecutor` breaks and fails every
job it still holds (``BrokenProcessPool``). Here no more than ``2 * workers`` jobs are handed to the pool at
a time (enough to keep every worker busy), so a death costs only those; they are run again one at a time in a
one-worker pool, where the job that kills its worker is identified exactly: it yields
``(job, WorkerDied(reason))``, the others their normal result. The remaining jobs go on in a fresh pool.

An exception raised by ``fn`` (or by the pool's ``initializer``, which then fails every job) is not a death:
it propagates to the caller. Used by ``vidstruct check-data`` (:mod:`vidstruct.data.check`) and
``vidstruct extract-features`` (:mod:`vidstruct.pipeline.features`).
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

J = TypeVar("J")
R = TypeVar("R")

__all__ = ["WorkerDied", "map_surviving"]


@dataclass(frozen=True)
class WorkerDied:
    """The outcome of a job whose worker process died while running it (alone: the death is its own).

    ``reason`` is ``"killed by SIGKILL"``, ``"exit code 3"``... (``"exit status unknown"`` where the pool does
    not expose its processes).
    """

    reason: str

    def __str__(self) -> str:
        return f"worker process died ({self.reason})"


def map_surviving(
    fn: Callable[[J], R],
    jobs: Iterable[J],
    *,
    workers: int,
    mp_context: BaseContext | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[tuple[J, R | WorkerDied]]:
    """Yield ``(job, fn(job))`` for every job, in completion order, or ``(job, WorkerDied)`` for a job that
    kills its worker process (see the module doc). ``fn``, the jobs and the results must be picklable."""
    if workers < 1:
        raise ValueError(f"map_surviving: workers must be >= 1, got {workers}")
    pool_kwargs = {"mp_context": mp_context, "initializer": _guarded_init, "initargs": (initializer, initargs)}
    todo: deque[J] = deque(jobs)
    while todo:
        lost, _ = yield from _run(fn, todo, workers, 2 * workers, pool_kwargs)
        suspects = deque(lost)
        while suspects:  # one at a time: a job that breaks this pool is the one that killed the worker
            crashed, reason = yield from _run(fn, suspects, 1, 1, pool_kwargs)
            for job in crashed:
                yield job, WorkerDied(reason)


def _run(
    fn: Callable[[J], R], queue: deque[J], workers: int, ahead: int, pool_kwargs: dict[str, Any]
) -> Generator[tuple[J, R], None, tuple[list[J], str]]:
    """Run jobs taken from ``queue`` in ``workers`` processes, at most ``ahead`` in the pool at a time.

    Returns (as the generator's value) ``(jobs lost to a dead worker, its exit reason)``, or ``([], ...)`` once
    ``queue`` is empty."""
    pool = ProcessPoolExecutor(max_workers=workers, **pool_kwargs)
    inflight: dict[Future[R], J] = {}
    lost: list[J] = []
    processes: list[Any] = []
    try:
        while queue or inflight:
            while queue and len(inflight) < ahead and not lost:
                job = queue.popleft()
                try:
                    inflight[pool.submit(_guarded_call, fn, job)] = job
                except BrokenProcessPool:
                    queue.appendleft(job)
                    break
            if not inflight:
                break
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for future in done:
                job = inflight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    lost.append(job)
                    continue
                yield job, result
            if lost:  # the pool is broken: every job still in it is lost too
                processes = list((getattr(pool, "_processes", None) or {}).values())
                lost.extend(inflight.values())
                inflight.clear()
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return lost, _exit_reason(processes)


def _exit_reason(processes: list[Any]) -> str:
    """How the dead worker ended, from the exit codes of the pool's processes (read after shutdown: joined).

    The pool terminates the surviving workers with SIGTERM when it breaks, so a code other than that one is
    the dead worker's; with one worker there is only the dead one.
    """
    codes = [p.exitcode for p in processes if getattr(p, "exitcode", None) is not None]
    own = [c for c in codes if c != -signal.SIGTERM] or codes
    if not own:
        return "exit status unknown"
    code = own[0]
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# the initializer's exception, kept in the worker to be raised by every job (instead of the pool's default:
# the worker exits and the pool breaks, which would look like every job killing its worker)
_INIT_ERROR: list[BaseException] = []


def _guarded_init(initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    if initializer is None:
        return
    try:
        initializer(*initargs)
    except Exception as exc:
        _INIT_ERROR.append(exc)


def _guarded_call(fn: Callable[[J], R], job: J) -> R:
    if _INIT_ERROR:
        raise _INIT_ERROR[0]
    return fn(job)
