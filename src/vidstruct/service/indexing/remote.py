"""Index a collection through the service's HTTP API (``vidstruct index --server URL``): the service's workers
analyse, this process only submits and waits.

Each video is submitted as a job (``POST /v1/jobs``) with ``client_request_token`` = SHA-256 of (the file's
SHA-256, the profile name, the attempt number): a rerun, or a second client, gets the job the first submission
of that attempt made (HTTP 200) instead of a new one. The API keeps one job per token for good (an idempotency
token names one request, as Stripe's idempotency keys and AWS's ``ClientRequestToken`` do: the answer to a
repeated request is the first one's, failure included), so trying a failed video again is a new request with a
new token: attempt 1's token first; while the job it names ended ``FAILED`` or ``CANCELED``, the next attempt's
(at most :data:`MAX_ATTEMPTS`). The walk stops at a job that succeeded (the video is skipped) or has not ended
(it is waited for, not duplicated), or at a new job. The tokens being a function of the content, two clients
retrying at once converge on one new job, and the failed jobs stay listed with their errors. Walking is cheap:
a known token is answered before the server looks at the path, so nothing is uploaded for it.

The file is named by its absolute ``path`` first (no upload when it lies under one of the server's
``--allow-root`` folders); the server refuses paths outside them, and the file is then uploaded. Every job is
then polled (``GET /v1/jobs/ID``) until it ends, at most every ``poll_max_s`` seconds and at most ``timeout_s``
seconds per run. The API key goes in the ``Authorization`` header only; no message shows it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vidstruct.errors import VidstructError
from vidstruct.service.indexing.report import IndexReport
from vidstruct.service.indexing.task import outcome
from vidstruct.service.jobs.intake import sha256_of

__all__ = ["MAX_ATTEMPTS", "ServerIndexError", "index_via_server", "request_token"]

ResultFn = Callable[[dict[str, Any]], None]
_FINAL = ("SUCCEEDED", "FAILED", "CANCELED")
_RETRIED = ("FAILED", "CANCELED")
#: jobs submitted for one (content, profile) at most, over all runs: attempt numbers 1 to MAX_ATTEMPTS
MAX_ATTEMPTS = 100


class ServerIndexError(VidstructError):
    """The server cannot be used (unreachable, the key refused, an unexpected answer)."""


def request_token(sha256: str, profile: str, attempt: int = 1) -> str:
    """The idempotency token of attempt ``attempt`` (1, 2, ...) of (content, profile): 64 hex characters
    (attempt 1's is the token of the versions before attempts were numbered)."""
    suffix = "" if attempt == 1 else f"\0{attempt}"
    return hashlib.sha256(f"vidstruct-index/1\0{sha256}\0{profile}{suffix}".encode()).hexdigest()


def _detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {detail}" if detail else f"HTTP {response.status_code}"


def _submit(client: Any, path: Path, fields: dict[str, str]) -> tuple[Any, bool]:
    """POST the job by path, else by upload; ``(response, uploaded)``."""
    response = client.post("/v1/jobs", data={**fields, "path": str(path)})
    if response.status_code == 403 and "allowed root" in _detail(response):
        with open(path, "rb") as fh:
            response = client.post("/v1/jobs", data=fields, files={"file": (path.name, fh, "application/octet-stream")})
        return response, True
    return response, False


def _submit_attempts(
    client: Any, server: str, path: Path, sha: str, profile: str, fields: dict[str, str]
) -> tuple[str, bool, str] | str:
    """Submit the video's first attempt whose job did not fail (see the module doc): ``(job id, created now,
    what failed before: "" or "job ID FAILED, ...")``, or the one-line reason it could not be submitted.

    Raises:
        ServerIndexError: the API key was refused.
    """
    failed: list[str] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        response, _ = _submit(client, path, {**fields, "client_request_token": request_token(sha, profile, attempt)})
        if response.status_code in (401, 403):
            raise ServerIndexError(f"--server {server}: the API key was refused ({_detail(response)})")
        if response.status_code not in (200, 202):
            return _detail(response)
        body = response.json()
        if response.status_code == 200 and body["status"] in _RETRIED:  # that attempt's job ended without results
            failed.append(f"job {body['job_id']} {body['status']}")
            continue
        return body["job_id"], response.status_code == 202, ", ".join(failed[-3:])
    return f"all {MAX_ATTEMPTS} attempts of this video ended without results (the last: {failed[-1]}): not retried"


def index_via_server(
    server: str,
    api_key: str,
    videos: Mapping[str, str],
    *,
    profile: str | None = None,
    job_tag: str = "vidstruct-index",
    timeout_s: float = 3600.0,
    poll_max_s: float = 5.0,
    request_timeout_s: float = 600.0,
    on_result: ResultFn | None = None,
) -> IndexReport:
    """Submit ``videos`` (``{name: path}``) to the service at ``server`` and wait for their jobs (see the module
    doc); ``profile``: a profile name on the server (None: its default)."""
    import httpx

    report = IndexReport(mode="server", profile=profile or "(server default)")

    def done(result: dict[str, Any]) -> None:
        report.add(result)
        if on_result is not None:
            on_result(result)

    headers = {"Authorization": f"Bearer {api_key}"}
    # job id -> [(name, path, created now, reason if indexed)]: two files of the same content share a job
    pending: dict[str, list[tuple[str, str, bool, str]]] = {}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=request_timeout_s) as client:
        for name, raw in videos.items():
            path = Path(os.path.abspath(raw))
            try:
                with open(path, "rb") as fh:
                    sha = sha256_of(fh)
            except OSError as exc:
                done(outcome(name, raw, "failed", f"cannot read the file ({exc.strerror or type(exc).__name__})"))
                continue
            fields = {"job_tag": job_tag, **({"profile": profile} if profile else {})}
            try:
                submitted = _submit_attempts(client, server, path, sha, profile or "", fields)
            except httpx.TransportError as exc:
                raise ServerIndexError(f"--server {server}: no answer ({type(exc).__name__})") from None
            if isinstance(submitted, str):
                done(outcome(name, raw, "failed", submitted))
                continue
            job_id, created, retried = submitted
            pending.setdefault(job_id, []).append((name, raw, created, f"retried: {retried}" if retried else ""))
        end = time.monotonic() + timeout_s
        wait = 0.2
        while pending:
            for job_id in list(pending):
                try:
                    response = client.get(f"/v1/jobs/{job_id}")
                except httpx.TransportError as exc:
                    raise ServerIndexError(f"--server {server}: no answer ({type(exc).__name__})") from None
                if response.status_code != 200:
                    raise ServerIndexError(f"--server {server}: job {job_id}: {_detail(response)}")
                job = response.json()
                if job["status"] not in _FINAL:
                    continue
                more = {"video_id": job["video_id"], "job_id": job_id}
                failure = f"job {job['status']}: {job['error'] or ''}".strip()
                for name, raw, created, retried in pending.pop(job_id):
                    if job["status"] != "SUCCEEDED":
                        done(outcome(name, raw, "failed", failure, **more))
                    elif created:
                        done(outcome(name, raw, "indexed", retried, **more))
                    else:
                        done(outcome(name, raw, "skipped", "already submitted (same token)", **more))
            if pending:
                if time.monotonic() > end:
                    for job_id, waiting in pending.items():
                        for name, raw, _, _ in waiting:
                            done(outcome(name, raw, "failed", f"job {job_id} not finished after {timeout_s:g} s"))
                    break
                time.sleep(wait)
                wait = min(poll_max_s, wait * 1.5)
    return report
