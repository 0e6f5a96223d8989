"""Operations: Prometheus metrics, per-key rate limits (429 + Retry-After), JSON log lines, and no API key or
server-side path in the logs. On SQLite and PostgreSQL where a database is involved."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families
from servicekit import Api

from vidstruct.service.api.ratelimit import RateLimiter
from vidstruct.service.auth import create_key
from vidstruct.service.db.session import transaction
from vidstruct.service.errors import RateLimitedError
from vidstruct.service.logs import JsonFormatter


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics(api: Api, video_bytes: bytes) -> None:
    c = api.client
    assert c.get("/v1/jobs", headers=api.auth("read")).status_code == 200
    assert c.get("/v1/jobs").status_code == 401
    files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
    job_id = c.post("/v1/jobs", headers=api.auth("write"), files=files).json()["job_id"]
    assert c.get(f"/v1/jobs/{job_id}", headers=api.auth("read")).status_code == 200
    response = c.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    count = "vidstruct_http_request_duration_seconds_count"
    assert samples[(count, (("method", "GET"), ("route", "/v1/jobs"), ("status", "200")))] == 1
    assert samples[(count, (("method", "GET"), ("route", "/v1/jobs"), ("status", "401")))] == 1
    assert samples[(count, (("method", "GET"), ("route", "/v1/jobs/{job_id}"), ("status", "200")))] == 1
    assert samples[(count, (("method", "POST"), ("route", "/v1/jobs"), ("status", "202")))] == 1
    assert samples[("vidstruct_jobs", (("kind", "analysis"), ("status", "QUEUED")))] == 1
    assert samples[("vidstruct_jobs", (("kind", "analysis"), ("status", "SUCCEEDED")))] == 0
    assert samples[("vidstruct_queue_depth", ())] == 1
    assert samples[("vidstruct_workers_alive", ())] == 0
    assert samples[("vidstruct_webhook_failures_total", ())] == 0
    assert api.worker().run(exit_when_idle=True) == 1
    samples = _samples(c.get("/metrics").text)
    succeeded = samples[("vidstruct_jobs", (("kind", "analysis"), ("status", "SUCCEEDED")))]
    assert succeeded == 1 and samples[("vidstruct_queue_depth", ())] == 0
    assert samples[("vidstruct_job_duration_seconds_count", ())] == 1


def test_rate_limits_answer_429_with_retry_after(api: Api) -> None:
    with transaction(api.client.app.state.service.factory) as session:
        key, _ = create_key(session, "read", rate_limit_per_min=2)
    auth = {"Authorization": f"Bearer {key}"}
    assert [api.client.get("/v1/jobs", headers=auth).status_code for _ in range(2)] == [200, 200]
    limited = api.client.get("/v1/jobs", headers=auth)
    assert limited.status_code == 429 and limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 30  # one request per 30 s comes back
    assert api.client.get("/v1/jobs", headers=api.auth("read")).status_code == 200  # other keys are not limited


def test_the_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for _ in range(6):
        limiter.check(1, 6)  # 6 per minute: a full bucket of 6, one back every 10 s
    with pytest.raises(RateLimitedError) as err:
        limiter.check(1, 6)
    assert err.value.retry_after == 10
    now[0] = 5.0  # half a token back
    with pytest.raises(RateLimitedError) as err:
        limiter.check(1, 6)
    assert err.value.retry_after == 5
    now[0] = 10.0
    limiter.check(1, 6)
    limiter.check(2, 6)  # another key has its own bucket
    limiter.check(1, None)  # no limit


def test_json_log_lines() -> None:
    try:
        raise KeyError("x")
    except KeyError:
        record = logging.LogRecord("vidstruct.x", logging.ERROR, __file__, 1, "job %s failed", ("j1",), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "error" and entry["logger"] == "vidstruct.x" and entry["message"] == "job j1 failed"
    assert (
        entry["exc_type"] == "KeyError"
        and entry["time"].endswith("+00:00")
        and "\n" not in JsonFormatter().format(record)
    )


def test_no_key_or_path_in_the_logs(api: Api, video_bytes: bytes, caplog: pytest.LogCaptureFixture, tmp_path) -> None:
    secret_path = str(tmp_path / "private-folder" / "holiday.mp4")
    with caplog.at_level(logging.DEBUG):
        api.client.get("/v1/jobs", headers=api.auth("read"))
        api.client.get("/v1/jobs", headers={"Authorization": "Bearer vs_wrong-key-123"})
        api.client.post("/v1/jobs", headers=api.auth("write"), data={"path": secret_path})
        files = {"file": ("holiday.mp4", video_bytes, "video/mp4")}
        api.client.post("/v1/jobs", headers=api.auth("write"), files=files)
        api.worker().run(exit_when_idle=True)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (*api.keys.values(), "vs_wrong-key-123", secret_path, "holiday.mp4", str(api.settings.videos_dir)):
        assert secret not in text
