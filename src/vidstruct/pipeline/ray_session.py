"""Start a local Ray, or join a Ray cluster, for a batch command; bounded waits and one-line errors.

Ray is an optional extra (``pip install 'vidstruct[ray]'``) and importing it takes about a second: it is
imported here, when a command asks for Ray, never at module level.

Joining a cluster that does not answer would otherwise hang: Ray retries its connection for minutes (20
attempts of ~40 s each in Ray 2.x). :func:`ray_session` first opens a TCP connection to the address (at most
``connect_timeout_s``) and reports an address where nothing answers in one line; when something answers,
Ray's own connection attempts are limited to one (``RAY_gcs_server_port_wait_time_s``, unless the caller's
environment already sets it).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from vidstruct.errors import VidstructError

#: seconds to wait for a TCP connection to a cluster's address before reporting that nothing answered
CONNECT_TIMEOUT_S = 10.0
_RAY_RETRIES_ENV = "RAY_gcs_server_port_wait_time_s"

__all__ = ["CONNECT_TIMEOUT_S", "RayUnavailableError", "import_ray", "ray_session"]


class RayUnavailableError(VidstructError):
    """Ray is not installed, or no Ray cluster answers at the given address."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or a :class:`RayUnavailableError` saying which extra installs it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "--ray needs Ray, an optional extra that is not installed: pip install 'vidstruct[ray]'"
        ) from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``HOST:PORT`` / ``ray://HOST:PORT`` / ``[IPv6]:PORT``; None for ``auto`` / ``local``."""
    text = address.strip()
    if text in ("auto", "local"):
        return None
    if "://" in text:
        text = text.split("://", 1)[1]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayUnavailableError(f"--ray-address {address}: expected HOST:PORT (e.g. 10.0.0.5:6379)")
    return host.strip("[]"), int(port)


def _probe(address: str, timeout_s: float) -> None:
    """Raise :class:`RayUnavailableError` unless something accepts a TCP connection at ``address``."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except TimeoutError:
        raise RayUnavailableError(
            f"--ray-address {address}: no Ray cluster answered (no answer within {timeout_s:g} s)"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RayUnavailableError(f"--ray-address {address}: no Ray cluster answered ({reason})") from None


@contextlib.contextmanager
def _env_default(name: str, value: str) -> Iterator[None]:
    """Set ``os.environ[name] = value`` for the block unless it is already set."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


@contextlib.contextmanager
def ray_session(address: str | None, *, num_cpus: int, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """Yield the ``ray`` module connected to the cluster at ``address``, or to a local Ray of ``num_cpus`` CPUs
    started here (and shut down on exit). A Ray already initialized in this process is used as it is.

    Raises:
        RayUnavailableError: Ray is not installed; ``address`` is malformed or no Ray cluster answers there.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        _probe(address, connect_timeout_s)
        try:
            with _env_default(_RAY_RETRIES_ENV, "1"):
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError...: Ray's ways of saying "no"
            with contextlib.suppress(Exception):
                ray.shutdown()  # whatever the failed init left behind
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RayUnavailableError(f"--ray-address {address}: no Ray cluster answered ({reason})") from None
    else:
        ray.init(num_cpus=max(1, num_cpus), include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
